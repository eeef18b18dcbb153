"""Built-in data sets: generated tasks with known answers, and loaders for
public graph data sets (read from a folder, or downloaded once and cached)."""

from keras_attention.data import dates
from keras_attention.data import graphs
from keras_attention.data import ntm_tasks

__all__ = ["dates", "graphs", "ntm_tasks"]
