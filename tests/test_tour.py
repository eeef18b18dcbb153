"""The tour's quick mode, end to end (about a minute and a half on 2 cores)."""

import json
import os

import numpy as np

from edge_demo.__main__ import main as edge_main
from keras_attention.cli import main as cli_main
from keras_attention.tour import run_tour


def test_quick_tour_writes_its_report(tmp_path, capsys):
    index, table = run_tour(str(tmp_path), quick=True)
    assert os.path.basename(index) == "index.md"
    page = open(index, encoding="utf-8").read()
    results = json.loads((tmp_path / "results.json").read_text())
    names = ["rnn", "bahdanau", "transformer", "karate gatv2", "karate gcn"]
    assert [r["name"] for r in results] == names
    sequence, graph = results[:3], results[3:]
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
    capsys.readouterr()
    model = tmp_path / "karate_gatv2_int8.tflite"
    assert edge_main([str(model), "--inputs", str(tmp_path / "karate_club.npz")]) == 0
    printed = capsys.readouterr().out
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
    assert [len(r["pictures"]) for r in results] == [0, 3, 3, 1, 0]
    assert (tmp_path / "training_curves.png").stat().st_size > 1000
    assert table in page
    assert "| default export |" in table


def test_command_line_help_and_unknown_command(capsys):
    assert cli_main(["--help"]) == 0
    assert "keras-attention tour" in capsys.readouterr().out
    assert cli_main(["train"]) == 2
