"""Why XLA trained the translation models slower than TensorFlow's own
kernels on a CPU (issue 21, item 5): the random draws of Keras's dropout.

1. The draws alone: uniform numbers of the shape of RNNsearch's readout
   input, `[160, 24, 512]`, as Keras draws them on TensorFlow
   (`keras.random.uniform`, `keras.layers.Dropout`: TensorFlow's stateless
   ops with the algorithm left to TensorFlow) and with the algorithm named
   (Philox), and as the library's `HashDropout` draws them (a
   counter-based hash in `keras.ops`, keras_attention/layers/_random.py),
   with and without XLA, from a seed that changes at every call as a
   `SeedGenerator`'s does.
2. The train steps of the Multi30k models (`translation_model(kind)` at
   their default sizes, an 8,000-piece vocabulary on each side, B=160,
   S=T=24 random pieces, `train_on_batch`), with and without XLA, with
   their dropout and with none: the share of the XLA step that dropout
   costs, against its share without XLA. Every layer of the library draws
   its dropout with `HashDropout`. (Until 2026-12-07 the Transformer's
   layers drew Keras's, and a third row timed it drawn by Philox.)

Prints both tables, the machine's float32 matmul peak, and JSON
(`--json`).

    python bench/xla_cpu.py [--quick] [--json bench/results/xla_cpu.json]
"""

import argparse
import os
import platform
import statistics
import sys
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import bench_module, emit_json, machine  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attention.layers._random import HashDropout  # noqa: E402
from keras_attention.models import translation_models  # noqa: E402

VOCABULARY = 8000
DRAW_SHAPE = (160, 24, 512)


def _median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bench_draws(shape, repeats):
    """`{(name, jit): ms}` for one draw of `shape` uniform numbers."""
    x = tf.zeros(shape)
    generator = keras.random.SeedGenerator(0)
    dropout = keras.layers.Dropout(0.3, seed=1)
    hashed = HashDropout(0.3, seed=1)
    counter = tf.Variable([3, 4], dtype=tf.int64)

    def seed():  # a new seed at every call, as a SeedGenerator's
        counter.assign_add([0, 1])
        return tf.cast(tf.math.floormod(counter, tf.int32.max - 1), "int32")

    draws = {
        "keras.layers.Dropout(0.3)": lambda t: dropout(t, training=True),
        "HashDropout(0.3), the library's": lambda t: hashed(t, training=True),
        "keras.random.uniform": lambda t: keras.random.uniform(tf.shape(t), seed=generator),
        "tf stateless_uniform, algorithm left to TF": (
            lambda t: tf.random.stateless_uniform(tf.shape(t), seed=seed())),
        "tf stateless_uniform, Philox": (
            lambda t: tf.random.stateless_uniform(tf.shape(t), seed=seed(), alg="philox")),
    }
    results = {}
    for name, draw in draws.items():
        for jit in (False, True):
            step = tf.function(draw, jit_compile=jit, autograph=False)
            results[(name, jit)] = _median_ms(lambda step=step: step(x).numpy(), repeats)
    return results


def bench_steps(kinds, batch, length, repeats):
    """`{(kind, dropout, jit): ms}` of one `train_on_batch`, at the kind's
    dropout rate and at none."""
    rng = np.random.default_rng(0)
    inputs = {
        "source": rng.integers(3, VOCABULARY, (batch, length)).astype("int32"),
        "decoder_inputs": rng.integers(3, VOCABULARY, (batch, length)).astype("int32"),
    }
    targets = rng.integers(3, VOCABULARY, (batch, length)).astype("int32")
    weights = np.ones((batch, length), "float32")
    results = {}
    for kind in kinds:
        rate = translation_models.DEFAULT_SIZES[kind]["dropout"]
        for dropout in (rate, 0.0):
            for jit in (False, True):
                keras.utils.set_random_seed(0)
                model = translation_models.translation_model(
                    kind, VOCABULARY, VOCABULARY, dropout=dropout)
                translation_models.compile_translation_model(model, jit_compile=jit)
                results[(kind, dropout, jit)] = _median_ms(
                    lambda model=model: model.train_on_batch(
                        inputs, targets, sample_weight=weights),
                    repeats)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller draws and batches, fewer repeats")
    parser.add_argument("--models", default="seq2seq,rnnsearch,transformer")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and LiteRT's log lines")
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.models.split(",") if kind.strip()]
    shape, batch, length, repeats = DRAW_SHAPE, 160, 24, args.repeats
    if args.quick:
        shape, batch, length, repeats = (16, 24, 64), 8, 12, 2

    peak = bench_module("attention").matmul_peak_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")

    draws = bench_draws(shape, repeats)
    print(f"\n1. One draw of {np.prod(shape):,} uniform numbers {list(shape)}, "
          "median ms (a new seed at every call)")
    header = f"{'draw':<46}{'no XLA':>10}{'XLA':>10}{'XLA is':>10}"
    print(header)
    print("-" * len(header))
    draw_rows = []
    for name in dict.fromkeys(name for name, _ in draws):
        plain, jit = draws[(name, False)], draws[(name, True)]
        print(f"{name:<46}{plain:>10.2f}{jit:>10.2f}{plain / jit:>9.2f}x")
        draw_rows.append(dict(draw=name, ms_no_xla=plain, ms_xla=jit,
                              xla_speedup=plain / jit))

    steps = bench_steps(kinds, batch, length, repeats)
    print(f"\n2. One train_on_batch, B={batch} S=T={length}, vocabulary {VOCABULARY:,}, "
          "median ms")
    header = (f"{'model':<14}{'dropout':>13}{'no XLA':>10}{'XLA':>10}{'XLA is':>10}"
              f"{'dropout costs, no XLA':>24}{'with XLA':>10}")
    print(header)
    print("-" * len(header))
    step_rows = []
    for kind in kinds:
        rate = translation_models.DEFAULT_SIZES[kind]["dropout"]
        for dropout in (rate, 0.0):
            plain, jit = steps[(kind, dropout, False)], steps[(kind, dropout, True)]
            row = dict(model=kind, dropout=dropout, ms_no_xla=plain, ms_xla=jit,
                       xla_speedup=plain / jit)
            costs = ""
            if dropout:
                row["dropout_share_no_xla"] = 1 - steps[(kind, 0.0, False)] / plain
                row["dropout_share_xla"] = 1 - steps[(kind, 0.0, True)] / jit
                costs = (f"{row['dropout_share_no_xla']:>24.0%}"
                         f"{row['dropout_share_xla']:>10.0%}")
            print(f"{kind:<14}{str(row['dropout']):>13}{plain:>10.1f}{jit:>10.1f}"
                  f"{plain / jit:>9.2f}x{costs}")
            step_rows.append(row)
    print()
    emit_json(dict(
        machine=machine(), matmul_peak_gflops=peak,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        command=" ".join(["bench/xla_cpu.py", *sys.argv[1:]]),
        draw_shape=list(shape), batch=batch, length=length, vocabulary=VOCABULARY,
        draws=draw_rows, steps=step_rows,
    ), args.json)


if __name__ == "__main__":
    main()
