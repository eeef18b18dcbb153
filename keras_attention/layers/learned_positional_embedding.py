"""Trainable absolute positional embedding (as in BERT and GPT-2)."""

import keras
import numpy as np
from keras import ops

from keras_attention.layers._validation import (
    check_positive_int,
    concrete_dim,
    concrete_values,
)


@keras.saving.register_keras_serializable(package="keras_attention")
class LearnedPositionalEmbedding(keras.layers.Layer):
    """One trainable vector per position, up to `sequence_length` positions.

    Returns the embeddings of the positions of `inputs`, broadcast to the
    shape of `inputs`, for the caller to add (as KerasHub's
    `PositionEmbedding` does).

    Args:
        sequence_length: the number of positions with an embedding.
        initializer, regularizer: of the `[sequence_length, D]` table.

    Call arguments:
        inputs: `[B, T, D]`, `T <= sequence_length`.
        start_index: position of the first step (int or scalar tensor), for
            decoding one step at a time.

    Returns:
        `[B, T, D]` embeddings.

    Example:

    >>> x = keras.random.normal((2, 5, 8))
    >>> tuple(LearnedPositionalEmbedding(sequence_length=16)(x).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        sequence_length,
        initializer="glorot_uniform",
        regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("sequence_length", sequence_length)
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)
        self.regularizer = keras.regularizers.get(regularizer)
        self.supports_masking = True

    def build(self, inputs_shape):
        if len(inputs_shape) != 3 or inputs_shape[-1] is None:
            raise ValueError(
                "inputs must have shape [B, T, D] with a known D, "
                f"received inputs.shape={tuple(inputs_shape)}"
            )
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, inputs_shape[-1]),
            initializer=self.initializer,
            regularizer=self.regularizer,
        )

    def compute_output_shape(self, inputs_shape):
        # Keras infers symbolic outputs here instead of tracing `call`, with
        # the length `None` when unknown, on every backend.
        self._check_positions(tuple(inputs_shape), 0)
        return tuple(inputs_shape)

    def call(self, inputs, start_index=0):
        shape = tuple(inputs.shape)
        self._check_positions((shape[0], concrete_dim(shape[1]), *shape[2:]), start_index)
        # A gather, not a slice: XLA compiles one program for every start.
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32") + ops.cast(
            start_index, "int32"
        )
        rows = ops.take(self.embeddings, positions, axis=0)  # [T, D]
        return ops.broadcast_to(rows[None], ops.shape(inputs))

    def _check_positions(self, shape, start_index):
        """Positions known in Python (an int, or an eager tensor's value)
        must fit the table; `T` may be None."""
        length = shape[1]
        if length is None:
            return  # Known only at run time: XLA clamps a gather's indices.
        if not isinstance(start_index, int):
            # A traced index is known only at run time, as above.
            value = concrete_values(start_index)
            start_index = None if value is None or np.ndim(value) else int(value)
        if length > self.sequence_length:
            raise ValueError(
                f"inputs may have at most sequence_length={self.sequence_length} "
                f"steps, received inputs.shape={shape}"
            )
        if isinstance(start_index, int) and (
            start_index < 0 or start_index + length > self.sequence_length
        ):
            raise ValueError(
                f"start_index + T must be at most sequence_length="
                f"{self.sequence_length}, received start_index={start_index} "
                f"with inputs.shape={shape}"
            )

    def get_config(self):
        config = {
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
            "regularizer": keras.regularizers.serialize(self.regularizer),
        }
        return {**super().get_config(), **config}
