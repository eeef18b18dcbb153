"""The two other ways to run attention: causal blocks, and the fused op (private).

Blocked causal attention: query block `i` (rows `r0:r1`) can only see keys before `query_start + r1`,
so the scores above the diagonal blocks are never computed: with four
blocks, 5/8 of the attention arithmetic. Keys and values are cut with
`split` and joined with `concatenate`, whose gradients are cheap, rather
than sliced. bench/attention.py measured it faster than one masked product
both with and without XLA (T=256: 20 against 26 ms, and 22 against 34 ms
under XLA, for the attention alone). Keys before the first query (a
memory), if any, form one more part in front, seen by every block.
"""

from keras import ops

from keras_attention.layers._validation import concrete_dim

# At least this many query rows per block, and at most _MAX_BLOCKS blocks.
_MIN_BLOCK_ROWS = 64
_MAX_BLOCKS = 4


def causal_blocks(q_len, key_len, query_start):
    """How many query blocks causal attention splits into (1: no blocking).

    Blocking needs static shapes: a known query length that the blocks
    divide, a static `query_start`, and the queries as the last keys
    (`key_len == query_start + q_len`), as in self-attention with or
    without a memory in front; not a cache or other cross-attention.
    """
    q_len, key_len = concrete_dim(q_len), concrete_dim(key_len)
    if q_len is None or not isinstance(query_start, int):
        return 1
    if key_len != query_start + q_len:
        return 1
    blocks = min(_MAX_BLOCKS, q_len // _MIN_BLOCK_ROWS)
    while blocks > 1 and q_len % blocks:
        blocks -= 1
    return max(blocks, 1)


def blocked_causal_attention(
    layer, query, key, value, mask, query_start, blocks, rows_may_be_empty, training
):
    """`layer`'s causal attention of `[B, H, T, K]` queries over `[B, H, S, K]`
    keys, a query block at a time (its `_compute_scores` and
    `_softmax_values`).

    Args:
        mask: `[B or 1, H or 1, T, S]`, the causal mask included, or `None`.

    Returns:
        `[B, H, T, V]`. Dropout's seeds are drawn once for the call and each
        block's rows numbered in the whole `T`: the mask of the path
        without blocks.
    """
    seeds = layer._dropout_seeds(training)
    size = query.shape[2] // blocks
    queries = ops.split(query, blocks, axis=2)
    start = query_start
    key_parts = [key[:, :, :start]] if start else []
    value_parts = [value[:, :, :start]] if start else []
    key_parts += ops.split(key[:, :, start:], blocks, axis=2)
    value_parts += ops.split(value[:, :, start:], blocks, axis=2)
    first = 1 if start else 0
    outputs = []
    for i in range(blocks):
        seen = first + i + 1
        keys = ops.concatenate(key_parts[:seen], axis=2)
        values = ops.concatenate(value_parts[:seen], axis=2)
        end = start + (i + 1) * size
        block_mask = None if mask is None else mask[:, :, i * size : (i + 1) * size, :end]
        scores = layer._compute_scores(queries[i], keys, start + i * size)
        attended, _ = layer._softmax_values(
            scores, values, block_mask, rows_may_be_empty, training, seeds=seeds,
            row_start=i * size, length=query.shape[2])
        outputs.append(attended)  # [B, H, T / blocks, V]
    return ops.concatenate(outputs, axis=2)


def fused_attention(query, key, value, mask, scale, causal, return_scores,
                    flash_attention=True):
    """`keras.ops.dot_product_attention`, by default with the backend's flash kernel.

    Takes and returns head-major `[B, H, L, X]`, as the layers keep them;
    the op takes `[B, L, H, X]`. The layers use it only for
    `flash_attention=True`, a kernel for GPUs and TPUs: TensorFlow, hence
    TFLite, has none, and on CPU JAX and PyTorch refuse it too. The tests
    run it with `flash_attention=False` (the backend's plain op) to hold
    this function's layout, scale and causal flag to our kernel.
    """
    if return_scores or mask is not None:
        raise ValueError(
            "flash_attention=True returns no attention scores and takes no "
            "mask but use_causal_mask; received "
            + ("return_attention_scores=True" if return_scores else "a mask")
        )
    order = (0, 2, 1, 3)
    attended = ops.dot_product_attention(
        ops.transpose(query, order), ops.transpose(key, order),
        ops.transpose(value, order), scale=scale, is_causal=bool(causal),
        flash_attention=flash_attention,
    )
    return ops.transpose(attended, order)
