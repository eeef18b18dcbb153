"""Reference models built from the library's layers."""

from keras_attention.models.graph_models import (
    gat_graph_classifier,
    gat_link_predictor,
    gat_node_classifier,
    gcn_node_classifier,
    graph_batches,
    node_dataset,
    train_graph_classifier,
    train_link_predictor,
    train_node_classifier,
)
from keras_attention.models.rnn_seq2seq import RNNSeq2Seq
from keras_attention.models.transformer_seq2seq import TransformerSeq2Seq

__all__ = [
    "RNNSeq2Seq",
    "TransformerSeq2Seq",
    "gat_graph_classifier",
    "gat_link_predictor",
    "gat_node_classifier",
    "gcn_node_classifier",
    "graph_batches",
    "node_dataset",
    "train_graph_classifier",
    "train_link_predictor",
    "train_node_classifier",
]
