"""Export Keras models built from keras_attention layers to the edge.

LiteRT (TFLite) flatbuffers in five modes with builtin ops only, several
named signatures per file, representative data for the integer modes, ONNX
through tf2onnx, and a report of every export (size, operators, parity,
latency). The command line is `keras-attention-export` (`export.cli`).
"""

from keras_attention_export.errors import CalibrationError, ExportError, FlexOpsError
from keras_attention_export.metadata import write_metadata
from keras_attention_export.tflite import (
    MODES,
    Signature,
    convert,
    default_mode,
    export_tflite,
    fixed_signature,
)

__all__ = [
    "MODES",
    "CalibrationError",
    "ExportError",
    "FlexOpsError",
    "Signature",
    "convert",
    "default_mode",
    "export_tflite",
    "fixed_signature",
    "write_metadata",
]
