"""Model functions traced for the backend that runs them (private).

Decoding calls a model's `_decode_step` (or a whole search) many times with
the same shapes. Traced once, each call runs one program that reads the
model's variables as they are at that call.
"""

import keras


def traced(model, function, **tf_function_kwargs):
    """`function` traced for the current backend, reading `model`'s
    variables at each call: a `tf.function` (`tf_function_kwargs` go to it)
    on TensorFlow, a `jax.jit` on JAX, `function` itself on PyTorch."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Straight-line code: no AutoGraph conversion (it costs tracing time).
        return tf.function(
            function, reduce_retracing=True, autograph=False, **tf_function_kwargs
        )
    if backend == "jax":
        return _jax_jit(model, function)
    return function


def _jax_jit(model, function):
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
