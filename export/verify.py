"""Checking that a converted flatbuffer is the mode that was asked for.

The converter does not always say when it did less than asked: calibration
data that is all NaN gave a float32 model from `mode="int8"` (and
`integer_io=True`), which was then written and described as int8. So every
conversion is read back before it is written, and a file that is not what
its mode promises is refused with `ExportError`.

What each mode promises, for the ops that hold weights (`FULLY_CONNECTED`,
`CONV_2D`, `DEPTHWISE_CONV_2D`, `CONV_3D`, `TRANSPOSE_CONV`), whose weights
may also be computed (a product of two activations):
- `float32`: float32 activations, float32 weights;
- `float16`: float32 activations, weights stored as float16 (and
  dequantized as the model loads);
- `dynamic`: float32 activations, int8 weights wherever the converter
  quantizes them: every weight of at least 1024 values (smaller ones stay
  float32 by design);
- `int8`: int8 activations and int8 weights; `int16x8`: int16 activations
  and int8 weights; and, in both, at least one operator computing in that
  integer type (others may fall back to float, as the report lists);
- `integer_io`: no float tensor among any signature's inputs and outputs.
"""

from tensorflow.lite.python import schema_py_generated as schema

from keras_attention_export.errors import ExportError

# LiteRT's builtin op names and tensor type names by code (also export.report's).
BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if name.isupper()
}
TYPE_NAMES = {
    code: name.lower()
    for name, code in vars(schema.TensorType).items()
    if name.isupper()
}
# Ops holding weights: {op: (activation input, weight input)}.
_WEIGHTED = {
    "FULLY_CONNECTED": (0, 1),
    "CONV_2D": (0, 1),
    "DEPTHWISE_CONV_2D": (0, 1),
    "CONV_3D": (0, 1),
    "TRANSPOSE_CONV": (2, 1),
}
# Ops that only change a tensor's type at a quantized model's edges.
_BOUNDARY = {"QUANTIZE", "DEQUANTIZE"}
# The converter's dynamic-range quantization leaves smaller weights float
# (`min_elements_for_weights` of TF's quantizer).
_DYNAMIC_MIN_ELEMENTS = 1024
_ACTIVATION_TYPE = {"int8": "int8", "int16x8": "int16"}


class _Tensor:
    def __init__(self, model, graph, index):
        tensor = graph.Tensors(index)
        self.index = index
        self.type = TYPE_NAMES.get(tensor.Type(), "?")
        buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() else None
        self.constant = buffer is not None and (
            buffer.DataLength() > 0 or buffer.Offset() > 1
        )
        self.size = 1
        for dim in tensor.ShapeAsNumpy() if tensor.ShapeLength() else []:
            self.size *= int(dim)


def _operators(model):
    """`[(subgraph, op index, op name, [input _Tensor or None], [outputs])]`."""
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    found = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = codes[op.OpcodeIndex()]
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
            inputs = [
                _Tensor(model, graph, int(i)) if i >= 0 else None
                for i in (op.InputsAsNumpy() if op.InputsLength() else [])
            ]
            outputs = [
                _Tensor(model, graph, int(i))
                for i in (op.OutputsAsNumpy() if op.OutputsLength() else [])
            ]
            found.append((g, o, name, inputs, outputs))
    return found


def _signature_types(model):
    """`[(signature, "input"/"output", name, type)]` of every signature."""
    found = []
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        graph = model.Subgraphs(signature.SubgraphIndex())
        key = signature.SignatureKey().decode()
        for kind, count, get in (
            ("input", signature.InputsLength(), signature.Inputs),
            ("output", signature.OutputsLength(), signature.Outputs),
        ):
            for i in range(count):
                entry = get(i)
                tensor = graph.Tensors(entry.TensorIndex())
                type_name = TYPE_NAMES.get(tensor.Type(), "?")
                found.append((key, kind, entry.Name().decode(), type_name))
    return found


def _weight_kind(weight, producers):
    """How a weighted op's weight input is stored: the constant's type
    ("float32", "float16", "int8"), also through a DEQUANTIZE of a constant
    (float16 weights reach FULLY_CONNECTED so), or "computed" when it is an
    activation (a product of two computed tensors)."""
    if weight.constant:
        return weight.type
    producer = producers.get(weight.index)
    if producer is not None:
        name, inputs = producer
        source = inputs[0] if inputs else None
        if name == "DEQUANTIZE" and source is not None and source.constant:
            return source.type
    return "computed"


def _expected(mode, weight_size):
    """`(activation type, {accepted weight kinds})` of a weighted op in
    `mode`."""
    if mode == "float32":
        return "float32", {"float32", "computed"}
    if mode == "float16":
        return "float32", {"float16", "computed"}
    if mode == "dynamic":
        small = weight_size < _DYNAMIC_MIN_ELEMENTS
        return "float32", {"int8", "computed"} | ({"float32"} if small else set())
    activation = _ACTIVATION_TYPE[mode]
    return activation, {"int8", "computed"}


def mode_problems(flatbuffer, mode, integer_io=False):
    """What in `flatbuffer` contradicts `mode` (and `integer_io`), as
    sentences; empty when it is what was asked for."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    operators = _operators(model)
    producers = {}  # {subgraph: {tensor: (op name, inputs)}}
    for g, _, name, inputs, outputs in operators:
        for tensor in outputs:
            producers.setdefault(g, {})[tensor.index] = (name, inputs)
    problems = []
    for g, o, name, inputs, _ in operators:
        if name not in _WEIGHTED or len(inputs) <= max(_WEIGHTED[name]):
            continue
        activation, weight = (inputs[i] for i in _WEIGHTED[name])
        if activation is None or weight is None:
            continue
        kind = _weight_kind(weight, producers.get(g, {}))
        want_activation, want_weights = _expected(mode, weight.size)
        if kind == "computed" and activation.type != weight.type:
            kind = f"computed {weight.type}"  # two activations of different types
        if activation.type != want_activation or kind not in want_weights:
            weights = "computed" if kind == "computed" else f"{weight.size} {kind}"
            problems.append(
                f"{name} (operator {o} of subgraph {g}) has {activation.type} "
                f"activations and {weights} weights, not {want_activation} "
                f"activations and {' or '.join(sorted(want_weights - {'computed'}))} "
                "weights"
            )
    if mode in _ACTIVATION_TYPE:
        want = _ACTIVATION_TYPE[mode]
        computing = [
            name
            for _, _, name, inputs, outputs in operators
            if name not in _BOUNDARY
            and any(t is not None and t.type == want for t in inputs[:1] + outputs)
        ]
        if not computing:
            problems.append(f"no operator computes in {want}: the model stayed float")
    if integer_io:
        for signature, kind, name, type_name in _signature_types(model):
            if type_name.startswith("float"):
                problems.append(
                    f"signature {signature!r} {kind} {name!r} is {type_name}, not "
                    f"{_ACTIVATION_TYPE.get(mode, 'integer')} (integer_io)"
                )
    return problems


def check_mode(flatbuffer, mode, integer_io=False):
    """Raise `ExportError` unless `flatbuffer` is what `mode` (and
    `integer_io`) promise; see the module docstring."""
    problems = mode_problems(flatbuffer, mode, integer_io)
    if problems:
        shown = "; ".join(problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ExportError(
            f"the converter was asked for mode={mode!r}"
            + (" with integer_io=True" if integer_io else "")
            + f" but produced something else: {shown}{more}. Nothing was written. "
            "Check the representative data (real samples, finite, of the "
            "model's usual range) and the converter's log (--verbose)."
        )
