"""Every export mode side by side for the tour's Transformer and Bahdanau models.

Trains each model as the tour does (dates to ISO 8601), exports it in every
mode with its `encode` / `decode_step` signatures, and measures per mode:
file size (and its ratio to float32), exact-match accuracy of step-by-step
decoding on the device runtime (`edge_demo`), and LiteRT latency of one
`decode_step` at 1 and 2 threads (and its ratio to float32 at 1 thread),
plus the ops an integer mode leaves in float. Goals (issue 4): int8 at most
0.3x the float32 file, accuracy drop at most 1 point, int8 no slower than
float32. Prints a table and JSON (`--json`).

    python bench/export.py [--quick] [--json bench/results/export.json]
"""

import argparse
import importlib.util
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# bench/export.py shares its name with the export package: drop this folder
# from the import path so that `import export` finds the package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import keras  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from export import MODES, ExportError, export_tflite  # noqa: E402
from export.report import float_ops, latency_ms, quantize  # noqa: E402
from keras_attention.data import dates  # noqa: E402
from keras_attention.tour import sequence  # noqa: E402


def matmul_peak_gflops():
    """bench/attention.py's measure of the machine's matmul peak."""
    spec = importlib.util.spec_from_file_location(
        "bench_attention", os.path.join(_HERE, "attention.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.matmul_peak_gflops()


def step_latency(path, sample, threads, runs):
    runner = Interpreter(model_path=path, num_threads=threads).get_signature_runner(
        "decode_step"
    )
    details = runner.get_input_details()
    inputs = {k: quantize(v, details[k]) for k, v in sample.items()}
    return latency_ms(runner, inputs, runs=runs)["median"]


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
    sample = calibration["decode_step"][len(calibration["decode_step"]) // 2]
    rows = []
    for mode in MODES:
        path = os.path.join(folder, f"{name}_{mode}.tflite")
        try:
            export_tflite(
                model, path, mode=mode, signatures=model.export_signatures(),
                representative_data=calibration if mode in ("int8", "int16x8") else None,
                num_calibration_samples=10_000, task=dates.task_metadata(),
            )
        except ExportError as error:
            rows.append(dict(model=name, mode=mode, error=str(error)[:200]))
            continue
        texts, _ = sequence.decode_on_device(path, test_ids)
        with open(path, "rb") as f:
            leftovers = float_ops(f.read()) if mode in ("int8", "int16x8") else {}
        rows.append(
            dict(
                model=name,
                mode=mode,
                bytes=os.path.getsize(path),
                accuracy=dates.exact_match(texts, test_targets),
                keras_accuracy=keras_accuracy,
                step_ms_1_thread=step_latency(path, sample, 1, runs),
                step_ms_2_threads=step_latency(path, sample, 2, runs),
                float_ops=leftovers,
            )
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tour's quick settings")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    settings = sequence.QUICK if args.quick else sequence.FULL
    peak = matmul_peak_gflops()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ("transformer", "bahdanau"):
            rows += bench_model(name, settings, folder, args.runs)
    print(f"\nfloat32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    print(
        f"{'model':<12}{'mode':<9}{'KiB':>8}{'x f32':>7}{'acc':>7}{'Keras':>7}"
        f"{'ms 1t':>8}{'ms 2t':>8}{'x f32':>7}  float ops left"
    )
    for row in rows:
        if "error" in row:
            print(f"{row['model']:<12}{row['mode']:<9}  not convertible: {row['error']}")
            continue
        base = next(
            r for r in rows if r["model"] == row["model"] and r["mode"] == "float32"
        )
        print(
            f"{row['model']:<12}{row['mode']:<9}{row['bytes'] / 1024:>8.1f}"
            f"{row['bytes'] / base['bytes']:>7.2f}{row['accuracy']:>7.3f}"
            f"{row['keras_accuracy']:>7.3f}{row['step_ms_1_thread']:>8.3f}"
            f"{row['step_ms_2_threads']:>8.3f}"
            f"{row['step_ms_1_thread'] / base['step_ms_1_thread']:>7.2f}  "
            + ", ".join(f"{op} {n}" for op, n in row["float_ops"].items())
        )
    report = dict(matmul_peak_gflops=peak, quick=args.quick, rows=rows)
    print(json.dumps(report))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
