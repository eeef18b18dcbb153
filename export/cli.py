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

Files: --out must end in .tflite, --report in .json and --onnx in .onnx, and
no output may be an input (the model, --calibration, --heldout) or another
output (the metadata .json beside --out and the .md beside --report count),
whatever the spelling or links. The .keras file and the .npz files are
checked before anything is converted: --calibration's values must be finite
and at most 1e6 in magnitude for int8 and int16x8. Every output is written
to a temporary folder beside it and moved into place once all of them were
written, so a failed run leaves the old files as they were.
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


def _samples(arrays, batch_size, limit=20):
    count = min(len(v) for v in arrays.values()) // batch_size
    return [
        {k: v[i * batch_size : (i + 1) * batch_size] for k, v in arrays.items()}
        for i in range(min(count, limit))
    ]


def _outputs(args):
    """`{what: path}` of every file the export writes."""
    from edge_demo.contract import metadata_path

    outputs = {"--out": args.out, "the metadata beside --out": metadata_path(args.out)}
    if args.report:
        outputs["--report"] = args.report
        markdown = os.path.splitext(args.report)[0] + ".md"
        outputs["the markdown beside --report"] = markdown
    if args.onnx:
        outputs["--onnx"] = args.onnx
    return outputs


def _check_paths(args):
    """Refuse outputs that would overwrite an input or each other, before
    anything is loaded or converted."""
    from keras_attention_export.outputs import check_paths

    for argument, path, suffix in (
        ("--out", args.out, ".tflite"),
        ("--report", args.report, ".json"),
        ("--onnx", args.onnx, ".onnx"),
    ):
        if path is not None and not path.endswith(suffix):
            raise ValueError(
                f"{argument} must name a {suffix} file, received {argument} {path}"
            )
    check_paths(
        {
            "the model": args.model,
            "--calibration": args.calibration,
            "--heldout": args.heldout,
        },
        _outputs(args),
    )


def _read_files(args):
    """`{argument: arrays or None}` of --calibration and --heldout, each
    file read and its float values checked (finite; at most MAX_MAGNITUDE
    for calibration in an integer mode) before Keras and TensorFlow load:
    a bad file is refused at once, and never reaches the converter."""
    from keras_attention_export.arrays import MAX_MAGNITUDE, read_npz, value_problem
    from keras_attention_export.errors import CalibrationError

    found = {}
    for argument, path in (
        ("--calibration", args.calibration),
        ("--heldout", args.heldout),
    ):
        if path is None:
            found[argument] = None
            continue
        arrays = read_npz(path, argument)
        calibrating = argument == "--calibration" and args.mode in ("int8", "int16x8")
        for name, value in arrays.items():
            if value.dtype.kind == "f":
                problem = value_problem(
                    value, value.dtype, MAX_MAGNITUDE if calibrating else None
                )
                if problem:
                    raise CalibrationError(
                        f"{argument} {path}: array {name!r} {problem[1]}"
                    )
        found[argument] = arrays
    return found


def run(args):
    # What needs neither Keras nor TensorFlow first: the paths, the files.
    _check_paths(args)
    files = _read_files(args)

    import keras

    from edge_demo.contract import metadata_path
    from keras_attention.saving import load_model
    from keras_attention_export.calibration import MAX_MAGNITUDE, check_arrays
    from keras_attention_export.errors import CalibrationError
    from keras_attention_export.outputs import StagedFiles
    from keras_attention_export.report import build_report, write_report
    from keras_attention_export.tflite import (
        Exporter,
        calibration_arrays,
        default_mode,
        fixed_signature,
        input_names,
        tf_signatures,
        write_model_files,
    )

    model = load_model(args.model, "model")
    input_shapes = _input_shapes(args.input_shape)
    signatures = tf_signatures(fixed_signature(model, args.batch_size, input_shapes))
    specs = signatures["serving_default"].input_signature
    args.mode = args.mode or default_mode(model)
    calibrated = args.mode in ("int8", "int16x8")
    calibration, heldout = files["--calibration"], files["--heldout"]
    # Names, shapes, dtypes and the values' fit to each input's dtype.
    if calibration is not None:
        bound = MAX_MAGNITUDE if calibrated else None
        check_arrays(calibration, specs, f"--calibration {args.calibration}", bound)
    if heldout is not None:
        check_arrays(heldout, specs, f"--heldout {args.heldout}")
    with Exporter(model, signatures) as exporter:
        try:
            flatbuffer = exporter.convert(
                args.mode,
                representative_data=calibration,
                num_calibration_samples=args.calibration_samples,
                integer_io=args.integer_io,
                keep_tensor_names=args.keep_tensor_names,
                range_quantile=args.range_quantile,
            )
        except CalibrationError as error:
            if args.calibration is None:
                raise
            raise CalibrationError(
                f"--calibration {args.calibration}: {error}"
            ) from None

    # Every output is written into a temporary folder beside its target and
    # moved into place only once all of them were: a failure anywhere
    # leaves the old files as they were.
    printed = []
    with StagedFiles() as staged:
        out = staged.stage(args.out)
        staged.stage(metadata_path(args.out))
        write_model_files(out, flatbuffer, args.mode, {"kind": "arrays"})
        printed.append(
            f"wrote {args.out} ({args.mode}, {len(flatbuffer):,} bytes) and "
            f"{metadata_path(args.out)}"
        )
        if args.report:
            if heldout is not None:
                arrays, note = heldout, "held-out inputs"
            elif calibration is not None:
                arrays, note = calibration, "calibration inputs (no --heldout given)"
            else:
                arrays = calibration_arrays(signatures["serving_default"], 20)
                note = "random inputs (no --heldout given)"
            samples = _samples(arrays, args.batch_size)
            output_names = [t._keras_history.operation.name for t in model.outputs]
            names = input_names(model)

            def reference(sample):
                # In the model's own structure: no name has to match.
                inputs = keras.tree.pack_sequence_as(
                    model.input, [sample[n] for n in names]
                )
                outputs = model.predict(inputs, verbose=0)
                outputs = outputs if isinstance(outputs, list) else [outputs]
                if len(set(output_names)) != len(output_names):
                    return {f"output_{i}": o for i, o in enumerate(outputs)}
                return dict(zip(output_names, outputs))

            report = build_report(
                out, reference, samples, args.mode,
                num_threads=args.threads, runs=args.runs, inputs_note=note,
            )
            json_path = staged.stage(args.report)
            md_path = staged.stage(os.path.splitext(args.report)[0] + ".md")
            write_report(report, json_path, md_path)
            printed.append(
                f"wrote {args.report} and {os.path.splitext(args.report)[0]}.md: "
                f"max abs error {report['parity']['max_abs_error']:.3g}, median "
                f"latency {report['latency_ms']['median']:.3f} ms"
            )
        if args.onnx:
            from keras_attention_export.onnx import export_onnx, onnx_max_error

            session = export_onnx(
                model, staged.stage(args.onnx), args.batch_size, input_shapes
            )
            arrays = calibration or calibration_arrays(signatures["serving_default"], 1)
            sample = _samples(arrays, args.batch_size, limit=1)[0]
            printed.append(
                f"wrote {args.onnx}: max abs error vs Keras "
                f"{onnx_max_error(session, model, sample):.3g}"
            )
        staged.commit()
    print("\n".join(printed))


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
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug of ours: still one line and status 2
        print(
            f"error: unexpected {type(error).__name__}: {_one_line(error)} "
            "(please report it, with the command line)",
            file=sys.stderr,
        )
        return 2
    return 0


def _one_line(error):
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
