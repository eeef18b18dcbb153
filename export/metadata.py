"""The metadata file written beside every exported `.tflite` model.

`edge_demo` reads it on the device, with numpy and the LiteRT runtime only,
to know what the model expects and to check the file it loads. It is JSON:

    {
      "format": "keras-attention-edge",
      "version": 1,
      "model_file": "model.tflite",        # beside this file
      "model_bytes": 81234,                # a truncated file is caught
      "model_sha256": "ab12...",           # so is a changed or corrupt one
      "mode": "int8",                      # float32, float16, dynamic, int8, int16x8
      "signatures": {
        "serving_default": {
          "inputs":  [{"name": "source", "shape": [1, 12], "dtype": "int32",
                       "quantization": null}],
          "outputs": [{"name": "logits", "shape": [1, 12, 40], "dtype": "int8",
                       "quantization": {"scale": 0.05, "zero_point": -3}}]
        }
      },
      "task": {...}                        # optional: what the caller adds
    }

`quantization` is the tensor's affine scale and zero point when it is an
integer tensor holding real values (`real = scale * (q - zero_point)`), and
null otherwise. `task` is free-form for the application; the sequence
models put their vocabularies and special token ids there (see edge_demo).

Seq2seq models export two signatures, decoded step by step on the device:
`encode` (input `source`, outputs: the decoder's initial states by name) and
`decode_step` (inputs `token` `[B, 1]`, `step` `[1]` and every state by
name; outputs `logits` and the next value of every state, by the same name).

This module needs only numpy and the LiteRT runtime.
"""

import hashlib
import json
import os

import numpy as np

FORMAT = "keras-attention-edge"
VERSION = 1


def _tensor_entry(name, details):
    scales = details["quantization_parameters"]["scales"]
    quantized = np.issubdtype(details["dtype"], np.integer) and len(scales) > 0
    return {
        "name": name,
        "shape": [int(n) for n in details["shape"]],
        "dtype": np.dtype(details["dtype"]).name,
        "quantization": (
            {
                "scale": float(scales[0]),
                "zero_point": int(details["quantization_parameters"]["zero_points"][0]),
            }
            if quantized
            else None
        ),
    }


def describe_signatures(interpreter):
    """`{signature: {"inputs": [...], "outputs": [...]}}` of a LiteRT model."""
    described = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        described[key] = {
            side: [
                _tensor_entry(name, details)
                for name, details in sorted(getter().items())
            ]
            for side, getter in (
                ("inputs", runner.get_input_details),
                ("outputs", runner.get_output_details),
            )
        }
    return described


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def metadata_path(model_path):
    """`model.tflite` -> `model.json`."""
    return os.path.splitext(model_path)[0] + ".json"


def write_metadata(model_path, mode, task=None):
    """Describe `model_path` in the JSON file beside it; returns that path."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path))
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "model_file": os.path.basename(model_path),
        "model_bytes": os.path.getsize(model_path),
        "model_sha256": file_digest(model_path),
        "mode": mode,
        "signatures": describe_signatures(interpreter),
        "task": task or {},
    }
    path = metadata_path(str(model_path))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
    return path
