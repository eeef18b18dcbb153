"""Transformer encoder block (Vaswani et al. 2017), post-LN or pre-LN."""

import keras

from keras_attention.layers._transformer_block import _TransformerBlock


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerEncoderBlock(_TransformerBlock):
    """Self-attention and a position-wise feed-forward network.

    One layer of the Transformer encoder (Vaswani et al. 2017, section 3.1):
    multi-head self-attention, then `activation(x W_1 + b_1) W_2 + b_2`
    applied at every position, each sublayer with a residual connection and
    layer normalisation. Dropout at `dropout` is applied to the attention
    weights and to each sublayer's output before the residual sum (section
    5.4).

    - `normalize_first=False` (post-LN, the paper's original):
      `x = LN(x + sublayer(x))`.
    - `normalize_first=True` (pre-LN, Xiong et al. 2020): `x = x + sublayer(LN(x))`,
      which trains stably without learning-rate warm-up; a stack of pre-LN
      blocks needs one more layer normalisation after the last block, which
      belongs to the model, not to the block.

    Layer normalisation runs in float32 under mixed precision; the output is
    in the compute dtype. The sublayers are made in `build`, since the
    attention's default `key_dim` and the feed-forward's output width come
    from the input width `D`. The weights, in `get_weights()` order: the
    attention's (query, key, value, output; kernel then bias, as
    `keras.layers.MultiHeadAttention`), the attention's layer norm (gamma,
    beta), the feed-forward's two Dense layers (kernel, bias) and its layer
    norm.

    The constructor and call take the names, order and return conventions
    of KerasHub's `TransformerEncoder` (`TransformerEncoderBlock(64, 4)` has
    `intermediate_dim=64` and `num_heads=4`); `key_dim` and
    `use_causal_mask` are ours, and our old `norm_first` is refused with a
    `TypeError` naming `normalize_first` (the table of names in docs/migration.md).

    Shapes: `B` batch, `T` sequence length, `D` features, `H` heads.

    Args:
        intermediate_dim: width of the feed-forward's hidden layer.
        num_heads: number of attention heads `H`.
        dropout: dropout rate while training.
        activation: the feed-forward's activation.
        layer_norm_epsilon: epsilon of the layer normalisations.
        kernel_initializer, bias_initializer: of the attention's projections
            and the feed-forward's Dense layers.
        normalize_first: pre-LN when true, post-LN when false
            (keyword-only).
        key_dim: size of each head's query, key and value projections;
            defaults to `D // num_heads` (keyword-only).
        attention_block_size: the attention's `block_size` (keyword-only):
            attention in blocks with an online softmax, memory linear in
            the length, attention dropout included; `None` for long
            sequences, an int always, 0 never (see
            `MultiHeadSelfAttention`).

    Call arguments:
        inputs: `[B, T, D]`.
        padding_mask: optional boolean `[B, T]`, true for real positions;
            padded positions are not attended to. When `None`, the Keras
            mask of `inputs` is used.
        attention_mask: optional boolean `[B, T, T]` (or broadcastable); true
            where position `t` may attend to position `s`.
        training: whether dropout is active.
        return_attention_scores: also return the self-attention weights
            `[B, H, T, T]` (before dropout).
        use_causal_mask: whether position `t` may only attend to positions up
            to `t`.
        inputs_mask, mask: filled by Keras with the Keras mask of `inputs`
            (`mask` when `inputs` is the only tensor argument, `inputs_mask`
            otherwise); the output keeps the mask.

    Returns:
        `[B, T, D]` in the compute dtype; with `return_attention_scores`,
        `(outputs, scores)`.

    Example:

    >>> x = keras.random.normal((2, 5, 16))
    >>> block = TransformerEncoderBlock(intermediate_dim=32, num_heads=4)
    >>> tuple(block(x).shape)
    (2, 5, 16)
    """

    _mask_arguments = ("padding_mask", "attention_mask", "inputs_mask", "mask")

    def build(self, inputs_shape, **unused_shapes):
        dim = self._input_dim(inputs_shape)
        self._self_attention = self._attention(dim, "self_attention")
        self._self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self._self_attention_dropout = self._dropout("self_attention_dropout")
        self._self_attention.build(inputs_shape)
        self._self_attention_layer_norm.build(inputs_shape)
        self._build_feedforward(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
        inputs_mask=None,
        mask=None,
    ):
        self._check_masks(padding_mask=padding_mask, attention_mask=attention_mask)
        # An explicit padding mask wins over the Keras mask, as in KerasHub.
        if padding_mask is None:
            padding_mask = inputs_mask if inputs_mask is not None else mask  # [B, T]
        x = inputs  # [B, T, D]
        y = self._self_attention(
            self._sublayer_input(x, self._self_attention_layer_norm),
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask,
            query_mask=padding_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )  # [B, T, D], with scores ([B, T, D], [B, H, T, T])
        if return_attention_scores:
            y, scores = y
        x = self._sublayer_output(
            x, y, self._self_attention_layer_norm, self._self_attention_dropout,
            training,
        )
        x = self._feedforward(x, training)  # [B, T, D]
        return (x, scores) if return_attention_scores else x
