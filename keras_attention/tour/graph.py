"""The graph family of the tour: Zachary's karate club, two factions.

A two-layer `GraphAttention` network (GATv2 scoring, which beat the
original GAT's here: 0.94-0.97 against 0.84-0.94 over three seeds) and a
two-layer `GraphConvolution`
baseline learn each member's faction from two labelled members (the two
leaders, nodes 0 and 33) and the club's friendships, with identity node
features, as in the semi-supervised set-up of Kipf and Welling (2017).
Both run in dense mode (one padded graph `[1, 34, 34]`), which is the mode
that quantizes: TFLite's segment kernels have no int8 versions. Each model
is trained with `model.fit(jit_compile=True)`, exported in float32, dynamic
range and full int8, and every file classifies the 32 unlabelled members
through `edge_demo` (numpy and LiteRT only). The attention network's
first-layer attention is drawn on the graph.
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import edge_demo
from keras_attention_export import Exporter, Signature
from keras_attention.data import graphs
from keras_attention.layers import GraphAttention, GraphConvolution
from keras_attention.models._optimizer import build_optimizer
from keras_attention import plotting
from keras_attention.tour.result import ModelResult

NAME = "graph"
FACTIONS = ["Mr. Hi", "Officer"]
# Epochs of `REPEATS` full-graph steps each (one step sees the whole graph).
FULL = dict(epochs=30)
QUICK = dict(epochs=10)
REPEATS = 10
MODES = ("float32", "dynamic", "int8")
# Why float32: the "Default export" note below.
DEFAULT_MODE = "float32"
# The layer whose attention is drawn on the club.
DRAWN_LAYER = "attention_1"

# The report's notes on this family (`tour.report`): (topic, text) pairs.
NOTES = [
    ("Latency",
     "the median of 50 calls (after one warm-up) of the serving_default "
     "signature: the whole graph's forward pass, every member of the club "
     "classified at once as one padded dense graph [1, 34, 34]."),
    ("Accuracy",
     "the share of the 32 unlabelled members put in the right faction (the "
     "two leaders are the only labels seen in training); agreement compares "
     "the int8 file's faction with Keras's on all 34 members."),
    ("Default export",
     "float32. At a few hundred weights a tensor nothing is worth "
     "quantizing: dynamic range leaves tensors under 1024 weights in float "
     "(the same file as float32: the size columns), and full int8 adds "
     "quantize steps that cost more than they save (the latency columns). "
     "Full int8 keeps the accuracy and is what a larger dense graph model or "
     "an integer-only device would use."),
    ("Dense mode",
     "both models run on the padded dense adjacency, the mode that "
     "quantizes: LiteRT's segment kernels have no int8 versions."),
    ("Pictures",
     f"the GATv2 network's first layer ({DRAWN_LAYER}), its heads averaged: "
     "each friendship drawn as dark and as thick as its attention, both ways "
     "summed."),
]


def karate_arrays():
    """The club as one padded dense graph: features, adjacency, labels, masks."""
    graph = graphs.karate_club()
    n = graph.num_nodes
    adjacency = np.zeros((1, n, n), "float32")
    # Row = receiver: adjacency[0, i, j] = 1 for the edge j -> i.
    adjacency[0, graph.edges[1], graph.edges[0]] = 1.0
    features = graph.node_features[None].astype("float32")  # [1, N, N] identity
    return graph, features, adjacency


def models(num_nodes):
    """Builders and learning rates of the two models."""

    def inputs():
        return (
            keras.Input((num_nodes, num_nodes), batch_size=1, name="node_features"),
            keras.Input((num_nodes, num_nodes), batch_size=1, name="adjacency"),
        )

    def gat():
        nodes, adjacency = inputs()
        hidden = GraphAttention(
            4, num_heads=4, mode="dense", version="gatv2", activation="elu",
            feature_dropout=0.2, dropout=0.2, name="attention_1", seed=1,
        )(nodes, adjacency)
        logits = GraphAttention(
            len(FACTIONS), num_heads=1, concat_heads=False, mode="dense",
            version="gatv2", name="attention_2", seed=2,
        )(hidden, adjacency)
        probabilities = keras.layers.Softmax(name="probabilities")(logits)
        return keras.Model([nodes, adjacency], probabilities, name="gatv2")

    def gcn():
        nodes, adjacency = inputs()
        hidden = GraphConvolution(
            16, mode="dense", activation="relu", dropout=0.2, name="convolution_1",
            seed=1,
        )(nodes, adjacency)
        logits = GraphConvolution(
            len(FACTIONS), mode="dense", name="convolution_2", seed=2
        )(hidden, adjacency)
        probabilities = keras.layers.Softmax(name="probabilities")(logits)
        return keras.Model([nodes, adjacency], probabilities, name="gcn")

    return {"gatv2": (gat, 0.01), "gcn": (gcn, 0.01)}


def train(model, graph, features, adjacency, settings, learning_rate):
    """Full-graph training: one example, the loss weighted by the train mask."""
    example = (
        (features, adjacency),
        graph.labels[None],
        graph.train_mask[None].astype("float32"),
    )
    data = tf.data.Dataset.from_tensors(example).repeat(REPEATS)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=True,
    )
    build_optimizer(model)  # traced once, not twice (models/_optimizer.py)
    start = time.perf_counter()
    history = model.fit(
        data,
        epochs=settings["epochs"],
        shuffle=False,  # one element, the whole graph (Keras warns otherwise)
        verbose=1 if sys.stdout.isatty() else 2,
    )
    return history.history, time.perf_counter() - start


def _accuracy(probabilities, labels, mask):
    predicted = np.argmax(np.asarray(probabilities).reshape(len(labels), -1), -1)
    return float(np.mean(predicted[mask] == labels[mask]))


def _signatures(model, features, adjacency):
    specs = [
        tf.TensorSpec(features.shape, tf.float32, name="node_features"),
        tf.TensorSpec(adjacency.shape, tf.float32, name="adjacency"),
    ]

    def classify(node_features, adjacency):
        return {"probabilities": model([node_features, adjacency], training=False)}

    return {"serving_default": Signature(classify, specs)}


def layout(adjacency, iterations=200, seed=0):
    """2-D node positions (numpy only, deterministic): Fruchterman-Reingold
    forces started from the normalised Laplacian's spectral embedding."""
    a = np.maximum(adjacency, adjacency.T)
    n = len(a)
    degree = np.maximum(a.sum(1), 1e-12)
    inverse_sqrt = 1.0 / np.sqrt(degree)
    laplacian = np.eye(n) - inverse_sqrt[:, None] * a * inverse_sqrt[None, :]
    position = np.linalg.eigh(laplacian)[1][:, 1:3] * inverse_sqrt[:, None]
    position += np.random.default_rng(seed).normal(0, 1e-3, position.shape)
    position /= np.abs(position).max()
    k = 1.0 / np.sqrt(n)  # ideal edge length in a unit square
    for step in range(iterations):
        delta = position[:, None, :] - position[None, :, :]  # [n, n, 2]
        distance = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        force = k * k / distance - a * distance * distance / k  # repel - attract
        displacement = (delta / distance[..., None] * force[..., None]).sum(1)
        length = np.maximum(np.linalg.norm(displacement, axis=-1), 1e-9)
        temperature = 0.1 * (1 - step / iterations) + 1e-3
        position += displacement / length[:, None] * np.minimum(length, temperature)[:, None]
    return position


def draw_attention(graph, adjacency, coefficients, predicted, path,
                   layer=DRAWN_LAYER):
    """The club with each edge drawn as dark and as thick as its attention,
    both ways summed (`coefficients` `[1, H, N, N]` of `layer`, heads
    averaged); nodes coloured by prediction. Returns the `Figure`."""
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    position = layout(adjacency[0])
    heads = coefficients.shape[1]
    weights = coefficients[0].mean(axis=0)  # [N, N], entry [i, j] for j -> i
    senders, receivers = graph.edges
    seen, segments, widths = set(), [], []
    for j, i in zip(senders, receivers):
        pair = (min(i, j), max(i, j))
        if pair in seen:
            continue
        seen.add(pair)
        segments.append([position[i], position[j]])
        widths.append(weights[i, j] + weights[j, i])
    widths = np.asarray(widths)
    figure, axis = plotting.subplots(figsize=(7.5, 5.8))
    # Greys from light grey up, so the weakest edges stay visible.
    greys = ListedColormap(colormaps["Greys"](np.linspace(0.25, 1.0, 256)))
    edges = LineCollection(
        segments, linewidths=0.3 + 6 * widths / widths.max(), cmap=greys,
        alpha=0.9,
    )
    edges.set_array(widths)
    edges.set_clim(0.0, widths.max())
    axis.add_collection(edges)
    colours = np.where(predicted == 0, "tab:orange", "tab:blue")
    axis.scatter(position[:, 0], position[:, 1], s=260, c=colours, zorder=2,
                 edgecolors=np.where(graph.train_mask, "black", "white"),
                 linewidths=np.where(graph.train_mask, 2.5, 1.0))
    for node, (x, y) in enumerate(position):
        axis.annotate(str(node), (x, y), ha="center", va="center", fontsize=7,
                      color="white", zorder=3)
    averaged = f"{heads} heads averaged" if heads > 1 else "1 head"
    axis.set_title(
        f"GATv2 attention on the karate club: layer {layer}, {averaged}\n"
        "edge colour and width: attention, both ways summed; nodes: predicted\n"
        f"faction (orange {FACTIONS[0]}, blue {FACTIONS[1]}); ringed: the 2 labelled",
        fontsize=9,
    )
    axis.set_axis_off()
    axis.autoscale()
    plotting.colorbar(figure, edges, axis, "attention weight (both ways summed)")
    plotting.save(figure, path)
    return figure


def run(out_dir, quick):
    settings = QUICK if quick else FULL
    os.makedirs(out_dir, exist_ok=True)
    graph, features, adjacency = karate_arrays()
    np.savez(
        os.path.join(out_dir, "karate_club.npz"),
        node_features=features, adjacency=adjacency, labels=graph.labels,
    )
    task = {"kind": "node_classification", "labels": FACTIONS}
    test = graph.test_mask
    results = []
    for name, (build, learning_rate) in models(graph.num_nodes).items():
        keras.utils.set_random_seed(0)
        model = build()
        print(f"\n--- karate {name}: {model.count_params():,} parameters", flush=True)
        history, seconds = train(
            model, graph, features, adjacency, settings, learning_rate
        )
        keras_probabilities = np.asarray(model.predict((features, adjacency), verbose=0))
        keras_predicted = np.argmax(keras_probabilities[0], -1)
        sizes, latency, device = {}, {}, {}
        with Exporter(model, _signatures(model, features, adjacency)) as exporter:
            for mode in MODES:
                path = os.path.join(out_dir, f"karate_{name}_{mode}.tflite")
                exporter.export_tflite(
                    path, mode=mode,
                    representative_data=(
                        {"serving_default": dict(node_features=features,
                                                 adjacency=adjacency)}
                        if mode == "int8" else None
                    ),
                    task=task,
                )
                sizes[mode] = os.path.getsize(path)
                on_device = edge_demo.load(path)
                inputs = dict(node_features=features, adjacency=adjacency)
                device[mode] = on_device.run("serving_default", **inputs)["probabilities"]
                latency[mode] = edge_demo.latency(
                    lambda: on_device.run("serving_default", **inputs), runs=50
                )["median_ms"]
        device_predicted = np.argmax(device["int8"].reshape(graph.num_nodes, -1), -1)
        pictures = []
        if name == "gatv2":
            _, coefficients = model.get_layer(DRAWN_LAYER)(
                features, adjacency, return_attention_scores=True
            )
            pictures.append("karate_gatv2_attention.png")
            draw_attention(
                graph, adjacency, np.asarray(coefficients),
                keras_predicted, os.path.join(out_dir, pictures[0]),
            )
        result = ModelResult(
            family=NAME,
            name=f"karate {name}",
            parameters=model.count_params(),
            keras_accuracy=_accuracy(keras_probabilities, graph.labels, test),
            device_accuracy=_accuracy(device["int8"], graph.labels, test),
            device_agreement=float(np.mean(device_predicted == keras_predicted)),
            sizes=sizes,
            latency_ms=latency,
            history={k: [float(v) for v in vs] for k, vs in history.items()},
            pictures=pictures,
            metric="node accuracy (32 unlabelled members)",
            train_seconds=seconds,
            default_mode=DEFAULT_MODE,
        )
        print(
            f"karate {name}: node accuracy {result.keras_accuracy:.3f} in Keras, "
            f"{result.device_accuracy:.3f} on the device (int8), agreement "
            f"{result.device_agreement:.3f}",
            flush=True,
        )
        results.append(result)
    return results
