"""The counter-based dropout draw (keras_attention/layers/_random.py)."""

import keras
import numpy as np
import pytest

from keras_attention.layers._random import (
    HashDropout, attention_keep, dropout, grid_uniform, uniform,
)


def _lowbias32(x):
    """The hash in numpy uint32, written from its definition, independently."""
    x = np.asarray(x, np.uint64) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def _expected_grid(rows, columns, seeds):
    """Row and column each hashed with a seed, added, hashed: by hand."""
    first = _lowbias32(np.uint64(seeds[0]) ^ 0x3C6EF372)
    second = _lowbias32(np.uint64(seeds[1]) ^ 0x5851F42D)
    rows, columns = np.asarray(rows, np.uint64), np.asarray(columns, np.uint64)
    bits = _lowbias32((_lowbias32(rows ^ first) + _lowbias32(columns ^ second)) & 0xFFFFFFFF)
    return (bits >> 8).astype(np.float32) * np.float32(2.0**-24)


@pytest.mark.parametrize("seeds", [(0, 0), (7, 123456), (2**31 - 1, 5)])
def test_the_numbers_are_the_hash_computed_by_hand(seeds):
    got = keras.ops.convert_to_numpy(uniform((3, 2, 50), np.array(seeds, np.int64)))
    # Rows of the last axis: [3, 2, 50] is the [6, 50] grid.
    want = _expected_grid(np.arange(6)[:, None], np.arange(50)[None, :], seeds)
    np.testing.assert_array_equal(got.reshape(6, 50), want)


def test_grid_numbers_are_the_hash_of_row_and_column_by_hand():
    seeds = (3, 99)
    want = _expected_grid(np.arange(5)[:, None] + 1000, np.arange(7)[None, :], seeds)
    got = grid_uniform(np.arange(5, dtype=np.int32)[:, None] + 1000,
                       np.arange(7, dtype=np.int32)[None, :], np.array(seeds))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)


def test_a_block_of_the_attention_mask_is_that_block_of_the_whole():
    seeds, shape = np.array([1, 2]), (2, 3, 10, 12)
    whole = keras.ops.convert_to_numpy(attention_keep(shape, 0.4, seeds))
    assert abs(whole.mean() - 0.6) < 0.1
    block = attention_keep((2, 3, 4, 5), 0.4, seeds, row_start=4, column_start=6, length=10)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(block), whole[:, :, 4:8, 6:11])
    # Heads and sequences get their own rows: no two share a mask.
    flat = whole.reshape(6, -1)
    assert len({row.tobytes() for row in flat}) == 6


def test_no_two_rows_of_a_long_mask_are_one_row_reordered():
    # Had the column met the row's hash by XOR, rows whose hashes differ in
    # the low 6 bits would hold the same numbers in another order: 31 such
    # pairs among these 65,536 rows of 64 (numpy, by hand). Sorted, every
    # row differs.
    numbers = keras.ops.convert_to_numpy(grid_uniform(
        np.arange(65536, dtype=np.int32)[:, None], np.arange(64, dtype=np.int32)[None, :],
        np.array([5, 6])))
    assert len({np.sort(row).tobytes() for row in numbers}) == 65536


def test_the_numbers_are_uniform_and_independent():
    numbers = keras.ops.convert_to_numpy(uniform((1 << 16,), np.array([1, 2])))
    assert numbers.min() >= 0.0 and numbers.max() < 1.0
    # 65,536 draws: the mean's standard error is 0.0011, the variance's 0.0003.
    assert abs(numbers.mean() - 0.5) < 0.006
    assert abs(numbers.var() - 1 / 12) < 0.0015
    counts, _ = np.histogram(numbers, bins=16, range=(0, 1))
    assert counts.min() > 0.9 * len(numbers) / 16
    assert abs(np.corrcoef(numbers[:-1], numbers[1:])[0, 1]) < 0.02
    other = keras.ops.convert_to_numpy(uniform((1 << 16,), np.array([1, 3])))
    assert abs(np.corrcoef(numbers, other)[0, 1]) < 0.02


def test_dropout_keeps_one_minus_rate_and_scales_what_it_keeps():
    generator = keras.random.SeedGenerator(3)
    x = np.linspace(1.0, 2.0, 40_000, dtype=np.float32).reshape(200, 200)
    first = keras.ops.convert_to_numpy(dropout(x, 0.3, generator))
    kept = first != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(first[kept], x[kept] / 0.7, rtol=1e-6)
    # The generator moves on: the next mask is another one.
    second = keras.ops.convert_to_numpy(dropout(x, 0.3, generator))
    assert 0.4 < np.mean((second != 0) == kept) < 0.7


def test_under_xla_the_mask_is_the_eager_one():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("checks tf.function(jit_compile=True)")
    seeds = tf.constant([11, 12], tf.int64)
    compiled = tf.function(lambda s: uniform((4, 33), s), jit_compile=True)
    np.testing.assert_array_equal(compiled(seeds).numpy(), uniform((4, 33), seeds).numpy())


def test_hash_dropout_is_a_keras_dropout_with_its_own_draw():
    layer = HashDropout(0.5, seed=1)
    x = np.ones((8, 16), np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    dropped = keras.ops.convert_to_numpy(layer(x, training=True))
    assert set(np.unique(dropped)) <= {0.0, 2.0} and 0 < dropped.mean() < 2
    again = HashDropout.from_config(layer.get_config())
    assert again.rate == 0.5 and again.seed == 1
    with pytest.raises(ValueError, match=r"noise_shape must be None, received noise_shape=\(1, 16\)"):
        HashDropout(0.5, noise_shape=(1, 16))
