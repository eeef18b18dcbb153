"""Writing a file whole or not at all.

A reader (the device runtime, a person, a script that waits for the file)
must never see half a model, half a metadata JSON or half a report: each is
written to a temporary file in the same folder, flushed to disk, and
renamed over the target, which POSIX and Windows do in one step.
"""

import os
import tempfile


def write_atomically(path, content):
    """Write `content` (`bytes` or `str`, the latter as UTF-8) to `path`.

    Creates the folder if needed. Returns `path`.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder
    )
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain
        # open() would have.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        # The target is untouched; leave no temporary file behind either.
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _umask():
    # The only way to read the umask is to set it: put it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask
