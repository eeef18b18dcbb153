"""XLNetLM and its dataset (keras_attention.models.xlnet)."""

import keras
import numpy as np
import pytest

from keras_attention.data.permutation_lm import gap_batch
from keras_attention.models import PermutationLMDataset, XLNetLM

RNG = np.random.default_rng(0)
V = 11


def _model(**overrides):
    keras.utils.set_random_seed(1)
    config = dict(vocabulary_size=V, hidden_dim=16, num_heads=2, intermediate_dim=32,
                  num_blocks=2, dropout=0.0)
    return XLNetLM(**{**config, **overrides})


def _compile(model):
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    return model


def _tokens(count=32, length=9):
    tokens = RNG.integers(0, V, (count, length)).astype("int32")
    padding = np.arange(length)[None] < RNG.integers(4, length + 1, count)[:, None]
    return np.where(padding, tokens, 0), padding


def test_fit_with_xla_moves_every_weight_and_the_model_reloads(tmp_path):
    tokens, padding = _tokens()
    model = _compile(_model())
    data = PermutationLMDataset(tokens, padding, batch_size=8, plm_probability=0.3, seed=0)
    (inputs, target_ids, target_weights) = data[0]
    assert target_ids.shape == target_weights.shape == (8, 3)
    model(inputs)
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(data, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    still = [w.path for w, b in zip(model.trainable_weights, before)
             if np.array_equal(w.numpy(), b)]
    assert not still, f"weights that did not move: {still}"
    path = tmp_path / "xlnet.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0),
                                  model.predict(inputs, verbose=0))


def test_the_loss_counts_the_real_targets_only():
    # A sequence of one token has one target among the three rows: the two
    # empty rows have weight 0, so changing their ids changes nothing.
    tokens = np.array([[4, 0, 0, 0, 0, 0, 0, 0, 0]] * 2, "int32")
    padding = np.arange(9)[None] < np.array([[1], [1]])
    data = PermutationLMDataset(tokens, padding, batch_size=2, shuffle=False,
                                plm_probability=0.3, seed=0)
    inputs, target_ids, weights = data[0]
    np.testing.assert_array_equal(weights, [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(target_ids[:, 0], [4, 4])
    model = _compile(_model())
    loss = model.evaluate(inputs, target_ids, sample_weight=weights, verbose=0)
    other = model.evaluate(inputs, np.where(weights > 0, target_ids, 7),
                           sample_weight=weights, verbose=0)
    changed = model.evaluate(inputs, np.full_like(target_ids, 7), sample_weight=weights,
                             verbose=0)
    assert loss == other and loss != changed


def test_each_epoch_draws_new_orders():
    tokens, padding = _tokens()
    data = PermutationLMDataset(tokens, padding, batch_size=32, seed=0)
    first = data[0][0]["perm_mask"]
    data.on_epoch_end()
    second = data[0][0]["perm_mask"]
    assert first.shape == second.shape and not np.array_equal(first, second)


def test_a_target_is_predicted_from_what_its_order_allows():
    # The model end to end: a target's logits move with the context tokens
    # and not with its own token.
    tokens = RNG.integers(0, V, (2, 7)).astype("int32")
    model = _model()
    batch = gap_batch(tokens, 3, 1)
    inputs = {"token_ids": tokens, "perm_mask": batch["perm_mask"],
              "target_mapping": batch["target_mapping"]}
    base = keras.ops.convert_to_numpy(model(inputs))
    for position in range(7):
        changed = dict(inputs, token_ids=tokens.copy())
        changed["token_ids"][:, position] = (tokens[:, position] + 1) % V
        moved = np.abs(keras.ops.convert_to_numpy(model(changed)) - base).max() > 1e-6
        assert moved == (position != 3), position


def test_mixed_precision_keeps_float32_logits():
    tokens, padding = _tokens(8)
    model = _model(dtype="mixed_bfloat16")
    inputs, _, _ = PermutationLMDataset(tokens, padding, batch_size=8, seed=0)[0]
    logits = model(inputs)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert model.get_layer("embedding").compute_dtype == "bfloat16"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))


def test_bad_input_names_what_is_missing():
    model = _model()
    with pytest.raises(ValueError, match="missing perm_mask, target_mapping"):
        model({"token_ids": np.zeros((1, 4), "int32")})
    with pytest.raises(ValueError, match="hidden_dim must be even and divisible by num_heads"):
        XLNetLM(10, hidden_dim=10, num_heads=4)
