"""TwoStreamRelativeAttention: XLNet's content and query streams.

Besides the harness, the tests pin what each stream may see: gradients of
each output with respect to each input token are nonzero exactly where the
factorization order allows (issue 18, item 6).
"""

import numpy as np
import pytest
from keras import ops

from keras_attention.layers import RelativeMultiHeadAttention, TwoStreamRelativeAttention
from tests import harness

RNG = np.random.default_rng(3)
B, T, D, M, P = 2, 5, 16, 3, 2


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def rank_of(order):
    """`rank[i]`: where position `i` comes in the factorization `order`."""
    rank = np.empty(len(order), "int64")
    rank[np.asarray(order)] = np.arange(len(order))
    return rank


def perm_mask_of(orders):
    """`[B, T, T]`, 1 where `i` may not attend to `j`: `j` is not before `i`
    in the order (brute force, position by position)."""
    mask = np.zeros((len(orders), len(orders[0]), len(orders[0])), "float32")
    for b, order in enumerate(orders):
        rank = rank_of(order)
        for i in range(len(order)):
            for j in range(len(order)):
                mask[b, i, j] = float(rank[j] >= rank[i])
    return mask


ORDERS = [[3, 0, 4, 1, 2], [1, 4, 2, 0, 3]]
PERM_MASK = perm_mask_of(ORDERS)
# The last two of each order are the targets; the query stream holds their rows.
TARGET_MAPPING = np.zeros((B, P, T), "float32")
for _b, _order in enumerate(ORDERS):
    for _p, _position in enumerate(_order[-P:]):
        TARGET_MAPPING[_b, _p, _position] = 1.0

# query, key, value kernels 16x4x4 and output 4x4x16, their biases (16 each),
# W_R 16x4x4, u and v (4x4 each)
PLAIN_WEIGHTS, PLAIN_PARAMS = 11, 4 * 256 + 4 * 16 + 256 + 2 * 16

CASES = [
    harness.LayerCase(
        name="targets",
        cls=TwoStreamRelativeAttention,
        init_kwargs=dict(num_heads=4, key_dim=4),
        inputs={
            "content_stream": _normal(B, T, D),
            "query_stream": _normal(B, P, D),
            "perm_mask": PERM_MASK,
            "target_mapping": TARGET_MAPPING,
        },
        trainable_weights=PLAIN_WEIGHTS,
        trainable_params=PLAIN_PARAMS,
    ),
    harness.LayerCase(
        name="segments_memory_scores",
        cls=TwoStreamRelativeAttention,
        init_kwargs=dict(num_heads=4, key_dim=4, use_segments=True),
        inputs={
            "content_stream": _normal(B, T, D),
            "query_stream": _normal(B, T, D),
            "perm_mask": PERM_MASK,
            "segment_ids": np.array([[0, 0, 0, 1, 1], [0, 1, 1, 1, 1]], "int32"),
            "memory": _normal(B, M, D),
        },
        call_kwargs={"return_attention_scores": True},
        # the plain layer, s_same and s_different (2x4x4) and b (4x4)
        trainable_weights=PLAIN_WEIGHTS + 2,
        trainable_params=PLAIN_PARAMS + 32 + 16,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- what each stream sees ----------------------------------------------------


def _jacobian_pattern(layer, h, g, perm_mask, stream, **kwargs):
    """`[B, T_out, T_in]`: whether output row `t` of `stream` moves with the
    content input at position `i` (the query stream's input is held fixed).

    Computed by finite differences on every backend: a change of 1 in one
    token's content, every other token fixed.
    """
    base = ops.convert_to_numpy(layer(h, g, perm_mask, **kwargs)[stream])
    pattern = np.zeros(base.shape[:2] + (h.shape[1],), bool)
    for i in range(h.shape[1]):
        moved = h.copy()
        moved[:, i] += 1.0
        out = ops.convert_to_numpy(layer(moved, g, perm_mask, **kwargs)[stream])
        pattern[:, :, i] = np.abs(out - base).max(-1) > 1e-6
    return pattern


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_stream_sees_exactly_what_the_order_allows(seed):
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(6) for _ in range(2)]
    perm_mask = perm_mask_of(orders)
    h, g = _normal(2, 6, D), _normal(2, 6, D)
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=8)
    # Two layers deep, as in a model: the second reads the first's streams,
    # so a leak in either layer's content stream reaches the query stream.
    second = TwoStreamRelativeAttention(num_heads=2, key_dim=8)

    def stacked(h, g, perm_mask):
        h1, g1 = layer(h, g, perm_mask)
        return second(h1, g1, perm_mask)

    class Stacked:
        def __call__(self, h, g, perm_mask):
            return stacked(h, g, perm_mask)

    before = perm_mask == 0  # strictly before in the order
    at_or_before = before | np.eye(6, dtype=bool)[None]
    for run in (layer, Stacked()):
        for stream, allowed in ((0, at_or_before), (1, before)):
            got = _jacobian_pattern(run, h, g, perm_mask, stream)
            np.testing.assert_array_equal(got, allowed)
    # Its own content never reaches a query-stream row.
    got = _jacobian_pattern(Stacked(), h, g, perm_mask, 1)
    assert not got[:, np.arange(6), np.arange(6)].any()


def test_gradients_follow_the_order_on_the_tensorflow_graph():
    # The same pattern from autodiff (TensorFlow here; the finite
    # differences above run on every backend).
    import tensorflow as tf  # the suite runs on the TensorFlow backend
    rng = np.random.default_rng(7)
    orders = [rng.permutation(T) for _ in range(B)]
    perm_mask = perm_mask_of(orders)
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=8)
    h = tf.constant(_normal(B, T, D))
    g = tf.constant(_normal(B, T, D))
    for stream in (0, 1):
        for row in range(T):
            with tf.GradientTape() as tape:
                tape.watch(h)
                out = layer(h, g, perm_mask)[stream][:, row]
                total = tf.reduce_sum(out * tf.constant(_normal(B, D)))
            grad = tape.gradient(total, h).numpy()  # [B, T, D]
            nonzero = np.abs(grad).max(-1) > 0
            allowed = perm_mask[:, row] == 0
            if stream == 0:
                allowed[:, row] = True
            np.testing.assert_array_equal(nonzero, allowed, err_msg=f"stream {stream} row {row}")


def test_identity_order_content_stream_is_causal_transformer_xl_attention():
    h, g = _normal(B, T, D), _normal(B, T, D)
    layer = TwoStreamRelativeAttention(num_heads=4, key_dim=4)
    identity = perm_mask_of([list(range(T))] * B)
    content, _ = layer(h, g, identity)
    reference = RelativeMultiHeadAttention(num_heads=4, key_dim=4)
    reference(h)
    reference.set_weights(layer.get_weights())
    want = reference(h, use_causal_mask=True)
    np.testing.assert_allclose(ops.convert_to_numpy(content), ops.convert_to_numpy(want),
                               atol=1e-5, rtol=0)
    # ...and with memory: Transformer-XL's value = [memory; segment].
    memory = _normal(B, M, D)
    content, _ = layer(h, g, identity, memory=memory)
    want = reference(h, np.concatenate([memory, h], 1), use_causal_mask=True)
    np.testing.assert_allclose(ops.convert_to_numpy(content), ops.convert_to_numpy(want),
                               atol=1e-5, rtol=0)


def test_query_stream_at_a_target_is_its_row_of_the_full_query_stream():
    h, g = _normal(B, T, D), _normal(B, T, D)
    layer = TwoStreamRelativeAttention(num_heads=4, key_dim=4)
    content, query = layer(h, g, PERM_MASK)
    rows = np.einsum("bpt,btd->bpd", TARGET_MAPPING, g)  # each target's own g
    mapped_content, mapped = layer(h, rows, PERM_MASK, target_mapping=TARGET_MAPPING)
    want = np.einsum("bpt,btd->bpd", TARGET_MAPPING, ops.convert_to_numpy(query))
    np.testing.assert_allclose(ops.convert_to_numpy(mapped), want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(ops.convert_to_numpy(mapped_content),
                               ops.convert_to_numpy(content), atol=1e-6, rtol=0)


def test_memory_equals_attention_over_the_concatenated_segments():
    memory, h, g = _normal(B, M, D), _normal(B, T, D), _normal(B, T, D)
    layer = TwoStreamRelativeAttention(num_heads=4, key_dim=4, use_segments=True)
    segments = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], "int32")
    content, query = layer(h, g, PERM_MASK, memory=memory, segment_ids=segments)
    # One segment of M + T positions: the memory rows see everything (their
    # outputs are dropped), the segment's rows see all of the memory and
    # the segment as the order says; memory counts as segment 0.
    both = np.concatenate([memory, h], 1)
    both_g = np.concatenate([np.zeros((B, M, D), "float32"), g], 1)
    perm = np.zeros((B, M + T, M + T), "float32")
    perm[:, M:, M:] = PERM_MASK
    ids = np.concatenate([np.zeros((B, M), "int32"), segments], 1)
    full_content, full_query = layer(both, both_g, perm, segment_ids=ids)
    np.testing.assert_allclose(ops.convert_to_numpy(content),
                               ops.convert_to_numpy(full_content)[:, M:], atol=1e-5, rtol=0)
    np.testing.assert_allclose(ops.convert_to_numpy(query),
                               ops.convert_to_numpy(full_query)[:, M:], atol=1e-5, rtol=0)


def test_memory_mask_equals_a_shorter_memory():
    memory, h, g = _normal(B, M, D), _normal(B, T, D), _normal(B, T, D)
    layer = TwoStreamRelativeAttention(num_heads=4, key_dim=4)
    hidden = np.array([[False, True, True]] * B)
    masked = layer(h, g, PERM_MASK, memory=memory, memory_mask=hidden)
    shorter = layer(h, g, PERM_MASK, memory=memory[:, 1:])
    for a, b in zip(masked, shorter):
        # Every key kept sits at the same distance from every query in both.
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b),
                                   atol=1e-5, rtol=0)


def test_memory_gets_no_gradient():
    import tensorflow as tf  # the suite runs on the TensorFlow backend
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=8)
    memory = tf.constant(_normal(B, M, D))
    with tf.GradientTape() as tape:
        tape.watch(memory)
        content, query = layer(_normal(B, T, D), _normal(B, T, D), PERM_MASK, memory=memory)
        total = tf.reduce_sum(content) + tf.reduce_sum(query)
    assert tape.gradient(total, memory) is None


def test_segment_term_by_hand():
    # One head of key_dim 2, content and position weights zeroed: the score
    # of i and j is (q_i + b) . s_{same or different} / sqrt(2) alone.
    layer = TwoStreamRelativeAttention(num_heads=1, key_dim=2, use_segments=True,
                                       use_bias=False)
    h = np.zeros((1, 3, 4), "float32")
    g = np.zeros((1, 3, 4), "float32")
    perm = np.zeros((1, 3, 3), "float32")  # everyone sees everyone else
    ids = np.array([[0, 0, 1]], "int32")
    layer(h, g, perm, segment_ids=ids)
    for weight in layer.weights:
        weight.assign(np.zeros(weight.shape, "float32"))
    layer.segment_bias.assign(np.array([[1.0, 0.0]], "float32"))
    # s_same = (2, 0), s_different = (0, 0): scores 2/sqrt(2) between the
    # two positions of segment 0 and 0 elsewhere.
    layer.segment_encoding.assign(np.array([[[2.0, 0.0]], [[0.0, 0.0]]], "float32"))
    *_, weights_h, weights_g = layer(h, g, perm, segment_ids=ids,
                                     return_attention_scores=True)
    same, other = np.exp(np.sqrt(2.0)), 1.0
    want_h = np.array([
        [same, same, other],
        [same, same, other],
        [other, other, same],  # position 2 is alone in segment 1
    ])
    want_h /= want_h.sum(-1, keepdims=True)
    np.testing.assert_allclose(ops.convert_to_numpy(weights_h)[0, 0], want_h, atol=1e-6)
    # perm_mask all 0 lets every row see every position, its own included,
    # so the query stream's weights are the content stream's.
    np.testing.assert_allclose(ops.convert_to_numpy(weights_g)[0, 0], want_h, atol=1e-6)


def test_a_batch_equals_its_examples_one_at_a_time():
    h, g = _normal(B, T, D), _normal(B, P, D)
    memory = _normal(B, M, D)
    ids = np.array([[0, 0, 0, 1, 1], [0, 1, 1, 1, 1]], "int32")
    layer = TwoStreamRelativeAttention(num_heads=4, key_dim=4, use_segments=True)
    together = layer(h, g, PERM_MASK, target_mapping=TARGET_MAPPING, segment_ids=ids,
                     memory=memory, return_attention_scores=True)
    for b in range(B):
        alone = layer(h[b : b + 1], g[b : b + 1], PERM_MASK[b : b + 1],
                      target_mapping=TARGET_MAPPING[b : b + 1], segment_ids=ids[b : b + 1],
                      memory=memory[b : b + 1], return_attention_scores=True)
        for x, y in zip(together, alone):
            np.testing.assert_allclose(ops.convert_to_numpy(x)[b : b + 1],
                                       ops.convert_to_numpy(y), atol=1e-5, rtol=0)


def test_a_row_with_nothing_to_see_gives_zeros_and_finite_gradients():
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=8)
    h, g = _normal(B, T, D), _normal(B, T, D)
    content, query = layer(h, g, PERM_MASK)
    query = ops.convert_to_numpy(query)
    for b, order in enumerate(ORDERS):
        first = order[0]  # nothing comes before it
        np.testing.assert_array_equal(query[b, first], 0.0)
        assert np.abs(query[b, order[1]]).max() > 0
    assert np.all(np.isfinite(ops.convert_to_numpy(content)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(perm_mask=np.zeros((B, T, T + 1), "float32")),
         r"perm_mask must have shape \[B, T, T\] = \[2, 5, 5\], received perm_mask.shape=\(2, 5, 6\)"),
        (dict(query_stream=_normal(B, 3, D), target_mapping=TARGET_MAPPING),
         r"query_stream must have shape \[B, P, D\] = \[2, 2, 16\], received"),
        (dict(perm_mask=PERM_MASK * 0.5),
         r"perm_mask must be boolean or hold only 0 and 1, received perm_mask"),
        (dict(segment_ids=np.zeros((B, T), "int32")),
         r"segment_ids need a layer made with use_segments=True"),
        (dict(memory_mask=np.ones((B, M), bool)),
         r"memory_mask needs memory, received memory=None"),
        (dict(memory=_normal(B, M, D + 2)),
         r"memory must have shape \[B, M, D\] = \[2, \?, 16\]"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=8)
    arguments = dict(query_stream=_normal(B, T, D), perm_mask=PERM_MASK)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        layer(_normal(B, T, D), **arguments)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="takes no sliding_window"):
        TwoStreamRelativeAttention(2, 8, sliding_window=3)
    with pytest.raises(ValueError, match="use_segments must be True or False"):
        TwoStreamRelativeAttention(2, 8, use_segments="yes")
    layer = TwoStreamRelativeAttention(2, 8, use_segments=True)
    with pytest.raises(ValueError, match=r"use_segments=True needs segment_ids"):
        layer(_normal(B, T, D), _normal(B, T, D), PERM_MASK)
