"""Cora, CiteSeer and PubMed with the standard Planetoid split (Yang, Cohen
and Salakhutdinov, 2016), built exactly as Kipf and Welling's `gcn` code and
PyTorch Geometric build it; read from a folder, or downloaded once into a
cache. The files are read by `_planetoid_files`, which needs no scipy and
unpickles nothing but arrays.
"""

import os

import numpy as np

from keras_attention.data._download import (
    check_integer_lines,
    check_pickle,
    default_cache_dir,
    download,
    fetch,
)
from keras_attention.data._memory import check_fits
from keras_attention.data.graphs._planetoid_files import (
    edges_of,
    read_adjacency,
    read_matrix,
    read_test_index,
    to_dense,
)
from keras_attention.data.graphs.core import Graph

PLANETOID_NAMES = ("cora", "citeseer", "pubmed")
PLANETOID_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
PLANETOID_URL = (
    "https://github.com/kimiyoung/planetoid/raw/master/data/ind.{name}.{suffix}"
)
# The SHA-256 of each canonical file that PLANETOID_URL fetches, checked on
# download and before each use of the cache. Cora's: computed from a copy of
# the repository's files (the loader builds the published graph from them:
# 2708 nodes, 10556 edges, the 140/500/1000 split, the class counts of
# Kipf and Welling and PyG). CiteSeer's and PubMed's could not be fetched
# where this was written, so they are None: those downloads get every check
# but this one (not HTML, a complete protocol-2 pickle, a text file of
# integers), and the loader's checks of the files against each other.
PLANETOID_SHA256 = {
    "cora": {
        "x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
        "tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "test.index": (
            "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"
        ),
    },
    "citeseer": None,
    "pubmed": None,
}
# The standard split validates on the 500 nodes after the training nodes.
PLANETOID_NUM_VAL = 500

# The tests replace `_download` here to fetch without a network.
_download = download


def _planetoid_files(name, path, cache_dir):
    if path is not None:
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"path must be a folder holding the ind.{name}.* files, "
                f"received path={path!r}, which is not a folder"
            )
        files = {s: os.path.join(path, f"ind.{name}.{s}") for s in PLANETOID_SUFFIXES}
        for file in files.values():
            if not os.path.isfile(file):
                raise FileNotFoundError(
                    f"{file} is missing: a Planetoid folder holds ind.{name}."
                    f"{{{','.join(PLANETOID_SUFFIXES)}}}"
                )
        return files
    cache_dir = cache_dir or default_cache_dir("planetoid")
    hint = "Without a network, pass path= a folder that holds the ind.* files."
    hashes = PLANETOID_SHA256.get(name) or {}
    return {
        s: fetch(
            PLANETOID_URL.format(name=name, suffix=s),
            os.path.join(cache_dir, f"ind.{name}.{s}"),
            hint,
            download_function=_download,
            kind="Planetoid test index" if s == "test.index" else "Planetoid pickle",
            check=check_integer_lines if s == "test.index" else check_pickle,
            sha256=hashes.get(s),
        )
        for s in PLANETOID_SUFFIXES
    }


def load_planetoid(name="cora", path=None, cache_dir=None, row_normalize=False):
    """A Planetoid citation graph with its standard semi-supervised split.

    Nodes are papers with bag-of-words features (binary for Cora and
    CiteSeer, TF-IDF for PubMed), labelled with their topic; edges are
    citations, made undirected. The graph and split are those of Yang, Cohen
    and Salakhutdinov (2016), built as Kipf and Welling's `gcn`
    (`utils.load_data`) and PyTorch Geometric build them:

    - the nodes are `allx` followed by the test nodes; row `j` of `tx` and
      `ty` belongs to node `test.index[j]` (the file is not sorted);
    - CiteSeer's test range has nodes with no row in `tx`: they get zero
      features and label 0, and are in no mask;
    - labels are the argmax of the one-hot `ally` and `ty` rows;
    - train: the first `len(y)` nodes (Cora 140, CiteSeer 120, PubMed 60);
      validation: the 500 nodes after them (fewer only when `allx` has
      fewer); test: the 1000 nodes of `test.index`;
    - edges: both directions of every citation in `graph`, without self
      loops or duplicates, sorted by sender, then receiver (Cora: 10556).

    Features are raw, as in the files; `row_normalize=True` divides each row
    by its sum, as Kipf and Welling's GCN and Velickovic et al.'s GAT do
    (rows of zeros stay zero).

    Args:
        name: "cora", "citeseer" or "pubmed".
        path: a folder holding the eight `ind.{name}.*` files; None downloads
            them once from the Planetoid repository into `cache_dir`. A
            download lands in the cache only whole and checked (Cora's files
            against their SHA-256), and the cache is checked before each
            use: a bad entry is downloaded again, with a warning.
        cache_dir: where downloads go; default
            `$KERAS_HOME/datasets/planetoid`, `KERAS_HOME` defaulting to
            `~/.keras`.
        row_normalize: divide each node's features by their sum.

    Returns:
        A `Graph` with labels, the three masks and `num_classes`.

    Raises:
        ValueError: for an unknown `name`, or a file that is corrupt, holds
            something else, or disagrees with the others (the message names
            the file). Pickled classes other than numpy arrays, scipy sparse
            matrices and a dict of lists are refused, never loaded. Test
            nodes past the nodes the files know, non-finite features or
            labels, and sizes past the machine's memory are refused with the
            file (and line) named. A download that is not the file (an HTML
            page, cut short, a wrong SHA-256) is refused and deleted.
        FileNotFoundError: naming a file that `path` lacks.
        OSError: when a download fails or is cut short.

    Example (downloads the files on first use):

    >>> cora = load_planetoid("cora")  # doctest: +SKIP
    >>> cora.node_features.shape, cora.edges.shape  # doctest: +SKIP
    ((2708, 1433), (2, 10556))
    """
    if name not in PLANETOID_NAMES:
        raise ValueError(
            f"name must be one of {PLANETOID_NAMES}, received name={name!r}"
        )
    files = _planetoid_files(name, path, cache_dir)
    # Read, not yet dense: the shapes are checked against each other before
    # anything of a size that a file gives is made.
    x, y, allx, ally, tx, ty = (
        read_matrix(files[s]) for s in ("x", "y", "allx", "ally", "tx", "ty")
    )
    test_index, test_lines = read_test_index(files["test.index"])
    senders, receivers = read_adjacency(files["graph"])

    def check(ok, file, message):
        if not ok:
            raise ValueError(f"{files[file]} disagrees with the other files: {message}")

    def rows(matrix):
        return matrix.shape[0]

    check(len(test_index), "test.index", "it holds no test nodes")
    nodes, first = np.unique(test_index, return_index=True)
    if len(nodes) != len(test_index):
        line = int(test_lines[np.setdiff1d(np.arange(len(test_index)), first)[0]])
        check(False, "test.index", f"it holds a node twice (line {line})")
    check(rows(x) == rows(y), "y", f"{rows(y)} rows, but x has {rows(x)}")
    check(
        rows(allx) == rows(ally),
        "ally",
        f"{rows(ally)} rows, but allx has {rows(allx)}",
    )
    check(rows(x) <= rows(allx), "x", f"{rows(x)} rows, but allx has only {rows(allx)}")
    check(rows(tx) == rows(ty), "ty", f"{rows(ty)} rows, but tx has {rows(tx)}")
    check(
        rows(tx) == len(test_index),
        "tx",
        f"{rows(tx)} rows, but test.index holds {len(test_index)} nodes",
    )
    for file, width in (("x", x.shape[1]), ("tx", tx.shape[1])):
        check(width == allx.shape[1], file, f"{width} features, allx {allx.shape[1]}")
    for file, width in (("y", y.shape[1]), ("ty", ty.shape[1])):
        check(width == ally.shape[1], file, f"{width} classes, ally {ally.shape[1]}")
    lowest = int(np.argmin(test_index))
    check(
        test_index[lowest] == rows(allx),
        "test.index",
        f"the test nodes must follow the {rows(allx)} nodes of allx, but the "
        f"first is {test_index[lowest]} (line {test_lines[lowest]})",
    )
    # The nodes the files know: allx's, the test rows right after them, and
    # any the graph names (CiteSeer's test range has nodes without a row in
    # tx, isolated nodes of the graph). A test node past them all would
    # silently add empty nodes up to it, or ask for any amount of memory.
    graph_nodes = int(max(senders.max(), receivers.max())) + 1 if len(senders) else 0
    known = max(rows(allx) + rows(tx), graph_nodes)
    highest = int(np.argmax(test_index))
    if test_index[highest] >= known:
        raise ValueError(
            f"{files['test.index']} line {test_lines[highest]} holds node "
            f"{test_index[highest]}, but the files know nodes 0 to {known - 1}: "
            f"allx's {rows(allx)} rows, tx's {rows(tx)} test rows after them, "
            f"and the nodes {files['graph']} names"
        )
    span = int(test_index[highest] - test_index[lowest]) + 1
    num_nodes = rows(allx) + span
    allx, ally, tx, ty = (
        to_dense(files[s], m, np.float32)
        for s, m in (("allx", allx), ("ally", ally), ("tx", tx), ("ty", ty))
    )
    check_fits(
        files["test.index"], "node features", (num_nodes, allx.shape[1]), np.float32
    )

    # Kipf and Welling's and PyG's steps, literally: the test rows go to the
    # sorted test range (leaving zeros where CiteSeer has no row), then move
    # to their nodes. Net effect: node test_index[j] gets tx[j] and ty[j].
    sorted_index = np.sort(test_index)
    tx_full = np.zeros((span, tx.shape[1]), np.float32)
    ty_full = np.zeros((span, ty.shape[1]), np.float32)
    tx_full[sorted_index - test_index.min()] = tx
    ty_full[sorted_index - test_index.min()] = ty
    features = np.concatenate([allx, tx_full])  # [N, F]
    one_hot = np.concatenate([ally, ty_full])  # [N, C]
    features[test_index] = features[sorted_index]
    one_hot[test_index] = one_hot[sorted_index]
    labels = one_hot.argmax(axis=1).astype(np.int32)  # [N]

    if row_normalize:
        sums = features.sum(axis=1, keepdims=True)
        features = np.divide(
            features, sums, out=np.zeros_like(features), where=sums > 0
        )

    def mask(indices):
        m = np.zeros(num_nodes, bool)
        m[indices] = True
        return m

    num_train = rows(y)
    num_val_end = min(num_train + PLANETOID_NUM_VAL, len(allx))
    return Graph(
        node_features=features,
        edges=edges_of(files["graph"], senders, receivers, num_nodes),
        labels=labels,
        train_mask=mask(np.arange(num_train)),
        val_mask=mask(np.arange(num_train, num_val_end)),
        test_mask=mask(test_index),
        num_classes=ally.shape[1],
        name=name,
    )
