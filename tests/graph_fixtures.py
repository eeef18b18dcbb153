"""Small graph data sets written in the Planetoid and TU formats, for the tests.

The Planetoid files are written as Python 2 wrote them (pickle protocol 2,
numpy arrays as `numpy.core.multiarray._reconstruct` with their bytes in a
`BINSTRING`, scipy sparse matrices as `scipy.sparse.csr.csr_matrix` with a
state dict), opcode by opcode: neither scipy nor Python 2 is needed, and the
loader reads them by the same path as the real files.
"""

import os
import struct
import zipfile
from collections import defaultdict

import numpy as np


class SparseMatrix:
    """A dense matrix to be pickled as a scipy sparse matrix."""

    def __init__(self, dense, fmt="csr", module="scipy.sparse.csr"):
        self.dense = np.asarray(dense, np.float32)
        self.format = fmt
        self.module = module


def _int(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    return b"J" + struct.pack("<i", value)


def _string(value):
    """A Python 2 `str` (bytes): what numpy's array data and dict keys were."""
    if isinstance(value, str):
        value = value.encode("latin1")
    if len(value) < 256:
        return b"U" + bytes([len(value)]) + value
    return b"T" + struct.pack("<i", len(value)) + value


def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode("ascii")


def _ndarray(array):
    array = np.ascontiguousarray(array)
    descr = {np.float32: "f4", np.float64: "f8", np.int32: "i4", np.int64: "i8"}[
        array.dtype.type
    ]
    dtype = (
        _global("numpy", "dtype") + _string(descr) + _int(0) + _int(1) + b"\x87R"
        + b"(" + _int(3) + _string("<") + b"NNN" + _int(-1) + _int(-1) + _int(0)
        + b"tb"
    )
    return (
        _global("numpy.core.multiarray", "_reconstruct")
        + _global("numpy", "ndarray") + _int(0) + b"\x85" + _string("b") + b"\x87R"
        + b"(" + _int(1) + _py2(tuple(array.shape)) + dtype + b"\x89"
        + _string(array.tobytes()) + b"tb"
    )


def _sparse(matrix):
    dense = matrix.dense if matrix.format == "csr" else matrix.dense.T
    rows, columns = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(dense)))])
    state = {
        "format": matrix.format,
        "_shape": tuple(matrix.dense.shape),
        "indptr": indptr.astype(np.int32),
        "_cs_matrix__has_sorted_indices": True,
        "indices": columns.astype(np.int32),
        "maxprint": 50,
        "data": dense[rows, columns],
    }
    return (
        _global(matrix.module, f"{matrix.format}_matrix") + b")\x81"
        + _py2(state) + b"b"
    )


def _py2(value):
    """The protocol-2 opcodes of `value`, without a memo."""
    if value is None:
        return b"N"
    if value is True or value is False:
        return b"\x88" if value else b"\x89"
    if isinstance(value, (int, np.integer)):
        return _int(int(value))
    if isinstance(value, (str, bytes)):
        return _string(value)
    if isinstance(value, tuple):
        return b"(" + b"".join(map(_py2, value)) + b"t"
    if isinstance(value, list):
        return b"](" + b"".join(map(_py2, value)) + b"e"
    if isinstance(value, defaultdict):
        head = _global("collections", "defaultdict") + _global("__builtin__", "list")
        return head + b"\x85R" + _items(value)
    if isinstance(value, dict):
        return b"}" + _items(value)
    if isinstance(value, np.ndarray):
        return _ndarray(value)
    if isinstance(value, SparseMatrix):
        return _sparse(value)
    raise TypeError(f"cannot write {type(value).__name__} as a Python 2 pickle")


def _items(mapping):
    return b"(" + b"".join(_py2(k) + _py2(v) for k, v in mapping.items()) + b"u"


def py2_pickle(value):
    """`value` pickled as Python 2 pickled it with protocol 2."""
    return b"\x80\x02" + _py2(value) + b"."


# Node counts of the Planetoid fixture: like Cora, the first NUM_TRAIN nodes
# are x, the first NUM_ALL are allx, and the test nodes follow.
NUM_NODES = 30
NUM_FEATURES = 12
NUM_CLASSES = 3
NUM_TRAIN = 6
NUM_ALL = 20
# Nodes in the test range that have no tx row in the "citeseer" fixture.
MISSING_TEST_NODES = (23, 27)


def planetoid_fixture(
    name="cora", sparse_format="csr", sparse_module="scipy.sparse.csr"
):
    """The files' contents and the expected graph, as two dicts.

    A `name` of "citeseer" leaves `MISSING_TEST_NODES` out of `tx`, `ty` and
    `test.index` (their expected features are zeros and labels 0). The test
    index is shuffled; the adjacency lists hold one-way edges, a duplicate,
    a self loop, an empty list, and leave out some nodes entirely.
    """
    rng = np.random.default_rng(7)
    features = (rng.random((NUM_NODES, NUM_FEATURES)) < 0.3).astype(np.float32)
    features[np.arange(NUM_NODES), np.arange(NUM_NODES) % NUM_FEATURES] = 1
    # Every class occurs and no label is 0 by accident where padding gives 0.
    labels = np.arange(NUM_NODES) % NUM_CLASSES
    labels[list(MISSING_TEST_NODES)] = 2
    one_hot = np.eye(NUM_CLASSES, dtype=np.int32)[labels]
    missing = list(MISSING_TEST_NODES) if name == "citeseer" else []
    test_nodes = np.asarray([n for n in range(NUM_ALL, NUM_NODES) if n not in missing])
    test_index = rng.permutation(test_nodes)
    assert (np.sort(test_index) != test_index).any()

    graph = defaultdict(list)
    graph[0] = [1, 2, 2]  # a duplicate
    graph[1] = [0, 3]
    graph[2] = [0, 21]  # 21 -> 2 is not listed
    graph[3] = [3]  # a self loop only
    graph[4] = []
    graph[7] = [25, 29]
    graph[21] = [24]
    graph[25] = [7, 10]
    graph[29] = [28]
    graph[12] = [13, 14, 22]
    graph[14] = [12]
    undirected = {(0, 1), (0, 2), (1, 3), (2, 21), (7, 25), (7, 29), (21, 24),
                  (10, 25), (28, 29), (12, 13), (12, 14), (12, 22)}
    edges = sorted(undirected | {(v, u) for u, v in undirected})

    def sparse(dense):
        return SparseMatrix(dense, sparse_format, sparse_module)

    files = {
        "x": sparse(features[:NUM_TRAIN]),
        "y": one_hot[:NUM_TRAIN],
        "allx": sparse(features[:NUM_ALL]),
        "ally": one_hot[:NUM_ALL],
        "tx": sparse(features[test_index]),
        "ty": one_hot[test_index],
        "graph": graph,
        "test.index": test_index,
    }
    expected_features = features.copy()
    expected_labels = labels.copy()
    expected_features[missing] = 0
    expected_labels[missing] = 0
    expected = {
        "node_features": expected_features,
        "labels": expected_labels,
        "edges": np.asarray(edges).T,
        "train_nodes": np.arange(NUM_TRAIN),
        # The 500 nodes after the training nodes, cut short by allx.
        "val_nodes": np.arange(NUM_TRAIN, NUM_ALL),
        "test_nodes": np.sort(test_index),
        "missing": missing,
    }
    return files, expected


def write_planetoid_fixture(folder, name="cora", **kwargs):
    """Writes the `ind.{name}.*` files of `planetoid_fixture` into `folder`.

    Returns the expected graph (see `planetoid_fixture`).
    """
    files, expected = planetoid_fixture(name, **kwargs)
    os.makedirs(folder, exist_ok=True)
    for suffix, value in files.items():
        path = os.path.join(folder, f"ind.{name}.{suffix}")
        if suffix == "test.index":
            with open(path, "w") as file:
                file.write("".join(f"{i}\n" for i in value))
        else:
            with open(path, "wb") as file:
                file.write(py2_pickle(value))
    return expected


def write_tu_fixture(folder, name="TOY", node_attributes=True, node_labels=True):
    """Three small graphs in the TU format; returns the expected graphs.

    Graph labels are -1, 1, -1 (expected 0, 1, 0). Node labels take the
    values 1, 2 and 4 (one-hot over 1..4, four columns); node attributes are
    two floats. Graph 2's lines in `_A.txt` come before graph 1's, and the
    file holds a self loop and a duplicate line, which the loader drops.
    """
    # Global 1-based node ids: graph 1 has nodes 1-3, graph 2 nodes 4-7,
    # graph 3 nodes 8-9.
    indicator = [1, 1, 1, 2, 2, 2, 2, 3, 3]
    graph_labels = [-1, 1, -1]
    labels = [1, 2, 4, 4, 4, 1, 2, 1, 1]
    attributes = [[0.5 * i, -float(i)] for i in range(1, 10)]
    lines = [
        (4, 5), (5, 4), (5, 6), (6, 5), (6, 7), (7, 6), (6, 6), (4, 5),
        (1, 2), (2, 1), (2, 3), (3, 2),
        (8, 9), (9, 8),
    ]
    os.makedirs(folder, exist_ok=True)

    def write(suffix, rows):
        with open(os.path.join(folder, f"{name}_{suffix}.txt"), "w") as file:
            file.write("".join(f"{row}\n" for row in rows))

    write("A", [f"{i}, {j}" for i, j in lines])
    write("graph_indicator", indicator)
    write("graph_labels", graph_labels)
    if node_labels:
        write("node_labels", labels)
    if node_attributes:
        write("node_attributes", [f"{a}, {b}" for a, b in attributes])

    columns = []
    if node_attributes:
        columns.append(np.asarray(attributes, np.float32))
    if node_labels:
        columns.append(np.eye(4, dtype=np.float32)[np.asarray(labels) - 1])
    features = np.concatenate(columns, axis=1) if columns else np.ones((9, 1))
    return [
        {
            "node_features": features[0:3],
            "edges": [[0, 1, 1, 2], [1, 0, 2, 1]],
            "graph_label": 0,
        },
        {
            "node_features": features[3:7],
            "edges": [[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]],
            "graph_label": 1,
        },
        {"node_features": features[7:9], "edges": [[0, 1], [1, 0]], "graph_label": 0},
    ]


def zip_folder(folder, archive, prefix):
    """Zips the files of `folder` under `prefix/`, as the TU downloads are."""
    with zipfile.ZipFile(archive, "w") as zipped:
        for base in sorted(os.listdir(folder)):
            zipped.write(os.path.join(folder, base), f"{prefix}/{base}")
