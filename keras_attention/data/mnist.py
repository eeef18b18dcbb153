"""MNIST: 28x28 grey-scale handwritten digits, 0 to 9, in the IDX format.

LeCun, Bottou, Bengio and Haffner (1998), "Gradient-Based Learning Applied
to Document Recognition": 60,000 training and 10,000 test images, one byte
a pixel (0 background, 255 ink), in four files,
`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`.

`load_mnist` reads one split from a folder (gzipped or plain) or downloads
it once into a cache from `MNIST_URL`, torchvision's mirror (the original
site, yann.lecun.com, now refuses downloads). Every file, from a folder or
the cache, must be whole: its gzip stream complete, its IDX magic number
(2051 for images, 2049 for labels), the split's count (60,000 or 10,000)
and 28x28 in its header, exactly as many bytes as the header announces,
labels 0 to 9, and the SHA-256 of the decompressed IDX bytes, which
survives re-gzipping. A download must also have the canonical gzip file's
MD5 before it lands in the cache. A file that fails is refused with a
`ValueError` naming it.

The project ships only the 10,000 test images (the 60,000 are too large),
so its figures train on a fixed, seeded split of them: `mnist_split` (8,000
train and 2,000 test by default) and `describe_split`, the line each
figure quotes. `read_idx` and `write_idx` read and write any IDX file.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> folder = tempfile.mkdtemp()
>>> images = np.arange(10 * 28 * 28).reshape(10, 28, 28).astype(np.uint8)
>>> write_idx(os.path.join(folder, "digits-idx3-ubyte.gz"), images)
>>> labels = np.arange(10, dtype=np.uint8)
>>> write_idx(os.path.join(folder, "digits-idx1-ubyte.gz"), labels)
>>> images = read_idx(os.path.join(folder, "digits-idx3-ubyte.gz"))
>>> labels = read_idx(os.path.join(folder, "digits-idx1-ubyte.gz"))
>>> images.shape, images.dtype, labels.tolist()
((10, 28, 28), dtype('uint8'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
>>> (x_train, y_train), (x_test, y_test) = mnist_split(images, labels, train=8)
>>> x_train.shape, x_test.shape, sorted(y_train.tolist() + y_test.tolist())
((8, 28, 28), (2, 28, 28), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
>>> describe_split(8_000, 2_000, seed=0)
'MNIST test set, 8,000 train / 2,000 test, seed 0'
"""

import gzip
import hashlib
import math
import os
import struct
import zlib

import numpy as np

from keras_attention.data._download import (
    check_gzip,
    default_cache_dir,
    download,
    fetch,
    file_in_folder,
    temporary_path,
)

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/{file}"
# Our split names, and the data set's file stems: (images, labels).
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SIZES = {"train": 60_000, "test": 10_000}
IMAGE_SHAPE = (28, 28)
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
NUM_CLASSES = 10
# The MD5 of each gzip file that MNIST_URL serves, as torchvision's
# `MNIST.resources` lists them: checked on download and before each use of
# the cache. Only MD5 is published for these files. A re-gzipped copy (other
# header, other compression) has another MD5, so such copies go in a folder
# (`path=`), where the SHA-256s below check them instead.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# The SHA-256 of each decompressed IDX file, checked wherever the file came
# from. The t10k ones were computed here from the project's copies in
# ../shared/data/mnist (re-gzipped, same sizes as the canonical .gz files);
# the train ones, which no copy here holds, are the values that many
# independent lists of MNIST checksums agree on (not checked here). All four
# match those lists.
MNIST_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    ),
    "train-labels-idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
    ),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    ),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    ),
}

# IDX type codes (the magic number's third byte) and their big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# Payloads are read in blocks, never in one read of the size a header
# announces: a corrupt header can announce terabytes.
_BLOCK_BYTES = 1 << 20
# What reading a gzip file can raise for a damaged one (BadGzipFile is an
# OSError; zlib's error is not; EOFError for a stream cut short).
_GZIP_ERRORS = (OSError, EOFError, zlib.error)

# The tests replace `_download` here to fetch without a network.
_download = download


# --- The IDX format ------------------------------------------------------------


def _read_exactly(handle, file, size, what):
    data = handle.read(size)
    if len(data) != size:
        raise ValueError(
            f"{file} is cut short: its {what} needs {size} bytes, and {len(data)} "
            f"came"
        )
    return data


def _read_header(handle, file):
    """`(magic, dtype, shape, header bytes)` of the IDX file open in `handle`."""
    head = _read_exactly(handle, file, 4, "magic number")
    magic = int.from_bytes(head, "big")
    if head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES or head[3] == 0:
        raise ValueError(
            f"{file} is not an IDX file: it starts with {head!r} (magic number "
            f"{magic}), not with two zero bytes, a type code "
            f"({', '.join(f'0x{code:02X}' for code in _IDX_DTYPES)}) and a number "
            f"of dimensions"
        )
    dims = _read_exactly(handle, file, 4 * head[3], f"{head[3]} dimension sizes")
    shape = struct.unpack(f">{head[3]}I", dims)
    return magic, _IDX_DTYPES[head[2]], shape, head + dims


def _read_payload(handle, file, size, digest):
    """The `size` bytes after the header, refusing a file shorter or longer."""
    blocks = bytearray()
    while True:
        # One byte past `size` tells a longer file from an exact one.
        block = handle.read(min(_BLOCK_BYTES, size + 1 - len(blocks)))
        if not block:
            break
        blocks += block
        digest.update(block)
        if len(blocks) > size:
            raise ValueError(
                f"{file} is longer than its header says: more than the {size} "
                f"bytes of data that its dimensions announce"
            )
    if len(blocks) != size:
        raise ValueError(
            f"{file} is cut short: its header announces {size} bytes of data, "
            f"and {len(blocks)} came"
        )
    return blocks


def _read(file, expected=None):
    """`(array, SHA-256 of the decompressed bytes)` of the IDX `file`.

    `expected` is `(magic, shape, what)`: checked from the header, before
    the payload is read.
    """
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{file} is missing (or is not a file)")
    gzipped = file.endswith(".gz")
    # Only a gzip stream's errors are the file's fault; the file is opened
    # outside the `try`, so that an error opening it (permissions) is not
    # reported as a damaged stream.
    stream_errors = _GZIP_ERRORS if gzipped else ()
    with open(file, "rb") as raw:
        handle = gzip.GzipFile(fileobj=raw) if gzipped else raw
        try:
            magic, dtype, shape, header = _read_header(handle, file)
            if expected is not None:
                _check_header(file, magic, shape, *expected)
            digest = hashlib.sha256(header)
            # Python ints: a corrupt header's product can overflow int64.
            size = math.prod(shape) * dtype.itemsize
            payload = _read_payload(handle, file, size, digest)
        except stream_errors as error:
            raise ValueError(f"{file} is not a complete gzip file: {error}") from None
    # The bytearray is the array's own buffer: writable, not copied.
    array = np.frombuffer(payload, dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False), digest.hexdigest()


def read_idx(path):
    """The array in the IDX file `path` (gzipped when it ends with `.gz`).

    Returns:
        A writable numpy array of the header's shape, in native byte order,
        of its type: uint8, int8, int16, int32, float32 or float64.

    Raises:
        FileNotFoundError: `path` is not a file.
        ValueError: `path` is not an IDX file (its first bytes), is shorter
            or longer than its header announces, or is not a complete gzip
            file; the message names it.
    """
    return _read(os.fspath(path))[0]


def write_idx(path, array):
    """Writes `array` to the IDX file `path`, gzipped when it ends with `.gz`.

    The file is written beside `path` and renamed into place when whole, so
    `path` holds either its old content or the new, never part of it; an
    existing file is replaced. The gzip header names no time, so the same
    array always gives the same bytes.

    Args:
        path: the file to write; its folder must exist.
        array: uint8, int8, int16, int32, float32 or float64, with 1 to 255
            dimensions, each under 2**32.

    Raises:
        ValueError: the array's type, rank or sizes do not fit IDX.
        FileNotFoundError: the folder of `path` does not exist.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.dtype.kind == "b":
        raise ValueError(
            "array must be uint8, int8, int16, int32, float32 or float64 (the "
            f"IDX types), received an array of {array.dtype}"
        )
    if not 1 <= array.ndim <= 255 or any(size >= 2**32 for size in array.shape):
        raise ValueError(
            "array must have 1 to 255 dimensions, each under 2**32 (the IDX "
            f"header), received shape {array.shape}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"cannot write {path}: its folder {folder} does not exist"
        )
    header = bytes([0, 0, code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    partial = temporary_path(path)
    try:
        with open(partial, "wb") as raw:
            if path.endswith(".gz"):
                name = os.path.basename(path)[: -len(".gz")]
                with gzip.GzipFile(name, "wb", fileobj=raw, mtime=0) as handle:
                    handle.write(header + payload)
            else:
                raw.write(header + payload)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


# --- Loading a split ----------------------------------------------------------


def _check_header(file, magic, shape, want_magic, want_shape, what):
    if magic != want_magic:
        raise ValueError(
            f"{file} is not an MNIST {what} file: its magic number is {magic}, "
            f"expected {want_magic}"
        )
    # The magic number fixes the rank: 3 for images, 1 for labels.
    if shape[1:] != want_shape[1:]:
        raise ValueError(
            f"{file} holds {what} of {'x'.join(map(str, shape[1:]))} pixels, "
            f"expected {'x'.join(map(str, want_shape[1:]))}"
        )
    if shape[0] != want_shape[0]:
        raise ValueError(
            f"{file} holds {shape[0]:,} {what}, expected {want_shape[0]:,}"
        )


def _file_in_folder(folder, stem):
    return file_in_folder(
        folder, stem,
        "an MNIST folder holds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] "
        "(t10k alone for split='test')",
    )


def _gzip_with_md5(name):
    """fetch's check for the download `name`: a complete gzip, its MD5."""

    def check(path):
        check_gzip(path)
        want = MNIST_MD5.get(name)
        if want is None:
            return
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(_BLOCK_BYTES), b""):
                digest.update(block)
        if digest.hexdigest() != want:
            raise ValueError(
                f"its MD5 is {digest.hexdigest()}, not the canonical file's "
                f"{want}: corrupt or changed"
            )

    return check


def mnist_files(split="test", path=None, cache_dir=None):
    """`(images file, labels file)` of a split: in `path`, or downloaded."""
    if split not in FILES:
        raise ValueError(
            f"split must be one of {tuple(FILES)}, received split={split!r}"
        )
    if path is not None:
        if not os.path.isdir(path):
            raise FileNotFoundError(
                "path must be a folder holding the MNIST files "
                "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz], received "
                f"path={path!r}, which is not a folder"
            )
        return tuple(_file_in_folder(path, stem) for stem in FILES[split])
    cache_dir = cache_dir or default_cache_dir("mnist")
    hint = "Without a network, pass path= a folder that holds the IDX files."
    return tuple(
        fetch(
            MNIST_URL.format(file=f"{stem}.gz"),
            os.path.join(cache_dir, f"{stem}.gz"),
            hint,
            download_function=_download,
            kind="gzip file",
            check=_gzip_with_md5(f"{stem}.gz"),
        )
        for stem in FILES[split]
    )


def _load_checked(file, stem, magic, shape, what):
    array, sha256 = _read(file, (magic, shape, what))
    want = MNIST_PAYLOAD_SHA256.get(stem)
    if want is not None and sha256 != want:
        raise ValueError(
            f"{file} is not the canonical {stem}: the SHA-256 of its IDX bytes "
            f"is {sha256}, expected {want} (corrupt or changed)"
        )
    return array


def load_mnist(split="test", path=None, cache_dir=None):
    """The images and labels of one MNIST split: `(images, labels)`.

    Args:
        split: `"train"` (60,000) or `"test"` (10,000, the `t10k` files).
        path: a folder holding `{train,t10k}-{images-idx3,labels-idx1}-ubyte`,
            gzipped (`.gz`, as the data set ships them) or plain; only the
            split's two files need be there. None downloads them once from
            `MNIST_URL` into `cache_dir`: a download lands in the cache only
            whole and with the canonical MD5, and the cache is checked
            before each use (a bad entry is downloaded again, with a
            warning).
        cache_dir: where downloads go; default `$KERAS_HOME/datasets/mnist`,
            `KERAS_HOME` defaulting to `~/.keras`.

    Returns:
        `images`, uint8 `[N, 28, 28]` (0 background, 255 ink), and `labels`,
        uint8 `[N]`, the digits 0 to 9, as `keras.datasets.mnist` gives
        them; `N` is 60,000 or 10,000.

    Raises:
        ValueError: an unknown split, or a file that is not the split's (a
            damaged gzip stream, another magic number, count or image size,
            cut short or too long, a label outside 0 to 9, another SHA-256,
            or for a download another MD5 or an HTML page; a download is
            deleted). The message names the file.
        FileNotFoundError: `path` is not a folder or lacks a file.
        OSError: the download failed or was cut short (the message names
            the URL).
    """
    images_file, labels_file = mnist_files(split, path, cache_dir)
    images_stem, labels_stem = FILES[split]
    count = SIZES[split]
    images = _load_checked(
        images_file, images_stem, IMAGES_MAGIC, (count, *IMAGE_SHAPE), "images"
    )
    # Both counts are checked against the split's, so they are equal.
    labels = _load_checked(labels_file, labels_stem, LABELS_MAGIC, (count,), "labels")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise ValueError(
            f"{labels_file} holds a label outside 0 to {NUM_CLASSES - 1}: "
            f"{int(labels[bad[0]])} at index {int(bad[0])} ({bad.size} in all)"
        )
    return images, labels


# --- The project's fixed split of the 10,000 ----------------------------------


def _check_count(name, value, minimum=0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, received {name}={value!r}")
    if value < minimum:
        raise ValueError(
            f"{name} must be an int of at least {minimum}, received {name}={value!r}"
        )


def mnist_split(images, labels, train=8_000, seed=0):
    """A fixed, seeded split into `((x_train, y_train), (x_test, y_test))`.

    A plain permutation, not stratified: `numpy.random.default_rng(seed)`
    permutes the indices, the first `train` go to training and the rest to
    testing, in the permuted order (already shuffled). With the 10,000 test
    images each digit is 9 to 11% of the data, so either part keeps close
    to that mix without stratifying. The same seed gives the same split
    wherever numpy's `Generator.permutation` is unchanged (the tests pin
    its first indices).

    Args:
        images: `[N, ...]`, e.g. uint8 `[N, 28, 28]` from `load_mnist`.
        labels: `[N]`.
        train: how many examples train, `1 <= train < N`; 8,000 of the
            10,000 by default, leaving 2,000 to test.
        seed: the permutation's seed.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, new arrays (the inputs are
        not changed); `x_train` holds `train` examples and `x_test` the other
        `N - train`.

    Raises:
        ValueError: `images` and `labels` disagree on `N`, `labels` is not
            one-dimensional, or `train` or `seed` is out of range.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.ndim != 1 or images.ndim < 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            "images must be [N, ...] and labels [N] with the same N, received "
            f"images of shape {images.shape} and labels of shape {labels.shape}"
        )
    count = labels.shape[0]
    _check_count("train", train, minimum=1)
    if train >= count:
        raise ValueError(
            f"train must be smaller than the {count} examples, so that some are "
            f"left to test, received train={train}"
        )
    _check_count("seed", seed)
    order = np.random.default_rng(seed).permutation(count)
    fit, held = order[:train], order[train:]
    return (images[fit], labels[fit]), (images[held], labels[held])


def describe_split(train=8_000, test=2_000, seed=0):
    """The line a figure quotes for `mnist_split`'s split of the test set.

    >>> describe_split(8_000, 2_000, seed=0)
    'MNIST test set, 8,000 train / 2,000 test, seed 0'
    """
    _check_count("train", train, minimum=1)
    _check_count("test", test, minimum=1)
    _check_count("seed", seed)
    return f"MNIST test set, {train:,} train / {test:,} test, seed {seed}"
