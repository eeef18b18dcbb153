"""`tf.data` input pipelines for the reference graph models.

`tf.data` feeds `model.fit` on any Keras backend, so these need TensorFlow
installed, not the TensorFlow backend. TensorFlow is imported when a
pipeline is built, never when this module is.

- `node_dataset`: one graph, its labels and a node mask, for node
  classification.
- `link_dataset` and `link_training_dataset`: node pairs and their labels
  for link prediction, the training one with fresh negatives every epoch.
- `graph_batches`: padded disjoint unions of graphs, for graph
  classification, every batch of one shape so that XLA compiles once.

Shapes: `N` nodes, `E` edges, `F` features, `P` node pairs, `G` graphs in a
batch.
"""

import numpy as np

from keras_attention._tensorflow import import_tensorflow
from keras_attention.data.graphs.core import batch_graphs, dense_adjacency
from keras_attention.layers._validation import check_positive_int


def node_dataset(graph, mask, dense=False):
    """A one-element `tf.data.Dataset`: the whole graph, its labels, and
    `mask` as sample weights, so losses and metrics count the masked nodes
    only. `dense` adds the batch axis and gives the adjacency instead of
    the edges, for models built with `mode="dense"`. A `tf.data` pipeline:
    it needs TensorFlow installed, not the TensorFlow backend, since
    `tf.data` feeds `model.fit` on any Keras backend."""
    inputs = (graph.node_features, graph.edges)
    labels, weights = graph.labels, np.asarray(mask, np.float32)
    if dense:
        inputs = (graph.node_features[None], dense_adjacency(graph)[None])
        labels, weights = labels[None], weights[None]
    tf = import_tensorflow("node_dataset (a tf.data pipeline)")
    return tf.data.Dataset.from_tensors((inputs, labels, weights))


def _link_element(graph, positive_edges, negative_edges):
    """`((node_features, edges, pairs [2, P]), labels [P])`, positives first."""
    pairs = np.concatenate([positive_edges, negative_edges], axis=1)
    labels = np.concatenate(
        [
            np.ones(positive_edges.shape[1], np.float32),
            np.zeros(negative_edges.shape[1], np.float32),
        ]
    )  # [P]
    return (graph.node_features, graph.edges, pairs.astype(np.int32)), labels


def link_dataset(graph, positive_edges, negative_edges):
    """A one-element `tf.data.Dataset` of node pairs to score on `graph`.

    The element is `((node_features [N, F], edges [2, E], pairs [2, P]),
    labels [P])`: the `[2, *]` positive pairs (label 1), then the negative
    ones (label 0), the inputs of `gat_link_predictor`. Messages pass along
    `graph.edges`, so for held-out pairs give the `LinkSplit`'s
    `graph`. A `tf.data` pipeline: it needs TensorFlow installed.
    """
    tf = import_tensorflow("link_dataset (a tf.data pipeline)")
    return tf.data.Dataset.from_tensors(
        _link_element(graph, positive_edges, negative_edges)
    )


def link_training_dataset(split, seed=0):
    """An endless `tf.data.Dataset` of a `LinkSplit`'s training pairs.

    Each element is `link_dataset`'s for `split.graph`: the training edges
    (label 1) and as many non-edges drawn anew for that element (label 0,
    `split.train_negative_edges`), from one generator seeded with `seed`.
    Take one element per epoch (`fit(steps_per_epoch=1)`) for fresh
    negatives every epoch. A `tf.data` pipeline: it needs TensorFlow
    installed.
    """
    tf = import_tensorflow("link_training_dataset (a tf.data pipeline)")
    graph, positives = split.graph, split.train_edges
    # One negative per training pair, so every element has this shape.
    signature = tf.nest.map_structure(
        lambda a: tf.TensorSpec(a.shape, tf.as_dtype(a.dtype)),
        _link_element(graph, positives, positives),
    )
    rng = np.random.default_rng(seed)

    def fresh_negatives():
        while True:
            yield _link_element(graph, positives, split.train_negative_edges(rng))

    return tf.data.Dataset.from_generator(fresh_negatives, output_signature=signature)


def graph_batches(
    graphs, graphs_per_batch, shuffle=False, seed=0, max_nodes=None, max_edges=None
):
    """A `tf.data.Dataset` of padded disjoint unions of `graphs`.

    Each element is `((node_features [Nb, F], edges [2, Eb], graph_ids [Nb]),
    labels [G], weights [G])` for `G = graphs_per_batch` consecutive graphs
    (`batch_graphs`), padded to the same `Nb = G * max_nodes + 1` nodes and
    `Eb = G * max_edges` edges in every batch: the padding nodes have zero
    features and graph id `G` (the slot `gat_graph_classifier` drops), the
    padding edges are self loops of the last padding node, and a short last
    batch's empty slots have label 0 and weight 0. `max_nodes` and
    `max_edges` default to the largest graph's; give the same ones to every
    split to compile once. With `shuffle`, the order changes every time the
    dataset is iterated (every epoch), reproducibly from `seed`. A `tf.data`
    pipeline: it needs TensorFlow installed, not the TensorFlow backend,
    since `tf.data` feeds `model.fit` on any Keras backend.
    """
    graphs = list(graphs)
    if not graphs:
        raise ValueError("graphs must hold at least one Graph, received none")
    check_positive_int("graphs_per_batch", graphs_per_batch)
    max_nodes = max_nodes or max(g.num_nodes for g in graphs)
    max_edges = max_edges or max(g.num_edges for g in graphs)
    for index, graph in enumerate(graphs):
        if graph.num_nodes > max_nodes or graph.num_edges > max_edges:
            raise ValueError(
                f"graph {index} has {graph.num_nodes} nodes and "
                f"{graph.num_edges} edges, more than max_nodes={max_nodes} or "
                f"max_edges={max_edges}"
            )
    num_nodes = graphs_per_batch * max_nodes + 1
    num_edges = graphs_per_batch * max_edges
    width = graphs[0].num_features
    rng = np.random.default_rng(seed)

    def padded(batch, count):
        features = np.zeros((num_nodes, width), np.float32)
        features[: len(batch.node_features)] = batch.node_features
        edges = np.full((2, num_edges), num_nodes - 1, np.int32)
        edges[:, : batch.edges.shape[1]] = batch.edges
        graph_ids = np.full(num_nodes, graphs_per_batch, np.int32)
        graph_ids[: len(batch.graph_ids)] = batch.graph_ids
        labels = np.zeros(graphs_per_batch, np.int32)
        labels[:count] = batch.labels
        weights = (np.arange(graphs_per_batch) < count).astype(np.float32)
        return (features, edges, graph_ids), labels, weights

    def batches():
        order = rng.permutation(len(graphs)) if shuffle else np.arange(len(graphs))
        for start in range(0, len(graphs), graphs_per_batch):
            chosen = [graphs[i] for i in order[start : start + graphs_per_batch]]
            yield padded(batch_graphs(chosen), len(chosen))

    tf = import_tensorflow("graph_batches (a tf.data pipeline)")
    signature = (
        (
            tf.TensorSpec((num_nodes, width), tf.float32),
            tf.TensorSpec((2, num_edges), tf.int32),
            tf.TensorSpec((num_nodes,), tf.int32),
        ),
        tf.TensorSpec((graphs_per_batch,), tf.int32),
        tf.TensorSpec((graphs_per_batch,), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    num_batches = -(-len(graphs) // graphs_per_batch)
    return dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
