"""What the package installs, and which of its packages may import which.

- `lint-imports` holds the import contracts of pyproject.toml, and a
  forbidden import (planted in a copy of the packages) breaks them.
- `python -m build` makes an sdist and a wheel without a warning; the wheel
  installs exactly the import names keras_attention, keras_attention_export
  and edge_demo, with the license; the sdist holds the tests and the README.
- A user's own `export.py` shadows nothing of ours.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

from tests.commands import run

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# Source folder -> import name, as pyproject.toml's package-dir maps them.
IMPORT_NAMES = {"keras_attention": "keras_attention", "export": "keras_attention_export",
                "edge_demo": "edge_demo"}


def _lint_imports(config, cwd, pythonpath=None):
    env = {**os.environ}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return run([BIN / "lint-imports", config, "--no-cache", "--no-logo"], 300,
               cwd=cwd, env=env)


def test_import_contracts_hold():
    done, output = _lint_imports(REPO / "pyproject.toml", REPO)
    assert done.returncode == 0, output
    count = len(PYPROJECT["tool"]["importlinter"]["contracts"])
    assert f"Contracts: {count} kept, 0 broken." in done.stdout, output


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """The three packages copied under their import names, with the config."""
    root = tmp_path_factory.mktemp("packages")
    for folder, name in IMPORT_NAMES.items():
        shutil.copytree(REPO / folder, root / name,
                        ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_import_contracts_hold_on_the_copy(package_copy):
    # The copy is what the next test breaks: it must pass as it is.
    done, output = _lint_imports(package_copy / "pyproject.toml", package_copy,
                                 pythonpath=package_copy)
    assert done.returncode == 0, output


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("keras_attention/models/rnn_seq2seq.py",
         "from keras_attention_export.tflite import convert",
         "One way: layers, data, models, then export, then the applications"),
        ("keras_attention/layers/multi_head_self_attention.py",
         "import tensorflow as tf",
         "The layers use keras.ops only: no TensorFlow, no plotting"),
        ("keras_attention/models/graph_models.py",
         "from keras_attention import plotting",
         "The reference models and data import neither plotting nor the exporter"),
        ("edge_demo/runtime.py", "import keras_attention",
         "The edge runtime uses nothing of ours, nor TensorFlow or Keras"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(package_copy, tmp_path, module, line,
                                              contract):
    root = tmp_path / "packages"
    shutil.copytree(package_copy, root)
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    done, output = _lint_imports(root / "pyproject.toml", root, pythonpath=root)
    print(output)
    assert done.returncode != 0, output
    assert f"{contract} BROKEN" in done.stdout, output
    dotted = module.removesuffix(".py").replace("/", ".")
    assert dotted in done.stdout, f"the report does not name {dotted}"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """`(sdist, wheel, build output)` of `python -m build`."""
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}  # this machine's pip
    # config (extra indexes it warns about) is no part of the package's build;
    # byte-compiling is the build's own default, whatever the caller's shell says.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done, output = run([sys.executable, "-m", "build", "--outdir", out, REPO], 600,
                       env=env, cwd=out)
    assert done.returncode == 0, output
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel, done.stdout + done.stderr


def test_build_prints_no_warning(dist):
    *_, output = dist
    warnings = [line for line in output.splitlines() if "warn" in line.lower()]
    assert warnings == [], "\n".join(warnings)


def test_the_wheel_installs_our_three_import_names_and_the_license(dist):
    _, wheel, _ = dist
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(
        ".dist-info")}
    assert top == set(IMPORT_NAMES.values())
    assert "export/__init__.py" not in names
    assert "keras_attention_export/tflite.py" in names
    assert not [n for n in names if "/tests/" in n], "tests belong in the sdist only"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert "License-Expression: Apache-2.0" in text
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Requires-Dist: tensorflow" not in text.split("Provides-Extra")[0], (
        "TensorFlow must be an extra, not a base dependency"
    )


def test_the_sdist_holds_the_tests_the_readme_and_the_docs(dist):
    sdist, _, _ = dist
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "edge_demo/tests", "bench", "docs"], cwd=REPO,
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert tracked, "git ls-files found no tests"
    missing = sorted(set(tracked) - names)
    assert not missing, f"the sdist lacks {missing}"
    for name in ("README.md", "LICENSE", "pyproject.toml", "setup.cfg", "mkdocs.yml",
                 "edge_demo/requirements.txt"):
        assert name in names, name
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_a_users_export_py_shadows_nothing(tmp_path):
    (tmp_path / "export.py").write_text("raise SystemExit('the user export.py ran')\n")
    done, output = run(
        [sys.executable, "-c",
         "import keras_attention_export, edge_demo, keras_attention; "
         "print(keras_attention_export.__name__, keras_attention_export.__file__)"],
        300, cwd=tmp_path,
    )
    assert done.returncode == 0, output
    assert "keras_attention_export" in done.stdout, output
    assert str(tmp_path) not in done.stdout, output


def test_the_readme_lists_every_extra():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for extra in PYPROJECT["project"]["optional-dependencies"]:
        assert f"`{extra}`" in readme, f"README.md does not list the extra {extra!r}"
    assert "keras_attention_export" in readme


EXPORT_WITH_THE_EXPORT_EXTRA_ONLY = """
import importlib.abc, sys

# Only what the `export` extra brings (TensorFlow, ai-edge-litert) and the base
# install (Keras, numpy) may be imported: everything the other extras bring
# fails to import, as if it were not installed.
OTHER_EXTRAS = ("sentencepiece", "sacrebleu", "matplotlib", "skimage", "PIL", "tf2onnx",
                "onnxruntime", "jax", "torch", "tensorflow_gnn", "tf_keras")

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OTHER_EXTRAS:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NotInstalled())

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from keras_attention import MultiHeadSelfAttention
from keras_attention_export import export_tflite

inputs = keras.Input((6, 8))
model = keras.Model(inputs, MultiHeadSelfAttention(num_heads=2, key_dim=4)(inputs))
x = np.random.default_rng(0).normal(size=(1, 6, 8)).astype("float32")
for mode in ("float32", "dynamic", "int8"):
    path = f"model_{mode}.tflite"
    export_tflite(model, path, mode=mode, representative_data=x.repeat(8, 0)
                  if mode == "int8" else None)
    runner = Interpreter(model_path=path).get_signature_runner()
    (output,) = runner(**{next(iter(runner.get_input_details())): x}).values()
    want = keras.ops.convert_to_numpy(model(x))
    error = float(np.abs(output - want).max())
    print(mode, "max error", error)
    # int8: an activation step is 1/255 of its range (about 2x the output's
    # largest magnitude), and a few steps add up through the four projections.
    tolerance = 0.05 * float(np.abs(want).max()) if mode == "int8" else 1e-4
    assert error < tolerance, (mode, error, tolerance)
print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in OTHER_EXTRAS))
"""


def test_the_tflite_export_needs_only_the_export_extra(tmp_path):
    done, output = run([sys.executable, "-c", EXPORT_WITH_THE_EXPORT_EXTRA_ONLY],
                       600, cwd=tmp_path)
    assert done.returncode == 0, output
    assert "int8 max error" in done.stdout and "loaded: []" in done.stdout, output


def test_no_layer_file_is_over_400_lines():
    # Issue 15: one job per class, and no layer module a reader must page
    # through; the attention core sits at the limit.
    long_files = {
        path.name: lines
        for path in sorted((REPO / "keras_attention" / "layers").glob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long_files, f"layer files over 400 lines: {long_files}"
