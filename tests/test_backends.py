"""The layers and reference models on the JAX and PyTorch backends.

Each backend runs tests/backend_checks.py in a process of its own (Keras
picks its backend once, at import); the TensorFlow backend runs the same
checks in this process, through the layer tests and their harness.
"""

import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("backend_checks.py")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_checks(backend):
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "CUDA_VISIBLE_DEVICES": "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} python {SCRIPT.name} exited with "
        f"{result.returncode}:\n{result.stdout}\n{result.stderr[-5000:]}"
    )
