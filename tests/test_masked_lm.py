"""The masked-LM baseline of XLNet: masked_lm_batch, MaskedLM, MaskedLMDataset."""

import keras
import numpy as np
import pytest

from keras_attention.data.permutation_lm import masked_lm_batch
from keras_attention.models import MaskedLM, MaskedLMDataset
from tests.test_xlnet import assert_fit_moves_every_weight_and_reloads

V, MASK = 30, 1


def test_selection_and_the_80_10_10_split():
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, V, (2000, 40)).astype("int32")
    lengths = rng.integers(5, 41, 2000)
    padding = np.arange(40)[None] < lengths[:, None]
    batch = masked_lm_batch(tokens, MASK, V, padding, mask_selection_length=16, seed=0)
    weights = batch["mask_weights"] > 0
    positions = batch["mask_positions"]
    rows = np.repeat(np.arange(2000)[:, None], 16, 1)
    # Only real tokens, each at most once, at least one per sequence.
    assert (positions[weights] < lengths[rows[weights]]).all()
    assert weights.sum(1).min() >= 1
    for b in range(0, 2000, 97):
        chosen = positions[b][weights[b]]
        assert len(set(chosen)) == len(chosen)
    np.testing.assert_array_equal(batch["mask_ids"][weights],
                                  tokens[rows[weights], positions[weights]])
    # A share of 0.15 of the real tokens (binomial: about 8,000 of 45,000).
    share = weights.sum() / padding.sum()
    assert abs(share - 0.15) < 0.01, share
    # 80% masked, 10% random (of which 1/V happen to be the same token), 10% kept.
    now = batch["token_ids"][rows[weights], positions[weights]]
    original = batch["mask_ids"][weights]
    masked = (now == MASK).mean()
    kept = (now == original).mean()
    assert abs(masked - 0.8) < 0.015, masked
    assert abs(kept - (0.1 + 0.1 / V)) < 0.015, kept
    # Nothing else changed.
    changed = batch["token_ids"] != tokens
    changed[rows[weights], positions[weights]] = False
    assert not changed.any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mask_selection_rate=1.5), r"mask_selection_rate must be in \[0, 1\], received"),
        (dict(mask_token_rate=0.9, random_token_rate=0.2),
         r"mask_token_rate \+ random_token_rate must be at most 1, received 0.9 \+ 0.2"),
        (dict(token_ids=np.zeros((4,), "int32")), r"token_ids must be integer ids \[B, T\]"),
        (dict(padding_mask=np.array([[1, 0, 1, 1, 1]] * 2, bool)),
         "padding_mask must be true for a prefix of each row"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    arguments = dict(token_ids=np.zeros((2, 5), "int32"), mask_token_id=MASK,
                     vocabulary_size=V)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        masked_lm_batch(**arguments)


def _model():
    keras.utils.set_random_seed(2)
    return MaskedLM(V, max_length=12, hidden_dim=16, num_heads=2, intermediate_dim=32,
                    num_blocks=2, dropout=0.0)


def test_fit_with_xla_moves_every_weight_and_the_model_reloads(tmp_path):
    rng = np.random.default_rng(1)
    tokens = rng.integers(2, V, (32, 12)).astype("int32")
    padding = np.arange(12)[None] < rng.integers(4, 13, 32)[:, None]
    data = MaskedLMDataset(np.where(padding, tokens, 0), MASK, V, padding, batch_size=8,
                           seed=0)
    inputs, mask_ids, mask_weights = data[0]
    assert mask_ids.shape == mask_weights.shape == (8, 2)
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    assert_fit_moves_every_weight_and_reloads(model, data, inputs, tmp_path)


def test_a_mask_reads_both_sides_and_never_the_padding():
    tokens = np.array([[5, 6, MASK, 8, 9, 0, 0]], "int32")
    padding = np.array([[True] * 5 + [False] * 2])
    inputs = {"token_ids": tokens, "padding_mask": padding,
              "mask_positions": np.array([[2]], "int32")}
    model = _model()
    base = keras.ops.convert_to_numpy(model(inputs))
    for position in range(7):
        changed = tokens.copy()
        changed[0, position] = 20
        moved = np.abs(keras.ops.convert_to_numpy(
            model(dict(inputs, token_ids=changed))) - base).max() > 1e-6
        assert moved == (position < 5), position


def test_bad_model_input_names_what_is_missing():
    with pytest.raises(ValueError, match="missing padding_mask, mask_positions"):
        _model()({"token_ids": np.zeros((1, 4), "int32")})
