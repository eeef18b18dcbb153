"""Arrays read from `.npz` files and checked, with numpy only.

The command line reads its calibration and held-out files here before it
imports TensorFlow, so that a bad file is refused in a fraction of a second
(and a file holding `inf` never reaches the converter, which it used to kill
with SIGSEGV). `export.calibration` checks the same values again against the
signature, for data given to the Python API.
"""

import os
import zipfile

import numpy as np

# The largest |value| accepted in representative data. The calibrator runs
# the float32 model on each sample and records every activation's min and
# max; attention squares its inputs (q . k, LayerNormalization's variance),
# so an input of 1e20 makes an inf range, and TF 2.21's converter then dies
# with SIGSEGV (measured on MultiHeadSelfAttention and TransformerEncoderBlock:
# one value of 1e10 converts, 1e20 and 3e38 kill the process, as inf does).
# At 1e6 a product of three such values (1e18), or a sum of a million
# squares, stays far inside float32 (3.4e38); and int8's 256 levels over
# [-1e6, 1e6] are already steps of about 7,800, so data beyond it is not
# data that int8 can represent: normalise it first.
MAX_MAGNITUDE = 1e6


def value_problem(value, dtype, bound=None):
    """The first bad value of `value` for an input of `dtype`: its index
    and what is wrong, in words ("holds inf at index (0, 3); ..."), or None.

    Float inputs need finite values, at most `bound` in magnitude (by default
    what `dtype` can hold); integer inputs whole numbers within `dtype`'s
    range. Bool inputs take anything.
    """
    dtype = np.dtype(dtype)
    value = np.asarray(value)
    if value.dtype == bool or dtype == bool or value.size == 0:
        return None
    if dtype.kind == "f":
        limit = float(np.finfo(dtype).max) if bound is None else bound
        real = value if value.dtype.kind == "f" else value.astype(np.float64)
        bad = ~(np.abs(real) <= limit)  # NaN compares False: it stays bad
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            return where, (
                f"holds {float(value[where]):g} at index {where}; every value must "
                f"be finite with magnitude at most {limit:g}"
                + (
                    " (larger values overflow the converter's float32 "
                    "calibration: scale the data first)"
                    if bound is not None
                    else ""
                )
            )
        return None
    info = np.iinfo(dtype)
    if value.dtype.kind == "f":
        bad = ~np.isfinite(value) | (value != np.round(value))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            return where, (
                f"holds {float(value[where]):g} at index {where}; an {dtype} input "
                "takes whole numbers"
            )
    bad = (value < info.min) | (value > info.max)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return where, (
            f"holds {value[where]} at index {where}, outside the range of "
            f"{dtype} [{info.min}, {info.max}]"
        )
    return None


def read_npz(path, argument):
    """The arrays of the `.npz` file at `path`, as `{name: array}`.

    Args:
        path: the file.
        argument: what it is to the caller (`--calibration`), for messages.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file (and the array) when it is not a
            complete `.npz` archive, an array cannot be read, or it holds
            Python objects (which `np.load` would have to unpickle).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{argument} file not found: {path}")
    expected = (
        f"{argument} file {path} is not a readable .npz (np.savez's zip of arrays)"
    )
    if not zipfile.is_zipfile(path):
        # Only on this path: it imports Keras (and TensorFlow).
        from keras_attention.saving import describe_content

        raise ValueError(
            f"{expected}: found {describe_content(path)}, which is not a complete "
            "zip archive (truncated, or another kind of file)"
        )
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            if not data.files:
                raise ValueError(f"{expected}: it holds no arrays")
            for name in data.files:
                try:
                    arrays[name] = data[name]
                except Exception as error:  # zlib, CRC, format and pickle errors
                    raise ValueError(
                        f"{expected}: array {name!r} cannot be read "
                        f"({' '.join(str(error).split())[:300]})"
                    ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{expected}: {error}") from None
    return arrays
