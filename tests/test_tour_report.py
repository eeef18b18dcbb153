"""The tour's report (index.md, index.html) and its pictures, from fake
results and small arrays: no training, no export."""

import base64
import html
import os
import re

import numpy as np

from keras_attention import plotting
from keras_attention.data import ntm_tasks
from keras_attention.tour import graph, ntm, qa, sequence, xlnet
from keras_attention.tour.report import COLUMN_NOTES, write_report
from keras_attention.tour.result import ModelResult

FAMILY_NOTES = {
    "sequence": sequence.NOTES,
    "graph": graph.NOTES,
    "ntm": ntm.NOTES,
    "xlnet": xlnet.NOTES,
    "qa": qa.NOTES,
}


def _png(path, value):
    """A tiny real PNG (a 2 x 2 image)."""
    figure, axis = plotting.subplots(figsize=(0.4, 0.4))
    axis.imshow(np.full((2, 2), value), vmin=0, vmax=1)
    axis.set_axis_off()
    plotting.save(figure, path)


def _results(out_dir):
    _png(os.path.join(out_dir, "a_alignment_0.png"), 0.2)
    _png(os.path.join(out_dir, "ntm_weightings.png"), 0.8)
    return [
        ModelResult(
            family="sequence", name="tiny <b>model</b> & co", parameters=12345,
            keras_accuracy=0.9876, device_accuracy=0.5, device_agreement=0.25,
            sizes={"float32": 2048, "dynamic": 1024, "int8": 512},
            latency_ms={"float32": 1.5, "dynamic": 0.25, "int8": 0.125},
            history={"loss": [2.0, 1.0], "val_loss": [2.5, 1.5]},
            pictures=["a_alignment_0.png"], default_mode="dynamic",
        ),
        ModelResult(
            family="sequence", name="plain", parameters=99,
            keras_accuracy=0.1, device_accuracy=0.1, device_agreement=1.0,
            sizes={"float32": 4096, "dynamic": 2048, "int8": 1024},
            latency_ms={"float32": 2.0, "dynamic": 1.0, "int8": 0.5},
            history={"loss": [3.0, 2.0]}, default_mode="dynamic",
        ),
        ModelResult(
            family="ntm", name="ntm copy", parameters=777,
            keras_accuracy=1.0, device_accuracy=0.96, device_agreement=0.94,
            sizes={"float32": 8192, "dynamic": 3072},
            latency_ms={"float32": 0.0625, "dynamic": 0.0725},
            history={"loss": [0.7, 0.1]}, pictures=["ntm_weightings.png"],
            default_mode="dynamic", device_mode="dynamic",
        ),
    ]


def _write(tmp_path):
    results = _results(str(tmp_path))
    index, table = write_report(
        results, str(tmp_path), ["Quick run in 0.1 minutes <here>."], FAMILY_NOTES
    )
    markdown = open(index, encoding="utf-8").read()
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    return results, index, table, markdown, page


def test_the_html_page_is_self_contained_and_says_what_the_markdown_says(tmp_path):
    results, index, table, markdown, page = _write(tmp_path)
    assert index == str(tmp_path / "index.md")
    assert table in markdown
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # Nothing fetched, nothing run: no external address, no script.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    # Every picture inside the page, as a PNG data URI: the training curves
    # and each model's.
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 1 + sum(len(r.pictures) for r in results)
    assert len(sources) == page.count("<img")
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    picture = (tmp_path / "a_alignment_0.png").read_bytes()
    assert base64.b64encode(picture).decode() in page
    # The table: same columns as index.md, the values.
    header = table.splitlines()[0].strip("| ").split(" | ")
    assert re.findall(r"<th>(.*?)</th>", page) == [html.escape(h) for h in header]
    for value in ("12,345", "0.988", "0.500 (int8)", "0.250", "2.0 KiB",
                  "0.125 ms", "0.960 (dynamic)", "0.062 ms", "3.0 KiB"):
        assert f">{value}</td>" in page and f" {value} |" in table
    # The NTM has no int8 column values: blank cells in both.
    ntm_row = next(line for line in table.splitlines() if "| ntm copy |" in line)
    assert ntm_row.count("|  |") == 2
    # Text is escaped: a name with markup is shown, not interpreted.
    assert "<b>model</b>" not in page
    assert "tiny &lt;b&gt;model&lt;/b&gt; &amp; co" in page
    assert "Quick run in 0.1 minutes &lt;here&gt;." in page
    # Family headings hold their models' pictures, in the results' order.
    assert page.index("<h2>sequence</h2>") < page.index("a_alignment_0.png") \
        < page.index("<h2>ntm</h2>") < page.index("ntm_weightings.png")
    assert "<h2>graph</h2>" not in page  # no graph results, no graph section


def test_both_pages_carry_the_same_notes(tmp_path):
    _, _, _, markdown, page = _write(tmp_path)
    notes_md = markdown[markdown.index("## Notes"):]
    notes_html = page[page.index('<h2 id="notes">Notes</h2>'):]
    shown = [COLUMN_NOTES, sequence.NOTES, ntm.NOTES]
    for topic, text in (note for notes in shown for note in notes):
        assert f"- **{topic}**: {text}" in notes_md
        assert f"<li><strong>{html.escape(topic)}</strong>: {html.escape(text)}</li>" \
            in notes_html
    # Only the families in the results.
    for topic, text in graph.NOTES:
        assert text not in markdown and html.escape(text) not in page
    assert notes_md.count("\n- **") == notes_html.count("<li>")
    # What the notes must say: what latency times per family, why int8 is
    # blank for the NTM, why the graph models default to float32, what the
    # accuracy, device and agreement columns mean.
    latency = {family: dict(notes)["Latency"] for family, notes in FAMILY_NOTES.items()}
    assert "decode_step" in latency["sequence"] and "encode" in latency["sequence"]
    assert "whole graph" in latency["graph"]
    assert "one call of the step signature" in latency["ntm"]
    assert "one call of the fill signature" in latency["xlnet"]
    assert "never its own piece" in dict(xlnet.NOTES)["Pictures"]
    assert "wrong memory row" in dict(ntm.NOTES)["Why int8 is blank"]
    assert dict(graph.NOTES)["Default export"].startswith("float32")
    assert graph.DEFAULT_MODE == "float32"
    columns = dict(COLUMN_NOTES)
    assert {"accuracy (Keras)", "accuracy (device, mode)", "agreement",
            "latency"} <= set(columns)
    assert "edge_demo" in columns["accuracy (device, mode)"]


def test_a_report_without_family_notes_still_has_the_column_notes(tmp_path):
    results = _results(str(tmp_path))
    write_report(results[1:2], str(tmp_path))
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.count("<img") == 1  # the training curves; "plain" draws none
    assert html.escape(COLUMN_NOTES[0][1]) in page
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_heatmap_has_a_labelled_colorbar_and_says_what_it_shows(tmp_path):
    source, target = "03.04.2021", "2021-04-03"
    weights = np.random.default_rng(0).dirichlet(np.ones(len(source)), len(target) + 1)
    title = sequence.alignment_title("transformer", source, target)
    figure = plotting.plot_heatmap(
        weights, list(source), list(target) + ["</s>"], title,
        str(tmp_path / "heatmap.png"),
    )
    assert (tmp_path / "heatmap.png").stat().st_size > 1000
    heatmap, bar = figure.axes  # the picture and its colorbar
    assert bar.get_ylabel() == "attention weight"
    assert heatmap.get_title() == (
        "transformer: cross-attention, last block, heads averaged\n"
        "'03.04.2021' -> '2021-04-03'"
    )
    bahdanau = sequence.alignment_title("bahdanau", source, target)
    assert bahdanau.startswith("bahdanau: additive attention weights\n")


def test_the_ntm_and_graph_pictures_have_colorbars_and_titles(tmp_path):
    rng = np.random.default_rng(0)
    inputs, targets, _ = ntm_tasks.copy_batch(1, 8, 8, seed=11)
    steps = inputs.shape[1]
    read, write = (rng.dirichlet(np.ones(32), steps) for _ in range(2))
    figure = ntm.plot_weightings(
        inputs[0], targets[0], rng.normal(size=targets[0].shape), read, write, 3,
        str(tmp_path / "ntm.png"),
    )
    panels, bars = figure.axes[:5], figure.axes[5:]
    assert len(bars) == 5  # one colorbar per panel
    titles = [axis.get_title(loc="left") for axis in panels]
    assert titles[3] == "write weighting over memory rows by time step"
    assert titles[4] == "read weighting over memory rows by time step"
    assert [bar.get_ylabel() for bar in bars][3:] == ["write weight", "read weight"]
    assert panels[4].get_ylabel() == "memory row"
    assert "time step" in panels[4].get_xlabel()
    assert figure._suptitle.get_text() == "NTM copy of 8 vectors: 3 wrong bit(s)"

    club, _, adjacency = graph.karate_arrays()
    coefficients = rng.random((1, 4, 34, 34)) * adjacency[0]
    figure = graph.draw_attention(
        club, adjacency, coefficients, club.labels, str(tmp_path / "club.png")
    )
    drawing, bar = figure.axes
    assert "layer attention_1, 4 heads averaged" in drawing.get_title()
    assert bar.get_ylabel().startswith("attention weight")
    assert (tmp_path / "club.png").stat().st_size > 1000
