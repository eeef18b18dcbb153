"""Bad files and bad downloads thrown at the data loaders (issue 16).

Every file format the loaders read (Planetoid pickles and test index, TU
zips and their text members, Multi30k gz, SentencePiece models, the cache
entries) is cut short, flipped, replaced by random bytes or an HTML page,
or has a field edited; each must give a clear error that names the file,
and leave the files around it (the user's inputs, a good cache) as they
were. Downloads go through a local HTTP server that closes early, sends an
HTML page or a wrong Content-Length, with the real downloader.
"""

import gzip
import hashlib
import http.server
import io
import os
import pickle
import re
import shutil
import struct
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_attention.data import _download, multi30k, subwords
from keras_attention.data import graphs
from tests import graph_fixtures, translation_fixtures

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>"
    b"<body><form action='/login'>Accept the terms</form></body></html>\n"
)


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _snapshot(folder):
    """Every file under `folder` (hidden ones too) and its bytes."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _flip(position):
    def flip(data):
        data = bytearray(data)
        data[position % len(data)] ^= 0xFF
        return bytes(data)

    return flip


MUTATIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "random": lambda data: np.random.default_rng(0).bytes(max(len(data), 64)),
    "html": lambda data: HTML,
    "flipped": None,  # a byte of the format's structure, given per case
}


# --- The local HTTP server -----------------------------------------------------


class _Server(http.server.BaseHTTPRequestHandler):
    """Serves `files` at `/<mode>/<name>`; the mode says how it misbehaves."""

    files = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        mode, _, name = self.path.strip("/").partition("/")
        body = self.files.get(name)
        if body is None or mode == "missing":
            self.send_error(404)
            return
        announced = len(body)
        if mode == "short":  # closes after half of what it announced
            body = body[: len(body) // 2]
        elif mode == "html":  # a captive portal
            body, announced = HTML, len(HTML)
        elif mode == "small-length":  # announces less than it sends
            announced = len(body) // 2
        elif mode == "bad-length":
            announced = "plenty"
        elif mode != "good":
            raise AssertionError(mode)
        self.send_response(200)
        self.send_header("Content-Length", str(announced))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def served(monkeypatch):
    """The served files, emptied after each test; no proxy for 127.0.0.1."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(_Server, "files", {})
    return _Server.files


def _val_corpus():
    """The generated val.{de,en}.gz bytes (gzip with a fixed mtime)."""
    german, english = translation_fixtures.corpus(12, seed=3)
    files = {}
    for language, lines in (("de", german), ("en", english)):
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as file:
            file.write(("\n".join(lines) + "\n").encode("utf-8"))
        files[f"val.{language}.gz"] = buffer.getvalue()
    return files, (german, english)


# Each way a server can fail, with the error the loader must give. The
# cache already holds a good val.en.gz, which must stay as it was.
DOWNLOAD_CASES = [
    ("short", OSError, r"could not download http://127\.0\.0\.1:\d+/short/val\.de\.gz "
     r"to .*val\.de\.gz: .*sent \d+ bytes, but its Content-Length announced \d+"),
    ("html", ValueError, r"download of .*/html/val\.de\.gz to .*val\.de\.gz is not a "
     r"gzip file \(it is an HTML page"),
    ("small-length", ValueError, r"/small-length/val\.de\.gz to .*val\.de\.gz is not a "
     r"gzip file \(it is not a complete gzip file"),
    ("bad-length", OSError, r"/bad-length/val\.de\.gz .*announced Content-Length: "
     r"'plenty', which is not a number"),
    ("missing", OSError, r"could not download .*/missing/val\.de\.gz .*404"),
]


@pytest.mark.parametrize(
    "mode,error,match", DOWNLOAD_CASES, ids=[c[0] for c in DOWNLOAD_CASES]
)
def test_bad_downloads_leave_no_cache_entry(tmp_path, server, served, monkeypatch,
                                            mode, error, match):
    files, expected = _val_corpus()
    served.update(files)
    hashes = {name: _sha256(data) for name, data in files.items()}
    monkeypatch.setattr(multi30k, "MULTI30K_SHA256", hashes)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "val.en.gz").write_bytes(files["val.en.gz"])
    monkeypatch.setattr(multi30k, "MULTI30K_URL", f"{server}/{mode}/{{file}}")
    with pytest.raises(error, match=match):
        multi30k.load_multi30k("validation", cache_dir=str(cache))
    assert _snapshot(cache) == {"val.en.gz": files["val.en.gz"]}
    # The next call with a working server needs no cleaning by hand.
    monkeypatch.setattr(multi30k, "MULTI30K_URL", f"{server}/good/{{file}}")
    assert multi30k.load_multi30k("validation", cache_dir=str(cache)) == expected
    assert _snapshot(cache) == files


def test_wrong_file_with_a_known_hash_is_refused(tmp_path, server, served, monkeypatch):
    files, expected = _val_corpus()
    hashes = {name: _sha256(data) for name, data in files.items()}
    monkeypatch.setattr(multi30k, "MULTI30K_SHA256", hashes)
    # A valid gzip, but not the file: the English sentences under the German name.
    served.update({"val.de.gz": files["val.en.gz"], "val.en.gz": files["val.en.gz"]})
    monkeypatch.setattr(multi30k, "MULTI30K_URL", f"{server}/good/{{file}}")
    with pytest.raises(
        ValueError,
        match=rf"val\.de\.gz is not a gzip file \(its SHA-256 is "
        rf"{_sha256(files['val.en.gz'])}, not the canonical file's "
        rf"{_sha256(files['val.de.gz'])}",
    ):
        multi30k.load_multi30k("validation", cache_dir=str(tmp_path))
    assert _snapshot(tmp_path) == {}


def test_downloader_checks_content_length(tmp_path, server, served):
    served["blob"] = bytes(range(256)) * 8
    target = tmp_path / "blob"
    with pytest.raises(OSError, match=r"/short/blob sent 1024 bytes, but its "
                       r"Content-Length announced 2048 \(the connection closed"):
        _download.download(f"{server}/short/blob", str(target))
    assert _snapshot(tmp_path) == {}
    _download.download(f"{server}/good/blob", str(target))
    assert _snapshot(tmp_path) == {"blob": served["blob"]}


def test_failing_download_function_leaves_nothing(tmp_path):
    def half_then_fail(url, path):
        Path(path).write_bytes(b"\x1f\x8b partial")
        raise OSError("connection reset")

    with pytest.raises(OSError, match=r"could not download u to .*f\.gz: connection "
                       r"reset\. no network"):
        _download.fetch("u", str(tmp_path / "f.gz"), "no network", half_then_fail,
                        kind="gzip file", check=_download.check_gzip)
    assert _snapshot(tmp_path) == {}


# --- The user's own files (path=): every format, every mutation ---------------


def _planetoid(folder):
    graph_fixtures.write_planetoid_fixture(folder, "cora")
    return lambda: graphs.load_planetoid("cora", path=str(folder))


def _tu(folder):
    graph_fixtures.write_tu_fixture(folder)
    return lambda: graphs.load_tu("TOY", path=str(folder))


def _multi30k(folder):
    german, english = translation_fixtures.corpus(20)
    translation_fixtures.write_split(str(folder), "train", german, english)
    return lambda: multi30k.load_multi30k("train", path=str(folder))


@pytest.fixture(scope="module")
def tokenizer():
    return subwords.SubwordTokenizer.train(
        translation_fixtures.corpus(200)[1], vocabulary_size=40
    )


def _sentencepiece(tokenizer):
    def make(folder):
        tokenizer.save(str(folder / "m.model"))
        return lambda: subwords.SubwordTokenizer.load(str(folder / "m.model"))

    return make


def _cut_mid_record(data):
    """About the first half, cut inside a line where lines are longer than
    one character (a cut at a line's end leaves a shorter file of whole
    lines, which only a count in another file can tell)."""
    cut = len(data) // 2
    return data[: cut - 2 if data[cut - 1 : cut] == b"\n" else cut]


MUTATIONS["truncated"] = _cut_mid_record

_PICKLE = r" is not a readable Planetoid file: "
_TU = r" is not a readable TU file: "
_GZ = r" is not readable UTF-8 text: "
_SP = r" is not a usable SentencePiece model: "
# (format, file, mutation, where to flip, what the message says after the
# file's name)
FILE_CASES = [
    *[
        ("planetoid", f"ind.cora.{s}", mutation, 2, _PICKLE + reason)
        for s in ("x", "y", "allx", "ally", "tx", "ty", "graph")
        for mutation, reason in (
            ("truncated", r"(pickle data was truncated|Ran out of input)"),
            ("empty", r"Ran out of input"),
            ("random", r"invalid load key, '_'"),
            ("html", r"invalid load key, '<'"),
            ("flipped", r"invalid load key, '\\x9c'"),
        )
    ],
    ("planetoid", "ind.cora.test.index", "empty", 0,
     r" disagrees with the other files: it holds no test nodes"),
    ("planetoid", "ind.cora.test.index", "random", 0, _PICKLE + r"line 1 holds '_"),
    ("planetoid", "ind.cora.test.index", "html", 0,
     _PICKLE + r"line 1 holds '<!DOCTYPE html>', not a node index"),
    ("planetoid", "ind.cora.test.index", "flipped", 1, _PICKLE + r"line 1 holds '2."),
    *[
        ("tu", f"TOY_{s}.txt", mutation, 0, _TU + reason)
        for s in ("A", "graph_indicator", "graph_labels", "node_labels",
                  "node_attributes")
        for mutation, reason in (
            ("random", r"'utf-8' codec can't decode byte 0x82"),
            ("html", r"could not convert string '<!DOCTYPE html>'"),
            ("flipped", r"'utf-8' codec can't decode byte"),
        )
    ],
    ("tu", "TOY_A.txt", "truncated", 0, _TU + r"could not convert string ' ' to int64"),
    ("tu", "TOY_A.txt", "empty", 0, r" holds no edges"),
    ("tu", "TOY_graph_indicator.txt", "empty", 0, r" and .*TOY_graph_labels\.txt must "
     r"not be empty"),
    ("tu", "TOY_graph_indicator.txt", "truncated", 0, r" gives graph 3 no nodes"),
    ("tu", "TOY_graph_labels.txt", "empty", 0, r" must not be empty"),
    ("tu", "TOY_node_labels.txt", "truncated", 0, r" has 5 rows, but .* has 9 nodes"),
    ("tu", "TOY_node_labels.txt", "empty", 0, r" has 0 rows, but .* has 9 nodes"),
    ("tu", "TOY_node_attributes.txt", "truncated", 0,
     _TU + r"could not convert string ' ' to float32 at row 4"),
    ("tu", "TOY_node_attributes.txt", "empty", 0, r" has 0 rows, but .* has 9 nodes"),
    ("multi30k", "train.de.gz", "truncated", 0,
     _GZ + r"Compressed file ended before the end-of-stream marker"),
    ("multi30k", "train.de.gz", "empty", 0, r" is empty"),
    ("multi30k", "train.de.gz", "random", 0, _GZ + r"Not a gzipped file \(b'_\\x82'\)"),
    ("multi30k", "train.de.gz", "html", 0, _GZ + r"Not a gzipped file \(b'<!'\)"),
    ("multi30k", "train.de.gz", "flipped", 94, _GZ + r"CRC check failed"),
    *[
        ("sentencepiece", "m.model", mutation, 0, _SP + reason)
        for mutation, reason in (
            ("truncated", r"model_proto is not a SentencePiece model"),
            ("empty", r"model_proto must be the non-empty bytes"),
            ("random", r"model_proto is not a SentencePiece model"),
            ("html", r"model_proto is not a SentencePiece model"),
            ("flipped", r"model_proto is not a SentencePiece model"),
        )
    ],
]


@pytest.mark.parametrize(
    "fmt,name,mutation,position,reason",
    FILE_CASES,
    ids=[f"{c[1]}-{c[2]}" for c in FILE_CASES],
)
def test_mutated_input_files_are_named_and_left_as_they_are(
    tmp_path, tokenizer, fmt, name, mutation, position, reason
):
    make = {"planetoid": _planetoid, "tu": _tu, "multi30k": _multi30k,
            "sentencepiece": _sentencepiece(tokenizer)}[fmt]
    load = make(tmp_path)
    target = tmp_path / name
    mutate = _flip(position) if mutation == "flipped" else MUTATIONS[mutation]
    target.write_bytes(mutate(target.read_bytes()))
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=re.escape(str(target)) + reason):
        load()
    assert _snapshot(tmp_path) == before


def test_truncated_test_index_is_caught_by_the_rows_of_tx(tmp_path):
    load = _planetoid(tmp_path)
    index = tmp_path / "ind.cora.test.index"
    index.write_bytes(_cut_mid_record(index.read_bytes()))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "ind.cora.tx"))
                       + r" disagrees with the other files: 10 rows, but test\.index "
                       r"holds 5 nodes"):
        load()


# --- Edited fields: values and sizes that the formats can hold ------------------


def _pickle_int(value):
    """The protocol-2 opcodes of any int (the fixtures' writer stops at 2**31)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _csr_pickle(shape, indptr, indices, data):
    """A pickled scipy csr matrix with the given arrays, written by hand."""
    state = (
        b"}(" + graph_fixtures._py2("_shape")
        + b"(" + b"".join(_pickle_int(n) for n in shape) + b"t"
        + b"".join(
            graph_fixtures._py2(key) + graph_fixtures._py2(np.asarray(value, dtype))
            for key, value, dtype in (
                ("indptr", indptr, np.int32),
                ("indices", indices, np.int32),
                ("data", data, np.float32),
            )
        )
        + b"u"
    )
    return (
        b"\x80\x02" + graph_fixtures._global("scipy.sparse.csr", "csr_matrix")
        + b")\x81" + state + b"b."
    )


def _write_lines(path, values):
    path.write_text("".join(f"{v}\n" for v in values))


def _edit_test_index(value, line=3):
    def edit(folder):
        index = folder / "ind.cora.test.index"
        lines = index.read_text().split()
        lines[line - 1] = str(value)
        _write_lines(index, lines)

    return edit


def _duplicate_test_node(folder):
    index = folder / "ind.cora.test.index"
    lines = index.read_text().split()
    lines[6] = lines[1]
    _write_lines(index, lines)


def _huge_feature_width(folder):
    width = 10**12  # 48 TB as float32 for the 20 rows of allx
    for suffix, rows in (("x", 6), ("allx", 20), ("tx", 10)):
        (folder / f"ind.cora.{suffix}").write_bytes(
            _csr_pickle((rows, width), np.zeros(rows + 1), [], [])
        )


def _nan_in(suffix, row, column=0):
    def edit(folder):
        files, _ = graph_fixtures.planetoid_fixture("cora")
        matrix = files[suffix]
        dense = matrix.dense if hasattr(matrix, "dense") else matrix.astype(np.float32)
        dense[row, column] = np.nan
        if not hasattr(matrix, "dense"):
            matrix = dense
        (folder / f"ind.cora.{suffix}").write_bytes(graph_fixtures.py2_pickle(matrix))

    return edit


def _graph_pickle(adjacency):
    """A pickled defaultdict of adjacency lists, with ints of any size."""
    items = b"".join(
        _pickle_int(node) + b"](" + b"".join(_pickle_int(n) for n in neighbours) + b"e"
        for node, neighbours in adjacency.items()
    )
    return (
        b"\x80\x02" + graph_fixtures._global("collections", "defaultdict")
        + graph_fixtures._global("__builtin__", "list") + b"\x85R(" + items + b"u."
    )


def _far_graph_node(folder):
    # The graph names node 10^12 and the test index reaches it: every check
    # of one file against another passes, and only the size tells.
    files, _ = graph_fixtures.planetoid_fixture("cora")
    files["graph"][12].append(10**12)
    (folder / "ind.cora.graph").write_bytes(_graph_pickle(files["graph"]))
    _edit_test_index(10**12)(folder)


def _tu_lines(suffix, line, value):
    def edit(folder):
        path = folder / f"TOY_{suffix}.txt"
        lines = path.read_text().splitlines()
        lines[line - 1] = value
        _write_lines(path, lines)

    return edit


def _gzip_edit(edit_bytes):
    def edit(folder):
        path = folder / "train.de.gz"
        path.write_bytes(edit_bytes(path.read_bytes()))

    return edit


def _invalid_utf8(data):
    text = gzip.decompress(data)
    return gzip.compress(text[:10] + b"\xff\xfe" + text[10:], mtime=0)


def _broken_deflate(data):
    # Past the 10-byte header and the file name: a deflate block of the
    # reserved type 3, which zlib refuses with its own error.
    start = data.index(b"\x00", 10) + 1
    return data[:start] + b"\xff" * 16 + data[start + 16 :]


def _drop_last_sentence(data):
    lines = gzip.decompress(data).split(b"\n")
    return gzip.compress(b"\n".join(lines[:-2] + [b""]), mtime=0)


# (format, the file the message names, the edit, what it says after the name)
FIELD_CASES = [
    ("planetoid", "ind.cora.test.index", _edit_test_index(30000),
     r" line 3 holds node 30000, but the files know nodes 0 to 29"),
    ("planetoid", "ind.cora.test.index", _edit_test_index(10**10, line=6),
     r" line 6 holds node 10000000000, but the files know nodes 0 to 29"),
    ("planetoid", "ind.cora.test.index", _edit_test_index(-5, line=4),
     r" disagrees with the other files: the test nodes must follow the 20 nodes of "
     r"allx, but the first is -5 \(line 4\)"),
    ("planetoid", "ind.cora.test.index", _edit_test_index(10**20, line=2),
     r" line 2 holds node 100000000000000000000, which no int64 holds"),
    ("planetoid", "ind.cora.test.index", _duplicate_test_node,
     r" disagrees with the other files: it holds a node twice \(line 7\)"),
    ("planetoid", "ind.cora.allx",
     lambda folder: (folder / "ind.cora.allx").write_bytes(
         _csr_pickle((10**7, 10**7), np.zeros(21), [], [])),
     r" is not a readable Planetoid file: a pickled csr matrix of shape "
     r"\(10000000, 10000000\) has inconsistent indptr, indices and data: indptr "
     r"holds 21 offsets for 10000000 rows"),
    ("planetoid", "ind.cora.allx", _huge_feature_width,
     r" asks for a dense matrix of shape \(20, 1000000000000\) float32: "
     r"[0-9.]+ GiB, more than this machine's"),
    ("planetoid", "ind.cora.test.index", _far_graph_node,
     r" asks for node features of shape \(1000000000001, 12\) float32"),
    ("planetoid", "ind.cora.allx", _nan_in("allx", 3),
     r" holds nan in row 3: Planetoid features and labels must be finite"),
    ("planetoid", "ind.cora.ty", _nan_in("ty", 4, 1),
     r" holds nan in row 4: Planetoid features and labels must be finite"),
    ("tu", "TOY_node_attributes.txt", _tu_lines("node_attributes", 4, "nan, 1.0"),
     r" line 4 holds \[nan, 1\.0\]: node attributes must be finite"),
    ("tu", "TOY_node_attributes.txt", _tu_lines("node_attributes", 9, "2.0, -inf"),
     r" line 9 holds \[2\.0, -inf\]: node attributes must be finite"),
    ("tu", "TOY_node_attributes.txt", _tu_lines("node_attributes", 1, "1e40, 0"),
     r" line 1 holds \[inf, 0\.0\]: node attributes must be finite"),
    ("tu", "TOY_node_labels.txt", _tu_lines("node_labels", 2, str(10**12)),
     r" asks for one-hot node labels of shape \(9, 1000000000000\) float32"),
    ("tu", "TOY_A.txt", _tu_lines("A", 2, "5, 10"),
     r" line 2 holds nodes \[5, 10\], but .*TOY_graph_indicator\.txt has 9 nodes"),
    ("tu", "TOY_graph_indicator.txt", _tu_lines("graph_indicator", 6, "4"),
     r" line 6 holds graph 4, but .*TOY_graph_labels\.txt has 3 graphs"),
    ("multi30k", "train.de.gz", _gzip_edit(_invalid_utf8),
     r" is not readable UTF-8 text: 'utf-8' codec can't decode byte 0xff"),
    ("multi30k", "train.de.gz", _gzip_edit(_broken_deflate),
     r" is not readable UTF-8 text: Error -3 while decompressing data: invalid block "
     r"type"),
    ("multi30k", "train.de.gz", _gzip_edit(_drop_last_sentence),
     r" and 20 in .*train\.en\.gz"),
]


@pytest.mark.parametrize(
    "fmt,name,edit,reason",
    FIELD_CASES,
    ids=[f"{c[1]}-{c[2].__name__ if hasattr(c[2], '__name__') else i}"
         for i, c in enumerate(FIELD_CASES)],
)
def test_edited_fields_are_refused_naming_the_file(tmp_path, fmt, name, edit, reason):
    load = {"planetoid": _planetoid, "tu": _tu, "multi30k": _multi30k}[fmt](tmp_path)
    edit(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / name)) + reason):
        load()
    assert _snapshot(tmp_path) == before


def test_special_ids_edited_in_a_sentencepiece_model(tmp_path, tokenizer):
    path = tmp_path / "m.model"
    tokenizer.save(str(path))
    data = bytearray(path.read_bytes())
    data[5] ^= 0xFF  # the <pad> piece's type: no longer a control piece
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(str(path)) + r" is not a usable "
                       r"SentencePiece model: .*pad=0.*received \(-1, 1, 2, 3\)"):
        subwords.SubwordTokenizer.load(str(path))


def test_saving_a_tokenizer_is_atomic(tmp_path, tokenizer, monkeypatch):
    path = tmp_path / "m.model"
    path.write_bytes(b"the user's old model")

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        tokenizer.save(str(path))
    assert _snapshot(tmp_path) == {"m.model": b"the user's old model"}
    monkeypatch.undo()
    tokenizer.save(str(path))
    assert _snapshot(tmp_path) == {"m.model": tokenizer.model_proto}


# --- Cache entries: checked before use, repaired when bad -----------------------


@pytest.fixture
def planetoid_source(tmp_path, monkeypatch):
    """The fixture's files as the "canonical" Cora (their SHA-256 known),
    served by a fake download that counts its calls."""
    source = tmp_path / "source"
    expected = graph_fixtures.write_planetoid_fixture(source, "cora")
    hashes = {
        p.name[len("ind.cora."):]: _sha256(p.read_bytes()) for p in source.iterdir()
    }
    monkeypatch.setitem(graphs.planetoid.PLANETOID_SHA256, "cora", hashes)
    fetched = []

    def fake_download(url, path):
        fetched.append(url.rsplit("/", 1)[-1])
        shutil.copy(source / url.rsplit("/", 1)[-1], path)

    monkeypatch.setattr(graphs.planetoid, "_download", fake_download)
    return source, expected, fetched


# (the cached file, how an older version or a hand left it, where to flip)
CACHE_CASES = [
    (f"ind.cora.{suffix}", mutation, position)
    for suffix, position in (("allx", 400), ("graph", 40), ("test.index", 4))
    for mutation in ("truncated", "empty", "random", "html", "flipped")
]


@pytest.mark.parametrize("name,mutation,position", CACHE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CACHE_CASES])
def test_bad_planetoid_cache_entries_are_downloaded_again(
    tmp_path, planetoid_source, name, mutation, position
):
    source, expected, fetched = planetoid_source
    cache = tmp_path / "cache"
    graphs.load_planetoid("cora", cache_dir=str(cache))
    good = _snapshot(cache)
    entry = cache / name
    mutate = _flip(position) if mutation == "flipped" else MUTATIONS[mutation]
    entry.write_bytes(mutate(entry.read_bytes()))
    warning = (
        re.escape(str(entry)) + r" in the cache is not a good Planetoid "
        r"(pickle|test index) \(.*\); deleting it and downloading "
        r"https://github\.com/.*/" + re.escape(name) + " again"
    )
    with pytest.warns(UserWarning, match=warning):
        graph = graphs.load_planetoid("cora", cache_dir=str(cache))
    np.testing.assert_array_equal(graph.node_features, expected["node_features"])
    np.testing.assert_array_equal(graph.edges, expected["edges"])
    assert fetched[8:] == [name]  # only the bad entry came again
    assert _snapshot(cache) == good


def test_cut_pickle_in_the_cache_is_repaired_without_a_known_hash(
    tmp_path, planetoid_source, monkeypatch
):
    # CiteSeer's and PubMed's SHA-256 are not known: the pickle's own
    # structure tells a cut file.
    _, expected, fetched = planetoid_source
    monkeypatch.setitem(graphs.planetoid.PLANETOID_SHA256, "cora", None)
    cache = tmp_path / "cache"
    graphs.load_planetoid("cora", cache_dir=str(cache))
    entry = cache / "ind.cora.tx"
    entry.write_bytes(entry.read_bytes()[:-1])
    with pytest.warns(UserWarning, match=r"ind\.cora\.tx in the cache is not a good "
                      r"Planetoid pickle \(it is not a complete pickle: pickle "
                      r"exhausted before seeing STOP\)"):
        graph = graphs.load_planetoid("cora", cache_dir=str(cache))
    np.testing.assert_array_equal(graph.labels, expected["labels"])
    assert fetched[8:] == ["ind.cora.tx"]


def test_html_download_never_lands_in_the_planetoid_cache(tmp_path, planetoid_source,
                                                         monkeypatch):
    def portal(url, path):
        Path(path).write_bytes(HTML)

    monkeypatch.setattr(graphs.planetoid, "_download", portal)
    with pytest.raises(ValueError, match=r"download of https://github\.com/kimiyoung/"
                       r"planetoid/raw/master/data/ind\.cora\.x to .*ind\.cora\.x is "
                       r"not a Planetoid pickle \(it is an HTML page"):
        graphs.load_planetoid("cora", cache_dir=str(tmp_path / "cache"))
    assert _snapshot(tmp_path / "cache") == {}


def test_bad_multi30k_cache_entry_is_downloaded_again(tmp_path, monkeypatch):
    files, expected = _val_corpus()
    monkeypatch.setattr(multi30k, "MULTI30K_SHA256", {})  # the gzip check alone
    fetched = []

    def fake_download(url, path):
        fetched.append(url.rsplit("/", 1)[-1])
        Path(path).write_bytes(files[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(multi30k, "_download", fake_download)
    cache = tmp_path / "cache"
    cache.mkdir()
    # What the old downloader left when the server closed early.
    (cache / "val.de.gz").write_bytes(files["val.de.gz"][:40])
    with pytest.warns(UserWarning, match=r"val\.de\.gz in the cache is not a good gzip "
                      r"file \(it is not a complete gzip file: Compressed file ended"):
        assert multi30k.load_multi30k("validation", cache_dir=str(cache)) == expected
    assert sorted(fetched) == ["val.de.gz", "val.en.gz"]
    assert _snapshot(cache) == files


# --- TU zips: verified, extracted all or nothing, the folder checked ------------


def _tu_zip(folder, archive, compression=zipfile.ZIP_DEFLATED, extra=None, skip=()):
    """The fixture's files zipped under TOY/ as the TU server does."""
    with zipfile.ZipFile(archive, "w", compression) as zipped:
        for base in sorted(os.listdir(folder)):
            if base not in skip:
                zipped.write(folder / base, f"TOY/{base}")
        for name, data in (extra or {}).items():
            zipped.writestr(name, data)


def _member_data_offset(archive, member):
    with zipfile.ZipFile(archive) as zipped:
        info = zipped.getinfo(member)
    with open(archive, "rb") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", file.read(4))
    return info.header_offset + 30 + name_length + extra_length, info.compress_size


@pytest.fixture
def tu_source(tmp_path, monkeypatch):
    source = tmp_path / "source"
    expected = graph_fixtures.write_tu_fixture(source)
    served = tmp_path / "served.zip"
    _tu_zip(source, served)
    fetched = []

    def fake_download(url, path):
        fetched.append(url)
        shutil.copy(served, path)

    monkeypatch.setattr(graphs.tu, "_download", fake_download)
    return source, served, expected, fetched


def _assert_tu(loaded, expected):
    assert len(loaded) == len(expected)
    for graph, want in zip(loaded, expected):
        np.testing.assert_array_equal(graph.node_features, want["node_features"])
        np.testing.assert_array_equal(graph.edges, want["edges"])
        assert graph.graph_label == want["graph_label"]


def _corrupt_member(member, replacement):
    def corrupt(archive):
        start, size = _member_data_offset(archive, member)
        data = bytearray(archive.read_bytes())
        data[start : start + size] = replacement(bytes(data[start : start + size]))
        archive.write_bytes(bytes(data))

    return corrupt


def _rezip(**kwargs):
    def rezip(archive):
        source = archive.parent / "source"
        archive.unlink()
        _tu_zip(source, archive, **kwargs)

    return rezip


ZIP_CASES = [
    ("crc", _corrupt_member("TOY/TOY_node_labels.txt", _flip(-1)),
     r"TOY\.zip is not a zip file \(its member TOY/TOY_node_labels\.txt fails its "
     r"CRC check\)"),
    ("zlib", _corrupt_member("TOY/TOY_node_labels.txt", lambda d: b"\xff" * len(d)),
     r"TOY\.zip is not a zip file \(it is not a complete zip file: Error -3 while "
     r"decompressing data: invalid block type\)"),
    ("truncated", lambda a: a.write_bytes(a.read_bytes()[:300]),
     r"TOY\.zip is not a zip file \(it is not a complete zip file: File is not a zip "
     r"file\)"),
    ("html", lambda a: a.write_bytes(HTML),
     r"TOY\.zip is not a zip file \(it is an HTML page"),
    ("no-A", _rezip(skip=("TOY_A.txt",)),
     r"TOY\.zip is not a usable TU zip: it holds no TOY_A\.txt; it was deleted"),
    ("twice", _rezip(extra={"other/TOY_A.txt": "1, 2\n"}),
     r"TOY\.zip is not a usable TU zip \(member other/TOY_A\.txt\): it holds "
     r"TOY_A\.txt twice"),
]


@pytest.mark.parametrize("case,corrupt,match", ZIP_CASES, ids=[c[0] for c in ZIP_CASES])
def test_bad_tu_zips_leave_no_folder(tmp_path, tu_source, case, corrupt, match):
    _, served, expected, fetched = tu_source
    corrupt(served)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=match + r".*the next call downloads it again"):
        graphs.load_tu("TOY", cache_dir=str(cache))
    assert _snapshot(cache) == {}  # no zip, no half-extracted folder
    _tu_zip(tmp_path / "source", served)  # the server mended
    _assert_tu(graphs.load_tu("TOY", cache_dir=str(cache))[0], expected)
    assert len(fetched) == 2


def _old_half_extracted(folder):
    # What the old loader left when a member failed: no manifest, and the
    # node labels missing.
    (folder / ".complete.json").unlink()
    (folder / "TOY_node_labels.txt").unlink()


def _member_cut(folder):
    path = folder / "TOY_node_attributes.txt"
    path.write_bytes(path.read_bytes()[:-5])


def _manifest_garbage(folder):
    (folder / ".complete.json").write_bytes(HTML)


@pytest.mark.parametrize(
    "damage", [_old_half_extracted, _member_cut, _manifest_garbage]
)
def test_incomplete_tu_folder_is_extracted_again(tmp_path, tu_source, damage):
    _, _, expected, fetched = tu_source
    cache = tmp_path / "cache"
    graphs.load_tu("TOY", cache_dir=str(cache))
    good = _snapshot(cache)
    damage(cache / "TOY")
    with pytest.warns(UserWarning, match=re.escape(str(cache / "TOY")) + r" in the "
                      r"cache is incomplete .*; extracting it again"):
        loaded, _ = graphs.load_tu("TOY", cache_dir=str(cache))
    _assert_tu(loaded, expected)
    assert loaded[0].node_features.shape == (3, 6)  # the node labels are back
    assert len(fetched) == 1  # from the cached zip, no download
    assert _snapshot(cache) == good


def test_incomplete_tu_folder_with_a_cut_zip_is_downloaded_again(tmp_path, tu_source):
    _, served, expected, fetched = tu_source
    cache = tmp_path / "cache"
    graphs.load_tu("TOY", cache_dir=str(cache))
    good = _snapshot(cache)
    _old_half_extracted(cache / "TOY")
    (cache / "TOY.zip").write_bytes(served.read_bytes()[:200])
    with pytest.warns(UserWarning) as warned:
        _assert_tu(graphs.load_tu("TOY", cache_dir=str(cache))[0], expected)
    assert [re.sub(r"\(.*\)", "()", str(w.message)).replace(str(cache), "C")
            for w in warned] == [
        "C/TOY in the cache is incomplete (); extracting it again",
        f"C/TOY.zip in the cache is not a good zip file (); deleting it and "
        f"downloading {graphs.TU_URL.format(name='TOY')} again",
    ]
    assert len(fetched) == 2
    assert _snapshot(cache) == good


# --- Property tests: edge lists through the one edge check ----------------------


def _edge_lists(min_size=0):
    """`(num_nodes, pairs)`: a graph size and edges inside it."""
    return st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                     min_size=min_size, max_size=30),
        )
    )


@given(_edge_lists())
def test_valid_edge_lists_are_kept_and_made_undirected(drawn):
    num_nodes, pairs = drawn
    edges = np.asarray(pairs, np.int64).reshape(-1, 2).T  # [2, E]
    graph = graphs.Graph(np.zeros((num_nodes, 1)), edges)
    assert graph.edges.dtype == np.int32
    np.testing.assert_array_equal(graph.edges, edges)
    undirected = graphs.to_undirected(edges, num_nodes)
    want = {(u, v) for u, v in pairs if u != v}
    want |= {(v, u) for u, v in want}
    assert list(zip(*undirected.tolist())) == sorted(want)


@given(
    _edge_lists(min_size=1),
    st.one_of(st.integers(-(2**31), -1), st.integers(12, 2**31)),
    st.data(),
)
def test_an_edge_outside_the_graph_is_named(drawn, bad, data):
    num_nodes, pairs = drawn
    edges = np.asarray(pairs, np.int64).reshape(-1, 2).T.copy()
    row = data.draw(st.integers(0, 1))
    column = data.draw(st.integers(0, edges.shape[1] - 1))
    edges[row, column] = bad
    match = (rf"edges holds index {bad} at \[{row}, {column}\].*\[0, {num_nodes}\) "
             rf"for num_nodes={num_nodes}")
    for build in (lambda: graphs.Graph(np.zeros((num_nodes, 1)), edges),
                  lambda: graphs.to_undirected(edges, num_nodes)):
        with pytest.raises(ValueError, match=match):
            build()


@settings(max_examples=25)
@given(
    st.integers(0, 8),
    st.integers(0, 1),
    st.sampled_from(["nan", "inf", "-inf", "NaN", "1e39", "-3.5e38"]),
)
def test_non_finite_tu_attributes_are_named_by_line(line, column, value):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        graph_fixtures.write_tu_fixture(folder)
        path = folder / "TOY_node_attributes.txt"
        rows = [row.split(", ") for row in path.read_text().splitlines()]
        rows[line][column] = value
        _write_lines(path, [", ".join(row) for row in rows])
        match = re.escape(str(path)) + rf" line {line + 1} holds \[.*(nan|inf).*\]: "
        with pytest.raises(ValueError, match=match + "node attributes must be finite"):
            graphs.load_tu("TOY", path=str(folder))


# --- The canonical files: their SHA-256 is what the loaders check ---------------


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is not here")
def test_known_hashes_are_those_of_the_canonical_files():
    for name, want in multi30k.MULTI30K_SHA256.items():
        assert _sha256((SHARED_DATA / "multi30k" / name).read_bytes()) == want, name
    for suffix, want in graphs.planetoid.PLANETOID_SHA256["cora"].items():
        data = (SHARED_DATA / "planetoid" / f"ind.cora.{suffix}").read_bytes()
        assert _sha256(data) == want, suffix
    assert sorted(multi30k.MULTI30K_SHA256) == [
        "train.de.gz", "train.en.gz", "val.de.gz", "val.en.gz"
    ]
    assert sorted(graphs.planetoid.PLANETOID_SHA256["cora"]) == sorted(
        graphs.PLANETOID_SUFFIXES
    )


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is not here")
def test_canonical_multi30k_over_http_passes_its_hash(tmp_path, server, served,
                                                     monkeypatch):
    for language in ("de", "en"):
        served[f"val.{language}.gz"] = (
            SHARED_DATA / "multi30k" / f"val.{language}.gz"
        ).read_bytes()
    monkeypatch.setattr(multi30k, "MULTI30K_URL", f"{server}/good/{{file}}")
    sources, targets = multi30k.load_multi30k("validation", cache_dir=str(tmp_path))
    assert len(sources) == len(targets) == 1014
    assert targets[0] == "A group of men are loading cotton onto a truck"
    assert _snapshot(tmp_path) == served
    # The cache, checked against the hash on the next call, is used as it is.
    served.clear()
    assert multi30k.load_multi30k("validation", cache_dir=str(tmp_path))[1] == targets
