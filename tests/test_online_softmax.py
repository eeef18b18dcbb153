"""The blocked attention with an online softmax equals the plain path:
outputs and gradients, for every mask it takes (keras_attention/layers/_online_softmax.py)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_attention.layers import MultiHeadSelfAttention
from keras_attention.layers import _attention_blocks as mhsa_module
from keras_attention.layers import _masking as masks
from keras_attention.layers._online_softmax import online_softmax_attention


def _plain(query, key, value, key_valid, scale, causal, query_start):
    """The full `[B, H, T, S]` product and masked softmax, as the layers run it."""
    scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))) * scale
    q_len, key_len = query.shape[2], key.shape[2]
    mask = masks.combine(
        None if key_valid is None else masks.padding_mask(None, key_valid),
        masks.causal_mask(q_len, key_len, query_start)[None, None] if causal else None,
    )
    weights = masks.masked_softmax(scores, mask)
    return ops.matmul(weights, value)


def _numpy_attention(query, key, value, key_valid, scale, causal, query_start):
    """Independent of both: float64 numpy, row by row."""
    b, h, t, _ = query.shape
    s = key.shape[2]
    out = np.zeros((b, h, t, value.shape[3]))
    for bi in range(b):
        for hi in range(h):
            for ti in range(t):
                allowed = np.ones(s, bool) if key_valid is None else key_valid[bi].astype(bool)
                if causal:
                    allowed &= np.arange(s) <= query_start + ti
                if not allowed.any():
                    continue
                logits = query[bi, hi, ti] @ key[bi, hi].T * scale
                logits = np.where(allowed, logits, -np.inf)
                weights = np.exp(logits - logits.max())
                weights /= weights.sum()
                out[bi, hi, ti] = weights @ value[bi, hi]
    return out


CASES = {
    # name: (T, S, block, causal, query_start, padded)
    "full_divisible": (8, 8, 4, False, 0, False),
    "full_ragged": (7, 10, 4, False, 0, True),
    "causal_self": (12, 12, 4, True, 0, False),
    "causal_self_ragged_padded": (11, 11, 4, True, 0, True),
    "causal_after_memory": (6, 10, 4, True, 4, True),
    "one_block": (5, 5, 8, True, 0, False),
}


def _inputs(t, s, padded, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(2, 3, t, 4)).astype("float32")
    key = rng.normal(size=(2, 3, s, 4)).astype("float32")
    value = rng.normal(size=(2, 3, s, 5)).astype("float32")
    valid = None
    if padded:
        valid = np.ones((2, s), bool)
        valid[1, s - 3:] = False  # a padded tail
        valid[0, :2] = False  # and a padded head: causal row 0 and 1 see nothing
    return query, key, value, valid


@pytest.mark.parametrize("name", CASES)
def test_outputs_and_gradients_equal_the_plain_path(name):
    t, s, block, causal, start, padded = CASES[name]
    query, key, value, valid = _inputs(t, s, padded)
    scale = 1 / math.sqrt(4)
    expected = _numpy_attention(query, key, value, valid, scale, causal, start)
    q, k, v = (tf.Variable(x) for x in (query, key, value))
    upstream = np.random.default_rng(1).normal(size=expected.shape).astype("float32")
    results = {}
    for path, run in {
        "blocked": lambda: online_softmax_attention(
            q, k, v, valid, scale=scale, causal=causal, query_start=start, block_size=block),
        "plain": lambda: _plain(q, k, v, valid, scale, causal, start),
    }.items():
        with tf.GradientTape() as tape:
            out = run()
            loss = tf.reduce_sum(out * upstream)
        grads = tape.gradient(loss, [q, k, v])
        results[path] = (out.numpy(), [g.numpy() for g in grads])
    out, grads = results["blocked"]
    np.testing.assert_allclose(out, expected, atol=2e-6)
    for got, want, what in zip(grads, results["plain"][1], "qkv"):
        assert np.isfinite(got).all(), what
        np.testing.assert_allclose(got, want, atol=3e-6, err_msg=f"d{what}")


def test_a_row_with_no_key_is_zero_and_its_gradient_finite():
    query, key, value, _ = _inputs(8, 8, False)
    valid = np.ones((2, 8), bool)
    valid[0] = False  # sequence 0 has no key at all
    q = tf.Variable(query)
    with tf.GradientTape() as tape:
        out = online_softmax_attention(q, key, value, valid, scale=0.5, block_size=4)
        loss = tf.reduce_sum(out)
    (grad,) = tape.gradient(loss, [q])
    assert np.all(out.numpy()[0] == 0.0)
    assert np.all(grad.numpy()[0] == 0.0) and np.isfinite(grad.numpy()).all()


def test_under_xla_in_a_compiled_function():
    t, s, block, causal, start, padded = CASES["causal_after_memory"]
    query, key, value, valid = _inputs(t, s, padded)

    @tf.function(jit_compile=True)
    def run(q, k, v):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            out = online_softmax_attention(q, k, v, valid, scale=0.5, causal=True,
                                           query_start=start, block_size=block)
            loss = tf.reduce_sum(out * out)
        return out, tape.gradient(loss, [q, k, v])

    out, grads = run(tf.constant(query), tf.constant(key), tf.constant(value))
    np.testing.assert_allclose(
        out.numpy(), _numpy_attention(query, key, value, valid, 0.5, True, start), atol=2e-6)
    q, k, v = (tf.Variable(x) for x in (query, key, value))
    with tf.GradientTape() as tape:
        plain = _plain(q, k, v, valid, 0.5, True, start)
        loss = tf.reduce_sum(plain * plain)
    for got, want in zip(grads, tape.gradient(loss, [q, k, v])):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=3e-6)


def test_mixed_precision_inputs_keep_float32_statistics():
    query, key, value, valid = _inputs(12, 12, True)
    half = [keras.ops.cast(x, "float16") for x in (query, key, value)]
    out = online_softmax_attention(*half, valid, scale=0.5, causal=True, block_size=4)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    want = _numpy_attention(query, key, value, valid, 0.5, True, 0)
    np.testing.assert_allclose(ops.convert_to_numpy(out).astype("float32"), want, atol=3e-3)
    # Every exponential, forward and backward (inside the loops' functions), is float32.
    q = tf.Variable(half[0])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = online_softmax_attention(q, *half[1:], valid, scale=0.5, causal=True,
                                           block_size=4)
        return tape.gradient(tf.reduce_sum(out), q)

    graph = step.get_concrete_function().graph.as_graph_def()
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    exps = [tf.dtypes.as_dtype(n.attr["T"].type).name for n in nodes if n.op == "Exp"]
    assert len(exps) >= 2 and set(exps) == {"float32"}, exps


def test_refuses_what_it_cannot_block():
    query, key, value, _ = _inputs(4, 4, False)
    with pytest.raises(ValueError, match="query_start must be a Python int"):
        online_softmax_attention(query, key, value, scale=1.0, query_start=np.int32(1) + 0.5)


# -- the layer's blocked path ----------------------------------------------------


def _twins(block_size=4, **kwargs):
    """The same layer (same weights) on the blocked path and the plain one."""
    blocked = MultiHeadSelfAttention(block_size=block_size, **kwargs)
    plain = MultiHeadSelfAttention(block_size=0, **kwargs)
    return blocked, plain


def _same_call(blocked, plain, inputs, **call):
    def run(layer):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = layer(*inputs, **call)
            loss = tf.reduce_sum(out * tf.sin(tf.reshape(
                tf.range(tf.size(out), dtype="float32"), tf.shape(out))))
        return out, tape.gradient(loss, [*inputs, *layer.trainable_weights])

    out_b, grads_b = run(blocked)
    out_p, grads_p = run(plain)
    np.testing.assert_allclose(out_b.numpy(), out_p.numpy(), atol=3e-6)
    for got, want in zip(grads_b, grads_p):
        assert np.isfinite(got.numpy()).all()
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=3e-5)
    return out_b


def _build_twin(blocked, plain, *shapes):
    blocked.build(*shapes)
    plain.build(*shapes)
    plain.set_weights(blocked.get_weights())


@pytest.mark.parametrize("causal", [False, True])
def test_the_layer_in_blocks_equals_the_plain_layer_with_padding(causal):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 11, 8)).astype("float32")
    mask = np.ones((2, 11), bool)
    mask[1, 7:] = False
    mask[0, :2] = False  # padding in front: causal rows 0 and 1 see nothing
    x[1, 7:] = 1e3  # garbage in the padding, which no real row may read
    blocked, plain = _twins(num_heads=2, key_dim=3, use_gate=True, num_key_value_heads=1)
    _build_twin(blocked, plain, x.shape)
    out = _same_call(blocked, plain, [tf.constant(x)], query_mask=mask,
                     use_causal_mask=causal)
    assert np.all(out.numpy()[1, 7:] == 0.0)
    # NaN in the padding (the gradients of a NaN input are NaN through any
    # dense layer; the outputs are not).
    x[1, 7:] = np.nan
    got = blocked(x, query_mask=mask, use_causal_mask=causal).numpy()
    np.testing.assert_allclose(got, out.numpy(), atol=1e-6)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("causal,length", [(False, 11), (True, 11), (True, 128)])
def test_dropout_in_blocks_drops_what_the_plain_path_drops(causal, length):
    # The same seed, so the same seeds drawn: the blocks' mask, drawn a
    # block at a time in the forward and again in the backward pass, must
    # be the plain path's whole mask, outputs and gradients alike. At 128
    # causal rows the plain path itself runs in query blocks
    # (`causal_blocks`), which draw one set of seeds for the whole call.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, length, 8)).astype("float32")
    mask = np.ones((2, length), bool)
    mask[1, 8:] = False
    # Blocks of 32 at 128 rows: four, not 32 (each a loop step, eager).
    blocked, plain = _twins(block_size=4 if length < 32 else 32, num_heads=2, key_dim=4,
                            dropout=0.3, seed=5)
    _build_twin(blocked, plain, x.shape)
    out = _same_call(blocked, plain, [tf.constant(x)], query_mask=mask,
                     use_causal_mask=causal, training=True)
    # It did drop: not the output without dropout, and not the next draw.
    quiet = plain(x, query_mask=mask, use_causal_mask=causal, training=False)
    assert np.abs(out.numpy() - quiet.numpy()).max() > 1e-2
    again = blocked(x, query_mask=mask, use_causal_mask=causal, training=True)
    assert np.abs(out.numpy() - again.numpy()).max() > 1e-2


def test_the_blocks_dropout_is_the_mask_applied_by_hand():
    # Independent of the plain path: numpy attention with the mask that
    # attention_keep gives the whole [B, H, T, S], scaled by 1 / (1 - p).
    from keras_attention.layers._random import attention_keep

    query, key, value, _ = _inputs(9, 9, False, seed=3)
    seeds, rate = np.array([4, 9]), 0.25
    got = online_softmax_attention(query, key, value, scale=0.5, causal=True, block_size=4,
                                   dropout=rate, dropout_seeds=seeds)
    keep = ops.convert_to_numpy(attention_keep((2, 3, 9, 9), rate, seeds))
    assert 0.6 < keep.mean() < 0.9
    q, k, v = (ops.convert_to_numpy(t).astype("float64") for t in (query, key, value))
    logits = q @ k.transpose(0, 1, 3, 2) * 0.5
    logits = np.where(np.tril(np.ones((9, 9), bool)), logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    want = np.where(keep, weights / (1 - rate), 0.0) @ v
    np.testing.assert_allclose(ops.convert_to_numpy(got), want, atol=1e-5)


def test_cross_attention_with_key_and_value_masks():
    rng = np.random.default_rng(1)
    query = rng.normal(size=(2, 9, 6)).astype("float32")
    value = rng.normal(size=(2, 13, 5)).astype("float32")
    value_mask = np.ones((2, 13), bool)
    value_mask[0, 10:] = False
    key_mask = np.ones((2, 13), bool)
    key_mask[1] = False  # sequence 1 has no key: its rows are zero, bias included
    query_mask = np.ones((2, 9), bool)
    query_mask[0, -1] = False
    blocked, plain = _twins(num_heads=3, key_dim=4, value_dim=2, output_shape=7)
    _build_twin(blocked, plain, query.shape, value.shape)
    out = _same_call(blocked, plain, [tf.constant(query), tf.constant(value)],
                     query_mask=query_mask, value_mask=value_mask, key_mask=key_mask)
    assert np.all(out.numpy()[1] == 0.0)


def test_block_size_none_takes_blocks_for_long_sequences_only(monkeypatch):
    calls = []
    real = mhsa_module.online_softmax_attention
    monkeypatch.setattr(mhsa_module, "online_softmax_attention",
                        lambda *a, **k: calls.append(k["block_size"]) or real(*a, **k))
    monkeypatch.setattr(mhsa_module, "AUTO_MIN_SCORES", 12 * 12)
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, dropout=0.1)
    layer(np.zeros((1, 11, 8), "float32"))
    assert calls == []  # 11 * 11 scores: under the threshold
    layer(np.zeros((1, 12, 8), "float32"), training=False)
    assert calls == [mhsa_module.DEFAULT_BLOCK_SIZE]
    # Dropout at work: blocks too, which draw it a block at a time.
    layer(np.zeros((1, 12, 8), "float32"), training=True)
    assert len(calls) == 2
    # Scores asked for, an attention mask: the plain path.
    layer(np.zeros((1, 12, 8), "float32"), return_attention_scores=True)
    layer(np.zeros((1, 12, 8), "float32"), attention_mask=np.ones((12, 12), bool))
    assert len(calls) == 2


def test_an_explicit_block_size_says_what_it_cannot_take():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, block_size=4)
    x = np.zeros((1, 8, 8), "float32")
    with pytest.raises(ValueError, match=r"block_size=4 runs attention in blocks, which "
                       r"cannot take return_attention_scores=True"):
        layer(x, return_attention_scores=True)
    with pytest.raises(ValueError, match="cannot take an attention_mask"):
        layer(x, attention_mask=np.ones((8, 8), bool))
    with pytest.raises(ValueError, match=r"block_size must be None \(blocks for long "
                       r"sequences\), 0 \(never\) or a positive int, received block_size=-1"):
        MultiHeadSelfAttention(num_heads=2, key_dim=4, block_size=-1)
    config = layer.get_config()
    assert config["block_size"] == 4
    assert MultiHeadSelfAttention.from_config(config).block_size == 4


def test_an_output_shape_of_several_axes_zeroes_its_empty_rows():
    # [B, T, 2, 3] outputs: a padded row is zero across both trailing axes.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 9, 8)).astype("float32")
    mask = np.ones((2, 9), bool)
    mask[1, 5:] = False
    blocked, plain = _twins(num_heads=2, key_dim=4, output_shape=(2, 3))
    _build_twin(blocked, plain, x.shape)
    out = _same_call(blocked, plain, [tf.constant(x)], query_mask=mask,
                     use_causal_mask=True)
    assert out.shape == (2, 9, 2, 3) and np.all(out.numpy()[1, 5:] == 0.0)
