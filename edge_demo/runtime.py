"""Run an exported model on a device, with numpy and the LiteRT runtime only.

`load` reads a `.tflite` file and the metadata JSON written beside it at
export (schema: export/metadata.py), checks that the two agree, and returns
an `EdgeModel`:

    model = load("model.tflite")                 # reads model.json beside it
    outputs = model.run("serving_default", features=x)
    outputs, k = model.run_batches("serving_default", {"features": xs})  # k batches
    decoded = model.greedy_decode(model.text_to_ids("abc"))
    copied = model.copy_sequence(bits)           # an NTM copy model, step by step
    translated = model.translate("Ein Hund läuft.")  # a translation model

A translation model's SentencePiece files lie beside it, named and checked
by their SHA-256 in the metadata; SentencePiece reads them (the
`sentencepiece` package, no TensorFlow either).

Inputs and outputs are real values: integer-quantized tensors are quantized
and dequantized here with the scale and zero point of the metadata, so the
caller never sees int8. Nothing here imports TensorFlow or Keras, on purpose:
this folder is what a device needs.
"""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

FORMAT = "keras-attention-edge"  # the same as export/metadata.py
VERSION = 1


class EdgeModelError(Exception):
    """A model file, its metadata, or a call that does not match them."""


def load(model_path, metadata_path=None, num_threads=1):
    """Check `model_path` against its metadata and load it into LiteRT.

    Args:
        model_path: the `.tflite` file.
        metadata_path: its metadata; by default the `.json` beside it.
        num_threads: threads LiteRT may use.

    Returns:
        An `EdgeModel`.

    Raises:
        EdgeModelError: naming the file and what was expected and found, when
            a file is missing, the metadata is unreadable, the model's size or
            digest differs from the metadata's (a truncated or changed file),
            LiteRT cannot load it, or its signatures differ from the
            metadata's.
    """
    model_path = os.fspath(model_path)
    # `model.tflite` -> `model.json`, where the export writes it.
    meta_path = os.fspath(metadata_path or os.path.splitext(model_path)[0] + ".json")
    if not os.path.isfile(model_path):
        raise EdgeModelError(f"{model_path}: model file not found")
    metadata = _read_metadata(meta_path, model_path)
    with open(model_path, "rb") as f:
        content = f.read()
    # Size first: it tells a truncated copy apart from a changed one.
    if len(content) != metadata["model_bytes"]:
        what = "truncated" if len(content) < metadata["model_bytes"] else "too long"
        raise EdgeModelError(
            f"{model_path}: {len(content)} bytes, expected {metadata['model_bytes']} "
            f"(from {meta_path}): the file is {what}"
        )
    digest = hashlib.sha256(content).hexdigest()
    if digest != metadata["model_sha256"]:
        raise EdgeModelError(
            f"{model_path}: sha256 {digest[:16]}..., expected "
            f"{metadata['model_sha256'][:16]}... (from {meta_path}): the file has "
            "changed or is corrupt"
        )
    try:
        interpreter = Interpreter(model_content=content, num_threads=num_threads)
    except (ValueError, RuntimeError) as e:
        raise EdgeModelError(
            f"{model_path}: LiteRT cannot load it as a model ({_one_line(e)})"
        ) from None
    _check_signatures(
        f"{model_path} does not match {meta_path}",
        expected=metadata["signatures"],
        found=_describe(interpreter),
    )
    return EdgeModel(model_path, meta_path, metadata, interpreter)


@dataclasses.dataclass
class Translated:
    """What `EdgeModel.translate` returns.

    Attributes:
        text: the translation.
        tokens: its target ids, without start and end tokens.
        truncated: whether the sentence was cut to the model's source length.
        encode_ms, step_ms: as in `Decoded`.
    """

    text: str
    tokens: list
    truncated: bool
    encode_ms: float
    step_ms: list


@dataclasses.dataclass
class Decoded:
    """What `EdgeModel.greedy_decode` returns.

    Attributes:
        tokens: per batch row, the generated ids, without the start and end
            tokens.
        encode_ms: milliseconds the `encode` call took.
        step_ms: milliseconds each `decode_step` call took, in order.
    """

    tokens: list
    encode_ms: float
    step_ms: list


@dataclasses.dataclass
class Stepped:
    """What `EdgeModel.run_steps` returns.

    Attributes:
        outputs: the output of every step, `[T, ...]`.
        states: the state after the last step, by name.
        step_ms: milliseconds each step took, in order.
    """

    outputs: np.ndarray
    states: dict
    step_ms: list


@dataclasses.dataclass
class Copied:
    """What `EdgeModel.copy_sequence` returns.

    Attributes:
        bits: the sequence given, `[L, K]` of 0 and 1.
        logits: the model's output in the output phase, `[L, K]`.
        copied: the bits it wrote, `logits > 0`, `[L, K]` of 0 and 1.
        errors: wrong bits, an int.
        step_ms: milliseconds each of the `2L + 1` steps took.
    """

    bits: np.ndarray
    logits: np.ndarray
    copied: np.ndarray
    errors: int
    step_ms: list


def copy_inputs(bits):
    """The copy task's input sequence for `bits` `[L, K]`: `[2L + 1, K + 1]`.

    The layout of `keras_attention.data.ntm_tasks.copy_batch`: the vectors
    at steps `0..L-1`, the delimiter (channel `K`) at step `L`, then `L`
    steps of zeros, during which the model writes the copy.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.shape[0] < 1:
        raise EdgeModelError(
            "a copy sequence must be an [L, K] array with L >= 1, "
            f"received shape {list(bits.shape)}"
        )
    if not np.isin(bits, (0, 1)).all():
        raise EdgeModelError(
            "a copy sequence must hold 0 and 1 only, received values "
            f"{sorted(set(np.unique(bits).tolist()) - {0, 1})[:5]}"
        )
    length, width = bits.shape
    inputs = np.zeros((2 * length + 1, width + 1), np.float32)
    inputs[:length, :width] = bits
    inputs[length, width] = 1.0
    return inputs


class EdgeModel:
    """A LiteRT model checked against its metadata; see `load`."""

    def __init__(self, model_path, metadata_path, metadata, interpreter):
        self.model_path = model_path
        self.metadata_path = metadata_path
        self.metadata = metadata
        self.mode = metadata.get("mode")
        self.task = metadata.get("task") or {}
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
        integer type's range; quantized outputs come back as float32.
        """
        spec = self.spec(signature)
        expected = {t["name"]: t for t in spec["inputs"]}
        if set(inputs) != set(expected):
            raise EdgeModelError(
                f"{self.model_path}: signature {signature!r} takes inputs "
                f"{sorted(expected)}, received {sorted(inputs)}"
            )
        feed = {
            name: self._prepare(signature, expected[name], value)
            for name, value in inputs.items()
        }
        outputs = self._runners[signature](**feed)
        return {t["name"]: _dequantize(outputs[t["name"]], t) for t in spec["outputs"]}

    def run_batches(self, signature, arrays):
        """Run `signature` on arrays that hold one or several of its batches.

        The generic task ("arrays" in the metadata): arrays in, arrays out.
        Each input's array has the signature's shape `[B, ...]`, or `[k * B,
        ...]` for `k` batches in a row (the same `k` for every input), e.g. a
        batch-1 signature run on 20 samples; the outputs of the `k` calls come
        back concatenated along the first axis.

        Args:
            signature: the signature's name.
            arrays: `{input name: array}`, real values as in `run`.

        Returns:
            `(outputs by name, k)`.

        Raises:
            EdgeModelError: naming a missing or unknown input, or an input
                whose shape or dtype does not fit, with what was expected.
        """
        specs = {t["name"]: t for t in self.spec(signature)["inputs"]}
        where = f"{self.model_path}: signature {signature!r}"
        missing = sorted(set(specs) - set(arrays))
        extra = sorted(set(arrays) - set(specs))
        if missing or extra:
            problems = [f"lacks input(s) {missing}"] if missing else []
            problems += [f"was given unknown input(s) {extra}"] if extra else []
            raise EdgeModelError(
                f"{where} {' and '.join(problems)}; it takes {sorted(specs)}"
            )
        batches = {}
        for name, spec in specs.items():
            array = np.asarray(arrays[name])
            shape = spec["shape"]
            if list(array.shape) == shape:
                batches[name] = 1
            elif (
                shape
                and shape[0] > 0
                and list(array.shape[1:]) == shape[1:]
                and array.ndim == len(shape)
                and len(array) % shape[0] == 0
                and len(array) > 0
            ):
                batches[name] = len(array) // shape[0]
            else:
                rows = f" or [k * {shape[0]}] + {shape[1:]} for k batches" if shape else ""
                raise EdgeModelError(
                    f"{where} input {name!r}: expected shape {shape}{rows}, "
                    f"received {list(array.shape)}"
                )
        if len(set(batches.values())) != 1:
            raise EdgeModelError(
                f"{where}: the inputs hold different numbers of batches "
                f"({', '.join(f'{n}: {k}' for n, k in sorted(batches.items()))})"
            )
        count = next(iter(batches.values()))
        if count == 1:
            return self.run(signature, **arrays), 1
        runs = []
        for i in range(count):
            batch = {}
            for name, spec in specs.items():
                size = spec["shape"][0]
                batch[name] = np.asarray(arrays[name])[i * size : (i + 1) * size]
            runs.append(self.run(signature, **batch))
        outputs = {name: np.concatenate([r[name] for r in runs]) for name in runs[0]}
        return outputs, count

    def greedy_decode(self, source_ids, max_length=None):
        """Decode step by step through the `encode` / `decode_step` signatures.

        `encode(source)` gives the decoder's states by name; each
        `decode_step(token, step, **states)` gives `logits` ([B, 1, V] or
        [B, V]) and the next states. The next token is the argmax. Decoding
        starts from `task["start_id"]` and stops when every row has produced
        `task["end_id"]`, or after `max_length` (default
        `task["max_target_length"]`) steps.

        Args:
            source_ids: `[S]` or `[B, S]` token ids, padded to the model's `S`.
            max_length: the most steps to run.

        Returns:
            A `Decoded`: tokens per row and the latency of each call.
        """
        task = self._task_fields("start_id", "end_id", "max_target_length")
        max_length = task["max_target_length"] if max_length is None else max_length
        source = np.asarray(source_ids)
        source = source[None] if source.ndim == 1 else source
        state_names = self._check_seq2seq_convention()
        start = time.perf_counter()
        states = self.run("encode", source=source)
        encode_ms = _ms_since(start)
        batch = source.shape[0]
        token = np.full((batch, 1), task["start_id"], np.int32)
        tokens, done, step_ms = [[] for _ in range(batch)], np.zeros(batch, bool), []
        for t in range(max_length):
            start = time.perf_counter()
            out = self.run(
                "decode_step", token=token, step=np.array([t], np.int32), **states
            )
            step_ms.append(_ms_since(start))
            next_ids = np.argmax(out["logits"].reshape(batch, -1), axis=-1)  # [B]
            for row, tok in enumerate(next_ids):
                done[row] |= tok == task["end_id"]
                if not done[row]:
                    tokens[row].append(int(tok))
            if done.all():
                break
            token = next_ids[:, None].astype(np.int32)  # [B, 1]
            states = {name: out[name] for name in state_names}
        return Decoded(tokens, encode_ms, step_ms)

    def run_steps(self, inputs, states=None):
        """Run a recurrent model's step signature once per step, carrying the state.

        The metadata's task names the signature (`"signature"`, default
        `"step"`), its input (`"input"`) and output (`"output"`), and the
        states (`"state_names"`): the signature takes the input and every
        state by name and gives the output and every state's next value
        under the same name. The first step starts from `states`, or from
        the task's `"initial_state"` (`{name: values of one sequence}`,
        the model's learned initial state).

        Args:
            inputs: `[T, ...]`, one step's input per row: the signature's
                input shape, or without its batch axis when that is 1.
            states: optional `{name: array}` to start from.

        Returns:
            A `Stepped`: every step's output (`[T, ...]`, shaped like the
            inputs), the last state and each step's latency.
        """
        task = self._task_fields("state_names")
        signature = task.get("signature", "step")
        input_name, output_name = self._check_recurrent_convention(signature)
        (input_spec,) = [
            t for t in self.spec(signature)["inputs"] if t["name"] == input_name
        ]
        steps = np.asarray(inputs)
        shape = input_spec["shape"]
        unbatched = shape[0] == 1 and list(steps.shape[1:]) == shape[1:]
        if unbatched:
            steps = steps[:, None]
        if steps.ndim < 1 or list(steps.shape[1:]) != shape:
            raise EdgeModelError(
                f"{self.model_path}: run_steps takes inputs [T] + {shape} (or "
                f"[T] + {shape[1:]} for batch 1), received {list(np.shape(inputs))}"
            )
        states = dict(self._initial_state(signature) if states is None else states)
        outputs, step_ms = [], []
        for x in steps:
            start = time.perf_counter()
            out = self.run(signature, **{input_name: x}, **states)
            step_ms.append(_ms_since(start))
            outputs.append(out[output_name][0] if unbatched else out[output_name])
            states = {name: out[name] for name in task["state_names"]}
        return Stepped(np.stack(outputs), states, step_ms)

    def copy_sequence(self, bits):
        """Copy `bits` `[L, K]` (0 and 1) with an NTM copy model, step by step.

        Feeds `copy_inputs(bits)` through `run_steps` and reads the output
        phase, the last `L` steps, as logits (a bit is 1 where its logit is
        positive). Needs a task of kind `"ntm_copy"` with `"num_bits"` K.
        """
        task = self._task_fields("num_bits")
        bits = np.asarray(bits)
        if bits.ndim == 2 and bits.shape[1] != task["num_bits"]:
            raise EdgeModelError(
                f"{self.model_path} copies vectors of {task['num_bits']} bits, "
                f"received {bits.shape[1]} per step"
            )
        inputs = copy_inputs(bits)
        length = len(bits)
        stepped = self.run_steps(inputs)
        logits = stepped.outputs[length + 1 :].reshape(length, -1)  # [L, K]
        copied = (logits > 0).astype(np.int64)
        errors = int(np.sum(copied != bits))
        return Copied(bits.astype(np.int64), logits, copied, errors, stepped.step_ms)

    def text_to_ids(self, text):
        """Character ids of `text` from `task["source_vocabulary"]`, `[1, S]`.

        Padded with `task["pad_id"]` (default 0) to the `encode` signature's
        length; a character outside the vocabulary is an error naming it.
        """
        vocabulary = self._task_fields("source_vocabulary")["source_vocabulary"]
        index = {token: i for i, token in enumerate(vocabulary) if len(token) == 1}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise EdgeModelError(
                f"characters not in the source vocabulary of {self.metadata_path}: "
                f"{', '.join(map(repr, unknown))}"
            )
        (source,) = self.spec("encode")["inputs"]
        length = source["shape"][-1]
        if len(text) > length:
            raise EdgeModelError(
                f"text of {len(text)} characters; {self.model_path} takes at "
                f"most {length}"
            )
        ids = [index[c] for c in text] + [self.task.get("pad_id", 0)] * (
            length - len(text)
        )
        return np.array([ids], np.int32)

    def ids_to_text(self, ids):
        """The tokens of `task["target_vocabulary"]` for `ids`, joined."""
        vocabulary = self._task_fields("target_vocabulary")["target_vocabulary"]
        return "".join(vocabulary[i] for i in ids)

    def translate(self, text, max_length=None):
        """Translate one sentence: SentencePiece, greedy decoding, SentencePiece.

        Needs a task of kind `"translation"`. The sentence's pieces end with
        the end id; a sentence longer than the `encode` signature's length
        is cut to fit (its last piece replaced by the end id), as Keras's
        `Translator` does; characters the vocabulary lacks become the
        unknown piece. Returns `Translated`.
        """
        source_tokenizer, target_tokenizer = self._tokenizers()
        task = self._task_fields("end_id")
        (source,) = self.spec("encode")["inputs"]
        length = source["shape"][-1]
        ids = list(source_tokenizer.encode(text)) + [task["end_id"]]
        truncated = len(ids) > length
        if truncated:
            ids = ids[: length - 1] + [task["end_id"]]
        ids = ids + [self.task.get("pad_id", 0)] * (length - len(ids))
        decoded = self.greedy_decode(np.array([ids], np.int32), max_length)
        text_out = target_tokenizer.decode(decoded.tokens[0])
        return Translated(text_out, decoded.tokens[0], truncated, decoded.encode_ms,
                          decoded.step_ms)

    def _tokenizers(self):
        """The task's two SentencePiece processors, checked against the metadata."""
        if getattr(self, "_processors", None) is None:
            try:
                import sentencepiece
            except ImportError as error:
                raise EdgeModelError(
                    f"{self.metadata_path}: a translation model needs the "
                    "sentencepiece package (pip install sentencepiece)"
                ) from error
            folder = os.path.dirname(os.path.abspath(self.metadata_path))
            processors = []
            for side in ("source_tokenizer", "target_tokenizer"):
                entry = self._task_fields(side)[side]
                path = os.path.join(folder, entry["file"])
                if not os.path.isfile(path):
                    raise EdgeModelError(
                        f"{path}: the {side.replace('_', ' ')} named in "
                        f"{self.metadata_path} is missing"
                    )
                with open(path, "rb") as f:
                    content = f.read()
                if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                    raise EdgeModelError(
                        f"{path}: SHA-256 differs from {self.metadata_path}'s; "
                        "the file was changed or belongs to another model"
                    )
                processor = sentencepiece.SentencePieceProcessor()
                processor.LoadFromSerializedProto(content)
                processors.append(processor)
            self._processors = tuple(processors)
        return self._processors

    def _task_fields(self, *names):
        missing = [n for n in names if n not in self.task]
        if missing:
            raise EdgeModelError(
                f"{self.metadata_path}: task has no {', '.join(missing)}"
            )
        return self.task

    def _check_seq2seq_convention(self):
        """The state names, after checking both signatures follow the convention."""
        encode, step = self.spec("encode"), self.spec("decode_step")
        states = sorted(t["name"] for t in encode["outputs"])
        want_in = sorted(states + ["step", "token"])
        want_out = sorted(states + ["logits"])
        found_in = sorted(t["name"] for t in step["inputs"])
        found_out = sorted(t["name"] for t in step["outputs"])
        if (found_in, found_out) != (want_in, want_out):
            raise EdgeModelError(
                f"{self.model_path}: decode_step must take {want_in} and give "
                f"{want_out} (encode gives the states {states}); it takes "
                f"{found_in} and gives {found_out}"
            )
        return states

    def _check_recurrent_convention(self, signature):
        """`(input name, output name)`, after checking the step signature
        takes the input and the states and gives the output and the states."""
        task = self.task
        states = list(task["state_names"])
        input_name = task.get("input", "inputs")
        output_name = task.get("output", "outputs")
        spec = self.spec(signature)
        want_in = sorted(states + [input_name])
        found_in = sorted(t["name"] for t in spec["inputs"])
        found_out = sorted(t["name"] for t in spec["outputs"])
        if found_in != want_in or not set(states + [output_name]) <= set(found_out):
            raise EdgeModelError(
                f"{self.model_path}: signature {signature!r} must take {want_in} "
                f"and give {sorted(states + [output_name])} (the task's states "
                f"{states}); it takes {found_in} and gives {found_out}"
            )
        return input_name, output_name

    def _initial_state(self, signature):
        """The task's `initial_state`, each shaped as the signature's input."""
        initial = self._task_fields("initial_state")["initial_state"]
        specs = {t["name"]: t for t in self.spec(signature)["inputs"]}
        states = {}
        for name in self.task["state_names"]:
            if name not in initial:
                raise EdgeModelError(
                    f"{self.metadata_path}: task initial_state has no {name!r}"
                )
            values = np.asarray(initial[name], np.float32)
            shape = specs[name]["shape"]
            if values.size != int(np.prod(shape[1:])):
                raise EdgeModelError(
                    f"{self.metadata_path}: initial_state {name!r} holds "
                    f"{values.size} values, the signature's state {shape} takes "
                    f"{int(np.prod(shape[1:]))} per sequence"
                )
            # The same start for every sequence of the batch.
            states[name] = np.broadcast_to(values.reshape(shape[1:]), shape)
        return states

    def _prepare(self, signature, spec, value):
        """`value` as the tensor `spec` wants, quantized if it is quantized."""
        array = np.asarray(value)
        where = f"{self.model_path}: signature {signature!r} input {spec['name']!r}"
        if list(array.shape) != spec["shape"]:
            raise EdgeModelError(
                f"{where}: expected shape {spec['shape']}, received {list(array.shape)}"
            )
        dtype = np.dtype(spec["dtype"])
        if spec["quantization"] is not None:
            if array.dtype.kind not in "iuf":
                raise EdgeModelError(
                    f"{where}: expected real numbers, received {array.dtype}"
                )
            return quantize(array, spec["quantization"], dtype)
        # Accept the same kind at another width (Python ints arrive as int64)
        # as long as the values survive the cast.
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


def quantize(values, quantization, dtype):
    """`round(x / scale) + zero_point`, clipped to the range of `dtype`."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(values, np.float64) / quantization["scale"])
    return np.clip(q + quantization["zero_point"], info.min, info.max).astype(dtype)


def _dequantize(values, spec):
    if spec["quantization"] is None:
        return values
    q = spec["quantization"]
    return ((values.astype(np.float64) - q["zero_point"]) * q["scale"]).astype(
        np.float32
    )


def latency(fn, runs=10, warmup=1):
    """Median and p90 milliseconds of `fn()` over `runs` timed calls.

    `warmup` untimed calls go first: the first call allocates tensors.
    """
    if runs < 1:
        raise ValueError(f"runs must be a positive int, received runs={runs}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(_ms_since(start))
    return summarize_ms(times)


def summarize_ms(times):
    """`{"median_ms", "p90_ms", "runs"}` of a list of milliseconds."""
    return {
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "runs": len(times),
    }


# -- checks ---------------------------------------------------------------------


def _read_metadata(path, model_path):
    if not os.path.isfile(path):
        raise EdgeModelError(
            f"{path}: metadata file not found (the export writes it beside "
            f"{os.path.basename(model_path)})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise EdgeModelError(f"{path}: metadata is not valid JSON ({e})") from None
    found = (
        (metadata.get("format"), metadata.get("version"))
        if isinstance(metadata, dict)
        else (type(metadata).__name__, None)
    )
    if found != (FORMAT, VERSION):
        raise EdgeModelError(
            f"{path}: expected metadata format {FORMAT!r} version {VERSION}, "
            f"found format {found[0]!r} version {found[1]!r}"
        )
    kinds = {"model_bytes": int, "model_sha256": str, "signatures": dict}
    wrong = [k for k, kind in kinds.items() if not isinstance(metadata.get(k), kind)]
    if wrong:
        raise EdgeModelError(f"{path}: metadata lacks or mistypes {', '.join(wrong)}")
    return metadata


def _describe(interpreter):
    """`{signature: {"inputs": [...], "outputs": [...]}}` as the metadata has it."""
    described = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        described[key] = {
            side: [_tensor(name, d) for name, d in sorted(details().items())]
            for side, details in (
                ("inputs", runner.get_input_details),
                ("outputs", runner.get_output_details),
            )
        }
    return described


def _tensor(name, details):
    params = details["quantization_parameters"]
    quantized = (
        np.issubdtype(details["dtype"], np.integer) and len(params["scales"]) > 0
    )
    return {
        "name": name,
        "shape": [int(n) for n in details["shape"]],
        "dtype": np.dtype(details["dtype"]).name,
        "quantization": (
            {
                "scale": float(params["scales"][0]),
                "zero_point": int(params["zero_points"][0]),
            }
            if quantized
            else None
        ),
    }


def _check_signatures(context, expected, found):
    if sorted(expected) != sorted(found):
        raise EdgeModelError(
            f"{context}: expected signatures {sorted(expected)}, found {sorted(found)}"
        )
    for key in sorted(expected):
        for side in ("inputs", "outputs"):
            want = {t["name"]: t for t in expected[key][side]}
            have = {t["name"]: t for t in found[key][side]}
            if sorted(want) != sorted(have):
                raise EdgeModelError(
                    f"{context}: signature {key!r} {side}: expected names "
                    f"{sorted(want)}, found {sorted(have)}"
                )
            for name in sorted(want):
                for field in ("shape", "dtype", "quantization"):
                    w, h = want[name].get(field), have[name][field]
                    if not _same(w, h):
                        raise EdgeModelError(
                            f"{context}: signature {key!r} {side[:-1]} {name!r} "
                            f"{field}: expected {w}, found {h}"
                        )


def _same(a, b):
    # Scales went through JSON and back: equal to float64 precision, but a
    # metadata written by another tool may round them a little.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-6, atol=0))
    return a == b


def _ms_since(start):
    return (time.perf_counter() - start) * 1e3


def _one_line(error):
    return " ".join(str(error).split())
