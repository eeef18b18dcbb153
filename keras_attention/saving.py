"""Loading a `.keras` file with errors that name the file and what was wrong.

`keras.saving.load_model` says "File not found" for a truncated or random
file that exists, a bare `KeyError` for an archive without `config.json`
and a `JSONDecodeError` for a damaged one. `load_model` here checks the
archive first (a zip whose members are intact, with `config.json` and the
weights), then lets Keras build the model, and every error names the file,
what a `.keras` file holds and what was found instead.

Importing this module registers the library's layers (the package imports
them), so that their models deserialize.
"""

import json
import os
import zipfile

import keras

# A `.keras` archive as `model.save` writes it (Keras 3): the model's config
# and its weights, in HDF5 or (Keras 3.9 on) npz.
CONFIG = "config.json"
WEIGHTS = ("model.weights.h5", "model.weights.npz")


def describe_content(path, size=64):
    """What the start of the file at `path` looks like, in a few words
    (for error messages): empty, an HTML page, a zip archive, an HDF5 file,
    JSON, a numpy `.npy` array, or the first bytes."""
    with open(path, "rb") as f:
        head = f.read(size)
    total = os.path.getsize(path)
    text = head.lstrip().lower()
    if not head:
        return "an empty file"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return f"an HTML page ({total:,} bytes)"
    if head.startswith(b"PK"):
        return f"a zip archive ({total:,} bytes)"
    if head.startswith(b"\x89HDF"):
        return f"an HDF5 file ({total:,} bytes)"
    if head.startswith(b"\x93NUMPY"):
        return f"a single numpy .npy array ({total:,} bytes)"
    if text.startswith((b"{", b"[")):
        return f"JSON or text ({total:,} bytes)"
    return f"{total:,} bytes starting with {head[:16]!r}"


def check_archive(path, argument="model"):
    """Raise unless `path` is a readable `.keras` archive.

    Checks that the file exists, is a zip archive whose members all match
    their checksums (a truncated download or flipped bytes fail here), and
    holds `config.json` (a JSON object naming a class) and the weights.

    Raises:
        FileNotFoundError: naming `argument` and `path` when there is no
            such file.
        ValueError: naming `path`, what a `.keras` file holds and what was
            found.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{argument} file not found: {path}")
    if not os.path.isfile(path):
        raise ValueError(
            f"{argument} {path} is not a .keras file (model.save's zip archive): "
            "it is a folder"
        )
    expected = (
        f"cannot load {path} as a Keras model: it is not a readable .keras "
        "archive (a zip written by model.save)"
    )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ValueError(
            f"{expected}: found {describe_content(path)}, which is not a complete "
            "zip archive (truncated, or another kind of file)"
        ) from None
    with archive:
        names = archive.namelist()
        try:
            damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise ValueError(f"{expected}: {error}") from None
        if damaged is not None:
            raise ValueError(
                f"{expected}: member {damaged!r} does not match its checksum "
                "(the file is damaged)"
            )
        if CONFIG not in names:
            raise ValueError(
                f"{expected}: it has no {CONFIG}; found members {sorted(names)}"
            )
        if not any(name in names for name in WEIGHTS):
            raise ValueError(
                f"{expected}: it has no weights ({' or '.join(WEIGHTS)}); found "
                f"members {sorted(names)}"
            )
        try:
            config = json.loads(archive.read(CONFIG))
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(
                f"{expected}: its {CONFIG} is not valid JSON ({error})"
            ) from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(
            f"{expected}: its {CONFIG} must be a JSON object with a 'class_name', "
            f"found {type(config).__name__}"
            + (f" with keys {sorted(config)}" if isinstance(config, dict) else "")
        )


def load_model(path, argument="model", **kwargs):
    """`keras.saving.load_model(path, **kwargs)` after `check_archive`;
    Keras's own errors (an unknown class, weights that do not fit the
    config) come back as one `ValueError` naming `path`.

    Args:
        path: the `.keras` file.
        argument: what the file is to the caller (a command line argument),
            for the messages.
        **kwargs: for `keras.saving.load_model` (`compile`, `safe_mode`, ...).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a `.keras` archive, or Keras cannot build
            the model from it.
    """
    path = os.fspath(path)
    check_archive(path, argument)
    if not path.endswith(".keras"):
        raise ValueError(
            f"{argument} must be a file named *.keras (Keras loads the format "
            f"by its extension), received {path}"
        )
    try:
        return keras.saving.load_model(path, **kwargs)
    except Exception as error:  # Keras raises ValueError, TypeError, OSError...
        lines = [line for line in str(error).splitlines() if line.strip()]
        detail = " ".join(lines[:3]) if lines else type(error).__name__
        raise ValueError(
            f"cannot load {path} as a Keras model (expected a .keras file "
            f"written by model.save): {detail[:600]}"
        ) from None
