"""What an export produced: size, operators, parity with Keras, latency.

`build_report` measures a written `.tflite` file against the Keras model it
came from; `write_report` saves the result as JSON and as markdown.
"""

import collections
import json
import os
import statistics
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if name.isupper()
}
_TENSOR_TYPES = {
    code: name.lower() for name, code in vars(schema.TensorType).items() if name.isupper()
}
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
                _TENSOR_TYPES.get(graph.Tensors(int(i)).Type(), "?")
                for i in indices
                if i >= 0
            ]

        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = codes[op.OpcodeIndex()]
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
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
    """Median and 90th percentile of `runs` timed calls, in milliseconds."""
    for _ in range(warmup):
        runner(**inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(**inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return {"median": statistics.median(times), "p90": float(np.percentile(times, 90))}


def quantize(value, details):
    """Real values to the tensor's integer type (no-op for float tensors)."""
    dtype = np.dtype(details["dtype"])
    scale, zero_point = details["quantization"]
    if not np.issubdtype(dtype, np.integer) or scale == 0:
        return np.asarray(value).astype(dtype)
    info = np.iinfo(dtype)
    q = np.round(np.asarray(value, "float64") / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(value, details):
    scale, zero_point = details["quantization"]
    if not np.issubdtype(np.dtype(details["dtype"]), np.integer) or scale == 0:
        return np.asarray(value)
    return (np.asarray(value, "float32") - zero_point) * scale


def run_signature(runner, inputs):
    """Call a signature runner with real-valued inputs; real-valued outputs."""
    in_details = runner.get_input_details()
    out_details = runner.get_output_details()
    outputs = runner(**{k: quantize(v, in_details[k]) for k, v in inputs.items()})
    return {k: dequantize(v, out_details[k]) for k, v in outputs.items()}


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
):
    """Measure an exported model against its Keras reference.

    Args:
        model_path: the `.tflite` file.
        reference: a function from one sample's inputs (dict of arrays) to
            the Keras outputs (dict by output name, or one array).
        samples: held-out inputs, a list of dicts of arrays shaped like the
            signature's inputs.
        mode: the export mode, for the record.
        metric: optional `metric(outputs by name, sample) -> float` (the
            task metric, e.g. accuracy), averaged over the samples for both
            Keras and LiteRT.
        num_threads: LiteRT threads for the latency runs.
        inputs_note: says where `samples` came from.

    Returns:
        A dict ready for `write_report`.
    """
    with open(model_path, "rb") as f:
        flatbuffer = f.read()
    interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
    runner = interpreter.get_signature_runner(signature)
    errors, agree, total, keras_scores, lite_scores = [], 0, 0, [], []
    for sample in samples:
        want = reference(sample)
        got = run_signature(runner, sample)
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
            "threads": num_threads,
            "runs": runs,
            **latency_ms(
                runner,
                {
                    k: quantize(v, runner.get_input_details()[k])
                    for k, v in samples[0].items()
                },
                runs,
            ),
        },
    }
    return report


def to_markdown(report):
    parity, latency = report["parity"], report["latency_ms"]

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
        f"| latency median / p90 | {latency['median']:.3f} / {latency['p90']:.3f} ms "
        f"({latency['threads']} thread(s), {latency['runs']} runs) |",
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
    for path in (json_path, markdown_path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(markdown_path, "w", encoding="utf-8") as f:
        f.write(to_markdown(report))
    return json_path, markdown_path
