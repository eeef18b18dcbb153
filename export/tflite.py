"""Keras models to LiteRT (TFLite) flatbuffers, builtin ops only, five modes.

Every export goes through a SavedModel written by `keras.export.ExportArchive`
(one endpoint per signature) and `TFLiteConverter.from_saved_model`: a bare
`tf.Module` of `tf.function`s leaves the weights as uninitialised variables
in the flatbuffer (NaN outputs, failed int8 calibration). Flex (Select TF)
ops are never enabled, since the Python LiteRT runtime cannot run them: a
model that needs one fails with `FlexOpsError`, naming the ops and layers.

Needs TensorFlow, and the model must live on the TensorFlow backend of Keras
(the converter traces it as TensorFlow functions): on JAX or PyTorch,
`convert` raises a `RuntimeError` saying to save the model as `.keras` and
export it in a process with `KERAS_BACKEND=tensorflow`.
"""

import hashlib
import os
import re
import shutil
import tempfile

import keras
import numpy as np

from edge_demo.contract import MODES, metadata_path
from edge_demo.files import write_atomically
from keras_attention._tensorflow import import_tensorflow, require_tensorflow_backend
from keras_attention.models.signature import Signature
from keras_attention_export.calibration import representative_dataset
from keras_attention_export.errors import ExportError, FlexOpsError
from keras_attention_export.metadata import write_metadata
from keras_attention_export.outputs import StagedFiles, check_paths
from keras_attention_export.verify import BUILTIN_NAMES, check_mode

tf = import_tensorflow("keras_attention_export (LiteRT conversion)")

# What to do on another backend, in the error that says so.
_ON_ANOTHER_BACKEND = (
    "Save the model with model.save('model.keras') and export it in a process "
    "with KERAS_BACKEND=tensorflow, e.g. `KERAS_BACKEND=tensorflow "
    "keras-attention-export model.keras --out model.tflite` (the command line "
    "sets the backend itself)."
)


def require_tensorflow(what):
    """Raise unless Keras runs on TensorFlow, saying what to do instead."""
    require_tensorflow_backend(what, _ON_ANOTHER_BACKEND)

# What each mode asks of the converter. The integer modes fall back to
# float builtins for ops without integer kernels (the report lists them).
_INT8_OPS = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
_INT16X8_OPS = [
    tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
    tf.lite.OpsSet.TFLITE_BUILTINS,
]



def tf_signatures(signatures):
    """`signatures` with every input spec a named `tf.TensorSpec`.

    The reference models describe their entry points with
    `keras_attention.models.signature.TensorSpec` (shape, dtype name, name),
    so that the library never imports the exporter; `tf.TensorSpec`s pass
    through unchanged.
    """
    converted = {}
    for name, signature in signatures.items():
        specs = [
            spec
            if isinstance(spec, tf.TensorSpec)
            else tf.TensorSpec(spec.shape, tf.as_dtype(spec.dtype), name=spec.name)
            for spec in signature.input_signature
        ]
        converted[name] = Signature(signature.function, specs)
    return converted


def fixed_signature(model, batch_size=1, input_shapes=None):
    """The `serving_default` signature of a Keras model, with static shapes.

    Args:
        model: a functional or sequential Keras model.
        batch_size: the batch axis of every input whose first axis the
            model leaves open; a fixed first axis (a graph's `[N, F]` nodes
            and `[2, E]` edges, built with `keras.Input(batch_shape=...)`)
            is kept.
        input_shapes: optional `{input name: shape without batch}` for inputs
            whose other axes are not fixed in the model.

    Returns:
        `{"serving_default": Signature}` whose inputs are named as
        `input_names` says and whose outputs are named after the model's
        output layers (`output_0`, ... when they collide).
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(
            f"batch_size must be a positive int, received batch_size={batch_size!r}"
        )
    input_shapes = dict(input_shapes or {})
    names = input_names(model)
    unknown = set(input_shapes) - set(names)
    if unknown:
        raise ValueError(
            f"input_shapes names inputs the model does not have: {sorted(unknown)}; "
            f"its inputs are {names}"
        )
    specs = []
    for name, tensor in zip(names, model.inputs):
        # A leading axis the model fixes stays (a graph's [N, F] nodes and
        # [2, E] edges have no batch axis); an open one becomes batch_size.
        leading = batch_size if tensor.shape[0] is None else tensor.shape[0]
        shape = (leading,) + tuple(input_shapes.get(name, tensor.shape[1:]))
        if any(size is None for size in shape):
            raise ValueError(
                f"input {name!r} has shape {tuple(tensor.shape)} with an "
                "unknown axis besides the batch; a TFLite signature needs static "
                f"shapes: pass input_shapes={{{name!r}: (...)}}"
            )
        specs.append(tf.TensorSpec(shape, tensor.dtype, name=name))
    output_names = [_output_name(t, i) for i, t in enumerate(model.outputs)]
    if len(set(output_names)) != len(output_names):
        output_names = [f"output_{i}" for i in range(len(model.outputs))]

    def serve(*tensors):
        # In the structure the model was built with, so no name must match.
        inputs = keras.tree.pack_sequence_as(model.input, list(tensors))
        outputs = model(inputs, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(output_names, outputs))

    return {"serving_default": Signature(serve, specs)}


def input_names(model):
    """The names of a model's inputs, in the order of `model.inputs`.

    They name the signature's inputs and the arrays of a dict fed to the
    model: a dict-structured model's keys, else the input layers' names. A
    `keras.Input` without `name=` is called after its layer (`input_layer`,
    `input_layer_1`, ...), which is what Keras matches a dict of arrays
    against, and not after its tensor (`keras_tensor_3`), which it is not.
    """
    structure = model.input
    if isinstance(structure, dict) and len(structure) == len(model.inputs):
        return sorted(structure)  # model.inputs flattens a dict in key order
    return [_layer_name(t) or t.name for t in model.inputs]


def _layer_name(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history is not None else None


def _output_name(tensor, index):
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history is not None else f"output_{index}"


def default_mode(model):
    """The export mode a model's family defaults to: `model.default_export_mode`
    where the model defines one (the reference models do, from
    `bench/export.py`'s figures), else `float32`."""
    mode = getattr(model, "default_export_mode", "float32")
    if mode not in MODES:
        raise ValueError(
            f"{type(model).__name__}.default_export_mode must be one of {MODES}, "
            f"found {mode!r}"
        )
    return mode


def convert(
    model,
    mode=None,
    signatures=None,
    representative_data=None,
    num_calibration_samples=100,
    integer_io=False,
    batch_size=1,
    input_shapes=None,
    keep_tensor_names=False,
    range_quantile=None,
    float_ops=None,
):
    """Convert `model` to a LiteRT flatbuffer; returns its bytes.

    Args:
        model: the Keras model (its variables are what gets exported).
        mode: one of `MODES`, or `None` for `default_mode(model)`. `float16` stores float16 weights; `dynamic`
            int8 weights with float activations; `int8` full integer with
            a representative dataset; `int16x8` int16 activations and int8
            weights, also calibrated.
        signatures: `{name: Signature}`; by default the model's own call as
            `serving_default` with `batch_size` and `input_shapes`.
        representative_data: for `int8` and `int16x8`: arrays, a dict of
            arrays by input name, a `tf.data.Dataset` or a generator; with
            several signatures, a dict `{signature name: data}`. See
            `export.calibration`.
        num_calibration_samples: how many samples calibrate the ranges.
        integer_io: with `int8` (`int16x8`), float inputs and outputs become
            int8 (int16) tensors with the scale and zero point recorded in
            the metadata; otherwise the model quantizes and dequantizes at
            its edges.
        keep_tensor_names: keep the graph's tensor names (TF name scopes,
            for debugging). By default they are dropped: they are no part of
            the model's interface (signatures name their inputs and outputs
            separately) and take 3% of a float32 file and up to 30% of an
            int8 one, whose quantization adds tensors.
        range_quantile: `int8` only: None keeps the converter's activation
            ranges (min and max over all calibration samples); a number in
            (0, 1] sets each range from that quantile of the samples' own
            maxima and minima instead (`export.ranges`), so that rare
            outliers saturate rather than coarsen every other value.
        float_ops: `int8` only: builtin op names (`"BATCH_MATMUL"`,
            `"SOFTMAX"`, ...) that the quantizer leaves in float, with a
            dequantize before and a quantize after each. Attention's core
            is the use: `("BATCH_MATMUL", "SOFTMAX")` keeps the products
            of two activations (scores, weighted sums) and the softmax in
            float, whose int8 kernels ran two to five times slower than
            float on a 2-core x86 CPU, while the projections, which hold
            the weights, stay int8.

    Raises:
        ValueError: an unknown mode or a bad argument.
        CalibrationError: calibration data missing, of the wrong shape, or
            with values the converter cannot take (not finite, or beyond
            `calibration.MAX_MAGNITUDE`), before the converter runs.
        FlexOpsError: the model needs TensorFlow ops outside TFLite's
            builtins.
        ExportError: conversion failed, the result cannot run, it is not
            what `mode` and `integer_io` promise (`export.verify`), or a
            calibrated mode was asked of a model with a loop.
    """
    with Exporter(model, signatures, batch_size, input_shapes) as exporter:
        return exporter.convert(
            mode,
            representative_data=representative_data,
            num_calibration_samples=num_calibration_samples,
            integer_io=integer_io,
            keep_tensor_names=keep_tensor_names,
            range_quantile=range_quantile,
            float_ops=float_ops,
        )


class Exporter:
    """One model traced and written out once, converted to several modes.

    `convert` traces the model's signatures into a SavedModel, which takes
    longer than the conversion itself. An `Exporter` keeps that SavedModel
    for every conversion it makes, so one model in three modes is traced
    once rather than three times:

        with Exporter(model, signatures) as exporter:
            for mode in ("float32", "dynamic", "int8"):
                exporter.export_tflite(f"model_{mode}.tflite", mode, ...)

    The weights are fingerprinted when the SavedModel is written; a
    conversion after they changed (the model trained on) writes it anew,
    so no file holds stale weights.

    Args:
        model, signatures, batch_size, input_shapes: as for `convert`.
    """

    def __init__(self, model, signatures=None, batch_size=1, input_shapes=None):
        require_tensorflow("LiteRT conversion (keras_attention_export)")
        _refuse_keras_quantized(model)
        self.model = model
        self.signatures = tf_signatures(
            signatures or fixed_signature(model, batch_size, input_shapes)
        )
        self._dir = None
        self._fingerprint = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Delete the SavedModel (the next conversion writes it again)."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = self._fingerprint = None

    def _saved_model(self):
        fingerprint = _weights_fingerprint(self.model)
        if self._dir is None or fingerprint != self._fingerprint:
            self.close()
            folder = tempfile.mkdtemp(prefix="keras_attention_export_")
            try:
                archive = keras.export.ExportArchive()
                archive.track(self.model)
                for name, signature in self.signatures.items():
                    archive.add_endpoint(
                        name,
                        signature.function,
                        input_signature=list(signature.input_signature),
                    )
                archive.write_out(folder, verbose=False)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._dir, self._fingerprint = folder, fingerprint
        return self._dir

    def export_tflite(self, path, mode=None, task=None, **convert_kwargs):
        """`convert`, then write `path` and its metadata (see `export_tflite`)."""
        check_model_path(path)
        mode = default_mode(self.model) if mode is None else mode
        flatbuffer = self.convert(mode, **convert_kwargs)
        with StagedFiles() as files:
            write_model_files(files.stage(path), flatbuffer, mode, task)
            files.stage(metadata_path(path))
            files.commit()
        return metadata_path(path)

    def convert(
        self,
        mode=None,
        representative_data=None,
        num_calibration_samples=100,
        integer_io=False,
        keep_tensor_names=False,
        range_quantile=None,
        float_ops=None,
    ):
        """The flatbuffer in `mode`; the arguments are `convert`'s."""
        model = self.model
        if mode is None:
            mode = default_mode(model)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, received mode={mode!r}")
        if integer_io and mode not in ("int8", "int16x8"):
            raise ValueError(
                "integer_io is for the int8 and int16x8 modes, "
                f"received integer_io=True with mode={mode!r}"
            )
        if range_quantile is not None:
            if mode != "int8":
                raise ValueError(
                    "range_quantile is for the int8 mode, received "
                    f"range_quantile={range_quantile!r} with mode={mode!r}"
                )
            if (
                isinstance(range_quantile, bool)
                or not isinstance(range_quantile, (int, float))
                or not 0 < range_quantile <= 1
            ):
                raise ValueError(
                    "range_quantile must be a number in (0, 1], received "
                    f"range_quantile={range_quantile!r}"
                )
        float_ops = _check_float_ops(float_ops, mode)
        signatures = self.signatures
        calibration = None
        if mode in ("int8", "int16x8"):
            # Checked before anything is written or converted.
            calibration = representative_dataset(
                representative_data,
                {name: sig.input_signature for name, sig in signatures.items()},
                num_calibration_samples,
            )
        elif representative_data is not None:
            raise ValueError(
                f"representative_data is for the int8 and int16x8 modes; mode={mode!r} "
                "needs none"
            )

        tmp = self._saved_model()
        if calibration is not None:
            _refuse_loops(tmp, mode, model)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            tmp, signature_keys=list(signatures)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if calibration is not None:
            converter.representative_dataset = calibration
            converter.target_spec.supported_ops = (
                _INT8_OPS if mode == "int8" else _INT16X8_OPS
            )
            if integer_io:
                io_type = tf.int8 if mode == "int8" else tf.int16
                converter.inference_input_type = io_type
                converter.inference_output_type = io_type
        if range_quantile is not None or float_ops:
            converter._experimental_calibrate_only = True
        try:
            flatbuffer = converter.convert()
            if range_quantile is not None or float_ops:
                flatbuffer = _quantize_calibrated(
                    flatbuffer, calibration, range_quantile, integer_io, float_ops
                )
        except Exception as error:  # the converter raises ConverterError
            unsupported = _unsupported_ops(str(error))
            if unsupported:
                raise FlexOpsError(unsupported, _layer_names(model)) from None
            empty = re.search(r"Empty min/max for tensor ([^\s'\"]+)", str(error))
            if empty:
                raise ExportError(
                    f"{mode} calibration recorded no range for tensor "
                    f"{empty.group(1)!r}: TF 2.21's calibrator leaves integer "
                    "tensors (token ids, step indices and sums of them) without "
                    "one and then refuses the model. Use mode='int8' or "
                    "'dynamic' for models with integer inputs."
                ) from None
            raise ExportError(
                f"TFLite conversion ({mode}) failed: {str(error)[:2000]}"
            ) from error
        flatbuffer = _compact(flatbuffer, keep_tensor_names)
        check_mode(flatbuffer, mode, integer_io)
        _check_runs(flatbuffer, signatures, mode)
        return flatbuffer


def check_model_path(path):
    """Raise unless `path` can take a model and its metadata beside it: a
    file ending in `.tflite` (the metadata is the `.json` of the same stem,
    so `model.json` would be overwritten by its own metadata, and a `.keras`
    name is a Keras model's)."""
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(
            f"the model's path must end in .tflite (its metadata is written "
            f"beside it as {os.path.basename(metadata_path(path))}), "
            f"received path={path!r}"
        )
    check_paths({}, {"path": path, "its metadata": metadata_path(path)})


def write_model_files(path, flatbuffer, mode, task=None):
    """Write `flatbuffer` to `path` and its metadata beside it (no staging:
    `path` is expected to be a `StagedFiles` path); returns the metadata's
    path."""
    write_atomically(path, flatbuffer)
    return write_metadata(path, mode, task=task or {"kind": "arrays"})


def _quantize_calibrated(calibrated, calibration, quantile, integer_io, float_ops):
    """Int8 from a calibrated-only flatbuffer: with `export.ranges`' ranges
    where `quantile` is given, leaving `float_ops` in float."""
    from tensorflow.lite.python import convert as lite_convert

    from keras_attention_export import ranges

    if quantile is not None:
        samples = [
            (None, element) if isinstance(element, dict) else element
            for element in calibration()
        ]
        calibrated = ranges.with_ranges(
            calibrated, ranges.per_sample_extremes(calibrated, samples), quantile
        )
    io_type = tf.int8 if integer_io else tf.float32
    return lite_convert.mlir_quantize(
        calibrated,
        fully_quantize=integer_io,
        input_data_type=io_type,
        output_data_type=io_type,
        denylisted_ops=list(float_ops) or None,
    )


def _check_float_ops(float_ops, mode):
    """`float_ops` as a sorted tuple of builtin op names (empty for None)."""
    if float_ops is None:
        return ()
    if not isinstance(float_ops, (list, tuple, set, frozenset)) or not all(
        isinstance(op, str) for op in float_ops
    ):
        raise ValueError(
            "float_ops must be a list of builtin op names such as "
            f"['BATCH_MATMUL', 'SOFTMAX'], received float_ops={float_ops!r}"
        )
    if mode != "int8":
        raise ValueError(
            f"float_ops is for the int8 mode, received float_ops={float_ops!r} "
            f"with mode={mode!r}"
        )
    unknown = sorted(set(float_ops) - set(BUILTIN_NAMES.values()))
    if unknown:
        raise ValueError(
            f"float_ops must name LiteRT builtin ops (such as BATCH_MATMUL, "
            f"SOFTMAX, MEAN), received unknown names {unknown}"
        )
    return tuple(sorted(set(float_ops)))


def _refuse_loops(saved_model_dir, mode, model):
    """A calibrated conversion of a graph with a While loop (an RNN layer
    with `unroll=False`) kills the process in TF 2.21's converter
    (segmentation fault): refuse it with the loop's name instead."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].graph_def
    nodes = list(graph.node) + [n for fn in graph.library.function for n in fn.node_def]
    loops = sorted({n.name for n in nodes if n.op in ("While", "StatelessWhile")})
    if loops:
        # Scopes read like "functional_1/rolled_gru_1/while".
        scopes = {re.sub(r"_\d+$", "", part) for loop in loops for part in loop.split("/")}
        layers = [name for name in _layer_names(model) if name in scopes]
        raise ExportError(
            f"mode={mode!r} cannot quantize a model with a While loop, found in "
            f"layer(s) {layers or '?'} ({', '.join(loops)}): the TFLite "
            "converter crashes on one. Use "
            "unroll=True with a fixed sequence length in the RNN layers the "
            "exported signatures run, or mode='dynamic' or 'float16'."
        )


def _compact(flatbuffer, keep_tensor_names):
    """The flatbuffer with each constant stored as one tensor per subgraph,
    and (unless kept) without tensor names; signatures stay.

    An unrolled RNN refers to the same weight buffer once per step, each time
    through a tensor of its own, and in a quantized model every such tensor
    carries its own copy of the per-channel scales and zero points (12 bytes
    a channel): a 32-step GRU encoder's int8 file came out larger than its
    float32 one. Constant tensors that agree in buffer, type, shape and
    quantization are interchangeable, so every use is pointed at the first.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    for index, subgraph in enumerate(model.subgraphs):
        _merge_constant_tensors(model, index, subgraph)
        if not keep_tensor_names:
            for tensor in subgraph.tensors:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _constant_key(model, tensor):
    buffer = model.buffers[tensor.buffer] if tensor.buffer else None
    if buffer is None or buffer.data is None or len(buffer.data) == 0:
        return None  # not a constant
    if tensor.isVariable or tensor.sparsity is not None:
        return None
    q = tensor.quantization
    quantization = None
    if q is not None:
        quantization = tuple(
            None if v is None else tuple(np.asarray(v).ravel().tolist())
            for v in (q.scale, q.zeroPoint, q.min, q.max)
        ) + (q.quantizedDimension, q.details)
    shape = None if tensor.shape is None else tuple(np.asarray(tensor.shape).tolist())
    return (tensor.buffer, tensor.type, shape, quantization)


def _merge_constant_tensors(model, subgraph_index, subgraph):
    first, remap, kept = {}, {}, []
    for old, tensor in enumerate(subgraph.tensors):
        key = _constant_key(model, tensor)
        if key is not None and key in first:
            remap[old] = remap[first[key]]
            continue
        if key is not None:
            first[key] = old
        remap[old] = len(kept)
        kept.append(tensor)
    if len(kept) == len(subgraph.tensors):
        return

    def renumber(indices):
        if indices is None:
            return None
        return [remap[int(i)] if i >= 0 else int(i) for i in indices]

    subgraph.tensors = kept
    subgraph.inputs = renumber(subgraph.inputs)
    subgraph.outputs = renumber(subgraph.outputs)
    for op in subgraph.operators:
        op.inputs = renumber(op.inputs)
        op.outputs = renumber(op.outputs)
        op.intermediates = renumber(op.intermediates)
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == subgraph_index:
            for entry in (signature.inputs or []) + (signature.outputs or []):
                entry.tensorIndex = remap[entry.tensorIndex]


def _check_runs(flatbuffer, signatures, mode):
    """Run every signature once on zeros: a converted model may still lack a
    kernel (int16x8 has no int16 SQUARED_DIFFERENCE, which Keras's
    LayerNormalization needs), and that must fail here, not on the device."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    for name in signatures:
        runner = interpreter.get_signature_runner(name)
        zeros = {
            key: np.zeros(details["shape"], details["dtype"])
            for key, details in runner.get_input_details().items()
        }
        try:
            runner(**zeros)
        except RuntimeError as error:
            raise ExportError(
                f"the {mode} model converted but LiteRT cannot run its "
                f"{name!r} signature: {str(error).strip()}. Choose another mode "
                "(int8 and dynamic keep float kernels where integer ones are "
                "missing)."
            ) from None


_UNSUPPORTED_OP = re.compile(
    r"loc\((?:callsite\()?fused\[\"\w+:\", \"([^\"@]+)[^\"]*\"\].*?'(tf\.\w+)' op is "
    r"neither a custom op nor a flex op"
)


def _unsupported_ops(message):
    """`{(tf op, name scope)}` of the ops the converter could not map."""
    return sorted(set((op, scope) for scope, op in _UNSUPPORTED_OP.findall(message)))


def _refuse_keras_quantized(model):
    """Layers quantized by Keras (`layer.quantize("int8")`) compute with
    integer kernels that TFLite's builtin ops do not take (the converter
    fails deep inside with int8 inputs to a float FULLY_CONNECTED)."""
    quantized = [
        f"{layer.path} ({layer.quantization_mode})"
        for layer in model._flatten_layers(include_self=False)
        if getattr(layer, "quantization_mode", None)
    ]
    if quantized:
        raise ExportError(
            f"{len(quantized)} layer(s) were quantized in Keras, which LiteRT's "
            f"builtin ops cannot run: {', '.join(quantized)}. Export the float "
            "model and let the converter quantize it: mode='dynamic' (int8 "
            "weights) or mode='int8' (calibrated, integer activations too)."
        )


def _layer_names(model):
    return [layer.name for layer in model._flatten_layers(include_self=False)]


def _weights_fingerprint(model):
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(variable.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()


def export_tflite(
    model,
    path,
    mode=None,
    task=None,
    signatures=None,
    batch_size=1,
    input_shapes=None,
    **convert_kwargs,
):
    """Convert (see `convert`), write `path` and the metadata file beside it.

    `task` goes into the metadata for the application (the schema is
    `edge_demo.contract`'s); without one, the model runs on `edge_demo` as
    the generic task: arrays in, arrays out (`{"kind": "arrays"}`). Both
    files are written whole or not at all: to a temporary folder beside
    them first, then moved into place together, so that a failure leaves
    the old files as they were. `path` must end in `.tflite`.

    Returns the path of the metadata file (`model.json` beside
    `model.tflite`), which `edge_demo` reads on the device.

    To export one model in several modes, use an `Exporter`: it traces the
    model once for all of them.
    """
    with Exporter(model, signatures, batch_size, input_shapes) as exporter:
        return exporter.export_tflite(path, mode, task=task, **convert_kwargs)


def calibration_arrays(signature, samples, seed=0):
    """Random calibration samples shaped for `signature` (for tests and demos).

    Real deployments should calibrate on real data; these only exercise the
    path. Integer inputs draw ids in [0, 10).
    """
    rng = np.random.default_rng(seed)
    data = {}
    (signature,) = tf_signatures({"signature": signature}).values()
    for spec in signature.input_signature:
        shape = (samples,) + tuple(spec.shape[1:])
        if spec.dtype.is_integer:
            data[spec.name] = rng.integers(0, 10, size=shape).astype(spec.dtype.name)
        else:
            data[spec.name] = rng.normal(size=shape).astype(spec.dtype.name)
    return data
