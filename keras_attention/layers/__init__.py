"""Keras 3 attention layers.

What it holds: one public layer per module (the multi-head attention core,
its cached and relative subclasses, the Transformer blocks, positional
embeddings, Bahdanau attention and its decoder, graph attention, convolution
and pooling, the NTM cell, the end-to-end memory network), and private helpers beside them (`_masking`,
`_validation`, `_renamed`, `_graph`, `_attention_*`, `_ntm_*`).

What it may import: Keras (`keras.ops` only, so every layer runs on the
TensorFlow, JAX and PyTorch backends), numpy and the standard library; never
TensorFlow, JAX, PyTorch, plotting, or any other package of ours. The
import contracts in pyproject.toml (`lint-imports`) check it.
"""

from keras_attention.layers.attention_pooling import AttentionPooling
from keras_attention.layers.bahdanau_attention import BahdanauAttention
from keras_attention.layers.bahdanau_decoder import BahdanauDecoder
from keras_attention.layers.bahdanau_decoder_cell import BahdanauDecoderCell
from keras_attention.layers.cached_multi_head_attention import (
    CachedMultiHeadAttention,
)
from keras_attention.layers.graph_attention import GraphAttention
from keras_attention.layers.graph_convolution import GraphConvolution
from keras_attention.layers.graph_pooling import GraphPooling
from keras_attention.layers.learned_positional_embedding import (
    LearnedPositionalEmbedding,
)
from keras_attention.layers.memory_network import MemoryNetwork
from keras_attention.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_attention.layers.ntm_cell import NTMCell
from keras_attention.layers.patch_embedding import PatchEmbedding
from keras_attention.layers.relative_multi_head_attention import (
    RelativeMultiHeadAttention,
)
from keras_attention.layers.sinusoidal_positional_embedding import (
    SinusoidalPositionalEmbedding,
)
from keras_attention.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attention.layers.two_stream_relative_attention import (
    TwoStreamRelativeAttention,
)

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
    "RelativeMultiHeadAttention",
    "SinusoidalPositionalEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "TwoStreamRelativeAttention",
]
