"""Graph classification sets in the TU graph-kernel format (Morris et al.,
2020), read from a folder or downloaded once into a cache: `load_tu`.
"""

import json
import os
import shutil
import tempfile
import warnings
import zipfile

import numpy as np

from keras_attention.data._download import (
    ZIP_ERRORS,
    check_zip,
    default_cache_dir,
    download,
    fetch,
)
from keras_attention.data._memory import check_fits
from keras_attention.data.graphs.core import Graph, _coalesce

TU_URL = "https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip"
# The SHA-256 of the TU zips is not checked: none could be fetched where
# this was written, and the server rebuilds its zips. A download still gets
# every other check (not HTML, a zip whose members all pass their CRC), and
# the extracted files the loader's own.

# In an extracted folder of the cache: the members and their sizes, written
# last, so a folder without it (or whose files differ from it) is incomplete.
TU_MANIFEST = ".complete.json"

# The tests replace `_download` here to fetch without a network.
_download = download


def _read_table(path, dtype):
    """The comma-separated numbers of `path` as `[rows, columns]`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no data" for empty files
            return np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path} is not a readable TU file: {error}") from error


def _complete(folder, required):
    """Whether the extracted cache `folder` is whole: its manifest lists
    `required`, and every member it lists is there with its size."""
    try:
        with open(os.path.join(folder, TU_MANIFEST)) as file:
            sizes = json.load(file)
        return required in sizes and all(
            os.path.getsize(os.path.join(folder, base)) == size
            for base, size in sizes.items()
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return False


def _extract(name, archive, folder):
    """The `{name}_*.txt` members of `archive` into `folder`, all or nothing:
    into a temporary folder beside it, renamed into place once whole."""
    cache_dir = os.path.dirname(folder)
    partial = tempfile.mkdtemp(dir=cache_dir, prefix=f".{name}.", suffix=".part")
    member = None
    try:
        sizes = {}
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                # Only the base name: nothing lands outside the folder.
                base = member.filename.rsplit("/", 1)[-1]
                if not (base.startswith(f"{name}_") and base.endswith(".txt")):
                    continue
                if base in sizes:
                    raise ValueError(f"it holds {base} twice")
                with zipped.open(member) as source:
                    with open(os.path.join(partial, base), "wb") as target:
                        shutil.copyfileobj(source, target)
                sizes[base] = os.path.getsize(os.path.join(partial, base))
        member = None  # what follows is about the whole archive
        if f"{name}_A.txt" not in sizes:
            raise ValueError(f"it holds no {name}_A.txt")
        with open(os.path.join(partial, TU_MANIFEST), "w") as file:
            json.dump(sizes, file)
        if os.path.isdir(folder):  # incomplete (checked by the caller)
            shutil.rmtree(folder)
        elif os.path.exists(folder):
            os.remove(folder)
        os.replace(partial, folder)
    except (*ZIP_ERRORS, ValueError) as error:
        os.remove(archive)
        where = f" (member {member.filename})" if member is not None else ""
        raise ValueError(
            f"{archive} is not a usable TU zip{where}: {error}; it was deleted, "
            f"so the next call downloads it again"
        ) from error
    finally:
        if os.path.isdir(partial):
            shutil.rmtree(partial)


def _one_hot(path, labels):
    """Each column of `labels` `[N, K]` one-hot over its range (value minus
    the column's minimum), as PyG's `TUDataset` encodes node labels."""
    labels = labels - labels.min(axis=0)  # [N, K]
    widths = labels.max(axis=0) + 1  # [K]
    width = int(widths.sum())
    check_fits(path, "one-hot node labels", (len(labels), width), np.float32)
    parts = []
    for column, width in zip(labels.T, widths):
        one_hot = np.zeros((len(labels), int(width)), np.float32)  # [N, width]
        one_hot[np.arange(len(labels)), column] = 1
        parts.append(one_hot)
    return parts


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
    cache_dir = cache_dir or default_cache_dir("tu")
    folder = os.path.join(cache_dir, name)
    if _complete(folder, required):
        return folder
    if os.path.exists(folder):
        warnings.warn(
            f"{folder} in the cache is incomplete (no {TU_MANIFEST}, or a file "
            f"missing or of another size than it lists); extracting it again",
            stacklevel=3,
        )
    archive = fetch(
        TU_URL.format(name=name),
        os.path.join(cache_dir, f"{name}.zip"),
        "Without a network, pass path= a folder that holds the .txt files.",
        download_function=_download,
        kind="zip file",
        check=check_zip,
    )
    _extract(name, archive, folder)
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
    if len(pairs) == 0:
        raise ValueError(
            f"{file('A')} holds no edges: a TU data set lists one \"i, j\" edge a "
            f"line (cut short or emptied?)"
        )
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
    for suffix in ("node_attributes", "node_labels"):
        if not os.path.isfile(file(suffix)):
            continue
        dtype = np.float32 if suffix == "node_attributes" else np.int64
        table = _read_table(file(suffix), dtype)
        if len(table) != num_nodes:
            raise ValueError(
                f"{file(suffix)} has {len(table)} rows, but "
                f"{file('graph_indicator')} has {num_nodes} nodes"
            )
        if suffix == "node_attributes":
            finite = np.isfinite(table).all(axis=1)
            if not finite.all():
                line = int(np.argmin(finite))
                raise ValueError(
                    f"{file(suffix)} line {line + 1} holds {table[line].tolist()}: "
                    f"node attributes must be finite"
                )
            parts.append(table)
        else:
            parts += _one_hot(file(suffix), table)
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

