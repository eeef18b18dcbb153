"""The released bAbI tasks: read from a folder or the archive, or downloaded once.

The archive `tasks_1-20_v1-2.tar.gz` (v1.2, 15,719,851 bytes) holds
`tasks_1-20_v1-2/en/qa<N>_<name>_<split>.txt` with 1,000 training questions
a task, and `en-10k/` with 10,000; both test files hold 1,000.
"""

import os
import tarfile

from keras_attention.data._download import (
    check_tar_gz,
    default_cache_dir,
    download,
    fetch,
)
from keras_attention.data.babi._format import BabiFormatError, parse_babi_text, read_babi

BABI_URL = "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz"
# The SHA-256 that Hugging Face's `babi_qa` data set records for BABI_URL
# (its dataset_infos.json, with the size above); checked on download and
# before each use of the cache.
BABI_SHA256 = "0364ebde659f14d11bc21744516c5ec49d3d06cb692733f66680771244998898"
ARCHIVE_ROOT = "tasks_1-20_v1-2"
TASK_NAMES = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    5: "three-arg-relations",
    6: "yes-no-questions",
    7: "counting",
    8: "lists-sets",
    9: "simple-negation",
    10: "indefinite-knowledge",
    11: "basic-coreference",
    12: "conjunction",
    13: "compound-coreference",
    14: "time-reasoning",
    15: "basic-deduction",
    16: "basic-induction",
    17: "positional-reasoning",
    18: "size-reasoning",
    19: "path-finding",
    20: "agents-motivations",
}
# Training sizes (questions in the training file) and the archive's folders.
SIZES = {"1k": "en", "10k": "en-10k"}
SPLITS = ("train", "test")

# The tests replace `_download` here to fetch without a network.
_download = download


def task_file_name(task, split):
    """`qa<task>_<name>_<split>.txt`, as the released files are named."""
    _check_task(task)
    _check_choice("split", split, SPLITS)
    return f"qa{task}_{TASK_NAMES[task]}_{split}.txt"


def _check_task(task):
    if isinstance(task, bool) or not isinstance(task, int) or task not in TASK_NAMES:
        raise ValueError(f"task must be an int from 1 to 20, received task={task!r}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, received {name}={value!r}")


def _from_archive(archive_path, member):
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            try:
                info = archive.getmember(member)
            except KeyError:
                raise FileNotFoundError(
                    f"{archive_path} holds no {member}: a bAbI v1.2 archive holds "
                    f"{ARCHIVE_ROOT}/{{en,en-10k}}/qa<N>_<name>_{{train,test}}.txt"
                ) from None
            with archive.extractfile(info) as data:
                raw = data.read()
    except (tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise BabiFormatError(
            f"{archive_path} is not a readable tar.gz archive: {error}"
        ) from None
    source = f"{archive_path}:{member}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BabiFormatError(f"{source} is not UTF-8 text: {error}") from None
    return parse_babi_text(text, source)


def _in_folder(folder, size, name):
    candidates = [
        os.path.join(folder, SIZES[size], name),
        os.path.join(folder, ARCHIVE_ROOT, SIZES[size], name),
        os.path.join(folder, name),
    ]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"no bAbI file {name} for size {size!r} in {folder}: looked for "
        + ", ".join(candidates)
    )


def babi_archive(cache_dir=None):
    """The path of the v1.2 archive, downloaded into `cache_dir` first unless
    it is there (checked: a complete tar.gz with the recorded SHA-256)."""
    cache_dir = cache_dir or default_cache_dir("babi")
    return fetch(
        BABI_URL, os.path.join(cache_dir, "tasks_1-20_v1-2.tar.gz"),
        "Without a network, pass path= a folder of qa*_train.txt / qa*_test.txt "
        "files, or the archive.",
        download_function=_download, kind="tar.gz archive", check=check_tar_gz,
        sha256=BABI_SHA256,
    )


def load_babi(task, split="train", size="1k", path=None, cache_dir=None):
    """The `Story`s of one bAbI task's split.

    Args:
        task: the task's number, 1 to 20 (`TASK_NAMES`).
        split: `"train"` or `"test"`.
        size: `"1k"` or `"10k"` training questions (the archive's `en/` and
            `en-10k/`; the test files of both hold 1,000).
        path: where the files are: the archive `tasks_1-20_v1-2.tar.gz`,
            or a folder holding `en/` and `en-10k/` (the unpacked archive's
            `tasks_1-20_v1-2/`, or its parent; `generate_babi` writes the
            same layout), or a folder of one size's `qa*_<split>.txt` files.
            None downloads the archive once from `BABI_URL` into
            `cache_dir`, checked against its SHA-256.
        cache_dir: where the download goes; default
            `$KERAS_HOME/datasets/babi`, `KERAS_HOME` defaulting to
            `~/.keras`.

    Returns:
        A list of `Story`; `samples_of(stories)` gives one `Sample` per
        question.

    Raises:
        ValueError: an unknown task, split or size.
        FileNotFoundError: `path` does not exist or lacks the file (the
            message lists where it looked).
        BabiFormatError: a line not in the bAbI format (naming the file and
            the line), or a file that is not UTF-8 or is empty.
        OSError: the download failed (naming the URL).
    """
    name = task_file_name(task, split)
    _check_choice("size", size, SIZES)
    if path is None:
        path = babi_archive(cache_dir)
    if os.path.isdir(path):
        return read_babi(_in_folder(path, size, name))
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"path must be a bAbI folder or the archive {ARCHIVE_ROOT}.tar.gz, "
            f"received path={path!r}, which does not exist"
        )
    if str(path).endswith((".tar.gz", ".tgz")):
        return _from_archive(path, f"{ARCHIVE_ROOT}/{SIZES[size]}/{name}")
    raise ValueError(
        f"path must be a bAbI folder or the archive {ARCHIVE_ROOT}.tar.gz, received "
        f"path={path!r}, a file of neither kind (read one task file with read_babi)"
    )
