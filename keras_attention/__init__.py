"""keras-attention: Keras 3 attention layers, reference models and edge export.

The packages, each importing only those below it (pyproject.toml's import
contracts check the order):

    keras_attention.cli
    keras_attention.tour, keras_attention.translation
    keras_attention_export, keras_attention.distributed,
        keras_attention.tfgnn, keras_attention.plotting
    keras_attention.models
    keras_attention.data
    keras_attention.layers

`edge_demo` (the device runtime) imports none of them; the exporter imports
its `edge_demo.contract`. The top level re-exports the layers and the two
seq2seq models, and imports no TensorFlow.
"""

import os as _os
import sys as _sys

# The `keras-attention` command owns its process, and `import keras` below is
# where TensorFlow prints its start-up log lines (before the command's `main`
# could hide them): the command quiets them from here, unless --verbose. An
# `import keras_attention` anywhere else changes nothing.
if _os.path.basename(_sys.argv[0]) == "keras-attention":
    from edge_demo.quiet import quiet_process as _quiet_process

    _quiet_process(verbose="--verbose" in _sys.argv[1:])

from keras_attention.layers import AttentionPooling
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import BahdanauDecoder
from keras_attention.layers import BahdanauDecoderCell
from keras_attention.layers import CachedMultiHeadAttention
from keras_attention.layers import GraphAttention
from keras_attention.layers import GraphConvolution
from keras_attention.layers import GraphPooling
from keras_attention.layers import LearnedPositionalEmbedding
from keras_attention.layers import MemoryNetwork
from keras_attention.layers import MultiHeadSelfAttention
from keras_attention.layers import NTMCell
from keras_attention.layers import PatchEmbedding
from keras_attention.layers import RelativeMultiHeadAttention
from keras_attention.layers import SinusoidalPositionalEmbedding
from keras_attention.layers import TransformerDecoderBlock
from keras_attention.layers import TransformerEncoderBlock
from keras_attention.layers import TwoStreamRelativeAttention

from keras_attention.models import RNNSeq2Seq
from keras_attention.models import TransformerSeq2Seq

__version__ = "0.1.0"

__all__ = [
    "AttentionPooling",
    "BahdanauAttention",
    "BahdanauDecoder",
    "BahdanauDecoderCell",
    "CachedMultiHeadAttention",
    "GraphAttention",
    "GraphConvolution",
    "GraphPooling",
    "LearnedPositionalEmbedding",
    "MemoryNetwork",
    "MultiHeadSelfAttention",
    "NTMCell",
    "PatchEmbedding",
    "RNNSeq2Seq",
    "RelativeMultiHeadAttention",
    "SinusoidalPositionalEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "TransformerSeq2Seq",
    "TwoStreamRelativeAttention",
]
