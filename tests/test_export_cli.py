import json

import keras
import numpy as np
import pytest

from keras_attention_export.cli import main
from keras_attention import MultiHeadSelfAttention


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(3)  # module fixtures run before the per-test seed
    x = keras.Input((8, 16), name="x")
    y = MultiHeadSelfAttention(2, 8)(x, use_causal_mask=True)
    model = keras.Model(x, keras.layers.Dense(5, name="logits")(y))
    model.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "calib.npz", x=rng.normal(size=(24, 8, 16)).astype("float32"))
    np.savez(folder / "heldout.npz", x=rng.normal(size=(6, 8, 16)).astype("float32"))
    return folder


def test_int8_export_with_report_and_onnx(saved_model, capsys):
    out = saved_model / "model_int8.tflite"
    status = main(
        [
            str(saved_model / "model.keras"), "--mode", "int8",
            "--calibration", str(saved_model / "calib.npz"),
            "--calibration-samples", "24", "--integer-io",
            "--heldout", str(saved_model / "heldout.npz"),
            "--out", str(out), "--report", str(saved_model / "report.json"),
            "--runs", "5", "--onnx", str(saved_model / "model.onnx"),
        ]
    )
    assert status == 0, capsys.readouterr().err
    report = json.loads((saved_model / "report.json").read_text())
    assert report["mode"] == "int8" and report["parity"]["inputs"] == "6 held-out inputs"
    metadata = json.loads((saved_model / "model_int8.json").read_text())
    assert metadata["mode"] == "int8"
    (logits,) = metadata["signatures"]["serving_default"]["outputs"]
    # The bound of tests/test_export.py: 16 steps of the output's scale.
    assert report["parity"]["max_abs_error"] <= 16 * logits["quantization"]["scale"]
    assert (saved_model / "report.md").exists()
    printed = capsys.readouterr().out
    assert "max abs error vs Keras" in printed  # the ONNX line


def test_int8_with_quantile_ranges(saved_model, capsys):
    status = main(
        [
            str(saved_model / "model.keras"), "--mode", "int8",
            "--calibration", str(saved_model / "calib.npz"), "--range-quantile", "0.9",
            "--heldout", str(saved_model / "heldout.npz"),
            "--out", str(saved_model / "q.tflite"), "--report", str(saved_model / "q_report.json"),
            "--runs", "3",
        ]
    )
    assert status == 0, capsys.readouterr().err
    report = json.loads((saved_model / "q_report.json").read_text())
    assert report["mode"] == "int8"
    # Next-token argmax of 48 held-out positions over 5 logits (chance: 0.2).
    assert report["parity"]["top1_agreement"] >= 0.9


def test_float32_report_without_data_uses_random_inputs(saved_model):
    assert main(
        [str(saved_model / "model.keras"), "--out", str(saved_model / "f.tflite"),
         "--report", str(saved_model / "f_report.json"), "--runs", "3"]
    ) == 0
    report = json.loads((saved_model / "f_report.json").read_text())
    assert report["parity"]["inputs"].endswith("random inputs (no --heldout given)")
    assert report["parity"]["max_abs_error"] < 1e-5


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["missing.keras"], "model file not found: missing.keras"),
        (["{folder}/garbage.keras"], "cannot load {folder}/garbage.keras as a Keras model"),
        (["{folder}/model.keras", "--mode", "int8"], "pass representative_data"),
        (
            ["{folder}/model.keras", "--mode", "int8", "--calibration", "{folder}/nope.npz"],
            "calibration file not found",
        ),
        (["{folder}/model.keras", "--input-shape", "x"], "--input-shape must look like NAME=D1,D2"),
        (
            ["{folder}/model.keras", "--mode", "dynamic", "--range-quantile", "0.9"],
            "range_quantile is for the int8 mode",
        ),
    ],
)
def test_errors_are_one_line_and_status_2(saved_model, capsys, arguments, message):
    (saved_model / "garbage.keras").write_bytes(b"not a zip file")
    folder = str(saved_model)
    arguments = [a.format(folder=folder) for a in arguments]
    status = main(arguments + ["--out", str(saved_model / "x.tflite")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: ") and message.format(folder=folder) in err
    assert err.count("\n") == 1


def test_unknown_mode_and_help(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["m.keras", "--out", "m.tflite", "--mode", "int4"])
    assert raised.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    assert "keras-attention-export model.keras --mode int8" in capsys.readouterr().out
