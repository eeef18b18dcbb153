"""Fixed sinusoidal positional encoding (Vaswani et al. 2017, section 3.5)."""

import keras
from keras import ops


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

    Args:
        max_wavelength: the longest sinusoid's wavelength, 10000 in the paper.

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

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_wavelength, (int, float)) or max_wavelength <= 1:
            raise ValueError(
                "max_wavelength must be a number greater than 1, "
                f"received max_wavelength={max_wavelength!r}"
            )
        self.max_wavelength = float(max_wavelength)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, start_index=0):
        if len(inputs.shape) != 3 or inputs.shape[-1] is None or inputs.shape[-1] % 2:
            raise ValueError(
                "inputs must have shape [B, T, D] with an even D, "
                f"received inputs.shape={inputs.shape}"
            )
        length = ops.shape(inputs)[1]
        positions = ops.arange(length, dtype="float32") + ops.cast(
            start_index, "float32"
        )
        encoding = sinusoidal_encoding(
            positions, inputs.shape[-1], self.max_wavelength
        )
        encoding = ops.cast(encoding, self.compute_dtype)
        return ops.broadcast_to(encoding[None], ops.shape(inputs))

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}
