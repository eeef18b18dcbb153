"""`range_quantile`: int8 activation ranges from typical per-sample extremes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_attention_export as export
from keras_attention_export import ranges

RNG = np.random.default_rng(0)


def _model():
    keras.utils.set_random_seed(0)
    x = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(16, name="hidden")(x)
    return keras.Model(x, keras.layers.Dense(4, name="out")(hidden))


def _calibration():
    # 40 typical samples and one with a 50x outlier.
    data = RNG.normal(size=(41, 8)).astype("float32")
    data[-1] *= 50.0
    return data


def _output_scale(flatbuffer):
    runner = Interpreter(model_content=flatbuffer).get_signature_runner()
    (details,) = runner.get_output_details().values()
    return details


def test_ranges_are_the_quantile_of_per_sample_extremes():
    model, data = _model(), _calibration()
    want = np.asarray(model(data))  # [N, 4]
    per_sample_max = want.max(axis=1)
    per_sample_min = want.min(axis=1)
    for quantile in (1.0, 0.5):
        flatbuffer = export.convert(
            model, mode="int8", representative_data=data, range_quantile=quantile,
            integer_io=True,
        )
        details = _output_scale(flatbuffer)
        (scale,) = details["quantization_parameters"]["scales"]
        high = max(np.quantile(per_sample_max, quantile), 0.0)
        low = min(np.quantile(per_sample_min, 1.0 - quantile), 0.0)
        # int8 covers [low, high] in 255 steps (the range nudged to hold 0 exactly).
        assert scale == pytest.approx((high - low) / 255, rel=0.02)
        assert details["dtype"] == np.int8


def test_quantile_ranges_quantize_typical_inputs_more_finely():
    model, data = _model(), _calibration()
    typical = RNG.normal(size=(200, 8)).astype("float32")
    want = np.asarray(model(typical))

    def error(**kwargs):
        flatbuffer = export.convert(model, mode="int8", representative_data=data, **kwargs)
        runner = Interpreter(model_content=flatbuffer).get_signature_runner()
        got = np.concatenate([runner(x=row[None])["out"] for row in typical])
        return np.abs(got - want).mean()

    widest, robust = error(), error(range_quantile=0.9)
    # The outlier sets the converter's ranges: typical values get coarse steps.
    assert robust < widest / 2, (robust, widest)


def test_several_signatures_and_float_io():
    layer = keras.layers.Dense(6, name="proj")
    x = keras.Input((5,), name="x")
    model = keras.Model(x, layer(x))
    specs = [tf.TensorSpec((1, 5), tf.float32, name="x")]
    signatures = {
        "a": export.Signature(lambda x: {"y": model(x)}, specs),
        "b": export.Signature(lambda x: {"y": model(x) * 2.0}, specs),
    }
    data = RNG.normal(size=(20, 5)).astype("float32")
    flatbuffer = export.convert(
        model, mode="int8", signatures=signatures,
        representative_data={"a": data, "b": data}, range_quantile=0.9,
    )
    interpreter = Interpreter(model_content=flatbuffer)
    inside = 0.5 * data[:5]  # well inside the clipped ranges: no saturation
    for name, factor in (("a", 1.0), ("b", 2.0)):
        runner = interpreter.get_signature_runner(name)
        got = np.concatenate([runner(x=row[None])["y"] for row in inside])
        want = factor * np.asarray(model(inside))
        assert got.dtype == np.float32
        # A few int8 steps of the output's range.
        np.testing.assert_allclose(got, want, atol=0.03 * np.abs(want).max())


def test_extremes_are_recorded_per_sample():
    model, data = _model(), _calibration()
    # A calibrated-only flatbuffer, as convert makes one.
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([row[None]] for row in data)
    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    extremes = ranges.per_sample_extremes(calibrated, [(None, {"x": row[None]}) for row in data])
    out = np.asarray(model(data))
    found = [v for v in extremes.values()
             if np.allclose(v, np.stack([out.min(1), out.max(1)], 1), atol=1e-4)]
    assert len(found) == 1 and found[0].shape == (41, 2)


def test_bad_range_quantile():
    model = _model()
    with pytest.raises(ValueError, match="range_quantile is for the int8 mode.*'dynamic'"):
        export.convert(model, mode="dynamic", range_quantile=0.9)
    for bad in (0, 1.5, True, "0.9"):
        with pytest.raises(ValueError, match=r"range_quantile must be a number in \(0, 1\]"):
            export.convert(model, mode="int8", representative_data=_calibration(),
                           range_quantile=bad)
