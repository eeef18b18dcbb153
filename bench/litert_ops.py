"""Where int8 loses to float32 on LiteRT: one op at a time, at a ViT block's shapes.

The ViT's full-integer file runs about three times slower than its float32
file on the 2-core x86 machine (bench/vision.py), and the Multi30k
Transformer's slower than its dynamic-range file (issue 21). This benchmark
converts each op of a Transformer block alone, in float32 and in int8
(calibrated on normal samples), and times it on LiteRT with one thread,
with the runtime's default delegate (XNNPACK) and without it, so that the
table says which op's int8 kernel costs more than its float32 one, and
whether XNNPACK runs it.

The shapes are those of `bench/vision.py`'s ViT for one image: T = 50
tokens (49 patches and the class token), D = 64, H = 4 heads of 16, an MLP
of 128. Rows:

- `dense`: a 64 x 64 projection of the 50 tokens (FULLY_CONNECTED);
- `mlp`: Dense(128), GELU, Dense(64);
- `layer_norm`: the library's `QuantizableLayerNormalization`;
- `softmax`: over `[4, 50, 50]` scores;
- `scores`: `q k^T` per head, `[4, 50, 16] x [4, 16, 50]` (BATCH_MATMUL);
- `mix`: `p v` per head (BATCH_MATMUL);
- `attention`: the whole core of `[50, 64]` queries, keys and values:
  heads split, scaled scores, softmax, mix, heads merged;
- `attention_block_diagonal`: the same core written as two 2-D products
  whose right-hand sides are the heads' keys and values laid out block by
  block (FULLY_CONNECTED with weights computed at run time, which int8
  runs fast), four times the multiply-adds;
- `encoder_block`: the library's `TransformerEncoderBlock` (pre-LN, 4 heads,
  MLP 128), as the ViT uses it.

Each time is the median of `--runs` calls, the best of `--rounds` rounds
over all files, in microseconds; `ratio` is int8 over float32, both with
the default delegate. The float32 matmul peak of bench/attention.py is
printed first, for comparing machines.

    python bench/litert_ops.py [--runs 2000] [--rounds 3] [--json bench/results/litert_ops.json]
"""

import argparse
import collections
import datetime
import os
import platform
import sys

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import bench_module, emit_json  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from edge_demo.contract import latency  # noqa: E402
from keras_attention.layers import TransformerEncoderBlock  # noqa: E402
from keras_attention.layers._quantizable_norm import (  # noqa: E402
    QuantizableLayerNormalization,
)
from keras_attention_export.report import operators  # noqa: E402

TOKENS, WIDTH, HEADS, MLP = 50, 64, 4, 128
HEAD = WIDTH // HEADS


def _weights(shape, seed):
    rng = np.random.default_rng(seed)
    return tf.constant((rng.normal(size=shape) / np.sqrt(shape[0])).astype("float32"))


def _split_heads(x):
    """`[T, H*Dh]` -> `[H, T, Dh]`."""
    return tf.transpose(tf.reshape(x, (TOKENS, HEADS, HEAD)), (1, 0, 2))


def _attention(q, k, v):
    q, k, v = _split_heads(q), _split_heads(k), _split_heads(v)
    p = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) * HEAD**-0.5)  # [H, T, T]
    return tf.reshape(tf.transpose(tf.matmul(p, v), (1, 0, 2)), (TOKENS, WIDTH))


def _attention_block_diagonal(q, k, v):
    # One head's rows meet only that head's columns: the mask keeps the
    # diagonal blocks of [H, T, H, Dh] and zeroes the others.
    mask = tf.constant(np.eye(HEADS, dtype="float32").reshape(HEADS, 1, HEADS, 1))
    keys = tf.reshape(tf.reshape(k, (1, TOKENS, HEADS, HEAD)) * mask,
                      (HEADS * TOKENS, WIDTH))  # rows (h, s), columns (h', d)
    scores = tf.matmul(q * HEAD**-0.5, keys, transpose_b=True)  # [T, H*T]
    p = tf.reshape(tf.nn.softmax(tf.reshape(scores, (TOKENS, HEADS, TOKENS))),
                   (TOKENS, HEADS * TOKENS))
    values_t = tf.reshape(tf.transpose(v), (HEADS, HEAD, 1, TOKENS)) * mask
    values_t = tf.reshape(values_t, (WIDTH, HEADS * TOKENS))  # rows (h, d), columns (h', s)
    return tf.matmul(p, values_t, transpose_b=True)  # [T, H*Dh]


def cases():
    """`{name: (function, input shapes)}`."""
    dense_w = _weights((WIDTH, WIDTH), 0)
    up_w, down_w = _weights((WIDTH, MLP), 1), _weights((MLP, WIDTH), 2)
    norm = QuantizableLayerNormalization(epsilon=1e-6)
    norm.build((TOKENS, WIDTH))
    block_inputs = keras.Input((TOKENS, WIDTH), batch_size=1)
    keras.utils.set_random_seed(0)
    block = keras.Model(block_inputs, TransformerEncoderBlock(
        MLP, HEADS, activation="gelu", normalize_first=True)(block_inputs))
    tokens, scores = (TOKENS, WIDTH), (HEADS, TOKENS, TOKENS)
    heads = (HEADS, TOKENS, HEAD)
    return {
        "dense": (lambda x: tf.matmul(x, dense_w), [tokens]),
        "mlp": (lambda x: tf.matmul(tf.nn.gelu(tf.matmul(x, up_w)), down_w), [tokens]),
        "layer_norm": (lambda x: norm(x), [tokens]),
        "softmax": (lambda s: tf.nn.softmax(s), [scores]),
        "scores": (lambda q, k: tf.matmul(q, k, transpose_b=True), [heads, heads]),
        "mix": (lambda p, v: tf.matmul(p, v), [scores, heads]),
        "attention": (_attention, [tokens] * 3),
        "attention_block_diagonal": (_attention_block_diagonal, [tokens] * 3),
        "encoder_block": (lambda x: block(x), [(1, TOKENS, WIDTH)]),
    }


def convert(function, shapes, int8, samples=64):
    specs = [tf.TensorSpec(shape, tf.float32) for shape in shapes]
    concrete = tf.function(function, input_signature=specs).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    if int8:
        rng = np.random.default_rng(0)
        data = [[rng.normal(size=shape).astype("float32") for shape in shapes]
                for _ in range(samples)]
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def interpreter(flatbuffer, delegate):
    resolver = (OpResolverType.AUTO if delegate
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    runner = Interpreter(model_content=flatbuffer, num_threads=1,
                         experimental_op_resolver_type=resolver)
    runner.allocate_tensors()
    rng = np.random.default_rng(1)
    for detail in runner.get_input_details():
        runner.set_tensor(detail["index"],
                          rng.normal(size=detail["shape"]).astype("float32"))
    return runner


def median_us(runner, runs):
    return 1e3 * latency(runner.invoke, runs=runs, warmup=min(runs, 100))["median_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's and absl's log lines")
    args = parser.parse_args()
    if args.runs < 1 or args.rounds < 1:
        parser.error(f"--runs and --rounds must be >= 1, received {args.runs} and {args.rounds}")
    peak = bench_module("attention").matmul_peak_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"TensorFlow {tf.__version__}, LiteRT one thread")
    print(f"float32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print(f"shapes: T={TOKENS}, D={WIDTH}, H={HEADS}, MLP {MLP} (bench/vision.py's ViT, "
          "one image)\n")
    files, ops = {}, {}
    for name, (function, shapes) in cases().items():
        for mode in ("float32", "int8"):
            files[name, mode] = convert(function, shapes, mode == "int8")
        ops[name] = dict(collections.Counter(
            op for op, _, _ in operators(files[name, "int8"])
            if op not in ("QUANTIZE", "DEQUANTIZE")))
    runners = {(name, mode, delegate): interpreter(flatbuffer, delegate)
               for (name, mode), flatbuffer in files.items() for delegate in (True, False)}
    best = {}
    for _ in range(args.rounds):  # round robin: a busy moment lands on every file
        for key, runner in runners.items():
            best[key] = min(best.get(key, np.inf), median_us(runner, args.runs))
    rows = []
    print(f"{'op':<26}{'float32':>9}{'int8':>9}{'ratio':>7}{'float32 no XNNPACK':>20}"
          f"{'int8 no XNNPACK':>17}   int8 file's ops")
    for name in ops:
        row = dict(op=name, float32_us=best[name, "float32", True],
                   int8_us=best[name, "int8", True],
                   float32_builtin_us=best[name, "float32", False],
                   int8_builtin_us=best[name, "int8", False], int8_ops=ops[name])
        row["ratio"] = row["int8_us"] / row["float32_us"]
        rows.append(row)
        listed = ", ".join(f"{op} x{count}" if count > 1 else op
                           for op, count in ops[name].items())
        print(f"{name:<26}{row['float32_us']:>9.1f}{row['int8_us']:>9.1f}{row['ratio']:>7.2f}"
              f"{row['float32_builtin_us']:>20.1f}{row['int8_builtin_us']:>17.1f}   {listed}")
    print("\nmicroseconds a call, median, best of the rounds; every int8 file also "
          "quantizes its inputs and dequantizes its outputs")
    report = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=dict(processor=platform.processor() or platform.machine(),
                     cores=os.cpu_count()),
        matmul_peak_gflops=peak, tensorflow=tf.__version__,
        shapes=dict(tokens=TOKENS, width=WIDTH, heads=HEADS, mlp=MLP),
        calls=args.runs, rounds=args.rounds, rows=rows)
    emit_json(report, args.json)


if __name__ == "__main__":
    main()
