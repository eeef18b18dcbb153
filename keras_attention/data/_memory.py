"""A check before a loader allocates an array whose size a file gave (private).

A corrupt or crafted file can ask for any size (a sparse matrix of shape
10^7 x 10^7, a node index of 10^10); numpy's `MemoryError` would name no
file, and with the kernel's overcommit a large enough allocation succeeds
and the process is killed later. So the size is checked first, against the
machine's memory, and the error names the file.
"""

import math
import os

import numpy as np


def physical_memory():
    """The machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def check_fits(file, what, shape, dtype):
    """Raises `ValueError` naming `file` when an array of `shape` and `dtype`
    (`what`, e.g. "the dense features") would not fit in memory.
    """
    shape = tuple(int(n) for n in shape)
    needed = math.prod(shape) * np.dtype(dtype).itemsize
    limit = physical_memory()
    if limit is not None and needed > limit:
        raise ValueError(
            f"{file} asks for {what} of shape {shape} "
            f"{np.dtype(dtype).name}: {needed / 2**30:.1f} GiB, more than this "
            f"machine's {limit / 2**30:.1f} GiB of memory (a corrupt or crafted "
            f"file?)"
        )
