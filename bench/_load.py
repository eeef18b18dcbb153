"""Helpers the benchmarks share: loading a neighbour, printing the JSON.

`bench_module` gives another benchmark of this folder as a module, loaded
by path (bench/ is no package).
"""

import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def bench_module(name):
    """`bench/<name>.py`, loaded as the module `bench_<name>`."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", os.path.join(HERE, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def emit_json(report, path=None):
    """Print `report` as one JSON line, and write it indented to `path` if
    given, atomically (a failed write leaves the old file)."""
    from edge_demo.files import write_atomically

    print(json.dumps(report))
    if path:
        write_atomically(path, json.dumps(report, indent=2))
