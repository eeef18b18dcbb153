"""The suite's time budget, as pytest hooks (registered by tests/conftest.py).

The README's test command should finish within 12 minutes on CI's 2-core
machine (issue 14). A whole-suite run on two or more workers (the README's
command) prints its time against that budget, and says so when it is over.
With KERAS_ATTENTION_SUITE_BUDGET_S set (seconds), a run over the budget
fails, naming its time: CI keeps no log for a run that passes, so a gated
run that passes is the measurement. A run of some files, or on one worker
(`-n 0`), has no budget.

The gate is off by default for now: the suite took 754 s on the 2-core
machine once the documentation's build and pages joined it (issue 17), and
a gate that fails CI would hold back every change until the suite is cut.
The same tree has taken 653 s and 753 s an hour apart on the same machine
(no steal time shown): the report names the machine's speed at the start
and at the end of the run (`machine_speed`), so that a slow hour can be told
from a slower suite.
"""

import os
import time

import pytest

SUITE_BUDGET_S = 720
BUDGET_VARIABLE = "KERAS_ATTENTION_SUITE_BUDGET_S"
_START = pytest.StashKey[float]()
_BUDGET = pytest.StashKey[object]()  # budget_of's answer, read once
_ELAPSED = pytest.StashKey[float]()
_SPEEDS = pytest.StashKey[list]()


def machine_speed():
    """`(matmul GFLOP/s, Python Mloops/s)` of this process, in about 0.3 s:
    the best of 3 float32 256x256 products (numpy's BLAS) and of 3 runs of
    200,000 pure-Python additions, the two kinds of work the tests do."""
    import numpy as np

    a = np.ones((256, 256), np.float32)
    matmul = python = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(20):
            a @ a
        matmul = min(matmul, time.perf_counter() - start)
        start = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i
        python = min(python, time.perf_counter() - start)
    return 20 * 2 * 256**3 / matmul / 1e9, 0.2 / python


def budget_of(config):
    """(budget in seconds, enforced) for this run, or None where none applies."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller checks
        return None
    workers = getattr(config.option, "numprocesses", None)
    whole_suite = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.keyword
        and not config.option.markexpr
    )
    if not (whole_suite and isinstance(workers, int) and workers >= 2):
        return None
    value = os.environ.get(BUDGET_VARIABLE)
    if value is None:
        return SUITE_BUDGET_S, False
    try:
        budget = float(value)
    except ValueError:
        raise pytest.UsageError(
            f"{BUDGET_VARIABLE} must be a number of seconds (0: no budget), "
            f"got {value!r}"
        ) from None
    return (budget, True) if budget > 0 else None


def pytest_configure(config):
    config.stash[_START] = time.monotonic()
    config.stash[_BUDGET] = budget_of(config)
    if config.stash[_BUDGET] is not None:
        config.stash[_SPEEDS] = [machine_speed()]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    config.stash[_ELAPSED] = time.monotonic() - config.stash[_START]
    budget = config.stash[_BUDGET]
    if budget is None:
        return
    limit, enforced = budget
    if enforced and config.stash[_ELAPSED] > limit and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    budget = config.stash[_BUDGET]
    if budget is None:
        return
    limit, enforced = budget
    elapsed = config.stash[_ELAPSED]
    over = elapsed > limit
    terminalreporter.write_line(
        f"suite time: {elapsed:.0f} s of its {limit:.0f} s budget", red=over
    )
    speeds = config.stash[_SPEEDS] + [machine_speed()]
    terminalreporter.write_line(
        "machine speed at the start and the end: "
        + ", then ".join(
            f"matmul {gflops:.0f} GFLOP/s, Python {mloops:.1f} M additions/s"
            for gflops, mloops in speeds
        )
    )
    if over:
        verdict = "FAILED" if enforced else "OVER BUDGET (not enforced)"
        terminalreporter.write_line(
            f"{verdict}: the suite took {elapsed:.0f} s, over its budget of "
            f"{limit:.0f} s (tests/suite_budget.py; {BUDGET_VARIABLE} enforces "
            "it, 0 turns it off)",
            red=True,
        )
