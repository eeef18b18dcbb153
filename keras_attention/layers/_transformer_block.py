"""What the Transformer encoder and decoder blocks share (private)."""

import keras

from keras_attention.layers._initializers import SUBLAYER_SALT, clone_initializer
from keras_attention.layers._masking import check_mask, check_mask_dtypes
from keras_attention.layers._quantizable_norm import QuantizableLayerNormalization
from keras_attention.layers._random import HashDropout
from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._validation import (
    check_block_size, check_positive_int, check_rate)
from keras_attention.layers.cached_multi_head_attention import CachedMultiHeadAttention


# Names our blocks once used, now KerasHub's.
_RENAMED = {
    "norm_first": named("normalize_first", "KerasHub's Transformer layers"),
}


class _TransformerBlock(keras.layers.Layer):
    """What the encoder and decoder blocks share (private).

    The constructor arguments and their config, the sublayer factories, the
    feed-forward network and the residual wiring. The sublayers are made in
    `build`: the attention's default `key_dim` and the feed-forward's output
    width both come from the input width `D`.
    """

    def __init__(
        self,
        intermediate_dim,
        num_heads,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        *,
        normalize_first=False,
        key_dim=None,
        attention_block_size=None,
        **kwargs,
    ):
        # KerasHub's order up to bias_initializer; after it KerasHub's
        # encoder and decoder differ, so the rest is keyword-only.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED)
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        check_positive_int("intermediate_dim", intermediate_dim)
        if key_dim is not None:
            check_positive_int("key_dim", key_dim)
        check_rate("dropout", dropout)
        if (
            not isinstance(layer_norm_epsilon, (int, float))
            or isinstance(layer_norm_epsilon, bool)
            or layer_norm_epsilon <= 0
        ):
            raise ValueError(
                "layer_norm_epsilon must be a positive float, "
                f"received layer_norm_epsilon={layer_norm_epsilon!r}"
            )
        if not isinstance(normalize_first, bool):
            raise ValueError(
                "normalize_first must be a bool, received "
                f"normalize_first={normalize_first!r}"
            )
        try:
            self.activation = keras.activations.get(activation)
        except ValueError:
            raise ValueError(
                "activation must be a Keras activation (a name or a callable), "
                f"received activation={activation!r}"
            ) from None
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.key_dim = key_dim
        check_block_size("attention_block_size", attention_block_size)
        self.attention_block_size = attention_block_size
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self._sublayers_made = 0

    # -- sublayers -----------------------------------------------------------

    def _input_dim(self, inputs_shape):
        """The input width `D`, after checking that the block can take it."""
        if len(inputs_shape) != 3 or inputs_shape[-1] is None:
            raise ValueError(
                "inputs must have shape [B, T, D] with a known D, "
                f"received inputs.shape={tuple(inputs_shape)}"
            )
        dim = inputs_shape[-1]
        if self.key_dim is None and dim % self.num_heads:
            raise ValueError(
                "without key_dim, the input width D must be divisible by "
                f"num_heads, received inputs.shape={tuple(inputs_shape)} and "
                f"num_heads={self.num_heads}"
            )
        return dim

    def _sublayer_initializers(self):
        """Initializer copies for the next sublayer made, each seeded apart.

        Sublayers are made in a fixed order in `build`, so the seeds are
        reproducible.
        """
        salt = SUBLAYER_SALT * self._sublayers_made
        self._sublayers_made += 1
        return dict(
            kernel_initializer=clone_initializer(self.kernel_initializer, salt),
            bias_initializer=clone_initializer(self.bias_initializer, salt),
        )

    def _attention(self, dim, name):
        return CachedMultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim or dim // self.num_heads,
            dropout=self.dropout,
            block_size=self.attention_block_size,
            **self._sublayer_initializers(),
            dtype=self.dtype_policy,
            name=name,
        )

    def _layer_norm(self, name):
        # Keras's LayerNormalization, in a form whose int8 LiteRT conversion
        # stays integer; float32 under mixed precision, like Keras's.
        return QuantizableLayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _dropout(self, name):
        return HashDropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _dense(self, units, activation, name):
        return keras.layers.Dense(
            units,
            activation=activation,
            **self._sublayer_initializers(),
            dtype=self.dtype_policy,
            name=name,
        )

    def _build_feedforward(self, inputs_shape):
        """Makes and builds the feed-forward sublayer, the last one."""
        self._feedforward_intermediate_dense = self._dense(
            self.intermediate_dim, self.activation, "feedforward_intermediate_dense"
        )
        self._feedforward_output_dense = self._dense(
            inputs_shape[-1], None, "feedforward_output_dense"
        )
        self._feedforward_layer_norm = self._layer_norm("feedforward_layer_norm")
        self._feedforward_dropout = self._dropout("feedforward_dropout")
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense.build(
            tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        )
        self._feedforward_layer_norm.build(inputs_shape)

    # -- residual wiring -----------------------------------------------------

    def _sublayer_input(self, x, layer_norm):
        return layer_norm(x) if self.normalize_first else x

    def _sublayer_output(self, x, y, layer_norm, dropout, training):
        """Pre-LN `x + y`, post-LN `LN(x + y)`, `y` the sublayer's output."""
        x = x + dropout(y, training=training)
        return x if self.normalize_first else layer_norm(x)

    def _feedforward(self, x, training):
        """The position-wise feed-forward sublayer with its residual, `[B, T, D]`."""
        y = self._sublayer_input(x, self._feedforward_layer_norm)
        y = self._feedforward_intermediate_dense(y)  # [B, T, intermediate_dim]
        y = self._feedforward_output_dense(y)  # [B, T, D]
        return self._sublayer_output(
            x, y, self._feedforward_layer_norm, self._feedforward_dropout, training
        )

    # The mask arguments of `call`, whose dtypes `__call__` checks before
    # Keras converts them (`check_mask_dtypes`).
    _mask_arguments = ()

    def __call__(self, *args, **kwargs):
        check_mask_dtypes(kwargs, self._mask_arguments)
        return super().__call__(*args, **kwargs)

    def _check_masks(self, **masks):
        """Each mask the block is given, under its own name (`check_mask`)."""
        for name, mask in masks.items():
            check_mask(name, mask)

    def compute_mask(self, inputs, mask=None):
        # One output step per input step: the padding stays where it was.
        return mask

    def get_config(self):
        config = {
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "normalize_first": self.normalize_first,
            "key_dim": self.key_dim,
            "attention_block_size": self.attention_block_size,
        }
        return {**super().get_config(), **config}
