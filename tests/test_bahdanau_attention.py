import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention.layers._hard_attention import gumbel
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


def _query_and_values_masks(masks):
    """The cases' Keras masks as the explicit call arguments."""
    return {"query_mask": masks["query"], "values_mask": masks["values"]}

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
        explicit_mask=_query_and_values_masks,
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
    harness.LayerCase(
        name="hard_masked",
        cls=BahdanauAttention,
        init_kwargs=dict(units=U, hard=True, seed=1),
        inputs={"query": _normal(B, T, DQ), "values": _normal(B, S, DV)},
        call_kwargs={"return_attention_scores": True},
        masks={"query": QUERY_MASK, "values": VALUES_MASK},
        explicit_mask=_query_and_values_masks,
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


def test_hard_attention_reads_the_most_attended_value():
    # Outside training the context is the value with the largest weight,
    # exactly; a masked step is never read, and a row with nothing to
    # attend to reads nothing.
    layer = BahdanauAttention(units=U, hard=True)
    query, values = _normal(B, T, DQ), _normal(B, S, DV)
    mask = VALUES_MASK.copy()
    mask[1] = False
    context, weights = layer(query, values, values_mask=mask, return_attention_scores=True)
    context, weights = context.numpy(), weights.numpy()
    chosen = weights[0].argmax(-1)  # [T]
    assert np.all(mask[0][chosen])
    np.testing.assert_array_equal(context[0], values[0][chosen])
    np.testing.assert_array_equal(context[1], 0.0)
    np.testing.assert_array_equal(weights[1], 0.0)
    # The weights are still the soft attention's.
    soft = BahdanauAttention(units=U)
    soft(query, values)
    soft.set_weights(layer.get_weights())
    _, soft_weights = soft(query, values, values_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(weights, soft_weights, atol=1e-6)


def test_hard_attention_samples_each_value_as_often_as_its_weight():
    # While training the context is a sample: over many draws of the same
    # query each value comes as often as its weight says (Gumbel-max).
    draws = 4000
    layer = BahdanauAttention(units=U, hard=True, seed=3)
    query = np.repeat(_normal(1, 1, DQ), draws, axis=1)  # [1, draws, Dq]
    values = np.eye(S, dtype="float32")[None]  # value s is the one-hot of s
    layer.build(query.shape, values.shape)
    # Scores 3 tanh(s - 2) for s = 0..4, whatever the query: weights about
    # 0.003, 0.006, 0.056, 0.54 and 0.40.
    layer.query_kernel.assign(np.zeros((DQ, U), "float32"))
    key_kernel = np.zeros((S, U), "float32")
    key_kernel[:, 0] = np.arange(S) - 2.0
    layer.key_kernel.assign(key_kernel)
    layer.attention_v.assign(np.eye(U, dtype="float32")[0] * 3)
    context, weights = layer(query, values, training=True, return_attention_scores=True)
    assert set(np.unique(context.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(context.numpy().sum(-1), 1.0)  # one value each
    share = context.numpy()[0].mean(0)  # [S]: how often each value came
    # Within 4 standard deviations of the weights (at most 0.032 here).
    np.testing.assert_allclose(share, weights.numpy()[0, 0], atol=0.032)
    # Weights far from uniform, or the test would show little.
    assert np.ptp(weights.numpy()[0, 0]) > 0.2


def test_hard_attention_gradient_is_the_soft_attentions():
    # Straight-through: the forward pass reads the value the noisy scores
    # pick, the backward pass differentiates softmax(scores) @ values, the
    # sample's expectation (Bengio et al. 2013).
    layer = BahdanauAttention(units=U, hard=True, seed=2)
    query = tf.constant(_normal(B, T, DQ))
    values = tf.constant(_normal(B, S, DV))
    noise = tf.constant(layer.draw_sampling_noise((B, T, S)))
    probe = tf.constant(_normal(B, T, DV))  # a linear loss: the same dL/dc
    with tf.GradientTape() as tape:
        context = layer(query, values, sampling_noise=noise, training=True)
        loss = tf.reduce_sum(context * probe)
    got = tape.gradient(loss, layer.query_kernel)
    with tf.GradientTape() as tape:
        hidden = tf.tanh(
            (query @ layer.query_kernel)[:, :, None, :] + (values @ layer.key_kernel)[:, None]
        )
        scores = tf.reduce_sum(hidden * layer.attention_v, -1)  # [B, T, S]
        soft = tf.nn.softmax(scores)
        loss = tf.reduce_sum((soft @ values) * probe)
    want = tape.gradient(loss, layer.query_kernel)
    assert np.abs(want.numpy()).max() > 1e-3
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # The forward value is the value at the argmax of the noisy scores.
    chosen = tf.argmax(scores + noise, -1).numpy()
    picked = np.take_along_axis(values.numpy()[:, None], chosen[..., None, None], 2)[:, :, 0]
    np.testing.assert_array_equal(context.numpy(), picked)


def test_hard_attention_arguments_are_checked():
    with _raises("hard must be True or False, received hard='yes'"):
        BahdanauAttention(units=U, hard="yes")
    with _raises("dropout must be 0 with hard=True", "received dropout=0.2"):
        BahdanauAttention(units=U, hard=True, dropout=0.2)
    with _raises("draw_sampling_noise is for a layer with hard=True"):
        BahdanauAttention(units=U).draw_sampling_noise((B, S))
    layer = BahdanauAttention(units=U, hard=True)
    with _raises("sampling_noise must have the shape of the weights [B, (T,) S]",
                 "received sampling_noise.shape=(2, 4)"):
        layer(_normal(B, DQ), _normal(B, S, DV), sampling_noise=_normal(B, S - 1),
              training=True)
    noise = layer.draw_sampling_noise((1000, S)).numpy()
    assert np.all(np.isfinite(noise))
    # The ends of what `uniform` draws (0 and 1 - 2^-24) give finite noise:
    # one number in 2^24 is an end, and a training run draws billions.
    ends = gumbel(np.array([0.0, 2.0**-24, 1 - 2.0**-24], "float32")).numpy()
    np.testing.assert_allclose(ends, [-2.8115, -2.8115, 16.6355], atol=1e-3)
    # Gumbel(0, 1): mean Euler's gamma 0.5772, variance pi^2 / 6 = 1.645.
    assert abs(noise.mean() - 0.5772) < 0.06 and abs(noise.var() - 1.645) < 0.15


def test_hard_attention_in_int8_reads_the_value_keras_reads(tmp_path):
    # Full-integer LiteRT reads the same value as Keras wherever the two
    # agree on the largest weight, and disagrees only where int8 cannot
    # tell the two largest apart. (int8 ONE_HOT wrote its off value as the
    # raw int8 0, which reads back as 0.5: every context was a blend.)
    from ai_edge_litert.interpreter import Interpreter

    from keras_attention_export import Exporter

    query = keras.Input((DQ,), batch_size=1, name="query")
    values = keras.Input((S, DV), batch_size=1, name="values")
    context, weights = BahdanauAttention(units=U, hard=True, seed=0)(
        query, values, return_attention_scores=True
    )
    model = keras.Model({"query": query, "values": values}, [context, weights])
    rng = np.random.default_rng(7)
    samples = [{"query": 3 * rng.normal(size=(1, DQ)).astype("float32"),
                "values": rng.normal(size=(1, S, DV)).astype("float32")}
               for _ in range(40)]
    path = str(tmp_path / "hard_int8.tflite")
    with Exporter(model) as exporter:
        exporter.export_tflite(path, mode="int8",
                               representative_data={"serving_default": samples})
    runner = Interpreter(path).get_signature_runner()
    agree = 0
    # Calibrated on the samples it runs: outside its calibrated range int8
    # saturates, which is not what this test is about.
    for sample in samples[:20]:
        got = runner(**sample)
        want_context, want_weights = (np.asarray(x)[0] for x in model(sample))
        top = np.sort(want_weights)[-2:]
        if np.argmax(got["output_1"][0]) == np.argmax(want_weights):
            agree += 1
            np.testing.assert_allclose(got["output_0"][0], want_context, atol=0.05)
        else:
            assert top[1] - top[0] < 0.02, (want_weights, got["output_1"])
    assert agree >= 15, agree
