"""A benchmark script (`bench/<name>.py`) loaded as a module, for tests of
its pure functions, with `bench/` on the path while it imports (its
`from _load import ...`): `bench/_load.bench_module`, the loader the
benchmarks use for each other."""

import pathlib
import sys

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


def load_bench(name):
    sys.path.insert(0, str(BENCH))
    try:
        from _load import bench_module

        return bench_module(name)
    finally:
        sys.path.remove(str(BENCH))
