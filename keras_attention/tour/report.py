"""The tour's report folder: a markdown page, training curves, pictures."""

import json
import os

from keras_attention import plotting
from keras_attention_export import MODES


def plot_curves(results, path):
    """Training loss (and validation loss where there is one) per model,
    one panel per family."""
    families = list(dict.fromkeys(r.family for r in results))
    figure, axes = plotting.subplots(
        1, len(families), figsize=(6 * len(families), 4), squeeze=False
    )
    for axis, family in zip(axes[0], families):
        for result in (r for r in results if r.family == family):
            for key, style in (("loss", "-"), ("val_loss", "--")):
                if key in result.history:
                    axis.plot(
                        range(1, len(result.history[key]) + 1),
                        result.history[key],
                        style,
                        label=f"{result.name} {key.replace('_', ' ')}",
                    )
        axis.set_xlabel("epoch")
        axis.set_ylabel("loss")
        axis.set_yscale("log")
        axis.legend(fontsize=7)
        axis.set_title(f"Training curves: {family}")
    plotting.save(figure, path)


def _table(results):
    found = {mode for r in results for mode in r.sizes}
    modes = [m for m in MODES if m in found] + sorted(found - set(MODES))
    header = (
        "| family | model | parameters | accuracy (Keras) | accuracy (device, mode) "
        "| agreement | default export | "
        + " | ".join(f"size {m}" for m in modes)
        + " | "
        + " | ".join(f"latency {m}" for m in modes)
        + " |"
    )
    lines = [header, "|" + " --- |" * (7 + 2 * len(modes))]
    for r in results:
        sizes = " | ".join(
            f"{r.sizes[m] / 1024:.1f} KiB" if m in r.sizes else "" for m in modes
        )
        latency = " | ".join(
            f"{r.latency_ms[m]:.3f} ms" if m in r.latency_ms else "" for m in modes
        )
        lines.append(
            f"| {r.family} | {r.name} | {r.parameters:,} | {r.keras_accuracy:.3f} | "
            f"{r.device_accuracy:.3f} ({r.device_mode}) | {r.device_agreement:.3f} | "
            f"{r.default_mode or '-'} | {sizes} | {latency} |"
        )
    return lines


def write_report(results, out_dir, notes=()):
    """`index.md`, `results.json` and `training_curves.png` in `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    plot_curves(results, os.path.join(out_dir, "training_curves.png"))
    lines = [
        "# keras-attention tour",
        "",
        *notes,
        "",
        *_table(results),
        "",
        "Accuracy is the share of held-out examples the model gets exactly "
        "right; the device column runs the exported model (int8 where it keeps "
        "the task right, else the mode named) through edge_demo (numpy and "
        "LiteRT only); agreement is the share of held-out outputs "
        "where device and Keras agree exactly. Latency is the median of one "
        "call of the model's main signature in LiteRT.",
        "",
        "![training curves](training_curves.png)",
        "",
    ]
    for r in results:
        for picture in r.pictures:
            lines += [f"![{r.name}: {os.path.basename(picture)}]({picture})", ""]
    with open(os.path.join(out_dir, "index.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump([r.__dict__ for r in results], f, indent=2)
    return os.path.join(out_dir, "index.md"), "\n".join(_table(results))
