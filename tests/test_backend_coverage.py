"""Every public layer and reference model has its items in tests/backend_checks.py,
so that a new one cannot miss the JAX and PyTorch runs."""

import inspect

import keras

import keras_attention.layers
import keras_attention.models
from tests.backend_checks import layer_items, model_items, unknown_length_items

# Public names of keras_attention.models that build no model of their own:
# helpers, data, metadata, `translation_model` and `qa_model`, which return
# models the items check, and `attention_model`, a view of one.
NOT_MODELS = {
    "translation_model",
    "qa_model",  # one of the three readers, each with its item
    "attention_model",  # memn2n_model's own call; its item checks the weights
}
MODEL_FACTORY_SUFFIXES = ("_classifier", "_model", "_predictor")
# Layers checked inside another item rather than alone: the cells in the
# sequence layers the test modules wrap them in, and the cached attention
# in the seq2seq Transformer's decoder blocks, whose greedy and beam
# decoding run its cached steps.
COVERED_THROUGH = {
    "BahdanauDecoder": "layer TeacherForcedDecoder[",  # its subclass in the tests
    "BahdanauDecoderCell": "layer TeacherForcedDecoder[",
    "NTMCell": "layer NTMSequence[",
    "CachedMultiHeadAttention": "model TransformerSeq2Seq(",  # its decoding steps
}


def _item_names():
    return [name for name, _ in [*layer_items(), *unknown_length_items(), *model_items()]]


def test_every_public_layer_has_backend_items():
    names = _item_names()
    layers = [
        name for name in keras_attention.layers.__all__
        if inspect.isclass(obj := getattr(keras_attention.layers, name))
        and issubclass(obj, keras.layers.Layer)
    ]
    assert len(layers) >= 10, layers
    missing = [
        layer for layer in layers
        if not any(
            n.startswith((f"layer {layer}[", f"unknown length {layer}",
                          COVERED_THROUGH.get(layer, f"layer {layer}[")))
            for n in names
        )
    ]
    assert not missing, f"layers without a backend item in tests/backend_checks.py: {missing}"


def test_every_reference_model_has_a_backend_item():
    names = _item_names()
    models = []
    for name in keras_attention.models.__all__:
        obj = getattr(keras_attention.models, name)
        is_class = inspect.isclass(obj) and issubclass(obj, keras.Model)
        is_factory = (
            inspect.isfunction(obj) and name.endswith(MODEL_FACTORY_SUFFIXES)
            and not name.startswith(("compile_", "train_"))
        )
        if (is_class or is_factory) and name not in NOT_MODELS:
            models.append(name)
    assert {"AttentiveCaptioner", "gcn_graph_classifier", "RNNSeq2Seq"} <= set(models)
    missing = [
        model for model in models
        if not any(n == f"model {model}" or n.startswith(f"model {model}(") for n in names)
    ]
    assert not missing, f"reference models without a backend item: {missing}"
