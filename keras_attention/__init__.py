"""keras-attention: Keras 3 attention layers, reference models and edge export."""

from keras_attention.layers import LearnedPositionalEmbedding
from keras_attention.layers import MultiHeadSelfAttention
from keras_attention.layers import SinusoidalPositionalEmbedding

__version__ = "0.1.0"

__all__ = [
    "LearnedPositionalEmbedding",
    "MultiHeadSelfAttention",
    "SinusoidalPositionalEmbedding",
]
