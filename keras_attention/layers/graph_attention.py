"""Graph attention (Velickovic et al. 2018; GATv2, Brody, Alon and Yahav 2022)."""

import keras
from keras import ops

from keras_attention.layers._graph import (
    GRAPH_MODES,
    VERSIONS,
    check_choice,
    check_dense_graph,
    check_sparse_graph,
    resolve_graph_args,
)
from keras_attention.layers._graph_attention import SCORES, dense_pass, sparse_pass
from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._random import HashDropout
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import (
    check_positive_int,
    check_rate,
    check_shape,
)

# Names PyTorch Geometric (or our older self) gives our arguments. Where
# Keras has a name for the same thing (num_heads, units, use_bias,
# return_attention_scores) we keep Keras's.
_RENAMED_ARGS = {
    "attention_dropout": (
        "attention-coefficient dropout is dropout (as in PyTorch Geometric's "
        "GATConv); input-feature dropout is feature_dropout"
    ),
    "heads": named("num_heads", "keras.layers.MultiHeadAttention"),
    "concat": "the argument is named concat_heads",
    "bias": named("use_bias", "Keras layers"),
    "out_channels": named("units", "keras.layers.Dense"),
    "in_channels": "the input width is taken from node_features when the layer is built",
    "edge_dim": "the edge feature width is taken from edge_features when the layer is built",
    "fill_value": "self loops always get the mean of the node's incoming edge features (GATConv's fill_value='mean')",
}
_RENAMED_CALL_ARGS = {
    "edge_index": "the argument is named edges ([2, E], senders then receivers, as GATConv's edge_index)",
    "edge_attr": "the argument is named edge_features",
    "return_attention_weights": named(
        "return_attention_scores", "Keras's attention layers"
    ),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class GraphAttention(keras.layers.Layer):
    """Multi-head graph attention over a graph's edges (GAT and GATv2).

    Each node `i` attends over the nodes `j` that send it an edge
    `j -> i`. With `version="gat"` (Velickovic et al. 2018, "Graph Attention
    Networks", eqs. 1-6) the score of an edge is
    `e_ij = LeakyReLU(a_r . W h_i + a_s . W h_j [+ a_e . W_e x_ij])`; with
    `version="gatv2"` (Brody, Alon and Yahav 2022, "How Attentive are Graph
    Attention Networks?", eq. 7) it is
    `e_ij = a . LeakyReLU(W_r h_i + W_s h_j [+ W_e x_ij])`, the paper's
    `a^T LeakyReLU(W [h_i || h_j])` with `W = [W_r | W_s]`. The scores of
    each node's incoming edges are normalised with a softmax, and node
    `i`'s output is `sum_j alpha_ij W h_j` (`W_s h_j` for GATv2), per head;
    the heads are concatenated or averaged, then the bias and activation
    follow. Edge features `x_ij`, when given, enter the score through
    `W_e` as in GATv2 and PyTorch Geometric's `edge_dim`.

    Two layouts of the same computation, with the same weights:

    - `mode="sparse"`: one graph (or a disjoint union of many, such as
      `keras_attention.data.graphs.batch_graphs` builds), nodes `[N, F]`
      and edges `[2, E]`, row 0 the senders and row 1 the receivers. The
      softmax runs per receiver with segment ops; memory grows with `E`.
    - `mode="dense"`: a padded batch, nodes `[B, N, F]` and an adjacency
      `[B, N, N]` with `adjacency[b, i, j]` nonzero when `j` sends to `i`
      (rows are receivers, as in `A @ H`; the transpose of the usual
      "row sends to column" picture). Memory grows with `N^2`; no segment
      ops, so it quantizes to int8 TFLite.

    Self loops: with `add_self_loops=True` every node attends to itself.
    In sparse mode the layer drops any self loop in `edges` (coefficient
    0) and appends one loop per node after the given edges, as PyTorch
    Geometric removes and re-adds them; in dense mode it sets the diagonal.
    A self loop's edge features are the mean of the node's other incoming
    edges' features (zeros if it has none), PyTorch Geometric's
    `fill_value="mean"`.

    Edge indices: an index outside `[0, N)` in eager mode raises a
    `ValueError` naming the index and `N`, checked in numpy on the host so
    on every device. Inside a traced function (`fit`, `predict`, XLA,
    TFLite) there is no portable way to raise, and TensorFlow's gather
    silently returns zeros on GPU; there, such an index turns the whole
    output (and the attention coefficients) into NaN, so a bad index can
    never pass as a plausible result. Validate edges in the data pipeline
    (`keras_attention.data.graphs.validate_edges`) to get the message.

    A node with no incoming edge (no self loop either) gets the bias alone
    (then the activation), never NaN; a graph of no node, an empty output.
    Padding nodes, non-edges and dropped self loops are selected away, so a
    NaN there never reaches a real node. Scores and the softmax run in
    float32 under mixed precision.

    Shapes: `B` batch, `N` nodes, `E` edges, `F` node features, `Fe` edge
    features, `H` heads, `U` units.

    Args:
        units: size `U` of each head's output.
        num_heads: number of heads `H`.
        concat_heads: concatenate the heads (`[N, H*U]`) or average them
            (`[N, U]`, the paper's output layer).
        negative_slope: slope of the LeakyReLU for negative inputs.
        dropout: dropout rate on the normalised attention coefficients
            while training, as PyTorch Geometric's `GATConv(dropout=)`.
        feature_dropout: dropout rate on the input node features while
            training (the paper uses 0.6 for both).
        add_self_loops: let every node attend to itself (see above).
        version: `"gat"` or `"gatv2"`.
        use_bias: add a bias to the output.
        activation: activation of the output, e.g. `"elu"`.
        mode: `"sparse"` or `"dense"` (see above).
        kernel_initializer, bias_initializer: of `W` (and `W_r`, `W_e`) and
            of the bias.
        attention_initializer: of the attention vectors `a`.
        kernel_regularizer, bias_regularizer, attention_regularizer: e.g.
            `keras.regularizers.L2(5e-4)` on all three for the paper's Cora
            recipe.
        seed: seed of both dropouts.

    Weights, in order: `kernel` `[F, H*U]` (`W`, for GATv2 `W_s`, which also
    projects the messages); for GATv2 `receiver_kernel` `[F, H*U]` (`W_r`);
    for GAT `sender_attention_kernel` and `receiver_attention_kernel`
    `[H, U]` (`a_s`, `a_r`), for GATv2 `attention_kernel` `[H, U]` (`a`);
    with edge features `edge_kernel` `[Fe, H*U]` (`W_e`) and, for GAT,
    `edge_attention_kernel` `[H, U]` (`a_e`); `bias` `[H*U]` or `[U]`.

    Call arguments:
        node_features: `[N, F]` (sparse) or `[B, N, F]` (dense).
        edges: sparse mode: `[2, E]` int32 or int64, messages flow
            `edges[0] -> edges[1]`. Dense mode: the adjacency `[B, N, N]`
            (bool or numbers, nonzero for an edge), which may also be passed
            as `adjacency=`.
        edge_features: optional `[E, Fe]` (sparse) or `[B, N, N, Fe]`
            (dense, entry `[b, i, j]` for the edge `j -> i`). A layer built
            with edge features must always get them, and one built without
            must not.
        adjacency: dense mode's adjacency, by keyword.
        node_features_mask: dense mode: boolean `[B, N]`, false for padding
            nodes, which neither send nor receive and output zeros. Filled
            from the Keras mask of `node_features`.
        training: whether dropout is active.
        return_attention_scores: also return the attention coefficients.

    Returns:
        The node outputs `[N, H*U]` or `[N, U]` (sparse), `[B, N, H*U]` or
        `[B, N, U]` (dense), in the compute dtype. With
        `return_attention_scores`, the tuple `(outputs, coefficients)`:
        sparse `[E', H]` aligned with the edges used (the `E` given edges in
        their order, then with self loops node `i`'s loop at row `E + i`;
        a dropped input self loop has 0); dense `[B, H, N, N]`, entry
        `[b, h, i, j]` for the edge `j -> i`. They are the coefficients
        that weighted the messages: outside training each node's incoming
        coefficients sum to 1 (0 for a node with no incoming edge); in
        training, after dropout, as PyTorch Geometric's `GATConv` returns
        them (a dropped one is 0, a kept one scaled by `1 / (1 - dropout)`).

    Example:

    >>> nodes = keras.random.normal((4, 8))
    >>> edges = keras.ops.convert_to_tensor([[0, 1, 2, 3], [1, 2, 3, 0]], "int32")
    >>> layer = GraphAttention(units=16, num_heads=2)
    >>> outputs, coefficients = layer(nodes, edges, return_attention_scores=True)
    >>> tuple(outputs.shape), tuple(coefficients.shape)  # E' = 4 edges + 4 loops
    ((4, 32), (8, 2))
    >>> dense = GraphAttention(units=16, num_heads=2, mode="dense")
    >>> adjacency = keras.ops.ones((3, 5, 5))
    >>> tuple(dense(keras.random.normal((3, 5, 8)), adjacency).shape)
    (3, 5, 32)
    """

    def __init__(
        self,
        units,
        num_heads=1,
        concat_heads=True,
        negative_slope=0.2,
        dropout=0.0,
        feature_dropout=0.0,
        add_self_loops=True,
        version="gat",
        use_bias=True,
        activation=None,
        mode="sparse",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        attention_initializer="glorot_uniform",
        kernel_regularizer=None,
        bias_regularizer=None,
        attention_regularizer=None,
        seed=None,
        **kwargs,
    ):
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_ARGS)
        super().__init__(**kwargs)
        check_positive_int("units", units)
        check_positive_int("num_heads", num_heads)
        if (
            not isinstance(negative_slope, (int, float))
            or isinstance(negative_slope, bool)
            or negative_slope < 0
        ):
            raise ValueError(
                "negative_slope must be a float >= 0, received "
                f"negative_slope={negative_slope!r}"
            )
        check_rate("dropout", dropout)
        check_rate("feature_dropout", feature_dropout)
        check_choice("version", version, VERSIONS)
        check_choice("mode", mode, GRAPH_MODES)
        self.units = units
        self.num_heads = num_heads
        self.concat_heads = bool(concat_heads)
        self.negative_slope = float(negative_slope)
        self.dropout = dropout
        self.feature_dropout = feature_dropout
        self.add_self_loops = bool(add_self_loops)
        self.version = version
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        self.mode = mode
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.attention_initializer = keras.initializers.get(attention_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.attention_regularizer = keras.regularizers.get(attention_regularizer)
        self.seed = seed
        self.supports_masking = mode == "dense"
        self._num_features = None
        self._edge_dim = None
        self._input_dropout = HashDropout(
            feature_dropout, seed=seed, dtype=self.dtype_policy, name="feature_dropout"
        )
        self._attention_dropout = HashDropout(
            dropout,
            seed=None if seed is None else seed + 1,
            dtype=self.dtype_policy,
            name="attention_dropout",
        )

    def _add_kernel(self, name, shape, salt):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=clone_initializer(self.kernel_initializer, salt),
            regularizer=self.kernel_regularizer,
        )

    def _add_attention(self, name, salt):
        return self.add_weight(
            name=name,
            shape=(self.num_heads, self.units),
            initializer=clone_initializer(self.attention_initializer, salt),
            regularizer=self.attention_regularizer,
        )

    def build(self, node_features_shape, edge_features_shape=None, **unused_shapes):
        rank = 2 if self.mode == "sparse" else 3
        letters = "[N, F]" if self.mode == "sparse" else "[B, N, F]"
        if len(node_features_shape) != rank or node_features_shape[-1] is None:
            raise ValueError(
                f"node_features must have shape {letters} with a known F in "
                f"mode={self.mode!r}, received "
                f"node_features.shape={tuple(node_features_shape)}"
            )
        if edge_features_shape is not None:
            edge_rank = 2 if self.mode == "sparse" else 4
            if len(edge_features_shape) != edge_rank or edge_features_shape[-1] is None:
                expected = "[E, Fe]" if self.mode == "sparse" else "[B, N, N, Fe]"
                raise ValueError(
                    f"edge_features must have shape {expected} with a known Fe "
                    f"in mode={self.mode!r}, received "
                    f"edge_features.shape={tuple(edge_features_shape)}"
                )
            self._edge_dim = edge_features_shape[-1]
        width = self.num_heads * self.units
        self._num_features = node_features_shape[-1]
        self.kernel = self._add_kernel("kernel", (self._num_features, width), 0)
        # The version's attention weights (and W_e), in the saved order.
        SCORES[self.version].add_weights(self)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(width if self.concat_heads else self.units,),
                initializer=clone_initializer(self.bias_initializer, 0),
                regularizer=self.bias_regularizer,
            )
        self.built = True

    # -- call ----------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so another name gets ours.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        return super().__call__(*args, **kwargs)

    def call(
        self,
        node_features,
        edges=None,
        edge_features=None,
        adjacency=None,
        node_features_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        graph = resolve_graph_args(self.mode, edges, adjacency, node_features_mask)
        if self.mode == "sparse":
            check_sparse_graph(node_features, graph)
            expected, letters = (graph.shape[1], None), "[E, Fe]"
            note = f" (edges.shape={tuple(graph.shape)})"
        else:
            check_dense_graph(node_features, graph, node_features_mask)
            batch, nodes = node_features.shape[:2]
            expected, letters = (batch, nodes, nodes, None), "[B, N, N, Fe]"
            note = f" (node_features.shape={tuple(node_features.shape)})"
        check_shape("edge_features", edge_features, expected, letters, note)
        self._check_features(node_features, edge_features)
        node_features = ops.cast(node_features, self.compute_dtype)
        if edge_features is not None:
            edge_features = ops.cast(edge_features, self.compute_dtype)
        if self.mode == "sparse":
            outputs, coefficients = sparse_pass(
                self, node_features, graph, edge_features, training
            )
        else:
            outputs, coefficients = dense_pass(
                self, node_features, graph, edge_features, node_features_mask, training
            )
        if return_attention_scores:
            return outputs, coefficients
        return outputs

    def _check_features(self, node_features, edge_features):
        if node_features.shape[-1] != self._num_features:
            raise ValueError(
                f"node_features must have {self._num_features} features as when "
                f"the layer was built, received "
                f"node_features.shape={tuple(node_features.shape)}"
            )
        if (edge_features is None) != (self._edge_dim is None):
            raise ValueError(
                "a layer built with edge features must be called with them and "
                "one built without must not, received edge_features="
                f"{None if edge_features is None else tuple(edge_features.shape)} "
                f"for a layer built with "
                f"{'no edge features' if self._edge_dim is None else f'Fe={self._edge_dim}'}"
            )
        if edge_features is not None and edge_features.shape[-1] != self._edge_dim:
            raise ValueError(
                f"edge_features must have {self._edge_dim} features as when the "
                f"layer was built, received edge_features.shape="
                f"{tuple(edge_features.shape)}"
            )

    def compute_mask(self, node_features, previous_mask=None):
        # Dense outputs keep one row per (padded) node; sparse ones carry none.
        return previous_mask if self.mode == "dense" else None

    def get_config(self):
        config = {
            "units": self.units,
            "num_heads": self.num_heads,
            "concat_heads": self.concat_heads,
            "negative_slope": self.negative_slope,
            "dropout": self.dropout,
            "feature_dropout": self.feature_dropout,
            "add_self_loops": self.add_self_loops,
            "version": self.version,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation),
            "mode": self.mode,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "attention_initializer": keras.initializers.serialize(
                self.attention_initializer
            ),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "attention_regularizer": keras.regularizers.serialize(
                self.attention_regularizer
            ),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
