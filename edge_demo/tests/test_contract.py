"""The device contract (edge_demo.contract) and atomic writes, without models."""

import os

import numpy as np
import pytest

from edge_demo import contract
from edge_demo.files import write_atomically


def test_dequantize_inverts_quantize_to_half_a_step():
    description = {"quantization": {"scale": 0.25, "zero_point": -7}}
    values = np.linspace(-20.0, 20.0, 101)  # inside int8's range at this scale
    q = contract.quantize(values, description["quantization"], np.int8)
    real = contract.dequantize(q, description)
    assert real.dtype == np.float32
    # Rounding to the nearest step: at most half a step, 0.125, away.
    assert np.abs(real - values).max() <= 0.125 + 1e-6


def test_dequantize_leaves_a_float_tensor_alone():
    values = np.array([0.5, -1.5], np.float32)
    assert contract.dequantize(values, {"quantization": None}) is values


def test_describe_tensor_reads_litert_details():
    details = {
        "dtype": np.int8,
        "shape": np.array([1, 3]),
        "quantization_parameters": {
            "scales": np.array([0.5], np.float32),
            "zero_points": np.array([2], np.int32),
        },
    }
    assert contract.describe_tensor("x", details) == {
        "name": "x",
        "shape": [1, 3],
        "dtype": "int8",
        "quantization": {"scale": 0.5, "zero_point": 2},
    }
    # An integer tensor without a scale (token ids) holds integers, not reals.
    details["dtype"] = np.int32
    details["quantization_parameters"]["scales"] = np.array([], np.float32)
    assert contract.describe_tensor("ids", details)["quantization"] is None


def test_new_metadata_is_what_the_device_checks():
    content = b"not a model, but bytes all the same"
    metadata = contract.new_metadata("m.tflite", content, "float32", {}, None)
    assert (metadata["format"], metadata["version"]) == (
        contract.FORMAT,
        contract.VERSION,
    )
    for field, kind in contract.REQUIRED_FIELDS.items():
        assert isinstance(metadata[field], kind), field
    assert metadata["model_bytes"] == len(content) and metadata["task"] == {}
    assert contract.metadata_path("out/m.tflite") == os.path.join("out", "m.json")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"runs": 0}, "runs must be a positive int, received runs=0"),
        ({"warmup": -1}, "warmup must be a non-negative int, received warmup=-1"),
    ],
)
def test_latency_names_a_bad_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        contract.latency(lambda: None, **kwargs)


def test_summarize_ms_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one time, received none"):
        contract.summarize_ms([])


def test_write_atomically_replaces_the_file_whole(tmp_path):
    path = tmp_path / "sub" / "report.json"
    write_atomically(path, "first")
    write_atomically(path, b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(path.parent) == ["report.json"]  # no temporary left
    # The mode a plain open() gives, not mkstemp's private 0600.
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_atomically_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_atomically(path, 42)  # neither bytes nor str
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.json"]
