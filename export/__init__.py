"""Export Keras models built from keras_attention layers to the edge.

LiteRT (TFLite) flatbuffers in five modes with builtin ops only, several
named signatures per file, representative data for the integer modes, ONNX
through tf2onnx, a report of every export (size, operators, parity,
latency), and a quantized file's error measured tensor by tensor against
its float32 twin (`tensor_errors`). The command line is `keras-attention-export`
(`keras_attention_export.cli`).

Conversion needs TensorFlow and the TensorFlow backend of Keras: on another
backend, `convert` and `export_tflite` raise a `RuntimeError` that says so.
Save the model as `.keras` and export it in a process with
`KERAS_BACKEND=tensorflow` (the command line sets it for itself).

The names below load their modules, and with them TensorFlow, on first use:
the command line must quiet TensorFlow's logs before it is imported.

What it may import: `keras_attention` (models, layers, data), `edge_demo`'s
device contract (`edge_demo.contract`, shared with the device, and the
runtime the report measures through), TensorFlow and LiteRT; never the
tour, the translation application or plotting. Installed as
`keras_attention_export` from the repository's `export/` folder.
"""

import importlib

# Each public name and the module that defines it.
_NAMES = {
    "CalibrationError": "errors",
    "ExportError": "errors",
    "FlexOpsError": "errors",
    "write_metadata": "metadata",
    "Exporter": "tflite",
    "MODES": "tflite",
    "Signature": "tflite",
    "convert": "tflite",
    "default_mode": "tflite",
    "export_tflite": "tflite",
    "fixed_signature": "tflite",
    "tensor_errors": "diagnose",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        module = importlib.import_module(f"keras_attention_export.{_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_attention_export' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_NAMES))
