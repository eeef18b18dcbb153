"""A GRU encoder-decoder, without attention or with Bahdanau's."""

import keras
import numpy as np
from keras import ops

from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import check_positive_int, check_rate
from keras_attention.layers.bahdanau_decoder import BahdanauDecoder
from keras_attention.layers.bahdanau_decoder_cell import BahdanauDecoderCell
from keras_attention.models._seq2seq_model import PAD_ID, _Seq2SeqModel
from keras_attention.models.signature import TensorSpec


@keras.saving.register_keras_serializable(package="keras_attention")
class RNNSeq2Seq(_Seq2SeqModel):
    """A GRU encoder-decoder for token sequences, optionally with attention.

    The encoder embeds the source tokens and runs a GRU over them (padding,
    id 0, is masked: the final state is the last real step's), or with
    `bidirectional=True` a GRU each way, whose outputs are concatenated into
    the annotations `[h_forward; h_backward]` and whose backward final state
    gives the decoder's initial state `tanh(W h_backward)` (RNNsearch,
    Bahdanau et al. 2015, appendix A). The decoder embeds the previous target
    token and runs either

    - `attention=False`: a plain GRU whose initial state is the encoder's
      final state, all it knows of the source (Sutskever et al. 2014; Cho
      et al. 2014), the baseline without attention; or
    - `attention=True`: a `BahdanauDecoderCell` over a GRU cell, which
      attends over every encoder output from its previous state before each
      step (Bahdanau, Cho and Bengio 2015), starting from the encoder's
      final state;

    and a Dense readout gives the next token's logits (from the decoder
    state, and with attention from the state and the context).

    The model is a functional `keras.Model`,
    `{"source": [B, S], "decoder_inputs": [B, T]} -> logits [B, T, V]`,
    trained with teacher forcing (`decoder_inputs` is the start token then
    the targets shifted right). Pass per-token sample weights to leave
    target padding out of the loss (`keras_attention.data.dates.dataset`
    does). In training both recurrences are loops, which XLA compiles in a
    few seconds; the exported `encode` runs the same encoder cell unrolled
    over the fixed source length, because full-integer TFLite conversion
    crashes on a WHILE loop.

    Decoding runs one step at a time through `export_signatures()`'s
    functions, in Keras (`greedy_decode`) and on a device alike. The one
    state is `state` `[B, units]`; with attention, `encode` also gives the
    encoder's memory, which every `decode_step` reads and none returns:
    `values` (encoder outputs `[B, S, units]`, `[B, S, 2 * units]` when
    bidirectional), `keys` (their projection `[B, S, U]`, made once) and
    `source_mask` (`[B, S]`, 1.0 on real source tokens).

    Shapes: `B` batch, `S` source length, `T` target length, `V` target
    vocabulary, `E` embedding_dim, `U` attention units.

    Args:
        source_vocabulary_size, target_vocabulary_size: vocabulary sizes;
            id 0 is padding on both sides.
        source_length: `S`, the length sources are padded to.
        target_length: `T`, decoder inputs and targets, end token included.
        start_id, end_id: the target's start and end tokens.
        units: GRU units of encoder and decoder.
        embedding_dim: size of the token embeddings.
        attention: Bahdanau attention in the decoder.
        attention_units: `U`; defaults to `units`.
        bidirectional: a bidirectional encoder (RNNsearch's), see above.
        dropout: dropout rate while training on the source and target
            embeddings and on the decoder's output before the readout (the
            recurrences themselves are left alone, so the cells keep their
            fused kernels); decoding is not affected.

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

    >>> model = RNNSeq2Seq(
    ...     source_vocabulary_size=20, target_vocabulary_size=12,
    ...     source_length=8, target_length=6, units=16, attention=True)
    >>> source = np.array([[5, 6, 7, 0, 0, 0, 0, 0]], "int32")
    >>> tuple(model.greedy_decode(source).shape)
    (1, 6)
    >>> tuple(model.attention_weights(source).shape)
    (1, 6, 8)
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        source_length,
        target_length,
        start_id=1,
        end_id=2,
        units=64,
        embedding_dim=32,
        attention=False,
        attention_units=None,
        bidirectional=False,
        dropout=0.0,
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
        check_positive_int("units", units)
        check_positive_int("embedding_dim", embedding_dim)
        check_rate("dropout", dropout)
        if not isinstance(attention, bool):
            raise ValueError(
                f"attention must be a bool, received attention={attention!r}"
            )
        if not isinstance(bidirectional, bool):
            raise ValueError(
                f"bidirectional must be a bool, received bidirectional={bidirectional!r}"
            )
        if attention_units is not None:
            check_positive_int("attention_units", attention_units)
            if not attention:
                raise ValueError(
                    "attention_units is for attention=True, received "
                    f"attention_units={attention_units} with attention=False"
                )

        # === Layers ===
        self._hold_attributes()  # until the functional construction
        policy = self._layer_policy(kwargs)
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, dtype=policy, name="source_embedding"
        )
        encoder = keras.layers.GRU(
            units,
            return_sequences=attention,
            return_state=True,
            dtype=policy,
            name="encoder",
        )
        if bidirectional:
            encoder = keras.layers.Bidirectional(encoder, dtype=policy, name="encoder")
            # s_0 = tanh(W_s h_1 backward), Bahdanau et al.'s initial state.
            self.bridge = keras.layers.Dense(
                units, activation="tanh", dtype=policy, name="bridge"
            )
        self.encoder = encoder
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, dtype=policy, name="target_embedding"
        )
        if attention:
            cell = BahdanauDecoderCell(
                keras.layers.GRUCell(units, dtype=policy, name="decoder_gru_cell"),
                attention_units=attention_units or units,
                name="decoder_cell",
            )
            self.decoder = BahdanauDecoder(cell, name="decoder")
        else:
            self.decoder = keras.layers.GRU(
                units, return_sequences=True, dtype=policy, name="decoder"
            )
        self.source_dropout = HashDropout(
            dropout, dtype=policy, name="source_dropout"
        )
        self.target_dropout = HashDropout(
            dropout, dtype=policy, name="target_dropout"
        )
        self.output_dropout = HashDropout(
            dropout, dtype=policy, name="output_dropout"
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
        self.units = units
        self.embedding_dim = embedding_dim
        self.attention = attention
        self.attention_units = attention_units
        self.bidirectional = bidirectional
        self.dropout = dropout

        # === Functional model ===
        kwargs.setdefault(
            "name", "bahdanau_seq2seq" if attention else "rnn_seq2seq"
        )
        self._functional_init(policy, **kwargs)

    # -- the computation, shared by training and decoding ----------------------

    def _encoder_outputs(self, source, unroll=False):
        """Encoder outputs, final state and the source mask of `source` `[B, S]`.

        `unroll=True` runs the encoder's cell (same weights, same outputs)
        unrolled over the source length instead of in a loop. The embeddings'
        dropout acts in training only.
        """
        mask = ops.not_equal(source, PAD_ID)  # [B, S]
        embedded = self.source_dropout(self.source_embedding(source))  # [B, S, E]
        if self.bidirectional:
            return self._bidirectional_outputs(embedded, mask, unroll)
        encoder = self.encoder
        if unroll:
            # A view, not a tracked layer: it owns no weights of its own.
            encoder = keras.layers.RNN(
                self.encoder.cell,
                return_sequences=self.attention,
                return_state=True,
                unroll=True,
                dtype=self.dtype_policy,
                name="encoder_unrolled",
            )
        # [B, S, units] with attention, and the final state [B, units]
        outputs, state = encoder(embedded, mask=mask)
        return (outputs if self.attention else None), state, mask

    def _bidirectional_outputs(self, embedded, mask, unroll):
        outputs = None
        if unroll:
            # Views over the two cells (no weights of their own), run as
            # keras.layers.Bidirectional runs its two layers.
            def view(layer, name):
                return keras.layers.RNN(
                    layer.cell, return_sequences=self.attention, return_state=True,
                    unroll=True, dtype=self.dtype_policy, name=name,
                )

            forward, _ = view(self.encoder.forward_layer, "encoder_forward_unrolled")(
                embedded, mask=mask
            )
            # The reversed source rather than go_backwards, which Keras's
            # PyTorch backend cannot unroll with a mask: the same steps.
            backward, backward_state = view(
                self.encoder.backward_layer, "encoder_backward_unrolled"
            )(ops.flip(embedded, axis=1), mask=ops.flip(mask, axis=1))
            if self.attention:
                backward = ops.flip(backward, axis=1)  # back to source order
                outputs = ops.concatenate([forward, backward], axis=-1)
        else:
            outputs, _, backward_state = self.encoder(embedded, mask=mask)
        # The decoder starts from the backward pass, which ends at word 1.
        state = self.bridge(backward_state)  # [B, units]
        # [B, S, 2 units] with attention
        return (outputs if self.attention else None), state, mask

    def _teacher_forced(self, source, decoder_inputs, return_attention_scores=False):
        values, state, mask = self._encoder_outputs(source)
        embedded = self.target_dropout(self.target_embedding(decoder_inputs))  # [B, T, E]
        if self.attention:
            outputs = self.decoder(
                embedded,
                values,
                decoder_state=state,
                values_mask=mask,
                return_attention_scores=return_attention_scores,
            )  # [B, T, units + units]
            if return_attention_scores:
                outputs, weights = outputs  # weights [B, T, S]
                return self.readout(self.output_dropout(outputs)), weights
        else:
            outputs = self.decoder(embedded, initial_state=state)  # [B, T, units]
        return self.readout(self.output_dropout(outputs))  # [B, T, V]

    def _encode(self, source, unroll=True):
        # Exported unrolled: TF 2.21's calibrated conversion crashes on the
        # encoder's While loop.
        values, state, mask = self._encoder_outputs(source, unroll=unroll)
        if not self.attention:
            return {"state": state}
        return {
            "state": state,  # [B, units]
            "values": values,  # [B, S, units]
            "keys": self.decoder.cell.precompute_keys(values),  # [B, S, U]
            "source_mask": ops.cast(mask, "float32"),  # [B, S]
        }

    def _encode_in_keras(self, source):
        # The same cells and states with the encoder in a loop: the compiled
        # beam search of RNNsearch (S = 20) compiles in 1.2 s rather than the
        # unrolled form's 3.3 s.
        return self._encode(source, unroll=False)

    def _decode_step(self, token, step, inputs):
        # The recurrence carries the position itself; `step` is part of the
        # convention (the Transformer needs it) and unused here.
        del step
        embedded = self.target_embedding(token)[:, 0]  # [B, E]
        if self.attention:
            # [B, units + Dv] (state and context); the memory is only read.
            output, (state,) = self.decoder.cell(
                embedded,
                [inputs["state"]],
                inputs["values"],
                keys=inputs["keys"],
                values_mask=ops.cast(inputs["source_mask"], "bool"),
            )
        else:
            output, state = self.decoder.cell(embedded, [inputs["state"]])  # [B, units]
            state = state[0] if isinstance(state, (list, tuple)) else state
        logits = self.readout(output)[:, None, :]  # [B, 1, V]
        return {"logits": logits, "state": state}

    def _state_specs(self, batch_size):
        return [TensorSpec((batch_size, self.units), "float32", name="state")]

    def _memory_specs(self, batch_size):
        if not self.attention:
            return []
        batch, source = batch_size, self.source_length
        units = self.attention_units or self.units
        width = 2 * self.units if self.bidirectional else self.units
        return [
            TensorSpec((batch, source, width), "float32", name="values"),
            TensorSpec((batch, source, units), "float32", name="keys"),
            TensorSpec((batch, source), "float32", name="source_mask"),
        ]

    # -- alignments --------------------------------------------------------------

    def attention_weights(self, source_ids, decoder_inputs=None):
        """Bahdanau's alignments `[N, T, S]`: every target step's weights.

        With `decoder_inputs` `[N, T]` (teacher forcing), the weights of that
        run; without, those of the model's own greedy decoding (its output
        fed back as decoder inputs, which reproduces the greedy run). Rows
        after a sequence's end token are what the decoder computed there and
        mean nothing.
        """
        if not self.attention:
            raise ValueError(
                "attention_weights needs attention=True; this model decodes "
                "without attention"
            )
        source = self._check_source(source_ids)
        if decoder_inputs is None:
            decoder_inputs = self._decoder_inputs_of(self.greedy_decode(source))
        decoder_inputs = np.asarray(decoder_inputs, "int32")
        _, weights = self._teacher_forced(
            ops.convert_to_tensor(source),
            ops.convert_to_tensor(decoder_inputs),
            return_attention_scores=True,
        )
        return ops.convert_to_numpy(weights)

    def get_config(self):
        config = {
            "units": self.units,
            "embedding_dim": self.embedding_dim,
            "attention": self.attention,
            "attention_units": self.attention_units,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
        }
        return {**super().get_config(), **config}
