"""Every export mode side by side for the tour's Transformer and Bahdanau models.

Trains each model as the tour does (dates to ISO 8601), exports it in every
mode with its `encode` / `decode_step` signatures (and in `int8_dense`: int8
only in the products with weights, bench/litert_ops.py), and measures per mode:
file size (and its ratio to float32), exact-match accuracy of step-by-step
decoding on the device runtime (`edge_demo`), LiteRT latency of `encode`
and of one `decode_step` (1 thread, and 2 for the step), and of a whole date
(one encode and 11 steps, with its ratio to float32), plus the ops an integer mode leaves in float, and how much of the file is
constant data (weights, tables) rather than graph structure: quantization
shrinks the former about 4x and not the latter, so a small model's int8 file
ratio stays well above the weights' ratio. Goals (issue 4): int8 at most
0.3x the float32 file, accuracy drop at most 1 point, int8 no slower than
float32. Prints a table and JSON (`--json`).

    python bench/export.py [--quick] [--json bench/results/export.json]
"""

import argparse
import os
import sys
import tempfile

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import INT8_VARIANTS, bench_module, emit_json  # noqa: E402
import keras  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from keras_attention_export import MODES, ExportError, export_tflite  # noqa: E402
from keras_attention_export.report import float_ops, latency_ms, quantize  # noqa: E402
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402
from keras_attention.data import dates  # noqa: E402
from keras_attention.tour import sequence  # noqa: E402


# Modes beside export's: int8 with the ops whose int8 kernels are slower
# than float32's left in float (bench/litert_ops.py).
VARIANTS = {"int8_dense": ("int8", INT8_VARIANTS["int8_dense"])}


def matmul_peak_gflops():
    """bench/attention.py's measure of the machine's matmul peak."""
    return bench_module("attention").matmul_peak_gflops()


def constant_bytes(flatbuffer):
    """Bytes of the model's buffers: weights, tables and other constants."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    return sum(model.Buffers(i).DataLength() for i in range(model.BuffersLength()))


def _runner(path, signature, sample, threads):
    runner = Interpreter(model_path=path, num_threads=threads).get_signature_runner(
        signature
    )
    details = runner.get_input_details()
    return runner, {k: quantize(v, details[k]) for k, v in sample.items()}


def latencies(paths, samples, runs, rounds=5):
    """Median ms per call of `encode` and `decode_step` (1 and 2 threads) for
    every file, measured round robin over the files `rounds` times and the
    best round kept, so that a busy moment of the machine does not land on
    one mode only."""
    keys = [
        ("encode", "encode", 1), ("decode_step", "step", 1), ("decode_step", "step", 2)
    ]
    runners = {
        (path, signature, threads): _runner(path, signature, samples[signature], threads)
        for path in paths
        for signature, _, threads in keys
    }
    best = {}
    for _ in range(rounds):
        for key, (runner, inputs) in runners.items():
            ms = latency_ms(runner, inputs, runs=runs)["median"]
            best[key] = min(best.get(key, ms), ms)
    return {
        path: {
            f"{short}_ms_{threads}_thread{'s' if threads > 1 else ''}": best[
                (path, signature, threads)
            ]
            for signature, short, threads in keys
        }
        for path in paths
    }


def bench_model(name, settings, folder, runs):
    build, learning_rate = sequence.models()[name]
    keras.utils.set_random_seed(0)
    model = build()
    sequence.train(model, settings, learning_rate)
    test_sources, test_targets = dates.generate(settings["device"], seed=3)
    test_ids = dates.encode_sources(test_sources)
    keras_accuracy = dates.exact_match(
        dates.decode_targets(model.greedy_decode(test_ids)), test_targets
    )
    calibration = model.representative_data(
        dates.encode_sources(dates.generate(settings["calibration"], seed=4)[0])
    )
    samples = {
        "encode": calibration["encode"][0],
        "decode_step": calibration["decode_step"][len(calibration["decode_step"]) // 2],
    }
    rows, paths = [], []
    for mode in (*MODES, *VARIANTS):
        export_mode, leave_float = VARIANTS.get(mode, (mode, None))
        path = os.path.join(folder, f"{name}_{mode}.tflite")
        try:
            export_tflite(
                model, path, mode=export_mode, signatures=model.export_signatures(),
                representative_data=(calibration if export_mode in ("int8", "int16x8")
                                     else None),
                num_calibration_samples=10_000, task=dates.task_metadata(),
                float_ops=leave_float,
            )
        except ExportError as error:
            rows.append(dict(model=name, mode=mode, error=str(error)[:200]))
            continue
        texts, _ = sequence.decode_on_device(path, test_ids)
        with open(path, "rb") as f:
            flatbuffer = f.read()
        leftovers = float_ops(flatbuffer) if export_mode in ("int8", "int16x8") else {}
        rows.append(
            dict(
                model=name,
                mode=mode,
                bytes=os.path.getsize(path),
                constant_bytes=constant_bytes(flatbuffer),
                accuracy=dates.exact_match(texts, test_targets),
                keras_accuracy=keras_accuracy,
                float_ops=leftovers,
                path=path,
            )
        )
        paths.append(path)
    timings = latencies(paths, samples, runs)
    for row in rows:
        if "path" in row:
            row.update(timings[row.pop("path")])
            # A whole date: one encode and TARGET_LENGTH decode steps.
            row["sentence_ms"] = (
                row["encode_ms_1_thread"] + dates.TARGET_LENGTH * row["step_ms_1_thread"]
            )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tour's quick settings")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and LiteRT's log lines")
    args = parser.parse_args()
    settings = sequence.QUICK if args.quick else sequence.FULL
    peak = matmul_peak_gflops()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ("transformer", "bahdanau"):
            rows += bench_model(name, settings, folder, args.runs)
    print(f"\nfloat32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print(
        f"{'model':<12}{'mode':<11}{'KiB':>8}{'x f32':>7}{'const':>7}{'acc':>7}{'Keras':>7}"
        f"{'enc ms':>8}{'step ms':>8}{'2 thr':>8}{'date ms':>8}{'x f32':>7}  float ops left"
    )
    for row in rows:
        if "error" in row:
            print(f"{row['model']:<12}{row['mode']:<11}  not convertible: {row['error']}")
            continue
        base = next(
            r for r in rows if r["model"] == row["model"] and r["mode"] == "float32"
        )
        print(
            f"{row['model']:<12}{row['mode']:<11}{row['bytes'] / 1024:>8.1f}"
            f"{row['bytes'] / base['bytes']:>7.2f}"
            f"{row['constant_bytes'] / base['constant_bytes']:>7.2f}{row['accuracy']:>7.3f}"
            f"{row['keras_accuracy']:>7.3f}{row['encode_ms_1_thread']:>8.3f}"
            f"{row['step_ms_1_thread']:>8.3f}{row['step_ms_2_threads']:>8.3f}"
            f"{row['sentence_ms']:>8.3f}{row['sentence_ms'] / base['sentence_ms']:>7.2f}  "
            + ", ".join(f"{op} {n}" for op, n in row["float_ops"].items())
        )
    report = dict(matmul_peak_gflops=peak, quick=args.quick, rows=rows)
    emit_json(report, args.json)


if __name__ == "__main__":
    main()
