"""Multi-head attention with a decoding cache, one method per kind of step."""

import keras
from keras import ops

from keras_attention.layers import _attention_checks as checks
from keras_attention.layers import _masking as masks
from keras_attention.layers._validation import check_positive_int
from keras_attention.layers.multi_head_self_attention import MultiHeadSelfAttention


@keras.saving.register_keras_serializable(package="keras_attention")
class CachedMultiHeadAttention(MultiHeadSelfAttention):
    """`MultiHeadSelfAttention` that also decodes step by step from a cache.

    As KerasHub's `CachedMultiHeadAttention`, the cached variant is its own
    class; unlike it, each kind of step is its own method with a fixed
    return arity, and `call` stays the plain layer's:

    - self-attention: `init_cache(batch_size, max_length)`, then
      `step(query, cache, cache_update_index) -> (output, cache)`, which
      writes the query's keys and values at the index and attends to the
      positions filled so far (causally by default);
    - cross-attention: `context_cache(value)` projects the encoder's outputs
      once, then `cross_step(query, context_cache) -> (output, scores)`
      attends over them without projecting again.

    A cache holds keys and values side by side, `[B, H_kv, S_max, K + V]`,
    so grouped-query heads (`num_key_value_heads`) shrink it by `H / H_kv`.
    Its shape is static and the index may be a tensor, so a step compiles
    once under XLA and converts to TFLite. A `sliding_window` applies to
    the steps as to `call`, counted from the query's position in the cache.

    Shapes and arguments as `MultiHeadSelfAttention`; `S_max` cache length.

    Example:

    >>> x = keras.random.normal((2, 5, 16))
    >>> layer = CachedMultiHeadAttention(num_heads=4, key_dim=8)
    >>> full = layer(x, use_causal_mask=True)
    >>> cache = layer.init_cache(batch_size=2, max_length=5)
    >>> y, cache = layer.step(x[:, :1], cache, 0)
    >>> tuple(y.shape), tuple(cache.shape)
    ((2, 1, 16), (2, 4, 5, 16))
    """

    def _check_built(self, what):
        if not self.built:
            raise ValueError(
                f"{what} needs a built layer; call the layer once (or build "
                "it) before computing a cache"
            )

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty self-attention cache `[B, H_kv, max_length, K + V]`."""
        check_positive_int("max_length", max_length)
        return ops.zeros(
            (batch_size, self._key_value_heads, max_length, self.key_dim + self._value_dim),
            dtype=dtype or self.compute_dtype,
        )

    def _keys_values(self, value, key=None):
        """`[B, S, C]` (keys from `key` `[B, S, Ck]` if given) -> `[B, H_kv, S, K + V]`."""
        key = self._key_dense(value if key is None else key)  # [B, S, H_kv, K]
        value = self._value_dense(value)  # [B, S, H_kv, V]
        both = ops.concatenate([key, value], axis=-1)
        return ops.cast(ops.transpose(both, (0, 2, 1, 3)), self.compute_dtype)

    def context_cache(self, value, key=None):
        """Keys and values of `value` `[B, S, C]` as a cache `[B, H_kv, S, K + V]`.

        Pass it to `cross_step` at every decoding step, so the encoder's
        outputs are projected once per source sentence.
        """
        self._check_built("context_cache")
        value = ops.cast(value, self.compute_dtype)
        key = None if key is None else ops.cast(key, self.compute_dtype)
        return self._keys_values(value, key)

    def _split(self, cache):
        cache = ops.cast(cache, self.compute_dtype)
        return cache[..., : self.key_dim], cache[..., self.key_dim :]

    def step(
        self,
        query,
        cache,
        cache_update_index,
        query_mask=None,
        attention_mask=None,
        use_causal_mask=True,
        training=None,
    ):
        """Self-attention for query steps `[index, index + T)` over a cache.

        Args:
            query: `[B, T, D]`.
            cache: `[B, H_kv, S_max, K + V]`, from `init_cache` or a step.
            cache_update_index: int or scalar int tensor, the position of
                the query's first step, in `[0, S_max - T]`. An int, or a
                tensor with a value (an eager call), out of range is an
                error. A traced one (`tf.function`, `jax.jit`, an export)
                has no value to check until it runs: out of range, the
                step writes nothing into the cache and its output is NaN,
                so that no plausible output comes of it (every backend's
                `slice_update` would overwrite the last slots instead).
            query_mask: optional `[B, T]`; padded steps give zeros.
            attention_mask: optional `[B or 1, T, S_max]` (or another rank
                `call` takes), combined with the rest.
            use_causal_mask: query `t` sees positions up to `index + t`;
                when false, every position filled so far (`< index + T`).
            training: whether dropout is active.

        Returns:
            `(output [B, T, *output_shape], cache)`, the cache with the
            query's keys and values written at the index.
        """
        checked = checks.check_step(
            self, query, cache, cache_update_index, query_mask, attention_mask
        )
        start = ops.cast(cache_update_index, "int32")
        new = ops.cast(self._keys_values(query), cache.dtype)  # [B, H_kv, T, K + V]
        in_range = None
        if checked:
            cache = ops.slice_update(cache, (0, 0, start, 0), new)
        else:
            cache, in_range = _write_if_in_range(cache, start, new)
        key, value = self._split(cache)  # [B, H_kv, S_max, K], [B, H_kv, S_max, V]
        q_len, key_len = ops.shape(query)[1], ops.shape(key)[2]
        mask = masks.combine(
            masks.padding_mask(query_mask),
            None if attention_mask is None else masks.as_rank4(attention_mask),
            self._window_mask(q_len, key_len, start),
            None if use_causal_mask else masks.filled_mask(q_len, key_len, start)[None, None],
        )  # [B or 1, H or 1, T, S_max]
        output = self._attend_and_project(
            query, key, value, mask, training, causal=use_causal_mask, query_start=start,
            rows_may_be_empty=(query_mask is not None or attention_mask is not None
                               or self.sliding_window is not None),
        )[0]
        if in_range is not None:
            # A traced index past the cache: NaN, not a plausible output.
            output = ops.where(in_range, output, ops.full((), float("nan"), output.dtype))
        return output, cache

    def cross_step(
        self,
        query,
        context_cache,
        value_mask=None,
        query_mask=None,
        attention_mask=None,
        training=None,
    ):
        """Cross-attention of `query` `[B, T, D]` over a `context_cache`.

        Args:
            context_cache: `[B, H_kv, S, K + V]` from `context_cache(value)`.
            value_mask: optional `[B, S]`, false for padded source steps.
            query_mask, attention_mask, training: as in `call`.

        Returns:
            `(output [B, T, *output_shape], scores [B, H, T, S])`; the cache
            is unchanged, so it is not returned.
        """
        checks.check_cross_step(
            self, query, context_cache, value_mask, query_mask, attention_mask
        )
        key, value = self._split(context_cache)
        q_len, key_len = ops.shape(query)[1], ops.shape(key)[2]
        mask = masks.combine(
            masks.padding_mask(query_mask, value_mask),
            None if attention_mask is None else masks.as_rank4(attention_mask),
            self._window_mask(q_len, key_len, 0),
        )
        return self._attend_and_project(
            query, key, value, mask, training, return_scores=True,
            rows_may_be_empty=mask is not None,
        )

    def _attend_and_project(self, query, key, value, mask, training, *,
                            return_scores=False, **attend_kwargs):
        """Head-major keys and values from a cache: project the query,
        attend, project the output. `(output, scores or None)`."""
        q = ops.transpose(self._query_dense(query), (0, 2, 1, 3))  # [B, H, T, K]
        attended, scores = self._attend(
            q, key, value, mask, training, return_scores, **attend_kwargs
        )  # [B, H, T, V]
        attended = ops.transpose(attended, (0, 2, 1, 3))  # [B, T, H, V]
        return self._project_output(attended, query, mask), scores


def _write_if_in_range(cache, start, new):
    """`cache` `[B, H_kv, S_max, X]` with `new` `[B, H_kv, T, X]` written at
    `start`, a traced index; and whether it lay in `[0, S_max - T]`.

    Every backend's `slice_update` clamps an index past the end, so the
    last slots would be overwritten silently. Out of range, the first `T`
    slots get their own contents back instead: nothing changes. (A select,
    not a clip: TFLite's converter turns an int32 clip to [0, 6] into a
    RELU6 it has no int32 kernel for.)
    """
    last = ops.shape(cache)[2] - ops.shape(new)[2]
    in_range = ops.logical_and(start >= 0, start <= last)
    start = ops.where(in_range, start, ops.zeros_like(start))
    old = ops.slice(cache, (0, 0, start, 0), ops.shape(new))
    written = ops.where(in_range, new, old)
    return ops.slice_update(cache, (0, 0, start, 0), written), in_range
