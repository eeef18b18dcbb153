"""Running a loaded model's signatures on real values: the generic run.

`EdgeModel` (from `edge_demo.loading.load`) runs one signature on real
values with `run`: inputs are checked against the metadata's description
and quantized where the tensor is quantized, outputs dequantized, so that
the caller never sees int8. The export report measures parity and latency
through `EdgeModel.run`, so it measures what the device runs.
`call_signature` does the same for a bare LiteRT signature runner and its
description (the exporter's `run_signature`).

The task-specific applications live in their own modules and take an
`EdgeModel`: `edge_demo.arrays` (arrays in, arrays out, several batches in
a row), `edge_demo.fill` (XLNet filling a gap), `edge_demo.seq2seq` (character sequence-to-sequence, greedy
decoding), `edge_demo.translation` (SentencePiece around greedy decoding)
and `edge_demo.recurrent` (a recurrent step signature, the NTM copy task).
`EdgeModel` offers each as a method of the same name, for convenience.
"""

import numpy as np

from edge_demo import arrays as generic_arrays
from edge_demo import fill as gap_fill
from edge_demo import recurrent, seq2seq, translation
from edge_demo.contract import check_finite, dequantize, quantize
from edge_demo.errors import EdgeModelError


class EdgeModel:
    """A LiteRT model checked against its metadata; see `edge_demo.load`.

    Attributes:
        model_path, metadata_path: the two files it was loaded from.
        metadata: the metadata, as read.
        mode: the export mode (`float32`, `int8`, ...).
        task: the metadata's `task` (`{}` when it has none).
        task_state: what a task module keeps between calls, by name (a
            translation model's checked SentencePiece processors).
    """

    def __init__(self, model_path, metadata_path, metadata, interpreter):
        self.model_path = model_path
        self.metadata_path = metadata_path
        self.metadata = metadata
        self.mode = metadata.get("mode")
        self.task = metadata.get("task") or {}
        self.task_state = {}
        self._specs = metadata["signatures"]
        self._interpreter = interpreter  # the runners need it alive
        self._runners = {
            key: interpreter.get_signature_runner(key) for key in self._specs
        }

    @property
    def signatures(self):
        """The signature names, e.g. `["serving_default"]`."""
        return list(self._specs)

    @property
    def default_signature(self):
        """The only signature, or `serving_default` when there are several."""
        if len(self._specs) == 1:
            return self.signatures[0]
        if "serving_default" in self._specs:
            return "serving_default"
        raise EdgeModelError(
            f"{self.model_path}: no default signature among {self.signatures}; "
            "name one"
        )

    def spec(self, signature):
        """The metadata's `{"inputs": [...], "outputs": [...]}` of a signature."""
        if signature not in self._specs:
            raise EdgeModelError(
                f"{self.model_path}: no signature {signature!r}; "
                f"it has {self.signatures}"
            )
        return self._specs[signature]

    def run(self, signature, /, **inputs):
        """Run `signature` on real-valued `inputs`; returns real-valued outputs.

        Quantized inputs are rounded to the nearest step and clipped to the
        integer type's range; quantized outputs come back as float32. See
        `call_signature`.
        """
        spec = self.spec(signature)
        return call_signature(
            self._runners[signature],
            spec,
            inputs,
            where=f"{self.model_path}: signature {signature!r}",
        )

    def task_fields(self, *names):
        """The metadata's `task`, after checking it has every field in `names`."""
        missing = [n for n in names if n not in self.task]
        if missing:
            raise EdgeModelError(
                f"{self.metadata_path}: task has no {', '.join(missing)}"
            )
        return self.task

    # -- the task modules' functions, as methods ------------------------------

    def run_batches(self, signature, arrays):
        """`edge_demo.arrays.run_batches` of this model."""
        return generic_arrays.run_batches(self, signature, arrays)

    def greedy_decode(self, source_ids, max_length=None):
        """`edge_demo.seq2seq.greedy_decode` of this model."""
        return seq2seq.greedy_decode(self, source_ids, max_length)

    def text_to_ids(self, text):
        """`edge_demo.seq2seq.text_to_ids` of this model."""
        return seq2seq.text_to_ids(self, text)

    def ids_to_text(self, ids):
        """`edge_demo.seq2seq.ids_to_text` of this model."""
        return seq2seq.ids_to_text(self, ids)

    def translate(self, text, max_length=None):
        """`edge_demo.translation.translate` of this model."""
        return translation.translate(self, text, max_length)

    def fill(self, text, gap_length=1, top_k=5):
        """`edge_demo.fill.fill` of this model."""
        return gap_fill.fill(self, text, gap_length, top_k)

    def run_steps(self, inputs, states=None):
        """`edge_demo.recurrent.run_steps` of this model."""
        return recurrent.run_steps(self, inputs, states)

    def copy_sequence(self, bits):
        """`edge_demo.recurrent.copy_sequence` of this model."""
        return recurrent.copy_sequence(self, bits)


def call_signature(runner, spec, inputs, where):
    """Run a LiteRT signature runner on real values, as its description says.

    Args:
        runner: the signature runner.
        spec: its `{"inputs": [...], "outputs": [...]}` description
            (`contract.describe_runner`, or the metadata's).
        inputs: `{name: array}`, real values.
        where: what to call the signature in an error, e.g.
            `"model.tflite: signature 'encode'"`.

    Returns:
        `{output name: array}`, dequantized to float32 where quantized.

    Raises:
        EdgeModelError: inputs missing or unknown, an input whose shape or
            dtype does not fit or that holds NaN or an infinity (see
            `prepare_input`), or LiteRT failing to run the signature.
    """
    expected = {t["name"]: t for t in spec["inputs"]}
    if set(inputs) != set(expected):
        raise EdgeModelError(
            f"{where} takes inputs {sorted(expected)}, received {sorted(inputs)}"
        )
    feed = {
        name: prepare_input(expected[name], value, f"{where} input {name!r}")
        for name, value in inputs.items()
    }
    try:
        outputs = runner(**feed)
    except (RuntimeError, ValueError) as e:
        # The inputs fit the description: what is left is the model itself
        # (a gather past a table's end, an op the runtime lacks).
        raise EdgeModelError(
            f"{where}: LiteRT failed to run it ({' '.join(str(e).split())})"
        ) from None
    return {t["name"]: dequantize(outputs[t["name"]], t) for t in spec["outputs"]}


def prepare_input(description, value, where):
    """`value` as the tensor `description` wants, quantized if it is quantized.

    A real value for a quantized tensor is quantized (`contract.quantize`);
    for any other tensor a value of the same kind at another width is cast
    (Python ints arrive as int64) as long as its values survive the cast.
    Real values must be finite (`contract.check_finite`): NaN would become
    some integer of a quantized tensor, and spread through a float one.
    """
    array = np.asarray(value)
    if list(array.shape) != description["shape"]:
        raise EdgeModelError(
            f"{where}: expected shape {description['shape']}, "
            f"received {list(array.shape)}"
        )
    check_finite(array, where)
    dtype = np.dtype(description["dtype"])
    if description["quantization"] is not None:
        if array.dtype.kind not in "iuf":
            raise EdgeModelError(
                f"{where}: expected real numbers, received {array.dtype}"
            )
        return quantize(array, description["quantization"], dtype)
    same_kind = array.dtype.kind == dtype.kind or {
        array.dtype.kind,
        dtype.kind,
    } == {"i", "u"}
    cast = array.astype(dtype) if same_kind else None
    if cast is None or (dtype.kind in "iu" and not np.array_equal(cast, array)):
        raise EdgeModelError(
            f"{where}: expected dtype {dtype.name}, received {array.dtype.name}"
            + ("" if cast is None else " with values out of its range")
        )
    return cast
