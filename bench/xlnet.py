"""XLNet against a left-to-right Transformer-XL and a masked LM (issue 18).

1. Both sides: sequences of 5 tokens over V=8 (`FULL`) where the middle
   token is `(left + right) mod V` of its neighbours and the other two are
   random, and a control of fully random sequences. Each model
   trains on each for `--steps` steps (batches of `--batch-size`), then
   fills the middle of held-out sequences from everything it may see
   (`keras_attention.models.gap_filling`): XLNet from both sides through
   its query stream, the masked LM from both sides through a mask token,
   the left-to-right model from its left. Expected: XLNet and the masked
   LM near 1 on the rule, the left-to-right model near 1/V, every model
   near 1/V on the control (nothing sees its own target).
2. Training tokens per second of each model on the same batches of 32
   tokens, with and without XLA (`model.fit`, after a warm-up epoch that compiles).
3. Gap filling on Multi30k's English side: a SentencePiece vocabulary
   learned from the training captions, each model trained with
   `fit(jit_compile=True)` on the same rows for the same number of steps,
   then a span of 1, 2 or 3 tokens hidden in the middle of every
   validation caption and predicted (token accuracy, and the perplexity
   of the hidden tokens). The masked LM fills each hidden token on its
   own, so its perplexity is a pseudo-perplexity. XLNet's `fill` signature
   is then exported in float32, dynamic range and int8 and run by
   `edge_demo` on the same gaps (device token accuracy per mode).

The float32 matmul peak of bench/attention.py is printed first, for
comparing machines. `--parts` picks the sections (all by default). The
Multi30k captions come from `--data` (default ../shared/data/multi30k) or,
where that folder is missing, are downloaded once into the cache.

    python bench/xlnet.py [--quick] [--parts 1,2,3] [--steps 3000]
        [--multi30k-steps 4000] [--eval-every 0] [--data ../shared/data/multi30k]
        [--json bench/results/xlnet.json]
"""

import argparse
import os
import platform
import sys
import tempfile
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import bench_module, emit_json, keep_other_parts  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from edge_demo import load as load_edge_model  # noqa: E402
from keras_attention.data import multi30k, subwords  # noqa: E402
from keras_attention.gap_filler import GapFiller  # noqa: E402
from keras_attention.models import (  # noqa: E402
    MaskedLM, MaskedLMDataset, PermutationLMDataset, TransformerXL, XLNetLM,
)
from keras_attention.models.gap_filling import gap_logits, gap_scores  # noqa: E402

KINDS = ("xlnet", "left_to_right", "masked")
# Part 1's rows are 5 tokens: a random one, left, middle, right, a random
# one. In longer rows no model found the rule in two passes (2,048 steps;
# the runs at T=8, one pass): at T=32,
# V=16 XLNet filled 0.067 of the middles and the masked LM 0.064 (chance
# 0.062); XLNet 0.256 at T=6, V=8; the masked LM 0.515 at T=8, V=4 in
# one pass. The rule is a table of V^2 pairs that the models find slowly
# where it hides among many random tokens; at T=5, V=8 XLNet fills 0.81
# after two passes and 0.99 after three.
# Part 2 times rows of `speed_length`.
FULL = dict(length=5, vocabulary=8, hidden_dim=128, num_heads=4, num_blocks=3,
            batch_size=64, steps=3072, test=1000, speed_length=32)
QUICK = dict(length=5, vocabulary=4, hidden_dim=32, num_heads=2, num_blocks=2,
             batch_size=64, steps=300, test=400, speed_length=16)
# Multi30k: `length` tokens per caption (start and end ids included; the
# longer ones are left out), `vocabulary` SentencePiece pieces, `train` and
# `test` captions at most.
MULTI30K_FULL = dict(length=32, vocabulary=4000, hidden_dim=128, num_heads=4, num_blocks=3,
                     batch_size=64, steps=4000, dropout=0.1, train=29_000, test=1_014,
                     gaps=(1, 2, 3))
MULTI30K_QUICK = dict(length=24, vocabulary=400, hidden_dim=32, num_heads=2, num_blocks=1,
                      batch_size=32, steps=60, train=2_000, test=100, gaps=(1, 2, 3))
_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(_HERE, "..", "..", "shared", "data", "multi30k")


def sequences(count, length, vocabulary, rule, seed):
    """Random tokens; with `rule`, the middle is (left + right) mod V."""
    x = np.random.default_rng(seed).integers(0, vocabulary, (count, length)).astype("int32")
    if rule:
        m = length // 2
        x[:, m] = (x[:, m - 1] + x[:, m + 1]) % vocabulary
    return x


def build(kind, settings):
    keras.utils.set_random_seed(0)
    v, dim = settings["vocabulary"], settings["hidden_dim"]
    sizes = dict(hidden_dim=dim, num_heads=settings["num_heads"],
                 intermediate_dim=4 * dim, num_blocks=settings["num_blocks"],
                 dropout=settings.get("dropout", 0.0))
    if kind == "xlnet":
        return XLNetLM(v, **sizes)
    if kind == "masked":
        return MaskedLM(v + 1, max_length=settings["length"], **sizes)  # id V: the mask
    return TransformerXL(v, batch_size=settings["batch_size"], memory_length=0, **sizes)


def training_data(kind, train, settings, padding_mask=None):
    """What `fit` takes: a dataset, or `(x, y)` arrays for the left-to-right model."""
    b, v = settings["batch_size"], settings["vocabulary"]
    if kind == "xlnet":
        return dict(x=PermutationLMDataset(train, padding_mask, batch_size=b, seed=0,
                                           max_span_length=settings.get("max_span_length", 1)))
    if kind == "masked":  # id V is the mask; random replacements from [0, V)
        return dict(x=MaskedLMDataset(train, v, v, padding_mask, batch_size=b, seed=0))
    weights = None if padding_mask is None else padding_mask[:, 1:].astype("float32")
    return dict(x=train[:, :-1], y=train[:, 1:], sample_weight=weights, batch_size=b)


class GapCurve(keras.callbacks.Callback):
    """Gap-filling scores every `every` steps of training (`fill_gaps` on
    the validation rows): `points`, a list of `{steps, accuracy,
    perplexity}`. Its own time is in `seconds`, left out of the training
    time."""

    def __init__(self, every, steps_per_epoch, rows, settings):
        super().__init__()
        self.every_epochs = max(1, round(every / steps_per_epoch))
        self.steps_per_epoch, self.rows, self.settings = steps_per_epoch, rows, settings
        self.epochs, self.points, self.seconds = 0, [], 0.0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1  # across the two fits of `train`
        if self.epochs % self.every_epochs:
            return
        start = time.perf_counter()
        scores = fill_gaps(self.model, self.rows, self.settings)["all"]
        self.points.append(dict(steps=self.epochs * self.steps_per_epoch,
                                accuracy=scores["accuracy"], perplexity=scores["perplexity"]))
        self.seconds += time.perf_counter() - start
        print(f"  {self.points[-1]['steps']:>6} steps: accuracy "
              f"{scores['accuracy']:.3f}, perplexity {scores['perplexity']:.1f}", flush=True)


def train(kind, train_set, settings, jit_compile, steps, padding_mask=None, curve_rows=None):
    model = build(kind, settings)
    model.compile(optimizer=keras.optimizers.Adam(
                      keras.optimizers.schedules.CosineDecay(
                          settings.get("learning_rate", 1e-3), steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    # Whole batches only: every step has the same shape (one compilation),
    # and an epoch is the data once (`steps_per_epoch` below the data's
    # batches would make Keras cut every other epoch short).
    per_epoch = len(train_set) // settings["batch_size"]
    rows = per_epoch * settings["batch_size"]
    data = training_data(kind, train_set[:rows], settings,
                         None if padding_mask is None else padding_mask[:rows])
    epochs = max(1, steps // per_epoch)
    every = settings.get("eval_every")
    curve = GapCurve(every, per_epoch, curve_rows, settings) if every and curve_rows else None
    callbacks = [curve] if curve else []
    start = time.perf_counter()
    model.fit(**data, epochs=1, verbose=0, callbacks=callbacks)  # compiles
    warm = time.perf_counter()
    first = curve.seconds if curve else 0.0
    if epochs > 1:
        model.fit(**data, epochs=epochs - 1, verbose=0, callbacks=callbacks)
    done = time.perf_counter()
    # The curve's evaluations are not training time.
    later = (curve.seconds if curve else 0.0) - first
    tokens = (epochs - 1) * per_epoch * settings["batch_size"] * settings["length"]
    timing = dict(
        seconds=done - start - first - later, first_epoch_seconds=warm - start - first,
        tokens_per_second=tokens / (done - warm - later) if epochs > 1 else None,
        steps=epochs * per_epoch,
    )
    if curve:
        timing["curve"] = curve.points
    return model, timing


def middle_accuracy(model, test, settings):
    logits = gap_logits(model, test, settings["length"] // 2, 1,
                        mask_token_id=settings["vocabulary"])
    return gap_scores(logits, test[:, settings["length"] // 2 : settings["length"] // 2 + 1])


def multi30k_rows(settings, path):
    """The English captions as rows: `(tokenizer, train, test)`, each of
    `train` and `test` the dict of `SubwordTokenizer.pack`."""
    train_en = multi30k.load_multi30k("train", path=path)[1][: settings["train"]]
    test_en = multi30k.load_multi30k("validation", path=path)[1][: settings["test"]]
    tokenizer = subwords.SubwordTokenizer.train(train_en, settings["vocabulary"])
    # Pieces, not the requested size: a small corpus may not fill it.
    settings["vocabulary"] = tokenizer.vocabulary_size
    train_rows = tokenizer.pack(train_en, settings["length"])
    test_rows = tokenizer.pack(test_en, settings["length"])
    return tokenizer, train_rows, test_rows, train_en, len(test_en)


def gap_rows(rows, length):
    """The captions with room for a gap of `length` (a token on each side),
    the gap's start in each, and the hidden tokens."""
    lengths = rows["padding_mask"].sum(1)
    fits = lengths >= length + 2
    tokens, mask = rows["token_ids"][fits], rows["padding_mask"][fits]
    start = (lengths[fits] - length) // 2
    targets = np.take_along_axis(tokens, start[:, None] + np.arange(length), 1)
    return tokens, mask, start, targets


def device_gaps(model, tokenizer, rows, settings, calibration):
    """XLNet's `fill` signature exported in each mode and run by edge_demo
    (LiteRT, no TensorFlow) on the same gaps: token accuracy, the hidden
    tokens before each one given (as `gap_scores` measures), and size."""
    filler = GapFiller(model, tokenizer, settings["length"])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("float32", "dynamic", "int8"):
            path = os.path.join(folder, f"xlnet_{mode}.tflite")
            filler.export_tflite(path, mode, calibration_sentences=calibration)
            device = load_edge_model(path)
            correct = total = 0
            for length in settings["gaps"]:
                tokens, mask, start, targets = gap_rows(rows, length)
                for row, real, first, target in zip(tokens, mask, start, targets):
                    gap = np.zeros_like(row)
                    gap[first : first + length] = 1
                    out = device.run("fill", token_ids=row[None],
                                     padding_mask=real[None].astype("int32"),
                                     gap_mask=gap[None])["probabilities"][0]
                    correct += int((out[first : first + length].argmax(-1) == target).sum())
                    total += length
            results[mode] = dict(accuracy=correct / total, tokens=total,
                                 bytes=os.path.getsize(path))
    return results


def fill_gaps(model, rows, settings):
    """Scores of each gap length, and of all together: a span of `L`
    tokens in the middle of each caption, between its start and end ids."""
    scores, every_logit, every_target = {}, [], []
    for length in settings["gaps"]:
        tokens, mask, start, targets = gap_rows(rows, length)
        logits = gap_logits(model, tokens, start, length, mask,
                            mask_token_id=settings["vocabulary"])
        scores[f"gap_{length}"] = gap_scores(logits, targets)
        every_logit.append(logits.reshape(-1, 1, logits.shape[-1]))
        every_target.append(targets.reshape(-1, 1))
    scores["all"] = gap_scores(np.concatenate(every_logit), np.concatenate(every_target))
    return scores


def summary_row(kind, scores, timing):
    """One model's figures: flat columns first (the docs' table), then
    every score and timing as measured."""
    flat = {f"accuracy_gap_{key.split('_')[1]}": value["accuracy"]
            for key, value in scores.items() if key.startswith("gap_")}
    return dict(model=kind, accuracy=scores["all"]["accuracy"],
                perplexity=scores["all"]["perplexity"], **flat,
                minutes=timing["seconds"] / 60, scores=scores, **timing)


def multi30k_gaps(settings, path):
    tokenizer, train_rows, test_rows, train_en, read_test = multi30k_rows(settings, path)
    read = len(train_en)
    t, b = settings["length"], settings["batch_size"]
    print(f"\n3. Gap filling on Multi30k English: {len(train_rows['kept'])} of {read} "
          f"training and {len(test_rows['kept'])} of {read_test} validation captions fit "
          f"T={t}; {settings['vocabulary']} SentencePiece pieces; {settings['steps']} steps "
          f"of {b}, width {settings['hidden_dim']}, {settings['num_blocks']} blocks, XLA")
    gaps = settings["gaps"]
    print(f"{'model':<16}" + "".join(f"{f'acc L={n}':>10}" for n in gaps)
          + f"{'accuracy':>10}{'perplexity':>12}{'minutes':>9}")
    rows = []
    for kind in settings.get("models", KINDS):
        model, timing = train(kind, train_rows["token_ids"], settings, True,
                              settings["steps"], train_rows["padding_mask"],
                              curve_rows=test_rows)
        scores = fill_gaps(model, test_rows, settings)
        rows.append(summary_row(kind, scores, timing))
        print(f"{kind:<16}" + "".join(f"{scores[f'gap_{n}']['accuracy']:>10.3f}" for n in gaps)
              + f"{scores['all']['accuracy']:>10.3f}{scores['all']['perplexity']:>12.1f}"
              f"{timing['seconds'] / 60:>9.1f}", flush=True)
        if kind == "xlnet":
            xlnet = model
    if "xlnet" not in settings.get("models", KINDS):
        return rows, []
    device = device_gaps(xlnet, tokenizer, test_rows, settings, train_en[:256])
    print("\nXLNet's fill signature on the device (edge_demo, LiteRT), the same gaps:")
    print(f"{'mode':<10}{'accuracy':>10}{'bytes':>12}")
    for mode, figures in device.items():
        print(f"{mode:<10}{figures['accuracy']:>10.3f}{figures['bytes']:>12}")
    return rows, [dict(mode=mode, **figures) for mode, figures in device.items()]


def both_sides(settings):
    n, t, v = settings["steps"] * settings["batch_size"], settings["length"], settings["vocabulary"]
    print(f"\n1. Both sides: T={t}, V={v} (chance {1 / v:.3f}), {settings['steps']} steps of "
          f"{settings['batch_size']}, width {settings['hidden_dim']}, "
          f"{settings['num_blocks']} blocks, XLA")
    print(f"{'model':<16}{'rule: middle':>14}{'random: middle':>16}{'minutes':>9}")
    rows = []
    for kind in KINDS:
        row = {}
        for data_name, rule in (("rule", True), ("random", False)):
            train_set = sequences(min(n, 65536), t, v, rule, seed=0)
            test = sequences(settings["test"], t, v, rule, seed=1)
            model, timing = train(kind, train_set, settings, True, settings["steps"])
            row[data_name] = {**middle_accuracy(model, test, settings), **timing}
        minutes = (row["rule"]["seconds"] + row["random"]["seconds"]) / 60
        # Flat columns first (the docs' table), then everything measured.
        rows.append(dict(model=kind, rule_accuracy=row["rule"]["accuracy"],
                         random_accuracy=row["random"]["accuracy"], chance=1 / v,
                         minutes=minutes, **row))
        print(f"{kind:<16}{row['rule']['accuracy']:>14.3f}{row['random']['accuracy']:>16.3f}"
              f"{minutes:>9.1f}", flush=True)
    return rows


def speed(settings):
    settings = dict(settings, length=settings["speed_length"])
    t, v = settings["length"], settings["vocabulary"]
    print(f"\n2. Training tokens per second (the same batches of {t} tokens; after a first "
          "epoch that compiles)")
    print(f"{'model':<16}{'tokens/s':>12}{'XLA tokens/s':>14}")
    rows = []
    timing_steps = max(4 * (4096 // settings["batch_size"]), 16)
    for kind in KINDS:
        train_set = sequences(4096, t, v, True, seed=2)
        figures = {jit: train(kind, train_set, settings, jit, timing_steps)[1]
                   for jit in (False, True)}
        rows.append(dict(model=kind, tokens_per_second=figures[False]["tokens_per_second"],
                         xla_tokens_per_second=figures[True]["tokens_per_second"]))
        print(f"{kind:<16}{figures[False]['tokens_per_second']:>12.0f}"
              f"{figures[True]['tokens_per_second']:>14.0f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--parts", default="1,2,3",
                        help="the sections to run, of 1 (both sides), 2 (speed), 3 (Multi30k)")
    parser.add_argument("--steps", type=int, help="training steps per model and data set")
    parser.add_argument("--multi30k-steps", type=int, help="training steps per model on Multi30k")
    parser.add_argument("--models", default=",".join(KINDS),
                        help=f"Multi30k: the models to train, of {', '.join(KINDS)}")
    parser.add_argument("--max-span-length", type=int, default=1,
                        help="Multi30k: XLNet's targets in spans of up to this many "
                             "tokens (default 1, single tokens)")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="Multi30k: also score the gaps about every this many "
                             "training steps (whole epochs), a learning curve per "
                             "model (default 0: at the end only)")
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="the Multi30k folder (default ../shared/data/multi30k; "
                             "downloaded into the cache if it is missing)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's and absl's log lines")
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",")}
    if not parts or not parts <= {"1", "2", "3"}:
        parser.error(f"--parts must name some of 1, 2 and 3, received {args.parts!r}")
    settings = dict(QUICK if args.quick else FULL)
    text_settings = dict(MULTI30K_QUICK if args.quick else MULTI30K_FULL)
    if args.steps:
        settings["steps"] = args.steps
    if args.multi30k_steps:
        text_settings["steps"] = args.multi30k_steps
    models = [m.strip() for m in args.models.split(",")]
    if not models or not set(models) <= set(KINDS):
        parser.error(f"--models must name some of {', '.join(KINDS)}, received {args.models!r}")
    if args.max_span_length < 1:
        parser.error(f"--max-span-length must be >= 1, received {args.max_span_length}")
    if args.eval_every < 0:
        parser.error(f"--eval-every must be >= 0, received {args.eval_every}")
    text_settings.update(models=models, max_span_length=args.max_span_length,
                         eval_every=args.eval_every)
    data = args.data if os.path.isdir(args.data) else None
    peak = bench_module("attention").matmul_peak_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Keras {keras.__version__} ({keras.backend.backend()})")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    machine = dict(processor=platform.processor() or platform.machine(), cores=os.cpu_count())
    report = dict(machine=machine, matmul_peak_gflops=peak, settings=settings)
    if "1" in parts:
        report["both_sides"] = both_sides(settings)
    if "2" in parts:
        report["speed"] = speed(settings)
    if "3" in parts:
        report["multi30k"], report["multi30k_device"] = multi30k_gaps(text_settings, data)
        report["multi30k_settings"] = text_settings
        report["multi30k_curve"] = [dict(model=row["model"], **point)
                                    for row in report["multi30k"]
                                    for point in row.get("curve", ())]
    run = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine=machine,
               matmul_peak_gflops=peak, command=" ".join(["bench/xlnet.py", *sys.argv[1:]]))
    report["runs"] = {part: dict(run, sections=list(PART_KEYS[part])) for part in sorted(parts)}
    emit_json(keep_other_parts(report, args.json, parts, PART_KEYS), args.json)


# What each part writes into the report.
PART_KEYS = {"1": ("both_sides",), "2": ("speed",),
             "3": ("multi30k", "multi30k_device", "multi30k_settings", "multi30k_curve")}


if __name__ == "__main__":
    main()
