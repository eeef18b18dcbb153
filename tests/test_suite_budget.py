"""The suite's time budget (tests/suite_budget.py), on a project of one test."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\ntestpaths = checks\n")
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "conftest.py").write_text(
        "from tests.suite_budget import (  # noqa: F401\n"
        "    pytest_configure, pytest_sessionfinish, pytest_terminal_summary,\n)\n"
    )
    # Any run takes more than the 0.01 s budget the tests below set.
    (tmp_path / "checks" / "test_slow.py").write_text("def test_slow():\n    pass\n")
    return tmp_path


def _pytest(project, *args, budget=None):
    # Only xdist: the other installed plugins (Hypothesis, ...) take most of
    # a second to load in each of the three processes.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("KERAS_ATTENTION_SUITE_BUDGET_S", None)
    if budget is not None:
        env["KERAS_ATTENTION_SUITE_BUDGET_S"] = budget
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )


def test_a_whole_suite_over_its_budget_fails_and_says_by_how_much(project):
    done = _pytest(project, "-n", "2", budget="0.01")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "FAILED: the suite took " in done.stdout
    assert "over its budget of 0 s" in done.stdout


def test_a_whole_suite_within_its_budget_passes_and_prints_its_time(project):
    done = _pytest(project, "-n", "2", budget="60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "suite time: " in done.stdout and " s of its 60 s budget" in done.stdout
    assert "FAILED" not in done.stdout
    # The machine's speed beside it, measured at the start and at the end.
    speeds = re.findall(
        r"matmul (\d+) GFLOP/s, Python (\d+\.\d) M additions/s", done.stdout
    )
    assert "machine speed at the start and the end: " in done.stdout
    assert len(speeds) == 2 and all(float(g) > 0 and float(p) > 0 for g, p in speeds)


def test_by_default_the_budget_is_reported_not_enforced(project):
    done = _pytest(project, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " s of its 720 s budget" in done.stdout
    # Over the default budget (made tiny here): said, and the run passes.
    conftest = project / "checks" / "conftest.py"
    conftest.write_text(conftest.read_text() + (
        "import tests.suite_budget\ntests.suite_budget.SUITE_BUDGET_S = 0.01\n"
    ))
    done = _pytest(project, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OVER BUDGET (not enforced): the suite took " in done.stdout


@pytest.mark.parametrize(
    "args", [["-n", "0"], ["-n", "2", "checks/test_slow.py"], ["-n", "2", "-k", "slow"]]
)
def test_one_worker_or_a_selection_has_no_budget(project, args):
    done = _pytest(project, *args, budget="0.01")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "suite time" not in done.stdout


def test_zero_turns_the_budget_off_and_a_bad_value_is_named(project):
    done = _pytest(project, "-n", "2", budget="0")
    assert done.returncode == 0 and "suite time" not in done.stdout, done.stdout
    done = _pytest(project, "-n", "2", budget="ten minutes")
    assert done.returncode != 0
    assert "KERAS_ATTENTION_SUITE_BUDGET_S must be a number of seconds" in (
        done.stdout + done.stderr
    )
    assert "'ten minutes'" in done.stdout + done.stderr
