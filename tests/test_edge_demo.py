"""edge_demo's tests, run where TensorFlow is not installed.

edge_demo claims to need only numpy and the LiteRT runtime. This suite makes
that a checked fact: it builds a virtual environment from
edge_demo/requirements.txt alone (`build/venv-edge`, reused while the
requirements are unchanged), builds the fixture models here with Keras, and
runs edge_demo/tests in that environment. So the README's one test command
covers it, and CI with it.
"""

import os
import pathlib
import re
import shutil
import sys

import pytest

from edge_demo import runtime
from keras_attention_export import metadata
from tests import edge_fixtures
from tests.commands import run

REPO = pathlib.Path(__file__).resolve().parents[1]
VENV = REPO / "build" / "venv-edge"
REQUIREMENTS = REPO / "edge_demo" / "requirements.txt"


@pytest.fixture(scope="module")
def edge_python():
    """The Python of a TensorFlow-free environment with edge_demo's requirements."""
    requirements = REQUIREMENTS.read_text(encoding="utf-8")
    # The test runner's range lives in requirements.txt too, as a comment, so
    # a device installing the runtime does not get pytest.
    (pytest_requirement,) = re.findall(r"^# test: (.+)$", requirements, flags=re.M)
    python, stamp = VENV / "bin" / "python", VENV / "requirements.stamp"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == requirements:
        done, _ = run([python, "-c", "import numpy, ai_edge_litert, pytest"], 120)
        if done.returncode == 0:
            return python
    shutil.rmtree(VENV, ignore_errors=True)
    for command in (
        [sys.executable, "-m", "venv", VENV],
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            REQUIREMENTS,
            pytest_requirement,
        ],
    ):
        done, output = run(command, 900)
        assert done.returncode == 0, output
    stamp.write_text(requirements, encoding="utf-8")
    return python


def test_tensorflow_and_keras_are_absent_from_the_edge_environment(edge_python):
    for name in ("tensorflow", "keras"):
        done, output = run([edge_python, "-c", f"import {name}"], 60)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, output


def test_edge_demo_suite_passes_without_tensorflow(edge_python, tmp_path):
    edge_fixtures.build(tmp_path)
    env = {**os.environ, "EDGE_FIXTURES": str(tmp_path)}
    env.pop("PYTHONPATH", None)  # nothing from this environment may leak in
    # From the repository root, so `import edge_demo` finds the source tree.
    done, output = run(
        [
            edge_python,
            "-m",
            "pytest",
            "edge_demo/tests",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        600,
        cwd=REPO,
        env=env,
    )
    print(output)
    assert done.returncode == 0, output
    assert re.search(r"\b\d+ passed\b", done.stdout), output


def test_edge_runtime_reads_the_format_export_writes():
    assert (runtime.FORMAT, runtime.VERSION) == (metadata.FORMAT, metadata.VERSION)
