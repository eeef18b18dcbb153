"""XLNet's two-stream relative self-attention (Yang et al. 2019, section 2.3)."""

import keras
from keras import ops

from keras_attention.layers import _masking as masks
from keras_attention.layers._validation import check_shape
from keras_attention.layers.relative_multi_head_attention import (
    RelativeMultiHeadAttention,
)

# The mask arguments of `call`, checked (0/1 or boolean) as the core's are.
_MASK_ARGS = ("perm_mask", "memory_mask")


@keras.saving.register_keras_serializable(package="keras_attention")
class TwoStreamRelativeAttention(RelativeMultiHeadAttention):
    """Relative attention that runs XLNet's content and query streams.

    XLNet trains over permutations `z` of the factorization order, with two
    representations per position (Yang et al. 2019, section 2.3):

    - the content stream `h`: `h_{z_t}` attends to the content of every
      position at or before `z_t` in the order, its own included;
    - the query stream `g`: `g_{z_t}` attends to the content of the
      positions strictly before `z_t`, never its own, and knows its own
      position through the relative encoding. It is what predicts `x_{z_t}`.

    Both streams' queries go through the same projections (the paper's
    shared weights); the keys and values of both come from the content
    stream, with the previous segment's content `memory` in front, gradients
    stopped. Scores are `RelativeMultiHeadAttention`'s (Dai et al. 2019,
    eq. 4: content plus relative position with the `u`, `v` biases), plus,
    with `use_segments`, the relative segment term of section 2.5,

        (q_i + b) . s_ij,   s_ij = s_same or s_different,

    where `s` is the learned `segment_encoding` `[2, H, K]` (row 0 for two
    positions in the same segment, row 1 for different ones, as XLNet's
    code) and `b` the `segment_bias` `[H, K]`. Memory positions count as
    segment 0, as in XLNet's code.

    The order comes as `perm_mask` `[B, T, T]`, laid out as Hugging Face and
    KerasHub do: `perm_mask[b, i, j] = 1` when position `i` may not attend
    to position `j`. The query stream reads it as it is (a target is blocked
    from itself); the content stream also sees its own position. Memory is
    visible to both (`memory_mask` hides slots that hold nothing yet).
    `keras_attention.data.permutation_lm.permutation_lm_batch` samples an
    order and builds the masks. The query stream holds either one row per position (`P = T`) or
    only the prediction targets, `target_mapping` `[B, P, T]` one-hot
    giving each target's position: its attention runs at that position,
    with that position's mask row and relative distances.

    A row with nothing to attend to (a query-stream target first in the
    order, with no memory) gives zeros, as everywhere in the library.

    Shapes: `B` batch, `T` segment length, `P` query-stream rows, `M`
    memory length, `S = M + T` keys, `D` features (even), `H` heads, `K`
    key_dim.

    The other constructor arguments are `MultiHeadSelfAttention`'s
    (`value_dim`, `dropout`, `use_bias`, `output_shape`, the initializers,
    regularizers and constraints, `use_gate`, `seed`,
    `num_key_value_heads`); `sliding_window`, `flash_attention` and
    `attention_axes` other than the sequence axis are refused.

    Args:
        num_heads, key_dim: as in `MultiHeadSelfAttention`.
        use_segments: add the relative segment term; `call` then needs
            `segment_ids` (keyword-only).

    Call arguments:
        content_stream: `h`, `[B, T, D]`.
        query_stream: `g`, `[B, P, D]` (`[B, T, D]` without `target_mapping`).
        perm_mask: `[B, T, T]`, 1 (or true) where row `i` may not attend to
            column `j`.
        target_mapping: optional `[B, P, T]`, one-hot rows: query-stream
            row `p` sits at the position where row `p` is 1.
        segment_ids: int `[B, T]`, with `use_segments`.
        memory: optional `[B, M, D]`, the previous segment's content.
        memory_mask: optional `[B, M]`, false for empty memory slots.
        return_attention_scores: also return both streams' weights.
        training: whether dropout is active.

    Returns:
        `(content, query)`: `[B, T, D]` and `[B, P, D]` (the output
        projection's `output_shape` in place of `D` if set); with
        `return_attention_scores`, also the weights `[B, H, T, S]` and
        `[B, H, P, S]`.

    Example:

    >>> import numpy as np
    >>> h, g = keras.random.normal((2, 5, 16)), keras.random.normal((2, 5, 16))
    >>> order = np.array([3, 0, 4, 1, 2])  # predict x_3, then x_0, ...
    >>> rank = np.argsort(order)  # rank[i]: where position i comes in the order
    >>> blocked = (rank[None, :] >= rank[:, None]).astype("float32")
    >>> perm_mask = np.stack([blocked, blocked])
    >>> layer = TwoStreamRelativeAttention(num_heads=4, key_dim=4)
    >>> content, query = layer(h, g, perm_mask)
    >>> tuple(content.shape), tuple(query.shape)
    ((2, 5, 16), (2, 5, 16))
    """

    def __init__(self, num_heads, key_dim, *args, use_segments=False, **kwargs):
        super().__init__(num_heads, key_dim, *args, **kwargs)
        for name in ("sliding_window", "flash_attention"):
            if getattr(self, name):
                raise ValueError(
                    f"TwoStreamRelativeAttention takes no {name}: its masks come "
                    f"from the factorization order; received {name}="
                    f"{getattr(self, name)!r}"
                )
        if not isinstance(use_segments, bool):
            raise ValueError(
                f"use_segments must be True or False, received use_segments={use_segments!r}"
            )
        self.use_segments = use_segments

    def build(self, content_stream_shape, query_stream_shape=None, **unused_shapes):
        super().build(content_stream_shape)
        if self.use_segments:
            heads, kdim = self.num_heads, self.key_dim
            # s_same and s_different, and b, of Yang et al. (2019), section 2.5.
            self.segment_encoding = self.add_weight(
                name="segment_encoding",
                shape=(2, heads, kdim),
                # XLNet's initializer range; an int seed offset as the core's.
                initializer=keras.initializers.RandomNormal(
                    0.0, 0.02, seed=None if self.seed is None else self.seed + 6
                ),
            )
            self.segment_bias = self.add_weight(
                name="segment_bias", shape=(heads, kdim), initializer="zeros"
            )

    def __call__(self, *args, **kwargs):
        masks.check_mask_dtypes(kwargs, _MASK_ARGS)
        # The core's __call__ refuses `memory` (its old name for what
        # TransformerXL owns); here it is this layer's own argument.
        return keras.layers.Layer.__call__(self, *args, **kwargs)

    def call(
        self,
        content_stream,
        query_stream,
        perm_mask,
        target_mapping=None,
        segment_ids=None,
        memory=None,
        memory_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        h, g = content_stream, query_stream
        self._check_call(h, g, perm_mask, target_mapping, segment_ids, memory, memory_mask)
        if memory is not None:
            memory = ops.stop_gradient(ops.cast(memory, h.dtype))
            source = ops.concatenate([memory, h], axis=1)  # [B, S, D]
        else:
            source = h
        key = ops.transpose(self._key_dense(source), (0, 2, 1, 3))  # [B, H_kv, S, K]
        value = ops.transpose(self._value_dense(source), (0, 2, 1, 3))  # [B, H_kv, S, V]
        key, value = self._repeat_groups(key), self._repeat_groups(value)  # [B, H, S, _]
        content_mask, query_mask = self._stream_masks(perm_mask, memory, memory_mask)
        different = self._different_segments(segment_ids, memory)  # [B, 1, T, S]

        q_h = ops.transpose(self._query_dense(h), (0, 2, 1, 3))  # [B, H, T, K]
        q_g = self._query_dense(g)  # [B, P, H, K]
        mapping = None
        if target_mapping is not None:
            # One-hot rows, in the compute dtype of everything they move.
            mapping = ops.cast(target_mapping, self.compute_dtype)  # [B, P, T]
            q_g = ops.einsum("bphk,bpt->bhtk", q_g, mapping)  # [B, H, T, K]
        else:
            q_g = ops.transpose(q_g, (0, 2, 1, 3))  # [B, H, T, K]
        attended_h, weights_h = self._stream(q_h, key, value, content_mask, different, training)
        attended_g, weights_g = self._stream(q_g, key, value, query_mask, different, training)
        # [B, H, T, V] -> [B, T, H, V] (or the targets' rows, [B, P, H, V])
        attended_h = ops.transpose(attended_h, (0, 2, 1, 3))
        if mapping is not None:
            attended_g = ops.einsum("bhtv,bpt->bphv", attended_g, mapping)
            weights_g = ops.einsum("bhts,bpt->bhps", weights_g, mapping)
            rows = ops.einsum("bts,bpt->bps", ops.cast(query_mask[:, 0], mapping.dtype),
                              mapping)
            query_mask = (rows > 0)[:, None]  # [B, 1, P, S]
        else:
            attended_g = ops.transpose(attended_g, (0, 2, 1, 3))
        content = self._project_output(attended_h, h, content_mask)  # [B, T, D]
        query = self._project_output(attended_g, g, query_mask)  # [B, P, D]
        if return_attention_scores:
            return content, query, weights_h, weights_g
        return content, query

    def _check_call(self, h, g, perm_mask, target_mapping, segment_ids, memory, memory_mask):
        batch, length, dim = h.shape[0], h.shape[1], h.shape[-1]
        note = f" (content_stream.shape={tuple(h.shape)})"
        rows = length if target_mapping is None else target_mapping.shape[1]
        check_shape("query_stream", g, (batch, rows, dim), "[B, P, D]", note)
        check_shape("perm_mask", perm_mask, (batch, length, length), "[B, T, T]", note)
        check_shape("target_mapping", target_mapping, (batch, None, length), "[B, P, T]", note)
        check_shape("memory", memory, (batch, None, dim), "[B, M, D]", note)
        if memory_mask is not None:
            if memory is None:
                raise ValueError("memory_mask needs memory, received memory=None")
            check_shape("memory_mask", memory_mask, (batch, memory.shape[1]), "[B, M]")
        for name, mask in (("perm_mask", perm_mask), ("memory_mask", memory_mask)):
            masks.check_mask(name, mask)
        if self.use_segments and segment_ids is None:
            raise ValueError(
                "use_segments=True needs segment_ids [B, T], received segment_ids=None"
            )
        if segment_ids is not None:
            if not self.use_segments:
                raise ValueError(
                    "segment_ids need a layer made with use_segments=True, "
                    "received segment_ids with use_segments=False"
                )
            check_shape("segment_ids", segment_ids, (batch, length), "[B, T]", note)

    def _stream_masks(self, perm_mask, memory, memory_mask):
        """`[B, 1, T, S]` masks, true where a row may attend: the content
        stream's (its own position included) and the query stream's."""
        blocked = ops.cast(perm_mask, "bool")  # [B, T, T]
        length = ops.shape(blocked)[1]
        own = ops.eye(length, dtype="bool")[None]  # [1, T, T]
        query = ops.logical_not(blocked)
        content = ops.logical_or(query, own)
        if memory is not None:
            if memory_mask is None:
                seen = ops.ones((ops.shape(blocked)[0], ops.shape(memory)[1]), "bool")
            else:
                seen = ops.cast(memory_mask, "bool")  # [B, M]
            seen = ops.broadcast_to(
                seen[:, None, :], (ops.shape(seen)[0], length, ops.shape(seen)[1])
            )  # [B, T, M]
            query = ops.concatenate([seen, query], axis=-1)  # [B, T, S]
            content = ops.concatenate([seen, content], axis=-1)
        return content[:, None], query[:, None]

    def _different_segments(self, segment_ids, memory):
        """`[B, 1, T, S]`, true where a query and a key lie in different
        segments (memory is segment 0), or `None` without segments."""
        if segment_ids is None:
            return None
        ids = ops.cast(segment_ids, "int32")  # [B, T]
        keys = ids
        if memory is not None:
            zeros = ops.zeros((ops.shape(ids)[0], ops.shape(memory)[1]), "int32")
            keys = ops.concatenate([zeros, ids], axis=1)  # [B, S]
        return ops.not_equal(ids[:, :, None], keys[:, None, :])[:, None]

    def _stream(self, query, key, value, mask, different, training):
        """One stream's attended values `[B, H, T, V]` and weights `[B, H, T, S]`."""
        query_start = ops.shape(key)[2] - ops.shape(query)[2]
        scores = self._compute_scores(query, key, query_start)  # [B, H, T, S]
        if different is not None:
            scale = ops.cast(1.0 / self.key_dim ** 0.5, query.dtype)
            bias = ops.cast(self.segment_bias[:, None, :], query.dtype)
            encoding = ops.cast(self.segment_encoding, query.dtype)  # [2, H, K]
            # (q_i + b) . s for s = s_same, s_different: [B, H, T, 2]
            segment = ops.einsum("bhtk,shk->bhts", (query + bias) * scale, encoding)
            scores = scores + ops.where(different, segment[..., 1:], segment[..., :1])
        return self._softmax_values(scores, value, mask, True, training)

    def compute_output_shape(self, content_stream_shape, query_stream_shape=None, **unused):
        out = self._output_shape or (content_stream_shape[-1],)
        query_stream_shape = query_stream_shape or content_stream_shape
        return (
            tuple(content_stream_shape[:-1]) + tuple(out),
            tuple(query_stream_shape[:-1]) + tuple(out),
        )

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {**super().get_config(), "use_segments": self.use_segments}
