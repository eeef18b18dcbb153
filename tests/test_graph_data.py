import doctest
import importlib
import os
import pickle
import pkgutil
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_attention.data import graphs
from tests import graph_fixtures

# The shared data folder beside the project's checkout, absent on most machines.
SHARED_PLANETOID = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "planetoid"
)


def _edge_set(edges):
    return set(zip(np.asarray(edges)[0].tolist(), np.asarray(edges)[1].tolist()))


def _pair_set(edges):
    edges = np.asarray(edges)
    return {(min(u, v), max(u, v)) for u, v in zip(*edges.tolist())}


def _mask_nodes(mask):
    return np.nonzero(mask)[0].tolist()


# --- Planetoid ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name,sparse_format,sparse_module",
    [
        ("cora", "csr", "scipy.sparse.csr"),
        ("citeseer", "csr", "scipy.sparse.csr"),
        ("pubmed", "csr", "scipy.sparse._csr"),  # the module of scipy >= 1.8
        ("cora", "csc", "scipy.sparse.csc"),
    ],
)
def test_planetoid_fixture_round_trip(tmp_path, name, sparse_format, sparse_module):
    expected = graph_fixtures.write_planetoid_fixture(
        tmp_path, name, sparse_format=sparse_format, sparse_module=sparse_module
    )
    graph = graphs.load_planetoid(name, path=str(tmp_path))
    assert graph.name == name and graph.num_classes == graph_fixtures.NUM_CLASSES
    assert graph.node_features.dtype == np.float32
    assert graph.edges.dtype == graph.labels.dtype == np.int32
    # Row j of tx belongs to node test.index[j], which is not sorted.
    np.testing.assert_array_equal(graph.node_features, expected["node_features"])
    np.testing.assert_array_equal(graph.labels, expected["labels"])
    # Made undirected, the self loop and the duplicate gone, sorted.
    np.testing.assert_array_equal(graph.edges, expected["edges"])
    assert _mask_nodes(graph.train_mask) == expected["train_nodes"].tolist()
    assert _mask_nodes(graph.val_mask) == expected["val_nodes"].tolist()
    assert _mask_nodes(graph.test_mask) == expected["test_nodes"].tolist()


def test_citeseer_padding_of_test_nodes_without_rows(tmp_path):
    files, _ = graph_fixtures.planetoid_fixture("citeseer")
    graph_fixtures.write_planetoid_fixture(tmp_path, "citeseer")
    graph = graphs.load_planetoid("citeseer", path=str(tmp_path))
    missing = list(graph_fixtures.MISSING_TEST_NODES)
    assert graph.num_nodes == graph_fixtures.NUM_NODES
    assert not graph.node_features[missing].any()
    assert graph.labels[missing].tolist() == [0, 0]
    everything = graph.train_mask | graph.val_mask | graph.test_mask
    assert not everything[missing].any() and everything.sum() == 28
    # Every other test node has its own tx and ty row.
    tx = files["tx"].dense
    for row, node in enumerate(files["test.index"]):
        np.testing.assert_array_equal(graph.node_features[node], tx[row])
        assert graph.labels[node] == files["ty"][row].argmax()


def test_row_normalize_leaves_empty_rows_zero(tmp_path):
    graph_fixtures.write_planetoid_fixture(tmp_path, "citeseer")
    raw = graphs.load_planetoid("citeseer", path=str(tmp_path))
    graph = graphs.load_planetoid("citeseer", path=str(tmp_path), row_normalize=True)
    assert np.isfinite(graph.node_features).all()
    sums = graph.node_features.sum(axis=1)
    missing = list(graph_fixtures.MISSING_TEST_NODES)
    np.testing.assert_allclose(np.delete(sums, missing), 1, rtol=1e-6)
    assert (sums[missing] == 0).all()
    np.testing.assert_allclose(
        graph.node_features[0], raw.node_features[0] / raw.node_features[0].sum()
    )


def test_real_cora():
    if not SHARED_PLANETOID.is_dir():
        pytest.skip(f"{SHARED_PLANETOID} is not here")
    graph = graphs.load_planetoid("cora", path=str(SHARED_PLANETOID))
    assert graph.node_features.shape == (2708, 1433) and graph.num_classes == 7
    assert set(np.unique(graph.node_features).tolist()) == {0.0, 1.0}
    assert graph.node_features.sum() == 49216  # the number of words in the files
    assert graph.edges.shape == (2, 10556)
    assert _edge_set(graph.edges) == _edge_set(graph.edges[::-1])
    assert not (graph.edges[0] == graph.edges[1]).any()
    assert [m.sum() for m in (graph.train_mask, graph.val_mask, graph.test_mask)] == [
        140, 500, 1000
    ]
    assert np.bincount(graph.labels).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert np.bincount(graph.labels[graph.train_mask]).tolist() == [20] * 7
    # Citations join papers of one topic: a test node given another's row
    # and label would break this (about 0.2 for labels at random).
    senders, receivers = graph.edges
    both = graph.test_mask[senders] & graph.test_mask[receivers]
    same = graph.labels[senders[both]] == graph.labels[receivers[both]]
    assert both.sum() == 1306 and same.mean() > 0.8


def test_planetoid_name_is_checked():
    with pytest.raises(ValueError, match=r"name must be one of .*name='cora2'"):
        graphs.load_planetoid("cora2", path=".")


def test_missing_local_files_are_named(tmp_path):
    graph_fixtures.write_planetoid_fixture(tmp_path, "cora")
    os.remove(tmp_path / "ind.cora.ty")
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.ty is missing"):
        graphs.load_planetoid("cora", path=str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"received path=.*nowhere.*not a folder"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path / "nowhere"))


class _Call:
    """Pickles as a call of `function` with `argument`: what a hostile file holds."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


@pytest.mark.parametrize("refused", ["os.system", "builtins.eval", "numpy.load"])
def test_unpickler_refuses_other_classes(tmp_path, refused):
    graph_fixtures.write_planetoid_fixture(tmp_path, "cora")
    marker = tmp_path / "marker"
    if refused == "os.system":  # written by hand, as an attacker would
        payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    elif refused == "builtins.eval":
        call = _Call(eval, f"open({str(marker)!r}, 'w')")
        payload = pickle.dumps(call, protocol=2, fix_imports=False)
    else:
        payload = pickle.dumps(_Call(np.load, str(marker)), protocol=2)
    (tmp_path / "ind.cora.graph").write_bytes(payload)
    with pytest.raises(
        ValueError, match=rf"ind\.cora\.graph is not .*refusing to unpickle {refused}:"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path))
    assert not marker.exists()


def test_corrupt_files_are_named(tmp_path):
    graph_fixtures.write_planetoid_fixture(tmp_path, "cora")
    allx = tmp_path / "ind.cora.allx"
    data = allx.read_bytes()
    allx.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"ind\.cora\.allx is not a readable Planetoid file"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path))
    allx.write_bytes(data)

    (tmp_path / "ind.cora.ty").write_bytes(b"not a pickle at all")
    with pytest.raises(
        ValueError, match=r"ind\.cora\.ty is not a readable Planetoid file"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path))

    files, _ = graph_fixtures.planetoid_fixture("cora")
    (tmp_path / "ind.cora.ty").write_bytes(graph_fixtures.py2_pickle(files["ty"][:-1]))
    with pytest.raises(
        ValueError, match=r"ind\.cora\.ty disagrees .*9 rows, but tx has 10"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path))
    (tmp_path / "ind.cora.ty").write_bytes(graph_fixtures.py2_pickle(files["ty"]))

    (tmp_path / "ind.cora.graph").write_bytes(graph_fixtures.py2_pickle(files["ty"]))
    with pytest.raises(
        ValueError, match=r"ind\.cora\.graph .*expected a dict of adjacency"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path))
    (tmp_path / "ind.cora.graph").write_bytes(graph_fixtures.py2_pickle({0: [1, 30]}))
    with pytest.raises(
        ValueError, match=r"ind\.cora\.graph: .*holds index 30 .*\[0, 30\)"
    ):
        graphs.load_planetoid("cora", path=str(tmp_path))

    (tmp_path / "ind.cora.test.index").write_text("20\n21\nabc\n")
    with pytest.raises(ValueError, match=r"ind\.cora\.test\.index is not a readable"):
        graphs.load_planetoid("cora", path=str(tmp_path))


def test_download_then_cache(tmp_path, monkeypatch):
    source = tmp_path / "source"
    expected = graph_fixtures.write_planetoid_fixture(source, "cora")
    urls = []

    def fake_download(url, path):
        urls.append(url)
        shutil.copy(source / url.rsplit("/", 1)[-1], path)

    monkeypatch.setattr(graphs.planetoid, "_download", fake_download)
    # The fixture is not the canonical Cora, whose SHA-256 the loader checks.
    monkeypatch.setitem(graphs.planetoid.PLANETOID_SHA256, "cora", None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    graph = graphs.load_planetoid("cora")
    np.testing.assert_array_equal(graph.node_features, expected["node_features"])
    np.testing.assert_array_equal(graph.edges, expected["edges"])
    assert sorted(urls) == sorted(
        f"https://github.com/kimiyoung/planetoid/raw/master/data/ind.cora.{s}"
        for s in graphs.PLANETOID_SUFFIXES
    )
    cache = tmp_path / "keras_home" / "datasets" / "planetoid"
    assert sorted(os.listdir(cache)) == sorted(
        f"ind.cora.{s}" for s in graphs.PLANETOID_SUFFIXES
    )
    again = graphs.load_planetoid("cora")
    assert len(urls) == 8  # nothing downloaded the second time
    np.testing.assert_array_equal(again.labels, graph.labels)
    # An explicit cache_dir downloads into it.
    graphs.load_planetoid("cora", cache_dir=str(tmp_path / "elsewhere"))
    assert len(urls) == 16 and (tmp_path / "elsewhere" / "ind.cora.x").is_file()


def test_failed_download_names_the_url_and_leaves_nothing(tmp_path, monkeypatch):
    def offline(url, path):
        raise OSError("network is unreachable")

    monkeypatch.setattr(graphs.planetoid, "_download", offline)
    with pytest.raises(
        OSError, match=r"could not download https://github\.com/.*ind\.cora\.x.*path="
    ):
        graphs.load_planetoid("cora", cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_real_downloader_with_file_urls(tmp_path):
    # urllib reads file:// URLs, which exercises the downloader offline.
    source = tmp_path / "source.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    target = tmp_path / "target.bin"
    graphs.planetoid._download(source.as_uri(), str(target))
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(OSError):
        graphs.planetoid._download(
            (tmp_path / "absent").as_uri(), str(tmp_path / "never")
        )
    assert sorted(os.listdir(tmp_path)) == ["source.bin", "target.bin"]


# --- Graph and edge checks ---------------------------------------------------


def test_graph_and_edges_are_checked():
    features = np.zeros((3, 2))
    with pytest.raises(
        ValueError,
        match=r"edges holds index 3 at \[1, 1\].*\[0, 3\) for num_nodes=3",
    ):
        graphs.Graph(features, [[0, 1], [1, 3]])
    with pytest.raises(ValueError, match=r"holds index -1 at \[0, 0\]"):
        graphs.Graph(features, [[-1], [1]])
    with pytest.raises(
        ValueError,
        match=r"edges must have shape \[2, E\].*received edges\.shape=\(3, 1\)",
    ):
        graphs.Graph(features, [[0], [1], [2]])
    with pytest.raises(
        ValueError, match="integer indices.*received edges.dtype=float64"
    ):
        graphs.Graph(features, [[0.0], [1.0]])
    with pytest.raises(
        ValueError,
        match=r"node_features must have shape \[N, F\], received shape \(3,\)",
    ):
        graphs.Graph(np.zeros(3), [[0], [1]])
    with pytest.raises(ValueError, match=r"labels must be 3 integers .*shape \(2,\)"):
        graphs.Graph(features, [[0], [1]], labels=[0, 1])
    with pytest.raises(ValueError, match=r"test_mask must be 3 bools .*dtype int64"):
        graphs.Graph(features, [[0], [1]], test_mask=np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"positive_edges holds index 4"):
        graphs.sample_negative_edges(4, [[0], [4]], 1)
    graph = graphs.Graph(features, np.zeros((2, 0)), labels=[0, 1, 1])
    assert graph.edges.dtype == np.int32 and graph.num_edges == 0
    assert graph.node_features.dtype == np.float32 and graph.num_nodes == 3


def test_to_undirected():
    edges = graphs.to_undirected([[2, 0, 0, 1, 1], [0, 1, 1, 1, 2]], 3)
    assert edges.tolist() == [[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]]


# --- Karate club -------------------------------------------------------------


def test_karate_club():
    graph = graphs.karate_club()
    assert graph.num_nodes == 34 and graph.num_classes == 2
    np.testing.assert_array_equal(graph.node_features, np.eye(34))
    assert graph.edges.shape == (2, 156) and len(_pair_set(graph.edges)) == 78
    assert _edge_set(graph.edges) == _edge_set(graph.edges[::-1])
    assert not (graph.edges[0] == graph.edges[1]).any()
    degrees = np.bincount(graph.edges[1], minlength=34)
    assert degrees[0] == 16 and degrees[33] == 17 and degrees[32] == 12
    assert degrees.tolist() == [
        16, 9, 10, 6, 3, 4, 4, 4, 5, 2, 3, 1, 2, 5, 2, 2, 2,
        2, 2, 3, 2, 2, 2, 5, 3, 3, 2, 4, 3, 4, 4, 6, 12, 17,
    ]
    adjacency = np.zeros((34, 34), int)
    adjacency[graph.edges[0], graph.edges[1]] = 1
    assert np.trace(adjacency @ adjacency @ adjacency) // 6 == 45  # triangles
    mr_hi = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 16, 17, 19, 21]
    assert _mask_nodes(graph.labels == 0) == mr_hi
    assert np.bincount(graph.labels).tolist() == [17, 17]
    assert _mask_nodes(graph.train_mask) == [0, 33]
    assert _mask_nodes(graph.test_mask) == [n for n in range(34) if n not in (0, 33)]
    assert not graph.val_mask.any()


# --- Link prediction ---------------------------------------------------------


def test_link_prediction_split_has_no_leakage():
    graph = graphs.karate_club()
    split = graphs.link_prediction_split(graph, 0.1, 0.2, seed=3)
    full = _pair_set(graph.edges)
    train, val, test = map(
        _pair_set, (split.train_edges, split.val_edges, split.test_edges)
    )
    assert (len(train), len(val), len(test)) == (56, 7, 15)
    assert train | val | test == full
    assert not (train & val or train & test or val & test)
    for edges in (split.train_edges, split.val_edges, split.test_edges,
                  split.val_negative_edges, split.test_negative_edges):
        assert edges.dtype == np.int32 and (edges[0] < edges[1]).all()
    # The model passes messages along the training edges only.
    message = _edge_set(split.graph.edges)
    assert message == _edge_set(graphs.to_undirected(split.train_edges, 34))
    assert not {p for p in val | test if p in message or p[::-1] in message}
    np.testing.assert_array_equal(split.graph.node_features, graph.node_features)
    np.testing.assert_array_equal(split.graph.labels, graph.labels)
    # Negatives: as many as the positives, non-edges of the full graph, distinct.
    val_negative = _pair_set(split.val_negative_edges)
    test_negative = _pair_set(split.test_negative_edges)
    assert len(val_negative) == 7 and len(test_negative) == 15
    assert not (val_negative & full or test_negative & full)
    assert not val_negative & test_negative
    # The same seed, the same split; another seed, another.
    again = graphs.link_prediction_split(graph, 0.1, 0.2, seed=3)
    np.testing.assert_array_equal(again.test_edges, split.test_edges)
    np.testing.assert_array_equal(again.test_negative_edges, split.test_negative_edges)
    other = graphs.link_prediction_split(graph, 0.1, 0.2, seed=4)
    assert _pair_set(other.test_edges) != test


def test_fresh_training_negatives():
    split = graphs.link_prediction_split(graphs.karate_club(), seed=0)
    first = split.train_negative_edges(seed=1)
    assert first.shape == split.train_edges.shape
    assert not _pair_set(first) & _pair_set(split.train_edges)
    assert len(_pair_set(first)) == first.shape[1]
    assert _pair_set(split.train_negative_edges(seed=2)) != _pair_set(first)
    np.testing.assert_array_equal(split.train_negative_edges(seed=1), first)
    assert split.train_negative_edges(seed=1, count=5).shape == (2, 5)


def test_negative_sampling_when_few_pairs_are_left():
    # A 5-cycle leaves exactly 5 non-edges, all of which are asked for.
    cycle = [[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]
    negatives = graphs.sample_negative_edges(5, cycle, 5, seed=0)
    assert _pair_set(negatives) == {(0, 2), (0, 3), (1, 3), (1, 4), (2, 4)}
    with pytest.raises(
        ValueError, match=r"count=6 .*num_nodes=5 with 5 edges has only 5 non-edges"
    ):
        graphs.sample_negative_edges(5, cycle, 6)
    with pytest.raises(
        ValueError, match="count must be a non-negative int, received count=-1"
    ):
        graphs.sample_negative_edges(5, cycle, -1)
    assert graphs.sample_negative_edges(5, cycle, 0).shape == (2, 0)


def test_link_prediction_split_errors():
    graph = graphs.karate_club()
    for kwargs, message in (
        (
            dict(val_fraction=-0.1),
            r"val_fraction must be a number in \[0, 1\), received val_fraction=-0.1",
        ),
        (dict(test_fraction=1.0), r"test_fraction must be .*test_fraction=1.0"),
        (dict(val_fraction=True), r"val_fraction must be .*received val_fraction=True"),
        (dict(val_fraction=0.5, test_fraction=0.5), "must be below 1"),
    ):
        with pytest.raises(ValueError, match=message):
            graphs.link_prediction_split(graph, **kwargs)
    path = graphs.Graph(np.eye(4), graphs.to_undirected([[0, 1, 2], [1, 2, 3]], 4))
    with pytest.raises(
        ValueError,
        match=r"too small: validation gets 0.05 of its 3 undirected edges.*at least 20",
    ):
        graphs.link_prediction_split(path)
    edgeless = graphs.Graph(np.eye(4), np.zeros((2, 0), int))
    with pytest.raises(
        ValueError, match="too small: its 0 undirected edges leave none to train on"
    ):
        graphs.link_prediction_split(edgeless, val_fraction=0, test_fraction=0)
    split = graphs.link_prediction_split(path, val_fraction=0, test_fraction=0.34)
    assert split.val_edges.shape == split.val_negative_edges.shape == (2, 0)
    assert split.test_edges.shape == (2, 1) and split.train_edges.shape == (2, 2)


# --- Motif graphs and batching -----------------------------------------------


def _adjacency(graph):
    adjacency = np.zeros((graph.num_nodes, graph.num_nodes), int)
    adjacency[graph.edges[0], graph.edges[1]] = 1
    return adjacency


def test_motif_graphs_have_a_known_answer():
    data = graphs.motif_graphs(200, seed=0)
    labels = [g.graph_label for g in data]
    assert labels.count(1) == labels.count(0) == 100
    assert labels[:20] != sorted(labels[:20])  # shuffled, not in blocks
    for graph in data:
        adjacency = _adjacency(graph)
        np.testing.assert_array_equal(adjacency, adjacency.T)
        assert not np.diag(adjacency).any() and adjacency.sum() == graph.num_edges
        assert 8 <= graph.num_nodes <= 20 and graph.num_classes == 2
        # Class 1 if and only if there is a triangle (the house's roof).
        triangles = np.trace(np.linalg.matrix_power(adjacency, 3)) // 6
        assert triangles == graph.graph_label
        # A tree (n - 6 edges), the motif (6) and its link (1), and at most
        # one extra edge, for either class.
        assert graph.num_edges // 2 - (graph.num_nodes + 1) in (0, 1)
        degrees = adjacency.sum(axis=1)
        expected = np.eye(graphs.MOTIF_MAX_DEGREE + 1)[np.minimum(degrees, 6)]
        np.testing.assert_array_equal(graph.node_features, expected)
    # Either class has graphs of every size.
    for label in (0, 1):
        sizes = {g.num_nodes for g in data if g.graph_label == label}
        assert sizes == set(range(8, 21))


def test_motif_decoy_matches_the_house_in_counts_and_degrees():
    for motif in (graphs.HOUSE_EDGES, graphs.K23_EDGES):
        assert len(motif) == 6
        assert sorted(np.bincount(np.ravel(motif)).tolist()) == [2, 2, 2, 3, 3]
    assert _pair_set(np.transpose(graphs.HOUSE_EDGES)) != _pair_set(
        np.transpose(graphs.K23_EDGES)
    )


def test_motif_counts_and_degrees_do_not_give_the_class_away():
    # A least-squares classifier on each graph's degree histogram and node
    # count, fitted on one sample and scored on another, is at chance. (A
    # 3-layer message-passing model with these features scored 0.99 on the
    # same held-out graphs in a one-off check.)
    def summaries(data):
        batch = graphs.batch_graphs(data)
        counts = np.zeros((batch.num_graphs, graphs.MOTIF_MAX_DEGREE + 3))
        np.add.at(counts[:, :-2], batch.graph_ids, batch.node_features)
        counts[:, -2] = counts[:, :-2].sum(axis=1)
        counts[:, -1] = 1
        return counts, batch.labels

    features, labels = summaries(graphs.motif_graphs(1000, seed=0))
    weights = np.linalg.lstsq(features, 2.0 * labels - 1, rcond=None)[0]
    features, labels = summaries(graphs.motif_graphs(400, seed=1))
    accuracy = np.mean((features @ weights > 0) == labels)
    assert 0.4 < accuracy < 0.6


def test_motif_graphs_are_deterministic():
    first = graphs.motif_graphs(30, seed=5, extra_edges=2)
    second = graphs.motif_graphs(30, seed=5, extra_edges=2)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_array_equal(a.node_features, b.node_features)
        assert a.graph_label == b.graph_label
    other = graphs.motif_graphs(30, seed=6, extra_edges=2)
    assert [g.num_nodes for g in other] != [g.num_nodes for g in first]
    constant = graphs.motif_graphs(
        5, seed=0, features="constant", min_nodes=6, max_nodes=6
    )
    for graph in constant:
        np.testing.assert_array_equal(graph.node_features, np.ones((6, 1)))
    assert [g.graph_label for g in graphs.motif_graphs(5, seed=0)].count(1) == 2


def test_motif_graphs_errors():
    with pytest.raises(
        ValueError,
        match="num_graphs must be a non-negative int, received num_graphs=-1",
    ):
        graphs.motif_graphs(-1)
    with pytest.raises(
        ValueError, match="min_nodes must be an int of at least 6.*min_nodes=5"
    ):
        graphs.motif_graphs(2, min_nodes=5)
    with pytest.raises(
        ValueError, match="max_nodes must be .*min_nodes=9, received max_nodes=8"
    ):
        graphs.motif_graphs(2, min_nodes=9, max_nodes=8)
    with pytest.raises(
        ValueError, match="features must be 'degree' or 'constant'.*'onehot'"
    ):
        graphs.motif_graphs(2, features="onehot")


def test_batch_graphs_offsets():
    data = graphs.motif_graphs(4, seed=2)
    batch = graphs.batch_graphs(data)
    sizes = [g.num_nodes for g in data]
    offsets = np.cumsum([0] + sizes[:-1])
    assert batch.num_graphs == 4
    assert batch.node_features.shape == (sum(sizes), graphs.MOTIF_MAX_DEGREE + 1)
    assert batch.edges.shape == (2, sum(g.num_edges for g in data))
    assert batch.edges.dtype == batch.graph_ids.dtype == batch.labels.dtype == np.int32
    assert batch.labels.tolist() == [g.graph_label for g in data]
    assert batch.graph_ids.tolist() == sum(([i] * n for i, n in enumerate(sizes)), [])
    # No edge joins two graphs, and each graph's edges come back unshifted.
    ids = batch.graph_ids
    assert (ids[batch.edges[0]] == ids[batch.edges[1]]).all()
    start = 0
    for graph, offset in zip(data, offsets):
        part = batch.edges[:, start : start + graph.num_edges]
        np.testing.assert_array_equal(part - offset, graph.edges)
        np.testing.assert_array_equal(
            batch.node_features[offset : offset + graph.num_nodes], graph.node_features
        )
        start += graph.num_edges
    assert graphs.batch_graphs([graphs.karate_club()]).labels is None
    with pytest.raises(ValueError, match="at least one Graph, received none"):
        graphs.batch_graphs([])
    with pytest.raises(ValueError, match="graph 0 has 7, graph 1 has 34"):
        graphs.batch_graphs([data[0], graphs.karate_club()])


# --- TU ----------------------------------------------------------------------


def _assert_tu(loaded, expected):
    assert len(loaded) == len(expected)
    for graph, want in zip(loaded, expected):
        np.testing.assert_allclose(graph.node_features, want["node_features"])
        assert graph.edges.tolist() == want["edges"]
        assert graph.graph_label == want["graph_label"]
        assert graph.num_classes == 2 and graph.name == "TOY"


def test_load_tu_from_a_folder(tmp_path):
    expected = graph_fixtures.write_tu_fixture(tmp_path / "TOY")
    loaded, num_classes = graphs.load_tu("TOY", path=str(tmp_path / "TOY"))
    assert num_classes == 2
    _assert_tu(loaded, expected)
    assert loaded[0].node_features.shape == (3, 6)  # 2 attributes, labels 1..4
    # A folder that holds the data set's folder works too.
    _assert_tu(graphs.load_tu("TOY", path=str(tmp_path))[0], expected)


def test_load_tu_without_node_files(tmp_path):
    expected = graph_fixtures.write_tu_fixture(
        tmp_path, node_attributes=False, node_labels=False
    )
    loaded, _ = graphs.load_tu("TOY", path=str(tmp_path))
    _assert_tu(loaded, expected)
    assert all(g.node_features.shape == (g.num_nodes, 1) for g in loaded)
    expected = graph_fixtures.write_tu_fixture(
        tmp_path / "labels", node_attributes=False
    )
    loaded, _ = graphs.load_tu("TOY", path=str(tmp_path / "labels"))
    _assert_tu(loaded, expected)
    assert loaded[1].node_features.tolist()[0] == [0, 0, 0, 1]  # label 4


def test_load_tu_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"TOY_A\.txt is missing"):
        graphs.load_tu("TOY", path=str(tmp_path))
    graph_fixtures.write_tu_fixture(tmp_path)
    os.remove(tmp_path / "TOY_graph_labels.txt")
    with pytest.raises(FileNotFoundError, match=r"TOY_graph_labels\.txt is missing"):
        graphs.load_tu("TOY", path=str(tmp_path))
    graph_fixtures.write_tu_fixture(tmp_path)
    with open(tmp_path / "TOY_A.txt", "a") as file:
        file.write("3, 4\n")
    with pytest.raises(
        ValueError,
        match=r"TOY_A\.txt line 15 joins node 3 of graph 1 and node 4 of graph 2",
    ):
        graphs.load_tu("TOY", path=str(tmp_path))
    (tmp_path / "TOY_A.txt").write_text("1, 10\n")
    with pytest.raises(
        ValueError, match=r"TOY_A\.txt line 1 holds nodes \[1, 10\], but .* has 9 nodes"
    ):
        graphs.load_tu("TOY", path=str(tmp_path))
    (tmp_path / "TOY_A.txt").write_text("1, x\n")
    with pytest.raises(ValueError, match=r"TOY_A\.txt is not a readable TU file"):
        graphs.load_tu("TOY", path=str(tmp_path))
    graph_fixtures.write_tu_fixture(tmp_path)
    (tmp_path / "TOY_node_labels.txt").write_text("1\n2\n")
    with pytest.raises(
        ValueError, match=r"TOY_node_labels\.txt has 2 rows, but .* has 9 nodes"
    ):
        graphs.load_tu("TOY", path=str(tmp_path))
    for name in ("", "../MUTAG", ".hidden", 3):
        with pytest.raises(ValueError, match="name must be a TU data set's name"):
            graphs.load_tu(name, path=str(tmp_path))


def test_load_tu_download_then_cache(tmp_path, monkeypatch):
    expected = graph_fixtures.write_tu_fixture(tmp_path / "source")
    urls = []

    def fake_download(url, path):
        urls.append(url)
        graph_fixtures.zip_folder(tmp_path / "source", path, "TOY")

    monkeypatch.setattr(graphs.tu, "_download", fake_download)
    cache = tmp_path / "cache"
    loaded, _ = graphs.load_tu("TOY", cache_dir=str(cache))
    _assert_tu(loaded, expected)
    assert urls == ["https://www.chrsmrrs.com/graphkerneldatasets/TOY.zip"]
    assert (cache / "TOY" / "TOY_A.txt").is_file()
    _assert_tu(graphs.load_tu("TOY", cache_dir=str(cache))[0], expected)
    assert len(urls) == 1


def test_load_tu_bad_zip_is_deleted(tmp_path, monkeypatch):
    def fake_download(url, path):
        Path(path).write_bytes(b"<html>not found</html>")

    monkeypatch.setattr(graphs.tu, "_download", fake_download)
    with pytest.raises(ValueError, match=r"TOY\.zip is not a zip file .*deleted"):
        graphs.load_tu("TOY", cache_dir=str(tmp_path))
    assert not (tmp_path / "TOY.zip").exists()


def test_module_docstring_examples():
    # Every module of the package: `testmod(graphs)` alone runs only the
    # package's own docstring, not those of the names it re-exports.
    attempted = {}
    for name in ["graphs"] + [m.name for m in pkgutil.iter_modules(graphs.__path__)]:
        module = importlib.import_module(
            graphs.__name__ if name == "graphs" else f"{graphs.__name__}.{name}"
        )
        result = doctest.testmod(module)
        assert result.failed == 0, (name, result)
        attempted[name] = result.attempted
    with_examples = ("graphs", "core", "link_prediction", "synthetic")
    assert all(attempted[name] > 0 for name in with_examples), attempted
