"""Dates in many human formats to ISO 8601: a translation task with a known answer.

Every example is one calendar day between 1900-01-01 and 2099-12-31, written
in one of `FORMATS` and in lower, title or upper case, with its ISO 8601 form
as the target:

    "3 april 2021"              -> "2021-04-03"
    "Apr 3, 2021"               -> "2021-04-03"
    "saturday, april 3rd 2021"  -> "2021-04-03"
    "04/03/2021"                -> "2021-04-03"   slashes: month first (US)
    "03.04.2021"                -> "2021-04-03"   dots: day first (European)
    "2021.04.03"                -> "2021-04-03"   a four-digit year first

The separators say which all-numeric convention a source follows, so every
source has exactly one answer, and years always have four digits. Weekday
names are the true weekday of the date (the model may ignore them).

Examples are drawn with a seeded `numpy.random.Generator`; nothing is
downloaded. Both sides are character level:

- source: `SOURCE_VOCABULARY`, id 0 is padding, one id per character;
  sources are padded on the right to `SOURCE_LENGTH`;
- target: `TARGET_VOCABULARY`, ids 0, 1 and 2 are padding, start and end;
  `TARGET_LENGTH` is the 10 characters of the ISO date plus the end token.

For teacher forcing, `encode_targets` gives the decoder inputs (the start
token, then the target shifted right) and the targets (the characters, then
the end token), both `[N, TARGET_LENGTH]`; `dataset` wraps them in a
`tf.data.Dataset` for `model.fit` with per-token sample weights that leave
padding out of the loss. `task_metadata()` is the `task` dict that
`export.export_tflite` writes for `edge_demo`.

Example:

>>> sources, targets = generate(2, seed=0)
>>> encode_sources(sources).shape, targets[0][4]
((2, 32), '-')
"""

import datetime

import numpy as np

from keras_attention._tensorflow import import_tensorflow

PAD_ID = 0
START_ID = 1
END_ID = 2

SOURCE_CHARACTERS = (
    " ,-./0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
SOURCE_VOCABULARY = ["<pad>"] + list(SOURCE_CHARACTERS)
TARGET_VOCABULARY = ["<pad>", "<s>", "</s>"] + list("0123456789-")

# The longest source, "wednesday, september 30th 2021", has 30 characters.
SOURCE_LENGTH = 32
# "2021-04-03" and the end token.
TARGET_LENGTH = 11

FIRST_DAY = datetime.date(1900, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)

MONTHS = (
    "january february march april may june july august september october "
    "november december"
).split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()

# Fields: d/m day and month without padding, dd/mm zero-padded, Y the year,
# dth the day as an ordinal ("3rd"), month/mon the month's name in full or
# abbreviated, weekday/wd likewise. All-numeric formats are unambiguous by
# their separator: "/" month first, "." and "-" day first unless the year
# leads.
FORMATS = (
    "{d} {month} {Y}",
    "{dd} {mon} {Y}",
    "{month} {d}, {Y}",
    "{mon} {d}, {Y}",
    "{mon} {dd} {Y}",
    "{weekday}, {month} {dth} {Y}",
    "{weekday}, {d} {month} {Y}",
    "{wd} {d} {mon} {Y}",
    "{dth} {month} {Y}",
    "the {dth} of {month}, {Y}",
    "{dd}-{mon}-{Y}",
    "{mm}/{dd}/{Y}",
    "{m}/{d}/{Y}",
    "{dd}.{mm}.{Y}",
    "{d}.{m}.{Y}",
    "{Y}.{mm}.{dd}",
    "{Y}/{mm}/{dd}",
    "{Y}{mm}{dd}",
    "{Y}-{mm}-{dd}",
)
CASES = ("lower", "title", "upper")

_SOURCE_INDEX = {c: i for i, c in enumerate(SOURCE_VOCABULARY) if len(c) == 1}
_TARGET_INDEX = {c: i for i, c in enumerate(TARGET_VOCABULARY) if len(c) == 1}


def _ordinal(day):
    if day in (11, 12, 13):
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(date, fmt, case="lower"):
    """`date` (a `datetime.date`) written in `fmt`, one of `FORMATS`.

    `case` is "lower", "title" (month and weekday names capitalised) or
    "upper".
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of FORMATS, received fmt={fmt!r}")
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, received case={case!r}")
    month = MONTHS[date.month - 1]
    weekday = WEEKDAYS[date.weekday()]
    names = dict(month=month, mon=month[:3], weekday=weekday, wd=weekday[:3])
    if case == "title":
        names = {k: v.capitalize() for k, v in names.items()}
    text = fmt.format(
        d=date.day,
        dd=f"{date.day:02d}",
        dth=_ordinal(date.day),
        m=date.month,
        mm=f"{date.month:02d}",
        Y=f"{date.year:04d}",
        **names,
    )
    return text.upper() if case == "upper" else text


def generate(n, seed):
    """`n` random dates as `(sources, targets)`, two lists of strings.

    The day, the format and the case are drawn uniformly with
    `numpy.random.default_rng(seed)`: the same `n` and `seed` give the same
    examples.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, received n={n!r}")
    rng = np.random.default_rng(seed)
    days = (LAST_DAY - FIRST_DAY).days + 1
    offsets = rng.integers(0, days, size=n)
    formats = rng.integers(0, len(FORMATS), size=n)
    cases = rng.integers(0, len(CASES), size=n)
    sources, targets = [], []
    for offset, fmt, case in zip(offsets, formats, cases):
        date = FIRST_DAY + datetime.timedelta(days=int(offset))
        sources.append(format_date(date, FORMATS[fmt], CASES[case]))
        targets.append(date.isoformat())
    return sources, targets


def _encode(strings, index, length, side):
    ids = np.zeros((len(strings), length), "int32")
    for row, text in enumerate(strings):
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(
                f"{side} {row} ({text!r}) has characters outside the "
                f"{side} vocabulary: {', '.join(map(repr, unknown))}"
            )
        if len(text) > length:
            raise ValueError(
                f"{side} {row} ({text!r}) has {len(text)} characters; at most "
                f"{length} fit"
            )
        ids[row, : len(text)] = [index[c] for c in text]
    return ids


def encode_sources(strings):
    """Source ids `[N, SOURCE_LENGTH]` int32, padded with `PAD_ID`.

    Raises:
        ValueError: naming the string and its characters outside
            `SOURCE_VOCABULARY`, or a string longer than `SOURCE_LENGTH`.
    """
    return _encode(list(strings), _SOURCE_INDEX, SOURCE_LENGTH, "source")


def encode_targets(strings):
    """Teacher-forcing arrays `(decoder_inputs, targets)`, each `[N, TARGET_LENGTH]`.

    `targets` holds the characters' ids then `END_ID`, padded with `PAD_ID`;
    `decoder_inputs` holds `START_ID` then `targets` shifted right by one.
    """
    targets = _encode(list(strings), _TARGET_INDEX, TARGET_LENGTH - 1, "target")
    targets = np.pad(targets, ((0, 0), (0, 1)))  # [N, TARGET_LENGTH]
    lengths = (targets != PAD_ID).sum(axis=1)
    targets[np.arange(len(targets)), lengths] = END_ID
    decoder_inputs = np.full_like(targets, START_ID)
    decoder_inputs[:, 1:] = targets[:, :-1]
    return decoder_inputs, targets


def decode_targets(ids):
    """Strings of target ids `[N, T]`, each up to its first `END_ID`.

    Padding and start ids are dropped.
    """
    strings = []
    for row in np.asarray(ids):
        chars = []
        for i in row:
            if i == END_ID:
                break
            if i > END_ID:
                chars.append(TARGET_VOCABULARY[i])
        strings.append("".join(chars))
    return strings


def arrays(sources, targets):
    """`(inputs, targets, sample_weights)` for `model.fit` of a seq2seq model.

    `inputs` is `{"source": [N, S], "decoder_inputs": [N, T]}`; the sample
    weights `[N, T]` are 1 on real target tokens (the end token included)
    and 0 on padding, which leaves padding out of the loss.
    """
    decoder_inputs, target_ids = encode_targets(targets)
    inputs = {"source": encode_sources(sources), "decoder_inputs": decoder_inputs}
    return inputs, target_ids, (target_ids != PAD_ID).astype("float32")


def dataset(sources, targets, batch_size=64, shuffle=True, seed=0):
    """A `tf.data.Dataset` of `(inputs, targets, sample_weights)` batches.

    See `arrays` for what each holds.
    Shuffled each epoch with `seed` when `shuffle`; the last batch may be
    smaller. A `tf.data` pipeline: it needs TensorFlow installed
    (`pip install 'keras-attention[tensorflow]'`), not the TensorFlow
    backend, since `tf.data` feeds `model.fit` on any Keras backend; without
    TensorFlow, `arrays` gives the same batches' data as numpy.
    """
    tf = import_tensorflow("dates.dataset (a tf.data pipeline)")

    data = tf.data.Dataset.from_tensor_slices(arrays(sources, targets))
    if shuffle:
        data = data.shuffle(len(sources), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def exact_match(predicted, targets):
    """The fraction of `predicted` strings equal to `targets`."""
    predicted, targets = list(predicted), list(targets)
    if len(predicted) != len(targets):
        raise ValueError(
            f"predicted and targets must have the same length, received "
            f"{len(predicted)} and {len(targets)}"
        )
    return float(np.mean([p == t for p, t in zip(predicted, targets)]))


def model_arguments():
    """The vocabulary sizes, lengths and ids that a seq2seq model needs for this task.

    `RNNSeq2Seq(**model_arguments(), units=64)` and the Transformer alike.
    """
    return dict(
        source_vocabulary_size=len(SOURCE_VOCABULARY),
        target_vocabulary_size=len(TARGET_VOCABULARY),
        source_length=SOURCE_LENGTH,
        target_length=TARGET_LENGTH,
        start_id=START_ID,
        end_id=END_ID,
    )


def task_metadata():
    """The metadata's `task` for `edge_demo` (see `edge_demo.runtime.EdgeModel`)."""
    return {
        "kind": "seq2seq",
        "name": "dates to ISO 8601",
        "source_vocabulary": list(SOURCE_VOCABULARY),
        "target_vocabulary": list(TARGET_VOCABULARY),
        "pad_id": PAD_ID,
        "start_id": START_ID,
        "end_id": END_ID,
        "max_target_length": TARGET_LENGTH,
    }
