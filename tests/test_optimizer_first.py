"""The optimizer built before `fit` traces its first step (keras_attention/models/_optimizer.py)."""

import keras
import numpy as np

from keras_attention.models import TransformerSeq2Seq, compile_task_model, lstm_model
from keras_attention.models._optimizer import build_optimizer

RNG = np.random.default_rng(0)


def _seq2seq():
    return TransformerSeq2Seq(source_vocabulary_size=9, target_vocabulary_size=7,
                              source_length=5, target_length=4, hidden_dim=8, num_heads=2,
                              intermediate_dim=16, num_encoder_blocks=1, num_decoder_blocks=1)


def _translation_batch():
    source = RNG.integers(3, 9, (4, 5)).astype("int32")
    targets = RNG.integers(3, 7, (4, 4)).astype("int32")
    decoder_inputs = np.concatenate([np.ones((4, 1), "int32"), targets[:, :-1]], axis=1)
    return {"source": source, "decoder_inputs": decoder_inputs}, targets


def _count_calls(model):
    calls = []
    call = model.call
    model.call = lambda *args, **kwargs: calls.append(1) or call(*args, **kwargs)
    return calls


def test_the_first_fit_traces_the_train_step_once():
    # Keras 3 on TensorFlow creates Adam's slots inside the first trace when
    # nothing built them, and TensorFlow then traces the step again: the
    # model's `call` ran twice. Our models build the optimizer first.
    inputs, targets = _translation_batch()
    for builds_first in (False, True):
        model = _seq2seq()
        model.compile(keras.optimizers.Adam(1e-2),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if not builds_first:
            # What Keras alone does: skip the mixin's make_train_function.
            model.make_train_function = (
                lambda force=False, model=model:
                keras.Model.make_train_function(model, force))
        calls = _count_calls(model)
        model.fit(inputs, targets, epochs=1, batch_size=4, verbose=0)
        assert len(calls) == (1 if builds_first else 2), (builds_first, len(calls))
        assert model.optimizer.built


def test_training_is_the_same_with_the_optimizer_built_first():
    inputs = (RNG.random((8, 5, 3)) < 0.5).astype("float32")
    targets = (RNG.random((8, 5, 2)) < 0.5).astype("float32")
    weights = []
    for build_first in (False, True):
        keras.utils.set_random_seed(3)
        model = lstm_model(3, 2, units=8, num_layers=1)
        model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
        if build_first:
            assert build_optimizer(model) is model
            slots = len(model.optimizer.variables)
            assert model.optimizer.built and slots > 2  # the moments, not only the counters
        else:
            assert not model.optimizer.built
        model.fit(inputs, targets, epochs=3, batch_size=4, shuffle=False, verbose=0)
        weights.append([np.asarray(w) for w in model.get_weights()])
    for before, after in zip(*weights):
        np.testing.assert_array_equal(before, after)


def test_compile_helpers_build_it_and_nothing_else_is_touched():
    model = compile_task_model(lstm_model(3, 2, units=8, num_layers=1))
    assert model.optimizer.built
    # Not compiled: nothing to build.
    bare = lstm_model(3, 2, units=8, num_layers=1)
    assert build_optimizer(bare) is bare and getattr(bare, "optimizer", None) is None
    # A layer not built yet: left to Keras, which builds both in the first step.
    lazy = keras.Sequential([keras.layers.Dense(2)])
    lazy.compile(keras.optimizers.Adam(), "mse")
    build_optimizer(lazy)
    assert not lazy.optimizer.built
    lazy.fit(np.ones((2, 3)), np.ones((2, 2)), verbose=0)
    assert lazy.optimizer.built


def test_building_twice_changes_nothing():
    model = compile_task_model(lstm_model(3, 2, units=8, num_layers=1))
    variables = list(model.optimizer.variables)
    build_optimizer(model)
    assert [v.path for v in model.optimizer.variables] == [v.path for v in variables]
