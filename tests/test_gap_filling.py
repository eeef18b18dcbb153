"""Filling a gap with each kind of model (keras_attention.models.gap_filling)."""

import keras
import numpy as np
import pytest

from keras_attention.data.permutation_lm import gap_batch
from keras_attention.models import MaskedLM, TransformerXL, XLNetLM
from keras_attention.models.gap_filling import gap_logits, gap_scores

V, MASK = 13, 1
RNG = np.random.default_rng(0)
TOKENS = RNG.integers(2, V, (3, 9)).astype("int32")
PADDING = np.arange(9)[None] < np.array([[9], [8], [7]])
STARTS = np.array([3, 4, 2])


def _models():
    keras.utils.set_random_seed(0)
    sizes = dict(hidden_dim=16, num_heads=2, intermediate_dim=32, num_blocks=2, dropout=0.0)
    return {
        "xlnet": XLNetLM(V, **sizes),
        "left_to_right": TransformerXL(V, batch_size=2, memory_length=0, **sizes),
        "masked": MaskedLM(V, max_length=9, **sizes),
    }


def _which_tokens_move(model, start, length, gap_row):
    """For row 0: which positions' tokens change the logits of gap token
    `gap_row`."""
    base = gap_logits(model, TOKENS, start, length, PADDING, mask_token_id=MASK)
    moved = []
    for position in range(9):
        changed = TOKENS.copy()
        changed[0, position] = (TOKENS[0, position] + 1 - 2) % (V - 2) + 2
        logits = gap_logits(model, changed, start, length, PADDING, mask_token_id=MASK)
        moved.append(np.abs(logits[0, gap_row] - base[0, gap_row]).max() > 1e-6)
    return np.array(moved)


def test_each_model_fills_the_gap_as_it_can_see_it():
    models = _models()
    gap = [3, 4]  # row 0's gap
    # XLNet: every real token but the hidden one, and the gap's first token
    # for its second.
    seen = [p not in gap for p in range(9)]
    np.testing.assert_array_equal(_which_tokens_move(models["xlnet"], STARTS, 2, 0), seen)
    seen[3] = True
    np.testing.assert_array_equal(_which_tokens_move(models["xlnet"], STARTS, 2, 1), seen)
    # Left to right: only what lies before each hidden token.
    np.testing.assert_array_equal(
        _which_tokens_move(models["left_to_right"], STARTS, 2, 0), np.arange(9) < 3)
    np.testing.assert_array_equal(
        _which_tokens_move(models["left_to_right"], STARTS, 2, 1), np.arange(9) < 4)
    # Masked: both sides, never the hidden tokens (they are all masks).
    for row in (0, 1):
        np.testing.assert_array_equal(
            _which_tokens_move(models["masked"], STARTS, 2, row),
            [p not in gap for p in range(9)])


def test_xlnet_gap_logits_are_the_model_on_gap_batch_inputs():
    model = _models()["xlnet"]
    inputs = gap_batch(TOKENS, STARTS, 2, PADDING)
    want = model.predict({"token_ids": TOKENS, "perm_mask": inputs["perm_mask"],
                          "target_mapping": inputs["target_mapping"]}, verbose=0)
    got = gap_logits(model, TOKENS, STARTS, 2, PADDING)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    # Each row's gap at its own start.
    np.testing.assert_array_equal(inputs["target_ids"],
                                  [TOKENS[0, 3:5], TOKENS[1, 4:6], TOKENS[2, 2:4]])


def test_scores_by_hand():
    logits = np.log(np.array([[[0.5, 0.25, 0.25]], [[0.2, 0.6, 0.2]]]))
    scores = gap_scores(logits, np.array([[0], [2]]))
    assert scores["accuracy"] == 0.5 and scores["tokens"] == 2
    np.testing.assert_allclose(scores["perplexity"], np.exp(-(np.log(0.5) + np.log(0.2)) / 2))


def test_bad_input_is_refused():
    models = _models()
    with pytest.raises(ValueError, match="a MaskedLM fills a gap with mask_token_id"):
        gap_logits(models["masked"], TOKENS, 3, 2, PADDING)
    with pytest.raises(ValueError, match="start must be at least 1, received start=0"):
        gap_logits(models["left_to_right"], TOKENS, 0, 2, PADDING)
    with pytest.raises(ValueError, match=r"the gap \(start=6, length=2\) must lie inside"):
        gap_logits(models["xlnet"], TOKENS, 6, 2, PADDING)
    with pytest.raises(ValueError, match="model must be an XLNetLM, a TransformerXL or a "
                                         "MaskedLM, received Sequential"):
        gap_logits(keras.Sequential(), TOKENS, 3, 2, PADDING)
    with pytest.raises(ValueError, match=r"logits \[B, L, V\] and target_ids \[B, L\] must agree"):
        gap_scores(np.zeros((2, 3, 4)), np.zeros((2, 2), "int32"))
