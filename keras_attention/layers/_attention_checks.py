"""Argument checks of the multi-head attention layers (private).

TensorFlow's own errors from deep inside a call name no argument, and a mask
of the wrong shape may broadcast silently, so the layers check here first.
Each message names the argument, the shape letters with their sizes here,
and what came.
"""

from keras_attention.layers._masking import check_mask, dtype_name
from keras_attention.layers._renamed import named
from keras_attention.layers._validation import (
    check_block_size,
    check_positive_int,
    check_shape,
    concrete_dim,
    concrete_values,
)

_KERAS_MHA = "keras.layers.MultiHeadAttention"
# Names refused, with where the argument went: our old names, now Keras's,
# and what moved out of the layer.
_STEPS = "decoding from a cache is CachedMultiHeadAttention's: its " \
    "step(query, cache, cache_update_index) and cross_step(query, context_cache)"
_MEMORY = "segment memory belongs to the model (TransformerXL): pass " \
    "[memory; query] as value to RelativeMultiHeadAttention"
RENAMED_ARGS = {
    "output_dim": named("output_shape", _KERAS_MHA),
    "relative_positions": "relative positions are RelativeMultiHeadAttention",
}
RENAMED_CALL_ARGS = {
    "context": named("value", _KERAS_MHA),
    "context_mask": named("value_mask", _KERAS_MHA),
    "cache": _STEPS,
    "cache_update_index": _STEPS,
    "memory": _MEMORY,
    "memory_mask": _MEMORY + ", its mask in value_mask",
}


def check_constructor(layer):
    """The arguments `MultiHeadSelfAttention.__init__` stored on `layer`."""
    if layer.value_dim is not None:
        check_positive_int("value_dim", layer.value_dim)
    if layer.sliding_window is not None:
        check_positive_int("sliding_window", layer.sliding_window)
    if layer.num_key_value_heads is not None:
        check_positive_int("num_key_value_heads", layer.num_key_value_heads)
        if layer.num_heads % layer.num_key_value_heads:
            raise ValueError(
                "num_key_value_heads must divide num_heads, received "
                f"num_key_value_heads={layer.num_key_value_heads} and "
                f"num_heads={layer.num_heads}"
            )
    for name in ("use_gate", "flash_attention"):
        value = getattr(layer, name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be a bool, received {name}={value!r}")
    if layer.flash_attention and layer.dropout:
        raise ValueError(
            "flash_attention=True has no attention dropout; received "
            f"dropout={layer.dropout}"
        )
    check_block_size("block_size", layer.block_size)
    if layer.block_size and (layer.flash_attention or layer.sliding_window is not None):
        other = ("flash_attention=True" if layer.flash_attention
                 else f"sliding_window={layer.sliding_window}")
        raise ValueError(
            f"block_size={layer.block_size} cannot go with {other}: set one of them"
        )
    if layer.flash_attention and layer.value_dim not in (None, layer.key_dim):
        # keras.ops.dot_product_attention on JAX gives the output the
        # query's shape.
        raise ValueError(
            "flash_attention=True needs value_dim equal to key_dim; received "
            f"value_dim={layer.value_dim} and key_dim={layer.key_dim}"
        )


def output_shape_tuple(output_shape):
    """`None`, or `output_shape` as a tuple of positive ints (Keras keeps one)."""
    if output_shape is None:
        return None
    sizes = (output_shape,) if isinstance(output_shape, int) else output_shape
    if (
        not isinstance(sizes, (tuple, list))
        or not sizes
        or any(not isinstance(s, int) or isinstance(s, bool) or s <= 0 for s in sizes)
    ):
        raise ValueError(
            "output_shape must be a positive int or a tuple of them, "
            f"received output_shape={output_shape!r}"
        )
    return tuple(sizes)


def attention_axes_tuple(attention_axes):
    if attention_axes is None:
        return None
    axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
    if not isinstance(axes, (tuple, list)) or not all(
        isinstance(a, int) and not isinstance(a, bool) for a in axes
    ):
        raise ValueError(
            "attention_axes must be an int or a tuple of ints, received "
            f"attention_axes={attention_axes!r}"
        )
    return tuple(axes)


# The mask arguments of `call`, whose dtypes `__call__` checks.
MASK_ARGS = ("query_mask", "value_mask", "key_mask", "attention_mask", "mask")


def build_shapes(query_shape, value_shape, key_shape):
    """The value and key shapes, defaulted as `call` defaults the tensors,
    once the three are checked."""
    value_shape = query_shape if value_shape is None else value_shape
    key_shape = value_shape if key_shape is None else key_shape
    check_build_shapes(query_shape, value_shape, key_shape)
    return value_shape, key_shape


def check_build_shapes(query_shape, value_shape, key_shape):
    if len(query_shape) < 3 or query_shape[-1] is None:
        raise ValueError(
            "query must have shape [B, T, D] (or more axes between B and D) "
            f"with a known D, received query.shape={tuple(query_shape)}"
        )
    if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
        raise ValueError(
            "the shapes of value and key must be equal except in the last axis, "
            f"received value.shape={tuple(value_shape)} and "
            f"key.shape={tuple(key_shape)}"
        )
    for name, shape in [("value", value_shape), ("key", key_shape)]:
        if len(shape) != len(query_shape) or shape[-1] is None:
            raise ValueError(
                f"{name} must have the rank of query with a known last axis, "
                f"received {name}.shape={tuple(shape)} and "
                f"query.shape={tuple(query_shape)}"
            )


def check_call(layer, query, value, key, query_mask, value_mask, key_mask,
               attention_mask):
    """Shapes and combinations of `call`'s arguments, before any op."""
    for name, tensor in [("query_mask", query_mask), ("value_mask", value_mask),
                         ("key_mask", key_mask), ("attention_mask", attention_mask)]:
        check_mask(name, tensor)
    if len(query.shape) < 3:
        raise ValueError(
            "query must have shape [B, T, D] (or more axes between B and D), "
            f"received query.shape={query.shape}"
        )
    if query.shape[-1] is not None and query.shape[-1] != layer._query_features:
        raise ValueError(
            f"query must have {layer._query_features} features as when the "
            f"layer was built, received query.shape={query.shape}"
        )
    if key is not None and value is None:
        raise ValueError(
            "key needs a value (keys come from key, values from value), "
            f"received key.shape={key.shape} and value=None"
        )
    for name, tensor in [("value_mask", value_mask), ("key_mask", key_mask)]:
        if tensor is not None and value is None:
            raise ValueError(
                f"{name} needs a value or a cross-attention cache (cross_step), "
                f"received {name}.shape={tensor.shape}"
            )
    if len(query.shape) != 3 or not layer._sequence_axis_only(len(query.shape)):
        given = [n for n, m in [("query_mask", query_mask), ("value_mask", value_mask),
                                ("key_mask", key_mask), ("attention_mask", attention_mask)]
                 if m is not None]
        if layer.sliding_window is not None:
            given.insert(0, "sliding_window")
        if given:
            raise ValueError(
                f"{given[0]} needs inputs [B, T, D] attended over axis 1; with "
                "other attention_axes only use_causal_mask applies, received "
                f"query.shape={query.shape} and attention_axes={layer.attention_axes}"
            )
        return
    batch, q_len = query.shape[0], query.shape[1]
    note = f" (query.shape={tuple(query.shape)})"
    check_shape("query_mask", query_mask, (batch, q_len), "[B, T]", note)
    key_len = q_len
    if value is not None:
        for name, tensor, features in [
            ("value", value, layer._value_features),
            ("key", key if key is not None else value, layer._key_features),
        ]:
            if len(tensor.shape) != 3 or tensor.shape[-1] != features:
                raise ValueError(
                    f"{name} must have shape [B, S, {features}] (its features as "
                    f"when the layer was built), received {name}.shape={tensor.shape}{note}"
                )
        check_shape("value", value, (batch, None, None), "[B, S, C]", note)
        key_len = value.shape[1]
        if key is not None and tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise ValueError(
                "the shapes of value and key must be equal except in the last "
                f"axis, received value.shape={tuple(value.shape)} and "
                f"key.shape={tuple(key.shape)}"
            )
    check_shape("value_mask", value_mask, (batch, key_len), "[B, S]")
    check_shape("key_mask", key_mask, (batch, key_len), "[B, S]")
    check_attention_mask(attention_mask, batch, layer.num_heads, q_len, key_len, note)


def check_attention_mask(attention_mask, batch, heads, q_len, key_len, note=""):
    """`[T, S]`, `[B or 1, T, S]` or `[B or 1, H or 1, T, S]`, as Keras takes."""
    if attention_mask is None:
        return
    shape = tuple(attention_mask.shape)
    lead = shape[0] if shape else None
    if len(shape) == 4:
        head = shape[1] if shape[1] == 1 else heads
        check_shape(
            "attention_mask", attention_mask,
            (batch if lead != 1 else 1, head, q_len, key_len),
            "[B or 1, H or 1, T, S]", note,
        )
    elif len(shape) == 2 and shape == (q_len, key_len):
        return
    else:
        check_shape(
            "attention_mask", attention_mask,
            (batch if lead != 1 else 1, q_len, key_len), "[B or 1, T, S]",
            f"{note}; [T, S] and [B or 1, H or 1, T, S] also do",
        )


def check_step(layer, query, cache, cache_update_index, query_mask, attention_mask):
    """`step`'s arguments: the cache's shape and the index's range.

    Returns whether the index's range was checked here: a Python int, or a
    tensor with values (an eager call). A traced index (inside
    `tf.function` or `jax.jit`, or an export) has no value yet; the step
    handles it as it runs (`CachedMultiHeadAttention.step`).
    """
    check_call(layer, query, None, None, query_mask, None, None, None)
    check_mask("attention_mask", attention_mask)
    batch, q_len = query.shape[0], query.shape[1]
    note = f" (query.shape={tuple(query.shape)})"
    key_len = _check_cache(layer, "cache", cache, batch, "[B, H, S_max, K + V]", note)
    check_attention_mask(attention_mask, batch, layer.num_heads, q_len, key_len, note)
    index = cache_update_index
    if not isinstance(index, int) or isinstance(index, bool):
        dtype = dtype_name(index)
        if len(getattr(index, "shape", (None,))) != 0 or "int" not in dtype:
            raise ValueError(
                "cache_update_index must be an int or a scalar int tensor, received "
                f"cache_update_index={index!r}{note}"
            )
        index = concrete_values(index)
        if index is None:
            return False
        index = int(index)
    q_len, key_len = concrete_dim(q_len), concrete_dim(key_len)
    if key_len is None or q_len is None:
        return False
    if not 0 <= index <= key_len - q_len:
        raise ValueError(
            f"cache_update_index must be in [0, S_max - T] = "
            f"[0, {key_len - q_len}], received "
            f"cache_update_index={index}{note}"
        )
    return True


def check_cross_step(layer, query, context_cache, value_mask, query_mask,
                     attention_mask):
    """`cross_step`'s arguments: the context cache's shape and the masks."""
    check_call(layer, query, None, None, query_mask, None, None, None)
    batch = query.shape[0]
    note = f" (query.shape={tuple(query.shape)})"
    key_len = _check_cache(
        layer, "context_cache", context_cache, batch, "[B, H, S, K + V]", note
    )
    check_mask("value_mask", value_mask)
    check_mask("attention_mask", attention_mask)
    check_shape("value_mask", value_mask, (batch, key_len), "[B, S]")
    check_attention_mask(attention_mask, batch, layer.num_heads, query.shape[1], key_len, note)


def _check_cache(layer, name, cache, batch, layout, note):
    """A `[B, H_kv, S, K + V]` cache of `layer`'s heads and widths; returns S."""
    width = layer.key_dim + layer._value_dim
    check_shape(name, cache, (batch, layer._key_value_heads, None, width), layout, note)
    return cache.shape[2]
