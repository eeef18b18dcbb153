"""Reference graph models: node classification (GAT, GCN), link prediction
and graph classification, each a functional `keras.Model` with the training
recipe of its paper.

Every model takes the whole graph, or a disjoint union of graphs, as one
batch: `node_features` `[N, F]` float32 and `edges` `[2, E]` int32 (row 0
sends, row 1 receives), with `N` and `E` free. The training helpers feed it
through `tf.data` datasets whose element is one graph (built by
`keras_attention.data.graphs.pipelines`), and compile with
`jit_compile=True`. XLA compiles once per input shape, so a graph of fixed
size (a citation graph) compiles once, and graph classification pads every
batch to one node and edge budget (`graph_batches`).

Shapes: `N` nodes, `E` edges, `F` features, `C` classes, `P` candidate
node pairs, `G` graphs in a batch.

Example:

>>> from keras_attention.data import graphs
>>> karate = graphs.karate_club()
>>> model = gat_node_classifier(karate.num_features, karate.num_classes)
>>> tuple(model([karate.node_features, karate.edges]).shape)
(34, 2)
"""

import keras
import numpy as np
from keras import ops

from keras_attention.data.graphs import (
    graph_batches,
    link_dataset,
    link_training_dataset,
    node_dataset,
)
from keras_attention.layers._graph import GRAPH_MODES, POOLING_MODES, VERSIONS
from keras_attention.layers._graph import check_choice, check_edges, check_indices
from keras_attention.layers._validation import check_positive_int, check_rate
from keras_attention.layers.attention_pooling import AttentionPooling
from keras_attention.layers.graph_attention import GraphAttention
from keras_attention.layers.graph_convolution import GraphConvolution
from keras_attention.layers.graph_pooling import GraphPooling
from keras_attention.models._optimizer import build_optimizer

READOUTS = ("attention",) + POOLING_MODES


def _check_l2(l2):
    if not isinstance(l2, (int, float)) or isinstance(l2, bool) or l2 < 0:
        raise ValueError(f"l2 must be a float >= 0, received l2={l2!r}")


def _l2(l2):
    """The papers' weight decay `l2 * tf.nn.l2_loss(w)`, i.e. `l2/2 * sum w^2`
    (Keras's `L2(l)` adds `l * sum w^2`), or None for 0."""
    return keras.regularizers.L2(l2 / 2) if l2 else None


def _graph_inputs(num_features, mode="sparse"):
    """The two inputs of a one-graph model: nodes and edges (or adjacency)."""
    if mode == "sparse":
        nodes = keras.Input(batch_shape=(None, num_features), name="node_features")
        edges = keras.Input(batch_shape=(2, None), dtype="int32", name="edges")
    else:
        nodes = keras.Input(
            batch_shape=(None, None, num_features), name="node_features"
        )
        edges = keras.Input(batch_shape=(None, None, None), name="adjacency")
    return nodes, edges


# -- the training helpers' input checks -------------------------------------------
#
# Inside a compiled step a bad index cannot raise: the layers turn their
# outputs into NaN (see `GraphAttention`), the loss and every weight follow,
# and `fit` carries on. So each helper checks, in numpy and before training,
# every batch it will feed, and names the batch and the index.


def _check_finite(name, array, note=""):
    array = np.asarray(array)
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"{name} must be finite, received {array[where]} at {list(where)}{note}"
        )


def _check_graph(where, graph, name="graph"):
    """A graph's node features (finite) and edges (in `[0, N)`), in numpy."""
    note = f" ({where}, {name}.node_features.shape={graph.node_features.shape})"
    _check_finite(f"{name}.node_features", graph.node_features, note)
    check_edges(f"{name}.edges", np.asarray(graph.edges), graph.num_nodes, "N", note)


def _check_pairs(where, name, pairs, num_nodes):
    """`[2, P]` node pairs to score, each index in `[0, N)`."""
    check_edges(name, np.asarray(pairs), num_nodes, "N", f" ({where})")


def _check_labels(where, name, labels, num_classes, selected=None):
    """Integer labels in `[0, C)` where `selected` (default everywhere)."""
    labels = np.asarray(labels)
    if selected is not None:
        labels = np.where(selected, labels, 0)  # unlabelled nodes may hold anything
    note = f" ({where}; the model has C={num_classes} logits)"
    check_indices(name, labels, num_classes, "C", note)


def _check_mask(helper, graph, field, required=True):
    mask = getattr(graph, field)
    if mask is None or not np.asarray(mask).any():
        if not required:
            return False
        raise ValueError(
            f"{helper} needs graph.{field} to select at least one node, received "
            f"graph.{field}="
            f"{None if mask is None else f'{int(np.sum(mask))} of {len(mask)} nodes'}"
        )
    return True


class _RaiseOnNaN(keras.callbacks.Callback):
    """Stops training with an error when the loss is NaN or infinite.

    The inputs are checked before training; this catches what no check of
    the inputs can (a learning rate that diverges, a custom model's bad
    index), rather than training on with NaN weights.
    """

    def __init__(self, helper):
        super().__init__()
        self.helper = helper
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise FloatingPointError(
                f"{self.helper}: the training loss became {float(loss)} at epoch "
                f"{self.epoch}, batch {batch}; the model's weights are no longer "
                "usable. An edge index outside [0, N) inside a compiled step "
                "gives NaN (see GraphAttention); else lower the learning rate"
            )


# -- node classification -------------------------------------------------------


def gat_node_classifier(
    num_features,
    num_classes,
    hidden_units=8,
    num_heads=8,
    output_heads=1,
    dropout=0.6,
    l2=5e-4,
    mode="sparse",
    version="gat",
):
    """The GAT of Velickovic et al. (2018) for transductive node classification.

    The paper's Cora and CiteSeer network: a `GraphAttention` layer of
    `num_heads` heads of `hidden_units` units, concatenated (8 x 8 = 64),
    with an ELU; then an output `GraphAttention` layer of `output_heads`
    heads of `num_classes` units, averaged (1 head for Cora, 8 for PubMed),
    giving the logits. Both layers drop their input features and their
    attention coefficients at rate `dropout` (0.6) while training, and the
    kernels and attention vectors of both carry the paper's weight decay
    `l2 * tf.nn.l2_loss(w)` (5e-4; biases are not decayed). Train it with
    `train_node_classifier` (Adam 0.005, patience 100); the paper reports
    83.0 +- 0.7% test accuracy on Cora with row-normalised features.

    One difference from the reference code: each layer drops its input once
    for all heads, as PyTorch Geometric's `GATConv` does (the reference
    draws a mask per head, and also drops the projected values).

    Args:
        num_features: `F`.
        num_classes: `C`.
        hidden_units, num_heads: the first layer's heads.
        output_heads: heads of the output layer, averaged.
        dropout: rate of the input and attention dropout of both layers.
        l2: weight decay coefficient.
        mode: `"sparse"`: inputs `node_features` `[N, F]` and `edges`
            `[2, E]` int32, logits `[N, C]`; `"dense"`: `node_features`
            `[B, N, F]` and `adjacency` `[B, N, N]` (see `GraphAttention`),
            logits `[B, N, C]`.
        version: `"gat"` or `"gatv2"` (Brody, Alon and Yahav 2022).

    Returns:
        An uncompiled functional `keras.Model`, inputs `[node_features,
        edges]`, output the logits.
    """
    check_positive_int("num_features", num_features)
    check_positive_int("num_classes", num_classes)
    check_positive_int("hidden_units", hidden_units)
    check_positive_int("num_heads", num_heads)
    check_positive_int("output_heads", output_heads)
    check_rate("dropout", dropout)
    _check_l2(l2)
    check_choice("mode", mode, GRAPH_MODES)
    check_choice("version", version, VERSIONS)
    shared = dict(
        feature_dropout=dropout,
        dropout=dropout,
        version=version,
        mode=mode,
        kernel_regularizer=_l2(l2),
        attention_regularizer=_l2(l2),
    )
    nodes, edges = _graph_inputs(num_features, mode)
    hidden = GraphAttention(
        hidden_units, num_heads, activation="elu", name="gat_hidden", **shared
    )(nodes, edges)  # [(B,) N, H*U]
    logits = GraphAttention(
        num_classes, output_heads, concat_heads=False, name="gat_output", **shared
    )(hidden, edges)  # [(B,) N, C]
    return keras.Model([nodes, edges], logits, name="gat_node_classifier")


def gcn_node_classifier(
    num_features, num_classes, hidden_units=16, dropout=0.5, l2=5e-4, mode="sparse"
):
    """The two-layer GCN of Kipf and Welling (2017) for node classification.

    `GraphConvolution(hidden_units)` with a ReLU, then
    `GraphConvolution(num_classes)` giving the logits; both drop their input
    at rate `dropout` (0.5) while training, and the first layer's kernel
    carries the weight decay `l2 * tf.nn.l2_loss(w)` (5e-4). The paper
    trains with Adam at 0.01 for at most 200 epochs, stopping when the
    validation loss has not improved for 10 (`train_node_classifier(model,
    graph, 200, learning_rate=0.01, patience=10)`), and reports 81.5% on
    Cora with row-normalised features. The layers keep their biases, as
    PyTorch Geometric's `GCNConv` does (the reference code has none).

    Args:
        num_features, num_classes: `F` and `C`.
        hidden_units: width of the hidden layer.
        dropout: input dropout rate of both layers.
        l2: weight decay of the first layer's kernel.
        mode: `"sparse"` or `"dense"`, as for `gat_node_classifier`.

    Returns:
        An uncompiled functional `keras.Model`, inputs `[node_features,
        edges]`, output the logits `[N, C]` (`[B, N, C]` dense).
    """
    check_positive_int("num_features", num_features)
    check_positive_int("num_classes", num_classes)
    check_positive_int("hidden_units", hidden_units)
    check_rate("dropout", dropout)
    _check_l2(l2)
    check_choice("mode", mode, GRAPH_MODES)
    nodes, edges = _graph_inputs(num_features, mode)
    hidden = GraphConvolution(
        hidden_units,
        activation="relu",
        dropout=dropout,
        mode=mode,
        kernel_regularizer=_l2(l2),
        name="gcn_hidden",
    )(nodes, edges)  # [(B,) N, U]
    logits = GraphConvolution(
        num_classes, dropout=dropout, mode=mode, name="gcn_output"
    )(hidden, edges)  # [(B,) N, C]
    return keras.Model([nodes, edges], logits, name="gcn_node_classifier")


def _is_dense(model):
    return len(model.inputs[0].shape) == 3


def _num_features(model):
    return model.inputs[0].shape[-1]


def _num_classes(model):
    return model.outputs[0].shape[-1]


def _check_features(where, name, graph, model):
    if graph.num_features != _num_features(model):
        raise ValueError(
            f"{name}.node_features must have the model's F={_num_features(model)} "
            f"features, received {name}.node_features.shape="
            f"{graph.node_features.shape} ({where})"
        )


def _check_node_graph(model, graph):
    """`train_node_classifier`'s one batch, checked; whether it validates."""
    helper = "train_node_classifier"
    where = f"{helper}, batch 0 (the whole graph, in training, validation and test)"
    _check_features(where, "graph", graph, model)
    _check_graph(where, graph)
    if graph.labels is None:
        raise ValueError(f"{helper} needs graph.labels, received graph.labels=None")
    _check_mask(helper, graph, "train_mask")
    _check_mask(helper, graph, "test_mask")
    validate = _check_mask(helper, graph, "val_mask", required=False)
    selected = graph.train_mask | graph.test_mask
    if validate:
        selected = selected | graph.val_mask
    _check_labels(where, "graph.labels", graph.labels, _num_classes(model), selected)
    return validate


def train_node_classifier(
    model,
    graph,
    epochs,
    learning_rate=0.005,
    patience=100,
    monitor="val_loss",
    jit_compile=True,
    verbose=0,
):
    """Trains a node classifier on `graph`'s training nodes, full batch.

    Each epoch is one step on the whole graph, the loss (cross-entropy
    averaged over the training nodes, plus the weight decay) and accuracy
    counting `graph.train_mask`'s nodes only; the validation nodes are
    evaluated after each. Adam, compiled with XLA by default. Training stops when
    `monitor` has not improved for `patience` epochs and the best epoch's
    weights are restored (the GAT paper: patience 100 on the validation
    loss and accuracy; Kipf and Welling: a window of 10 on the loss). An
    empty validation mask, or `patience=None`, trains for all `epochs`.

    Seed the run with `keras.utils.set_random_seed` before building the
    model: that fixes the initial weights and the dropout masks.

    Args:
        model: from `gat_node_classifier` or `gcn_node_classifier`, or any
            model with inputs `[node_features, edges]` and logits `[N, C]`
            (or dense ones, `[B, N, F]` and `[B, N, N]` to `[B, N, C]`).
        graph: a `keras_attention.data.graphs.Graph` with labels and masks.
        epochs: the most epochs to train.
        learning_rate: Adam's.
        patience: epochs without improvement before stopping, or None.
        monitor: `"val_loss"` or `"val_accuracy"`.
        jit_compile: XLA for training and evaluation. On a CPU, XLA draws
            dropout masks with ThreeFry, about 50x slower than TensorFlow's
            own kernel: a GAT step on Cora takes ~0.9 s with XLA and ~40 ms
            without (`bench/gat_accuracy.py`), so pass False there.
        verbose: passed to `fit`.

    Returns:
        `(history, test_accuracy)`: the `keras.callbacks.History` and the
        accuracy over `graph.test_mask`'s nodes.

    Raises:
        ValueError: before training, naming the batch and the entry, for an
            edge index outside `[0, N)`, a non-finite feature, a label
            outside `[0, C)`, or an empty training or test mask (as every
            helper here checks all it will feed, in numpy).
        FloatingPointError: when the training loss becomes NaN or infinite.
    """
    check_positive_int("epochs", epochs)
    check_choice("monitor", monitor, ("val_loss", "val_accuracy"))
    validate = _check_node_graph(model, graph)
    dense = _is_dense(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    build_optimizer(model)
    callbacks = [_RaiseOnNaN("train_node_classifier")]
    if validate and patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=patience, restore_best_weights=True
            )
        )
    val = node_dataset(graph, graph.val_mask, dense) if validate else None
    history = model.fit(
        node_dataset(graph, graph.train_mask, dense),
        validation_data=val,
        epochs=epochs,
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    test = model.evaluate(
        node_dataset(graph, graph.test_mask, dense), verbose=0, return_dict=True
    )
    return history, test["accuracy"]


# -- link prediction -----------------------------------------------------------


def gat_link_predictor(
    num_features,
    hidden_units=8,
    num_heads=8,
    embedding_dim=16,
    dropout=0.0,
    l2=0.0,
    version="gat",
):
    """A GAT encoder with a dot-product decoder, for link prediction.

    Two `GraphAttention` layers embed every node: `num_heads` heads of
    `hidden_units` units, concatenated, with an ELU, then one head of
    `embedding_dim` units. The logit of a candidate pair `(u, v)` is the dot
    product of their embeddings, the inner-product decoder of Kipf and
    Welling's graph auto-encoders (2016) and PyTorch Geometric's link
    prediction example. Train it with `train_link_predictor`, which samples
    fresh negative pairs every epoch and reports ROC AUC.

    Args:
        num_features: `F`.
        hidden_units, num_heads: the first layer's heads.
        embedding_dim: size `D` of the node embeddings.
        dropout: rate of both layers' input and attention dropout.
        l2: weight decay of the kernels and attention vectors.
        version: `"gat"` or `"gatv2"`.

    Returns:
        An uncompiled functional `keras.Model` with inputs `[node_features
        [N, F], edges [2, E], pairs [2, P]]` (int32; pairs must index
        existing nodes) and output the logits `[P]`.
    """
    check_positive_int("num_features", num_features)
    check_positive_int("hidden_units", hidden_units)
    check_positive_int("num_heads", num_heads)
    check_positive_int("embedding_dim", embedding_dim)
    check_rate("dropout", dropout)
    _check_l2(l2)
    check_choice("version", version, VERSIONS)
    shared = dict(
        feature_dropout=dropout,
        dropout=dropout,
        version=version,
        kernel_regularizer=_l2(l2),
        attention_regularizer=_l2(l2),
    )
    nodes, edges = _graph_inputs(num_features)
    pairs = keras.Input(batch_shape=(2, None), dtype="int32", name="pairs")
    hidden = GraphAttention(
        hidden_units, num_heads, activation="elu", name="gat_hidden", **shared
    )(nodes, edges)  # [N, H*U]
    embeddings = GraphAttention(embedding_dim, name="gat_embedding", **shared)(
        hidden, edges
    )  # [N, D]
    logits = ops.sum(
        ops.take(embeddings, pairs[0], axis=0) * ops.take(embeddings, pairs[1], axis=0),
        axis=-1,
    )  # [P]
    return keras.Model([nodes, edges, pairs], logits, name="gat_link_predictor")


def _check_link_split(model, split):
    """`train_link_predictor`'s batches, checked: the graph and every pair."""
    helper = "train_link_predictor"
    where = f"{helper}, batch 0 of every epoch (training)"
    _check_features(where, "split.graph", split.graph, model)
    _check_graph(where, split.graph, "split.graph")
    num_nodes = split.graph.num_nodes
    batches = {
        "batch 0 of every epoch (training)": ("train_edges",),
        "batch 0 of the validation data": ("val_edges", "val_negative_edges"),
        "batch 0 of the test data": ("test_edges", "test_negative_edges"),
    }
    for batch, fields in batches.items():
        for field in fields:
            _check_pairs(
                f"{helper}, {batch}", f"split.{field}", getattr(split, field), num_nodes
            )


def train_link_predictor(
    model,
    split,
    epochs,
    learning_rate=0.01,
    patience=None,
    seed=0,
    jit_compile=True,
    verbose=0,
):
    """Trains a link predictor on a `LinkSplit`, full batch, with fresh negatives.

    Each epoch is one step: messages pass along `split.graph.edges` (the
    training edges), and the loss is the binary cross-entropy of the
    training pairs (label 1) and as many pairs sampled anew from the
    non-edges (label 0, `split.train_negative_edges`). The validation pairs
    and their fixed negatives give `val_auc` (ROC AUC) after each epoch.
    Adam, compiled with XLA unless `jit_compile=False`. With `patience`,
    training stops when the validation AUC has not improved for that many
    epochs and the best weights are restored; `seed` seeds the negatives.
    Its input pipeline is `tf.data` (`link_training_dataset` and
    `link_dataset`): it needs TensorFlow installed, on any Keras backend.

    Returns:
        `(history, test_auc)`: the `keras.callbacks.History` and the ROC AUC
        of the test pairs against their negatives.

    Raises:
        ValueError: before training, for an edge or a pair (training,
            validation or test) outside `[0, N)` or a non-finite feature,
            naming the batch and the entry.
        FloatingPointError: when the training loss becomes NaN or infinite.
    """
    check_positive_int("epochs", epochs)
    _check_link_split(model, split)
    train = link_training_dataset(split, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.AUC(from_logits=True, name="auc")],
        jit_compile=jit_compile,
    )
    build_optimizer(model)
    callbacks = [_RaiseOnNaN("train_link_predictor")]
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_auc", mode="max", patience=patience,
                restore_best_weights=True,
            )
        )
    history = model.fit(
        train,
        steps_per_epoch=1,
        validation_data=link_dataset(
            split.graph, split.val_edges, split.val_negative_edges
        ),
        epochs=epochs,
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    test = model.evaluate(
        link_dataset(split.graph, split.test_edges, split.test_negative_edges),
        verbose=0,
        return_dict=True,
    )
    return history, test["auc"]


# -- graph classification ------------------------------------------------------


def gat_graph_classifier(
    num_features,
    num_classes,
    graphs_per_batch,
    hidden_units=16,
    num_heads=4,
    num_layers=3,
    readout="attention",
    dropout=0.0,
    version="gatv2",
):
    """GAT layers and a readout, for classifying whole graphs.

    `num_layers` `GraphAttention` layers of `num_heads` heads of
    `hidden_units` units, concatenated, with ELUs, run over a disjoint union
    of graphs; a readout pools each graph's nodes (`AttentionPooling`, Li et
    al. 2016, or `GraphPooling`'s mean, sum or max) and a `Dense` layer
    gives each graph's logits.

    Batches are padded to a fixed size (see `graph_batches`) so that XLA
    compiles once: each holds up to `G = graphs_per_batch` graphs with ids
    `0..G-1`, and the padding nodes belong to an extra graph `G`, pooled
    and then dropped, so the output has one row per graph slot. A short
    batch's empty slots get zero sample weight.

    Args:
        num_features, num_classes: `F` and `C`.
        graphs_per_batch: `G`, static.
        hidden_units, num_heads, num_layers: the GAT layers.
        readout: `"attention"`, `"mean"`, `"sum"` or `"max"`.
        dropout: input and attention dropout of every GAT layer.
        version: `"gat"` or `"gatv2"` (the default: its attention depends on
            the receiver, which structural tasks need).

    Returns:
        An uncompiled functional `keras.Model` with inputs `[node_features
        [N, F], edges [2, E], graph_ids [N]]` (int32, ids in `[0, G]`) and
        output the logits `[G, C]`.

    Example:

    >>> from keras_attention.data import graphs
    >>> model = gat_graph_classifier(7, 2, graphs_per_batch=4)
    >>> (features, edges, ids), labels, weights = next(iter(
    ...     graph_batches(graphs.motif_graphs(6, seed=0), graphs_per_batch=4)))
    >>> tuple(model([features, edges, ids]).shape), weights.numpy().tolist()
    ((4, 2), [1.0, 1.0, 1.0, 1.0])
    """
    check_positive_int("num_features", num_features)
    check_positive_int("num_classes", num_classes)
    check_positive_int("graphs_per_batch", graphs_per_batch)
    check_positive_int("hidden_units", hidden_units)
    check_positive_int("num_heads", num_heads)
    check_positive_int("num_layers", num_layers)
    check_choice("readout", readout, READOUTS)
    check_rate("dropout", dropout)
    check_choice("version", version, VERSIONS)
    nodes, edges = _graph_inputs(num_features)
    graph_ids = keras.Input(batch_shape=(None,), dtype="int32", name="graph_ids")
    x = nodes
    for i in range(num_layers):
        x = GraphAttention(
            hidden_units,
            num_heads,
            activation="elu",
            feature_dropout=dropout,
            dropout=dropout,
            version=version,
            name=f"gat_{i}",
        )(x, edges)  # [N, H*U]
    logits = _graph_logits(x, graph_ids, readout, hidden_units, hidden_units * num_heads,
                           graphs_per_batch, num_classes)  # [G, C]
    return keras.Model([nodes, edges, graph_ids], logits, name="gat_graph_classifier")


def _graph_logits(x, graph_ids, readout, attention_units, width, graphs_per_batch,
                  num_classes):
    """Each graph slot's logits `[G, C]` from node states `x` `[N, width]`:
    the readout over each graph's nodes, the padding graph dropped, a Dense
    layer."""
    slots = graphs_per_batch + 1  # the last one holds the padding nodes
    if readout == "attention":
        pooled = AttentionPooling(attention_units, num_graphs=slots, name="readout")(
            x, graph_ids
        )
    else:
        pooled = GraphPooling(readout, num_graphs=slots, name="readout")(x, graph_ids)
    pooled = ops.slice(pooled, (0, 0), (graphs_per_batch, width))  # [G, width]
    return keras.layers.Dense(num_classes, name="logits")(pooled)  # [G, C]


def gcn_graph_classifier(
    num_features,
    num_classes,
    graphs_per_batch,
    hidden_units=64,
    num_layers=3,
    readout="attention",
    dropout=0.0,
):
    """GCN layers and a readout, for classifying whole graphs: the fixed-weight
    baseline of `gat_graph_classifier`.

    `num_layers` `GraphConvolution` layers of `hidden_units` with ReLUs
    (Kipf and Welling 2017: each node averages its neighbours and itself
    with fixed weights, `1 / sqrt(d_i d_j)`, where GAT learns them), over
    the same padded disjoint unions, with the same readouts. With the
    defaults, `hidden_units` equals `gat_graph_classifier`'s `num_heads *
    hidden_units` (64), so the two differ in how they weigh neighbours and
    not in width.

    Args:
        num_features, num_classes, graphs_per_batch, readout: as for
            `gat_graph_classifier`.
        hidden_units, num_layers: the GCN layers.
        dropout: input dropout of every layer.

    Returns:
        An uncompiled functional `keras.Model` with inputs `[node_features
        [N, F], edges [2, E], graph_ids [N]]` and output the logits `[G, C]`.
    """
    check_positive_int("num_features", num_features)
    check_positive_int("num_classes", num_classes)
    check_positive_int("graphs_per_batch", graphs_per_batch)
    check_positive_int("hidden_units", hidden_units)
    check_positive_int("num_layers", num_layers)
    check_choice("readout", readout, READOUTS)
    check_rate("dropout", dropout)
    nodes, edges = _graph_inputs(num_features)
    graph_ids = keras.Input(batch_shape=(None,), dtype="int32", name="graph_ids")
    x = nodes
    for i in range(num_layers):
        x = GraphConvolution(hidden_units, activation="relu", dropout=dropout,
                             name=f"gcn_{i}")(x, edges)  # [N, U]
    logits = _graph_logits(x, graph_ids, readout, hidden_units, hidden_units,
                           graphs_per_batch, num_classes)  # [G, C]
    return keras.Model([nodes, edges, graph_ids], logits, name="gcn_graph_classifier")


def _check_graph_sets(model, graphs_per_batch, train_graphs, test_graphs):
    """`train_graph_classifier`'s batches, checked graph by graph (a batch is
    valid when each of its graphs is: `batch_graphs` shifts the indices)."""
    helper = "train_graph_classifier"
    num_classes = _num_classes(model)
    for set_name, graphs in (("train_graphs", train_graphs), ("test_graphs", test_graphs)):
        if not graphs:
            raise ValueError(
                f"{helper} needs at least one graph in {set_name}, received none"
            )
        order = " before shuffling" if set_name == "train_graphs" else ""
        for index, graph in enumerate(graphs):
            name = f"{set_name}[{index}]"
            where = f"{helper}, {name} in batch {index // graphs_per_batch}{order}"
            _check_features(where, name, graph, model)
            _check_graph(where, graph, name)
            label = graph.graph_label
            if (
                not isinstance(label, (int, np.integer))
                or isinstance(label, bool)
                or not 0 <= label < num_classes
            ):
                raise ValueError(
                    f"{name}.graph_label must be an int in [0, C) = "
                    f"[0, {num_classes}) for the model's C={num_classes} logits, "
                    f"received {name}.graph_label={label!r} ({where})"
                )


def train_graph_classifier(
    model,
    train_graphs,
    test_graphs,
    epochs,
    learning_rate=0.005,
    seed=0,
    jit_compile=True,
    verbose=0,
):
    """Trains a graph classifier on padded batches of `train_graphs`.

    Shuffles the training graphs every epoch (from `seed`); Adam, compiled
    with XLA unless `jit_compile=False`; cross-entropy averaged over each
    batch's real graphs. Both sets are
    padded to the same node and edge budget, so the training and test steps
    compile once each.

    Returns:
        `(history, test_accuracy)`.

    Raises:
        ValueError: before training, for a graph whose edges leave
            `[0, N)`, whose features are not finite or not the model's `F`,
            or whose `graph_label` is not an int in `[0, C)`, naming the
            graph (`train_graphs[i]`) and its batch; or an empty set.
        FloatingPointError: when the training loss becomes NaN or infinite.
    """
    check_positive_int("epochs", epochs)
    graphs_per_batch = model.outputs[0].shape[0]
    train_graphs, test_graphs = list(train_graphs), list(test_graphs)
    _check_graph_sets(model, graphs_per_batch, train_graphs, test_graphs)
    everything = train_graphs + test_graphs
    budget = dict(
        max_nodes=max(g.num_nodes for g in everything),
        max_edges=max(g.num_edges for g in everything),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    build_optimizer(model)
    train = graph_batches(
        train_graphs, graphs_per_batch, shuffle=True, seed=seed, **budget
    )
    history = model.fit(
        train,
        epochs=epochs,
        callbacks=[_RaiseOnNaN("train_graph_classifier")],
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )
    test = model.evaluate(
        graph_batches(test_graphs, graphs_per_batch, **budget),
        verbose=0,
        return_dict=True,
    )
    return history, test["accuracy"]
