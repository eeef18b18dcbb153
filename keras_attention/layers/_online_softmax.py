"""Attention in blocks with an online softmax: memory linear in the length (private).

The plain path holds the scores `[B, H, T, S]`, and its gradient keeps them
(and the weights) for the backward pass: memory grows with `T * S`. Here the
queries and keys go in blocks: for each query block, the key blocks it may
see are read one at a time, keeping a running maximum, a running sum of
exponentials and a running weighted sum of values (the online softmax,
Milakov and Gimelshein 2018), so that no more than one `[B, H, bq, bk]`
block of scores exists at a time. The forward pass keeps the output and
each row's log-sum-exp; the backward pass recomputes each block's weights
from them rather than storing them (FlashAttention, Dao et al. 2022,
Algorithm 2 and its backward), so training memory is linear in `T` too.
Each pass writes its result a block at a time, as the output of a
`keras.ops.scan`, never by updating a slice of a whole tensor (PyTorch's
`slice_update` copies the tensor); the backward runs in two passes, `dK`
and `dV` by key block, then `dQ` by query block, which recomputes the
scores once more than one pass would (7 block products against 5) and
keeps every accumulator a block in size.
Causal key blocks entirely above a query block's last position are never
visited: about half the arithmetic of the full product.

The loops are `keras.ops.scan` and `keras.ops.fori_loop`, so the graph's
size does not grow with `T` (`tf.while_loop`s on TensorFlow, `lax` loops on
JAX, Python loops on PyTorch), and the gradient is `keras.ops.custom_gradient`, the same on
the three backends.

Masks stay factored, never `[T, S]`: causal (query row `t` at position
`query_start + t` sees keys up to it) and a key padding mask `[B, S]`.
Scores and weights are float32 whatever the inputs' dtype; a query row
with no key to attend to gets a zero output, as `masked_softmax` gives it,
and no NaN in the gradients.
"""

import math

from keras import ops

from keras_attention.layers._random import attention_keep
from keras_attention.layers._validation import concrete_dim

# Rows or keys a block, and the fewest scores (T * S) for which a layer with
# block_size=None takes this path: below it the plain path's one product is
# faster and its [T, S] scores are small.
DEFAULT_BLOCK_SIZE = 256
AUTO_MIN_SCORES = 2048 * 2048


def _blocks(length, size):
    return max(1, -(-length // size))


def _pad_to(x, length, axis=2):
    missing = length - x.shape[axis]
    if missing == 0:
        return x
    widths = [(0, 0)] * len(x.shape)
    widths[axis] = (0, missing)
    return ops.pad(x, widths)


def online_softmax_attention(query, key, value, key_valid=None, *, scale, causal=False,
                             query_start=0, block_size=DEFAULT_BLOCK_SIZE,
                             query_valid=None, dropout=0.0, dropout_seeds=None):
    """Softmax attention of `[B, H, T, K]` queries over `[B, H, S, K]` keys
    and `[B, H, S, V]` values, in blocks of `block_size` rows and keys.

    Args:
        key_valid: `None` or `[B, S]`, true (or 1) where a key may be attended.
        query_valid: `None` or `[B, T]`, false where a query row is padding:
            its output is zero.
        scale: the factor of the scores (`1 / sqrt(K)` in the Transformer).
        causal: query row `t` sees keys `0 .. query_start + t`.
        query_start: a Python int, where query 0 sits among the keys.
        block_size: rows and keys per block.
        dropout: the rate at which normalised weights are dropped (the rest
            scaled by `1 / (1 - dropout)`), as the plain path's attention
            dropout does; 0 for none.
        dropout_seeds: with `dropout`, the two seeds of the mask: each
            block's part of it is drawn from its rows and columns
            (`_random.attention_keep`), the same in the backward pass as in
            the forward, and the same as the plain path's whole mask.

    Returns:
        `[B, H, T, V]` in the query's dtype; zero for a row that sees no key.

    The lengths, heads and widths must be static (the blocks are counted in
    Python), the batch need not; `T` and `S` need not divide by the block
    size (the last block is padded, the padding masked).
    """
    heads, q_len, k_dim = (concrete_dim(d) for d in query.shape[1:])
    key_len = concrete_dim(key.shape[2])
    v_dim = concrete_dim(value.shape[3])
    if None in (heads, q_len, key_len, k_dim, v_dim):
        raise ValueError(
            "online_softmax_attention needs static shapes, received query "
            f"{tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}")
    if not isinstance(query_start, int):
        raise ValueError(f"query_start must be a Python int, received {query_start!r}")
    size = int(block_size)
    num_q, num_k = _blocks(q_len, size), _blocks(key_len, size)
    dtype = query.dtype
    batch = ops.shape(query)[0]  # may be unknown until run
    # Keys that padding hides: the caller's, and those that pad S to blocks.
    keys_masked = key_valid is not None or key_len % size != 0
    if keys_masked:
        valid = (ops.ones((batch, key_len), "float32") if key_valid is None
                 else ops.cast(ops.cast(key_valid, "bool"), "float32"))
        # [B, 1, 1, S'] with the padded keys invalid.
        valid = _pad_to(valid, num_k * size, axis=1)[:, None, None, :]

    def block_mask(i, j, diagonal):
        """Which keys of block `j` the rows of block `i` see: `[B, 1, bq, bk]`
        on a causal diagonal block, `[B, 1, 1, bk]` (padding only) or `None`
        (every key) on a block wholly below the diagonal."""
        allowed = None
        if keys_masked:
            allowed = ops.slice(valid, (0, 0, 0, j * size), (batch, 1, 1, size)) > 0.5
        if diagonal:
            rows = query_start + i * size + ops.arange(size, dtype="int32")[:, None]
            cols = j * size + ops.arange(size, dtype="int32")[None, :]
            causal_part = (cols <= rows)[None, None]
            allowed = causal_part if allowed is None else ops.logical_and(allowed, causal_part)
        return allowed

    def masked(mask, x, fill):
        return x if mask is None else ops.where(mask, x, fill)

    def keep_mask(i, j):
        """The dropout mask's block `(i, j)`, `[B, H, bq, bk]`, or None
        without dropout."""
        if not dropout:
            return None
        return attention_keep((batch, heads, size, size), dropout, dropout_seeds,
                              row_start=i * size, column_start=j * size, length=q_len)

    def dropped(x, keep):
        """`x` (a `[B, H, bq, bk]` block of weights) with `keep` applied and
        scaled by `1 / (1 - dropout)`, or `x` without dropout. FlashAttention
        (Dao et al. 2022, Algorithm 2) drops the unnormalised weights the
        output sums and normalises by the sum of them all."""
        return x if keep is None else ops.where(keep, x * (1.0 / (1.0 - dropout)), 0.0)

    def last_key_block(i):
        """One past the last key block that rows of query block `i` may see."""
        if not causal:
            return num_k
        last_position = query_start + (i + 1) * size - 1
        return ops.minimum(num_k, ops.maximum(last_position // size + 1, 0))

    def full_key_blocks(i):
        """The key blocks `0 ..` this that every row of query block `i` sees
        whole (causal: their last key is at or before the block's first row)."""
        if not causal:
            return num_k
        return ops.minimum(num_k, ops.maximum((query_start + i * size + 1) // size, 0))

    def first_query_block(j):
        """The first query block whose rows may see key block `j`."""
        if not causal:
            return 0
        return ops.minimum(num_q, ops.maximum((j * size - query_start) // size, 0))

    def first_full_query_block(j):
        """The first query block all of whose rows see key block `j` whole."""
        if not causal:
            return 0
        first = -((query_start + 1 - (j + 1) * size) // size)  # ceil((.. - qs) / size)
        return ops.minimum(num_q, ops.maximum(first, first_query_block(j)))

    def key_ranges(i):
        """`(start, stop, diagonal)` ranges of the key blocks query block `i` reads."""
        if not causal:
            return [(0, num_k, False)]
        full = full_key_blocks(i)
        return [(0, full, False), (full, last_key_block(i), True)]

    def query_ranges(j):
        """`(start, stop, diagonal)` ranges of the query blocks that read key block `j`."""
        if not causal:
            return [(0, num_q, False)]
        full = first_full_query_block(j)
        return [(first_query_block(j), full, True), (full, num_q, False)]

    def loops(ranges, step, state):
        """`step(index, state, diagonal)` over each range in turn."""
        for start, stop, diagonal in ranges:
            state = ops.fori_loop(start, stop,
                                  lambda n, s, d=diagonal: step(n, s, d), state)
        return state

    def scores_of(q_block, k_block, i, j, diagonal):
        scores = ops.matmul(q_block, ops.transpose(k_block, (0, 1, 3, 2)))
        scores = ops.cast(scores, "float32") * scale
        return scores, block_mask(i, j, diagonal)

    def row_block(x, i):
        return ops.slice(x, (0, 0, i * size, 0), (batch, heads, size, x.shape[3]))

    # Each scan below goes over block indices and outputs one block a step;
    # its carry has the outputs' structure (Keras's TensorFlow scan asks it):
    # a block of zeros, passed through unchanged. The loops' accumulators
    # start from the same zeros.
    def zeros(width):
        return ops.zeros((batch, heads, size, width), "float32")

    def block_indices(count):
        return ops.arange(count, dtype="int32")

    def stacked(blocks):
        """`[n, B, H, size, X]` blocks from a scan -> `[B, H, n * size, X]`."""
        n, _, _, _, width = blocks.shape
        blocks = ops.transpose(blocks, (1, 2, 0, 3, 4))
        return ops.reshape(blocks, (-1, heads, n * size, width))

    def forward(q, k, v):
        """`q`, `k`, `v` padded to whole blocks -> the output and log-sum-exp."""

        def query_block(carry, i):
            q_block = row_block(q, i)

            def key_block(j, state, diagonal):
                maximum, total, acc = state
                k_block, v_block = row_block(k, j), row_block(v, j)
                scores, mask = scores_of(q_block, k_block, i, j, diagonal)
                scores = masked(mask, scores, -math.inf)
                new_max = ops.maximum(maximum, ops.max(scores, axis=-1))
                # A row with no key yet keeps -inf: shift by 0 there.
                shift = ops.where(ops.isfinite(new_max), new_max, 0.0)
                weights = masked(mask, ops.exp(scores - shift[..., None]), 0.0)
                decay = ops.where(ops.isfinite(maximum), ops.exp(maximum - shift), 0.0)
                total = total * decay + ops.sum(weights, axis=-1)
                acc = acc * decay[..., None] + ops.cast(
                    ops.matmul(ops.cast(dropped(weights, keep_mask(i, j)), v_block.dtype), v_block),
                    "float32")
                return new_max, total, acc

            state = (ops.full((batch, heads, size), -math.inf, "float32"),
                     ops.zeros((batch, heads, size), "float32"), zeros(v_dim))
            maximum, total, acc = loops(key_ranges(i), key_block, state)
            seen = total > 0.0
            block_out = ops.where(seen[..., None],
                                  acc / ops.where(seen, total, 1.0)[..., None], 0.0)
            # +inf for a row with no key: exp(score - inf) = 0 in the backward.
            block_lse = ops.where(seen, maximum + ops.log(ops.where(seen, total, 1.0)),
                                  math.inf)
            return carry, (block_out, block_lse[..., None])

        _, (out, lse) = ops.scan(query_block, (zeros(v_dim), zeros(1)), block_indices(num_q))
        return stacked(out), stacked(lse)[..., 0]

    def backward(q, k, v, out, lse, upstream):
        """Two passes, each writing its gradient a block at a time: the key
        blocks' `dK`, `dV` (reading the query blocks that see them), then
        the query blocks' `dQ` (reading the key blocks they see). Each
        recomputes its weights from the log-sum-exp (all padded to blocks)."""
        upstream = _pad_to(ops.cast(upstream, "float32"), num_q * size)
        # D_t = sum_v dO_tv O_tv, the softmax's correction per row.
        correction = ops.sum(upstream * out, axis=-1)  # [B, H, T']

        def block_gradients(q_block, k_block, v_block, i, j, diagonal):
            """This block's weights (before dropout), its dropout mask (or
            None: drawn once, for dP here and dV in the first pass), and
            the gradient of its scores (scaled). With dropout, the weights'
            gradient is the dropped weights' gradient through the mask, and
            `correction` (from the dropped output) is still each row's
            `sum_s P dP` (FlashAttention's backward with dropout)."""
            scores, mask = scores_of(q_block, k_block, i, j, diagonal)
            lse_i = ops.slice(lse, (0, 0, i * size), (batch, heads, size))
            weights = masked(mask, ops.exp(scores - lse_i[..., None]), 0.0)
            d_out = row_block(upstream, i)  # [B, H, bq, V]
            keep = keep_mask(i, j)
            d_weights = dropped(ops.matmul(
                d_out, ops.transpose(ops.cast(v_block, "float32"), (0, 1, 3, 2))), keep)
            corr_i = ops.slice(correction, (0, 0, i * size), (batch, heads, size))
            return weights, keep, d_out, weights * (d_weights - corr_i[..., None]) * scale

        def key_block(carry, j):
            k_block, v_block = row_block(k, j), row_block(v, j)

            def query_block(i, state, diagonal):
                d_k, d_v = state
                q_block = row_block(q, i)
                weights, keep, d_out, d_scores = block_gradients(
                    q_block, k_block, v_block, i, j, diagonal)
                # The output summed the dropped weights: so does dV.
                d_v = d_v + ops.matmul(ops.transpose(dropped(weights, keep), (0, 1, 3, 2)),
                                       d_out)
                d_k = d_k + ops.matmul(ops.transpose(d_scores, (0, 1, 3, 2)),
                                       ops.cast(q_block, "float32"))
                return d_k, d_v

            return carry, loops(query_ranges(j), query_block, (zeros(k_dim), zeros(v_dim)))

        def query_block(carry, i):
            q_block = row_block(q, i)

            def key_block(j, d_q, diagonal):
                k_block, v_block = row_block(k, j), row_block(v, j)
                *_, d_scores = block_gradients(q_block, k_block, v_block, i, j, diagonal)
                return d_q + ops.matmul(d_scores, ops.cast(k_block, "float32"))

            d_q = loops(key_ranges(i), key_block, zeros(k_dim))
            return carry, d_q

        _, (d_key, d_value) = ops.scan(key_block, (zeros(k_dim), zeros(v_dim)),
                                       block_indices(num_k))
        _, d_query = ops.scan(query_block, zeros(k_dim), block_indices(num_q))
        return (ops.cast(stacked(d_query)[:, :, :q_len], query.dtype),
                ops.cast(stacked(d_key)[:, :, :key_len], key.dtype),
                ops.cast(stacked(d_value)[:, :, :key_len], value.dtype))

    @ops.custom_gradient
    def attention(q, k, v):
        # Padded to whole blocks once, for both passes.
        q = _pad_to(q, num_q * size)
        k, v = _pad_to(k, num_k * size), _pad_to(v, num_k * size)
        out, lse = forward(q, k, v)

        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow and JAX: grad(upstream)
                (upstream,) = args
            return backward(q, k, v, out, lse, upstream)

        return ops.cast(out[:, :, :q_len], dtype), grad

    # Padding may hold anything, NaN included: select it away (`where`, whose
    # gradient there is zero) so that no 0 * NaN reaches a real row.
    if key_valid is not None:
        keys = ops.cast(key_valid, "bool")[:, None, :, None]  # [B, 1, S, 1]
        key = ops.where(keys, key, ops.zeros((), key.dtype))
        value = ops.where(keys, value, ops.zeros((), value.dtype))
    if query_valid is None:
        return attention(query, key, value)
    rows = ops.cast(query_valid, "bool")[:, None, :, None]  # [B, 1, T, 1]
    attended = attention(ops.where(rows, query, ops.zeros((), query.dtype)), key, value)
    return ops.where(rows, attended, ops.zeros((), attended.dtype))
