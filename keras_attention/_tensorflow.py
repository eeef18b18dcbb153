"""TensorFlow for the few features that need it, imported when they are used.

The layers and reference models run on any Keras 3 backend and never import
TensorFlow. `tf.data` pipelines need TensorFlow installed (they feed
`model.fit` on every backend); `DistributedTrainer` and the XLA-compiled beam
search need the TensorFlow backend itself.
"""

import keras


def import_tensorflow(what):
    """`tensorflow`, or an ImportError naming `what` needed it and the extra."""
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(
            f"{what} needs TensorFlow, which is not installed: "
            "pip install 'keras-attention[tensorflow]'"
        ) from None
    return tf


def require_tensorflow_backend(what, instead):
    """Raise unless Keras runs on TensorFlow; the message names the backend
    in use and `instead`, what to use on it."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{what} runs on the TensorFlow backend of Keras only; this process "
            f"uses the {backend!r} backend (KERAS_BACKEND={backend}). {instead}"
        )
    return import_tensorflow(what)
