"""The checks every layer of the library runs, once per configuration.

A test module describes its layer with `LayerCase`s and runs every check in
`CHECKS` that applies to each (see tests/test_multi_head_self_attention.py):

    @harness.parametrize(CASES)
    def test_harness(case, check, tmp_path):
        check(case, tmp_path)

Each check builds what it needs from the case, so a failure names both the
configuration and the property that broke.

Every check but the TFLite one runs on any Keras backend: tests/backend_checks.py
runs them on JAX and PyTorch. TensorFlow (and LiteRT) are imported only by the
TFLite conversion (the exporter's, `keras_attention_export.convert`) and by
the TensorFlow-graph part of the mixed-precision check, when they run.
"""

import dataclasses
import math
from typing import Callable, Optional

import keras
import numpy as np
import pytest

# Float32 on either side of a conversion or a reload: the same arithmetic in
# a different order, a few ulps on outputs of order one.
FLOAT32_ATOL = 1e-5


@dataclasses.dataclass
class LayerCase:
    """One configuration of a layer and the data to call it with.

    Attributes:
        name: shown in the test id.
        cls: the layer class.
        init_kwargs: constructor arguments.
        inputs: tensor arguments of `call` by name, the first one positional;
            each array includes the batch axis.
        trainable_weights: exact number of trainable variables once built.
        trainable_params: exact number of trainable scalars once built.
        call_kwargs: non-tensor arguments of `call`.
        masks: boolean arrays (`[B, T]`) for some of `inputs`, given to the
            layer as Keras masks through `keras.layers.Masking`; the masked
            steps of those inputs are zeroed to make that possible.
        explicit_mask: maps `masks` to the call arguments that say the same
            thing explicitly; the two calls must agree.
        has_softmax: the layer normalises attention with a softmax, which
            must run in float32 under mixed precision.
        tflite: convert to TFLite and compare with Keras. Set it to False
            only for a configuration TFLite is not meant to run, and say why
            beside the case.
        batched: the first axis of every input is the batch. False for
            inputs that are one whole example with axes of different sizes
            (a graph's `[N, F]` nodes and `[2, E]` edges): models then get
            each input's full static shape and run all of it as one batch
            (`predict_on_batch`, `train_on_batch`), since `predict` and
            `fit` would slice every input along its first axis.
    """

    name: str
    cls: type
    init_kwargs: dict
    inputs: dict
    trainable_weights: int
    trainable_params: int
    call_kwargs: dict = dataclasses.field(default_factory=dict)
    masks: Optional[dict] = None
    explicit_mask: Optional[Callable[[dict], dict]] = None
    has_softmax: bool = True
    tflite: bool = True
    batched: bool = True

    def arrays(self):
        """The inputs, with the masked steps zeroed."""
        arrays = {k: np.array(v) for k, v in self.inputs.items()}
        for key, mask in (self.masks or {}).items():
            arrays[key] = arrays[key] * mask[..., None].astype(arrays[key].dtype)
        return arrays

    def make_layer(self, **overrides):
        return self.cls(**{**self.init_kwargs, **overrides})


def lengths_mask(lengths, length):
    """Boolean `[len(lengths), length]`, true for the first `lengths[i]` steps."""
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def applicable_checks(case, tflite=True):
    """The checks that apply to `case`, in `CHECKS` order.

    The mask check needs a case with masks, the TFLite check a case with
    `tflite=True` (and `tflite=True` here: the TFLite check needs
    TensorFlow); other checks are left out, so none passes vacuously.
    """
    return [
        check
        for check in CHECKS
        if (check is not check_implicit_and_explicit_mask or case.masks)
        and (check is not check_tflite_parity or (tflite and case.tflite))
    ]


def check_name(check):
    return check.__name__[len("check_"):]


def parametrize(cases):
    """`pytest.mark.parametrize` over every (case, check) pair that applies."""
    pairs = [
        pytest.param(case, check, id=f"{case.name}-{check_name(check)}")
        for case in cases
        for check in applicable_checks(case)
    ]
    return pytest.mark.parametrize("case,check", pairs)


# -- helpers ------------------------------------------------------------------


def _call(layer, tensors, case, extra=None):
    names = list(case.inputs)
    kwargs = {k: tensors[k] for k in names[1:]}
    kwargs.update(case.call_kwargs)
    kwargs.update(extra or {})
    return layer(tensors[names[0]], **kwargs)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def _functional_model(case, layer, batch_size=None, use_masks=True):
    arrays = case.arrays()
    inputs = {
        k: keras.Input(
            v.shape[1:],
            batch_size=batch_size if case.batched else v.shape[0],
            dtype=v.dtype.name,
            name=k,
        )
        for k, v in arrays.items()
    }
    tensors = dict(inputs)
    if use_masks:
        for key in case.masks or {}:
            tensors[key] = keras.layers.Masking(0.0)(tensors[key])
    outputs = _call(layer, tensors, case)
    return keras.Model(inputs, outputs), arrays


def _predict(model, arrays, case):
    """The model's outputs through Keras's compiled `predict` (a graph on
    TensorFlow, one jitted program on JAX)."""
    if case.batched:
        return model.predict(arrays, verbose=0)
    return model.predict_on_batch(arrays)


def _run(model, arrays):
    """The model's outputs from a direct call: where the checks compare two
    models' outputs and the path does not matter, without `predict`'s trace
    (about 0.25 s a model on TensorFlow)."""
    return _numpy(model(arrays, training=False))


def _tensors(case):
    return {k: keras.ops.convert_to_tensor(v) for k, v in case.arrays().items()}


def _numpy(outputs):
    # convert_to_numpy, not np.asarray: a PyTorch output that requires grad
    # has to be detached first.
    return [keras.ops.convert_to_numpy(o) for o in _as_list(outputs)]


def _eager(case, layer, extra=None):
    return _numpy(_call(layer, _tensors(case), case, extra))


def _jit_compile():
    """XLA where Keras compiles with it; PyTorch's `torch.compile` is not
    what these checks are about."""
    return keras.backend.backend() != "torch"


def _assert_close(actual, expected, atol, what):
    actual = _numpy(actual)
    expected = _numpy(expected)
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"{what}: output {i} shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(
            a.astype("float64"), e.astype("float64"), atol=atol, rtol=0,
            err_msg=f"{what}: output {i}",
        )


def _tensorflow():
    # Imported only by the checks that are about TensorFlow itself.
    import tensorflow as tf

    return tf


def _softmax_dtypes(concrete_function):
    """The `T` attribute of every Softmax op, nested functions included."""
    tf = _tensorflow()
    graph_def = concrete_function.graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return [
        tf.dtypes.as_dtype(node.attr["T"].type).name
        for node in nodes
        if node.op == "Softmax"
    ]


def _traced_softmax_dtypes(layer, case):
    """The dtype of every `keras.ops.softmax` input in one eager call.

    Any backend: the layers reach the softmax through `keras.ops`, so a spy
    on that name sees each call (TensorFlow's graph check below also sees a
    softmax reached any other way).
    """
    dtypes = []
    softmax = keras.ops.softmax

    def spy(x, *args, **kwargs):
        dtypes.append(keras.backend.standardize_dtype(x.dtype))
        return softmax(x, *args, **kwargs)

    keras.ops.softmax = spy
    try:
        _call(layer, _tensors(case), case)
    finally:
        keras.ops.softmax = softmax
    return dtypes


# -- checks -------------------------------------------------------------------


def check_config_round_trip(case, tmp_path):
    layer = case.make_layer()
    config = layer.get_config()
    clone = case.cls.from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(revived) is case.cls
    assert revived.get_config() == config


def check_save_and_reload(case, tmp_path):
    model, arrays = _functional_model(case, case.make_layer())
    expected = _run(model, arrays)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    _assert_close(_run(reloaded, arrays), expected, 0.0, "reloaded")


def check_trainable_weight_counts(case, tmp_path):
    layer = case.make_layer()
    _eager(case, layer)
    count = len(layer.trainable_weights)
    params = sum(math.prod(w.shape) for w in layer.trainable_weights)
    assert (count, params) == (case.trainable_weights, case.trainable_params), (
        f"{count} trainable weights with {params} scalars: "
        f"{[(w.path, tuple(w.shape)) for w in layer.trainable_weights]}"
    )


def check_symbolic_and_eager(case, tmp_path):
    layer = case.make_layer()
    eager = _eager(case, layer)
    # Eager calls carry no Keras mask, so the model must not add one.
    model, arrays = _functional_model(case, layer, use_masks=False)
    symbolic = _as_list(model.outputs)
    assert len(symbolic) == len(eager)
    for sym, eag in zip(symbolic, eager):
        assert tuple(sym.shape)[1:] == eag.shape[1:], (sym.shape, eag.shape)
        assert np.all(np.isfinite(eag))
    _assert_close(_predict(model, arrays, case), eager, FLOAT32_ATOL, "model vs eager")


def check_fit_step_with_xla(case, tmp_path):
    layer = case.make_layer()
    model, arrays = _functional_model(case, layer)
    model = keras.Model(model.inputs, _as_list(model.outputs)[0])
    jit_compile = _jit_compile()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit_compile
    )
    assert model.jit_compile == jit_compile, "Keras turned XLA off for this model"
    if case.trainable_weights == 0:
        # Nothing to train: the compiled model must still give eager's output
        # (with the model's masks given explicitly).
        explicit = case.explicit_mask(case.masks) if case.masks else None
        eager = _eager(case, layer, explicit)[0]
        _assert_close(_predict(model, arrays, case), eager, FLOAT32_ATOL, "XLA")
        return
    target = np.random.default_rng(0).normal(size=_run(model, arrays)[0].shape)
    before = _numpy(layer.trainable_weights)
    if case.batched:
        history = model.fit(arrays, target, epochs=1, batch_size=len(target), verbose=0)
        loss = history.history["loss"][0]
    else:
        loss = model.train_on_batch(arrays, target, return_dict=True)["loss"]
    assert np.isfinite(loss)
    after = _numpy(layer.trainable_weights)
    changed = [not np.array_equal(a, b) for a, b in zip(after, before)]
    assert changed and all(changed), (
        f"weights that did not move: {np.flatnonzero(~np.array(changed))}"
    )


def check_mixed_precision(case, tmp_path):
    reference = case.make_layer()
    expected = _eager(case, reference)
    layer = case.make_layer(dtype="mixed_float16")
    _eager(case, layer)
    assert {w.dtype for w in layer.weights} <= {"float32", "int32", "int64", "bool"}
    assert layer.compute_dtype == "float16"
    result = _as_list(_call(layer, _tensors(case), case))
    dtypes = [keras.backend.standardize_dtype(o.dtype) for o in result]
    float_dtypes = [d for d in dtypes if d.startswith(("float", "bfloat"))]
    assert float_dtypes[0] == "float16", dtypes
    layer.set_weights(reference.get_weights())
    outputs = _eager(case, layer)
    for got, want in zip(outputs, expected):
        # float16 keeps 11 significant bits; sums of a few dozen O(1) terms.
        np.testing.assert_allclose(got.astype("f4"), want, atol=2e-2, rtol=2e-2)
    if case.has_softmax:
        dtypes = _traced_softmax_dtypes(layer, case)
        assert dtypes, "no keras.ops.softmax call in the layer"
        assert set(dtypes) == {"float32"}, f"softmax input dtypes: {dtypes}"
    if case.has_softmax and keras.backend.backend() == "tensorflow":
        tf = _tensorflow()
        traced = tf.function(lambda t: _call(layer, t, case)).get_concrete_function(
            {k: tf.TensorSpec(v.shape, v.dtype) for k, v in case.arrays().items()}
        )
        dtypes = _softmax_dtypes(traced)
        assert dtypes, "no Softmax op found in the traced layer"
        assert set(dtypes) == {"float32"}, f"softmax dtypes: {dtypes}"


def check_implicit_and_explicit_mask(case, tmp_path):
    layer = case.make_layer()
    implicit_model, arrays = _functional_model(case, layer)
    implicit = _run(implicit_model, arrays)
    explicit = _eager(case, layer, case.explicit_mask(case.masks))
    _assert_close(implicit, explicit, FLOAT32_ATOL, "implicit vs explicit mask")
    # The mask must matter, or the comparison proves nothing.
    unmasked_model, _ = _functional_model(case, layer, use_masks=False)
    unmasked = _run(unmasked_model, arrays)
    assert any(
        np.abs(a - b).max() > 1e-4 for a, b in zip(implicit, unmasked)
    ), "the mask changed nothing"


def convert_to_tflite(model, export_dir=None):
    """Builtin-ops-only float32 TFLite flatbuffer of a fixed-shape Keras model.

    The exporter's own conversion (`keras_attention_export.convert`): what a
    user's export does is what the layers are tested with. Its one signature
    takes the model's inputs by name and names the outputs `output_0`,
    `output_1`, ... in the model's order, for `run_tflite`.

    `export_dir` is not used: the exporter writes its SavedModel in a
    temporary folder of its own. It stays for the tests that pass one.
    """
    from keras_attention_export.tflite import Signature, convert, fixed_signature

    (serving,) = fixed_signature(model).values()

    def serve(*tensors):
        # fixed_signature names outputs after their layers, in model order.
        outputs = serving.function(*tensors).values()
        return {f"output_{i}": o for i, o in enumerate(outputs)}

    signature = Signature(serve, serving.input_signature)
    return convert(model, mode="float32", signatures={"serving_default": signature})


def run_tflite(flatbuffer, arrays):
    """Run the only signature; outputs in the model's output order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner()
    results = runner(**{k: np.asarray(v) for k, v in arrays.items()})
    return [results[f"output_{i}"] for i in range(len(results))]


def check_tflite_parity(case, tmp_path):
    layer = case.make_layer()
    batch = len(next(iter(case.inputs.values())))
    model, arrays = _functional_model(case, layer, batch_size=batch)
    expected = _run(model, arrays)
    flatbuffer = convert_to_tflite(model, tmp_path / "saved_model")
    _assert_close(run_tflite(flatbuffer, arrays), expected, FLOAT32_ATOL, "TFLite")


CHECKS = [
    check_config_round_trip,
    check_save_and_reload,
    check_trainable_weight_counts,
    check_symbolic_and_eager,
    check_fit_step_with_xla,
    check_mixed_precision,
    check_implicit_and_explicit_mask,
    check_tflite_parity,
]
