"""Reference models built from the library's layers."""

from keras_attention.models.rnn_seq2seq import RNNSeq2Seq
from keras_attention.models.transformer_seq2seq import TransformerSeq2Seq

__all__ = ["RNNSeq2Seq", "TransformerSeq2Seq"]
