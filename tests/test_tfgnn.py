"""The TF-GNN adapter's tests, run in a process of their own.

TF-GNN 1.0 needs Keras 2 behind `tf.keras` (`tf-keras`, chosen by
TF_USE_LEGACY_KERAS=1 before TensorFlow is imported), which this process
cannot switch to. So this driver installs tensorflow-gnn and tf-keras once,
without their dependencies (apache-beam and more, none of which the
GraphTensor or GATv2Conv need), into `build/gnn-site` (reused while the
requirements are unchanged), and runs tests/gnn in a subprocess with that
folder on PYTHONPATH. The main suite's conftest ignores tests/gnn, so this
is its only runner; the README's one test command covers it.
"""

import os
import pathlib
import re
import shutil
import sys

import pytest

from keras_attention import tfgnn as adapter
from keras_attention.data import graphs
from tests.commands import run

REPO = pathlib.Path(__file__).resolve().parents[1]
SITE = REPO / "build" / "gnn-site"
REQUIREMENTS = (
    "tensorflow-gnn==1.0.3",
    "tf-keras>=2.21,<2.22",
    "ml_collections",
    "pyyaml",
)
# What pip says when a package (or a version in range) is not in the index.
UNAVAILABLE = ("No matching distribution found", "Could not find a version")


@pytest.fixture(scope="module")
def gnn_site():
    """`build/gnn-site`, holding tensorflow-gnn and tf-keras."""
    stamp = SITE / "requirements.stamp"
    wanted = "\n".join(REQUIREMENTS)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return SITE
    partial = SITE.with_name(SITE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    done, output = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            partial,
            *REQUIREMENTS,
        ],
        900,
    )
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        if any(message in output for message in UNAVAILABLE):
            pytest.skip(f"the TF-GNN packages are not available to pip:\n{output}")
        pytest.fail(f"installing the TF-GNN packages failed:\n{output}")
    (partial / "requirements.stamp").write_text(wanted, encoding="utf-8")
    shutil.rmtree(SITE, ignore_errors=True)
    partial.rename(SITE)
    return SITE


def test_tfgnn_suite_passes_in_its_own_process(gnn_site):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(gnn_site), str(REPO)]),
        "TF_USE_LEGACY_KERAS": "1",
    }
    # --confcutdir: tests/conftest.py (which ignores tests/gnn) stays out;
    # tests/gnn/conftest.py sets up the process instead.
    done, output = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/gnn",
            "-q",
            "-p",
            "no:cacheprovider",
            "--confcutdir",
            "tests/gnn",
        ],
        900,
        cwd=REPO,
        env=env,
    )
    print(output)
    assert done.returncode == 0, output
    assert re.search(r"\b\d+ passed\b", done.stdout), output
    assert not re.search(r"\b\d+ (skipped|xfailed|deselected)\b", done.stdout), output


def test_missing_tfgnn_says_how_to_install_it(monkeypatch):
    # A None entry makes `import tensorflow_gnn` fail as if it were absent.
    monkeypatch.setitem(sys.modules, "tensorflow_gnn", None)
    for call in (
        lambda: adapter.to_graph_tensor(graphs.karate_club()),
        lambda: adapter.from_graph_tensor(None),
        lambda: adapter.graph_tensor_to_inputs(None),
    ):
        with pytest.raises(ImportError) as raised:
            call()
        message = str(raised.value)
        assert "the module 'tensorflow_gnn' is missing" in message
        assert 'pip install "keras-attention[gnn]"' in message
        assert "TF_USE_LEGACY_KERAS=1" in message
        assert "before TensorFlow is imported" in message
