"""The tour's quick mode, end to end (about three minutes on 2 cores), but
for the images family (tests/test_tour_images.py)."""

import base64
import html
import json
import pathlib
import re
import sys

import numpy as np

from edge_demo.__main__ import main as edge_main
from keras_attention.cli import main as cli_main
from tests.commands import optimized_xla_environment, run
from tests.log_lines import log_lines

TIMEOUT = 900


def test_quick_tour_writes_its_report(tmp_path, capfd):
    # The command a user runs, in a process of its own: its whole output,
    # TensorFlow's and LiteRT's C++ logs included, and XLA as users get it
    # (the tour trains for hundreds of steps; tests/conftest.py). The images
    # family needs MNIST, which not every machine has:
    # tests/test_tour_images.py runs it on digits it draws.
    command = pathlib.Path(sys.executable).with_name("keras-attention")
    done, transcript = run(
        [command, "tour", "--quick", "--out", tmp_path,
         "--families", "sequence,graph,ntm,xlnet,qa"], TIMEOUT,
        env=optimized_xla_environment(),
    )
    assert done.returncode == 0, transcript
    assert log_lines(done.stdout + done.stderr) == [], transcript
    index = str(tmp_path / "index.md")
    assert done.stdout.rstrip().endswith(f"report: {index}")
    page = open(index, encoding="utf-8").read()
    table = done.stdout.rstrip().rsplit("\n\n", 1)[0].rsplit("\n\n", 1)[-1]
    results = json.loads((tmp_path / "results.json").read_text())
    names = ["rnn", "bahdanau", "transformer", "karate gatv2", "karate gcn", "ntm copy",
             "xlnet dates", "memn2n qa1", "memn2n qa2"]
    assert [r["name"] for r in results] == names
    sequence, graph, (ntm, xlnet), qa = results[:3], results[3:5], results[5:7], results[7:]
    for result in graph:
        assert set(result["sizes"]) == {"float32", "dynamic", "int8"}
        assert result["default_mode"] == "float32"
        assert 0.0 <= result["device_accuracy"] <= 1.0
        assert result["history"]["loss"][-1] < result["history"]["loss"][0]
    # The graph and the members' labels for `python -m edge_demo --inputs`.
    with np.load(tmp_path / "karate_club.npz") as arrays:
        assert arrays["adjacency"].shape == (1, 34, 34)
        assert arrays["adjacency"].sum() == 156  # 78 friendships, both ways
    assert (tmp_path / "karate_gatv2_attention.png").stat().st_size > 1000
    # The int8 karate model classifies the members through edge_demo's CLI.
    capfd.readouterr()
    model = tmp_path / "karate_gatv2_int8.tflite"
    assert edge_main([str(model), "--inputs", str(tmp_path / "karate_club.npz")]) == 0
    printed = capfd.readouterr().out
    assert "node 0: Mr. Hi (" in printed and "node 33: Officer (" in printed
    assert "accuracy: " in printed and "/34 labelled nodes" in printed
    assert "![karate gatv2: karate_gatv2_attention.png]" in page
    for result in sequence:
        assert set(result["sizes"]) == {"float32", "dynamic", "int8"}
        assert set(result["latency_ms"]) == set(result["sizes"])
        assert all(size > 0 for size in result["sizes"].values())
        # Quantized weights: both integer files are smaller than float32.
        assert result["sizes"]["dynamic"] < 0.6 * result["sizes"]["float32"]
        assert result["sizes"]["int8"] < result["sizes"]["float32"]
        assert result["default_mode"] == "dynamic"
        # Accuracy, device accuracy and agreement are shares of held-out rows.
        for key in ("keras_accuracy", "device_accuracy", "device_agreement"):
            assert 0.0 <= result[key] <= 1.0
        assert len(result["history"]["loss"]) == 3
        assert result["history"]["loss"][-1] < result["history"]["loss"][0]
        for picture in result["pictures"]:
            assert (tmp_path / picture).stat().st_size > 1000
            assert f"]({picture})" in page
        assert (tmp_path / f"{result['name']}_int8.json").exists()
    # The attention models have alignment pictures; the plain ones have none.
    assert [len(r["pictures"]) for r in results] == [0, 3, 3, 1, 0, 2, 1, 0, 1]
    _check_ntm(ntm, tmp_path, page, capfd)
    _check_qa(qa, tmp_path, page, capfd)
    _check_xlnet(xlnet, tmp_path, page, capfd)
    assert (tmp_path / "training_curves.png").stat().st_size > 1000
    assert table.startswith("|") and table in page
    assert "| default export |" in table
    _check_html(results, tmp_path, table)


def _check_html(results, tmp_path, table):
    # The same report as one self-contained page: the table's values, every
    # picture inside it, the notes (tests/test_tour_report.py has the rest).
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    for row in table.splitlines()[2:]:
        for cell in row.strip("| ").split(" | "):
            assert f">{html.escape(cell)}</td>" in page
    pictures = ["training_curves.png"] + [p for r in results for p in r["pictures"]]
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == page.count("<img") == len(pictures)
    for picture in pictures:
        data = base64.b64encode((tmp_path / picture).read_bytes()).decode()
        assert f'<img src="data:image/png;base64,{data}"' in page
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page))
    assert '<h2 id="notes">Notes</h2>' in page and "<script" not in page


def _check_qa(rows, tmp_path, page, capture):
    for row in rows:
        assert set(row["sizes"]) == set(row["latency_ms"]) == {"float32", "dynamic", "int8"}
        assert row["default_mode"] == row["device_mode"] == "int8"
        assert row["metric"].startswith("test questions answered right (task ")
        assert row["history"]["loss"][-1] < row["history"]["loss"][0]
    # Task 1 (one supporting fact) is learnt even in the quick tour; the
    # device agrees with Keras.
    assert rows[0]["keras_accuracy"] >= 0.9, rows[0]
    for row in rows:
        assert row["device_agreement"] >= 0.9, row
    (picture,) = rows[1]["pictures"]
    assert (tmp_path / picture).stat().st_size > 1000 and f"]({picture})" in page
    # The int8 model answers a story written to a file, through the CLI.
    story = tmp_path / "story.txt"
    story.write_text("Mary moved to the bathroom.\nJohn went to the hallway.\n")
    capture.readouterr()
    model = tmp_path / "memn2n_qa1_int8.tflite"
    assert edge_main([str(model), "--story", str(story), "--question", "Where is Mary?"]) == 0
    printed = capture.readouterr().out
    assert "answer:  bathroom (" in printed and "hop 1:" in printed


def _check_ntm(ntm, tmp_path, page, capture):
    # float32 and dynamic range; int8 breaks the copy (see tour/ntm.py).
    assert set(ntm["sizes"]) == set(ntm["latency_ms"]) == {"float32", "dynamic"}
    assert ntm["sizes"]["dynamic"] < 0.6 * ntm["sizes"]["float32"]
    assert ntm["default_mode"] == "dynamic"
    assert ntm["metric"].startswith("sequences copied without a wrong bit")
    for key in ("keras_accuracy", "device_accuracy", "device_agreement"):
        assert 0.0 <= ntm[key] <= 1.0
    # The device carries the state step by step: a broken carry or initial
    # state gives other bits on nearly every sequence, not on a few.
    assert ntm["device_agreement"] >= 0.9
    curve = ntm["history"]["bits_per_sequence"]
    assert len(curve) == 6 and curve[-1] < 0.5 * curve[0]
    for picture in ntm["pictures"]:
        assert (tmp_path / picture).stat().st_size > 1000
        assert f"]({picture})" in page
    # The dynamic-range model copies the saved bits through edge_demo's CLI.
    bits = np.load(tmp_path / "ntm_copy_bits.npy")
    capture.readouterr()
    model = tmp_path / "ntm_copy_dynamic.tflite"
    assert edge_main([str(model), "--inputs", str(tmp_path / "ntm_copy_bits.npy")]) == 0
    lines = capture.readouterr().out.splitlines()
    start = lines.index("input:")
    rows = ["  " + "".join("#" if b else "." for b in row) for row in bits.T]
    assert lines[start + 1 : start + 9] == rows
    assert lines[start + 9] == "output:"
    assert any(line.startswith("bit errors: ") for line in lines)


def _check_xlnet(xlnet, tmp_path, page, capture):
    assert set(xlnet["sizes"]) == set(xlnet["latency_ms"]) == {"float32", "dynamic", "int8"}
    assert xlnet["sizes"]["dynamic"] < 0.6 * xlnet["sizes"]["float32"]
    assert xlnet["default_mode"] == "float32" and xlnet["device_mode"] == "int8"
    assert xlnet["metric"] == "months filled exactly"
    for key in ("keras_accuracy", "device_accuracy", "device_agreement"):
        assert 0.0 <= xlnet[key] <= 1.0
    # The device fills from text as Keras does: a wrong gap position, a
    # tokenizer that differs or a broken mask gives other months on most
    # sentences, not on a few.
    assert xlnet["device_agreement"] >= 0.8
    assert len(xlnet["history"]["loss"]) == 3
    assert xlnet["history"]["loss"][-1] < 0.9 * xlnet["history"]["loss"][0]
    (picture,) = xlnet["pictures"]
    assert picture == "xlnet_two_streams.png" and f"]({picture})" in page
    assert (tmp_path / picture).stat().st_size > 1000
    # The int8 file fills a gap from text through edge_demo's CLI, with the
    # tokenizer beside it.
    assert (tmp_path / "xlnet_int8.tokenizer.model").exists()
    capture.readouterr()
    model = tmp_path / "xlnet_int8.tflite"
    text = "saturday, ___ 15th 2070 = 2070-02-15"
    assert edge_main([str(model), "--text", text]) == 0
    lines = capture.readouterr().out.splitlines()
    (output,) = [line for line in lines if line.startswith("output:  ")]
    filled = output[len("output:  "):]
    assert filled.startswith("saturday, ") and filled.endswith(" 15th 2070 = 2070-02-15")
    assert "___" not in filled and len(filled) > len("saturday,  15th 2070 = 2070-02-15")


def test_command_line_help_and_unknown_command(capsys):
    assert cli_main(["--help"]) == 0
    assert "keras-attention tour" in capsys.readouterr().out
    assert cli_main(["train"]) == 2
