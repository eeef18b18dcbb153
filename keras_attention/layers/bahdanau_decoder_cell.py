"""A recurrent decoder cell with Bahdanau attention (Bahdanau et al. 2015)."""

import keras
from keras import ops

from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import (
    check_positive_int,
    check_rate,
    shape_matches,
)
from keras_attention.layers.bahdanau_attention import BahdanauAttention

# The states that follow the inner cell's own: they carry the encoder outputs
# through `keras.layers.RNN`, which has no `constants` argument in Keras 3.
_PASS_THROUGH_STATES = 3  # values, keys, values_mask


# Our old name, now that of Keras's attention layers.
_RENAMED_CALL_ARGS = {
    "return_attention_weights": named(
        "return_attention_scores", "Keras's attention layers"
    ),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class BahdanauDecoderCell(keras.layers.Layer):
    """An RNN cell that attends over the encoder outputs before each step.

    The decoder of Bahdanau, Cho and Bengio (2015), "Neural Machine
    Translation by Jointly Learning to Align and Translate": at step `i` the
    context `c_i` is computed by additive attention (`BahdanauAttention`)
    from the previous decoder state `s_{i-1}` over the encoder outputs, the
    inner cell (`keras.layers.GRUCell` or `keras.layers.LSTMCell`) reads
    `concat([y_i, c_i])`, and the cell outputs `concat([s_i, c_i])`, from
    which a readout layer predicts the next token. With an LSTM, `s` is the
    hidden state `h`.

    Keras 3's `keras.layers.RNN` has no `constants` argument, so the encoder
    outputs travel in the state: the state list is
    `[*inner states, values, keys, values_mask]`, built by
    `initial_state(values, ...)`. The keys are the encoder outputs projected
    once per source sequence (`BahdanauAttention.precompute_keys`); the
    three pass through every step unchanged. The mask is stored as floats
    (1 where a source step may be attended to) because `keras.layers.RNN`
    casts every state to the compute dtype.

    Teacher-forced training runs the cell in `keras.layers.RNN`; greedy
    decoding calls it one step at a time; `attention_weights` recovers every
    step's alignment from a teacher-forced run in one batched call.

    Two limits of Keras's functional API. `keras.layers.RNN` describes each
    state as `[B, size]`, so `return_state=True` works eagerly but not on
    `keras.Input`s; read the final hidden state from `outputs[:, -1, :Ds]`.
    And a functional model that calls `initial_state` on `keras.Input`s
    trains and exports, but records the key projection as an op on the
    attention's kernel, which a `.keras` file stores as a constant (and
    `attention_weights` as a second use of the attention layer, which it
    cannot reload): a model to be saved and reloaded should call
    `initial_state`, the RNN and `attention_weights` inside one layer.

    Shapes: `B` batch, `T` target steps, `S` source steps, `E` decoder input
    features, `Dv` encoder output features, `Ds` inner cell units, `U`
    attention units.

    Args:
        cell: a `keras.layers.GRUCell` or `keras.layers.LSTMCell` with
            `Ds` units, without dropout (`keras.layers.RNN` prepares dropout
            masks only for the cell it runs directly). The decoder cell
            takes its dtype policy unless given `dtype`; the two must match.
        attention_units: units `U` of the attention.
        normalize: weight-normalised attention (see `BahdanauAttention`).
        attention_dropout: dropout rate on the attention weights while
            training.
        kernel_initializer, kernel_regularizer, kernel_constraint: of the
            attention's weights.
        seed: seed of the attention dropout.

    Call arguments:
        inputs: the decoder input of one step, `[B, E]`.
        states: the state list from `initial_state`, or the previous
            step's `new_states`.
        training: whether dropout is active.
        return_attention_scores: also return this step's attention
            weights.

    Returns:
        `(output, new_states)` with output `[B, Ds + Dv]`, the new decoder
        state followed by the context; with `return_attention_scores`,
        `(output, new_states, weights)` with weights `[B, S]`.

    Example:

    >>> encoder_outputs = keras.random.normal((2, 7, 32))
    >>> target_embeddings = keras.random.normal((2, 5, 8))
    >>> cell = BahdanauDecoderCell(keras.layers.GRUCell(64), attention_units=16)
    >>> states = cell.initial_state(encoder_outputs)
    >>> decoder = keras.layers.RNN(cell, return_sequences=True)
    >>> outputs = decoder(target_embeddings, initial_state=states)
    >>> tuple(outputs.shape), tuple(cell.attention_weights(outputs, states).shape)
    ((2, 5, 96), (2, 5, 7))
    """

    def __init__(
        self,
        cell,
        attention_units,
        normalize=False,
        attention_dropout=0.0,
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
                "cell must have no dropout (keras.layers.RNN prepares dropout "
                "masks only for the cell it runs directly); use "
                "attention_dropout or a Dropout layer on the decoder inputs, "
                f"received cell with dropout={cell.dropout} and "
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
        self.cell = cell
        self.attention_units = attention_units
        self.normalize = bool(normalize)
        self.attention_dropout = attention_dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.seed = seed
        self.attention = BahdanauAttention(
            attention_units,
            normalize=normalize,
            dropout=attention_dropout,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            kernel_constraint=self.kernel_constraint,
            seed=seed,
            dtype=self.dtype_policy,
            name="attention",
        )
        self._num_inner_states = 2 if isinstance(cell, keras.layers.LSTMCell) else 1
        self._input_shape = None
        self._values_shape = None

    # -- the Keras cell contract -------------------------------------------

    @property
    def state_size(self):
        """The inner cell's sizes, then per-example shapes of the rest.

        The values, keys and mask are `[B, S, Dv]`, `[B, S, U]` and `[B, S]`;
        `keras.layers.RNN` reads these sizes only to describe the states it
        returns with `return_state=True` (as `[B, size]`, which these are
        not). `Dv` is `None` until `initial_state` has seen the values.
        """
        inner = [self.cell.units] * self._num_inner_states
        value_dim = None if self._values_shape is None else self._values_shape[-1]
        return inner + [(None, value_dim), (None, self.attention_units), (None,)]

    @property
    def output_size(self):
        """`Ds + Dv`; `None` until `initial_state` has seen the encoder outputs."""
        if self._values_shape is None:
            return None
        return self.cell.units + self._values_shape[-1]

    def get_initial_state(self, batch_size=None):
        raise ValueError(
            "BahdanauDecoderCell carries the encoder outputs in its state, so "
            "its initial state cannot be made from a batch size alone: pass "
            "initial_state=cell.initial_state(values, values_mask, "
            f"decoder_state) to keras.layers.RNN, received batch_size={batch_size}"
        )

    def _build_attention(self, values_shape):
        values_shape = tuple(values_shape)
        if len(values_shape) != 3 or values_shape[-1] is None:
            raise ValueError(
                "values must have shape [B, S, Dv] with a known Dv, "
                f"received values.shape={values_shape}"
            )
        with keras.name_scope(self.name):
            self.attention.build((values_shape[0], self.cell.units), values_shape)
        self._values_shape = values_shape

    def build(self, input_shape):
        if self._values_shape is None:
            raise ValueError(
                "BahdanauDecoderCell learns the encoder outputs' size from "
                "initial_state(values, ...): call it before the cell runs, "
                f"received input_shape={tuple(input_shape)} with no values"
            )
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "inputs must have shape [B, E] with a known E, "
                f"received input_shape={tuple(input_shape)}"
            )
        cell_input_dim = input_shape[-1] + self._values_shape[-1]
        if not self.cell.built:
            self.cell.build((input_shape[0], cell_input_dim))
        elif self.cell.kernel.shape[0] != cell_input_dim:
            raise ValueError(
                f"cell was built for {self.cell.kernel.shape[0]} input features, "
                f"but reads the decoder input and the context, {cell_input_dim}: "
                f"received input_shape={tuple(input_shape)} and "
                f"values.shape={self._values_shape}"
            )
        self._input_shape = tuple(input_shape)
        self.built = True

    def get_build_config(self):
        # keras.layers.RNN builds the cell from the step input's shape only;
        # the encoder outputs' shape must be recorded beside it.
        if not self.built:
            return None
        return {"input_shape": self._input_shape, "values_shape": self._values_shape}

    def build_from_config(self, config):
        if config:
            self._build_attention(config["values_shape"])
            self.build(config["input_shape"])

    # -- states --------------------------------------------------------------

    def initial_state(self, values, values_mask=None, decoder_state=None):
        """The state list `[*decoder_state, values, keys, values_mask]`.

        Args:
            values: encoder outputs `[B, S, Dv]`.
            values_mask: optional boolean `[B, S]`, true for source steps
                that may be attended to; all true when `None`.
            decoder_state: the inner cell's initial state, `[B, Ds]` for a
                GRU and `[h, c]` for an LSTM; zeros when `None`.

        Works on tensors and on symbolic `keras.Input`s, and builds the
        attention on first use.
        """
        if self._values_shape is None:
            self._build_attention(values.shape)
        batch, source = values.shape[0], values.shape[1]
        if values_mask is not None and not shape_matches(
            values_mask.shape, (batch, source)
        ):
            raise ValueError(
                "values_mask must have shape [B, S], received "
                f"values_mask.shape={tuple(values_mask.shape)} "
                f"(values.shape={tuple(values.shape)})"
            )
        units = self.cell.units
        if decoder_state is not None:
            decoder_state = (
                list(decoder_state)
                if isinstance(decoder_state, (list, tuple))
                else [decoder_state]
            )
            if len(decoder_state) != self._num_inner_states or not all(
                shape_matches(s.shape, (batch, units)) for s in decoder_state
            ):
                expected = "[B, Ds]" if self._num_inner_states == 1 else "[h, c]"
                raise ValueError(
                    f"decoder_state must be {expected} with Ds={units} and the "
                    "batch size of values, received decoder_state shapes "
                    f"{[tuple(s.shape) for s in decoder_state]} "
                    f"(values.shape={tuple(values.shape)})"
                )

        values = ops.cast(values, self.compute_dtype)  # [B, S, Dv]
        keys = self.attention.precompute_keys(values)  # [B, S, U]
        if values_mask is None:
            values_mask = ops.ones_like(values[:, :, 0])  # [B, S]
        values_mask = ops.cast(values_mask, self.compute_dtype)
        if decoder_state is None:
            zeros = ops.repeat(ops.zeros_like(values[:, 0, :1]), units, axis=1)
            decoder_state = [zeros] * self._num_inner_states  # [B, Ds] each
        decoder_state = [ops.cast(s, self.compute_dtype) for s in decoder_state]
        return [*decoder_state, values, keys, values_mask]

    def _split_states(self, states):
        states = list(states)
        if len(states) != self._num_inner_states + _PASS_THROUGH_STATES:
            raise ValueError(
                "states must be the list from initial_state (or the previous "
                f"step's new states), {self._num_inner_states} inner states "
                "then values, keys and values_mask; received a list of "
                f"{len(states)} tensors"
            )
        return states[: self._num_inner_states], states[self._num_inner_states :]

    # -- call ----------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        return super().__call__(*args, **kwargs)

    def call(self, inputs, states, training=None, return_attention_scores=False):
        inner_states, (values, keys, values_mask) = self._split_states(states)
        if len(inputs.shape) != 2 or not shape_matches(
            inputs.shape[:1], values.shape[:1]
        ):
            raise ValueError(
                "inputs must have shape [B, E] with the batch size of the "
                f"states, received inputs.shape={tuple(inputs.shape)} "
                f"(values in the states: {tuple(values.shape)})"
            )
        # c_i attends from the previous state s_{i-1} (h for an LSTM).
        context, weights = self.attention(
            inner_states[0],
            values,
            keys=keys,
            values_mask=ops.cast(values_mask, "bool"),
            return_attention_scores=True,
            training=training,
        )  # [B, Dv], [B, S]
        hidden, new_inner = self.cell(
            ops.concatenate([inputs, context], axis=-1),  # [B, E + Dv]
            inner_states,
            training=training,
        )  # [B, Ds]
        if not isinstance(new_inner, (list, tuple)):
            new_inner = [new_inner]
        output = ops.concatenate([hidden, context], axis=-1)  # [B, Ds + Dv]
        new_states = [*new_inner, values, keys, values_mask]
        if return_attention_scores:
            return output, new_states, weights
        return output, new_states

    def attention_weights(self, decoder_outputs, states):
        """Every step's attention weights `[B, T, S]` of a teacher-forced run.

        Args:
            decoder_outputs: the outputs `[B, T, Ds + Dv]` of
                `keras.layers.RNN(cell, return_sequences=True)`.
            states: the state list the run started from.

        The query of step `i` is `s_{i-1}`: the initial decoder state, then
        the hidden states in the first `T - 1` outputs. Attention is
        deterministic given `s_{i-1}` (no dropout here), so the weights are
        those the run used at inference. Under a target mask,
        `BahdanauDecoder` outputs zeros on a padded step
        (`zero_output_for_mask=True`), so the weights are exact on every
        step before the first padded one; a step after a padded one gets
        a zero query instead of the state the cell holds there.
        """
        inner_states, (values, keys, values_mask) = self._split_states(states)
        if len(decoder_outputs.shape) != 3 or (
            decoder_outputs.shape[-1] != self.output_size
        ):
            raise ValueError(
                f"decoder_outputs must have shape [B, T, {self.output_size}] "
                "(hidden state then context), received "
                f"decoder_outputs.shape={decoder_outputs.shape}"
            )
        decoder_outputs = ops.cast(decoder_outputs, self.compute_dtype)
        initial = ops.cast(inner_states[0], self.compute_dtype)[:, None, :]
        queries = ops.concatenate(
            [initial, decoder_outputs[:, :-1, : self.cell.units]], axis=1
        )  # [B, T, Ds]
        _, weights = self.attention(
            queries,
            values,
            keys=keys,
            values_mask=ops.cast(values_mask, "bool"),
            return_attention_scores=True,
            training=False,
        )
        return weights  # [B, T, S]

    def get_config(self):
        config = {
            "cell": keras.saving.serialize_keras_object(self.cell),
            "attention_units": self.attention_units,
            "normalize": self.normalize,
            "attention_dropout": self.attention_dropout,
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
