"""The device contract: what an export writes and the device reads and does.

Both sides import this one module: the exporter (`keras_attention_export`,
which writes the metadata and measures its report through the device
runtime) and the device runtime (`edge_demo`, which checks a model against
its metadata and runs it). It needs numpy and the standard library only, so
that a device without TensorFlow, Keras or our library can import it; it
takes LiteRT interpreters and signature runners as arguments but never
imports LiteRT.

The metadata file lies beside every exported `.tflite` model (`model.json`
beside `model.tflite`, see `metadata_path`). It is JSON:

    {
      "format": "keras-attention-edge",
      "version": 1,
      "model_file": "model.tflite",        # beside this file
      "model_bytes": 81234,                # a truncated file is caught
      "model_sha256": "ab12...",           # so is a changed or corrupt one
      "mode": "int8",                      # float32, float16, dynamic, int8, int16x8
      "signatures": {
        "serving_default": {
          "inputs":  [{"name": "source", "shape": [1, 12], "dtype": "int32",
                       "quantization": null}],
          "outputs": [{"name": "logits", "shape": [1, 12, 40], "dtype": "int8",
                       "quantization": {"scale": 0.05, "zero_point": -3}}]
        }
      },
      "task": {...}                        # optional: what the caller adds
    }

Each tensor is described by `describe_tensor`. `quantization` is the
tensor's affine scale and zero point when it is an integer tensor holding
real values (`real = scale * (q - zero_point)`, see `quantize` and
`dequantize`), and null otherwise. `task` is free-form for the application:
the sequence models put their vocabularies and special token ids there, a
model written by `keras-attention-export` has `{"kind": "arrays"}`.

Seq2seq models export two signatures, decoded step by step on the device:
`encode` (input `source`; outputs by name: the decoder's initial states and
the encoder's memory) and `decode_step` (inputs `token` `[B, 1]`, `step`
`[1]` and every output of `encode` by name; outputs `logits` and the next
value of every state, by the same name). What `decode_step` takes but does
not give back is memory (RNNsearch's encoder outputs, keys and source mask):
read-only, the same arrays at every step, so a step neither copies it out
nor quantizes it back.

A `decode_step` state whose name holds `cache` (the Transformer's
`self_attention_cache_{i}`, `[B, H, T, 2K]`) is a key/value cache of `T`
slots, one per step: decoding runs at most `T` steps (`step_limit`), and a
metadata's `max_target_length` may not ask for more. A model without one
runs at most `MAX_STEPS`.

The device checks every field it reads before it trusts it
(`edge_demo.schema`); inputs must be finite (`check_finite`).

Latency, on either side, is `latency`: untimed warm-up calls, then the
median and 90th percentile of timed ones.
"""

import hashlib
import os
import time

import numpy as np

from edge_demo.errors import EdgeModelError

FORMAT = "keras-attention-edge"
VERSION = 1

# The fields every metadata has, and their JSON types; `edge_demo.schema`
# checks each one's value too (`format` and `version` first).
REQUIRED_FIELDS = {
    "model_file": str,
    "model_bytes": int,
    "model_sha256": str,
    "mode": str,
    "signatures": dict,
}

# The export modes: `keras_attention_export.MODES` is this tuple.
MODES = ("float32", "float16", "dynamic", "int8", "int16x8")

# The most steps a step-by-step model runs in one call when no cache bounds
# it (an RNN decoder, a copy model's sequence): far beyond any model the
# project exports (target lengths of tens of tokens), and a bound on what a
# tampered metadata or a typo can make the device loop through.
MAX_STEPS = 4096


def metadata_path(model_path):
    """Where a model's metadata lies: `model.tflite` -> `model.json`."""
    return os.path.splitext(os.fspath(model_path))[0] + ".json"


def sha256_hex(content):
    """The SHA-256 of `content` (bytes) in hex, as `model_sha256` holds it."""
    return hashlib.sha256(content).hexdigest()


def new_metadata(model_file, content, mode, signatures, task=None):
    """The metadata of a model, as a dict ready for JSON.

    Args:
        model_file: the model's file name (no folder: the two lie together).
        content: the model file's bytes.
        mode: the export mode, for the record.
        signatures: `describe_signatures` of the model.
        task: what the application needs; `{}` when None.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_file": model_file,
        "model_bytes": len(content),
        "model_sha256": sha256_hex(content),
        "mode": mode,
        "signatures": signatures,
        "task": task or {},
    }


def describe_tensor(name, details):
    """One tensor as the metadata describes it, from LiteRT's `details`.

    Args:
        name: the tensor's name in its signature (LiteRT's own `name` field
            is empty once the export drops tensor names).
        details: one entry of a signature runner's `get_input_details()` or
            `get_output_details()`.

    Returns:
        `{"name", "shape", "dtype", "quantization"}`, `quantization` being
        `{"scale", "zero_point"}` for an integer tensor with a scale, else
        None.
    """
    params = details["quantization_parameters"]
    integer = np.issubdtype(details["dtype"], np.integer)
    quantized = integer and len(params["scales"]) > 0
    return {
        "name": name,
        "shape": [int(n) for n in details["shape"]],
        "dtype": np.dtype(details["dtype"]).name,
        "quantization": (
            {
                "scale": float(params["scales"][0]),
                "zero_point": int(params["zero_points"][0]),
            }
            if quantized
            else None
        ),
    }


def describe_runner(runner):
    """`{"inputs": [...], "outputs": [...]}` of a LiteRT signature runner,
    each list sorted by name."""
    return {
        side: [describe_tensor(name, d) for name, d in sorted(details().items())]
        for side, details in (
            ("inputs", runner.get_input_details),
            ("outputs", runner.get_output_details),
        )
    }


def describe_signatures(interpreter):
    """`{signature: describe_runner(...)}` of every signature of a LiteRT
    interpreter: the metadata's `signatures`."""
    return {
        key: describe_runner(interpreter.get_signature_runner(key))
        for key in interpreter.get_signature_list()
    }


def quantize(values, quantization, dtype):
    """Real values to a quantized tensor's integers.

    `round(x / scale) + zero_point`, clipped to the range of `dtype` (a value
    beyond the calibrated range saturates rather than wraps).

    Args:
        values: real numbers, any shape.
        quantization: a tensor description's `{"scale", "zero_point"}`.
        dtype: the tensor's integer dtype.
    """
    info = np.iinfo(dtype)
    q = np.round(np.asarray(values, np.float64) / quantization["scale"])
    return np.clip(q + quantization["zero_point"], info.min, info.max).astype(dtype)


def dequantize(values, description):
    """A tensor's values as real numbers: float32 for a quantized tensor
    (`scale * (q - zero_point)`, computed in float64), unchanged otherwise.

    Args:
        values: the tensor's values.
        description: its `describe_tensor` entry.
    """
    q = description["quantization"]
    if q is None:
        return values
    real = (np.asarray(values, np.float64) - q["zero_point"]) * q["scale"]
    return real.astype(np.float32)


def step_limit(signatures):
    """The most steps `decode_step` can run: the fewest slots of its
    caches (see the module), else `MAX_STEPS`.

    Args:
        signatures: the metadata's `signatures`, with `decode_step`.
    """
    step = signatures["decode_step"]
    given_back = {t["name"] for t in step["outputs"]}
    slots = [
        t["shape"][2]
        for t in step["inputs"]
        if "cache" in t["name"] and t["name"] in given_back and len(t["shape"]) >= 3
    ]
    return min(slots) if slots else MAX_STEPS


def check_finite(values, where):
    """Raise `EdgeModelError` if real `values` hold NaN or an infinity.

    A quantized tensor would take NaN as some integer and a float model
    would carry it into every output: either way a silently wrong result.
    The message gives the first such value's index, e.g. `where: expected
    finite values, received nan at [0, 3, 1]`.
    """
    array = np.asarray(values)
    if array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    if bad.any():
        index = [int(i) for i in np.argwhere(bad)[0]]
        raise EdgeModelError(
            f"{where}: expected finite values, received {array[tuple(index)]} "
            f"at {index} ({int(bad.sum())} of {array.size} not finite)"
        )


def latency(fn, runs=10, warmup=1):
    """Median and p90 milliseconds of `fn()` over `runs` timed calls.

    `warmup` untimed calls go first: the first call allocates tensors.

    Returns:
        `summarize_ms` of the timed calls.
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be a positive int, received runs={runs!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(
            f"warmup must be a non-negative int, received warmup={warmup!r}"
        )
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(ms_since(start))
    return summarize_ms(times)


def summarize_ms(times):
    """`{"median_ms", "p90_ms", "runs"}` of a list of milliseconds."""
    if len(times) == 0:
        raise ValueError("summarize_ms needs at least one time, received none")
    return {
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "runs": len(times),
    }


def ms_since(start):
    """Milliseconds since `start`, a `time.perf_counter()` reading."""
    return (time.perf_counter() - start) * 1e3
