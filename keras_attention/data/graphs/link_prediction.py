"""Link prediction: held-out edges (`link_prediction_split`) and sampled
non-edges (`sample_negative_edges`). Each undirected pair appears once,
as a column `(u, v)` of a `[2, *]` int32 array with `u < v`.
"""

import dataclasses
import math

import numpy as np

from keras_attention.data.graphs.core import Graph, to_undirected, validate_edges


def _pairs(edges):
    """Each undirected pair of `edges` once, as `[M, 2]` with `u < v`."""
    lo = np.minimum(edges[0], edges[1]).astype(np.int64)
    hi = np.maximum(edges[0], edges[1]).astype(np.int64)
    keep = lo != hi
    return np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0).reshape(-1, 2)


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def sample_negative_edges(num_nodes, positive_edges, count, seed=0):
    """`count` node pairs that are not edges: negatives for link prediction.

    Each pair is undirected and drawn uniformly from the pairs `u < v` that
    are neither a self loop nor an edge of `positive_edges` in either
    direction; no pair is drawn twice. For fresh training negatives each
    epoch, pass the training edges and a new `seed`.

    Args:
        num_nodes: `N`.
        positive_edges: `[2, E]` edges to avoid (either direction).
        count: how many pairs.
        seed: an int, or a `numpy.random.Generator` to draw from.

    Returns:
        `[2, count]` int32, `u < v` in each column, in random order.

    Example:

    >>> negatives = sample_negative_edges(4, [[0, 1, 2], [1, 2, 3]], 3, seed=0)
    >>> sorted(map(tuple, negatives.T.tolist()))
    [(0, 2), (0, 3), (1, 3)]
    """
    positive_edges = validate_edges(positive_edges, num_nodes, "positive_edges")
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative int, received count={count!r}")
    positive = _pairs(positive_edges)
    positive_keys = positive[:, 0] * num_nodes + positive[:, 1]
    available = num_nodes * (num_nodes - 1) // 2 - len(positive_keys)
    if count > available:
        raise ValueError(
            f"count={count} negative edges asked for, but a graph of "
            f"num_nodes={num_nodes} with {len(positive_keys)} edges has only "
            f"{available} non-edges"
        )
    rng = _rng(seed)
    if count > available // 2:
        # Dense request: rejection sampling would stall, so list every pair.
        lo, hi = np.triu_indices(num_nodes, k=1)
        keys = lo.astype(np.int64) * num_nodes + hi
        keys = keys[~np.isin(keys, positive_keys)]
        chosen = rng.choice(keys, size=count, replace=False)
    else:
        chosen = np.zeros(0, np.int64)
        while len(chosen) < count:
            need = count - len(chosen)
            u = rng.integers(0, num_nodes, size=2 * need + 16)
            v = rng.integers(0, num_nodes, size=2 * need + 16)
            keys = np.minimum(u, v) * num_nodes + np.maximum(u, v)
            fresh = ~np.isin(keys, positive_keys) & ~np.isin(keys, chosen)
            keys = keys[(u != v) & fresh]
            _, first = np.unique(keys, return_index=True)
            chosen = np.concatenate([chosen, keys[np.sort(first)][:need]])
    return np.stack([chosen // num_nodes, chosen % num_nodes]).astype(np.int32)


@dataclasses.dataclass(eq=False)
class LinkSplit:
    """Edges for link prediction, each undirected pair once as `[2, *]` int32
    with `u < v`.

    Attributes:
        graph: the input graph with only the training edges, in both
            directions: the edges a model passes messages along.
        train_edges: the training positives (the same pairs, once each).
        val_edges, test_edges: held-out positives; never in `graph.edges`.
        val_negative_edges, test_negative_edges: as many non-edges of the
            full graph as there are positives, no pair in both.
    """

    graph: Graph
    train_edges: np.ndarray
    val_edges: np.ndarray
    val_negative_edges: np.ndarray
    test_edges: np.ndarray
    test_negative_edges: np.ndarray

    def train_negative_edges(self, seed, count=None):
        """Fresh training negatives (default: one per training edge).

        They avoid the training edges only, so the held-out edges stay
        unseen (as PyTorch Geometric's `negative_sampling` does in training).
        """
        count = self.train_edges.shape[1] if count is None else count
        return sample_negative_edges(
            self.graph.num_nodes, self.train_edges, count, seed
        )


def _check_fraction(value, argument):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
        0 <= value < 1
    ):
        raise ValueError(
            f"{argument} must be a number in [0, 1), received {argument}={value!r}"
        )


def link_prediction_split(graph, val_fraction=0.05, test_fraction=0.1, seed=0):
    """Holds out random edges of `graph` for validation and test.

    The undirected edges (each pair once, self loops dropped) are shuffled
    with `seed`; `floor(val_fraction * M)` of the `M` pairs validate,
    `floor(test_fraction * M)` test and the rest train. Validation and test
    each get as many negatives, sampled from the non-edges of the full graph.

    Returns:
        A `LinkSplit`.

    Raises:
        ValueError: for a fraction outside `[0, 1)` or fractions summing to 1
            or more, or a graph too small to give each part an edge (or to
            have enough non-edges).

    Example:

    >>> from keras_attention.data.graphs import karate_club
    >>> split = link_prediction_split(karate_club(), seed=0)
    >>> split.train_edges.shape, split.val_edges.shape, split.test_edges.shape
    ((2, 68), (2, 3), (2, 7))
    >>> split.graph.edges.shape, split.test_negative_edges.shape
    ((2, 136), (2, 7))
    """
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be below 1 to leave training "
            f"edges, received val_fraction={val_fraction} and "
            f"test_fraction={test_fraction}"
        )
    pairs = _pairs(graph.edges)  # [M, 2]
    num_val = math.floor(val_fraction * len(pairs))
    num_test = math.floor(test_fraction * len(pairs))
    num_train = len(pairs) - num_val - num_test
    for fraction, number, part in (
        (val_fraction, num_val, "validation"),
        (test_fraction, num_test, "test"),
    ):
        if fraction > 0 and number == 0:
            raise ValueError(
                f"graph is too small: {part} gets {fraction} of its "
                f"{len(pairs)} undirected edges, which is none; it needs at "
                f"least {math.ceil(1 / fraction)}"
            )
    if num_train == 0:
        raise ValueError(
            f"graph is too small: its {len(pairs)} undirected edges leave none "
            f"to train on"
        )
    rng = _rng(seed)
    order = rng.permutation(len(pairs))

    def part(indices):
        chosen = pairs[np.sort(indices)]  # sorted by (u, v)
        return chosen.T.astype(np.int32)

    val = part(order[:num_val])
    test = part(order[num_val : num_val + num_test])
    train = part(order[num_val + num_test :])
    negatives = sample_negative_edges(
        graph.num_nodes, graph.edges, num_val + num_test, seed=rng
    )
    return LinkSplit(
        graph=dataclasses.replace(graph, edges=to_undirected(train, graph.num_nodes)),
        train_edges=train,
        val_edges=val,
        val_negative_edges=negatives[:, :num_val],
        test_edges=test,
        test_negative_edges=negatives[:, num_val:],
    )
