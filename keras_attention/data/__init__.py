"""Built-in data sets: generated tasks with known answers, and loaders for
public graph and translation data sets (read from a folder, or downloaded
once and cached).

What it holds: bAbI question answering (loader and generator), dates, the NTM tasks, subword tokenizers, Multi30k and the
translation input, MNIST and captioned scenes of its digits, XLNet's permutation-LM inputs, and the `graphs` package (types, loaders, synthetic sets,
link splits, input pipelines).

What it may import: `keras_attention.layers` (the one edge-index check),
numpy, Keras and the standard library; TensorFlow only inside the `tf.data`
pipelines, imported when one is built. Never the models, the exporter,
`edge_demo` or plotting.
"""

from keras_attention.data import babi
from keras_attention.data import dates
from keras_attention.data import graphs
from keras_attention.data import mnist
from keras_attention.data import multi30k
from keras_attention.data import ntm_tasks
from keras_attention.data import permutation_lm
from keras_attention.data import scenes
from keras_attention.data import subwords
from keras_attention.data import translation

__all__ = [
    "babi", "dates", "graphs", "mnist", "multi30k", "ntm_tasks", "permutation_lm", "scenes",
    "subwords", "translation",
]
