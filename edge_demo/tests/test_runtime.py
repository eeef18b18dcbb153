"""edge_demo against what Keras computed for the fixture models (see conftest)."""

import hashlib
import importlib.util
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from edge_demo import EdgeModelError, latency, load
from edge_demo.runtime import copy_inputs, quantize

# Float32 on both sides: the same arithmetic in another order.
FLOAT_ATOL = 1e-5
# int8 classifier, in steps of the output's scale (1/256 for a softmax): half
# a step rounding the output, plus what the 8-bit input, weights and hidden
# activations carry through the two layers (the fixtures measured at most
# about 2.1 steps). Four steps leave room for kernel rounding differences,
# and are still far below the gaps between the classes' probabilities.
INT8_STEPS = 4


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


def _error(match, fn, *args, **kwargs):
    with pytest.raises(EdgeModelError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_tensorflow_is_not_installed():
    # The claim that edge_demo needs no TensorFlow is only checked if it is
    # absent. (`keras-attention[edge]` brings Keras, a base dependency.)
    for name in ("tensorflow", "tf_keras"):
        assert importlib.util.find_spec(name) is None, f"{name} is importable here"


def test_edge_demo_loads_neither_keras_nor_our_library():
    code = (
        "import sys, edge_demo, edge_demo.runtime, edge_demo.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keras', 'keras_attention', 'keras_attention_export', 'tensorflow')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize("name", ["classifier_float32", "classifier_int8"])
def test_classifier_matches_keras(fixtures_dir, name):
    model = load(fixtures_dir / f"{name}.tflite")
    (output,) = model.spec("serving_default")["outputs"]
    if name.endswith("int8"):
        # Otherwise this test would not exercise the quantization at all.
        (features,) = model.spec("serving_default")["inputs"]
        assert features["dtype"] == output["dtype"] == "int8"
        atol = INT8_STEPS * output["quantization"]["scale"]
    else:
        atol = FLOAT_ATOL
    for case in model.task["expected"]:
        inputs = {k: np.array(v, np.float32) for k, v in case["inputs"].items()}
        got = model.run("serving_default", **inputs)["probabilities"]
        want = np.array(case["outputs"]["probabilities"])
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)
        assert np.argmax(got) == np.argmax(want)


def test_quantize_rounds_and_clips():
    params = {"scale": 0.5, "zero_point": 3}
    q = quantize([-10.0, -0.26, 0.24, 0.26, 10.0, 1e6, -1e6], params, np.int8)
    assert q.dtype == np.int8
    # round(x / 0.5) + 3, then clipped to [-128, 127]
    assert q.tolist() == [-17, 2, 3, 4, 23, 127, -128]


def test_greedy_decoding_matches_keras(fixtures_dir):
    model = load(fixtures_dir / "seq2seq.tflite")
    # The attention memory goes into every step and never comes back out.
    outputs = {t["name"] for t in model.spec("decode_step")["outputs"]}
    assert outputs == {"logits", "state"}
    lengths = set()
    for case in model.task["expected"]:
        source = model.text_to_ids(case["text"])
        assert source.tolist() == [case["source_ids"]]
        decoded = model.greedy_decode(source)
        assert decoded.tokens == [case["tokens"]], case["text"]
        assert model.ids_to_text(decoded.tokens[0]) == case["decoded"]
        # One step per token, plus the step that produced the end token.
        stopped = len(case["tokens"]) < model.task["max_target_length"]
        assert len(decoded.step_ms) == len(case["tokens"]) + stopped
        assert decoded.encode_ms > 0 and min(decoded.step_ms) > 0
        lengths.add(len(case["tokens"]))
    assert len(lengths) > 1, "every source decodes to the same length"


def test_greedy_decoding_stops_at_max_length(fixtures_dir):
    model = load(fixtures_dir / "seq2seq.tflite")
    case = max(model.task["expected"], key=lambda c: len(c["tokens"]))
    decoded = model.greedy_decode(case["source_ids"], max_length=3)
    assert decoded.tokens == [case["tokens"][:3]]
    assert len(decoded.step_ms) == 3


def test_latency_reports_median_and_p90():
    stats = latency(lambda: sum(range(1000)), runs=20)
    assert stats["runs"] == 20
    assert 0 < stats["median_ms"] <= stats["p90_ms"]


# -- errors -------------------------------------------------------------------


def test_missing_model(tmp_path):
    path = tmp_path / "nothing.tflite"
    message = _error("model file not found", load, path)
    assert str(path) in message


def test_missing_metadata(copy_fixture):
    model, meta = copy_fixture("classifier_float32")
    meta.unlink()
    message = _error("metadata file not found", load, model)
    assert str(meta) in message


def test_metadata_not_json(copy_fixture):
    model, meta = copy_fixture("classifier_float32")
    meta.write_text("{ not json")
    assert str(meta) in _error("not valid JSON", load, model)


def test_metadata_of_another_format(copy_fixture):
    model, meta = copy_fixture("classifier_float32")
    _write(meta, {**_read(meta), "version": 99})
    message = _error(
        "expected metadata format 'keras-attention-edge' version 1", load, model
    )
    assert "version 99" in message and str(meta) in message


def test_truncated_model(copy_fixture):
    model, meta = copy_fixture("seq2seq")
    size = model.stat().st_size
    model.write_bytes(model.read_bytes()[: size // 2])
    message = _error("truncated", load, model)
    assert str(model) in message and f"expected {size}" in message


def test_flipped_byte(copy_fixture):
    model, _ = copy_fixture("seq2seq")
    content = bytearray(model.read_bytes())
    content[len(content) // 3] ^= 0xFF  # LiteRT itself would load this silently
    model.write_bytes(bytes(content))
    message = _error("sha256 .* the file has changed or is corrupt", load, model)
    assert str(model) in message


def test_corrupt_flatbuffer_with_matching_digest(copy_fixture):
    # Metadata that vouches for garbage: only LiteRT can tell.
    model, meta = copy_fixture("classifier_float32")
    garbage = np.random.default_rng(0).bytes(2000)
    model.write_bytes(garbage)
    _write(
        meta,
        {
            **_read(meta),
            "model_bytes": len(garbage),
            "model_sha256": hashlib.sha256(garbage).hexdigest(),
        },
    )
    assert str(model) in _error("LiteRT cannot load it", load, model)


@pytest.mark.parametrize(
    "field,value,expected",
    [
        (
            "shape",
            [1, 8, 5],
            "input 'features' shape: expected [1, 8, 5], found [1, 8, 4]",
        ),
        ("name", "inputs", "inputs: expected names ['inputs'], found ['features']"),
        ("dtype", "float16", "input 'features' dtype: expected float16, found float32"),
    ],
)
def test_metadata_signature_differs_from_model(copy_fixture, field, value, expected):
    model, meta = copy_fixture("classifier_float32")
    metadata = _read(meta)
    metadata["signatures"]["serving_default"]["inputs"][0][field] = value
    _write(meta, metadata)
    message = _error("does not match", load, model)
    assert expected in message and str(model) in message and str(meta) in message


def test_metadata_lists_another_signature(copy_fixture):
    model, meta = copy_fixture("seq2seq")
    metadata = _read(meta)
    metadata["signatures"]["decode"] = metadata["signatures"].pop("decode_step")
    _write(meta, metadata)
    _error(
        r"expected signatures \['decode', 'encode'\], "
        r"found \['decode_step', 'encode'\]",
        load,
        model,
    )


def test_run_checks_inputs(fixtures_dir):
    model = load(fixtures_dir / "seq2seq.tflite")
    message = _error(
        "expected shape", model.run, "encode", source=np.zeros((1, 3), np.int32)
    )
    assert (
        "signature 'encode' input 'source': expected shape [1, 7], received [1, 3]"
        in message
    )
    _error(
        r"takes inputs \['source'\], received \['src'\]",
        model.run,
        "encode",
        src=[[0] * 7],
    )
    _error(
        "expected dtype int32, received float64",
        model.run,
        "encode",
        source=np.zeros((1, 7)),
    )
    _error("no signature 'serving_default'", model.run, "serving_default")
    # Python ints arrive as int64; they are cast when they fit.
    assert set(model.run("encode", source=[[1] * 7])) == {"memory", "state"}


def test_text_outside_the_vocabulary(fixtures_dir):
    model = load(fixtures_dir / "seq2seq.tflite")
    _error(
        "characters not in the source vocabulary .*'Z', 'z'", model.text_to_ids, "zaZ"
    )
    _error("at most 7", model.text_to_ids, "a" * 8)


# -- the command line -----------------------------------------------------------


def _cli(*args):
    # From the repository root, where `-m edge_demo` finds the package.
    return subprocess.run(
        [sys.executable, "-m", "edge_demo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=pathlib.Path(__file__).resolve().parents[2],
    )


def test_cli_decodes_text(fixtures_dir):
    case = _read(fixtures_dir / "seq2seq.json")["task"]["expected"][1]
    done = _cli(fixtures_dir / "seq2seq.tflite", "--text", case["text"], "--runs", "3")
    assert done.returncode == 0, done.stderr
    assert f"output:  {case['decoded']}\n" in done.stdout
    assert (
        "latency: whole decode median" in done.stdout
        and "decode_step median" in done.stdout
    )


def test_cli_classifies(fixtures_dir, tmp_path):
    case = _read(fixtures_dir / "classifier_int8.json")["task"]["expected"][0]
    features = np.array(case["inputs"]["features"], np.float32)
    np.save(tmp_path / "x.npy", features)
    done = _cli(fixtures_dir / "classifier_int8.tflite", "--inputs", tmp_path / "x.npy")
    assert done.returncode == 0, done.stderr
    labels = _read(fixtures_dir / "classifier_int8.json")["task"]["labels"]
    label = labels[int(np.argmax(case["outputs"]["probabilities"]))]
    assert f"row 0: {label} (" in done.stdout and "latency: median" in done.stdout


def test_node_classifier_matches_keras(fixtures_dir):
    model = load(fixtures_dir / "node_classifier_int8.tflite")
    (output,) = model.spec("serving_default")["outputs"]
    assert output["dtype"] == "int8"
    (case,) = model.task["expected"]
    inputs = {k: np.array(v, np.float32) for k, v in case["inputs"].items()}
    got = model.run("serving_default", **inputs)["probabilities"]
    want = np.array(case["outputs"]["probabilities"])
    np.testing.assert_allclose(
        got, want, atol=INT8_STEPS * output["quantization"]["scale"], rtol=0
    )


def test_cli_classifies_nodes(fixtures_dir, tmp_path):
    path = fixtures_dir / "node_classifier_int8.tflite"
    (case,) = _read(fixtures_dir / "node_classifier_int8.json")["task"]["expected"]
    want = np.argmax(np.array(case["outputs"]["probabilities"])[0], axis=-1)
    labels = want.copy()
    labels[0] = 1 - labels[0]  # one wrong label: accuracy 5/6 over known ones
    labels[1] = -1  # unknown
    np.savez(
        tmp_path / "graph.npz",
        labels=labels,
        **{k: np.array(v, np.float32) for k, v in case["inputs"].items()},
    )
    done = _cli(path, "--inputs", tmp_path / "graph.npz", "--runs", "3")
    assert done.returncode == 0, done.stderr
    names = _read(fixtures_dir / "node_classifier_int8.json")["task"]["labels"]
    for node, label in enumerate(want):
        assert f"node {node}: {names[label]} (" in done.stdout
    assert "accuracy: 5/6 labelled nodes (0.833)" in done.stdout


def test_cli_bad_file_exits_2_with_one_line(copy_fixture):
    model, _ = copy_fixture("seq2seq")
    model.write_bytes(model.read_bytes()[:100])
    done = _cli(model, "--text", "abc")
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and str(model) in line and "truncated" in line


def test_cli_help():
    done = _cli("--help")
    assert done.returncode == 0
    assert "usage: python -m edge_demo" in done.stdout and "--text" in done.stdout


# -- a Neural Turing Machine, step by step ------------------------------------------


def _bit_rows(bits, marks="#."):
    return ["  " + "".join(marks[0] if b else marks[1] for b in row) for row in bits.T]


def test_ntm_copy_steps_match_keras(fixtures_dir):
    model = load(fixtures_dir / "ntm_copy.tflite")
    assert model.task["kind"] == "ntm_copy" and model.mode == "float32"
    for case in model.task["expected"]:
        bits = np.array(case["bits"])
        # The device's layout of the copy task is ntm_tasks.copy_batch's.
        np.testing.assert_array_equal(copy_inputs(bits), case["inputs"])
        stepped = model.run_steps(np.array(case["inputs"], np.float32))
        # Every step, the input phase too: the state went round the device.
        np.testing.assert_allclose(
            stepped.outputs, case["logits"], atol=FLOAT_ATOL, rtol=0
        )
        assert set(stepped.states) == set(model.task["state_names"])
        assert len(stepped.step_ms) == 2 * len(bits) + 1 and min(stepped.step_ms) > 0
        copied = model.copy_sequence(bits)
        assert copied.copied.tolist() == case["copied"]
        assert copied.errors == case["errors"]
        np.testing.assert_allclose(
            copied.logits, case["logits"][len(bits) + 1 :], atol=FLOAT_ATOL, rtol=0
        )


def test_ntm_steps_start_from_the_given_state(fixtures_dir):
    model = load(fixtures_dir / "ntm_copy.tflite")
    case = model.task["expected"][1]
    inputs = np.array(case["inputs"], np.float32)
    # Half the sequence, then the rest from the state the first half left.
    first = model.run_steps(inputs[:4])
    rest = model.run_steps(inputs[4:], states=first.states)
    np.testing.assert_allclose(
        np.concatenate([first.outputs, rest.outputs]), case["logits"],
        atol=FLOAT_ATOL, rtol=0,
    )
    # From the initial state instead, the rest comes out otherwise.
    fresh = model.run_steps(inputs[4:])
    assert np.abs(fresh.outputs - rest.outputs).max() > 1e-3


def test_ntm_initial_state_and_inputs_are_checked(copy_fixture, fixtures_dir):
    model_path, meta = copy_fixture("ntm_copy")
    metadata = _read(meta)
    del metadata["task"]["initial_state"]["memory"]
    _write(meta, metadata)
    # Refused as the metadata is loaded, before anything runs.
    _error("initial_state has no 'memory'", load, model_path)
    metadata["task"]["initial_state"]["memory"] = [0.0] * 5
    _write(meta, metadata)
    _error(
        r"initial_state 'memory' holds 5 values, the signature's state \[1, 32\] "
        "takes 32 per sequence",
        load,
        model_path,
    )
    model = load(fixtures_dir / "ntm_copy.tflite")
    _error("vectors of 3 bits, received 4", model.copy_sequence, np.zeros((2, 4)))
    _error("0 and 1 only, received values", model.copy_sequence, [[0, 2, 1]])
    _error(r"an \[L, K\] array", copy_inputs, np.zeros(3))
    _error(
        r"run_steps takes inputs \[T\] \+ \[1, 4\]", model.run_steps, np.zeros((3, 5))
    )


def test_cli_copies_given_bits(fixtures_dir, tmp_path):
    case = _read(fixtures_dir / "ntm_copy.json")["task"]["expected"][1]
    bits = np.array(case["bits"])
    np.save(tmp_path / "bits.npy", bits)
    done = _cli(fixtures_dir / "ntm_copy.tflite", "--inputs", tmp_path / "bits.npy",
                "--runs", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("input:")
    assert lines[start + 1 : start + 4] == _bit_rows(bits)
    assert lines[start + 4] == "output:"
    copied = np.array(case["copied"])
    assert lines[start + 5 : start + 8] == _bit_rows(copied)
    assert lines[start + 8] == "wrong bits (x):"
    assert lines[start + 9 : start + 12] == _bit_rows(copied != bits, "x.")
    assert f"bit errors: {case['errors']} of 15 (not an exact copy)" in done.stdout
    assert "latency: step median" in done.stdout and "(11 steps, 3 runs" in done.stdout


def test_cli_copies_a_random_sequence(fixtures_dir):
    done = _cli(fixtures_dir / "ntm_copy.tflite", "--length", "6", "--seed", "4")
    assert done.returncode == 0, done.stderr
    bits = np.random.default_rng(4).integers(0, 2, (6, 3))
    lines = done.stdout.splitlines()
    assert "copy:    6 vectors of 3 bits (random, seed 4)" in done.stdout
    start = lines.index("input:")
    assert lines[start + 1 : start + 4] == _bit_rows(bits)
    assert re.search(r"^bit errors: \d+ of 18 \(", done.stdout, flags=re.M)
    # Without --length, the longest training length (the metadata's).
    done = _cli(fixtures_dir / "ntm_copy.tflite", "--runs", "1")
    assert done.returncode == 0, done.stderr
    assert "copy:    4 vectors of 3 bits (random, seed 0)" in done.stdout


# -- translation ------------------------------------------------------------------


def test_translation_matches_keras(fixtures_dir):
    model = load(fixtures_dir / "translation.tflite")
    cases = model.task["expected"]
    for case in cases:
        translated = model.translate(case["text"])
        assert translated.tokens == case["tokens"], case["text"]
        assert translated.text == case["translation"]
        assert translated.encode_ms > 0 and min(translated.step_ms) > 0
    # The trained pair translates as Keras did; the odd inputs gave a defined
    # result: the empty sentence, unknown characters, and the long sentence
    # cut to the model's length (its end token kept).
    assert cases[0]["translation"].startswith("A dog")
    long_case = cases[-1]
    assert model.translate(long_case["text"]).truncated
    assert long_case["source_ids"][-1] == 2
    assert not model.translate(cases[0]["text"]).truncated


def test_translation_checks_its_tokenizer_files(fixtures_dir, tmp_path):
    import shutil

    for name in ("translation.tflite", "translation.json", "translation.source.model"):
        shutil.copy(fixtures_dir / name, tmp_path / name)
    model = load(tmp_path / "translation.tflite")
    _error("target tokenizer named in .* is missing", model.translate, "Ein Hund.")
    changed = (fixtures_dir / "translation.target.model").read_bytes() + b"x"
    (tmp_path / "translation.target.model").write_bytes(changed)
    model = load(tmp_path / "translation.tflite")
    _error("SHA-256 differs", model.translate, "Ein Hund.")


def test_cli_translates(fixtures_dir):
    case = _read(fixtures_dir / "translation.json")["task"]["expected"][1]
    done = _cli(fixtures_dir / "translation.tflite", "--text", case["text"], "--runs", "2")
    assert done.returncode == 0, done.stderr
    assert f"output:  {case['translation']}\n" in done.stdout
    assert "(de -> en," in done.stdout and "whole translation median" in done.stdout
    done = _cli(fixtures_dir / "translation.tflite")
    assert done.returncode == 2 and "give --text" in done.stderr
