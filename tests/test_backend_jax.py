"""Every layer and reference model on the JAX backend (tests/backend_checks.py)."""

from tests.backend_runner import run_backend_checks


def test_layers_and_reference_models_on_jax():
    run_backend_checks("jax")
