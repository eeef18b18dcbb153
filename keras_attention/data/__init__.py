"""Built-in data sets: generated tasks with known answers, and loaders for
public graph and translation data sets (read from a folder, or downloaded once and cached)."""

from keras_attention.data import dates
from keras_attention.data import graphs
from keras_attention.data import multi30k
from keras_attention.data import ntm_tasks
from keras_attention.data import subwords
from keras_attention.data import translation

__all__ = ["dates", "graphs", "multi30k", "ntm_tasks", "subwords", "translation"]
