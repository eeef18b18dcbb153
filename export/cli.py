"""`keras-attention-export`: a saved Keras model to a LiteRT file and a report.

Examples:

    # float32, batch 1, report beside the model
    keras-attention-export model.keras --out model.tflite --report report.json

    # full integer, calibrated on 200 samples of calib.npz (arrays named
    # after the model's inputs, first axis = samples), int8 inputs/outputs
    keras-attention-export model.keras --mode int8 --calibration calib.npz \\
        --calibration-samples 200 --integer-io --out model_int8.tflite \\
        --report report_int8.json --heldout heldout.npz

    # run it on this machine with edge_demo: arrays by input name in, out
    python -m edge_demo model.tflite --inputs heldout.npz --out outputs.npz

The report's parity uses --heldout if given, else the calibration file, else
random inputs (it says which). A `.json` metadata file is written beside the
`.tflite` for edge_demo, with the generic task: arrays in, arrays out. The
conversion runs on the TensorFlow backend of Keras, whatever KERAS_BACKEND
says; TensorFlow's and LiteRT's log lines are hidden unless --verbose.
Exit status: 0 on success, 2 on any error, with one line saying what went
wrong.
"""

import argparse
import os
import sys

from edge_demo.quiet import quiet_logs


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-attention-export",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="a .keras file saved with model.save()")
    parser.add_argument("--out", required=True, help="the .tflite file to write")
    parser.add_argument(
        "--mode",
        choices=("float32", "float16", "dynamic", "int8", "int16x8"),
        help="float32; float16 weights; dynamic-range int8 weights; int8 full "
        "integer (needs --calibration); int16x8 (needs --calibration). Default: "
        "the model's own default_export_mode (dynamic for the reference "
        "seq2seq models), else float32",
    )
    parser.add_argument(
        "--calibration", help=".npz of representative inputs by input name"
    )
    parser.add_argument(
        "--calibration-samples", type=int, default=100, metavar="N",
        help="how many calibration samples to use (default 100)",
    )
    parser.add_argument(
        "--range-quantile", type=float, default=None, metavar="Q",
        help="int8: each activation's range from the Q quantile of the "
        "calibration samples' own extremes (e.g. 0.9) instead of their overall "
        "min and max, so that rare outliers saturate",
    )
    parser.add_argument(
        "--integer-io", action="store_true",
        help="int8/int16 inputs and outputs instead of float (integer modes)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1, help="the signature's batch (default 1)"
    )
    parser.add_argument(
        "--input-shape", action="append", default=[], metavar="NAME=D1,D2,...",
        help="static shape (without batch) of an input the model leaves open; "
        "repeat for several inputs",
    )
    parser.add_argument("--report", help="write the report here (JSON, and .md beside)")
    parser.add_argument("--heldout", help=".npz of held-out inputs for the report")
    parser.add_argument(
        "--threads", type=int, default=1, help="LiteRT threads for latency (default 1)"
    )
    parser.add_argument(
        "--runs", type=int, default=50, help="timed runs for latency (default 50)"
    )
    parser.add_argument("--onnx", metavar="PATH", help="also write ONNX here")
    parser.add_argument(
        "--keep-tensor-names", action="store_true",
        help="keep the graph's tensor names in the file (for debugging; "
        "dropped by default to save space)",
    )
    parser.add_argument(
        "--verbose", action="store_true",
        help="show TensorFlow's, absl's and LiteRT's log lines (hidden by default)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parser


def version():
    """The installed keras-attention's version (the source tree's otherwise)."""
    from importlib import metadata

    try:
        return metadata.version("keras-attention")
    except metadata.PackageNotFoundError:
        import keras_attention

        return keras_attention.__version__


def _input_shapes(entries):
    shapes = {}
    for entry in entries:
        name, sep, dims = entry.partition("=")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ValueError(
                f"--input-shape must look like NAME=D1,D2,..., received {entry!r}"
            )
    return shapes


def _load_npz(path, what):
    import numpy as np

    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except Exception as error:
        raise ValueError(f"{what} file {path} is not a readable .npz: {error}") from None


def _samples(arrays, batch_size, limit=20):
    count = min(len(v) for v in arrays.values()) // batch_size
    return [
        {k: v[i * batch_size : (i + 1) * batch_size] for k, v in arrays.items()}
        for i in range(min(count, limit))
    ]


def run(args):
    import keras

    import keras_attention  # noqa: F401  (registers the layers for loading)
    from keras_attention_export.report import build_report, write_report
    from keras_attention_export.tflite import (
        calibration_arrays,
        default_mode,
        export_tflite,
        fixed_signature,
        input_names,
    )

    if not os.path.exists(args.model):
        raise FileNotFoundError(f"model file not found: {args.model}")
    try:
        model = keras.saving.load_model(args.model)
    except Exception as error:
        raise ValueError(
            f"cannot load {args.model} as a Keras model (expected a .keras file "
            f"written by model.save): {str(error).splitlines()[0]}"
        ) from None
    input_shapes = _input_shapes(args.input_shape)
    calibration = (
        _load_npz(args.calibration, "calibration") if args.calibration else None
    )
    args.mode = args.mode or default_mode(model)
    metadata = export_tflite(
        model,
        args.out,
        mode=args.mode,
        representative_data=calibration,
        num_calibration_samples=args.calibration_samples,
        integer_io=args.integer_io,
        batch_size=args.batch_size,
        input_shapes=input_shapes,
        keep_tensor_names=args.keep_tensor_names,
        range_quantile=args.range_quantile,
        task={"kind": "arrays"},
    )
    print(
        f"wrote {args.out} ({args.mode}, {os.path.getsize(args.out):,} bytes) "
        f"and {metadata}"
    )
    if args.report:
        if args.heldout:
            arrays, note = _load_npz(args.heldout, "held-out"), "held-out inputs"
        elif calibration is not None:
            arrays, note = calibration, "calibration inputs (no --heldout given)"
        else:
            signature = fixed_signature(model, args.batch_size, input_shapes)
            arrays = calibration_arrays(signature["serving_default"], 20)
            note = "random inputs (no --heldout given)"
        samples = _samples(arrays, args.batch_size)
        output_names = [t._keras_history.operation.name for t in model.outputs]
        names = input_names(model)

        def reference(sample):
            # In the model's own structure: no name has to match.
            inputs = keras.tree.pack_sequence_as(model.input, [sample[n] for n in names])
            outputs = model.predict(inputs, verbose=0)
            outputs = outputs if isinstance(outputs, list) else [outputs]
            if len(set(output_names)) != len(output_names):
                return {f"output_{i}": o for i, o in enumerate(outputs)}
            return dict(zip(output_names, outputs))

        report = build_report(
            args.out, reference, samples, args.mode,
            num_threads=args.threads, runs=args.runs, inputs_note=note,
        )
        json_path, md_path = write_report(report, args.report)
        print(
            f"wrote {json_path} and {md_path}: max abs error "
            f"{report['parity']['max_abs_error']:.3g}, median latency "
            f"{report['latency_ms']['median']:.3f} ms"
        )
    if args.onnx:
        from keras_attention_export.onnx import export_onnx, onnx_max_error

        session = export_onnx(model, args.onnx, args.batch_size, input_shapes)
        arrays = calibration or calibration_arrays(
            fixed_signature(model, args.batch_size, input_shapes)["serving_default"], 1
        )
        sample = _samples(arrays, args.batch_size, limit=1)[0]
        print(
            f"wrote {args.onnx}: max abs error vs Keras "
            f"{onnx_max_error(session, model, sample):.3g}"
        )


def main(argv=None):
    args = _parser().parse_args(argv)
    if "keras" not in sys.modules:
        # Conversion traces the model as TensorFlow functions; a .keras file
        # loads on any backend, so this process takes TensorFlow's.
        os.environ["KERAS_BACKEND"] = "tensorflow"
    try:
        with quiet_logs(args.verbose):
            run(args)
    except (OSError, ValueError, RuntimeError) as error:
        # ExportError, CalibrationError and FlexOpsError are among these.
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
