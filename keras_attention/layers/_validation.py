"""Constructor-argument checks shared by the layers (private).

Each raises a ValueError that names the argument, what was expected and what
was received: `num_heads must be a positive int, received num_heads=0`.
"""

import keras
from keras import ops
from keras.src.backend.common.symbolic_scope import in_symbolic_scope


def check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, received {name}={value!r}")


def check_rate(name, value):
    """A dropout rate: a number in [0, 1)."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(f"{name} must be a float in [0, 1), received {name}={value!r}")


def check_block_size(name, size):
    """An attention `block_size` (named `name` in the caller): `None`, 0 or a
    positive int."""
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(
            f"{name} must be None (blocks for long sequences), 0 (never) "
            f"or a positive int, received {name}={size!r}"
        )


def shape_matches(shape, expected):
    """Same rank, and equal sizes wherever both are known (`None`)."""
    shape, expected = tuple(shape), tuple(expected)
    return len(shape) == len(expected) and all(
        got is None or want is None or got == want
        for got, want in zip(shape, expected)
    )


def check_shape(name, tensor, expected, letters, note=""):
    """Raise unless `tensor` (if given) has shape `expected` (`None`: any).

    `letters` names the axes, e.g. "[B, T, S]"; the message shows them with
    the sizes they must have here, and the shape received.
    """
    if tensor is None or shape_matches(tensor.shape, expected):
        return
    sizes = ", ".join("?" if size is None else str(size) for size in expected)
    raise ValueError(
        f"{name} must have shape {letters} = [{sizes}], "
        f"received {name}.shape={tuple(tensor.shape)}{note}"
    )


def concrete_dim(dim):
    """`dim` if it is a size known for this call, else `None`.

    A layer may check a size in Python only when it is an int of a real
    call. While Keras infers output shapes, JAX's unknown sizes are
    symbolic dimensions (not ints, and comparing them raises), and
    PyTorch's stand in as 83, inside Keras's symbolic scope.
    """
    if not isinstance(dim, int) or in_symbolic_scope():
        return None
    return dim


def concrete_values(tensor):
    """`tensor`'s values as numpy if this call has them, else `None`.

    Eager tensors of every backend and numpy arrays have values; a traced
    one (inside `tf.function` or `jax.jit`, Keras's symbolic tensors) has
    none until it runs, so a check of values can only be made eagerly.
    """
    if isinstance(tensor, keras.KerasTensor) or in_symbolic_scope():
        return None
    try:
        return ops.convert_to_numpy(tensor)
    except (NotImplementedError, TypeError):
        # TensorFlow's graph tensors raise NotImplementedError, JAX's
        # tracers TracerArrayConversionError, a TypeError.
        return None
