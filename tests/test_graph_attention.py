import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_attention_export as export
from keras_attention.data import graphs
from keras_attention.layers.graph_attention import GraphAttention
from tests import harness

RNG = np.random.default_rng(0)
N, F, E, FE, H, U = 6, 5, 10, 3, 2, 4


def _raises(*parts):
    """`pytest.raises(ValueError)` whose message holds `parts` in order."""
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def _edges(num_nodes, num_edges, rng=RNG):
    return rng.integers(0, num_nodes, size=(2, num_edges)).astype("int32")


# Sparse inputs have no batch axis (batched=False): the harness gives the
# models their full static shapes. Their softmax is a segment softmax, with
# no Softmax op for the harness to find (has_softmax=False);
# test_sparse_softmax_runs_in_float32 checks its dtype instead.
SPARSE_EDGES = np.array(
    [[0, 1, 2, 3, 4, 5, 2, 0, 1, 3], [1, 2, 3, 4, 5, 0, 2, 3, 3, 1]], "int32"
)  # a self loop (2 -> 2) and a node with two senders (3)
DENSE_MASK = harness.lengths_mask([5, 3], 5)


def _adjacency(batch, nodes, p=0.4, rng=RNG):
    return (rng.random((batch, nodes, nodes)) < p).astype("float32")


# kernel 5x8, a_s 2x4, a_r 2x4, bias 8
GAT_PARAMS = F * H * U + 2 * H * U + H * U
# kernel and receiver_kernel 5x8, a 2x4, edge_kernel 3x8, bias 4 (averaged)
GATV2_EDGE_MEAN_PARAMS = 2 * F * H * U + H * U + FE * H * U + U

CASES = [
    harness.LayerCase(
        name="sparse_gat",
        cls=GraphAttention,
        init_kwargs=dict(units=U, num_heads=H),
        inputs={"node_features": _normal(N, F), "edges": SPARSE_EDGES},
        trainable_weights=4,
        trainable_params=GAT_PARAMS,
        has_softmax=False,
        batched=False,
    ),
    harness.LayerCase(
        name="sparse_gatv2_edge_features_mean",
        cls=GraphAttention,
        init_kwargs=dict(units=U, num_heads=H, version="gatv2", concat_heads=False),
        inputs={
            "node_features": _normal(N, F),
            "edges": SPARSE_EDGES,
            "edge_features": _normal(E, FE),
        },
        call_kwargs={"return_attention_scores": True},
        trainable_weights=5,
        trainable_params=GATV2_EDGE_MEAN_PARAMS,
        has_softmax=False,
        batched=False,
    ),
    harness.LayerCase(
        name="sparse_gat_edge_features_no_loops_dropout",
        cls=GraphAttention,
        init_kwargs=dict(
            units=U,
            num_heads=H,
            add_self_loops=False,
            feature_dropout=0.2,
            dropout=0.3,
            activation="elu",
            seed=1,
        ),
        inputs={
            "node_features": _normal(N, F),
            "edges": SPARSE_EDGES,
            "edge_features": _normal(E, FE),
        },
        # GAT plus edge_kernel 3x8 and a_e 2x4
        trainable_weights=6,
        trainable_params=GAT_PARAMS + FE * H * U + H * U,
        has_softmax=False,
        batched=False,
    ),
    harness.LayerCase(
        name="dense_gat_masked",
        cls=GraphAttention,
        init_kwargs=dict(units=U, num_heads=H, mode="dense"),
        inputs={"node_features": _normal(2, 5, F), "adjacency": _adjacency(2, 5)},
        call_kwargs={"return_attention_scores": True},
        masks={"node_features": DENSE_MASK},
        explicit_mask=lambda m: {"node_features_mask": m["node_features"]},
        trainable_weights=4,
        trainable_params=GAT_PARAMS,
    ),
    harness.LayerCase(
        name="dense_gatv2_edge_features_mean_masked",
        cls=GraphAttention,
        init_kwargs=dict(
            units=U, num_heads=H, version="gatv2", concat_heads=False, mode="dense"
        ),
        inputs={
            "node_features": _normal(2, 5, F),
            "adjacency": _adjacency(2, 5),
            "edge_features": _normal(2, 5, 5, FE),
        },
        masks={"node_features": DENSE_MASK},
        explicit_mask=lambda m: {"node_features_mask": m["node_features"]},
        trainable_weights=5,
        trainable_params=GATV2_EDGE_MEAN_PARAMS,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- an independent implementation -------------------------------------------


def _leaky(z, slope=0.2):
    return np.where(z > 0, z, slope * z)


def reference_gat(layer, x, edges, edge_features=None):
    """GAT / GATv2 by loops over receivers and heads, in float64.

    Returns the outputs and the coefficients `[E', H]` in the layer's edge
    order (given edges, then one self loop per node when it adds them).
    """
    w = {v.name: np.asarray(v.numpy(), "float64") for v in layer.weights}
    x = np.asarray(x, "float64")
    heads, units, num_nodes = layer.num_heads, layer.units, len(x)
    given = [
        (int(s), int(r), None if edge_features is None else edge_features[k])
        for k, (s, r) in enumerate(np.asarray(edges).T)
    ]
    used = list(given)
    if layer.add_self_loops:
        # Input self loops are dropped; each node gets one whose features
        # are the mean of its other incoming edges' (PyG's fill "mean").
        used = [(s, r, f) if s != r else None for s, r, f in given]
        for i in range(num_nodes):
            feats = [f for s, r, f in given if r == i and s != i]
            fill = None
            if edge_features is not None:
                fill = np.mean(feats, 0) if feats else np.zeros(edge_features.shape[1])
            used.append((i, i, fill))
    out = np.zeros((num_nodes, heads, units))
    coefficients = np.zeros((len(used), heads))
    for i in range(num_nodes):
        incoming = [k for k, e in enumerate(used) if e is not None and e[1] == i]
        for h in range(heads):
            cols = slice(h * units, (h + 1) * units)
            kernel = w["kernel"][:, cols]
            scores = []
            for k in incoming:
                j, _, f = used[k]
                if layer.version == "gat":
                    z = (
                        w["receiver_attention_kernel"][h] @ (x[i] @ kernel)
                        + w["sender_attention_kernel"][h] @ (x[j] @ kernel)
                    )
                    if f is not None:
                        z += w["edge_attention_kernel"][h] @ (f @ w["edge_kernel"][:, cols])
                    scores.append(_leaky(z, layer.negative_slope))
                else:
                    z = x[i] @ w["receiver_kernel"][:, cols] + x[j] @ kernel
                    if f is not None:
                        z = z + f @ w["edge_kernel"][:, cols]
                    scores.append(w["attention_kernel"][h] @ _leaky(z, layer.negative_slope))
            if not incoming:
                continue
            alpha = np.exp(np.array(scores) - max(scores))
            alpha /= alpha.sum()
            for a, k in zip(alpha, incoming):
                coefficients[k, h] = a
                out[i, h] += a * (x[used[k][0]] @ kernel)
    out = out.reshape(num_nodes, -1) if layer.concat_heads else out.mean(1)
    if layer.use_bias:
        out = out + w["bias"]
    return out, coefficients


# 7 nodes: a duplicate edge (0 -> 1 twice), an input self loop (2 -> 2);
# nodes 5 and 6 receive nothing (5 sends, 6 is isolated).
REF_EDGES = np.array(
    [[0, 0, 2, 1, 3, 4, 5, 5, 2, 1, 4, 0], [1, 1, 2, 2, 2, 3, 4, 0, 0, 3, 1, 4]], "int32"
)
REF_X = _normal(7, F)
REF_EDGE_FEATURES = _normal(REF_EDGES.shape[1], FE)


@pytest.mark.parametrize("version", ["gat", "gatv2"])
@pytest.mark.parametrize("concat_heads", [True, False], ids=["concat", "mean"])
@pytest.mark.parametrize("add_self_loops", [True, False], ids=["loops", "no_loops"])
@pytest.mark.parametrize("with_edges", [False, True], ids=["plain", "edge_features"])
def test_parity_with_a_loop_implementation(version, concat_heads, add_self_loops, with_edges):
    layer = GraphAttention(
        U,
        num_heads=3,
        version=version,
        concat_heads=concat_heads,
        add_self_loops=add_self_loops,
        negative_slope=0.1,
        bias_initializer="random_normal",
    )
    edge_features = REF_EDGE_FEATURES if with_edges else None
    outputs, coefficients = layer(
        REF_X, REF_EDGES, edge_features=edge_features, return_attention_scores=True
    )
    want, want_coefficients = reference_gat(layer, REF_X, REF_EDGES, edge_features)
    np.testing.assert_allclose(outputs, want, atol=2e-5, rtol=0)
    np.testing.assert_allclose(coefficients, want_coefficients, atol=1e-6, rtol=0)


# -- hand-computed outputs -----------------------------------------------------

# 4 nodes with 2 features; W = I, so W h = h; a_s = [1, 0], a_r = [0, 1]:
# a_s . W h_j is h_j's first feature s = [1, 0, 1, -2] and a_r . W h_i its
# second, r = [0, 2, 1, 0]. The edges (sender -> receiver) are 1 -> 0,
# 0 -> 1, 2 -> 1, 3 -> 2 and an input self loop 2 -> 2.
HAND_X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-2.0, 0.0]], "float32")
HAND_EDGES = np.array([[1, 0, 2, 3, 2], [0, 1, 1, 2, 2]], "int32")


def _hand_set_layer(add_self_loops=True, mode="sparse"):
    layer = GraphAttention(units=2, add_self_loops=add_self_loops, mode=mode)
    layer.build((4, 2) if mode == "sparse" else (1, 4, 2))
    layer.kernel.assign(np.eye(2))
    layer.sender_attention_kernel.assign([[1.0, 0.0]])
    layer.receiver_attention_kernel.assign([[0.0, 1.0]])
    layer.bias.assign([0.5, -0.5])
    return layer


# With self loops (the input loop 2 -> 2 dropped, one appended per node),
# e_ij = LeakyReLU(r_i + s_j), slope 0.2:
#   node 0 <- 1, 0:    e = 0 + 0, 0 + 1 = 0, 1
#       alpha = 0.268941, 0.731059
#       out = 0.268941 [0, 2] + 0.731059 [1, 0] = [0.731059, 0.537883]
#   node 1 <- 0, 2, 1: e = 2 + 1, 2 + 1, 2 + 0 = 3, 3, 2
#       alpha = 0.422319, 0.422319, 0.155362
#       out = 0.422319 ([1, 0] + [1, 1]) + 0.155362 [0, 2] = [0.844638, 0.733044]
#   node 2 <- 3, 2:    e = LeakyReLU(1 - 2), 1 + 1 = -0.2, 2
#       alpha = 0.099750, 0.900250
#       out = 0.099750 [-2, 0] + 0.900250 [1, 1] = [0.700749, 0.900250]
#   node 3 <- 3:       alpha = 1, out = [-2, 0]
# plus the bias [0.5, -0.5].
HAND_OUTPUTS = np.array(
    [[0.731059, 0.537883], [0.844638, 0.733044], [0.700749, 0.900250], [-2.0, 0.0]]
) + [0.5, -0.5]
# Rows: the five given edges (the dropped input loop 2 -> 2 gets 0), then
# the loops 0 -> 0, 1 -> 1, 2 -> 2, 3 -> 3.
HAND_COEFFICIENTS = [
    0.268941, 0.422319, 0.422319, 0.099750, 0.0, 0.731059, 0.155362, 0.900250, 1.0
]


def _dense(edges, num_nodes):
    """`[1, N, N]` adjacency with entry [0, receiver, sender]."""
    adjacency = np.zeros((1, num_nodes, num_nodes), "float32")
    adjacency[0, edges[1], edges[0]] = 1.0
    return adjacency


def test_hand_computed_outputs_and_coefficients():
    outputs, coefficients = _hand_set_layer()(
        HAND_X, HAND_EDGES, return_attention_scores=True
    )
    np.testing.assert_allclose(outputs, HAND_OUTPUTS, atol=1e-6)
    np.testing.assert_allclose(coefficients[:, 0], HAND_COEFFICIENTS, atol=1e-6)

    dense, dense_coefficients = _hand_set_layer(mode="dense")(
        HAND_X[None], _dense(HAND_EDGES, 4), return_attention_scores=True
    )
    np.testing.assert_allclose(dense[0], HAND_OUTPUTS, atol=1e-6)
    # [0, head 0, receiver 1, senders 0, 1, 2]
    np.testing.assert_allclose(
        dense_coefficients[0, 0, 1], [0.422319, 0.155362, 0.422319, 0.0], atol=1e-6
    )


def test_int64_edges_and_a_graph_without_edges():
    layer = _hand_set_layer()
    np.testing.assert_allclose(
        layer(HAND_X, HAND_EDGES.astype("int64")), HAND_OUTPUTS, atol=1e-6
    )
    # No edges at all: each node attends to its own loop only, W h_i + b.
    outputs, coefficients = layer(
        HAND_X, np.zeros((2, 0), "int32"), return_attention_scores=True
    )
    np.testing.assert_allclose(outputs, HAND_X + [0.5, -0.5], atol=1e-6)
    np.testing.assert_array_equal(coefficients, np.ones((4, 1)))


def test_hand_computed_outputs_without_self_loops():
    # The input loop 2 -> 2 now counts and nothing is added:
    #   node 0 <- 1:    out = [0, 2]
    #   node 1 <- 0, 2: e = 3, 3, alpha = 1/2, 1/2, out = [1, 0.5]
    #   node 2 <- 3, 2: as with self loops, [0.700749, 0.900250]
    #   node 3 receives nothing: out = 0, the bias alone
    want = np.array([[0.0, 2.0], [1.0, 0.5], [0.700749, 0.900250], [0.0, 0.0]]) + [
        0.5,
        -0.5,
    ]
    for mode in ("sparse", "dense"):
        layer = _hand_set_layer(add_self_loops=False, mode=mode)
        if mode == "sparse":
            outputs = layer(HAND_X, HAND_EDGES)
        else:
            outputs = layer(HAND_X[None], _dense(HAND_EDGES, 4))[0]
        np.testing.assert_allclose(outputs, want, atol=1e-6, err_msg=mode)


# -- properties ------------------------------------------------------------------


def test_coefficients_of_each_receiver_sum_to_one():
    for add_self_loops in (True, False):
        layer = GraphAttention(U, num_heads=3, add_self_loops=add_self_loops)
        _, coefficients = layer(REF_X, REF_EDGES, return_attention_scores=True)
        coefficients = np.asarray(coefficients)
        receivers = REF_EDGES[1]
        if add_self_loops:
            receivers = np.concatenate([receivers, np.arange(7)])
            # The input self loop 2 -> 2 (edge 2) was replaced.
            assert np.all(coefficients[2] == 0)
        sums = np.zeros((7, 3))
        np.add.at(sums, receivers, coefficients)
        has_incoming = np.isin(np.arange(7), receivers)
        np.testing.assert_allclose(sums[has_incoming], 1.0, atol=1e-6)
        assert np.all(sums[~has_incoming] == 0)  # nodes 5, 6 without self loops
        assert has_incoming.sum() == (7 if add_self_loops else 5)


def _random_graph(num_nodes, num_edges, seed):
    """Unique edges with no self loops, features and edge features."""
    rng = np.random.default_rng(seed)
    pairs = [(s, r) for s in range(num_nodes) for r in range(num_nodes) if s != r]
    chosen = rng.choice(len(pairs), num_edges, replace=False)
    edges = np.array([pairs[k] for k in chosen], "int32").T
    return (
        rng.normal(size=(num_nodes, F)).astype("float32"),
        edges,
        rng.normal(size=(num_edges, FE)).astype("float32"),
    )


@pytest.mark.parametrize("version", ["gat", "gatv2"])
@pytest.mark.parametrize("masked", [True, False], ids=["node_mask", "no_mask"])
def test_sparse_and_dense_modes_agree(version, masked):
    # Two graphs of 5 and 3 nodes, padded to 5; the second graph also has
    # an input self loop, which both modes replace.
    graphs_ = [_random_graph(5, 9, seed=1), _random_graph(3, 4, seed=2)]
    x3, e3, f3 = graphs_[1]
    graphs_[1] = (x3, np.concatenate([e3, [[1], [1]]], axis=1), np.concatenate([f3, _normal(1, FE)]))
    kwargs = dict(units=U, num_heads=H, version=version)
    sparse = GraphAttention(**kwargs)
    dense = GraphAttention(**kwargs, mode="dense")
    x = np.zeros((2, 5, F), "float32")
    adjacency = np.zeros((2, 5, 5), "float32")
    edge_features = np.zeros((2, 5, 5, FE), "float32")
    for b, (xb, eb, fb) in enumerate(graphs_):
        x[b, : len(xb)] = xb
        adjacency[b, eb[1], eb[0]] = 1.0
        edge_features[b, eb[1], eb[0]] = fb
    dense(x, adjacency, edge_features=edge_features)
    sparse(*graphs_[0][:2], edge_features=graphs_[0][2])
    dense.set_weights(sparse.get_weights())
    mask = DENSE_MASK if masked else None
    outputs, coefficients = dense(
        x, adjacency, edge_features=edge_features, node_features_mask=mask,
        return_attention_scores=True,
    )
    for b, (xb, eb, fb) in enumerate(graphs_):
        n = len(xb)
        want, want_coefficients = sparse(xb, eb, edge_features=fb, return_attention_scores=True)
        np.testing.assert_allclose(outputs[b, :n], want, atol=1e-5)
        want_coefficients = np.asarray(want_coefficients)
        # Given edges (an input loop's row is 0), then node i's loop at E + i.
        senders = np.concatenate([eb[0], np.arange(n)])
        receivers = np.concatenate([eb[1], np.arange(n)])
        got = np.asarray(coefficients)[b][:, receivers, senders].T  # [E', H]
        keep = senders[: eb.shape[1]] != receivers[: eb.shape[1]]
        keep = np.concatenate([keep, np.ones(n, bool)])
        np.testing.assert_allclose(got[keep], want_coefficients[keep], atol=1e-6)
        np.testing.assert_array_equal(want_coefficients[~keep], 0.0)
    if masked:
        np.testing.assert_array_equal(outputs[1, 3:], 0.0)
        np.testing.assert_array_equal(np.asarray(coefficients)[1][:, 3:], 0.0)
        np.testing.assert_array_equal(np.asarray(coefficients)[1][:, :, 3:], 0.0)


def test_disjoint_union_equals_each_graph_alone():
    parts = [_random_graph(5, 8, seed=3), _random_graph(4, 6, seed=4)]
    batch = graphs.batch_graphs([graphs.Graph(x, e) for x, e, _ in parts])
    edge_features = np.concatenate([f for _, _, f in parts])
    layer = GraphAttention(U, num_heads=H, version="gatv2")
    union, union_coefficients = layer(
        batch.node_features, batch.edges, edge_features=edge_features,
        return_attention_scores=True,
    )
    union_coefficients = np.asarray(union_coefficients)
    # The union's rows: the 8 + 6 given edges, then the 5 + 4 self loops.
    given = [union_coefficients[:8], union_coefficients[8:14]]
    loops = [union_coefficients[14:19], union_coefficients[19:]]
    offset = 0
    for (x, e, f), g, loop in zip(parts, given, loops):
        alone, coefficients = layer(x, e, edge_features=f, return_attention_scores=True)
        np.testing.assert_allclose(union[offset : offset + len(x)], alone, atol=1e-6)
        np.testing.assert_allclose(
            np.concatenate([g, loop]), coefficients, atol=1e-6
        )
        offset += len(x)


def test_isolated_node_gets_the_bias_and_finite_gradients():
    x = tf.constant(HAND_X)
    for mode in ("sparse", "dense"):
        layer = GraphAttention(
            U, num_heads=H, add_self_loops=False, mode=mode,
            bias_initializer="random_normal",
        )
        inputs = tf.constant(HAND_X[None]) if mode == "dense" else x
        graph = _dense(HAND_EDGES, 4) if mode == "dense" else HAND_EDGES
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, graph)
            loss = tf.reduce_sum(outputs**2)
        outputs = np.asarray(outputs).reshape(4, -1)
        # Node 3 receives no edge and has no self loop.
        np.testing.assert_array_equal(outputs[3], layer.bias.numpy())
        assert np.all(np.isfinite(outputs))
        grads = tape.gradient(loss, [inputs, *layer.trainable_weights])
        assert all(np.all(np.isfinite(g)) for g in grads), mode


def test_fully_masked_rows_in_dense_mode_give_zeros_not_nan():
    layer = GraphAttention(U, num_heads=H, mode="dense", bias_initializer="ones")
    x = tf.constant(_normal(2, 5, F))
    adjacency = _adjacency(2, 5)
    mask = np.array([[True] * 5, [False] * 5])  # the second graph is all padding
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs, coefficients = layer(
            x, adjacency, node_features_mask=mask, return_attention_scores=True
        )
        loss = tf.reduce_sum(outputs**2) + tf.reduce_sum(coefficients)
    assert np.all(np.isfinite(outputs)) and np.all(np.isfinite(coefficients))
    np.testing.assert_array_equal(outputs[1], 0.0)
    np.testing.assert_array_equal(coefficients[1], 0.0)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_array_equal(grads[0][1], 0.0)


def test_sparse_softmax_runs_in_float32():
    layer = GraphAttention(U, num_heads=H, dtype="mixed_float16")
    x, edges = _normal(N, F), SPARSE_EDGES
    outputs, coefficients = layer(x, edges, return_attention_scores=True)
    assert outputs.dtype == coefficients.dtype == "float16"
    assert {w.dtype for w in layer.weights} == {"float32"}
    traced = tf.function(lambda a, b: layer(a, b)).get_concrete_function(
        tf.TensorSpec(x.shape, tf.float32), tf.TensorSpec(edges.shape, tf.int32)
    )
    nodes = traced.graph.as_graph_def().node
    types = {
        (n.op, tf.dtypes.as_dtype(n.attr["T"].type).name)
        for n in nodes
        if n.op in ("UnsortedSegmentMax", "Exp")
    }
    assert types == {("UnsortedSegmentMax", "float32"), ("Exp", "float32")}, types


def test_regularizers_of_the_cora_recipe():
    l2 = keras.regularizers.L2(5e-4)
    layer = GraphAttention(
        8, num_heads=8, kernel_regularizer=l2, bias_regularizer=l2,
        attention_regularizer=l2, version="gatv2",
    )
    layer(_normal(N, F), SPARSE_EDGES, edge_features=_normal(E, FE))
    # kernel, receiver_kernel, edge_kernel; attention_kernel; bias
    assert len(layer.losses) == 5
    want = sum(5e-4 * np.sum(w.numpy() ** 2) for w in layer.weights)
    np.testing.assert_allclose(sum(float(v) for v in layer.losses), want, rtol=1e-5)


# -- bad inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "edges,index,where",
    [
        ([[0, 1, 2], [1, 4, 3]], 4, "[1, 1]"),
        ([[0, -1, 2], [1, 2, 3]], -1, "[0, 1]"),
    ],
    ids=["too_large", "negative"],
)
def test_out_of_range_edge_index_raises(edges, index, where):
    layer = GraphAttention(U)
    with _raises(
        f"edges holds index {index} at {where}", "must be in [0, N) = [0, 4)",
        "N=4", "node_features.shape=(4, 2)",
    ):
        layer(HAND_X, np.array(edges, "int32"))


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_out_of_range_edge_index_in_a_traced_call_gives_nan(jit_compile):
    layer = GraphAttention(U, num_heads=H)
    run = tf.function(
        lambda x, e: layer(x, e, return_attention_scores=True), jit_compile=jit_compile
    )
    outputs, coefficients = run(HAND_X, HAND_EDGES)
    assert np.all(np.isfinite(outputs)) and np.all(np.isfinite(coefficients))
    for bad in (4, -1, 100):
        edges = HAND_EDGES.copy()
        edges[1, 2] = bad
        outputs, coefficients = run(HAND_X, edges)
        assert np.all(np.isnan(outputs)), bad
        assert np.all(np.isnan(coefficients)), bad


def test_wrong_shapes_and_dtypes_raise():
    layer = GraphAttention(U)
    layer(HAND_X, HAND_EDGES)
    with _raises("edges must have shape [2, E] = [2, ?]", "received edges.shape=(3, 5)"):
        layer(HAND_X, np.zeros((3, 5), "int32"))
    with _raises("edges must have shape [2, E]", "received edges.shape=(10,)"):
        layer(HAND_X, np.zeros((10,), "int32"))
    with _raises("edges must hold integer indices", "received edges.dtype=float32"):
        layer(HAND_X, HAND_EDGES.astype("float32"))
    with _raises("node_features must have shape [N, F] in mode='sparse'", "(1, 4, 2)"):
        layer(HAND_X[None], HAND_EDGES)
    with _raises("node_features must have 2 features", "received node_features.shape=(4, 3)"):
        layer(_normal(4, 3), HAND_EDGES)
    with _raises("edge_features must have shape [E, Fe] = [5, ?]", "received edge_features.shape=(4, 3)"):
        layer(HAND_X, HAND_EDGES, edge_features=_normal(4, 3))
    with _raises("a layer built with edge features must be called with them"):
        layer(HAND_X, HAND_EDGES, edge_features=_normal(5, 3))
    with _raises("adjacency is for mode='dense'"):
        layer(HAND_X, HAND_EDGES, adjacency=_dense(HAND_EDGES, 4))

    dense = GraphAttention(U, mode="dense")
    x = _normal(2, 5, F)
    with _raises(
        "adjacency must have shape [B, N, N] = [2, 5, 5]",
        "received adjacency.shape=(2, 5, 4)", "node_features.shape=(2, 5, 5)",
    ):
        dense(x, np.ones((2, 5, 4), "float32"))
    with _raises("adjacency must have shape [B, N, N]", "received adjacency.shape=(5, 5)"):
        dense(x, np.ones((5, 5), "float32"))
    with _raises("node_features must have shape [B, N, F] with a known F in mode='dense'"):
        GraphAttention(U, mode="dense")(HAND_X, _dense(HAND_EDGES, 4))
    with _raises("node_features_mask must have shape [B, N] = [2, 5]", "received node_features_mask.shape=(2, 4)"):
        dense(x, np.ones((2, 5, 5)), node_features_mask=np.ones((2, 4), bool))
    with _raises(
        "edge_features must have shape [B, N, N, Fe] with a known Fe in mode='dense'",
        "received edge_features.shape=(2, 5, 3)",
    ):
        GraphAttention(U, mode="dense")(x, np.ones((2, 5, 5)), edge_features=_normal(2, 5, 3))
    with_edges = GraphAttention(U, mode="dense")
    with_edges(x, np.ones((2, 5, 5)), edge_features=_normal(2, 5, 5, 3))
    with _raises(
        "edge_features must have shape [B, N, N, Fe] = [2, 5, 5, ?]",
        "received edge_features.shape=(2, 5, 4, 3)",
    ):
        with_edges(x, np.ones((2, 5, 5)), edge_features=_normal(2, 5, 4, 3))
    with _raises("mode='dense' needs an adjacency [B, N, N], received adjacency=None"):
        dense(x)
    with _raises("pass the adjacency once"):
        dense(x, np.ones((2, 5, 5)), adjacency=np.ones((2, 5, 5)))


def test_bad_arguments_raise():
    with _raises("units must be a positive int, received units=0"):
        GraphAttention(0)
    with _raises("num_heads must be a positive int, received num_heads=-1"):
        GraphAttention(4, num_heads=-1)
    with _raises("negative_slope must be a float >= 0, received negative_slope=-0.2"):
        GraphAttention(4, negative_slope=-0.2)
    with _raises("dropout must be a float in [0, 1), received dropout=1.0"):
        GraphAttention(4, dropout=1.0)
    with _raises("feature_dropout must be a float in [0, 1), received feature_dropout=1.0"):
        GraphAttention(4, feature_dropout=1.0)
    with _raises("version must be one of ('gat', 'gatv2'), received version='gat3'"):
        GraphAttention(4, version="gat3")
    with _raises("mode must be one of ('sparse', 'dense'), received mode='csr'"):
        GraphAttention(4, mode="csr")


# -- TFLite ------------------------------------------------------------------


def test_sparse_float32_tflite_on_the_karate_club(tmp_path):
    # Fixed N = 34 and E = 156: the segment ops are TFLite builtins.
    graph = graphs.karate_club()
    nodes = keras.Input((34,), batch_size=34, name="node_features")
    edges = keras.Input((156,), batch_size=2, dtype="int32", name="edges")
    hidden = GraphAttention(8, num_heads=4, activation="elu")(nodes, edges)
    outputs = GraphAttention(2, num_heads=2, concat_heads=False, version="gatv2")(hidden, edges)
    model = keras.Model({"node_features": nodes, "edges": edges}, outputs)
    arrays = {"node_features": graph.node_features, "edges": graph.edges}
    want = model.predict_on_batch(arrays)
    flatbuffer = harness.convert_to_tflite(model, tmp_path / "saved_model")
    (got,) = harness.run_tflite(flatbuffer, arrays)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def _quantize(value, details):
    scale, zero_point = details["quantization"]
    return np.clip(np.round(value / scale + zero_point), -128, 127).astype(np.int8)


def test_dense_int8_tflite_is_close_to_keras():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    batch, nodes, features, samples = 1, 8, 6, 64
    node_input = keras.Input((nodes, features), batch_size=batch, name="node_features")
    adjacency_input = keras.Input((nodes, nodes), batch_size=batch, dtype="bool", name="adjacency")
    layer = GraphAttention(8, num_heads=2, mode="dense", bias_initializer="random_normal")
    model = keras.Model(
        {"node_features": node_input, "adjacency": adjacency_input},
        layer(node_input, adjacency_input),
    )
    data = {
        "node_features": rng.normal(size=(samples, nodes, features)).astype("float32"),
        "adjacency": rng.random((samples, nodes, nodes)) < 0.35,
    }
    flatbuffer = export.convert(
        model, mode="int8", representative_data=data,
        num_calibration_samples=samples, integer_io=True,
    )
    runner = Interpreter(model_content=flatbuffer).get_signature_runner()
    inputs = runner.get_input_details()
    (output,) = runner.get_output_details().values()
    assert inputs["node_features"]["dtype"] == np.int8
    assert inputs["adjacency"]["dtype"] == np.bool_  # booleans are not quantized
    scale, zero_point = output["quantization"]
    assert output["dtype"] == np.int8 and scale > 0

    errors, flattened = [], []
    kernel = layer.kernel.numpy()
    for i in range(16):
        sample = {k: v[i : i + 1] for k, v in data.items()}
        quantized = _quantize(sample["node_features"], inputs["node_features"])
        in_scale, in_zero = inputs["node_features"]["quantization"]
        # Keras sees the same (dequantized) inputs as the int8 model.
        sample["node_features"] = (quantized.astype("float32") - in_zero) * in_scale
        result = next(iter(runner(node_features=quantized, adjacency=sample["adjacency"]).values()))
        got = (result.astype("float32") - zero_point) * scale
        want = model.predict_on_batch(sample)
        errors.append(np.abs(got - want).max() / scale)
        # What a model that lost its attention would give: the mean of each
        # node's neighbours (self included), per head.
        connected = sample["adjacency"][0] | np.eye(nodes, dtype=bool)
        values = sample["node_features"][0] @ kernel
        uniform = connected / connected.sum(1, keepdims=True) @ values + layer.bias.numpy()
        flattened.append(np.abs(uniform - want[0]).max() / scale)
    # Bound: 8 steps of the output scale, per entry. The output
    # y_i = sum_j alpha_ij v_j + b is requantized once (half a step); the
    # values v = W h (about the output's range, so their half step is about
    # half an output step) enter a convex combination, which keeps their
    # error; the softmax output has a fixed step of 1/256, so each of the
    # at most 8 coefficients of a node is off by up to 1/512 and moves y by
    # at most 8/512 of |v| <= 128 output steps: 2 steps; the scores'
    # rounding (their range includes the mask fill, 30 below the smallest
    # score: a step of about 0.15) moves each coefficient by up to ~7% of
    # itself, which the bound allows about 4 steps for. Measured: 4.2 here,
    # 3 to 6 over other seeds, heads and versions.
    assert max(errors) <= 8, errors
    # The bound is tight enough to catch an int8 model whose attention
    # flattened to uniform weights (22 to 58 steps off here).
    assert max(flattened) > 3 * 8, flattened


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_dropout_drops_attention_coefficients_as_pyg(mode):
    # PyG's GATConv(dropout=p): F.dropout on the normalised coefficients in
    # training, so each one is 0 or alpha / (1 - p); the coefficients it
    # returns are those, and they weight the messages.
    rate = 0.5
    nodes = _normal(N, F)
    layer = GraphAttention(U, num_heads=H, dropout=rate, mode=mode, seed=3)
    if mode == "sparse":
        args = (nodes, SPARSE_EDGES)
    else:
        adjacency = (RNG.uniform(size=(1, N, N)) < 0.5).astype("float32")
        args = (nodes[None], adjacency)
    out_a, alpha = layer(*args, return_attention_scores=True, training=False)
    out_b, again = layer(*args, return_attention_scores=True, training=False)
    np.testing.assert_array_equal(alpha, again)  # no dropout in inference
    np.testing.assert_array_equal(out_a, out_b)
    alpha = np.asarray(alpha)
    if mode == "dense":
        np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-5)  # self loops
    out, dropped = layer(*args, return_attention_scores=True, training=True)
    dropped = np.asarray(dropped)
    assert not np.array_equal(dropped, alpha)
    kept = dropped != 0
    assert kept.any() and (~kept & (alpha > 0)).any()
    np.testing.assert_allclose(dropped[kept], alpha[kept] / (1 - rate), rtol=1e-5)

    # The returned coefficients are the ones that weighted the messages:
    # [.., H, U] messages of W h_j summed with them reproduce the output.
    projected = (nodes @ np.asarray(layer.kernel)).reshape(N, H, U)
    if mode == "sparse":
        senders = np.concatenate([SPARSE_EDGES[0], np.arange(N)])  # then self loops
        receivers = np.concatenate([SPARSE_EDGES[1], np.arange(N)])
        want = np.zeros((N, H, U), "float32")
        np.add.at(want, receivers, projected[senders] * dropped[:, :, None])
    else:
        want = np.einsum("hij,jhu->ihu", dropped[0], projected)[None]
    want = want.reshape(want.shape[:-2] + (H * U,))
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_feature_dropout_leaves_coefficients_normalised():
    layer = GraphAttention(U, num_heads=H, feature_dropout=0.5, mode="dense", seed=4)
    nodes, adjacency = _normal(1, N, F), np.ones((1, N, N), "float32")
    _, alpha = layer(nodes, adjacency, return_attention_scores=True, training=False)
    _, noisy = layer(nodes, adjacency, return_attention_scores=True, training=True)
    assert np.abs(np.asarray(noisy) - np.asarray(alpha)).max() > 1e-4
    np.testing.assert_allclose(np.asarray(noisy).sum(-1), 1.0, atol=1e-5)
