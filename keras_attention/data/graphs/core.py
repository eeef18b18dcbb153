"""The graph types: `Graph`, a disjoint union `GraphBatch`, and the checks
and clean-up of `[2, E]` edges.

Every graph is a `Graph`: node features `[N, F]` float32 and directed edges
`[2, E]` int32, row 0 the sender (source) and row 1 the receiver (target) of
each message, so an undirected edge is stored once in each direction. Shape
letters: `N` nodes, `E` directed edges, `F` features, `G` graphs.
"""

import dataclasses

import numpy as np

from keras_attention.layers._graph import check_edges


@dataclasses.dataclass(eq=False)
class Graph:
    """One graph: node features, directed edges and optional labels and masks.

    Args:
        node_features: `[N, F]` float32.
        edges: `[2, E]` int32 node indices in `[0, N)`; row 0 sends, row 1
            receives, so messages flow `edges[0] -> edges[1]`.
        labels: `[N]` int32 node labels, or None.
        train_mask, val_mask, test_mask: `[N]` bool, or None.
        num_classes: the number of node or graph classes, or None.
        name: what the graph is.
        graph_label: the graph's class (int) in a graph classification set,
            or None.

    The arrays are checked and cast on construction; a bad one raises a
    `ValueError` that names it.
    """

    node_features: np.ndarray
    edges: np.ndarray
    labels: np.ndarray = None
    train_mask: np.ndarray = None
    val_mask: np.ndarray = None
    test_mask: np.ndarray = None
    num_classes: int = None
    name: str = "graph"
    graph_label: int = None

    def __post_init__(self):
        features = np.asarray(self.node_features)
        if features.ndim != 2:
            raise ValueError(
                f"node_features must have shape [N, F], received shape "
                f"{features.shape}"
            )
        self.node_features = features.astype(np.float32, copy=False)
        num_nodes = len(features)
        self.edges = validate_edges(self.edges, num_nodes, "edges")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (num_nodes,) or not _is_integer(labels):
                raise ValueError(
                    f"labels must be {num_nodes} integers (one per node), "
                    f"received dtype {labels.dtype} and shape {labels.shape}"
                )
            self.labels = labels.astype(np.int32, copy=False)
        for field in ("train_mask", "val_mask", "test_mask"):
            mask = getattr(self, field)
            if mask is None:
                continue
            mask = np.asarray(mask)
            if mask.shape != (num_nodes,) or mask.dtype != bool:
                raise ValueError(
                    f"{field} must be {num_nodes} bools (one per node), received "
                    f"dtype {mask.dtype} and shape {mask.shape}"
                )
            setattr(self, field, mask)

    @property
    def num_nodes(self):
        return self.node_features.shape[0]

    @property
    def num_edges(self):
        """The number of directed edges, `E`."""
        return self.edges.shape[1]

    @property
    def num_features(self):
        return self.node_features.shape[1]


def _is_integer(array):
    return np.issubdtype(array.dtype, np.integer)


def validate_edges(edges, num_nodes, argument="edges"):
    """`edges` as `[2, E]` int32 after checking it, for a graph of `num_nodes`.

    The layers' check (`GraphAttention` makes it on eager edges), so the
    data and the layers say the same.

    Raises:
        ValueError: naming `argument`, when `edges` is not `[2, E]`, holds
            something other than integers, or holds an index outside
            `[0, num_nodes)` (the message gives the index, where it is and
            `num_nodes`).

    Example:

    >>> validate_edges([[0, 1], [1, 2]], num_nodes=3).dtype
    dtype('int32')
    """
    edges = np.asarray(edges)
    if edges.size == 0:
        edges = edges.astype(np.int32)  # no index to check: any dtype will do
    check_edges(argument, edges, num_nodes, "num_nodes")
    return edges.astype(np.int32)



def _coalesce(senders, receivers, num_nodes):
    """Unique `[2, E]` int32 edges sorted by sender then receiver, no self loops."""
    senders = np.asarray(senders, np.int64)
    receivers = np.asarray(receivers, np.int64)
    keep = senders != receivers
    keys = np.unique(senders[keep] * num_nodes + receivers[keep])
    return np.stack([keys // num_nodes, keys % num_nodes]).astype(np.int32)


def to_undirected(edges, num_nodes):
    """Both directions of every edge, without self loops or duplicates.

    Returns `[2, E]` int32 sorted by sender, then receiver.

    Example:

    >>> to_undirected([[0, 1, 2, 2], [1, 0, 2, 0]], num_nodes=3).tolist()
    [[0, 0, 1, 2], [1, 2, 0, 0]]
    """
    edges = validate_edges(edges, num_nodes)
    return _coalesce(
        np.concatenate([edges[0], edges[1]]),
        np.concatenate([edges[1], edges[0]]),
        num_nodes,
    )


@dataclasses.dataclass(eq=False)
class GraphBatch:
    """Graphs joined into one disjoint union.

    Attributes:
        node_features: `[sum N, F]` float32, graph after graph.
        edges: `[2, sum E]` int32; each graph's edges shifted by the number
            of nodes before it, so no edge joins two graphs.
        graph_ids: `[sum N]` int32, the graph each node belongs to (for a
            segment readout).
        labels: `[G]` int32 graph labels, or None when a graph has none.
        num_graphs: `G`.
    """

    node_features: np.ndarray
    edges: np.ndarray
    graph_ids: np.ndarray
    labels: np.ndarray
    num_graphs: int


def batch_graphs(graphs):
    """One `GraphBatch` holding `graphs` side by side.

    Raises:
        ValueError: for no graphs, or graphs with different feature sizes
            (naming the first that differs).

    Example:

    >>> from keras_attention.data.graphs import motif_graphs
    >>> batch = batch_graphs(motif_graphs(3, seed=1))
    >>> batch.num_graphs, sorted(set(batch.graph_ids.tolist()))
    (3, [0, 1, 2])
    """
    graphs = list(graphs)
    if not graphs:
        raise ValueError("graphs must hold at least one Graph, received none")
    width = graphs[0].num_features
    for index, graph in enumerate(graphs):
        if graph.num_features != width:
            raise ValueError(
                f"every graph must have the same number of features: graph 0 "
                f"has {width}, graph {index} has {graph.num_features}"
            )
    sizes = np.asarray([g.num_nodes for g in graphs])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    labels = [g.graph_label for g in graphs]
    return GraphBatch(
        node_features=np.concatenate([g.node_features for g in graphs]),
        edges=np.concatenate(
            [g.edges + offset for g, offset in zip(graphs, offsets)], axis=1
        ).astype(np.int32),
        graph_ids=np.repeat(np.arange(len(graphs), dtype=np.int32), sizes),
        labels=None if None in labels else np.asarray(labels, np.int32),
        num_graphs=len(graphs),
    )


def dense_adjacency(graph):
    """`graph`'s adjacency `[N, N]` float32, `[i, j] = 1` for the edge `j -> i`.

    Rows are receivers, as `GraphAttention(mode="dense")` and
    `GraphConvolution(mode="dense")` take it (`A @ H` gathers each node's
    senders).

    Example:

    >>> dense_adjacency(Graph(np.ones((3, 1)), [[0, 1], [1, 2]])).tolist()
    [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    adjacency = np.zeros((graph.num_nodes, graph.num_nodes), np.float32)
    adjacency[graph.edges[1], graph.edges[0]] = 1
    return adjacency
