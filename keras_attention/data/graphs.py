"""Graph data for the graph attention layers: citation graphs, the karate club,
link prediction splits and graph classification sets.

Every graph is a `Graph`: node features `[N, F]` float32 and directed edges
`[2, E]` int32, row 0 the sender (source) and row 1 the receiver (target) of
each message, so an undirected edge is stored once in each direction. Shape
letters: `N` nodes, `E` directed edges, `F` features, `C` classes, `G` graphs.

- `load_planetoid`: Cora, CiteSeer and PubMed with the standard Planetoid
  split (Yang, Cohen and Salakhutdinov, 2016), built exactly as Kipf and
  Welling's `gcn` code and PyTorch Geometric build it; read from a folder, or
  downloaded once into a cache.
- `karate_club`: Zachary's karate club (1977), 34 members, two factions, one
  labelled member per faction.
- `link_prediction_split` and `sample_negative_edges`: held-out edges and
  sampled non-edges for link prediction.
- `motif_graphs`: generated graph classification with a known answer;
  `batch_graphs` joins graphs into one disjoint union for a model.
- `load_tu`: graph classification sets in the TU graph-kernel format (Morris
  et al., 2020), from a folder or downloaded once into a cache.
- `validate_edges` and `to_undirected`: checks and clean-up of `[2, E]` edges.

Nothing here needs scipy: the Planetoid files are Python-2 pickles of scipy
sparse matrices, which a restricted unpickler turns into dense numpy arrays;
it refuses every class but the few those files hold.

Example:

>>> graph = karate_club()
>>> graph.node_features.shape, graph.edges.shape, graph.num_classes
((34, 34), (2, 156), 2)
>>> int(graph.train_mask.sum()), int(graph.test_mask.sum())
(2, 32)
"""

import collections
import dataclasses
import math
import os
import pickle
import shutil
import warnings
import zipfile

import numpy as np

from keras_attention.data._download import default_cache_dir, download, fetch

PLANETOID_NAMES = ("cora", "citeseer", "pubmed")
PLANETOID_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
PLANETOID_URL = (
    "https://github.com/kimiyoung/planetoid/raw/master/data/ind.{name}.{suffix}"
)
# The standard split validates on the 500 nodes after the training nodes.
PLANETOID_NUM_VAL = 500

TU_URL = "https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip"

# Degrees of `motif_graphs` node features are one-hot up to this value; the
# last column means "this many or more".
MOTIF_MAX_DEGREE = 6


@dataclasses.dataclass(eq=False)
class Graph:
    """One graph: node features, directed edges and optional labels and masks.

    Args:
        node_features: `[N, F]` float32.
        edges: `[2, E]` int32 node indices in `[0, N)`; row 0 sends, row 1
            receives, so messages flow `edges[0] -> edges[1]`.
        labels: `[N]` int32 node labels, or None.
        train_mask, val_mask, test_mask: `[N]` bool, or None.
        num_classes: the number of node or graph classes, or None.
        name: what the graph is.
        graph_label: the graph's class (int) in a graph classification set,
            or None.

    The arrays are checked and cast on construction; a bad one raises a
    `ValueError` that names it.
    """

    node_features: np.ndarray
    edges: np.ndarray
    labels: np.ndarray = None
    train_mask: np.ndarray = None
    val_mask: np.ndarray = None
    test_mask: np.ndarray = None
    num_classes: int = None
    name: str = "graph"
    graph_label: int = None

    def __post_init__(self):
        features = np.asarray(self.node_features)
        if features.ndim != 2:
            raise ValueError(
                f"node_features must have shape [N, F], received shape "
                f"{features.shape}"
            )
        self.node_features = features.astype(np.float32, copy=False)
        num_nodes = len(features)
        self.edges = validate_edges(self.edges, num_nodes, "edges")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (num_nodes,) or not _is_integer(labels):
                raise ValueError(
                    f"labels must be {num_nodes} integers (one per node), "
                    f"received dtype {labels.dtype} and shape {labels.shape}"
                )
            self.labels = labels.astype(np.int32, copy=False)
        for field in ("train_mask", "val_mask", "test_mask"):
            mask = getattr(self, field)
            if mask is None:
                continue
            mask = np.asarray(mask)
            if mask.shape != (num_nodes,) or mask.dtype != bool:
                raise ValueError(
                    f"{field} must be {num_nodes} bools (one per node), received "
                    f"dtype {mask.dtype} and shape {mask.shape}"
                )
            setattr(self, field, mask)

    @property
    def num_nodes(self):
        return self.node_features.shape[0]

    @property
    def num_edges(self):
        """The number of directed edges, `E`."""
        return self.edges.shape[1]

    @property
    def num_features(self):
        return self.node_features.shape[1]


def _is_integer(array):
    return np.issubdtype(array.dtype, np.integer)


def validate_edges(edges, num_nodes, argument="edges"):
    """`edges` as `[2, E]` int32 after checking it, for a graph of `num_nodes`.

    Raises:
        ValueError: naming `argument`, when `edges` is not `[2, E]`, holds
            something other than integers, or holds an index outside
            `[0, num_nodes)` (the message gives the index, where it is and
            `num_nodes`).
    """
    edges = np.asarray(edges)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(
            f"{argument} must have shape [2, E], received shape {edges.shape}"
        )
    if edges.size == 0:
        return np.zeros((2, 0), np.int32)
    if not _is_integer(edges):
        raise ValueError(
            f"{argument} must hold integer node indices, received dtype "
            f"{edges.dtype}"
        )
    bad = (edges < 0) | (edges >= num_nodes)
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"{argument} holds node index {int(edges[row, column])} at "
            f"[{row}, {column}], but node indices must be in [0, {num_nodes}) "
            f"for num_nodes={num_nodes}"
        )
    return edges.astype(np.int32)


def _coalesce(senders, receivers, num_nodes):
    """Unique `[2, E]` int32 edges sorted by sender then receiver, no self loops."""
    senders = np.asarray(senders, np.int64)
    receivers = np.asarray(receivers, np.int64)
    keep = senders != receivers
    keys = np.unique(senders[keep] * num_nodes + receivers[keep])
    return np.stack([keys // num_nodes, keys % num_nodes]).astype(np.int32)


def to_undirected(edges, num_nodes):
    """Both directions of every edge, without self loops or duplicates.

    Returns `[2, E]` int32 sorted by sender, then receiver.

    Example:

    >>> to_undirected([[0, 1, 2, 2], [1, 0, 2, 0]], num_nodes=3).tolist()
    [[0, 0, 1, 2], [1, 2, 0, 0]]
    """
    edges = validate_edges(edges, num_nodes)
    return _coalesce(
        np.concatenate([edges[0], edges[1]]),
        np.concatenate([edges[1], edges[0]]),
        num_nodes,
    )


# --- Planetoid ---------------------------------------------------------------


class _SparseMatrix:
    """What a pickled scipy sparse matrix becomes here: its arrays, no scipy.

    The unpickler creates it without arguments and hands the matrix's
    `__dict__` to `__setstate__`; `toarray` rebuilds the dense matrix,
    summing duplicate entries as scipy does.
    """

    format = None

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise ValueError(
                f"a pickled {self.format} matrix must hold a dict, received "
                f"{type(state).__name__}"
            )
        self.state = state

    def _get(self, *keys):
        for key in keys:
            if key in self.state:
                return self.state[key]
        raise ValueError(
            f"a pickled {self.format} matrix has no {keys[0]!r}; it holds "
            f"{sorted(self.state)}"
        )

    @property
    def shape(self):
        shape = tuple(int(n) for n in self._get("_shape", "shape"))
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"a pickled {self.format} matrix has shape {shape}")
        return shape

    def toarray(self):
        shape = self.shape
        data = np.asarray(self._get("data"))
        dtype = data.dtype if data.dtype != object else np.float64
        if self.format in ("csr", "csc"):
            indptr = np.asarray(self._get("indptr"), np.int64)
            indices = np.asarray(self._get("indices"), np.int64)
            outer = shape[0] if self.format == "csr" else shape[1]
            if (
                indptr.shape != (outer + 1,)
                or indptr[0] != 0
                or (np.diff(indptr) < 0).any()
                or indptr[-1] != len(indices)
                or len(data) != len(indices)
            ):
                raise ValueError(
                    f"a pickled {self.format} matrix of shape {shape} has "
                    f"inconsistent indptr, indices and data"
                )
            major = np.repeat(np.arange(outer), np.diff(indptr))
            if self.format == "csr":
                rows, columns = major, indices
            else:
                rows, columns = indices, major
        elif self.format == "coo":
            if "coords" in self.state:
                rows, columns = (np.asarray(c, np.int64) for c in self.state["coords"])
            else:
                rows = np.asarray(self._get("row"), np.int64)
                columns = np.asarray(self._get("col"), np.int64)
        else:  # lil: per row, a list of column indices and a list of values
            row_lists = self._get("rows")
            if len(row_lists) != shape[0] or len(data) != shape[0]:
                raise ValueError(
                    f"a pickled lil matrix of shape {shape} has {len(row_lists)} "
                    f"rows of indices and {len(data)} of values"
                )
            rows = np.repeat(np.arange(shape[0]), [len(r) for r in row_lists])
            columns = np.asarray([c for r in row_lists for c in r], np.int64)
            data = np.asarray([v for r in data for v in r], dtype)
        if not len(rows) == len(columns) == len(data):
            raise ValueError(
                f"a pickled {self.format} matrix has {len(rows)} row indices, "
                f"{len(columns)} column indices and {len(data)} values"
            )
        if len(rows) and (
            rows.min() < 0
            or columns.min() < 0
            or rows.max() >= shape[0]
            or columns.max() >= shape[1]
        ):
            raise ValueError(
                f"a pickled {self.format} matrix of shape {shape} holds an "
                f"index outside it"
            )
        dense = np.zeros(shape, dtype)
        np.add.at(dense, (rows, columns), data)
        return dense


def _sparse_class(fmt):
    return type(f"_{fmt.capitalize()}Matrix", (_SparseMatrix,), {"format": fmt})


_SPARSE_CLASSES = {
    f"{fmt}_{kind}": cls
    for fmt, cls in ((f, _sparse_class(f)) for f in ("csr", "csc", "coo", "lil"))
    for kind in ("matrix", "array")
}

# numpy's own reconstruction functions, whatever module this numpy keeps
# them in (`numpy.core` before numpy 2, `numpy._core` since).
_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_NUMPY_SCALAR = np.float32(0).__reduce__()[0]

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _NUMPY_SCALAR,
    ("numpy._core.multiarray", "scalar"): _NUMPY_SCALAR,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, scipy sparse matrices (as `_SparseMatrix`) and
    a `defaultdict` of lists, and refuses every other class or function: an
    arbitrary pickle can run any code it names."""

    def find_class(self, module, name):
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and (
            name in _SPARSE_CLASSES
        ):
            return _SPARSE_CLASSES[name]
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: a Planetoid file holds only "
            f"numpy arrays, scipy sparse matrices and a dict of lists"
        )


_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
)


def _read_pickle(path):
    try:
        with open(path, "rb") as file:
            return _PlanetoidUnpickler(file, encoding="latin1").load()
    except _READ_ERRORS as error:
        raise ValueError(f"{path} is not a readable Planetoid file: {error}") from error


def _read_matrix(path, dtype):
    """A pickled sparse matrix or array from `path`, as a dense 2-D array."""
    value = _read_pickle(path)
    try:
        if isinstance(value, _SparseMatrix):
            value = value.toarray()
        if not isinstance(value, np.ndarray) or value.ndim != 2:
            raise ValueError(
                f"expected a matrix, found "
                f"{getattr(value, 'shape', type(value).__name__)}"
            )
        return value.astype(dtype)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a readable Planetoid file: {error}") from error


def _read_adjacency(path, num_nodes):
    value = _read_pickle(path)
    if not isinstance(value, dict) or not all(
        isinstance(v, (list, tuple)) for v in value.values()
    ):
        raise ValueError(
            f"{path} is not a readable Planetoid file: expected a dict of "
            f"adjacency lists, found {type(value).__name__}"
        )
    try:
        senders = np.asarray([int(k) for k, v in value.items() for _ in v], np.int64)
        receivers = np.asarray([int(n) for v in value.values() for n in v], np.int64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a readable Planetoid file: {error}") from error
    edges = np.stack([senders, receivers]) if len(senders) else np.zeros((2, 0), int)
    try:
        return to_undirected(edges, num_nodes)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def _read_test_index(path):
    with open(path, encoding="latin1") as file:
        lines = [line.strip() for line in file]
    try:
        return np.asarray([int(line) for line in lines if line], np.int64)
    except ValueError as error:
        raise ValueError(f"{path} is not a readable Planetoid file: {error}") from error


# The tests replace `_download` here to fetch without a network.
_default_cache_dir = default_cache_dir
_download = download


def _fetch(url, path, hint):
    return fetch(url, path, hint, download_function=_download)


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
    cache_dir = cache_dir or _default_cache_dir("planetoid")
    hint = "Without a network, pass path= a folder that holds the ind.* files."
    return {
        s: _fetch(
            PLANETOID_URL.format(name=name, suffix=s),
            os.path.join(cache_dir, f"ind.{name}.{s}"),
            hint,
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
    x = _read_matrix(files["x"], np.float32)
    y = _read_matrix(files["y"], np.float32)
    allx = _read_matrix(files["allx"], np.float32)
    ally = _read_matrix(files["ally"], np.float32)
    tx = _read_matrix(files["tx"], np.float32)
    ty = _read_matrix(files["ty"], np.float32)
    test_index = _read_test_index(files["test.index"])

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
        edges=_read_adjacency(files["graph"], num_nodes),
        labels=labels,
        train_mask=mask(np.arange(num_train)),
        val_mask=mask(np.arange(num_train, num_val_end)),
        test_mask=mask(test_index),
        num_classes=ally.shape[1],
        name=name,
    )


# --- Zachary's karate club ---------------------------------------------------

# The 78 friendships of Zachary (1977), 0-based, as networkx's
# `karate_club_graph` has them.
KARATE_CLUB_EDGES = (
    (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10),
    (0, 11), (0, 12), (0, 13), (0, 17), (0, 19), (0, 21), (0, 31),
    (1, 2), (1, 3), (1, 7), (1, 13), (1, 17), (1, 19), (1, 21), (1, 30),
    (2, 3), (2, 7), (2, 8), (2, 9), (2, 13), (2, 27), (2, 28), (2, 32),
    (3, 7), (3, 12), (3, 13),
    (4, 6), (4, 10),
    (5, 6), (5, 10), (5, 16),
    (6, 16),
    (8, 30), (8, 32), (8, 33),
    (9, 33),
    (13, 33),
    (14, 32), (14, 33),
    (15, 32), (15, 33),
    (18, 32), (18, 33),
    (19, 33),
    (20, 32), (20, 33),
    (22, 32), (22, 33),
    (23, 25), (23, 27), (23, 29), (23, 32), (23, 33),
    (24, 25), (24, 27), (24, 31),
    (25, 31),
    (26, 29), (26, 33),
    (27, 33),
    (28, 31), (28, 33),
    (29, 32), (29, 33),
    (30, 32), (30, 33),
    (31, 32), (31, 33),
    (32, 33),
)
# networkx's `club` attribute: 0 is "Mr. Hi" (the instructor, node 0), 1 is
# "Officer" (the administrator, node 33).
KARATE_CLUB_FACTIONS = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0,
    0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
)


def karate_club():
    """Zachary's karate club: 34 members, 78 friendships, two factions.

    The club split in two after a dispute between its instructor ("Mr. Hi",
    node 0, class 0) and its administrator ("Officer", node 33, class 1);
    the label is the faction each member joined (Zachary, 1977, as networkx's
    `karate_club_graph` records it). Node features are the identity `[34, 34]`
    and each friendship is an edge in both directions (156). The usual
    semi-supervised task: the two leaders are the training nodes, the other
    32 members the test nodes, and the validation mask is empty.

    Example:

    >>> graph = karate_club()
    >>> graph.labels[[0, 33]].tolist(), int(graph.labels.sum())
    ([0, 1], 17)
    """
    num_nodes = len(KARATE_CLUB_FACTIONS)
    train = np.zeros(num_nodes, bool)
    train[[0, num_nodes - 1]] = True
    return Graph(
        node_features=np.eye(num_nodes, dtype=np.float32),
        edges=to_undirected(np.asarray(KARATE_CLUB_EDGES).T, num_nodes),
        labels=np.asarray(KARATE_CLUB_FACTIONS, np.int32),
        train_mask=train,
        val_mask=np.zeros(num_nodes, bool),
        test_mask=~train,
        num_classes=2,
        name="karate_club",
    )


# --- Link prediction ---------------------------------------------------------


def _pairs(edges):
    """Each undirected pair of `edges` once, as `[M, 2]` with `u < v`."""
    lo = np.minimum(edges[0], edges[1]).astype(np.int64)
    hi = np.maximum(edges[0], edges[1]).astype(np.int64)
    keep = lo != hi
    return np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0).reshape(-1, 2)


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def sample_negative_edges(num_nodes, positive_edges, count, seed=0):
    """`count` node pairs that are not edges: negatives for link prediction.

    Each pair is undirected and drawn uniformly from the pairs `u < v` that
    are neither a self loop nor an edge of `positive_edges` in either
    direction; no pair is drawn twice. For fresh training negatives each
    epoch, pass the training edges and a new `seed`.

    Args:
        num_nodes: `N`.
        positive_edges: `[2, E]` edges to avoid (either direction).
        count: how many pairs.
        seed: an int, or a `numpy.random.Generator` to draw from.

    Returns:
        `[2, count]` int32, `u < v` in each column, in random order.

    Example:

    >>> negatives = sample_negative_edges(4, [[0, 1, 2], [1, 2, 3]], 3, seed=0)
    >>> sorted(map(tuple, negatives.T.tolist()))
    [(0, 2), (0, 3), (1, 3)]
    """
    positive_edges = validate_edges(positive_edges, num_nodes, "positive_edges")
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative int, received count={count!r}")
    positive = _pairs(positive_edges)
    positive_keys = positive[:, 0] * num_nodes + positive[:, 1]
    available = num_nodes * (num_nodes - 1) // 2 - len(positive_keys)
    if count > available:
        raise ValueError(
            f"count={count} negative edges asked for, but a graph of "
            f"num_nodes={num_nodes} with {len(positive_keys)} edges has only "
            f"{available} non-edges"
        )
    rng = _rng(seed)
    if count > available // 2:
        # Dense request: rejection sampling would stall, so list every pair.
        lo, hi = np.triu_indices(num_nodes, k=1)
        keys = lo.astype(np.int64) * num_nodes + hi
        keys = keys[~np.isin(keys, positive_keys)]
        chosen = rng.choice(keys, size=count, replace=False)
    else:
        chosen = np.zeros(0, np.int64)
        while len(chosen) < count:
            need = count - len(chosen)
            u = rng.integers(0, num_nodes, size=2 * need + 16)
            v = rng.integers(0, num_nodes, size=2 * need + 16)
            keys = np.minimum(u, v) * num_nodes + np.maximum(u, v)
            fresh = ~np.isin(keys, positive_keys) & ~np.isin(keys, chosen)
            keys = keys[(u != v) & fresh]
            _, first = np.unique(keys, return_index=True)
            chosen = np.concatenate([chosen, keys[np.sort(first)][:need]])
    return np.stack([chosen // num_nodes, chosen % num_nodes]).astype(np.int32)


@dataclasses.dataclass(eq=False)
class LinkSplit:
    """Edges for link prediction, each undirected pair once as `[2, *]` int32
    with `u < v`.

    Attributes:
        graph: the input graph with only the training edges, in both
            directions: the edges a model passes messages along.
        train_edges: the training positives (the same pairs, once each).
        val_edges, test_edges: held-out positives; never in `graph.edges`.
        val_negative_edges, test_negative_edges: as many non-edges of the
            full graph as there are positives, no pair in both.
    """

    graph: Graph
    train_edges: np.ndarray
    val_edges: np.ndarray
    val_negative_edges: np.ndarray
    test_edges: np.ndarray
    test_negative_edges: np.ndarray

    def train_negative_edges(self, seed, count=None):
        """Fresh training negatives (default: one per training edge).

        They avoid the training edges only, so the held-out edges stay
        unseen (as PyTorch Geometric's `negative_sampling` does in training).
        """
        count = self.train_edges.shape[1] if count is None else count
        return sample_negative_edges(
            self.graph.num_nodes, self.train_edges, count, seed
        )


def _check_fraction(value, argument):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
        0 <= value < 1
    ):
        raise ValueError(
            f"{argument} must be a number in [0, 1), received {argument}={value!r}"
        )


def link_prediction_split(graph, val_fraction=0.05, test_fraction=0.1, seed=0):
    """Holds out random edges of `graph` for validation and test.

    The undirected edges (each pair once, self loops dropped) are shuffled
    with `seed`; `floor(val_fraction * M)` of the `M` pairs validate,
    `floor(test_fraction * M)` test and the rest train. Validation and test
    each get as many negatives, sampled from the non-edges of the full graph.

    Returns:
        A `LinkSplit`.

    Raises:
        ValueError: for a fraction outside `[0, 1)` or fractions summing to 1
            or more, or a graph too small to give each part an edge (or to
            have enough non-edges).

    Example:

    >>> split = link_prediction_split(karate_club(), seed=0)
    >>> split.train_edges.shape, split.val_edges.shape, split.test_edges.shape
    ((2, 68), (2, 3), (2, 7))
    >>> split.graph.edges.shape, split.test_negative_edges.shape
    ((2, 136), (2, 7))
    """
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be below 1 to leave training "
            f"edges, received val_fraction={val_fraction} and "
            f"test_fraction={test_fraction}"
        )
    pairs = _pairs(graph.edges)  # [M, 2]
    num_val = math.floor(val_fraction * len(pairs))
    num_test = math.floor(test_fraction * len(pairs))
    num_train = len(pairs) - num_val - num_test
    for fraction, number, part in (
        (val_fraction, num_val, "validation"),
        (test_fraction, num_test, "test"),
    ):
        if fraction > 0 and number == 0:
            raise ValueError(
                f"graph is too small: {part} gets {fraction} of its "
                f"{len(pairs)} undirected edges, which is none; it needs at "
                f"least {math.ceil(1 / fraction)}"
            )
    if num_train == 0:
        raise ValueError(
            f"graph is too small: its {len(pairs)} undirected edges leave none "
            f"to train on"
        )
    rng = _rng(seed)
    order = rng.permutation(len(pairs))

    def part(indices):
        chosen = pairs[np.sort(indices)]  # sorted by (u, v)
        return chosen.T.astype(np.int32)

    val = part(order[:num_val])
    test = part(order[num_val : num_val + num_test])
    train = part(order[num_val + num_test :])
    negatives = sample_negative_edges(
        graph.num_nodes, graph.edges, num_val + num_test, seed=rng
    )
    return LinkSplit(
        graph=dataclasses.replace(graph, edges=to_undirected(train, graph.num_nodes)),
        train_edges=train,
        val_edges=val,
        val_negative_edges=negatives[:, :num_val],
        test_edges=test,
        test_negative_edges=negatives[:, num_val:],
    )


# --- Graph classification: generated motifs, batching -----------------------

# Two 5-node motifs with 6 edges and the same degrees (3, 3, 2, 2, 2): the
# house (a square with a triangular roof) and the complete bipartite K_{2,3}.
# Only the house has a triangle; its two degree-3 nodes are adjacent, those
# of K_{2,3} are not.
HOUSE_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4))
K23_EDGES = ((0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4))


def _distances(num_nodes, adjacency):
    """All-pairs hop distances `[N, N]` by breadth-first search (tiny graphs)."""
    distances = np.full((num_nodes, num_nodes), num_nodes + 1)
    for source in range(num_nodes):
        distances[source, source] = 0
        frontier = [source]
        while frontier:
            following = []
            for node in frontier:
                for neighbour in adjacency[node]:
                    if distances[source, neighbour] > num_nodes:
                        distances[source, neighbour] = distances[source, node] + 1
                        following.append(neighbour)
            frontier = following
    return distances


def motif_graphs(
    num_graphs=200,
    seed=0,
    min_nodes=8,
    max_nodes=20,
    extra_edges=1,
    features="degree",
):
    """Random graphs holding a house (class 1) or a K_{2,3} (class 0).

    A graph classification task with a known answer: class 1 if and only if
    the graph has a triangle. Each graph has `n` nodes (uniform in
    `[min_nodes, max_nodes]`): a random recursive tree on `n - 5` nodes, up
    to `extra_edges` random edges between tree nodes at least 3 hops apart
    (they close cycles of 4 or more, never a triangle), and one 5-node motif
    joined to a random tree node by one edge from a random motif node. The
    motif is a house (a square with a triangular roof, class 1) or the
    complete bipartite K_{2,3} (class 0). Node ids are shuffled.

    Why a decoy instead of "motif or no motif": both motifs have 5 nodes,
    6 edges and degrees (3, 3, 2, 2, 2), so node count, edge count and the
    degree histogram say nothing about the class (a linear classifier on
    them scores 0.5). The motifs differ one hop out: the house's degree-3
    nodes are adjacent, K_{2,3}'s are not, which message passing sees (1-WL
    tells the two apart). A 3-layer message-passing model on degree features,
    with mean (as attention is) or sum aggregation and a sum and max readout,
    scored 0.99 on held-out graphs after 300 full-batch steps.

    Node features: with `features="degree"`, one-hot degrees
    `[n, MOTIF_MAX_DEGREE + 1]`, the last column for that degree or more;
    with `"constant"`, ones `[n, 1]` (attention over identical features is
    uniform, so a GAT learns nothing from those alone). Exactly
    `num_graphs // 2` graphs are class 1 (in random order), and the same
    arguments give the same graphs.

    Returns:
        A list of `Graph`s with `graph_label` and `num_classes=2`, edges in
        both directions.

    Example:

    >>> graphs = motif_graphs(4, seed=0)
    >>> sorted(g.graph_label for g in graphs), graphs[0].num_features
    ([0, 0, 1, 1], 7)
    """
    if not isinstance(num_graphs, int) or isinstance(num_graphs, bool) or (
        num_graphs < 0
    ):
        raise ValueError(
            f"num_graphs must be a non-negative int, received num_graphs={num_graphs!r}"
        )
    if not isinstance(min_nodes, int) or min_nodes < 6:
        raise ValueError(
            f"min_nodes must be an int of at least 6 (a 5-node motif and a "
            f"tree of one node or more), received min_nodes={min_nodes!r}"
        )
    if not isinstance(max_nodes, int) or max_nodes < min_nodes:
        raise ValueError(
            f"max_nodes must be an int of at least min_nodes={min_nodes}, "
            f"received max_nodes={max_nodes!r}"
        )
    if not isinstance(extra_edges, int) or extra_edges < 0:
        raise ValueError(
            f"extra_edges must be a non-negative int, received "
            f"extra_edges={extra_edges!r}"
        )
    if features not in ("degree", "constant"):
        raise ValueError(
            f"features must be 'degree' or 'constant', received features={features!r}"
        )
    rng = np.random.default_rng(seed)
    labels = np.zeros(num_graphs, int)
    labels[: num_graphs // 2] = 1
    labels = rng.permutation(labels)
    graphs = []
    for label in labels:
        num_nodes = int(rng.integers(min_nodes, max_nodes + 1))
        tree_size = num_nodes - 5
        edges = [(int(rng.integers(0, v)), v) for v in range(1, tree_size)]
        adjacency = [[] for _ in range(tree_size)]
        for u, v in edges:
            adjacency[u].append(v)
            adjacency[v].append(u)
        for _ in range(extra_edges):
            # Distances change with every edge: two nodes 3 hops apart before
            # one could be 2 hops apart after, and joining those would close
            # a triangle.
            distances = _distances(tree_size, adjacency)
            far = np.argwhere(np.triu(distances >= 3))
            if len(far) == 0:
                break
            u, v = (int(i) for i in far[rng.integers(len(far))])
            edges.append((u, v))
            adjacency[u].append(v)
            adjacency[v].append(u)
        motif = HOUSE_EDGES if label == 1 else K23_EDGES
        edges += [(tree_size + u, tree_size + v) for u, v in motif]
        edges.append((int(rng.integers(tree_size)), tree_size + int(rng.integers(5))))
        permutation = rng.permutation(num_nodes)
        edges = to_undirected(permutation[np.asarray(edges).T], num_nodes)
        if features == "degree":
            degrees = np.bincount(edges[1], minlength=num_nodes)  # [n]
            degrees = np.minimum(degrees, MOTIF_MAX_DEGREE)
            node_features = np.eye(MOTIF_MAX_DEGREE + 1, dtype=np.float32)[degrees]
        else:
            node_features = np.ones((num_nodes, 1), np.float32)
        graphs.append(
            Graph(
                node_features=node_features,
                edges=edges,
                num_classes=2,
                name="motif_graphs",
                graph_label=int(label),
            )
        )
    return graphs


@dataclasses.dataclass(eq=False)
class GraphBatch:
    """Graphs joined into one disjoint union.

    Attributes:
        node_features: `[sum N, F]` float32, graph after graph.
        edges: `[2, sum E]` int32; each graph's edges shifted by the number
            of nodes before it, so no edge joins two graphs.
        graph_ids: `[sum N]` int32, the graph each node belongs to (for a
            segment readout).
        labels: `[G]` int32 graph labels, or None when a graph has none.
        num_graphs: `G`.
    """

    node_features: np.ndarray
    edges: np.ndarray
    graph_ids: np.ndarray
    labels: np.ndarray
    num_graphs: int


def batch_graphs(graphs):
    """One `GraphBatch` holding `graphs` side by side.

    Raises:
        ValueError: for no graphs, or graphs with different feature sizes
            (naming the first that differs).

    Example:

    >>> batch = batch_graphs(motif_graphs(3, seed=1))
    >>> batch.num_graphs, sorted(set(batch.graph_ids.tolist()))
    (3, [0, 1, 2])
    """
    graphs = list(graphs)
    if not graphs:
        raise ValueError("graphs must hold at least one Graph, received none")
    width = graphs[0].num_features
    for index, graph in enumerate(graphs):
        if graph.num_features != width:
            raise ValueError(
                f"every graph must have the same number of features: graph 0 "
                f"has {width}, graph {index} has {graph.num_features}"
            )
    sizes = np.asarray([g.num_nodes for g in graphs])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    labels = [g.graph_label for g in graphs]
    return GraphBatch(
        node_features=np.concatenate([g.node_features for g in graphs]),
        edges=np.concatenate(
            [g.edges + offset for g, offset in zip(graphs, offsets)], axis=1
        ).astype(np.int32),
        graph_ids=np.repeat(np.arange(len(graphs), dtype=np.int32), sizes),
        labels=None if None in labels else np.asarray(labels, np.int32),
        num_graphs=len(graphs),
    )


# --- TU graph-kernel data sets -----------------------------------------------


def _read_table(path, dtype):
    """The comma-separated numbers of `path` as `[rows, columns]`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no data" for empty files
            return np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path} is not a readable TU file: {error}") from error


def _tu_folder(name, path, cache_dir):
    required = f"{name}_A.txt"
    if path is not None:
        for folder in (path, os.path.join(path, name)):
            if os.path.isfile(os.path.join(folder, required)):
                return folder
        raise FileNotFoundError(
            f"{os.path.join(path, required)} is missing (nor is it in "
            f"{os.path.join(path, name)}): path must be a folder holding the "
            f"{name}_*.txt files"
        )
    cache_dir = cache_dir or _default_cache_dir("tu")
    folder = os.path.join(cache_dir, name)
    if os.path.isfile(os.path.join(folder, required)):
        return folder
    archive = _fetch(
        TU_URL.format(name=name),
        os.path.join(cache_dir, f"{name}.zip"),
        "Without a network, pass path= a folder that holds the .txt files.",
    )
    try:
        with zipfile.ZipFile(archive) as zipped:
            os.makedirs(folder, exist_ok=True)
            for member in zipped.infolist():
                # Only the base name: nothing lands outside `folder`.
                base = member.filename.rsplit("/", 1)[-1]
                if base.startswith(f"{name}_") and base.endswith(".txt"):
                    with zipped.open(member) as source:
                        with open(os.path.join(folder, base), "wb") as target:
                            shutil.copyfileobj(source, target)
    except zipfile.BadZipFile as error:
        os.remove(archive)
        raise ValueError(
            f"{archive} is not a zip file ({error}); it was deleted, so the "
            f"next call downloads it again"
        ) from error
    if not os.path.isfile(os.path.join(folder, required)):
        raise ValueError(f"{archive} holds no {required}")
    return folder


def load_tu(name, path=None, cache_dir=None):
    """A graph classification set in the TU graph-kernel format.

    Reads `{name}_A.txt` (one 1-based "i, j" edge a line),
    `{name}_graph_indicator.txt` (each node's 1-based graph),
    `{name}_graph_labels.txt` and, when present, `{name}_node_attributes.txt`
    (comma-separated floats) and `{name}_node_labels.txt`. Node features are
    the attributes followed by the one-hot node labels (each column's value
    minus its minimum, so as wide as the label range), the order and
    encoding of PyTorch Geometric's `TUDataset`; with neither file, one
    constant feature. Graph labels (TU has -1/1 in places) are mapped in
    sorted order to `0..C-1`. Each graph's edges are 0-based within it,
    without self loops or duplicates, sorted by sender then receiver; the
    files list undirected edges in both directions, and this keeps them as
    listed. Edge labels and attributes are not read.

    Args:
        name: the data set's name as TU spells it, e.g. "MUTAG".
        path: a folder holding the files (or holding a `{name}` folder that
            does); None downloads `{name}.zip` once into `cache_dir`.
        cache_dir: where downloads go; default `$KERAS_HOME/datasets/tu`.

    Returns:
        `(graphs, num_classes)`: a list of `Graph`s with `graph_label`, and C.

    Raises:
        FileNotFoundError: naming a required file that `path` lacks.
        ValueError: for a bad `name`, or files that are unreadable or
            disagree (naming the file).

    Example (downloads MUTAG on first use):

    >>> graphs, num_classes = load_tu("MUTAG")  # doctest: +SKIP
    >>> len(graphs), num_classes  # doctest: +SKIP
    (188, 2)
    """
    if not isinstance(name, str) or not name or any(c in name for c in "/\\") or (
        name.startswith(".")
    ):
        raise ValueError(
            f"name must be a TU data set's name such as 'MUTAG', received "
            f"name={name!r}"
        )
    folder = _tu_folder(name, path, cache_dir)

    def file(suffix):
        return os.path.join(folder, f"{name}_{suffix}.txt")

    for suffix in ("graph_indicator", "graph_labels"):
        if not os.path.isfile(file(suffix)):
            raise FileNotFoundError(f"{file(suffix)} is missing")
    indicator = _read_table(file("graph_indicator"), np.int64)[:, 0]  # [N]
    graph_labels = _read_table(file("graph_labels"), np.int64)[:, 0]  # [G]
    pairs = _read_table(file("A"), np.int64)  # [E, 2], 1-based
    num_nodes, num_graphs = len(indicator), len(graph_labels)
    if num_nodes == 0 or num_graphs == 0:
        raise ValueError(
            f"{file('graph_indicator')} and {file('graph_labels')} must not be "
            f"empty"
        )
    bad = (indicator < 1) | (indicator > num_graphs)
    if bad.any():
        line = int(np.argmax(bad))
        raise ValueError(
            f"{file('graph_indicator')} line {line + 1} holds graph "
            f"{indicator[line]}, but {file('graph_labels')} has {num_graphs} "
            f"graphs (1 to {num_graphs})"
        )
    graph_of = indicator - 1  # [N]
    sizes = np.bincount(graph_of, minlength=num_graphs)  # [G]
    if (sizes == 0).any():
        raise ValueError(
            f"{file('graph_indicator')} gives graph {int(np.argmin(sizes)) + 1} "
            f"no nodes"
        )
    if len(pairs) and pairs.shape[1] != 2:
        raise ValueError(
            f"{file('A')} must hold two node indices a line, found {pairs.shape[1]}"
        )
    pairs = pairs.reshape(-1, 2)
    bad = ((pairs < 1) | (pairs > num_nodes)).any(axis=1)
    if bad.any():
        line = int(np.argmax(bad))
        raise ValueError(
            f"{file('A')} line {line + 1} holds nodes {pairs[line].tolist()}, but "
            f"{file('graph_indicator')} has {num_nodes} nodes (1 to {num_nodes})"
        )
    pairs = pairs - 1  # [E, 2], 0-based
    crossing = graph_of[pairs[:, 0]] != graph_of[pairs[:, 1]]
    if crossing.any():
        line = int(np.argmax(crossing))
        (u, v), (g, h) = pairs[line] + 1, graph_of[pairs[line]] + 1
        raise ValueError(
            f"{file('A')} line {line + 1} joins node {u} of graph {g} and node "
            f"{v} of graph {h}"
        )

    parts = []
    if os.path.isfile(file("node_attributes")):
        parts.append(_read_table(file("node_attributes"), np.float32))
    if os.path.isfile(file("node_labels")):
        node_labels = _read_table(file("node_labels"), np.int64)
        node_labels = node_labels - node_labels.min(axis=0)
        parts += [np.eye(c.max() + 1, dtype=np.float32)[c] for c in node_labels.T]
    for suffix, part in zip(("node_attributes", "node_labels"), parts):
        if len(part) != num_nodes:
            raise ValueError(
                f"{file(suffix)} has {len(part)} rows, but "
                f"{file('graph_indicator')} has {num_nodes} nodes"
            )
    if parts:
        features = np.concatenate(parts, axis=1)  # [N, F]
    else:
        features = np.ones((num_nodes, 1), np.float32)
    classes, graph_classes = np.unique(graph_labels, return_inverse=True)

    # Graph g's nodes, in file order, are order[starts[g] : starts[g + 1]];
    # its edges, in file order, edge_order[edge_starts[g] : edge_starts[g + 1]].
    order = np.argsort(graph_of, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    local = np.empty(num_nodes, np.int64)  # each node's index in its graph
    local[order] = np.arange(num_nodes) - starts[graph_of[order]]
    edge_graph = graph_of[pairs[:, 0]]
    edge_order = np.argsort(edge_graph, kind="stable")
    edge_starts = np.concatenate(
        [[0], np.cumsum(np.bincount(edge_graph, minlength=num_graphs))]
    )
    graphs = []
    for g in range(num_graphs):
        own = pairs[edge_order[edge_starts[g] : edge_starts[g + 1]]]
        graphs.append(
            Graph(
                node_features=features[order[starts[g] : starts[g + 1]]],
                edges=_coalesce(local[own[:, 0]], local[own[:, 1]], sizes[g]),
                num_classes=len(classes),
                name=name,
                graph_label=int(graph_classes[g]),
            )
        )
    return graphs, len(classes)
