"""Every field of a model's metadata, type- and range-checked on load.

A metadata file is read from disk and may have been edited, by hand or by
an attacker: a field of the wrong type would otherwise surface as an
`IndexError` deep in a task, an `end_id` outside the vocabulary would never
end a decode, and a `max_target_length` of 100,000 would loop that long.
`check_metadata` checks the fields of the file itself (`edge_demo.contract`)
before anything reads them; `check_task`, once the signatures are known to
match the model, checks the task's fields for the kinds edge_demo runs
against those signatures: ids within the vocabulary the logits have,
lengths within the static shapes, step counts within the cache
(`contract.step_limit`). Fields that no code reads (the test fixtures'
`expected`, a task's name) and tasks of other kinds are the application's.

Each error is an `EdgeModelError` naming the file, the field (a path such as
`signatures.encode.inputs[0].shape`), what was expected and what came.
"""

import json
import math
import os
import re

import numpy as np

from edge_demo.contract import FORMAT, MODES, REQUIRED_FIELDS, VERSION, step_limit
from edge_demo.errors import EdgeModelError
from edge_demo.recurrent import MAX_COPY_LENGTH

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MISSING = object()


class _Fields:
    """Checks of the fields of one metadata file, each error naming it."""

    def __init__(self, path):
        self.path = path

    def fail(self, field, expected, value, shown=None):
        if value is _MISSING:
            raise EdgeModelError(f"{self.path}: {field} is missing; expected {expected}")
        raise EdgeModelError(
            f"{self.path}: {field} must be {expected}, received "
            f"{_show(value) if shown is None else shown}"
        )

    def object(self, value, field):
        if not isinstance(value, dict):
            self.fail(field, "an object", value)
        return value

    def list(self, value, field, what, min_length=0):
        if not isinstance(value, list) or len(value) < min_length:
            more = f" (at least {min_length})" if min_length else ""
            self.fail(field, f"a list of {what}{more}", value)
        return value

    def string(self, value, field, choices=None):
        if not isinstance(value, str) or not value or (choices and value not in choices):
            expected = (
                f"one of {', '.join(map(repr, choices))}" if choices else "a non-empty string"
            )
            self.fail(field, expected, value)
        return value

    def integer(self, value, field, low, high=None, why=""):
        """An int in `[low, high]` (bools and floats refused)."""
        in_range = (
            isinstance(value, int)
            and not isinstance(value, bool)
            and low <= value
            and (high is None or value <= high)
        )
        if not in_range:
            if low == high:
                expected = f"{low}"
            elif high is None:
                expected = f"an int >= {low}"
            else:
                expected = f"an int in [{low}, {high}]"
            self.fail(field, expected + why, value)
        return value

    def strings(self, value, field, min_length=0, unique=False):
        self.list(value, field, "strings", min_length)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{field}[{i}]", "a string", item)
        if unique and len(set(value)) != len(value):
            self.fail(field, "a list of distinct strings", value)
        return value

    def file_name(self, value, field):
        """A file's name beside the metadata, without a folder: a field
        cannot point the device at a file elsewhere."""
        self.string(value, field)
        if os.path.basename(value) != value or "/" in value or "\\" in value or (
            value in (".", "..")
        ):
            self.fail(field, "a file name without a folder", value)
        return value

    def sha256(self, value, field):
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            self.fail(field, "a SHA-256 digest (64 lowercase hex digits)", value)
        return value


def _dtype(fields, value, field):
    """A tensor's dtype, numpy's name of a number or bool type."""
    try:
        dtype = np.dtype(value) if isinstance(value, str) else None
    except (TypeError, ValueError):
        dtype = None
    known = dtype is not None and dtype.name == value and dtype.kind in "biufc"
    if not known:
        fields.fail(field, "numpy's name of a number or bool dtype, e.g. 'float32'",
                    value)
    return value


def _show(value):
    """A received value, short enough for one line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _get(value, key):
    return value.get(key, _MISSING)


# -- the file ------------------------------------------------------------------


def check_metadata(metadata, path):
    """The metadata's own fields: format, version, model file, size, digest,
    mode, every tensor of every signature, and that `task` is an object.

    Returns:
        `metadata`, checked.
    """
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
    fields = _Fields(path)
    for key in REQUIRED_FIELDS:
        if key not in metadata:
            fields.fail(key, {
                "model_file": "the model's file name",
                "model_bytes": "the model's size in bytes",
                "model_sha256": "the model's SHA-256",
                "mode": f"one of {', '.join(map(repr, MODES))}",
                "signatures": "the model's signatures",
            }[key], _MISSING)
    fields.file_name(metadata["model_file"], "model_file")
    fields.integer(metadata["model_bytes"], "model_bytes", 1)
    fields.sha256(metadata["model_sha256"], "model_sha256")
    fields.string(metadata["mode"], "mode", MODES)
    signatures = fields.object(metadata["signatures"], "signatures")
    if not signatures:
        fields.fail("signatures", "an object with at least one signature", signatures)
    for key, signature in signatures.items():
        _check_signature(fields, signature, f"signatures.{key}")
    task = metadata.get("task")
    if task is not None:
        fields.object(task, "task")
        if "kind" in task:
            fields.string(task["kind"], "task.kind")
    return metadata


def _check_signature(fields, signature, field):
    fields.object(signature, field)
    for side in ("inputs", "outputs"):
        tensors = fields.list(_get(signature, side), f"{field}.{side}", "tensors")
        names = []
        for i, tensor in enumerate(tensors):
            where = f"{field}.{side}[{i}]"
            fields.object(tensor, where)
            names.append(fields.string(_get(tensor, "name"), f"{where}.name"))
            shape = fields.list(_get(tensor, "shape"), f"{where}.shape", "ints >= 0")
            for j, size in enumerate(shape):
                fields.integer(size, f"{where}.shape[{j}]", 0)
            dtype = _dtype(fields, _get(tensor, "dtype"), f"{where}.dtype")
            quantization = _get(tensor, "quantization")
            if quantization is None:
                continue
            if quantization is _MISSING:
                fields.fail(f"{where}.quantization", "null or {scale, zero_point}",
                            _MISSING)
            fields.object(quantization, f"{where}.quantization")
            if not dtype.startswith(("int", "uint")):
                fields.fail(f"{where}.dtype", "an integer dtype (it has a quantization)",
                            dtype)
            scale = _get(quantization, "scale")
            if not (
                isinstance(scale, (int, float))
                and not isinstance(scale, bool)
                and math.isfinite(scale)
                and scale > 0
            ):
                fields.fail(f"{where}.quantization.scale", "a finite number > 0", scale)
            info = np.iinfo(dtype)
            fields.integer(
                _get(quantization, "zero_point"), f"{where}.quantization.zero_point",
                int(info.min), int(info.max), f" (the range of {dtype})",
            )
        if len(set(names)) != len(names):
            fields.fail(f"{field}.{side}", "tensors of distinct names", names)


# -- the task ----------------------------------------------------------------------


def check_task(metadata, path):
    """The task's fields, for the kinds edge_demo runs, against the
    signatures (already checked against the model).

    Returns:
        The task (`{}` when the metadata has none).
    """
    task = metadata.get("task") or {}
    check = _TASKS.get(task.get("kind", "arrays"))
    if check is not None:
        check(_Fields(path), task, metadata["signatures"])
    return task


def _signature(fields, task, signatures, default=None):
    """The signature the task names (`task.signature`), else `default`,
    else the only one or `serving_default`."""
    if "signature" in task:
        return fields.string(task["signature"], "task.signature", sorted(signatures))
    if default is not None:
        if default not in signatures:
            fields.fail("signatures", f"a signature {default!r} for this task",
                        sorted(signatures))
        return default
    if len(signatures) == 1:
        return next(iter(signatures))
    if "serving_default" not in signatures:
        fields.fail("task.signature", f"one of {sorted(signatures)} (the model has "
                    "several and none is 'serving_default')", _MISSING)
    return "serving_default"


def _names(tensors):
    return [t["name"] for t in tensors]


def _check_arrays(fields, task, signatures):
    # Without one, the caller names the signature (`--signature`).
    if "signature" in task:
        fields.string(task["signature"], "task.signature", sorted(signatures))


def _check_classification(fields, task, signatures):
    spec = signatures[_signature(fields, task, signatures)]
    labels = fields.strings(_get(task, "labels"), "task.labels", min_length=1)
    outputs = {t["name"]: t for t in spec["outputs"]}
    if "output" in task:
        name = fields.string(task["output"], "task.output", sorted(outputs))
    elif len(outputs) == 1:
        name = next(iter(outputs))
    else:
        fields.fail("task.output", f"one of {sorted(outputs)}", _MISSING)
    shape = outputs[name]["shape"]
    classes = shape[-1] if shape else 1
    if len(labels) != classes:
        fields.fail("task.labels", f"{classes} labels, one per class of output "
                    f"{name!r} {shape}", labels)


def _check_decoder(fields, task, signatures, source="[B, S]"):
    """What seq2seq, translation and captioning models share: the two
    signatures, ids within the target vocabulary, and the step count within
    the cache. `source` is the shape `encode`'s input must have, by its
    letters: `[B, S]` (token ids) or `[1, H, W, C]` (an image)."""
    if not {"encode", "decode_step"} <= set(signatures):
        fields.fail("signatures", "'encode' and 'decode_step' for a task of kind "
                    f"{task['kind']!r}", sorted(signatures))
    encode, step = signatures["encode"], signatures["decode_step"]
    rank = len(source.split(","))
    if _names(encode["inputs"]) != ["source"] or len(
        encode["inputs"][0]["shape"]
    ) != rank:
        fields.fail("signatures.encode.inputs", f"one input 'source' {source}",
                    [[t["name"], t["shape"]] for t in encode["inputs"]])
    logits = [t for t in step["outputs"] if t["name"] == "logits"]
    if not logits or not logits[0]["shape"]:
        fields.fail("signatures.decode_step.outputs", "an output 'logits' [B, 1, V]",
                    _names(step["outputs"]))
    size = logits[0]["shape"][-1]
    why = f" (decode_step's logits have {size} classes)"
    start = fields.integer(_get(task, "start_id"), "task.start_id", 0, size - 1, why)
    end = fields.integer(_get(task, "end_id"), "task.end_id", 0, size - 1, why)
    if start == end:
        fields.fail("task.end_id", f"an id other than start_id={start}", end)
    fields.integer(
        _get(task, "max_target_length"), "task.max_target_length", 1,
        step_limit(signatures), " (the most steps decode_step can run)",
    )
    return size


def _check_seq2seq(fields, task, signatures):
    size = _check_decoder(fields, task, signatures)
    source = fields.strings(
        _get(task, "source_vocabulary"), "task.source_vocabulary", min_length=1
    )
    target = fields.strings(_get(task, "target_vocabulary"), "task.target_vocabulary")
    if len(target) != size:
        fields.fail("task.target_vocabulary", f"{size} tokens, one per class of "
                    "decode_step's logits", target, f"{len(target)} tokens")
    if "pad_id" in task:
        fields.integer(task["pad_id"], "task.pad_id", 0, len(source) - 1,
                       f" (the source vocabulary has {len(source)} tokens)")


def _check_translation(fields, task, signatures):
    _check_decoder(fields, task, signatures)
    if "pad_id" in task:
        fields.integer(task["pad_id"], "task.pad_id", 0)
    for side in ("source_tokenizer", "target_tokenizer"):
        entry = fields.object(_get(task, side), f"task.{side}")
        fields.file_name(_get(entry, "file"), f"task.{side}.file")
        fields.sha256(_get(entry, "sha256"), f"task.{side}.sha256")
    for key in ("source_language", "target_language"):
        if key in task:
            fields.string(task[key], f"task.{key}")


FILL_INPUTS = ["token_ids", "padding_mask", "gap_mask"]


def _check_fill(fields, task, signatures):
    """A `fill` signature (XLNet's, `edge_demo.fill`): three `[1, T]`
    inputs, `probabilities` `[1, T, V]`, and ids within the vocabulary."""
    if "fill" not in signatures:
        fields.fail("signatures", "a signature 'fill' for a task of kind 'fill'",
                    sorted(signatures))
    spec = signatures["fill"]
    shapes = [t["shape"] for t in spec["inputs"]]
    if sorted(_names(spec["inputs"])) != sorted(FILL_INPUTS) or any(
        len(shape) != 2 or shape[0] != 1 or shape != shapes[0] for shape in shapes
    ):
        fields.fail("signatures.fill.inputs", f"inputs {FILL_INPUTS}, each [1, T]",
                    [[t["name"], t["shape"]] for t in spec["inputs"]])
    outputs = [t for t in spec["outputs"] if t["name"] == "probabilities"]
    if not outputs or outputs[0]["shape"][:2] != shapes[0] or len(outputs[0]["shape"]) != 3:
        fields.fail("signatures.fill.outputs", f"'probabilities' [1, {shapes[0][1]}, V]",
                    [[t["name"], t["shape"]] for t in spec["outputs"]])
    size = outputs[0]["shape"][-1]
    why = f" (fill's probabilities have {size} classes)"
    for key in ("pad_id", "start_id", "end_id"):
        fields.integer(_get(task, key), f"task.{key}", 0, size - 1, why)
    entry = fields.object(_get(task, "tokenizer"), "task.tokenizer")
    fields.file_name(_get(entry, "file"), "task.tokenizer.file")
    fields.sha256(_get(entry, "sha256"), "task.tokenizer.sha256")


def _check_image_classification(fields, task, signatures):
    """One input `[1, H, W, C]` (grey or RGB), logits `[1, K]`, a label per
    class and a positive pixel scale (`edge_demo.images`)."""
    _check_classification(fields, task, signatures)
    name = _signature(fields, task, signatures)
    inputs = signatures[name]["inputs"]
    shape = inputs[0]["shape"] if len(inputs) == 1 else None
    if not shape or len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        fields.fail(f"signatures.{name}.inputs", "one input of images [1, H, W, C] "
                    "with C 1 (grey) or 3 (RGB)",
                    [[t["name"], t["shape"]] for t in inputs])
    _check_pixel_scale(fields, task)


def _check_captioning(fields, task, signatures):
    """An image captioner (`edge_demo.images.caption_image`): `encode` takes
    one image `[1, H, W, C]`, the vocabulary names every class of the
    logits, and the pixel scale is positive."""
    size = _check_decoder(fields, task, signatures, source="[1, H, W, C]")
    shape = signatures["encode"]["inputs"][0]["shape"]
    if shape[0] != 1 or shape[3] not in (1, 3):
        fields.fail("signatures.encode.inputs", "one image 'source' [1, H, W, C] with "
                    "C 1 (grey) or 3 (RGB)", shape)
    words = fields.strings(_get(task, "vocabulary"), "task.vocabulary")
    if len(words) != size:
        fields.fail("task.vocabulary", f"{size} words, one per class of decode_step's "
                    "logits", words, f"{len(words)} words")
    _check_pixel_scale(fields, task)


def _check_question_answering(fields, task, signatures):
    """MemN2N's `answer` (`edge_demo.qa`): `story` int32 `[1, M, L]` and
    `question` int32 `[1, L]` in, `answer` `[1, A]` and `attention` `[1, K,
    M]` out; a word per id, an answer per class, a pattern that compiles."""
    name = _signature(fields, task, signatures, default="answer")
    signature = signatures[name]
    inputs = {t["name"]: t for t in signature["inputs"]}
    outputs = {t["name"]: t for t in signature["outputs"]}
    story, question = inputs.get("story"), inputs.get("question")
    if (story is None or question is None or len(story["shape"]) != 3
            or len(question["shape"]) != 2 or story["shape"][0] != 1
            or question["shape"] != [1, story["shape"][2]]
            or {story["dtype"], question["dtype"]} != {"int32"}):
        fields.fail(f"signatures.{name}.inputs",
                    "int32 'story' [1, M, L] and 'question' [1, L]",
                    [[t["name"], t["shape"], t["dtype"]] for t in signature["inputs"]])
    answer, attention = outputs.get("answer"), outputs.get("attention")
    memory_size, length = story["shape"][1], story["shape"][2]
    if (answer is None or attention is None or len(answer["shape"]) != 2
            or len(attention["shape"]) != 3 or attention["shape"][2] != memory_size):
        fields.fail(f"signatures.{name}.outputs",
                    f"'answer' [1, A] and 'attention' [1, K, {memory_size}]",
                    [[t["name"], t["shape"]] for t in signature["outputs"]])
    # The padding and the unknown word at least, each word once.
    words = fields.strings(_get(task, "words"), "task.words", min_length=2, unique=True)
    answers = fields.strings(_get(task, "answers"), "task.answers", min_length=1, unique=True)
    if len(answers) != answer["shape"][1]:
        fields.fail("task.answers", f"{answer['shape'][1]} answers, one per class of "
                    "the 'answer' output", answers, f"{len(answers)} answers")
    # Not 0, the padding: an unknown word would vanish from its sentence.
    fields.integer(_get(task, "unknown_id"), "task.unknown_id", 1, len(words) - 1)
    lowercase = _get(task, "lowercase")
    if not isinstance(lowercase, bool):
        fields.fail("task.lowercase", "true or false (whether text is lower-cased before "
                    "token_pattern splits it)", lowercase)
    fields.integer(_get(task, "memory_size"), "task.memory_size", memory_size, memory_size,
                   " (the story input's slots)")
    fields.integer(_get(task, "sentence_length"), "task.sentence_length", length, length,
                   " (the story input's words a sentence)")
    pattern = fields.string(_get(task, "token_pattern"), "task.token_pattern")
    try:
        re.compile(pattern)
    except re.error as error:
        fields.fail("task.token_pattern", "a regular expression", pattern, str(error))


def _check_pixel_scale(fields, task):
    scale = _get(task, "pixel_scale")
    if (not isinstance(scale, (int, float)) or isinstance(scale, bool)
            or not np.isfinite(scale) or scale <= 0):
        fields.fail("task.pixel_scale", "a positive number (1/255 for 8-bit "
                    "pixels to [0, 1])", scale)


def _check_ntm_copy(fields, task, signatures):
    signature = _signature(fields, task, signatures, default="step")
    spec = signatures[signature]
    states = fields.strings(
        _get(task, "state_names"), "task.state_names", min_length=1, unique=True
    )
    inputs = {t["name"]: t for t in spec["inputs"]}
    outputs = {t["name"]: t for t in spec["outputs"]}
    input_name = fields.string(task.get("input", "inputs"), "task.input", sorted(inputs))
    output_name = fields.string(
        task.get("output", "outputs"), "task.output", sorted(outputs)
    )
    if sorted(inputs) != sorted(states + [input_name]) or not set(
        states + [output_name]
    ) <= set(outputs):
        fields.fail(
            "task.state_names", f"the states of signature {signature!r}, which "
            f"takes {sorted(inputs)} and gives {sorted(outputs)} (the task's input "
            f"{input_name!r}, output {output_name!r})", states,
        )
    width = inputs[input_name]["shape"][-1] if inputs[input_name]["shape"] else 0
    fields.integer(
        _get(task, "num_bits"), "task.num_bits", width - 1, width - 1,
        f" (input {input_name!r} takes num_bits + 1 = {width} channels)",
    )
    initial = fields.object(_get(task, "initial_state"), "task.initial_state")
    for name in states:
        if name not in initial:
            raise EdgeModelError(f"{fields.path}: task initial_state has no {name!r}")
        shape = inputs[name]["shape"]
        per_sequence = int(np.prod(shape[1:]))
        try:
            values = np.asarray(initial[name], np.float64)
        except (TypeError, ValueError):
            fields.fail(f"task.initial_state.{name}", "a list of numbers",
                        initial[name])
        if values.size != per_sequence:
            raise EdgeModelError(
                f"{fields.path}: initial_state {name!r} holds {values.size} "
                f"values, the signature's state {shape} takes {per_sequence} "
                "per sequence"
            )
        if not np.isfinite(values).all():
            fields.fail(f"task.initial_state.{name}", "finite numbers",
                        initial[name])
    if "max_length" in task:
        fields.integer(task["max_length"], "task.max_length", 1, MAX_COPY_LENGTH,
                       " (a copy of L vectors runs 2L + 1 steps)")
    for key in ("memory_size", "memory_width", "num_read_heads", "num_write_heads"):
        if key in task:
            fields.integer(task[key], f"task.{key}", 1)


_TASKS = {
    "arrays": _check_arrays,
    "classification": _check_classification,
    "node_classification": _check_classification,
    "image_classification": _check_image_classification,
    "captioning": _check_captioning,
    "question_answering": _check_question_answering,
    "seq2seq": _check_seq2seq,
    "translation": _check_translation,
    "ntm_copy": _check_ntm_copy,
    "fill": _check_fill,
}
