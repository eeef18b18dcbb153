"""Cora, CiteSeer and PubMed with the standard Planetoid split (Yang, Cohen
and Salakhutdinov, 2016), built exactly as Kipf and Welling's `gcn` code and
PyTorch Geometric build it; read from a folder, or downloaded once into a
cache. The files are read by `_planetoid_files`, which needs no scipy and
unpickles nothing but arrays.
"""

import os

import numpy as np

from keras_attention.data._download import default_cache_dir, download, fetch
from keras_attention.data.graphs._planetoid_files import (
    read_adjacency,
    read_matrix,
    read_test_index,
)
from keras_attention.data.graphs.core import Graph

PLANETOID_NAMES = ("cora", "citeseer", "pubmed")
PLANETOID_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
PLANETOID_URL = (
    "https://github.com/kimiyoung/planetoid/raw/master/data/ind.{name}.{suffix}"
)
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
    return {
        s: fetch(
            PLANETOID_URL.format(name=name, suffix=s),
            os.path.join(cache_dir, f"ind.{name}.{s}"),
            hint,
            download_function=_download,
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
            them once from the Planetoid repository into `cache_dir`.
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
            matrices and a dict of lists are refused, never loaded.
        FileNotFoundError: naming a file that `path` lacks.
        OSError: when a download fails.

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
    x = read_matrix(files["x"], np.float32)
    y = read_matrix(files["y"], np.float32)
    allx = read_matrix(files["allx"], np.float32)
    ally = read_matrix(files["ally"], np.float32)
    tx = read_matrix(files["tx"], np.float32)
    ty = read_matrix(files["ty"], np.float32)
    test_index = read_test_index(files["test.index"])

    def check(ok, file, message):
        if not ok:
            raise ValueError(f"{files[file]} disagrees with the other files: {message}")

    check(len(test_index), "test.index", "it holds no test nodes")
    check(
        len(np.unique(test_index)) == len(test_index),
        "test.index",
        "it holds a node twice",
    )
    check(len(x) == len(y), "y", f"{len(y)} rows, but x has {len(x)}")
    check(len(allx) == len(ally), "ally", f"{len(ally)} rows, but allx has {len(allx)}")
    check(len(x) <= len(allx), "x", f"{len(x)} rows, but allx has only {len(allx)}")
    check(len(tx) == len(ty), "ty", f"{len(ty)} rows, but tx has {len(tx)}")
    check(
        len(tx) == len(test_index),
        "tx",
        f"{len(tx)} rows, but test.index holds {len(test_index)} nodes",
    )
    for file, width in (("x", x.shape[1]), ("tx", tx.shape[1])):
        check(width == allx.shape[1], file, f"{width} features, allx {allx.shape[1]}")
    for file, width in (("y", y.shape[1]), ("ty", ty.shape[1])):
        check(width == ally.shape[1], file, f"{width} classes, ally {ally.shape[1]}")
    check(
        test_index.min() == len(allx),
        "test.index",
        f"the test nodes must follow the {len(allx)} nodes of allx, but the "
        f"first is {test_index.min()}",
    )

    # Kipf and Welling's and PyG's steps, literally: the test rows go to the
    # sorted test range (leaving zeros where CiteSeer has no row), then move
    # to their nodes. Net effect: node test_index[j] gets tx[j] and ty[j].
    sorted_index = np.sort(test_index)
    span = int(test_index.max() - test_index.min()) + 1
    tx_full = np.zeros((span, tx.shape[1]), np.float32)
    ty_full = np.zeros((span, ty.shape[1]), np.float32)
    tx_full[sorted_index - test_index.min()] = tx
    ty_full[sorted_index - test_index.min()] = ty
    features = np.concatenate([allx, tx_full])  # [N, F]
    one_hot = np.concatenate([ally, ty_full])  # [N, C]
    features[test_index] = features[sorted_index]
    one_hot[test_index] = one_hot[sorted_index]
    labels = one_hot.argmax(axis=1).astype(np.int32)  # [N]
    num_nodes = len(features)

    if row_normalize:
        sums = features.sum(axis=1, keepdims=True)
        features = np.divide(
            features, sums, out=np.zeros_like(features), where=sums > 0
        )

    def mask(indices):
        m = np.zeros(num_nodes, bool)
        m[indices] = True
        return m

    num_train = len(y)
    num_val_end = min(num_train + PLANETOID_NUM_VAL, len(allx))
    return Graph(
        node_features=features,
        edges=read_adjacency(files["graph"], num_nodes),
        labels=labels,
        train_mask=mask(np.arange(num_train)),
        val_mask=mask(np.arange(num_train, num_val_end)),
        test_mask=mask(test_index),
        num_classes=ally.shape[1],
        name=name,
    )
