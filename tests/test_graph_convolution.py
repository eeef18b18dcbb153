import re

import numpy as np
import pytest
import tensorflow as tf

from keras_attention.data import graphs
from keras_attention.layers.graph_convolution import GraphConvolution
from tests import harness

RNG = np.random.default_rng(1)
N, F, E, U = 6, 5, 10, 4


def _raises(*parts):
    """`pytest.raises(ValueError)` whose message holds `parts` in order."""
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


SPARSE_EDGES = np.array(
    [[0, 1, 2, 3, 4, 5, 2, 0, 1, 3], [1, 2, 3, 4, 5, 0, 2, 3, 3, 1]], "int32"
)  # an input self loop (2 -> 2)
DENSE_MASK = harness.lengths_mask([5, 3], 5)
WEIGHTED_ADJACENCY = (
    (RNG.random((2, 5, 5)) < 0.5) * RNG.uniform(0.5, 2.0, (2, 5, 5))
).astype("float32")

# GCN has no softmax (has_softmax=False). Sparse inputs have no batch axis
# (batched=False): the harness gives the models their full static shapes.
CASES = [
    harness.LayerCase(
        name="sparse",
        cls=GraphConvolution,
        init_kwargs=dict(units=U),
        inputs={"node_features": _normal(N, F), "edges": SPARSE_EDGES},
        trainable_weights=2,  # kernel 5x4, bias 4
        trainable_params=F * U + U,
        has_softmax=False,
        batched=False,
    ),
    harness.LayerCase(
        name="sparse_weighted_no_loops_relu_dropout",
        cls=GraphConvolution,
        init_kwargs=dict(
            units=U, add_self_loops=False, activation="relu", dropout=0.3, seed=2,
            bias_initializer="ones",  # relu keeps every output (and gradient)
        ),
        inputs={
            "node_features": _normal(N, F),
            "edges": SPARSE_EDGES,
            "edge_weight": RNG.uniform(0.5, 2.0, E).astype("float32"),
        },
        trainable_weights=2,
        trainable_params=F * U + U,
        has_softmax=False,
        batched=False,
    ),
    harness.LayerCase(
        name="dense_weighted_masked",
        cls=GraphConvolution,
        init_kwargs=dict(units=U, mode="dense"),
        inputs={"node_features": _normal(2, 5, F), "adjacency": WEIGHTED_ADJACENCY},
        masks={"node_features": DENSE_MASK},
        explicit_mask=lambda m: {"node_features_mask": m["node_features"]},
        trainable_weights=2,
        trainable_params=F * U + U,
        has_softmax=False,
    ),
    harness.LayerCase(
        name="dense_no_bias",
        cls=GraphConvolution,
        init_kwargs=dict(units=U, mode="dense", use_bias=False),
        inputs={"node_features": _normal(2, 5, F), "adjacency": WEIGHTED_ADJACENCY},
        trainable_weights=1,
        trainable_params=F * U,
        has_softmax=False,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- hand-computed outputs -----------------------------------------------------

# 4 nodes with 2 features, W = I, bias [0.5, -0.5]; undirected edges 0 - 1
# and 1 - 2 (each in both directions); node 3 is isolated.
HAND_X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-2.0, 0.0]], "float32")
HAND_EDGES = np.array([[0, 1, 1, 2], [1, 0, 2, 1]], "int32")
BIAS = np.array([0.5, -0.5])


def _hand_set_layer(mode="sparse", **kwargs):
    layer = GraphConvolution(units=2, mode=mode, **kwargs)
    layer.build((4, 2) if mode == "sparse" else (1, 4, 2))
    layer.kernel.assign(np.eye(2))
    layer.bias.assign(BIAS)
    return layer


def _dense(edges, num_nodes, weights=None):
    """`[1, N, N]` adjacency with entry [0, receiver, sender] = weight."""
    adjacency = np.zeros((1, num_nodes, num_nodes), "float32")
    adjacency[0, edges[1], edges[0]] = 1.0 if weights is None else weights
    return adjacency


def _both_modes(layer_kwargs, edges, edge_weight=None):
    sparse = _hand_set_layer(**layer_kwargs)(HAND_X, edges, edge_weight=edge_weight)
    dense = _hand_set_layer("dense", **layer_kwargs)(
        HAND_X[None], _dense(edges, 4, edge_weight)
    )[0]
    return np.asarray(sparse), np.asarray(dense)


def test_hand_computed_outputs():
    # With self loops the degrees (A + I row sums) are 2, 3, 2, 1:
    #   out_0 = x_0 / 2 + x_1 / sqrt(2 * 3) = [0.5, 0.816497]
    #   out_1 = x_0 / sqrt(6) + x_1 / 3 + x_2 / sqrt(6) = [0.816497, 1.074915]
    #   out_2 = x_1 / sqrt(6) + x_2 / 2 = [0.5, 1.316497]
    #   out_3 = x_3 / 1 = [-2, 0]
    want = np.array(
        [[0.5, 0.816497], [0.816497, 1.074915], [0.5, 1.316497], [-2.0, 0.0]]
    ) + BIAS
    for got in _both_modes({}, HAND_EDGES):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # An input self loop (2 -> 2, weight 5) is replaced by the loop of weight 1.
    with_loop = np.concatenate([HAND_EDGES, [[2], [2]]], axis=1)
    sparse, dense = _both_modes({}, with_loop, np.array([1, 1, 1, 1, 5], "float32"))
    np.testing.assert_allclose(sparse, want, atol=1e-6)
    np.testing.assert_allclose(dense, want, atol=1e-6)


def test_hand_computed_outputs_without_self_loops():
    # Degrees 1, 2, 1, 0; node 3 has no edge at all and gets the bias alone:
    #   out_0 = x_1 / sqrt(1 * 2) = [0, 1.414214]
    #   out_1 = (x_0 + x_2) / sqrt(2) = [1.414214, 0.707107]
    #   out_2 = x_1 / sqrt(2) = [0, 1.414214]
    want = np.array(
        [[0.0, 1.414214], [1.414214, 0.707107], [0.0, 1.414214], [0.0, 0.0]]
    ) + BIAS
    for got in _both_modes({"add_self_loops": False}, HAND_EDGES):
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert np.all(np.isfinite(got))


def test_hand_computed_weighted_outputs():
    # Edge weights 2 on 0 <-> 1, 1 on 1 <-> 2, self loops 1; degrees 3, 4, 2, 1:
    #   out_0 = x_0 / 3 + 2 x_1 / sqrt(3 * 4) = [0.333333, 1.154701]
    #   out_1 = 2 x_0 / sqrt(12) + x_1 / 4 + x_2 / sqrt(8) = [0.930904, 0.853553]
    #   out_2 = x_1 / sqrt(8) + x_2 / 2 = [0.5, 1.207107]
    want = np.array(
        [[0.333333, 1.154701], [0.930904, 0.853553], [0.5, 1.207107], [-2.0, 0.0]]
    ) + BIAS
    weights = np.array([2.0, 2.0, 1.0, 1.0], "float32")
    for got in _both_modes({}, HAND_EDGES, weights):
        np.testing.assert_allclose(got, want, atol=1e-6)


# -- against a dense numpy formula --------------------------------------------


def reference_gcn(layer, x, edges, edge_weight, add_self_loops):
    """D^-1/2 (A + I) D^-1/2 X W + b with a dense numpy A[receiver, sender]."""
    num_nodes = len(x)
    weights = np.ones(edges.shape[1]) if edge_weight is None else edge_weight
    a = np.zeros((num_nodes, num_nodes))
    np.add.at(a, (edges[1], edges[0]), weights)  # duplicates add up
    if add_self_loops:
        np.fill_diagonal(a, 1.0)
    degree = a.sum(1)
    scale = np.zeros(num_nodes)
    scale[degree > 0] = degree[degree > 0] ** -0.5
    norm = scale[:, None] * a * scale[None, :]
    return norm @ x @ layer.kernel.numpy() + layer.bias.numpy()


@pytest.mark.parametrize("add_self_loops", [True, False], ids=["loops", "no_loops"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_parity_with_a_dense_formula(add_self_loops, weighted):
    # 8 nodes; node 7 has no edges; a duplicate 0 -> 1; input self loop 3 -> 3.
    edges = np.array(
        [[0, 0, 1, 2, 3, 4, 5, 6, 3, 2], [1, 1, 2, 3, 3, 5, 6, 0, 4, 0]], "int32"
    )
    edge_weight = RNG.uniform(0.5, 2.0, edges.shape[1]).astype("float32") if weighted else None
    x = _normal(8, F)
    layer = GraphConvolution(U, add_self_loops=add_self_loops, bias_initializer="random_normal")
    got = layer(x, edges, edge_weight=edge_weight)
    if add_self_loops:
        # The dense formula sets the diagonal; the layer drops the input loop.
        keep = edges[0] != edges[1]
        edges, edge_weight = edges[:, keep], None if edge_weight is None else edge_weight[keep]
    want = reference_gcn(layer, x, edges, edge_weight, add_self_loops)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_sparse_and_dense_modes_agree_on_padded_graphs():
    sparse = GraphConvolution(U, activation="tanh")
    dense = GraphConvolution(U, activation="tanh", mode="dense")
    parts = [
        (_normal(5, F), np.array([[0, 1, 2, 3, 4, 1], [1, 2, 3, 4, 0, 3]], "int32")),
        (_normal(3, F), np.array([[0, 1, 2], [1, 2, 1]], "int32")),
    ]
    x = np.zeros((2, 5, F), "float32")
    adjacency = np.zeros((2, 5, 5), "float32")
    for b, (xb, eb) in enumerate(parts):
        x[b, : len(xb)] = xb
        adjacency[b, eb[1], eb[0]] = 1.0
    dense(x, adjacency)
    sparse(*parts[0])
    dense.set_weights(sparse.get_weights())
    for mask in (DENSE_MASK, None):
        outputs = np.asarray(dense(x, adjacency, node_features_mask=mask))
        for b, (xb, eb) in enumerate(parts):
            np.testing.assert_allclose(outputs[b, : len(xb)], sparse(xb, eb), atol=1e-6)
    masked = np.asarray(dense(x, adjacency, node_features_mask=DENSE_MASK))
    np.testing.assert_array_equal(masked[1, 3:], 0.0)


def test_disjoint_union_equals_each_graph_alone():
    parts = [
        graphs.Graph(_normal(5, F), [[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]),
        graphs.Graph(_normal(4, F), [[0, 1, 2], [1, 2, 0]]),
    ]
    batch = graphs.batch_graphs(parts)
    layer = GraphConvolution(U)
    union = np.asarray(layer(batch.node_features, batch.edges))
    np.testing.assert_allclose(union[:5], layer(parts[0].node_features, parts[0].edges), atol=1e-6)
    np.testing.assert_allclose(union[5:], layer(parts[1].node_features, parts[1].edges), atol=1e-6)


def test_isolated_node_has_finite_gradients():
    for mode in ("sparse", "dense"):
        layer = GraphConvolution(U, add_self_loops=False, mode=mode, bias_initializer="ones")
        x = tf.constant(HAND_X[None] if mode == "dense" else HAND_X)
        graph = _dense(HAND_EDGES, 4) if mode == "dense" else HAND_EDGES
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, graph)
            loss = tf.reduce_sum(outputs**2)
        np.testing.assert_array_equal(np.asarray(outputs).reshape(4, -1)[3], 1.0)
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        assert all(np.all(np.isfinite(g)) for g in grads), mode


def test_sparse_normalisation_runs_in_float32():
    layer = GraphConvolution(U, dtype="mixed_float16")
    outputs = layer(_normal(N, F), SPARSE_EDGES)
    assert outputs.dtype == "float16"
    traced = tf.function(lambda a, b: layer(a, b)).get_concrete_function(
        tf.TensorSpec((N, F), tf.float32), tf.TensorSpec(SPARSE_EDGES.shape, tf.int32)
    )
    rsqrt = [
        tf.dtypes.as_dtype(n.attr["T"].type).name
        for n in traced.graph.as_graph_def().node
        if n.op == "Rsqrt"
    ]
    assert rsqrt == ["float32"], rsqrt


# -- bad inputs ------------------------------------------------------------------


def test_out_of_range_edge_index_raises_or_gives_nan():
    layer = GraphConvolution(U)
    for index in (4, -2):
        edges = HAND_EDGES.copy()
        edges[0, 3] = index
        with _raises(f"edges holds index {index} at [0, 3]", "[0, 4)", "N=4"):
            layer(HAND_X, edges)
        traced = tf.function(lambda x, e: layer(x, e), jit_compile=True)
        assert np.all(np.isnan(traced(HAND_X, edges)))
        assert np.all(np.isfinite(traced(HAND_X, HAND_EDGES)))


def test_wrong_shapes_raise():
    layer = GraphConvolution(U)
    layer(HAND_X, HAND_EDGES)
    with _raises("edges must have shape [2, E] = [2, ?]", "received edges.shape=(4, 2)"):
        layer(HAND_X, HAND_EDGES.T.copy())
    with _raises("edges must hold integer indices", "received edges.dtype=float32"):
        layer(HAND_X, HAND_EDGES.astype("float32"))
    with _raises("edge_weight must have shape [E] = [4]", "received edge_weight.shape=(3,)"):
        layer(HAND_X, HAND_EDGES, edge_weight=np.ones(3, "float32"))
    with _raises("node_features must have 2 features", "received node_features.shape=(4, 3)"):
        layer(_normal(4, 3), HAND_EDGES)
    dense = GraphConvolution(U, mode="dense")
    with _raises("adjacency must have shape [B, N, N] = [1, 4, 4]", "received adjacency.shape=(1, 4, 3)"):
        dense(HAND_X[None], np.ones((1, 4, 3), "float32"))
    with _raises("edge_weight is for mode='sparse'"):
        dense(HAND_X[None], _dense(HAND_EDGES, 4), edge_weight=np.ones(4, "float32"))


def test_bad_arguments_raise():
    with _raises("units must be a positive int, received units=0"):
        GraphConvolution(0)
    with _raises("dropout must be a float in [0, 1), received dropout=2"):
        GraphConvolution(4, dropout=2)
    with _raises("mode must be one of ('sparse', 'dense'), received mode='coo'"):
        GraphConvolution(4, mode="coo")
