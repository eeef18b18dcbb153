"""Keras's own tests of `keras.layers.MultiHeadAttention`, run against ours.

Keras 3.15's `multi_head_attention_test.py` is loaded as a fresh module (not
copied) with its `layers.MultiHeadAttention` replaced by
`MultiHeadSelfAttention`, and its test case runs here in full except the
tests listed in `NOT_APPLICABLE`, each with the reason it does not apply to
our layer. Keras's module itself is left as it was.
"""

import importlib.util
import os
import types
import unittest

import keras
from keras.src import layers as keras_layers
from keras.src.backend.common import global_state

from keras_attention.layers import MultiHeadSelfAttention

_SOURCE = os.path.join(
    os.path.dirname(keras_layers.__file__), "attention", "multi_head_attention_test.py"
)

# Test name -> why it does not apply to our layer.
NOT_APPLICABLE = {
    "test_invalid_scalar_args_rejected": (
        "pins Keras's wording ('argument `num_heads`'); ours names the "
        "argument, what was expected and what came, as every layer here does"
    ),
    "test_multi_head_attention_output_shape_error": (
        "pins Keras's wording ('Invalid `output_shape`'); ours raises "
        "'output_shape must be a positive int or a tuple of them, received ...'"
    ),
    "test_sliding_window_serialization": (
        "reads the private attribute `_sliding_window` by Keras's name; ours "
        "is the public `sliding_window`, and its round trip is checked the same way"
    ),
}


def _module():
    """Keras's test module, loaded anew, seeing our layer as Keras's."""
    spec = importlib.util.spec_from_file_location("keras_mha_test_against_ours", _SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.layers = types.SimpleNamespace(
        **{name: getattr(keras_layers, name) for name in dir(keras_layers)
           if not name.startswith("__")},
    )
    module.layers.MultiHeadAttention = MultiHeadSelfAttention
    return module


_KERAS_TESTS = _module()


class TestKerasMultiHeadAttentionSuite(_KERAS_TESTS.MultiHeadAttentionTest):
    def setUp(self):
        # Keras's tearDown turns flash attention on for the whole process;
        # put back what the other tests found.
        self._flash_before = global_state.get_global_attribute("flash_attention")
        super().setUp()

    def tearDown(self):
        super().tearDown()
        global_state.set_global_attribute("flash_attention", self._flash_before)


for _name, _reason in NOT_APPLICABLE.items():
    setattr(
        TestKerasMultiHeadAttentionSuite, _name,
        unittest.skip(f"not applicable: {_reason}")(lambda self: None),
    )


def test_the_stand_in_is_ours():
    assert _KERAS_TESTS.layers.MultiHeadAttention is MultiHeadSelfAttention
    assert keras.layers.MultiHeadAttention is not MultiHeadSelfAttention
