"""Scaled dot-product multi-head attention (Vaswani et al. 2017)."""

import math

import keras
from keras import ops

from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._masking import masked_softmax
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import (
    check_positive_int,
    check_rate,
    check_shape,
    concrete_dim,
)
from keras_attention.layers.sinusoidal_positional_embedding import (
    sinusoidal_encoding,
)


def _matrix_initializer(initializer, input_axes):
    """Draw a 3-D kernel as the `[inputs, outputs]` matrix it acts as.

    The first `input_axes` axes are the inputs: `[D, H, K]` is a `[D, H*K]`
    matrix and the output kernel `[H, V, D]` a `[H*V, D]` one. Keras's
    EinsumDense computes fans over all of a 3-D kernel's axes instead; the
    paper's projections are plain matrices, so the fans are theirs.
    """

    def init(shape, dtype=None):
        rows = math.prod(shape[:input_axes])
        cols = math.prod(shape[input_axes:])
        return ops.reshape(initializer((rows, cols), dtype=dtype), shape)

    return init


_KERAS_MHA = "keras.layers.MultiHeadAttention"
# Our old names, now Keras's.
_RENAMED_ARGS = {"output_dim": named("output_shape", _KERAS_MHA)}
_RENAMED_CALL_ARGS = {
    "context": named("value", _KERAS_MHA),
    "context_mask": named("value_mask", _KERAS_MHA),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention.

    Each of `H` heads projects the queries to `key_dim`, the keys to `key_dim`
    and the values to `value_dim`, attends with
    `softmax(q k^T / sqrt(key_dim)) v`, and the heads' results are
    concatenated and projected to `output_shape` (Vaswani et al. 2017). The
    keys and values come from the query sequence itself (self-attention, when
    `value` is `None`) or from `value` and `key` (cross-attention, as in a
    Transformer decoder).

    The constructor and call take the names, order and return conventions
    of `keras.layers.MultiHeadAttention`: `layer(query, value, key)` is
    Keras's call, `layer(query)` self-attention. Our old names `output_dim`,
    `context` and `context_mask` are refused with a `TypeError` naming
    `output_shape`, `value` and `value_mask` (the README's table of names).

    Beyond the plain layer it offers what decoders and long-context models
    need:

    - an incremental decoding cache with static shapes (`init_cache`, then
      `cache` and `cache_update_index` at each step), which compiles under
      XLA and converts to TFLite;
    - Transformer-XL segment memory (Dai et al. 2019): `memory`, the previous
      segment's inputs, extends the keys and values with gradients stopped;
      `relative_positions=True` adds the paper's relative positional
      encoding, with its learned biases `u` (content) and `v` (position).

    The weights have the shapes and order of `keras.layers.MultiHeadAttention`
    (query, key, value, output; kernel then bias), so
    `layer.set_weights(keras_mha.get_weights())` moves a Keras layer's weights
    over. Softmax runs in float32 under mixed precision. A query row with
    nothing to attend to (fully masked) has all-zero attention scores and a
    zero output.

    Shapes: `B` batch, `T` query length, `S` key length, `M` memory length,
    `D` query features, `C` value features, `Ck` key features (`C` unless
    `key` is given), `H` heads, `K` key_dim, `V` value_dim.

    Args:
        num_heads: number of heads `H`.
        key_dim: size of each head's query and key projections `K`.
        value_dim: size of each head's value projection `V`; defaults to
            `key_dim`.
        dropout: dropout rate on the attention weights while training.
        use_bias: whether the four projections have biases.
        output_shape: size of the output features, an int or a 1-tuple
            (Keras's multi-axis output shapes are not supported); defaults
            to `D`.
        relative_positions: Transformer-XL relative positional encoding
            (self-attention only); needs an even `D`. This and the arguments
            after it are keyword-only.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: as in
            `keras.layers.Dense`. Each kernel is drawn as the matrix it acts
            as (`[D, H*K]` for the query, `[H*V, output_shape]` for the
            output), so the fans are those of that matrix; an int seed is
            offset per weight, so the query, key and value kernels differ.
        seed: seed of the attention dropout.

    Call arguments:
        query: `[B, T, D]`.
        value: optional `[B, S, C]` for cross-attention; keys and values
            come from `query` when it is `None`.
        key: optional `[B, S, Ck]`, the keys' source; defaults to `value`.
        query_mask, mask: the Keras mask of `query`, `[B, T]` (Keras fills
            `mask` when `query` is the only tensor argument and `query_mask`
            otherwise). Padded queries give zero output (Keras's layer lets
            them attend to every key); in self-attention padded keys are
            not attended to.
        value_mask: `[B, S]`, false for value steps not to attend to;
            filled from the Keras mask of `value`. With a cross-attention
            cache, pass the value's mask here explicitly.
        key_mask: `[B, S]`, the same for `key`; combined with `value_mask`.
        attention_mask: optional boolean `[B, T, S]` (or `[1, T, S]` for
            every example); true where a query may attend to a key. With
            `memory`, `S` is `M + T`; with a cache, `S` is the cache length.
        return_attention_scores: also return the weights `[B, H, T, S]`.
        training: whether dropout is active.
        use_causal_mask: whether query `t` may only attend to keys at or
            before its own position (counting memory and cache offsets).
        memory: optional `[B, M, D]`, the previous segment's inputs to this
            layer (Transformer-XL). Gradients do not flow into it.
        cache: optional `[B, H, S_max, K + V]` decoding cache. With
            `cache_update_index` the query's keys and values are written at
            that index and the query attends to positions filled so far;
            without it the cache is used as it is (precomputed cross-attention
            keys and values from `context_cache`).
        cache_update_index: int or scalar int tensor, position of the first
            query step in the cache.
        memory_mask: `[B, M]`, false for memory slots that hold nothing yet.

    Returns:
        `output` `[B, T, output_shape]`; `(output, scores)` with
        `return_attention_scores`; the updated cache is appended as the last
        element when `cache` is given.

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
        *,
        relative_positions=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        # Keras's order up to output_shape; after it Keras has arguments we
        # lack (attention_axes, flash_attention), so the rest is keyword-only.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_ARGS)
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        check_positive_int("key_dim", key_dim)
        if value_dim is not None:
            check_positive_int("value_dim", value_dim)
        if output_shape is not None:
            size = output_shape
            if isinstance(size, (tuple, list)) and len(size) == 1:
                size = size[0]
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                raise ValueError(
                    "output_shape must be a positive int or a 1-tuple of one, "
                    f"received output_shape={output_shape!r}"
                )
            output_shape = (size,)  # a tuple, as Keras keeps it
        check_rate("dropout", dropout)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.dropout = dropout
        self.use_bias = bool(use_bias)
        # Keras's own layer keeps it private too: a public `output_shape`
        # would clash with that of a functional model.
        self._output_shape = output_shape
        self.relative_positions = bool(relative_positions)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.seed = seed
        self.supports_masking = True
        self._input_dim = None
        self._value_features = None
        self._key_features = None
        self._dropout_layer = keras.layers.Dropout(
            dropout, seed=seed, dtype=self.dtype_policy, name="attention_dropout"
        )

    @property
    def _value_dim(self):
        return self.value_dim if self.value_dim is not None else self.key_dim

    def _add_kernel(self, name, shape, salt, input_axes=1):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=_matrix_initializer(
                clone_initializer(self.kernel_initializer, salt), input_axes
            ),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def _add_bias(self, name, shape, salt):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=clone_initializer(self.bias_initializer, salt),
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def build(self, query_shape, value_shape=None, key_shape=None, **unused_shapes):
        if len(query_shape) != 3 or query_shape[-1] is None:
            raise ValueError(
                "query must have shape [B, T, D] with a known D, "
                f"received query.shape={tuple(query_shape)}"
            )
        dim = query_shape[-1]
        value_features = dim
        if key_shape is not None and value_shape is None:
            raise ValueError(
                "key needs a value (keys come from key, values from value), "
                f"received key.shape={tuple(key_shape)} and value=None"
            )
        for name, shape in [("value", value_shape), ("key", key_shape)]:
            if shape is None:
                continue
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"{name} must have shape [B, S, C] with a known C, "
                    f"received {name}.shape={tuple(shape)} "
                    f"(query.shape={tuple(query_shape)})"
                )
            if self.relative_positions:
                raise ValueError(
                    "relative_positions=True is for self-attention; received "
                    f"{name}.shape={tuple(shape)}"
                )
        if value_shape is not None:
            value_features = value_shape[-1]
        key_features = key_shape[-1] if key_shape is not None else value_features
        if self.relative_positions and dim % 2:
            raise ValueError(
                "relative_positions=True needs an even number of query "
                f"features, received query.shape={tuple(query_shape)}"
            )
        heads, kdim, vdim = self.num_heads, self.key_dim, self._value_dim
        out_dim = self._output_shape[0] if self._output_shape else dim
        self.query_kernel = self._add_kernel("query_kernel", (dim, heads, kdim), 0)
        if self.use_bias:
            self.query_bias = self._add_bias("query_bias", (heads, kdim), 0)
        self.key_kernel = self._add_kernel(
            "key_kernel", (key_features, heads, kdim), 1
        )
        if self.use_bias:
            self.key_bias = self._add_bias("key_bias", (heads, kdim), 1)
        self.value_kernel = self._add_kernel(
            "value_kernel", (value_features, heads, vdim), 2
        )
        if self.use_bias:
            self.value_bias = self._add_bias("value_bias", (heads, vdim), 2)
        self.output_kernel = self._add_kernel(
            "output_kernel", (heads, vdim, out_dim), 3, input_axes=2
        )
        if self.use_bias:
            self.output_bias = self._add_bias("output_bias", (out_dim,), 3)
        if self.relative_positions:
            # W_{k,R}, u and v of Dai et al. (2019), eq. 4.
            self.position_kernel = self._add_kernel(
                "position_kernel", (dim, heads, kdim), 4
            )
            self.content_bias = self.add_weight(
                name="content_bias", shape=(heads, kdim), initializer="zeros"
            )
            self.position_bias = self.add_weight(
                name="position_bias", shape=(heads, kdim), initializer="zeros"
            )
        self._input_dim = dim
        self._value_features = value_features
        self._key_features = key_features
        self.built = True

    # -- projections -------------------------------------------------------

    def _project(self, x, kernel, bias):
        """`[B, L, F]` times `[F, H, X]` -> `[B, H, L, X]`."""
        features, heads, size = kernel.shape
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        y = ops.matmul(
            ops.reshape(x, (-1, features)), ops.reshape(kernel, (features, -1))
        )
        if bias is not None:
            y = y + ops.reshape(bias, (-1,))
        return ops.transpose(ops.reshape(y, (batch, length, heads, size)), (0, 2, 1, 3))

    def _keys_values(self, value, key=None):
        """Projected keys (from `key`, default `value`) and values."""
        key = self._project(
            value if key is None else key,
            self.key_kernel,
            self.key_bias if self.use_bias else None,
        )
        value = self._project(
            value, self.value_kernel, self.value_bias if self.use_bias else None
        )
        return key, value  # [B, H, S, K], [B, H, S, V]

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty self-attention cache `[B, H, max_length, K + V]`."""
        check_positive_int("max_length", max_length)
        return ops.zeros(
            (batch_size, self.num_heads, max_length, self.key_dim + self._value_dim),
            dtype=dtype or self.compute_dtype,
        )

    def context_cache(self, value, key=None):
        """Keys and values of `value` `[B, S, C]`, as a cache `[B, H, S, K + V]`.

        The keys come from `key` `[B, S, Ck]` when given, as in `call`.

        Pass it as `cache` (without `cache_update_index`) at every decoding
        step of a cross-attention layer, so the encoder's outputs are
        projected once per source sentence.
        """
        if not self.built:
            raise ValueError(
                "context_cache needs a built layer; call the layer once "
                "(or build it) before computing a cache"
            )
        value = ops.cast(value, self.compute_dtype)
        if key is not None:
            key = ops.cast(key, self.compute_dtype)
        key, value = self._keys_values(value, key)
        return ops.cast(ops.concatenate([key, value], axis=-1), self.compute_dtype)

    # -- call ----------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        return super().__call__(*args, **kwargs)

    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        memory=None,
        memory_mask=None,
        cache=None,
        cache_update_index=None,
        mask=None,
    ):
        if query_mask is None:
            query_mask = mask
        self._check_call_args(
            query,
            value,
            key,
            memory,
            cache,
            cache_update_index,
            attention_mask,
            query_mask,
            value_mask,
            key_mask,
            memory_mask,
        )
        # Keras's rule: a value step is attended to if neither mask drops it.
        if key_mask is not None:
            key_mask = ops.cast(key_mask, "bool")
            value_mask = (
                key_mask
                if value_mask is None
                else ops.logical_and(ops.cast(value_mask, "bool"), key_mask)
            )  # [B, S]
        # From here `key` and `value` name the projections.
        cross_inputs = None if value is None else (value, key)
        q_len = ops.shape(query)[1]
        heads, kdim = self.num_heads, self.key_dim

        query_proj = self._project(
            query, self.query_kernel, self.query_bias if self.use_bias else None
        )  # [B, H, T, K]

        # Keys and values, and where the query's first step sits among them.
        key_mask = None  # [B, S] over the keys actually attended to
        offset = 0
        updated_cache = None
        if cache is not None:
            if cache_update_index is None:
                kv = cache  # precomputed cross-attention keys and values
                key_mask = value_mask
            else:
                key, value = self._keys_values(query)
                new = ops.cast(ops.concatenate([key, value], axis=-1), cache.dtype)
                start = ops.cast(cache_update_index, "int32")
                kv = ops.slice_update(cache, (0, 0, start, 0), new)
                offset = start
            updated_cache = kv
            kv = ops.cast(kv, self.compute_dtype)
            key, value = kv[..., :kdim], kv[..., kdim:]
        elif cross_inputs is not None:
            key, value = self._keys_values(*cross_inputs)
            key_mask = value_mask
        else:
            source = query
            key_mask = query_mask
            if memory is not None:
                memory = ops.stop_gradient(ops.cast(memory, self.compute_dtype))
                mem_len = ops.shape(memory)[1]
                source = ops.concatenate([memory, query], axis=1)
                offset = mem_len
                if memory_mask is not None or query_mask is not None:
                    key_mask = ops.concatenate(
                        [
                            _ones_if_none(memory_mask, memory),
                            _ones_if_none(query_mask, query),
                        ],
                        axis=1,
                    )
            key, value = self._keys_values(source)
        key_len = ops.shape(key)[2]

        full_mask, rows_may_be_empty = self._combined_mask(
            q_len,
            key_len,
            offset,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
            key_mask=key_mask,
            query_mask=query_mask,
            filled_only=cache is not None and cache_update_index is not None,
        )  # [B or 1, T, S]
        scale = 1.0 / math.sqrt(kdim)
        if self.relative_positions:
            scores = self._relative_scores(query_proj, key, offset, scale)
            attended, weights = self._attend(
                scores, value, full_mask, rows_may_be_empty, training
            )
        else:
            blocks = _causal_blocks(
                query, offset, use_causal_mask and cross_inputs is None and cache is None
            )
            if blocks > 1 and not return_attention_scores:
                attended = self._blocked_causal_attention(
                    query_proj * scale, key, value, full_mask, rows_may_be_empty,
                    blocks, offset, training,
                )
            else:
                scores = ops.matmul(
                    query_proj * scale, ops.transpose(key, (0, 1, 3, 2))
                )  # [B, H, T, S]
                attended, weights = self._attend(
                    scores, value, full_mask, rows_may_be_empty, training
                )
        # attended: [B, H, T, V]
        attended = ops.reshape(
            ops.transpose(attended, (0, 2, 1, 3)), (-1, heads * self._value_dim)
        )
        out_dim = self.output_kernel.shape[-1]
        output = ops.matmul(attended, ops.reshape(self.output_kernel, (-1, out_dim)))
        if self.use_bias:
            output = output + self.output_bias
        output = ops.reshape(output, (ops.shape(query)[0], q_len, out_dim))
        if rows_may_be_empty:
            # Rows with nothing to attend to give zeros, bias included.
            has_key = ops.any(full_mask, axis=-1, keepdims=True)  # [B, T, 1]
            output = ops.where(has_key, output, ops.zeros_like(output))

        results = [output]
        if return_attention_scores:
            results.append(weights)
        if updated_cache is not None:
            results.append(updated_cache)
        return results[0] if len(results) == 1 else tuple(results)

    def _attend(self, scores, value, mask, rows_may_be_empty, training):
        """Masked softmax of `scores` `[B, H, t, s]`, then the weighted values.

        Returns the attended values `[B, H, t, V]` and the weights before
        dropout, in the compute dtype.
        """
        weights = masked_softmax(
            scores,
            None if mask is None else mask[:, None],
            rows_may_be_empty=rows_may_be_empty,
        )  # float32 [B, H, t, s]
        weights = ops.cast(weights, self.compute_dtype)
        dropped = self._dropout_layer(weights, training=training)
        return ops.matmul(dropped, value), weights

    def _blocked_causal_attention(
        self, query, key, value, mask, rows_may_be_empty, blocks, offset, training
    ):
        """Causal attention, one block of query rows at a time.

        Query block `i` (rows `r0:r1`) can only see keys before
        `offset + r1`, so the scores above the diagonal blocks are never
        computed: with four blocks, 5/8 of the attention arithmetic. Keys and
        values are cut with `split` and joined with `concatenate`, whose
        gradients are cheap, rather than sliced. bench/attention.py measured
        it faster than one masked product both with and without XLA
        (T=256: 20 against 26 ms, and 22 against 34 ms under XLA, for the
        attention alone). The memory's keys, if any, form one more part in
        front, seen by every block.
        """
        q_len = query.shape[2]
        size = q_len // blocks
        queries = ops.split(query, blocks, axis=2)
        key_parts = [key[:, :, :offset]] if offset else []
        value_parts = [value[:, :, :offset]] if offset else []
        key_parts += ops.split(key[:, :, offset:], blocks, axis=2)
        value_parts += ops.split(value[:, :, offset:], blocks, axis=2)
        first = 1 if offset else 0
        outputs = []
        for i in range(blocks):
            seen = first + i + 1
            keys = ops.concatenate(key_parts[:seen], axis=2)
            values = ops.concatenate(value_parts[:seen], axis=2)
            end = offset + (i + 1) * size
            block_mask = None if mask is None else mask[:, i * size : (i + 1) * size, :end]
            scores = ops.matmul(queries[i], ops.transpose(keys, (0, 1, 3, 2)))
            attended, _ = self._attend(
                scores, values, block_mask, rows_may_be_empty, training
            )
            outputs.append(attended)  # [B, H, T / blocks, V]
        return ops.concatenate(outputs, axis=2)

    def _relative_scores(self, query_proj, key, offset, scale):
        """`(q + u) k^T + (q + v) (W_R R_{i-j})^T`, scaled (Dai et al. 2019).

        Query `t` sits at position `offset + t` and key `j` at `j`. The
        position term is computed once per distance `d` in `[-(S-1), S-1]`
        and gathered to each (query, key) pair.
        """
        q_len = ops.shape(query_proj)[2]
        key_len = ops.shape(key)[2]
        content = ops.matmul(
            (query_proj + self.content_bias[:, None, :]) * scale,
            ops.transpose(key, (0, 1, 3, 2)),
        )  # [B, H, T, S]
        # float32: float16 cannot count past 2048.
        distances = ops.cast(
            ops.arange(key_len - 1, -key_len, -1), "float32"
        )  # [L], L = 2S - 1, descending
        encoding = ops.cast(
            sinusoidal_encoding(distances, self._input_dim), self.compute_dtype
        )  # [L, D]
        rel = ops.einsum("ld,dhk->hkl", encoding, self.position_kernel)  # [H, K, L]
        position = ops.matmul(
            (query_proj + self.position_bias[:, None, :]) * scale, rel
        )  # [B, H, T, L]
        # distance offset + t - j sits at index (S - 1) - (offset + t - j)
        index = (
            (key_len - 1 - offset)
            - ops.arange(q_len, dtype="int32")[:, None]
            + ops.arange(key_len, dtype="int32")[None, :]
        )  # [T, S]
        position = ops.take_along_axis(
            position, ops.broadcast_to(index, ops.shape(content)), axis=-1
        )
        return content + position

    def _combined_mask(
        self,
        q_len,
        key_len,
        offset,
        attention_mask,
        use_causal_mask,
        key_mask,
        query_mask,
        filled_only,
    ):
        """Boolean `[B or 1, T, S]` mask of allowed pairs, or None.

        Returns the mask and whether some row may have no allowed key.
        """
        mask = None
        rows_may_be_empty = False

        def combine(a, b):
            return b if a is None else ops.logical_and(a, b)

        if use_causal_mask or filled_only:
            rows = offset + ops.arange(q_len, dtype="int32")[:, None]
            cols = ops.arange(key_len, dtype="int32")[None, :]
            if use_causal_mask:
                allowed = cols <= rows
            else:  # a cache: attend to every position filled so far
                allowed = ops.broadcast_to(
                    cols < offset + q_len, (q_len, key_len)
                )
            mask = allowed[None]
        if key_mask is not None:
            mask = combine(mask, ops.cast(key_mask, "bool")[:, None, :])
            rows_may_be_empty = True
        if query_mask is not None:
            mask = combine(mask, ops.cast(query_mask, "bool")[:, :, None])
            rows_may_be_empty = True
        if attention_mask is not None:
            mask = combine(mask, ops.cast(attention_mask, "bool"))
            rows_may_be_empty = True
        if mask is not None and rows_may_be_empty:
            # A shape of dimensions, not of tensors: JAX needs the batch as
            # its shape gives it (an int or a symbolic dimension).
            mask = ops.broadcast_to(mask, (ops.shape(mask)[0], q_len, key_len))
        return mask, rows_may_be_empty

    def _check_call_args(
        self,
        query,
        value,
        key,
        memory,
        cache,
        cache_update_index,
        attention_mask,
        query_mask,
        value_mask,
        key_mask,
        memory_mask,
    ):
        """Shapes and combinations of the call's arguments, before any op.

        TensorFlow's own errors from deep inside `call` name no argument,
        and a mask of the wrong shape may broadcast silently.
        """
        if len(query.shape) != 3:
            raise ValueError(
                f"query must have shape [B, T, D], received query.shape={query.shape}"
            )
        if query.shape[-1] is not None and query.shape[-1] != self._input_dim:
            raise ValueError(
                f"query must have {self._input_dim} features as when the layer "
                f"was built, received query.shape={query.shape}"
            )
        batch, q_len = query.shape[0], query.shape[1]
        note = f" (query.shape={tuple(query.shape)})"
        check_shape("query_mask", query_mask, (batch, q_len), "[B, T]", note)
        if key is not None and value is None:
            raise ValueError(
                "key needs a value (keys come from key, values from value), "
                f"received key.shape={key.shape} and value=None"
            )
        if value is not None and cache is not None:
            raise ValueError(
                "pass either value or a cache, not both; a cross-attention "
                "cache comes from context_cache(value)"
            )
        if memory is not None and (value is not None or cache is not None):
            raise ValueError(
                "memory is for self-attention without a cache; received "
                f"memory.shape={memory.shape} together with "
                f"{'value' if value is not None else 'cache'}"
            )
        if cache_update_index is not None and cache is None:
            raise ValueError(
                "cache_update_index needs a cache, received "
                f"cache_update_index={cache_update_index!r} and cache=None"
            )

        key_len = q_len  # S, the number of keys
        if value is not None:
            for name, tensor, features in [
                ("value", value, self._value_features),
                ("key", key if key is not None else value, self._key_features),
            ]:
                if len(tensor.shape) != 3 or tensor.shape[-1] != features:
                    raise ValueError(
                        f"{name} must have shape [B, S, {features}] (its "
                        "features as when the layer was built), received "
                        f"{name}.shape={tensor.shape}{note}"
                    )
            check_shape("value", value, (batch, None, None), "[B, S, C]", note)
            key_len = value.shape[1]
            if key is not None:
                check_shape(
                    "key", key, (batch, key_len, None), "[B, S, Ck]",
                    f" (value.shape={tuple(value.shape)})",
                )
        if memory is not None:
            check_shape(
                "memory", memory, (batch, None, self._input_dim), "[B, M, D]", note
            )
            mem_len = memory.shape[1]
            key_len = None if mem_len is None or q_len is None else mem_len + q_len
            check_shape("memory_mask", memory_mask, (batch, mem_len), "[B, M]")
        elif memory_mask is not None:
            raise ValueError(
                "memory_mask needs memory, received "
                f"memory_mask.shape={memory_mask.shape} and memory=None"
            )
        if cache is not None:
            heads, width = self.num_heads, self.key_dim + self._value_dim
            check_shape(
                "cache", cache, (batch, heads, None, width), "[B, H, S_max, K + V]", note
            )
            key_len = cache.shape[2]
            if isinstance(cache_update_index, int) and key_len is not None:
                if cache_update_index < 0 or (
                    q_len is not None and cache_update_index + q_len > key_len
                ):
                    raise ValueError(
                        f"cache_update_index must be in [0, S_max - T] = "
                        f"[0, {key_len - (q_len or 1)}], received "
                        f"cache_update_index={cache_update_index}{note}"
                    )
        for name, tensor in [("value_mask", value_mask), ("key_mask", key_mask)]:
            if tensor is None:
                continue
            if value is None and (cache is None or cache_update_index is not None):
                raise ValueError(
                    f"{name} needs a value or a cross-attention cache, "
                    f"received {name}.shape={tensor.shape}"
                )
            check_shape(name, tensor, (batch, key_len), "[B, S]")
        if attention_mask is not None:
            mask_batch = attention_mask.shape[0] if len(attention_mask.shape) else None
            check_shape(
                "attention_mask",
                attention_mask,
                (batch if mask_batch != 1 else 1, q_len, key_len),
                "[B or 1, T, S]",
                note,
            )

    def compute_mask(self, query, mask=None):
        # The output has one row per query step: it keeps the query's mask.
        return mask

    def get_config(self):
        config = {
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self._output_shape,
            "relative_positions": self.relative_positions,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


# Query blocks of causal self-attention: at least this many rows each, and
# at most _MAX_BLOCKS blocks (see _blocked_causal_attention).
_MIN_BLOCK_ROWS = 64
_MAX_BLOCKS = 4


def _causal_blocks(query, offset, causal_self_attention):
    """How many query blocks causal attention splits into (1: no blocking).

    Blocking is for causal self-attention (with or without memory) with
    static shapes: a known query length that the blocks divide and a static
    memory length; not with a cache or a value (cross-attention).
    """
    q_len = concrete_dim(query.shape[1])  # None while Keras infers shapes
    if not causal_self_attention or q_len is None:
        return 1
    if not isinstance(offset, int):
        return 1
    blocks = min(_MAX_BLOCKS, q_len // _MIN_BLOCK_ROWS)
    while blocks > 1 and q_len % blocks:
        blocks -= 1
    return max(blocks, 1)


def _ones_if_none(mask, like):
    if mask is not None:
        return ops.cast(mask, "bool")
    return ops.ones(ops.shape(like)[:2], dtype="bool")
