import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention.layers.bahdanau_attention import BahdanauAttention
from tests import harness

RNG = np.random.default_rng(0)
B, T, S, DQ, DV, U = 2, 4, 5, 6, 3, 8


def _raises(*parts):
    """`pytest.raises(ValueError)` whose message holds `parts` in order."""
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


VALUES_MASK = harness.lengths_mask([3, 5], S)
QUERY_MASK = harness.lengths_mask([4, 2], T)

# query_kernel 6x8, key_kernel 3x8, attention_v 8
PARAMS = DQ * U + DV * U + U

CASES = [
    harness.LayerCase(
        name="step_masked",
        cls=BahdanauAttention,
        init_kwargs=dict(units=U),
        inputs={"query": _normal(B, DQ), "values": _normal(B, S, DV)},
        masks={"values": VALUES_MASK},
        explicit_mask=lambda m: {"values_mask": m["values"]},
        trainable_weights=3,
        trainable_params=PARAMS,
    ),
    harness.LayerCase(
        name="sequence_weights",
        cls=BahdanauAttention,
        init_kwargs=dict(units=U),
        inputs={"query": _normal(B, T, DQ), "values": _normal(B, S, DV)},
        call_kwargs={"return_attention_scores": True},
        trainable_weights=3,
        trainable_params=PARAMS,
    ),
    harness.LayerCase(
        name="sequence_masked",
        cls=BahdanauAttention,
        init_kwargs=dict(units=U),
        inputs={"query": _normal(B, T, DQ), "values": _normal(B, S, DV)},
        call_kwargs={"return_attention_scores": True},
        masks={"query": QUERY_MASK, "values": VALUES_MASK},
        explicit_mask=lambda m: {
            "query_mask": m["query"],
            "values_mask": m["values"],
        },
        trainable_weights=3,
        trainable_params=PARAMS,
    ),
    harness.LayerCase(
        name="normalize",
        cls=BahdanauAttention,
        init_kwargs=dict(units=U, normalize=True),
        inputs={"query": _normal(B, T, DQ), "values": _normal(B, S, DV)},
        # the plain layer plus g (a scalar) and b (8)
        trainable_weights=5,
        trainable_params=PARAMS + 1 + U,
    ),
    harness.LayerCase(
        name="dropout",
        cls=BahdanauAttention,
        init_kwargs=dict(units=U, dropout=0.3, seed=1),
        inputs={"query": _normal(B, DQ), "values": _normal(B, S, DV)},
        trainable_weights=3,
        trainable_params=PARAMS,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


def _hand_set_layer(normalize=False):
    """units=2, Dq=Dv=2, W_q = I/2, W_k = [[1, 1], [0, 1]], v = [1, 2]."""
    layer = BahdanauAttention(units=2, normalize=normalize)
    layer.build((1, 2), (1, 3, 2))
    layer.query_kernel.assign([[0.5, 0.0], [0.0, 0.5]])
    layer.key_kernel.assign([[1.0, 1.0], [0.0, 1.0]])
    layer.attention_v.assign([1.0, 2.0])
    return layer


QUERY = np.array([[1.0, -1.0]], "float32")  # [1, 2]
VALUES = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]], "float32")  # [1, 3, 2]
# q W_q = [0.5, -0.5]; h_s W_k = [1, 1], [0, 1], [-1, -1]; their sums are
# [1.5, 0.5], [0.5, 0.5], [-0.5, -1.5].
PRE_TANH = np.array([[1.5, 0.5], [0.5, 0.5], [-0.5, -1.5]])


def _softmax(e):
    return np.exp(e) / np.exp(e).sum()


def test_hand_computed_weights_and_context():
    weights_want = _softmax(np.tanh(PRE_TANH) @ [1.0, 2.0])
    # e = tanh(1.5) + 2 tanh(0.5), 3 tanh(0.5), -tanh(0.5) - 2 tanh(1.5)
    #   = 1.829383, 1.386351, -2.272414
    # a = softmax(e) = 0.602907, 0.387119, 0.009974
    # c = a_1 [1, 0] + a_2 [0, 1] + a_3 [-1, 0] = [0.592933, 0.387119]
    np.testing.assert_allclose(weights_want, [0.602907, 0.387119, 0.009974], atol=1e-6)
    context, weights = _hand_set_layer()(QUERY, VALUES, return_attention_scores=True)
    np.testing.assert_allclose(weights[0], weights_want, atol=1e-6)
    np.testing.assert_allclose(context[0], [0.592933, 0.387119], atol=1e-6)

    # Masking h_1 leaves softmax(1.386351, -2.272414) = 0.974883, 0.025117,
    # so c = 0.974883 [0, 1] + 0.025117 [-1, 0].
    context, weights = _hand_set_layer()(
        QUERY,
        VALUES,
        values_mask=np.array([[False, True, True]]),
        return_attention_scores=True,
    )
    np.testing.assert_allclose(weights[0], [0.0, 0.974883, 0.025117], atol=1e-6)
    np.testing.assert_allclose(context[0], [-0.025117, 0.974883], atol=1e-6)


def test_hand_computed_weight_normalisation():
    layer = _hand_set_layer(normalize=True)
    # g starts at sqrt(1 / units) = sqrt(1/2).
    np.testing.assert_allclose(layer.attention_g.numpy(), 0.5**0.5, rtol=1e-7)
    layer.attention_v.assign([3.0, 4.0])
    layer.attention_g.assign(2.0)
    layer.attention_b.assign([0.1, -0.1])
    # g v / ||v|| = 2 [3, 4] / 5 = [1.2, 1.6]; b shifts the tanh arguments.
    weights_want = _softmax(np.tanh(PRE_TANH + [0.1, -0.1]) @ [1.2, 1.6])
    # e = 1.2 tanh(1.6) + 1.6 tanh(0.4), 1.2 tanh(0.6) + 1.6 tanh(0.4),
    #     1.2 tanh(-0.4) + 1.6 tanh(-1.6) = 1.713921, 1.252378, -1.930608
    np.testing.assert_allclose(weights_want, [0.603703, 0.380520, 0.015777], atol=1e-6)
    context, weights = layer(QUERY, VALUES, return_attention_scores=True)
    np.testing.assert_allclose(weights[0], weights_want, atol=1e-6)
    np.testing.assert_allclose(
        context[0], [weights_want[0] - weights_want[2], weights_want[1]], atol=1e-6
    )


@pytest.mark.parametrize("sequence", [False, True], ids=["step", "sequence"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_parity_with_keras_additive_attention(sequence, masked):
    query = _normal(B, T, DQ) if sequence else _normal(B, DQ)
    values = _normal(B, S, DV)
    mask = VALUES_MASK if masked else None
    layer = BahdanauAttention(units=U)
    context, weights = layer(
        query, values, values_mask=mask, return_attention_scores=True
    )
    # AdditiveAttention scores sum(scale * tanh(q + k)): with q = query W_q
    # and k = values W_k its scale is v.
    reference = keras.layers.AdditiveAttention(use_scale=True)
    reference.build([(B, T, U), (B, S, DV), (B, S, U)])
    reference.scale.assign(layer.attention_v)
    projected = np.asarray(query) @ layer.query_kernel.numpy()
    if not sequence:
        projected = projected[:, None, :]
    want_context, want_weights = reference(
        [projected, values, values @ layer.key_kernel.numpy()],
        mask=[None, mask],
        return_attention_scores=True,
    )
    if not sequence:
        want_context, want_weights = want_context[:, 0], want_weights[:, 0]
    np.testing.assert_allclose(context, want_context, atol=1e-5, rtol=0)
    np.testing.assert_allclose(weights, want_weights, atol=1e-5, rtol=0)


def test_precomputed_keys_give_the_same_output():
    layer = BahdanauAttention(units=U, normalize=True)
    query, values = _normal(B, T, DQ), _normal(B, S, DV)
    plain = layer(query, values)
    keys = layer.precompute_keys(values)
    assert tuple(keys.shape) == (B, S, U)
    np.testing.assert_allclose(layer(query, values, keys=keys), plain, atol=1e-6)


def test_fully_masked_source_gives_zeros_and_finite_gradients():
    layer = BahdanauAttention(units=U, normalize=True)
    query = tf.constant(_normal(B, T, DQ))
    values = tf.constant(_normal(B, S, DV))
    mask = np.array([[False] * S, [True] * S])  # nothing to attend to in row 0
    with tf.GradientTape() as tape:
        tape.watch([query, values])
        context, weights = layer(
            query, values, values_mask=mask, return_attention_scores=True
        )
        loss = tf.reduce_sum(context**2) + tf.reduce_sum(weights)
    assert np.all(weights[0].numpy() == 0.0) and np.all(context[0].numpy() == 0.0)
    np.testing.assert_allclose(tf.reduce_sum(weights[1], -1), np.ones(T), atol=1e-6)
    grads = tape.gradient(loss, [query, values, *layer.trainable_weights])
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert np.all(grads[1][0].numpy() == 0.0)  # the masked source gets no gradient


def test_padded_query_steps_give_zero_context_and_mask():
    layer = BahdanauAttention(units=U)
    query = keras.Input((T, DQ))
    output = layer(keras.layers.Masking(0.0)(query), keras.Input((S, DV)))
    assert output._keras_mask is not None  # the query's padding propagates
    step = layer(keras.Input((DQ,)), keras.Input((S, DV)))
    assert getattr(step, "_keras_mask", None) is None
    context = layer(_normal(B, T, DQ), _normal(B, S, DV), query_mask=QUERY_MASK)
    np.testing.assert_array_equal(context.numpy()[~QUERY_MASK], 0.0)
    assert np.all(np.abs(context.numpy()[QUERY_MASK]).sum(-1) > 0)


def test_bad_arguments_raise():
    with _raises("units must be a positive int, received units=0"):
        BahdanauAttention(units=0)
    with _raises("received units=8.0"):
        BahdanauAttention(units=8.0)
    with _raises("dropout must be a float in [0, 1), received dropout=1.0"):
        BahdanauAttention(units=U, dropout=1.0)


def test_mismatched_shapes_raise():
    with _raises("query must", "received query.shape=(2, 4, 5, 6)"):
        BahdanauAttention(U).build((2, 4, 5, 6), (2, S, DV))
    with _raises("values must", "received values.shape=(2, 3) (query.shape=(2, 6))"):
        BahdanauAttention(U).build((2, DQ), (2, DV))
    with _raises(
        "same batch size, received query.shape=(2, 6) and values.shape=(3, 5, 3)"
    ):
        BahdanauAttention(U).build((2, DQ), (3, S, DV))
    with _raises("precompute_keys needs a built layer"):
        BahdanauAttention(U).precompute_keys(_normal(B, S, DV))

    layer = BahdanauAttention(U)
    query, values = _normal(B, DQ), _normal(B, S, DV)
    layer(query, values)
    with _raises("query must have shape [B, 6]", "received query.shape=(2, 7)"):
        layer(_normal(B, 7), values)
    with _raises("values must have shape [B, S, 3]", "received values.shape=(2, 5, 4)"):
        layer(query, _normal(B, S, 4))
    with _raises(
        "query must have the batch size of values, received query.shape=(3, 6)"
    ):
        layer(_normal(3, DQ), values)
    with _raises("keys must have shape [B, S, 8], received keys.shape=(2, 4, 8)"):
        layer(query, values, keys=_normal(B, S - 1, U))
    with _raises(
        "values_mask must have shape [B, S], received values_mask.shape=(2, 4)"
    ):
        layer(query, values, values_mask=np.ones((B, S - 1), bool))
    with _raises(
        "query_mask must have the shape of query[..., 0]",
        "received query_mask.shape=(2, 3)",
    ):
        layer(_normal(B, T, DQ), values, query_mask=np.ones((B, T - 1), bool))
