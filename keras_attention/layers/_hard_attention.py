"""Hard attention's choice of one step (private): Xu et al. (2015),
"Show, Attend and Tell", sec. 4.1, with the straight-through estimator of
Bengio, Leonard and Courville (2013) in place of the paper's REINFORCE.

`BahdanauAttention(hard=True)` uses these; they are functions of tensors,
so that the tests can check them by hand.
"""

from keras import ops

from keras_attention.layers._masking import masked_softmax


def gumbel(u):
    """Gumbel(0, 1) noise `-log(-log(u))` from `_random.uniform`'s numbers, finite.

    `uniform` gives multiples of 2^-24 in `[0, 1)`: 0 would give -inf, and
    half a step up from the largest rounds to 1 in float32 (+inf). So `u`
    is kept within `[2^-24, 1 - 2^-24]`, both exact in float32: the noise
    lies in about `[-2.8, 16.6]`.
    """
    u = ops.clip(ops.cast(u, "float32"), 2.0**-24, 1.0 - 2.0**-24)
    return -ops.log(-ops.log(u))


def hard_weights(scores, weights, mask, noise=None):
    """One-hot float32 weights `[B, (T,) S]` of the step attended to.

    Args:
        scores: the attention's logits `[B, (T,) S]`.
        weights: their masked softmax, float32 (zeros in a row with
            nothing to attend to).
        mask: the mask `weights` were made with, or None.
        noise: Gumbel noise shaped like `scores` while training, None
            otherwise.

    Returns:
        With `noise`, the one-hot of `argmax(scores + noise)`, a sample
        from `weights` (Gumbel-max), whose gradient is that of `weights`:
        as if the context were the sample's expectation. Without, the
        one-hot of the most attended step, with no gradient path (an
        exported graph keeps only the choice). Zeros for a row with
        nothing to attend to.
    """
    choice = weights
    if noise is not None:
        choice = masked_softmax(
            ops.cast(scores, "float32") + ops.cast(noise, "float32"), mask
        )  # [B, (T,) S]
    # top_k, not argmax: TensorFlow's argmax in Keras bit-casts to tell -0
    # from 0, which TFLite has no kernel for (TOPK_V2 it has). Ties go to
    # the first step, as argmax's do.
    _, index = ops.top_k(choice, k=1)  # [B, (T,) 1]
    # A comparison, not one_hot: int8 LiteRT's ONE_HOT writes its off value
    # unquantized (the int8 0, which reads back as 0.5).
    steps = ops.arange(ops.shape(choice)[-1], dtype=index.dtype)
    attended = ops.logical_and(
        ops.equal(steps, index), ops.sum(weights, axis=-1, keepdims=True) > 0
    )  # [B, (T,) S]: false everywhere in a row with nothing to attend to
    chosen = ops.where(attended, 1.0, 0.0)
    if noise is None:
        # No gradient wanted, and an exported graph stays free of the
        # zero-valued difference below (int8 cannot quantize a tensor whose
        # range is a point).
        return chosen
    # The forward value is the one-hot exactly: soft - soft is 0, where
    # (chosen + soft) - soft could round.
    soft = ops.cast(weights, "float32")
    return chosen + (soft - ops.stop_gradient(soft))
