"""Graph convolution (Kipf and Welling 2017)."""

import keras
from keras import ops

from keras_attention.layers._graph import (
    GRAPH_MODES,
    check_choice,
    check_dense_graph,
    check_sparse_graph,
    guard_indices,
    poison,
    resolve_graph_args,
    self_loop_mask,
    sparse_edges,
    static_or_dynamic,
    zero_masked,
)
from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import (
    check_positive_int,
    check_rate,
    check_shape,
)


def _inverse_sqrt(degree):
    """`degree^-1/2`, and 0 for a node of degree 0 (an isolated node)."""
    safe = ops.maximum(degree, 1e-12)
    return ops.where(degree > 0, ops.rsqrt(safe), 0.0)


@keras.saving.register_keras_serializable(package="keras_attention")
class GraphConvolution(keras.layers.Layer):
    """Graph convolution with symmetric normalisation (GCN).

    Computes `H' = act(D^-1/2 (A + I) D^-1/2 H W + b)` (Kipf and Welling
    2017, "Semi-Supervised Classification with Graph Convolutional
    Networks", eq. 2), where `A[i, j]` is the weight of the edge `j -> i`
    and `D` the diagonal of `A + I`'s row sums (each node's weighted
    in-degree, its self loop included). For an undirected graph this is the
    paper's propagation rule; for a directed one it is PyTorch Geometric's
    `gcn_norm` (in-degrees on both sides).

    Two layouts of the same computation, with the same weights:

    - `mode="sparse"`: one graph or a disjoint union, nodes `[N, F]`,
      edges `[2, E]` (row 0 senders, row 1 receivers) and optional edge
      weights `[E]`, aggregated with segment sums.
    - `mode="dense"`: a padded batch, nodes `[B, N, F]` and an adjacency
      `[B, N, N]` whose entry `[b, i, j]` is the weight of the edge
      `j -> i` (rows are receivers; bool or 0/1 for an unweighted graph).

    Self loops: with `add_self_loops=True` every node gets one self loop of
    weight 1, the paper's `A + I`: an input self loop is dropped in sparse
    mode (as `GraphAttention` does, and unlike PyTorch Geometric's GCN,
    which keeps a given loop's weight) and the diagonal is set to 1 in dense
    mode. A node of degree 0 (no edges, no self loop) gets no
    normalisation factor rather than a division by zero: its output is the
    bias alone, never NaN; a graph of no node, an empty output. Padding
    nodes are selected away, so a NaN there never reaches a real node.

    Edge indices are checked as in `GraphAttention`: an index outside
    `[0, N)` raises a `ValueError` naming it and `N` in eager mode, and
    turns the whole output into NaN inside a traced function.

    Shapes: `B` batch, `N` nodes, `E` edges, `F` features, `U` units.

    Args:
        units: size `U` of the output features.
        activation: activation of the output, e.g. `"relu"`.
        use_bias: add a bias to the output.
        add_self_loops: use `A + I` rather than `A` (see above).
        dropout: dropout rate on the input node features while training.
        mode: `"sparse"` or `"dense"`.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: of the kernel `W` `[F, U]` and the bias `[U]`.
        seed: seed of the dropout.

    Call arguments:
        node_features: `[N, F]` (sparse) or `[B, N, F]` (dense).
        edges: sparse mode: `[2, E]` int32 or int64, messages flow
            `edges[0] -> edges[1]`. Dense mode: the adjacency `[B, N, N]`,
            which may also be passed as `adjacency=`.
        edge_weight: sparse mode: optional `[E]` edge weights (default 1).
        adjacency: dense mode's adjacency, by keyword.
        node_features_mask: dense mode: boolean `[B, N]`, false for padding
            nodes, which neither send nor receive and output zeros. Filled
            from the Keras mask of `node_features`.
        training: whether dropout is active.

    Returns:
        `[N, U]` (sparse) or `[B, N, U]` (dense), in the compute dtype.

    Example:

    >>> nodes = keras.random.normal((4, 8))
    >>> edges = keras.ops.convert_to_tensor([[0, 1, 2, 3], [1, 2, 3, 0]], "int32")
    >>> tuple(GraphConvolution(units=16)(nodes, edges).shape)
    (4, 16)
    >>> dense = GraphConvolution(units=16, mode="dense")
    >>> tuple(dense(keras.random.normal((3, 5, 8)), keras.ops.ones((3, 5, 5))).shape)
    (3, 5, 16)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        add_self_loops=True,
        dropout=0.0,
        mode="sparse",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        check_rate("dropout", dropout)
        check_choice("mode", mode, GRAPH_MODES)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.add_self_loops = bool(add_self_loops)
        self.dropout = dropout
        self.mode = mode
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.seed = seed
        self.supports_masking = mode == "dense"
        self._num_features = None
        self._input_dropout = HashDropout(
            dropout, seed=seed, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, node_features_shape, **unused_shapes):
        rank = 2 if self.mode == "sparse" else 3
        letters = "[N, F]" if self.mode == "sparse" else "[B, N, F]"
        if len(node_features_shape) != rank or node_features_shape[-1] is None:
            raise ValueError(
                f"node_features must have shape {letters} with a known F in "
                f"mode={self.mode!r}, received "
                f"node_features.shape={tuple(node_features_shape)}"
            )
        self._num_features = node_features_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self._num_features, self.units),
            initializer=clone_initializer(self.kernel_initializer, 0),
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=clone_initializer(self.bias_initializer, 0),
                regularizer=self.bias_regularizer,
            )
        self.built = True

    def call(
        self,
        node_features,
        edges=None,
        edge_weight=None,
        adjacency=None,
        node_features_mask=None,
        training=None,
    ):
        graph = resolve_graph_args(self.mode, edges, adjacency, node_features_mask)
        if self.mode == "sparse":
            check_sparse_graph(node_features, graph)
            check_shape(
                "edge_weight",
                edge_weight,
                (graph.shape[1],),
                "[E]",
                f" (edges.shape={tuple(graph.shape)})",
            )
        else:
            check_dense_graph(node_features, graph, node_features_mask)
            if edge_weight is not None:
                raise ValueError(
                    "edge_weight is for mode='sparse'; in mode='dense' the "
                    "adjacency holds the weights, received "
                    f"edge_weight.shape={tuple(edge_weight.shape)}"
                )
        if node_features.shape[-1] != self._num_features:
            raise ValueError(
                f"node_features must have {self._num_features} features as when "
                "the layer was built, received "
                f"node_features.shape={tuple(node_features.shape)}"
            )
        inputs = self._input_dropout(
            ops.cast(node_features, self.compute_dtype), training=training
        )
        projected = ops.matmul(inputs, self.kernel)  # [(B,) N, U]
        if self.mode == "sparse":
            return self._call_sparse(projected, graph, edge_weight)
        return self._call_dense(projected, graph, node_features_mask)

    def _finish(self, outputs):
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def _call_sparse(self, projected, edges, edge_weight):
        if projected.shape[0] == 0:
            # No node: an empty output (Keras's PyTorch segment ops would
            # read num_segments=0 as "not given"); any edge is out of range.
            return poison(self._finish(projected), guard_indices(edges, 0)[2])
        num_nodes = static_or_dynamic(projected, 0)
        senders, receivers, weights, any_bad = sparse_edges(
            edges, num_nodes, self.add_self_loops
        )  # [E'] each; weights are 1 for edges used, 0 for dropped ones
        if edge_weight is not None:
            given = ops.cast(edge_weight, "float32")
            if self.add_self_loops:
                given = ops.concatenate([given, ops.ones((num_nodes,), "float32")])
            # Selected: a dropped edge's NaN weight must not count.
            weights = ops.where(weights > 0, given, 0.0)
        # Degrees and normalisation in float32 whatever the compute dtype.
        degree = ops.segment_sum(weights, receivers, num_segments=num_nodes)  # [N]
        scale = _inverse_sqrt(degree)
        norm = (
            ops.take(scale, senders, axis=0) * weights * ops.take(scale, receivers, axis=0)
        )  # [E']
        messages = ops.take(projected, senders, axis=0) * ops.cast(
            norm, self.compute_dtype
        )[:, None]  # [E', U]
        outputs = ops.segment_sum(messages, receivers, num_segments=num_nodes)
        return poison(self._finish(outputs), any_bad)  # [N, U]

    def _call_dense(self, projected, adjacency, node_mask):
        num_nodes = static_or_dynamic(projected, 1)
        weights = ops.cast(adjacency, "float32")  # [B, N, N], row = receiver
        if self.add_self_loops:
            weights = ops.where(self_loop_mask(num_nodes)[None], 1.0, weights)
        if node_mask is not None:
            # Selected, not multiplied: a padding node's NaN (in its
            # features or its adjacency entries) would survive a 0 weight.
            node_mask = ops.cast(node_mask, "bool")
            pairs = ops.logical_and(node_mask[:, :, None], node_mask[:, None, :])
            weights = ops.where(pairs, weights, 0.0)
            projected = zero_masked(projected, node_mask)  # [B, N, U]
        scale = _inverse_sqrt(ops.sum(weights, axis=-1))  # [B, N]
        norm = scale[:, :, None] * weights * scale[:, None, :]  # [B, N, N]
        outputs = self._finish(
            ops.matmul(ops.cast(norm, self.compute_dtype), projected)
        )  # [B, N, U]
        if node_mask is not None:
            outputs = ops.where(node_mask[:, :, None], outputs, 0)
        return outputs

    def compute_mask(self, node_features, previous_mask=None):
        return previous_mask if self.mode == "dense" else None

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "add_self_loops": self.add_self_loops,
            "dropout": self.dropout,
            "mode": self.mode,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
