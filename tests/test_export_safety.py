"""Bad input to the export API and CLI (issue 16, items 1, 2, 6 and 7).

Every case is either refused with an error naming the argument or file,
what was expected and what came (the CLI: status 2 and one line), or
handled correctly; and after every failed run the files around it are as
they were: inputs byte-identical, old outputs unchanged, no temporary file.
"""

import io
import json
import os
import re
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_attention_export as export
from keras_attention.saving import load_model
from keras_attention_export import calibration, cli, verify
from keras_attention_export.outputs import StagedFiles, check_paths

# A Dense of 8 x 128 = 1024 weights: the smallest that dynamic-range
# quantization turns into int8, so that every mode changes the kernel.
FEATURES, UNITS = 8, 128


def _model():
    x = keras.Input((FEATURES,), name="x")
    return keras.Model(x, keras.layers.Dense(UNITS, name="logits")(x))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The input files every case starts from, as bytes."""
    folder = tmp_path_factory.mktemp("inputs")
    keras.utils.set_random_seed(5)
    _model().save(folder / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "calib.npz", x=rng.normal(size=(8, FEATURES)).astype("float32"))
    np.savez(folder / "heldout.npz", x=rng.normal(size=(4, FEATURES)).astype("float32"))
    return {name: (folder / name).read_bytes() for name in os.listdir(folder)}


@pytest.fixture(scope="module")
def exporter():
    keras.utils.set_random_seed(5)
    with export.Exporter(_model()) as made:
        yield made


@pytest.fixture(scope="module")
def flatbuffers(exporter):
    """One conversion per mode (int8 with integer I/O)."""
    data = {"x": np.random.default_rng(1).normal(size=(8, FEATURES)).astype("float32")}
    made = {
        mode: exporter.convert(mode) for mode in ("float32", "float16", "dynamic")
    }
    made["int8"] = exporter.convert("int8", representative_data=data, integer_io=True)
    return made


OLD = {"out.tflite": b"old model", "out.json": b"old metadata",
       "report.json": b"old report", "report.md": b"old markdown"}


@pytest.fixture
def folder(tmp_path, inputs):
    """A folder with the inputs and the outputs of an earlier export."""
    for name, content in {**inputs, **OLD}.items():
        (tmp_path / name).write_bytes(content)
    return tmp_path


def _snapshot(folder):
    """Every file under `folder` (hidden ones too) with its bytes."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def _cli_fails(folder, argv, pattern, capsys):
    """Run the CLI; it must exit 2 with one line matching `pattern` and
    leave every file under `folder` as it was."""
    before = _snapshot(folder)
    argv = [str(a).format(f=folder) for a in argv]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert re.fullmatch(r"error: [^\n]+\n", err), err
    assert re.search(pattern.format(f=re.escape(str(folder))), err), err
    assert _snapshot(folder) == before


# -- .keras files --------------------------------------------------------------


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _edit_config(data, old, new):
    members = _members(data)
    config = members["config.json"].decode()
    assert old in config
    return _zip({**members, "config.json": config.replace(old, new)})


def _without(data, member):
    return _zip({k: v for k, v in _members(data).items() if k != member})


def _flip_in_member(data, member):
    # A byte in the middle of `member`'s stored data: its CRC no longer fits.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    flipped = bytearray(data)
    flipped[start + info.compress_size // 2] ^= 0xFF
    return bytes(flipped)


HTML = b"<!DOCTYPE html>\n<html><body><h1>Sign in to the Wi-Fi</h1></body></html>"
RANDOM = np.random.default_rng(7).bytes(4096)
NOT_ARCHIVE = (
    r"cannot load {f}/model\.keras as a Keras model: "
    r"it is not a readable \.keras archive"
)

KERAS_MUTATIONS = {
    "truncated": (
        lambda d: d[: len(d) // 2],
        NOT_ARCHIVE + r".*found a zip archive \([\d,]+ bytes\), "
        r"which is not a complete zip archive",
    ),
    "empty": (lambda d: b"", NOT_ARCHIVE + r".*found an empty file"),
    "random bytes": (
        lambda d: RANDOM, NOT_ARCHIVE + r".*found 4,096 bytes starting with"
    ),
    "html page": (
        lambda d: HTML, NOT_ARCHIVE + r".*found an HTML page \(\d+ bytes\)"
    ),
    "flipped weight byte": (
        lambda d: _flip_in_member(d, "model.weights.h5"),
        NOT_ARCHIVE + r".*member 'model\.weights\.h5' does not match its checksum",
    ),
    "no config.json": (
        lambda d: _without(d, "config.json"),
        NOT_ARCHIVE + r".*has no config\.json; "
        r"found members \['metadata\.json', 'model\.weights\.h5'\]",
    ),
    "no weights": (
        lambda d: _without(d, "model.weights.h5"),
        NOT_ARCHIVE + r".*has no weights \(model\.weights\.h5 or model\.weights\.npz\)",
    ),
    "config not json": (
        lambda d: _zip({**_members(d), "config.json": b"{'class_name': Functional"}),
        NOT_ARCHIVE + r".*its config\.json is not valid JSON",
    ),
    "config a list": (
        lambda d: _zip({**_members(d), "config.json": b"[1, 2]"}),
        NOT_ARCHIVE + r".*must be a JSON object with a 'class_name', found list",
    ),
    "unknown layer class": (
        lambda d: _edit_config(d, '"class_name": "Dense"', '"class_name": "Dnese"'),
        r"cannot load {f}/model\.keras as a Keras model "
        r"\(expected a \.keras file written by model\.save\): .*Dnese",
    ),
    "units edited": (
        lambda d: _edit_config(d, '"units": 128', '"units": 64'),
        r"cannot load {f}/model\.keras as a Keras model "
        r".*shape.*\(8, 64\).*\(8, 128\)",
    ),
}


@pytest.mark.parametrize("mutation", sorted(KERAS_MUTATIONS))
def test_bad_keras_files_are_named_and_nothing_is_touched(folder, mutation, capsys):
    mutate, pattern = KERAS_MUTATIONS[mutation]
    model = folder / "model.keras"
    model.write_bytes(mutate(model.read_bytes()))
    argv = [model, "--out", "{f}/out.tflite", "--report", "{f}/report.json"]
    _cli_fails(folder, argv, pattern, capsys)


def test_keras_paths_that_are_not_keras_files(folder, capsys):
    os.mkdir(folder / "dir.keras")
    _cli_fails(
        folder, ["{f}/dir.keras", "--out", "{f}/out.tflite"],
        r"model {f}/dir\.keras is not a \.keras file .*: it is a folder", capsys,
    )
    (folder / "model.zip").write_bytes((folder / "model.keras").read_bytes())
    _cli_fails(
        folder, ["{f}/model.zip", "--out", "{f}/out.tflite"],
        r"model must be a file named \*\.keras .*, received {f}/model\.zip", capsys,
    )


def test_the_loader_names_its_argument_and_loads_good_files(folder):
    missing = r"--teacher file not found: .*absent\.keras"
    with pytest.raises(FileNotFoundError, match=missing):
        load_model(folder / "absent.keras", "--teacher")
    model = load_model(folder / "model.keras")
    assert [w.shape for w in model.weights] == [(FEATURES, UNITS), (UNITS,)]


# -- calibration and held-out .npz files ---------------------------------------


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _calib(**changes):
    x = np.random.default_rng(2).normal(size=(8, FEATURES)).astype("float32")
    for index, value in changes.get("values", {}).items():
        x[index] = value
    return _npz(**{changes.get("name", "x"): x})


def _npy():
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((8, FEATURES), "float32"))
    return buffer.getvalue()


NOT_NPZ = (
    r"--calibration file {f}/calib\.npz is not a readable \.npz "
    r"\(np\.savez's zip of arrays\)"
)
IN_CALIB = r"--calibration {f}/calib\.npz: "
LIMIT = r"every value must be finite with magnitude at most 1e\+06"

NPZ_MUTATIONS = {
    "truncated": (
        lambda d: d[: len(d) // 2],
        NOT_NPZ + r": found a zip archive .*not a complete zip archive",
    ),
    "random bytes": (
        lambda d: RANDOM, NOT_NPZ + r": found 4,096 bytes starting with"
    ),
    "html page": (lambda d: HTML, NOT_NPZ + r": found an HTML page"),
    "a .npy array": (
        lambda d: _npy(), NOT_NPZ + r": found a single numpy \.npy array"
    ),
    "flipped data byte": (
        lambda d: _flip_in_member(d, "x.npy"),
        NOT_NPZ + r": array 'x' cannot be read \(.*CRC",
    ),
    "no arrays": (lambda d: _npz(), NOT_NPZ + r": it holds no arrays"),
    "pickled objects": (
        lambda d: _npz(x=np.array([{"a": 1}] * 8, dtype=object)),
        NOT_NPZ + r": array 'x' cannot be read \(.*allow_pickle",
    ),
    "wrong name": (
        lambda d: _calib(name="inputs"),
        IN_CALIB + r"expected arrays named after the model's inputs \['x'\], "
        r"found \['inputs'\] \(no 'x'\)",
    ),
    "extra array": (
        lambda d: _npz(x=np.zeros((8, FEATURES), "float32"), y=np.zeros(8)),
        IN_CALIB + r"expected .* \['x'\], found \['x', 'y'\] \('y' is not an input\)",
    ),
    "wrong shape": (
        lambda d: _npz(x=np.zeros((8, FEATURES + 1), "float32")),
        IN_CALIB + r"array 'x' must have shape \(N \* 1, 8\) .* found \(8, 9\)",
    ),
    "a scalar": (
        lambda d: _npz(x=np.float32(1.0)),
        IN_CALIB + r"array 'x' must have shape .* found \(\)",
    ),
    "no samples": (
        lambda d: _npz(x=np.zeros((0, FEATURES), "float32")),
        IN_CALIB + r"array 'x' must have shape .* found \(0, 8\)",
    ),
    "strings": (
        lambda d: _npz(x=np.full((8, FEATURES), "1.5")),
        IN_CALIB + r"array 'x' must hold real numbers, found dtype <U3",
    ),
    "complex": (
        lambda d: _npz(x=np.ones((8, FEATURES), "complex64")),
        IN_CALIB + r"array 'x' must hold real numbers, found dtype complex64",
    ),
    "one nan": (
        lambda d: _calib(values={(5, 3): np.nan}),
        IN_CALIB + r"array 'x' holds nan at index \(5, 3\); " + LIMIT,
    ),
    "all nan": (
        lambda d: _npz(x=np.full((8, FEATURES), np.nan, "float32")),
        IN_CALIB + r"array 'x' holds nan at index \(0, 0\); " + LIMIT,
    ),
    "inf": (
        lambda d: _calib(values={(2, 1): np.inf}),
        IN_CALIB + r"array 'x' holds inf at index \(2, 1\); " + LIMIT,
    ),
    "-inf": (
        lambda d: _calib(values={(7, 0): -np.inf}),
        IN_CALIB + r"array 'x' holds -inf at index \(7, 0\); " + LIMIT,
    ),
    "1e20": (
        lambda d: _calib(values={(3, 4): 1e20}),
        IN_CALIB + r"array 'x' holds 1e\+20 at index \(3, 4\); " + LIMIT,
    ),
    "3e38": (
        lambda d: _calib(values={(0, 7): 3e38}),
        IN_CALIB + r"array 'x' holds 3e\+38 at index \(0, 7\); " + LIMIT,
    ),
    "float64 beyond float32": (
        lambda d: _npz(x=np.full((8, FEATURES), 1e300)),
        IN_CALIB + r"array 'x' holds 1e\+300 at index \(0, 0\); " + LIMIT,
    ),
}


# Every mutation in int8; int16x8 calibrates the same way, so its value cases.
NPZ_CASES = [(m, "int8") for m in sorted(NPZ_MUTATIONS)] + [
    (m, "int16x8") for m in ("inf", "1e20", "all nan")
]


@pytest.mark.parametrize("mutation, mode", NPZ_CASES)
def test_bad_calibration_files_are_named_and_nothing_is_touched(
    folder, mutation, mode, capsys
):
    mutate, pattern = NPZ_MUTATIONS[mutation]
    calib = folder / "calib.npz"
    calib.write_bytes(mutate(calib.read_bytes()))
    argv = ["{f}/model.keras", "--mode", mode, "--calibration", "{f}/calib.npz",
            "--integer-io", "--out", "{f}/out.tflite", "--report", "{f}/report.json"]
    _cli_fails(folder, argv, pattern, capsys)


@pytest.mark.parametrize(
    "mutation, pattern",
    [
        (
            "one nan",
            r"--heldout {f}/heldout\.npz: array 'x' holds nan at index \(1, 6\); "
            r"every value must be finite with magnitude at most 3\.40282e\+38$",
        ),
        (
            "wrong name",
            r"--heldout {f}/heldout\.npz: expected .* \['x'\], found \['inputs'\]",
        ),
        ("truncated", r"--heldout file {f}/heldout\.npz is not a readable \.npz"),
    ],
)
def test_bad_heldout_files_are_named(folder, mutation, pattern, capsys):
    one_nan = np.zeros((4, FEATURES), "float32")
    one_nan[1, 6] = np.nan
    data = {
        "one nan": _npz(x=one_nan),
        "wrong name": _npz(inputs=np.zeros((4, FEATURES), "float32")),
        "truncated": (folder / "heldout.npz").read_bytes()[:100],
    }[mutation]
    (folder / "heldout.npz").write_bytes(data)
    argv = ["{f}/model.keras", "--heldout", "{f}/heldout.npz",
            "--out", "{f}/out.tflite", "--report", "{f}/report.json"]
    _cli_fails(folder, argv, pattern, capsys)


def test_heldout_values_beyond_the_calibration_bound_are_fine_for_float():
    # MAX_MAGNITUDE bounds calibration only; a float32 model takes 1e20.
    specs = [tf.TensorSpec((1, FEATURES), tf.float32, name="x")]
    arrays = {"x": np.full((3, FEATURES), 1e20, "float32")}
    assert calibration.check_arrays(arrays, specs, "heldout.npz") == 3
    bound = calibration.MAX_MAGNITUDE
    with pytest.raises(
        export.CalibrationError, match=r"calib\.npz: array 'x', sample 0, holds 1e\+20"
    ):
        calibration.check_arrays(arrays, specs, "calib.npz", bound)


def test_arrays_of_several_inputs_must_hold_as_many_samples():
    specs = [tf.TensorSpec((2, 3), tf.float32, name="nodes"),
             tf.TensorSpec((2, 5), tf.int32, name="edges")]
    arrays = {"nodes": np.zeros((6, 3), "float32"), "edges": np.zeros((4, 5), "int32")}
    with pytest.raises(
        export.CalibrationError,
        match=r"d\.npz: every array must hold the same number of samples, "
        r"found 2 in 'edges' and 3 in 'nodes'",
    ):
        calibration.check_arrays(arrays, specs, "d.npz")
    arrays["nodes"] = np.zeros((5, 3), "float32")
    with pytest.raises(
        export.CalibrationError,
        match=r"d\.npz: array 'nodes' has 5 rows, "
        r"not a multiple of the input's leading size 2",
    ):
        calibration.check_arrays(arrays, specs, "d.npz")
    # A sample is two rows here: row 3 is sample 1.
    arrays["nodes"] = np.zeros((4, 3), "float32")
    arrays["nodes"][3, 2] = np.nan
    with pytest.raises(
        export.CalibrationError,
        match=r"d\.npz: array 'nodes', sample 1, holds nan at index \(3, 2\)",
    ):
        calibration.check_arrays(arrays, specs, "d.npz")
    arrays["nodes"][3, 2] = 0.0
    assert calibration.check_arrays(arrays, specs, "d.npz") == 2


@pytest.mark.parametrize(
    "value, dtype, index, message",
    [
        (
            np.array([[0.0, 2.5]]), "int32", (0, 1),
            r"holds 2\.5 at index \(0, 1\); an int32 input takes whole numbers",
        ),
        (
            np.array([[3.0], [np.nan]]), "int32", (1, 0),
            r"holds nan at index \(1, 0\); an int32 input takes whole numbers",
        ),
        (
            np.array([[1, 2**40]]), "int32", (0, 1),
            r"holds 1099511627776 at index \(0, 1\), "
            r"outside the range of int32 \[-2147483648, 2147483647\]",
        ),
        (
            np.array([[-1]]), "uint8", (0, 0),
            r"holds -1 at index \(0, 0\), outside the range of uint8 \[0, 255\]",
        ),
        (
            np.array([[5, 2**40]]), "float32", (0, 1),
            r"holds 1\.09951e\+12 at index \(0, 1\); "
            r"every value must be finite with magnitude at most 1e\+06 .*",
        ),
    ],
)
def test_value_problems_name_the_index_and_the_value(value, dtype, index, message):
    found, text = calibration.value_problem(value, dtype, calibration.MAX_MAGNITUDE)
    assert found == index
    assert re.fullmatch(message, text), text


@pytest.mark.parametrize(
    "value, dtype",
    [
        (np.array([[0, 7, 2**31 - 1]]), "int32"),
        (np.array([[3.0, -2.0]]), "int64"),  # whole floats for an integer input
        (np.array([[-1e6, 1e6, 0.0]]), "float32"),  # the bound itself
        (np.array([[True, False]]), "float32"),
    ],
)
def test_good_values_pass(value, dtype):
    assert calibration.value_problem(value, dtype, calibration.MAX_MAGNITUDE) is None


# -- the Python API ---------------------------------------------------------------


def _data(bad_index=None, value=None, samples=8):
    x = np.random.default_rng(3).normal(size=(samples, FEATURES)).astype("float32")
    if bad_index is not None:
        x[bad_index] = value
    return x


@pytest.mark.parametrize(
    "form",
    ["dict", "array", "list", "generator", "tf.data"],
)
@pytest.mark.parametrize(
    "value, shown",
    [
        (np.inf, "inf"), (np.nan, "nan"), (1e20, r"1e\+20"), (3e38, r"3e\+38"),
        (-2e6, r"-2e\+06"),
    ],
)
def test_api_refuses_bad_calibration_values_before_converting(
    exporter, form, value, shown, tmp_path, monkeypatch
):
    x = _data((4, 2), value)
    data = {
        "dict": {"x": x},
        "array": x,
        "list": [x],
        "generator": lambda: ({"x": x[i : i + 1]} for i in range(len(x))),
        "tf.data": tf.data.Dataset.from_tensor_slices({"x": x}).batch(1),
    }[form]
    # Refused before the SavedModel is traced or the converter runs.
    monkeypatch.setattr(exporter, "_saved_model", lambda: pytest.fail("converted"))
    path = tmp_path / "m.tflite"
    with pytest.raises(
        export.CalibrationError,
        match=rf"calibration sample 4 for signature 'serving_default': input 'x' "
        rf"holds {shown} at index \(0, 2\); "
        r"every value must be finite with magnitude at most 1e\+06",
    ):
        exporter.export_tflite(path, "int8", representative_data=data)
    assert os.listdir(tmp_path) == []


def test_api_refuses_paths_whose_metadata_would_overwrite_them(tmp_path, exporter):
    for name in ("m.json", "m.keras", "m"):
        refused = (
            r"the model's path must end in \.tflite .*"
            rf"received path='.*/{re.escape(name)}'"
        )
        with pytest.raises(ValueError, match=refused):
            exporter.export_tflite(tmp_path / name, "float32")
    assert os.listdir(tmp_path) == []


def test_api_keeps_the_old_files_when_the_metadata_cannot_be_written(
    tmp_path, exporter, monkeypatch
):
    (tmp_path / "m.tflite").write_bytes(b"old model")
    (tmp_path / "m.json").write_bytes(b"old metadata")

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("keras_attention_export.tflite.write_metadata", fail)
    with pytest.raises(OSError, match="No space left on device"):
        exporter.export_tflite(tmp_path / "m.tflite", "float32")
    assert _snapshot(tmp_path) == {"m.tflite": b"old model", "m.json": b"old metadata"}
    monkeypatch.undo()
    # And when it can: both replaced, nothing else left.
    metadata = exporter.export_tflite(tmp_path / "m.tflite", "float32")
    assert metadata == str(tmp_path / "m.json")
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.tflite"]
    metadata = json.loads((tmp_path / "m.json").read_text())
    assert metadata["model_bytes"] == os.path.getsize(tmp_path / "m.tflite")


def test_each_mode_passes_its_own_check_and_no_other(flatbuffers):
    for made, flatbuffer in flatbuffers.items():
        for claimed in export.MODES:
            problems = verify.mode_problems(flatbuffer, claimed)
            assert bool(problems) == (made != claimed), (made, claimed, problems)
    assert verify.mode_problems(flatbuffers["int8"], "int8", integer_io=True) == []


@pytest.mark.parametrize(
    "made, claimed, integer_io, message",
    [
        (
            "float32", "int8", False,
            r"mode='int8' but produced something else: FULLY_CONNECTED "
            r"\(operator 0 of subgraph 0\) has float32 activations and 1024 float32 "
            r"weights, not int8 activations and int8 weights; no operator computes "
            r"in int8: the model stayed float\. Nothing was written",
        ),
        (
            "float32", "int8", True,
            r"mode='int8' with integer_io=True .*signature 'serving_default' "
            r"input 'x' is float32, not int8 \(integer_io\); signature "
            r"'serving_default' output 'logits' is float32",
        ),
        (
            "float32", "dynamic", False,
            r"has float32 activations and 1024 float32 weights, "
            r"not float32 activations and int8 weights",
        ),
        (
            "float32", "float16", False,
            r"has float32 activations and 1024 float32 weights, "
            r"not float32 activations and float16 weights",
        ),
        (
            "float16", "float32", False,
            r"has float32 activations and 1024 float16 weights, "
            r"not float32 activations and float32 weights",
        ),
        (
            "dynamic", "int8", False,
            r"has float32 activations and 1024 int8 weights, "
            r"not int8 activations and int8 weights",
        ),
        (
            "int8", "dynamic", False,
            r"has int8 activations and 1024 int8 weights, not float32 activations",
        ),
        (
            "int8", "int16x8", False,
            r"has int8 activations and 1024 int8 weights, "
            r"not int16 activations and int8 weights",
        ),
    ],
)
def test_a_file_that_is_not_its_mode_is_refused(
    flatbuffers, made, claimed, integer_io, message
):
    with pytest.raises(export.ExportError, match=message):
        verify.check_mode(flatbuffers[made], claimed, integer_io)


def test_all_nan_calibration_past_the_checks_is_still_not_written_as_int8(
    exporter, tmp_path, monkeypatch
):
    # Were the value checks ever bypassed, the converter's float model
    # (TF 2.21 quietly returns one for all-NaN data) is caught by the check
    # of the result, and no file is written.
    monkeypatch.setattr(calibration, "value_problem", lambda *args: None)
    nan = np.full((4, FEATURES), np.nan, "float32")
    with pytest.raises(
        export.ExportError,
        match=r"mode='int8' with integer_io=True but produced something else: "
        r"FULLY_CONNECTED .* has float32 activations and 1024 float32 weights, "
        r"not int8 activations",
    ):
        exporter.export_tflite(
            tmp_path / "m.tflite", "int8", representative_data=nan, integer_io=True
        )
    assert os.listdir(tmp_path) == []


# -- output paths -------------------------------------------------------------------


def test_outputs_that_are_inputs_or_each_other_are_refused(folder, capsys):
    os.symlink(folder / "model.keras", folder / "link.tflite")
    os.link(folder / "calib.npz", folder / "hard.json")
    (folder / "h.md").write_bytes(b"notes")
    os.mkdir(folder / "d.tflite")
    model = "{f}/model.keras"
    out = ["--out", "{f}/out.tflite"]
    cases = [
        # The cases: the report over the metadata, the model over
        # the .keras, the metadata over the model.
        (
            [model, *out, "--report", "{f}/out.json"],
            r"--report \({f}/out\.json\) is the same file as the metadata beside "
            r"--out \({f}/out\.json\), which this export writes",
        ),
        (
            [model, "--out", "{f}/model.keras"],
            r"--out must name a \.tflite file, received --out {f}/model\.keras",
        ),
        (
            [model, "--out", "{f}/x.json"],
            r"--out must name a \.tflite file, received --out {f}/x\.json",
        ),
        # Other spellings of one file.
        (
            [model, "--out", "{f}/./sub/../out.tflite", "--report", "{f}/out.json"],
            r"--report \({f}/out\.json\) is the same file as the metadata beside "
            r"--out \({f}/\./sub/\.\./out\.json\)",
        ),
        (
            [model, "--out", "{f}/link.tflite"],
            r"--out \({f}/link\.tflite\) is the same file as the model "
            r"\({f}/model\.keras\), which this export reads",
        ),
        (
            [model, "--mode", "int8", "--calibration", "{f}/calib.npz", *out,
             "--report", "{f}/hard.json"],
            r"--report \({f}/hard\.json\) is the same file as --calibration "
            r"\({f}/calib\.npz\), which this export reads",
        ),
        (
            [model, "--heldout", "{f}/h.md", *out, "--report", "{f}/h.json"],
            r"the markdown beside --report \({f}/h\.md\) is the same file as "
            r"--heldout \({f}/h\.md\)",
        ),
        (
            [model, *out, "--report", "{f}/r.md"],
            r"--report must name a \.json file, received --report {f}/r\.md",
        ),
        ([model, *out, "--onnx", "{f}/out.json"], r"--onnx must name a \.onnx file"),
        (
            [model, "--out", "{f}/d.tflite"],
            r"--out must be a file path, received a folder: {f}/d\.tflite",
        ),
    ]
    for argv, pattern in cases:
        _cli_fails(folder, argv, pattern, capsys)


def test_a_failed_report_leaves_the_old_export_and_a_good_run_replaces_it(
    folder, capsys, monkeypatch
):
    import keras_attention_export.report as report

    def fail(*args, **kwargs):
        raise ValueError("the report failed")

    argv = ["{f}/model.keras", "--out", "{f}/sub/out.tflite",
            "--report", "{f}/report.json", "--heldout", "{f}/heldout.npz",
            "--runs", "2"]
    monkeypatch.setattr(report, "build_report", fail)
    # The model and its metadata were written (in a staging folder) before
    # the report failed; `sub/` did not exist and is gone again.
    _cli_fails(folder, argv, r"^error: the report failed$", capsys)
    assert not (folder / "sub").exists()
    monkeypatch.undo()
    before = _snapshot(folder)
    assert cli.main([a.format(f=folder) for a in argv]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out.splitlines()
    size = os.path.getsize(folder / "sub" / "out.tflite")
    assert printed[0] == (
        f"wrote {folder}/sub/out.tflite (float32, {size:,} bytes) "
        f"and {folder}/sub/out.json"
    )
    after = _snapshot(folder)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"sub/out.tflite", "sub/out.json", "report.json", "report.md"}
    assert json.loads(after["report.json"])["parity"]["inputs"] == "4 held-out inputs"
    assert json.loads(after["sub/out.json"])["model_file"] == "out.tflite"


def test_staged_files_roll_back_when_a_rename_fails(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_bytes(b"old a")
    (tmp_path / "b.txt").write_bytes(b"old b")
    real_replace = os.replace

    def replace(source, target):
        if str(target).endswith("b.txt"):
            raise OSError("rename failed")
        real_replace(source, target)

    with StagedFiles() as files:
        for name in ("a.txt", "b.txt"):
            with open(files.stage(tmp_path / name), "wb") as f:
                f.write(b"new " + name.encode())
        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(OSError, match="rename failed"):
            files.commit()
        monkeypatch.undo()
    assert _snapshot(tmp_path) == {"a.txt": b"old a", "b.txt": b"old b"}


def test_check_paths_compares_files_not_spellings(tmp_path):
    (tmp_path / "in.npz").write_bytes(b"data")
    inputs = {"--calibration": tmp_path / "in.npz"}
    check_paths(inputs, {"--out": tmp_path / "o.tflite", "--onnx": tmp_path / "o.onnx"})
    same = r"--report \(.*/\./in\.npz\) is the same file as --calibration"
    with pytest.raises(ValueError, match=same):
        check_paths(inputs, {"--report": f"{tmp_path}/./in.npz"})


# -- the process itself ------------------------------------------------------------


def test_inf_calibration_no_longer_kills_the_process(folder):
    # Before: SIGSEGV (status 139) inside the converter. Now: status 2 and
    # one line, from a process of its own (as a user runs it).
    x = np.ones((8, FEATURES), "float32")
    x[6, 0] = np.inf
    np.savez(folder / "calib.npz", x=x)
    before = _snapshot(folder)
    done = subprocess.run(
        [sys.executable, "-m", "keras_attention_export", str(folder / "model.keras"),
         "--mode", "int8", "--calibration", str(folder / "calib.npz"),
         "--out", str(folder / "out.tflite")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr == (
        f"error: --calibration {folder}/calib.npz: array 'x' holds inf at index "
        "(6, 0); every value must be finite with magnitude at most 1e+06 (larger "
        "values overflow the converter's float32 calibration: scale the data first)\n"
    )
    assert _snapshot(folder) == before
