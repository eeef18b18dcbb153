"""The projections of multi-head attention, and its attention axes (private).

The query, key, value, gate and output projections are
`keras.layers.EinsumDense` sublayers, as in `keras.layers.MultiHeadAttention`:
that gives LoRA (`enable_lora`), int8 weights (`quantize("int8")`) and inputs
of any rank the way Keras has them. Three things are ours: each kernel is
drawn as the matrix it acts as (`MatrixInitializer`), a projection runs as one
matrix product on flattened axes rather than an einsum (`Projection`), and
attention over any axes runs as attention over one flattened axis
(`to_sequences`, `from_sequences`), so one score computation serves every
rank.
"""

import math
import string

import keras
from keras import ops

from keras_attention.layers._initializers import clone_initializer


@keras.saving.register_keras_serializable(package="keras_attention")
class MatrixInitializer(keras.initializers.Initializer):
    """Draws a kernel of rank 3 or more as the `[inputs, outputs]` matrix it is.

    The first `input_axes` axes are the inputs: `[D, H, K]` is a `[D, H*K]`
    matrix and the output kernel `[H, V, D]` a `[H*V, D]` one. Keras's
    EinsumDense computes fans over all of a kernel's axes instead; the
    paper's projections are plain matrices, so the fans are theirs.
    """

    def __init__(self, initializer, input_axes=1):
        self.initializer = keras.initializers.get(initializer)
        self.input_axes = input_axes

    def __call__(self, shape, dtype=None):
        rows = math.prod(shape[: self.input_axes])
        cols = math.prod(shape[self.input_axes :])
        return ops.reshape(self.initializer((rows, cols), dtype=dtype), shape)

    def get_config(self):
        return {
            "initializer": keras.initializers.serialize(self.initializer),
            "input_axes": self.input_axes,
        }


class Projection(keras.layers.EinsumDense):
    """An `EinsumDense` that contracts its trailing axes with one matmul.

    Every projection here contracts the input's last `bound` axes with the
    kernel's first ones, so it is the product of two matrices,
    `[N, prod(bound)] @ [prod(bound), prod(made)]`, once the other axes are
    flattened. TensorFlow runs that faster than the einsum, whose gradient
    is two more einsums: `bench/attention.py`'s layer, forward and backward,
    spent 18% more time on eager TensorFlow and 4% more under XLA with
    Keras's einsum. Weights, LoRA (through `kernel`) and the quantized
    calls (`quantized_call`, Keras's own) are EinsumDense's.
    """

    def __init__(self, equation, bound, **kwargs):
        super().__init__(equation, **kwargs)
        self.bound = bound

    def call(self, inputs, training=None):
        kernel = self.kernel
        bound_shape = kernel.shape[: self.bound]
        made_shape = kernel.shape[self.bound :]
        shape = ops.shape(inputs)
        free_shape = list(shape[: len(inputs.shape) - self.bound])
        x = ops.matmul(
            ops.reshape(inputs, (-1, math.prod(bound_shape))),
            ops.reshape(kernel, (math.prod(bound_shape), math.prod(made_shape))),
        )
        if self.bias is not None:
            # Bias axes are the made axes (`projection_equation`), flattened.
            x = ops.add(x, ops.reshape(self.bias, (-1,)))
        x = ops.reshape(x, free_shape + list(made_shape))
        if self.activation is not None:
            x = self.activation(x)
        return x

    def quantize(self, mode=None, type_check=True, config=None):
        # EinsumDense refuses subclasses, which may change the math; this one
        # changes only the float call, and the quantized calls are its own.
        super().quantize(mode, type_check=False, config=config)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


def projection_equation(free_dims, bound_dims, output_dims):
    """EinsumDense's equation and bias axes for one projection.

    `free_dims` axes pass through (batch and positions), `bound_dims` are
    contracted with the kernel, `output_dims` are made: `abc,cde->abde`
    projects `[B, T, D]` to `[B, T, H, K]`.
    """
    letters = string.ascii_lowercase
    free = letters[:free_dims]
    bound = letters[free_dims : free_dims + bound_dims]
    made = letters[free_dims + bound_dims : free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{made}->{free}{made}", made


def make_projection(layer, name, rank, bound, sizes, salt, activation=None):
    """An EinsumDense of `layer` from inputs of `rank` to `sizes`.

    `bound` trailing input axes are contracted (1 for the query, key, value
    and gate projections, 2 for the output's `[H, V]`). The initializers are
    the layer's, cloned with `salt` (each weight its own seed) and the
    kernel's drawn as the matrix it is.
    """
    equation, bias_axes = projection_equation(rank - 1, bound, len(sizes))
    projection = Projection(
        equation,
        bound,
        output_shape=[None] * (rank - 2) + list(sizes),
        bias_axes=bias_axes if layer.use_bias else None,
        activation=activation,
        kernel_initializer=MatrixInitializer(
            clone_initializer(layer.kernel_initializer, salt), bound
        ),
        bias_initializer=clone_initializer(layer.bias_initializer, salt),
        kernel_regularizer=layer.kernel_regularizer,
        bias_regularizer=layer.bias_regularizer,
        activity_regularizer=layer._activity_regularizer,
        kernel_constraint=layer.kernel_constraint,
        bias_constraint=layer.bias_constraint,
        dtype=layer.dtype_policy,
        name=name,
    )
    # A projection keeps the token axes, so a token mask on its input holds
    # for its output: it passes it on (only the layer's own ops read it),
    # where Keras would warn that an EinsumDense destroys it.
    projection.supports_masking = True
    return projection


def normalized_axes(attention_axes, rank):
    """Attention axes of an input of `rank`, as positive axes of the input.

    `None` is every axis between the batch and the features.
    """
    if attention_axes is None:
        return tuple(range(1, rank - 1))
    return tuple(sorted(a if a >= 0 else rank + a for a in attention_axes))


def to_sequences(x, axes):
    """`[B, <other>, <attention axes>, H, X]` in any order -> `[B', H, L, X]`.

    The axes that are not attended over join the batch (`B' = B * other`),
    the attention axes flatten into one sequence `L`.
    """
    rank = len(x.shape)
    if rank == 4 and tuple(axes) == (1,):
        return ops.transpose(x, (0, 2, 1, 3))  # the usual [B, T, H, X]
    other = [a for a in range(1, rank - 2) if a not in axes]
    x = ops.transpose(x, (0, *other, *axes, rank - 2, rank - 1))
    shape = ops.shape(x)
    heads, size = shape[-2], shape[-1]
    x = ops.reshape(x, (-1, math.prod(shape[len(other) + 1 : -2]), heads, size))
    return ops.transpose(x, (0, 2, 1, 3))


def from_sequences(x, like, axes):
    """Undoes `to_sequences`: `[B', H, L, X]` -> the layout of `like`."""
    rank = len(like.shape)
    other = [a for a in range(1, rank - 2) if a not in axes]
    order = (0, *other, *axes, rank - 2, rank - 1)
    like_shape = ops.shape(like)
    shape = [like_shape[a] for a in order[:-1]] + [ops.shape(x)[-1]]
    x = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), shape)
    return ops.transpose(x, [order.index(a) for a in range(rank)])


def scores_layout(scores, query, key, axes):
    """`[B', H, T', S']` scores as Keras gives them:
    `[B, <other>, H, <query attention axes>, <key attention axes>]`."""
    query_shape, key_shape = ops.shape(query), ops.shape(key)
    other = [a for a in range(1, len(query.shape) - 2) if a not in axes]
    shape = (
        [query_shape[0]]
        + [query_shape[a] for a in other]
        + [ops.shape(scores)[1]]
        + [query_shape[a] for a in axes]
        + [key_shape[a] for a in axes]
    )
    return ops.reshape(scores, shape)
