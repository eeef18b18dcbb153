"""The generic task (arrays in, arrays out) and quiet output, where
TensorFlow is not installed."""

import json
import pathlib
import re
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]
# LiteRT's own logger and absl's C++ format (tests/log_lines.py has the rest).
LOG_LINE = re.compile(r"^(INFO|WARNING|VERBOSE): |^[IWEF]\d{4} |XNNPACK")


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "edge_demo", *map(str, args)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def test_a_model_of_kind_arrays_runs_quietly_and_matches_keras(copy_fixture, tmp_path):
    model, meta = copy_fixture("classifier_float32")
    metadata = json.loads(meta.read_text())
    expected = metadata["task"]["expected"]
    metadata["task"] = {"kind": "arrays"}  # as keras-attention-export writes it
    meta.write_text(json.dumps(metadata))
    # Three samples of a batch-1 signature: three calls, outputs in a row.
    features = np.concatenate([np.array(e["inputs"]["features"], np.float32) for e in expected])
    np.savez(tmp_path / "x.npz", features=features)
    done = _cli(model, "--inputs", tmp_path / "x.npz", "--out", tmp_path / "y.npz", "--runs", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and not any(
        LOG_LINE.search(line) for line in done.stdout.splitlines()
    ), done.stdout + done.stderr
    assert f"signature: serving_default ({len(expected)} call(s))" in done.stdout
    want = np.concatenate([np.array(e["outputs"]["probabilities"]) for e in expected])
    with np.load(tmp_path / "y.npz") as got:
        np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
    verbose = _cli(model, "--inputs", tmp_path / "x.npz", "--runs", "1", "--verbose")
    assert verbose.returncode == 0 and "XNNPACK" in verbose.stderr, verbose.stderr


def test_version():
    done = _cli("--version")
    assert done.returncode == 0 and re.fullmatch(
        r"python -m edge_demo \d+\.\d+\.\d+\S*\n", done.stdout
    ), done.stdout
