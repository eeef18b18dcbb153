"""Parallel text as `tf.data` input for the seq2seq models, with length buckets.

Sentences arrive as id lists that end with the end id
(`SubwordTokenizer.encode`). `translation_dataset` pairs them into teacher
forcing batches, the form every `keras_attention.models` seq2seq model trains
on:

- inputs `{"source": [B, S], "decoder_inputs": [B, T]}`, the decoder inputs
  being the start id then the target shifted right;
- targets `[B, T]`, the target ids, end id included;
- sample weights `[B, T]` float32, 1 on real target tokens and 0 on
  padding, so that padding is left out of the loss (the padding mask).

Padding is id 0 everywhere. Pairs are grouped by length into buckets
(`tf.data.Dataset.bucket_by_sequence_length`) so that a batch of short
sentences is not padded to the longest sentence of the corpus; with
`pad_to_bucket_boundary` every batch of a bucket has the same shape, so an
XLA-compiled train step compiles once per bucket. Without buckets every
batch is padded to the maximum lengths, one static shape.

`pad_ids` pads (and, if asked, truncates) id lists for inference.

`translation_dataset` is a `tf.data` pipeline: it needs TensorFlow installed
(`pip install 'keras-attention[tensorflow]'`), not the TensorFlow backend,
since `tf.data` feeds `model.fit` on any Keras backend. `pad_ids` needs numpy
only.

Example:

>>> data = translation_dataset([[5, 6, 2], [7, 2]], [[8, 2], [9, 9, 2]],
...                            batch_size=2, shuffle=False, max_source_length=4,
...                            max_target_length=4)
>>> inputs, targets, weights = next(iter(data))
>>> inputs["source"].numpy().tolist(), targets.numpy().tolist()
([[5, 6, 2, 0], [7, 2, 0, 0]], [[8, 2, 0, 0], [9, 9, 2, 0]])
>>> inputs["decoder_inputs"].numpy().tolist()
[[1, 8, 0, 0], [1, 9, 9, 0]]
"""

import numpy as np

from keras_attention._tensorflow import import_tensorflow
from keras_attention.data.subwords import END_ID, PAD_ID, START_ID

DEFAULT_BUCKET_BOUNDARIES = (8, 12, 16, 20, 24, 32, 40, 48, 64)


def _check_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, received {name}={value!r}")


def _check_id_lists(name, ids):
    ids = list(ids)
    for index, row in enumerate(ids):
        if isinstance(row, str) or not hasattr(row, "__len__"):
            raise ValueError(
                f"{name} must be a list of id lists, received "
                f"{type(row).__name__} at index {index}"
            )
        if len(row) == 0:
            raise ValueError(
                f"{name}[{index}] is empty: every sequence ends with the end id "
                f"{END_ID} (SubwordTokenizer.encode adds it)"
            )
    return [list(map(int, row)) for row in ids]


def filter_by_length(source_ids, target_ids, max_source_length, max_target_length):
    """The pairs whose source and target both fit: `(sources, targets, dropped)`."""
    kept_sources, kept_targets = [], []
    for source, target in zip(source_ids, target_ids):
        if len(source) <= max_source_length and len(target) <= max_target_length:
            kept_sources.append(source)
            kept_targets.append(target)
    return kept_sources, kept_targets, len(source_ids) - len(kept_sources)


def pad_ids(ids, length, truncate=False):
    """Id lists as an int32 array `[N, length]`, padded with 0 at the end.

    Args:
        ids: a list of id lists.
        length: the padded length.
        truncate: cut longer lists to `length`, keeping the end id as the
            last one (the model then sees a sentence that ends early);
            when False a longer list raises `ValueError`.
    """
    _check_positive_int("length", length)
    rows = []
    for index, row in enumerate(_check_id_lists("ids", ids)):
        if len(row) > length:
            if not truncate:
                raise ValueError(
                    f"ids[{index}] has {len(row)} ids, more than length={length}; "
                    "pass truncate=True to cut it"
                )
            row = row[: length - 1] + [END_ID]
        rows.append(row + [PAD_ID] * (length - len(row)))
    return np.asarray(rows, "int32").reshape(len(rows), length)


def translation_dataset(
    source_ids,
    target_ids,
    batch_size=64,
    tokens_per_batch=None,
    max_source_length=64,
    max_target_length=64,
    bucket_boundaries=None,
    pad_to_bucket_boundary=True,
    shuffle=True,
    seed=0,
    start_id=START_ID,
):
    """Teacher-forcing batches `(inputs, targets, sample_weights)`; see the module.

    Args:
        source_ids, target_ids: aligned lists of id lists, each ending with
            the end id.
        batch_size: pairs per batch (every bucket), unless `tokens_per_batch`.
        tokens_per_batch: instead of `batch_size`, about this many padded
            target positions per batch: a bucket of length `L` gets
            `tokens_per_batch // L` pairs (at least 1).
        max_source_length, max_target_length: longer pairs are left out
            (`filter_by_length` says how many), and without buckets every
            batch is padded to these.
        bucket_boundaries: increasing lengths; a pair whose longer side has
            `n` ids goes to the first bucket whose boundary exceeds `n`.
            `"auto"` uses `DEFAULT_BUCKET_BOUNDARIES` up to the maximum
            lengths; None makes no buckets (one static shape).
        pad_to_bucket_boundary: pad a bucket's batches to its boundary minus
            one (one shape per bucket) rather than to their longest pair.
        shuffle: reshuffle the pairs every epoch with `seed` (before
            bucketing); False keeps their order.
        seed: of the shuffle.
        start_id: the first decoder input.

    Returns:
        A `tf.data.Dataset`; its batches repeat only if you `.repeat()` it.
    """
    tf = import_tensorflow("translation_dataset (a tf.data pipeline)")

    sources = _check_id_lists("source_ids", source_ids)
    targets = _check_id_lists("target_ids", target_ids)
    if len(sources) != len(targets):
        raise ValueError(
            "source_ids and target_ids must be aligned, received "
            f"{len(sources)} and {len(targets)} sequences"
        )
    _check_positive_int("max_source_length", max_source_length)
    _check_positive_int("max_target_length", max_target_length)
    if tokens_per_batch is None:
        _check_positive_int("batch_size", batch_size)
    else:
        _check_positive_int("tokens_per_batch", tokens_per_batch)
    sources, targets, _ = filter_by_length(
        sources, targets, max_source_length, max_target_length
    )
    if not sources:
        raise ValueError(
            "no pair fits max_source_length="
            f"{max_source_length} and max_target_length={max_target_length}"
        )
    longest = max(max_source_length, max_target_length)
    if isinstance(bucket_boundaries, str):
        if bucket_boundaries != "auto":
            raise ValueError(
                "bucket_boundaries must be a list of lengths, 'auto' or None, "
                f"received bucket_boundaries={bucket_boundaries!r}"
            )
        bucket_boundaries = [b for b in DEFAULT_BUCKET_BOUNDARIES if b <= longest]
    if bucket_boundaries is not None:
        bucket_boundaries = list(bucket_boundaries)
        if not bucket_boundaries or any(
            not isinstance(b, (int, np.integer)) or b < 2 for b in bucket_boundaries
        ) or sorted(set(bucket_boundaries)) != bucket_boundaries:
            raise ValueError(
                "bucket_boundaries must be increasing ints >= 2, received "
                f"bucket_boundaries={bucket_boundaries!r}"
            )
        # Every pair must fall below the last boundary.
        if bucket_boundaries[-1] <= longest:
            bucket_boundaries.append(longest + 1)

    decoder_inputs = [[start_id] + target[:-1] for target in targets]
    data = tf.data.Dataset.from_tensor_slices(
        (
            tf.ragged.constant(sources, dtype=tf.int32),
            tf.ragged.constant(decoder_inputs, dtype=tf.int32),
            tf.ragged.constant(targets, dtype=tf.int32),
        )
    )
    if shuffle:
        data = data.shuffle(len(sources), seed=seed, reshuffle_each_iteration=True)

    def to_example(source, decoder_input, target):
        weights = tf.ones_like(target, dtype=tf.float32)
        return {"source": source, "decoder_inputs": decoder_input}, target, weights

    data = data.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)

    if bucket_boundaries is None:
        lengths = {"source": max_source_length, "decoder_inputs": max_target_length}
        shapes = (lengths, max_target_length, max_target_length)
        if tokens_per_batch is not None:
            batch_size = max(1, tokens_per_batch // max_target_length)
        data = data.padded_batch(batch_size, padded_shapes=shapes)
    else:
        if tokens_per_batch is None:
            sizes = [batch_size] * (len(bucket_boundaries) + 1)
        else:
            sizes = [
                max(1, tokens_per_batch // max(1, b - 1))
                for b in bucket_boundaries + [bucket_boundaries[-1] + 1]
            ]

        def length(inputs, target, weights):
            return tf.maximum(tf.shape(inputs["source"])[0], tf.shape(target)[0])

        data = data.bucket_by_sequence_length(
            length,
            bucket_boundaries=bucket_boundaries,
            bucket_batch_sizes=sizes,
            pad_to_bucket_boundary=pad_to_bucket_boundary,
        )
        # Without tf.data's autotuning thread. Behind group_by_window (TF
        # 2.21), that thread is not woken when the iterator is deleted: the
        # deletion waits out its sleep, which doubles up to a minute while a
        # fit runs (measured: 6 to 10 s at the end of a 15 s fit, in 2 fits
        # out of 3). The map and the prefetch still size themselves (every
        # core; the prefetch buffer grows while the consumer waits).
        options = tf.data.Options()
        options.autotune.enabled = False
        data = data.with_options(options)
    return data.prefetch(tf.data.AUTOTUNE)
