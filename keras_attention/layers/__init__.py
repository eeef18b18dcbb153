"""Keras 3 attention layers."""

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
from keras_attention.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_attention.layers.ntm_cell import NTMCell
from keras_attention.layers.relative_multi_head_attention import (
    RelativeMultiHeadAttention,
)
from keras_attention.layers.sinusoidal_positional_embedding import (
    SinusoidalPositionalEmbedding,
)
from keras_attention.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock

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
    "MultiHeadSelfAttention",
    "NTMCell",
    "RelativeMultiHeadAttention",
    "SinusoidalPositionalEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
]
