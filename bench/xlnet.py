"""XLNet against a left-to-right Transformer-XL and a masked LM (issue 18).

1. Both sides: sequences of `--length` tokens over `--vocabulary` where the
   middle token is `(left + right) mod V` of its neighbours and every other
   token is random, and a control of fully random sequences. Each model
   trains on each for `--steps` steps (batches of `--batch-size`), then
   fills the middle of held-out sequences from everything it may see
   (`keras_attention.models.gap_filling`): XLNet from both sides through
   its query stream, the masked LM from both sides through a mask token,
   the left-to-right model from its left. Expected: XLNet and the masked
   LM near 1 on the rule, the left-to-right model near 1/V, every model
   near 1/V on the control (nothing sees its own target).
2. Training tokens per second of each model on the same batches, with and
   without XLA (`model.fit`, after a warm-up epoch that compiles).

The float32 matmul peak of bench/attention.py is printed first, for
comparing machines. Gap filling on Multi30k, the other half of issue 18's
benchmark, is not in this file yet.

    python bench/xlnet.py [--quick] [--steps 3000] [--json bench/results/xlnet.json]
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

from _load import bench_module, emit_json  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_attention.models import (  # noqa: E402
    MaskedLM, MaskedLMDataset, PermutationLMDataset, TransformerXL, XLNetLM,
)
from keras_attention.models.gap_filling import gap_logits, gap_scores  # noqa: E402

KINDS = ("xlnet", "left_to_right", "masked")
FULL = dict(length=32, vocabulary=16, hidden_dim=128, num_heads=4, num_blocks=3,
            batch_size=64, steps=3000, test=1000)
QUICK = dict(length=9, vocabulary=8, hidden_dim=32, num_heads=2, num_blocks=2,
             batch_size=64, steps=300, test=400)


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
                 intermediate_dim=4 * dim, num_blocks=settings["num_blocks"], dropout=0.0)
    if kind == "xlnet":
        return XLNetLM(v, **sizes)
    if kind == "masked":
        return MaskedLM(v + 1, max_length=settings["length"], **sizes)  # id V: the mask
    return TransformerXL(v, batch_size=settings["batch_size"], memory_length=0, **sizes)


def training_data(kind, train, settings):
    """What `fit` takes: a dataset, or `(x, y)` arrays for the left-to-right model."""
    b = settings["batch_size"]
    if kind == "xlnet":
        return dict(x=PermutationLMDataset(train, batch_size=b, seed=0))
    if kind == "masked":
        v = settings["vocabulary"]
        return dict(x=MaskedLMDataset(train, v, v + 1, batch_size=b, seed=0))
    return dict(x=train[:, :-1], y=train[:, 1:], batch_size=b)


def train(kind, train_set, settings, jit_compile, steps):
    model = build(kind, settings)
    model.compile(optimizer=keras.optimizers.Adam(
                      keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    data = training_data(kind, train_set, settings)
    per_epoch = len(train_set) // settings["batch_size"]
    epochs = max(1, steps // per_epoch)
    start = time.perf_counter()
    model.fit(**data, epochs=1, steps_per_epoch=per_epoch, verbose=0)  # compiles
    warm = time.perf_counter()
    if epochs > 1:
        model.fit(**data, epochs=epochs - 1, steps_per_epoch=per_epoch, verbose=0)
    done = time.perf_counter()
    tokens = (epochs - 1) * per_epoch * settings["batch_size"] * settings["length"]
    return model, dict(
        seconds=done - start, first_epoch_seconds=warm - start,
        tokens_per_second=tokens / (done - warm) if epochs > 1 else None,
        steps=epochs * per_epoch,
    )


def middle_accuracy(model, test, settings):
    logits = gap_logits(model, test, settings["length"] // 2, 1,
                        mask_token_id=settings["vocabulary"])
    return gap_scores(logits, test[:, settings["length"] // 2 : settings["length"] // 2 + 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--steps", type=int, help="training steps per model and data set")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's and absl's log lines")
    args = parser.parse_args()
    settings = dict(QUICK if args.quick else FULL)
    if args.steps:
        settings["steps"] = args.steps
    peak = bench_module("attention").matmul_peak_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Keras {keras.__version__} ({keras.backend.backend()})")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    n, t, v = settings["steps"] * settings["batch_size"], settings["length"], settings["vocabulary"]
    print(f"\n1. Both sides: T={t}, V={v} (chance {1 / v:.3f}), {settings['steps']} steps of "
          f"{settings['batch_size']}, width {settings['hidden_dim']}, "
          f"{settings['num_blocks']} blocks, XLA")
    print(f"{'model':<16}{'rule: middle':>14}{'random: middle':>16}{'minutes':>9}")
    rows = []
    for kind in KINDS:
        row = dict(model=kind)
        for data_name, rule in (("rule", True), ("random", False)):
            train_set = sequences(min(n, 65536), t, v, rule, seed=0)
            test = sequences(settings["test"], t, v, rule, seed=1)
            model, timing = train(kind, train_set, settings, True, settings["steps"])
            row[data_name] = {**middle_accuracy(model, test, settings), **timing}
        rows.append(row)
        minutes = (row["rule"]["seconds"] + row["random"]["seconds"]) / 60
        print(f"{kind:<16}{row['rule']['accuracy']:>14.3f}{row['random']['accuracy']:>16.3f}"
              f"{minutes:>9.1f}", flush=True)
    print("\n2. Training tokens per second (same batches; after a first epoch that compiles)")
    print(f"{'model':<16}{'tokens/s':>12}{'XLA tokens/s':>14}")
    speed = []
    timing_steps = max(4 * (4096 // settings["batch_size"]), 16)
    for kind in KINDS:
        train_set = sequences(4096, t, v, True, seed=2)
        figures = {jit: train(kind, train_set, settings, jit, timing_steps)[1]
                   for jit in (False, True)}
        speed.append(dict(model=kind, tokens_per_second=figures[False]["tokens_per_second"],
                          xla_tokens_per_second=figures[True]["tokens_per_second"]))
        print(f"{kind:<16}{figures[False]['tokens_per_second']:>12.0f}"
              f"{figures[True]['tokens_per_second']:>14.0f}", flush=True)
    emit_json(dict(machine=dict(processor=platform.processor() or platform.machine(),
                                cores=os.cpu_count()),
                   matmul_peak_gflops=peak, settings=settings, both_sides=rows, speed=speed),
              args.json)


if __name__ == "__main__":
    main()
