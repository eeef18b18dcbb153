"""The tour's quick mode, end to end (about a minute and a half on 2 cores)."""

import json
import os

from keras_attention.cli import main as cli_main
from keras_attention.tour import run_tour


def test_quick_tour_writes_its_report(tmp_path):
    index, table = run_tour(str(tmp_path), quick=True)
    assert os.path.basename(index) == "index.md"
    page = open(index, encoding="utf-8").read()
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["name"] for r in results] == ["rnn", "bahdanau", "transformer"]
    for result in results:
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
    # The attention models have alignment pictures; the plain one has none.
    assert [len(r["pictures"]) for r in results] == [0, 3, 3]
    assert (tmp_path / "training_curves.png").stat().st_size > 1000
    assert table in page
    assert "| default export |" in table


def test_command_line_help_and_unknown_command(capsys):
    assert cli_main(["--help"]) == 0
    assert "keras-attention tour" in capsys.readouterr().out
    assert cli_main(["train"]) == 2
