"""A small Transformer encoder-decoder (Vaswani et al. 2017)."""

import keras
import numpy as np
from keras import ops

from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import check_positive_int, check_rate
from keras_attention.layers.learned_positional_embedding import (
    LearnedPositionalEmbedding,
)
from keras_attention.layers.sinusoidal_positional_embedding import (
    SinusoidalPositionalEmbedding,
)
from keras_attention.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attention.models._seq2seq_model import PAD_ID, _Seq2SeqModel
from keras_attention.models.signature import TensorSpec

POSITIONS = ("sinusoidal", "learned")


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerSeq2Seq(_Seq2SeqModel):
    """A Transformer encoder-decoder for token sequences.

    Token embeddings scaled by `sqrt(D)` plus absolute positions (the
    paper's sinusoids, or learned ones; the scale keeps the tokens from
    drowning under the positions, whose entries are of order 1), dropout on
    the sums, a stack of `TransformerEncoderBlock`s over the source
    (padding, id 0, is masked), a stack of `TransformerDecoderBlock`s
    (causal self-attention, then cross-attention over the encoder's
    outputs) over the target, and a Dense readout to the next token's
    logits (Vaswani et al. 2017, "Attention Is All You Need"), with post-LN
    blocks as in the paper.

    The model is a functional `keras.Model`,
    `{"source": [B, S], "decoder_inputs": [B, T]} -> logits [B, T, V]`,
    trained with teacher forcing; pass per-token sample weights to leave
    target padding out of the loss.

    Decoding runs one step at a time through `export_signatures()`'s
    functions, in Keras (`greedy_decode`) and on a device alike, with
    static shapes: `encode` returns the encoder's memory, `source_mask`
    (`[B, S]`, 1.0 on real source tokens) and per decoder block `i` the
    cross-attention keys and values `cross_attention_cache_{i}`
    `[B, H, S, 2K]` (the encoder's outputs projected once), and the
    decoder's state, an empty self-attention cache
    `self_attention_cache_{i}` `[B, H, T, 2K]` per block; `decode_step`
    writes the step's keys and values at position `step` of each
    self-attention cache, attends to the positions filled so far, and
    returns the logits and the caches. The memory it only reads.

    Shapes: `B` batch, `S` source length, `T` target length, `V` target
    vocabulary, `D` model width, `H` heads, `K = D / H`.

    Args:
        source_vocabulary_size, target_vocabulary_size: vocabulary sizes;
            id 0 is padding on both sides.
        source_length: `S`, the length sources are padded to.
        target_length: `T`, decoder inputs and targets, end token included.
        start_id, end_id: the target's start and end tokens.
        hidden_dim: `D`, the width of embeddings and blocks.
        num_heads: `H`; must divide `hidden_dim`.
        intermediate_dim: width of the blocks' feed-forward layers.
        num_encoder_blocks, num_decoder_blocks: depth of each stack.
        dropout: dropout rate of the blocks and of the embedded inputs
            while training.
        positions: "sinusoidal" (fixed) or "learned".

    Keyword arguments:
        dtype: the dtype policy of every layer but the readout, whose
            logits stay float32 (default: the global policy when the model
            is made). Saved in the config: a `mixed_float16` model reloads
            as one under any global policy.

    Call arguments:
        inputs: `{"source": int [B, S], "decoder_inputs": int [B, T]}`.

    Returns:
        Logits `[B, T, V]`.

    Example:

    >>> model = TransformerSeq2Seq(
    ...     source_vocabulary_size=20, target_vocabulary_size=12,
    ...     source_length=8, target_length=6, hidden_dim=16, num_heads=2,
    ...     intermediate_dim=32, num_encoder_blocks=1, num_decoder_blocks=1)
    >>> source = np.array([[5, 6, 7, 0, 0, 0, 0, 0]], "int32")
    >>> tuple(model.greedy_decode(source).shape)
    (1, 6)
    >>> tuple(model.attention_weights(source).shape)
    (1, 1, 2, 6, 8)
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        source_length,
        target_length,
        start_id=1,
        end_id=2,
        hidden_dim=64,
        num_heads=4,
        intermediate_dim=128,
        num_encoder_blocks=2,
        num_decoder_blocks=2,
        dropout=0.0,
        positions="sinusoidal",
        **kwargs,
    ):
        self._check_task_arguments(
            source_vocabulary_size,
            target_vocabulary_size,
            source_length,
            target_length,
            start_id,
            end_id,
        )
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_heads", num_heads)
        check_positive_int("intermediate_dim", intermediate_dim)
        check_positive_int("num_encoder_blocks", num_encoder_blocks)
        check_positive_int("num_decoder_blocks", num_decoder_blocks)
        check_rate("dropout", dropout)
        if hidden_dim % num_heads:
            raise ValueError(
                "hidden_dim must be divisible by num_heads, received "
                f"hidden_dim={hidden_dim} and num_heads={num_heads}"
            )
        if positions not in POSITIONS:
            raise ValueError(
                f"positions must be one of {POSITIONS}, "
                f"received positions={positions!r}"
            )
        if positions == "sinusoidal" and hidden_dim % 2:
            raise ValueError(
                "sinusoidal positions need an even hidden_dim, received "
                f"hidden_dim={hidden_dim}"
            )

        # === Layers ===
        self._hold_attributes()  # until the functional construction
        policy = self._layer_policy(kwargs)
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, hidden_dim, dtype=policy, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, hidden_dim, dtype=policy, name="target_embedding"
        )
        if positions == "learned":
            self.source_positions = LearnedPositionalEmbedding(
                source_length, dtype=policy, name="source_positions"
            )
            self.target_positions = LearnedPositionalEmbedding(
                target_length, dtype=policy, name="target_positions"
            )
        else:
            self.source_positions = SinusoidalPositionalEmbedding(
                max_length=source_length, dtype=policy, name="source_positions"
            )
            self.target_positions = SinusoidalPositionalEmbedding(
                max_length=target_length, dtype=policy, name="target_positions"
            )
        block_args = dict(
            num_heads=num_heads, intermediate_dim=intermediate_dim, dropout=dropout,
            dtype=policy,
        )
        self.encoder_blocks = [
            TransformerEncoderBlock(**block_args, name=f"encoder_block_{i}")
            for i in range(num_encoder_blocks)
        ]
        self.decoder_blocks = [
            TransformerDecoderBlock(**block_args, name=f"decoder_block_{i}")
            for i in range(num_decoder_blocks)
        ]
        self.embedding_dropout = HashDropout(
            dropout, dtype=policy, name="embedding_dropout"
        )
        # float32 logits (and softmax) under a mixed precision policy too.
        self.readout = keras.layers.Dense(
            target_vocabulary_size, dtype="float32", name="readout"
        )

        # === Config ===
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.source_length = source_length
        self.target_length = target_length
        self.start_id = start_id
        self.end_id = end_id
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.num_encoder_blocks = num_encoder_blocks
        self.num_decoder_blocks = num_decoder_blocks
        self.dropout = dropout
        self.positions = positions

        # === Functional model ===
        kwargs.setdefault("name", "transformer_seq2seq")
        self._functional_init(policy, **kwargs)

    # -- the computation, shared by training and decoding ----------------------

    def _encoded(self, source):
        """Encoder outputs `[B, S, D]` and the source mask `[B, S]` of `source`."""
        mask = ops.not_equal(source, PAD_ID)  # [B, S]
        x = self._scaled(self.source_embedding(source))  # [B, S, D]
        x = self.embedding_dropout(ops.add(x, self.source_positions(x)))
        for block in self.encoder_blocks:
            x = block(x, padding_mask=mask)  # [B, S, D]
        return x, mask

    def _embedded_targets(self, tokens, start_index=0):
        x = self._scaled(self.target_embedding(tokens))  # [B, T, D]
        return self.embedding_dropout(
            ops.add(x, self.target_positions(x, start_index=start_index))
        )

    def _scaled(self, embedded):
        # Vaswani et al., section 3.4: the embeddings are multiplied by sqrt(D).
        return ops.multiply(embedded, ops.cast(self.hidden_dim**0.5, embedded.dtype))

    def _teacher_forced(self, source, decoder_inputs):
        encoded, mask = self._encoded(source)
        x = self._embedded_targets(decoder_inputs)  # [B, T, D]
        for block in self.decoder_blocks:
            x = block(x, encoder_sequence=encoded, encoder_padding_mask=mask)
        return self.readout(x)  # [B, T, V]

    def _encode(self, source):
        encoded, mask = self._encoded(source)
        batch = ops.shape(source)[0]
        states = {"source_mask": ops.cast(mask, "float32")}  # [B, S]
        for i, block in enumerate(self.decoder_blocks):
            states[f"cross_attention_cache_{i}"] = block.cross_attention_cache(
                encoded
            )  # [B, H, S, 2K]
            states[f"self_attention_cache_{i}"] = block.init_cache(
                batch, self.target_length
            )  # [B, H, T, 2K]
        return states

    def _decode_step(self, token, step, states):
        index = step[0]
        mask = ops.cast(states["source_mask"], "bool")  # [B, S]
        x = self._embedded_targets(token, start_index=index)  # [B, 1, D]
        caches = {}
        for i, block in enumerate(self.decoder_blocks):
            # The block returns the cross-attention cache as it came
            # (KerasHub's convention); the memory is not handed back.
            x, cache, _ = block(
                x,
                encoder_padding_mask=mask,
                self_attention_cache=states[f"self_attention_cache_{i}"],
                self_attention_cache_update_index=index,
                cross_attention_cache=states[f"cross_attention_cache_{i}"],
            )  # [B, 1, D], [B, H, T, 2K]
            caches[f"self_attention_cache_{i}"] = cache
        return {"logits": self.readout(x), **caches}  # logits [B, 1, V]

    def _state_specs(self, batch_size):
        return [
            TensorSpec(
                (batch_size, self.num_heads, self.target_length, self._cache_width),
                "float32",
                name=f"self_attention_cache_{i}",
            )
            for i in range(self.num_decoder_blocks)
        ]

    def _memory_specs(self, batch_size):
        specs = [
            TensorSpec(
                (batch_size, self.source_length), "float32", name="source_mask"
            )
        ]
        specs += [
            TensorSpec(
                (batch_size, self.num_heads, self.source_length, self._cache_width),
                "float32",
                name=f"cross_attention_cache_{i}",
            )
            for i in range(self.num_decoder_blocks)
        ]
        return specs

    @property
    def _cache_width(self):
        return 2 * (self.hidden_dim // self.num_heads)  # keys and values, 2K

    # -- alignments --------------------------------------------------------------

    def attention_weights(self, source_ids, decoder_inputs=None):
        """Cross-attention weights `[N, L, H, T, S]` of every decoder block and head.

        `L` decoder blocks. With `decoder_inputs` `[N, T]` (teacher
        forcing), the weights of that run; without, those of the model's own
        greedy decoding (its output fed back as decoder inputs). Rows after
        a sequence's end token mean nothing.
        """
        source = self._check_source(source_ids)
        if decoder_inputs is None:
            decoder_inputs = self._decoder_inputs_of(self.greedy_decode(source))
        source = ops.convert_to_tensor(source)
        decoder_inputs = ops.convert_to_tensor(np.asarray(decoder_inputs, "int32"))
        encoded, mask = self._encoded(source)
        x = self._embedded_targets(decoder_inputs)
        weights = []
        for block in self.decoder_blocks:
            x, block_weights = block(
                x,
                encoder_sequence=encoded,
                encoder_padding_mask=mask,
                return_attention_scores=True,
            )  # [B, T, D], [B, H, T, S]
            weights.append(ops.convert_to_numpy(block_weights))
        return np.stack(weights, axis=1)

    def get_config(self):
        config = {
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_encoder_blocks": self.num_encoder_blocks,
            "num_decoder_blocks": self.num_decoder_blocks,
            "dropout": self.dropout,
            "positions": self.positions,
        }
        return {**super().get_config(), **config}

