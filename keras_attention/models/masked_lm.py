"""A BERT-style masked language model (Devlin et al. 2019): XLNet's baseline.

Token and learned position embeddings, `TransformerEncoderBlock`s attending
both ways over the real tokens, and a readout of the masked positions. Train
it on `masked_lm_batch` inputs (`keras_attention.data.permutation_lm`): 15%
of the tokens selected, 80/10/10 mask/random/kept, the loss on the selected
ones through `mask_weights` as sample weights. The inputs' names are
KerasHub's `BertMaskedLM`'s.

Shapes: `B` batch, `T` tokens (at most `max_length`), `P` masked positions,
`D` width, `V` vocabulary.

Example:

>>> model = MaskedLM(vocabulary_size=20, max_length=8, hidden_dim=8, num_heads=2,
...                  intermediate_dim=16, num_blocks=1)
>>> inputs = {"token_ids": np.ones((2, 6), "int32"),
...           "padding_mask": np.ones((2, 6), bool),
...           "mask_positions": np.array([[1, 4], [0, 5]], "int32")}
>>> tuple(model(inputs).shape)
(2, 2, 20)
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.data.permutation_lm import masked_lm_batch
from keras_attention.layers._validation import check_positive_int
from keras_attention.layers.learned_positional_embedding import LearnedPositionalEmbedding
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attention.models._optimizer import OptimizerBuiltFirst
from keras_attention.models._fresh_batches import FreshBatches
from keras_attention.models.transformer_xl import check_block_sizes

INPUTS = ("token_ids", "padding_mask", "mask_positions")


@keras.saving.register_keras_serializable(package="keras_attention")
class MaskedLM(OptimizerBuiltFirst, keras.Model):
    """A masked language model: encoder blocks and a readout at the masks.

    Args:
        vocabulary_size: `V`, the mask token included.
        max_length: the longest sequence (learned positions).
        hidden_dim: `D`, divisible by `num_heads`.
        num_heads: attention heads.
        intermediate_dim: width of the feed-forward layers.
        num_blocks: depth.
        dropout: rate in training.

    Keyword arguments:
        dtype: the dtype policy of every layer but the float32 readout
            (default: the global policy when the model is made), saved in
            the config so that the model reloads with it.

    Call arguments:
        inputs: a dict of `token_ids` int `[B, T]`, `padding_mask` bool
            `[B, T]` (true for real tokens) and `mask_positions` int
            `[B, P]`.
        training: dropout on.

    Returns:
        Logits `[B, P, V]` at the masked positions, float32.
    """

    def __init__(self, vocabulary_size, max_length, hidden_dim=256, num_heads=4,
                 intermediate_dim=1024, num_blocks=4, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("max_length", max_length)
        check_block_sizes(hidden_dim, num_heads, intermediate_dim, num_blocks, dropout)
        self.vocabulary_size = vocabulary_size
        self.max_length = max_length
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.num_blocks = num_blocks
        self.dropout = dropout
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=policy, name="embedding")
        self.positions = LearnedPositionalEmbedding(max_length, dtype=policy,
                                                    name="positions")
        self.blocks = [
            TransformerEncoderBlock(intermediate_dim, num_heads, dropout=dropout,
                                    activation="gelu", dtype=policy, name=f"block_{i}")
            for i in range(num_blocks)
        ]
        self.readout = keras.layers.Dense(vocabulary_size, dtype="float32", name="readout")

    def build(self, input_shape):
        shape = tuple(input_shape["token_ids"]) + (self.hidden_dim,)
        self.embedding.build(input_shape["token_ids"])
        self.positions.build(shape)
        for block in self.blocks:
            block.build(shape)
        self.readout.build(shape)
        self.built = True

    def call(self, inputs, training=False):
        missing = [name for name in INPUTS if name not in inputs]
        if missing:
            raise ValueError(
                f"MaskedLM takes a dict with {', '.join(INPUTS)}; missing {', '.join(missing)}"
            )
        tokens = ops.cast(inputs["token_ids"], "int32")
        padding = ops.cast(inputs["padding_mask"], "bool")
        x = self.embedding(tokens)  # [B, T, D]
        x = ops.multiply(x, ops.cast(math.sqrt(self.hidden_dim), x.dtype))
        x = x + self.positions(x)
        for block in self.blocks:
            x = block(x, padding_mask=padding, training=training)
        positions = ops.cast(inputs["mask_positions"], "int32")  # [B, P]
        x = ops.take_along_axis(x, positions[..., None], axis=1)  # [B, P, D]
        return self.readout(x)  # [B, P, V]

    def get_config(self):
        return {
            **super().get_config(),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "max_length": self.max_length,
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_blocks": self.num_blocks,
            "dropout": self.dropout,
        }


class MaskedLMDataset(FreshBatches):
    """Batches for `MaskedLM.fit`, masked afresh every epoch.

    Each batch is `(inputs, mask_ids, mask_weights)`: the model's inputs,
    the original tokens at the masked positions, and their weights as
    sample weights. Any backend: numpy arrays from `masked_lm_batch`.

    Args:
        token_ids: int `[N, T]`, padded at the end.
        mask_token_id, vocabulary_size: as `masked_lm_batch`'s.
        padding_mask: optional bool `[N, T]`, true for real tokens.
        batch_size: sequences per batch.
        shuffle: shuffle the sequences every epoch.
        seed: the seed of the masks and the shuffling.
        **batch_kwargs: `masked_lm_batch`'s rates and `mask_selection_length`.
    """

    def __init__(self, token_ids, mask_token_id, vocabulary_size, padding_mask=None,
                 batch_size=32, shuffle=True, seed=0, **batch_kwargs):
        super().__init__(token_ids, batch_size, shuffle, seed)
        self.padding_mask = (np.ones(self.token_ids.shape, bool) if padding_mask is None
                             else np.asarray(padding_mask, bool))
        self.mask_token_id = mask_token_id
        self.vocabulary_size = vocabulary_size
        self.batch_kwargs = batch_kwargs

    def make_batch(self, rows, rng):
        batch = masked_lm_batch(
            self.token_ids[rows], self.mask_token_id, self.vocabulary_size,
            self.padding_mask[rows], seed=rng, **self.batch_kwargs)
        inputs = {"token_ids": batch["token_ids"], "padding_mask": self.padding_mask[rows],
                  "mask_positions": batch["mask_positions"]}
        return inputs, batch["mask_ids"], batch["mask_weights"]
