"""Graph helpers shared by the graph layers (private).

Input checks, the edge-index guard, self loops, the segment softmax and the
two layouts of the readouts, in one place for `GraphAttention`,
`GraphConvolution`, `GraphPooling` and `AttentionPooling`. `check_edges` is
also the data's check (`keras_attention.data.graphs.validate_edges`): the
data may import the layers, never the other way round.
"""

import keras
import numpy as np
from keras import ops

from keras_attention.layers._masking import check_mask
from keras_attention.layers._validation import (
    check_positive_int,
    check_shape,
    concrete_values,
)

GRAPH_MODES = ("sparse", "dense")
VERSIONS = ("gat", "gatv2")


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, received {name}={value!r}")


def check_integer(name, tensor):
    try:
        dtype = keras.backend.standardize_dtype(tensor.dtype)
    except ValueError:  # a numpy array of objects or strings
        dtype = str(tensor.dtype)
    if not dtype.startswith(("int", "uint")):
        raise ValueError(
            f"{name} must hold integer indices (int32 or int64), received "
            f"{name}.dtype={dtype}"
        )


def check_indices(name, tensor, size, size_name, note="", edge_list=False):
    """Raise when a concrete `tensor` holds an index outside `[0, size)`.

    Only eager values are checked (see `guard_indices` for traced ones):
    the check runs in numpy on the host, so it raises on every device,
    whereas TensorFlow's gather raises on CPU but returns zeros on GPU.
    With `edge_list`, `tensor` is `[2, E]` and the message also says which
    edge and which end.
    """
    value = concrete_values(tensor)
    if value is None or size is None or value.size == 0:
        return
    bad = (value < 0) | (value >= size)
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        edge = ""
        if edge_list:
            edge = f" (edge {where[1]}'s {('sender', 'receiver')[where[0]]})"
        raise ValueError(
            f"{name} holds index {int(value[where])} at {list(where)}{edge}, but "
            f"indices must be in [0, {size_name}) = [0, {size}) for "
            f"{size_name}={size}{note}"
        )


def check_edges(name, edges, num_nodes, size_name="N", note=""):
    """The one check of a `[2, E]` edge list, for the layers and the data.

    Raises a `ValueError` naming `name` when `edges` (a tensor or a numpy
    array) is not `[2, E]`, holds something other than integers, or, when
    its value is known now, holds an index outside `[0, num_nodes)` (giving
    the index, where it is and `size_name=num_nodes`). `note` ends each
    message, e.g. with the shape of the node features.
    """
    check_shape(name, edges, (2, None), "[2, E]", note)
    check_integer(name, edges)
    check_indices(name, edges, num_nodes, size_name, note, edge_list=True)


def check_sparse_graph(node_features, edges):
    """Shapes, dtype and (when concrete) index range of a `[2, E]` edge list."""
    if len(node_features.shape) != 2:
        raise ValueError(
            "node_features must have shape [N, F] in mode='sparse', received "
            f"node_features.shape={tuple(node_features.shape)}"
        )
    if edges is None:
        raise ValueError("mode='sparse' needs edges [2, E], received edges=None")
    note = f" (node_features.shape={tuple(node_features.shape)})"
    check_edges("edges", edges, node_features.shape[0], "N", note)


def check_dense_graph(node_features, adjacency, node_mask):
    if len(node_features.shape) != 3:
        raise ValueError(
            "node_features must have shape [B, N, F] in mode='dense', received "
            f"node_features.shape={tuple(node_features.shape)}"
        )
    if adjacency is None:
        raise ValueError(
            "mode='dense' needs an adjacency [B, N, N], received adjacency=None"
        )
    batch, nodes = node_features.shape[:2]
    note = f" (node_features.shape={tuple(node_features.shape)})"
    check_shape("adjacency", adjacency, (batch, nodes, nodes), "[B, N, N]", note)
    check_shape("node_features_mask", node_mask, (batch, nodes), "[B, N]", note)
    check_mask("node_features_mask", node_mask)  # bool or 0/1: 0.3 is no mask


def resolve_graph_args(mode, edges, adjacency, node_mask):
    """The connectivity argument of a call: `edges` in sparse mode; in dense
    mode `adjacency`, which may also come as the second positional argument."""
    if mode == "sparse":
        if adjacency is not None:
            raise ValueError(
                "adjacency is for mode='dense'; mode='sparse' takes edges [2, E], "
                f"received adjacency.shape={tuple(adjacency.shape)}"
            )
        if node_mask is not None:
            raise ValueError(
                "node_features_mask is for mode='dense' (padded batches); in "
                "mode='sparse' leave padding nodes out of the graph, received "
                f"node_features_mask.shape={tuple(node_mask.shape)}"
            )
        return edges
    if edges is not None and adjacency is not None:
        raise ValueError(
            "pass the adjacency once, as the second argument or as adjacency=, "
            f"received edges.shape={tuple(edges.shape)} and "
            f"adjacency.shape={tuple(adjacency.shape)}"
        )
    return adjacency if adjacency is not None else edges


def static_or_dynamic(tensor, axis):
    size = tensor.shape[axis]
    return size if size is not None else ops.shape(tensor)[axis]


def guard_indices(indices, size):
    """Indices clamped into range, and whether any was out of range.

    Inside a traced graph nothing can raise portably: TensorFlow's gather
    raises on CPU, returns zeros on GPU and clamps under XLA. Each
    out-of-range index is replaced by 0, so every device computes the same
    finite numbers, and the caller turns the whole output into NaN with
    `poison` when the returned flag is set: a bad index never passes as a
    plausible result.

    Returns:
        `(indices, ok, any_bad)`: int32 indices shaped like the input, a
        boolean tensor of the same shape, and a scalar boolean.
    """
    indices = ops.cast(indices, "int32")
    ok = ops.logical_and(indices >= 0, indices < size)
    return ops.where(ok, indices, 0), ok, ops.any(ops.logical_not(ok))


def poison(tensor, any_bad):
    """`tensor`, or NaN everywhere when `any_bad` (see `guard_indices`)."""
    return ops.where(any_bad, ops.cast(float("nan"), tensor.dtype), tensor)


def sparse_edges(edges, num_nodes, add_self_loops):
    """Senders and receivers of the edges a layer uses, and their weights.

    Args:
        edges: `[2, E]` integer node indices.
        num_nodes: `N`, an int or a scalar tensor.
        add_self_loops: append `N` self loops `i -> i`; an input self loop
            is then dropped (weight 0), as PyTorch Geometric removes and
            re-adds them, so each node has exactly one.

    Returns:
        `(senders, receivers, keep, any_bad)`: int32 `[E']` each, float32
        `[E']` that is 1 for an edge used and 0 for a dropped one, and the
        scalar flag of `guard_indices`. `E' = E + N` with self loops (the
        given edges first, then node `i`'s loop at `E + i`), else `E`.
    """
    edges, ok, any_bad = guard_indices(edges, num_nodes)
    senders, receivers = edges[0], edges[1]
    ok = ops.logical_and(ok[0], ok[1])
    if not add_self_loops:
        return senders, receivers, ops.cast(ok, "float32"), any_bad
    keep = ops.cast(ops.logical_and(ok, senders != receivers), "float32")
    loops = ops.arange(num_nodes, dtype="int32")
    return (
        ops.concatenate([senders, loops]),
        ops.concatenate([receivers, loops]),
        ops.concatenate([keep, ops.ones((num_nodes,), "float32")]),
        any_bad,
    )


def zero_masked(features, node_mask):
    """`features` `[B, N, ...]` with the rows of padding nodes (`node_mask`
    `[B, N]` false) set to 0, selected rather than multiplied, so a NaN or
    inf in a padding node never reaches a real one through a 0 weight
    (`0 * NaN` is NaN). `node_mask` None: `features` unchanged."""
    if node_mask is None:
        return features
    valid = ops.cast(node_mask, "bool")
    for _ in range(len(features.shape) - 2):
        valid = valid[..., None]  # [B, N, 1, ...]
    return ops.where(valid, features, ops.zeros((), features.dtype))


def self_loop_mask(num_nodes):
    """Boolean `[N, N]`, true on the diagonal."""
    index = ops.arange(num_nodes, dtype="int32")
    return index[:, None] == index[None, :]


# PyTorch Geometric's `fill_value="mean"`: a self loop's edge features are
# the mean of the node's other incoming edges' (zeros if it has none).


def sparse_loop_features(edge_features, receivers, keep, num_nodes):
    """`[N, Fe]` float32: each node's mean incoming (kept) edge features.

    edge_features `[E, Fe]`, receivers `[E]` int32, keep `[E]` float32 (0
    for an edge that does not count).
    """
    # Selected, not multiplied: a dropped edge's NaN must not reach the mean.
    features = ops.where(
        keep[:, None] > 0, ops.cast(edge_features, "float32"), 0.0
    )  # [E, Fe]
    total = ops.segment_sum(features, receivers, num_segments=num_nodes)  # [N, Fe]
    count = ops.segment_sum(keep, receivers, num_segments=num_nodes)  # [N]
    return total / ops.maximum(count, 1.0)[:, None]


def dense_loop_features(edge_features, incoming):
    """Edge features `[B, N, N, Fe]` as float32, each diagonal entry replaced
    by the mean over the node's other incoming edges (`incoming` `[B, N, N]`
    bool, row = receiver)."""
    features = ops.cast(edge_features, "float32")
    # Selected, not multiplied: a non-edge's (or padding node's) NaN stays out.
    total = ops.sum(
        ops.where(incoming[..., None], features, 0.0), axis=2
    )  # [B, N, Fe]
    count = ops.sum(ops.cast(incoming, "float32"), axis=2)[..., None]  # [B, N, 1]
    mean = total / ops.maximum(count, 1.0)
    num_nodes = static_or_dynamic(edge_features, 1)
    diagonal = self_loop_mask(num_nodes)[None, :, :, None]
    return ops.where(diagonal, mean[:, :, None, :], features)


def segment_softmax(scores, segment_ids, num_segments, keep=None):
    """Softmax of `scores` `[E, ...]` over each segment, in float32.

    Each segment's max is subtracted before `exp`; entries with `keep == 0`
    get weight 0, and a segment with no kept entry gets none (its sum is
    guarded, so nothing divides by zero). A dropped entry is selected
    away, never multiplied by 0, so a NaN or inf score there (from a
    padding node's features) cannot reach a kept one; and nothing reduces
    over all of `scores`, so `E = 0` gives an empty result.

    Args:
        scores: `[E, ...]` logits of any float dtype.
        segment_ids: `[E]` int32 in `[0, num_segments)`.
        num_segments: the number of segments (an int where it is static).
        keep: optional float32 `[E]`, 1 for the entries that take part.

    Returns:
        float32 weights shaped like `scores`.
    """
    scores = ops.cast(scores, "float32")
    kept = None
    if keep is not None:
        kept = ops.reshape(keep > 0, (-1,) + (1,) * (len(scores.shape) - 1))
        # A dropped entry scores 0 and counts for no segment's max: segments
        # are shifted by the max of their kept entries only (an all-dropped
        # segment by 0), so every shifted score that is kept is <= 0.
        scores = ops.where(kept, scores, 0.0)
        count = ops.segment_sum(
            ops.cast(kept, "float32"), segment_ids, num_segments=num_segments
        )  # [S, 1...]
        maxima = ops.segment_max(
            ops.where(kept, scores, float("-inf")),
            segment_ids,
            num_segments=num_segments,
        )  # [S, ...], -inf (or the lowest float) where nothing is kept
        maxima = ops.where(count > 0, maxima, 0.0)
    else:
        maxima = ops.segment_max(scores, segment_ids, num_segments=num_segments)
    shifted = scores - ops.stop_gradient(ops.take(maxima, segment_ids, axis=0))
    numerators = ops.exp(shifted)
    if kept is not None:
        numerators = ops.where(kept, numerators, 0.0)
    sums = ops.segment_sum(numerators, segment_ids, num_segments=num_segments)
    # A segment's sum is at least 1 (exp(0) at its max) unless nothing in
    # it is kept; then every numerator is 0 and so is the weight.
    sums = ops.maximum(ops.take(sums, segment_ids, axis=0), 1e-30)
    return numerators / sums


def head_dot(x, attention):
    """`[..., H*U]` dotted with one `[U]` vector per head -> `[..., H]`.

    One matrix product with the block-diagonal `[H*U, H]` matrix of
    `attention` `[H, U]`: no 5-D tensors, which TFLite's integer kernels
    do not all take.
    """
    heads, units = attention.shape
    block = ops.reshape(
        attention[:, :, None] * ops.eye(heads, dtype=attention.dtype)[:, None, :],
        (heads * units, heads),
    )
    return ops.matmul(x, ops.cast(block, x.dtype))


def head_sum(x, attention):
    """`[R, H*U]` rows dotted with one `[U]` vector per head -> `[R, H]`.

    The same values as `head_dot`, as a product and a sum per head: `U`
    multiply-adds a score where the block-diagonal product spends `H*U`.
    On a 2-core CPU under XLA (E = 500,000, 8 heads of 8) a training step
    took about as long either way (0.99x to 1.19x of `head_dot`'s time over
    three runs): fewer operations, not a measured gain. For 2-D `x` only:
    the reshape is 3-D, which every TFLite kernel takes, where the dense
    layout's `[B, N, N, H, U]` would be 5-D (use `head_dot` there).
    """
    heads, units = attention.shape
    rows = ops.reshape(x, (-1, heads, units))  # [R, H, U]
    return ops.sum(rows * ops.cast(attention, x.dtype), axis=-1)


# -- readouts -------------------------------------------------------------------

POOLING_MODES = ("mean", "sum", "max")


def check_num_graphs(num_graphs, allow_none=True):
    if num_graphs is None and allow_none:
        return
    check_positive_int("num_graphs", num_graphs)


def readout_layout(layer, node_features, graph_ids, num_graphs, mask):
    """Checks a readout's inputs; returns `G` for a disjoint union (`[N, F]`
    with `graph_ids`) or None for a padded batch (`[B, N, F]`)."""
    note = f" (node_features.shape={tuple(node_features.shape)})"
    rank = len(node_features.shape)
    if rank == 3:
        if graph_ids is not None:
            raise ValueError(
                "graph_ids is for a disjoint union, node_features [N, F]; a "
                "padded batch [B, N, F] is one graph per row, received "
                f"graph_ids.shape={tuple(graph_ids.shape)}{note}"
            )
        batch, nodes = node_features.shape[:2]
        check_shape("mask", mask, (batch, nodes), "[B, N]", note)
        check_mask("mask", mask)  # bool or 0/1: 0.3 is no mask
        return None
    if rank != 2:
        raise ValueError(
            "node_features must have shape [N, F] (a disjoint union, with "
            "graph_ids) or [B, N, F] (a padded batch), received "
            f"node_features.shape={tuple(node_features.shape)}"
        )
    if graph_ids is None:
        raise ValueError(
            f"node_features [N, F] needs graph_ids [N], received graph_ids=None{note}"
        )
    if mask is not None:
        raise ValueError(
            "mask is for a padded batch [B, N, F]; in a disjoint union leave "
            f"padding nodes out, received mask.shape={tuple(mask.shape)}{note}"
        )
    check_shape("graph_ids", graph_ids, (node_features.shape[0],), "[N]", note)
    check_integer("graph_ids", graph_ids)
    if num_graphs is None:
        num_graphs = layer.num_graphs
    if num_graphs is None:
        raise ValueError(
            "a disjoint union needs the number of graphs G as a static int: "
            "pass num_graphs to the constructor or the call, received "
            "num_graphs=None"
        )
    check_num_graphs(num_graphs, allow_none=False)
    check_indices("graph_ids", graph_ids, num_graphs, "num_graphs", note)
    return num_graphs


READOUT_LAYOUTS = """
    Two layouts:

    - a disjoint union (`keras_attention.data.graphs.batch_graphs`): nodes
      `[N, F]` and `graph_ids` `[N]` int, the graph of each node, in
      `[0, G)`; `G` is `num_graphs`, a static int given to the constructor
      or the call. Graph ids are checked as `GraphAttention` checks edges:
      one outside `[0, G)` raises a `ValueError` in eager mode and turns
      the output into NaN inside a traced function.
    - a padded batch: nodes `[B, N, F]` and an optional node mask `[B, N]`
      (the Keras mask of the nodes, or `mask=`), one graph per row.
"""
