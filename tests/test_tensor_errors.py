"""keras_attention_export.tensor_errors (export/diagnose.py): a quantized file's error, tensor by tensor."""

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import keras_attention_export as export
from keras_attention_export import tensor_errors

RNG = np.random.default_rng(0)
DATA = {"x": RNG.normal(size=(64, 8, 16)).astype("float32")}
SAMPLES = [{"x": DATA["x"][i:i + 1]} for i in range(8)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tensor_errors")
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 16), name="x")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(5, name="logits")(hidden))
    found = {}
    for name, kwargs in {
        "float32": dict(mode="float32", keep_tensor_names=True),
        "float32_again": dict(mode="float32", keep_tensor_names=True),
        "int8": dict(mode="int8", keep_tensor_names=True, representative_data=DATA,
                     num_calibration_samples=32),
        "int8_unnamed": dict(mode="int8", representative_data=DATA, num_calibration_samples=32),
        "int8_integer_io": dict(mode="int8", keep_tensor_names=True, representative_data=DATA,
                                num_calibration_samples=32, integer_io=True),
    }.items():
        found[name] = str(folder / f"{name}.tflite")
        export.export_tflite(model, found[name], **kwargs)
    # Keras's own hidden activations over the samples, for their range.
    hidden_model = keras.Model(x, hidden)
    found["hidden"] = np.concatenate([hidden_model.predict(s["x"], verbose=0) for s in SAMPLES])
    return found


def _output_error(float_path, quantized_path):
    """The signature's output, compared by hand: (its tensor's name, error),
    on the kernels tensor_errors runs (LiteRT's builtin ones; XNNPACK's
    int8 arithmetic differs slightly)."""
    got = {}
    for which, path in (("float", float_path), ("quantized", quantized_path)):
        interpreter = Interpreter(
            model_path=path,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        runner = interpreter.get_signature_runner()
        got[which] = np.concatenate([runner(**s)["logits"].ravel() for s in SAMPLES])
        index = runner.get_output_details()["logits"]["index"]
        name = interpreter._get_tensor_details(index, 0)["name"]
    difference = got["quantized"].astype(np.float64) - got["float"]
    return name, np.sqrt(np.mean(difference**2)) / np.sqrt(np.mean(got["float"] ** 2.0))


def test_the_same_float_model_twice_has_no_error(files):
    rows = tensor_errors(files["float32"], files["float32_again"], SAMPLES)
    assert len(rows) >= 3  # the input, the hidden layer, the logits at least
    assert [r["error"] for r in rows] == [0.0] * len(rows)
    assert {r["dtype"] for r in rows} == {"float32"}


def test_int8_errors_are_measured_in_operator_order(files):
    rows = tensor_errors(files["float32"], files["int8"], SAMPLES)
    names = [r["name"] for r in rows]
    output, by_hand = _output_error(files["float32"], files["int8"])
    # The last row is the output, with the error computed by hand from the
    # two files' outputs (the device's dequantized int8 values).
    assert names[-1] == output
    assert rows[-1]["error"] == pytest.approx(by_hand, rel=1e-6)
    # Operator order: the input first, the hidden layer's tensors (its
    # weights, then its output) before any of the logits layer's.
    assert names[0] == "serving_default_x:0"
    hidden = [i for i, n in enumerate(names) if "hidden" in n]
    logits = [i for i, n in enumerate(names) if "logits" in n]
    assert hidden and logits and max(hidden) < min(logits)
    # The hidden layer's output (after its ReLU) holds Keras's activations:
    # the same range over the samples.
    output = rows[max(hidden)]
    np.testing.assert_allclose([output["float_min"], output["float_max"]],
                               [files["hidden"].min(), files["hidden"].max()], rtol=1e-5)
    # int8 activations: about a percent of the values' size, never nothing.
    for row in rows:
        if row["dtype"] == "int8":
            assert 1e-4 < row["error"] < 0.1, row
    # The float range is the float file's, over every sample.
    assert rows[-1]["float_min"] < 0 < rows[-1]["float_max"]


def test_a_file_with_integer_inputs_is_refused(files):
    with pytest.raises(ValueError, match="quantized_path takes int8 input 'x' \\(exported with "
                                         "integer_io=True\\)"):
        tensor_errors(files["float32"], files["int8_integer_io"], SAMPLES)


def test_files_without_tensor_names_are_refused(files):
    with pytest.raises(ValueError, match="share no tensor name: export both from the same "
                                         "model with keep_tensor_names=True"):
        tensor_errors(files["float32"], files["int8_unnamed"], SAMPLES)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(float_path="missing.tflite"), "float_path must be the path of a .tflite file, "
                                            "received 'missing.tflite'"),
        (dict(samples=[]), "samples must be a non-empty list of {input name: array}"),
        (dict(samples=[{"y": DATA["x"][:1]}]),
         r"samples\[0\] must hold the inputs \['x'\] of signature 'serving_default', "
         r"received \['y'\]"),
        (dict(samples=[{"x": DATA["x"][:1].astype("int64")}]),
         r"samples\[0\]\['x'\] must be a float32 array of shape \(1, 8, 16\) \(float_path\), "
         r"received int64 of shape \(1, 8, 16\)"),
        (dict(samples=[{"x": DATA["x"][:2]}]),
         r"samples\[0\]\['x'\] must be a float32 array of shape \(1, 8, 16\) \(float_path\), "
         r"received float32 of shape \(2, 8, 16\)"),
        (dict(samples=[DATA["x"][:1]]), r"samples\[0\] must be a dict of \{input name: array\}, "
                                        "received ndarray"),
        (dict(signature="answer"), "signature='answer' is not one of float_path's "
                                   r"\['serving_default'\]"),
    ],
)
def test_bad_arguments_are_named(files, change, message):
    arguments = {**dict(float_path=files["float32"], quantized_path=files["int8"],
                        samples=SAMPLES), **change}
    with pytest.raises(ValueError, match=message):
        tensor_errors(**arguments)


def test_a_file_that_is_not_a_model_is_named(files, tmp_path):
    text = tmp_path / "notes.tflite"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="quantized_path=.*notes.tflite' is not a LiteRT model"):
        tensor_errors(files["float32"], str(text), SAMPLES)
