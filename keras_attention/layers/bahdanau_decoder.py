"""Bahdanau's attentive decoder over a whole target sequence, as one layer."""

import keras

from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers.bahdanau_decoder_cell import BahdanauDecoderCell


# Our old name, now that of Keras's attention layers.
_RENAMED_CALL_ARGS = {
    "return_attention_weights": named(
        "return_attention_scores", "Keras's attention layers"
    ),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class BahdanauDecoder(keras.layers.Layer):
    """Runs a `BahdanauDecoderCell` over a target sequence (teacher forcing).

    `cell.initial_state(values, ...)` followed by
    `keras.layers.RNN(cell, return_sequences=True)`, in one layer. Calling
    those two directly on `keras.Input`s trains and exports, but a `.keras`
    file would store the key projection made in `initial_state` as a
    constant; inside this layer it stays a weight, so a functional model
    built on it saves, reloads and goes on training. It can also return
    every step's attention weights for alignment plots.

    Shapes: `B` batch, `T` target steps, `S` source steps, `E` decoder input
    features, `Dv` encoder output features, `Ds` inner cell units.

    Args:
        cell: a `BahdanauDecoderCell`.
        unroll: unroll the recurrence (`keras.layers.RNN`'s argument); a
            fixed-length unrolled decoder is what full-integer TFLite
            conversion accepts.

    Call arguments:
        inputs: decoder inputs `[B, T, E]` (the previous target tokens'
            embeddings under teacher forcing).
        values: encoder outputs `[B, S, Dv]`.
        decoder_state: the inner cell's initial state (`[B, Ds]` for a GRU,
            `[h, c]` for an LSTM); zeros when `None`.
        inputs_mask: `[B, T]` target padding; Keras fills it from the mask
            of `inputs`.
        values_mask: `[B, S]` source padding; Keras fills it from the mask
            of `values`.
        return_attention_scores: also return the weights `[B, T, S]`.
        training: whether dropout is active.

    Returns:
        `outputs` `[B, T, Ds + Dv]` (each step's hidden state and context),
        or `(outputs, weights)`.

    Example:

    >>> cell = BahdanauDecoderCell(keras.layers.GRUCell(32), attention_units=16)
    >>> decoder = BahdanauDecoder(cell)
    >>> values = keras.random.normal((2, 7, 24))
    >>> outputs, weights = decoder(keras.random.normal((2, 5, 8)), values,
    ...                            return_attention_scores=True)
    >>> tuple(outputs.shape), tuple(weights.shape)
    ((2, 5, 56), (2, 5, 7))
    """

    def __init__(self, cell, unroll=False, **kwargs):
        if not isinstance(cell, BahdanauDecoderCell):
            raise ValueError(
                f"cell must be a BahdanauDecoderCell, received cell={cell!r}"
            )
        kwargs.setdefault("dtype", cell.dtype_policy)
        super().__init__(**kwargs)
        self.cell = cell
        self.unroll = bool(unroll)
        self.rnn = keras.layers.RNN(
            cell,
            return_sequences=True,
            # A padded step outputs zeros. The default repeats the previous
            # output, which JAX's and PyTorch's loops take from the first
            # state: here the hidden state, narrower than the output
            # (hidden state and context).
            zero_output_for_mask=True,
            unroll=self.unroll,
            dtype=self.dtype_policy,
            name="rnn",
        )
        self.supports_masking = True

    def build(self, inputs_shape, values_shape, **unused_shapes):
        if len(inputs_shape) != 3:
            raise ValueError(
                "inputs must have shape [B, T, E], "
                f"received inputs.shape={tuple(inputs_shape)}"
            )
        if not self.cell.built:
            self.cell.build_from_config(
                {
                    "input_shape": (inputs_shape[0], inputs_shape[2]),
                    "values_shape": values_shape,
                }
            )
        self.rnn.build(inputs_shape)

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        return super().__call__(*args, **kwargs)

    def call(
        self,
        inputs,
        values,
        decoder_state=None,
        inputs_mask=None,
        values_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        states = self.cell.initial_state(values, values_mask, decoder_state)
        outputs = self.rnn(
            inputs, initial_state=states, mask=inputs_mask, training=training
        )  # [B, T, Ds + Dv]
        if return_attention_scores:
            return outputs, self.cell.attention_weights(outputs, states)
        return outputs

    def compute_mask(self, inputs, mask=None):
        # One output step per target step: the target padding stays.
        return mask

    def get_config(self):
        config = {
            "cell": keras.saving.serialize_keras_object(self.cell),
            "unroll": self.unroll,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)
