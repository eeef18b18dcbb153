"""Graph data for the graph attention layers: citation graphs, the karate club,
link prediction splits, graph classification sets, and their input pipelines.

Every graph is a `Graph`: node features `[N, F]` float32 and directed edges
`[2, E]` int32, row 0 the sender (source) and row 1 the receiver (target) of
each message, so an undirected edge is stored once in each direction. Shape
letters: `N` nodes, `E` directed edges, `F` features, `C` classes, `G` graphs.

The modules, each name re-exported here:

- `core`: `Graph`, `GraphBatch` and `batch_graphs` (graphs joined into one
  disjoint union), `validate_edges` (the layers' own check of `[2, E]`
  edges), `to_undirected` and `dense_adjacency`.
- `planetoid`: `load_planetoid`, Cora, CiteSeer and PubMed with the standard
  Planetoid split (Yang, Cohen and Salakhutdinov, 2016), built exactly as
  Kipf and Welling's `gcn` code and PyTorch Geometric build it; read from a
  folder, or downloaded once into a cache. Nothing needs scipy: the files
  are Python-2 pickles of scipy sparse matrices, which a restricted
  unpickler turns into dense numpy arrays; it refuses every class but the
  few those files hold.
- `tu`: `load_tu`, graph classification sets in the TU graph-kernel format
  (Morris et al., 2020), from a folder or downloaded once into a cache.
- `synthetic`: `karate_club`, Zachary's karate club (1977), 34 members, two
  factions, one labelled member per faction; `motif_graphs`, generated graph
  classification with a known answer.
- `images`: `superpixel_graph` (SLIC superpixels and their nearest
  neighbours, as the superpixel MNIST benchmark builds them),
  `pixel_grid_graph` and `image_graphs`, images as graph classification
  sets.
- `link_prediction`: `link_prediction_split` and `sample_negative_edges`,
  held-out edges and sampled non-edges.
- `pipelines`: the `tf.data` pipelines that feed the reference models
  (`node_dataset`, `link_dataset`, `link_training_dataset`,
  `graph_batches`); they import TensorFlow when called.

The package imports numpy and the layers' private checks
(`keras_attention.layers._graph`), never the models.

Example:

>>> graph = karate_club()
>>> graph.node_features.shape, graph.edges.shape, graph.num_classes
((34, 34), (2, 156), 2)
>>> int(graph.train_mask.sum()), int(graph.test_mask.sum())
(2, 32)
"""

from keras_attention.data.graphs.core import (
    Graph,
    GraphBatch,
    batch_graphs,
    dense_adjacency,
    to_undirected,
    validate_edges,
)
from keras_attention.data.graphs.images import (
    image_graphs,
    nearest_neighbour_edges,
    pixel_grid_graph,
    superpixel_graph,
    superpixel_segments,
)
from keras_attention.data.graphs.link_prediction import (
    LinkSplit,
    link_prediction_split,
    sample_negative_edges,
)
from keras_attention.data.graphs.pipelines import (
    graph_batches,
    link_dataset,
    link_training_dataset,
    node_dataset,
)
from keras_attention.data.graphs.planetoid import (
    PLANETOID_NAMES,
    PLANETOID_NUM_VAL,
    PLANETOID_SUFFIXES,
    PLANETOID_URL,
    load_planetoid,
)
from keras_attention.data.graphs.synthetic import (
    HOUSE_EDGES,
    K23_EDGES,
    KARATE_CLUB_EDGES,
    KARATE_CLUB_FACTIONS,
    MOTIF_MAX_DEGREE,
    karate_club,
    motif_graphs,
)
from keras_attention.data.graphs.tu import TU_URL, load_tu

__all__ = [
    "Graph",
    "GraphBatch",
    "HOUSE_EDGES",
    "K23_EDGES",
    "KARATE_CLUB_EDGES",
    "KARATE_CLUB_FACTIONS",
    "LinkSplit",
    "MOTIF_MAX_DEGREE",
    "PLANETOID_NAMES",
    "PLANETOID_NUM_VAL",
    "PLANETOID_SUFFIXES",
    "PLANETOID_URL",
    "TU_URL",
    "batch_graphs",
    "dense_adjacency",
    "graph_batches",
    "image_graphs",
    "karate_club",
    "link_dataset",
    "link_prediction_split",
    "link_training_dataset",
    "load_planetoid",
    "load_tu",
    "motif_graphs",
    "nearest_neighbour_edges",
    "node_dataset",
    "pixel_grid_graph",
    "sample_negative_edges",
    "superpixel_graph",
    "superpixel_segments",
    "to_undirected",
    "validate_edges",
]
