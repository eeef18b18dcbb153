"""Scaled dot-product multi-head attention (Vaswani et al. 2017)."""

import math

import keras
from keras import ops

from keras_attention.layers import _attention_checks as checks
from keras_attention.layers import _masking as masks
from keras_attention.layers._attention_blocks import block_plan, blocked_call
from keras_attention.layers._attention_paths import (
    blocked_causal_attention, causal_blocks, fused_attention)
from keras_attention.layers._attention_projections import (
    from_sequences, make_projection, normalized_axes, scores_layout, to_sequences)
from keras_attention.layers._random import HashDropout, drop_attention_weights
from keras_attention.layers._renamed import refuse_renamed
from keras_attention.layers._validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention.

    Each of `H` heads projects the queries and keys to `key_dim` and the
    values to `value_dim`, attends with `softmax(q k^T / sqrt(key_dim)) v`,
    and the heads' results are projected to `output_shape` (Vaswani et al.
    2017). Keys and values come from the query (`layer(query)`,
    self-attention) or from `value` and `key` (`layer(query, value, key)`).

    The constructor and `call` are those of `keras.layers.MultiHeadAttention`
    (Keras 3.15), down to the `EinsumDense` projections `_query_dense`,
    `_key_dense`, `_gate_dense`, `_value_dense`, `_output_dense`: so
    `enable_lora`, `quantize("int8")` and `set_weights` with a Keras layer's
    weights work. `num_key_value_heads` adds the grouped-query heads of
    `keras.layers.GroupedQueryAttention` (Ainslie et al. 2023). What differs,
    on purpose: softmax runs in float32 under mixed precision; a query row
    with nothing to attend to has zero weights and a zero output, where
    Keras's layer spreads it uniformly; kernels are drawn with the fans of
    the matrices they are, an int seed offset per weight. Old names
    (`output_dim`, `context`, `relative_positions`, `memory`, `cache`) are
    refused with a `TypeError` naming the new place (the table in docs/migration.md).

    Scores are computed in one overridable method, `_compute_scores`
    (`RelativeMultiHeadAttention` adds relative positions there); Keras's
    override point `_compute_attention` is kept. Long causal self-attention
    runs in query blocks that skip the masked upper blocks
    (bench/attention.py). Decoding with a cache is `CachedMultiHeadAttention`.

    Shapes: `B` batch, `T` query length, `S` key length, `D` query features,
    `C` value features, `H` heads, `H_kv` key/value heads, `K`, `V` key_dim
    and value_dim.

    Args:
        num_heads, key_dim, value_dim, dropout, use_bias, kernel_initializer,
        bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint, use_gate,
        seed: as in `keras.layers.MultiHeadAttention`.
        output_shape: output axes after `[B, T]`, an int or a tuple;
            defaults to `D`.
        attention_axes: the axes attended over, for inputs with more than one
            axis between `B` and `D` (default: all of them). Masks other than
            the causal one need `[B, T, D]` inputs attended over axis 1.
        sliding_window: attend only to keys fewer than this many positions
            away; with `use_causal_mask`, the query and the
            `sliding_window - 1` keys before it.
        flash_attention: `True` runs `keras.ops.dot_product_attention` with
            the backend's flash kernel (JAX and PyTorch on GPUs; no dropout,
            scores or masks but the causal one). `None` and `False` run ours,
            which bench/attention.py times against Keras's layer (that op).
        num_key_value_heads: `H_kv`, a divisor of `H`: each group of
            `H / H_kv` query heads shares a key and value head (keyword-only).
        block_size: attention in blocks of this many queries and keys with
            an online softmax, memory linear in `T` (keyword-only): `None`
            for `T * S >= 2048^2` when the call allows it (no
            `attention_mask` or scores; dropout is drawn a block at a
            time, the plain path's mask), an int always, 0
            never (docs/guides/transformer.md, "Long sequences").

    Call arguments:
        query: `[B, T, D]` (or more axes before `D`).
        value: optional `[B, S, C]`; defaults to `query`.
        key: optional `[B, S, Ck]`, the keys' source; defaults to `value`.
        query_mask, value_mask, key_mask: `[B, T]`, `[B, S]`, `[B, S]`,
            filled from the Keras masks (`mask` when `query` is the only
            tensor); in self-attention the query's mask masks the keys too.
        attention_mask: boolean `[T, S]`, `[B or 1, T, S]` or
            `[B or 1, H or 1, T, S]`; true where a query may attend to a key.
            Masks are boolean or 0/1 numbers: others (0.3, NaN) are refused
            when eager; traced, nonzero counts as true, as in Keras. What a
            mask hides is never read, so NaN there stays there.
        return_attention_scores: also return the weights `[B, H, T, S]`.
        training: whether dropout is active.
        use_causal_mask: query `t` attends to keys `0..t`.

    Returns:
        `[B, T, *output_shape]`; with `return_attention_scores`, also the
        weights `[B, H, T, S]`.

    Example:

    >>> x = keras.random.normal((2, 5, 16))
    >>> layer = MultiHeadSelfAttention(num_heads=4, key_dim=8)
    >>> tuple(layer(x, use_causal_mask=True).shape)
    (2, 5, 16)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        sliding_window=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        seed=None,
        *,
        num_key_value_heads=None,
        block_size=None,
        **kwargs,
    ):
        refuse_renamed(type(self).__name__, kwargs, checks.RENAMED_ARGS)
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        check_positive_int("key_dim", key_dim)
        check_rate("dropout", dropout)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.dropout = dropout
        self.use_bias = bool(use_bias)
        # Private as in Keras: a public one would clash with a Model's.
        self._output_shape = checks.output_shape_tuple(output_shape)
        self.attention_axes = checks.attention_axes_tuple(attention_axes)
        self.sliding_window = sliding_window
        self.flash_attention = flash_attention
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        # Private: the base Layer's would regularize the output once more.
        self._activity_regularizer = keras.regularizers.get(activity_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.use_gate = use_gate
        self.seed = seed
        self.num_key_value_heads = num_key_value_heads
        self.block_size = block_size
        checks.check_constructor(self)
        self.supports_masking = True
        self._dropout_layer = HashDropout(dropout, seed=seed, dtype=self.dtype_policy,
                                          name="attention_dropout")  # its seeds only

    @property
    def _value_dim(self):
        return self.value_dim if self.value_dim is not None else self.key_dim

    @property
    def _key_value_heads(self):
        return self.num_key_value_heads or self.num_heads

    query_dense = property(lambda self: self._query_dense)
    key_dense = property(lambda self: self._key_dense)
    value_dense = property(lambda self: self._value_dense)
    output_dense = property(lambda self: self._output_dense)

    def _sequence_axis_only(self, rank):
        """Whether attention runs over axis 1 of `[B, T, D]` inputs only."""
        return rank == 3 and normalized_axes(self.attention_axes, rank) == (1,)

    def build(self, query_shape, value_shape=None, key_shape=None, **unused_shapes):
        value_shape, key_shape = checks.build_shapes(query_shape, value_shape, key_shape)
        self._check_shapes(query_shape, value_shape, key_shape)
        rank = len(query_shape)
        heads, kv_heads = self.num_heads, self._key_value_heads
        kdim, vdim = self.key_dim, self._value_dim
        out = self._output_shape or (query_shape[-1],)
        # Keras's order: query, key, gate, value, output; kernel then bias.
        self._query_dense = make_projection(self, "query", rank, 1, (heads, kdim), 0)
        self._query_dense.build(query_shape)
        self._key_dense = make_projection(self, "key", rank, 1, (kv_heads, kdim), 1)
        self._key_dense.build(key_shape)
        self._gate_dense = None
        if self.use_gate:
            self._gate_dense = make_projection(
                self, "gate", rank, 1, (heads, vdim), 5, activation="sigmoid"
            )
            self._gate_dense.build(query_shape)
        self._value_dense = make_projection(self, "value", rank, 1, (kv_heads, vdim), 2)
        self._value_dense.build(value_shape)
        self._output_dense = make_projection(self, "attention_output", rank, 2, out, 3)
        self._output_dense.build(tuple(query_shape[:-1]) + (heads, vdim))
        self._query_features = query_shape[-1]
        self._value_features = value_shape[-1]
        self._key_features = key_shape[-1]
        self.built = True

    def _check_shapes(self, query_shape, value_shape, key_shape):
        """What a subclass needs of the shapes, checked in `build`."""

    # -- call ----------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, checks.RENAMED_CALL_ARGS)
        masks.check_mask_dtypes(kwargs, checks.MASK_ARGS)
        return super().__call__(*args, **kwargs)

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None,
             key_mask=None, attention_mask=None, return_attention_scores=False,
             training=None, use_causal_mask=False, mask=None):
        masks.check_mask("mask", mask)
        query_mask = mask if query_mask is None else query_mask
        checks.check_call(
            self, query, value, key, query_mask, value_mask, key_mask, attention_mask
        )
        if value is None:
            value, value_mask = query, query_mask  # padded keys are not attended
        key = value if key is None else key
        q = self._query_dense(query)  # [B, T, H, K]
        k = self._key_dense(key)  # [B, S, H_kv, K]
        v = self._value_dense(value)  # [B, S, H_kv, V]
        size = block_plan(self, MultiHeadSelfAttention, query, key, attention_mask,
                          return_attention_scores, training)
        if size:
            return blocked_call(self, query, q, k, v, query_mask,
                                masks.combine(value_mask, key_mask), use_causal_mask, size,
                                training)
        full_mask = None
        if self._sequence_axis_only(len(query.shape)):
            q_len, key_len = ops.shape(query)[1], ops.shape(key)[1]
            full_mask = masks.combine(
                masks.padding_mask(query_mask, masks.combine(value_mask, key_mask)),
                None if attention_mask is None else masks.as_rank4(attention_mask),
                self._window_mask(q_len, key_len, self._query_start(q_len, key_len)),
            )  # [B or 1, H or 1, T, S]
        causal = {"use_causal_mask": True} if use_causal_mask else {}
        if causal and type(self)._compute_attention is not (
            MultiHeadSelfAttention._compute_attention
        ):
            # An override written to Keras's older signature has no
            # use_causal_mask: it gets the causal mask folded in.
            q_len, key_len = ops.shape(q)[1], ops.shape(k)[1]
            causal_mask = masks.causal_mask(q_len, key_len, self._query_start(q_len, key_len))
            causal, full_mask = {}, masks.combine(full_mask, causal_mask[None, None])
        attended, scores = self._compute_attention(
            q, k, v, full_mask, training, return_attention_scores, **causal
        )  # [B, T, H, V], [B, H, T, S]
        output = self._project_output(attended, query, full_mask)
        return (output, scores) if return_attention_scores else output

    def _query_start(self, q_len, key_len):
        """Where query 0 sits among the keys: Keras's causal mask lets query
        `t` see keys `0..t`. A subclass whose queries follow a memory moves
        them."""
        return 0

    def _window_mask(self, q_len, key_len, query_start):
        if self.sliding_window is not None:
            window = self.sliding_window
            return masks.sliding_window_mask(q_len, key_len, window, query_start)[None, None]

    def _project_output(self, attended, query, mask):
        """Gate, output projection, and zeros where a row had no key."""
        if self._gate_dense is not None:
            attended = attended * self._gate_dense(query)  # [B, T, H, V]
        output = self._output_dense(attended)  # [B, T, *output_shape]
        return masks.zero_empty_rows(output, mask)

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        """Keras's override point: projected `[B, T, H, K]`, `[B, S, H_kv, K]`,
        `[B, S, H_kv, V]` (or more axes before `H`) and a mask
        `[B or 1, H or 1, T, S]` to `([B, T, H, V], scores or None)`."""
        axes = normalized_axes(self.attention_axes, len(query.shape) - 1)
        q, k, v = (to_sequences(t, axes) for t in (query, key, value))  # [B', H, L, X]
        mask = None if attention_mask is None else masks.as_rank4(attention_mask)
        if self.flash_attention:
            k, v = self._repeat_groups(k), self._repeat_groups(v)
            scale = 1.0 / math.sqrt(self.key_dim)
            attended = fused_attention(
                q, k, v, mask, scale, use_causal_mask, return_attention_scores
            )
            scores = None
        else:
            attended, scores = self._attend(
                q, k, v, mask, training, return_attention_scores,
                causal=use_causal_mask, rows_may_be_empty=mask is not None,
            )  # [B', H, T', V]
        if len(query.shape) == 4 and axes == (1,):
            return ops.transpose(attended, (0, 2, 1, 3)), scores
        scores = None if scores is None else scores_layout(scores, query, key, axes)
        return from_sequences(attended, query, axes), scores

    def _repeat_groups(self, x):
        """`[B, H_kv, S, X]` -> `[B, H, S, X]`: each key head serves a group."""
        groups = self.num_heads // self._key_value_heads
        return x if groups == 1 else ops.repeat(x, groups, axis=1)

    def _attend(self, query, key, value, mask, training, return_scores, *,
                causal=False, rows_may_be_empty=True, query_start=None):
        """Head-major attention: `[B, H, T, K]`, `[B, H_kv, S, K]`,
        `[B, H_kv, S, V]` and a mask `[B or 1, H or 1, T, S]` (or `None`) to
        the attended values `[B, H, T, V]` and the weights (before dropout)
        or `None`. With `causal`, query `t` sees keys up to
        `query_start + t`."""
        q_len, key_len = ops.shape(query)[2], ops.shape(key)[2]
        if query_start is None:
            query_start = self._query_start(q_len, key_len)
        if causal:
            mask = masks.combine(
                mask, masks.causal_mask(q_len, key_len, query_start)[None, None]
            )
        key, value = self._repeat_groups(key), self._repeat_groups(value)
        blocks = causal_blocks(query.shape[2], key.shape[2], query_start) if causal else 1
        if blocks > 1 and not return_scores:
            return blocked_causal_attention(self, query, key, value, mask, query_start, blocks,
                                            rows_may_be_empty, training), None
        scores = self._compute_scores(query, key, query_start)  # [B, H, T, S]
        return self._softmax_values(scores, value, mask, rows_may_be_empty, training)

    def _compute_scores(self, query, key, query_start):
        """The scaled logits `[B, H, T, S]` of queries `[B, H, T, K]` against
        keys `[B, H, S, K]`, query `t` at position `query_start + t` among
        the keys. The one place a subclass changes how attention scores."""
        query = query * ops.cast(1.0 / math.sqrt(self.key_dim), query.dtype)
        return ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))

    def _dropout_seeds(self, training):
        """The seeds of this call's attention dropout mask, or None without it."""
        return self._dropout_layer.seed_generator.next() if training and self.dropout else None

    def _softmax_values(self, scores, value, mask, rows_may_be_empty, training, *,
                        seeds=None, row_start=0, length=None):
        """Masked float32 softmax, dropout (`drop_attention_weights`, with
        `seeds` or the layer's next), weighted values `[B, H, T, V]`."""
        weights = masks.masked_softmax(scores, mask, rows_may_be_empty=rows_may_be_empty)
        weights = ops.cast(weights, self.compute_dtype)  # [B, H, T, S]
        seeds = self._dropout_seeds(training) if seeds is None else seeds
        dropped = drop_attention_weights(weights, self.dropout, seeds, row_start, length)
        if rows_may_be_empty:
            # Padded keys' values may be NaN, which 0 weight would spread (a
            # plain causal mask hides no key from every query: none to drop).
            value = masks.zero_unattended_values(value, mask)  # [B, H, S, V]
        return ops.matmul(dropped, value), weights

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        checks.build_shapes(query_shape, value_shape, key_shape)
        return tuple(query_shape[:-1]) + (self._output_shape or (query_shape[-1],))

    def compute_output_spec(self, *args, **kwargs):  # traced: scores follow
        return keras.Operation.compute_output_spec(self, *args, **kwargs)

    def compute_mask(self, query, mask=None, **unused):
        # The output has one row per query step: it keeps the query's mask.
        return mask

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        config = {
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self._output_shape,
            "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "flash_attention": self.flash_attention,
            "kernel_initializer": serialize(self.kernel_initializer),
            "bias_initializer": serialize(self.bias_initializer),
            "kernel_regularizer": serialize(self.kernel_regularizer),
            "bias_regularizer": serialize(self.bias_regularizer),
            "activity_regularizer": serialize(self._activity_regularizer),
            "kernel_constraint": serialize(self.kernel_constraint),
            "bias_constraint": serialize(self.bias_constraint),
            "use_gate": self.use_gate,
            "seed": self.seed,
            "num_key_value_heads": self.num_key_value_heads,
            "block_size": self.block_size,
        }
        return {**super().get_config(), **config}
