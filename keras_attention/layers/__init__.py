"""Keras 3 attention layers."""

from keras_attention.layers.learned_positional_embedding import (
    LearnedPositionalEmbedding,
)
from keras_attention.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_attention.layers.sinusoidal_positional_embedding import (
    SinusoidalPositionalEmbedding,
)

__all__ = [
    "LearnedPositionalEmbedding",
    "MultiHeadSelfAttention",
    "SinusoidalPositionalEmbedding",
]
