"""The installs without TensorFlow: `keras-attention[edge]`, then JAX.

edge_demo claims to need only numpy and the LiteRT runtime, and the layers
claim to need only Keras and a backend. This suite makes both checked facts:
it builds a virtual environment with `pip install ".[edge]"` from this
repository alone (`build/venv-edge`, rebuilt when pyproject.toml changes;
the package itself is reinstalled every run), builds the fixture models here
with Keras, and runs edge_demo/tests in that environment. It then adds JAX
to the same environment and imports the library on the JAX backend. So the
README's one test command covers both, and CI with it.
"""

import os
import pathlib
import re
import shutil
import sys
import tomllib

import pytest

from edge_demo import runtime
from keras_attention_export import metadata
from tests import edge_fixtures
from tests.commands import run

REPO = pathlib.Path(__file__).resolve().parents[1]
VENV = REPO / "build" / "venv-edge"
PYPROJECT = REPO / "pyproject.toml"
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def _extra(name):
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return project["optional-dependencies"][name]


def _requirement(extra, package):
    (found,) = [r for r in _extra(extra) if re.match(rf"{package}[\[<>=~! ]", r)]
    return found


@pytest.fixture(scope="module")
def edge_python():
    """The Python of an environment made by `pip install ".[edge]"` (and pytest)."""
    stamp_text = PYPROJECT.read_text(encoding="utf-8")
    python, stamp = VENV / "bin" / "python", VENV / "pyproject.stamp"
    fresh = not (stamp.is_file() and stamp.read_text(encoding="utf-8") == stamp_text)
    if fresh:
        shutil.rmtree(VENV, ignore_errors=True)
        done, output = run([sys.executable, "-m", "venv", VENV], 300)
        assert done.returncode == 0, output
        command = [python, *PIP, f"{REPO}[edge]", _requirement("test", "pytest")]
    else:  # the dependencies are current: reinstall our package alone
        command = [python, *PIP, "--no-deps", "--force-reinstall", str(REPO)]
    # From another folder, so that nothing of the source tree is importable.
    done, output = run(command, 900, cwd=VENV)
    assert done.returncode == 0, output
    stamp.write_text(stamp_text, encoding="utf-8")
    return python


def test_the_edge_extra_installs_no_tensorflow(edge_python):
    for name in ("tensorflow", "tf_keras"):
        done, output = run([edge_python, "-c", f"import {name}"], 60)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, output


def test_the_edge_extra_matches_edge_demo_requirements():
    """A device without our package installs edge_demo/requirements.txt."""
    lines = (REPO / "edge_demo" / "requirements.txt").read_text(encoding="utf-8")
    listed = {line.strip() for line in lines.splitlines()
              if line.strip() and not line.startswith("#")}
    assert listed == set(_extra("edge"))


def test_installed_edge_demo_runs(edge_python, tmp_path):
    # From an empty folder: the installed package, not the source tree.
    done, output = run([edge_python, "-m", "edge_demo", "--help"], 120, cwd=tmp_path)
    assert done.returncode == 0, output
    assert "usage" in done.stdout, output
    done, output = run(
        [edge_python, "-c", "import edge_demo; print(edge_demo.__file__)"],
        60, cwd=tmp_path,
    )
    assert str(VENV) in done.stdout, output


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


@pytest.fixture(scope="module")
def jax_python(edge_python):
    """The edge environment with JAX added: Keras and a backend, no TensorFlow."""
    done, output = run(
        [edge_python, *PIP, _requirement("test", "jax")], 900, cwd=VENV
    )
    assert done.returncode == 0, output
    return edge_python


LIGHT_IMPORT = """
import sys
import keras_attention
from keras_attention import layers, models
from keras_attention import (
    AttentionPooling, BahdanauAttention, BahdanauDecoder, BahdanauDecoderCell,
    GraphAttention, GraphConvolution, GraphPooling, LearnedPositionalEmbedding,
    MultiHeadSelfAttention, NTMCell, SinusoidalPositionalEmbedding,
    TransformerDecoderBlock, TransformerEncoderBlock, RNNSeq2Seq, TransformerSeq2Seq,
)
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
for name in layers.__all__:
    assert getattr(keras_attention, name) is getattr(layers, name), name
x = keras.random.normal((2, 5, 16))
y = MultiHeadSelfAttention(num_heads=2, key_dim=8)(x)
assert tuple(y.shape) == (2, 5, 16), y.shape
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
print("tensorflow modules:", loaded)
assert not loaded
"""


def test_the_library_imports_on_jax_without_tensorflow(jax_python, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("PYTHONPATH", None)
    done, output = run([jax_python, "-c", LIGHT_IMPORT], 300, cwd=tmp_path, env=env)
    assert done.returncode == 0, output
    assert "tensorflow modules: []" in done.stdout, output


def test_a_tensorflow_feature_names_what_to_install(jax_python, tmp_path):
    code = (
        "from keras_attention.data import ntm_tasks\n"
        "try:\n"
        "    ntm_tasks.copy_dataset(batch_size=2, seed=0)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("PYTHONPATH", None)
    done, output = run([jax_python, "-c", code], 300, cwd=tmp_path, env=env)
    assert done.returncode == 0, output
    assert "needs TensorFlow, which is not installed" in done.stdout, output
    assert "keras-attention[tensorflow]" in done.stdout, output
