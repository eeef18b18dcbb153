"""Masked softmax and the masks the attention layers build (private).

Every attention layer normalises its scores here, so the numerics live in one
place: the softmax runs in float32 whatever the compute dtype, masked entries
get exactly zero weight, and a row with nothing to attend to gets all zeros
(never NaN, never a uniform spread over padding). Masked entries are
selected away with `where`, never multiplied by zero, so a NaN or an
infinity there (a padded step's garbage) reaches no real row.

`check_mask` is what every attention layer asks of a mask it is given.
"""

import keras
import numpy as np
from keras import ops

from keras_attention.layers._validation import concrete_dim, concrete_values

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
    if any(concrete_dim(size) == 0 for size in scores.shape):
        # No query or no key (T = 0 or S = 0): nothing to normalise, and
        # the row minimum below would reduce over nothing.
        return ops.zeros_like(scores)
    if rows_may_be_empty:
        # Padding may hold anything (NaN included): the row minimum is
        # taken over the kept scores, masked ones counting as 0, so that it
        # never reaches the fill. (A plain causal mask hides only real
        # scores, and keeps its one select: int16x8 TFLite has no select
        # of a float constant and an int16 tensor.)
        scores = ops.where(mask, scores, 0.0)
    fill = ops.stop_gradient(ops.min(scores, axis=axis, keepdims=True)) - _MASK_MARGIN
    weights = ops.softmax(ops.where(mask, scores, fill), axis=axis)
    if rows_may_be_empty:
        # A fully masked row came out uniform; zero it (and every masked
        # entry) so it contributes nothing.
        weights = ops.where(mask, weights, 0.0)
    return weights


# -- the masks attention combines ----------------------------------------------
#
# Every mask here is boolean and true where a query may attend to a key. The
# position masks are `[T, S]`: query row `t` sits at position
# `query_start + t` among the keys (0 for Keras's layer, where a causal
# query `t` sees keys `0..t`; the cache index while decoding; `S - T` when
# the queries follow a memory, as in Transformer-XL).


def _positions(q_len, key_len, query_start):
    rows = query_start + ops.arange(q_len, dtype="int32")[:, None]  # [T, 1]
    cols = ops.arange(key_len, dtype="int32")[None, :]  # [1, S]
    return rows, cols


def causal_mask(q_len, key_len, query_start=0):
    """`[T, S]`: key `s` at or before the query's own position."""
    rows, cols = _positions(q_len, key_len, ops.cast(query_start, "int32"))
    return cols <= rows


def filled_mask(q_len, key_len, query_start):
    """`[T, S]`: the cache positions written so far, `s < query_start + T`."""
    _, cols = _positions(q_len, key_len, 0)
    filled = cols < ops.cast(query_start, "int32") + q_len
    return ops.broadcast_to(filled, (q_len, key_len))


def sliding_window_mask(q_len, key_len, window, query_start=0):
    """`[T, S]`: keys fewer than `window` positions from the query, either side.

    With a causal mask it is the causal band of Mistral and Longformer's
    local attention: the query and the `window - 1` keys before it.
    """
    rows, cols = _positions(q_len, key_len, ops.cast(query_start, "int32"))
    return ops.abs(rows - cols) < window


def padding_mask(query_mask=None, key_mask=None):
    """`[B, 1, T or 1, S or 1]` from `[B, T]` query and `[B, S]` key paddings."""
    mask = None
    if query_mask is not None:
        mask = ops.cast(query_mask, "bool")[:, None, :, None]
    if key_mask is not None:
        keys = ops.cast(key_mask, "bool")[:, None, None, :]
        mask = keys if mask is None else ops.logical_and(mask, keys)
    return mask


def as_rank4(attention_mask):
    """An attention mask `[T, S]`, `[B, T, S]` or `[B, H, T, S]`, as rank 4."""
    mask = ops.cast(attention_mask, "bool")
    while len(mask.shape) < 4:
        mask = mask[None] if len(mask.shape) == 2 else mask[:, None]
    return mask


def combine(*masks):
    """The logical and of the masks that are not `None` (or `None`)."""
    result = None
    for mask in masks:
        if mask is not None:
            result = mask if result is None else ops.logical_and(result, mask)
    return result


def zero_empty_rows(output, mask):
    """`output` `[B, T, ...]` with zeros, bias included, where the row of
    `mask` `[B or 1, H or 1, T, S]` allows no key in any head."""
    if mask is None:
        return output
    has_key = ops.any(ops.any(mask, axis=-1), axis=1)  # [B or 1, T]
    trailing = (1,) * (len(output.shape) - 2)
    has_key = ops.reshape(has_key, tuple(ops.shape(has_key)) + trailing)
    return ops.where(has_key, output, ops.zeros_like(output))


def rows_with_a_key(query_mask, key_mask, q_len, causal=False, query_start=0):
    """`[B, T]` (or `None`: every row): which query rows may attend to some
    key, from the factored masks `[B, T]` and `[B, S]`, never `[T, S]`.

    A causal row `t` sees keys up to `query_start + t`: it has one when the
    first valid key comes no later.
    """
    has_key = None
    if key_mask is not None:
        valid = ops.cast(key_mask, "bool")  # [B, S]
        if causal:
            key_len = ops.shape(valid)[1]
            first = ops.where(ops.any(valid, axis=-1),
                              ops.argmax(ops.cast(valid, "int32"), axis=-1), key_len)
            positions = query_start + ops.arange(q_len, dtype="int32")
            has_key = ops.cast(first, "int32")[:, None] <= positions[None, :]
        else:
            has_key = ops.broadcast_to(ops.any(valid, axis=-1)[:, None],
                                       (ops.shape(valid)[0], q_len))
    elif causal and query_start < 0:
        has_key = (query_start + ops.arange(q_len, dtype="int32") >= 0)[None, :]
    if query_mask is not None:
        rows = ops.cast(query_mask, "bool")
        has_key = rows if has_key is None else ops.logical_and(has_key, rows)
    return has_key


def zero_unattended_values(value, mask):
    """`value` `[B, H, S, V]` with zeros at the keys no query may attend to.

    A key that `mask` `[B or 1, H or 1, T, S]` hides from every query gets
    weight 0, but 0 times a NaN in its value is NaN: select it away.
    """
    if mask is None:
        return value
    attended = ops.any(mask, axis=-2)[..., None]  # [B or 1, H or 1, S, 1]
    return ops.where(attended, value, ops.zeros((), value.dtype))


# -- what a mask may be --------------------------------------------------------


def dtype_name(tensor):
    """`tensor`'s dtype as Keras names it; numpy's text dtypes are "string"."""
    dtype = getattr(tensor, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "US":
        return "string"
    try:
        return keras.backend.standardize_dtype(dtype)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(dtype, "name", dtype))


def check_mask(name, mask):
    """Raise unless `mask` (if given) is boolean, or numbers that are 0 or 1.

    The layers read a mask as `ops.cast(mask, "bool")`, where any nonzero
    number is true: a float mask of 0.3 would silently count as 1. So a
    numeric mask's values are checked wherever they exist in Python (eager
    calls, numpy inputs, on every backend). Inside a traced function
    (`tf.function`, `jax.jit`, `model.fit`, an export) they do not, and
    there, as in Keras's own layers, any nonzero value counts as true.
    A mask of another dtype (strings) is refused in both.
    """
    if mask is None:
        return
    dtype = _check_mask_dtype(name, mask)
    if dtype == "bool":
        return
    values = concrete_values(mask)
    if values is None:
        return
    values = np.asarray(values)
    bad = values[~((values == 0) | (values == 1))]
    if bad.size:
        raise ValueError(
            f"{name} must be boolean or hold only 0 and 1, received {name} "
            f"(dtype {dtype}) holding {float(bad.flat[0]):g}"
            f" ({bad.size} of {values.size} values neither 0 nor 1)"
        )


def _check_mask_dtype(name, mask):
    dtype = dtype_name(mask)
    if dtype != "bool" and not dtype.startswith(("int", "uint", "float", "bfloat")):
        raise ValueError(
            f"{name} must be boolean (or numbers that are 0 or 1), "
            f"received {name} of dtype {dtype}"
        )
    return dtype


def check_mask_dtypes(kwargs, names):
    """The dtypes of the masks among a layer call's keyword arguments.

    For `__call__`, before Keras converts numpy arguments to tensors: JAX
    and PyTorch fail to convert an array of strings with a message that
    names no argument. `call` checks the values (`check_mask`).
    """
    for name in names:
        if kwargs.get(name) is not None:
            _check_mask_dtype(name, kwargs[name])
