import numpy as np
import pytest
import tensorflow as tf

from keras_attention.layers.learned_positional_embedding import (
    LearnedPositionalEmbedding,
)
from keras_attention.layers.sinusoidal_positional_embedding import (
    SinusoidalPositionalEmbedding,
)
from tests import harness

RNG = np.random.default_rng(0)
B, T, D = 2, 6, 8


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


CASES = [
    harness.LayerCase(
        name="sinusoidal",
        cls=SinusoidalPositionalEmbedding,
        init_kwargs={},
        inputs={"inputs": _normal(B, T, D)},
        trainable_weights=0,
        trainable_params=0,
        has_softmax=False,
    ),
    harness.LayerCase(
        name="sinusoidal_offset",
        cls=SinusoidalPositionalEmbedding,
        init_kwargs=dict(max_wavelength=100.0),
        inputs={"inputs": _normal(B, T, D)},
        call_kwargs={"start_index": 3},
        trainable_weights=0,
        trainable_params=0,
        has_softmax=False,
    ),
    harness.LayerCase(
        name="sinusoidal_table",
        cls=SinusoidalPositionalEmbedding,
        init_kwargs=dict(max_length=12),
        inputs={"inputs": _normal(B, T, D)},
        call_kwargs={"start_index": 3},
        trainable_weights=0,
        trainable_params=0,
        has_softmax=False,
    ),
    harness.LayerCase(
        name="learned_offset",
        cls=LearnedPositionalEmbedding,
        init_kwargs=dict(sequence_length=10),
        inputs={"inputs": _normal(B, T, D)},
        call_kwargs={"start_index": 2},
        trainable_weights=1,
        trainable_params=10 * D,  # one D-vector per position
        has_softmax=False,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


def _sinusoids(positions, dim, max_wavelength):
    """PE[p, 2i] = sin(p / w^(2i/d)), PE[p, 2i + 1] = cos(...), in float64."""
    i = np.arange(dim // 2)
    angles = positions[:, None] / max_wavelength ** (2 * i / dim)[None, :]
    table = np.empty((len(positions), dim))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return table


@pytest.mark.parametrize(
    "start_index,max_wavelength,dim",
    [(0, 10000.0, 16), (25, 10000.0, 16), (7, 100.0, 6)],
)
def test_sinusoids_match_the_formula(start_index, max_wavelength, dim):
    layer = SinusoidalPositionalEmbedding(max_wavelength=max_wavelength)
    x = _normal(B, T, dim)
    want = _sinusoids(np.arange(start_index, start_index + T), dim, max_wavelength)
    # In float32 the angle p * f carries a few rounding errors of 2^-24
    # relative (the power, its exponent, the product), so |error| stays under
    # 3 * 2^-24 * p; sin and cos are 1-Lipschitz, and rounding the result adds
    # 2^-24.
    atol = 3 * 2**-24 * (start_index + T) + 2**-23
    for start in (start_index, tf.constant(start_index)):
        got = np.asarray(layer(x, start_index=start))
        assert got.shape == (B, T, dim)
        np.testing.assert_array_equal(got[0], got[1])  # the same for every batch row
        np.testing.assert_allclose(got[0], want, atol=atol, rtol=0)


@pytest.mark.parametrize("start_index", [0, 5, 14])
def test_sinusoidal_table_matches_the_formula(start_index):
    """The tabulated encodings are the formula's, computed in float64."""
    layer = SinusoidalPositionalEmbedding(max_length=20)
    want = _sinusoids(np.arange(start_index, start_index + T), 16, 10000.0)
    for start in (start_index, tf.constant(start_index)):
        got = np.asarray(layer(_normal(B, T, 16), start_index=start))
        # Only the final rounding to float32: half an ulp of values <= 1.
        np.testing.assert_allclose(got[1], want, atol=2**-24, rtol=0)


def test_sinusoidal_table_rejects_positions_past_max_length():
    layer = SinusoidalPositionalEmbedding(max_length=8)
    with pytest.raises(ValueError, match=r"max_length=8.*start_index=3.*length 6"):
        layer(_normal(B, T, D), start_index=3)


def test_sinusoidal_table_exports_without_sin_or_cos():
    """A run-time position becomes a GATHER from a constant, not SIN and COS."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    import keras_attention_export as export
    from keras_attention_export.report import operators

    layer = SinusoidalPositionalEmbedding(max_length=12)
    x = keras.Input((1, D), batch_size=1, name="x")
    model = keras.Model(x, layer(x))

    def step(x, start):
        return {"encoding": layer(x, start_index=start[0])}

    specs = [
        tf.TensorSpec((1, 1, D), tf.float32, name="x"),
        tf.TensorSpec((1,), tf.int32, name="start"),
    ]
    flatbuffer = export.convert(
        model, signatures={"step": export.Signature(step, specs)}
    )
    names = {name for name, _, _ in operators(flatbuffer)}
    assert "GATHER" in names and not names & {"SIN", "COS"}, names
    runner = Interpreter(model_content=flatbuffer).get_signature_runner("step")
    got = runner(x=_normal(1, 1, D), start=np.array([7], "int32"))["encoding"]
    want = _sinusoids(np.arange(7, 8), D, 10000.0)
    np.testing.assert_allclose(got[0], want, atol=1e-6, rtol=0)


def test_learned_start_index_selects_rows():
    layer = LearnedPositionalEmbedding(sequence_length=10)
    x = _normal(B, 4, D)
    layer(x)
    table = np.asarray(layer.embeddings)
    for start in (0, 6, tf.constant(3)):
        got = np.asarray(layer(x, start_index=start))
        first = int(start)
        want = np.broadcast_to(table[first : first + 4], got.shape)
        np.testing.assert_array_equal(got, want)


def test_learned_rejects_sequences_longer_than_sequence_length():
    layer = LearnedPositionalEmbedding(sequence_length=5)
    layer(_normal(B, 5, D))  # exactly sequence_length is fine
    with pytest.raises(ValueError, match=r"sequence_length=5.*shape=\(2, 6, 8\)"):
        layer(_normal(B, 6, D))


def test_learned_rejects_start_index_past_the_table():
    layer = LearnedPositionalEmbedding(sequence_length=5)
    with pytest.raises(ValueError, match=r"start_index=3 with inputs.shape=\(2, 3, 8\)"):
        layer(_normal(B, 3, D), start_index=3)


def test_learned_start_index_compiles_once_under_xla():
    layer = LearnedPositionalEmbedding(sequence_length=10)
    x = _normal(B, 1, D)
    layer(x)  # build outside the traced function
    step = tf.function(lambda x, i: layer(x, start_index=i), jit_compile=True)
    for i in range(4):
        np.testing.assert_array_equal(
            step(x, tf.constant(i))[0, 0], np.asarray(layer.embeddings)[i]
        )
    assert step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8", None])
def test_learned_bad_sequence_length(value):
    with pytest.raises(ValueError, match=f"sequence_length={value!r}"):
        LearnedPositionalEmbedding(sequence_length=value)


@pytest.mark.parametrize("value", [1, 0.5, -10.0, "10000", None])
def test_sinusoidal_bad_max_wavelength(value):
    with pytest.raises(ValueError, match=f"max_wavelength={value!r}"):
        SinusoidalPositionalEmbedding(max_wavelength=value)


def test_sinusoidal_rejects_odd_width():
    with pytest.raises(ValueError, match=r"even D.*inputs.shape=\(2, 6, 7\)"):
        SinusoidalPositionalEmbedding()(_normal(B, T, 7))


def test_learned_rejects_rank_two_inputs():
    with pytest.raises(ValueError, match=r"inputs.shape=\(2, 6\)"):
        LearnedPositionalEmbedding(sequence_length=8)(_normal(B, T))


# -- unknown lengths (a functional model's `None`) -----------------------------


@pytest.mark.parametrize("max_length", [None, 12])
def test_sinusoidal_unknown_length(max_length):
    """A `None` length builds, and each run gets its own length's encodings."""
    import keras

    layer = SinusoidalPositionalEmbedding(max_length=max_length)
    x = keras.Input((None, D))
    model = keras.Model(x, layer(x, start_index=2))
    assert tuple(model.output.shape) == (None, None, D)
    for length in (4, 9):
        got = model.predict(_normal(B, length, D), verbose=0)
        want = _sinusoids(np.arange(2, 2 + length), D, 10000.0)
        np.testing.assert_allclose(got[1], want, atol=1e-6, rtol=0)


def test_learned_unknown_length():
    import keras

    layer = LearnedPositionalEmbedding(sequence_length=10)
    x = keras.Input((None, D))
    model = keras.Model(x, layer(x, start_index=1))
    table = np.asarray(layer.embeddings)
    for length in (3, 9):
        got = model.predict(_normal(B, length, D), verbose=0)
        np.testing.assert_array_equal(got[0], table[1 : 1 + length])


def test_known_lengths_still_checked_symbolically():
    """A static length past the table fails when the model is built."""
    import keras

    x = keras.Input((12, D))
    with pytest.raises(ValueError, match=r"sequence_length=10.*shape=\(None, 12, 8\)"):
        LearnedPositionalEmbedding(sequence_length=10)(x)
    with pytest.raises(ValueError, match=r"max_length=8.*length 12"):
        SinusoidalPositionalEmbedding(max_length=8)(x)
