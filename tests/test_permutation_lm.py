"""XLNet's permutation-LM inputs (keras_attention.data.permutation_lm)."""

import numpy as np
import pytest
from keras import ops

from keras_attention.data.permutation_lm import gap_batch, permutation_lm_batch
from keras_attention.layers import TwoStreamRelativeAttention


def _brute_force_mask(order, num_targets, length, size):
    """May `i` attend to `j`? Position by position, from the order alone:
    `j` is a real token and is context, or `i` is a target and `j` a target
    predicted before it."""
    context = set(order[: length - num_targets])
    targets = list(order[length - num_targets : length])
    mask = np.zeros((size, size), "float32")
    for i in range(size):
        for j in range(size):
            if j >= length:
                visible = False
            elif j in context:
                visible = True
            else:
                visible = i in targets and targets.index(j) < targets.index(i)
            mask[i, j] = 0.0 if visible else 1.0
    return mask


def _batch(seed, **kwargs):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(3, 50, (4, 18)).astype("int32")
    lengths = np.array([18, 12, 7, 1])
    padding = np.arange(18)[None] < lengths[:, None]
    return tokens, padding, permutation_lm_batch(tokens, padding, seed=seed, **kwargs)


@pytest.mark.parametrize("max_span_length", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_equal_a_brute_force_construction_from_the_order(seed, max_span_length):
    tokens, padding, batch = _batch(seed, max_span_length=max_span_length)
    lengths = padding.sum(1)
    for b in range(len(tokens)):
        order, count, length = batch["order"][b], batch["num_targets"][b], lengths[b]
        assert sorted(order) == list(range(18))
        assert count == max(1, round(length / 6))
        # The context first (each real position once), then the targets.
        assert set(order[:length]) == set(range(length))
        want = _brute_force_mask(list(order), count, length, 18)
        np.testing.assert_array_equal(batch["perm_mask"][b], want)
        # Target rows: one-hot at the targets, in the order they are predicted.
        targets = order[length - count : length]
        np.testing.assert_array_equal(batch["target_mapping"][b, :count].argmax(1), targets)
        np.testing.assert_array_equal(batch["target_mapping"][b, :count].sum(1), 1.0)
        np.testing.assert_array_equal(batch["target_mapping"][b, count:], 0.0)
        np.testing.assert_array_equal(batch["target_ids"][b, :count], tokens[b, targets])
        np.testing.assert_array_equal(batch["target_weights"][b], np.arange(3) < count)


def test_the_default_predicts_a_sixth_in_fixed_rows():
    tokens = np.arange(60, dtype="int32").reshape(2, 30)
    batch = permutation_lm_batch(tokens, seed=0)
    assert batch["target_mapping"].shape == (2, 5, 30)
    assert batch["num_targets"].tolist() == [5, 5]
    # Another seed, another order: the orders are sampled.
    other = permutation_lm_batch(tokens, seed=1)
    assert not np.array_equal(batch["order"], other["order"])


def test_spans_are_whole_runs_of_tokens():
    tokens = np.zeros((64, 60), "int32")
    singles = permutation_lm_batch(tokens, plm_probability=0.2, seed=0)
    spans = permutation_lm_batch(tokens, plm_probability=0.2, max_span_length=4, seed=0)

    def mean_run(batch):
        runs = []
        for mapping in batch["target_mapping"]:
            chosen = mapping.sum(0) > 0
            edges = np.flatnonzero(np.diff(np.concatenate([[0], chosen, [0]]).astype(int)))
            runs.extend(edges[1::2] - edges[::2])
        return np.mean(runs)

    # 12 targets in 60: single tokens rarely touch (runs near 1.2), spans of
    # 1 to 4 (mean 2.5) at least that long.
    assert mean_run(singles) < 1.5
    assert mean_run(spans) > 2.2
    assert spans["num_targets"].tolist() == [12] * 64


def test_the_query_stream_of_a_target_reads_what_its_mask_allows():
    # End to end with the layer: a target's query-stream row moves with the
    # content of the context and of the targets before it, and nothing else.
    tokens, padding, batch = _batch(4)
    rng = np.random.default_rng(5)
    h = rng.normal(size=(4, 18, 8)).astype("float32")
    g = rng.normal(size=(4, 3, 8)).astype("float32")
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=4)

    def query(content):
        _, out = layer(content, g, batch["perm_mask"], target_mapping=batch["target_mapping"])
        return ops.convert_to_numpy(out)

    base = query(h)
    for j in range(18):
        moved = h.copy()
        moved[:, j] += 1.0
        changed = np.abs(query(moved) - base).max(-1) > 1e-6  # [B, P]
        allowed = np.einsum("bpt,bt->bp", batch["target_mapping"],
                            1.0 - batch["perm_mask"][:, :, j]) > 0
        np.testing.assert_array_equal(changed, allowed, err_msg=f"position {j}")


def test_a_gap_is_filled_left_to_right_from_both_sides():
    tokens = np.arange(20, dtype="int32").reshape(2, 10)
    padding = np.arange(10)[None] < np.array([[10], [7]])
    batch = gap_batch(tokens, 3, 2, padding)
    for b, length in enumerate([10, 7]):
        order = list(batch["order"][b])
        assert order[length - 2 : length] == [3, 4]
        want = _brute_force_mask(order, 2, length, 10)
        np.testing.assert_array_equal(batch["perm_mask"][b], want)
    # The second gap token sees the first; the first sees neither.
    assert batch["perm_mask"][0, 4, 3] == 0 and batch["perm_mask"][0, 3, 4] == 1
    np.testing.assert_array_equal(batch["target_mapping"][:, :, 3:5], [np.eye(2)] * 2)
    np.testing.assert_array_equal(batch["target_ids"], tokens[:, 3:5])
    with pytest.raises(ValueError, match=r"the gap \(start=6, length=2\) must lie inside"):
        gap_batch(tokens, 6, 2, padding)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(token_ids=np.zeros((2, 3, 4), "int32")), r"token_ids must be integer ids \[B, T\]"),
        (dict(token_ids=np.zeros((2, 4), "float32")), r"token_ids must be integer ids"),
        (dict(padding_mask=np.ones((2, 5), bool)),
         r"padding_mask must have token_ids' shape \(2, 4\), received padding_mask.shape=\(2, 5\)"),
        (dict(padding_mask=np.array([[1, 0, 1, 1], [1, 1, 1, 1]], bool)),
         "padding_mask must be true for a prefix of each row"),
        (dict(plm_probability=0.0), r"plm_probability must be in \(0, 1\], received"),
        (dict(max_span_length=0), "max_span_length must be an int >= 1, received"),
        (dict(num_predict=2.5), "num_predict must be an int >= 1, received num_predict=2.5"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    arguments = dict(token_ids=np.zeros((2, 4), "int32"))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        permutation_lm_batch(**arguments)
