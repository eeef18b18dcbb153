"""Downloads into a cache, and the checks of what came (private).

A cache entry is either absent or whole and checked. A download goes to a
temporary file beside its place in the cache and is renamed into place only
after the checks pass: every byte its `Content-Length` announced, not an
HTML page (a captive portal, a login or an error page), the format's own
check (a complete gzip stream, a zip whose members pass their CRC, a pickle
that parses to its end), and the SHA-256 where the canonical file is known.
A cache entry is checked the same way before each use; one that fails (cut
short by an older version of this module, changed by hand) is deleted and
downloaded again, with a warning that names it.
"""

import gzip
import hashlib
import os
import pickletools
import re
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
import zlib

# How much of a file the HTML sniffing reads.
_HEAD_BYTES = 512
# What reading a zip can raise besides BadZipFile: zlib's own error (not an
# OSError) for a bad deflate stream, EOFError for a cut one, and
# NotImplementedError for a compression method Python lacks.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


def default_cache_dir(subfolder):
    """`$KERAS_HOME/datasets/<subfolder>`, `KERAS_HOME` defaulting to `~/.keras`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(home, "datasets", subfolder)


def temporary_path(path, suffix=".part"):
    """A new empty file beside `path` (same folder, so `os.replace` is atomic)."""
    folder, base = os.path.split(os.path.abspath(path))
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=suffix)
    os.close(handle)
    return partial


def file_in_folder(folder, stem, holds):
    """`{stem}.gz` or `{stem}` in `folder`, whichever exists; else a
    `FileNotFoundError` naming both and what the folder should hold
    (`holds`, e.g. "a Multi30k folder holds ...")."""
    for name in (f"{stem}.gz", stem):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{os.path.join(folder, stem)}[.gz] is missing: {holds}")


def download(url, path):
    """Fetches `url` into the file `path`; a partial download never lands there.

    `http.client` returns a short body without an error when the server
    closes the connection early, so the length is checked against the
    `Content-Length` the server announced.

    Raises:
        OSError: the request failed (urllib's `URLError` and `HTTPError` are
            `OSError`s), or fewer or more bytes came than announced.
    """
    partial = temporary_path(path)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            announced = response.headers.get("Content-Length")
            with open(partial, "wb") as file:
                shutil.copyfileobj(response, file)
                received = file.tell()
        if announced is not None:
            if not announced.strip().isdigit():
                raise OSError(
                    f"{url} announced Content-Length: {announced!r}, which is not "
                    f"a number of bytes"
                )
            if received != int(announced):
                raise OSError(
                    f"{url} sent {received} bytes, but its Content-Length "
                    f"announced {int(announced)} (the connection closed early?)"
                )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def sha256_of(path):
    """The hex SHA-256 of the file `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path, kind, check=None, sha256=None):
    """Raises `ValueError(reason)` when `path` is not a good `kind` file.

    In order: empty, an HTML page, `check(path)` (the format's own check,
    which raises `ValueError(reason)`), then the SHA-256 when `sha256` is
    given. The reason names no file: the caller says which it was.
    """
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
    if not head:
        raise ValueError("it is empty")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise ValueError(
            f"it is an HTML page, not a {kind} (a captive portal, a login or an "
            f"error page?)"
        )
    if check is not None:
        check(path)
    if sha256 is not None:
        digest = sha256_of(path)
        if digest != sha256:
            raise ValueError(
                f"its SHA-256 is {digest}, not the canonical file's {sha256}: "
                f"cut short, corrupt or changed"
            )


def fetch(
    url, path, hint, download_function=download, kind="file", check=None,
    sha256=None,
):
    """`path`, downloaded from `url` first unless the cache has it, checked.

    A cache entry that fails `check_file` is deleted and downloaded again
    (with a warning). A download goes to a temporary file, is checked, and
    only then is renamed to `path`.

    Args:
        url: where the file comes from.
        path: its place in the cache.
        hint: what to do without a network, ending the download errors.
        download_function: `(url, path)` writing the body into `path`
            (the tests give a fake one).
        kind: what the file is, for the messages ("zip file").
        check: the format's own check, `check(path)` raising
            `ValueError(reason)`, or None.
        sha256: the canonical file's SHA-256 (hex), or None where it is not
            known.

    Raises:
        OSError: the download failed (naming the URL, `path` and `hint`).
        ValueError: what came is not a good `kind` file (naming the URL,
            `path` and why); nothing is left in the cache.
    """
    if os.path.exists(path):
        try:
            check_file(path, kind, check, sha256)
            return path
        except ValueError as reason:
            warnings.warn(
                f"{path} in the cache is not a good {kind} ({reason}); deleting "
                f"it and downloading {url} again",
                stacklevel=3,
            )
            os.remove(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = temporary_path(path)
    try:
        try:
            download_function(url, partial)
        except OSError as error:  # urllib's URLError is an OSError
            raise OSError(
                f"could not download {url} to {path}: {error}. {hint}"
            ) from error
        try:
            check_file(partial, kind, check, sha256)
        except ValueError as reason:
            raise ValueError(
                f"the download of {url} to {path} is not a {kind} ({reason}); it "
                f"was deleted, so the next call downloads it again. {hint}"
            ) from None
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


# --- The formats' own checks: each raises ValueError(reason) -----------------


def _starts_with(path, magic, kind):
    with open(path, "rb") as file:
        head = file.read(len(magic))
    if head != magic:
        raise ValueError(
            f"it does not start as a {kind} does ({magic!r}), but with {head!r}"
        )


def check_gzip(path):
    """A gzip file whose stream is complete and whose CRC matches."""
    _starts_with(path, b"\x1f\x8b", "gzip file")
    try:
        with gzip.open(path, "rb") as file:
            while file.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"it is not a complete gzip file: {error}") from None


def check_zip(path):
    """A zip file whose members all decompress and pass their CRC."""
    _starts_with(path, b"PK\x03\x04", "zip file")
    try:
        with zipfile.ZipFile(path) as zipped:
            bad = zipped.testzip()
    except (*ZIP_ERRORS, OSError) as error:  # OSError: a crafted offset
        raise ValueError(f"it is not a complete zip file: {error}") from None
    if bad is not None:
        raise ValueError(f"its member {bad} fails its CRC check")


def check_tar_gz(path):
    """A gzipped tar archive that reads to its end: every member's header
    and data, the gzip stream's CRC at the end."""
    _starts_with(path, b"\x1f\x8b", "gzipped tar archive")
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if member.isfile():
                    with archive.extractfile(member) as data:
                        while data.read(1 << 20):
                            pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ValueError(f"it is not a complete tar.gz archive: {error}") from None


def check_pickle(path):
    """A protocol-2 pickle that parses, opcode by opcode, to its STOP at the
    file's end. Nothing is unpickled: the check runs no code the file names."""
    _starts_with(path, b"\x80\x02", "Python-2 pickle")
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as file:
            for _ in pickletools.genops(file):
                pass
            end = file.tell()
    except ValueError as error:  # genops's own error for a cut or bad stream
        raise ValueError(f"it is not a complete pickle: {error}") from None
    if end != size:
        raise ValueError(f"its pickle ends at byte {end} of {size}")


def check_integer_lines(path):
    """A text file of integers, one a line (blank lines allowed)."""
    with open(path, "rb") as file:
        lines = file.read().split(b"\n")
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if line and not re.fullmatch(rb"-?[0-9]+", line):
            raise ValueError(
                f"it is not a text file of integers, one a line: line {number} "
                f"holds {line[:40]!r}"
            )
