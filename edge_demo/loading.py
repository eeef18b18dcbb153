"""Loading a model on the device, after checking it against its metadata.

`load` reads the `.tflite` file and the metadata JSON written beside it at
export (`edge_demo.contract`), checks that the two agree, and returns an
`EdgeModel`. Every check raises `EdgeModelError` naming the file, what was
expected and what was found, before LiteRT runs anything.
"""

import json
import os

from ai_edge_litert.interpreter import Interpreter

from edge_demo.contract import (
    FORMAT,
    REQUIRED_FIELDS,
    VERSION,
    describe_signatures,
    metadata_path as default_metadata_path,
    sha256_hex,
)
from edge_demo.errors import EdgeModelError
from edge_demo.model import EdgeModel


def load(model_path, metadata_path=None, num_threads=1):
    """Check `model_path` against its metadata and load it into LiteRT.

    Args:
        model_path: the `.tflite` file.
        metadata_path: its metadata; by default the `.json` beside it.
        num_threads: threads LiteRT may use.

    Returns:
        An `EdgeModel`.

    Raises:
        EdgeModelError: naming the file and what was expected and found, when
            a file is missing, the metadata is unreadable, the model's size or
            digest differs from the metadata's (a truncated or changed file),
            LiteRT cannot load it, or its signatures differ from the
            metadata's.
    """
    model_path = os.fspath(model_path)
    meta_path = os.fspath(metadata_path or default_metadata_path(model_path))
    if not os.path.isfile(model_path):
        raise EdgeModelError(f"{model_path}: model file not found")
    metadata = read_metadata(meta_path, model_path)
    with open(model_path, "rb") as f:
        content = f.read()
    check_content(content, metadata, model_path, meta_path)
    try:
        interpreter = Interpreter(model_content=content, num_threads=num_threads)
    except (ValueError, RuntimeError) as e:
        raise EdgeModelError(
            f"{model_path}: LiteRT cannot load it as a model ({_one_line(e)})"
        ) from None
    check_signatures(
        f"{model_path} does not match {meta_path}",
        expected=metadata["signatures"],
        found=describe_signatures(interpreter),
    )
    return EdgeModel(model_path, meta_path, metadata, interpreter)


def read_metadata(path, model_path):
    """The metadata at `path`, after checking its format, version and the
    fields the device needs (`contract.REQUIRED_FIELDS`)."""
    if not os.path.isfile(path):
        raise EdgeModelError(
            f"{path}: metadata file not found (the export writes it beside "
            f"{os.path.basename(model_path)})"
        )
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise EdgeModelError(f"{path}: metadata is not valid JSON ({e})") from None
    found = (
        (metadata.get("format"), metadata.get("version"))
        if isinstance(metadata, dict)
        else (type(metadata).__name__, None)
    )
    if found != (FORMAT, VERSION):
        raise EdgeModelError(
            f"{path}: expected metadata format {FORMAT!r} version {VERSION}, "
            f"found format {found[0]!r} version {found[1]!r}"
        )
    wrong = [
        key
        for key, kind in REQUIRED_FIELDS.items()
        if not isinstance(metadata.get(key), kind)
    ]
    if wrong:
        raise EdgeModelError(f"{path}: metadata lacks or mistypes {', '.join(wrong)}")
    return metadata


def check_content(content, metadata, model_path, meta_path):
    """The model file's bytes against the metadata's size and digest."""
    # Size first: it tells a truncated copy apart from a changed one.
    expected = metadata["model_bytes"]
    if len(content) != expected:
        what = "truncated" if len(content) < expected else "too long"
        raise EdgeModelError(
            f"{model_path}: {len(content)} bytes, expected {expected} "
            f"(from {meta_path}): the file is {what}"
        )
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
