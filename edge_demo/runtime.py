"""Run an exported model on a device, with numpy and the LiteRT runtime only.

`load` reads a `.tflite` file and the metadata JSON written beside it at
export, checks that the two agree, and returns an `EdgeModel`:

    model = load("model.tflite")                 # reads model.json beside it
    outputs = model.run("serving_default", features=x)
    outputs, k = model.run_batches("serving_default", {"features": xs})  # k batches
    decoded = model.greedy_decode(model.text_to_ids("abc"))
    copied = model.copy_sequence(bits)           # an NTM copy model, step by step
    translated = model.translate("Ein Hund läuft.")  # a translation model

A translation model's SentencePiece files lie beside it, named and checked
by their SHA-256 in the metadata; SentencePiece reads them (the
`sentencepiece` package, no TensorFlow either).

Inputs and outputs are real values: integer-quantized tensors are quantized
and dequantized with the scale and zero point of the metadata, so the
caller never sees int8. Nothing here imports TensorFlow or Keras, on purpose:
this folder is what a device needs.

This module gathers the runtime's public names; each lives in one module:

- `edge_demo.contract`: the metadata schema and version, the tensor
  description, quantize and dequantize, latency timing (shared with the
  exporter);
- `edge_demo.loading`: `load` and the integrity checks;
- `edge_demo.schema`: every field of the metadata, type- and range-checked;
- `edge_demo.model`: `EdgeModel` and the generic run of a signature;
- `edge_demo.arrays`, `edge_demo.seq2seq`, `edge_demo.translation`,
  `edge_demo.recurrent`: one module per task;
- `edge_demo.errors`: `EdgeModelError`.
"""

from edge_demo.contract import (
    FORMAT,
    VERSION,
    dequantize,
    latency,
    quantize,
    summarize_ms,
)
from edge_demo.errors import EdgeModelError
from edge_demo.loading import load
from edge_demo.model import EdgeModel
from edge_demo.recurrent import Copied, Stepped, copy_inputs
from edge_demo.seq2seq import Decoded
from edge_demo.translation import Translated

__all__ = [
    "FORMAT",
    "VERSION",
    "Copied",
    "Decoded",
    "EdgeModel",
    "EdgeModelError",
    "Stepped",
    "Translated",
    "copy_inputs",
    "dequantize",
    "latency",
    "load",
    "quantize",
    "summarize_ms",
]
