"""Bad input to the graph layers, the graph models and their training
helpers, and the distributed trainer (issue 16): each refused with an error
that names the argument or file, what was expected and what came, or
handled with the right result.

- tables of bad inputs: (callable, expected error, message fragments);
- padding nodes holding NaN, graphs of no node, isolated nodes;
- checkpoint files truncated, flipped or replaced: a `CheckpointError`
  naming them, and every file left as it was;
- Hypothesis over edge lists: finite outputs, isolated nodes at exactly the
  bias, GAT unchanged by the order of the edges, bad indices refused.
"""

import json
import os
import re
import shutil

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_attention import distributed
from keras_attention.data import graphs
from keras_attention.layers import (
    AttentionPooling,
    GraphAttention,
    GraphConvolution,
    GraphPooling,
)
from keras_attention.models import (
    gat_graph_classifier,
    gat_link_predictor,
    gat_node_classifier,
    gcn_node_classifier,
    train_graph_classifier,
    train_link_predictor,
    train_node_classifier,
)

numpy = keras.ops.convert_to_numpy


def _raises(error, *fragments):
    """`pytest.raises` matching every fragment, in order, escaped."""
    return pytest.raises(error, match=".*".join(re.escape(f) for f in fragments))


def _edges(pairs):
    return np.asarray(pairs, np.int32).reshape(2, -1)


def _nodes(n, f=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, f)).astype(np.float32)


# -- the layers' bad inputs ----------------------------------------------------------

_FOUR = _nodes(4)
LAYER_CASES = {
    "gat_index_past_n": (
        lambda: GraphAttention(2)(_FOUR, _edges([[0, 1, 2], [1, 2, 7]])),
        ValueError,
        ("edges holds index 7 at [1, 2] (edge 2's receiver)", "[0, N) = [0, 4)"),
    ),
    "gat_negative_index": (
        lambda: GraphAttention(2, version="gatv2")(_FOUR, _edges([[0, -1], [1, 2]])),
        ValueError,
        ("edges holds index -1 at [0, 1] (edge 1's sender)", "[0, 4)"),
    ),
    "gat_float_edges": (
        lambda: GraphAttention(2)(_FOUR, np.zeros((2, 3), np.float32)),
        ValueError,
        ("edges must hold integer indices", "edges.dtype=float32"),
    ),
    "gat_edges_3_rows": (
        lambda: GraphAttention(2)(_FOUR, np.zeros((3, 2), np.int32)),
        ValueError,
        ("edges must have shape [2, E]", "edges.shape=(3, 2)"),
    ),
    "gcn_index_past_n": (
        lambda: GraphConvolution(2)(_FOUR, _edges([[4, 0], [0, 1]])),
        ValueError,
        ("edges holds index 4 at [0, 0] (edge 0's sender)", "N=4"),
    ),
    "gcn_dense_mask_shape": (
        lambda: GraphConvolution(2, mode="dense")(
            _FOUR[None], np.ones((1, 4, 4)), node_features_mask=np.ones((1, 3), bool)
        ),
        ValueError,
        ("node_features_mask must have shape [B, N]", "node_features_mask.shape=(1, 3)"),
    ),
    "gat_fractional_mask": (
        lambda: GraphAttention(2, mode="dense")(
            _FOUR[None], np.ones((1, 4, 4)), node_features_mask=np.float32([[1, 0.3, 1, 0]])),
        ValueError,
        ("node_features_mask must be boolean or hold only 0 and 1", "holding 0.3"),
    ),
    "pooling_string_mask": (
        lambda: GraphPooling("mean")(_FOUR[None], mask=np.array([["a", "b", "c", "d"]])),
        ValueError,
        ("mask must be boolean", "dtype"),
    ),
    "pooling_graph_id_past_g": (
        lambda: GraphPooling("max", num_graphs=2)(_FOUR, np.int32([0, 1, 2, 0])),
        ValueError,
        ("graph_ids holds index 2 at [2]", "[0, num_graphs) = [0, 2)"),
    ),
    "attention_pooling_float_ids": (
        lambda: AttentionPooling(2, num_graphs=2)(_FOUR, np.float32([0, 1, 1, 0])),
        ValueError,
        ("graph_ids must hold integer indices", "graph_ids.dtype=float32"),
    ),
}


@pytest.mark.parametrize("case", LAYER_CASES)
def test_layer_bad_input_is_refused(case):
    call, error, fragments = LAYER_CASES[case]
    with _raises(error, *fragments):
        call()


BUILDER_CASES = {
    "gat_zero_classes": (
        lambda: gat_node_classifier(5, 0),
        ("num_classes must be a positive int", "num_classes=0"),
    ),
    "gat_version": (
        lambda: gat_node_classifier(5, 2, version="gat3"),
        ("version must be one of", "version='gat3'"),
    ),
    "gcn_bool_l2": (
        lambda: gcn_node_classifier(5, 2, l2=True),
        ("l2 must be a float >= 0", "l2=True"),
    ),
    "link_dropout": (
        lambda: gat_link_predictor(5, dropout=1.5),
        ("dropout must be a float in [0, 1)", "dropout=1.5"),
    ),
    "graph_layers": (
        lambda: gat_graph_classifier(5, 2, 4, num_layers=0),
        ("num_layers must be a positive int", "num_layers=0"),
    ),
}


@pytest.mark.parametrize("case", BUILDER_CASES)
def test_model_builder_bad_argument_is_refused(case):
    build, fragments = BUILDER_CASES[case]
    with _raises(ValueError, *fragments):
        build()


# -- the training helpers: every batch checked before training -----------------------


@pytest.fixture(scope="module")
def models():
    karate = graphs.karate_club()
    return {
        "node": gcn_node_classifier(karate.num_features, 2, hidden_units=2),
        "link": gat_link_predictor(
            karate.num_features, hidden_units=2, num_heads=1, embedding_dim=2
        ),
        "graph": gat_graph_classifier(7, 2, 4, hidden_units=2, num_heads=1, num_layers=1),
    }


def _karate(**changes):
    """The karate club with `changes(graph)` applied after construction, as a
    user's later edit would (construction checks the arrays)."""
    graph = graphs.karate_club()
    for change in changes.values():
        change(graph)
    return graph


def _setitem(field, index, value):
    return lambda g: getattr(g, field).__setitem__(index, value)


def _split(field=None, index=None, value=None):
    """The karate club's link split, `split.<field>[index] = value`
    (`field` may be `"graph.edges"`)."""
    split = graphs.link_prediction_split(graphs.karate_club(), seed=0)
    if field is not None:
        owner = split.graph if field == "graph.edges" else split
        getattr(owner, field.split(".")[-1])[index] = value
    return split


def _motifs(index=None, change=None):
    train = graphs.motif_graphs(6, seed=0)
    if change is not None:
        change(train[index])
    return train


def _set_label(value):
    return lambda g: setattr(g, "graph_label", value)


HELPER_CASES = {
    "node_edge_past_n": (
        "node", lambda m: train_node_classifier(
            m, _karate(e=_setitem("edges", (1, 7), 40)), 1),
        ValueError,
        ("graph.edges holds index 40 at [1, 7] (edge 7's receiver)",
         "[0, N) = [0, 34)", "train_node_classifier, batch 0"),
    ),
    "node_negative_edge": (
        "node", lambda m: train_node_classifier(
            m, _karate(e=_setitem("edges", (0, 3), -2)), 1),
        ValueError,
        ("graph.edges holds index -2 at [0, 3] (edge 3's sender)", "batch 0"),
    ),
    "node_nan_feature": (
        "node", lambda m: train_node_classifier(
            m, _karate(f=_setitem("node_features", (3, 1), np.nan)), 1),
        ValueError,
        ("graph.node_features must be finite, received nan at [3, 1]", "batch 0"),
    ),
    "node_label_past_c": (
        "node", lambda m: train_node_classifier(
            m, _karate(y=_setitem("labels", 0, 5)), 1),
        ValueError,
        ("graph.labels holds index 5 at [0]", "[0, C) = [0, 2)", "batch 0"),
    ),
    "node_empty_train_mask": (
        "node", lambda m: train_node_classifier(
            m, _karate(t=_setitem("train_mask", slice(None), False)), 1),
        ValueError,
        ("needs graph.train_mask to select at least one node",
         "graph.train_mask=0 of 34 nodes"),
    ),
    "node_no_test_mask": (
        "node", lambda m: train_node_classifier(
            m, _karate(t=lambda g: setattr(g, "test_mask", None)), 1),
        ValueError,
        ("needs graph.test_mask to select at least one node", "graph.test_mask=None"),
    ),
    "node_no_labels": (
        "node", lambda m: train_node_classifier(
            m, _karate(y=lambda g: setattr(g, "labels", None)), 1),
        ValueError,
        ("needs graph.labels", "graph.labels=None"),
    ),
    "node_feature_count": (
        "node", lambda m: train_node_classifier(
            m, graphs.Graph(np.ones((3, 5)), [[0], [1]], [0, 1, 0], *[
                np.ones(3, bool)] * 3), 1),
        ValueError,
        ("graph.node_features must have the model's F=34 features",
         "graph.node_features.shape=(3, 5)"),
    ),
    "link_graph_edge_past_n": (
        "link", lambda m: train_link_predictor(m, _split("graph.edges", (1, 0), 34), 1),
        ValueError,
        ("split.graph.edges holds index 34 at [1, 0] (edge 0's receiver)",
         "[0, 34)", "batch 0 of every epoch (training)"),
    ),
    "link_validation_negative": (
        "link", lambda m: train_link_predictor(
            m, _split("val_negative_edges", (0, 2), -1), 1),
        ValueError,
        ("split.val_negative_edges holds index -1 at [0, 2] (edge 2's sender)",
         "batch 0 of the validation data"),
    ),
    "link_test_positive": (
        "link", lambda m: train_link_predictor(
            m, _split("test_edges", (1, 1), 99), 1),
        ValueError,
        ("split.test_edges holds index 99 at [1, 1]", "batch 0 of the test data"),
    ),
    "link_train_pair": (
        "link", lambda m: train_link_predictor(
            m, _split("train_edges", (0, 0), 50), 1),
        ValueError,
        ("split.train_edges holds index 50 at [0, 0]", "batch 0 of every epoch"),
    ),
    "graph_edge_in_batch_1": (
        "graph", lambda m: train_graph_classifier(
            m, _motifs(5, _setitem("edges", (0, 1), 99)),
            graphs.motif_graphs(2, seed=1), 1),
        ValueError,
        ("train_graphs[5].edges holds index 99 at [0, 1] (edge 1's sender)",
         "[0, N) = [0, 8)", "train_graphs[5] in batch 1 before shuffling"),
    ),
    "graph_test_nan": (
        "graph", lambda m: train_graph_classifier(
            m, _motifs(), _motifs(2, _setitem("node_features", (0, 0), np.inf)), 1),
        ValueError,
        ("test_graphs[2].node_features must be finite, received inf at [0, 0]",
         "in batch 0"),
    ),
    "graph_label_past_c": (
        "graph", lambda m: train_graph_classifier(
            m, _motifs(2, _set_label(3)), _motifs(), 1),
        ValueError,
        ("train_graphs[2].graph_label must be an int in [0, C) = [0, 2)",
         "graph_label=3"),
    ),
    "graph_label_none": (
        "graph", lambda m: train_graph_classifier(
            m, _motifs(0, _set_label(None)), _motifs(), 1),
        ValueError,
        ("train_graphs[0].graph_label must be an int", "graph_label=None"),
    ),
    "graph_no_test_graphs": (
        "graph", lambda m: train_graph_classifier(m, _motifs(), [], 1),
        ValueError,
        ("needs at least one graph in test_graphs, received none",),
    ),
    "graph_feature_count": (
        "graph", lambda m: train_graph_classifier(
            m, [graphs.Graph(np.ones((2, 3)), [[0], [1]], graph_label=0)], _motifs(), 1),
        ValueError,
        ("train_graphs[0].node_features must have the model's F=7 features",
         "shape=(2, 3)"),
    ),
}


@pytest.mark.parametrize("case", HELPER_CASES)
def test_training_helper_refuses_a_bad_batch_before_training(case, models):
    kind, call, error, fragments = HELPER_CASES[case]
    model = models[kind]
    before = [w.copy() for w in model.get_weights()]
    with _raises(error, *fragments):
        call(model)
    assert not model.compiled or model.optimizer.iterations.numpy() == 0
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_training_stops_with_an_error_on_a_nan_loss():
    """What no input check can see (here a model that makes NaN) stops
    training with an error naming the epoch and batch."""
    karate = graphs.karate_club()
    nodes = keras.Input((karate.num_features,))
    edges = keras.Input((None,), batch_size=2, dtype="int32")
    logits = keras.layers.Dense(2)(nodes)
    model = keras.Model([nodes, edges], keras.ops.log(logits - 1e9))  # NaN
    with _raises(FloatingPointError, "train_node_classifier", "loss became nan",
                 "epoch 0, batch 0"):
        train_node_classifier(model, karate, 3, jit_compile=False)


# -- NaN on padding nodes: selected away, never multiplied by 0 ---------------------

_MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], bool)  # two padded graphs


def _padded(fill, width=3, seed=1):
    """Node features [2, 5, width] with `fill` on the padding nodes."""
    x = np.random.default_rng(seed).normal(size=(2, 5, width)).astype(np.float32)
    x[~_MASK] = fill
    return x


_ADJACENCY = (np.random.default_rng(2).random((2, 5, 5)) < 0.6).astype(np.float32)


def _dense_edge_features(fill):
    """Edge features [2, 5, 5, 2], `fill` on every entry that is not an
    edge between two real nodes."""
    e = np.random.default_rng(3).normal(size=(2, 5, 5, 2)).astype(np.float32)
    real = _ADJACENCY.astype(bool) & _MASK[:, :, None] & _MASK[:, None, :]
    e[~real] = fill
    return e


PADDED_CASES = {
    "gat": lambda f: GraphAttention(2, 2, mode="dense", seed=0),
    "gatv2_no_loops": lambda f: GraphAttention(
        2, 2, mode="dense", version="gatv2", add_self_loops=False
    ),
    "gcn": lambda f: GraphConvolution(3, mode="dense"),
}


@pytest.mark.parametrize("case", PADDED_CASES)
def test_nan_on_padding_nodes_leaves_real_nodes_exact(case):
    layer = PADDED_CASES[case](None)
    with_nan = numpy(layer(_padded(np.nan), _ADJACENCY, node_features_mask=_MASK))
    with_zeros = numpy(layer(_padded(0.0), _ADJACENCY, node_features_mask=_MASK))
    assert np.isfinite(with_nan).all()
    np.testing.assert_array_equal(with_nan, with_zeros)
    assert (with_nan[~_MASK] == 0).all() and (with_nan[_MASK] != 0).any()


@pytest.mark.parametrize("version", ["gat", "gatv2"])
def test_nan_edge_features_off_the_edges_leave_the_output_exact(version):
    layer = GraphAttention(2, 2, mode="dense", version=version)
    args = dict(adjacency=_ADJACENCY, node_features_mask=_MASK)
    with_nan = numpy(layer(_padded(np.nan), edge_features=_dense_edge_features(np.nan), **args))
    with_zeros = numpy(layer(_padded(0.0), edge_features=_dense_edge_features(0.0), **args))
    assert np.isfinite(with_nan).all()
    np.testing.assert_array_equal(with_nan, with_zeros)


def test_nan_edge_features_on_a_dropped_self_loop_count_for_nothing():
    """Sparse mode drops an input self loop (its coefficient is 0); its NaN
    edge features must reach neither the loop's mean nor any score."""
    edges = _edges([[0, 1, 2, 2], [1, 2, 0, 2]])  # 2 -> 2 is dropped
    features = np.random.default_rng(4).normal(size=(4, 2)).astype(np.float32)
    layer = GraphAttention(2, 2, version="gatv2")
    nan, zero = features.copy(), features.copy()
    nan[3], zero[3] = np.nan, 0.0
    got, coefficients = layer(_nodes(3), edges, nan, return_attention_scores=True)
    expected = layer(_nodes(3), edges, zero)
    assert np.isfinite(numpy(got)).all()
    np.testing.assert_array_equal(numpy(got), numpy(expected))
    assert numpy(coefficients)[3].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("mode", ["mean", "sum", "max"])
def test_pooling_ignores_nan_on_padding_nodes(mode):
    pooling = GraphPooling(mode)
    with_nan = numpy(pooling(_padded(np.nan), mask=_MASK))
    x = _padded(0.0)
    reduce = {"mean": np.mean, "sum": np.sum, "max": np.max}[mode]
    expected = np.stack([reduce(x[b][_MASK[b]], axis=0) for b in range(2)])
    np.testing.assert_allclose(with_nan, expected, rtol=1e-6, atol=0)


def test_attention_pooling_ignores_nan_on_padding_nodes():
    pooling = AttentionPooling(4)
    with_nan, weights = pooling(_padded(np.nan), mask=_MASK, return_attention_scores=True)
    with_zeros = pooling(_padded(0.0), mask=_MASK)
    assert np.isfinite(numpy(with_nan)).all()
    np.testing.assert_array_equal(numpy(with_nan), numpy(with_zeros))
    assert (numpy(weights)[~_MASK] == 0).all()


# -- graphs of no node ---------------------------------------------------------------

_NO_EDGE = np.zeros((2, 0), np.int32)
EMPTY_CASES = {
    "gat_sparse": (lambda: GraphAttention(4, 2)(_nodes(0), _NO_EDGE), (0, 8)),
    "gatv2_sparse_no_loops": (
        lambda: GraphAttention(4, 2, version="gatv2", add_self_loops=False)(
            _nodes(0), _NO_EDGE), (0, 8),
    ),
    "gat_dense": (
        lambda: GraphAttention(4, 2, concat_heads=False, mode="dense")(
            np.zeros((2, 0, 3), np.float32), np.zeros((2, 0, 0), np.float32)), (2, 0, 4),
    ),
    "gcn_sparse": (lambda: GraphConvolution(4)(_nodes(0), _NO_EDGE), (0, 4)),
    "gcn_dense": (
        lambda: GraphConvolution(4, mode="dense")(
            np.zeros((2, 0, 3), np.float32), np.zeros((2, 0, 0), np.float32)), (2, 0, 4),
    ),
    "gat_node_classifier": (
        lambda: gat_node_classifier(3, 2, hidden_units=2, num_heads=2)(
            [_nodes(0), _NO_EDGE]), (0, 2),
    ),
    "gat_dense_node_classifier": (
        lambda: gat_node_classifier(3, 2, hidden_units=2, num_heads=2, mode="dense")(
            [np.zeros((1, 0, 3), np.float32), np.zeros((1, 0, 0), np.float32)]),
        (1, 0, 2),
    ),
    "gat_link_predictor": (
        lambda: gat_link_predictor(3, hidden_units=2, num_heads=1, embedding_dim=2)(
            [_nodes(0), _NO_EDGE, _NO_EDGE]), (0,),
    ),
}


@pytest.mark.parametrize("case", EMPTY_CASES)
def test_a_graph_of_no_node_gives_an_empty_output(case):
    call, shape = EMPTY_CASES[case]
    assert numpy(call()).shape == shape


@pytest.mark.parametrize("mode", ["mean", "sum", "max"])
def test_pooling_a_graph_of_no_node_gives_zeros(mode):
    padded = GraphPooling(mode)(np.zeros((2, 0, 3), np.float32))
    union = GraphPooling(mode, num_graphs=2)(_nodes(0), np.zeros((0,), np.int32))
    masked = GraphPooling(mode)(np.ones((2, 3, 3), np.float32), mask=np.zeros((2, 3), bool))
    for pooled in (padded, union, masked):
        assert numpy(pooled).tolist() == [[0.0] * 3] * 2


# -- the distributed trainer: TF_CONFIG ------------------------------------------------

_GOOD = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
TF_CONFIG_CASES = {
    "not_json": ("{cluster: 1", ("TF_CONFIG must be JSON", "TF_CONFIG='{cluster: 1'")),
    "not_an_object": ("[1, 2]", ("TF_CONFIG must be a JSON object", "a JSON list")),
    "no_cluster": (
        {"task": _GOOD["task"]}, ("TF_CONFIG must have 'cluster'", "no 'cluster'"),
    ),
    "no_task": ({"cluster": _GOOD["cluster"]}, ("TF_CONFIG must have 'task'", "no 'task'")),
    "no_index": (
        {**_GOOD, "task": {"type": "worker"}},
        ("TF_CONFIG's task must have 'index'", "task={'type': 'worker'}"),
    ),
    "index_out_of_range": (
        {**_GOOD, "task": {"type": "worker", "index": 2}},
        ("TF_CONFIG's task must have an index in [0, 2)", "task.index=2"),
    ),
    "index_negative": (
        {**_GOOD, "task": {"type": "worker", "index": -1}},
        ("an index in [0, 2)", "task.index=-1"),
    ),
    "index_float": (
        {**_GOOD, "task": {"type": "worker", "index": 1.5}},
        ("TF_CONFIG's task.index must be an int", "task.index=1.5"),
    ),
    "type_not_in_cluster": (
        {**_GOOD, "task": {"type": "chief", "index": 0}},
        ("TF_CONFIG's task.type must be a job of its cluster, one of ['worker']",
         "task.type='chief'"),
    ),
    "address_without_port": (
        {**_GOOD, "cluster": {"worker": ["a:1", "hostname"]}},
        ("TF_CONFIG's cluster.worker[1] must be an address 'host:port'",
         "cluster.worker[1]='hostname'"),
    ),
    "port_past_65535": (
        {**_GOOD, "cluster": {"worker": ["a:70000", "b:2"]}},
        ("port in [1, 65535]", "cluster.worker[0]='a:70000'"),
    ),
    "addresses_not_a_list": (
        {**_GOOD, "cluster": {"worker": "a:1,b:2"}},
        ("TF_CONFIG's cluster.worker must be a non-empty list", "cluster.worker='a:1,b:2'"),
    ),
}


@pytest.mark.parametrize("case", TF_CONFIG_CASES)
def test_malformed_tf_config_is_refused(case, monkeypatch):
    value, fragments = TF_CONFIG_CASES[case]
    monkeypatch.setenv("TF_CONFIG", value if isinstance(value, str) else json.dumps(value))
    with _raises(ValueError, *fragments):
        distributed.cluster_spec()


def test_a_well_formed_tf_config_is_read(monkeypatch):
    config = {"cluster": {"worker": ["[::1]:80", "b:2", "c:3"], "ps": ["d:4"]},
              "task": {"type": "worker", "index": "2"}}  # TensorFlow takes "2"
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distributed.cluster_spec() == (3, 2)


def test_the_trainer_checks_tf_config_before_building_the_strategy(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{oops")
    with _raises(ValueError, "TF_CONFIG must be JSON", "TF_CONFIG='{oops'"):
        distributed.DistributedTrainer(_build_tiny, _tiny_data, 2)


def _uncompiled():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="tiny")


TRAINER_CASES = {
    "zero_steps": (
        dict(steps_per_epoch=0), ValueError,
        ("steps_per_epoch must be a positive int", "steps_per_epoch=0"),
    ),
    "checkpoint_every_zero": (
        dict(checkpoint_every=0), ValueError,
        ("checkpoint_every must be a positive int", "checkpoint_every=0"),
    ),
    "max_to_keep_negative": (
        dict(max_to_keep=-1), ValueError,
        ("max_to_keep must be a positive int or None", "max_to_keep=-1"),
    ),
    "dataset_not_a_function": (
        dict(dataset_fn=[1, 2]), TypeError,
        ("dataset_fn must be a function", "dataset_fn=[1, 2]"),
    ),
    "model_not_compiled": (
        dict(build_model=_uncompiled), ValueError,
        ("build_model must return a compiled Keras model", "Sequential 'tiny'"),
    ),
}


@pytest.mark.parametrize("case", TRAINER_CASES)
def test_trainer_bad_argument_is_refused(case, monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    changes, error, fragments = TRAINER_CASES[case]
    arguments = {**dict(build_model=_build_tiny, dataset_fn=_tiny_data, steps_per_epoch=2,
                        strategy=tf.distribute.get_strategy()), **changes}
    with _raises(error, *fragments):
        distributed.DistributedTrainer(**arguments)


# -- the distributed trainer: checkpoints ------------------------------------------------


def _build_tiny():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _tiny_data(epoch):
    import tensorflow as tf

    x = np.random.default_rng(epoch).normal(size=(8, 3)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype(np.int32))).batch(4)


def _trainer(directory):
    import tensorflow as tf

    return distributed.DistributedTrainer(
        _build_tiny, _tiny_data, 2, checkpoint_dir=str(directory),
        strategy=tf.distribute.get_strategy(), checkpoint_every=1)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A folder holding ckpt-1 and ckpt-2 (two steps of a tiny model) and the
    weights after step 2."""
    folder = tmp_path_factory.mktemp("checkpoints") / "run"
    trainer = _trainer(folder)
    trainer.fit(1, verbose=0)
    return folder, [w.copy() for w in trainer.model.get_weights()]


def _data_file(folder):
    return next(folder.glob("ckpt-2.data-*")).name


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _random(path):
    path.write_bytes(np.random.default_rng(5).bytes(path.stat().st_size))


CHECKPOINT_CASES = {
    "truncated_data": (_data_file, _truncate, ("checkpoint", "ckpt-2 is truncated or corrupt",
                                               "Read less bytes than requested")),
    "truncated_index": ("ckpt-2.index", _truncate, ("ckpt-2 is truncated or corrupt",)),
    "flipped_data": (_data_file, _flip, ("ckpt-2 is truncated or corrupt", "Checksum")),
    "flipped_index": ("ckpt-2.index", _flip, ("ckpt-2 is truncated or corrupt",)),
    "random_data": (_data_file, _random, ("ckpt-2 is truncated or corrupt",)),
    "random_index": ("ckpt-2.index", _random, ("ckpt-2 is truncated or corrupt",)),
    "random_state_file": ("checkpoint", _random, ("checkpoint state file", "is corrupt")),
    "missing_state_file": ("checkpoint", lambda p: p.unlink(),
                           ("holds checkpoints (ckpt-1.index, ckpt-2.index) but no valid "
                            "state file",)),
    "missing_named_files": ("ckpt-2.index", lambda p: p.unlink(),
                            ("holds checkpoints (ckpt-1.index) but no valid state file",)),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_a_damaged_checkpoint_is_refused_and_left_in_place(case, checkpoints, tmp_path):
    source, _ = checkpoints
    folder = tmp_path / "run"
    shutil.copytree(source, folder)
    name, damage, fragments = CHECKPOINT_CASES[case]
    path = folder / (name(folder) if callable(name) else name)
    damage(path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with _raises(distributed.CheckpointError, *fragments) as raised:
        _trainer(folder)
    assert str(folder) in str(raised.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_intact_checkpoint_is_restored(checkpoints, tmp_path):
    source, weights = checkpoints
    shutil.copytree(source, tmp_path / "run")
    trainer = _trainer(tmp_path / "run")
    assert int(trainer.step.numpy()) == 2
    for a, b in zip(trainer.model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(w).max() > 0 for w in weights[1:])  # the bias moved


# -- Hypothesis: edge lists ----------------------------------------------------------------

_F = 3


@st.composite
def edge_lists(draw, max_nodes=6, max_edges=10):
    """`(num_nodes, edges [2, E] int32)` with every index in `[0, N)`."""
    num_nodes = draw(st.integers(1, max_nodes))
    num_edges = draw(st.integers(0, max_edges))
    index = st.integers(0, num_nodes - 1)
    pairs = draw(st.lists(st.tuples(index, index), min_size=num_edges, max_size=num_edges))
    return num_nodes, np.asarray(pairs, np.int32).reshape(-1, 2).T.copy()


# Built once (weights depend on F only); the bias is random so that "an
# isolated node gets exactly the bias" is a real check.
_BIAS = keras.initializers.RandomNormal(seed=7)
PROPERTY_LAYERS = {
    "gat": GraphAttention(2, 2, bias_initializer=_BIAS),
    "gatv2": GraphAttention(2, 2, version="gatv2", bias_initializer=_BIAS),
    "gat_no_loops": GraphAttention(2, 2, add_self_loops=False, bias_initializer=_BIAS),
    "gatv2_no_loops_elu": GraphAttention(
        2, 2, version="gatv2", add_self_loops=False, activation="elu", bias_initializer=_BIAS),
    "gcn_no_loops": GraphConvolution(2, add_self_loops=False, bias_initializer=_BIAS),
    "gcn": GraphConvolution(2, bias_initializer=_BIAS),
}


@settings(max_examples=25)
@given(graph=edge_lists(), seed=st.integers(0, 2**16))
def test_valid_edge_lists_give_finite_outputs_and_isolated_nodes_the_bias(graph, seed):
    num_nodes, edges = graph
    nodes = _nodes(num_nodes, _F, seed)
    receives = np.isin(np.arange(num_nodes), edges[1])
    for name, layer in PROPERTY_LAYERS.items():
        out = numpy(layer(nodes, edges))
        assert np.isfinite(out).all(), name
        if not layer.add_self_loops:
            # No incoming edge, no loop: the bias alone, then the activation.
            expected = np.broadcast_to(
                numpy(layer.activation(layer.bias)), out[~receives].shape)
            if layer.activation is keras.activations.linear:
                np.testing.assert_array_equal(out[~receives], expected, name)
            else:  # the ELU's exp(x) - 1 is exact to 2 ulp of 1 (1.2e-7)
                np.testing.assert_allclose(
                    out[~receives], expected, rtol=0, atol=1.2e-7, err_msg=name)


@settings(max_examples=25)
@given(graph=edge_lists(max_edges=12), order_seed=st.integers(0, 2**16))
def test_gat_is_unchanged_by_the_order_of_the_edges(graph, order_seed):
    num_nodes, edges = graph
    order = np.random.default_rng(order_seed).permutation(edges.shape[1])
    nodes = _nodes(num_nodes, _F, 1)
    for name in ("gat", "gatv2_no_loops_elu"):
        layer = PROPERTY_LAYERS[name]
        out, coefficients = layer(nodes, edges, return_attention_scores=True)
        shuffled, shuffled_coefficients = layer(
            nodes, edges[:, order], return_attention_scores=True)
        # Sums in another order: equal to float32 rounding.
        np.testing.assert_allclose(numpy(shuffled), numpy(out), rtol=1e-5, atol=1e-6)
        given_edges = len(order)  # then the self loops, in node order
        np.testing.assert_allclose(
            numpy(shuffled_coefficients)[:given_edges],
            numpy(coefficients)[:given_edges][order], rtol=1e-5, atol=1e-6)


@settings(max_examples=25)
@given(
    graph=edge_lists(),
    position=st.tuples(st.integers(0, 1), st.integers(0, 9)),
    offset=st.integers(0, 1000),
    below=st.booleans(),
)
def test_an_index_outside_the_graph_is_refused(graph, position, offset, below):
    num_nodes, edges = graph
    if edges.shape[1] == 0:
        edges = np.zeros((2, 1), np.int32)
    row, column = position[0], position[1] % edges.shape[1]
    bad = -1 - offset if below else num_nodes + offset
    edges = edges.copy()
    edges[row, column] = bad
    end = ("sender", "receiver")[row]
    for layer in (PROPERTY_LAYERS["gat"], PROPERTY_LAYERS["gcn"]):
        with _raises(ValueError, f"edges holds index {bad} at [{row}, {column}] "
                     f"(edge {column}'s {end})", f"[0, N) = [0, {num_nodes})"):
            layer(_nodes(num_nodes, _F), edges)
