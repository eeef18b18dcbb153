"""Keras 3 attention layers."""

from keras_attention.layers.bahdanau_attention import BahdanauAttention
from keras_attention.layers.bahdanau_decoder import BahdanauDecoder
from keras_attention.layers.bahdanau_decoder_cell import BahdanauDecoderCell
from keras_attention.layers.learned_positional_embedding import (
    LearnedPositionalEmbedding,
)
from keras_attention.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_attention.layers.sinusoidal_positional_embedding import (
    SinusoidalPositionalEmbedding,
)
from keras_attention.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock

__all__ = [
    "BahdanauAttention",
    "BahdanauDecoder",
    "BahdanauDecoderCell",
    "LearnedPositionalEmbedding",
    "MultiHeadSelfAttention",
    "SinusoidalPositionalEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
]
