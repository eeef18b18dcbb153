"""Model functions traced for the backend that runs them (private).

Decoding calls a model's `_encode` and `_decode_step` (or a whole search)
many times with the same shapes. Traced once, each call runs one program
that reads the model's variables as they are at that call.
"""

import keras


def tf_function(model, function, **kwargs):
    """`function` as a `tf.function` (`kwargs` go to it): it reads the
    variables at each call."""
    import tensorflow as tf

    # Straight-line code: no AutoGraph conversion (it costs tracing time).
    return tf.function(function, reduce_retracing=True, autograph=False, **kwargs)


def jax_jit(model, function):
    """`function` compiled by `jax.jit`, with `model`'s variables as inputs.

    A jitted function would keep the variables' values of its first trace
    as constants; here they are arguments, read at each call, and
    `keras.StatelessScope` makes the layers use them, so training between
    two calls is seen. Variables the function assigns (none, in inference)
    keep their values.
    """
    import jax

    variables = list(model.variables)

    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return function(*args)

    compiled = jax.jit(stateless)

    def call(*args):
        return compiled([variable.value for variable in variables], *args)

    return call
