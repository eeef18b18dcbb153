"""Any model from `keras-attention-export` runs on `python -m edge_demo`:
the generic task, arrays in and arrays out, end to end against Keras.

The model's inputs have no `name=`, which once broke the export ("Missing
data for input"); their names come from the metadata, as a user's would.
"""

import json
import os
import sys

import keras
import numpy as np
import pytest

from edge_demo.__main__ import main as edge_main
from keras_attention_export import export_tflite
from keras_attention_export.cli import main as export_main
from tests.commands import run
from tests.log_lines import log_lines


def _two_input_model():
    keras.utils.set_random_seed(7)
    tokens, numbers = keras.Input((5, 4)), keras.Input((3,))  # no names
    pooled = keras.layers.GlobalAveragePooling1D()(tokens)
    joined = keras.layers.Concatenate()([pooled, numbers])
    return keras.Model(
        [tokens, numbers],
        [keras.layers.Dense(2, name="first")(joined), keras.layers.Dense(3, name="second")(joined)],
    )


def _inputs(metadata, rows, seed=0):
    """Random arrays by input name, `rows` batches of each input's signature."""
    rng = np.random.default_rng(seed)
    return {
        t["name"]: rng.normal(size=[rows * t["shape"][0]] + t["shape"][1:]).astype("float32")
        for t in metadata["signatures"]["serving_default"]["inputs"]
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The model saved, exported by the command line; its paths and metadata."""
    folder = tmp_path_factory.mktemp("generic")
    model = _two_input_model()
    model.save(folder / "model.keras")
    out = folder / "model.tflite"
    assert export_main([str(folder / "model.keras"), "--out", str(out)]) == 0
    metadata = json.loads((folder / "model.json").read_text())
    return folder, model, metadata


def test_export_tflite_takes_inputs_without_names(tmp_path):
    model = _two_input_model()
    metadata = json.loads(open(export_tflite(model, tmp_path / "m.tflite")).read())
    names = [t["name"] for t in metadata["signatures"]["serving_default"]["inputs"]]
    # The input layers' names, which Keras matches a dict of arrays against.
    assert names == [t._keras_history.operation.name for t in model.inputs]
    assert metadata["task"] == {"kind": "arrays"}


def test_exported_model_runs_on_edge_demo_as_arrays(exported):
    folder, model, metadata = exported
    assert metadata["task"] == {"kind": "arrays"}
    inputs = _inputs(metadata, rows=3)  # a batch-1 signature, called 3 times
    np.savez(folder / "x.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [
        sys.executable, "-m", "edge_demo", folder / "model.tflite",
        "--inputs", folder / "x.npz", "--out", folder / "y.npz", "--runs", "2",
    ]
    done, transcript = run(command, 120, env=env)
    assert done.returncode == 0, transcript
    assert log_lines(done.stdout + done.stderr) == [] and done.stderr == "", transcript
    assert "signature: serving_default (3 call(s))" in done.stdout, transcript
    # In input order: Keras matches a dict against tensor names in one check
    # and layer names in another, which differ for inputs without a name.
    names = [t["name"] for t in metadata["signatures"]["serving_default"]["inputs"]]
    want = model.predict([inputs[n] for n in names], verbose=0)
    with np.load(folder / "y.npz") as got:
        assert sorted(got.files) == ["first", "second"]
        np.testing.assert_allclose(got["first"], want[0], atol=1e-5, rtol=0)
        np.testing.assert_allclose(got["second"], want[1], atol=1e-5, rtol=0)
    # --verbose lets LiteRT's own lines through.
    done, transcript = run(command + ["--verbose"], 120, env=env)
    assert done.returncode == 0, transcript
    assert any("XNNPACK" in line for line in log_lines(done.stderr)), transcript


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a, names: a.pop(names[1]), "lacks input(s) ['{1}']"),
        (lambda a, names: a.update(extra=np.zeros(2)), "was given unknown input(s) ['extra']"),
        (
            lambda a, names: a.update({names[1]: np.zeros((1, 4), "float32")}),
            "input '{1}': expected shape [1, 3] or [k * 1] + [3] for k batches, "
            "received [1, 4]",
        ),
        (
            lambda a, names: a.update({names[1]: np.zeros((1, 3), "int32")}),
            "input '{1}': expected dtype float32, received int32",
        ),
        (
            lambda a, names: a.update({names[1]: np.zeros((2, 3), "float32")}),
            "the inputs hold different numbers of batches",
        ),
    ],
)
def test_arrays_errors_name_the_input(exported, tmp_path, capsys, change, message):
    folder, _, metadata = exported
    arrays = _inputs(metadata, rows=1)
    names = [t["name"] for t in metadata["signatures"]["serving_default"]["inputs"]]
    change(arrays, names)
    np.savez(tmp_path / "x.npz", **arrays)
    status = edge_main([str(folder / "model.tflite"), "--inputs", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert message.format(*names) in err


def test_arrays_need_inputs_and_an_npz_out(exported, capsys):
    folder, _, _ = exported
    assert edge_main([str(folder / "model.tflite")]) == 2
    assert "takes arrays: give --inputs" in capsys.readouterr().err
    assert edge_main([str(folder / "model.tflite"), "--inputs", "x.npz", "--out", "y.npy"]) == 2
    assert "the outputs are written as a .npz file" in capsys.readouterr().err
