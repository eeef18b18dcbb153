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

from keras_attention.data.graphs.core import to_undirected


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


def read_matrix(path, dtype):
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


def read_adjacency(path, num_nodes):
    """The pickled dict of adjacency lists in `path`, as undirected `[2, E]`."""
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


def read_test_index(path):
    """The test nodes, one a line, in file order (not sorted)."""
    with open(path, encoding="latin1") as file:
        lines = [line.strip() for line in file]
    try:
        return np.asarray([int(line) for line in lines if line], np.int64)
    except ValueError as error:
        raise ValueError(f"{path} is not a readable Planetoid file: {error}") from error

