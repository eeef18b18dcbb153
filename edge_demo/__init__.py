"""On-device inference for models exported by keras-attention.

Needs numpy and the LiteRT runtime (`ai-edge-litert`) only, never TensorFlow
or Keras: `pip install -r edge_demo/requirements.txt`, then
`python -m edge_demo MODEL.tflite --help`. See `edge_demo.runtime` for
the overview and the module that holds each part.

Imports: numpy, LiteRT, sentencepiece and the standard library, never
TensorFlow, Keras, `keras_attention` or `keras_attention_export` (the
import contract in pyproject.toml checks it). `keras_attention_export`
imports `edge_demo.contract`, the device contract both sides share.

The names below load their modules (and LiteRT) on first use, so that
`python -m edge_demo --help` and `edge_demo.quiet`, which the other commands
import before TensorFlow, load neither.
"""

import importlib

# Each public name and the module that defines it.
_NAMES = {
    "Decoded": "seq2seq",
    "EdgeModel": "model",
    "EdgeModelError": "errors",
    "latency": "contract",
    "load": "loading",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"edge_demo.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'edge_demo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_NAMES))
