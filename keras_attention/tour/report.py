"""The tour's report folder: the same report as a markdown page and as one
self-contained HTML page, training curves, pictures, results.json.

The notes that explain the table come from the code that knows them: the
columns' meaning from `COLUMN_NOTES` here, and each family's (what its
latency column times, its default export, why a mode is blank) from its
module's `NOTES`, which `run_tour` passes in as `family_notes`. `index.md`
and `index.html` print the same notes.
"""

import base64
import html
import json
import mimetypes
import os

from edge_demo.files import write_atomically
from keras_attention import plotting
from keras_attention_export import MODES

TITLE = "keras-attention tour"

# (topic, text) pairs: what the table's columns mean, for every family.
COLUMN_NOTES = [
    ("accuracy (Keras)",
     "the family's task measure (its Accuracy note; results.json's metric) "
     "of the trained Keras model on held-out data, as a share from 0 to 1."),
    ("accuracy (device, mode)",
     "the same measure from the exported file in the mode named, run through "
     "edge_demo (numpy and LiteRT only, as on a device: no TensorFlow, no "
     "Keras) on this machine: int8 where it keeps the task right, else the "
     "mode named."),
    ("agreement",
     "the share of held-out outputs where that device file and Keras give "
     "exactly the same answer, right or wrong."),
    ("default export",
     "the mode keras-attention-export uses for the model when none is given "
     "(each family's Default export note says why)."),
    ("size",
     "the exported .tflite file per mode."),
    ("latency",
     "the median milliseconds of one call in LiteRT on this machine's CPU, "
     "one thread, per mode; what one call is differs by family (each "
     "family's Latency note). A blank size or latency is a mode the family "
     "does not export."),
]

# Scoped to the page's <main>, so that the page can be embedded as it is.
STYLE = """
.tour-report { font-family: system-ui, -apple-system, "Segoe UI", Roboto,
  sans-serif; color: #1f2328; max-width: 1100px; margin: 0 auto;
  padding: 1rem 1.5rem 3rem; line-height: 1.5; }
.tour-report h1 { font-size: 1.8rem; margin-bottom: 0.3rem; }
.tour-report h2 { font-size: 1.4rem; margin-top: 2.2rem;
  border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; }
.tour-report h3 { font-size: 1.1rem; margin-top: 1.4rem; }
.tour-report .table-wrap { overflow-x: auto; }
.tour-report table { border-collapse: collapse; font-size: 0.85rem; }
.tour-report th, .tour-report td { border: 1px solid #d0d7de;
  padding: 0.25rem 0.5rem; white-space: nowrap; }
.tour-report th { background: #f6f8fa; text-align: left; }
.tour-report td.number { text-align: right; font-variant-numeric: tabular-nums; }
.tour-report tbody tr:nth-child(even) { background: #fafbfc; }
.tour-report figure { margin: 1rem 0; }
.tour-report img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
.tour-report figcaption { font-size: 0.85rem; color: #57606a; }
.tour-report .notes li { margin-bottom: 0.4rem; }
"""


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


# family, model and default export; the table's other columns are numbers.
TEXT_COLUMNS = (0, 1, 6)


def table_cells(results):
    """`(header, rows)`: the table's column names and each model's cells, as
    text (the columns in `TEXT_COLUMNS` are words, the others numbers)."""
    found = {mode for r in results for mode in r.sizes}
    modes = [m for m in MODES if m in found] + sorted(found - set(MODES))
    header = [
        "family", "model", "parameters", "accuracy (Keras)",
        "accuracy (device, mode)", "agreement", "default export",
        *(f"size {m}" for m in modes),
        *(f"latency {m}" for m in modes),
    ]
    rows = []
    for r in results:
        rows.append([
            r.family,
            r.name,
            f"{r.parameters:,}",
            f"{r.keras_accuracy:.3f}",
            f"{r.device_accuracy:.3f} ({r.device_mode})",
            f"{r.device_agreement:.3f}",
            r.default_mode or "-",
            *(f"{r.sizes[m] / 1024:.1f} KiB" if m in r.sizes else "" for m in modes),
            *(f"{r.latency_ms[m]:.3f} ms" if m in r.latency_ms else "" for m in modes),
        ])
    return header, rows


def _table(results):
    """The table as markdown lines."""
    header, rows = table_cells(results)

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + " --- |" * len(header), *map(line, rows)]


def _families(results):
    return list(dict.fromkeys(r.family for r in results))


def _note_sections(results, family_notes):
    """`[(heading, [(topic, text)])]`: the columns, then each family's."""
    sections = [("The columns", list(COLUMN_NOTES))]
    for family in _families(results):
        if family_notes.get(family):
            sections.append((family, list(family_notes[family])))
    return sections


def markdown_page(results, notes, family_notes):
    """index.md's text."""
    lines = [
        f"# {TITLE}", "", *notes, "", *_table(results), "",
        "What each column means, and what the latency column times in each "
        "family: the notes at the end.", "",
        "![training curves](training_curves.png)", "",
    ]
    for family in _families(results):
        pictures = [
            (r, picture) for r in results if r.family == family
            for picture in r.pictures
        ]
        if not pictures:
            continue
        lines += [f"## {family}", ""]
        for r, picture in pictures:
            lines += [f"![{r.name}: {os.path.basename(picture)}]({picture})", ""]
    lines += ["## Notes", ""]
    for heading, items in _note_sections(results, family_notes):
        lines += [f"### {heading}", ""]
        lines += [f"- **{topic}**: {text}" for topic, text in items]
        lines.append("")
    return "\n".join(lines)


def _data_uri(path):
    """The file at `path` as a `data:` URI (its type from the extension)."""
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f"data:{kind};base64,{data}"


def _figure(path, alt, caption):
    e = html.escape
    return (
        f'<figure><img src="{_data_uri(path)}" alt="{e(alt)}">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def _html_table(results):
    e = html.escape
    header, rows = table_cells(results)
    lines = [
        '<div class="table-wrap"><table>',
        "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        cells = "".join(
            f"<td>{e(c)}</td>" if i in TEXT_COLUMNS
            else f'<td class="number">{e(c)}</td>'
            for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines += ["</tbody>", "</table></div>"]
    return lines


def html_page(results, out_dir, notes, family_notes):
    """index.html's text: one page, every picture inside it as a `data:` URI,
    its style inline, no script and nothing fetched."""
    e = html.escape
    body = [
        f"<h1>{e(TITLE)}</h1>",
        *(f"<p>{e(note)}</p>" for note in notes if note),
        *_html_table(results),
        "<p>What each column means, and what the latency column times in each "
        'family: the <a href="#notes">notes</a> at the end.</p>',
        "<h2>Training curves</h2>",
        _figure(
            os.path.join(out_dir, "training_curves.png"), "training curves",
            "Training loss (dashed: validation loss) per model, one panel per family.",
        ),
    ]
    for family in _families(results):
        drawn = [r for r in results if r.family == family and r.pictures]
        if drawn:
            body.append(f"<h2>{e(family)}</h2>")
        for r in drawn:
            body.append(f"<h3>{e(r.name)}</h3>")
            for picture in r.pictures:
                name = os.path.basename(picture)
                body.append(_figure(
                    os.path.join(out_dir, picture), f"{r.name}: {name}",
                    f"{r.name}: {name}",
                ))
    body.append('<h2 id="notes">Notes</h2>')
    for heading, items in _note_sections(results, family_notes):
        body += [f"<h3>{e(heading)}</h3>", '<ul class="notes">']
        body += [
            f"<li><strong>{e(topic)}</strong>: {e(text)}</li>" for topic, text in items
        ]
        body.append("</ul>")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(TITLE)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        '<main class="tour-report">',
        *body,
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def write_report(results, out_dir, notes=(), family_notes=None):
    """Write `index.md`, `index.html`, `results.json` and `training_curves.png`
    in `out_dir`, each whole or not at all.

    Args:
        results: `ModelResult`s, in the table's order; their pictures are
            paths relative to `out_dir`.
        out_dir: the report folder.
        notes: lines printed under the title (the run's note).
        family_notes: `{family: [(topic, text)]}`, each family module's
            `NOTES`, printed in the report's Notes after `COLUMN_NOTES`.

    Returns:
        `(path of index.md, the table as markdown text)`.
    """
    notes = list(notes)
    family_notes = dict(family_notes or {})
    os.makedirs(out_dir, exist_ok=True)
    plot_curves(results, os.path.join(out_dir, "training_curves.png"))
    index = os.path.join(out_dir, "index.md")
    write_atomically(index, markdown_page(results, notes, family_notes))
    write_atomically(
        os.path.join(out_dir, "index.html"),
        html_page(results, out_dir, notes, family_notes),
    )
    write_atomically(
        os.path.join(out_dir, "results.json"),
        json.dumps([r.__dict__ for r in results], indent=2),
    )
    return index, "\n".join(_table(results))
