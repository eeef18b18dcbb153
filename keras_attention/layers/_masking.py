"""Masked softmax shared by the attention layers (private).

Every attention layer normalises its scores here, so the numerics live in one
place: the softmax runs in float32 whatever the compute dtype, masked entries
get exactly zero weight, and a row with nothing to attend to gets all zeros
(never NaN, never a uniform spread over padding).
"""

from keras import ops

# Masked logits are replaced, not added to, so the fill only has to be far
# below any real logit in float32, where the softmax runs.
_MASKED_LOGIT = -1e9


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
    weights = ops.softmax(ops.where(mask, scores, _MASKED_LOGIT), axis=axis)
    if rows_may_be_empty:
        # A fully masked row came out uniform; zero it (and every masked
        # entry) so it contributes nothing.
        weights = ops.where(mask, weights, 0.0)
    return weights
