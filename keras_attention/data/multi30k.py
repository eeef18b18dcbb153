"""Multi30k task 1: English-German image captions, sentence-aligned.

Elliott, Frank, Sima'an and Specia (2016), "Multi30K: Multilingual
English-German Image Descriptions": 29,000 training, 1,014 validation and
1,000 test pairs (test 2016, Flickr), one raw sentence a line in
`{split}.{language}.gz`, the files of the data set's own repository
(`MULTI30K_URL`).

`load_multi30k` reads them from a folder (gzipped or plain) or downloads them
once into a cache, and returns the pairs of one split in either direction,
German to English by default as most published small models use.

Example:

>>> import gzip, os, tempfile
>>> folder = tempfile.mkdtemp()
>>> for language, lines in {"de": ["Ein Hund läuft.", "Zwei Katzen."],
...                         "en": ["A dog runs.", "Two cats."]}.items():
...     with gzip.open(os.path.join(folder, f"train.{language}.gz"), "wt") as f:
...         _ = f.write("\\n".join(lines) + "\\n")
>>> load_multi30k("train", path=folder)
(['Ein Hund läuft.', 'Zwei Katzen.'], ['A dog runs.', 'Two cats.'])
"""

import gzip
import os
import zlib

from keras_attention.data._download import (
    check_gzip,
    default_cache_dir,
    download,
    fetch,
    file_in_folder,
)

MULTI30K_URL = (
    "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
    "{file}"
)
# Our split names, and the data set's file stems.
SPLITS = {"train": "train", "validation": "val", "test": "test_2016_flickr"}
LANGUAGES = ("de", "en")
SIZES = {"train": 29_000, "validation": 1_014, "test": 1_000}
# The SHA-256 of each canonical file that MULTI30K_URL fetches, checked on
# download and before each use of the cache; computed from copies of the
# repository's files (29,000 and 1,014 lines, gzipped by the data set's
# authors in December 2017, as the gzip headers say). The test files'
# could not be fetched where this was written, so they are missing here:
# those downloads get every check but this one (not HTML, a complete gzip
# stream) and the loader's own (UTF-8, as many lines in both languages).
MULTI30K_SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
}

# The tests replace `_download` here to fetch without a network.
_download = download


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, received {name}={value!r}")


def _file_in_folder(folder, stem):
    return file_in_folder(
        folder, stem,
        "a Multi30k folder holds {train,val,test_2016_flickr}.{de,en}[.gz]",
    )


def _read_lines(file):
    opener = gzip.open if file.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not readable UTF-8 text: {error}") from error
    if not text:
        raise ValueError(f"{file} is empty: a Multi30k file holds one sentence a line")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last sentence
    return [line.strip() for line in lines]


def multi30k_files(split="train", path=None, cache_dir=None):
    """`{language: file}` of a split: in `path`, or downloaded into `cache_dir`."""
    _check_choice("split", split, SPLITS)
    stems = {language: f"{SPLITS[split]}.{language}" for language in LANGUAGES}
    if path is not None:
        if not os.path.isdir(path):
            raise FileNotFoundError(
                "path must be a folder holding the Multi30k files "
                f"{{train,val,test_2016_flickr}}.{{de,en}}[.gz], received "
                f"path={path!r}, which is not a folder"
            )
        return {language: _file_in_folder(path, stem) for language, stem in stems.items()}
    cache_dir = cache_dir or default_cache_dir("multi30k")
    hint = "Without a network, pass path= a folder that holds the .gz files."
    return {
        language: fetch(
            MULTI30K_URL.format(file=f"{stem}.gz"),
            os.path.join(cache_dir, f"{stem}.gz"),
            hint,
            download_function=_download,
            kind="gzip file",
            check=check_gzip,
            sha256=MULTI30K_SHA256.get(f"{stem}.gz"),
        )
        for language, stem in stems.items()
    }


def load_multi30k(
    split="train", source_language="de", target_language="en", path=None,
    cache_dir=None,
):
    """The sentence pairs of one Multi30k split: `(sources, targets)`.

    Args:
        split: `"train"`, `"validation"` or `"test"` (test 2016, Flickr).
        source_language, target_language: `"de"` and `"en"`, either way
            round; German to English by default.
        path: a folder holding `{train,val,test_2016_flickr}.{de,en}`,
            gzipped (`.gz`, as the data set ships them) or plain. None
            downloads the split's two files once from `MULTI30K_URL` into
            `cache_dir`: a download lands in the cache only whole and
            checked (train and validation against their SHA-256), and the
            cache is checked before each use (a bad entry is downloaded
            again, with a warning).
        cache_dir: where downloads go; default
            `$KERAS_HOME/datasets/multi30k`, `KERAS_HOME` defaulting to
            `~/.keras`.

    Returns:
        Two lists of `str`, aligned: `sources[i]` translates to
        `targets[i]`. Each line is one sentence, surrounding whitespace
        stripped, nothing else changed.

    Raises:
        ValueError: an unknown split or language, the same language twice,
            an unreadable or empty file, files with different numbers of
            lines, or a download that is not the file (an HTML page, cut
            short, a wrong SHA-256; it is deleted).
        FileNotFoundError: `path` is not a folder or lacks a file.
        OSError: the download failed or was cut short (the message names
            the URL).
    """
    _check_choice("source_language", source_language, LANGUAGES)
    _check_choice("target_language", target_language, LANGUAGES)
    if source_language == target_language:
        raise ValueError(
            "source_language and target_language must differ, received "
            f"source_language={source_language!r} and target_language={target_language!r}"
        )
    files = multi30k_files(split, path, cache_dir)
    sources = _read_lines(files[source_language])
    targets = _read_lines(files[target_language])
    if len(sources) != len(targets):
        raise ValueError(
            f"the {split} files must have one line per sentence pair, received "
            f"{len(sources)} lines in {files[source_language]} and {len(targets)} "
            f"in {files[target_language]}"
        )
    return sources, targets
