"""A tour family of one fixed row, for the tests of `run_tour` itself (how it
joins families, notes and left-out ones), without training anything."""

from keras_attention.tour.result import ModelResult

NAME = "one row"
NOTES = [("Latency", "none: nothing runs.")]


def run(out_dir, quick):
    del out_dir, quick
    return [ModelResult(family=NAME, name="fixed", parameters=1, keras_accuracy=1.0,
                        device_accuracy=1.0, device_agreement=1.0, sizes={},
                        latency_ms={}, history={"loss": [2.0, 1.0]})]
