"""Runs tests/backend_checks.py on one Keras backend, in a process of its own.

Keras picks its backend once, at import, so each backend gets a process. One
test file per backend (tests/test_backend_jax.py, tests/test_backend_torch.py)
lets `pytest -n 2 --dist loadfile` run the two side by side; the TensorFlow
backend runs the same checks in the main suite, through the layer tests and
their harness.
"""

import os
import pathlib
import subprocess
import sys
import tempfile

from tests.commands import FAST_COMPILE_FLAGS

SCRIPT = pathlib.Path(__file__).with_name("backend_checks.py")


def run_backend_checks(backend):
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "CUDA_VISIBLE_DEVICES": "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    with tempfile.TemporaryDirectory() as cache:
        if backend == "jax":
            # JAX compiles every eager op and every step; FAST_COMPILE_FLAGS
            # change no result the checks compare and save 40% of the time. Many items compile the same program (a
            # model and its reloaded copy, one layer in several checks): a
            # compilation cache keyed by the program, for this run only,
            # compiles each once.
            env["XLA_FLAGS"] = FAST_COMPILE_FLAGS
            env["JAX_COMPILATION_CACHE_DIR"] = cache
            env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
            env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
        result = subprocess.run(
            [sys.executable, str(SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    print(result.stdout)  # the PASS/FAIL table, shown with -s or on failure
    assert result.returncode == 0, (
        f"KERAS_BACKEND={backend} python {SCRIPT.name} exited with "
        f"{result.returncode}:\n{result.stdout}\n{result.stderr[-5000:]}"
    )
    assert f"{backend}: " in result.stdout and " 0 failed in " in result.stdout, (
        result.stdout
    )
