"""Device entry points described without TensorFlow.

A reference model names the functions it runs on a device (`encode`,
`decode_step`, an NTM's `step`) with `Signature`s of `TensorSpec`s: plain
shapes, dtype names and input names, so that `keras_attention` never imports
the exporter. `keras_attention_export` turns them into TensorFlow specs.
"""

import collections

TensorSpec = collections.namedtuple("TensorSpec", ["shape", "dtype", "name"])
TensorSpec.__doc__ = """One named input of a device entry point.

`shape` is a tuple of ints (static, as a LiteRT signature needs), `dtype` a
dtype name such as `"float32"` or `"int32"`, `name` the input's name in the
exported signature.
"""

Signature = collections.namedtuple("Signature", ["function", "input_signature"])
Signature.__doc__ = """One named entry point of an exported model.

`function` takes one tensor per spec of `input_signature` (a list of named
`TensorSpec`s, or `tf.TensorSpec`s, with static shapes) and returns a dict of
named outputs.
"""
