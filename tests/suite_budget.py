"""The suite's time budget, as pytest hooks (registered by tests/conftest.py).

The README's test command finishes within 12 minutes on CI's 2-core machine
(issue 14). CI keeps no log for a run that passes, so the suite holds itself
to the limit: a whole-suite run on two or more workers (the README's
command) that takes longer fails, naming its time, and every such run
prints its time against the budget. A run of some files, or on one worker
(`-n 0`), has no budget. KERAS_ATTENTION_SUITE_BUDGET_S sets another budget
in seconds; 0 turns the check off.
"""

import os
import time

import pytest

SUITE_BUDGET_S = 720
BUDGET_VARIABLE = "KERAS_ATTENTION_SUITE_BUDGET_S"
_START = pytest.StashKey[float]()
_OVER = pytest.StashKey[str]()


def budget_of(config):
    """The budget in seconds for this run, or None where none applies."""
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
    value = os.environ.get(BUDGET_VARIABLE, str(SUITE_BUDGET_S))
    try:
        budget = float(value)
    except ValueError:
        raise pytest.UsageError(
            f"{BUDGET_VARIABLE} must be a number of seconds (0: no budget), "
            f"got {value!r}"
        ) from None
    return budget if budget > 0 else None


def pytest_configure(config):
    config.stash[_START] = time.monotonic()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    budget = budget_of(session.config)
    elapsed = time.monotonic() - session.config.stash[_START]
    if budget is not None and elapsed > budget and exitstatus == pytest.ExitCode.OK:
        session.config.stash[_OVER] = (
            f"the suite took {elapsed:.0f} s, over its budget of {budget:.0f} s "
            f"(tests/suite_budget.py; {BUDGET_VARIABLE}=0 turns the check off)"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    budget = budget_of(config)
    if budget is None:
        return
    elapsed = time.monotonic() - config.stash[_START]
    over = config.stash.get(_OVER, None)
    terminalreporter.write_line(
        f"suite time: {elapsed:.0f} s of its {budget:.0f} s budget", red=bool(over)
    )
    if over:
        terminalreporter.write_line(f"FAILED: {over}", red=True)
