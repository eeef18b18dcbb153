"""The metadata file written beside every exported `.tflite` model.

`edge_demo` reads it on the device, with numpy and the LiteRT runtime only,
to know what the model expects and to check the file it loads. The schema,
its version and the tensor description are the device contract,
`edge_demo.contract`, which both sides import; this module only writes the
file.

This module needs only numpy and the LiteRT runtime.
"""

import json
import os

from edge_demo.contract import (
    FORMAT,
    VERSION,
    describe_signatures,
    metadata_path,
    new_metadata,
)
from edge_demo.files import write_atomically

__all__ = [
    "FORMAT",
    "VERSION",
    "describe_signatures",
    "metadata_path",
    "write_metadata",
]


def write_metadata(model_path, mode, task=None):
    """Describe `model_path` in the JSON file beside it; returns that path.

    Args:
        model_path: the written `.tflite` file.
        mode: the export mode, for the record.
        task: what the application needs (see `edge_demo.contract`).

    Raises:
        FileNotFoundError: naming `model_path` when it does not exist.
        ValueError: naming `model_path` when LiteRT cannot load it.
    """
    from ai_edge_litert.interpreter import Interpreter

    model_path = os.fspath(model_path)
    if not os.path.isfile(model_path):
        raise FileNotFoundError(
            f"{model_path}: no model file to describe (write the .tflite first)"
        )
    with open(model_path, "rb") as f:
        content = f.read()
    try:
        interpreter = Interpreter(model_content=content)
    except (ValueError, RuntimeError) as error:
        raise ValueError(
            f"{model_path}: LiteRT cannot load it as a model, so it cannot be "
            f"described ({' '.join(str(error).split())})"
        ) from None
    metadata = new_metadata(
        os.path.basename(model_path),
        content,
        mode,
        describe_signatures(interpreter),
        task,
    )
    path = metadata_path(model_path)
    write_atomically(path, json.dumps(metadata, indent=2))
    return path
