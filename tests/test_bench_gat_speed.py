"""bench/gat_speed.py's scaling sweep: one configuration's process, and
the growth the table reports."""

import json
import subprocess
import sys

import pytest

from tests.bench_modules import BENCH, load_bench


@pytest.fixture(scope="module")
def gat_speed():
    return load_bench("gat_speed")


def _row(edges, seconds, memory_mib, name="ours_gat", jit=True, status="ok"):
    return dict(implementation=name, jit_compile=jit, edges=edges, seconds=seconds,
                memory_mib=memory_mib, status=status)


def test_growth_is_over_the_previous_edge_count_of_the_same_configuration(gat_speed):
    rows = []
    for row in (_row(1000, 0.01, 10.0), _row(1000, 0.05, 30.0, jit=False),
                _row(3000, 0.02, 40.0, status="out of memory"), _row(10_000, 0.08, 50.0)):
        gat_speed._add_growth(row, rows)
        rows.append(row)
    first, eager, failed, last = rows
    assert "time_growth" not in first and "time_growth" not in eager
    assert "time_growth" not in failed
    # Over the 1,000-edge XLA row, not the eager one nor the failed one.
    assert last["edges_growth"] == pytest.approx(10.0)
    assert last["time_growth"] == pytest.approx(8.0)
    assert last["memory_growth"] == pytest.approx(5.0)


def test_a_sweep_worker_reports_time_and_memory_from_its_own_process(tmp_path):
    command = [sys.executable, str(BENCH / "gat_speed.py"), "--sweep-worker", "ours_gatv2,0",
               "--nodes", "500", "--edges", "4000", "--features", "8", "--heads", "2",
               "--units", "4", "--repeats", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"seconds", "first_seconds", "memory_mib"}
    # The first call traces and compiles; the median is of the calls after it.
    assert 0 < result["seconds"] < result["first_seconds"]
    assert result["memory_mib"] >= 0


def test_a_failed_run_names_its_reason_not_its_last_log_line(gat_speed):
    done = subprocess.CompletedProcess(
        [], 1, stdout="",
        stderr="ResourceExhausted: OOM when allocating tensor [5000000,64]\nI0000 a log line\n")
    assert gat_speed.failed_run(done) == (
        "out of memory", "ResourceExhausted: OOM when allocating tensor [5000000,64]")
    killed = subprocess.CompletedProcess([], -9, stdout="", stderr="")
    assert gat_speed.failed_run(killed) == ("out of memory", "")
    other = subprocess.CompletedProcess([], 2, stdout="", stderr="ValueError: bad --edges\n")
    assert gat_speed.failed_run(other) == ("failed (2)", "ValueError: bad --edges")
