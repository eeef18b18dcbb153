"""Every layer and reference model on the PyTorch backend (tests/backend_checks.py)."""

from tests.backend_runner import run_backend_checks


def test_layers_and_reference_models_on_torch():
    run_backend_checks("torch")
