import gc
import os

collect_ignore = ["gnn"]  # run by tests/test_tfgnn.py in its own process
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.commands import FAST_COMPILE_FLAGS  # noqa: E402  (no TensorFlow)
# The suite's time budget (tests/suite_budget.py): its hooks, registered here.
from tests.suite_budget import (  # noqa: E402, F401
    pytest_configure,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
# XLA compiles hundreds of small programs here (every `jit_compile=True`
# fit, every compiled search); with FAST_COMPILE_FLAGS each compiles faster
# (test_translation_models.py: a sixth less CPU time without LLVM's
# optimisation passes) and runs slower (a Neural Turing Machine step: about
# 3x), so the quick tour, which trains for hundreds of steps, runs in a
# subprocess without them (`tests.commands.optimized_xla_environment`).
# Set before TensorFlow's first import; the tests' other subprocesses
# inherit them.
if FAST_COMPILE_FLAGS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " " + FAST_COMPILE_FLAGS
    ).strip()

# Each of N workers (pytest-xdist) gets its share of the cores: TensorFlow's
# thread pools, OpenMP's (PyTorch) and OpenBLAS's sized to it, in the worker
# and in the processes it starts. With a pool per core in each of 2 workers on
# 2 cores, each worker's threads waited on the other's: two test files run
# side by side took 6 to 14% more wall and CPU time (test_export.py with
# test_transformer_blocks.py, test_seq2seq_models.py with
# test_translation_models.py). Set before TensorFlow's first import; a value
# already set is kept.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _CORES = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count() or 1
    )
    _SHARE = str(max(1, _CORES // _WORKERS))
    for _name in ("TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, _SHARE)

import keras  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests (Hypothesis): the same examples on every run, so that CI
# cannot pass or fail by the draw; no deadline, since a layer's first call
# traces; no example database written into the checkout.
settings.register_profile(
    "suite",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("suite")

# The slowest test files, slowest first (seconds on the 2-core machine, from
# `--durations`). They run first so that, under `pytest -n auto --dist
# loadfile --no-loadscope-reorder` (the README's command), no worker starts a
# long file while the other one runs out of work.
SLOW_FIRST = [
    "test_tour.py",
    "test_backend_jax.py",
    "test_backend_torch.py",
    "test_tour_images.py",
    "test_translation_models.py",
    "test_translation_report.py",
    "test_distributed.py",
    "test_seq2seq_models.py",
    "test_xlnet.py",
    "test_captioning.py",
    "test_edge_demo.py",
    "test_ntm_models.py",
    "test_graph_models.py",
    "test_vision_models.py",
    "test_layer_safety.py",
    "test_edge_safety.py",
    "test_graph_safety.py",
    "test_export_safety.py",
]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    # A stable sort: the other files, and the tests within a file, keep
    # their order.
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))
    # What the imports made (TensorFlow alone: about 400,000 objects) lives
    # as long as the process: moved out of the collector's reach, it is not
    # traversed again by every full collection.
    gc.freeze()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32, a fixed seed and an empty session."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    # Fresh names and graphs for the next test. Not `gc.collect()` as well
    # (clear_session's default): a full collection per test cost about a
    # quarter of a second, several minutes over the suite, and Python's own
    # collector frees the same cycles as it goes.
    keras.backend.clear_session(free_memory=False)
