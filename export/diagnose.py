"""Where a quantized model's error comes from, tensor by tensor.

An int8 file that answers worse than its float32 twin says nothing of where
the difference arises. `tensor_errors` runs the same inputs through both
files, reads every intermediate tensor of each (LiteRT's
`experimental_preserve_all_tensors`), dequantizes the integer ones with their
scale and zero point, and measures each tensor the two files share by name:
its relative error, the root mean square of (quantized - float) over that of
float, over all the samples. Both files must come from the same model with
`keep_tensor_names=True` (otherwise the export drops the names and nothing
can be matched).

The rows follow the quantized graph's operators in order, so reading down
the list shows the error as it grows: a step up between an op's inputs
and its output points at that op (a weight's own row shows the error of
storing it in int8). This is close to TensorFlow's `QuantizationDebugger`
(whose `rmse/scale` measures against the quantization step instead), but
on the written files, run by LiteRT's builtin kernels without its default
delegate, whose fused partitions would not keep their inner tensors.

Files with integer inputs and outputs (`integer_io=True`) are refused:
export the quantized file for this comparison with float inputs.
"""

import os
import warnings

import numpy as np

# The converter's own names, numbered per file, so that the same name in
# two files need not be the same tensor: folded constants ("arith.constant*")
# and its inserted ops ("tfl.*": quantize, dequantize, folded weights).
_GENERATED = ("arith.constant", "tfl.")


def _open(path, argument):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ValueError(f"{argument} must be the path of a .tflite file, received {path!r}")
    try:
        with warnings.catch_warnings():
            # LiteRT warns that keeping every tensor is for debugging: it is.
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            return Interpreter(
                model_path=os.fspath(path), experimental_preserve_all_tensors=True,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except ValueError as error:
        raise ValueError(f"{argument}={os.fspath(path)!r} is not a LiteRT model: {error}") from None


def _signature(interpreter, signature, argument):
    names = list(interpreter.get_signature_list())
    if signature is None:
        if len(names) != 1:
            raise ValueError(f"{argument} has signatures {names}: name one with signature=")
        return names[0]
    if signature not in names:
        raise ValueError(f"signature={signature!r} is not one of {argument}'s {names}")
    return signature


def _operator_order(path, subgraph):
    """Tensor indices in the order the subgraph's operators write them."""
    from tensorflow.lite.python import schema_py_generated as schema

    with open(path, "rb") as file:
        model = schema.Model.GetRootAs(file.read(), 0)
    graph = model.Subgraphs(subgraph)
    order = list(graph.InputsAsNumpy())
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        order += [int(i) for i in op.InputsAsNumpy() if i >= 0]
        order += [int(i) for i in op.OutputsAsNumpy() if i >= 0]
    return list(dict.fromkeys(order))  # first appearance


def _check_samples(runner, samples, name, argument):
    """Every sample holds each input as an array of its dtype and shape."""
    wanted = runner.get_input_details()
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise ValueError(f"samples[{i}] must be a dict of {{input name: array}}, "
                             f"received {type(sample).__name__}")
        if set(sample) != set(wanted):
            raise ValueError(f"samples[{i}] must hold the inputs {sorted(wanted)} of "
                             f"signature {name!r}, received {sorted(sample)}")
        for key, detail in wanted.items():
            value = sample[key]
            dtype, shape = np.dtype(detail["dtype"]), tuple(int(d) for d in detail["shape"])
            if argument == "quantized_path" and np.issubdtype(dtype, np.integer) and \
                    detail["quantization"][0]:
                raise ValueError(
                    f"quantized_path takes {dtype.name} input {key!r} (exported with "
                    "integer_io=True): export the file to compare with float inputs")
            if not isinstance(value, np.ndarray) or value.dtype != dtype or \
                    value.shape != shape:
                got = (f"{value.dtype.name} of shape {value.shape}"
                       if isinstance(value, np.ndarray) else type(value).__name__)
                raise ValueError(f"samples[{i}][{key!r}] must be a {dtype.name} array of "
                                 f"shape {shape} ({argument}), received {got}")


def _dequantized(value, detail):
    """A tensor's real values: integer ones through their scales and zero
    points, one per tensor or one per channel along their dimension
    (`edge_demo.contract.dequantize` knows only the first, all that a
    signature's inputs and outputs have)."""
    if np.issubdtype(detail["dtype"], np.floating):
        return value.astype(np.float32)
    parameters = detail["quantization_parameters"]
    scales, zero_points = parameters["scales"], parameters["zero_points"]
    if not np.issubdtype(detail["dtype"], np.integer) or scales.size == 0:
        return None  # ids, indices and flags: nothing to compare
    if scales.size > 1:
        shape = [1] * value.ndim
        shape[parameters["quantized_dimension"]] = scales.size
        scales, zero_points = scales.reshape(shape), zero_points.reshape(shape)
    return (value.astype(np.float32) - zero_points) * scales


def _values(interpreter, runner, subgraph, samples):
    """{tensor name: (details, [float values per sample])}."""
    details = {d["index"]: d for d in interpreter.get_tensor_details(subgraph)}
    found = {}
    for sample in samples:
        runner(**sample)
        for index, d in details.items():
            if not d["name"] or d["name"].startswith(_GENERATED):
                continue
            try:
                value = interpreter.get_tensor(index, subgraph)
            except ValueError:  # a tensor the run left unallocated
                continue
            if value.size == 0:
                continue
            value = _dequantized(value, d)
            if value is not None:
                found.setdefault(d["name"], (d, []))[1].append(value.ravel())
    return found


def tensor_errors(float_path, quantized_path, samples, signature=None):
    """Each shared tensor's relative error in `quantized_path` against `float_path`.

    Args:
        float_path: a float32 `.tflite` exported with `keep_tensor_names=True`.
        quantized_path: the same model exported in another mode, also with
            `keep_tensor_names=True`.
        samples: a non-empty list of `{input name: array}`, each one call of
            the signature (batch as exported).
        signature: the signature to run; None where the files have one.

    Returns:
        A list of dicts in the quantized graph's operator order: `name`,
        `error` (root mean square of the difference over that of the float
        values), `float_min` and `float_max` (the float values' range) and
        `dtype` (the quantized file's type for the tensor, such as "int8").
        Tensors whose float values are all zero are left out (no relative
        error).

    Raises:
        ValueError: a path that is no LiteRT file, an unknown signature,
            empty samples or one that is not the signature's inputs (names,
            dtypes, shapes), a quantized file with integer inputs, or two
            files with no tensor name in common (exported without
            `keep_tensor_names=True`, or from two models).
    """
    if not isinstance(samples, (list, tuple)) or not samples:
        raise ValueError("samples must be a non-empty list of {input name: array}, "
                         f"received {samples!r:.80}")
    reference = _open(float_path, "float_path")
    quantized = _open(quantized_path, "quantized_path")
    name = _signature(reference, signature, "float_path")
    _signature(quantized, name, "quantized_path")
    runs = {}
    for which, interpreter in (("float_path", reference), ("quantized_path", quantized)):
        runner = interpreter.get_signature_runner(name)
        _check_samples(runner, samples, name, which)
        runs[which] = (runner._subgraph_index,
                       _values(interpreter, runner, runner._subgraph_index, samples))
    (_, floats), (subgraph, quants) = runs["float_path"], runs["quantized_path"]
    shared = set(floats) & set(quants)
    if not shared:
        raise ValueError(
            f"float_path and quantized_path share no tensor name: export both from the "
            f"same model with keep_tensor_names=True ({os.fspath(float_path)!r}, "
            f"{os.fspath(quantized_path)!r})")
    by_index = {quants[n][0]["index"]: n for n in shared}
    rows = []
    for index in _operator_order(os.fspath(quantized_path), subgraph):
        tensor = by_index.get(index)
        if tensor is None:
            continue
        want = np.concatenate(floats[tensor][1])
        got = np.concatenate(quants[tensor][1])
        if want.shape != got.shape:
            continue  # the same name on tensors of other shapes: not the same value
        scale = float(np.sqrt(np.mean(want.astype(np.float64) ** 2)))
        if scale == 0.0:
            continue
        error = float(np.sqrt(np.mean((got.astype(np.float64) - want) ** 2))) / scale
        rows.append(dict(name=tensor, error=error, float_min=float(want.min()),
                         float_max=float(want.max()),
                         dtype=np.dtype(quants[tensor][0]["dtype"]).name))
    if not rows:
        raise ValueError("float_path and quantized_path share tensor names but no "
                         "non-zero float values to compare")
    return rows
