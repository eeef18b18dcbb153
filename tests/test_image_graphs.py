import numpy as np
import pytest

from keras_attention.data import graphs
from keras_attention.data.graphs.images import (
    image_graphs,
    nearest_neighbour_edges,
    pixel_grid_graph,
    superpixel_graph,
    superpixel_segments,
)
from keras_attention.models import gcn_graph_classifier, train_graph_classifier

RNG = np.random.default_rng(0)


def _digit():
    image = np.zeros((28, 28), np.uint8)
    image[5:23, 12:17] = 255  # a "1"
    image[5:9, 9:12] = 180
    return image


def test_the_grid_graph_by_hand():
    image = RNG.integers(0, 256, (28, 28)).astype(np.uint8)
    graph = pixel_grid_graph(image, label=4, size=14)
    assert graph.num_nodes == 196 and graph.graph_label == 4
    # Node (3, 5) is the mean of pixels [6:8, 10:12], centred at (3.5, 5.5) / 14.
    node = 3 * 14 + 5
    np.testing.assert_allclose(graph.node_features[node],
                               [image[6:8, 10:12].mean() / 255, 3.5 / 14, 5.5 / 14],
                               rtol=1e-6)
    # 8 neighbours: 13*14 pairs each way across, down, and 13*13 per
    # diagonal, every pair in both directions.
    assert graph.num_edges == 2 * (2 * 14 * 13 + 2 * 13 * 13)
    pairs = set(map(tuple, graph.edges.T.tolist()))
    assert all((b, a) in pairs for a, b in pairs)
    degree = np.bincount(graph.edges[1], minlength=196)
    assert degree[0] == 3 and degree[node] == 8 and degree.max() == 8


def test_nearest_neighbours_by_hand():
    # Points on a line at 0, 1, 3, 7: with k = 1, each one's nearest is
    # 1, 0, 1, 3, and the edges go both ways.
    edges = nearest_neighbour_edges(np.array([[0.0], [1.0], [3.0], [7.0]]), k=1)
    assert sorted(map(tuple, edges.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1),
                                                     (2, 3), (3, 2)]
    assert nearest_neighbour_edges(np.zeros((1, 2)), k=3).shape == (2, 0)


def test_superpixel_features_are_each_segments_mean_and_centroid():
    image = _digit()
    segments = superpixel_segments(image)
    graph = superpixel_graph(image, label=1)
    ids = np.unique(segments)
    assert graph.num_nodes == len(ids) and 50 <= len(ids) <= 90
    rows, columns = np.indices(image.shape)
    for node, segment in enumerate(ids):
        inside = segments == segment
        want = [image[inside].mean() / 255, (rows[inside] + 0.5).mean() / 28,
                (columns[inside] + 0.5).mean() / 28]
        np.testing.assert_allclose(graph.node_features[node], want, rtol=1e-5, atol=1e-6)
    # Ink and background both become nodes: some bright, most dark.
    assert graph.node_features[:, 0].max() > 0.5 and np.median(graph.node_features[:, 0]) < 0.1


def test_superpixel_edges_are_the_nearest_centroids_both_ways():
    graph = superpixel_graph(_digit(), k=8)
    centroids = graph.node_features[:, 1:].astype(np.float64)
    distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    pairs = set(map(tuple, graph.edges.T.tolist()))
    for i in range(graph.num_nodes):
        for j in np.argsort(distances[i], kind="stable")[:8]:
            assert (int(j), i) in pairs and (i, int(j)) in pairs
    assert all((b, a) in pairs for a, b in pairs)
    assert all(a != b for a, b in pairs)


def test_image_graphs_keep_each_label():
    images = np.stack([_digit(), np.flipud(_digit())])
    made = image_graphs(images, np.array([1, 7]), kind="grid", size=7)
    assert [g.graph_label for g in made] == [1, 7]
    assert [g.num_nodes for g in made] == [49, 49]


@pytest.mark.parametrize("call,message", [
    (lambda: pixel_grid_graph(np.zeros((28, 28), np.float32)), r"image must be a grey uint8 image"),
    (lambda: pixel_grid_graph(np.zeros((28, 28), np.uint8), size=5), r"size must be an int >= 2 that divides"),
    (lambda: superpixel_graph(np.zeros((28, 28), np.uint8), k=0), r"k must be a positive int"),
    (lambda: superpixel_graph(np.zeros((28, 28), np.uint8), label=-1), r"label must be a class id"),
    (lambda: superpixel_segments(np.zeros((28, 28), np.uint8), n_segments=0), r"n_segments must be a positive number"),
    (lambda: image_graphs(np.zeros((2, 28, 28), np.uint8), [1, 2], kind="pixels"), r"kind must be 'superpixels' or 'grid'"),
    (lambda: image_graphs(np.zeros((2, 28, 28), np.uint8), [1]), r"images must be \[N, H, W\] and labels \[N\]"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_gcn_graph_classifier_learns_motifs():
    train, test = graphs.motif_graphs(200, seed=0), graphs.motif_graphs(100, seed=1)
    model = gcn_graph_classifier(7, 2, graphs_per_batch=32)
    assert [layer.name for layer in model.layers if layer.name.startswith("gcn_")] == [
        "gcn_0", "gcn_1", "gcn_2"]
    history, accuracy = train_graph_classifier(model, train, test, epochs=40)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert accuracy > 0.75  # chance 0.5


def test_the_gcn_graph_classifier_pools_each_graph_alone():
    motifs = graphs.motif_graphs(4, seed=0)
    model = gcn_graph_classifier(7, 2, graphs_per_batch=3)
    (features, edges, ids), _, _ = next(iter(graphs.graph_batches(motifs[:3], 3)))
    (a_features, a_edges, a_ids), _, _ = next(iter(graphs.graph_batches(motifs[:1], 3,
                                                                         max_nodes=60)))
    np.testing.assert_allclose(model([features, edges, ids])[0],
                               model([a_features, a_edges, a_ids])[0], atol=1e-5)
