"""Masked softmax shared by the attention layers (private).

Every attention layer normalises its scores here, so the numerics live in one
place: the softmax runs in float32 whatever the compute dtype, masked entries
get exactly zero weight, and a row with nothing to attend to gets all zeros
(never NaN, never a uniform spread over padding).
"""

from keras import ops

# Masked logits are replaced by the row's smallest logit minus this margin:
# exp(-30) ~ 1e-13 is below float32's resolution next to the largest weight,
# so they get no weight, while the tensor's range stays near the real
# logits'. A fixed fill such as -1e9 would be just as exact in float, but an
# int8 model calibrates its scale on that range and every real logit would
# land in one bin (uniform attention after quantization).
_MASK_MARGIN = 30.0


def masked_softmax(scores, mask=None, axis=-1, rows_may_be_empty=True):
    """Softmax of `scores` over `axis` in float32, honouring a boolean mask.

    Args:
        scores: logits of any float dtype.
        mask: `None` or a tensor broadcastable to `scores`; true where a
            score may be attended to.
        axis: the axis to normalise over.
        rows_may_be_empty: `False` when the caller knows every row keeps at
            least one entry (a plain causal mask), which saves a pass.

    Returns:
        float32 weights shaped like `scores`; rows with no unmasked entry
        are all zero.
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=axis)
    mask = ops.cast(mask, "bool")
    fill = ops.stop_gradient(ops.min(scores, axis=axis, keepdims=True)) - _MASK_MARGIN
    weights = ops.softmax(ops.where(mask, scores, fill), axis=axis)
    if rows_may_be_empty:
        # A fully masked row came out uniform; zero it (and every masked
        # entry) so it contributes nothing.
        weights = ops.where(mask, weights, 0.0)
    return weights
