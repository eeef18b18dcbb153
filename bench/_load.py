"""Helpers the benchmarks share: loading a neighbour, printing the JSON,
keeping the parts of a report that a run left out.

`bench_module` gives another benchmark of this folder as a module, loaded
by path (bench/ is no package).
"""

import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# Device modes beside export's: int8 with some ops left in float (export's
# `float_ops`), whose int8 kernels ran slower than float32's on LiteRT's
# XNNPACK (bench/litert_ops.py). `int8_float_attention`: attention's
# products of two activations and its softmax. `int8_dense`: int8 only in
# the products with weights (FULLY_CONNECTED, CONV_2D); the normalizations
# and the elementwise sums and products stay float too.
INT8_VARIANTS = {
    "int8_float_attention": ("BATCH_MATMUL", "SOFTMAX"),
    "int8_dense": ("BATCH_MATMUL", "SOFTMAX", "MEAN", "RSQRT", "SUB", "MUL", "ADD"),
}


def bench_module(name):
    """`bench/<name>.py`, loaded as the module `bench_<name>`."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", os.path.join(HERE, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def limit_data(gib):
    """Cap this process's data at `gib` GiB (RLIMIT_DATA): a sweep worker
    that would need more fails with a memory error, which its parent
    records, rather than swapping the machine."""
    import resource

    limit = int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def recorded_report(path):
    """The report at `path` (`--json`) before this run, or {}."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file)


def emit_json(report, path=None):
    """Print `report` as one JSON line, and write it indented to `path` if
    given, atomically (a failed write leaves the old file)."""
    from edge_demo.files import write_atomically

    print(json.dumps(report))
    if path:
        write_atomically(path, json.dumps(report, indent=2))


def keep_other_parts(report, path, parts, part_keys):
    """`report`, with the parts it did not run taken from the report at
    `path` where there is one.

    A benchmark in parts (`--parts`) writes, for each part it ran, the keys
    `part_keys[part]` and a run in `report["runs"][part]` (its date, machine,
    peak and command); a later run of some parts keeps the others' figures
    and runs from the file, so that the JSON always holds every part, each
    with the run that measured it.
    """
    if not path or not os.path.exists(path) or set(parts) == set(part_keys):
        return report
    with open(path) as file:
        old = json.load(file)
    merged = dict(report, runs={**old.get("runs", {}), **report["runs"]})
    for part in set(part_keys) - set(parts):
        for key in part_keys[part]:
            if key in old:
                merged[key] = old[key]
    return merged


MEMORY_WORDS = ("ResourceExhausted", "bad_alloc", "MemoryError", "OOM",
                "Cannot allocate memory", "failed to allocate")


def failed_run(done):
    """`(status, error)` of a benchmark subprocess that exited non-zero:
    "out of memory" when its output says so or a signal killed it, else
    "failed (code)"; the error is the line that says why (not the last log
    line), at most 300 characters."""
    lines = (done.stdout + done.stderr).strip().splitlines()
    memory_lines = [line for line in lines if any(word in line for word in MEMORY_WORDS)]
    status = ("out of memory" if memory_lines or done.returncode < 0
              else f"failed ({done.returncode})")
    return status, (memory_lines or lines or [""])[-1].strip()[-300:]


def machine():
    """The processor, cores and library versions a report names."""
    import platform

    import keras
    import tensorflow as tf

    return dict(processor=platform.processor() or platform.machine(),
                cores=os.cpu_count(), tensorflow=tf.__version__, keras=keras.__version__)


def resident_kib():
    """This process's resident memory now, KiB (Linux's VmRSS)."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")
