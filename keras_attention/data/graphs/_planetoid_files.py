"""Reading the Planetoid files (private): a restricted unpickler, and the
matrices, adjacency lists and test index it reads.

The files are Python-2 pickles of numpy arrays, scipy sparse matrices and a
`defaultdict` of lists. Nothing here needs scipy: a pickled sparse matrix
becomes a `_SparseMatrix` holding its arrays, which rebuilds the dense
matrix. Every other class or function is refused, never loaded: an
arbitrary pickle can run any code it names. A file that cannot be read
raises a `ValueError` naming it.
"""

import collections
import pickle

import numpy as np

from keras_attention.data._memory import check_fits
from keras_attention.data.graphs.core import to_undirected


class _SparseMatrix:
    """What a pickled scipy sparse matrix becomes here: its arrays, no scipy.

    The unpickler creates it without arguments and hands the matrix's
    `__dict__` to `__setstate__`. `entries` checks the arrays against each
    other and the shape, before anything the size of the shape is made
    (`to_dense` rebuilds the dense matrix from them).
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

    def entries(self):
        """`(rows, columns, values)` of the stored entries, checked: the
        arrays agree with each other, and every index is inside the shape."""
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
                    f"inconsistent indptr, indices and data: indptr holds "
                    f"{len(indptr)} offsets for {outer} "
                    f"{'rows' if self.format == 'csr' else 'columns'}, indices "
                    f"{len(indices)} and data {len(data)} entries"
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
        return rows, columns, data.astype(dtype, copy=False)

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


def _named(path, action, *args):
    try:
        return action(*args)
    except _READ_ERRORS as error:
        raise ValueError(f"{path} is not a readable Planetoid file: {error}") from error


def read_matrix(path):
    """The pickled sparse matrix or array in `path`, not yet dense.

    A numpy array, or a `_SparseMatrix` whose arrays have been checked
    against its shape; either way `.shape` is that of the matrix, and
    `to_dense` makes it dense.
    """
    value = _read_pickle(path)

    def check():
        if isinstance(value, _SparseMatrix):
            value.entries()
        elif not isinstance(value, np.ndarray) or value.ndim != 2:
            raise ValueError(
                f"expected a matrix, found "
                f"{getattr(value, 'shape', type(value).__name__)}"
            )

    _named(path, check)
    return value


def to_dense(path, value, dtype):
    """`value` (from `read_matrix(path)`) as a dense array of `dtype`.

    Raises:
        ValueError: naming `path`, when the dense matrix would not fit in
            memory, or a value is not finite (giving its row).
    """
    check_fits(path, "a dense matrix", value.shape, dtype)
    sparse = isinstance(value, _SparseMatrix)
    if sparse:
        rows, columns, values = _named(path, value.entries)
    else:
        values = value
    finite = _named(path, np.isfinite, values)
    if not finite.all():
        where = tuple(np.argwhere(~finite)[0])
        row = int(rows[where[0]]) if sparse else int(where[0])
        raise ValueError(
            f"{path} holds {values[where]} in row {row}: Planetoid features "
            f"and labels must be finite"
        )
    if sparse:
        dense = np.zeros(value.shape, values.dtype)
        np.add.at(dense, (rows, columns), values)  # duplicates add up, as in scipy
        values = dense
    return _named(path, values.astype, dtype)


def read_adjacency(path):
    """The pickled dict of adjacency lists in `path`, as `(senders,
    receivers)`, int64, one entry per listed neighbour (unchecked: the
    caller knows the number of nodes)."""
    value = _read_pickle(path)
    if not isinstance(value, dict) or not all(
        isinstance(v, (list, tuple)) for v in value.values()
    ):
        raise ValueError(
            f"{path} is not a readable Planetoid file: expected a dict of "
            f"adjacency lists, found {type(value).__name__}"
        )

    def arrays():
        senders = np.asarray([int(k) for k, v in value.items() for _ in v], np.int64)
        receivers = np.asarray([int(n) for v in value.values() for n in v], np.int64)
        return senders, receivers

    return _named(path, arrays)


def edges_of(path, senders, receivers, num_nodes):
    """Undirected `[2, E]` edges from `read_adjacency(path)`, checked
    against `num_nodes` by the layers' own edge check."""
    edges = np.stack([senders, receivers]) if len(senders) else np.zeros((2, 0), int)
    try:
        return to_undirected(edges, num_nodes)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def read_test_index(path):
    """The test nodes, one a line, in file order (not sorted), and the
    1-based line of each: `(nodes, lines)`, int64."""
    with open(path, encoding="latin1") as file:
        text = file.read()
    nodes, lines = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            node = int(line)
        except ValueError:
            raise ValueError(
                f"{path} is not a readable Planetoid file: line {number} holds "
                f"{line[:40]!r}, not a node index"
            ) from None
        if not -(2**63) <= node < 2**63:
            raise ValueError(
                f"{path} line {number} holds node {node}, which no int64 holds"
            )
        nodes.append(node)
        lines.append(number)
    return np.asarray(nodes, np.int64), np.asarray(lines, np.int64)
