"""Additive attention (Bahdanau, Cho and Bengio 2015)."""

import keras
from keras import ops

from keras_attention.layers._hard_attention import gumbel, hard_weights
from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._masking import (
    check_mask,
    check_mask_dtypes,
    masked_softmax,
)
from keras_attention.layers._random import HashDropout, uniform
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import check_positive_int, check_rate


# Our old name, now that of Keras's attention layers.
_RENAMED_CALL_ARGS = {
    "return_attention_weights": named(
        "return_attention_scores", "Keras's attention layers"
    ),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of a decoder state over encoder outputs.

    Each source step `s` is scored against the query `q` with
    `e_s = v . tanh(W_q q + W_k h_s)`, the scores are normalised with a
    softmax over the source, and the context is the weighted sum of the
    encoder outputs `h_s` (Bahdanau, Cho and Bengio 2015, "Neural Machine
    Translation by Jointly Learning to Align and Translate", appendix A.1.2).
    The encoder outputs serve both as keys (through `W_k`) and as values
    (unprojected).

    With `hard=True`, the context is one encoder output: the "hard"
    attention of Xu et al. (2015, "Show, Attend and Tell", sec. 4.1). While
    training it is a sample from the weights (Gumbel-max), and the gradient
    is the soft attention's, as if the context were the sample's
    expectation (the straight-through estimator of Bengio et al. 2013, in
    place of the paper's REINFORCE; straight through the noisy softmax, as
    PyTorch's `gumbel_softmax(hard=True)`, put 62% of the digit scenes'
    attention peaks on the digit against 96%: docs/benchmarks.md, Images).
    Otherwise it is the most attended output, which exports (TOPK_V2 on
    LiteRT). The weights returned are the soft ones either way.

    With `normalize=True`, `v` is weight-normalised (Salimans and Kingma
    2016) as in TensorFlow Addons' `BahdanauAttention`:
    `e_s = (g v / ||v||) . tanh(W_q q + W_k h_s + b)`, with a scalar `g`
    initialised to `sqrt(1 / units)` and a bias `b` initialised to zeros.

    A decoder calls the layer once per step with the same encoder outputs:
    `precompute_keys(values)` projects them once per source sequence and
    the result is passed as `keys` at every step. Softmax runs in float32
    under mixed precision. A query with no unmasked source step gets zero
    weights and a zero context, never NaN.

    Shapes: `B` batch, `T` query steps, `S` source steps, `Dq` query
    features, `Dv` value features, `U` units.

    Args:
        units: size `U` of the projected query and keys.
        normalize: weight-normalise `v` and add the bias `b`.
        dropout: dropout rate on the attention weights while training.
        hard: attend to one encoder output, sampled while training (see
            above); `dropout` must then be 0.
        kernel_initializer: initializer of `W_q`, `W_k` and `v`.
        kernel_regularizer: regularizer of `W_q`, `W_k` and `v`.
        kernel_constraint: constraint of `W_q`, `W_k` and `v`.
        seed: seed of the attention dropout, or of the hard choice's noise.

    Call arguments:
        query: one decoder step `[B, Dq]` or a sequence `[B, T, Dq]`.
        values: encoder outputs `[B, S, Dv]`.
        keys: optional `[B, S, U]` from `precompute_keys(values)`.
        values_mask: boolean (or 0/1) `[B, S]`, true for source steps that
            may be attended to; filled from the Keras mask of `values`. A
            masked step's values are never read: NaN there stays there.
        query_mask: boolean `[B, T]` (or `[B]` for one step); padded query
            steps get zero weights and a zero context. Filled from the
            Keras mask of `query`.
        dropout_mask: optional, the shape of the weights: multiplies them
            in place of the dropout the layer draws while training. A loop
            draws every step's mask before it runs (`draw_dropout_mask`),
            since JAX cannot draw random numbers inside `lax.scan`.
        sampling_noise: optional, the shape of the weights: with `hard`,
            the Gumbel noise added to the scores while training in place
            of the noise the layer draws (`draw_sampling_noise`), for a
            loop that draws every step's before it runs.
        return_attention_scores: also return the attention weights.
        training: whether dropout (or the hard choice's sampling) is on.

    Returns:
        The context `[B, Dv]` for one query step or `[B, T, Dv]` for a
        sequence; with `return_attention_scores`, the tuple
        `(context, weights)` with weights `[B, S]` or `[B, T, S]` (before
        dropout).

    Example:

    >>> encoder_outputs = keras.random.normal((2, 7, 32))
    >>> decoder_state = keras.random.normal((2, 64))
    >>> attention = BahdanauAttention(units=16)
    >>> context, weights = attention(
    ...     decoder_state, encoder_outputs, return_attention_scores=True
    ... )
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 32), (2, 7))
    """

    def __init__(
        self,
        units,
        normalize=False,
        dropout=0.0,
        hard=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        check_rate("dropout", dropout)
        if not isinstance(hard, bool):
            raise ValueError(f"hard must be True or False, received hard={hard!r}")
        if hard and dropout:
            raise ValueError(
                "dropout must be 0 with hard=True (the context is one encoder "
                f"output, sampled while training), received dropout={dropout}"
            )
        self.units = units
        self.normalize = bool(normalize)
        self.dropout = dropout
        self.hard = hard
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.seed = seed
        self.supports_masking = True
        self._query_dim = None
        self._value_dim = None
        self._dropout_layer = HashDropout(
            dropout, seed=seed, dtype=self.dtype_policy, name="attention_dropout"
        )
        # Only with `hard`: other layers keep the variables they always had.
        self._noise_seeds = keras.random.SeedGenerator(seed) if hard else None

    def _add_kernel(self, name, shape, salt):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=clone_initializer(self.kernel_initializer, salt),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def build(self, query_shape, values_shape, **unused_shapes):
        if len(query_shape) not in (2, 3) or query_shape[-1] is None:
            raise ValueError(
                "query must have shape [B, Dq] or [B, T, Dq] with a known Dq, "
                f"received query.shape={tuple(query_shape)} "
                f"(values.shape={tuple(values_shape)})"
            )
        if len(values_shape) != 3 or values_shape[-1] is None:
            raise ValueError(
                "values must have shape [B, S, Dv] with a known Dv, "
                f"received values.shape={tuple(values_shape)} "
                f"(query.shape={tuple(query_shape)})"
            )
        if None not in (query_shape[0], values_shape[0]) and (
            query_shape[0] != values_shape[0]
        ):
            raise ValueError(
                "query and values must have the same batch size, received "
                f"query.shape={tuple(query_shape)} and "
                f"values.shape={tuple(values_shape)}"
            )
        self._query_dim = query_shape[-1]
        self._value_dim = values_shape[-1]
        self.query_kernel = self._add_kernel(
            "query_kernel", (self._query_dim, self.units), salt=0
        )
        self.key_kernel = self._add_kernel(
            "key_kernel", (self._value_dim, self.units), salt=1
        )
        self.attention_v = self._add_kernel("attention_v", (self.units,), salt=2)
        if self.normalize:
            self.attention_g = self.add_weight(
                name="attention_g",
                shape=(),
                initializer=keras.initializers.Constant((1.0 / self.units) ** 0.5),
            )
            self.attention_b = self.add_weight(
                name="attention_b", shape=(self.units,), initializer="zeros"
            )
        self.built = True

    def precompute_keys(self, values):
        """The projected keys `W_k h_s`, `[B, S, U]`, of values `[B, S, Dv]`.

        Pass the result as `keys` at every decoder step over the same
        source, so the encoder outputs are projected once per sequence.
        """
        if not self.built:
            raise ValueError(
                "precompute_keys needs a built layer; call the layer once "
                "(or build it) before projecting the keys"
            )
        self._check_values(values)
        # The kernel is used as it is, not cast: in a functional model a
        # cast variable would be captured as a constant and get no gradient.
        keys = ops.matmul(ops.cast(values, self.compute_dtype), self.key_kernel)
        return ops.cast(keys, self.compute_dtype)

    def draw_dropout_mask(self, shape):
        """A dropout mask of the weights: 0, or `1 / (1 - dropout)`.

        Drawn with the layer's own seed, for `dropout_mask`.
        """
        ones = ops.ones(shape, self.compute_dtype)
        return self._dropout_layer(ones, training=True)

    def draw_sampling_noise(self, shape):
        """Gumbel noise, float32 `shape`, for `sampling_noise`: drawn with
        the layer's own seed, by a `hard` layer only."""
        if not self.hard:
            raise ValueError(
                "draw_sampling_noise is for a layer with hard=True, "
                f"received a layer with hard={self.hard}"
            )
        return gumbel(uniform(shape, self._noise_seeds.next()))

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        check_mask_dtypes(kwargs, ("values_mask", "query_mask"))
        if args and isinstance(args[0], (list, tuple)):
            raise TypeError(
                "BahdanauAttention takes query and values as separate "
                "arguments, attention(query, values), not keras.layers."
                "AdditiveAttention's inputs=[query, value, key] list"
            )
        return super().__call__(*args, **kwargs)

    def call(
        self,
        query,
        values,
        keys=None,
        values_mask=None,
        query_mask=None,
        dropout_mask=None,
        sampling_noise=None,
        return_attention_scores=False,
        training=None,
    ):
        self._check_call_args(
            query, values, keys, values_mask, query_mask, dropout_mask,
            sampling_noise,
        )
        if keys is None:
            keys = ops.matmul(values, self.key_kernel)  # [B, S, U]
        # A step is projected before gaining its T axis: a 3-D by 2-D matmul
        # becomes tf.tensordot, whose gradient XLA cannot compile inside the
        # while loop of keras.layers.RNN.
        projected_query = ops.matmul(query, self.query_kernel)  # [B, (T,) U]
        # One decoder step is the hot path (it runs inside the recurrence):
        # it works on [B, S] without a T axis, saving the reshapes.
        single_step = len(query.shape) == 2
        if single_step:
            hidden = projected_query[:, None, :] + keys  # [B, S, U]
        else:
            hidden = projected_query[:, :, None, :] + keys[:, None]  # [B, T, S, U]
        if self.normalize:
            hidden = hidden + self.attention_b
        v = self._scoring_vector()  # [U]
        # v . tanh(...) as one [B*(T*)S, U] x [U, 1] matrix product:
        # measured faster than a product and a sum, with and without XLA.
        activated = ops.tanh(hidden)
        scores = ops.reshape(
            ops.matmul(ops.reshape(activated, (-1, self.units)), v[:, None]),
            ops.shape(activated)[:-1],
        )  # [B, (T,) S]

        mask = None
        if values_mask is not None:
            mask = ops.cast(values_mask, "bool")  # [B, S]
            # A masked step's value may hold anything (NaN included): it is
            # selected away, since its weight 0 times NaN would be NaN.
            values = ops.where(mask[:, :, None], values, ops.zeros((), values.dtype))
            if not single_step:
                mask = mask[:, None, :]  # [B, 1, S]
        if query_mask is not None:
            rows = ops.cast(query_mask, "bool")[..., None]  # [B, (T,) 1]
            mask = rows if mask is None else ops.logical_and(mask, rows)
        weights = masked_softmax(scores, mask)  # float32 [B, (T,) S]
        weights = ops.cast(weights, self.compute_dtype)
        if self.hard:
            if training and sampling_noise is None:
                sampling_noise = self.draw_sampling_noise(ops.shape(scores))
            dropped = ops.cast(
                hard_weights(scores, weights, mask, sampling_noise if training else None),
                self.compute_dtype,
            )
        elif dropout_mask is None:
            dropped = self._dropout_layer(weights, training=training)
        else:
            dropped = weights * ops.cast(dropout_mask, weights.dtype)
        if single_step:
            context = ops.matmul(dropped[:, None, :], values)[:, 0]  # [B, Dv]
        else:
            context = ops.matmul(dropped, values)  # [B, T, Dv]

        if return_attention_scores:
            return context, weights
        return context

    def _scoring_vector(self):
        """`v`, or `g v / ||v||` with `normalize`, in the compute dtype."""
        if not self.normalize:
            return self.attention_v
        # The norm is taken in float32: a float16 sum of squares of a small
        # `v` underflows, and the clamp keeps `v = 0` from dividing by zero.
        v = ops.cast(self.attention_v, "float32")
        g = ops.cast(self.attention_g, "float32")
        v = g * v * ops.rsqrt(ops.maximum(ops.sum(ops.square(v)), 1e-12))
        return ops.cast(v, self.compute_dtype)

    def _check_values(self, values):
        if len(values.shape) != 3 or values.shape[-1] != self._value_dim:
            raise ValueError(
                f"values must have shape [B, S, {self._value_dim}] as when the "
                f"layer was built, received values.shape={values.shape}"
            )

    def _check_call_args(
        self, query, values, keys, values_mask, query_mask, dropout_mask,
        sampling_noise,
    ):
        if len(query.shape) not in (2, 3) or query.shape[-1] != self._query_dim:
            raise ValueError(
                f"query must have shape [B, {self._query_dim}] or "
                f"[B, T, {self._query_dim}] as when the layer was built, "
                f"received query.shape={query.shape}"
            )
        self._check_values(values)
        check_mask("values_mask", values_mask)
        check_mask("query_mask", query_mask)
        batch, source = values.shape[0], values.shape[1]
        expected = {
            "query": ((batch, *query.shape[1:]), "the batch size of values"),
            "keys": ((batch, source, self.units), f"shape [B, S, {self.units}]"),
            "values_mask": ((batch, source), "shape [B, S]"),
            "query_mask": (tuple(query.shape[:-1]), "the shape of query[..., 0]"),
            "dropout_mask": (
                (*query.shape[:-1], source), "the shape of the weights [B, (T,) S]"
            ),
            "sampling_noise": (
                (*query.shape[:-1], source), "the shape of the weights [B, (T,) S]"
            ),
        }
        given = dict(
            query=query, keys=keys, values_mask=values_mask, query_mask=query_mask,
            dropout_mask=dropout_mask, sampling_noise=sampling_noise,
        )
        for name, tensor in given.items():
            if tensor is None:
                continue
            shape, what = expected[name]
            if len(tensor.shape) != len(shape) or any(
                None not in (got, want) and got != want
                for got, want in zip(tensor.shape, shape)
            ):
                raise ValueError(
                    f"{name} must have {what}, received "
                    f"{name}.shape={tensor.shape} (values.shape={values.shape})"
                )

    def compute_mask(self, query, mask=None):
        # A sequence of queries keeps its padding; a single step has none.
        if len(query.shape) == 2:
            return None
        return mask

    def get_config(self):
        config = {
            "units": self.units,
            "normalize": self.normalize,
            "dropout": self.dropout,
            "hard": self.hard,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
