"""Multi-head attention with Transformer-XL's relative positions (Dai et al. 2019)."""

import math

import keras
from keras import ops

from keras_attention.layers._attention_projections import MatrixInitializer
from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers.cached_multi_head_attention import CachedMultiHeadAttention
from keras_attention.layers.sinusoidal_positional_embedding import (
    sinusoidal_encoding,
)


@keras.saving.register_keras_serializable(package="keras_attention")
class RelativeMultiHeadAttention(CachedMultiHeadAttention):
    """Attention whose scores see how far apart a query and a key are.

    The score of query `i` and key `j` is Dai et al.'s (2019) eq. 4,

        (q_i + u) . k_j  +  (q_i + v) . (W_R R_{i-j}),

    scaled by `1 / sqrt(key_dim)`: content plus a term of the distance
    `i - j` alone, with `R` the sinusoidal encoding of the distance, `W_R`
    the learned `position_kernel` `[D, H, K]` and `u`, `v` the learned
    `content_bias` and `position_bias` `[H, K]`. Only the score computation
    (`_compute_scores`) and where the queries sit differ from
    `MultiHeadSelfAttention`; everything else, masks and decoding steps
    included, is the core's.

    The queries are the last `T` of the `S` positions the keys come from:
    a model with segment memory (Transformer-XL) passes
    `value = [memory; query]` (`S = M + T`), and the causal mask lets query
    `t` see keys up to `S - T + t`. Without `value`, `S = T`. In `step`, the
    query sits at the cache index, as in the core.

    Shapes and arguments as `CachedMultiHeadAttention`; `D` must be even
    (the sinusoidal encoding pairs its features). The weights, in
    `get_weights()` order: `position_kernel`, `content_bias`,
    `position_bias` (the layer's own come before its sublayers'), then the
    core's in Keras's order.

    Example:

    >>> memory, x = keras.random.normal((2, 3, 16)), keras.random.normal((2, 5, 16))
    >>> layer = RelativeMultiHeadAttention(num_heads=4, key_dim=8)
    >>> both = keras.ops.concatenate([memory, x], axis=1)
    >>> tuple(layer(x, both, use_causal_mask=True).shape)
    (2, 5, 16)
    """

    def _check_shapes(self, query_shape, value_shape, key_shape):
        if len(query_shape) != 3 or query_shape[-1] % 2:
            raise ValueError(
                "RelativeMultiHeadAttention needs an even number of query "
                f"features and inputs [B, T, D], received query.shape={tuple(query_shape)}"
            )
        if self.attention_axes not in (None, (1,), (-2,)):
            raise ValueError(
                "RelativeMultiHeadAttention attends over axis 1, received "
                f"attention_axes={self.attention_axes}"
            )
        if None not in (value_shape[1], query_shape[1]) and value_shape[1] < query_shape[1]:
            raise ValueError(
                "RelativeMultiHeadAttention's queries are the last T of the S "
                "keys (value = [memory; query]), so S >= T; received "
                f"query.shape={tuple(query_shape)} and value.shape={tuple(value_shape)}"
            )

    def build(self, query_shape, value_shape=None, key_shape=None, **unused_shapes):
        super().build(query_shape, value_shape, key_shape)
        dim, heads, kdim = query_shape[-1], self.num_heads, self.key_dim
        # W_{k,R}, u and v of Dai et al. (2019), eq. 4.
        self.position_kernel = self.add_weight(
            name="position_kernel",
            shape=(dim, heads, kdim),
            initializer=MatrixInitializer(clone_initializer(self.kernel_initializer, 4)),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.content_bias = self.add_weight(
            name="content_bias", shape=(heads, kdim), initializer="zeros"
        )
        self.position_bias = self.add_weight(
            name="position_bias", shape=(heads, kdim), initializer="zeros"
        )

    def _query_start(self, q_len, key_len):
        return key_len - q_len

    def _compute_scores(self, query, key, query_start):
        """`(q + u) k^T + (q + v) (W_R R_{i-j})^T`, scaled (Dai et al. 2019).

        Query `t` sits at position `query_start + t` and key `j` at `j`. The
        position term is computed once per distance `d` in `[-(S-1), S-1]`
        and gathered to each (query, key) pair.
        """
        scale = ops.cast(1.0 / math.sqrt(self.key_dim), query.dtype)
        q_len, key_len = ops.shape(query)[2], ops.shape(key)[2]
        content = ops.matmul(
            (query + ops.cast(self.content_bias[:, None, :], query.dtype)) * scale,
            ops.transpose(key, (0, 1, 3, 2)),
        )  # [B, H, T, S]
        # float32: float16 cannot count past 2048.
        distances = ops.cast(
            ops.arange(key_len - 1, -key_len, -1), "float32"
        )  # [L], L = 2S - 1, descending
        encoding = ops.cast(
            sinusoidal_encoding(distances, self._query_features), self.compute_dtype
        )  # [L, D]
        kernel = ops.cast(self.position_kernel, self.compute_dtype)
        rel = ops.einsum("ld,dhk->hkl", encoding, kernel)  # [H, K, L]
        position = ops.matmul(
            (query + ops.cast(self.position_bias[:, None, :], query.dtype)) * scale, rel
        )  # [B, H, T, L]
        # distance query_start + t - j sits at index (S - 1) - (query_start + t - j)
        index = (
            (key_len - 1 - query_start)
            - ops.arange(q_len, dtype="int32")[:, None]
            + ops.arange(key_len, dtype="int32")[None, :]
        )  # [T, S]
        position = ops.take_along_axis(
            position, ops.broadcast_to(index, ops.shape(content)), axis=-1
        )
        return content + position
