"""Graph readouts: mean, sum or max of each graph's node features."""

import keras
from keras import ops

from keras_attention.layers._graph import (
    POOLING_MODES,
    READOUT_LAYOUTS,
    check_choice,
    check_num_graphs,
    guard_indices,
    poison,
    readout_layout,
)


@keras.saving.register_keras_serializable(package="keras_attention")
class GraphPooling(keras.layers.Layer):
    """Mean, sum or max of each graph's node features.

    The readout of a graph classifier: one `[F]` vector per graph from its
    nodes' features. A graph with no nodes (or all of them masked) gives
    zeros in every mode, never NaN or -inf. Sums and means are computed in
    float32 under mixed precision.
    """

    __doc__ += READOUT_LAYOUTS + '''
    Shapes: `B` batch, `N` nodes, `F` features, `G` graphs.

    Args:
        mode: `"mean"`, `"sum"` or `"max"`.
        num_graphs: `G` for disjoint unions, or None to give it per call.

    Call arguments:
        node_features: `[N, F]` or `[B, N, F]`.
        graph_ids: `[N]` int32 or int64, with `[N, F]` nodes.
        num_graphs: `G` for this call (overrides the constructor's).
        mask: boolean `[B, N]`, with `[B, N, F]` nodes: false for padding.

    Returns:
        `[G, F]` or `[B, F]`, in the compute dtype.

    Example:

    >>> nodes = keras.ops.convert_to_tensor([[1.0], [3.0], [5.0]])
    >>> graph_ids = keras.ops.convert_to_tensor([0, 0, 2], "int32")
    >>> pooled = GraphPooling("mean", num_graphs=3)(nodes, graph_ids)
    >>> keras.ops.convert_to_numpy(pooled)[:, 0].tolist()  # graph 1 is empty
    [2.0, 0.0, 5.0]
    '''

    def __init__(self, mode="mean", num_graphs=None, **kwargs):
        super().__init__(**kwargs)
        check_choice("mode", mode, POOLING_MODES)
        check_num_graphs(num_graphs)
        self.mode = mode
        self.num_graphs = num_graphs
        self.supports_masking = True

    def call(self, node_features, graph_ids=None, num_graphs=None, mask=None):
        num_graphs = readout_layout(self, node_features, graph_ids, num_graphs, mask)
        features = ops.cast(node_features, "float32")
        if num_graphs is not None:
            pooled, any_bad = self._pool_union(features, graph_ids, num_graphs)
            return poison(ops.cast(pooled, self.compute_dtype), any_bad)
        return ops.cast(self._pool_padded(features, mask), self.compute_dtype)

    def _pool_union(self, features, graph_ids, num_graphs):
        ids, _, any_bad = guard_indices(graph_ids, num_graphs)  # [N]
        count = ops.segment_sum(
            ops.ones_like(ids, "float32"), ids, num_segments=num_graphs
        )[:, None]  # [G, 1]
        if self.mode == "max":
            pooled = ops.segment_max(features, ids, num_segments=num_graphs)
            # An empty segment's max is the lowest float.
            return ops.where(count > 0, pooled, 0.0), any_bad
        pooled = ops.segment_sum(features, ids, num_segments=num_graphs)  # [G, F]
        if self.mode == "mean":
            pooled = pooled / ops.maximum(count, 1.0)
        return pooled, any_bad

    def _pool_padded(self, features, mask):
        if features.shape[1] == 0:
            # No node in any graph: zeros, as for an all-masked graph (a
            # reduction over the empty axis would be NaN or refused).
            return ops.zeros((ops.shape(features)[0], features.shape[2]), "float32")
        if mask is None:
            if self.mode == "max":
                return ops.max(features, axis=1)  # [B, F]
            pooled = ops.sum(features, axis=1)  # [B, F]
            if self.mode == "mean":
                pooled = pooled / ops.cast(ops.shape(features)[1], "float32")
            return pooled
        valid = ops.cast(mask, "bool")[:, :, None]  # [B, N, 1]
        count = ops.sum(ops.cast(valid, "float32"), axis=1)  # [B, 1]
        # Padding nodes are selected away first, never multiplied by 0: a
        # NaN there must not reach the graph's vector.
        features = ops.where(valid, features, 0.0)  # [B, N, F]
        if self.mode == "max":
            # Padding takes the row's smallest value (0 or below), which no
            # max can miss; an infinite fill would break an int8 model's
            # calibration.
            lowest = ops.stop_gradient(ops.min(features, axis=1, keepdims=True))
            pooled = ops.max(ops.where(valid, features, lowest), axis=1)
            return ops.where(count > 0, pooled, 0.0)
        pooled = ops.sum(features, axis=1)
        if self.mode == "mean":
            pooled = pooled / ops.maximum(count, 1.0)
        return pooled

    def compute_mask(self, node_features, previous_mask=None):
        return None  # one vector per graph: nothing left to mask

    def get_config(self):
        config = {"mode": self.mode, "num_graphs": self.num_graphs}
        return {**super().get_config(), **config}
