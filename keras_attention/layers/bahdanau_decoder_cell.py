"""One step of a recurrent decoder with Bahdanau attention (Bahdanau et al. 2015)."""

import keras
from keras import ops

from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._masking import check_mask, check_mask_dtypes
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import (
    check_positive_int,
    check_rate,
    check_shape,
    shape_matches,
)
from keras_attention.layers.bahdanau_attention import BahdanauAttention

# Our old name, now that of Keras's attention layers.
_RENAMED_CALL_ARGS = {
    "return_attention_weights": named(
        "return_attention_scores", "Keras's attention layers"
    ),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class BahdanauDecoderCell(keras.layers.Layer):
    """A recurrent cell that attends over the encoder outputs before each step.

    The decoder of Bahdanau, Cho and Bengio (2015), "Neural Machine
    Translation by Jointly Learning to Align and Translate": at step `i` the
    context `c_i` is computed by additive attention (`BahdanauAttention`)
    from the previous decoder state `s_{i-1}` over the encoder outputs, the
    inner cell (`keras.layers.GRUCell` or `keras.layers.LSTMCell`) reads
    `concat([y_i, c_i])`, and the cell outputs `concat([s_i, c_i])`, from
    which a readout layer predicts the next token. With an LSTM, `s` is the
    hidden state `h`.

    The state is the inner cell's own: `[s]` for a GRU, `[h, c]` for an
    LSTM. The encoder outputs, their keys and their mask are read-only
    arguments of every step, never state: `BahdanauDecoder` runs the cell
    over a target sequence in a loop of its own (Keras 3's
    `keras.layers.RNN` has no `constants` to hand them to a cell), and a
    decoding loop calls the cell one step at a time with the keys projected
    once per source (`precompute_keys`), as `RNNSeq2Seq`'s exported
    `decode_step` does.

    Shapes: `B` batch, `S` source steps, `E` decoder input features, `Dv`
    encoder output features, `Ds` inner cell units, `U` attention units.

    Args:
        cell: a `keras.layers.GRUCell` or `keras.layers.LSTMCell` with
            `Ds` units, without dropout (use `attention_dropout`, or a
            Dropout layer on the decoder inputs). The decoder cell takes its
            dtype policy unless given `dtype`; the two must match.
        attention_units: units `U` of the attention.
        normalize: weight-normalised attention (see `BahdanauAttention`).
        attention_dropout: dropout rate on the attention weights while
            training.
        hard_attention: the context is one encoder output, sampled while
            training (`BahdanauAttention`'s `hard`; Xu et al. 2015's hard
            attention); `attention_dropout` must then be 0.
        kernel_initializer, kernel_regularizer, kernel_constraint: of the
            attention's weights.
        seed: seed of the attention dropout, or of the hard attention's
            sampling.

    Call arguments:
        inputs: the decoder input of one step, `[B, E]`.
        states: the inner cell's states, `[s]` (`[B, Ds]`) or `[h, c]`:
            `get_initial_state(B)`, the encoder's final state, or the
            previous step's `new_states`.
        values: encoder outputs `[B, S, Dv]`.
        keys: optional `[B, S, U]` from `precompute_keys(values)`; projected
            here when `None`.
        values_mask: optional boolean `[B, S]`, true for source steps that
            may be attended to.
        dropout_mask: optional `[B, S]` mask of the attention weights in
            place of the one the attention draws while training; a loop
            draws every step's before it runs (`BahdanauDecoder`).
        sampling_noise: optional `[B, S]`, with `hard_attention`, the
            Gumbel noise of this step's choice while training, in place of
            the noise the attention draws (also drawn before a loop).
        training: whether dropout is active.
        return_attention_scores: also return this step's attention
            weights.

    Returns:
        `(output, new_states)` with output `[B, Ds + Dv]`, the new decoder
        state followed by the context, and `new_states` the inner cell's;
        with `return_attention_scores`, `(output, new_states, weights)`
        with weights `[B, S]`.

    Example:

    >>> encoder_outputs = keras.random.normal((2, 7, 32))
    >>> cell = BahdanauDecoderCell(keras.layers.GRUCell(64), attention_units=16)
    >>> states = cell.get_initial_state(batch_size=2)
    >>> output, states = cell(keras.random.normal((2, 8)), states, encoder_outputs)
    >>> tuple(output.shape), cell.output_size, cell.state_size
    ((2, 96), 96, [64])
    """

    def __init__(
        self,
        cell,
        attention_units,
        normalize=False,
        attention_dropout=0.0,
        hard_attention=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        seed=None,
        **kwargs,
    ):
        if not isinstance(cell, (keras.layers.GRUCell, keras.layers.LSTMCell)):
            raise ValueError(
                "cell must be a keras.layers.GRUCell or keras.layers.LSTMCell, "
                f"received cell={cell!r}"
            )
        if cell.dropout or cell.recurrent_dropout:
            raise ValueError(
                "cell must have no dropout (its masks would be drawn at every "
                "step); use attention_dropout or a Dropout layer on the decoder "
                f"inputs, received cell with dropout={cell.dropout} and "
                f"recurrent_dropout={cell.recurrent_dropout}"
            )
        kwargs.setdefault("dtype", cell.dtype_policy)
        super().__init__(**kwargs)
        if cell.dtype_policy.name != self.dtype_policy.name:
            raise ValueError(
                "cell must compute in the dtype policy of the decoder cell, "
                f"received cell with dtype policy {cell.dtype_policy.name!r} "
                f"and dtype={self.dtype_policy.name!r}"
            )
        check_positive_int("attention_units", attention_units)
        check_rate("attention_dropout", attention_dropout)
        if not isinstance(hard_attention, bool):
            raise ValueError(
                "hard_attention must be True or False, received "
                f"hard_attention={hard_attention!r}"
            )
        if hard_attention and attention_dropout:
            raise ValueError(
                "attention_dropout must be 0 with hard_attention=True (the context "
                "is one encoder output, sampled while training), received "
                f"attention_dropout={attention_dropout}"
            )
        self.cell = cell
        self.attention_units = attention_units
        self.normalize = bool(normalize)
        self.attention_dropout = attention_dropout
        self.hard_attention = hard_attention
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.seed = seed
        self.attention = BahdanauAttention(
            attention_units,
            normalize=normalize,
            dropout=attention_dropout,
            hard=hard_attention,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            kernel_constraint=self.kernel_constraint,
            seed=seed,
            dtype=self.dtype_policy,
            name="attention",
        )
        self._num_states = 2 if isinstance(cell, keras.layers.LSTMCell) else 1
        self._input_shape = None
        self._values_shape = None

    # -- the Keras cell contract -------------------------------------------

    @property
    def state_size(self):
        """`[Ds]` for a GRU, `[Ds, Ds]` for an LSTM (`h`, `c`)."""
        return [self.cell.units] * self._num_states

    @property
    def output_size(self):
        """`Ds + Dv` once built (`Dv` comes from the encoder outputs)."""
        if self._values_shape is None:
            return None
        return self.cell.units + self._values_shape[-1]

    def get_initial_state(self, batch_size=None):
        """Zero states, `[B, Ds]` each, in the compute dtype."""
        shape = (batch_size, self.cell.units)
        return [ops.zeros(shape, self.compute_dtype) for _ in range(self._num_states)]

    def _build_attention(self, values_shape):
        values_shape = tuple(values_shape)
        if len(values_shape) != 3 or values_shape[-1] is None:
            raise ValueError(
                "values must have shape [B, S, Dv] with a known Dv, "
                f"received values.shape={values_shape}"
            )
        if not self.attention.built:
            with keras.name_scope(self.name):
                self.attention.build((values_shape[0], self.cell.units), values_shape)
        self._values_shape = values_shape

    def build(self, inputs_shape, values_shape=None, **unused_shapes):
        if values_shape is None:
            raise ValueError(
                "BahdanauDecoderCell reads the encoder outputs at every step: "
                "call it as cell(inputs, states, values), and run it over a "
                "sequence with BahdanauDecoder (keras.layers.RNN cannot pass "
                f"values to its cell), received inputs.shape={tuple(inputs_shape)} "
                "and no values"
            )
        inputs_shape = tuple(inputs_shape)
        if len(inputs_shape) != 2 or inputs_shape[-1] is None:
            raise ValueError(
                "inputs must have shape [B, E] with a known E, "
                f"received inputs.shape={inputs_shape}"
            )
        self._build_attention(values_shape)
        cell_input_dim = inputs_shape[-1] + self._values_shape[-1]
        if not self.cell.built:
            self.cell.build((inputs_shape[0], cell_input_dim))
        elif self.cell.kernel.shape[0] != cell_input_dim:
            raise ValueError(
                f"cell was built for {self.cell.kernel.shape[0]} input features, "
                f"but reads the decoder input and the context, {cell_input_dim}: "
                f"received inputs.shape={inputs_shape} and "
                f"values.shape={self._values_shape}"
            )
        self._input_shape = inputs_shape
        self.built = True

    def get_build_config(self):
        # A step's input and the encoder outputs: both shapes are needed.
        if not self.built:
            return None
        return {"input_shape": self._input_shape, "values_shape": self._values_shape}

    def build_from_config(self, config):
        if config:
            self.build(config["input_shape"], config["values_shape"])

    def precompute_keys(self, values):
        """The attention's keys `[B, S, U]` of encoder outputs `[B, S, Dv]`.

        Pass them as `keys` at every step over the same source, so that the
        encoder outputs are projected once per sequence. Builds the
        attention on first use.
        """
        self._build_attention(values.shape)
        return self.attention.precompute_keys(values)

    # -- call ----------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        check_mask_dtypes(kwargs, ("values_mask",))
        return super().__call__(*args, **kwargs)

    def call(
        self,
        inputs,
        states,
        values,
        keys=None,
        values_mask=None,
        dropout_mask=None,
        sampling_noise=None,
        training=None,
        return_attention_scores=False,
    ):
        states = self._check_states(states, values)
        note = f" (values.shape={tuple(values.shape)})"
        check_shape("inputs", inputs, (values.shape[0], None), "[B, E]", note)
        check_mask("values_mask", values_mask)
        if keys is None:
            keys = self.attention.precompute_keys(values)  # [B, S, U]
        # c_i attends from the previous state s_{i-1} (h for an LSTM).
        context, weights = self.attention(
            states[0],
            values,
            keys=keys,
            values_mask=values_mask,
            dropout_mask=dropout_mask,
            sampling_noise=sampling_noise,
            return_attention_scores=True,
            training=training,
        )  # [B, Dv], [B, S]
        hidden, new_states = self.cell(
            ops.concatenate([inputs, context], axis=-1),  # [B, E + Dv]
            states,
            training=training,
        )  # [B, Ds]
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        output = ops.concatenate([hidden, context], axis=-1)  # [B, Ds + Dv]
        if return_attention_scores:
            return output, list(new_states), weights
        return output, list(new_states)

    def _check_states(self, states, values):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        batch = values.shape[0]
        if len(states) != self._num_states or not all(
            shape_matches(s.shape, (batch, self.cell.units)) for s in states
        ):
            expected = "[s]" if self._num_states == 1 else "[h, c]"
            raise ValueError(
                f"states must be {expected}, each [B, Ds] with Ds="
                f"{self.cell.units} and the batch size of values, received "
                f"states shapes {[tuple(s.shape) for s in states]} "
                f"(values.shape={tuple(values.shape)})"
            )
        return states

    def get_config(self):
        config = {
            "cell": keras.saving.serialize_keras_object(self.cell),
            "attention_units": self.attention_units,
            "normalize": self.normalize,
            "attention_dropout": self.attention_dropout,
            "hard_attention": self.hard_attention,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)
