"""edge_demo's tests run where TensorFlow is not installed, on fixture models
built beforehand in the TensorFlow environment:

    .venv/bin/python -m tests.edge_fixtures /tmp/edge-fixtures
    EDGE_FIXTURES=/tmp/edge-fixtures \
        build/venv-edge/bin/python -m pytest edge_demo/tests

tests/test_edge_demo.py does both (and builds that environment).
"""

import os
import pathlib
import shutil

import pytest

NAMES = [
    "classifier_float32",
    "classifier_int8",
    "seq2seq",
    "node_classifier_int8",
    "ntm_copy",
    "translation",
]
# Files that lie beside a model and are named in its metadata.
COMPANIONS = ["translation.source.model", "translation.target.model"]


@pytest.fixture(scope="session")
def fixtures_dir():
    path = os.environ.get("EDGE_FIXTURES")
    if not path:
        pytest.fail(
            "EDGE_FIXTURES is not set: build the fixture models with "
            "`python -m tests.edge_fixtures DIR` in the TensorFlow environment "
            "and set EDGE_FIXTURES=DIR (tests/test_edge_demo.py does this)",
            pytrace=False,
        )
    path = pathlib.Path(path)
    files = [n + ext for n in NAMES for ext in (".tflite", ".json")] + COMPANIONS
    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        pytest.fail(f"EDGE_FIXTURES={path} lacks {missing}", pytrace=False)
    return path


@pytest.fixture
def copy_fixture(fixtures_dir, tmp_path):
    """`copy_fixture(name)`: a private copy of a fixture to corrupt; its paths."""

    def copy(name):
        model, meta = tmp_path / f"{name}.tflite", tmp_path / f"{name}.json"
        shutil.copy(fixtures_dir / f"{name}.tflite", model)
        shutil.copy(fixtures_dir / f"{name}.json", meta)
        return model, meta

    return copy
