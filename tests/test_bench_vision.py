"""bench/vision.py's device modes: each names an export mode and ops that
the exporter accepts, so that a full run's export step cannot fail on its
own settings after an hour of training."""

import pytest

import keras_attention_export as export
from keras_attention_export.tflite import _check_float_ops
from tests.bench_modules import load_bench


@pytest.fixture(scope="module")
def vision():
    return load_bench("vision")


def test_every_classifier_mode_is_an_export_mode_with_accepted_float_ops(vision):
    assert list(vision.DEVICE_MODES)[:3] == ["float32", "dynamic", "int8"]
    for name, (mode, float_ops) in vision.DEVICE_MODES.items():
        assert mode in export.MODES, name
        # The exporter's own check: known builtin names, for int8 only.
        assert _check_float_ops(float_ops, mode) == tuple(sorted(float_ops or ())), name
    assert set(vision.VIT_MODES) <= set(vision.DEVICE_MODES)
    # The ViT-only modes leave attention in float; int8_dense also the
    # normalizations and sums.
    attention = {"BATCH_MATMUL", "SOFTMAX"}
    assert set(vision.DEVICE_MODES["int8_float_attention"][1]) == attention
    assert attention | {"MEAN", "RSQRT"} <= set(vision.DEVICE_MODES["int8_dense"][1])


def test_caption_modes_are_export_modes(vision):
    assert set(vision.CAPTION_MODES) <= set(export.MODES)


def test_a_run_of_some_captioners_keeps_the_others_rows(vision):
    recorded = {"captions": [{"model": "transformer", "exact_match": 0.97},
                             {"model": "attentive", "exact_match": 0.94},
                             {"model": "gone", "exact_match": 0.5}]}
    rows = [{"model": "attentive_hard", "exact_match": 0.96}]
    kept = vision.with_earlier_rows(recorded, "captions", rows, ["attentive_hard"],
                                    order=vision.CAPTIONERS)
    # In CAPTIONERS' order; a model no longer benched is dropped.
    assert [row["model"] for row in kept] == ["attentive", "attentive_hard", "transformer"]
    assert kept[1]["exact_match"] == 0.96
    # A rerun of a model replaces its recorded row.
    again = vision.with_earlier_rows({"captions": kept}, "captions",
                                     [{"model": "attentive", "exact_match": 0.95}],
                                     ["attentive"], order=vision.CAPTIONERS)
    assert [row["exact_match"] for row in again] == [0.95, 0.96, 0.97]
