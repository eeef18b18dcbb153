"""Images as graphs: SLIC superpixels, or a grid of pixels.

Two ways to give a graph network an image, both graph classification sets
of `Graph`s whose `graph_label` is the image's class:

- `superpixel_graph`: the image cut into about `n_segments` superpixels by
  SLIC (Achanta et al. 2012, scikit-image's `slic`), one node each with its
  mean intensity and its centroid as features, and edges to each node's `k`
  nearest neighbours by centroid. This is how the superpixel MNIST benchmark
  of Dwivedi et al. (2020, "Benchmarking Graph Neural Networks") builds its
  graphs, after Knyazev et al. (2019): 75 segments, compactness 0.25, k = 8.
- `pixel_grid_graph`: the image averaged down to a `size x size` grid, one
  node per cell with its intensity and position, each joined to its 8
  neighbours: the plain baseline, with no segmentation.

Node features are `[intensity, y, x]`, intensity in `[0, 1]` and the
position divided by the image's side, so both sets feed the same models.

`superpixel_graph` needs scikit-image (the `vision` extra), imported when
it runs.

Example:

>>> image = np.zeros((28, 28), np.uint8)
>>> image[6:22, 12:16] = 255
>>> graph = pixel_grid_graph(image, label=1, size=7)
>>> graph.node_features.shape, graph.edges.shape, graph.graph_label
((49, 3), (2, 312), 1)
"""

import numpy as np

from keras_attention.data.graphs.core import Graph


def _check_image(image, name="image"):
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8 or min(image.shape) < 2:
        raise ValueError(
            f"{name} must be a grey uint8 image [H, W] (MNIST's bytes), received "
            f"{image.dtype.name} {image.shape}")
    return image.astype(np.float32) / 255.0


def _check_label(label):
    if label is not None and (not isinstance(label, (int, np.integer))
                              or isinstance(label, bool) or label < 0):
        raise ValueError(f"label must be a class id (an int >= 0) or None, received "
                         f"label={label!r}")
    return None if label is None else int(label)


def nearest_neighbour_edges(points, k):
    """`[2, E]` edges from each point's `k` nearest others (by Euclidean
    distance) to it, and back: messages flow both ways, each pair once per
    direction. Fewer than `k + 1` points join every pair."""
    points = np.asarray(points, np.float64)
    count = len(points)
    if count < 2:
        return np.zeros((2, 0), np.int32)
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)  # [N, N]
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :min(k, count - 1)]  # [N, k]
    pairs = {(int(j), int(i)) for i in range(count) for j in nearest[i]}
    pairs |= {(i, j) for j, i in pairs}  # both directions
    return np.array(sorted(pairs), np.int32).T


def superpixel_graph(image, label=None, n_segments=75, compactness=0.25, k=8):
    """The superpixel graph of one grey image.

    Args:
        image: uint8 `[H, W]`.
        label: the image's class, kept as the graph's `graph_label`.
        n_segments: SLIC's target number of superpixels (it finds about
            that many: 65 to 80 for MNIST digits at 75).
        compactness: SLIC's balance of intensity against distance, low for
            MNIST's flat backgrounds (Knyazev et al.'s 0.25).
        k: nearest neighbours per node.

    Returns:
        A `Graph`: features `[N, 3]` (mean intensity, centroid y and x over
        the side), `[2, E]` nearest-neighbour edges both ways, and
        `graph_label`. `segments` are not kept; `superpixel_segments` gives
        them for drawing.
    """
    _check_image(image)
    label = _check_label(label)
    segments = superpixel_segments(image, n_segments, compactness)
    return _segment_graph(image, segments, label, k)


def superpixel_segments(image, n_segments=75, compactness=0.25):
    """SLIC's label of each pixel, `[H, W]` ints from 0, for one grey image."""
    try:
        from skimage.segmentation import slic
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "superpixel graphs need scikit-image: pip install 'keras-attention[vision]'"
        ) from error
    for name, value in (("n_segments", n_segments), ("compactness", compactness)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive number, received {name}={value!r}")
    pixels = _check_image(image)
    return slic(pixels, n_segments=int(n_segments), compactness=float(compactness),
                channel_axis=None, start_label=0)


def _segment_graph(image, segments, label, k):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, received k={k!r}")
    pixels = _check_image(image)
    height, width = pixels.shape
    ids = np.unique(segments)
    # Relabel to 0..N-1: SLIC may leave ids unused.
    index = np.searchsorted(ids, segments)  # [H, W]
    count = len(ids)
    sizes = np.bincount(index.ravel(), minlength=count).astype(np.float64)
    rows, columns = np.indices(pixels.shape)
    features = np.stack([
        np.bincount(index.ravel(), pixels.ravel(), count) / sizes,
        np.bincount(index.ravel(), rows.ravel() + 0.5, count) / sizes / height,
        np.bincount(index.ravel(), columns.ravel() + 0.5, count) / sizes / width,
    ], axis=1).astype(np.float32)  # [N, 3]
    # From the centroids as the graph keeps them, so its edges follow from its
    # own features.
    edges = nearest_neighbour_edges(features[:, 1:], k)
    return Graph(features, edges, name="superpixels", graph_label=label)


def pixel_grid_graph(image, label=None, size=14):
    """The `size x size` grid graph of one grey image.

    The image is averaged over `size x size` equal cells (28 x 28 MNIST to
    14 x 14: 2 x 2 pixels a node); each node is joined to its 8 neighbours,
    both ways.

    Returns:
        A `Graph`: features `[size^2, 3]` (mean intensity, cell centre y and
        x over the side), `[2, E]` edges, and `graph_label`.
    """
    pixels = _check_image(image)
    label = _check_label(label)
    if not isinstance(size, int) or isinstance(size, bool) or size < 2 or (
        pixels.shape[0] % size or pixels.shape[1] % size
    ):
        raise ValueError(
            f"size must be an int >= 2 that divides the image's sides {pixels.shape}, "
            f"received size={size!r}")
    cell_h, cell_w = pixels.shape[0] // size, pixels.shape[1] // size
    means = pixels.reshape(size, cell_h, size, cell_w).mean(axis=(1, 3))  # [size, size]
    rows, columns = np.indices((size, size))
    features = np.stack([means.ravel(), (rows.ravel() + 0.5) / size,
                         (columns.ravel() + 0.5) / size], axis=1)
    senders, receivers = [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            inside = ((rows + dy >= 0) & (rows + dy < size)
                      & (columns + dx >= 0) & (columns + dx < size))
            senders.append(((rows + dy) * size + columns + dx)[inside])
            receivers.append((rows * size + columns)[inside])
    edges = np.stack([np.concatenate(senders), np.concatenate(receivers)]).astype(np.int32)
    return Graph(features.astype(np.float32), edges, name="pixel grid", graph_label=label)


def image_graphs(images, labels, kind="superpixels", **kwargs):
    """One graph per image: `superpixel_graph` or `pixel_grid_graph`.

    Args:
        images: uint8 `[N, H, W]`.
        labels: `[N]` classes.
        kind: `"superpixels"` or `"grid"`.
        **kwargs: for the graph function.

    Returns:
        A list of `N` `Graph`s.
    """
    build = {"superpixels": superpixel_graph, "grid": pixel_grid_graph}.get(kind)
    if build is None:
        raise ValueError(f"kind must be 'superpixels' or 'grid', received kind={kind!r}")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or labels.shape != (len(images),):
        raise ValueError(
            f"images must be [N, H, W] and labels [N], received {images.shape} and "
            f"{labels.shape}")
    return [build(image, int(label), **kwargs) for image, label in zip(images, labels)]
