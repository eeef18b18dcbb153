"""Dropout masks from a counter-based hash, fast under XLA (private).

Keras draws dropout masks with each backend's random ops. On TensorFlow
those are the stateless random ops with the algorithm left to TensorFlow,
and under XLA on a CPU that draw costs about 175 ns a number, some 90 times
what TensorFlow's own kernel takes (bench/xla_cpu.py): the output dropout
of RNNsearch took half of its XLA train step. Here a mask is a hash of each
element's position keyed by two seeds, in `keras.ops` integer arithmetic:
XLA fuses it into one loop (0.75 ms for 1,966,080 numbers on a 2-core CPU,
against 345 ms for Keras's draw), the three backends give the same mask
for the same seeds, and the mask of any position can be computed again
from `(seeds, position)` alone.

The hash is Chris Wellons's "lowbias32" (an xorshift-multiply mixer of 32
bits), applied twice with the seeds between: int32 products wrap around on
every backend, and the right shifts are made logical by a mask.
"""

import keras
import numpy as np
from keras import ops

_MULTIPLIER_1 = np.int32(0x7FEB352D)
_MULTIPLIER_2 = np.int32(0x846CA68B - (1 << 32))  # the same 32 bits, as int32
_SEED_SALTS = (np.int32(0x3C6EF372), np.int32(0x5851F42D))


def _shift_right(x, bits):
    """The logical right shift of int32 `x` (its arithmetic one, high bits cleared)."""
    return ops.bitwise_and(ops.right_shift(x, bits), np.int32((1 << (32 - bits)) - 1))


def _mix(x):
    """lowbias32: every output bit depends on every input bit (int32 -> int32)."""
    x = ops.bitwise_xor(x, _shift_right(x, 16))
    x = ops.multiply(x, _MULTIPLIER_1)
    x = ops.bitwise_xor(x, _shift_right(x, 15))
    x = ops.multiply(x, _MULTIPLIER_2)
    return ops.bitwise_xor(x, _shift_right(x, 16))


def uniform(shape, seeds):
    """float32 numbers in `[0, 1)` on a grid of `2^-24`, shaped `shape`.

    Args:
        shape: the output shape (static or dynamic dimensions).
        seeds: two integers (a tensor `[2]`, any integer dtype): the same
            seeds give the same numbers on every backend.
    """
    shape = tuple(shape)
    width = shape[-1] if shape else 1
    rows = 1
    for dim in shape[:-1]:
        rows = rows * dim
    # By row and column of the [rows, width] matrix, not by flat position:
    # a tensor of 2^31 numbers or more gets no repeated positions.
    numbers = grid_uniform(ops.arange(rows, dtype="int32")[:, None],
                           ops.arange(width, dtype="int32")[None, :], seeds)
    return ops.reshape(numbers, shape)


def _seed_keys(seeds):
    seeds = ops.cast(seeds, "int32")
    return (_mix(ops.bitwise_xor(seeds[0], _SEED_SALTS[0])),
            _mix(ops.bitwise_xor(seeds[1], _SEED_SALTS[1])))


def grid_uniform(rows, columns, seeds):
    """float32 numbers in `[0, 1)` indexed by `(row, column)`, for a mask
    drawn a block at a time: attention weights `[B, H, T, S]`, whose row
    `(b H + h) T + t` and column `s` give any block's numbers again, with
    no flat position (which would pass 2^31 at long lengths).

    Args:
        rows: int32 row ids, broadcastable against `columns`.
        columns: int32 column ids.
        seeds: two integers, as `uniform` takes them.

    Returns:
        float32, the broadcast shape of `rows` and `columns`.
    """
    first, second = _seed_keys(seeds)
    row_keys = _mix(ops.bitwise_xor(ops.cast(rows, "int32"), first))
    # Rows and columns each hashed before they meet: two rows whose keys
    # differ by a few bits then share single numbers by chance, not whole
    # rows in another order (as `row_key ^ column` would give them).
    column_keys = _mix(ops.bitwise_xor(ops.cast(columns, "int32"), second))
    bits = _mix(ops.add(row_keys, column_keys))
    return ops.cast(_shift_right(bits, 8), "float32") * np.float32(2.0**-24)


def attention_rows(batch, heads, length, start=0, count=None):
    """The row ids `[B, H, count, 1]` of attention weights `[B, H, length,
    S]`, rows `start .. start + count` of each head (for `grid_uniform`)."""
    count = length if count is None else count
    b = ops.arange(batch, dtype="int32")[:, None, None, None]
    h = ops.arange(heads, dtype="int32")[None, :, None, None]
    t = (start + ops.arange(count, dtype="int32"))[None, None, :, None]
    return (b * heads + h) * length + t


def attention_keep(shape, rate, seeds, row_start=0, column_start=0, length=None):
    """Which attention weights dropout keeps: bool `shape` = `[B, H, t, s]`,
    the block of rows `row_start ..` and columns `column_start ..` of
    weights `[B, H, length, S]` (`length` None: the block is every row).
    The plain path draws the whole `[B, H, T, S]`, the blocked path a block
    at a time, and both get the same mask from the same seeds."""
    batch, heads, count, width = shape
    rows = attention_rows(batch, heads, count if length is None else length, row_start, count)
    columns = (column_start + ops.arange(width, dtype="int32"))[None, None, None, :]
    return grid_uniform(rows, columns, seeds) >= rate


def drop_attention_weights(weights, rate, seeds, row_start=0, length=None):
    """Attention weights `[B, H, t, S]` with `attention_keep`'s mask: the
    dropped zeroed, the rest scaled by `1 / (1 - rate)`; `weights` as they
    are where `seeds` is None (no dropout in this call)."""
    if seeds is None:
        return weights
    keep = attention_keep(ops.shape(weights), rate, seeds, row_start=row_start, length=length)
    scaled = weights / ops.cast(1.0 - rate, weights.dtype)
    return ops.where(keep, scaled, ops.zeros((), weights.dtype))


def dropout(inputs, rate, seed_generator):
    """`inputs` with each element zeroed with probability `rate` and the
    rest scaled by `1 / (1 - rate)`, as `keras.random.dropout` does; the
    mask from `uniform` with the generator's next seeds."""
    keep = uniform(ops.shape(inputs), seed_generator.next()) >= rate
    scaled = inputs / ops.cast(1.0 - rate, inputs.dtype)
    return ops.where(keep, scaled, ops.zeros((), inputs.dtype))


@keras.saving.register_keras_serializable(package="keras_attention")
class HashDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with its mask drawn by `dropout` above.

    The same arguments, weights (the seed generator's state) and config;
    only the draw differs, and `noise_shape` is not supported.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if noise_shape is not None:
            raise ValueError(
                "HashDropout draws one mask per element: noise_shape must be "
                f"None, received noise_shape={noise_shape!r}"
            )
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return dropout(inputs, self.rate, self.seed_generator)
        return inputs
