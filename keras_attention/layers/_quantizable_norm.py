"""Layer normalization that a full-integer LiteRT conversion keeps in int8 (private).

Keras's `LayerNormalization` computes `x * inv + (beta - mean * inv)`, with
`inv = gamma / sqrt(var + epsilon)`. The `-mean` is a `NEG` op, which
TF 2.21's quantizer leaves in float: in an `int8` file every normalization
then dequantizes, negates in float and quantizes again (the Multi30k
Transformer had 15 such float islands, one per normalization). Written as
`(x - mean) * inv + beta`, with the variance as a mean of products, every
op of the normalization (`MEAN`, `SUB`, `MUL`, `ADD`, `RSQRT`) has an int8
and an int16 kernel, and the file stays integer from end to end.

The arithmetic is the same in float (to rounding), and so are the weights,
the config and the float32 computation under mixed precision.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_attention")
class QuantizableLayerNormalization(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` whose int8 LiteRT conversion stays integer.

    A drop-in replacement: the same arguments, weights (`gamma`, `beta`) and
    outputs, computed as `(x - mean) * gamma / sqrt(var + epsilon) + beta`
    in at least float32. Keras's own formula negates the mean, an op that
    the LiteRT quantizer keeps in float. `rms_scaling=True` is Keras's
    computation unchanged.

    Example:

    >>> import keras
    >>> from keras import ops
    >>> from keras_attention.layers._quantizable_norm import (
    ...     QuantizableLayerNormalization)
    >>> x = keras.random.normal((2, 3, 8), seed=0)
    >>> ours = QuantizableLayerNormalization(epsilon=1e-5)
    >>> theirs = keras.layers.LayerNormalization(epsilon=1e-5)
    >>> bool(ops.all(ops.abs(ours(x) - theirs(x)) < 1e-5))
    True
    """

    def call(self, inputs):
        if self.rms_scaling:
            return super().call(inputs)
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, dtype)
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        axes = sorted(a % len(x.shape) for a in axes)
        mean = ops.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        # A product, not a square (SQUARE) or a squared difference: LiteRT
        # has int8 and int16 MUL kernels.
        variance = ops.mean(centered * centered, axis=axes, keepdims=True)
        inv = ops.rsqrt(variance + self.epsilon)
        # gamma and beta have the normalized axes' shape: broadcast them
        # against x (a reshape only when those are not just the last axes).
        shape = [1] * len(x.shape)
        for a in axes:
            shape[a] = x.shape[a]
        if self.scale:
            inv = inv * ops.reshape(ops.cast(self.gamma, dtype), shape)
        outputs = centered * inv
        if self.center:
            outputs = outputs + ops.reshape(ops.cast(self.beta, dtype), shape)
        return ops.cast(outputs, self.compute_dtype)
