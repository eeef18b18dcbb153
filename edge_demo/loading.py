"""Loading a model on the device, after checking it against its metadata.

`load` reads the `.tflite` file and the metadata JSON written beside it at
export (`edge_demo.contract`), checks every field of the metadata
(`edge_demo.schema`), that the two files agree, and that the task fits the
model, and returns an `EdgeModel`. Every check raises `EdgeModelError`
naming the file, what was expected and what was found, before LiteRT runs
anything.
"""

import json
import os

from ai_edge_litert.interpreter import Interpreter

from edge_demo.contract import (
    describe_signatures,
    metadata_path as default_metadata_path,
    sha256_hex,
)
from edge_demo.errors import EdgeModelError
from edge_demo.model import EdgeModel
from edge_demo.schema import check_metadata, check_task

# The most threads LiteRT is asked for: far more than a device has cores,
# and far below the 100,000 with which its thread pool crashes the process.
MAX_THREADS = 1024


def load(model_path, metadata_path=None, num_threads=1):
    """Check `model_path` against its metadata and load it into LiteRT.

    Args:
        model_path: the `.tflite` file.
        metadata_path: its metadata; by default the `.json` beside it.
        num_threads: threads LiteRT may use, at most `MAX_THREADS`.

    Returns:
        An `EdgeModel`.

    Raises:
        EdgeModelError: naming the file and what was expected and found, when
            a file is missing or unreadable, the metadata is not JSON or a
            field of it has the wrong type or range (`edge_demo.schema`),
            the model's size or digest differs from the metadata's (a
            truncated or changed file), LiteRT cannot load it, its
            signatures differ from the metadata's, or the task's fields do
            not fit them.
    """
    if (
        isinstance(num_threads, bool)
        or not isinstance(num_threads, int)
        or not 1 <= num_threads <= MAX_THREADS
    ):
        raise EdgeModelError(
            f"num_threads must be an int in [1, {MAX_THREADS}], received "
            f"num_threads={num_threads!r}"
        )
    model_path = os.fspath(model_path)
    meta_path = os.fspath(metadata_path or default_metadata_path(model_path))
    if not os.path.isfile(model_path):
        raise EdgeModelError(f"{model_path}: model file not found")
    metadata = read_metadata(meta_path, model_path)
    # The size first, from the folder: a huge or truncated file is told
    # before it is read.
    check_size(os.path.getsize(model_path), metadata, model_path, meta_path)
    try:
        with open(model_path, "rb") as f:
            content = f.read()
    except OSError as e:
        raise EdgeModelError(f"{model_path}: cannot read the model ({e})") from None
    check_content(content, metadata, model_path, meta_path)
    try:
        interpreter = Interpreter(model_content=content, num_threads=num_threads)
        found = describe_signatures(interpreter)
    except (ValueError, RuntimeError) as e:
        raise EdgeModelError(
            f"{model_path}: LiteRT cannot load it as a model ({_one_line(e)})"
        ) from None
    check_signatures(
        f"{model_path} does not match {meta_path}",
        expected=metadata["signatures"],
        found=found,
    )
    check_task(metadata, meta_path)
    return EdgeModel(model_path, meta_path, metadata, interpreter)


def read_metadata(path, model_path):
    """The metadata at `path`, after checking its format, version and every
    field of its own (`edge_demo.schema.check_metadata`)."""
    if not os.path.isfile(path):
        raise EdgeModelError(
            f"{path}: metadata file not found (the export writes it beside "
            f"{os.path.basename(model_path)})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise EdgeModelError(
            f"{path}: metadata is not valid JSON ({_one_line(e)})"
        ) from None
    except OSError as e:
        raise EdgeModelError(f"{path}: cannot read the metadata ({e})") from None
    return check_metadata(metadata, path)


def check_size(size, metadata, model_path, meta_path):
    """The model file's size against the metadata's: it tells a truncated
    copy apart from a changed one."""
    expected = metadata["model_bytes"]
    if size != expected:
        what = "truncated" if size < expected else "too long"
        raise EdgeModelError(
            f"{model_path}: {size} bytes, expected {expected} "
            f"(from {meta_path}): the file is {what}"
        )


def check_content(content, metadata, model_path, meta_path):
    """The model file's bytes against the metadata's size and digest."""
    # The file may have changed since its size was read.
    check_size(len(content), metadata, model_path, meta_path)
    digest = sha256_hex(content)
    if digest != metadata["model_sha256"]:
        raise EdgeModelError(
            f"{model_path}: sha256 {digest[:16]}..., expected "
            f"{metadata['model_sha256'][:16]}... (from {meta_path}): the file has "
            "changed or is corrupt"
        )


def check_signatures(context, expected, found):
    """Signature names, then each tensor's name, shape, dtype and
    quantization, of the metadata (`expected`) against the model (`found`)."""
    if sorted(expected) != sorted(found):
        raise EdgeModelError(
            f"{context}: expected signatures {sorted(expected)}, found {sorted(found)}"
        )
    for key in sorted(expected):
        for side in ("inputs", "outputs"):
            want = {t["name"]: t for t in expected[key][side]}
            have = {t["name"]: t for t in found[key][side]}
            if sorted(want) != sorted(have):
                raise EdgeModelError(
                    f"{context}: signature {key!r} {side}: expected names "
                    f"{sorted(want)}, found {sorted(have)}"
                )
            for name in sorted(want):
                for field in ("shape", "dtype", "quantization"):
                    w, h = want[name].get(field), have[name][field]
                    if not _same(w, h):
                        raise EdgeModelError(
                            f"{context}: signature {key!r} {side[:-1]} {name!r} "
                            f"{field}: expected {w}, found {h}"
                        )


def _same(a, b):
    # Scales went through JSON and back: equal to float64 precision, but a
    # metadata written by another tool may round them a little.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * abs(b)
    return a == b


def _one_line(error):
    return " ".join(str(error).split())
