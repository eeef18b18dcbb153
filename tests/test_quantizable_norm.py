"""The layer normalization that int8 LiteRT keeps integer equals Keras's in float."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention.layers._quantizable_norm import QuantizableLayerNormalization

RNG = np.random.default_rng(0)


def _pair(**kwargs):
    ours = QuantizableLayerNormalization(**kwargs)
    theirs = keras.layers.LayerNormalization(**kwargs)
    return ours, theirs


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(epsilon=1e-5),
        dict(axis=[1, 2], epsilon=1e-3),
        dict(axis=1),
        dict(center=False),
        dict(scale=False),
        dict(center=False, scale=False),
    ],
    ids=["last", "two_axes", "middle", "no_center", "no_scale", "neither"],
)
def test_outputs_and_gradients_equal_keras(kwargs):
    # Shifted and scaled inputs, so that a wrong mean or variance shows.
    x = tf.constant(3.0 + 2.0 * RNG.normal(size=(3, 5, 8)), tf.float32)
    ours, theirs = _pair(**kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    # Weights away from their ones-and-zeros start, so that their use shows.
    weights = [RNG.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    upstream = tf.constant(RNG.normal(size=x.shape), tf.float32)

    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * upstream)
        return y, tape.gradient(loss, [x] + layer.trainable_variables)

    y_ours, g_ours = gradients(ours)
    y_theirs, g_theirs = gradients(theirs)
    np.testing.assert_allclose(y_ours, y_theirs, atol=2e-5)
    for a, b in zip(g_ours, g_theirs):
        np.testing.assert_allclose(a, b, atol=5e-5)


def test_float32_statistics_under_mixed_precision():
    # float16 inputs around 1000, where float16's resolution is 0.5: a mean
    # rounded to float16 shifts every centered value by up to 0.25, an
    # eighth of their spread (2), far outside the tolerance.
    x = 1000.0 + 2.0 * RNG.normal(size=(2, 4, 64))
    ours = QuantizableLayerNormalization(dtype="mixed_float16", epsilon=1e-6)
    got = ours(tf.constant(x, tf.float16))
    assert got.dtype == tf.float16
    x16 = x.astype(np.float16).astype(np.float64)
    want = (x16 - x16.mean(-1, keepdims=True)) / np.sqrt(x16.var(-1, keepdims=True) + 1e-6)
    # The float16 output's rounding: half a step is 2^-10 where |y| < 4 (the
    # largest here is 3.8); twice that leaves room for the float32 arithmetic.
    assert np.abs(want).max() < 4
    np.testing.assert_allclose(np.asarray(got, np.float64), want, atol=2**-9, rtol=0)


def test_constant_rows_give_beta_not_nan():
    ours = QuantizableLayerNormalization(epsilon=1e-5, beta_initializer="ones")
    got = ours(tf.fill((2, 3, 4), 7.0))
    np.testing.assert_array_equal(got, np.ones((2, 3, 4), np.float32))


def test_saves_and_loads(tmp_path):
    x = keras.Input((4, 6))
    model = keras.Model(x, QuantizableLayerNormalization(epsilon=1e-4, name="norm")(x))
    model.layers[-1].set_weights(
        [RNG.normal(size=(6,)).astype("float32") for _ in range(2)]
    )
    path = tmp_path / "norm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("norm")) is QuantizableLayerNormalization
    assert loaded.get_layer("norm").epsilon == 1e-4
    sample = RNG.normal(size=(2, 4, 6)).astype("float32")
    np.testing.assert_array_equal(loaded(sample), model(sample))
