"""The Neural Turing Machine's algorithmic tasks, as seeded `tf.data` pipelines.

Copy, repeat copy and associative recall from Graves, Wayne and Danihelka
(2014), "Neural Turing Machines", sec. 4, with the cost the papers report:
binary cross-entropy in bits per sequence over the output phase
(`BitsPerSequence`), and `bit_errors`, the wrong bits per sequence.

Every example is a sequence of steps: an input phase that shows the model
random bit vectors and delimiter flags, then an output phase where the input
is zero and the target is the answer. Each batch is three float32 arrays:

- inputs `[B, T, I]`: the bits on the first `num_bits` channels, then the
  task's delimiter channels;
- targets `[B, T, O]`: zero but in the output phase;
- sample weights `[B, T]`: 1 in the output phase, 0 elsewhere, so that the
  loss and `BitsPerSequence` count only the answer.

Lengths (and repeat counts, and item counts) are drawn from the given range
per example by the batch functions (`copy_batch`, ...; `length_sampling=
"example"`), and once per batch by the training datasets (`copy_dataset`,
...; `length_sampling="batch"`), as Collier and Beel sample them: every
example of a training batch has the same length. Which trains faster
depends on the model. For the reference NTM (128 x 20 memory, Adam 1e-3,
batches of 32, copy on lengths 1 to 20), two of three seeds with per-batch
lengths fell below 0.1 bits per sequence within 8,500 steps, while with
per-example lengths the cost only crept down, like an LSTM's, to about 32
bits after 8,250 steps. For the tour's small NTM (32 x 16 memory, lengths 1
to 8, Adam 3e-3) it is the other way round: per-example lengths copied 97%
of held-out sequences after 1,000 steps, per-batch lengths none after
1,200. Every batch is padded at the end to the
length of the longest example the range allows (weight 0 there), so a
dataset has one static shape and `model.fit(jit_compile=True)` compiles
once. The model is causal, so padding after an example changes none of its
outputs.

Layouts, for an example of `L` vectors (`d` the first delimiter channel):

- copy: vectors at steps `0..L-1`, the delimiter `d` at step `L`, the
  targets (the vectors) at steps `L+1..2L`. I = num_bits + 1, O = num_bits,
  T = 2 * max_length + 1.
- repeat copy, `R` repeats: vectors at `0..L-1`; at step `L` the delimiter
  `d` and, on channel `d + 1`, `R` normalised as
  `(R - REPEAT_MEAN) / REPEAT_STD` (Graves et al. normalise the count to
  mean 0 and variance 1; the constants are those of the default range 1 to
  10 whatever range is asked, so that longer tests see the same code); the
  vectors `R` times at steps `L+1..L+RL`, then the end marker on target
  channel `d` at step `L+RL+1`. I = num_bits + 2, O = num_bits + 1,
  T = max_length * (max_repeats + 1) + 2.
- associative recall, `n` items of `k` vectors: each item is the item
  delimiter `d` then its `k` vectors; then the query delimiter `d + 1`, a
  copy of item `q` (`q < n - 1`, uniform), the query delimiter again; the
  targets are item `q + 1`'s vectors, in the `k` steps after that.
  I = num_bits + 2, O = num_bits, T = max_items * (k + 1) + 2 * k + 2.

Batch `b` of a dataset is drawn with `numpy.random.default_rng([seed, b])`,
so a seed gives the same batches on every pass and every machine. The
`*_batch` functions need numpy only; the `*_dataset` functions are `tf.data`
pipelines: they need TensorFlow installed (`pip install
'keras-attention[tensorflow]'`), not the TensorFlow backend, since `tf.data`
feeds `model.fit` on any Keras backend.

Example:

>>> inputs, targets, weights = copy_batch(2, min_length=3, max_length=5, seed=0)
>>> inputs.shape, targets.shape, weights.shape
((2, 11, 9), (2, 11, 8), (2, 11))
"""

import math

import keras
import numpy as np

from keras_attention._tensorflow import import_tensorflow

# Graves et al.'s training ranges, and Collier and Beel's.
NUM_BITS = 8
ASSOCIATIVE_RECALL_BITS = 6
ITEM_LENGTH = 3
LENGTH_SAMPLINGS = ("batch", "example")
# The repeat count's code: mean and standard deviation of a uniform count
# in 1..10 (Graves et al.'s training range).
REPEAT_MEAN = 5.5
REPEAT_STD = math.sqrt((10**2 - 1) / 12)


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"{name} must be an int >= {minimum}, received {name}={value!r}"
        )


def _check_range(low_name, low, high_name, high, minimum=1):
    _check_int(low_name, low, minimum)
    _check_int(high_name, high, minimum)
    if low > high:
        raise ValueError(
            f"{low_name} must be at most {high_name}, received "
            f"{low_name}={low} and {high_name}={high}"
        )


def _check_sampling(length_sampling):
    if length_sampling not in LENGTH_SAMPLINGS:
        raise ValueError(
            f"length_sampling must be one of {LENGTH_SAMPLINGS}, "
            f"received length_sampling={length_sampling!r}"
        )


def _draw(rng, low, high, batch_size, length_sampling):
    """`batch_size` ints uniform in `[low, high]`: one for all, or one each."""
    if length_sampling == "batch":
        return np.full(batch_size, rng.integers(low, high + 1))
    return rng.integers(low, high + 1, size=batch_size)


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _bits(rng, shape):
    return rng.integers(0, 2, size=shape).astype("float32")


# -- one batch, as numpy arrays ------------------------------------------------


def copy_batch(
    batch_size, min_length=1, max_length=20, num_bits=NUM_BITS, seed=0,
    length_sampling="example",
):
    """One copy batch `(inputs, targets, sample_weights)`; see the module docstring.

    Args:
        batch_size: examples `B`.
        min_length, max_length: the length is uniform in this range (both
            included); `T = 2 * max_length + 1`.
        num_bits: width of the vectors.
        seed: an int (or a sequence of ints) for `numpy.random.default_rng`,
            or a `numpy.random.Generator`.
        length_sampling: `"example"` (one length per example, the default
            here, e.g. for a test set) or `"batch"` (one for the whole
            batch; the training datasets' default).
    """
    _check_int("batch_size", batch_size, 1)
    _check_sampling(length_sampling)
    _check_range("min_length", min_length, "max_length", max_length)
    _check_int("num_bits", num_bits, 1)
    rng = _rng(seed)
    steps = 2 * max_length + 1
    inputs = np.zeros((batch_size, steps, num_bits + 1), "float32")
    targets = np.zeros((batch_size, steps, num_bits), "float32")
    weights = np.zeros((batch_size, steps), "float32")
    lengths = _draw(rng, min_length, max_length, batch_size, length_sampling)
    for row, length in enumerate(lengths):
        vectors = _bits(rng, (length, num_bits))
        inputs[row, :length, :num_bits] = vectors
        inputs[row, length, num_bits] = 1.0
        targets[row, length + 1 : 2 * length + 1] = vectors
        weights[row, length + 1 : 2 * length + 1] = 1.0
    return inputs, targets, weights


def repeat_copy_batch(
    batch_size,
    min_length=1,
    max_length=10,
    min_repeats=1,
    max_repeats=10,
    num_bits=NUM_BITS,
    seed=0,
    length_sampling="example",
):
    """One repeat-copy batch `(inputs, targets, sample_weights)`.

    Lengths and repeat counts are uniform in their ranges (both ends
    included), Graves et al.'s 1 to 10 each by default, both drawn per
    batch or per example (`length_sampling`, see `copy_batch`);
    `T = max_length * (max_repeats + 1) + 2`. See the module docstring for
    the layout and `seed`.
    """
    _check_int("batch_size", batch_size, 1)
    _check_sampling(length_sampling)
    _check_range("min_length", min_length, "max_length", max_length)
    _check_range("min_repeats", min_repeats, "max_repeats", max_repeats)
    _check_int("num_bits", num_bits, 1)
    rng = _rng(seed)
    steps = max_length * (max_repeats + 1) + 2
    inputs = np.zeros((batch_size, steps, num_bits + 2), "float32")
    targets = np.zeros((batch_size, steps, num_bits + 1), "float32")
    weights = np.zeros((batch_size, steps), "float32")
    lengths = _draw(rng, min_length, max_length, batch_size, length_sampling)
    repeats = _draw(rng, min_repeats, max_repeats, batch_size, length_sampling)
    for row, (length, count) in enumerate(zip(lengths, repeats)):
        vectors = _bits(rng, (length, num_bits))
        inputs[row, :length, :num_bits] = vectors
        inputs[row, length, num_bits] = 1.0
        inputs[row, length, num_bits + 1] = (count - REPEAT_MEAN) / REPEAT_STD
        end = length + 1 + count * length  # the end marker's step
        targets[row, length + 1 : end, :num_bits] = np.tile(vectors, (count, 1))
        targets[row, end, num_bits] = 1.0
        weights[row, length + 1 : end + 1] = 1.0
    return inputs, targets, weights


def associative_recall_batch(
    batch_size,
    min_items=2,
    max_items=6,
    item_length=ITEM_LENGTH,
    num_bits=ASSOCIATIVE_RECALL_BITS,
    seed=0,
    length_sampling="example",
):
    """One associative-recall batch `(inputs, targets, sample_weights)`.

    Items of `item_length` vectors of `num_bits` bits (Graves et al.'s 3 of
    6), `min_items..max_items` of them (2 to 6 by default), drawn per batch
    or per example (`length_sampling`, see `copy_batch`; the query item is
    always drawn per example);
    `T = max_items * (item_length + 1) + 2 * item_length + 2`. See the
    module docstring for the layout and `seed`.
    """
    _check_int("batch_size", batch_size, 1)
    _check_range("min_items", min_items, "max_items", max_items, minimum=2)
    _check_sampling(length_sampling)
    _check_int("item_length", item_length, 1)
    _check_int("num_bits", num_bits, 1)
    rng = _rng(seed)
    k = item_length
    steps = max_items * (k + 1) + 2 * k + 2
    inputs = np.zeros((batch_size, steps, num_bits + 2), "float32")
    targets = np.zeros((batch_size, steps, num_bits), "float32")
    weights = np.zeros((batch_size, steps), "float32")
    counts = _draw(rng, min_items, max_items, batch_size, length_sampling)
    for row, count in enumerate(counts):
        items = _bits(rng, (count, k, num_bits))
        query = rng.integers(0, count - 1)
        for i in range(count):
            start = i * (k + 1)
            inputs[row, start, num_bits] = 1.0
            inputs[row, start + 1 : start + 1 + k, :num_bits] = items[i]
        start = count * (k + 1)  # the query delimiter
        inputs[row, start, num_bits + 1] = 1.0
        inputs[row, start + 1 : start + 1 + k, :num_bits] = items[query]
        inputs[row, start + 1 + k, num_bits + 1] = 1.0
        answer = start + k + 2
        targets[row, answer : answer + k] = items[query + 1]
        weights[row, answer : answer + k] = 1.0
    return inputs, targets, weights


# -- pipelines -----------------------------------------------------------------


def _dataset(make_batch, batch_size, seed, num_batches, kwargs):
    _check_int("seed", seed, 0)
    if num_batches is not None:
        _check_int("num_batches", num_batches, 1)
    # Checks the arguments now, and gives the batches' static shapes.
    shapes = [a.shape[1:] for a in make_batch(batch_size, seed=0, **kwargs)]

    def batches():
        index = 0
        while num_batches is None or index < num_batches:
            yield make_batch(batch_size, seed=[seed, index], **kwargs)
            index += 1

    tf = import_tensorflow("the NTM task datasets (tf.data pipelines)")
    signature = tuple(
        tf.TensorSpec((batch_size,) + shape, tf.float32) for shape in shapes
    )
    data = tf.data.Dataset.from_generator(batches, output_signature=signature)
    if num_batches is not None:
        data = data.apply(tf.data.experimental.assert_cardinality(num_batches))
    return data.prefetch(tf.data.AUTOTUNE)


def copy_dataset(
    batch_size=32, min_length=1, max_length=20, num_bits=NUM_BITS, seed=0,
    num_batches=None, length_sampling="batch",
):
    """A `tf.data.Dataset` of `copy_batch`es: `(inputs, targets, sample_weights)`.

    Batch `b` is `copy_batch(..., seed=[seed, b], length_sampling=...)`,
    one length per batch by default; endless when
    `num_batches` is `None` (give `model.fit` a `steps_per_epoch`), else
    `num_batches` batches, the same ones on every pass. Collier and Beel
    train on lengths 1 to 20, one length per batch, with batches of 32: the
    defaults.
    """
    kwargs = dict(
        min_length=min_length, max_length=max_length, num_bits=num_bits,
        length_sampling=length_sampling,
    )
    return _dataset(copy_batch, batch_size, seed, num_batches, kwargs)


def repeat_copy_dataset(
    batch_size=32, min_length=1, max_length=10, min_repeats=1, max_repeats=10,
    num_bits=NUM_BITS, seed=0, num_batches=None, length_sampling="batch",
):
    """A `tf.data.Dataset` of `repeat_copy_batch`es; see `copy_dataset`."""
    kwargs = dict(
        min_length=min_length, max_length=max_length, min_repeats=min_repeats,
        max_repeats=max_repeats, num_bits=num_bits, length_sampling=length_sampling,
    )
    return _dataset(repeat_copy_batch, batch_size, seed, num_batches, kwargs)


def associative_recall_dataset(
    batch_size=32, min_items=2, max_items=6, item_length=ITEM_LENGTH,
    num_bits=ASSOCIATIVE_RECALL_BITS, seed=0, num_batches=None,
    length_sampling="batch",
):
    """A `tf.data.Dataset` of `associative_recall_batch`es; see `copy_dataset`."""
    kwargs = dict(
        min_items=min_items, max_items=max_items, item_length=item_length,
        num_bits=num_bits, length_sampling=length_sampling,
    )
    return _dataset(associative_recall_batch, batch_size, seed, num_batches, kwargs)


# -- cost ------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_attention")
class BitsPerSequence(keras.metrics.Metric):
    """The NTM papers' cost: binary cross-entropy in bits, summed per sequence.

    For each sequence, `sum_t w_t sum_k -log2 p(y_tk)` with `w` the sample
    weights (1 in the output phase), averaged over the sequences seen. The
    weights carry the output phase, so compile with
    `weighted_metrics=[BitsPerSequence()]` (Keras gives `metrics` no sample
    weights). Predicted probabilities are clipped to `[1e-7, 1 - 1e-7]`, as
    in `keras.ops.binary_crossentropy`: at most 23.3 bits per wrong bit.

    Args:
        from_logits: the predictions are logits rather than probabilities.
        name, dtype: of the metric.

    Example:

    >>> metric = BitsPerSequence()
    >>> metric.update_state([[[1.0, 0.0]]], [[[0.5, 0.5]]])
    >>> float(metric.result())
    2.0
    """

    def __init__(self, from_logits=False, name="bits_per_sequence", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """y_true and y_pred `[B, T, K]`, sample_weight `[B, T]` (or `None`: all 1)."""
        y_true = keras.ops.cast(y_true, "float32")
        y_pred = keras.ops.cast(y_pred, "float32")
        cost = keras.ops.binary_crossentropy(
            y_true, y_pred, from_logits=self.from_logits
        )  # [B, T, K], in nats
        bits = keras.ops.sum(cost, axis=-1) / math.log(2.0)  # [B, T]
        if sample_weight is not None:
            weight = keras.ops.cast(sample_weight, "float32")
            bits = bits * keras.ops.reshape(weight, keras.ops.shape(bits))
        self.total.assign_add(keras.ops.sum(bits))
        self.count.assign_add(keras.ops.cast(keras.ops.shape(bits)[0], "float32"))

    def result(self):
        return keras.ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def bit_errors(y_true, y_pred, sample_weight=None, from_logits=False):
    """Wrong bits per sequence, `[B]` int: predictions thresholded at 1/2.

    Counts the steps whose `sample_weight` `[B, T]` is positive (all steps
    when `None`); a logit is thresholded at 0.
    """
    y_true = np.asarray(y_true) > 0.5
    y_pred = np.asarray(y_pred) > (0.0 if from_logits else 0.5)
    if y_true.shape != y_pred.shape or y_true.ndim != 3:
        raise ValueError(
            "y_true and y_pred must have the same shape [B, T, K], received "
            f"shapes {y_true.shape} and {y_pred.shape}"
        )
    wrong = (y_true != y_pred).sum(axis=-1)  # [B, T]
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.shape != wrong.shape:
            raise ValueError(
                f"sample_weight must have shape [B, T] = {wrong.shape}, "
                f"received sample_weight.shape={sample_weight.shape}"
            )
        wrong = wrong * (sample_weight > 0)
    return wrong.sum(axis=-1)
