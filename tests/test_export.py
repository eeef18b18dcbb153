import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_attention_export as export
from keras_attention_export.report import build_report, float_ops, run_signature, write_report
from keras_attention import (
    BahdanauAttention,
    BahdanauDecoder,
    BahdanauDecoderCell,
    CachedMultiHeadAttention,
    MultiHeadSelfAttention,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)

RNG = np.random.default_rng(0)


# -- one small model per sequence layer ---------------------------------------


def _mhsa():
    x = keras.Input((8, 16), name="x")
    y = MultiHeadSelfAttention(2, 8)(x, use_causal_mask=True)
    return keras.Model(x, keras.layers.Dense(5, name="logits")(y))


def _bahdanau_attention():
    query = keras.Input((6,), name="query")
    values = keras.Input((7, 5), name="values")
    context = BahdanauAttention(8)(query, values)
    return keras.Model([query, values], keras.layers.Dense(4, name="logits")(context))


def _bahdanau_decoder():
    # Unrolled with a fixed length: the converter crashed on the int8 WHILE
    # loop that a rolled RNN becomes.
    targets = keras.Input((5, 4), name="targets")
    values = keras.Input((7, 6), name="values")
    cell = BahdanauDecoderCell(keras.layers.GRUCell(8), attention_units=8)
    outputs = BahdanauDecoder(cell, unroll=True)(targets, values)
    return keras.Model([targets, values], keras.layers.Dense(4, name="logits")(outputs))


def _encoder_block():
    x = keras.Input((8, 16), name="x")
    y = TransformerEncoderBlock(32, 2)(x)
    return keras.Model(x, keras.layers.Dense(5, name="logits")(y))


def _decoder_block():
    x = keras.Input((6, 16), name="x")
    encoded = keras.Input((5, 16), name="encoded")
    y = TransformerDecoderBlock(32, 2)(x, encoded)
    return keras.Model([x, encoded], keras.layers.Dense(5, name="logits")(y))


MODELS = {
    "multi_head_self_attention": _mhsa,
    "bahdanau_attention": _bahdanau_attention,
    "bahdanau_decoder": _bahdanau_decoder,
    "transformer_encoder_block": _encoder_block,
    "transformer_decoder_block": _decoder_block,
}


def _data(model, samples=32):
    return {
        t.name: RNG.normal(size=(samples,) + tuple(t.shape[1:])).astype("float32")
        for t in model.inputs
    }


@pytest.fixture(scope="module")
def exporters():
    """One model and `Exporter` per name, shared by its modes (one trace)."""
    made = {}
    yield made
    for _, exporter in made.values():
        exporter.close()


def _model_and_exporter(exporters, name):
    if name not in exporters:
        keras.utils.set_random_seed(1)
        model = MODELS[name]()
        exporters[name] = (model, export.Exporter(model))
    return exporters[name]


@pytest.mark.parametrize("mode", export.MODES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_mode_on_every_sequence_layer(name, mode, exporters, tmp_path):
    model, exporter = _model_and_exporter(exporters, name)
    data = _data(model)
    sample = {k: v[:1] for k, v in data.items()}
    calibrated = mode in ("int8", "int16x8")
    kwargs = dict(
        mode=mode,
        representative_data=data if calibrated else None,
        num_calibration_samples=32,
        integer_io=mode == "int8",
    )
    path = tmp_path / "model.tflite"
    exporter.export_tflite(str(path), **kwargs)
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    got = run_signature(runner, sample)["logits"]
    want = model.predict(sample, verbose=0)
    error = np.abs(got - want).max()
    spread = want.max() - want.min()
    if mode == "float32":
        assert error < 1e-5, error
    elif mode == "float16":
        # float16 weights, and XNNPACK may compute in float16 too: each
        # rounding is within 2^-11 relative; eight stages deep at most.
        assert error <= 8 * 2**-11 * max(1.0, np.abs(want).max()), error
    elif mode == "dynamic":
        # These kernels are below the converter's 1024-weight threshold for
        # dynamic-range quantization, so they stay float.
        assert error < 1e-5, error
    elif mode == "int8":
        # int8 in and out: 16 steps of the output's scale, i.e. a sixteenth
        # of its range. Each requantized stage (projections, scores,
        # softmax, weighted sum, readout) adds up to half a step of its own
        # scale; 3 to 11 output steps were measured on these models.
        scale = runner.get_output_details()["logits"]["quantization"][0]
        assert scale > 0
        assert error <= 16 * scale, (error, scale)
    else:
        # int16 activations leave the int8 weights' rounding dominant: up to
        # 2^-8 of each weight's range, through three chained projections
        # (value, output, readout) whose errors add: 3 * 2^-8 < 2^-6; the
        # bound is 2^-5 of the output's range. 2^-10 to 2^-6.6 measured.
        assert error <= spread / 32, (error, spread)


def test_int8_causal_attention_is_not_flattened_by_the_mask():
    # A -1e9 mask fill would set the scores' int8 scale so coarse that every
    # real score shares one bin: attention turns uniform and the output
    # loses its dependence on the query's position.
    model = _mhsa()
    data = _data(model)
    flatbuffer = export.convert(model, mode="int8", representative_data=data)
    runner = Interpreter(model_content=flatbuffer).get_signature_runner()
    sample = {"x": data["x"][:1]}
    got = run_signature(runner, sample)["logits"]
    want = model.predict(sample, verbose=0)
    uniform = want.mean(axis=1, keepdims=True)
    assert np.abs(got - want).max() < 0.25 * np.abs(want - uniform).max()


# -- representative data ----------------------------------------------------------


def test_calibration_forms_agree():
    model = _bahdanau_attention()
    data = _data(model, samples=8)
    as_list = [data["query"], data["values"]]
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(1)

    def generator():
        for i in range(8):
            yield {k: v[i : i + 1] for k, v in data.items()}

    outputs = []
    by_signature = {"serving_default": data}  # {signature name: data}, one signature
    for form in (data, as_list, dataset, generator, by_signature):
        flatbuffer = export.convert(
            model, mode="int8", representative_data=form, num_calibration_samples=8
        )
        runner = Interpreter(model_content=flatbuffer).get_signature_runner()
        outputs.append(run_signature(runner, {k: v[:1] for k, v in data.items()}))
    for other in outputs[1:]:
        np.testing.assert_array_equal(other["logits"], outputs[0]["logits"])


@pytest.mark.parametrize(
    "data, match",
    [
        (None, "pass representative_data"),
        ({"query": np.zeros((4, 6), "float32")}, "has no input 'values'"),
        (
            {"serving": {"query": np.zeros((4, 6)), "values": np.zeros((4, 7, 5))}},
            r"has no input 'query': expected arrays named \['query', 'values'\], "
            r"received \['serving'\]",
        ),
        (
            {"query": np.zeros((4, 5), "float32"), "values": np.zeros((4, 7, 5))},
            r"input 'query' must have shape \(1, 6\), received \(1, 5\)",
        ),
        ({"query": np.zeros((0, 6)), "values": np.zeros((0, 7, 5))}, "holds no sample"),
        (
            {
                "query": np.zeros((2, 6)),
                "values": np.zeros((2, 7, 5)),
                "keys": np.zeros((2, 7, 8)),
            },
            r"inputs the signature does not take: \['keys'\]",
        ),
    ],
)
def test_bad_calibration_data_fails_before_conversion(data, match, monkeypatch):
    def no_conversion(*args, **kwargs):
        raise AssertionError("the converter ran")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", no_conversion)
    with pytest.raises(export.CalibrationError, match=match):
        export.convert(_bahdanau_attention(), mode="int8", representative_data=data)


def test_bad_arguments():
    model = _mhsa()
    with pytest.raises(ValueError, match=r"mode must be one of .*received mode='int4'"):
        export.convert(model, mode="int4")
    with pytest.raises(ValueError, match="integer_io is for the int8 and int16x8"):
        export.convert(model, mode="float16", integer_io=True)
    with pytest.raises(ValueError, match="representative_data is for the int8"):
        export.convert(model, mode="dynamic", representative_data=_data(model))
    with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
        export.convert(model, batch_size=0)
    dynamic = keras.Model(*(lambda x: (x, keras.layers.Dense(3)(x)))(keras.Input((None, 4), name="seq")))
    with pytest.raises(ValueError, match=r"input 'seq' has shape \(None, None, 4\).*input_shapes"):
        export.convert(dynamic)
    flatbuffer = export.convert(dynamic, input_shapes={"seq": (6, 4)}, batch_size=2)
    details = Interpreter(model_content=flatbuffer).get_signature_runner().get_input_details()
    assert list(details["seq"]["shape"]) == [2, 6, 4]


def test_sparse_graph_attention_exports_with_fixed_nodes_and_edges():
    from keras_attention import GraphAttention

    nodes, edges = 9, 20
    node_features = keras.Input(batch_shape=(nodes, 6), name="node_features")
    edge_list = keras.Input(batch_shape=(2, edges), dtype="int32", name="edges")
    outputs = GraphAttention(4, num_heads=2)(node_features, edge_list)
    model = keras.Model([node_features, edge_list], outputs)
    flatbuffer = export.convert(model)  # float32; the leading axes stay
    runner = Interpreter(model_content=flatbuffer).get_signature_runner()
    details = runner.get_input_details()
    assert list(details["node_features"]["shape"]) == [nodes, 6]
    assert list(details["edges"]["shape"]) == [2, edges]
    x = RNG.normal(size=(nodes, 6)).astype("float32")
    e = RNG.integers(0, nodes, size=(2, edges)).astype("int32")
    want = model.predict_on_batch([x, e])
    (got,) = runner(node_features=x, edges=e).values()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_calibrated_modes_refuse_a_while_loop_instead_of_crashing():
    # A rolled RNN becomes a While loop; TF 2.21's converter dies with a
    # segmentation fault calibrating one, so this must raise before it runs.
    x = keras.Input((5, 4), name="x")
    y = keras.layers.GRU(6, name="rolled_gru")(x)
    model = keras.Model(x, y)
    for mode in ("int8", "int16x8"):
        with pytest.raises(export.ExportError, match=r"While loop, found in layer\(s\) \[.rolled_gru.\].*unroll=True"):
            export.convert(model, mode=mode, representative_data=_data(model))
    # The same loop in a float mode converts and runs (a builtin WHILE).
    flatbuffer = export.convert(model, mode="dynamic")
    sample = _data(model)["x"][:1]
    want = model.predict(sample, verbose=0)
    got = Interpreter(model_content=flatbuffer).get_signature_runner()(x=sample)
    np.testing.assert_allclose(next(iter(got.values())), want, atol=0.05)


def test_tensor_names_are_dropped_unless_kept():
    from tensorflow.lite.python import schema_py_generated as schema

    model = _mhsa()

    def tensor_names(flatbuffer):
        graph = schema.Model.GetRootAs(flatbuffer, 0).Subgraphs(0)
        return [graph.Tensors(i).Name() for i in range(graph.TensorsLength())]

    kept = export.convert(model, keep_tensor_names=True)
    dropped = export.convert(model)
    assert any(tensor_names(kept)) and not any(tensor_names(dropped))
    assert len(dropped) < len(kept)
    # The signature still names its inputs and outputs; outputs are the same.
    data = _data(model)["x"][:1]
    runs = [Interpreter(model_content=f).get_signature_runner()(x=data) for f in (kept, dropped)]
    assert runs[0].keys() == runs[1].keys() == {"logits"}
    np.testing.assert_array_equal(runs[0]["logits"], runs[1]["logits"])


class WithDefaultMode(keras.Model):
    default_export_mode = "dynamic"


def test_default_mode_is_the_models_own():
    x = keras.Input((32,), name="x")
    y = keras.layers.Dense(64)(x)
    plain = keras.Model(x, y)
    own = WithDefaultMode(x, y, name="with_default_mode")
    assert export.default_mode(plain) == "float32"
    assert export.default_mode(own) == "dynamic"
    # Dynamic range stores the 32x64 kernel in int8: 6 KiB less than float32
    # (less its per-channel scales).
    assert len(export.convert(own)) < len(export.convert(own, mode="float32")) - 5000
    own.default_export_mode = "int3"
    with pytest.raises(ValueError, match=r"default_export_mode must be one of .*'int3'"):
        export.default_mode(own)


@keras.saving.register_keras_serializable(package="keras_attention_tests")
class InverseErf(keras.layers.Layer):
    """A layer whose op (Erfinv) has no TFLite builtin."""

    def call(self, x):
        return keras.ops.erfinv(keras.ops.tanh(x) * 0.5)


def test_flex_ops_are_named_with_their_layer():
    x = keras.Input((4,), name="x")
    y = InverseErf(name="inverse_erf")(keras.layers.Dense(4)(x))
    with pytest.raises(export.FlexOpsError) as raised:
        export.convert(keras.Model(x, y))
    error = raised.value
    assert error.layers == {"tf.Erfinv": ["inverse_erf"]}
    assert "tf.Erfinv in 'inverse_erf'" in str(error)
    assert "Flex (Select TF ops) is not enabled" in str(error)


# -- several signatures in one file -------------------------------------------


def test_named_signatures_in_one_file_and_int8():
    layer = CachedMultiHeadAttention(num_heads=2, key_dim=8)
    x = keras.Input((1, 16), name="token")
    model = keras.Model(x, layer(x))
    specs = dict(
        token=tf.TensorSpec((1, 1, 16), tf.float32, name="token"),
        cache=tf.TensorSpec((1, 2, 6, 16), tf.float32, name="cache"),
        index=tf.TensorSpec((1,), tf.int32, name="index"),
    )

    def step(token, cache, index):
        out, cache = layer.step(token, cache, index[0])
        return {"output": out, "cache": cache}

    def project(token):
        return {"output": model(token)}

    signatures = {
        "decode_step": export.Signature(step, list(specs.values())),
        "project": export.Signature(project, [specs["token"]]),
    }
    flatbuffer = export.convert(model, signatures=signatures)
    interpreter = Interpreter(model_content=flatbuffer)
    assert set(interpreter.get_signature_list()) == {"decode_step", "project"}
    tokens = RNG.normal(size=(6, 1, 16)).astype("float32")
    cache = np.zeros((1, 2, 6, 16), "float32")
    for i in range(6):
        got = interpreter.get_signature_runner("decode_step")(
            token=tokens[i : i + 1], cache=cache, index=np.array([i], "int32")
        )
        want, cache_want = layer.step(tokens[i : i + 1], cache, i)
        np.testing.assert_allclose(got["output"], want, atol=1e-5)
        cache = got["cache"]
    calibration = {
        "decode_step": {
            "token": tokens,
            "cache": RNG.normal(size=(6, 2, 6, 16)).astype("float32"),
            "index": np.arange(6, dtype="int32"),
        },
        "project": {"token": tokens},
    }
    quantized = export.convert(
        model, mode="int8", signatures=signatures, representative_data=calibration
    )
    assert set(Interpreter(model_content=quantized).get_signature_list()) == {
        "decode_step",
        "project",
    }
    with pytest.raises(export.CalibrationError, match=r"signature name: data"):
        export.convert(
            model, mode="int8", signatures=signatures, representative_data=calibration["project"]
        )


# -- metadata, report, ONNX ---------------------------------------------------------


def test_metadata_and_report(tmp_path):
    model = _mhsa()
    data = _data(model)
    path = str(tmp_path / "model.tflite")
    metadata_path = export.export_tflite(
        model, path, mode="int8", representative_data=data, integer_io=True,
        task={"kind": "demo"},
    )
    metadata = json.loads(open(metadata_path).read())
    assert metadata["mode"] == "int8" and metadata["task"] == {"kind": "demo"}
    assert metadata["model_bytes"] == len(open(path, "rb").read())
    (x,) = metadata["signatures"]["serving_default"]["inputs"]
    assert x["name"] == "x" and x["shape"] == [1, 8, 16] and x["dtype"] == "int8"
    assert x["quantization"]["scale"] > 0
    samples = [{"x": data["x"][i : i + 1]} for i in range(8)]

    def reference(sample):
        return {"logits": model.predict(sample, verbose=0)}

    def accuracy(outputs, sample):
        return float(np.mean(outputs["logits"].argmax(-1) == reference(sample)["logits"].argmax(-1)))

    report = build_report(path, reference, samples, "int8", metric=accuracy, runs=5)
    assert report["bytes"] == metadata["model_bytes"]
    assert report["operators"]["FULLY_CONNECTED"] >= 1
    assert report["parity"]["max_abs_error"] < 0.25
    assert report["parity"]["metric_keras"] == 1.0
    assert report["parity"]["top1_agreement"] == report["parity"]["metric_litert"]
    assert report["latency_ms"]["median"] <= report["latency_ms"]["p90"]
    json_path, md_path = write_report(report, str(tmp_path / "report.json"))
    assert json.loads(open(json_path).read())["mode"] == "int8"
    assert "| file size |" in open(md_path).read()


def test_report_measures_what_the_device_runs(tmp_path):
    # The report loads the model with edge_demo and runs it as a device does,
    # so its parity is the device's to the bit and it refuses a file that no
    # longer matches its metadata.
    import edge_demo

    model = _mhsa()
    data = _data(model)
    path = tmp_path / "model.tflite"
    export.export_tflite(
        model, str(path), mode="int8", representative_data=data, integer_io=True
    )
    sample = {"x": data["x"][:1]}
    device = edge_demo.load(path).run("serving_default", **sample)["logits"]
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    np.testing.assert_array_equal(run_signature(runner, sample)["logits"], device)
    want = model.predict(sample, verbose=0)
    report = build_report(str(path), lambda s: want, [sample], "int8", runs=2)
    assert report["parity"]["max_abs_error"] == float(np.abs(device - want).max())
    assert report["latency_ms"]["runtime"] == "edge_demo"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(edge_demo.EdgeModelError, match="the file is truncated"):
        build_report(str(path), lambda s: want, [sample], "int8", runs=2)
    with pytest.raises(ValueError, match="samples must hold at least one sample"):
        build_report(str(path), lambda s: want, [], "int8")


def _keras_layer_norm():
    x = keras.Input((8, 16), name="x")
    y = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    return keras.Model(x, keras.layers.Dense(5, name="logits")(y))


def test_int8_transformer_blocks_stay_integer_where_keras_norm_does_not():
    # Our blocks normalize as (x - mean) * inv + beta: every op has an int8
    # kernel. Keras's LayerNormalization negates the mean, and the quantizer
    # leaves that NEG in float, between a dequantize and a quantize.
    for build in (_encoder_block, _decoder_block):
        model = build()
        flatbuffer = export.convert(
            model, mode="int8", representative_data=_data(model), num_calibration_samples=32
        )
        assert float_ops(flatbuffer) == {}, build.__name__
    model = _keras_layer_norm()
    flatbuffer = export.convert(
        model, mode="int8", representative_data=_data(model), num_calibration_samples=32
    )
    assert float_ops(flatbuffer) == {"NEG": 1}


def test_a_kernel_missing_on_the_device_fails_the_export():
    # Keras's LayerNormalization needs SQUARED_DIFFERENCE, which LiteRT has no
    # int16 kernel for: the converter accepts it, the run on zeros does not.
    model = _keras_layer_norm()
    with pytest.raises(export.ExportError, match="SQUARED_DIFFERENCE"):
        export.convert(
            model, mode="int16x8", representative_data=_data(model), num_calibration_samples=32
        )


def test_int8_with_the_attention_core_left_in_float():
    model = _mhsa()
    data = _data(model)
    sample = {"x": data["x"][:1]}
    want = model.predict(sample, verbose=0)
    for integer_io in (False, True):
        flatbuffer = export.convert(
            model, mode="int8", representative_data=data, num_calibration_samples=32,
            integer_io=integer_io, float_ops=["SOFTMAX", "BATCH_MATMUL"],
        )
        # Scores and weighted sum, and the softmax: float; the projections
        # (FULLY_CONNECTED) stay int8, as the mode check requires.
        assert float_ops(flatbuffer) == {"BATCH_MATMUL": 2, "SOFTMAX": 1}
        runner = Interpreter(model_content=flatbuffer).get_signature_runner()
        if integer_io:
            assert runner.get_output_details()["logits"]["dtype"] == np.int8
            continue
        got = run_signature(runner, sample)["logits"]
        # The int8 bound of test_every_mode_on_every_sequence_layer, in float
        # outputs: 16 steps of a 256-step range.
        assert np.abs(got - want).max() <= 16 * (want.max() - want.min()) / 256
    plain = export.convert(model, mode="int8", representative_data=data,
                           num_calibration_samples=32)
    assert float_ops(plain) == {}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="int8", float_ops="SOFTMAX"), "float_ops must be a list of builtin op names"),
        (dict(mode="int8", float_ops=["SOFTMAX", 3]), "float_ops must be a list"),
        (dict(mode="int8", float_ops=["SOFTMAX", "ATTENTION"]),
         r"unknown names \['ATTENTION'\]"),
        (dict(mode="dynamic", float_ops=["SOFTMAX"]), "float_ops is for the int8 mode"),
    ],
)
def test_float_ops_are_checked(kwargs, message):
    model = _mhsa()
    if kwargs["mode"] == "int8":
        kwargs["representative_data"] = _data(model)
    with pytest.raises(ValueError, match=message):
        export.convert(model, **kwargs)


def test_onnx_parity(tmp_path):
    from keras_attention_export.onnx import export_onnx, onnx_max_error

    for build in (_mhsa, _encoder_block, _bahdanau_attention):
        model = build()
        session = export_onnx(model, tmp_path / f"{build.__name__}.onnx")
        sample = {k: v[:1] for k, v in _data(model).items()}
        assert onnx_max_error(session, model, sample) < 1e-5


# -- one model, several modes ----------------------------------------------------


def test_an_exporter_traces_once_and_never_converts_stale_weights(tmp_path, monkeypatch):
    writes = []
    archive_class = type(keras.export.ExportArchive())  # the backend's own
    write_out = archive_class.write_out

    def counted(self, *args, **kwargs):
        writes.append(args[0])
        return write_out(self, *args, **kwargs)

    monkeypatch.setattr(archive_class, "write_out", counted)
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(3, name="y")(x))
    data = RNG.normal(size=(16, 4)).astype("float32")

    def run(flatbuffer):
        runner = Interpreter(model_content=flatbuffer).get_signature_runner()
        return runner(x=data[:1])["y"]

    with export.Exporter(model) as exporter:
        float32 = exporter.convert("float32")
        meta = exporter.export_tflite(tmp_path / "m.tflite", "dynamic")
        assert len(writes) == 1  # two modes, one trace
        assert json.loads(open(meta).read())["mode"] == "dynamic"
        np.testing.assert_allclose(run(float32), model.predict(data[:1], verbose=0),
                                   atol=1e-5)
        # Trained on: the next conversion traces the new weights.
        model.compile("sgd", "mse")
        model.fit(data, np.ones((16, 3)), epochs=2, verbose=0)
        retrained = exporter.convert("float32")
        assert len(writes) == 2
        np.testing.assert_allclose(run(retrained), model.predict(data[:1], verbose=0),
                                   atol=1e-5)
        assert np.abs(run(retrained) - run(float32)).max() > 1e-3
        saved = writes[-1]
    assert not os.path.exists(saved)  # closed: the SavedModel is gone
    # The one-shot functions write it once a call, as before.
    export.convert(model, mode="float32")
    assert len(writes) == 3


def test_layers_quantized_in_keras_are_refused_with_what_to_do():
    x = keras.Input((8, 16), name="x")
    attention = MultiHeadSelfAttention(2, 8)
    model = keras.Model(x, keras.layers.Dense(5, name="logits")(attention(x)))
    attention.key_dense.quantize("int8")
    with pytest.raises(export.ExportError, match=(
        r"1 layer\(s\) were quantized in Keras.*key \(int8\).*mode='dynamic'"
    )):
        export.convert(model, mode="float32")
