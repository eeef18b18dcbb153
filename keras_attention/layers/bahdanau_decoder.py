"""Bahdanau's attentive decoder over a whole target sequence, as one layer."""

import keras
from keras import ops

from keras_attention.layers._masking import check_mask, check_mask_dtypes
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import check_shape, shape_matches
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

    The layer owns its loop: it projects the encoder outputs to the
    attention's keys once, then runs the cell step by step with the encoder
    outputs, keys and source mask as read-only arguments, and the inner
    cell's state as the only state carried from step to step. The loop is
    `keras.ops.scan` (a `tf.while_loop` on TensorFlow, `lax.scan` on JAX,
    a Python loop on PyTorch), or unrolled with `unroll=True`. Every step's
    attention weights come out of the same loop.

    A padded target step (`inputs_mask` false) outputs zeros, weights
    included, and leaves the state as it was. Attention dropout draws every
    step's mask before the loop runs (JAX cannot draw inside `lax.scan`),
    and hard attention every step's sampling noise.
    Inside a functional model the key projection stays a weight, so the
    model saves, reloads and goes on training.

    Shapes: `B` batch, `T` target steps, `S` source steps, `E` decoder input
    features, `Dv` encoder output features, `Ds` inner cell units.

    Args:
        cell: a `BahdanauDecoderCell`.
        unroll: unroll the loop over the (static) target length; a
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
        training: whether dropout (or hard attention's sampling) is active.

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
        self.supports_masking = True

    def build(self, inputs_shape, values_shape, **unused_shapes):
        if len(inputs_shape) != 3 or inputs_shape[-1] is None:
            raise ValueError(
                "inputs must have shape [B, T, E] with a known E, "
                f"received inputs.shape={tuple(inputs_shape)}"
            )
        if not self.cell.built:
            self.cell.build((inputs_shape[0], inputs_shape[2]), values_shape)
        self.built = True

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        check_mask_dtypes(kwargs, ("inputs_mask", "values_mask"))
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
        self._check_call_args(inputs, values, inputs_mask, values_mask)
        values = ops.cast(values, self.compute_dtype)  # [B, S, Dv]
        keys = self.cell.precompute_keys(values)  # [B, S, U], once per source
        states = self._initial_states(decoder_state, values)  # [B, Ds] each
        steps = ops.cast(inputs, self.compute_dtype)  # [B, T, E]
        dropout = bool(training) and self.cell.attention_dropout > 0
        sampling = bool(training) and self.cell.hard_attention
        shape = (*ops.shape(inputs)[:2], ops.shape(values)[1])
        # Every step's mask or noise, drawn before the loop: JAX cannot draw
        # random numbers inside lax.scan. (A cell has one or the other.)
        if dropout:
            masks = self.cell.attention.draw_dropout_mask(shape)  # [B, T, S]
            steps = ops.concatenate([steps, masks], axis=-1)  # [B, T, E + S]
        if sampling:
            noise = self.cell.attention.draw_sampling_noise(shape)  # [B, T, S]
            steps = ops.concatenate(
                [steps, ops.cast(noise, steps.dtype)], axis=-1
            )  # [B, T, E + S]
        step = _BoundCell(
            self.cell, values, keys, values_mask, inputs.shape[-1],
            dropout or sampling, return_attention_scores,
        )
        rnn = keras.layers.RNN(
            step,
            return_sequences=True,
            # A padded step outputs zeros (the default repeats the previous
            # output) and keeps the state.
            zero_output_for_mask=True,
            unroll=self.unroll,
            dtype=self.dtype_policy,
            name="rnn",
        )
        outputs = rnn(
            steps, initial_state=states, mask=inputs_mask, training=training
        )  # [B, T, Ds + Dv], and the weights [B, T, S] after them
        if not return_attention_scores:
            return outputs
        units = self.cell.output_size
        # With S unknown, so is the width of the slice: reshape restores it.
        hidden_and_context = ops.reshape(
            outputs[..., :units], (*ops.shape(outputs)[:2], units)
        )  # [B, T, Ds + Dv]
        return hidden_and_context, outputs[..., units:]  # [B, T, S]

    def _initial_states(self, decoder_state, values):
        units, count = self.cell.cell.units, len(self.cell.state_size)
        if decoder_state is None:
            zeros = ops.repeat(ops.zeros_like(values[:, 0, :1]), units, axis=1)
            return [zeros] * count  # [B, Ds] each
        states = (
            list(decoder_state)
            if isinstance(decoder_state, (list, tuple))
            else [decoder_state]
        )
        if len(states) != count or not all(
            shape_matches(s.shape, (values.shape[0], units)) for s in states
        ):
            expected = "[B, Ds]" if count == 1 else "[h, c]"
            raise ValueError(
                f"decoder_state must be {expected} with Ds={units} and the "
                "batch size of values, received decoder_state shapes "
                f"{[tuple(s.shape) for s in states]} "
                f"(values.shape={tuple(values.shape)})"
            )
        return [ops.cast(s, self.compute_dtype) for s in states]

    def _check_call_args(self, inputs, values, inputs_mask, values_mask):
        if self.unroll and inputs.shape[1] is None:
            raise ValueError(
                "unroll=True needs a known number of target steps, received "
                f"inputs.shape={tuple(inputs.shape)}"
            )
        shapes = (
            f" (inputs.shape={tuple(inputs.shape)}, values.shape={tuple(values.shape)})"
        )
        batch, steps, source = inputs.shape[0], inputs.shape[1], values.shape[1]
        check_shape("values", values, (batch, None, None), "[B, S, Dv]", shapes)
        check_shape("inputs_mask", inputs_mask, (batch, steps), "[B, T]", shapes)
        check_shape("values_mask", values_mask, (batch, source), "[B, S]", shapes)
        check_mask("inputs_mask", inputs_mask)
        check_mask("values_mask", values_mask)

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


class _BoundCell(keras.layers.Layer):
    """A `BahdanauDecoderCell` with one call's encoder memory bound to it.

    `keras.layers.RNN` hands its cell the step input and the states only
    (Keras 3 has no `constants`), so `BahdanauDecoder` makes one of these
    per call, closing over that call's encoder outputs, keys and source
    mask; the RNN carries the inner cell's states alone. It owns no weights.
    The RNN takes one input and gives one output per step, so the step
    input is the decoder input followed, while training with dropout or
    hard attention, by the step's attention dropout mask or sampling noise
    (`drawn`), and the step output is the decoder cell's followed, when
    asked for, by the attention weights.
    """

    def __init__(
        self, cell, values, keys, values_mask, input_dim, drawn,
        return_attention_scores,
    ):
        super().__init__(dtype=cell.dtype_policy, name="bound_" + cell.name)
        self.cell = cell
        self.values, self.keys, self.values_mask = values, keys, values_mask
        self.input_dim = input_dim
        self.drawn = drawn
        self.return_attention_scores = return_attention_scores
        self.state_size = cell.state_size
        self.output_size = cell.output_size
        if return_attention_scores:
            source = values.shape[1]
            self.output_size = None if source is None else cell.output_size + source
        self.built = True

    def call(self, inputs, states, training=None):
        drawn = inputs[:, self.input_dim :] if self.drawn else None  # [B, S]
        hard = self.cell.hard_attention
        output, new_states, weights = self.cell(
            inputs[:, : self.input_dim],  # [B, E]
            states,
            self.values,
            keys=self.keys,
            values_mask=self.values_mask,
            dropout_mask=None if hard else drawn,
            sampling_noise=drawn if hard else None,
            return_attention_scores=True,
            training=training,
        )  # [B, Ds + Dv], [B, Ds] each, [B, S]
        if self.return_attention_scores:
            output = ops.concatenate([output, weights], axis=-1)
        return output, new_states
