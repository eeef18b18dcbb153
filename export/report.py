"""What an export produced: size, operators, parity with Keras, latency.

`build_report` measures a written `.tflite` file against the Keras model it
came from, through the device runtime (`edge_demo`), so that the report
measures what the device runs; `write_report` saves the result as JSON and
as markdown. Quantization, the tensor description and latency timing are
the device contract's (`edge_demo.contract`); this module adds what needs
TensorFlow: reading the flatbuffer's operators.
"""

import collections
import json
import os

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from edge_demo.contract import describe_runner, describe_tensor, latency
from edge_demo.contract import quantize as quantize_tensor
from edge_demo.files import write_atomically
from edge_demo.loading import load
from edge_demo.model import call_signature
from keras_attention_export.verify import BUILTIN_NAMES, TYPE_NAMES

# Ops at a quantized model's edges that are there to change the type.
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


def operators(flatbuffer):
    """Every operator of every subgraph: `[(op name, input types, output types)]`."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    found = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)

        def types(indices):
            return [
                TYPE_NAMES.get(graph.Tensors(int(i)).Type(), "?")
                for i in indices
                if i >= 0
            ]

        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = codes[op.OpcodeIndex()]
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
            if name == "CUSTOM":
                name = f"CUSTOM:{code.CustomCode().decode()}"
            found.append(
                (name, types(op.InputsAsNumpy()), types(op.OutputsAsNumpy()))
            )
    return found


def float_ops(flatbuffer):
    """Histogram of the ops computing in float, leaving out the boundary ops."""
    return dict(
        collections.Counter(
            name
            for name, inputs, outputs in operators(flatbuffer)
            if name not in _BOUNDARY_OPS
            and any(t.startswith("float") for t in inputs[:1] + outputs)
        )
    )


def latency_ms(runner, inputs, runs=50, warmup=5):
    """Median and 90th percentile of `runs` timed calls of a bare signature
    runner on ready `inputs`, in milliseconds (`edge_demo.contract.latency`).

    Returns:
        `{"median", "p90"}`.
    """
    stats = latency(lambda: runner(**inputs), runs=runs, warmup=warmup)
    return {"median": stats["median_ms"], "p90": stats["p90_ms"]}


def quantize(value, details):
    """Real values as a bare LiteRT runner's input takes them, from the
    runner's `details` of that input: quantized with `edge_demo.contract`'s
    arithmetic where the tensor is quantized, else cast to its dtype. No
    checks: for timing loops that feed the runner directly."""
    description = describe_tensor("", details)
    dtype = np.dtype(description["dtype"])
    if description["quantization"] is None:
        return np.asarray(value).astype(dtype)
    return quantize_tensor(value, description["quantization"], dtype)


def run_signature(runner, inputs):
    """Call a bare signature runner with real-valued inputs; real-valued
    outputs. The device runtime's own generic run (`edge_demo.model`), on
    the runner's own description."""
    return call_signature(runner, describe_runner(runner), inputs, "the signature")


def build_report(
    model_path,
    reference,
    samples,
    mode,
    signature="serving_default",
    metric=None,
    num_threads=1,
    runs=50,
    inputs_note="held-out inputs",
    metadata_path=None,
):
    """Measure an exported model against its Keras reference, as the device
    runs it.

    The model is loaded by the device runtime (`edge_demo.load`: the file
    checked against its metadata) and every parity and latency measure goes
    through `EdgeModel.run`, the call a device makes: input checks and
    quantization, LiteRT, dequantization.

    Args:
        model_path: the `.tflite` file, its metadata beside it.
        reference: a function from one sample's inputs (dict of arrays) to
            the Keras outputs (dict by output name, or one array).
        samples: held-out inputs, a non-empty list of dicts of arrays shaped
            like the signature's inputs.
        mode: the export mode, for the record.
        signature: the signature to measure.
        metric: optional `metric(outputs by name, sample) -> float` (the
            task metric, e.g. accuracy), averaged over the samples for both
            Keras and LiteRT.
        num_threads: LiteRT threads for the latency runs.
        runs: timed runs for the latency (after 5 untimed ones).
        inputs_note: says where `samples` came from.
        metadata_path: the metadata, when not the `.json` beside the model.

    Returns:
        A dict ready for `write_report`.

    Raises:
        ValueError: `samples` is empty.
        EdgeModelError: the model does not match its metadata, or a sample
            does not fit the signature (naming the input).
    """
    if len(samples) == 0:
        raise ValueError(
            "samples must hold at least one sample for parity and latency, "
            "received none"
        )
    model = load(model_path, metadata_path, num_threads=num_threads)
    with open(model_path, "rb") as f:
        flatbuffer = f.read()
    errors, agree, total, keras_scores, lite_scores = [], 0, 0, [], []
    for sample in samples:
        want = reference(sample)
        got = model.run(signature, **sample)
        if not isinstance(want, dict):
            want = {next(iter(got)): want}
        for name, value in want.items():
            value = np.asarray(value, "float32")
            errors.append(float(np.abs(got[name] - value).max()))
            if value.ndim >= 2 and value.shape[-1] > 1:
                agree += int((got[name].argmax(-1) == value.argmax(-1)).sum())
                total += value[..., 0].size
        if metric is not None:
            keras_scores.append(metric(want, sample))
            lite_scores.append(metric(got, sample))
    histogram = collections.Counter(name for name, _, _ in operators(flatbuffer))
    stats = latency(lambda: model.run(signature, **samples[0]), runs=runs, warmup=5)
    report = {
        "model": os.path.basename(model_path),
        "mode": mode,
        "bytes": len(flatbuffer),
        "operators": dict(sorted(histogram.items())),
        "float_operators": float_ops(flatbuffer) if mode in ("int8", "int16x8") else {},
        "parity": {
            "inputs": f"{len(samples)} {inputs_note}",
            "max_abs_error": max(errors) if errors else None,
            "top1_agreement": agree / total if total else None,
            "metric_keras": float(np.mean(keras_scores)) if metric else None,
            "metric_litert": float(np.mean(lite_scores)) if metric else None,
        },
        "latency_ms": {
            "runtime": "edge_demo",
            "threads": num_threads,
            "runs": runs,
            "median": stats["median_ms"],
            "p90": stats["p90_ms"],
        },
    }
    return report


def to_markdown(report):
    parity, timing = report["parity"], report["latency_ms"]

    def fmt(value, spec):
        return "n/a" if value is None else format(value, spec)

    lines = [
        f"# Export report: {report['model']} ({report['mode']})",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| file size | {report['bytes']:,} bytes |",
        f"| parity inputs | {parity['inputs']} |",
        f"| max abs error vs Keras | {fmt(parity['max_abs_error'], '.3g')} |",
        f"| top-1 agreement | {fmt(parity['top1_agreement'], '.4f')} |",
        f"| task metric, Keras / LiteRT | {fmt(parity['metric_keras'], '.4f')} / "
        f"{fmt(parity['metric_litert'], '.4f')} |",
        f"| latency median / p90 | {timing['median']:.3f} / {timing['p90']:.3f} ms "
        f"({timing['runtime']}, {timing['threads']} thread(s), "
        f"{timing['runs']} runs) |",
        "",
        "## Operators",
        "",
        "| op | count |",
        "| --- | --- |",
        *[f"| {op} | {n} |" for op, n in report["operators"].items()],
    ]
    if report["mode"] in ("int8", "int16x8"):
        lines += ["", "## Ops left in float", ""]
        lines += [f"- {op}: {n}" for op, n in report["float_operators"].items()] or [
            "none"
        ]
    return "\n".join(lines) + "\n"


def write_report(report, json_path, markdown_path=None):
    """JSON at `json_path`; markdown beside it (`.md`) unless given."""
    markdown_path = markdown_path or os.path.splitext(json_path)[0] + ".md"
    write_atomically(json_path, json.dumps(report, indent=2))
    write_atomically(markdown_path, to_markdown(report))
    return json_path, markdown_path
