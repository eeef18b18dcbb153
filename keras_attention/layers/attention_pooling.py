"""Soft-attention readout: a learned weighting of each graph's nodes."""

import keras
from keras import ops

from keras_attention.layers._graph import (
    READOUT_LAYOUTS,
    check_num_graphs,
    guard_indices,
    poison,
    readout_layout,
    segment_softmax,
    zero_masked,
)
from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._masking import masked_softmax
from keras_attention.layers._validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentionPooling(keras.layers.Layer):
    """Soft-attention readout: each graph's nodes weighted by a learned score.

    Each node `v` gets a score `s_v = w . tanh(W h_v + b)`; the scores of
    each graph's nodes are normalised with a softmax (in float32) and the
    graph's vector is `sum_v alpha_v h_v`. This is the soft attention
    readout of Li et al. (2016, "Gated Graph Sequence Neural Networks",
    eq. 7), with a softmax over the graph's nodes in place of its sigmoid
    gate and the node features as the values, as PyTorch Geometric's
    `AttentionalAggregation` with a gate network and no value network. A
    graph with no nodes (or all of them masked) gives zeros.
    """

    __doc__ += READOUT_LAYOUTS + '''
    Shapes: `B` batch, `N` nodes, `F` features, `G` graphs, `U` units.

    Args:
        units: size `U` of the scoring network's hidden layer.
        num_graphs: `G` for disjoint unions, or None to give it per call.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: of `W` `[F, U]` and `w` `[U]`, and of `b` `[U]`.

    Call arguments:
        node_features: `[N, F]` or `[B, N, F]`.
        graph_ids: `[N]` int32 or int64, with `[N, F]` nodes.
        num_graphs: `G` for this call (overrides the constructor's).
        mask: boolean `[B, N]`, with `[B, N, F]` nodes: false for padding.
        return_attention_scores: also return the weights `alpha`.

    Returns:
        `[G, F]` or `[B, F]`, in the compute dtype; with
        `return_attention_scores`, the tuple `(pooled, weights)` with
        weights `[N]` or `[B, N]`.

    Example:

    >>> nodes = keras.random.normal((5, 8))
    >>> graph_ids = keras.ops.convert_to_tensor([0, 0, 1, 1, 1], "int32")
    >>> pooling = AttentionPooling(units=4, num_graphs=2)
    >>> tuple(pooling(nodes, graph_ids).shape)
    (2, 8)
    '''

    def __init__(
        self,
        units,
        num_graphs=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        check_num_graphs(num_graphs)
        self.units = units
        self.num_graphs = num_graphs
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.supports_masking = True
        self._num_features = None

    def build(self, node_features_shape, **unused_shapes):
        if len(node_features_shape) not in (2, 3) or node_features_shape[-1] is None:
            raise ValueError(
                "node_features must have shape [N, F] or [B, N, F] with a known "
                f"F, received node_features.shape={tuple(node_features_shape)}"
            )
        self._num_features = node_features_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self._num_features, self.units),
            initializer=clone_initializer(self.kernel_initializer, 0),
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(self.units,),
            initializer=clone_initializer(self.bias_initializer, 0),
            regularizer=self.bias_regularizer,
        )
        self.attention_kernel = self.add_weight(
            name="attention_kernel",
            shape=(self.units, 1),
            initializer=clone_initializer(self.kernel_initializer, 1),
            regularizer=self.kernel_regularizer,
        )
        self.built = True

    def call(
        self,
        node_features,
        graph_ids=None,
        num_graphs=None,
        mask=None,
        return_attention_scores=False,
    ):
        num_graphs = readout_layout(self, node_features, graph_ids, num_graphs, mask)
        if node_features.shape[-1] != self._num_features:
            raise ValueError(
                f"node_features must have {self._num_features} features as when "
                "the layer was built, received "
                f"node_features.shape={tuple(node_features.shape)}"
            )
        # Padding nodes selected away: 0 weight times their NaN is NaN.
        features = zero_masked(ops.cast(node_features, self.compute_dtype), mask)
        hidden = ops.tanh(ops.matmul(features, self.kernel) + self.bias)  # [(B,) N, U]
        scores = ops.matmul(hidden, self.attention_kernel)[..., 0]  # [(B,) N]
        if num_graphs is not None:
            ids, _, any_bad = guard_indices(graph_ids, num_graphs)
            weights = ops.cast(
                segment_softmax(scores, ids, num_graphs), self.compute_dtype
            )  # [N]
            pooled = ops.segment_sum(
                features * weights[:, None], ids, num_segments=num_graphs
            )  # [G, F]
            pooled, weights = poison(pooled, any_bad), poison(weights, any_bad)
        else:
            weights = masked_softmax(scores, mask)  # f32 [B, N]
            weights = ops.cast(weights, self.compute_dtype)
            pooled = ops.matmul(weights[:, None, :], features)[:, 0]  # [B, F]
        if return_attention_scores:
            return pooled, weights
        return pooled

    def compute_mask(self, node_features, previous_mask=None):
        return None

    def get_config(self):
        config = {
            "units": self.units,
            "num_graphs": self.num_graphs,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
        return {**super().get_config(), **config}
