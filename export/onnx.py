"""Keras models to ONNX through tf2onnx, checked with onnxruntime.

Needs the `export` extra (tf2onnx, onnxruntime). tf2onnx converts Keras 3
models when it is given an explicit input signature, so the signature has
the same static shapes as the TFLite export's.
"""

import keras
import numpy as np

from keras_attention_export.errors import ExportError
from keras_attention_export.tflite import fixed_signature, input_names, require_tensorflow


def export_onnx(model, path, batch_size=1, input_shapes=None, opset=17):
    """Write `model` as ONNX to `path`; returns the onnxruntime session.

    Needs the TensorFlow backend of Keras, as the LiteRT export does."""
    require_tensorflow("ONNX export (keras_attention_export.onnx)")
    import onnxruntime
    import tf2onnx

    signature = fixed_signature(model, batch_size, input_shapes)["serving_default"]
    try:
        tf2onnx.convert.from_keras(
            model,
            input_signature=list(signature.input_signature),
            opset=opset,
            output_path=str(path),
        )
    except Exception as error:
        raise ExportError(f"ONNX conversion failed: {error}") from error
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_max_error(session, model, inputs):
    """Largest absolute difference between onnxruntime and Keras on `inputs`."""
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, {n: np.asarray(inputs[n]) for n in names})
    ordered = [inputs[n] for n in input_names(model)]
    want = model.predict(keras.tree.pack_sequence_as(model.input, ordered), verbose=0)
    want = want if isinstance(want, (list, tuple)) else [want]
    return max(float(np.abs(g - w).max()) for g, w in zip(got, want))
