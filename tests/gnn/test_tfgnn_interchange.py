"""keras_attention.tfgnn against TensorFlow GNN itself.

Runs in its own process with TF_USE_LEGACY_KERAS=1 and tensorflow-gnn on
PYTHONPATH (tests/test_tfgnn.py builds that environment and runs this).

Parity with TF-GNN's `GATv2Conv` (tensorflow_gnn/models/gat_v2/layers.py),
weights copied one to one:

    GATv2Conv                      GraphAttention(version="gatv2")
    query/kernel       [F, H*U]    receiver_kernel   [F, H*U]   W_r h_i
    value_node/kernel  [F, H*U]    kernel            [F, H*U]   W_s h_j
    attn_logits/kernel [U, H]      attention_kernel  [H, U]     a (transposed)
    query/bias, value_node/bias    (none inside; see the bias test)

Both compute `e_ij = a . LeakyReLU_0.2(W_r h_i + W_s h_j)` per head over
the stored edges `j -> i` (source -> target), a softmax per receiver, and
`sum_j alpha_ij W_s h_j`; heads are concatenated or averaged, then the
activation. GATv2Conv adds no self loops (ours: add_self_loops=False, or
loops stored in the GraphTensor).
"""

import doctest
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn.models.gat_v2 import GATv2Conv

import keras_attention.tfgnn as adapter
from keras_attention.data import graphs
from keras_attention.layers.graph_attention import GraphAttention

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N, F, E, H, U = 7, 5, 12, 2, 3


def _raises(error, *parts):
    return pytest.raises(error, match=".*".join(map(re.escape, parts)))


def _random_graph(seed, num_nodes=N, num_edges=E, loops=False):
    """Random node features and edges without self loops; node 0 receives
    nothing, so the isolated-receiver case is always covered."""
    rng = np.random.default_rng(seed)
    pairs = [(s, r) for s in range(num_nodes) for r in range(1, num_nodes) if s != r]
    chosen = rng.choice(len(pairs), size=num_edges, replace=False)
    edges = np.asarray([pairs[i] for i in chosen], np.int32).T  # [2, E]
    if loops:
        loop = np.arange(num_nodes, dtype=np.int32)
        edges = np.concatenate([edges, np.stack([loop, loop])], axis=1)
    return graphs.Graph(
        node_features=rng.normal(size=(num_nodes, F)).astype(np.float32),
        edges=edges,
    )


def _assert_graphs_equal(actual, expected):
    for field in ("node_features", "edges", "labels", "train_mask", "val_mask",
                  "test_mask", "graph_label"):
        a, b = getattr(actual, field), getattr(expected, field)
        if b is None:
            assert a is None, field
        else:
            np.testing.assert_array_equal(a, b, err_msg=field)
            assert np.asarray(a).dtype == np.asarray(b).dtype, field


# --- conversion ---------------------------------------------------------------


def test_module_docstring_example_runs():
    result = doctest.testmod(adapter, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def test_graph_round_trip_is_exact():
    graph = graphs.karate_club()  # labels and all three masks
    graph.graph_label = 1
    graph_tensor = adapter.to_graph_tensor(graph)

    assert adapter.HIDDEN_STATE == tfgnn.HIDDEN_STATE
    nodes = graph_tensor.node_sets["nodes"]
    adjacency = graph_tensor.edge_sets["edges"].adjacency
    assert int(graph_tensor.num_components) == 1
    assert nodes.sizes.numpy().tolist() == [34]
    assert graph_tensor.edge_sets["edges"].sizes.numpy().tolist() == [156]
    assert (adjacency.source_name, adjacency.target_name) == ("nodes", "nodes")
    np.testing.assert_array_equal(adjacency[tfgnn.SOURCE], graph.edges[0])
    np.testing.assert_array_equal(adjacency[tfgnn.TARGET], graph.edges[1])
    np.testing.assert_array_equal(nodes[tfgnn.HIDDEN_STATE], graph.node_features)
    np.testing.assert_array_equal(nodes["label"], graph.labels)
    np.testing.assert_array_equal(nodes["train_mask"], graph.train_mask)
    assert graph_tensor.context["label"].numpy().tolist() == [1]

    _assert_graphs_equal(adapter.from_graph_tensor(graph_tensor), graph)


def test_names_are_configurable():
    graph = _random_graph(0)
    graph_tensor = adapter.to_graph_tensor(
        graph, node_set="paper", edge_set="cites", feature_name="x"
    )
    back = adapter.from_graph_tensor(
        graph_tensor, node_set="paper", edge_set="cites", feature_name="x"
    )
    _assert_graphs_equal(back, graph)


def _batch(count=3, seed=1):
    return graphs.motif_graphs(count, seed=seed)


def test_batch_becomes_one_component_per_graph_and_back():
    members = _batch()
    batch = graphs.batch_graphs(members)
    graph_tensor = adapter.to_graph_tensor(batch)

    assert int(graph_tensor.num_components) == len(members)
    assert graph_tensor.node_sets["nodes"].sizes.numpy().tolist() == [
        g.num_nodes for g in members
    ]
    assert graph_tensor.edge_sets["edges"].sizes.numpy().tolist() == [
        g.num_edges for g in members
    ]
    np.testing.assert_array_equal(graph_tensor.context["label"], batch.labels)

    back = adapter.from_graph_tensor(graph_tensor)
    assert isinstance(back, graphs.GraphBatch)
    assert back.num_graphs == batch.num_graphs
    for field in ("node_features", "edges", "graph_ids", "labels"):
        actual, expected = getattr(back, field), getattr(batch, field)
        np.testing.assert_array_equal(actual, expected, err_msg=field)
        assert actual.dtype == expected.dtype, field


def _graph_dataset(members, batch_size):
    """A TF-GNN pipeline: one GraphTensor per graph, batched."""
    graph_tensors = [adapter.to_graph_tensor(g) for g in members]
    spec = graph_tensors[0].spec.relax(num_components=True, num_nodes=True,
                                       num_edges=True)
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(graph_tensors), output_signature=spec
    )
    return dataset.batch(batch_size)


def test_components_match_tfgnn_own_batching():
    """TF-GNN's dataset.batch + merge_batch_to_components lays the graphs
    out as batch_graphs does."""
    members = _batch(4, seed=2)
    merged = next(iter(_graph_dataset(members, 4))).merge_batch_to_components()
    back = adapter.from_graph_tensor(merged)
    batch = graphs.batch_graphs(members)
    for field in ("node_features", "edges", "graph_ids", "labels"):
        np.testing.assert_array_equal(
            getattr(back, field), getattr(batch, field), err_msg=field
        )


def test_graph_tensor_to_inputs_feeds_the_layers_from_dataset_map():
    members = _batch(4, seed=3)
    inputs = _graph_dataset(members, 2).map(
        lambda gt: adapter.graph_tensor_to_inputs(gt, graph_ids=True)
    )
    layer = GraphAttention(units=U, num_heads=H, version="gatv2")
    for index, (node_features, edges, graph_ids) in enumerate(inputs):
        expected = graphs.batch_graphs(members[2 * index : 2 * index + 2])
        assert edges.dtype == tf.int32 and graph_ids.dtype == tf.int32
        np.testing.assert_array_equal(node_features, expected.node_features)
        np.testing.assert_array_equal(edges, expected.edges)
        np.testing.assert_array_equal(graph_ids, expected.graph_ids)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer(node_features, edges)),
            keras.ops.convert_to_numpy(
                layer(expected.node_features, expected.edges)
            ),
            rtol=1e-6,
            atol=1e-6,
        )
    assert index == 1


def test_graph_tensor_to_inputs_reads_an_edge_feature():
    graph = _random_graph(4)
    weights = np.random.default_rng(4).normal(size=(graph.num_edges, 2))
    graph_tensor = adapter.to_graph_tensor(graph)
    graph_tensor = graph_tensor.replace_features(
        edge_sets={"edges": {"weight": tf.constant(weights, tf.float32)}}
    )
    node_features, edges, edge_features = adapter.graph_tensor_to_inputs(
        graph_tensor, edge_feature="weight"
    )
    np.testing.assert_array_equal(edges, graph.edges)
    np.testing.assert_array_equal(edge_features, weights.astype(np.float32))
    layer = GraphAttention(units=U, num_heads=H, version="gatv2")
    assert tuple(layer(node_features, edges, edge_features).shape) == (N, H * U)


# --- errors -------------------------------------------------------------------


def _two_node_sets():
    """A heterogeneous GraphTensor: authors -> papers."""
    return tfgnn.GraphTensor.from_pieces(
        node_sets={
            "author": tfgnn.NodeSet.from_fields(
                sizes=[2], features={"hidden_state": tf.ones([2, 3])}
            ),
            "paper": tfgnn.NodeSet.from_fields(
                sizes=[3],
                features={"hidden_state": tf.ones([3, 3]), "year": tf.ones([3])},
            ),
        },
        edge_sets={
            "writes": tfgnn.EdgeSet.from_fields(
                sizes=[2],
                adjacency=tfgnn.Adjacency.from_indices(
                    source=("author", [0, 1]), target=("paper", [0, 2])
                ),
            ),
        },
    )


@pytest.mark.parametrize(
    "convert", [adapter.from_graph_tensor, adapter.graph_tensor_to_inputs]
)
def test_missing_and_heterogeneous_pieces_are_named(convert):
    graph_tensor = _two_node_sets()
    with _raises(ValueError, "node set 'nodes' not found", "['author', 'paper']"):
        convert(graph_tensor, edge_set="writes")
    with _raises(ValueError, "edge set 'edges' not found", "['writes']"):
        convert(graph_tensor, node_set="paper")
    with _raises(ValueError, "edge set 'writes' runs from node set 'author' to "
                 "node set 'paper'", "homogeneous"):
        convert(graph_tensor, node_set="paper", edge_set="writes")

    homogeneous = adapter.to_graph_tensor(_random_graph(5))
    with _raises(ValueError, "node set 'nodes' has no feature 'x'",
                 "['hidden_state']"):
        convert(homogeneous, feature_name="x")
    with _raises(TypeError, "graph_tensor must be a tfgnn.GraphTensor",
                 "received dict"):
        convert({"nodes": None})


def test_non_matrix_feature_and_hyper_adjacency_are_refused():
    papers = _two_node_sets().node_sets["paper"]  # "year" is [3], not [N, F]
    cites = tfgnn.Adjacency.from_indices(source=("paper", [0]), target=("paper", [1]))
    graph_tensor = tfgnn.GraphTensor.from_pieces(
        node_sets={"paper": papers},
        edge_sets={"cites": tfgnn.EdgeSet.from_fields(sizes=[1], adjacency=cites)},
    )
    with _raises(ValueError, "'year' of node set 'paper' must be a dense [N, F]",
                 "(3,)"):
        adapter.from_graph_tensor(
            graph_tensor, node_set="paper", edge_set="cites", feature_name="year"
        )
    hyper = tfgnn.GraphTensor.from_pieces(
        node_sets={"nodes": papers},
        edge_sets={
            "edges": tfgnn.EdgeSet.from_fields(
                sizes=[1],
                adjacency=tfgnn.HyperAdjacency.from_indices(
                    {0: ("nodes", [0]), 1: ("nodes", [1]), 2: ("nodes", [2])}
                ),
            )
        },
    )
    with _raises(ValueError, "edge set 'edges' must have a tfgnn.Adjacency",
                 "HyperAdjacency"):
        adapter.from_graph_tensor(hyper)


def test_graph_tensor_to_inputs_names_a_missing_edge_feature():
    with _raises(ValueError, "edge set 'edges' has no feature 'weight'", "[]"):
        adapter.graph_tensor_to_inputs(
            adapter.to_graph_tensor(_random_graph(6)), edge_feature="weight"
        )


def test_to_graph_tensor_refuses_what_a_graph_tensor_cannot_hold():
    with _raises(TypeError, "graph must be a keras_attention.data.graphs.Graph "
                 "or GraphBatch", "received ndarray"):
        adapter.to_graph_tensor(np.zeros((3, 2)))
    with _raises(ValueError, "node_set must be a non-empty str", "node_set=''"):
        adapter.to_graph_tensor(_random_graph(7), node_set="")
    with _raises(ValueError, "label_feature must differ from feature_name"):
        adapter.to_graph_tensor(_random_graph(7), label_feature="hidden_state")

    batch = graphs.batch_graphs(_batch(2))
    first = int((batch.graph_ids == 0).sum())
    crossing = graphs.GraphBatch(
        batch.node_features,
        np.concatenate([batch.edges, [[0], [first]]], axis=1),
        batch.graph_ids,
        batch.labels,
        batch.num_graphs,
    )
    with _raises(ValueError, f"(0 -> {first}) joins graph 0 and graph 1"):
        adapter.to_graph_tensor(crossing)
    shuffled = graphs.GraphBatch(
        batch.node_features,
        batch.edges[:, ::-1],
        batch.graph_ids,
        batch.labels,
        batch.num_graphs,
    )
    with _raises(ValueError, "edges must come graph after graph", "in graph 0 "
                 "after an edge of graph 1"):
        adapter.to_graph_tensor(shuffled)
    unsorted = graphs.GraphBatch(
        batch.node_features,
        np.zeros((2, 0), np.int32),
        batch.graph_ids[::-1].copy(),
        batch.labels,
        batch.num_graphs,
    )
    with _raises(ValueError, "graph_ids must not decrease"):
        adapter.to_graph_tensor(unsorted)


# --- import errors ------------------------------------------------------------


def _run_python(code, legacy):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    return done.returncode, done.stdout + done.stderr


_CONVERT = (
    "from keras_attention import tfgnn\n"
    "from keras_attention.data import graphs\n"
    "try:\n"
    "    tfgnn.to_graph_tensor(graphs.karate_club())\n"
    "except ImportError as error:\n"
    "    print('IMPORT ERROR:', error)\n"
)


def test_import_error_when_legacy_keras_is_not_set():
    code, output = _run_python(_CONVERT, legacy=False)
    assert code == 0, output
    assert "IMPORT ERROR:" in output, output
    assert "TF_USE_LEGACY_KERAS is not set" in output, output
    assert 'pip install "keras-attention[gnn]"' in output, output


def test_import_error_when_legacy_keras_is_set_too_late():
    late = (
        "import os\n"
        "import tensorflow as tf\n"
        "tf.keras.layers  # binds tf.keras to Keras 3\n"
        "os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
    )
    code, output = _run_python(late + _CONVERT, legacy=False)
    assert code == 0, output
    assert "TF_USE_LEGACY_KERAS=1 is set now, but it was set too late" in output, output
    assert "before TensorFlow is first imported" in output, output


# --- parity with TF-GNN's GATv2Conv -------------------------------------------


def _gatv2conv(graph_tensor, concat, activation, use_bias, seed, **kwargs):
    """A built GATv2Conv with random normal weights, and those weights by name."""
    conv = GATv2Conv(
        num_heads=H,
        per_head_channels=U,
        receiver_tag=tfgnn.TARGET,
        use_bias=use_bias,
        attention_activation="leaky_relu",  # tf.nn.leaky_relu, alpha=0.2
        heads_merge_type="concat" if concat else "mean",
        activation=activation,
        name="conv",
        **kwargs,
    )
    conv(graph_tensor, edge_set_name="edges")
    rng = np.random.default_rng(seed)
    weights = {}
    for variable in conv.weights:
        value = rng.normal(size=variable.shape).astype(np.float32)
        variable.assign(value)
        weights[variable.name.split("/", 1)[1].split(":")[0]] = value
    return conv, weights


def _ours(weights, concat, activation, add_self_loops=False, bias=None):
    layer = GraphAttention(
        units=U,
        num_heads=H,
        concat_heads=concat,
        negative_slope=0.2,
        add_self_loops=add_self_loops,
        version="gatv2",
        use_bias=bias is not None,
        activation=activation,
    )
    layer.build((None, F))
    layer.kernel.assign(weights["value_node/kernel"])  # W_s [F, H*U]
    layer.receiver_kernel.assign(weights["query/kernel"])  # W_r [F, H*U]
    layer.attention_kernel.assign(weights["attn_logits/kernel"].T)  # [U, H] -> [H, U]
    if bias is not None:
        layer.bias.assign(bias)
    return layer


def _outputs(layer, graph):
    return keras.ops.convert_to_numpy(layer(graph.node_features, graph.edges))


@pytest.mark.parametrize("concat", [True, False], ids=["concat", "mean"])
@pytest.mark.parametrize("activation", [None, "relu", "elu"])
@pytest.mark.parametrize("seed", [0, 1])
def test_parity_with_tfgnn_gatv2conv(concat, activation, seed):
    graph = _random_graph(seed)
    graph_tensor = adapter.to_graph_tensor(graph)
    conv, weights = _gatv2conv(graph_tensor, concat, activation, False, seed)
    assert sorted(weights) == [
        "attn_logits/kernel", "query/kernel", "value_node/kernel"
    ]
    expected = conv(graph_tensor, edge_set_name="edges").numpy()
    actual = _outputs(_ours(weights, concat, activation), graph)
    assert actual.shape == (N, H * U if concat else U)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    # Node 0 receives nothing: both give activation(0) = 0, not NaN.
    np.testing.assert_array_equal(actual[0], 0.0)


def test_parity_with_self_loops_stored_or_added():
    """GATv2Conv attends to a node itself only through a stored loop; ours
    either keeps stored loops (add_self_loops=False) or adds them."""
    graph = _random_graph(2)
    looped = _random_graph(2, loops=True)
    graph_tensor = adapter.to_graph_tensor(looped)
    conv, weights = _gatv2conv(graph_tensor, True, None, False, 2)
    expected = conv(graph_tensor, edge_set_name="edges").numpy()
    kept = _outputs(_ours(weights, True, None), looped)
    added = _outputs(_ours(weights, True, None, add_self_loops=True), graph)
    np.testing.assert_allclose(kept, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(added, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("concat", [True, False], ids=["concat", "mean"])
def test_parity_with_biases_where_they_map(concat):
    """GATv2Conv's biases sit inside its projections: `b_q` in the query,
    `b_v` in the value, so `b_q + b_v` enters every attention logit and
    `b_v` every message. Ours has one output bias and none in the logits,
    so GATv2Conv maps onto it exactly when `b_q = -b_v`, with our bias
    `b_v` (its per-head mean when heads are averaged), for every node that
    receives an edge. A node that receives none gets 0 from GATv2Conv (an
    empty sum of messages) but our bias: the one difference left."""
    graph = _random_graph(3)
    graph_tensor = adapter.to_graph_tensor(graph)
    conv, weights = _gatv2conv(graph_tensor, concat, None, True, 3)
    value_bias = weights["value_node/bias"]
    for variable in conv.weights:
        if variable.name.endswith("query/bias:0"):
            variable.assign(-value_bias)
    expected = conv(graph_tensor, edge_set_name="edges").numpy()
    bias = value_bias if concat else value_bias.reshape(H, U).mean(axis=0)
    actual = _outputs(_ours(weights, concat, None, bias=bias), graph)
    receives = np.bincount(graph.edges[1], minlength=N) > 0
    assert not receives[0] and receives[1:].all()
    np.testing.assert_allclose(actual[receives], expected[receives], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(expected[0], 0.0)
    np.testing.assert_allclose(actual[0], bias, rtol=1e-6)


def test_parity_over_several_components():
    members = [_random_graph(seed) for seed in (10, 11, 12)]
    merged = next(iter(_graph_dataset(members, 3))).merge_batch_to_components()
    conv, weights = _gatv2conv(merged, True, "relu", False, 4)
    expected = conv(merged, edge_set_name="edges").numpy()
    node_features, edges = adapter.graph_tensor_to_inputs(merged)
    layer = _ours(weights, True, "relu")
    actual = keras.ops.convert_to_numpy(layer(node_features, edges))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_edge_features_enter_tfgnn_messages_but_only_our_scores():
    """With `sender_edge_feature`, GATv2Conv's value is `W_s h_j + W_e x_ij`,
    used in the logits and in the messages; ours uses `W_e x_ij` in the
    logits only. The logits and coefficients agree; GATv2Conv's output is
    ours plus `sum_j alpha_ij W_e x_ij` per head."""
    graph = _random_graph(5)
    edge_features = np.random.default_rng(5).normal(size=(E, 2)).astype(np.float32)
    graph_tensor = adapter.to_graph_tensor(graph).replace_features(
        edge_sets={"edges": {"weight": tf.constant(edge_features)}}
    )
    conv, weights = _gatv2conv(
        graph_tensor, True, None, False, 5, sender_edge_feature="weight"
    )
    expected = conv(graph_tensor, edge_set_name="edges").numpy()

    layer = GraphAttention(
        units=U, num_heads=H, add_self_loops=False, version="gatv2", use_bias=False
    )
    layer.build((None, F), (None, 2))
    layer.kernel.assign(weights["value_node/kernel"])
    layer.receiver_kernel.assign(weights["query/kernel"])
    layer.attention_kernel.assign(weights["attn_logits/kernel"].T)
    layer.edge_kernel.assign(weights["value_edge/kernel"])  # W_e [Fe, H*U]
    outputs, coefficients = layer(
        graph.node_features, graph.edges, edge_features, return_attention_scores=True
    )
    coefficients = keras.ops.convert_to_numpy(coefficients)  # [E, H]
    edge_messages = (edge_features @ weights["value_edge/kernel"]).reshape(E, H, U)
    extra = np.zeros((N, H, U), np.float32)
    np.add.at(extra, graph.edges[1], coefficients[:, :, None] * edge_messages)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs) + extra.reshape(N, H * U),
        expected,
        rtol=1e-5,
        atol=1e-5,
    )
