"""Training on several devices and machines (tests/distributed_worker.py runs each one).

Every worker is a separate process: TensorFlow fixes its devices and its
cluster when it starts.
"""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_attention import distributed
from tests.commands import run

REPO = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-m", "tests.distributed_worker"]
TIMEOUT = 300


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(workers=None, index=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    if workers:
        env["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"localhost:{p}" for p in workers]},
            "task": {"type": "worker", "index": index},
        })
    return env


def _weights(path):
    saved = np.load(path)
    return [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)], int(saved["step"])


def _start_workers(tmp_path, name, extra=(), kill=None, jit=False):
    """Two workers on the loopback address; `kill` = (index, step) crashes
    one; `jit` has each train again XLA-compiled (`{name}_{index}_jit.npz`)."""
    ports = _free_ports(2)
    processes = []
    for index in range(2):
        command = WORKER + ["--out", str(tmp_path / f"{name}_{index}.npz"), *extra]
        if jit:
            command += ["--jit-out", str(tmp_path / f"{name}_{index}_jit.npz")]
        if kill is not None and kill[0] == index:
            command += ["--kill-at-step", str(kill[1])]
        processes.append(subprocess.Popen(
            command, cwd=REPO, env=_env(ports, index), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    return processes


def _finish(processes):
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=TIMEOUT)
        outputs.append(output)
        assert process.returncode == 0, output[-3000:]
    return outputs


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one")
    done, output = run(WORKER + ["--out", folder / "w.npz"], TIMEOUT, cwd=REPO,
                       env=_env())
    assert done.returncode == 0, output
    assert "worker 0 of 1: 8 steps, 1 replicas" in done.stdout
    return _weights(folder / "w.npz")


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """Two workers' weights after 8 steps: plain, and then (the same
    processes, under the same strategy) with XLA-compiled replica steps."""
    folder = tmp_path_factory.mktemp("two")
    outputs = _finish(_start_workers(folder, "w", jit=True))
    for index, output in enumerate(outputs):
        assert f"\nworker {index} of 2: 8 steps, 2 replicas" in "\n" + output
        assert f"jit worker {index} of 2: 8 steps, 2 replicas" in output
    plain = [_weights(folder / f"w_{i}.npz") for i in range(2)]
    jit = [_weights(folder / f"w_{i}_jit.npz") for i in range(2)]
    return plain, jit


def test_two_workers_end_with_the_same_weights(two_workers):
    (first, steps), (second, _) = two_workers[0]
    assert steps == 8
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_two_workers_equal_one_worker_on_the_same_global_batch(one_worker, two_workers):
    single, _ = one_worker
    (pair, _), _ = two_workers[0]
    for a, b in zip(single, pair):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=0)
    # ...and training moved them: the test could tell a difference.
    moved = max(np.abs(a).max() for a in single)
    assert moved > 0.1


def test_a_killed_worker_resumes_from_the_last_checkpoint(two_workers, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    args = ["--checkpoint-dir", str(checkpoints), "--checkpoint-every", "2"]
    processes = _start_workers(tmp_path, "k", args, kill=(1, 5))
    output, _ = processes[1].communicate(timeout=TIMEOUT)
    assert processes[1].returncode == 17, output[-3000:]  # died after step 5
    # Its peer waits on a collective that never completes: the job is
    # restarted, as a cluster manager would, from the chief's checkpoints.
    processes[0].kill()
    processes[0].communicate(timeout=TIMEOUT)
    saved = sorted(p.name for p in checkpoints.iterdir() if p.suffix == ".index")
    assert saved[-1] == "ckpt-4.index", saved  # steps 1-4 were saved, 5 was not
    outputs = _finish(_start_workers(tmp_path, "r", args))
    assert all("8 steps" in output for output in outputs)
    (uninterrupted, _), _ = two_workers[0]
    for index in range(2):
        resumed, steps = _weights(tmp_path / f"r_{index}.npz")
        assert steps == 8
        for a, b in zip(resumed, uninterrupted):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_model_fit_under_mirrored_strategy_on_two_logical_cpus(tmp_path):
    done, output = run(WORKER + ["--mirrored", "--out", tmp_path / "m.npz"], TIMEOUT,
                       cwd=REPO, env=_env())
    assert done.returncode == 0, output
    assert "mirrored: 2 replicas" in done.stdout and "single: 1 replicas" in done.stdout
    saved = np.load(tmp_path / "m.npz")
    count = len([k for k in saved.files if k.startswith("single_")])
    for i in range(count):
        np.testing.assert_allclose(saved[f"mirrored_{i}"], saved[f"single_{i}"],
                                   atol=1e-5, rtol=0)


def test_tf_config_is_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distributed.cluster_spec() == (1, 0)
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}))
    assert distributed.cluster_spec() == (2, 1)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match=re.escape("TF_CONFIG must be JSON")):
        distributed.cluster_spec()
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}))
    with pytest.raises(ValueError, match=re.escape("an index in [0, 1)")):
        distributed.cluster_spec()


def test_xla_compiled_replicas_train_the_same(two_workers):
    # XLA compiles each replica's forward and backward pass; the all-reduce
    # stays outside it (on CPU, XLA cannot compile collectives).
    ((plain, _), _), ((first, steps), (second, _)) = two_workers
    assert steps == 8
    for a, b, c in zip(first, second, plain):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, atol=2e-5, rtol=0)


def test_global_batches_must_divide_among_the_replicas():
    import tensorflow as tf

    batch = (tf.zeros((6, 3)), tf.zeros((6,)))
    parts = distributed._split_rows(batch, 3, 1)
    assert parts[0].shape == (2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="divide into 4 equal parts"):
        distributed._split_rows(batch, 4, 0)
