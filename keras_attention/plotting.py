"""Pictures of attention: heatmaps and the figures the reports draw.

Figures are `matplotlib.figure.Figure`s made without `pyplot`, so drawing
one never switches matplotlib's backend or opens a window in the caller's
process. Needs the `plot` extra (matplotlib), imported when a figure is made.
"""

import io
import os

from edge_demo.files import write_atomically

DPI = 110


def _matplotlib():
    """matplotlib, or an error that says how to install it."""
    try:
        import matplotlib
        import matplotlib.figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, which is not installed: "
            "pip install 'keras-attention[plot]'"
        ) from None
    return matplotlib


def subplots(nrows=1, ncols=1, figsize=None, layout=None, **kwargs):
    """`(figure, axes)` as `pyplot.subplots(nrows, ncols, figsize=..., **kwargs)`
    gives them, without `pyplot`. `layout="constrained"` for a figure whose
    colorbar spans several axes (`save` then keeps that layout)."""
    figure = _matplotlib().figure.Figure(figsize=figsize, layout=layout)
    axes = figure.subplots(nrows, ncols, **kwargs)
    return figure, axes


def colormap(name, bad=None):
    """matplotlib's colour map `name`, with `bad` (a colour) for masked
    cells where given."""
    return _matplotlib().colormaps[name].with_extremes(bad=bad)


def save(figure, path):
    """Write `figure` to `path` (its format from the extension), atomically:
    a failed write leaves any earlier file in place."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    extension = os.path.splitext(path)[1]
    image = io.BytesIO()
    figure.savefig(image, dpi=DPI, format=extension.lstrip(".") or "png")
    write_atomically(path, image.getvalue())


def plot_heatmap(weights, x_labels, y_labels, title, path,
                 colorbar_label="attention weight", x_label="source",
                 y_label="output"):
    """An attention matrix `[T, S]` as a heatmap (target rows, source columns),
    with a colorbar labelled `colorbar_label`. Returns the `Figure`."""
    figure, axis = subplots(
        figsize=(max(4, 0.28 * len(x_labels) + 1.5) + 1.0,
                 max(3, 0.3 * len(y_labels) + 1.2))
    )
    image = axis.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    axis.set_xticks(range(len(x_labels)), x_labels, fontsize=7)
    axis.set_yticks(range(len(y_labels)), y_labels, fontsize=7)
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.set_title(title, fontsize=9)
    colorbar(figure, image, axis, colorbar_label)
    save(figure, path)
    return figure


def colorbar(figure, image, axis, label, fontsize=8):
    """A colorbar for `image` beside `axis`, labelled with what the colour is."""
    bar = figure.colorbar(image, ax=axis, fraction=0.05, pad=0.02)
    bar.set_label(label, fontsize=fontsize)
    bar.ax.tick_params(labelsize=fontsize - 1)
    return bar


def plot_hop_attention(sentences, weights, supporting, question, answer, path, title=None):
    """A story read by a memory network: each hop's weight on each sentence.

    Args:
        sentences: the story's sentences, oldest first (`S` of them).
        weights: `[K, S]`, hop `k`'s attention over the sentences.
        supporting: indices of the supporting facts, marked with a star.
        question, answer: shown in the title.
        path: where to write the figure.
        title: the figure's title (default: the question and answer).

    Returns:
        The `Figure`.
    """
    import numpy as np

    weights = np.asarray(weights, dtype="float32")
    hops, count = weights.shape
    if count != len(sentences):
        raise ValueError(
            f"weights must be [K, {len(sentences)}] for {len(sentences)} sentences, "
            f"received {list(weights.shape)}")
    labels = [f"{'* ' if i in set(supporting) else ''}{i + 1}. {s}"
              for i, s in enumerate(sentences)]
    figure, axis = subplots(figsize=(2.4 + 0.55 * hops + 0.055 * max(map(len, labels)),
                                     1.4 + 0.26 * count))
    image = axis.imshow(weights.T, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    axis.set_xticks(range(hops), [f"hop {k + 1}" for k in range(hops)], fontsize=8)
    axis.set_yticks(range(count), labels, fontsize=7)
    for i, label in enumerate(axis.get_yticklabels()):
        if i in set(supporting):
            label.set_fontweight("bold")
    axis.set_title(title or f"{question} {answer}\n* supporting fact", fontsize=9)
    colorbar(figure, image, axis, "attention weight (each hop sums to 1)")
    save(figure, path)
    return figure
