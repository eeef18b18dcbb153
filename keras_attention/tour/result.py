"""What a tour family reports about each of its models."""

import dataclasses


@dataclasses.dataclass
class ModelResult:
    """One trained model's row in the tour's table, and its pictures.

    Attributes:
        family: e.g. "sequence".
        name: the model, e.g. "transformer".
        parameters: trainable and non-trainable scalars.
        keras_accuracy: the task metric of the Keras model on held-out data.
        device_accuracy: the same, from the exported model in `device_mode`
            run through edge_demo.
        device_agreement: share of held-out outputs where the `device_mode`
            file on the device and Keras agree exactly.
        sizes: bytes of the exported file per mode.
        latency_ms: median LiteRT latency per mode, of one call: what a call
            is (a decode step, the whole graph, one NTM step) is in the
            "Latency" entry of the family module's `NOTES`.
        history: `model.fit`'s history (metric name -> per-epoch values).
        pictures: paths of PNG files (alignments, attention), relative to
            the report folder.
        metric: the name of the accuracy measure.
        train_seconds: wall time of `model.fit`.
        default_mode: the export mode the model's family defaults to.
        device_mode: the mode of the file behind `device_accuracy`.
    """

    family: str
    name: str
    parameters: int
    keras_accuracy: float
    device_accuracy: float
    device_agreement: float
    sizes: dict
    latency_ms: dict
    history: dict
    pictures: list = dataclasses.field(default_factory=list)
    metric: str = "accuracy"
    train_seconds: float = 0.0
    default_mode: str = ""
    device_mode: str = "int8"


class FamilySkipped(Exception):
    """Raised by a family's `run` when it cannot run on this machine (its
    data is missing and cannot be downloaded); the message says why and what
    to do. `run_tour` prints it, puts it in the report's notes and goes on
    with the other families."""
