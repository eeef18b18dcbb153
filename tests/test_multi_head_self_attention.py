import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention import MultiHeadSelfAttention
from keras_attention.layers import CachedMultiHeadAttention, RelativeMultiHeadAttention
from keras_attention.layers._masking import causal_mask
from keras_attention.models.transformer_xl import with_memory
from tests import harness

RNG = np.random.default_rng(0)
B, T, S, M, D, C = 2, 6, 5, 4, 16, 12


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


QUERY_MASK = harness.lengths_mask([6, 4], T)
CONTEXT_MASK = harness.lengths_mask([3, 5], S)
MEMORY_MASK = harness.lengths_mask([4, 2], M)[:, ::-1].copy()  # older slots empty
# [memory; segment]: the memory's mask, then the segment's steps all real.
MEMORY_VALUE_MASK = np.concatenate([MEMORY_MASK, np.ones((B, T), bool)], axis=1)

CASES = [
    harness.LayerCase(
        name="self",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8),
        inputs={"query": _normal(B, T, D)},
        # 4 kernels of 16x32 / 32x16 and 4 biases of 32, 32, 32, 16
        trainable_weights=8,
        trainable_params=4 * 512 + 3 * 32 + 16,
    ),
    harness.LayerCase(
        name="causal_padded",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8, dropout=0.1),
        inputs={"query": _normal(B, T, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"query": QUERY_MASK},
        explicit_mask=lambda m: {
            "attention_mask": m["query"][:, :, None] & m["query"][:, None, :]
        },
        trainable_weights=8,
        trainable_params=4 * 512 + 3 * 32 + 16,
    ),
    harness.LayerCase(
        # 128 causal steps take the blocked path (two query blocks).
        name="causal_blocked_padded",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=2, key_dim=8, dropout=0.1),
        inputs={"query": _normal(B, 128, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"query": harness.lengths_mask([128, 90], 128)},
        explicit_mask=lambda m: {
            "attention_mask": m["query"][:, :, None] & m["query"][:, None, :]
        },
        # 3 kernels 16x2x8, output kernel 2x8x16, biases 16, 16, 16, 16
        trainable_weights=8,
        trainable_params=4 * 256 + 4 * 16,
    ),
    harness.LayerCase(
        # Blocks of 4 with an online softmax (keras_attention/layers/
        # _online_softmax.py): 3 query and 3 key blocks, the last padded,
        # grouped heads, padding from the Keras mask or the query_mask.
        name="online_softmax_blocks_causal_padded",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=2, key_dim=8, num_key_value_heads=1, block_size=4),
        inputs={"query": _normal(B, 11, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"query": harness.lengths_mask([11, 7], 11)},
        explicit_mask=lambda m: {"query_mask": m["query"]},
        # query 16x2x8 + 16, key and value 16x1x8 + 8 each, output 2x8x16 + 16
        trainable_weights=8,
        trainable_params=2 * (256 + 16) + 2 * (128 + 8),
        # Its loops convert as While ops; the LiteRT export of long
        # sequences is not a use this path is for.
        tflite=False,
        # No softmax op: the online softmax's exponentials, float32 under
        # mixed precision, are pinned in tests/test_online_softmax.py.
        has_softmax=False,
    ),
    harness.LayerCase(
        name="cross_scores",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8, value_dim=6, output_shape=10),
        inputs={"query": _normal(B, T, D), "value": _normal(B, S, C)},
        call_kwargs={"return_attention_scores": True},
        masks={"value": CONTEXT_MASK},
        explicit_mask=lambda m: {
            "attention_mask": np.broadcast_to(m["value"][:, None, :], (B, T, S))
        },
        # query 16x4x8 + 32, key 12x4x8 + 32, value 12x4x6 + 24, output 4x6x10 + 10
        trainable_weights=8,
        trainable_params=512 + 32 + 384 + 32 + 288 + 24 + 240 + 10,
    ),
    harness.LayerCase(
        # Transformer-XL's attention: the queries are the last T of the
        # M + T keys, value = [memory; segment].
        name="xl_memory_relative",
        cls=RelativeMultiHeadAttention,
        init_kwargs=dict(num_heads=4, key_dim=8),
        inputs={"query": _normal(B, T, D), "value": _normal(B, M + T, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"value": MEMORY_VALUE_MASK},
        explicit_mask=lambda m: {"value_mask": m["value"]},
        # the plain layer plus W_R (16x4x8), u and v (4x8 each)
        trainable_weights=11,
        trainable_params=4 * 512 + 3 * 32 + 16 + 512 + 32 + 32,
    ),
    harness.LayerCase(
        # Keras 3.15's additions together: grouped-query heads, the gate and
        # a causal sliding window, with padding.
        name="grouped_gated_window_padded",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(
            num_heads=4, key_dim=8, num_key_value_heads=2, use_gate=True,
            sliding_window=3,
        ),
        inputs={"query": _normal(B, T, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"query": QUERY_MASK},
        explicit_mask=lambda m: {
            "attention_mask": m["query"][:, :, None] & m["query"][:, None, :]
        },
        # query and gate 16x4x8 + 32 each, key and value 16x2x8 + 16 each,
        # output 4x8x16 + 16
        trainable_weights=10,
        trainable_params=2 * (512 + 32) + 2 * (256 + 16) + 512 + 16,
    ),
    harness.LayerCase(
        # Attention over two axes of [B, 3, 4, D] inputs, as one sequence of 12.
        name="two_attention_axes",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=2, key_dim=4, attention_axes=(1, 2), output_shape=(2, 3)),
        inputs={"query": _normal(B, 3, 4, 8)},
        call_kwargs={"use_causal_mask": True},
        # query, key, value 8x2x4 + 8, output 2x4x2x3 + 6
        trainable_weights=8,
        trainable_params=3 * (64 + 8) + 48 + 6,
    ),
    harness.LayerCase(
        name="no_bias",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=2, key_dim=4, use_bias=False),
        inputs={"query": _normal(B, T, D)},
        trainable_weights=4,
        trainable_params=3 * 16 * 8 + 8 * 16,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- parity with keras.layers.MultiHeadAttention ------------------------------


def _pair(query_dim=D, context=False, output_dim=None, **kwargs):
    """Our layer and Keras's, built and holding the same weights."""
    theirs = keras.layers.MultiHeadAttention(
        num_heads=4, key_dim=8, output_shape=output_dim, **kwargs
    )
    ours = MultiHeadSelfAttention(
        num_heads=4, key_dim=8, output_shape=output_dim, **kwargs
    )
    q = _normal(B, T, query_dim)
    c = _normal(B, S, C) if context else q
    theirs(q, c)
    ours(q, value=c if context else None)
    ours.set_weights(theirs.get_weights())
    return ours, theirs, q, c


def test_matches_keras_self_attention():
    ours, theirs, q, _ = _pair(value_dim=6)
    np.testing.assert_allclose(ours(q), theirs(q, q), atol=1e-5, rtol=0)


def test_matches_keras_causal_self_attention():
    ours, theirs, q, _ = _pair()
    np.testing.assert_allclose(
        ours(q, use_causal_mask=True), theirs(q, q, use_causal_mask=True),
        atol=1e-5, rtol=0,
    )


def test_matches_keras_padded_self_attention():
    ours, theirs, q, _ = _pair()
    mask = QUERY_MASK
    got = ours(q, query_mask=mask)
    want = theirs(q, q, query_mask=mask, value_mask=mask)
    # Keras spreads a padded query's weights uniformly; ours gives zeros.
    # Both agree wherever the query is real.
    np.testing.assert_allclose(
        np.asarray(got)[mask], np.asarray(want)[mask], atol=1e-5, rtol=0
    )
    np.testing.assert_array_equal(np.asarray(got)[~mask], 0.0)


def test_matches_keras_cross_attention():
    ours, theirs, q, c = _pair(context=True, output_dim=10)
    got, got_scores = ours(
        q, value=c, value_mask=CONTEXT_MASK, return_attention_scores=True
    )
    want, want_scores = theirs(
        q, c, value_mask=CONTEXT_MASK, return_attention_scores=True
    )
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-6, rtol=0)


def test_matches_keras_grouped_query_attention():
    theirs = keras.layers.GroupQueryAttention(8, 4, 2, sliding_window=3)
    ours = MultiHeadSelfAttention(4, 8, num_key_value_heads=2, sliding_window=3)
    q, c = _normal(B, T, D), _normal(B, S, D)
    theirs(q, c)
    ours(q, c)
    ours.set_weights(theirs.get_weights())
    want, want_scores = theirs(q, c, use_causal_mask=True, return_attention_scores=True)
    got, got_scores = ours(q, c, use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-6, rtol=0)


def test_grouped_heads_shrink_the_cache_and_window_holds_in_steps():
    layer = CachedMultiHeadAttention(4, 8, num_key_value_heads=2, sliding_window=2)
    x = _normal(B, T, D)
    full = layer(x, use_causal_mask=True)
    stepped, cache = _decode_step_by_step(layer, x)
    np.testing.assert_allclose(stepped, full, atol=1e-5, rtol=0)
    assert cache.shape == (B, 2, T, 16)  # H_kv = 2 heads, not 4
    # The window matters: without it the last steps differ.
    wide = CachedMultiHeadAttention(4, 8, num_key_value_heads=2)
    wide(x)
    wide.set_weights(layer.get_weights())
    assert np.abs(np.asarray(wide(x, use_causal_mask=True)) - np.asarray(full)).max() > 1e-3


def test_int8_and_lora_through_the_projections():
    layer = MultiHeadSelfAttention(4, 8)
    x = _normal(B, T, D)
    before = np.asarray(layer(x, use_causal_mask=True))
    layer.query_dense.enable_lora(2)
    assert len(layer.trainable_weights) == 9  # query kernel frozen, A and B added
    np.testing.assert_allclose(layer(x, use_causal_mask=True), before, atol=1e-6)
    for projection in (layer.key_dense, layer.value_dense, layer.output_dense):
        projection.quantize("int8")
    assert layer.key_dense.kernel.dtype == "int8"
    # int8 weights: the output moves by about a weight step, no more.
    np.testing.assert_allclose(layer(x, use_causal_mask=True), before, atol=0.05)


# -- fully masked rows ---------------------------------------------------------


def test_fully_masked_rows_give_zeros_and_finite_gradients():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    q = tf.constant(_normal(B, T, D))
    attention_mask = np.ones((B, T, T), bool)
    attention_mask[0, 2, :] = False  # query 2 of the first example sees nothing
    with tf.GradientTape() as tape:
        tape.watch(q)
        out, scores = layer(
            q, attention_mask=attention_mask, return_attention_scores=True
        )
        loss = tf.reduce_sum(out**2)
    grads = tape.gradient(loss, [q] + layer.trainable_weights)
    np.testing.assert_array_equal(np.asarray(scores)[0, :, 2], 0.0)
    np.testing.assert_array_equal(np.asarray(out)[0, 2], 0.0)
    assert np.abs(np.asarray(out)[0, 3]).sum() > 0
    np.testing.assert_allclose(np.asarray(scores)[0, :, 3].sum(-1), 1.0, atol=1e-6)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_fully_masked_context_gives_zeros():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    context_mask = np.ones((B, S), bool)
    context_mask[1] = False
    out = layer(_normal(B, T, D), value=_normal(B, S, C), value_mask=context_mask)
    np.testing.assert_array_equal(np.asarray(out)[1], 0.0)
    assert np.all(np.abs(np.asarray(out)[0]).sum(-1) > 0)


# -- decoding cache ----------------------------------------------------------


def _decode_step_by_step(layer, x, step_fn=None):
    cache = layer.init_cache(B, T)
    step_fn = step_fn or layer.step
    outputs = []
    for i in range(T):
        out, cache = step_fn(x[:, i : i + 1], cache, tf.constant(i))
        outputs.append(np.asarray(out))
    return np.concatenate(outputs, axis=1), cache


def test_cache_decoding_equals_full_causal_attention():
    layer = CachedMultiHeadAttention(num_heads=4, key_dim=8, value_dim=6)
    x = _normal(B, T, D)
    full = layer(x, use_causal_mask=True)
    stepped, cache = _decode_step_by_step(
        layer, x, lambda xi, cache, i: layer.step(xi, cache, i, use_causal_mask=True)
    )
    np.testing.assert_allclose(stepped, full, atol=1e-5, rtol=0)
    assert cache.shape == (B, 4, T, 8 + 6)


def test_cache_decoding_compiles_with_xla():
    layer = CachedMultiHeadAttention(num_heads=4, key_dim=8)
    x = _normal(B, T, D)
    full = layer(x, use_causal_mask=True)
    step = tf.function(
        lambda xi, cache, i: layer.step(xi, cache, i), jit_compile=True
    )
    stepped, _ = _decode_step_by_step(layer, x, step)
    np.testing.assert_allclose(stepped, full, atol=1e-5, rtol=0)
    # One trace serves every step: the index is a tensor, the shapes static.
    assert step.experimental_get_tracing_count() == 1


def test_cache_prefill_then_step_equals_full():
    layer = RelativeMultiHeadAttention(num_heads=2, key_dim=8)
    x = _normal(B, T, D)
    full = layer(x, use_causal_mask=True)
    cache = layer.init_cache(B, T)
    head, cache = layer.step(x[:, :4], cache, 0, use_causal_mask=True)
    tail, _ = layer.step(x[:, 4:], cache, 4, use_causal_mask=True)
    np.testing.assert_allclose(
        np.concatenate([head, tail], axis=1), full, atol=1e-5, rtol=0
    )


def test_cross_attention_cache_equals_context():
    layer = CachedMultiHeadAttention(num_heads=4, key_dim=8)
    q, c = _normal(B, T, D), _normal(B, S, C)
    mask = np.broadcast_to(CONTEXT_MASK[:, None, :], (B, T, S))
    want, want_scores = layer(
        q, value=c, attention_mask=mask, return_attention_scores=True
    )
    cache = layer.context_cache(c)
    # The cache is read, never written: cross_step returns the scores.
    got, scores = layer.cross_step(q, cache, attention_mask=mask)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6, rtol=0)


def test_cross_attention_cache_honours_context_mask():
    layer = CachedMultiHeadAttention(num_heads=4, key_dim=8)
    q, c = _normal(B, T, D), _normal(B, S, C)
    want = layer(q, value=c, value_mask=CONTEXT_MASK)
    got, _ = layer.cross_step(q, layer.context_cache(c), value_mask=CONTEXT_MASK)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert np.abs(np.asarray(want) - np.asarray(layer(q, value=c))).max() > 1e-3


def test_cache_decode_step_converts_to_tflite(tmp_path):
    layer = CachedMultiHeadAttention(num_heads=2, key_dim=8)
    x = _normal(1, T, D)
    full = np.asarray(layer(x, use_causal_mask=True))
    token = keras.Input((1, D), batch_size=1, name="token")
    cache_in = keras.Input((2, T, 16), batch_size=1, name="cache")
    index = keras.Input((), batch_size=1, dtype="int32", name="index")

    class Step(keras.layers.Layer):
        def call(self, token, cache, index):
            return layer.step(token, cache, index[0])

    out, cache_out = Step()(token, cache_in, index)
    model = keras.Model([token, cache_in, index], [out, cache_out])
    flatbuffer = harness.convert_to_tflite(model, tmp_path / "saved")
    cache = np.zeros((1, 2, T, 16), "float32")
    stepped = []
    for i in range(T):
        out, cache = harness.run_tflite(
            flatbuffer,
            {"token": x[:, i : i + 1], "cache": cache, "index": np.array([i], "int32")},
        )
        stepped.append(out)
    np.testing.assert_allclose(np.concatenate(stepped, 1), full, atol=1e-5, rtol=0)


# -- Transformer-XL memory -----------------------------------------------------


@pytest.mark.parametrize("relative_positions", [False, True])
def test_memory_equals_attention_over_concatenation(relative_positions):
    """With memory = the previous segment, attending over the current segment
    equals the last T rows of causal attention over both segments, because
    the keys and values are the same and relative positions are shift
    invariant. The plain layer needs the causal mask of queries that follow
    M keys spelt out; the relative layer's queries are the last keys."""
    previous, current = _normal(B, M, D), _normal(B, T, D)
    value, _ = with_memory(current, previous)
    if relative_positions:
        layer = RelativeMultiHeadAttention(num_heads=4, key_dim=8)
        segment = layer(current, value, use_causal_mask=True)
    else:
        layer = MultiHeadSelfAttention(num_heads=4, key_dim=8)
        segment = layer(current, value, attention_mask=causal_mask(T, M + T, M)[None])
    whole = layer(np.concatenate([previous, current], 1), use_causal_mask=True)
    np.testing.assert_allclose(segment, np.asarray(whole)[:, M:], atol=1e-5, rtol=0)


def test_memory_mask_equals_shorter_memory():
    layer = RelativeMultiHeadAttention(num_heads=2, key_dim=8)
    memory, x = _normal(1, M, D), _normal(1, T, D)
    value, value_mask = with_memory(x, memory, np.array([[False, False, True, True]]))
    masked = layer(x, value, value_mask=value_mask, use_causal_mask=True)
    shorter = layer(x, with_memory(x, memory[:, 2:])[0], use_causal_mask=True)
    np.testing.assert_allclose(masked, shorter, atol=1e-5, rtol=0)


def test_no_gradient_flows_into_memory():
    layer = RelativeMultiHeadAttention(num_heads=2, key_dim=8)
    memory, x = tf.constant(_normal(B, M, D)), tf.constant(_normal(B, T, D))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([memory, x])
        loss = tf.reduce_sum(layer(x, with_memory(x, memory)[0]) ** 2)
    assert tape.gradient(loss, memory) is None
    assert np.abs(tape.gradient(loss, x)).sum() > 0


def test_relative_positions_differ_from_plain():
    # The position term must change the scores; with zero W_R it vanishes.
    layer = RelativeMultiHeadAttention(num_heads=2, key_dim=8)
    x = _normal(B, T, D)
    with_positions = np.asarray(layer(x))
    layer.position_kernel.assign(np.zeros(layer.position_kernel.shape, "float32"))
    plain = MultiHeadSelfAttention(num_heads=2, key_dim=8)
    plain(x)
    plain.set_weights(layer.get_weights()[3:])  # after W_R, u and v
    np.testing.assert_allclose(layer(x), plain(x), atol=1e-5, rtol=0)
    assert np.abs(with_positions - np.asarray(plain(x))).max() > 1e-3


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_heads=0, key_dim=8), "num_heads must be a positive int, received num_heads=0"),
        (dict(num_heads=2, key_dim=-1), "key_dim must be a positive int, received key_dim=-1"),
        (dict(num_heads=2, key_dim=8, value_dim=2.5), "value_dim=2.5"),
        (dict(num_heads=2, key_dim=8, dropout=1.0), "dropout must be a float in \\[0, 1\\), received dropout=1.0"),
        (dict(num_heads=2, key_dim=8, output_shape=0), "output_shape=0"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadSelfAttention(**kwargs)


def test_bad_shapes_name_the_argument():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=8)
    with pytest.raises(ValueError, match=r"query must have shape \[B, T, D\].*\(2, 16\)"):
        layer(_normal(2, 16))
    layer(_normal(B, T, D))
    with pytest.raises(ValueError, match=r"query must have 16 features.*\(2, 6, 8\)"):
        layer(_normal(B, T, 8))
    # The memory moved to the Transformer-XL model (with_memory).
    with pytest.raises(ValueError, match=r"memory must have shape \[B, M, D\] = \[2, \?, 16\], received memory.shape=\(2, 4, 3\)"):
        with_memory(_normal(B, T, D), _normal(B, M, 3))
    with pytest.raises(ValueError, match=r"memory must have shape .*received memory.shape=\(3, 4, 16\)"):
        with_memory(_normal(B, T, D), _normal(3, M, D))
    with pytest.raises(ValueError, match=r"memory_mask must have shape \[B, M\] = \[2, 4\], received memory_mask.shape=\(2, 3\)"):
        with_memory(_normal(B, T, D), _normal(B, M, D), np.ones((B, 3), bool))
    with pytest.raises(TypeError, match="memory_mask=.*TransformerXL"):
        layer(_normal(B, T, D), memory_mask=np.ones((B, M), bool))
    with pytest.raises(ValueError, match=r"query_mask must have shape \[B, T\] = \[2, 6\], received query_mask.shape=\(2, 5\)"):
        layer(_normal(B, T, D), query_mask=np.ones((B, 5), bool))
    # Decoding moved to CachedMultiHeadAttention.step.
    cached = CachedMultiHeadAttention(num_heads=2, key_dim=8)
    cached(_normal(B, T, D))
    with pytest.raises(ValueError, match=r"cache must have shape \[B, H, S_max, K \+ V\] = \[2, 2, \?, 16\].*\(2, 3, 6, 16\)"):
        cached.step(_normal(B, 1, D), np.zeros((B, 3, T, 16), "float32"), 0)
    with pytest.raises(TypeError, match="cache_update_index=.*CachedMultiHeadAttention.s: its step"):
        layer(_normal(B, T, D), cache_update_index=0)
    cache = np.zeros((B, 2, T, 16), "float32")
    with pytest.raises(ValueError, match=r"cache_update_index must be in \[0, S_max - T\] = \[0, 5\], received cache_update_index=6"):
        cached.step(_normal(B, 1, D), cache, 6)
    with pytest.raises(ValueError, match=r"cache_update_index must be in \[0, S_max - T\] = \[0, 3\], received cache_update_index=4"):
        cached.step(_normal(B, 3, D), cache, 4)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \[B or 1, T, S\] = \[2, 6, 6\], received attention_mask.shape=\(2, 6\)"):
        # A [B, S] padding mask is not an attention mask, even where B == T.
        layer(_normal(B, T, D), attention_mask=np.ones((B, T), bool))
    with pytest.raises(ValueError, match=r"attention_mask must have shape .*= \[2, 6, 10\], received attention_mask.shape=\(2, 6, 6\)"):
        layer(_normal(B, T, D), _normal(B, M + T, D), attention_mask=np.ones((B, T, T), bool))
    cross = MultiHeadSelfAttention(num_heads=2, key_dim=8)
    cross(_normal(B, T, D), value=_normal(B, S, C))
    with pytest.raises(ValueError, match=r"value must have shape \[B, S, 12\].*\(2, 5, 7\)"):
        cross(_normal(B, T, D), value=_normal(B, S, 7))
    with pytest.raises(ValueError, match=r"value must have shape \[B, S, C\] = \[2, \?, \?\], received value.shape=\(3, 5, 12\)"):
        cross(_normal(B, T, D), value=_normal(3, S, C))
    with pytest.raises(ValueError, match=r"value_mask must have shape \[B, S\] = \[2, 5\], received value_mask.shape=\(2, 4\)"):
        cross(_normal(B, T, D), value=_normal(B, S, C), value_mask=np.ones((B, 4), bool))
    with pytest.raises(ValueError, match="value_mask needs a value or a cross-attention cache"):
        cross(_normal(B, T, D), value_mask=np.ones((B, S), bool))
    with pytest.raises(TypeError, match="cache=.*cross_step"):
        cross(_normal(B, T, D), value=_normal(B, S, C), cache=np.zeros((B, 2, S, 16)))


def test_relative_positions_need_even_features_and_queries_as_last_keys():
    with pytest.raises(ValueError, match=r"even number of query features.*\(2, 6, 15\)"):
        RelativeMultiHeadAttention(2, 8)(_normal(B, T, 15))
    # The queries are the last T of the S keys ([memory; segment]).
    with pytest.raises(ValueError, match=r"S >= T.*value.shape=\(2, 5, 12\)"):
        RelativeMultiHeadAttention(2, 8)(_normal(B, T, D), value=_normal(B, S, C))
    with pytest.raises(TypeError, match="relative_positions=.*RelativeMultiHeadAttention"):
        MultiHeadSelfAttention(2, 8, relative_positions=True)


# -- blocked causal attention (the long-sequence path) -------------------------


@pytest.mark.parametrize(
    "length, memory_length, padded",
    [(256, 0, False), (128, 0, True), (192, 32, False), (128, 16, True)],
)
def test_blocked_causal_path_equals_one_masked_product(
    length, memory_length, padded
):
    """Causal self-attention over 128+ steps runs in query blocks; asking for
    the scores takes the one-product path, so the two can be compared."""
    x = _normal(B, length, D)
    kwargs = dict(use_causal_mask=True)
    query_mask = harness.lengths_mask([length, length - 70], length)
    if padded:
        kwargs["query_mask"] = query_mask
    if memory_length:
        # With a memory in front: the relative layer, value = [memory; x].
        layer = RelativeMultiHeadAttention(num_heads=2, key_dim=8)
        value, value_mask = with_memory(
            x, _normal(B, memory_length, D),
            np.ones((B, memory_length), bool) if padded else None,
        )
        kwargs["value"] = value
        if padded:  # the segment's padded steps are padded keys too
            kwargs["value_mask"] = np.concatenate(
                [np.ones((B, memory_length), bool), query_mask], axis=1
            )
    else:
        layer = MultiHeadSelfAttention(num_heads=2, key_dim=8)
    with tf.GradientTape(persistent=True) as tape:
        blocked = layer(x, **kwargs)
        single, _ = layer(x, return_attention_scores=True, **kwargs)
        blocked_loss = tf.reduce_sum(blocked**2)
        single_loss = tf.reduce_sum(single**2)
    np.testing.assert_allclose(blocked, single, atol=1e-5, rtol=0)
    for g_blocked, g_single in zip(
        tape.gradient(blocked_loss, layer.trainable_weights),
        tape.gradient(single_loss, layer.trainable_weights),
    ):
        np.testing.assert_allclose(g_blocked, g_single, atol=1e-4, rtol=1e-5)


def test_causal_blocks_choice():
    from keras_attention.layers._attention_paths import causal_blocks

    def blocks(length, offset=0, key_length=None):
        if key_length is None:
            key_length = None if length is None else length + offset
        return causal_blocks(length, key_length, offset)

    assert blocks(256) == 4
    assert blocks(192) == 3
    assert blocks(130) == 2
    assert blocks(127) == 1
    assert blocks(192, offset=32) == 3
    # Queries that are not the last keys (cross-attention, a cache): none.
    assert blocks(256, key_length=300) == 1
    assert blocks(None) == 1
    assert causal_blocks(256, 259, tf.constant(3)) == 1


def test_relative_scores_match_the_paper_computed_in_numpy():
    """Dai et al. (2019), eq. 4, written out independently:
    a[i, j] = (q_i + u) . k_j + (q_i + v) . (W_R^T R_{i-j}), scaled by
    1/sqrt(K), where query i sits at position M + i, key j at j, and
    R_d[2m] = sin(d / 10000^(2m/D)), R_d[2m+1] = cos(d / 10000^(2m/D))."""
    layer = RelativeMultiHeadAttention(num_heads=2, key_dim=4)
    memory, x = _normal(1, 3, 8), _normal(1, 4, 8)
    value = np.concatenate([memory, x], axis=1)
    layer(x, value)
    layer.content_bias.assign(_normal(2, 4))  # u and v start at zero
    layer.position_bias.assign(_normal(2, 4))
    _, scores = layer(
        x, value, use_causal_mask=True, return_attention_scores=True
    )
    w = {
        name: np.asarray(v, "float64")
        for name, v in [
            ("query_kernel", layer.query_dense.kernel),
            ("query_bias", layer.query_dense.bias),
            ("key_kernel", layer.key_dense.kernel),
            ("key_bias", layer.key_dense.bias),
            ("position_kernel", layer.position_kernel),
            ("content_bias", layer.content_bias),
            ("position_bias", layer.position_bias),
        ]
    }
    both = np.concatenate([memory, x], axis=1)[0].astype("float64")  # [S, D]
    q = np.einsum("td,dhk->thk", x[0], w["query_kernel"]) + w["query_bias"]
    k = np.einsum("sd,dhk->shk", both, w["key_kernel"]) + w["key_bias"]
    M, T, S, D = 3, 4, 7, 8
    want = np.zeros((2, T, S))
    for i in range(T):
        for j in range(S):
            d = M + i - j
            angles = d / 10000 ** (np.arange(0, D, 2) / D)
            R = np.stack([np.sin(angles), np.cos(angles)], -1).reshape(D)
            r = np.einsum("d,dhk->hk", R, w["position_kernel"])
            want[:, i, j] = (
                np.sum((q[i] + w["content_bias"]) * k[j], -1)
                + np.sum((q[i] + w["position_bias"]) * r, -1)
            ) / 2.0  # sqrt(K) = 2
            if j > M + i:
                want[:, i, j] = -np.inf
    want = np.exp(want - want.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    np.testing.assert_allclose(scores[0], want, atol=1e-5, rtol=0)


def test_seeded_initializer_gives_distinct_kernels_with_matrix_fans():
    layer = MultiHeadSelfAttention(
        num_heads=8, key_dim=32, kernel_initializer=keras.initializers.GlorotUniform(7)
    )
    layer(_normal(1, 2, 256))
    q, k, v, o = (
        np.asarray(w)
        for w in (
            layer.query_dense.kernel, layer.key_dense.kernel,
            layer.value_dense.kernel, layer.output_dense.kernel,
        )
    )
    assert not np.array_equal(q, k) and not np.array_equal(k, v)
    # Glorot on a 256 x 256 matrix: uniform with limit sqrt(6 / 512), so a
    # standard deviation of sqrt(1 / 256) = 0.0625, for the output too.
    for kernel in (q, o):
        assert abs(kernel.std() - 0.0625) < 0.002, kernel.std()
    again = MultiHeadSelfAttention(
        num_heads=8, key_dim=32, kernel_initializer=keras.initializers.GlorotUniform(7)
    )
    again(_normal(1, 2, 256))
    np.testing.assert_array_equal(again.key_dense.kernel, k)  # and reproducible


def test_context_cache_under_mixed_precision_is_float16():
    layer = CachedMultiHeadAttention(num_heads=2, key_dim=8, dtype="mixed_float16")
    layer(_normal(B, T, D), value=_normal(B, S, C))
    cache = layer.context_cache(_normal(B, S, C))
    assert cache.dtype == "float16" and layer.init_cache(B, T).dtype == "float16"


def test_long_relative_distances_stay_exact_under_mixed_precision():
    # float16 cannot count past 2048 (2049 rounds to 2048): the distances
    # must be built in float32. Zero key kernels leave the position term
    # alone in the scores, so a wrong distance shows in the weights.
    layer = RelativeMultiHeadAttention(num_heads=2, key_dim=8)
    mixed = RelativeMultiHeadAttention(num_heads=2, key_dim=8, dtype="mixed_float16")
    x, memory = _normal(1, 1, D), _normal(1, 2100, D)
    value = np.concatenate([memory, x], axis=1)
    layer(x, value)
    mixed(x, value)
    kernel = layer.key_dense.kernel
    kernel.assign(np.zeros(kernel.shape, "float32"))
    mixed.set_weights(layer.get_weights())
    _, want = layer(x, value, return_attention_scores=True)
    _, got = mixed(x, value, return_attention_scores=True)
    np.testing.assert_allclose(
        np.asarray(got, "float32"), want, rtol=5e-2, atol=1e-6
    )


def check_fused_path():
    """flash_attention=True hands the heads to keras.ops.dot_product_attention
    with the backend's flash kernel, which needs a GPU; with the plain op
    instead, the same call checks the path's layout, scale and causal flag
    against our kernel. Run here and, on JAX and PyTorch, by
    tests/backend_checks.py."""
    from keras import ops

    from keras_attention.layers._attention_paths import fused_attention

    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    query, key, value = (
        ops.convert_to_tensor(_normal(2, 2, length, 4)) for length in (5, 7, 7)
    )
    for causal in (False, True):
        # Keras's causal mask, like the op's: query t sees keys 0..t.
        want, _ = layer._attend(query, key, value, None, None, False, causal=causal)
        got = fused_attention(query, key, value, None, 0.5, causal, False,
                              flash_attention=False)
        np.testing.assert_allclose(
            ops.convert_to_numpy(got), ops.convert_to_numpy(want), atol=1e-5,
            err_msg=f"causal={causal}",
        )


def test_fused_path_equals_our_kernel():
    check_fused_path()


def test_flash_attention_is_refused_where_the_backend_has_none():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, flash_attention=True)
    with pytest.raises(Exception, match="(?i)flash"):
        layer(_normal(2, 5, 8), use_causal_mask=True)
    with pytest.raises(ValueError, match="flash_attention=True has no attention dropout"):
        MultiHeadSelfAttention(num_heads=2, key_dim=4, flash_attention=True, dropout=0.1)
    with pytest.raises(ValueError, match="needs value_dim equal to key_dim.*value_dim=3"):
        MultiHeadSelfAttention(num_heads=2, key_dim=4, value_dim=3, flash_attention=True)
