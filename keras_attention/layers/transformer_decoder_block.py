"""Transformer decoder block (Vaswani et al. 2017), post-LN or pre-LN."""

import keras

from keras_attention.layers._transformer_block import _TransformerBlock


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerDecoderBlock(_TransformerBlock):
    """Causal self-attention, cross-attention and a feed-forward network.

    One layer of the Transformer decoder (Vaswani et al. 2017, section 3.1):
    causal multi-head self-attention, multi-head attention over the encoder's
    outputs, and a position-wise feed-forward network, each sublayer with a
    residual connection and layer normalisation. Built without
    `encoder_outputs`, it has no cross-attention (a decoder-only model, as in
    GPT). Dropout at `dropout` is applied to the attention weights and to
    each sublayer's output before the residual sum.

    - `norm_first=False` (post-LN, the paper's original):
      `x = LN(x + sublayer(x))`.
    - `norm_first=True` (pre-LN, Xiong et al. 2020): `x = x + sublayer(LN(x))`;
      the model adds the final layer normalisation after the last block.

    Incremental decoding: `init_cache` gives an empty self-attention cache
    and `cross_attention_cache(encoder_outputs)` the encoder's projected keys
    and values; each call with `self_attention_cache` and
    `cache_update_index` then decodes steps `[index, index + T)` and returns
    the updated cache. The cache has a static shape, so a decoding step
    compiles once under XLA with a tensor index and converts to TFLite.

    Layer normalisation runs in float32 under mixed precision; the output is
    in the compute dtype. The sublayers are made in `build`, since the
    attention's default `key_dim`, the feed-forward's output width and the
    presence of cross-attention all come from the input shapes. The weights,
    in `get_weights()` order: self-attention (query, key, value, output;
    kernel then bias, as `keras.layers.MultiHeadAttention`) and its layer
    norm, cross-attention and its layer norm (when built with
    `encoder_outputs`), the feed-forward's two Dense layers and its layer
    norm.

    Shapes: `B` batch, `T` target length, `S` source (encoder) length,
    `S_max` cache length, `D` features, `C` encoder features, `H` heads,
    `K` key_dim.

    Args:
        num_heads: number of attention heads `H`.
        intermediate_dim: width of the feed-forward's hidden layer.
        key_dim: size of each head's query, key and value projections `K`;
            defaults to `D // num_heads`.
        dropout: dropout rate while training.
        activation: the feed-forward's activation.
        layer_norm_epsilon: epsilon of the layer normalisations.
        norm_first: pre-LN when true, post-LN when false.
        kernel_initializer, bias_initializer: of the attention projections
            and the feed-forward's Dense layers.

    Call arguments:
        inputs: `[B, T, D]`.
        encoder_outputs: optional `[B, S, C]`; needed by a block with
            cross-attention unless `cross_attention_cache` is given.
        self_attention_mask: optional boolean `[B, T, T]` (`[B, T, S_max]`
            with a cache), combined with the causal mask.
        cross_attention_mask: optional boolean `[B, T, S]`.
        self_attention_cache: optional `[B, H, S_max, 2K]` from `init_cache`
            or a previous step; needs `cache_update_index`.
        cross_attention_cache: optional `[B, H, S, 2K]` from
            `cross_attention_cache`, in place of `encoder_outputs`.
        cache_update_index: int or scalar int tensor, the position of the
            first step of `inputs`.
        return_attention_scores: also return the cross-attention weights
            `[B, H, T, S]` (for alignment plots).
        training: whether dropout is active.
        inputs_mask, mask: the Keras mask of `inputs`, `[B, T]` (Keras fills
            `mask` when `inputs` is the only tensor argument and
            `inputs_mask` otherwise). Padded positions are not attended to;
            the output keeps the mask. With a cache only the current steps'
            padding is known: mask earlier padded steps with
            `self_attention_mask`.
        encoder_outputs_mask: the Keras mask of `encoder_outputs`, `[B, S]`;
            padded encoder positions are not attended to. Pass it explicitly
            with `cross_attention_cache`.

    Returns:
        `[B, T, D]` in the compute dtype; with `return_attention_scores`,
        `(outputs, scores)`; with `self_attention_cache`, the new cache is
        appended: `(outputs, new_self_attention_cache)` or
        `(outputs, scores, new_self_attention_cache)`.

    Example:

    >>> x = keras.random.normal((2, 5, 16))
    >>> encoded = keras.random.normal((2, 7, 16))
    >>> block = TransformerDecoderBlock(num_heads=4, intermediate_dim=32)
    >>> tuple(block(x, encoded).shape)
    (2, 5, 16)
    >>> cache = block.init_cache(batch_size=2, max_length=5)
    >>> cross = block.cross_attention_cache(encoded)
    >>> y, cache = block(
    ...     x[:, :1], self_attention_cache=cache, cross_attention_cache=cross,
    ...     cache_update_index=0)
    >>> tuple(y.shape)
    (2, 1, 16)
    """

    def build(self, inputs_shape, encoder_outputs_shape=None, **unused_shapes):
        dim = self._input_dim(inputs_shape)
        if encoder_outputs_shape is not None and (
            len(encoder_outputs_shape) != 3 or encoder_outputs_shape[-1] is None
        ):
            raise ValueError(
                "encoder_outputs must have shape [B, S, C] with a known C, "
                f"received encoder_outputs.shape={tuple(encoder_outputs_shape)} "
                f"(inputs.shape={tuple(inputs_shape)})"
            )
        self._self_attention = self._attention(dim, "self_attention")
        self._self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self._self_attention_dropout = self._dropout("self_attention_dropout")
        self._self_attention.build(inputs_shape)
        self._self_attention_layer_norm.build(inputs_shape)
        self._cross_attention = None
        if encoder_outputs_shape is not None:
            self._cross_attention = self._attention(dim, "cross_attention")
            self._cross_attention_layer_norm = self._layer_norm(
                "cross_attention_layer_norm"
            )
            self._cross_attention_dropout = self._dropout("cross_attention_dropout")
            self._cross_attention.build(inputs_shape, encoder_outputs_shape)
            self._cross_attention_layer_norm.build(inputs_shape)
        self._build_feedforward(inputs_shape)
        self.built = True

    # -- incremental decoding ------------------------------------------------

    def _check_built(self, what):
        if not self.built:
            raise ValueError(
                f"{what} needs a built block; call the block once (or build "
                "it) before computing a cache"
            )

    def init_cache(self, batch_size, max_length):
        """An empty self-attention cache `[B, H, max_length, 2K]`."""
        self._check_built("init_cache")
        return self._self_attention.init_cache(batch_size, max_length)

    def cross_attention_cache(self, encoder_outputs):
        """The cross-attention keys and values of `encoder_outputs` `[B, S, C]`.

        Returns `[B, H, S, 2K]`, to pass as `cross_attention_cache` at every
        decoding step, so the encoder's outputs are projected once.
        """
        self._check_built("cross_attention_cache")
        if self._cross_attention is None:
            raise ValueError(
                "cross_attention_cache needs a block with cross-attention; this "
                "block was built without encoder_outputs"
            )
        return self._cross_attention.context_cache(encoder_outputs)

    # -- call ----------------------------------------------------------------

    def call(
        self,
        inputs,
        encoder_outputs=None,
        self_attention_mask=None,
        cross_attention_mask=None,
        self_attention_cache=None,
        cross_attention_cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
        inputs_mask=None,
        encoder_outputs_mask=None,
        mask=None,
    ):
        self._check_call_args(
            encoder_outputs, self_attention_cache, cross_attention_cache,
            cache_update_index,
        )
        if return_attention_scores and self._cross_attention is None:
            raise ValueError(
                "return_attention_scores returns the cross-attention weights; "
                "this block was built without encoder_outputs"
            )
        padding_mask = inputs_mask if inputs_mask is not None else mask  # [B, T]
        x = inputs  # [B, T, D]

        y = self._self_attention(
            self._sublayer_input(x, self._self_attention_layer_norm),
            attention_mask=self_attention_mask,
            use_causal_mask=True,
            cache=self_attention_cache,
            cache_update_index=cache_update_index,
            query_mask=padding_mask,
            training=training,
        )  # [B, T, D], or with a cache ([B, T, D], [B, H, S_max, 2K])
        new_cache = None
        if self_attention_cache is not None:
            y, new_cache = y
        x = self._sublayer_output(
            x, y, self._self_attention_layer_norm, self._self_attention_dropout,
            training,
        )

        if self._cross_attention is not None:
            # The encoder's padding is the keys' mask, with encoder_outputs
            # and with a precomputed cross-attention cache alike.
            y = self._cross_attention(
                self._sublayer_input(x, self._cross_attention_layer_norm),
                context=encoder_outputs,
                attention_mask=cross_attention_mask,
                context_mask=encoder_outputs_mask,
                cache=cross_attention_cache,
                query_mask=padding_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )  # [B, T, D], with scores [B, H, T, S], with a cache its cache too
            if isinstance(y, tuple):
                # Scores if asked for; the unchanged cache is not returned.
                y, scores = y[0], (y[1] if return_attention_scores else None)
            x = self._sublayer_output(
                x, y, self._cross_attention_layer_norm,
                self._cross_attention_dropout, training,
            )

        x = self._feedforward(x, training)  # [B, T, D]
        results = [x]
        if return_attention_scores:
            results.append(scores)
        if new_cache is not None:
            results.append(new_cache)
        return results[0] if len(results) == 1 else tuple(results)

    def _check_call_args(
        self, encoder_outputs, self_attention_cache, cross_attention_cache,
        cache_update_index,
    ):
        has_encoder = encoder_outputs is not None or cross_attention_cache is not None
        if self._cross_attention is None and has_encoder:
            raise ValueError(
                "this block was built without encoder_outputs, so it has no "
                "cross-attention; received "
                + (
                    f"encoder_outputs.shape={encoder_outputs.shape}"
                    if encoder_outputs is not None
                    else f"cross_attention_cache.shape={cross_attention_cache.shape}"
                )
            )
        if self._cross_attention is not None:
            if not has_encoder:
                raise ValueError(
                    "this block has cross-attention and needs encoder_outputs "
                    "or cross_attention_cache, received neither"
                )
            if encoder_outputs is not None and cross_attention_cache is not None:
                raise ValueError(
                    "pass either encoder_outputs or cross_attention_cache, not "
                    f"both; received encoder_outputs.shape={encoder_outputs.shape} "
                    f"and cross_attention_cache.shape={cross_attention_cache.shape}"
                )
        if (self_attention_cache is None) != (cache_update_index is None):
            raise ValueError(
                "self_attention_cache and cache_update_index go together, "
                "received "
                + (
                    f"cache_update_index={cache_update_index!r} without a cache"
                    if self_attention_cache is None
                    else f"self_attention_cache.shape={self_attention_cache.shape} "
                    "and cache_update_index=None"
                )
            )
