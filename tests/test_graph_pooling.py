import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention.data import graphs
from keras_attention.layers.attention_pooling import AttentionPooling
from keras_attention.layers.graph_attention import GraphAttention
from keras_attention.layers.graph_pooling import GraphPooling
from tests import harness

RNG = np.random.default_rng(2)
N, F, G, U = 7, 3, 4, 5


def _raises(*parts):
    """`pytest.raises(ValueError)` whose message holds `parts` in order."""
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


# Graph 2 has no nodes; ids are not sorted. Features are negative in places,
# so a max that started from 0 would show.
NODES = _normal(N, F) - 1.0
GRAPH_IDS = np.array([1, 0, 3, 1, 0, 3, 3], "int32")
DENSE_NODES = _normal(3, 4, F) - 1.0
DENSE_MASK = np.array(
    [[True, True, True, False], [True, False, False, False], [False] * 4]
)  # the last graph is empty


def _sparse_case(name, cls, init_kwargs, **kwargs):
    # A disjoint union has no batch axis (batched=False); its softmax, if
    # any, is a segment softmax with no Softmax op (has_softmax=False).
    return harness.LayerCase(
        name=name,
        cls=cls,
        init_kwargs=init_kwargs,
        inputs={"node_features": NODES, "graph_ids": GRAPH_IDS},
        has_softmax=False,
        batched=False,
        **kwargs,
    )


def _dense_case(name, cls, init_kwargs, masked=True, **kwargs):
    return harness.LayerCase(
        name=name,
        cls=cls,
        init_kwargs=init_kwargs,
        inputs={"node_features": DENSE_NODES},
        masks={"node_features": DENSE_MASK} if masked else None,
        explicit_mask=lambda m: {"mask": m["node_features"]},
        **kwargs,
    )


CASES = [
    *(
        _sparse_case(
            f"union_{mode}", GraphPooling, dict(mode=mode, num_graphs=G),
            trainable_weights=0, trainable_params=0,
        )
        for mode in ("mean", "sum", "max")
    ),
    *(
        _dense_case(
            f"padded_{mode}", GraphPooling, dict(mode=mode),
            trainable_weights=0, trainable_params=0, has_softmax=False,
            # The harness zeroes masked nodes, which a sum ignores anyway:
            # its mask could not matter there. test_pooling_matches_numpy
            # masks nonzero padding.
            masked=mode != "sum",
        )
        for mode in ("mean", "sum", "max")
    ),
    # kernel 3x5, bias 5, attention_kernel 5x1
    _sparse_case(
        "attention_union", AttentionPooling, dict(units=U, num_graphs=G),
        call_kwargs={"return_attention_scores": True},
        trainable_weights=3, trainable_params=F * U + U + U,
    ),
    _dense_case(
        "attention_padded", AttentionPooling, dict(units=U),
        trainable_weights=3, trainable_params=F * U + U + U,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


def _groups(nodes, ids, num_graphs):
    return [nodes[ids == g] for g in range(num_graphs)]


def _numpy_pool(groups, mode):
    reduce = {"mean": np.mean, "sum": np.sum, "max": np.max}[mode]
    return np.stack(
        [reduce(g, 0) if len(g) else np.zeros(F) for g in groups]
    )


@pytest.mark.parametrize("mode", ["mean", "sum", "max"])
def test_pooling_matches_numpy(mode):
    want = _numpy_pool(_groups(NODES, GRAPH_IDS, G), mode)
    assert np.all(want[2] == 0)  # the empty graph
    got = GraphPooling(mode)(NODES, GRAPH_IDS, num_graphs=G)
    np.testing.assert_allclose(got, want, atol=1e-6)

    dense_groups = [DENSE_NODES[b][DENSE_MASK[b]] for b in range(3)]
    got = GraphPooling(mode)(DENSE_NODES, mask=DENSE_MASK)
    np.testing.assert_allclose(got, _numpy_pool(dense_groups, mode), atol=1e-6)
    np.testing.assert_array_equal(got[2], 0.0)
    # Without a mask every node counts.
    got = GraphPooling(mode)(DENSE_NODES)
    np.testing.assert_allclose(got, _numpy_pool(list(DENSE_NODES), mode), atol=1e-6)


def _numpy_attention(layer, groups):
    kernel, bias, w = (v.numpy().astype("float64") for v in layer.weights)
    pooled, weights = [], []
    for g in groups:
        if not len(g):
            pooled.append(np.zeros(F))
            continue
        scores = np.tanh(g @ kernel + bias) @ w[:, 0]
        alpha = np.exp(scores - scores.max())
        alpha /= alpha.sum()
        pooled.append(alpha @ g)
        weights.append(alpha)
    return np.stack(pooled), weights


def test_attention_pooling_matches_numpy():
    layer = AttentionPooling(U, num_graphs=G, bias_initializer="random_normal")
    pooled, weights = layer(NODES, GRAPH_IDS, return_attention_scores=True)
    groups = _groups(NODES, GRAPH_IDS, G)
    want, want_weights = _numpy_attention(layer, groups)
    np.testing.assert_allclose(pooled, want, atol=1e-6)
    np.testing.assert_array_equal(pooled[2], 0.0)
    got_weights = [np.asarray(weights)[GRAPH_IDS == g] for g in (0, 1, 3)]
    for got, expected in zip(got_weights, want_weights):
        np.testing.assert_allclose(got, expected, atol=1e-6)
    # The weights are not uniform, or the comparison proves little.
    assert np.ptp(got_weights[2]) > 1e-3

    dense_pooled, dense_weights = layer(
        DENSE_NODES, mask=DENSE_MASK, return_attention_scores=True
    )
    dense_groups = [DENSE_NODES[b][DENSE_MASK[b]] for b in range(3)]
    want, want_weights = _numpy_attention(layer, dense_groups)
    np.testing.assert_allclose(dense_pooled, want, atol=1e-6)
    np.testing.assert_allclose(dense_weights[0, :3], want_weights[0], atol=1e-6)
    np.testing.assert_array_equal(dense_weights[0, 3], 0.0)
    np.testing.assert_array_equal(dense_pooled[2], 0.0)


def test_empty_graphs_have_finite_gradients():
    nodes = tf.constant(NODES)
    for layer in (GraphPooling("max", num_graphs=G), AttentionPooling(U, num_graphs=G)):
        with tf.GradientTape() as tape:
            tape.watch(nodes)
            loss = tf.reduce_sum(layer(nodes, GRAPH_IDS) ** 2)
        grads = tape.gradient(loss, [nodes, *layer.trainable_weights])
        assert all(np.all(np.isfinite(g)) for g in grads), layer.name


def test_a_graph_classifier_on_a_disjoint_union():
    batch = graphs.batch_graphs(graphs.motif_graphs(6, seed=0))
    hidden = GraphAttention(8, num_heads=2)(batch.node_features, batch.edges)
    pooled = GraphPooling("mean")(hidden, batch.graph_ids, num_graphs=batch.num_graphs)
    assert tuple(pooled.shape) == (6, 16)
    for g in range(batch.num_graphs):
        np.testing.assert_allclose(
            pooled[g], np.asarray(hidden)[batch.graph_ids == g].mean(0), atol=1e-6
        )


def test_num_graphs_from_the_constructor_or_the_call():
    layer = GraphPooling("sum", num_graphs=5)
    assert tuple(layer(NODES, GRAPH_IDS).shape) == (5, F)
    assert tuple(layer(NODES, GRAPH_IDS, num_graphs=G).shape) == (G, F)
    model_input = keras.Input((F,), batch_size=N)
    ids_input = keras.Input((), batch_size=N, dtype="int32")
    assert tuple(GraphPooling(num_graphs=3)(model_input, ids_input).shape) == (3, F)


def test_bad_graph_ids_raise_or_give_nan():
    layer = GraphPooling("mean", num_graphs=G)
    for index in (G, -1):
        ids = GRAPH_IDS.copy()
        ids[4] = index
        with _raises(
            f"graph_ids holds index {index} at [4]", f"[0, num_graphs) = [0, {G})",
            f"num_graphs={G}",
        ):
            layer(NODES, ids)
        traced = tf.function(lambda x, i: layer(x, i))
        assert np.all(np.isnan(traced(NODES, ids)))
    assert np.all(np.isfinite(traced(NODES, GRAPH_IDS)))


def test_wrong_arguments_raise():
    with _raises("mode must be one of ('mean', 'sum', 'max'), received mode='min'"):
        GraphPooling("min")
    with _raises("num_graphs must be a positive int, received num_graphs=0"):
        GraphPooling(num_graphs=0)
    with _raises("units must be a positive int, received units=None"):
        AttentionPooling(None)
    layer = GraphPooling()
    with _raises("needs the number of graphs G as a static int", "num_graphs=None"):
        layer(NODES, GRAPH_IDS)
    with _raises("node_features [N, F] needs graph_ids [N], received graph_ids=None"):
        layer(NODES, num_graphs=G)
    with _raises("graph_ids must have shape [N] = [7]", "received graph_ids.shape=(6,)"):
        layer(NODES, GRAPH_IDS[:6], num_graphs=G)
    with _raises("graph_ids must hold integer indices", "received graph_ids.dtype=float32"):
        layer(NODES, GRAPH_IDS.astype("float32"), num_graphs=G)
    with _raises("graph_ids is for a disjoint union"):
        layer(DENSE_NODES, GRAPH_IDS[:3])
    with _raises("mask must have shape [B, N] = [3, 4]", "received mask.shape=(3, 3)"):
        layer(DENSE_NODES, mask=DENSE_MASK[:, :3])
    with _raises("mask is for a padded batch"):
        layer(NODES, GRAPH_IDS, num_graphs=G, mask=np.ones(N, bool))
    with _raises("node_features must have shape [N, F]", "or [B, N, F]", "(7,)"):
        layer(NODES[:, 0], GRAPH_IDS, num_graphs=G)
