"""Fixed sinusoidal positional encoding (Vaswani et al. 2017, section 3.5)."""

import keras
import numpy as np
from keras import ops

from keras_attention.layers._validation import (
    check_positive_int,
    concrete_dim,
    concrete_values,
)


def sinusoidal_encoding(positions, dim, max_wavelength=10000.0):
    """Sinusoids of `positions` `[L]` (any real values) -> `[L, dim]` float32.

    Feature `2i` is `sin(p / max_wavelength^(2i/dim))` and feature `2i + 1`
    the cosine of the same angle, as in the paper. `dim` must be even.
    """
    positions = ops.cast(positions, "float32")
    exponents = ops.arange(0, dim, 2, dtype="float32") / dim  # [dim/2]
    inverse_freq = ops.power(ops.cast(max_wavelength, "float32"), -exponents)
    angles = positions[:, None] * inverse_freq[None, :]  # [L, dim/2]
    # Interleave: [sin_0, cos_0, sin_1, cos_1, ...].
    pairs = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)  # [L, dim/2, 2]
    return ops.reshape(pairs, (-1, dim))


@keras.saving.register_keras_serializable(package="keras_attention")
class SinusoidalPositionalEmbedding(keras.layers.Layer):
    """The Transformer's fixed sinusoidal positional encoding.

    Returns the encoding of each position of `inputs`, broadcast to the shape
    of `inputs`, for the caller to add (as KerasHub's `SinePositionEncoding`
    does). It has no weights, so it extends to any length.

    With `max_length`, the encodings of positions `0 .. max_length - 1` are
    computed once (in numpy) and looked up, like a frozen embedding table:
    an exported graph then gathers rows of a constant instead of computing
    sines and cosines of a position that is only known at run time (a
    `decode_step`'s), which keeps SIN, COS and CAST out of a quantized
    model. Positions past `max_length` are an error.

    Args:
        max_wavelength: the longest sinusoid's wavelength, 10000 in the paper.
        max_length: `None` (compute on the fly, any length) or the number of
            positions to tabulate.

    Call arguments:
        inputs: `[B, T, D]` with an even `D`.
        start_index: position of the first step (int or scalar tensor), for
            decoding one step at a time.

    Returns:
        `[B, T, D]` encodings in the compute dtype.

    Example:

    >>> x = keras.random.normal((2, 5, 8))
    >>> tuple((x + SinusoidalPositionalEmbedding()(x)).shape)
    (2, 5, 8)
    """

    def __init__(self, max_wavelength=10000.0, max_length=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_wavelength, (int, float)) or max_wavelength <= 1:
            raise ValueError(
                "max_wavelength must be a number greater than 1, "
                f"received max_wavelength={max_wavelength!r}"
            )
        if max_length is not None:
            check_positive_int("max_length", max_length)
        self.max_wavelength = float(max_wavelength)
        self.max_length = max_length
        self.supports_masking = True
        self.built = True

    def compute_output_shape(self, inputs_shape):
        # Keras infers symbolic outputs here instead of tracing `call`, with
        # the length `None` when unknown, on every backend.
        self._check_shape(inputs_shape)
        if self.max_length is not None:
            self._check_positions(inputs_shape[1], 0)
        return tuple(inputs_shape)

    def call(self, inputs, start_index=0):
        self._check_shape(inputs.shape)
        length = ops.shape(inputs)[1]
        if self.max_length is None:
            positions = ops.arange(length, dtype="float32") + ops.cast(
                start_index, "float32"
            )
            encoding = sinusoidal_encoding(
                positions, inputs.shape[-1], self.max_wavelength
            )
        else:
            self._check_positions(concrete_dim(inputs.shape[1]), start_index)
            table = self._table(inputs.shape[-1])  # [max_length, D]
            positions = ops.arange(length, dtype="int32") + ops.cast(
                start_index, "int32"
            )
            encoding = ops.take(table, positions, axis=0)  # [T, D]
        encoding = ops.cast(encoding, self.compute_dtype)
        return ops.broadcast_to(encoding[None], ops.shape(inputs))

    def _table(self, dim):
        """The encodings of positions `0 .. max_length - 1`, a numpy constant."""
        table = getattr(self, "_cached_table", None)
        if table is None or table.shape[1] != dim:
            positions = np.arange(self.max_length, dtype="float64")
            exponents = np.arange(0, dim, 2, dtype="float64") / dim
            angles = positions[:, None] * self.max_wavelength ** -exponents[None, :]
            pairs = np.stack([np.sin(angles), np.cos(angles)], axis=-1)
            table = pairs.reshape(self.max_length, dim).astype("float32")
            self._cached_table = table
        return table

    def _check_shape(self, shape):
        if len(shape) != 3 or shape[-1] is None or shape[-1] % 2:
            raise ValueError(
                "inputs must have shape [B, T, D] with an even D, "
                f"received inputs.shape={tuple(shape)}"
            )

    def _check_positions(self, length, start_index):
        """Positions known in Python (an int, or an eager tensor's value)
        must fit the table; `length` may be None."""
        if not isinstance(start_index, (int, np.integer)):
            value = concrete_values(start_index)
            start_index = None if value is None or np.ndim(value) else int(value)
        if length is None or start_index is None:
            return  # Known only at run time; the lookup clamps or fails there.
        if start_index < 0 or start_index + length > self.max_length:
            raise ValueError(
                f"positions {start_index}..{start_index + length - 1} must lie in "
                f"[0, max_length={self.max_length}), received "
                f"start_index={start_index} for inputs of length {length}"
            )

    def get_config(self):
        return {
            **super().get_config(),
            "max_wavelength": self.max_wavelength,
            "max_length": self.max_length,
        }
