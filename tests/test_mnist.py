"""MNIST: the IDX reader and writer, `load_mnist`'s checks, the cache and the
fixed split. All on small generated files, but one test of the real test
split in the shared data folder."""

import doctest
import gzip
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from keras_attention.data import mnist

# The shared data folder beside the project's checkout, absent on most machines.
SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
HTML = b"<!DOCTYPE html>\n<html><body>Sign in to the network</body></html>\n"


def _raises(error, *parts):
    return pytest.raises(error, match=".*".join(map(re.escape, parts)))


def _digits(count, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    return images, (np.arange(count) % 10).astype(np.uint8)


def _write_split(folder, split, images, labels, gzipped=True):
    suffix = ".gz" if gzipped else ""
    images_stem, labels_stem = mnist.FILES[split]
    mnist.write_idx(os.path.join(folder, images_stem + suffix), images)
    mnist.write_idx(os.path.join(folder, labels_stem + suffix), labels)
    return (os.path.join(folder, images_stem + suffix),
            os.path.join(folder, labels_stem + suffix))


@pytest.fixture
def small_sizes(monkeypatch):
    """Splits of 7 and 6 images, whose IDX bytes have no canonical SHA-256."""
    monkeypatch.setattr(mnist, "SIZES", {"train": 7, "test": 6})
    monkeypatch.setattr(mnist, "MNIST_PAYLOAD_SHA256", {})


# -- The IDX format ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a-idx3-ubyte.gz", "a-idx3-ubyte"])
def test_idx_round_trip(tmp_path, name):
    images, _ = _digits(3)
    mnist.write_idx(tmp_path / name, images)
    back = mnist.read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and back.flags.writeable
    np.testing.assert_array_equal(back, images)
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    # The header: magic 0x00000803 (= 2051, unsigned bytes, 3 dimensions), then
    # the sizes as big-endian uint32, then one byte a pixel.
    assert raw[:16] == bytes.fromhex("00000803" "00000003" "0000001c" "0000001c")
    assert len(raw) == 16 + 3 * 784


def test_idx_round_trip_of_every_type(tmp_path):
    for dtype in ("uint8", "int8", "int16", "int32", "float32", "float64"):
        array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        mnist.write_idx(tmp_path / "a.gz", array)
        back = mnist.read_idx(tmp_path / "a.gz")
        assert back.dtype == np.dtype(dtype) and back.dtype.isnative, dtype
        np.testing.assert_array_equal(back, array)


def test_written_gzip_is_reproducible(tmp_path):
    images, _ = _digits(2)
    mnist.write_idx(tmp_path / "a.gz", images)
    first = (tmp_path / "a.gz").read_bytes()
    mnist.write_idx(tmp_path / "a.gz", images)  # overwriting is allowed
    assert (tmp_path / "a.gz").read_bytes() == first


def test_write_idx_never_leaves_part_of_a_file(tmp_path, monkeypatch):
    mnist.write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    before = (tmp_path / "a.gz").read_bytes()

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with _raises(OSError, "disk full"):
        mnist.write_idx(tmp_path / "a.gz", np.ones(5, np.uint8))
    assert (tmp_path / "a.gz").read_bytes() == before
    assert os.listdir(tmp_path) == ["a.gz"]


def test_write_idx_refuses_what_idx_cannot_hold(tmp_path):
    with _raises(ValueError, "array must be uint8", "received an array of int64"):
        mnist.write_idx(tmp_path / "a", np.arange(3))
    with _raises(ValueError, "received an array of bool"):
        mnist.write_idx(tmp_path / "a", np.ones(3, bool))
    with _raises(ValueError, "1 to 255 dimensions", "received shape ()"):
        mnist.write_idx(tmp_path / "a", np.uint8(3))
    with _raises(FileNotFoundError, "no-such-folder"):
        mnist.write_idx(tmp_path / "no-such-folder" / "a", np.zeros(3, np.uint8))
    assert os.listdir(tmp_path) == []


def test_read_idx_refuses_a_bad_file(tmp_path):
    file = tmp_path / "a"
    file.write_bytes(HTML)
    with _raises(ValueError, f"{file} is not an IDX file", "<!DO"):
        mnist.read_idx(file)
    # A header that announces 2**32 - 1 cubed bytes: refused without
    # allocating them.
    file.write_bytes(bytes.fromhex("00000803" + "ffffffff" * 3) + b"\0" * 10)
    with _raises(ValueError, f"{file} is cut short", "and 10 came"):
        mnist.read_idx(file)
    file.write_bytes(bytes.fromhex("00000801" "00000002") + b"\0\0\0")
    with _raises(ValueError, f"{file} is longer than its header says"):
        mnist.read_idx(file)
    with _raises(FileNotFoundError, str(tmp_path / "b")):
        mnist.read_idx(tmp_path / "b")


# -- load_mnist from a folder -----------------------------------------------------


@pytest.mark.parametrize("gzipped", [True, False])
def test_load_mnist_reads_a_folder(tmp_path, small_sizes, gzipped):
    images, labels = _digits(6)
    _write_split(str(tmp_path), "test", images, labels, gzipped=gzipped)
    train_images, train_labels = _digits(7, seed=1)
    _write_split(str(tmp_path), "train", train_images, train_labels, gzipped=gzipped)
    got_images, got_labels = mnist.load_mnist(path=str(tmp_path))
    assert got_images.dtype == got_labels.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    got_images, _ = mnist.load_mnist("train", path=str(tmp_path))
    np.testing.assert_array_equal(got_images, train_images)


def test_load_mnist_holds_files_to_the_real_counts(tmp_path):
    images_file, _ = _write_split(str(tmp_path), "test", *_digits(6))
    with _raises(ValueError, f"{images_file} holds 6 images, expected 10,000"):
        mnist.load_mnist(path=str(tmp_path))


def test_load_mnist_checks_the_sha256_of_the_idx_bytes(tmp_path, monkeypatch):
    # The real counts' check passes; the canonical SHA-256 does not.
    monkeypatch.setattr(mnist, "SIZES", {"train": 7, "test": 6})
    images_file, _ = _write_split(str(tmp_path), "test", *_digits(6))
    with _raises(ValueError, f"{images_file} is not the canonical t10k-images",
                 "SHA-256", mnist.MNIST_PAYLOAD_SHA256["t10k-images-idx3-ubyte"]):
        mnist.load_mnist(path=str(tmp_path))


def _cut_gzip(images_file, labels_file):
    data = Path(images_file).read_bytes()
    Path(images_file).write_bytes(data[: len(data) // 2])
    return images_file, "is not a complete gzip file"


def _flip_gzip_byte(images_file, labels_file):
    # A byte of the deflate stream: the stream or its CRC check fails.
    data = bytearray(Path(images_file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(images_file).write_bytes(bytes(data))
    return images_file, "is not a complete gzip file"


def _labels_as_images(images_file, labels_file):
    mnist.write_idx(images_file, np.zeros(6, np.uint8))
    return images_file, (
        "is not an MNIST images file: its magic number is 2049, expected 2051"
    )


def _images_as_labels(images_file, labels_file):
    mnist.write_idx(labels_file, np.zeros((6, 28, 28), np.uint8))
    return labels_file, (
        "is not an MNIST labels file: its magic number is 2051, expected 2049"
    )


def _cut_payload(images_file, labels_file):
    data = gzip.decompress(Path(images_file).read_bytes())
    Path(images_file).write_bytes(gzip.compress(data[:-1]))
    # 6 images of 784 bytes.
    return images_file, "is cut short: its header announces 4704 bytes", "4703 came"


def _long_payload(images_file, labels_file):
    data = gzip.decompress(Path(labels_file).read_bytes())
    Path(labels_file).write_bytes(gzip.compress(data + b"\0"))
    return labels_file, "is longer than its header says"


def _label_ten(images_file, labels_file):
    mnist.write_idx(labels_file, np.array([0, 1, 2, 10, 4, 11], np.uint8))
    return labels_file, "holds a label outside 0 to 9: 10 at index 3 (2 in all)"


def _fewer_labels(images_file, labels_file):
    mnist.write_idx(labels_file, np.zeros(5, np.uint8))
    return labels_file, "holds 5 labels, expected 6"


def _small_images(images_file, labels_file):
    mnist.write_idx(images_file, np.zeros((6, 27, 28), np.uint8))
    return images_file, "holds images of 27x28 pixels, expected 28x28"


@pytest.mark.parametrize("damage", [
    _cut_gzip, _flip_gzip_byte, _labels_as_images, _images_as_labels, _cut_payload,
    _long_payload, _label_ten, _fewer_labels, _small_images,
])
def test_load_mnist_refuses_a_bad_file_naming_it(tmp_path, small_sizes, damage):
    files = _write_split(str(tmp_path), "test", *_digits(6))
    file, *reason = damage(*files)
    with _raises(ValueError, f"{file} {reason[0]}", *reason[1:]):
        mnist.load_mnist(path=str(tmp_path))


def test_load_mnist_missing_folder_or_file(tmp_path, small_sizes):
    missing = str(tmp_path / "nothing")
    with _raises(FileNotFoundError, f"received path={missing!r}", "not a folder"):
        mnist.load_mnist(path=missing)
    mnist.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", _digits(6)[0])
    with _raises(FileNotFoundError,
                 f"{tmp_path / 't10k-labels-idx1-ubyte'}[.gz] is missing"):
        mnist.load_mnist(path=str(tmp_path))
    with _raises(FileNotFoundError, f"{tmp_path / 'train-images-idx3-ubyte'}[.gz]"):
        mnist.load_mnist("train", path=str(tmp_path))
    with _raises(ValueError, "split must be one of ('train', 'test')",
                 "received split='validation'"):
        mnist.load_mnist("validation", path=str(tmp_path))


def test_real_test_split():
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"{SHARED_MNIST} is not here")
    images, labels = mnist.load_mnist("test", path=str(SHARED_MNIST))
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    counts = np.bincount(labels, minlength=10)
    assert counts.size == 10 and counts.sum() == 10_000 and counts.min() > 0
    # 33.79 of 255: the test images' mean (the training images' is 33.32).
    assert 32.5 < images.mean() < 34.5
    (x_train, y_train), (x_test, y_test) = mnist.mnist_split(images, labels)
    assert len(x_train) == 8_000 and len(x_test) == 2_000
    # Unstratified, yet each digit stays near its tenth in both parts.
    assert np.bincount(y_test, minlength=10).min() > 150


# -- Download and cache -----------------------------------------------------------


@pytest.fixture
def server(tmp_path, small_sizes, monkeypatch):
    """A fake `_download` serving the .gz files in `served`, with their MD5s
    made the canonical ones, and the URLs it was asked for."""
    served = tmp_path / "served"
    served.mkdir()
    _write_split(str(served), "test", *_digits(6))
    monkeypatch.setattr(mnist, "MNIST_MD5", {
        file.name: hashlib.md5(file.read_bytes()).hexdigest()
        for file in served.iterdir()
    })
    asked = []

    def fake_download(url, path):
        asked.append(url)
        Path(path).write_bytes((served / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(mnist, "_download", fake_download)
    return served, asked


def test_load_mnist_downloads_once_into_the_cache(tmp_path, server, monkeypatch):
    served, asked = server
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    images, labels = mnist.load_mnist()
    np.testing.assert_array_equal(images, _digits(6)[0])
    cache = tmp_path / "home" / "datasets" / "mnist"
    assert sorted(os.listdir(cache)) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
    ]
    assert asked == [mnist.MNIST_URL.format(file=f"{stem}.gz")
                     for stem in mnist.FILES["test"]]
    mnist.load_mnist()
    assert len(asked) == 2  # the cache served the second call
    # A cache entry changed by hand is deleted and downloaded again.
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"changed"))
    with pytest.warns(UserWarning, match="t10k-labels-idx1-ubyte.gz in the cache"):
        mnist.load_mnist()
    assert asked[2:] == [mnist.MNIST_URL.format(file="t10k-labels-idx1-ubyte.gz")]
    np.testing.assert_array_equal(mnist.load_mnist()[1], labels)


@pytest.mark.parametrize("body, reason", [
    (HTML, "it is an HTML page"),
    (gzip.compress(b"\0\0\x08\x03 another file"), "its MD5 is"),
], ids=["html", "wrong-md5"])
def test_a_bad_download_is_refused_and_leaves_nothing(tmp_path, server, body, reason):
    served, _ = server
    (served / "t10k-images-idx3-ubyte.gz").write_bytes(body)
    cache = tmp_path / "cache"
    with _raises(ValueError, "t10k-images-idx3-ubyte.gz", reason, "pass path="):
        mnist.load_mnist(cache_dir=str(cache))
    assert os.listdir(cache) == []


def test_a_failed_download_names_the_url(tmp_path, small_sizes, monkeypatch):
    def offline(url, path):
        raise OSError("no network")

    monkeypatch.setattr(mnist, "_download", offline)
    with _raises(OSError, "could not download", mnist.MNIST_URL.format(
            file="t10k-images-idx3-ubyte.gz"), "no network", "pass path="):
        mnist.load_mnist(cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


# -- The fixed split ----------------------------------------------------------------


def test_mnist_split_is_fixed_disjoint_and_whole():
    images = np.arange(100)[:, None, None] * np.ones((1, 2, 2), np.int64)
    labels = np.arange(100) % 10
    (x_train, y_train), (x_test, y_test) = mnist.mnist_split(images, labels, 80)
    train, test = x_train[:, 0, 0], x_test[:, 0, 0]
    assert len(train) == 80 and len(test) == 20
    assert sorted(train.tolist() + test.tolist()) == list(range(100))
    np.testing.assert_array_equal(y_train, train % 10)  # pairs kept together
    np.testing.assert_array_equal(y_test, test % 10)
    again = mnist.mnist_split(images, labels, 80)
    np.testing.assert_array_equal(again[0][0], x_train)
    np.testing.assert_array_equal(again[1][0], x_test)
    other = mnist.mnist_split(images, labels, 80, seed=1)
    assert other[1][0][:, 0, 0].tolist() != test.tolist()


def test_mnist_split_is_the_one_the_figures_used():
    # The first examples of the default split of 10,000: a numpy whose
    # `default_rng(0).permutation` changed would give the figures another one.
    labels = np.arange(10_000)
    (_, y_train), (_, y_test) = mnist.mnist_split(labels, labels)
    assert y_train[:6].tolist() == [3577, 8925, 1634, 485, 4753, 726]
    assert len(y_test) == 2_000


def test_mnist_split_bad_input():
    images, labels = np.zeros((10, 28, 28)), np.zeros(10)
    for train in (0, 10, 11, -1):
        with _raises(ValueError, "train must", f"received train={train}"):
            mnist.mnist_split(images, labels, train)
    for train in (8.0, True, "8"):
        with _raises(ValueError, "train must be an int"):
            mnist.mnist_split(images, labels, train)
    with _raises(ValueError, "seed must be an int of at least 0"):
        mnist.mnist_split(images, labels, 8, seed=-1)
    with _raises(ValueError, "the same N", "(10, 28, 28)", "(9,)"):
        mnist.mnist_split(images, labels[:9], 8)


def test_describe_split():
    assert mnist.describe_split() == "MNIST test set, 8,000 train / 2,000 test, seed 0"
    assert mnist.describe_split(9_000, 1_000, seed=3) == (
        "MNIST test set, 9,000 train / 1,000 test, seed 3"
    )
    with _raises(ValueError, "test must be an int of at least 1"):
        mnist.describe_split(8_000, 0)


def test_module_example():
    result = doctest.testmod(mnist, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
