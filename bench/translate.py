"""Three translation models on Multi30k German-English, and a Transformer-XL LM.

1. SentencePiece vocabularies (unigram, `--vocabulary` pieces per language)
   are trained on the training split and saved in the output folder.
2. The encoder-decoder without attention, RNNsearch and the Transformer
   (`keras_attention.models.translation_model`'s default sizes and
   `compile_translation_model`'s recipes) each train on the training split
   with `model.fit(jit_compile=True)` on length-bucketed batches of about
   `--tokens-per-batch` target tokens, for at most `--minutes` each (whole
   epochs while time remains; the budget is checked after every batch).
3. Each is scored on the validation split with sacrebleu (BLEU and chrF,
   detokenized), greedy and by beam search (`--beam`, length penalty
   `--length-penalty`); training tokens per second are timed with and
   without XLA on the same batches.
4. The translation report (`keras_attention.translation.write_report`):
   BLEU by source length for the three models on one plot, alignment
   heatmaps for chosen sentences.
5. A Transformer-XL language model on the English side, trained with segment
   memory for `--lm-minutes`, and its validation perplexity read segment by
   segment with and without the memory at the same segment length.

The Transformer's schedule is the inverse-square-root warm-up with
`--warmup-steps` 800 and `--learning-rate-scale` 0.5 (a peak of 1.1e-3): an
hour here is about 4,000 steps of 4,096 tokens, where the paper's 4,000
warm-up steps would never reach the peak. Each model's row and weights are
kept in `--out` (`<model>/bench_row.json`, and `language_model.json`) and a
later run reuses them instead of training again (`--retrain` to start
over), so the three hours can be run one model at a time. `--models` names
the parts to run: some of `seq2seq`, `rnnsearch`, `transformer` and
`language-model`. The JSON (`--json`) keeps the rows of the parts a run
left out from the file it replaces, so `--models transformer --json
bench/results/translate.json` on one day and `--models rnnsearch` on the
next fill one table; each row names the run that measured it (date,
machine, matmul peak, command), and `table` holds the flat rows the docs
show.

Goals (issue 7), each model trained for at most 60 minutes on a 2-core
machine: Transformer at least 36 BLEU, RNNsearch at least 30, the model
without attention far below both; int8 on the device within 1 BLEU of float.
The device columns are greedy BLEU of the exported `encode` / `decode_step`
model run by `edge_demo` on LiteRT (float32, dynamic range, int8 with
activation ranges from the 0.9 quantile of the calibration samples' extremes,
`--range-quantile`, and int8 with the converter's min/max ranges), the Keras
greedy column's counterpart.

    python bench/translate.py [--quick] [--minutes 60] [--data ../shared/data/multi30k]
                              [--models seq2seq,rnnsearch,transformer,language-model]
                              [--out bench/results/translate] [--json FILE]
"""

import argparse
import json
import os
import platform
import sys
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import INT8_VARIANTS, bench_module, emit_json  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attention import translation as translation_tools  # noqa: E402
from keras_attention.data import multi30k, subwords, translation  # noqa: E402
from keras_attention.models import decoding, transformer_xl  # noqa: E402
from keras_attention.models import translation_models  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
# int8_minmax: the converter's own activation ranges; the INT8_VARIANTS
# leave the ops whose int8 kernels are slow in float (bench/_load.py).
DEVICE_MODES = ["float32", "dynamic", "int8", "int8_minmax", *INT8_VARIANTS]
# Validation sentences each mode translates, in turn, to time the device.
SPEED_SENTENCES = 200
LANGUAGE_MODEL = "language-model"
PARTS = (*translation_models.KINDS, LANGUAGE_MODEL)
DEFAULT_DATA = os.path.join(_HERE, "..", "..", "shared", "data", "multi30k")


class Budget(keras.callbacks.Callback):
    """Stops `fit` once `seconds` have passed; records the time and steps."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.steps = seconds, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

    def elapsed(self):
        return time.perf_counter() - self.start


def _bleu(result):
    return "-" if result is None else f"{result['bleu']:.2f}"


def tokens_per_second(build, compile_model, batches, jit_compile, repeats=3):
    """Target tokens per second of training steps on `batches` (after a warm-up)."""
    model = compile_model(build(), jit_compile=jit_compile)
    for inputs, targets, weights in batches[:2]:
        model.train_on_batch(inputs, targets, sample_weight=weights)
    best = 0.0
    for _ in range(repeats):
        start, tokens = time.perf_counter(), 0
        for inputs, targets, weights in batches:
            model.train_on_batch(inputs, targets, sample_weight=weights)
            tokens += float(np.sum(weights))
        best = max(best, tokens / (time.perf_counter() - start))
    return best


def device_bleu(translator, out_dir, kind, train_sources, sources, references, modes,
                range_quantile):
    """Greedy BLEU of the exported model on LiteRT (edge_demo), per mode.

    `int8` takes its activation ranges from the `range_quantile` quantile of
    the calibration samples' extremes; `int8_minmax` is the converter's own
    ranges (overall min and max), for comparison; `int8_float_attention` and
    `int8_dense` are `int8` with their `INT8_VARIANTS` ops left in float.
    """
    from edge_demo.runtime import load

    results, devices = {}, {}
    for mode in modes:
        path = os.path.join(out_dir, f"{kind}_{mode}.tflite")
        translator.export_tflite(
            path, mode="int8" if mode.startswith("int8") else mode,
            calibration_sentences=train_sources[:64],
            range_quantile=(range_quantile if mode in ("int8", *INT8_VARIANTS) else None),
            float_ops=INT8_VARIANTS.get(mode),
        )
        devices[mode] = load(path)
        start = time.perf_counter()
        hypotheses = [devices[mode].translate(sentence).text for sentence in sources]
        results[mode] = dict(
            **translation_tools.evaluate(hypotheses, references),
            kib=os.path.getsize(path) / 1024,
            pass_sentences_per_second=len(sources) / (time.perf_counter() - start),
        )
        print(f"  {kind} on LiteRT, {mode}: {results[mode]}", flush=True)
    for mode, speed in device_speed(devices, sources[:SPEED_SENTENCES]).items():
        results[mode]["sentences_per_second"] = speed
    print(f"  {kind} on LiteRT, sentences per second, interleaved: "
          + ", ".join(f"{m} {r['sentences_per_second']:.1f}" for m, r in results.items()),
          flush=True)
    return results


def device_speed(devices, sentences, rounds=3):
    """Sentences per second of each file, the modes timed in turn on every
    sentence, so that a change in the machine's speed (other load, clock)
    reaches them alike; the median of `rounds` passes over `sentences`.

    A separate pass per mode, one after the other, varied by up to 1.5x
    between files that run the same kernels."""
    passes = {mode: [] for mode in devices}
    for round_index in range(rounds):
        seconds = dict.fromkeys(devices, 0.0)
        order = list(devices)
        for i, sentence in enumerate(sentences):
            shift = (round_index + i) % len(order)  # who goes first rotates
            for mode in order[shift:] + order[:shift]:
                start = time.perf_counter()
                devices[mode].translate(sentence)
                seconds[mode] += time.perf_counter() - start
        for mode in devices:
            passes[mode].append(len(sentences) / seconds[mode])
    return {mode: float(np.median(speeds)) for mode, speeds in passes.items()}


def train_language_model(args, quick, minutes, train_ids, validation_ids, vocabulary_size):
    """Transformer-XL on the English side; validation perplexity with and without memory."""
    stream = transformer_xl.token_stream(train_ids)
    val_stream = transformer_xl.token_stream(validation_ids)
    lm_sizes = (dict(hidden_dim=64, num_heads=2, intermediate_dim=128, num_blocks=2)
                if quick else dict(hidden_dim=256, num_heads=4, intermediate_dim=1024,
                                   num_blocks=4))
    keras.utils.set_random_seed(args.seed)
    lm_batch = 16
    lm = transformer_xl.TransformerXL(
        vocabulary_size, batch_size=lm_batch,
        memory_length=args.memory_length, **lm_sizes)
    lm.compile(keras.optimizers.Adam(5e-4),
               keras.losses.SparseCategoricalCrossentropy(from_logits=True),
               jit_compile=True)
    budget = Budget(minutes * 60)
    lm.fit(transformer_xl.language_model_dataset(stream, lm_batch, args.segment_length),
           epochs=10_000, shuffle=False,
           callbacks=[transformer_xl.ResetMemory(), budget], verbose=2)
    return dict(
        parameters=lm.count_params(), train_minutes=budget.elapsed() / 60,
        steps=budget.steps, segment_length=args.segment_length,
        memory_length=args.memory_length,
        perplexity_with_memory=transformer_xl.perplexity(
            lm, val_stream, args.segment_length, use_memory=True),
        perplexity_without_memory=transformer_xl.perplexity(
            lm, val_stream, args.segment_length, use_memory=False),
    )


def flat_row(row):
    """The docs' row of one translation model's bench row."""
    flat = dict(model=row["model"], parameters=row["parameters"],
                train_minutes=row["train_minutes"], steps=row["steps"],
                bleu_greedy=row["greedy"]["bleu"], bleu_beam=row["beam"]["bleu"],
                chrf_beam=row["beam"]["chrf"])
    for mode in DEVICE_MODES:
        found = row.get("device", {}).get(mode)
        flat[f"device_{mode}"] = None if found is None else found["bleu"]
    flat.update(tokens_per_second_xla=row["tokens_per_second_xla"],
                tokens_per_second_no_xla=row["tokens_per_second_no_xla"])
    run = row.get("run") or {}
    # The peak beside the speeds is that of the run that timed them
    # (`--speed-again`'s, where one did).
    timed = row.get("speed_run") or run
    flat.update(matmul_peak_gflops=timed.get("matmul_peak_gflops"), date=run.get("date"),
                speed_date=timed.get("date"), device_date=_device_date(row))
    return flat


def _device_date(row):
    """When `row`'s device columns were measured: by `--export-again`'s run
    where one did, else by the run that trained the model."""
    return (row.get("device_run") or row.get("run") or {}).get("date")


def device_rows(row):
    """The docs' rows of one model's device columns: one per export mode."""
    found = []
    for mode in DEVICE_MODES:
        result = row.get("device", {}).get(mode)
        if result is None:
            continue
        interleaved = "pass_sentences_per_second" in result
        found.append(dict(
            model=row["model"], mode=mode, bleu=result["bleu"], kib=result["kib"],
            sentences_per_second=result["sentences_per_second"],
            timing=(f"interleaved, {SPEED_SENTENCES} sentences" if interleaved
                    else "one pass over the validation set"),
            date=_device_date(row)))
    return found


def merged_report(report, path):
    """`report`, with the models, language model and BLEU-by-length curves
    it did not measure taken from the JSON at `path` where there is one,
    and the flat rows the docs show: `table` from the merged models (in
    `PARTS` order), `device_table` (a row per model and export mode),
    `language_model_table` from the language model."""
    old = {}
    if path and os.path.exists(path):
        with open(path) as file:
            old = json.load(file)
    measured = {row["model"] for row in report["models"]}
    rows = [row for row in old.get("models", []) if row["model"] not in measured]
    rows = sorted(rows + report["models"], key=lambda row: PARTS.index(row["model"]))
    by_length = {k: v for k, v in old.get("by_length", {}).items() if k not in measured}
    merged = dict(report, models=rows, by_length={**by_length, **report["by_length"]},
                  table=[flat_row(row) for row in rows],
                  device_table=[flat for row in rows for flat in device_rows(row)])
    if merged.get("language_model") is None:
        merged["language_model"] = old.get("language_model")
    lm = merged["language_model"]
    if lm:
        run = lm.get("run") or {}
        merged["language_model_table"] = [dict(
            {k: v for k, v in lm.items() if k != "run"},
            matmul_peak_gflops=run.get("matmul_peak_gflops"), date=run.get("date"))]
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a check that it runs: 2,000 pairs, tiny models, "
                        "a minute each")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--out", default=os.path.join(_HERE, "results", "translate"))
    parser.add_argument("--json")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and LiteRT's log lines")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training budget per model (default 60)")
    parser.add_argument("--lm-minutes", type=float, default=None,
                        help="Transformer-XL budget (default 20)")
    parser.add_argument("--models", default=",".join(PARTS),
                        help=f"the parts to run, some of {', '.join(PARTS)}; the JSON "
                        "keeps the others' rows from the file it replaces")
    parser.add_argument("--vocabulary", type=int, default=8000)
    parser.add_argument("--tokens-per-batch", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--segment-length", type=int, default=32)
    parser.add_argument("--memory-length", type=int, default=64)
    parser.add_argument("--warmup-steps", type=int, default=800,
                        help="the Transformer's warm-up (the library default, "
                        "4000, is for 100,000-step runs; an hour here is ~4,000 steps)")
    parser.add_argument("--learning-rate-scale", type=float, default=0.5,
                        help="scale on the Transformer's schedule (peak 1.1e-3 "
                        "with the defaults)")
    parser.add_argument("--range-quantile", type=float, default=0.9,
                        help="int8 activation ranges from this quantile of the "
                        "calibration samples' extremes (export.ranges); chosen on "
                        "training sentences, not the validation set")
    parser.add_argument("--retrain", action="store_true",
                        help="train every model again, even one whose results "
                        "an earlier run saved in --out")
    parser.add_argument("--export-again", action="store_true",
                        help="export the models an earlier run trained (in --out) "
                        "again and measure their device columns with this code; "
                        "the training and the host's figures stay")
    parser.add_argument("--speed-again", action="store_true",
                        help="for a model trained by an earlier run: time its training "
                             "steps again (tok/s with and without XLA) with this code")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    quick = args.quick
    minutes = args.minutes if args.minutes is not None else (1.0 if quick else 60.0)
    lm_minutes = args.lm_minutes if args.lm_minutes is not None else (0.5 if quick else 20.0)
    parts = [part.strip() for part in args.models.split(",") if part.strip()]
    if not parts or not set(parts) <= set(PARTS):
        parser.error(f"--models must name some of {', '.join(PARTS)}, "
                     f"received {args.models!r}")
    kinds = [part for part in parts if part != LANGUAGE_MODEL]
    os.makedirs(args.out, exist_ok=True)

    attention = bench_module("attention")
    peak = attention.matmul_peak_gflops()
    machine = dict(processor=platform.processor() or platform.machine(), cores=os.cpu_count())
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s, "
          f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    run = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine=machine,
               matmul_peak_gflops=peak, minutes=minutes, quick=quick,
               command=" ".join(["bench/translate.py", *sys.argv[1:]]))

    train_de, train_en = multi30k.load_multi30k("train", path=args.data)
    val_de, val_en = multi30k.load_multi30k("validation", path=args.data)
    if quick:
        train_de, train_en = train_de[:2000], train_en[:2000]
        val_de, val_en = val_de[:100], val_en[:100]
    vocabulary = 1000 if quick else args.vocabulary
    source_tokenizer = subwords.SubwordTokenizer.train(train_de, vocabulary)
    target_tokenizer = subwords.SubwordTokenizer.train(train_en, vocabulary)
    source_tokenizer.save(os.path.join(args.out, "de.model"))
    target_tokenizer.save(os.path.join(args.out, "en.model"))
    source_ids = source_tokenizer.encode(train_de)
    target_ids = target_tokenizer.encode(train_en)
    length = args.max_length
    _, _, dropped = translation.filter_by_length(source_ids, target_ids, length, length)
    print(f"{len(train_de)} training pairs ({dropped} longer than {length} pieces left "
          f"out), {len(val_de)} validation pairs; vocabularies "
          f"{source_tokenizer.vocabulary_size} de, {target_tokenizer.vocabulary_size} en")
    train_data = translation.translation_dataset(
        source_ids, target_ids, tokens_per_batch=args.tokens_per_batch,
        bucket_boundaries="auto", max_source_length=length, max_target_length=length,
        seed=args.seed,
    )
    timing_batches = list(train_data.take(8))

    rows, translators = [], {}

    def measure_device(row, translator, kind):
        """The device columns of `row`, measured and saved with it."""
        row["device"] = device_bleu(translator, args.out, kind, train_de, val_de, val_en,
                                    ["dynamic"] if quick else DEVICE_MODES,
                                    args.range_quantile)
        row["range_quantile"] = args.range_quantile
        with open(os.path.join(args.out, kind, "bench_row.json"), "w") as file:
            json.dump(row, file, indent=2)
    for kind in kinds:
        sizes = {}
        if quick:
            sizes = (dict(hidden_dim=64, num_heads=2, intermediate_dim=128,
                          num_encoder_blocks=1, num_decoder_blocks=1)
                     if kind == "transformer" else dict(units=64, embedding_dim=64))

        def build(kind=kind, sizes=sizes):
            keras.utils.set_random_seed(args.seed)
            return translation_models.translation_model(
                kind, source_tokenizer.vocabulary_size, target_tokenizer.vocabulary_size,
                source_length=length, target_length=length, **sizes)

        def compile_model(model, jit_compile=True, kind=kind):
            rate = None
            if kind == "transformer":
                rate = translation_models.InverseSquareRootSchedule(
                    model.hidden_dim, args.warmup_steps, scale=args.learning_rate_scale)
            return translation_models.compile_translation_model(
                model, learning_rate=rate, jit_compile=jit_compile)

        saved = os.path.join(args.out, kind)
        row_path = os.path.join(saved, "bench_row.json")
        if os.path.exists(row_path) and not args.retrain:
            # An earlier run trained and scored this model: reuse it (one
            # model per run fits a session; --retrain starts over).
            translators[kind] = translation_tools.Translator.load(saved)
            with open(row_path) as file:
                row = json.load(file)
            print(f"\n{kind}: results of an earlier run, from {row_path}", flush=True)
            if not quick and (args.export_again
                              or row.get("range_quantile") != args.range_quantile):
                # Exported again with this run's code and int8 settings; the
                # training and the host's figures stay those of row["run"].
                row["device_run"] = run
                measure_device(row, translators[kind], kind)
            if args.speed_again:
                # The training steps timed again with this run's code (a
                # fresh model of the kind, the same batches); the rest of
                # the row stays that of row["run"].
                row["tokens_per_second_xla"] = tokens_per_second(
                    build, compile_model, timing_batches, True)
                row["tokens_per_second_no_xla"] = tokens_per_second(
                    build, compile_model, timing_batches, False)
                row["speed_run"] = run
                print(f"{kind}: {row['tokens_per_second_xla']:.0f} tok/s with XLA, "
                      f"{row['tokens_per_second_no_xla']:.0f} without", flush=True)
                with open(row_path, "w") as file:
                    json.dump(row, file, indent=2)
            rows.append(row)
            continue

        model = compile_model(build())
        print(f"\n{kind}: {model.count_params():,} parameters", flush=True)
        budget = Budget(minutes * 60)
        history = model.fit(train_data, epochs=10_000, callbacks=[budget], verbose=2)
        train_seconds = budget.elapsed()
        translator = translation_tools.Translator(model, source_tokenizer, target_tokenizer)
        translators[kind] = translator
        source = translator.source_ids(val_de)
        greedy = target_tokenizer.decode(decoding.greedy_search(model, source))
        start = time.perf_counter()
        beam = translator.translate(val_de, beam_size=args.beam,
                                    length_penalty=args.length_penalty)
        beam_seconds = time.perf_counter() - start
        row = dict(
            model=kind, parameters=model.count_params(),
            train_minutes=train_seconds / 60, steps=budget.steps,
            epochs=len(history.history["loss"]),
            final_loss=float(history.history["loss"][-1]),
            tokens_per_second_xla=tokens_per_second(build, compile_model, timing_batches, True),
            tokens_per_second_no_xla=tokens_per_second(
                build, compile_model, timing_batches, False),
            greedy=translation_tools.evaluate(greedy, val_en),
            beam=translation_tools.evaluate(beam, val_en),
            beam_sentences_per_second=len(val_de) / beam_seconds,
            run=run,
        )
        translator.save(os.path.join(args.out, kind))
        measure_device(row, translator, kind)
        rows.append(row)
        print(json.dumps(row), flush=True)

    report = translation_tools.write_report(
        translators, val_de, val_en, os.path.join(args.out, "report"),
        examples=(0, 1, 2), beam_size=args.beam, length_penalty=args.length_penalty,
    ) if translators else {}

    # Transformer-XL on the English side.
    lm_path = os.path.join(args.out, "language_model.json")
    lm_row = None  # not run: merged_report keeps the JSON's
    if LANGUAGE_MODEL in parts and os.path.exists(lm_path) and not args.retrain:
        with open(lm_path) as file:
            lm_row = json.load(file)
        print(f"\nTransformer-XL: results of an earlier run, from {lm_path}")
    elif LANGUAGE_MODEL in parts:
        lm_row = train_language_model(args, quick, lm_minutes, target_ids,
                                      target_tokenizer.encode(val_en),
                                      target_tokenizer.vocabulary_size)
        lm_row["run"] = run
        with open(lm_path, "w") as file:
            json.dump(lm_row, file, indent=2)

    result = merged_report(
        dict(last_run=run, settings=vars(args),
             models=rows, language_model=lm_row,
             by_length={k: v["by_length"] for k, v in report.items()}),
        args.json)
    print(f"\nfloat32 matmul peak (2048^3): {peak:.1f} GFLOP/s on "
          f"{machine['processor']}, {machine['cores']} cores")
    print(f"Multi30k de->en, validation {len(val_de)} sentences; budget {minutes:g} min "
          f"per model; beam {args.beam}, length penalty {args.length_penalty}"
          + (f"; rows of earlier runs from {args.json}" if args.json else ""))
    print(f"{'model':<12}{'params':>11}{'min':>6}{'epochs':>7}{'tok/s XLA':>11}"
          f"{'tok/s':>9}{'BLEU greedy':>13}{'BLEU beam':>11}{'chrF beam':>11}"
          f"{'device BLEU f32/dyn/int8/min-max/float attention/dense':>56}  run")
    for row in result["models"]:
        print(f"{row['model']:<12}{row['parameters']:>11,}{row['train_minutes']:>6.1f}"
              f"{row['epochs']:>7}{row['tokens_per_second_xla']:>11.0f}"
              f"{row['tokens_per_second_no_xla']:>9.0f}{row['greedy']['bleu']:>13.2f}"
              f"{row['beam']['bleu']:>11.2f}{row['beam']['chrf']:>11.2f}"
              + f"{' / '.join(_bleu(row['device'].get(m)) for m in DEVICE_MODES):>56}"
              + f"  {(row.get('run') or {}).get('date', '-')}")
    lm_row = result["language_model"]
    if lm_row:
        print(f"\nTransformer-XL LM (English), {lm_row['parameters']:,} parameters, "
              f"{lm_row['train_minutes']:.1f} min: validation perplexity at segment length "
              f"{lm_row['segment_length']}: {lm_row['perplexity_with_memory']:.2f} with "
              f"{lm_row['memory_length']} positions of memory, "
              f"{lm_row['perplexity_without_memory']:.2f} without")
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
