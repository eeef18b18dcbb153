"""The Neural Turing Machine against an LSTM on copy and associative recall.

1. Copy: the NTM of Collier and Beel (memory 128 x 20, one read and one
   write head, LSTM controller of 100 units, constant memory
   initialisation, Adam 1e-3, gradient values clipped to 50, batches of 32,
   `jit_compile=True`; `ntm_models.ntm_model` and `compile_task_model`'s
   defaults) and an LSTM baseline train on sequences of 1 to 20 vectors of
   8 bits, one length per batch as Collier and Beel draw them
   (`--length-sampling example` draws one per sequence), each until its cost on fixed validation batches of the same
   lengths falls to 0.1 bits per sequence or its budget (`--minutes`) is
   spent. Reported: wall time and training steps to reach 0.1 bits per
   sequence (or where it stood at the budget), then the cost in bits per
   sequence and the share of exact copies at lengths 20, 40, 60, 80 and
   120 (Graves et al. report the NTM generalising to about 120, Collier and
   Beel a degradation past about 36).
2. Associative recall: both trained on 2 to 6 items of 3 vectors of 6 bits
   (budget `--recall-minutes` each), tested on 6 and on 12 items.
3. Time per step, forward and backward inside `keras.layers.RNN` (B=32,
   T=41, a length-20 copy), of `NTMCell` against `keras.layers.LSTMCell`
   of the controller's 100 units and of the baseline's 256, with and
   without XLA, timed round robin, and the NTM's ratio to its controller
   alone under XLA (issue 21's goal: at most 3x).
4. The NTM's time per step under XLA as its memory grows, N = 128 to
   4,096 rows of 20, beside `LSTMCell(100)` in the same run.

The float32 matmul peak of bench/attention.py is printed first, for
comparing machines. `--tasks` runs some parts (copy, recall, timing,
sweep); the JSON keeps the others' figures from the file, with the run
that measured each part (`runs`: its date, command, machine and peak).

The LSTM baseline is one layer of 256 units by default (`--lstm-layers`):
Graves et al.'s 3 x 256 (`lstm_model`'s default) takes 410 ms a step under
XLA on a 2-core machine, eight times the NTM's 51 ms, so in the same budget
it would see an eighth of the batches; 1 x 256 takes 48 ms, and both
models see about as many batches.

Goals (issue 6): NTM copy under 0.1 bits per sequence at length 20 within
30 minutes on a 2-core machine; error-free copies at length 40 and at most
1 bit per sequence at 80; the LSTM visibly worse past the training lengths.
Prints a table and JSON (`--json`). The full run takes up to
`2 * minutes + 2 * recall_minutes` plus about 5 minutes of evaluation and
timing: at most 85 minutes with the defaults, less when the models reach
the target early (each stops there unless `--keep-training`).

    python bench/ntm.py [--quick] [--minutes 30] [--recall-minutes 10]
                        [--tasks copy,recall,timing,sweep] [--json bench/results/ntm.json]
"""

import argparse
import os
import platform
import sys
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import bench_module, emit_json, recorded_report  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attention.data import ntm_tasks  # noqa: E402
from keras_attention.layers.ntm_cell import NTMCell  # noqa: E402
from keras_attention.models import ntm_models  # noqa: E402

TARGET_BITS = 0.1
COPY_LENGTHS = (1, 20)
COPY_TEST_LENGTHS = (20, 40, 60, 80, 120)
RECALL_ITEMS = (2, 6)
RECALL_TEST_ITEMS = (6, 12)
VALIDATION_BATCHES = 4
MEMORY_SIZES = (128, 256, 512, 1024, 2048, 4096)  # part 4's N
# --tasks, and each part's sections of the report (its key first, then the
# flat table the docs render, where it has one).
PART_SECTIONS = {"copy": ("copy", "copy_table"), "recall": ("recall", "recall_table"),
                 "timing": ("step_time", "step_time_table"), "sweep": ("memory_sweep",)}
PART_KEYS = {task: sections[0] for task, sections in PART_SECTIONS.items()}
TASKS = tuple(PART_KEYS)
RUN_KEYS = ("date", "command", "machine", "matmul_peak_gflops")
LSTM_100 = "LSTMCell 100"  # the NTM's controller alone, the step time's yardstick
NTM = dict(memory_size=128, memory_width=20, controller_units=100)


class Budget(keras.callbacks.Callback):
    """Stops training when the budget is spent, or (unless `keep_training`)
    when the validation cost first reaches `target`; records the curve."""

    def __init__(self, seconds, target, keep_training=False):
        super().__init__()
        self.seconds, self.target, self.keep_training = seconds, target, keep_training
        self.steps, self.reached, self.curve = 0, None, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.elapsed() > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        bits = float(logs["val_bits_per_sequence"])
        self.curve.append(dict(steps=self.steps, seconds=self.elapsed(), bits=bits))
        print(f"  {self.steps:>6} steps {self.elapsed() / 60:6.1f} min: "
              f"{bits:8.3f} bits per sequence (validation)", flush=True)
        if self.reached is None and bits <= self.target:
            self.reached = dict(steps=self.steps, seconds=self.elapsed())
            if not self.keep_training:
                self.model.stop_training = True


def train(model, task, minutes, args, **task_arguments):
    ntm_models.compile_task_model(
        model, optimizer=args.optimizer, learning_rate=args.learning_rate
    )
    budget = Budget(minutes * 60, TARGET_BITS, args.keep_training)
    ntm_models.train_task_model(
        model, task, steps=10**9, steps_per_epoch=args.check_every, seed=args.seed,
        validation_batches=VALIDATION_BATCHES, callbacks=[budget], **task_arguments,
    )
    last = budget.curve[-1]
    return dict(
        steps=budget.steps,
        minutes=budget.elapsed() / 60,
        final_bits=last["bits"],
        reached=budget.reached is not None,
        steps_to_target=None if budget.reached is None else budget.reached["steps"],
        minutes_to_target=(
            None if budget.reached is None else budget.reached["seconds"] / 60
        ),
        curve=budget.curve,
    )


def evaluate(model, batch):
    """Bits per sequence, share of exact sequences and wrong bits per sequence."""
    inputs, targets, weights = batch
    logits = np.asarray(model.predict(inputs, verbose=0, batch_size=len(inputs)))
    metric = ntm_tasks.BitsPerSequence(from_logits=True)
    metric.update_state(targets, logits, weights)
    errors = ntm_tasks.bit_errors(targets, logits, weights, from_logits=True)
    return dict(
        bits=float(metric.result()),
        exact=float(np.mean(errors == 0)),
        wrong_bits=float(np.mean(errors)),
    )


def _models(task, title, args, lstm_label):
    """The NTM and the LSTM baseline for `task`, each freshly seeded:
    `(name, model, row)` with the row started."""
    widths = ntm_models.task_widths(task)
    layers = args.lstm_layers
    for name, build in [
        ("ntm", lambda: ntm_models.ntm_model(*widths, **NTM)),
        (lstm_label, lambda: ntm_models.lstm_model(*widths, num_layers=layers)),
    ]:
        if name.split()[0] not in args.models.split(","):
            continue
        keras.utils.set_random_seed(args.seed)
        model = build()
        print(f"\n{title}, {name}: {model.count_params():,} parameters", flush=True)
        yield name, model, dict(model=name, parameters=model.count_params())


def bench_copy(args, lstm_label):
    low, high = COPY_LENGTHS
    rows = []
    for name, model, row in _models("copy", "copy", args, lstm_label):
        row.update(
            train(model, "copy", args.minutes, args, min_length=low, max_length=high,
                  length_sampling=args.length_sampling)
        )
        row["tests"] = {
            length: evaluate(
                model, ntm_tasks.copy_batch(args.test_sequences, length, length,
                                            seed=1000 + length)
            )
            for length in COPY_TEST_LENGTHS
        }
        rows.append(row)
    return rows


def bench_recall(args, lstm_label):
    low, high = RECALL_ITEMS
    rows = []
    for name, model, row in _models(
        "associative_recall", "associative recall", args, lstm_label
    ):
        row.update(
            train(model, "associative_recall", args.recall_minutes, args,
                  min_items=low, max_items=high, length_sampling=args.length_sampling)
        )
        row["tests"] = {
            items: evaluate(
                model, ntm_tasks.associative_recall_batch(
                    args.test_sequences, items, items, seed=2000 + items
                )
            )
            for items in RECALL_TEST_ITEMS
        }
        rows.append(row)
    return rows


def _step_ms(attention, cells, jits, repeats, batch=32, steps=41):
    """`{(key, jit): ms}` per step, forward and backward, of each cell of
    `cells` in an RNN over a length-20 copy's inputs, timed round robin."""
    x = tf.random.normal((batch, steps, ntm_models.task_widths("copy")[0]))
    calls = {}
    for key, cell in cells.items():
        rnn = keras.layers.RNN(cell, return_sequences=True)
        rnn(x)
        for jit in jits:
            step = attention._train_step(rnn, rnn.trainable_variables, jit)
            calls[(key, jit)] = lambda step=step: [g.numpy() for g in step(x)]
    seconds = attention._interleaved_medians(calls, repeats)
    return {key: s * 1e3 / steps for key, s in seconds.items()}


def bench_step_time(attention, repeats):
    """Milliseconds per step, forward and backward, of each cell in an RNN."""
    cells = {
        "NTMCell 128x20, LSTM 100": NTMCell(8, **NTM),
        LSTM_100: keras.layers.LSTMCell(100),
        "LSTMCell 256": keras.layers.LSTMCell(256),
    }
    return [dict(cell=name, jit_compile=jit, ms_per_step=ms)
            for (name, jit), ms in _step_ms(attention, cells, (False, True), repeats).items()]


def bench_memory_sweep(attention, repeats, sizes=MEMORY_SIZES):
    """Milliseconds per step, forward and backward under XLA, of the NTM
    cell at each memory size N (the rest as `NTM`), beside `LSTMCell(100)`,
    its controller alone, timed round robin in the same run."""
    cells = {size: NTMCell(8, **dict(NTM, memory_size=size)) for size in sizes}
    cells["lstm"] = keras.layers.LSTMCell(NTM["controller_units"])
    ms = {key: value for (key, _), value in _step_ms(attention, cells, (True,), repeats).items()}
    lstm = ms.pop("lstm")
    rows, previous = [], None
    for size, step in ms.items():
        row = dict(memory_size=size, memory_width=NTM["memory_width"], xla_ms_per_step=step,
                   lstm_xla_ms_per_step=lstm, over_lstm=step / lstm)
        if previous is not None:
            row["growth"] = step / previous[1]
            row["size_growth"] = size / previous[0]
        rows.append(row)
        previous = (size, step)
    return rows


def with_parts(report, figures, recorded):
    """`report` with each part's figures and run.

    `figures` holds the parts this run measured (`PART_KEYS`' values); the
    others come from `recorded`, the JSON of earlier runs. `runs` (as
    docs/hooks.py reads it) names, per part, the run that measured it: its
    date, command, machine and matmul peak, and its sections.
    """
    this_run = {key: report[key] for key in RUN_KEYS}
    report = dict(report, runs={})
    for task, key in PART_KEYS.items():
        sections = list(PART_SECTIONS[task])
        if key in figures:
            report[key] = figures[key]
            report["runs"][task] = dict(this_run, sections=sections)
            continue
        report[key] = recorded.get(key, [])
        if report[key]:
            report["runs"][task] = recorded.get("runs", {}).get(task) or dict(
                {k: recorded.get(k) for k in RUN_KEYS}, sections=sections)
    return report


def tables(report):
    """The flat tables that docs/ renders (`<!-- figures: ntm copy_table -->`):
    `report` with `copy_table`, `recall_table` and `step_time_table` added,
    one flat row per model (or cell), made from the nested rows."""

    def training(row):
        keys = ("model", "parameters", "steps", "minutes", "reached",
                "steps_to_target", "minutes_to_target", "final_bits")
        return {key: row[key] for key in keys}

    def tested(row, unit):
        flat = {}
        for size, test in row["tests"].items():
            flat[f"bits_{unit}_{size}"] = test["bits"]
            flat[f"exact_{unit}_{size}"] = test["exact"]
        return flat

    times = {(r["cell"], r["jit_compile"]): r["ms_per_step"] for r in report["step_time"]}
    controller = times.get((LSTM_100, True))
    return dict(
        report,
        copy_table=[dict(training(r), **tested(r, "length")) for r in report["copy"]],
        recall_table=[dict(training(r), **tested(r, "items")) for r in report["recall"]],
        step_time_table=[
            dict(cell=cell, ms_per_step=times.get((cell, False)),
                 xla_ms_per_step=times.get((cell, True)),
                 xla_over_lstm_100=(times[cell, True] / controller
                                    if controller and (cell, True) in times else None))
            for cell in dict.fromkeys(r["cell"] for r in report["step_time"])
        ],
    )


def _maybe(value, fmt):
    return "-" if value is None else format(value, fmt)


def print_tables(report):
    args = report["settings"]
    print(f"\nmachine: {report['machine']['processor']}, "
          f"{report['machine']['cores']} cores, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}")
    print(f"float32 matmul peak (2048^3): {report['matmul_peak_gflops']:.1f} GFLOP/s")
    rate = args["learning_rate"] or ntm_models.LEARNING_RATES[args["optimizer"]]
    print(f"optimizer: {args['optimizer']} {rate:g}, gradient values clipped to "
          f"{ntm_models.CLIP_VALUE:g}, batches of {ntm_models.BATCH_SIZE}, XLA; "
          f"NTM memory {NTM['memory_size']}x{NTM['memory_width']}, LSTM controller "
          f"{NTM['controller_units']}; lengths drawn per {args['length_sampling']}")
    print(f"\nCopy, trained on lengths {COPY_LENGTHS[0]}-{COPY_LENGTHS[1]} "
          f"(budget {args['minutes']:g} min per model; target {TARGET_BITS} bits "
          "per sequence on validation batches of those lengths)")
    header = (f"{'model':<12}{'params':>9}{'steps':>8}{'min':>7}{'reached':>9}"
              f"{'steps to':>10}{'min to':>8}{'bits now':>10}")
    print(header)
    for row in report["copy"]:
        print(f"{row['model']:<12}{row['parameters']:>9,}{row['steps']:>8}"
              f"{row['minutes']:>7.1f}{'yes' if row['reached'] else 'no':>9}"
              f"{_maybe(row['steps_to_target'], 'd'):>10}"
              f"{_maybe(row['minutes_to_target'], '.1f'):>8}{row['final_bits']:>10.3f}")
    print(f"\nCopy, bits per sequence (exact copies) at length, "
          f"{args['test_sequences']} sequences each")
    print(f"{'model':<12}" + "".join(f"{length:>16}" for length in COPY_TEST_LENGTHS))
    for row in report["copy"]:
        cells = "".join(
            f"{t['bits']:>9.2f} ({t['exact']:>4.0%})" for t in row["tests"].values()
        )
        print(f"{row['model']:<12}{cells}")
    print(f"\nAssociative recall, trained on {RECALL_ITEMS[0]}-{RECALL_ITEMS[1]} items "
          f"(budget {args['recall_minutes']:g} min per model): bits per sequence "
          "(exact answers)")
    print(f"{'model':<12}{'steps':>8}{'min':>7}{'reached':>9}{'bits now':>10}"
          + "".join(f"{str(items) + ' items':>16}" for items in RECALL_TEST_ITEMS))
    for row in report["recall"]:
        cells = "".join(
            f"{t['bits']:>9.2f} ({t['exact']:>4.0%})" for t in row["tests"].values()
        )
        print(f"{row['model']:<12}{row['steps']:>8}{row['minutes']:>7.1f}"
              f"{'yes' if row['reached'] else 'no':>9}{row['final_bits']:>10.3f}"
              + cells)
    print("\nTime per step, forward + backward in keras.layers.RNN, B=32, T=41")
    print(f"{'cell':<28}{'ms/step':>10}{'XLA ms/step':>13}{'XLA / LSTM 100':>16}")
    for row in report["step_time_table"]:
        print(f"{row['cell']:<28}{row['ms_per_step']:>10.3f}{row['xla_ms_per_step']:>13.3f}"
              f"{_maybe(row['xla_over_lstm_100'], '.2f'):>16}")
    if report["memory_sweep"]:
        print(f"\nNTM step time by memory size N (M={NTM['memory_width']}), XLA, B=32, T=41; "
              f"LSTMCell 100 alone: {report['memory_sweep'][0]['lstm_xla_ms_per_step']:.3f} ms")
        print(f"{'N':>6}{'ms/step':>10}{'/ LSTM 100':>12}{'growth':>9}{'N growth':>10}")
        for row in report["memory_sweep"]:
            print(f"{row['memory_size']:>6}{row['xla_ms_per_step']:>10.3f}"
                  f"{row['over_lstm']:>12.2f}{_maybe(row.get('growth'), '.2f'):>9}"
                  f"{_maybe(row.get('size_growth'), '.0f'):>10}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a check that it runs: 1 minute per copy model, 0.5 per "
                        "recall model, 16 test sequences (about 6 minutes)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="copy training budget per model (default 30)")
    parser.add_argument("--recall-minutes", type=float, default=None,
                        help="associative recall budget per model (default 10)")
    parser.add_argument("--keep-training", action="store_true",
                        help="train to the budget even after reaching the target")
    parser.add_argument("--optimizer", choices=ntm_models.OPTIMIZERS, default="adam",
                        help="adam (default) or rmsprop, for both models")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: the optimizer's in compile_task_model "
                        "(Adam 1e-3, RMSProp 1e-4)")
    parser.add_argument("--length-sampling", choices=ntm_tasks.LENGTH_SAMPLINGS,
                        default="batch", help="one training length per batch "
                        "(default, Collier and Beel's) or per example")
    parser.add_argument("--lstm-layers", type=int, default=1,
                        help="layers of 256 units in the LSTM baseline (default 1)")
    parser.add_argument("--check-every", type=int, default=None,
                        help="training steps between validations (default 200)")
    parser.add_argument("--test-sequences", type=int, default=None,
                        help="sequences per test length (default 64)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats of each cell (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="ntm,lstm",
                        help="which to train: ntm, lstm or both (default)")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help="what to run, of copy, recall, timing and sweep (default "
                        "all); a run of some keeps the others' figures from --json")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and LiteRT's log lines")
    args = parser.parse_args()
    defaults = (
        dict(minutes=1.0, recall_minutes=0.5, check_every=100, test_sequences=16,
             repeats=5)
        if args.quick
        else dict(minutes=30.0, recall_minutes=10.0, check_every=200,
                  test_sequences=64, repeats=20)
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    lstm_label = f"lstm {args.lstm_layers}x256"
    tasks = [task.strip() for task in args.tasks.split(",")]
    if not tasks or not set(tasks) <= set(TASKS):
        parser.error(f"--tasks must name some of {', '.join(TASKS)}, received {args.tasks!r}")
    recorded = recorded_report(args.json)

    attention = bench_module("attention")
    peak = attention.matmul_peak_gflops()
    start = time.perf_counter()
    report = dict(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        command="bench/ntm.py " + " ".join(sys.argv[1:]),
        machine=dict(processor=platform.processor() or platform.machine(),
                     cores=os.cpu_count(), tensorflow=tf.__version__,
                     keras=keras.__version__),
        matmul_peak_gflops=peak,
        settings=dict(vars(args)),
        target_bits=TARGET_BITS,
    )
    parts = dict(
        copy=lambda: bench_copy(args, lstm_label),
        recall=lambda: bench_recall(args, lstm_label),
        step_time=lambda: bench_step_time(attention, args.repeats),
        memory_sweep=lambda: bench_memory_sweep(attention, args.repeats),
    )
    report = with_parts(report, {key: parts[key]() for task, key in PART_KEYS.items()
                                 if task in tasks}, recorded)
    report["total_minutes"] = (time.perf_counter() - start) / 60
    report = tables(report)
    print_tables(report)
    print(f"\ntotal: {report['total_minutes']:.1f} minutes")
    emit_json(report, args.json)


if __name__ == "__main__":
    main()
