"""bench/ntm.py's parts: a run of some keeps the others' figures, each with
the run that measured it."""

import pytest

from tests.bench_modules import load_bench


@pytest.fixture(scope="module")
def ntm():
    return load_bench("ntm")


def _report(date):
    return dict(date=date, command=f"bench/ntm.py ({date})", machine={"cores": 2},
                matmul_peak_gflops=400.0)


def test_a_run_of_some_parts_keeps_the_recorded_others_with_their_run(ntm):
    first = ntm.with_parts(_report("first"), {"copy": [{"model": "ntm"}],
                                              "step_time": [{"cell": "a"}]}, {})
    assert first["runs"]["copy"]["date"] == "first"
    assert first["runs"]["timing"]["sections"] == ["step_time", "step_time_table"]
    assert first["recall"] == [] and "recall" not in first["runs"]  # never measured

    second = ntm.with_parts(_report("second"), {"memory_sweep": [{"memory_size": 128}]},
                            first)
    assert second["copy"] == [{"model": "ntm"}]
    assert second["runs"]["copy"]["date"] == "first"
    assert second["runs"]["copy"]["sections"] == ["copy", "copy_table"]
    assert second["runs"]["sweep"] == dict(_report("second"), sections=["memory_sweep"])
    assert second["step_time"] == [{"cell": "a"}]


def test_a_report_from_before_the_parts_lends_its_own_run(ntm):
    old = dict(_report("old"), copy=[{"model": "ntm"}])  # no `runs`
    merged = ntm.with_parts(_report("new"), {}, old)
    assert merged["runs"]["copy"] == dict(_report("old"), sections=["copy", "copy_table"])
