"""Interchange with TensorFlow GNN: `tfgnn.GraphTensor` to and from our graphs.

TF-GNN's `GraphTensor` is the common format of TF-GNN pipelines; this module
converts between it and `keras_attention.data.graphs` (`Graph`, `GraphBatch`)
and turns a `tf.data` pipeline of GraphTensors into the `(node_features,
edges)` inputs of the sparse graph layers. Only the GraphTensor is shared;
TF-GNN's own layers are not needed.

A GraphTensor here is homogeneous in the sets used: one node set (default
"nodes") whose `feature_name` feature is `[N, F]`, and one edge set (default
"edges") running from that node set to itself. Edge `e` goes from its
`tfgnn.SOURCE` node to its `tfgnn.TARGET` node, so `source` is our row 0 (the
sender) and `target` our row 1 (the receiver): a TF-GNN layer with
`receiver_tag=tfgnn.TARGET` aggregates where our layers do. Several graphs are
one GraphTensor with one component per graph (a `GraphBatch`, the disjoint
union that `batch_graphs` builds); node indices are global across components,
as in `GraphBatch.edges`. Other node sets, edge sets and features may be
present and are ignored.

Labels travel as features: a `Graph`'s node `labels` and `train_mask`,
`val_mask`, `test_mask` as node features (`label_feature`, default "label",
and the mask names), its `graph_label` (or a `GraphBatch`'s `labels`) as the
context feature `label_feature`, one per component. A graph's `name` and
`num_classes` are not carried.

TensorFlow only: a GraphTensor is made of TensorFlow tensors, so this module
needs TensorFlow installed (importing it without raises an `ImportError` that
says so). It does not need the TensorFlow backend of Keras: it converts data,
and the arrays it gives feed `model.fit` on any backend. TF-GNN 1.0 runs on
Keras 2 only: it needs the `tf-keras` package and `TF_USE_LEGACY_KERAS=1` in
the environment before TensorFlow is first imported (Keras 3 models, `import
keras`, still work in that process). Install both with the extra: `pip
install "keras-attention[gnn]"`. TF-GNN is imported only when a function here
is called, with an `ImportError` saying what to do when it cannot be.

Shapes: `N` nodes, `E` edges, `F` node features, `Fe` edge features, `G`
graphs (components).

Example (in a process started with `TF_USE_LEGACY_KERAS=1`):

>>> from keras_attention.data import graphs
>>> graph_tensor = to_graph_tensor(graphs.karate_club())
>>> graph_tensor.node_sets["nodes"]["hidden_state"].shape
TensorShape([34, 34])
>>> back = from_graph_tensor(graph_tensor)
>>> bool((back.edges == graphs.karate_club().edges).all())
True
>>> dataset = tf.data.Dataset.from_tensors(graph_tensor).map(graph_tensor_to_inputs)
>>> node_features, edges = next(iter(dataset))
>>> tuple(node_features.shape), tuple(edges.shape), edges.dtype.name
((34, 34), (2, 156), 'int32')
"""

import os

import numpy as np

from keras_attention._tensorflow import import_tensorflow
from keras_attention.data.graphs import Graph, GraphBatch, validate_edges

tf = import_tensorflow("keras_attention.tfgnn (TF-GNN's GraphTensor)")

# TF-GNN's `tfgnn.HIDDEN_STATE`, spelled out so the defaults need no import.
HIDDEN_STATE = "hidden_state"
LABEL = "label"
MASK_FIELDS = ("train_mask", "val_mask", "test_mask")

INSTALL_HINT = (
    'install the [gnn] extra (pip install "keras-attention[gnn]", which brings '
    "tensorflow-gnn and tf-keras) and set TF_USE_LEGACY_KERAS=1 in the "
    "environment before TensorFlow is imported"
)


def _legacy_keras_requested():
    # The values TensorFlow itself accepts (tensorflow/python/util/lazy_loader.py).
    return os.environ.get("TF_USE_LEGACY_KERAS") in ("true", "True", "1")


def _import_error_message(error):
    """What to do about `error`, raised while importing `tensorflow_gnn`."""
    text = str(error)
    if "Keras version 2" in text or "requires tf.keras" in text:
        if _legacy_keras_requested():
            return (
                "keras_attention.tfgnn needs TF-GNN, which runs on Keras 2 only: "
                "TF_USE_LEGACY_KERAS=1 is set now, but it was set too late. "
                "TensorFlow had already bound tf.keras to Keras 3 before it was "
                "set, and that choice is made once per process. Set "
                "TF_USE_LEGACY_KERAS=1 before TensorFlow is first imported: in "
                "the shell (TF_USE_LEGACY_KERAS=1 python ...) or with "
                "os.environ at the very top of the program, before any "
                f"`import tensorflow` or `import keras`. (TF-GNN said: {text})"
            )
        return (
            "keras_attention.tfgnn needs TF-GNN, which runs on Keras 2 only, and "
            "TF_USE_LEGACY_KERAS is not set, so tf.keras is Keras 3: "
            f"{INSTALL_HINT}. (TF-GNN said: {text})"
        )
    missing = getattr(error, "name", None)
    what = f"the module {missing!r} is missing" if missing else f"({text})"
    return f"keras_attention.tfgnn needs TF-GNN, but {what}: {INSTALL_HINT}."


def _import_tfgnn():
    try:
        import tensorflow_gnn as tfgnn
    except ImportError as error:
        raise ImportError(_import_error_message(error)) from error
    return tfgnn


def _check_name(argument, value):
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{argument} must be a non-empty str, received {argument}={value!r}"
        )


# --- to a GraphTensor ---------------------------------------------------------


def _graph_pieces(graph, label_feature):
    """Sizes `[G]`, edges `[2, E]` and the features of each piece of a Graph."""
    node_fields = {}
    if graph.labels is not None:
        node_fields[label_feature] = graph.labels
    for field in MASK_FIELDS:
        mask = getattr(graph, field)
        if mask is not None:
            node_fields[field] = mask
    context = {}
    if graph.graph_label is not None:
        context[label_feature] = np.asarray([graph.graph_label], np.int32)
    node_sizes = np.asarray([graph.num_nodes], np.int32)
    edge_sizes = np.asarray([graph.num_edges], np.int32)
    return node_sizes, edge_sizes, graph.edges, node_fields, context


def _batch_pieces(batch, label_feature):
    """The same for a GraphBatch, one component per graph, after checking
    that nodes and edges come graph after graph and no edge joins two."""
    features = np.asarray(batch.node_features)
    if features.ndim != 2:
        raise ValueError(
            f"node_features must have shape [N, F], received shape "
            f"{features.shape}"
        )
    num_nodes, num_graphs = len(features), batch.num_graphs
    if not isinstance(num_graphs, (int, np.integer)) or num_graphs < 0:
        raise ValueError(
            f"num_graphs must be an int >= 0, received num_graphs={num_graphs!r}"
        )
    graph_ids = np.asarray(batch.graph_ids)
    if graph_ids.shape != (num_nodes,) or not np.issubdtype(
        graph_ids.dtype, np.integer
    ):
        raise ValueError(
            f"graph_ids must be {num_nodes} integers (one per node), received "
            f"dtype {graph_ids.dtype} and shape {graph_ids.shape}"
        )
    if num_nodes and (graph_ids.min() < 0 or graph_ids.max() >= num_graphs):
        raise ValueError(
            f"graph_ids must be in [0, {num_graphs}) for num_graphs={num_graphs}, "
            f"received values from {graph_ids.min()} to {graph_ids.max()}"
        )
    if (np.diff(graph_ids) < 0).any():
        node = int(np.argmax(np.diff(graph_ids) < 0)) + 1
        raise ValueError(
            f"graph_ids must not decrease (a GraphTensor stores each graph's "
            f"nodes together, as batch_graphs makes them), but node {node} is "
            f"in graph {graph_ids[node]} after a node of graph "
            f"{graph_ids[node - 1]}"
        )
    edges = validate_edges(batch.edges, num_nodes, "edges")
    sender_graph, receiver_graph = graph_ids[edges[0]], graph_ids[edges[1]]
    crossing = sender_graph != receiver_graph
    if crossing.any():
        edge = int(np.argmax(crossing))
        raise ValueError(
            f"edge {edge} ({edges[0, edge]} -> {edges[1, edge]}) joins graph "
            f"{sender_graph[edge]} and graph {receiver_graph[edge]}; a batch's "
            f"edges must stay inside their graph"
        )
    if (np.diff(sender_graph) < 0).any():
        edge = int(np.argmax(np.diff(sender_graph) < 0)) + 1
        raise ValueError(
            f"edges must come graph after graph (a GraphTensor stores each "
            f"graph's edges together, as batch_graphs makes them), but edge "
            f"{edge} is in graph {sender_graph[edge]} after an edge of graph "
            f"{sender_graph[edge - 1]}"
        )
    context = {}
    if batch.labels is not None:
        context[label_feature] = _integers("labels", batch.labels, (num_graphs,))
    node_sizes = np.bincount(graph_ids, minlength=num_graphs).astype(np.int32)
    edge_sizes = np.bincount(sender_graph, minlength=num_graphs).astype(np.int32)
    return node_sizes, edge_sizes, edges, {}, context


def to_graph_tensor(
    graph,
    node_set="nodes",
    edge_set="edges",
    feature_name=HIDDEN_STATE,
    label_feature=LABEL,
):
    """A `tfgnn.GraphTensor` holding `graph`.

    Args:
        graph: a `Graph` (one component) or a `GraphBatch` (one component
            per graph, with `graph_ids` that do not decrease and edges that
            come graph after graph and stay inside their graph, as
            `batch_graphs` makes them).
        node_set, edge_set: the names of the node set and the edge set.
        feature_name: the node feature that holds `node_features` `[N, F]`.
        label_feature: the node feature for a `Graph`'s node `labels` `[N]`
            and the context feature for graph labels `[G]`, when present.

    Returns:
        A scalar `GraphTensor` with int32 indices: node set `node_set` with
        `feature_name` float32 `[N, F]` (and `label_feature` int32 `[N]`,
        the masks bool `[N]` where the Graph has them), edge set `edge_set`
        from `node_set` to itself with `source = edges[0]` and
        `target = edges[1]`, and context `label_feature` `[G]` where there
        are graph labels.

    Raises:
        ImportError: when TF-GNN cannot be imported (saying what to do).
        TypeError: when `graph` is neither a `Graph` nor a `GraphBatch`.
        ValueError: naming the argument or array that is wrong.
    """
    tfgnn = _import_tfgnn()
    for argument, value in (
        ("node_set", node_set),
        ("edge_set", edge_set),
        ("feature_name", feature_name),
        ("label_feature", label_feature),
    ):
        _check_name(argument, value)
    if label_feature == feature_name or label_feature in MASK_FIELDS:
        raise ValueError(
            f"label_feature must differ from feature_name and the mask names "
            f"{MASK_FIELDS}, received label_feature={label_feature!r} and "
            f"feature_name={feature_name!r}"
        )
    if feature_name in MASK_FIELDS:
        raise ValueError(
            f"feature_name must differ from the mask names {MASK_FIELDS}, "
            f"received feature_name={feature_name!r}"
        )
    if isinstance(graph, Graph):
        pieces = _graph_pieces(graph, label_feature)
    elif isinstance(graph, GraphBatch):
        pieces = _batch_pieces(graph, label_feature)
    else:
        raise TypeError(
            f"graph must be a keras_attention.data.graphs.Graph or GraphBatch, "
            f"received {type(graph).__name__}"
        )
    node_sizes, edge_sizes, edges, node_fields, context = pieces
    node_features = np.asarray(graph.node_features, np.float32)
    adjacency = tfgnn.Adjacency.from_indices(
        source=(node_set, tf.constant(edges[0], tf.int32)),
        target=(node_set, tf.constant(edges[1], tf.int32)),
    )
    return tfgnn.GraphTensor.from_pieces(
        context=tfgnn.Context.from_fields(
            features={k: tf.constant(v) for k, v in context.items()},
            sizes=tf.ones([len(node_sizes)], tf.int32),
        ),
        node_sets={
            node_set: tfgnn.NodeSet.from_fields(
                sizes=tf.constant(node_sizes),
                features={
                    feature_name: tf.constant(node_features),
                    **{k: tf.constant(v) for k, v in node_fields.items()},
                },
            )
        },
        edge_sets={
            edge_set: tfgnn.EdgeSet.from_fields(
                sizes=tf.constant(edge_sizes), adjacency=adjacency
            )
        },
    )


# --- from a GraphTensor -------------------------------------------------------


def _scalar_graph(tfgnn, graph_tensor):
    """`graph_tensor` checked, with a batch of graphs merged into components."""
    if not isinstance(graph_tensor, tfgnn.GraphTensor):
        raise TypeError(
            f"graph_tensor must be a tfgnn.GraphTensor, received "
            f"{type(graph_tensor).__name__}"
        )
    if graph_tensor.rank != 0:
        graph_tensor = graph_tensor.merge_batch_to_components()
    return graph_tensor


def _homogeneous_pieces(tfgnn, graph_tensor, node_set, edge_set, feature_name):
    """The node set and the adjacency, after checking (statically, so also
    inside `dataset.map`) that they form a graph our layers take."""
    for argument, value in (
        ("node_set", node_set),
        ("edge_set", edge_set),
        ("feature_name", feature_name),
    ):
        _check_name(argument, value)
    if node_set not in graph_tensor.node_sets:
        raise ValueError(
            f"node set {node_set!r} not found: the GraphTensor has node sets "
            f"{sorted(graph_tensor.node_sets)}; pass node_set= one of them"
        )
    if edge_set not in graph_tensor.edge_sets:
        raise ValueError(
            f"edge set {edge_set!r} not found: the GraphTensor has edge sets "
            f"{sorted(graph_tensor.edge_sets)}; pass edge_set= one of them"
        )
    nodes = graph_tensor.node_sets[node_set]
    adjacency = graph_tensor.edge_sets[edge_set].adjacency
    if not isinstance(adjacency, tfgnn.Adjacency):
        raise ValueError(
            f"edge set {edge_set!r} must have a tfgnn.Adjacency (a source and a "
            f"target node per edge), received {type(adjacency).__name__}"
        )
    ends = (adjacency.source_name, adjacency.target_name)
    if ends != (node_set, node_set):
        raise ValueError(
            f"edge set {edge_set!r} runs from node set {ends[0]!r} to node set "
            f"{ends[1]!r}, but the graph layers need a homogeneous graph: both "
            f"ends in node set {node_set!r}"
        )
    if feature_name not in nodes.features:
        raise ValueError(
            f"node set {node_set!r} has no feature {feature_name!r}: it has "
            f"features {sorted(nodes.features)}; pass feature_name= one of them"
        )
    features = nodes[feature_name]
    if not isinstance(features, tf.Tensor) or features.shape.rank != 2 or (
        features.shape[-1] is None
    ):
        raise ValueError(
            f"node feature {feature_name!r} of node set {node_set!r} must be a "
            f"dense [N, F] tensor with a known F, received "
            f"{type(features).__name__} of shape {features.shape}"
        )
    return nodes, adjacency


def _integers(name, value, shape):
    value = np.asarray(value)
    if value.shape != shape or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(
            f"{name} must hold integers of shape {shape}, received dtype "
            f"{value.dtype} and shape {value.shape}"
        )
    return value.astype(np.int32)


def from_graph_tensor(
    graph_tensor,
    node_set="nodes",
    edge_set="edges",
    feature_name=HIDDEN_STATE,
    label_feature=LABEL,
):
    """The arrays of a homogeneous `tfgnn.GraphTensor`, eagerly.

    The inverse of `to_graph_tensor`: `from_graph_tensor(to_graph_tensor(g))`
    holds the same arrays as `g`. A batched (rank-1) GraphTensor is first
    merged into components, as TF-GNN's own models do.

    Args:
        graph_tensor: a `tfgnn.GraphTensor` (eager, not inside `tf.function`;
            use `graph_tensor_to_inputs` there).
        node_set, edge_set: the node set, and the edge set that must run
            from it to itself.
        feature_name: the node feature `[N, F]` to read as `node_features`.
        label_feature: read, where present, as node labels `[N]` (a single
            component only) and as graph labels from the context `[G]`.

    Returns:
        With one component, a `Graph`: `node_features` float32 `[N, F]`,
        `edges` int32 `[2, E]` (row 0 `source`, row 1 `target`), and
        `labels`, the masks and `graph_label` where present. With any other
        number `G` of components, a `GraphBatch`: `node_features`, `edges`
        (global node indices), `graph_ids` int32 `[N]`, `labels` `[G]` (or
        None) and `num_graphs`.

    Raises:
        ImportError: when TF-GNN cannot be imported (saying what to do).
        TypeError: when `graph_tensor` is not a GraphTensor.
        ValueError: when a named set or feature is missing (listing those
            present), the edge set does not run from `node_set` to itself,
            or a feature has the wrong shape or dtype.
    """
    tfgnn = _import_tfgnn()
    _check_name("label_feature", label_feature)
    graph_tensor = _scalar_graph(tfgnn, graph_tensor)
    nodes, adjacency = _homogeneous_pieces(
        tfgnn, graph_tensor, node_set, edge_set, feature_name
    )
    node_features = np.asarray(nodes[feature_name], np.float32)  # [N, F]
    num_nodes = len(node_features)
    edges = validate_edges(
        np.stack([np.asarray(adjacency.source), np.asarray(adjacency.target)]),
        num_nodes,
        f"the indices of edge set {edge_set!r}",
    )  # [2, E]
    node_sizes = np.asarray(nodes.sizes)  # [G]
    num_graphs = len(node_sizes)
    graph_labels = None
    if label_feature in graph_tensor.context.features:
        graph_labels = _integers(
            f"context feature {label_feature!r}",
            graph_tensor.context[label_feature],
            (num_graphs,),
        )
    if num_graphs != 1:
        return GraphBatch(
            node_features=node_features,
            edges=edges,
            graph_ids=np.repeat(np.arange(num_graphs, dtype=np.int32), node_sizes),
            labels=graph_labels,
            num_graphs=num_graphs,
        )
    extras = {}
    if label_feature in nodes.features:
        extras["labels"] = _integers(
            f"node feature {label_feature!r}", nodes[label_feature], (num_nodes,)
        )
    for field in MASK_FIELDS:
        if field in nodes.features:
            extras[field] = np.asarray(nodes[field])
    if graph_labels is not None:
        extras["graph_label"] = int(graph_labels[0])
    return Graph(node_features=node_features, edges=edges, **extras)


def graph_tensor_to_inputs(
    graph_tensor,
    node_set="nodes",
    edge_set="edges",
    feature_name=HIDDEN_STATE,
    edge_feature=None,
    graph_ids=False,
):
    """The inputs of the sparse graph layers, from a GraphTensor, as tensors.

    Made for `dataset.map` over a TF-GNN `tf.data` pipeline (it uses only
    TensorFlow ops and checks only static shapes), and works eagerly too.
    A batched (rank-1) GraphTensor, as `dataset.batch` makes, is merged into
    one graph of several components first.

    Example:

    >>> inputs = dataset.map(graph_tensor_to_inputs)  # doctest: +SKIP
    >>> for node_features, edges in inputs:  # doctest: +SKIP
    ...     outputs = layer(node_features, edges)

    Args:
        graph_tensor: a `tfgnn.GraphTensor`, scalar or rank 1.
        node_set, edge_set: the node set, and the edge set that must run
            from it to itself.
        feature_name: the node feature `[N, F]` to return.
        edge_feature: the name of an edge feature `[E, Fe]` to return too
            (for `GraphAttention`'s `edge_features`), or None.
        graph_ids: also return each node's component, for a readout such as
            `GraphPooling`.

    Returns:
        The tuple `(node_features, edges[, edge_features][, graph_ids])`:
        `node_features` `[N, F]` in the feature's dtype, `edges` int32
        `[2, E]` (row 0 `source`, row 1 `target`), `edge_features`
        `[E, Fe]`, `graph_ids` int32 `[N]`.

    Raises:
        ImportError: when TF-GNN cannot be imported (saying what to do).
        ValueError: as `from_graph_tensor`, and for a missing or
            wrongly shaped `edge_feature`.
    """
    tfgnn = _import_tfgnn()
    graph_tensor = _scalar_graph(tfgnn, graph_tensor)
    nodes, adjacency = _homogeneous_pieces(
        tfgnn, graph_tensor, node_set, edge_set, feature_name
    )
    edges = tf.stack(
        [tf.cast(adjacency.source, tf.int32), tf.cast(adjacency.target, tf.int32)]
    )  # [2, E]
    inputs = [nodes[feature_name], edges]
    if edge_feature is not None:
        _check_name("edge_feature", edge_feature)
        edge_fields = graph_tensor.edge_sets[edge_set].features
        if edge_feature not in edge_fields:
            raise ValueError(
                f"edge set {edge_set!r} has no feature {edge_feature!r}: it has "
                f"features {sorted(edge_fields)}; pass edge_feature= one of "
                f"them or None"
            )
        values = edge_fields[edge_feature]
        if not isinstance(values, tf.Tensor) or values.shape.rank != 2:
            raise ValueError(
                f"edge feature {edge_feature!r} of edge set {edge_set!r} must be "
                f"a dense [E, Fe] tensor, received {type(values).__name__} of "
                f"shape {values.shape}"
            )
        inputs.append(values)
    if graph_ids:
        sizes = tf.cast(nodes.sizes, tf.int32)  # [G]
        inputs.append(tf.repeat(tf.range(tf.size(sizes), dtype=tf.int32), sizes))
    return tuple(inputs)
