"""Setup of the TF-GNN suite, which runs in its own process (tests/test_tfgnn.py).

TF-GNN needs Keras 2 (`tf-keras`) behind `tf.keras`, chosen by
TF_USE_LEGACY_KERAS=1 before TensorFlow is imported; the driver sets it in
the environment and runs pytest with `--confcutdir tests/gnn`, so the main
suite's conftest (which ignores this folder) is not loaded here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if os.environ.get("TF_USE_LEGACY_KERAS") not in ("true", "True", "1"):
    raise RuntimeError(
        "tests/gnn runs with TF_USE_LEGACY_KERAS=1 and tensorflow-gnn on "
        "PYTHONPATH; run it through tests/test_tfgnn.py"
    )

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32, a fixed seed and an empty session."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)  # see tests/conftest.py
