"""On-device inference for models exported by keras-attention.

Needs numpy and the LiteRT runtime (`ai-edge-litert`) only, never TensorFlow
or Keras: `pip install -r edge_demo/requirements.txt`, then
`python -m edge_demo MODEL.tflite --help`. See `edge_demo.runtime`.

The names below load `edge_demo.runtime` (and LiteRT) on first use, so that
`python -m edge_demo --help` and `edge_demo.quiet`, which the other commands
import before TensorFlow, load neither.
"""

import importlib

_RUNTIME_NAMES = ("Decoded", "EdgeModel", "EdgeModelError", "latency", "load")

__all__ = list(_RUNTIME_NAMES)


def __getattr__(name):
    if name in _RUNTIME_NAMES:
        return getattr(importlib.import_module("edge_demo.runtime"), name)
    raise AttributeError(f"module 'edge_demo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_RUNTIME_NAMES))
