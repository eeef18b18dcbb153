"""The XLNet family of the tour: a permutation LM fills a gap from both sides.

The sentences come from the calendar, nothing downloaded: a day in words,
then the same day in ISO 8601 (`date_sentences`):

    "saturday, february 15th 2070 = 2070-02-15"

An `XLNetLM` learns them with the permutation objective
(`PermutationLMDataset`, `model.fit(jit_compile=True)`) over a SentencePiece
BPE vocabulary learned from the training sentences. The task is the gap:
the month's word hidden, `"saturday, ___ 15th 2070 = 2070-02-15"`. The words
on its left are at most a weekday and the day, which rarely say which month
it is; the ISO date on its right always does. XLNet's query stream at the gap sees
both sides, which is what the permutation objective buys over a
left-to-right model.

The model is exported with its `fill` signature (`GapFiller.export_tflite`:
the tokenizer beside the file) in float32, dynamic range and int8, and every
file fills the held-out gaps from text on the device runtime (`edge_demo`:
numpy, SentencePiece and LiteRT), as `python -m edge_demo xlnet_int8.tflite
--text "saturday, ___ 15th 2070 = 2070-02-15"` does. Accuracy is the share
of held-out sentences whose month comes out exactly. The picture is both
streams' attention on one sentence in a random factorization order that
ends with the month.
"""

import datetime
import os
import sys
import time

import keras
import numpy as np

import edge_demo
from keras_attention import plotting
from keras_attention.data import dates, subwords
from keras_attention.gap_filler import GapFiller
from keras_attention.models import PermutationLMDataset, XLNetLM
from keras_attention.data.permutation_lm import perm_mask_from_order
from keras_attention_export import default_mode
from keras_attention.tour.result import ModelResult

NAME = "xlnet"
MODEL_NAME = "xlnet dates"
# The date formats that name the month in full as a word of its own (lower
# case): the gap is that word. Numbers only on the left, or a weekday.
FORMATS = (
    "{d} {month} {Y}",
    "{month} {d}, {Y}",
    "{weekday}, {month} {dth} {Y}",
    "{weekday}, {d} {month} {Y}",
    "{dth} {month} {Y}",
)
# BPE rather than unigram: on these number-heavy sentences a unigram
# vocabulary of this size spells the months letter by letter; BPE makes
# each month one piece. The longest sentence is 12 pieces, 14 with the
# start and end ids.
VOCABULARY_SIZE = 300
SEQUENCE_LENGTH = 16
BATCH_SIZE = 64
MODEL = dict(hidden_dim=64, num_heads=4, intermediate_dim=128, num_blocks=2, dropout=0.0)
LEARNING_RATE = 2e-3
# Training sentences (whole batches), epochs, held-out sentences filled in
# Keras and on the device, and sentences that calibrate the int8 export.
FULL = dict(train=256 * BATCH_SIZE, epochs=6, test=200, calibration=64)
QUICK = dict(train=48 * BATCH_SIZE, epochs=3, test=40, calibration=16)
MODES = ("float32", "dynamic", "int8")
SHOWN = ("saturday,", "february", "15th 2070 = 2070-02-15")

# The report's notes on this family (`tour.report`): (topic, text) pairs.
NOTES = [
    ("Latency",
     "the median of one call of the fill signature (a whole sentence of "
     f"{SEQUENCE_LENGTH} pieces in, the distribution at every position out, "
     "batch 1) over every held-out gap filled on the device; a gap of L "
     "pieces takes L calls."),
    ("Accuracy",
     "the share of held-out sentences whose hidden month comes out exactly, "
     "filled from text: 'saturday, ___ 15th 2070 = 2070-02-15'. Only the "
     "right side, the ISO date, always says which month: the left holds at "
     "most a weekday and the day, so a left-to-right model is little better "
     "than 1/12 (bench/xlnet.py compares the two on Multi30k)."),
    ("Default export",
     "float32: the model's own default. The device column is int8, which "
     "keeps the months right here."),
    ("Pictures",
     "both streams' attention in the last block, heads averaged, on one "
     "sentence in a random factorization order that ends with the month, as "
     "a gap is filled; rows and columns sorted by that order, grey where the "
     "order blocks. The content stream sees its own piece and everything "
     "before it (a triangle with its diagonal), the query stream everything "
     "before it and never its own piece (no diagonal); the month's row, the "
     "last, shows which pieces of both sides it was filled from."),
]


def date_sentences(n, seed):
    """`n` sentences `(left, month, right)`: the sentence is
    `f"{left} {month} {right}"`, e.g. `("saturday,", "february",
    "15th 2070 = 2070-02-15")`. Days, formats drawn with
    `numpy.random.default_rng(seed)`."""
    rng = np.random.default_rng(seed)
    days = (dates.LAST_DAY - dates.FIRST_DAY).days + 1
    sentences = []
    for offset, fmt in zip(rng.integers(0, days, n), rng.integers(0, len(FORMATS), n)):
        day = dates.FIRST_DAY + datetime.timedelta(days=int(offset))
        month = dates.MONTHS[day.month - 1]
        text = f"{dates.format_date(day, FORMATS[fmt])} = {day.isoformat()}"
        left, _, right = f" {text}".partition(f" {month} ")  # the month may lead
        sentences.append((left.lstrip(), month, right))
    return sentences


def _join(left, middle, right):
    return " ".join(part for part in (left, middle, right) if part)


def train(model, rows, settings):
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    whole = len(rows["token_ids"]) // BATCH_SIZE * BATCH_SIZE  # one shape for XLA
    data = PermutationLMDataset(rows["token_ids"][:whole], rows["padding_mask"][:whole],
                                batch_size=BATCH_SIZE, seed=0)
    start = time.perf_counter()
    history = model.fit(data, epochs=settings["epochs"],
                        verbose=1 if sys.stdout.isatty() else 2)
    return history.history, time.perf_counter() - start


def fill_all(fill, tokenizer, sentences):
    """`(accuracy, pieces per sentence, call_ms)` of `fill(text, gap_length)
    -> (pieces, call_ms)` on every sentence `(left, month, right)`, its
    month hidden: the share whose month's pieces come out exactly."""
    filled, call_ms, right = [], [], 0
    for left, month, rest in sentences:
        truth = [tokenizer.id_to_piece(i) for i in tokenizer.encode(month, add_end=False)]
        pieces, times = fill(_join(left, "___", rest), len(truth))
        filled.append(list(pieces))
        call_ms.extend(times)
        right += list(pieces) == truth
    return right / len(sentences), filled, call_ms


def keras_fill(filler):
    """`GapFiller.fill` as `fill_all` takes it (untimed)."""
    return lambda text, gap_length: (filler.fill(text, gap_length)["pieces"], [])


def device_fill(device):
    """`EdgeModel.fill` as `fill_all` takes it, with each call's time."""
    def fill(text, gap_length):
        filled = device.fill(text, gap_length)
        return filled.pieces, filled.call_ms
    return fill


def two_streams_picture(model, tokenizer, parts, path, seed=0):
    """Both streams' attention (last block, heads averaged) on the sentence
    of `parts` (`(left, month, right)`) in a random factorization order that
    ends with the month, as a gap is filled; rows and columns sorted by it."""
    left, month, right = ([] if not part else tokenizer.encode(part, add_end=False)
                          for part in parts)
    ids = [subwords.START_ID, *left, *month, *right, subwords.END_ID]
    size = len(ids)
    gap = list(range(1 + len(left), 1 + len(left) + len(month)))
    rest = np.random.default_rng(seed).permutation(
        [i for i in range(size) if i not in gap])
    order = np.concatenate([rest, gap])
    # Every position is a target: row i's blocked columns are those at or
    # after it in the order.
    perm_mask = perm_mask_from_order(order, size, size)[None]
    inputs = {"token_ids": np.array([ids], "int32"), "perm_mask": perm_mask,
              "target_mapping": np.eye(size, dtype="float32")[None]}
    content, query = model.attention_weights(inputs)
    labels = [f"{tokenizer.id_to_piece(ids[i])} ({i})" for i in order]
    blocked = perm_mask[0][np.ix_(order, order)] > 0
    colours = plotting.colormap("viridis", bad="#d0d7de")  # grey: blocked, exactly 0
    figure, axes = plotting.subplots(1, 2, figsize=(12, 5.6))
    for axis, weights, hidden, title in (
        (axes[0], content, blocked & ~np.eye(size, dtype=bool),
         "content stream h: its own piece and everything before"),
        (axes[1], query, blocked,
         "query stream g: everything before, never its own piece"),
    ):
        shown = np.ma.masked_where(
            hidden, weights[0, -1].mean(axis=0)[np.ix_(order, order)])
        image = axis.imshow(shown, cmap=colours, vmin=0.0, aspect="auto")
        axis.set_xticks(range(size), labels, fontsize=7, rotation=90)
        axis.set_yticks(range(size), labels, fontsize=7)
        axis.set_xlabel("attends to (piece, position), in the factorization order")
        axis.set_ylabel("position predicted, in the order")
        axis.set_title(title, fontsize=9)
        plotting.colorbar(figure, image, axis, "attention weight")
    figure.suptitle(f"XLNet's two streams, last block, heads averaged, in an order "
                    f"that ends with the month (grey: blocked by the order): "
                    f"{_join(*parts)!r}", fontsize=10)
    plotting.save(figure, path)
    return path


def run(out_dir, quick):
    settings = QUICK if quick else FULL
    os.makedirs(out_dir, exist_ok=True)
    train_parts = date_sentences(settings["train"], seed=1)
    test_parts = date_sentences(settings["test"], seed=3)
    train_text = [_join(*parts) for parts in train_parts]
    tokenizer = subwords.SubwordTokenizer.train(train_text, VOCABULARY_SIZE,
                                                model_type="bpe")
    rows = tokenizer.pack(train_text, SEQUENCE_LENGTH)
    keras.utils.set_random_seed(0)
    model = XLNetLM(tokenizer.vocabulary_size, **MODEL)
    filler = GapFiller(model, tokenizer, SEQUENCE_LENGTH)
    # Built before counting: the first fill makes the weights.
    filler.fill(_join("", "___", test_parts[0][2]))
    print(f"\n--- {MODEL_NAME}: {model.count_params():,} parameters, "
          f"{tokenizer.vocabulary_size} BPE pieces, {len(rows['kept'])} of "
          f"{len(train_text)} sentences fit T={SEQUENCE_LENGTH}", flush=True)
    history, seconds = train(model, rows, settings)
    keras_accuracy, keras_pieces, _ = fill_all(keras_fill(filler), tokenizer, test_parts)
    sizes, latency, device_pieces, device_accuracy = {}, {}, None, None
    for mode in MODES:
        path = os.path.join(out_dir, f"xlnet_{mode}.tflite")
        filler.export_tflite(path, mode,
                             calibration_sentences=train_text[: settings["calibration"]])
        sizes[mode] = os.path.getsize(path)
        device = edge_demo.load(path)
        accuracy, pieces, call_ms = fill_all(device_fill(device), tokenizer, test_parts)
        latency[mode] = float(np.median(call_ms))
        if mode == "int8":
            device_accuracy, device_pieces = accuracy, pieces
            text = _join(SHOWN[0], "___", SHOWN[2])
            shown = device.fill(text, len(tokenizer.encode(SHOWN[1], add_end=False)))
            print(f"int8 on the device: {text!r} -> {shown.text!r} "
                  f"(p={shown.probabilities[0]:.2f})", flush=True)
    agreement = float(np.mean([a == b for a, b in zip(device_pieces, keras_pieces)]))
    picture = two_streams_picture(model, tokenizer, SHOWN,
                                  os.path.join(out_dir, "xlnet_two_streams.png"))
    result = ModelResult(
        family=NAME,
        name=MODEL_NAME,
        parameters=model.count_params(),
        keras_accuracy=keras_accuracy,
        device_accuracy=device_accuracy,
        device_agreement=agreement,
        sizes=sizes,
        latency_ms=latency,
        history={k: [float(v) for v in vs] for k, vs in history.items()},
        pictures=[os.path.basename(picture)],
        metric="months filled exactly",
        train_seconds=seconds,
        default_mode=default_mode(model),
    )
    print(f"{MODEL_NAME}: months filled {keras_accuracy:.3f} in Keras, "
          f"{device_accuracy:.3f} on the device (int8), agreement {agreement:.3f}",
          flush=True)
    return [result]
