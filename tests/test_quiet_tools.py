"""Our commands print no TensorFlow, absl or LiteRT log lines unless --verbose;
each says its version; their help keeps its line breaks.

The subprocess runs leave TF_CPP_MIN_LOG_LEVEL out of the environment (the
test session sets it), as a user's shell would.
"""

import ast
import os
import pathlib
import sys
from importlib import metadata

import keras
import numpy as np
import pytest

from edge_demo.__main__ import main as edge_main
from edge_demo.quiet import quiet_logs
from keras_attention.cli import main as cli_main
from keras_attention.tour.__main__ import main as tour_main
from keras_attention_export.cli import main as export_main
from tests.commands import run
from tests.log_lines import log_lines

HIDDEN = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796436849.873880    6348 cudart_stub.cc:31] Could not find cuda drivers\n",
    b"E0000 00:00:1796436893.642302    6703 cuda_platform.cc:52] failed call to cuInit\n",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
]
SHOWN = b"error: a line of ours\n"


def user_environment(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, **extra}


# -- edge_demo.quiet ----------------------------------------------------------------


def test_quiet_logs_holds_log_lines_and_forwards_the_rest(capfd):
    before = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    with quiet_logs():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        for line in HIDDEN + [SHOWN]:
            os.write(2, line)
    assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == before
    out, err = capfd.readouterr()
    assert (out, err) == ("", SHOWN.decode())


def test_quiet_logs_shows_the_held_lines_when_the_block_fails(capfd):
    with pytest.raises(ValueError, match="boom"):
        with quiet_logs():
            os.write(2, HIDDEN[2])
            raise ValueError("boom")
    assert capfd.readouterr().err == HIDDEN[2].decode()


def test_verbose_shows_everything(capfd):
    with quiet_logs(verbose=True):
        for line in HIDDEN:
            os.write(2, line)
    assert capfd.readouterr().err == b"".join(HIDDEN).decode()


def test_held_lines_survive_a_crash():
    code = (
        "import os\nfrom edge_demo.quiet import quiet_logs\nwith quiet_logs():\n"
        f"    os.write(2, {HIDDEN[1]!r})\n    os.abort()\n"
    )
    done, transcript = run([sys.executable, "-c", code], 60)
    assert done.returncode != 0, transcript
    assert HIDDEN[1].decode() in done.stderr, transcript


# -- the commands ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quiet")
    inputs = keras.Input((4,), name="features")
    keras.Model(inputs, keras.layers.Dense(3, name="scores")(inputs)).save(
        folder / "model.keras"
    )
    return folder


def test_export_command_is_quiet_unless_verbose(saved_model):
    command = [
        sys.executable, "-m", "keras_attention_export", saved_model / "model.keras",
        "--out", saved_model / "model.tflite",
    ]
    # KERAS_BACKEND=jax too: the command converts on TensorFlow regardless.
    done, transcript = run(command, 300, env=user_environment(KERAS_BACKEND="jax"))
    assert done.returncode == 0, transcript
    assert done.stdout.startswith("wrote ") and done.stderr == "", transcript
    assert log_lines(done.stdout + done.stderr) == [], transcript
    done, transcript = run(command + ["--verbose"], 300, env=user_environment())
    assert done.returncode == 0, transcript
    # The converter's own lines (e.g. "Reading SavedModel from: ...").
    assert len(log_lines(done.stderr)) >= 5, transcript


def test_version_on_every_command(capsys):
    version = metadata.version("keras-attention")
    assert cli_main(["--version"]) == 0
    assert capsys.readouterr().out == f"keras-attention {version}\n"
    for main, prog in [
        (export_main, "keras-attention-export"),
        (edge_main, "python -m edge_demo"),
    ]:
        with pytest.raises(SystemExit) as raised:
            main(["--version"])
        assert raised.value.code == 0
        assert capsys.readouterr().out == f"{prog} {version}\n"


def _help(main, argv, capsys):
    """What `main(argv)` prints for --help; argparse exits, cli_main returns."""
    try:
        assert main(argv) == 0
    except SystemExit as raised:
        assert raised.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "main, argv, block",
    [
        (
            cli_main, ["--help"],
            "commands:\n"
            "  tour   train every family's reference models on built-in data, export them\n"
            "         to LiteRT (float32, dynamic range, int8), run them on the device\n",
        ),
        (
            tour_main, ["--help"],
            "families:\n"
            "  sequence  dates to ISO 8601: an RNN encoder-decoder, the same with\n"
            "            Bahdanau attention, a Transformer\n",
        ),
        (
            export_main, ["--help"],
            "    keras-attention-export model.keras --mode int8 --calibration calib.npz \\\n"
            "        --calibration-samples 200 --integer-io --out model_int8.tflite \\\n",
        ),
        (
            edge_main, ["--help"],
            "examples:\n"
            "  # any model from keras-attention-export: arrays by input name in, arrays\n"
            "  # by output name out (a .npz; a .npy for a model with one input). An array\n",
        ),
    ],
)
def test_help_keeps_its_line_breaks(main, argv, block, capsys):
    assert block in _help(main, argv, capsys)


def test_the_tour_command_reaches_the_tour_help(capsys):
    printed = _help(cli_main, ["tour", "--help"], capsys)
    assert printed.startswith("usage: keras-attention tour [-h] [--quick]")


def test_unknown_command(capsys):
    assert cli_main(["train"]) == 2
    assert "invalid choice: 'train'" in capsys.readouterr().err
    assert cli_main([]) == 2


BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


def test_a_benchmark_is_quiet_unless_verbose(tmp_path):
    # One benchmark end to end (its --help imports TensorFlow and LiteRT at
    # the top); the test below checks that every benchmark hides the lines
    # the same way, without a process (about 5 s) each.
    done, output = run([sys.executable, BENCH / "export.py", "--help"], 300, cwd=tmp_path,
                       env=user_environment())
    assert done.returncode == 0, output
    assert "usage:" in done.stdout and "--verbose" in done.stdout, output
    assert log_lines(done.stdout + done.stderr) == [], output


def _quiet_before_imports(path):
    """None if the first statement under `path`'s `if __name__ ==
    "__main__":` is `quiet_process("--verbose" in sys.argv[1:])` and no
    statement before that guard imports anything (at any depth: in a `try`
    too) but the standard library and `edge_demo.quiet`; else what is
    wrong."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'":
            first = ast.unparse(node.body[0])
            if first != "quiet_process('--verbose' in sys.argv[1:])":
                return f"the __main__ guard starts with {first!r}, not quiet_process"
            return None
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.level:
                return f"imports from {'.' * inner.level}{inner.module or ''} " \
                       f"(line {inner.lineno}) before quiet_process"
            if isinstance(inner, (ast.Import, ast.ImportFrom)):
                names = ([inner.module] if isinstance(inner, ast.ImportFrom)
                         else [alias.name for alias in inner.names])
                heavy = [n for n in names if n != "edge_demo.quiet"
                         and n.split(".")[0] not in sys.stdlib_module_names]
                if heavy:
                    return f"imports {heavy[0]} (line {inner.lineno}) before quiet_process"
    return "never calls quiet_process under if __name__ == '__main__'"


@pytest.mark.parametrize(
    "script", sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")))
def test_every_benchmark_hides_the_lines_before_importing_tensorflow(script):
    assert _quiet_before_imports(BENCH / script) is None, (
        f"bench/{script}: {_quiet_before_imports(BENCH / script)}")


def test_the_quiet_check_finds_a_late_or_missing_call(tmp_path):
    guard = 'if __name__ == "__main__":\n    quiet_process("--verbose" in sys.argv[1:])\n'
    cases = {
        "import sys\nimport numpy as np\nfrom edge_demo.quiet import quiet_process\n" + guard:
            "imports numpy (line 2) before quiet_process",
        "import sys\ntry:\n    import tensorflow\nexcept ImportError:\n    pass\n" + guard:
            "imports tensorflow (line 3) before quiet_process",
        "import sys\nfrom . import helpers\n" + guard:
            "imports from . (line 2) before quiet_process",
        "import sys\nif __name__ == \"__main__\":\n    import keras\n"
        "    quiet_process(\"--verbose\" in sys.argv[1:])\n":
            "the __main__ guard starts with 'import keras', not quiet_process",
        "import sys\nfrom edge_demo.quiet import quiet_process\n":
            "never calls quiet_process under if __name__ == '__main__'",
        "import sys\nfrom edge_demo.quiet import quiet_process\n" + guard + "import keras\n":
            None,
    }
    for i, (source, problem) in enumerate(cases.items()):
        script = tmp_path / f"script_{i}.py"
        script.write_text(source)
        assert _quiet_before_imports(script) == problem, source
