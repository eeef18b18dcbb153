"""`MultiHeadSelfAttention`'s path through attention in blocks (private).

Which calls take it (`block_plan`), and the call on it (`blocked_call`);
the blocks themselves are `_online_softmax.online_softmax_attention`.
"""

import math

from keras import ops

from keras_attention.layers import _masking as masks
from keras_attention.layers._online_softmax import (
    AUTO_MIN_SCORES,
    DEFAULT_BLOCK_SIZE,
    online_softmax_attention,
)
from keras_attention.layers._validation import concrete_dim, in_symbolic_scope


def block_plan(layer, base, query, key, attention_mask, return_scores, training):
    """The block size `layer` runs this call in, or `None` for the plain path.

    `base` is `MultiHeadSelfAttention`: a subclass that overrides its scores
    (relative positions) cannot take the blocks, which compute their own.
    """
    own_scores = (type(layer)._compute_scores is not base._compute_scores
                  or type(layer)._compute_attention is not base._compute_attention)
    if layer.block_size == 0 or layer.flash_attention or in_symbolic_scope():
        # While Keras infers the output's shape, the plain path gives the
        # same (and PyTorch's unknown lengths stand in as 83 there).
        return None
    q_len, key_len = concrete_dim(query.shape[1]), concrete_dim(key.shape[1])
    cannot = []
    if own_scores:
        cannot.append(f"{type(layer).__name__}'s own attention scores")
    if not layer._sequence_axis_only(len(query.shape)):
        cannot.append(f"attention_axes={layer.attention_axes} on a rank "
                      f"{len(query.shape)} input (blocks take [B, T, D])")
    if return_scores:
        cannot.append("return_attention_scores=True (the [T, S] scores blocks avoid)")
    if attention_mask is not None:
        cannot.append("an attention_mask (blocks take the causal and padding masks)")
    if layer.sliding_window is not None:
        cannot.append(f"sliding_window={layer.sliding_window}")
    if q_len is None or key_len is None:
        cannot.append(f"lengths unknown when traced (T={query.shape[1]}, S={key.shape[1]})")
    if layer.block_size is None:
        if cannot or q_len * key_len < AUTO_MIN_SCORES:
            return None
        return DEFAULT_BLOCK_SIZE
    if cannot:
        raise ValueError(
            f"block_size={layer.block_size} runs attention in blocks, which "
            f"cannot take {'; '.join(cannot)}: use block_size=None (blocks "
            "where they can run) or 0"
        )
    return layer.block_size


def blocked_call(layer, query, q, k, v, query_mask, key_mask, causal, size, training):
    """`layer`'s call on the blocked path: projected `[B, T, H, K]`,
    `[B, S, H_kv, K]`, `[B, S, H_kv, V]` and the `[B, T]`, `[B, S]` masks to
    the output, zero (bias included) where a row has no key. In training,
    the layer's attention dropout is drawn a block at a time, the same mask
    as the plain path's from the same seeds."""
    seeds = layer._dropout_seeds(training)
    rate = layer.dropout if seeds is not None else 0.0
    q_len, key_len = query.shape[1], k.shape[1]
    query_start = layer._query_start(q_len, key_len)
    heads_first = (0, 2, 1, 3)
    q = ops.transpose(q, heads_first)  # [B, H, T, K]
    k = layer._repeat_groups(ops.transpose(k, heads_first))  # [B, H, S, K]
    v = layer._repeat_groups(ops.transpose(v, heads_first))  # [B, H, S, V]
    attended = online_softmax_attention(
        q, k, v, key_mask, query_valid=query_mask,
        scale=1.0 / math.sqrt(layer.key_dim), causal=causal,
        query_start=query_start, block_size=size, dropout=rate, dropout_seeds=seeds,
    )  # [B, H, T, V]
    output = layer._project_output(ops.transpose(attended, heads_first), query, None)
    has_key = masks.rows_with_a_key(query_mask, key_mask, q_len, causal, query_start)
    if has_key is None:
        return output
    for _ in range(len(output.shape) - 2):  # [B, T, *output_shape]
        has_key = has_key[..., None]
    return ops.where(has_key, output, ops.zeros_like(output))
