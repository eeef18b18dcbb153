"""On-device inference for models exported by keras-attention.

Needs numpy and the LiteRT runtime (`ai-edge-litert`) only, never TensorFlow
or Keras: `pip install -r edge_demo/requirements.txt`, then
`python -m edge_demo MODEL.tflite --help`. See `edge_demo.runtime`.
"""

from edge_demo.runtime import Decoded, EdgeModel, EdgeModelError, latency, load

__all__ = ["Decoded", "EdgeModel", "EdgeModelError", "latency", "load"]
