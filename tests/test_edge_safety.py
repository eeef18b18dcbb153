"""edge_demo refuses bad input and tampered files (issue 16, part D).

Every case runs `python -m edge_demo`'s `main` in-process on a private copy
of a fixture model (`tests.edge_fixtures`: the classifiers, the seq2seq
model and the NTM copy model; the translation model is left out, as it
trains for 19 s) and checks three things: exit status 2 with one line on
stderr naming the file or argument, what was expected and what came; nothing
on stdout; and every file of the folder byte-identical afterwards, with no
`--out` file or temporary file left behind. The metadata's fields are
edited table by table (wrong type, negative, huge, out of the vocabulary,
missing, extra), the `.tflite` and `.json` files truncated, flipped,
replaced with random bytes or an HTML page, and the inputs (`.npy`, `.npz`,
text) given with wrong names, shapes, dtypes, NaN, empty or too long.

The calls pass `--verbose`, which only lets LiteRT's own log lines through
to descriptor 2 (pytest's capsys never sees them): the quiet default starts
a log filter process per call, 60 ms each, 7 s over this file.
"""

import hashlib
import json
import os
import pathlib
import tempfile

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_demo import EdgeModel, EdgeModelError, load
from edge_demo.__main__ import main as edge_main
from edge_demo.contract import MAX_STEPS, step_limit
from edge_demo.schema import check_task
from tests import edge_fixtures

DELETE = object()  # an edit that removes the field
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    b"<body><form action=/login>Please sign in to continue.</form></body></html>\n"
)
SHA_ZERO = "0" * 64


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The classifiers (float32, int8), the seq2seq and the NTM copy fixtures."""
    out = tmp_path_factory.mktemp("edge-safety")
    keras.utils.set_random_seed(edge_fixtures.SEED)
    with tempfile.TemporaryDirectory() as work:
        edge_fixtures.build_classifiers(out, work)
        edge_fixtures.build_seq2seq(out, work)
        edge_fixtures.build_ntm_copy(out, work)
    return out


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


def _edit(metadata, path, value):
    *parents, last = path
    target = metadata
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value


def _translation_task():
    """A translation task for the seq2seq model: its signatures are those of
    a translation model; its tokenizer files are not there."""
    return {
        "kind": "translation", "source_language": "de", "target_language": "en",
        "pad_id": 0, "start_id": 1, "end_id": 2, "max_target_length": 8,
        "source_tokenizer": {"file": "model.source.model", "sha256": SHA_ZERO},
        "target_tokenizer": {"file": "model.target.model", "sha256": SHA_ZERO},
    }


# What each kind of staged model is made from, and the arguments it runs with.
STAGES = {
    "arrays": ("classifier_float32", {"kind": "arrays"}),
    "arrays_int8": ("classifier_int8", {"kind": "arrays"}),
    "classify": ("classifier_float32", None),
    "classify_int8": ("classifier_int8", None),
    "s2s": ("seq2seq", None),
    "translation": ("seq2seq", _translation_task()),
    "ntm": ("ntm_copy", None),
}


class Staged:
    """A fixture model copied to `folder` as `model.tflite` / `model.json`,
    with the arguments that run it, for one case to corrupt."""

    def __init__(self, built, folder, stage):
        name, task = STAGES[stage]
        self.folder = folder
        self.model, self.meta = folder / "model.tflite", folder / "model.json"
        self.model.write_bytes((built / f"{name}.tflite").read_bytes())
        metadata = _read(built / f"{name}.json")
        if task is not None:
            metadata["task"] = task
        _write(self.meta, metadata)
        self.inputs = folder / "x.npy"
        self.out = folder / "y.npz"
        self.size = self.model.stat().st_size
        if name.startswith("classifier"):
            case = _read(built / f"{name}.json")["task"]["expected"][0]
            np.save(self.inputs, np.array(case["inputs"]["features"], np.float32))
        self.args = {
            "arrays": ["--inputs", self.inputs, "--out", self.out],
            "arrays_int8": ["--inputs", self.inputs, "--out", self.out],
            "classify": ["--inputs", self.inputs],
            "classify_int8": ["--inputs", self.inputs],
            "s2s": ["--text", "abc"],
            "translation": ["--text", "Ein Hund"],
            "ntm": ["--length", "2"],
        }[stage]

    def metadata(self):
        return _read(self.meta)

    def edit(self, path, value):
        metadata = self.metadata()
        _edit(metadata, path, value)
        _write(self.meta, metadata)

    def vouch(self, content):
        """Write `content` as the model, with a metadata that vouches for it."""
        self.model.write_bytes(content)
        metadata = self.metadata()
        metadata["model_bytes"] = len(content)
        metadata["model_sha256"] = hashlib.sha256(content).hexdigest()
        _write(self.meta, metadata)

    def argv(self, *extra, args=None):
        args = self.args if args is None else args
        return [str(a) for a in [self.model, *args, *extra, "--runs", "1", "--verbose"]]

    def format(self, text):
        return text.format(model=self.model, meta=self.meta, folder=self.folder,
                           inputs=self.inputs, out=self.out, size=self.size,
                           half=self.size // 2)


@pytest.fixture
def stage(built, tmp_path):
    return lambda kind: Staged(built, tmp_path, kind)


def _snapshot(folder):
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def _refused(capsys, staged, argv, *parts):
    """`main(argv)` exits 2 with one line naming `parts` (formatted with the
    staged paths), prints nothing on stdout, and leaves every file as it
    was, writing none."""
    before = _snapshot(staged.folder)
    status = edge_main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("error: "), line
    for part in parts:
        assert staged.format(part) in line, line
    assert _snapshot(staged.folder) == before
    assert not staged.out.exists()
    return line


def _runs(capsys, staged, argv):
    status = edge_main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured
    assert captured.err == ""
    return captured.out


# -- the .tflite file ------------------------------------------------------------


def _flip(content):
    flipped = bytearray(content)
    flipped[len(flipped) // 3] ^= 0xFF
    return bytes(flipped)


def _random(size):
    return np.random.default_rng(16).bytes(size)


MODEL_FILES = {
    # name: (new content from the old, whether the metadata vouches for it,
    #        what the error says)
    "truncated": (lambda c: c[: len(c) // 2], False,
                  "{model}: {half} bytes, expected {size} (from {meta}): the file is "
                  "truncated"),
    "emptied": (lambda c: b"", False, "{model}: 0 bytes, expected {size}"),
    "one byte flipped": (_flip, False,
                         "(from {meta}): the file has changed or is corrupt"),
    "random bytes of its size": (lambda c: _random(len(c)), False,
                                 "the file has changed or is corrupt"),
    "random bytes": (lambda c: _random(5000), False,
                     "{model}: 5000 bytes, expected {size} (from {meta}): the file is "
                     "too long"),
    "an HTML page": (lambda c: HTML, False, "the file is truncated"),
    "bytes appended": (lambda c: c + b"\0" * 16, False, "the file is too long"),
    # A metadata that vouches for the bad file: only LiteRT can tell.
    "truncated, vouched for": (lambda c: c[: len(c) // 2], True,
                               "{model}: LiteRT cannot load it as a model"),
    "random bytes, vouched for": (lambda c: _random(3000), True,
                                  "{model}: LiteRT cannot load it as a model"),
    "an HTML page, vouched for": (lambda c: HTML, True,
                                  "{model}: LiteRT cannot load it as a model"),
}


@pytest.mark.parametrize("mutation", sorted(MODEL_FILES))
def test_a_damaged_model_file_is_refused(stage, capsys, mutation):
    change, vouched, message = MODEL_FILES[mutation]
    staged = stage("arrays")
    content = change(staged.model.read_bytes())
    if vouched:
        staged.vouch(content)
    else:
        staged.model.write_bytes(content)
    _refused(capsys, staged, staged.argv(), message)


def test_another_model_vouched_for_does_not_match_its_signatures(built, stage, capsys):
    # The int8 classifier's file under the float32 classifier's metadata.
    staged = stage("arrays")
    staged.vouch((built / "classifier_int8.tflite").read_bytes())
    _refused(
        capsys, staged, staged.argv(),
        "{model} does not match {meta}: signature 'serving_default' input "
        "'features' dtype: expected float32, found int8",
    )


def test_a_missing_model_file_is_named(stage, capsys):
    staged = stage("arrays")
    staged.model.unlink()
    _refused(capsys, staged, staged.argv(), "{model}: model file not found")


# -- the metadata file -------------------------------------------------------------


METADATA_FILES = {
    "truncated": (lambda c: c[: len(c) // 2], "metadata is not valid JSON"),
    "emptied": (lambda c: b"", "metadata is not valid JSON"),
    "first byte flipped": (lambda c: bytes([c[0] ^ 0xFF]) + c[1:],
                           "metadata is not valid JSON"),
    "random bytes": (lambda c: _random(len(c)), "metadata is not valid JSON"),
    "an HTML page": (lambda c: HTML, "metadata is not valid JSON"),
    "nested 100,000 deep": (lambda c: b"[" * 100_000 + b"]" * 100_000,
                            "metadata is not valid JSON"),
    "a JSON list": (lambda c: b"[1, 2]",
                    "expected metadata format 'keras-attention-edge' version 1, "
                    "found format 'list' version None"),
}


@pytest.mark.parametrize("mutation", sorted(METADATA_FILES))
def test_a_damaged_metadata_file_is_refused(stage, capsys, mutation):
    change, message = METADATA_FILES[mutation]
    staged = stage("arrays")
    staged.meta.write_bytes(change(staged.meta.read_bytes()))
    _refused(capsys, staged, staged.argv(), "{meta}: " + message)


def test_a_missing_metadata_file_is_named(stage, capsys):
    staged = stage("arrays")
    staged.meta.unlink()
    _refused(capsys, staged, staged.argv(), "{meta}: metadata file not found")


# -- each field of the metadata ------------------------------------------------------

IN = ("signatures", "serving_default", "inputs", 0)
Q = (*IN, "quantization")

# (stage, field path, value, what the error says after "{meta}: " unless it
# names the model itself)
FIELDS = [
    # The file's own fields.
    ("arrays", ("format",), 3, "expected metadata format 'keras-attention-edge' "
     "version 1, found format 3 version 1"),
    ("arrays", ("version",), "1", "expected metadata format 'keras-attention-edge' "
     "version 1, found format 'keras-attention-edge' version '1'"),
    ("arrays", ("version",), DELETE, "expected metadata format 'keras-attention-edge' "
     "version 1, found format 'keras-attention-edge' version None"),
    ("arrays", ("model_file",), 3, "model_file must be a non-empty string, received 3"),
    ("arrays", ("model_file",), "../model.tflite",
     'model_file must be a file name without a folder, received "../model.tflite"'),
    ("arrays", ("model_file",), DELETE,
     "model_file is missing; expected the model's file name"),
    ("arrays", ("model_bytes",), "2228", 'model_bytes must be an int >= 1, received "2228"'),
    ("arrays", ("model_bytes",), -1, "model_bytes must be an int >= 1, received -1"),
    ("arrays", ("model_bytes",), 2228.0, "model_bytes must be an int >= 1, received 2228.0"),
    ("arrays", ("model_bytes",), True, "model_bytes must be an int >= 1, received true"),
    ("arrays", ("model_bytes",), 10**30,
     "!{model}: {size} bytes, expected 1000000000000000000000000000000 (from {meta})"),
    ("arrays", ("model_bytes",), DELETE, "model_bytes is missing"),
    ("arrays", ("model_sha256",), "abc",
     'model_sha256 must be a SHA-256 digest (64 lowercase hex digits), received "abc"'),
    ("arrays", ("model_sha256",), SHA_ZERO,
     "!{model}: sha256 "),
    ("arrays", ("model_sha256",), SHA_ZERO,
     "!expected 0000000000000000... (from {meta}): the file has changed or is corrupt"),
    ("arrays", ("model_sha256",), DELETE, "model_sha256 is missing"),
    ("arrays", ("mode",), "int4", 'mode must be one of \'float32\', \'float16\', '
     '\'dynamic\', \'int8\', \'int16x8\', received "int4"'),
    ("arrays", ("mode",), DELETE, "mode is missing"),
    ("arrays", ("signatures",), [], "signatures must be an object, received []"),
    ("arrays", ("signatures",), {},
     "signatures must be an object with at least one signature, received {{}}"),
    ("arrays", ("signatures",), DELETE, "signatures is missing"),
    # Each tensor of each signature.
    ("arrays", ("signatures", "serving_default"), "x",
     'signatures.serving_default must be an object, received "x"'),
    ("arrays", ("signatures", "serving_default", "inputs"), DELETE,
     "signatures.serving_default.inputs is missing; expected a list of tensors"),
    ("arrays", ("signatures", "serving_default", "outputs"), {},
     "signatures.serving_default.outputs must be a list of tensors, received {{}}"),
    ("arrays", IN, 5, "signatures.serving_default.inputs[0] must be an object, received 5"),
    ("arrays", (*IN, "name"), 7,
     "signatures.serving_default.inputs[0].name must be a non-empty string, received 7"),
    ("arrays", (*IN, "name"), DELETE, "signatures.serving_default.inputs[0].name is missing"),
    ("arrays", (*IN, "shape"), "1,8,4",
     'signatures.serving_default.inputs[0].shape must be a list of ints >= 0, '
     'received "1,8,4"'),
    ("arrays", (*IN, "shape"), [1, -8, 4],
     "signatures.serving_default.inputs[0].shape[1] must be an int >= 0, received -8"),
    ("arrays", (*IN, "shape"), [1, 8.0, 4],
     "signatures.serving_default.inputs[0].shape[1] must be an int >= 0, received 8.0"),
    ("arrays", (*IN, "shape"), [1, 10**30, 4],
     "!{model} does not match {meta}: signature 'serving_default' input 'features' "
     "shape: expected [1, 1000000000000000000000000000000, 4], found [1, 8, 4]"),
    ("arrays", (*IN, "dtype"), "object",
     "signatures.serving_default.inputs[0].dtype must be numpy's name of a number or "
     "bool dtype, e.g. 'float32', received \"object\""),
    ("arrays", (*IN, "dtype"), "f4", "signatures.serving_default.inputs[0].dtype must be "
     "numpy's name of a number or bool dtype, e.g. 'float32', received \"f4\""),
    ("arrays", (*IN, "name"), "source",
     "!{model} does not match {meta}: signature 'serving_default' inputs: expected "
     "names ['source'], found ['features']"),
    ("arrays", (*IN, "dtype"), "int8",
     "!{model} does not match {meta}: signature 'serving_default' input 'features' "
     "dtype: expected int8, found float32"),
    ("arrays", (*IN, "quantization"), DELETE,
     "signatures.serving_default.inputs[0].quantization is missing"),
    ("arrays", (*IN, "quantization"), {"scale": 0.5, "zero_point": 0},
     "signatures.serving_default.inputs[0].dtype must be an integer dtype (it has a "
     'quantization), received "float32"'),
    ("arrays", ("signatures", "serving_default", "outputs", 0), None,
     "signatures.serving_default.outputs[0] must be an object, received null"),
    ("arrays_int8", (*Q, "scale"), 0,
     "signatures.serving_default.inputs[0].quantization.scale must be a finite "
     "number > 0, received 0"),
    ("arrays_int8", (*Q, "scale"), -0.5, "signatures.serving_default.inputs[0]."
     "quantization.scale must be a finite number > 0, received -0.5"),
    ("arrays_int8", (*Q, "scale"), float("nan"), "signatures.serving_default.inputs[0]."
     "quantization.scale must be a finite number > 0, received NaN"),
    ("arrays_int8", (*Q, "scale"), "0.1", "signatures.serving_default.inputs[0]."
     'quantization.scale must be a finite number > 0, received "0.1"'),
    ("arrays_int8", (*Q, "scale"), DELETE, "signatures.serving_default.inputs[0]."
     "quantization.scale is missing; expected a finite number > 0"),
    ("arrays_int8", (*Q, "scale"), 0.5,
     "!{model} does not match {meta}: signature 'serving_default' input 'features' "
     "quantization: expected {{'scale': 0.5, 'zero_point': 0}}"),
    ("arrays_int8", (*Q, "zero_point"), 1000,
     "signatures.serving_default.inputs[0].quantization.zero_point must be an int in "
     "[-128, 127] (the range of int8), received 1000"),
    ("arrays_int8", (*Q, "zero_point"), 0.5, "signatures.serving_default.inputs[0]."
     "quantization.zero_point must be an int in [-128, 127] (the range of int8), "
     "received 0.5"),
    ("arrays_int8", (*Q, "zero_point"), DELETE, "signatures.serving_default.inputs[0]."
     "quantization.zero_point is missing; expected an int in [-128, 127]"),
    ("arrays_int8", Q, None,
     "!{model} does not match {meta}: signature 'serving_default' input 'features' "
     "quantization: expected None, found"),
    # The task, whatever its kind.
    ("arrays", ("task",), "arrays", 'task must be an object, received "arrays"'),
    ("arrays", ("task", "kind"), 3, "task.kind must be a non-empty string, received 3"),
    ("arrays", ("task", "kind"), "poetry",
     "task kind 'poetry'; expected one of 'arrays', 'seq2seq'"),
    ("arrays", ("task", "signature"), "nope",
     "task.signature must be one of 'serving_default', received \"nope\""),
    # A classifier's task.
    ("classify", ("task", "labels"), DELETE,
     "task.labels is missing; expected a list of strings (at least 1)"),
    ("classify", ("task", "labels"), [],
     "task.labels must be a list of strings (at least 1), received []"),
    ("classify", ("task", "labels"), "alpha",
     'task.labels must be a list of strings (at least 1), received "alpha"'),
    ("classify", ("task", "labels"), [1, 2, 3], "task.labels[0] must be a string, received 1"),
    ("classify", ("task", "labels"), ["alpha", "beta"],
     "task.labels must be 3 labels, one per class of output 'probabilities' [1, 3], "
     'received ["alpha", "beta"]'),
    ("classify", ("task", "labels"), ["a", "b", "c", "d"],
     "task.labels must be 3 labels, one per class of output 'probabilities' [1, 3]"),
    ("classify", ("task", "output"), "logits",
     "task.output must be one of 'probabilities', received \"logits\""),
    # A seq2seq model's task: ids within decode_step's 14 logits, at most
    # MAX_STEPS steps (this GRU decoder has no cache to bound them).
    ("s2s", ("task", "end_id"), 100_000,
     "task.end_id must be an int in [0, 13] (decode_step's logits have 14 classes), "
     "received 100000"),
    ("s2s", ("task", "end_id"), 14, "task.end_id must be an int in [0, 13]"),
    ("s2s", ("task", "end_id"), -1, "task.end_id must be an int in [0, 13] "
     "(decode_step's logits have 14 classes), received -1"),
    ("s2s", ("task", "end_id"), 1, "task.end_id must be an id other than start_id=1, "
     "received 1"),
    ("s2s", ("task", "end_id"), DELETE,
     "task.end_id is missing; expected an int in [0, 13]"),
    ("s2s", ("task", "start_id"), 10**30, "task.start_id must be an int in [0, 13] "
     "(decode_step's logits have 14 classes), received 1000000000000000000000000000000"),
    ("s2s", ("task", "start_id"), "1", 'task.start_id must be an int in [0, 13] '
     '(decode_step\'s logits have 14 classes), received "1"'),
    ("s2s", ("task", "start_id"), 1.0, "task.start_id must be an int in [0, 13] "
     "(decode_step's logits have 14 classes), received 1.0"),
    ("s2s", ("task", "start_id"), True, "task.start_id must be an int in [0, 13] "
     "(decode_step's logits have 14 classes), received true"),
    ("s2s", ("task", "max_target_length"), 100_000,
     f"task.max_target_length must be an int in [1, {MAX_STEPS}] (the most steps "
     "decode_step can run), received 100000"),
    ("s2s", ("task", "max_target_length"), 0,
     f"task.max_target_length must be an int in [1, {MAX_STEPS}]"),
    ("s2s", ("task", "max_target_length"), 8.5, "task.max_target_length must be an int "
     f"in [1, {MAX_STEPS}] (the most steps decode_step can run), received 8.5"),
    ("s2s", ("task", "max_target_length"), DELETE, "task.max_target_length is missing"),
    ("s2s", ("task", "pad_id"), 10, "task.pad_id must be an int in [0, 9] (the source "
     "vocabulary has 10 tokens), received 10"),
    ("s2s", ("task", "pad_id"), -1, "task.pad_id must be an int in [0, 9]"),
    ("s2s", ("task", "source_vocabulary"), DELETE, "task.source_vocabulary is missing"),
    ("s2s", ("task", "source_vocabulary"), "abc", "task.source_vocabulary must be a list "
     'of strings (at least 1), received "abc"'),
    ("s2s", ("task", "source_vocabulary"), [], "task.source_vocabulary must be a list of "
     "strings (at least 1), received []"),
    ("s2s", ("task", "target_vocabulary"), ["x"] * 13, "task.target_vocabulary must be 14 "
     "tokens, one per class of decode_step's logits, received 13 tokens"),
    ("s2s", ("task", "target_vocabulary"), [1] * 14,
     "task.target_vocabulary[0] must be a string, received 1"),
    # A translation model's task (the seq2seq model's signatures).
    ("translation", ("task", "source_tokenizer", "file"), "../../etc/passwd",
     "task.source_tokenizer.file must be a file name without a folder, "
     'received "../../etc/passwd"'),
    ("translation", ("task", "target_tokenizer", "file"), "/etc/passwd",
     'task.target_tokenizer.file must be a file name without a folder, received "/etc/passwd"'),
    ("translation", ("task", "target_tokenizer", "sha256"), "abc",
     "task.target_tokenizer.sha256 must be a SHA-256 digest"),
    ("translation", ("task", "source_tokenizer"), "model.source.model",
     'task.source_tokenizer must be an object, received "model.source.model"'),
    ("translation", ("task", "source_tokenizer"), DELETE,
     "task.source_tokenizer is missing"),
    ("translation", ("task", "end_id"), 99, "task.end_id must be an int in [0, 13]"),
    # A copy model's task, against its step signature (input [1, 4]).
    ("ntm", ("task", "num_bits"), 4, "task.num_bits must be 3 (input 'inputs' takes "
     "num_bits + 1 = 4 channels), received 4"),
    ("ntm", ("task", "num_bits"), "3", 'task.num_bits must be 3 (input \'inputs\' takes '
     'num_bits + 1 = 4 channels), received "3"'),
    ("ntm", ("task", "num_bits"), DELETE, "task.num_bits is missing"),
    ("ntm", ("task", "state_names"), DELETE, "task.state_names is missing"),
    ("ntm", ("task", "state_names"), [], "task.state_names must be a list of strings "
     "(at least 1), received []"),
    ("ntm", ("task", "state_names"), ["memory"], "task.state_names must be the states of "
     "signature 'step'"),
    ("ntm", ("task", "state_names"), ["memory", "memory"],
     'task.state_names must be a list of distinct strings, received ["memory", "memory"]'),
    ("ntm", ("task", "initial_state"), DELETE, "task.initial_state is missing"),
    ("ntm", ("task", "initial_state"), [], "task.initial_state must be an object, "
     "received []"),
    ("ntm", ("task", "initial_state", "memory"), DELETE,
     "task initial_state has no 'memory'"),
    ("ntm", ("task", "initial_state", "memory"), [0.0] * 31,
     "initial_state 'memory' holds 31 values, the signature's state [1, 32] takes 32 "
     "per sequence"),
    ("ntm", ("task", "initial_state", "memory"), [float("nan")] * 32,
     "task.initial_state.memory must be finite numbers, received [NaN"),
    ("ntm", ("task", "initial_state", "memory"), ["a"] * 32,
     'task.initial_state.memory must be a list of numbers, received ["a"'),
    ("ntm", ("task", "input"), "bits", "task.input must be one of 'controller_c', "
     "'controller_h', 'inputs', 'memory'"),
    ("ntm", ("task", "output"), 3, "task.output must be one of 'controller_c'"),
    ("ntm", ("task", "signature"), "nope", "task.signature must be one of 'step', "
     'received "nope"'),
    ("ntm", ("task", "max_length"), 10**9, "task.max_length must be an int in [1, 2047] "
     "(a copy of L vectors runs 2L + 1 steps), received 1000000000"),
    ("ntm", ("task", "max_length"), 0, "task.max_length must be an int in [1, 2047]"),
    ("ntm", ("task", "memory_size"), -1, "task.memory_size must be an int >= 1, "
     "received -1"),
]


# Fields that the fuzz below fills with any JSON value.
FUZZED = [
    ("arrays", path) for path in [
        ("format",), ("version",), ("model_file",), ("model_bytes",), ("model_sha256",),
        ("mode",), ("signatures",), ("signatures", "serving_default"), ("task",),
        ("signatures", "serving_default", "inputs"), IN, (*IN, "name"), (*IN, "shape"),
        (*IN, "dtype"), (*IN, "quantization"), ("task", "kind"), ("task", "signature"),
    ]
] + [("arrays_int8", (*Q, "scale")), ("arrays_int8", (*Q, "zero_point"))] + [
    ("classify", ("task", key)) for key in ("labels", "output", "signature")
] + [
    ("s2s", ("task", key)) for key in (
        "start_id", "end_id", "pad_id", "max_target_length", "source_vocabulary",
        "target_vocabulary",
    )
] + [
    ("translation", ("task", key)) for key in ("source_tokenizer", "target_tokenizer")
] + [
    ("ntm", ("task", key)) for key in (
        "num_bits", "state_names", "initial_state", "input", "output", "signature",
        "max_length",
    )
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@given(field=st.sampled_from(FUZZED), value=JSON)
@settings(max_examples=120)
def test_any_value_of_any_field_gives_a_result_or_a_clear_error(built, field, value):
    """No raw IndexError, TypeError or OverflowError: `main` either runs
    (the value happened to be valid) or exits 2 with one line."""
    kind, path = field
    with tempfile.TemporaryDirectory() as folder:
        staged = Staged(built, pathlib.Path(folder), kind)
        staged.edit(path, value)
        status = edge_main(staged.argv())
    assert status in (0, 2)


def _case_id(case):
    stage, path, value, _ = case
    shown = "missing" if value is DELETE else repr(value)[:24]
    return f"{stage}-{'.'.join(map(str, path))}={shown}"


@pytest.mark.parametrize("case", FIELDS, ids=[_case_id(c) for c in FIELDS])
def test_a_tampered_metadata_field_is_refused(stage, capsys, case):
    kind, path, value, message = case
    staged = stage(kind)
    staged.edit(path, value)
    if not message.startswith("!"):
        message = "{meta}: " + message
    _refused(capsys, staged, staged.argv(), message.lstrip("!"))


def test_the_quiet_command_line_reports_the_same_one_line(stage, capsys):
    # Without --verbose, descriptor 2 goes through the log filter.
    staged = stage("s2s")
    staged.edit(("task", "end_id"), 100_000)
    argv = [a for a in staged.argv() if a != "--verbose"]
    _refused(capsys, staged, argv, "error: {meta}: task.end_id must be an int in [0, 13]")


@pytest.mark.parametrize(
    "kind, path",
    [
        ("arrays", ("comment",)),  # a field a later exporter may add
        ("s2s", ("task", "comment")),  # the task is the application's
        ("ntm", ("task", "comment")),
    ],
)
def test_an_extra_metadata_field_changes_nothing(stage, capsys, kind, path):
    staged = stage(kind)
    plain = _runs(capsys, staged, staged.argv())
    staged.edit(path, {"note": "written by hand"})
    assert _strip_latency(_runs(capsys, staged, staged.argv())) == _strip_latency(plain)


def _strip_latency(stdout):
    return [line for line in stdout.splitlines() if "median" not in line]


def test_a_model_of_several_signatures_runs_the_one_named(stage, capsys):
    # Arrays in, arrays out, from a model with no default signature.
    staged = stage("s2s")
    staged.edit(("task",), {"kind": "arrays"})
    source = _save(staged.folder / "source.npy", np.array([[1, 2, 3, 0, 0, 0, 0]]))
    out = _runs(capsys, staged, staged.argv(args=["--inputs", source, "--signature",
                                                  "encode"]))
    assert "signature: encode (1 call(s))" in out
    _refused(capsys, staged, staged.argv(args=["--inputs", source]),
             "error: {model}: no default signature among ['decode_step', 'encode']; "
             "name one")


def test_a_metadata_without_a_task_runs_as_arrays(stage, capsys):
    staged = stage("arrays")
    staged.edit(("task",), None)
    out = _runs(capsys, staged, staged.argv())
    assert "signature: serving_default (1 call(s))" in out
    assert f"wrote {staged.out}" in out


# -- a decoder's steps, bounded by its cache ------------------------------------------


def _with_cache(metadata, slots):
    """The seq2seq model's signatures, as if decode_step carried a
    Transformer's self-attention cache of `slots` steps."""
    cache = {"name": "self_attention_cache_0", "shape": [1, 2, slots, 8],
             "dtype": "float32", "quantization": None}
    signatures = json.loads(json.dumps(metadata["signatures"]))
    signatures["encode"]["outputs"].append(cache)
    signatures["decode_step"]["inputs"].append(cache)
    signatures["decode_step"]["outputs"].append(cache)
    return {**metadata, "signatures": signatures}


def test_max_target_length_is_bounded_by_the_cache(built):
    metadata = _with_cache(_read(built / "seq2seq.json"), slots=24)
    assert step_limit(metadata["signatures"]) == 24
    metadata["task"]["max_target_length"] = 24
    assert check_task(metadata, "m.json")["max_target_length"] == 24
    metadata["task"]["max_target_length"] = 25
    with pytest.raises(EdgeModelError, match=(
        r"m\.json: task\.max_target_length must be an int in \[1, 24\] \(the most "
        r"steps decode_step can run\), received 25"
    )):
        check_task(metadata, "m.json")
    # Without a cache, the runtime's own bound.
    assert step_limit(_read(built / "seq2seq.json")["signatures"]) == MAX_STEPS


def test_greedy_decode_refuses_steps_past_the_cache(built):
    model = load(built / "seq2seq.tflite")
    cached = EdgeModel(model.model_path, model.metadata_path,
                       _with_cache(model.metadata, slots=24), model._interpreter)
    with pytest.raises(EdgeModelError, match=(
        r"max_length must be an int in \[1, 24\] \(the most steps .*seq2seq\.tflite's "
        r"decode_step can run\), received max_length=60"
    )):
        cached.greedy_decode(cached.text_to_ids("abc"), max_length=60)


@pytest.mark.parametrize("max_length", [0, -1, MAX_STEPS + 1, 2.5, True, "3"])
def test_greedy_decode_checks_max_length(built, max_length):
    model = load(built / "seq2seq.tflite")
    with pytest.raises(EdgeModelError, match=(
        rf"max_length must be an int in \[1, {MAX_STEPS}\] .*received "
        rf"max_length={max_length!r}"
    )):
        model.greedy_decode(model.text_to_ids("abc"), max_length=max_length)


def test_greedy_decode_checks_the_source_ids(built):
    model = load(built / "seq2seq.tflite")
    source = model.text_to_ids("abc")
    source[0, 4] = 10  # the vocabulary has 10 tokens
    with pytest.raises(EdgeModelError, match=(
        r"source_ids must be ids in \[0, 10\) \(the source vocabulary of .*seq2seq"
        r"\.json\), received 10 at \[0, 4\]"
    )):
        model.greedy_decode(source)
    source[0, 4] = -3
    with pytest.raises(EdgeModelError, match=r"received -3 at \[0, 4\]"):
        model.greedy_decode(source)
    with pytest.raises(EdgeModelError, match=r"ids must be in \[0, 14\) .*received \[99\]"):
        model.ids_to_text([3, 99])


@given(end_id=st.integers(min_value=-(2**70), max_value=2**70))
@settings(max_examples=40)
def test_any_end_id_outside_the_logits_is_refused(built, end_id):
    metadata = _read(built / "seq2seq.json")
    metadata["task"]["end_id"] = end_id
    if 0 <= end_id < 14 and end_id != metadata["task"]["start_id"]:
        assert check_task(metadata, "m.json")["end_id"] == end_id
    else:
        with pytest.raises(EdgeModelError, match=rf"task\.end_id .*received {end_id}$"):
            check_task(metadata, "m.json")


# -- text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, text, message",
    [
        ("s2s", "", "error: --text is empty (received ''): give the text to decode"),
        ("s2s", "   ", "error: --text is only whitespace (received 3 whitespace "
         "characters: ' '): give the text to decode"),
        ("s2s", "\t\n", "error: --text is only whitespace (received 2 whitespace "
         "characters: '\\t\\n')"),
        ("translation", "", "error: --text is empty (received '')"),
        ("translation", " \u3000 ", "error: --text is only whitespace"),
        # Bytes of another encoding on the command line: lone surrogates.
        ("translation", "Ein \udcff", "error: --text must be UTF-8 text, received "
         "'Ein \\udcff' (character 4: '\\udcff')"),
        ("s2s", "abcdefgh", "error: text of 8 characters; {model} takes at most 7"),
        ("s2s", "abz!", "error: characters not in the source vocabulary of {meta}: '!', 'z'"),
        # A valid translation task whose tokenizer files are not there.
        ("translation", "Ein Hund", "error: {folder}/model.source.model: the source "
         "tokenizer named in {meta} is missing"),
    ],
)
def test_bad_text_is_refused(stage, capsys, kind, text, message):
    staged = stage(kind)
    _refused(capsys, staged, staged.argv(args=["--text", text]), message)


def test_text_given_as_another_type_is_refused(built):
    model = load(built / "seq2seq.tflite")
    with pytest.raises(EdgeModelError, match="text must be a string, received int 5"):
        model.text_to_ids(5)
    with pytest.raises(EdgeModelError, match=r"text must be a string, received bytes b'abc'"):
        model.text_to_ids(b"abc")


def test_the_api_decodes_blank_text_as_keras_does(built):
    # Keras's Translator decodes an empty sentence (the end token alone);
    # the API agrees with it, and only the command line refuses blank text.
    model = load(built / "seq2seq.tflite")
    assert model.text_to_ids("").tolist() == [[0] * 7]
    assert model.text_to_ids("  ").tolist() == [[9, 9, 0, 0, 0, 0, 0]]


def test_text_decodes_as_keras_did(built, stage, capsys):
    case = _read(built / "seq2seq.json")["task"]["expected"][0]
    staged = stage("s2s")
    out = _runs(capsys, staged, staged.argv(args=["--text", case["text"]]))
    assert f"output:  {case['decoded']}\n" in out


# -- a translation model's SentencePiece files ----------------------------------------------


def _sentencepiece(sentences, size):
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=size,
        model_type="char", pad_id=0, bos_id=1, eos_id=2, unk_id=3, minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def pieces():
    """Character SentencePiece models that fit the seq2seq model: 10 source
    pieces (its embedding's rows), 14 target pieces (its logits)."""
    return {
        "source": _sentencepiece(["abc", "bad cab", "dead beef"], 10),
        "target": _sentencepiece(["0123456789-", "12-34", "2021-03-04"], 14),
        "target_12": _sentencepiece(["0123456789-", "12-34"], 12),
    }


def _tokenizers(staged, source, target, vouched=True):
    for side, content in (("source", source), ("target", target)):
        (staged.folder / f"model.{side}.model").write_bytes(content)
        if vouched:
            staged.edit(("task", f"{side}_tokenizer", "sha256"),
                        hashlib.sha256(content).hexdigest())


def test_a_translation_runs_its_tokenizers_around_the_decoder(stage, capsys, pieces):
    import sentencepiece

    staged = stage("translation")
    _tokenizers(staged, pieces["source"], pieces["target"])
    out = _runs(capsys, staged, staged.argv(args=["--text", "abc"]))
    # The same steps by hand: pieces, the end id, padding; decode; pieces.
    source, target = (sentencepiece.SentencePieceProcessor() for _ in range(2))
    source.LoadFromSerializedProto(pieces["source"])
    target.LoadFromSerializedProto(pieces["target"])
    ids = source.encode("abc") + [2]
    assert len(ids) == 5  # "▁abc" and the end id, padded to the model's 7
    model = load(staged.model)
    (tokens,) = model.greedy_decode(np.array([ids + [0, 0]])).tokens
    assert f"output:  {target.decode(tokens)}\n" in out
    assert "input:   abc\n" in out
    # Nine pieces: cut to the model's seven, as Keras's Translator does.
    out = _runs(capsys, staged, staged.argv(args=["--text", "bad cab"]))
    assert "input:   bad cab (cut to the model's length)\n" in out


@pytest.mark.parametrize(
    "case, message",
    [
        ("pad_id past the source pieces", "error: {meta}: task.pad_id must be below 10, "
         "the size of the source tokenizer's vocabulary, received 12"),
        ("fewer target pieces than logits", "error: {meta}: the largest id of "
         "decode_step's logits must be below 12, the size of the target tokenizer's "
         "vocabulary, received 13"),
        ("an HTML page vouched for", "error: {folder}/model.source.model: SentencePiece "
         "cannot read it"),
        ("a changed file", "error: {folder}/model.target.model: SHA-256 differs from "
         "{meta}'s; the file was changed or belongs to another model"),
    ],
)
def test_a_tokenizer_that_does_not_fit_is_refused(stage, capsys, pieces, case, message):
    staged = stage("translation")
    source, target = pieces["source"], pieces["target"]
    if case == "pad_id past the source pieces":
        staged.edit(("task", "pad_id"), 12)
    elif case == "fewer target pieces than logits":
        target = pieces["target_12"]
    elif case == "an HTML page vouched for":
        source = HTML
    _tokenizers(staged, source, target)
    if case == "a changed file":
        (staged.folder / "model.target.model").write_bytes(target + b"x")
    _refused(capsys, staged, staged.argv(args=["--text", "abc"]), message)


# -- arrays in: .npy and .npz ------------------------------------------------------------


def _features(staged):
    return np.load(staged.inputs)  # [1, 8, 4] float32


def _save(path, value):
    if isinstance(value, dict):
        np.savez(path, **value)
    else:
        np.save(path, value)
    return path


INPUT_ARRAYS = {
    # name: (stage, the file to give --inputs from the sample, message)
    "an unknown name": ("arrays", lambda f: {"feature": f},
                        "signature 'serving_default' lacks input(s) ['features'] and "
                        "was given unknown input(s) ['feature']"),
    "a wrong shape": ("arrays", lambda f: f[:, :5],
                      "input 'features': expected shape [1, 8, 4] or [k * 1] + [8, 4] "
                      "for k batches, received [1, 5, 4]"),
    "a wrong dtype": ("arrays", lambda f: f.astype("int32"),
                      "input 'features': expected dtype float32, received int32"),
    "strings": ("arrays", lambda f: np.full(f.shape, "a"),
                "input 'features': expected dtype float32, received str32"),
    "NaN": ("arrays", lambda f: _put(f, (0, 3, 1), np.nan),
            "{model}: signature 'serving_default' input 'features': expected finite "
            "values, received nan at [0, 3, 1] (1 of 32 not finite)"),
    "NaN in the third batch": ("arrays", lambda f: _put(np.concatenate([f] * 3), (2, 0, 0),
                                                        np.nan),
                               "expected finite values, received nan at [2, 0, 0]"),
    "inf, int8": ("arrays_int8", lambda f: _put(f, (0, 0, 2), np.inf),
                  "input 'features': expected finite values, received inf at [0, 0, 2]"),
    "NaN, int8 classifier": ("classify_int8", lambda f: _put(f, (0, 7, 3), np.nan),
                             "input 'features': expected finite values, received nan at "
                             "[0, 7, 3]"),
    "-inf, classifier": ("classify", lambda f: _put(f, (0, 1, 0), -np.inf),
                         "received -inf at [0, 1, 0]"),
}


def _put(array, index, value):
    array = array.copy()
    array[index] = value
    return array


@pytest.mark.parametrize("case", sorted(INPUT_ARRAYS))
def test_bad_input_arrays_are_refused(stage, capsys, case):
    kind, make, message = INPUT_ARRAYS[case]
    staged = stage(kind)
    value = make(_features(staged))
    given = _save(staged.folder / ("x2.npz" if isinstance(value, dict) else "x2.npy"), value)
    args = ["--inputs", given] + (["--out", staged.out] if kind.startswith("arrays") else [])
    _refused(capsys, staged, staged.argv(args=args), message)


INPUT_FILES = {
    "truncated": (".npy", lambda c: c[: len(c) // 2],
                  "cannot read inputs (Failed to read all data"),
    "emptied": (".npy", lambda c: b"", "cannot read inputs (No data left in file)"),
    "random bytes": (".npy", lambda c: _random(300), "cannot read inputs (This file "
                     "contains pickled (object) data"),
    "an HTML page": (".npy", lambda c: HTML, "cannot read inputs"),
    "a truncated .npz": (".npz", lambda c: c[: len(c) // 2],
                         "cannot read inputs (File is not a zip file)"),
    "a .npz with a flipped byte": (".npz", None, "cannot read inputs (Bad CRC-32"),
    "an .npz named .npy": (".npy", None, "expected a .npy array, found a .npz archive"),
    "a .npy named .npz": (".npz", None,
                          "expected a .npz archive of arrays by input name, found a "
                          "single .npy array"),
    "a header of 36 TiB": (".npy", None, "cannot read inputs (Unable to allocate"),
    "object arrays": (".npy", None, "cannot read inputs (Object arrays cannot be loaded "
                      "when allow_pickle=False)"),
}


def _input_file(case, path, features):
    if case == "a .npz with a flipped byte":
        np.savez(path, features=features)
        content = bytearray(path.read_bytes())
        content[200] ^= 0xFF  # in the array's values, past its header
        return bytes(content)
    if case == "an .npz named .npy":
        np.savez(str(path) + ".npz", features=features)
        return open(str(path) + ".npz", "rb").read()
    if case == "a .npy named .npz":
        np.save(str(path) + ".npy", features)
        return open(str(path) + ".npy", "rb").read()
    if case == "a header of 36 TiB":
        return _huge_header()
    if case == "object arrays":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return path.read_bytes()
    extension, change, _ = INPUT_FILES[case]
    _save(path, features if extension == ".npy" else {"features": features})
    return change(path.read_bytes())


def _huge_header():
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**13,)}
    )
    return buffer.getvalue() + b"\0" * 64


@pytest.mark.parametrize("case", sorted(INPUT_FILES))
def test_a_damaged_inputs_file_is_refused(stage, capsys, tmp_path_factory, case):
    extension, _, message = INPUT_FILES[case]
    staged = stage("arrays")
    scratch = tmp_path_factory.mktemp("scratch") / f"made{extension}"
    content = _input_file(case, scratch, _features(staged))
    given = staged.folder / f"given{extension}"
    given.write_bytes(content)
    _refused(capsys, staged, staged.argv(args=["--inputs", given, "--out", staged.out]),
             f"{given}: {message}")


def test_a_missing_inputs_file_is_named(stage, capsys):
    staged = stage("arrays")
    _refused(capsys, staged,
             staged.argv(args=["--inputs", staged.folder / "none.npy"]),
             "{folder}/none.npy: cannot read inputs ([Errno 2] No such file")


# -- outputs: never over an input, nothing on failure --------------------------------------


def test_out_never_replaces_the_inputs(stage, capsys):
    staged = stage("arrays")
    inputs = _save(staged.folder / "x.npz", {"features": _features(staged)})
    message = "error: --out {folder}/x.npz is --inputs ({folder}/x.npz): the outputs "
    _refused(capsys, staged, staged.argv(args=["--inputs", inputs, "--out", inputs]),
             message)
    # Nor through a link to them.
    os.symlink(inputs, staged.folder / "link.npz")
    _refused(capsys, staged,
             staged.argv(args=["--inputs", inputs, "--out", staged.folder / "link.npz"]),
             "error: --out {folder}/link.npz is --inputs")


def test_out_that_cannot_be_written_leaves_nothing(stage, capsys):
    staged = stage("arrays")
    (staged.folder / "taken.npz").mkdir()
    _refused(capsys, staged,
             staged.argv(args=["--inputs", staged.inputs, "--out",
                               staged.folder / "taken.npz"]),
             "error: {folder}/taken.npz: cannot write the outputs")


def test_out_holds_what_the_model_computes(stage, capsys):
    staged = stage("arrays")
    features = _features(staged)
    inputs = _save(staged.folder / "three.npy", np.concatenate([features, -features,
                                                                 2 * features]))
    _runs(capsys, staged, staged.argv(args=["--inputs", inputs, "--out", staged.out]))
    model = load(staged.model)
    with np.load(staged.out) as written:
        assert written.files == ["probabilities"]
        for i, x in enumerate([features, -features, 2 * features]):
            np.testing.assert_array_equal(
                written["probabilities"][i : i + 1],
                model.run("serving_default", features=x)["probabilities"],
            )


@given(
    index=st.tuples(st.just(0), st.integers(0, 7), st.integers(0, 3)),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
)
@settings(max_examples=25)
def test_a_non_finite_input_is_refused_where_it_is(built, index, value):
    model = load(built / "classifier_int8.tflite")
    features = np.zeros((1, 8, 4), np.float32)
    features[index] = value
    with pytest.raises(EdgeModelError, match=(
        rf"input 'features': expected finite values, received {value} at "
        rf"\[{index[0]}, {index[1]}, {index[2]}\] \(1 of 32"
    )):
        model.run("serving_default", features=features)


# -- a node classifier's labels, a copy model's bits and length ------------------------------


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0.5]), "'labels' must be ints (-1 for unknown), received float64"),
        (np.array([3]), "'labels' must be in [-1, 3) (-1 for unknown), received [3]"),
        (np.array([-2]), "'labels' must be in [-1, 3) (-1 for unknown), received [-2]"),
        (np.array([0, 1]), "'labels' must hold one label per node (1), received shape (2,)"),
    ],
)
def test_bad_node_labels_are_refused(stage, capsys, labels, message):
    staged = stage("classify")
    staged.edit(("task", "kind"), "node_classification")
    given = _save(staged.folder / "graph.npz",
                  {"features": _features(staged), "labels": labels})
    _refused(capsys, staged, staged.argv(args=["--inputs", given]),
             "{folder}/graph.npz: " + message)


@pytest.mark.parametrize(
    "bits, message",
    [
        (np.array([[0, 1, np.nan]]), "a copy sequence must hold 0 and 1 only, received "
         "values [nan]"),
        (np.array([[0, 1, 2]]), "a copy sequence must hold 0 and 1 only, received values [2]"),
        (np.zeros((2, 4)), "copies vectors of 3 bits, received 4 per step"),
        (np.zeros((0, 3)), "a copy sequence must be an [L, K] array with 1 <= L <= 2047, "
         "received shape [0, 3]"),
        ({"bits": np.zeros((2, 3))}, "expected a .npy array of bits [L, K], found a .npz "
         "archive"),
    ],
)
def test_bad_copy_bits_are_refused(stage, capsys, bits, message):
    staged = stage("ntm")
    given = _save(staged.folder / ("bits.npz" if isinstance(bits, dict) else "bits.npy"),
                  bits)
    _refused(capsys, staged, staged.argv(args=["--inputs", given]), message)


def test_a_copy_longer_than_the_runtime_runs_is_refused(stage, capsys):
    staged = stage("ntm")
    _refused(capsys, staged, staged.argv(args=["--length", "5000"]),
             "error: --length must be at most 2047 (a copy runs 2L + 1 steps), "
             "received --length 5000")


@pytest.mark.parametrize(
    "kind, args, message",
    [
        ("ntm", ["--seed", "-1"], "argument --seed: must be a non-negative int, received -1"),
        # LiteRT's thread pool crashed the process (SIGSEGV) at 100,000.
        ("s2s", ["--text", "abc", "--threads", "100000"],
         "argument --threads: must be an int in [1, 1024], received 100000"),
        ("s2s", ["--text", "abc", "--threads", "0"],
         "argument --threads: must be an int in [1, 1024], received 0"),
    ],
)
def test_a_bad_option_is_a_usage_error(stage, capsys, kind, args, message):
    staged = stage(kind)
    with pytest.raises(SystemExit) as exit_info:
        edge_main(staged.argv(args=args))
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("threads", [0, 1025, 100_000, True, 2.0])
def test_load_checks_num_threads(built, threads):
    with pytest.raises(EdgeModelError, match=(
        rf"num_threads must be an int in \[1, 1024\], received num_threads={threads!r}$"
    )):
        load(built / "seq2seq.tflite", num_threads=threads)
