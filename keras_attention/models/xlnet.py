"""An XLNet permutation language model (Yang et al. 2019).

XLNet predicts tokens in a random factorization order, so each prediction
sees context on both sides while the model stays autoregressive. Every block
runs `TwoStreamRelativeAttention` over the content stream `h` (the tokens)
and the query stream `g` (a learned vector at each target, which knows its
position but not its token), each followed by the same feed-forward layer,
with residual connections and post-LN as in XLNet. The readout predicts
each target's token from the last block's query stream.

Train with `permutation_lm_dataset` (a fresh order per sequence and epoch,
`keras_attention.data.permutation_lm`) and `model.fit`: the loss is over
the targets only, through the `target_weights` that the dataset passes as
sample weights.

Shapes: `B` batch, `T` tokens, `P` targets, `D` width, `V` vocabulary.

Example:

>>> from keras_attention.data.permutation_lm import permutation_lm_batch
>>> model = XLNetLM(vocabulary_size=20, hidden_dim=8, num_heads=2,
...                 intermediate_dim=16, num_blocks=1)
>>> tokens = np.arange(12, dtype="int32").reshape(2, 6)
>>> batch = permutation_lm_batch(tokens, seed=0)
>>> inputs = {k: batch[k] for k in ("perm_mask", "target_mapping")}
>>> tuple(model({"token_ids": tokens, **inputs}).shape)
(2, 1, 20)
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.data.permutation_lm import permutation_lm_batch
from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import check_positive_int
from keras_attention.layers.two_stream_relative_attention import (
    TwoStreamRelativeAttention,
)
from keras_attention.models._optimizer import OptimizerBuiltFirst
from keras_attention.models._fresh_batches import FreshBatches
from keras_attention.models.signature import Signature, TensorSpec
from keras_attention.models.transformer_xl import _XLBlock, check_block_sizes

INPUTS = ("token_ids", "perm_mask", "target_mapping")


def fill_inputs(padding_mask, gap_mask):
    """`perm_mask` `[B, T, T]` and `target_mapping` `[B, T, T]` that fill
    a gap, in `keras.ops` (so they trace into an export): every position is
    a target row, the gap's positions (`gap_mask` true) are predicted left to
    right from every other real token (`padding_mask` true) and the gap's
    earlier tokens, as `permutation_lm.gap_batch` orders them. Rows at
    positions outside the gap are computed but mean nothing."""
    real = ops.cast(padding_mask, "bool")  # [B, T]
    gap = ops.logical_and(ops.cast(gap_mask, "bool"), real)
    size = ops.shape(real)[1]
    index = ops.arange(size)
    before = index[None, :] < index[:, None]  # [T, T]: j < i
    both = ops.logical_and(gap[:, :, None], gap[:, None, :])  # [B, T, T]
    allowed = ops.logical_and(
        real[:, None, :],
        ops.logical_or(ops.logical_not(gap)[:, None, :],
                       ops.logical_and(both, before[None])))
    perm_mask = ops.cast(ops.logical_not(allowed), "float32")
    mapping = ops.broadcast_to(ops.eye(size, dtype="float32")[None],
                               ops.shape(perm_mask))
    return perm_mask, mapping


class _TwoStreamBlock(_XLBlock):
    """Two-stream attention, then one feed-forward layer for both streams,
    each with a residual connection and post-LN: Transformer-XL's block with
    XLNet's attention and GELU (private)."""

    attention_class = TwoStreamRelativeAttention
    activation = "gelu"

    def call(self, h, g, perm_mask, target_mapping, training=False,
             return_attention_scores=False):
        h_new, g_new, *weights = self.attention(
            h, g, perm_mask, target_mapping=target_mapping, training=training,
            return_attention_scores=return_attention_scores)
        h = self._residual(h, h_new, self.attention_norm, training)
        g = self._residual(g, g_new, self.attention_norm, training)
        return (self._feedforward(h, training), self._feedforward(g, training), *weights)


@keras.saving.register_keras_serializable(package="keras_attention")
class XLNetLM(OptimizerBuiltFirst, keras.Model):
    """A permutation language model: XLNet's two-stream blocks and a readout.

    Args:
        vocabulary_size: `V`.
        hidden_dim: `D` (even: the relative encoding needs it).
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: width of the feed-forward layers.
        num_blocks: depth.
        dropout: rate on attention weights and sublayer outputs in training.

    Keyword arguments:
        dtype: the dtype policy of every layer but the float32 readout
            (default: the global policy when the model is made), saved in
            the config so that the model reloads with it.

    Call arguments:
        inputs: a dict of `token_ids` int `[B, T]`, `perm_mask` `[B, T, T]`
            (1 where position `i` may not attend to `j`) and
            `target_mapping` `[B, P, T]` (one-hot rows at the targets), as
            `permutation_lm_batch` makes them.
        training: dropout on.

    Returns:
        Logits `[B, P, V]` of each target's token, float32.
    """

    def __init__(self, vocabulary_size, hidden_dim=256, num_heads=4,
                 intermediate_dim=1024, num_blocks=4, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("vocabulary_size", vocabulary_size)
        check_block_sizes(hidden_dim, num_heads, intermediate_dim, num_blocks, dropout)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.num_blocks = num_blocks
        self.dropout = dropout
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=policy, name="embedding")
        # g's first layer: one learned vector, the same at every target
        # (XLNet's mask_emb): it carries no token, only through attention
        # its position.
        self.query_embedding = self.add_weight(
            shape=(hidden_dim,), initializer=keras.initializers.RandomNormal(0.0, 0.02),
            name="query_embedding")
        self.blocks = [
            _TwoStreamBlock(num_heads, intermediate_dim, dropout, dtype=policy,
                            name=f"block_{i}")
            for i in range(num_blocks)
        ]
        self.drop = HashDropout(dropout, dtype=policy, name="dropout")
        self.readout = keras.layers.Dense(vocabulary_size, dtype="float32", name="readout")

    def build(self, input_shape):
        shape = tuple(input_shape["token_ids"]) + (self.hidden_dim,)
        self.embedding.build(input_shape["token_ids"])
        for block in self.blocks:
            block.build(shape)
        self.readout.build(shape)
        self.built = True

    def call(self, inputs, training=False):
        h, g, mapping, perm_mask = self._streams(inputs, training)
        for block in self.blocks:
            h, g = block(h, g, perm_mask, mapping, training=training)
        return self.readout(g)  # [B, P, V]

    def _streams(self, inputs, training):
        """The first layer of both streams, the mapping and the mask."""
        missing = [name for name in INPUTS if name not in inputs]
        if missing:
            raise ValueError(
                f"XLNetLM takes a dict with {', '.join(INPUTS)}; missing {', '.join(missing)}"
            )
        tokens = ops.cast(inputs["token_ids"], "int32")
        mapping = ops.cast(inputs["target_mapping"], self.compute_dtype)  # [B, P, T]
        perm_mask = inputs["perm_mask"]
        h = self.embedding(tokens)  # [B, T, D]
        h = self.drop(ops.multiply(h, ops.cast(math.sqrt(self.hidden_dim), h.dtype)),
                      training=training)
        g = ops.cast(self.query_embedding, h.dtype)[None, None, :] * ops.ones_like(
            mapping[..., :1])  # [B, P, D]
        g = self.drop(g, training=training)
        return h, g, mapping, perm_mask

    def attention_weights(self, inputs):
        """Both streams' attention weights in every block, as numpy:
        `(content [B, L, H, T, T], query [B, L, H, P, T])` for `L` blocks.

        `inputs` as `call` takes them. Content row `i` holds what position
        `i`'s content stream attends to (itself and every position earlier
        in the order); query row `p` what target `p`'s query stream attends
        to (every position earlier in the order, never its own). Blocked
        entries are exactly 0.
        """
        h, g, mapping, perm_mask = self._streams(inputs, False)
        content, query = [], []
        for block in self.blocks:
            h, g, weights_h, weights_g = block(h, g, perm_mask, mapping, training=False,
                                               return_attention_scores=True)
            content.append(ops.convert_to_numpy(ops.cast(weights_h, "float32")))
            query.append(ops.convert_to_numpy(ops.cast(weights_g, "float32")))
        return np.stack(content, axis=1), np.stack(query, axis=1)

    def fill(self, token_ids, padding_mask, gap_mask):
        """Probabilities `[B, T, V]` (float32) at every position, as the
        model fills the gap marked by `gap_mask` (`fill_inputs`): at a gap
        position, the distribution of its token given every real token
        outside the gap and the gap's earlier tokens. What the `fill`
        signature of `export_signatures` computes."""
        perm_mask, mapping = fill_inputs(padding_mask, gap_mask)
        logits = self({"token_ids": token_ids, "perm_mask": perm_mask,
                       "target_mapping": mapping}, training=False)
        return ops.softmax(ops.cast(logits, "float32"), axis=-1)

    def export_signatures(self, sequence_length, batch_size=1):
        """`{"fill": Signature}` with static shapes, for `export.convert`.

        `fill` takes `token_ids` int32 `[batch_size, sequence_length]`,
        `padding_mask` and `gap_mask` int32 of the same shape (1 for real
        tokens and for the gap's positions) and returns `probabilities`
        `[batch_size, sequence_length, V]` (`fill`). A device fills a gap of
        `L` tokens in `L` calls, writing each chosen token into `token_ids`
        before the next (`edge_demo.fill`).
        """
        check_positive_int("sequence_length", sequence_length)
        check_positive_int("batch_size", batch_size)
        shape = (batch_size, sequence_length)
        if not self.built:  # an export needs the weights
            ones = np.ones(shape, "int32")
            self.fill(ones, ones, np.zeros(shape, "int32"))

        def fill(token_ids, padding_mask, gap_mask):
            return {"probabilities": self.fill(token_ids, padding_mask, gap_mask)}

        return {"fill": Signature(fill, [TensorSpec(shape, "int32", "token_ids"),
                                         TensorSpec(shape, "int32", "padding_mask"),
                                         TensorSpec(shape, "int32", "gap_mask")])}

    def get_config(self):
        return {
            **super().get_config(),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_blocks": self.num_blocks,
            "dropout": self.dropout,
        }


class PermutationLMDataset(FreshBatches):
    """Batches for `XLNetLM.fit`, with a fresh order per sequence every epoch.

    Each batch is `(inputs, target_ids, target_weights)`: the model's inputs
    (`token_ids`, `perm_mask`, `target_mapping`), the targets' ids and their
    weights as sample weights, so that the loss is over the real targets
    only. Any backend: numpy arrays from `permutation_lm_batch`.

    Args:
        token_ids: int `[N, T]`, padded at the end.
        padding_mask: optional bool `[N, T]`, true for real tokens.
        batch_size: sequences per batch; the last batch may be smaller.
        shuffle: shuffle the sequences every epoch.
        seed: the seed of the orders and the shuffling.
        **batch_kwargs: `permutation_lm_batch`'s `plm_probability`,
            `max_span_length` and `num_predict`.
    """

    def __init__(self, token_ids, padding_mask=None, batch_size=32, shuffle=True,
                 seed=0, **batch_kwargs):
        super().__init__(token_ids, batch_size, shuffle, seed)
        self.padding_mask = None if padding_mask is None else np.asarray(padding_mask, bool)
        self.batch_kwargs = batch_kwargs

    def make_batch(self, rows, rng):
        padding = None if self.padding_mask is None else self.padding_mask[rows]
        batch = permutation_lm_batch(self.token_ids[rows], padding, seed=rng,
                                     **self.batch_kwargs)
        inputs = {"token_ids": self.token_ids[rows].astype("int32"),
                  "perm_mask": batch["perm_mask"],
                  "target_mapping": batch["target_mapping"]}
        return inputs, batch["target_ids"], batch["target_weights"]
