"""The images family of the tour: MNIST digits classified, captioned and
read as graphs.

Four models on MNIST's 10,000 test images, split with a fixed seed (the
project ships no more; `keras_attention.data.mnist`):

- `vit_classifier`, a Vision Transformer, and `cnn_classifier`, the CNN
  baseline at about the same parameter count, trained with the same recipe
  (`compile_image_classifier`, `ImageBatches`' shifts and rotations);
- `AttentiveCaptioner` (Show, Attend and Tell): Bahdanau attention over a
  CNN's feature cells at every word, on scenes of 2 to 4 digits
  (`keras_attention.data.scenes`), captioned like "a 7 at top left , an 8
  at bottom right";
- `gat_graph_classifier` on each digit's SLIC superpixel graph
  (`keras_attention.data.graphs.images`).

Each is exported to LiteRT and run through `edge_demo` (numpy and LiteRT
only): the classifiers read one digit a call, the captioner encodes a
scene and decodes it word by word, the graph network classifies a padded
batch of graphs a call. The pictures: the ViT's class token attention over
its patches, the captioner's attention over a scene for every word, and one
digit's superpixel graph with its GAT attention.

MNIST comes from the folder given (`keras-attention tour --mnist DIR`),
else the project checkout's `../shared/data/mnist`, else the download cache
(downloading it once where the machine is online). Where none has it, the
family is left out with a note saying why (`FamilySkipped`).
"""

import os
import sys
import time

import keras
import numpy as np

import edge_demo
from edge_demo.images import caption_image, classify_image
from keras_attention import plotting
from keras_attention.data import mnist, scenes
from keras_attention.data.graphs.images import image_graphs, superpixel_segments
from keras_attention.models import (
    AttentiveCaptioner,
    ImageBatches,
    as_model_images,
    caption_task_metadata,
    cnn_classifier,
    compile_image_classifier,
    gat_graph_classifier,
    image_task_metadata,
    train_graph_classifier,
    vit_attention,
    vit_classifier,
)
from keras_attention.tour.result import FamilySkipped, ModelResult
from keras_attention_export import Exporter, Signature, default_mode

NAME = "images"
# The data folders the family reads (`run_tour`'s `data`).
DATA = ("mnist",)

# Sizes. "train"/"test": the seeded split of the 10,000 images (the test
# images are the rest, of which the first "test" are used); "device": test
# images (or scenes) run on the device per mode.
# The family's share of the full tour is about 3 minutes on 2 cores: short
# runs, far from bench/vision.py's figures (40 epochs of 8,000 digits, 20
# of 8,000 scenes, 45 of 8,000 graphs).
FULL = dict(train=3000, test=1000, epochs=4, device=300, calibration=100,
            scenes=4000, scene_test=200, caption_epochs=6, device_scenes=40,
            graphs=1200, graph_test=500, graph_epochs=5)
QUICK = dict(train=1500, test=300, epochs=2, device=60, calibration=32,
             scenes=600, scene_test=60, caption_epochs=2, device_scenes=10,
             graphs=600, graph_test=120, graph_epochs=2)
SEED = 0
# The classifiers: lighter augmentation and a higher peak rate than the
# bench's (rotation 0.03, shift 0.1, 1e-3), which pay only over longer runs:
# in 4 epochs of 4,000 digits the ViT reached 0.79 so, 0.60 with the bench's.
# Most of the family's time goes to the captioner, the slowest to learn.
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
ROTATION, SHIFT = 0.0, 0.05
# The captioner: batches of 32, twice the steps of 64's in little more
# time; its loss stalls on the caption's layout words until the attention
# finds the digits, about 500 steps in (4,000 scenes: 0.09 of captions exact
# after 750 steps, none after 470).
CAPTION_BATCH_SIZE = 32
CAPTION_LEARNING_RATE = 2e-3
GRAPHS_PER_BATCH = 32
GRAPH_LEARNING_RATE = 5e-3
MODES = ("float32", "dynamic", "int8")
# The graph network's segment kernels have no int8 versions in LiteRT.
GRAPH_MODES = ("float32", "dynamic")
# The checkout's data folder: keras_attention/../../shared/data/mnist.
CHECKOUT_MNIST = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "..", "shared", "data", "mnist")

# The report's notes on this family (`tour.report`): (topic, text) pairs.
NOTES = [
    ("Data",
     "MNIST's 10,000 test images split with a fixed seed (the project ships "
     "no more); each model's metric names its split. The scenes are made "
     "from the training digits for training and from the test digits for "
     "the held-out scenes; the graphs are the same digits' superpixels."),
    ("Latency",
     "the classifiers: the median call on one digit; the captioner: the "
     "median of encoding one scene plus every decode_step of its caption; "
     "the graph network: one call on a padded batch of "
     f"{GRAPHS_PER_BATCH} graphs."),
    ("Accuracy",
     "the classifiers: the share of held-out digits classified right; the "
     "captioner: the share of held-out scenes captioned word for word; the "
     "graph network: the share of held-out digits' graphs classified right."),
    ("Default export",
     "float32 for the classifiers and the graph network (the model "
     "defines no other: int8 keeps the accuracy and shrinks the file, and "
     "the CNN runs faster in int8 while the ViT, with its float layer "
     "norms, runs slower: bench/vision.py), dynamic range for the "
     "captioner, as for the other encoder-decoders."),
    ("Why int8 is blank for the graph network",
     "its messages are summed per receiving node with segment sums, which "
     "LiteRT has no int8 kernels for; the karate models in the graph family "
     "run the dense mode, which quantizes."),
    ("XLA",
     "the family trains without XLA on a CPU and with it where a GPU is "
     "present: on this CPU XLA's convolutions ran about 3x slower "
     "(bench/vision.py part 2) and the captioner 3x slower; the graph "
     "network, about as fast either way, follows them."),
    ("Short runs",
     "about a minute of training each, far from what these models reach: "
     "bench/vision.py trains 40 epochs of 8,000 digits (ViT 0.95, CNN "
     "0.99), 20 of 8,000 scenes (0.94 of captions exact) and 45 of 8,000 "
     "superpixel graphs (GAT 0.84); docs/benchmarks.md, Images."),
    ("Pictures",
     "the ViT's class token attention over its 7 x 7 patches in the last "
     "block, heads averaged; the captioner's attention over the scene's "
     "8 x 8 feature cells at every word it says; one digit's SLIC "
     "superpixels with the graph network's first-layer attention on each "
     "edge, heads averaged, both ways summed."),
]


def find_mnist(path=None):
    """`(images, labels, folder)`: MNIST's 10,000 test images as uint8
    `[N, 28, 28]` and labels, and where they were read.

    From `path` where given (any error in it is the user's to see), else the
    checkout's `../shared/data/mnist`, else the download cache (downloading
    once where the machine is online).

    Raises:
        FamilySkipped: when no path is given and neither the checkout nor
            the cache has the files, nor can they be downloaded.
    """
    if path is not None:
        images, labels = mnist.load_mnist("test", path=path)
        return images, labels, path
    if os.path.isdir(CHECKOUT_MNIST):
        images, labels = mnist.load_mnist("test", path=CHECKOUT_MNIST)
        return images, labels, os.path.normpath(CHECKOUT_MNIST)
    try:
        images, labels = mnist.load_mnist("test")
    except OSError as error:  # offline, or the download failed
        raise FamilySkipped(
            f"MNIST is in neither the checkout's shared/data/mnist nor the "
            f"download cache, and downloading it failed ({error}); give its "
            "folder with --mnist DIR") from None
    return images, labels, "the download cache"


def _jit_compile_images():
    """XLA only where a GPU is present (the "XLA" note)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _verbose():
    return 1 if sys.stdout.isatty() else 2


def _history(history):
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


# -- the classifiers -----------------------------------------------------------


def train_classifier(model, train_set, settings, jit_compile):
    """`(history, seconds)`: `model.fit` on shifted and rotated batches."""
    batches = ImageBatches(*train_set, batch_size=BATCH_SIZE, rotation=ROTATION,
                           shift=SHIFT, seed=SEED)
    compile_image_classifier(model, LEARNING_RATE,
                             total_steps=settings["epochs"] * len(batches),
                             jit_compile=jit_compile)
    start = time.perf_counter()
    history = model.fit(batches, epochs=settings["epochs"], verbose=_verbose())
    return _history(history), time.perf_counter() - start


def classifier_result(name, model, history, seconds, split, test_set, calibration,
                      out_dir, settings, pictures=()):
    """Export `model` in every mode, classify `settings["device"]` test
    digits with each file through edge_demo; the table's row."""
    images, labels = test_set
    keras_predicted = np.argmax(
        model.predict(as_model_images(images), batch_size=500, verbose=0), -1)
    shown = images[: settings["device"]]
    sizes, latency, device = {}, {}, {}
    with Exporter(model) as exporter:
        for mode in MODES:
            path = os.path.join(out_dir, f"mnist_{name}_{mode}.tflite")
            exporter.export_tflite(
                path, mode=mode, task=image_task_metadata(),
                representative_data=(
                    {"serving_default": {"images": as_model_images(calibration)}}
                    if mode == "int8" else None))
            sizes[mode] = os.path.getsize(path)
            on_device = edge_demo.load(path)
            found = [classify_image(on_device, image[..., None]) for image in shown]
            device[mode] = np.array([int(f.label) for f in found])
            latency[mode] = float(np.median([f.call_ms for f in found]))
    result = ModelResult(
        family=NAME, name=f"mnist {name}", parameters=model.count_params(),
        keras_accuracy=float(np.mean(keras_predicted == labels)),
        device_accuracy=float(np.mean(device["int8"] == labels[: len(shown)])),
        device_agreement=float(np.mean(device["int8"] == keras_predicted[: len(shown)])),
        sizes=sizes, latency_ms=latency, history=history, pictures=list(pictures),
        metric=(f"digits classified right ({split}; device: the first {len(shown)} "
                "test digits)"),
        train_seconds=seconds, default_mode=default_mode(model),
    )
    _print(result)
    return result


def draw_vit_attention(model, images, labels, path, count=6):
    """The class token's attention over the patches in the last block,
    heads averaged, over `count` digits. Returns the `Figure`."""
    images, labels = images[:count], labels[:count]
    maps = vit_attention(model, images)[-1].mean(axis=1)  # [B, gh, gw]
    predicted = np.argmax(model.predict(as_model_images(images), verbose=0), -1)
    figure, axes = plotting.subplots(1, count, figsize=(2.1 * count + 1.2, 2.9),
                                     squeeze=False, layout="constrained")
    top = float(maps.max())
    for axis, image, weights, label, guess in zip(axes[0], images, maps, labels, predicted):
        shown = _attention_over(axis, image, weights, top)
        axis.set_title(f"digit {label}, read {guess}", fontsize=8)
    plotting.colorbar(figure, shown, list(axes[0]), "class token's attention weight")
    figure.suptitle(
        f"ViT: the class token's attention over the {maps.shape[1]} x {maps.shape[2]} "
        "patches, last block, heads averaged", fontsize=9)
    plotting.save(figure, path)
    return figure


def _attention_over(axis, image, weights, top):
    """`weights` (a grid) as a heatmap over `image`'s area, with the ink's
    outline (grey level 100) drawn on it in white. Returns the heatmap."""
    height, width = image.shape
    shown = axis.imshow(weights, cmap="inferno", vmin=0.0, vmax=top,
                        extent=(0, width, height, 0), interpolation="nearest")
    axis.contour(np.arange(width) + 0.5, np.arange(height) + 0.5, image, levels=[100],
                 colors="white", linewidths=0.8)
    axis.set_xlim(0, width)
    axis.set_ylim(height, 0)
    axis.set_axis_off()
    return shown


# -- the captioner ----------------------------------------------------------------


def train_captioner(model, made, settings, jit_compile):
    images, decoder_inputs, targets = scenes.captioning_arrays(made)
    steps = settings["caption_epochs"] * -(-len(images) // CAPTION_BATCH_SIZE)
    warmup = max(1, steps // 20)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            0.0, steps - warmup, warmup_target=CAPTION_LEARNING_RATE,
            warmup_steps=warmup)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile)
    start = time.perf_counter()
    history = model.fit(
        {"source": images, "decoder_inputs": decoder_inputs}, targets,
        sample_weight=(targets != scenes.PAD_ID).astype("float32"),
        batch_size=CAPTION_BATCH_SIZE, epochs=settings["caption_epochs"],
        verbose=_verbose())
    return _history(history), time.perf_counter() - start


def draw_caption_attention(model, image, path, columns=6):
    """One scene and, for every word the captioner says (its own greedy
    caption), its attention over the feature cells, drawn over the image.
    `image` is `[H, W]` uint8. Returns the `Figure`."""
    source = (image[None, ..., None] / 255.0).astype("float32")
    decoded = np.asarray(model.greedy_decode(source))  # [1, T]
    words = scenes.ids_to_caption(decoded[0]).split() + [scenes.END]
    # Teacher-forced on its own greedy ids: the weights of the steps that
    # said them, without decoding again.
    weights = model.attention_weights(
        source, model._decoder_inputs_of(decoded))[0, : len(words)]  # [T, L]
    grid = model.grid_shape
    count = len(words) + 1
    rows = -(-count // columns)
    figure, axes = plotting.subplots(rows, columns, figsize=(1.9 * columns + 1.0,
                                                             2.0 * rows + 0.6),
                                     squeeze=False, layout="constrained")
    axes = axes.reshape(-1)
    axes[0].imshow(image, cmap="gray", extent=(0, image.shape[1], image.shape[0], 0))
    axes[0].set_title("the scene", fontsize=8)
    top = float(weights.max())
    for axis, word, alpha in zip(axes[1:], words, weights):
        shown = _attention_over(axis, image, alpha.reshape(grid), top)
        axis.set_title(f"{word!r}", fontsize=8)
    for axis in axes:
        axis.set_axis_off()
    plotting.colorbar(figure, shown, list(axes), "attention weight")
    figure.suptitle(
        f"Show, attend and tell: the attention over the {grid[0]} x {grid[1]} feature "
        f"cells at each word it says\n\"{' '.join(words[:-1])}\"", fontsize=9)
    plotting.save(figure, path)
    return figure


def captioner_result(model, history, seconds, made_train, made_test, split, out_dir,
                     settings):
    test_images, _, _ = scenes.captioning_arrays(made_test)
    keras_captions = [scenes.ids_to_caption(row)
                      for row in np.asarray(model.greedy_decode(test_images))]
    count = settings["device_scenes"]
    calibration = model.representative_data(
        scenes.captioning_arrays(made_train)[0][:32])
    task = caption_task_metadata(model, scenes.WORDS)
    sizes, latency, device = {}, {}, {}
    with Exporter(model, model.export_signatures()) as exporter:
        for mode in MODES:
            path = os.path.join(out_dir, f"scene_captioner_{mode}.tflite")
            exporter.export_tflite(path, mode=mode, task=task,
                                   representative_data=calibration if mode == "int8" else None)
            sizes[mode] = os.path.getsize(path)
            on_device = edge_demo.load(path)
            found = [caption_image(on_device, made_test.images[n][..., None])
                     for n in range(count)]
            device[mode] = [f.caption for f in found]
            latency[mode] = float(np.median([f.encode_ms + sum(f.step_ms) for f in found]))
    truth = made_test.captions
    picture = "scene_captioner_attention.png"
    draw_caption_attention(model, made_test.images[0], os.path.join(out_dir, picture))
    result = ModelResult(
        family=NAME, name="scene captioner", parameters=model.count_params(),
        keras_accuracy=float(np.mean([k == t for k, t in zip(keras_captions, truth)])),
        device_accuracy=float(np.mean([d == t for d, t in zip(device["int8"], truth)])),
        device_agreement=float(np.mean(
            [d == k for d, k in zip(device["int8"], keras_captions)])),
        sizes=sizes, latency_ms=latency, history=history, pictures=[picture],
        metric=(f"scenes captioned word for word ({len(truth)} held-out scenes of "
                f"the test digits; {split}; device: the first {count}); latency per "
                "scene"),
        train_seconds=seconds, default_mode=default_mode(model),
    )
    _print(result)
    return result


# -- the graph network -------------------------------------------------------------


def _graph_signatures(model, num_nodes, num_edges, num_features):
    import tensorflow as tf

    specs = [tf.TensorSpec((num_nodes, num_features), tf.float32, name="node_features"),
             tf.TensorSpec((2, num_edges), tf.int32, name="edges"),
             tf.TensorSpec((num_nodes,), tf.int32, name="graph_ids")]

    def classify(node_features, edges, graph_ids):
        return {"logits": model([node_features, edges, graph_ids], training=False)}

    return {"serving_default": Signature(classify, specs)}


def _padded_batches(graphs, budget):
    """The test graphs as the padded numpy batches `graph_batches` feeds."""
    from keras_attention.data.graphs import graph_batches

    return [((f.numpy(), e.numpy(), i.numpy()), y.numpy(), w.numpy())
            for (f, e, i), y, w in graph_batches(graphs, GRAPHS_PER_BATCH, **budget)]


def draw_superpixel_attention(model, image, graph, path, layer="gat_0"):
    """One digit's superpixels, its graph's nodes at their centroids and each
    edge coloured and widened by `layer`'s attention (heads averaged, both
    ways summed). Returns the `Figure`."""
    from matplotlib.collections import LineCollection
    from skimage.segmentation import find_boundaries

    _, coefficients = model.get_layer(layer)(
        graph.node_features.astype("float32"), graph.edges.astype("int32"),
        return_attention_scores=True)
    coefficients = keras.ops.convert_to_numpy(coefficients).mean(axis=1)  # [E', ]
    side = image.shape[0]
    centroids = graph.node_features[:, 1:3] * side  # (y, x) in pixels
    summed = {}
    for (j, i), weight in zip(graph.edges.T, coefficients[: graph.num_edges]):
        pair = (min(i, j), max(i, j))
        summed[pair] = summed.get(pair, 0.0) + float(weight)
    pairs = list(summed)
    widths = np.array([summed[p] for p in pairs])
    segments = [[centroids[a][::-1], centroids[b][::-1]] for a, b in pairs]
    figure, axis = plotting.subplots(figsize=(6.4, 5.4), layout="constrained")
    axis.imshow(image, cmap="gray", extent=(0, side, side, 0))
    # The superpixels' borders, tinted over the image.
    borders = np.zeros(image.shape + (4,))
    borders[find_boundaries(superpixel_segments(image), mode="inner")] = (0.3, 0.6, 1.0, 0.45)
    axis.imshow(borders, extent=(0, side, side, 0), interpolation="nearest")
    edges = LineCollection(segments, linewidths=0.4 + 3.5 * widths / widths.max(),
                           cmap="plasma")
    edges.set_array(widths)
    edges.set_clim(0.0, widths.max())
    axis.add_collection(edges)
    axis.scatter(centroids[:, 1], centroids[:, 0], s=10, c="tab:cyan", zorder=3)
    axis.set_xlim(0, side)
    axis.set_ylim(side, 0)
    axis.set_axis_off()
    axis.set_title(
        f"A digit {graph.graph_label} as {graph.num_nodes} SLIC superpixels (blue "
        f"borders):\nthe GAT's attention in layer {layer} on its {len(pairs)} "
        "nearest-neighbour edges\n(heads averaged, both ways summed)", fontsize=9)
    plotting.colorbar(figure, edges, axis, "attention weight (both ways summed)")
    plotting.save(figure, path)
    return figure


def graph_result(train_set, test_set, split, out_dir, settings, jit_compile):
    train_graphs = image_graphs(*[a[: settings["graphs"]] for a in train_set])
    test_graphs = image_graphs(*[a[: settings["graph_test"]] for a in test_set])
    keras.utils.set_random_seed(SEED)
    model = gat_graph_classifier(3, 10, GRAPHS_PER_BATCH)
    print(f"\n--- superpixel gat: {model.count_params():,} parameters, "
          f"{len(train_graphs):,} graphs", flush=True)
    start = time.perf_counter()
    history, _ = train_graph_classifier(
        model, train_graphs, test_graphs, epochs=settings["graph_epochs"],
        learning_rate=GRAPH_LEARNING_RATE, jit_compile=jit_compile, verbose=_verbose())
    seconds = time.perf_counter() - start
    everything = train_graphs + test_graphs
    budget = dict(max_nodes=max(g.num_nodes for g in everything),
                  max_edges=max(g.num_edges for g in everything))
    batches = _padded_batches(test_graphs, budget)
    (features, edges, ids), _, _ = batches[0]
    keras_logits = [np.asarray(model.predict_on_batch(list(inputs)))
                    for inputs, _, _ in batches]
    sizes, latency, device = {}, {}, {}
    with Exporter(model, _graph_signatures(model, len(features), edges.shape[1],
                                           features.shape[1])) as exporter:
        for mode in GRAPH_MODES:
            path = os.path.join(out_dir, f"superpixel_gat_{mode}.tflite")
            exporter.export_tflite(path, mode=mode)
            sizes[mode] = os.path.getsize(path)
            on_device = edge_demo.load(path)
            device[mode] = [
                on_device.run("serving_default", node_features=f, edges=e,
                              graph_ids=i)["logits"] for (f, e, i), _, _ in batches]
            latency[mode] = edge_demo.latency(
                lambda: on_device.run("serving_default", node_features=features,
                                      edges=edges, graph_ids=ids), runs=20)["median_ms"]

    def predicted(logits):
        return np.concatenate([np.argmax(x, -1)[w > 0]
                               for x, (_, _, w) in zip(logits, batches)])

    labels = np.concatenate([y[w > 0] for _, y, w in batches])
    keras_predicted, device_predicted = predicted(keras_logits), predicted(device["dynamic"])
    picture = "superpixel_gat_attention.png"
    draw_superpixel_attention(model, test_set[0][0], test_graphs[0],
                              os.path.join(out_dir, picture))
    result = ModelResult(
        family=NAME, name="superpixel gat", parameters=model.count_params(),
        keras_accuracy=float(np.mean(keras_predicted == labels)),
        device_accuracy=float(np.mean(device_predicted == labels)),
        device_agreement=float(np.mean(device_predicted == keras_predicted)),
        sizes=sizes, latency_ms=latency, history=_history(history), pictures=[picture],
        metric=(f"digits classified right from their superpixel graphs ({len(labels)} "
                f"held-out of {split}, {len(train_graphs):,} trained on); latency per "
                f"batch of {GRAPHS_PER_BATCH}"),
        train_seconds=seconds, default_mode=default_mode(model), device_mode="dynamic",
    )
    _print(result)
    return result


def _write_png(path, pixels):
    """uint8 grey `pixels` `[H, W]` as a PNG file, written atomically."""
    import io

    from PIL import Image

    from edge_demo.files import write_atomically

    encoded = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(encoded, format="PNG")
    write_atomically(path, encoded.getvalue())


def _print(result):
    print(f"{result.name}: {result.keras_accuracy:.3f} in Keras, "
          f"{result.device_accuracy:.3f} on the device ({result.device_mode}), "
          f"agreement {result.device_agreement:.3f}; trained in "
          f"{result.train_seconds:.0f} s", flush=True)


def run(out_dir, quick, data=None):
    """The family's rows. `data`: `{"mnist": folder or None}`."""
    settings = QUICK if quick else FULL
    images, labels, where = find_mnist((data or {}).get("mnist"))
    os.makedirs(out_dir, exist_ok=True)
    train_set, test_set = mnist.mnist_split(images, labels, train=settings["train"],
                                            seed=SEED)
    test_set = tuple(a[: settings["test"]] for a in test_set)
    split = mnist.describe_split(len(train_set[0]), len(test_set[0]), SEED)
    print(f"data: {split}, read from {where}", flush=True)
    rng = np.random.default_rng(SEED)
    calibration = train_set[0][rng.choice(len(train_set[0]), settings["calibration"],
                                          replace=False)]
    # A digit and a scene of the held-out images, for `python -m edge_demo
    # FILE --image PNG` on the exported models.
    _write_png(os.path.join(out_dir, "mnist_digit.png"), test_set[0][0])
    jit_compile = _jit_compile_images()
    results = []
    for name, make in (("vit", vit_classifier), ("cnn", cnn_classifier)):
        # Seeded before the weights are made: the other families' runs
        # before this one must not change them.
        keras.utils.set_random_seed(SEED)
        model = make()
        print(f"\n--- mnist {name}: {model.count_params():,} parameters", flush=True)
        history, seconds = train_classifier(model, train_set, settings, jit_compile)
        pictures = []
        if name == "vit":
            pictures.append("mnist_vit_attention.png")
            draw_vit_attention(model, *test_set, os.path.join(out_dir, pictures[0]))
        results.append(classifier_result(name, model, history, seconds, split, test_set,
                                         calibration, out_dir, settings, pictures))
        keras.backend.clear_session()

    made_train = scenes.digit_scenes(*train_set, settings["scenes"], seed=SEED + 1)
    made_test = scenes.digit_scenes(*test_set, settings["scene_test"], seed=SEED + 2)
    _write_png(os.path.join(out_dir, "scene.png"), made_test.images[0])
    keras.utils.set_random_seed(SEED)
    model = AttentiveCaptioner(len(scenes.WORDS), scenes.MAX_CAPTION_LENGTH - 1)
    print(f"\n--- scene captioner: {model.count_params():,} parameters, "
          f"{len(made_train.captions):,} scenes", flush=True)
    history, seconds = train_captioner(model, made_train, settings, jit_compile)
    results.append(captioner_result(model, history, seconds, made_train, made_test, split,
                                    out_dir, settings))
    keras.backend.clear_session()

    results.append(graph_result(train_set, test_set, split, out_dir, settings, jit_compile))
    keras.backend.clear_session()
    return results
