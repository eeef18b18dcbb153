"""The reference graph models: each builds, trains with `jit_compile=True` and
learns its task on small generated data, and survives a `.keras` round trip.

The data are built so that chance is far below what a learning model
reaches: a Cora-like graph (3 classes, class-correlated bag-of-words
features, 80% of edges within a class) on which chance is 1/3 over 210 test
nodes (standard deviation 3.3 points), a graph of 4 clusters for link
prediction (chance AUC 0.5, standard deviation about 0.04), and the
house-or-K_{2,3} motif task (chance 0.5 over 100 graphs, standard deviation
5 points). Every threshold below is at least 5 standard deviations above
chance.
"""

import doctest

import keras
import numpy as np
import pytest

from keras_attention.data import graphs
from keras_attention.models import graph_models
from keras_attention.models import (
    gat_graph_classifier,
    gat_link_predictor,
    gat_node_classifier,
    gcn_node_classifier,
    graph_batches,
    train_graph_classifier,
    train_link_predictor,
    train_node_classifier,
)
from tests.graph_fixtures import write_planetoid_fixture


def cora_like(num_nodes=300, num_classes=3, num_features=40, seed=0):
    """A small citation-like graph: 30 training, 60 validation and 210 test
    nodes; each class has its own words (drawn at 0.15, others at 0.05)
    and 80% of the edges join nodes of the same class."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_nodes) % num_classes)
    topic = np.arange(num_features) % num_classes
    rate = np.where(topic[None, :] == labels[:, None], 0.15, 0.05)
    features = (rng.random((num_nodes, num_features)) < rate).astype(np.float32)
    senders = rng.integers(0, num_nodes, 4 * num_nodes)
    same = rng.random(4 * num_nodes) < 0.8
    receivers = np.asarray(
        [
            rng.choice(np.flatnonzero((labels == labels[u]) == s))
            for u, s in zip(senders, same)
        ]
    )
    order = rng.permutation(num_nodes)

    def mask(nodes):
        m = np.zeros(num_nodes, bool)
        m[nodes] = True
        return m

    return graphs.Graph(
        node_features=features,
        edges=graphs.to_undirected(np.stack([senders, receivers]), num_nodes),
        labels=labels,
        train_mask=mask(order[:30]),
        val_mask=mask(order[30:90]),
        test_mask=mask(order[90:]),
        num_classes=num_classes,
    )


def clustered_graph(num_nodes=200, num_clusters=4, seed=0):
    """4 clusters, edge probability 0.25 within and 0.01 across; features
    are noise plus a weak one-hot of the cluster."""
    rng = np.random.default_rng(seed)
    cluster = np.arange(num_nodes) % num_clusters
    probability = np.where(cluster[:, None] == cluster[None, :], 0.25, 0.01)
    upper = np.triu(rng.random((num_nodes, num_nodes)) < probability, 1)
    features = rng.normal(size=(num_nodes, 16)).astype(np.float32)
    features[:, :num_clusters] += np.eye(num_clusters)[cluster]
    return graphs.Graph(
        features, graphs.to_undirected(np.stack(np.nonzero(upper)), num_nodes)
    )


def _learned(history):
    """The mean training loss of the last 3 epochs over the first epoch's."""
    loss = history.history["loss"]
    return np.mean(loss[-3:]) / loss[0]


# -- node classification ------------------------------------------------------------


def test_gat_learns_cora_like_graph_in_20_epochs():
    graph = cora_like()
    model = gat_node_classifier(graph.num_features, graph.num_classes)
    history, accuracy = train_node_classifier(
        model, graph, epochs=20, learning_rate=0.01, patience=None
    )
    assert len(history.history["loss"]) == 20
    assert _learned(history) < 0.8, history.history["loss"]
    assert accuracy > 0.7  # chance 0.33, 11 standard deviations below


def test_gcn_learns_cora_like_graph_in_20_epochs():
    graph = cora_like()
    model = gcn_node_classifier(graph.num_features, graph.num_classes)
    history, accuracy = train_node_classifier(
        model, graph, epochs=20, learning_rate=0.05, patience=None
    )
    assert _learned(history) < 0.8, history.history["loss"]
    assert accuracy > 0.75  # chance 0.33, 13 standard deviations below


def test_early_stopping_restores_the_best_epoch():
    graph = cora_like()
    model = gcn_node_classifier(graph.num_features, graph.num_classes)
    history, _ = train_node_classifier(
        model, graph, epochs=60, learning_rate=0.2, patience=3, jit_compile=False
    )
    val_loss = history.history["val_loss"]
    assert len(val_loss) < 60  # stopped early
    best = int(np.argmin(val_loss))
    assert best == len(val_loss) - 4  # 3 epochs of patience
    restored = model.evaluate(
        graph_models.node_dataset(graph, graph.val_mask), verbose=0, return_dict=True
    )
    np.testing.assert_allclose(restored["loss"], val_loss[best], rtol=1e-5)


def test_node_classifier_on_planetoid_files(tmp_path):
    """The Planetoid loader's graph goes through the training helper, the
    losses and accuracies counting the masked nodes only."""
    write_planetoid_fixture(str(tmp_path))
    graph = graphs.load_planetoid("cora", path=str(tmp_path), row_normalize=True)
    model = gat_node_classifier(
        graph.num_features, graph.num_classes, hidden_units=4, num_heads=2
    )
    history, accuracy = train_node_classifier(
        model, graph, epochs=2, jit_compile=False
    )
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    logits = keras.ops.convert_to_numpy(model([graph.node_features, graph.edges]))
    test = graph.test_mask
    expected = np.mean(logits.argmax(-1)[test] == graph.labels[test])
    np.testing.assert_allclose(accuracy, expected, rtol=1e-6)


def test_dense_gat_classifier_matches_sparse():
    graph = cora_like(num_nodes=40)
    sparse = gat_node_classifier(graph.num_features, graph.num_classes)
    dense = gat_node_classifier(graph.num_features, graph.num_classes, mode="dense")
    dense.set_weights(sparse.get_weights())
    adjacency = graphs.dense_adjacency(graph)
    np.testing.assert_allclose(
        dense([graph.node_features[None], adjacency[None]])[0],
        sparse([graph.node_features, graph.edges]),
        atol=1e-5,
    )
    # 40 nodes leave the test split empty, which the helper refuses: test
    # on the validation nodes.
    graph.test_mask = graph.val_mask
    history, accuracy = train_node_classifier(dense, graph, epochs=2)
    assert np.isfinite(history.history["loss"]).all() and 0 <= accuracy <= 1


def test_paper_weight_decay():
    """`l2` is the papers' `l2 * tf.nn.l2_loss(w) = l2 / 2 * sum w^2`, on the
    GAT's kernels and attention vectors but not its biases."""
    model = gat_node_classifier(5, 3, hidden_units=2, num_heads=2, l2=0.1)
    model([np.ones((4, 5), "float32"), np.asarray([[0, 1], [1, 2]], "int32")])
    decayed = [w for w in model.trainable_weights if "bias" not in w.path]
    expected = sum(0.05 * np.sum(np.square(w.numpy())) for w in decayed)
    np.testing.assert_allclose(sum(float(x) for x in model.losses), expected, rtol=1e-5)
    gcn = gcn_node_classifier(5, 3, l2=0.1)
    assert [w.path for w in gcn.weights if w.regularizer is not None] == [
        "gcn_hidden/kernel"
    ]


# -- link prediction --------------------------------------------------------------


def test_link_predictor_ranks_held_out_edges():
    split = graphs.link_prediction_split(clustered_graph(), seed=0)
    model = gat_link_predictor(16, hidden_units=8, num_heads=4)
    history, test_auc = train_link_predictor(model, split, epochs=30, seed=1)
    assert _learned(history) < 0.8, history.history["loss"]
    assert history.history["val_auc"][-1] > 0.65
    assert test_auc > 0.7  # chance 0.5, about 5 standard deviations below


def test_link_predictor_samples_fresh_negatives(monkeypatch):
    split = graphs.link_prediction_split(clustered_graph(num_nodes=40), seed=0)
    drawn = []
    sample = split.train_negative_edges

    def recording(seed, count=None):
        negatives = sample(seed, count)
        drawn.append(negatives)
        return negatives

    monkeypatch.setattr(split, "train_negative_edges", recording)
    model = gat_link_predictor(16, hidden_units=2, num_heads=2, embedding_dim=4)
    train_link_predictor(model, split, epochs=3, jit_compile=False)
    assert len(drawn) >= 3
    assert not np.array_equal(drawn[0], drawn[1])
    train_pairs = {tuple(p) for p in split.train_edges.T}
    assert not train_pairs & {tuple(p) for d in drawn for p in d.T}


# -- graph classification -----------------------------------------------------------


def test_graph_classifier_learns_motifs():
    train, test = graphs.motif_graphs(200, seed=0), graphs.motif_graphs(100, seed=1)
    model = gat_graph_classifier(7, 2, graphs_per_batch=32)
    history, accuracy = train_graph_classifier(model, train, test, epochs=40)
    assert _learned(history) < 0.5, history.history["loss"]
    assert accuracy > 0.75  # chance 0.5, 5 standard deviations below


def test_graph_batches_pad_and_padding_never_leaks():
    motifs = graphs.motif_graphs(5, seed=0)
    batches = list(graph_batches(motifs, graphs_per_batch=3))
    assert len(batches) == 2
    (features, edges, ids), labels, weights = batches[1]  # 2 graphs and a free slot
    budget = 3 * max(g.num_nodes for g in motifs) + 1
    assert features.shape == (budget, 7) and ids.shape == (budget,)
    assert edges.shape == (2, 3 * max(g.num_edges for g in motifs))
    assert weights.numpy().tolist() == [1.0, 1.0, 0.0]
    assert labels.numpy().tolist()[:2] == [g.graph_label for g in motifs[3:]]
    real = motifs[3].num_nodes + motifs[4].num_nodes
    assert (ids.numpy()[real:] == 3).all() and not features.numpy()[real:].any()

    for readout in ("attention", "sum", "max"):
        model = gat_graph_classifier(7, 2, graphs_per_batch=3, readout=readout)
        alone = graph_batches(motifs[3:4], graphs_per_batch=3, max_nodes=30)
        (a_features, a_edges, a_ids), _, _ = next(iter(alone))
        np.testing.assert_allclose(
            model([features, edges, ids])[0],
            model([a_features, a_edges, a_ids])[0],
            atol=1e-5,
            err_msg=readout,
        )


# -- every model ------------------------------------------------------------------


def _node_inputs(num_nodes=12, num_features=6, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    edges = graphs.to_undirected(rng.integers(0, num_nodes, (2, 30)), num_nodes)
    return features, edges


def _model_and_inputs(name):
    features, edges = _node_inputs()
    if name == "gat_dense":
        return (
            gat_node_classifier(6, 3, mode="dense"),
            [features[None], np.ones((1, 12, 12), np.float32)],
        )
    if name == "link":
        pairs = np.asarray([[0, 1, 2], [3, 4, 5]], np.int32)
        return gat_link_predictor(6), [features, edges, pairs]
    if name == "graph":
        batch = next(iter(graph_batches(graphs.motif_graphs(3, seed=2), 2)))[0]
        return gat_graph_classifier(7, 2, graphs_per_batch=2), list(batch)
    if name == "gcn":
        return gcn_node_classifier(6, 3), [features, edges]
    return gat_node_classifier(6, 3, version=name), [features, edges]


@pytest.mark.parametrize(
    "name", ["gat", "gatv2", "gat_dense", "gcn", "link", "graph"]
)
def test_save_and_reload(name, tmp_path):
    model, inputs = _model_and_inputs(name)
    before = keras.ops.convert_to_numpy(model(inputs))
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(inputs)), before)
    assert [w.path for w in reloaded.weights] == [w.path for w in model.weights]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: gat_node_classifier(0, 3), "num_features must be a positive int"),
        (lambda: gat_node_classifier(5, 3, dropout=1.0), "dropout must be a float"),
        (lambda: gat_node_classifier(5, 3, l2=-1.0), "l2 must be a float >= 0"),
        (lambda: gat_node_classifier(5, 3, mode="csr"), "mode must be one of"),
        (lambda: gcn_node_classifier(5, 3, hidden_units=0), "hidden_units must be"),
        (lambda: gat_link_predictor(5, embedding_dim=0), "embedding_dim must be"),
        (
            lambda: gat_graph_classifier(5, 2, 4, readout="median"),
            "readout must be one of",
        ),
        (lambda: gat_graph_classifier(5, 2, 0), "graphs_per_batch must be"),
    ],
)
def test_argument_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_graph_batches_check_the_budget():
    motifs = graphs.motif_graphs(3, seed=0)
    with pytest.raises(ValueError, match="graph 0 has .* more than max_nodes=6"):
        graph_batches(motifs, graphs_per_batch=2, max_nodes=6)


def test_training_arguments_are_checked():
    graph = cora_like(num_nodes=30)
    model = gcn_node_classifier(graph.num_features, graph.num_classes)
    with pytest.raises(ValueError, match="monitor must be one of"):
        train_node_classifier(model, graph, 1, monitor="loss")
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        train_node_classifier(model, graph, 0)


def test_docstring_examples():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(graph_models) if t.examples]
    assert tests
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, result
