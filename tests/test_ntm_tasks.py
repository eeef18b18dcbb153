import math
import re

import keras
import numpy as np
import pytest

from keras_attention.data import ntm_tasks
from keras_attention.layers.ntm_cell import NTMCell


def _raises(*parts):
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _delimiter_step(inputs, channel):
    """The first step of each example with `channel` set: `[B]`."""
    return np.argmax(inputs[:, :, channel] != 0, axis=1)


# -- copy ------------------------------------------------------------------------


def test_copy_batch_layout():
    inputs, targets, weights = ntm_tasks.copy_batch(
        64, min_length=2, max_length=9, seed=3, length_sampling="example"
    )
    assert inputs.shape == (64, 19, 9) and targets.shape == (64, 19, 8)
    assert weights.shape == (64, 19)
    assert inputs.dtype == targets.dtype == weights.dtype == np.float32
    lengths = _delimiter_step(inputs, 8)
    assert lengths.min() >= 2 and lengths.max() <= 9 and len(set(lengths)) > 4
    for row, length in enumerate(lengths):
        vectors = inputs[row, :length, :8]
        assert set(np.unique(vectors)) <= {0.0, 1.0}
        # The input phase: vectors, then one delimiter step and nothing else.
        assert inputs[row, :length, 8].sum() == 0 and inputs[row, length, :8].sum() == 0
        assert not inputs[row, length + 1 :].any()
        # The output phase repeats the vectors; the mask covers it only.
        output_phase = slice(length + 1, 2 * length + 1)
        np.testing.assert_array_equal(targets[row, output_phase], vectors)
        want = np.zeros(19)
        want[output_phase] = 1.0
        np.testing.assert_array_equal(weights[row], want)
        assert not targets[row, : length + 1].any()
        assert not targets[row, 2 * length + 1 :].any()


def test_training_datasets_draw_one_length_per_batch():
    # Collier and Beel's sampling: one length (repeat count, item count) per
    # batch, different across batches; the batch functions draw one per
    # example unless asked.
    def lengths_of(inputs, channel=8):
        return _delimiter_step(inputs, channel)

    batches = [x.numpy() for x, _, _ in ntm_tasks.copy_dataset(16, num_batches=8)]
    assert all(len(set(lengths_of(x))) == 1 for x in batches)
    assert len({lengths_of(x)[0] for x in batches} ) > 3
    assert len(set(lengths_of(ntm_tasks.copy_batch(16, 1, 20, seed=0)[0]))) > 3
    assert len(set(lengths_of(ntm_tasks.copy_batch(
        16, 1, 20, seed=0, length_sampling="batch")[0]))) == 1
    for x, _, _ in ntm_tasks.repeat_copy_dataset(16, num_batches=4):
        x = x.numpy()
        lengths = lengths_of(x)
        assert len(set(lengths)) == 1 and len(set(x[np.arange(16), lengths, 9])) == 1
    counts = [x.numpy()[:, :, 6].sum(axis=1)
              for x, _, _ in ntm_tasks.associative_recall_dataset(16, num_batches=8)]
    assert all(len(set(c)) == 1 for c in counts) and len({c[0] for c in counts}) > 2
    assert len(set(ntm_tasks.associative_recall_batch(16, 2, 6, seed=1)[0][:, :, 6].sum(1))) > 1
    with _raises("length_sampling must be one of ('batch', 'example')", "'sequence'"):
        ntm_tasks.copy_dataset(length_sampling="sequence")


def test_copy_batch_is_determined_by_its_seed():
    first = ntm_tasks.copy_batch(8, seed=5)
    again = ntm_tasks.copy_batch(8, seed=5)
    other = ntm_tasks.copy_batch(8, seed=6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_copy_dataset_is_deterministic_and_static():
    data = ntm_tasks.copy_dataset(batch_size=4, max_length=6, seed=11, num_batches=3)
    shapes = [tuple(s.shape) for s in data.element_spec]
    assert shapes == [(4, 13, 9), (4, 13, 8), (4, 13)]
    assert int(data.cardinality()) == 3
    passes = [[tuple(np.asarray(t) for t in batch) for batch in data] for _ in range(2)]
    assert len(passes[0]) == 3
    for first, again in zip(*passes):
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)
    # Batch b is copy_batch(seed=[seed, b]) with one length per batch; the
    # batches differ.
    want = ntm_tasks.copy_batch(4, max_length=6, seed=[11, 2], length_sampling="batch")
    for got, w in zip(passes[0][2], want):
        np.testing.assert_array_equal(got, w)
    assert not np.array_equal(passes[0][0][0], passes[0][1][0])
    other = next(iter(ntm_tasks.copy_dataset(batch_size=4, max_length=6, seed=12)))
    assert not np.array_equal(np.asarray(other[0]), passes[0][0][0])


# -- repeat copy -------------------------------------------------------------------


def test_repeat_copy_batch_layout():
    inputs, targets, weights = ntm_tasks.repeat_copy_batch(
        32, min_length=1, max_length=4, min_repeats=2, max_repeats=5, seed=0,
        length_sampling="example",
    )
    steps = 4 * (5 + 1) + 2
    assert inputs.shape == (32, steps, 10) and targets.shape == (32, steps, 9)
    lengths = _delimiter_step(inputs, 8)
    seen_counts = set()
    for row, length in enumerate(lengths):
        decoded = inputs[row, length, 9] * ntm_tasks.REPEAT_STD + ntm_tasks.REPEAT_MEAN
        count = round(decoded)
        assert abs(count - decoded) < 1e-5
        assert 2 <= count <= 5
        seen_counts.add(count)
        vectors = inputs[row, :length, :8]
        end = length + 1 + count * length
        np.testing.assert_array_equal(
            targets[row, length + 1 : end, :8], np.tile(vectors, (count, 1))
        )
        # The end marker, once, right after the last copy.
        assert targets[row, :, 8].sum() == 1 and targets[row, end, 8] == 1
        want = np.zeros(steps)
        want[length + 1 : end + 1] = 1.0
        np.testing.assert_array_equal(weights[row], want)
        assert not inputs[row, length + 1 :].any()
    assert len(seen_counts) > 2
    # The count code does not depend on the range asked for.
    inputs, _, _ = ntm_tasks.repeat_copy_batch(1, min_repeats=20, max_repeats=20)
    code = inputs[0, _delimiter_step(inputs, 8)[0], 9]
    assert code == pytest.approx((20 - 5.5) / math.sqrt(99 / 12))


# -- associative recall ---------------------------------------------------------------


def test_associative_recall_batch_layout():
    k, bits = 3, 6
    inputs, targets, weights = ntm_tasks.associative_recall_batch(
        32, min_items=2, max_items=6, seed=4, length_sampling="example"
    )
    steps = 6 * (k + 1) + 2 * k + 2
    assert inputs.shape == (32, steps, bits + 2) and targets.shape == (32, steps, bits)
    seen_counts = set()
    for row in range(32):
        item_delimiters = np.flatnonzero(inputs[row, :, bits])
        query_delimiters = np.flatnonzero(inputs[row, :, bits + 1])
        count = len(item_delimiters)
        seen_counts.add(count)
        assert 2 <= count <= 6
        np.testing.assert_array_equal(item_delimiters, np.arange(count) * (k + 1))
        start = count * (k + 1)
        np.testing.assert_array_equal(query_delimiters, [start, start + k + 1])
        items = [
            inputs[row, i * (k + 1) + 1 : (i + 1) * (k + 1), :bits]
            for i in range(count)
        ]
        query = inputs[row, start + 1 : start + k + 1, :bits]
        matches = [i for i in range(count - 1) if np.array_equal(items[i], query)]
        assert matches, "the query is none of the items that have a successor"
        answer = start + k + 2
        assert any(
            np.array_equal(targets[row, answer : answer + k], items[i + 1])
            for i in matches
        )
        want = np.zeros(steps)
        want[answer : answer + k] = 1.0
        np.testing.assert_array_equal(weights[row], want)
        assert not inputs[row, answer:].any()
    assert len(seen_counts) > 2


def test_every_dataset_has_static_shapes():
    for make, widths in [
        (ntm_tasks.repeat_copy_dataset, (10, 9)),
        (ntm_tasks.associative_recall_dataset, (8, 6)),
    ]:
        data = make(batch_size=2, seed=1)
        inputs, targets, weights = data.element_spec
        assert inputs.shape[0] == 2 and None not in inputs.shape
        assert (inputs.shape[-1], targets.shape[-1]) == widths
        assert weights.shape == inputs.shape[:2]
        batch = next(iter(data))
        assert tuple(batch[0].shape) == tuple(inputs.shape)


def test_bad_arguments_raise():
    with _raises("min_length must be at most max_length", "=5 and max_length=3"):
        ntm_tasks.copy_batch(2, min_length=5, max_length=3)
    with _raises("min_length must be an int >= 1, received min_length=0"):
        ntm_tasks.copy_batch(2, min_length=0)
    with _raises("batch_size must be an int >= 1, received batch_size=0"):
        ntm_tasks.copy_dataset(batch_size=0)
    with _raises("min_items must be an int >= 2, received min_items=1"):
        ntm_tasks.associative_recall_batch(2, min_items=1)
    with _raises("max_repeats must be an int >= 1, received max_repeats=0"):
        ntm_tasks.repeat_copy_dataset(max_repeats=0)
    with _raises("num_batches must be an int >= 1, received num_batches=0"):
        ntm_tasks.copy_dataset(num_batches=0)
    with _raises("seed must be an int >= 0, received seed=None"):
        ntm_tasks.copy_dataset(seed=None)


# -- cost -----------------------------------------------------------------------------

# Two sequences of 3 steps of 2 bits; step 0 is the input phase (weight 0).
Y_TRUE = np.array(
    [[[1, 1], [1, 0], [1, 1]], [[0, 0], [1, 0], [0, 1]]], "float32"
)
Y_PRED = np.array(
    [
        [[0.01, 0.01], [0.5, 0.5], [0.75, 0.25]],
        [[0.99, 0.99], [0.875, 0.125], [0.125, 0.875]],
    ],
    "float32",
)
WEIGHTS = np.array([[0, 1, 1], [0, 1, 1]], "float32")
# Sequence 0: step 1 costs 1 + 1 bits (p = 1/2 for each), step 2
# -log2(3/4) - log2(1/4) = 0.415 + 2. Sequence 1: four bits each predicted
# right with p = 7/8, -log2(7/8) = 0.193 each. Step 0 is left out.
BITS = [2.0 + math.log2(4 / 3) + 2.0, 4 * math.log2(8 / 7)]


def test_bits_per_sequence_by_hand():
    metric = ntm_tasks.BitsPerSequence()
    metric.update_state(Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
    assert float(metric.result()) == pytest.approx(np.mean(BITS), abs=1e-5)
    # From logits, and accumulated over two updates.
    logits = ntm_tasks.BitsPerSequence(from_logits=True)
    log_odds = np.log(Y_PRED / (1 - Y_PRED))
    logits.update_state(Y_TRUE[:1], log_odds[:1], sample_weight=WEIGHTS[:1])
    logits.update_state(Y_TRUE[1:], log_odds[1:], sample_weight=WEIGHTS[1:])
    assert float(logits.result()) == pytest.approx(np.mean(BITS), abs=1e-5)
    # Without weights every step counts: step 0's -log2(0.01) bits too.
    metric.reset_state()
    metric.update_state(Y_TRUE, Y_PRED)
    step0 = 2 * -math.log2(0.01)
    assert float(metric.result()) == pytest.approx(np.mean(BITS) + step0, abs=1e-4)
    clone = ntm_tasks.BitsPerSequence.from_config(logits.get_config())
    assert clone.from_logits


def test_bits_per_sequence_as_a_weighted_metric_of_evaluate():
    # The model returns its input, so the predictions are Y_PRED; Keras
    # gives weighted_metrics the sample weights, batch by batch.
    x = keras.Input((3, 2))
    model = keras.Model(x, keras.layers.Identity()(x))
    model.compile(loss="mse", weighted_metrics=[ntm_tasks.BitsPerSequence()])
    result = model.evaluate(
        Y_PRED, Y_TRUE, sample_weight=WEIGHTS, batch_size=1, return_dict=True, verbose=0
    )
    assert result["bits_per_sequence"] == pytest.approx(np.mean(BITS), abs=1e-5)


def test_bit_errors_by_hand():
    # Sequence 0: step 1 predicts [0.5, 0.5], neither above 1/2, so its 1 is
    # wrong; step 2 predicts [1, 0] for [1, 1]. Sequence 1 is right. Step 0
    # (all wrong, two bits per sequence) counts only without weights.
    np.testing.assert_array_equal(
        ntm_tasks.bit_errors(Y_TRUE, Y_PRED, WEIGHTS), [2, 0]
    )
    np.testing.assert_array_equal(ntm_tasks.bit_errors(Y_TRUE, Y_PRED), [4, 2])
    log_odds = np.log(Y_PRED / (1 - Y_PRED))
    np.testing.assert_array_equal(
        ntm_tasks.bit_errors(Y_TRUE, log_odds, WEIGHTS, from_logits=True), [2, 0]
    )
    with _raises("sample_weight must have shape [B, T] = (2, 3)", "(2, 3, 1)"):
        ntm_tasks.bit_errors(Y_TRUE, Y_PRED, WEIGHTS[..., None])
    with _raises("y_true and y_pred must have the same shape", "(2, 3, 2) and (2, 3)"):
        ntm_tasks.bit_errors(Y_TRUE, Y_PRED[..., 0])


def test_copy_dataset_trains_an_ntm_with_xla():
    data = ntm_tasks.copy_dataset(batch_size=4, max_length=4, num_bits=4, seed=0)
    inputs = keras.Input((9, 5))
    cell = NTMCell(units=4, memory_size=8, memory_width=4, controller_units=16)
    model = keras.Model(inputs, keras.layers.RNN(cell, return_sequences=True)(inputs))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        weighted_metrics=[ntm_tasks.BitsPerSequence(from_logits=True)],
        jit_compile=True,
    )
    history = model.fit(
        data, steps_per_epoch=4, epochs=2, shuffle=False, verbose=0
    ).history
    assert np.all(np.isfinite(history["loss"]))
    # The metric of evaluate, through XLA and the dataset's sample weights,
    # equals the cost computed here from the predictions.
    test = ntm_tasks.copy_dataset(
        batch_size=4, max_length=4, num_bits=4, seed=1, num_batches=2
    )
    result = model.evaluate(test, return_dict=True, verbose=0)
    costs = []
    for inputs, targets, weights in test:
        p = 1 / (1 + np.exp(-model.predict_on_batch(inputs).astype("float64")))
        y = np.asarray(targets)
        nats = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(-1)  # [B, T]
        costs.extend((nats * np.asarray(weights)).sum(-1) / math.log(2))
    assert result["bits_per_sequence"] == pytest.approx(np.mean(costs), rel=1e-4)
    assert np.mean(costs) > 1.0  # an untrained model is far from right
