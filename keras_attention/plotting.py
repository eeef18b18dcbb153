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
