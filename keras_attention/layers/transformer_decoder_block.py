"""Transformer decoder block (Vaswani et al. 2017), post-LN or pre-LN."""

import keras

from keras_attention.layers._renamed import named, refuse_renamed
from keras_attention.layers._transformer_block import _TransformerBlock

_KERAS_HUB = "KerasHub's TransformerDecoder"
# Our old call argument names, now KerasHub's.
_RENAMED_CALL_ARGS = {
    "inputs": named("decoder_sequence", _KERAS_HUB),
    "encoder_outputs": named("encoder_sequence", _KERAS_HUB),
    "self_attention_mask": named("decoder_attention_mask", _KERAS_HUB),
    "cross_attention_mask": named("encoder_attention_mask", _KERAS_HUB),
    "cache_update_index": named("self_attention_cache_update_index", _KERAS_HUB),
    "inputs_mask": named("decoder_padding_mask", _KERAS_HUB),
    "encoder_outputs_mask": named("encoder_padding_mask", _KERAS_HUB),
}


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerDecoderBlock(_TransformerBlock):
    """Causal self-attention, cross-attention and a feed-forward network.

    One layer of the Transformer decoder (Vaswani et al. 2017, section 3.1):
    causal multi-head self-attention, multi-head attention over the encoder's
    outputs, and a position-wise feed-forward network, each sublayer with a
    residual connection and layer normalisation. Built without
    `encoder_sequence`, it has no cross-attention (a decoder-only model, as
    in GPT). Dropout at `dropout` is applied to the attention weights and to
    each sublayer's output before the residual sum.

    - `normalize_first=False` (post-LN, the paper's original):
      `x = LN(x + sublayer(x))`.
    - `normalize_first=True` (pre-LN, Xiong et al. 2020):
      `x = x + sublayer(LN(x))`; the model adds the final layer
      normalisation after the last block.

    The constructor and call take the names, order and return conventions
    of KerasHub's `TransformerDecoder`; `key_dim` and
    `return_attention_scores` are ours. Our old names (`norm_first`,
    `encoder_outputs`, `self_attention_mask`, `cross_attention_mask`,
    `cache_update_index`, `encoder_outputs_mask`, `inputs_mask`) are refused
    with a `TypeError` naming the new one (the table of names in docs/migration.md).

    Incremental decoding: `init_cache` gives an empty self-attention cache
    and `cross_attention_cache(encoder_sequence)` the encoder's projected
    keys and values, computed once; each call with both caches and
    `self_attention_cache_update_index` then decodes steps
    `[index, index + T)` and returns `(outputs, self_attention_cache,
    cross_attention_cache)`, as KerasHub's. The caches have our layout, not
    KerasHub's, and KerasHub's `cross_attention_cache_update_index` (which
    fills the cross-attention cache inside the call) is refused: the cache
    comes from `cross_attention_cache`. The cache has a static shape, so a
    decoding step compiles once under XLA with a tensor index and converts
    to TFLite.

    Layer normalisation runs in float32 under mixed precision; the output is
    in the compute dtype. The sublayers are made in `build`, since the
    attention's default `key_dim`, the feed-forward's output width and the
    presence of cross-attention all come from the input shapes. The weights,
    in `get_weights()` order: self-attention (query, key, value, output;
    kernel then bias, as `keras.layers.MultiHeadAttention`) and its layer
    norm, cross-attention and its layer norm (when built with
    `encoder_sequence`), the feed-forward's two Dense layers and its layer
    norm.

    Shapes: `B` batch, `T` target length, `S` source (encoder) length,
    `S_max` cache length, `D` features, `C` encoder features, `H` heads,
    `K` key_dim.

    Args:
        intermediate_dim: width of the feed-forward's hidden layer.
        num_heads: number of attention heads `H`.
        dropout: dropout rate while training.
        activation: the feed-forward's activation.
        layer_norm_epsilon: epsilon of the layer normalisations.
        kernel_initializer, bias_initializer: of the attention projections
            and the feed-forward's Dense layers.
        normalize_first: pre-LN when true, post-LN when false
            (keyword-only).
        key_dim: size of each head's query, key and value projections `K`;
            defaults to `D // num_heads` (keyword-only).
        attention_block_size: the attention's `block_size` (keyword-only):
            attention in blocks with an online softmax, memory linear in
            the length, attention dropout included; `None` for long
            sequences, an int always, 0 never (see
            `MultiHeadSelfAttention`).

    Call arguments:
        decoder_sequence: `[B, T, D]`.
        encoder_sequence: optional `[B, S, C]`; needed by a block with
            cross-attention unless `cross_attention_cache` is given (with
            both, the cache is used).
        decoder_padding_mask: optional boolean `[B, T]`, true for real
            target steps; when `None`, the Keras mask of `decoder_sequence`.
            With a cache only the current steps' padding is known: mask
            earlier padded steps with `decoder_attention_mask`.
        decoder_attention_mask: optional boolean `[B, T, T]`
            (`[B, T, S_max]` with a cache), combined with the causal mask.
        encoder_padding_mask: optional boolean `[B, S]`, true for real
            source steps; when `None`, the Keras mask of `encoder_sequence`.
            Pass it explicitly with `cross_attention_cache`.
        encoder_attention_mask: optional boolean `[B, T, S]`.
        self_attention_cache: optional `[B, H, S_max, 2K]` from `init_cache`
            or a previous step; needs `self_attention_cache_update_index`,
            and on a block with cross-attention `cross_attention_cache`.
        self_attention_cache_update_index: int or scalar int tensor, the
            position of the first step of `decoder_sequence`.
        cross_attention_cache: optional `[B, H, S, 2K]` from
            `cross_attention_cache`.
        cross_attention_cache_update_index: KerasHub's; must be `None`.
        use_causal_mask: whether target step `t` may only attend to steps up
            to `t` (KerasHub's default, true).
        training: whether dropout is active.
        return_attention_scores: also return the cross-attention weights
            `[B, H, T, S]` (for alignment plots).
        decoder_sequence_mask, encoder_sequence_mask, mask: filled by Keras
            with the Keras masks of the sequences (`mask` when
            `decoder_sequence` is the only tensor argument); the output
            keeps the decoder's mask.

    Returns:
        `outputs` `[B, T, D]` in the compute dtype, or with caches
        `(outputs, self_attention_cache)` (no cross-attention) or
        `(outputs, self_attention_cache, cross_attention_cache)`, as in
        KerasHub. With `return_attention_scores`, the scores follow
        `outputs`: `(outputs, scores)` or `(outputs, scores, caches...)`.

    Example:

    >>> x = keras.random.normal((2, 5, 16))
    >>> encoded = keras.random.normal((2, 7, 16))
    >>> block = TransformerDecoderBlock(intermediate_dim=32, num_heads=4)
    >>> tuple(block(x, encoded).shape)
    (2, 5, 16)
    >>> cache = block.init_cache(batch_size=2, max_length=5)
    >>> cross = block.cross_attention_cache(encoded)
    >>> y, cache, cross = block(
    ...     x[:, :1], self_attention_cache=cache,
    ...     self_attention_cache_update_index=0, cross_attention_cache=cross)
    >>> tuple(y.shape)
    (2, 1, 16)
    """

    _mask_arguments = (
        "decoder_padding_mask", "decoder_attention_mask", "encoder_padding_mask",
        "encoder_attention_mask", "decoder_sequence_mask", "encoder_sequence_mask",
        "mask",
    )

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None, **unused_shapes):
        dim = self._input_dim(decoder_sequence_shape)
        if encoder_sequence_shape is not None and (
            len(encoder_sequence_shape) != 3 or encoder_sequence_shape[-1] is None
        ):
            raise ValueError(
                "encoder_sequence must have shape [B, S, C] with a known C, "
                f"received encoder_sequence.shape={tuple(encoder_sequence_shape)} "
                f"(decoder_sequence.shape={tuple(decoder_sequence_shape)})"
            )
        self._self_attention = self._attention(dim, "self_attention")
        self._self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self._self_attention_dropout = self._dropout("self_attention_dropout")
        self._self_attention.build(decoder_sequence_shape)
        self._self_attention_layer_norm.build(decoder_sequence_shape)
        self._cross_attention = None
        if encoder_sequence_shape is not None:
            self._cross_attention = self._attention(dim, "cross_attention")
            self._cross_attention_layer_norm = self._layer_norm(
                "cross_attention_layer_norm"
            )
            self._cross_attention_dropout = self._dropout("cross_attention_dropout")
            self._cross_attention.build(decoder_sequence_shape, encoder_sequence_shape)
            self._cross_attention_layer_norm.build(decoder_sequence_shape)
        self._build_feedforward(decoder_sequence_shape)
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

    def cross_attention_cache(self, encoder_sequence):
        """The cross-attention keys and values of `encoder_sequence` `[B, S, C]`.

        Returns `[B, H, S, 2K]`, to pass as `cross_attention_cache` at every
        decoding step, so the encoder's outputs are projected once.
        """
        self._check_built("cross_attention_cache")
        if self._cross_attention is None:
            raise ValueError(
                "cross_attention_cache needs a block with cross-attention; this "
                "block was built without encoder_sequence"
            )
        return self._cross_attention.context_cache(encoder_sequence)

    # -- call ----------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        # Before Keras binds the arguments, so an old name gets its new one.
        refuse_renamed(type(self).__name__, kwargs, _RENAMED_CALL_ARGS)
        return super().__call__(*args, **kwargs)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        cross_attention_cache_update_index=None,
        use_causal_mask=True,
        training=None,
        return_attention_scores=False,
        decoder_sequence_mask=None,
        encoder_sequence_mask=None,
        mask=None,
    ):
        self._check_call_args(
            encoder_sequence, self_attention_cache, cross_attention_cache,
            self_attention_cache_update_index, cross_attention_cache_update_index,
        )
        self._check_masks(
            decoder_padding_mask=decoder_padding_mask,
            decoder_attention_mask=decoder_attention_mask,
            encoder_padding_mask=encoder_padding_mask,
            encoder_attention_mask=encoder_attention_mask,
        )
        if return_attention_scores and self._cross_attention is None:
            raise ValueError(
                "return_attention_scores returns the cross-attention weights; "
                "this block was built without encoder_sequence"
            )
        # Explicit padding masks win over the Keras masks, as in KerasHub.
        if decoder_padding_mask is None:
            decoder_padding_mask = (
                decoder_sequence_mask if decoder_sequence_mask is not None else mask
            )  # [B, T]
        if encoder_padding_mask is None:
            encoder_padding_mask = encoder_sequence_mask  # [B, S]
        x = decoder_sequence  # [B, T, D]

        h = self._sublayer_input(x, self._self_attention_layer_norm)
        if self_attention_cache is None:
            y = self._self_attention(
                h,
                attention_mask=decoder_attention_mask,
                use_causal_mask=use_causal_mask,
                query_mask=decoder_padding_mask,
                training=training,
            )  # [B, T, D]
        else:
            y, self_attention_cache = self._self_attention.step(
                h,
                self_attention_cache,
                self_attention_cache_update_index,
                query_mask=decoder_padding_mask,
                attention_mask=decoder_attention_mask,
                use_causal_mask=use_causal_mask,
                training=training,
            )  # [B, T, D], [B, H, S_max, 2K]
        x = self._sublayer_output(
            x, y, self._self_attention_layer_norm, self._self_attention_dropout,
            training,
        )

        if self._cross_attention is not None:
            # The encoder's padding is the keys' mask, with encoder_sequence
            # and with a precomputed cross-attention cache alike.
            h = self._sublayer_input(x, self._cross_attention_layer_norm)
            if cross_attention_cache is None:
                y = self._cross_attention(
                    h,
                    encoder_sequence,
                    query_mask=decoder_padding_mask,
                    value_mask=encoder_padding_mask,
                    attention_mask=encoder_attention_mask,
                    return_attention_scores=return_attention_scores,
                    training=training,
                )  # [B, T, D], with scores ([B, T, D], [B, H, T, S])
                if return_attention_scores:
                    y, scores = y
            else:
                y, scores = self._cross_attention.cross_step(
                    h,
                    cross_attention_cache,
                    value_mask=encoder_padding_mask,
                    query_mask=decoder_padding_mask,
                    attention_mask=encoder_attention_mask,
                    training=training,
                )  # [B, T, D], [B, H, T, S]
            x = self._sublayer_output(
                x, y, self._cross_attention_layer_norm,
                self._cross_attention_dropout, training,
            )

        x = self._feedforward(x, training)  # [B, T, D]
        results = [x]
        if return_attention_scores:
            results.append(scores)
        if self_attention_cache is not None:
            results.append(self_attention_cache)
            if self._cross_attention is not None:
                results.append(cross_attention_cache)
        return results[0] if len(results) == 1 else tuple(results)

    def _check_call_args(
        self, encoder_sequence, self_attention_cache, cross_attention_cache,
        self_attention_cache_update_index, cross_attention_cache_update_index,
    ):
        if cross_attention_cache_update_index is not None:
            raise ValueError(
                "cross_attention_cache_update_index must be None: the "
                "cross-attention cache is computed once with "
                "block.cross_attention_cache(encoder_sequence) and passed as "
                "cross_attention_cache, received "
                f"cross_attention_cache_update_index={cross_attention_cache_update_index!r}"
            )
        has_encoder = (
            encoder_sequence is not None or cross_attention_cache is not None
        )
        if self._cross_attention is None and has_encoder:
            raise ValueError(
                "this block was built without encoder_sequence, so it has no "
                "cross-attention; received "
                + (
                    f"encoder_sequence.shape={encoder_sequence.shape}"
                    if encoder_sequence is not None
                    else f"cross_attention_cache.shape={cross_attention_cache.shape}"
                )
            )
        if self._cross_attention is not None:
            if not has_encoder:
                raise ValueError(
                    "this block has cross-attention and needs encoder_sequence "
                    "or cross_attention_cache, received neither"
                )
            if (self_attention_cache is None) != (cross_attention_cache is None):
                # KerasHub's rule; it fixes the arity of what is returned.
                raise ValueError(
                    "a block with cross-attention takes self_attention_cache "
                    "and cross_attention_cache together (the latter from "
                    "block.cross_attention_cache(encoder_sequence)), received "
                    + (
                        f"self_attention_cache.shape={self_attention_cache.shape} "
                        "and cross_attention_cache=None"
                        if self_attention_cache is not None
                        else "self_attention_cache=None and "
                        f"cross_attention_cache.shape={cross_attention_cache.shape}"
                    )
                )
        if (self_attention_cache is None) != (self_attention_cache_update_index is None):
            raise ValueError(
                "self_attention_cache and self_attention_cache_update_index go "
                "together, received "
                + (
                    "self_attention_cache_update_index="
                    f"{self_attention_cache_update_index!r} without a cache"
                    if self_attention_cache is None
                    else f"self_attention_cache.shape={self_attention_cache.shape} "
                    "and self_attention_cache_update_index=None"
                )
            )
