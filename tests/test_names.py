"""Names users already know (docs/migration.md's table): each name we take from
Keras, KerasHub or PyTorch Geometric works, and each name we refuse raises an error
that names ours. The layers' own test files check what the names do."""

import inspect
import re

import keras
import numpy as np
import pytest

from keras_attention.layers.bahdanau_attention import BahdanauAttention
from keras_attention.layers.bahdanau_decoder import BahdanauDecoder
from keras_attention.layers.bahdanau_decoder_cell import BahdanauDecoderCell
from keras_attention.layers.graph_attention import GraphAttention
from keras_attention.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_attention.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock

RNG = np.random.default_rng(0)
# batch, target, source, features, value features, key features, heads
B, T, S, D, C, CK, H = 2, 5, 4, 16, 12, 10, 4


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def _refused(old, new):
    """`pytest.raises(TypeError)` whose message names the old and new names."""
    return pytest.raises(TypeError, match=f"got {re.escape(old)}=.*{re.escape(new)}")


def _positional(function, skip_self=True):
    params = list(inspect.signature(function).parameters.values())[skip_self:]
    return [
        p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]


# -- Transformer blocks against KerasHub ------------------------------------

# KerasHub's TransformerEncoder / TransformerDecoder (keras_hub/src/layers/
# modeling/transformer_{encoder,decoder}.py), read from its source: keras_hub
# is not a dependency.
KERAS_HUB_BLOCK_ARGS = [
    "intermediate_dim", "num_heads", "dropout", "activation",
    "layer_norm_epsilon", "kernel_initializer", "bias_initializer",
]
KERAS_HUB_ENCODER_CALL = [
    "inputs", "padding_mask", "attention_mask", "training",
    "return_attention_scores",
]
KERAS_HUB_DECODER_CALL = [
    "decoder_sequence", "encoder_sequence", "decoder_padding_mask",
    "decoder_attention_mask", "encoder_padding_mask", "encoder_attention_mask",
    "self_attention_cache", "self_attention_cache_update_index",
    "cross_attention_cache", "cross_attention_cache_update_index",
    "use_causal_mask", "training",
]


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
def test_block_positional_order_is_keras_hubs(cls):
    block = cls(64, 4)
    assert (block.intermediate_dim, block.num_heads) == (64, 4)
    assert _positional(cls.__init__) == KERAS_HUB_BLOCK_ARGS
    block = cls(64, 4, 0.1, "gelu", 1e-6)
    assert (block.dropout, block.layer_norm_epsilon) == (0.1, 1e-6)
    # KerasHub's encoder and decoder differ after bias_initializer (the
    # encoder has regularizers there): ours takes no eighth positional.
    with pytest.raises(TypeError):
        cls(64, 4, 0.0, "relu", 1e-5, "glorot_uniform", "zeros", True)
    assert cls(64, 4, normalize_first=True).normalize_first is True
    assert cls.from_config(cls(64, 4).get_config()).intermediate_dim == 64


def test_block_call_order_is_keras_hubs():
    assert _positional(TransformerEncoderBlock.call)[:5] == KERAS_HUB_ENCODER_CALL
    assert _positional(TransformerDecoderBlock.call)[:12] == KERAS_HUB_DECODER_CALL


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
def test_block_refuses_norm_first(cls):
    with _refused("norm_first", "normalize_first"):
        cls(64, 4, norm_first=True)


def test_encoder_padding_mask_and_scores():
    block = TransformerEncoderBlock(32, H)
    x = _normal(B, T, D)
    mask = np.array([[True] * T, [True] * 3 + [False] * 2])
    implicit = block(x, mask=mask)
    outputs, scores = block(x, padding_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(outputs, implicit, atol=1e-6)
    assert tuple(scores.shape) == (B, H, T, T)
    np.testing.assert_array_equal(np.asarray(scores)[1, :, :3, 3:], 0.0)
    # An explicit padding mask wins over the Keras mask, as in KerasHub.
    np.testing.assert_allclose(
        block(x, padding_mask=mask, mask=np.ones((B, T), bool)), implicit, atol=1e-6
    )


@pytest.mark.parametrize(
    "old,new",
    [
        ("encoder_outputs", "encoder_sequence"),
        ("self_attention_mask", "decoder_attention_mask"),
        ("cross_attention_mask", "encoder_attention_mask"),
        ("cache_update_index", "self_attention_cache_update_index"),
        ("inputs_mask", "decoder_padding_mask"),
        ("encoder_outputs_mask", "encoder_padding_mask"),
        ("inputs", "decoder_sequence"),
    ],
)
def test_decoder_refuses_old_call_names(old, new):
    block = TransformerDecoderBlock(32, H)
    x, encoded = _normal(B, T, D), _normal(B, S, C)
    block(x, encoder_sequence=encoded)  # the new name works
    with _refused(old, new):
        block(x, encoder_sequence=encoded, **{old: None})


def test_decoder_caches_as_keras_hub():
    block = TransformerDecoderBlock(32, H)
    x, encoded = _normal(B, T, D), _normal(B, S, C)
    full = block(x, encoded)
    cache, cross = block.init_cache(B, T), block.cross_attention_cache(encoded)
    steps = []
    for t in range(T):
        y, cache, cross = block(
            x[:, t : t + 1], encoded,
            self_attention_cache=cache, self_attention_cache_update_index=t,
            cross_attention_cache=cross, cross_attention_cache_update_index=None,
        )  # KerasHub's call, both caches with their indices
        steps.append(np.asarray(y))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)
    # KerasHub's rule: with cross-attention, both caches or neither.
    with pytest.raises(ValueError, match="cross_attention_cache together"):
        block(x[:, :1], encoded, self_attention_cache=cache,
              self_attention_cache_update_index=0)
    # KerasHub fills the cross cache in the call; ours comes from a method.
    with pytest.raises(ValueError, match=r"block.cross_attention_cache\(encoder_sequence\)"):
        block(x[:, :1], encoded, self_attention_cache=cache,
              self_attention_cache_update_index=0, cross_attention_cache=cross,
              cross_attention_cache_update_index=0)
    decoder_only = TransformerDecoderBlock(32, H)
    decoder_only(x)
    y, new_cache = decoder_only(
        x[:, :1], self_attention_cache=decoder_only.init_cache(B, T),
        self_attention_cache_update_index=0,
    )
    assert tuple(new_cache.shape) == (B, H, T, 2 * D // H)


# -- MultiHeadSelfAttention against keras.layers.MultiHeadAttention ----------


def test_attention_signatures_follow_keras():
    keras_init = _positional(keras.layers.MultiHeadAttention.__init__)
    ours_init = _positional(MultiHeadSelfAttention.__init__)
    # Every one of Keras 3.15's arguments, in its order.
    assert ours_init == keras_init
    keras_call = _positional(keras.layers.MultiHeadAttention.call)
    assert _positional(MultiHeadSelfAttention.call)[: len(keras_call)] == keras_call


def test_attention_keras_call_with_key_and_masks():
    q, v, k = _normal(B, T, D), _normal(B, S, C), _normal(B, S, CK)
    query_mask = np.array([[True] * T, [True] * 4 + [False]])
    value_mask = np.array([[True] * S, [True, True, True, False]])
    key_mask = np.array([[True, False, True, True], [True] * S])
    theirs = keras.layers.MultiHeadAttention(H, 8, output_shape=6)
    ours = MultiHeadSelfAttention(H, 8, output_shape=(6,))
    theirs(q, v, k)
    ours(q, v, k)
    ours.set_weights(theirs.get_weights())
    args = dict(query_mask=query_mask, value_mask=value_mask, key_mask=key_mask)
    want, want_scores = theirs(q, v, k, return_attention_scores=True, **args)
    got, got_scores = ours(q, v, k, return_attention_scores=True, **args)
    # Padded queries: ours give zeros, Keras's attend anyway (see the class
    # docstring), so only real queries compare.
    np.testing.assert_allclose(
        np.asarray(got)[query_mask], np.asarray(want)[query_mask], atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(got_scores)[0], np.asarray(want_scores)[0], atol=1e-6
    )
    assert ours.get_config()["output_shape"] == (6,)
    # The keys' source matters: a different key changes the output.
    assert np.abs(np.asarray(ours(q, v, v[..., :CK])) - np.asarray(ours(q, v, k))).max() > 1e-3


@pytest.mark.parametrize(
    "old,new", [("context", "value"), ("context_mask", "value_mask")]
)
def test_attention_refuses_old_call_names(old, new):
    layer = MultiHeadSelfAttention(H, 8)
    layer(_normal(B, T, D), value=_normal(B, S, C))
    with _refused(old, new):
        layer(_normal(B, T, D), **{old: None})


def test_attention_refuses_output_dim():
    assert MultiHeadSelfAttention(H, 8, output_shape=6)(_normal(B, T, D)).shape[-1] == 6
    with _refused("output_dim", "output_shape"):
        MultiHeadSelfAttention(H, 8, output_dim=6)
    with pytest.raises(ValueError, match=r"output_shape=\(2, 0\)"):
        MultiHeadSelfAttention(H, 8, output_shape=(2, 0))
    # Multi-axis output shapes, as Keras's.
    assert MultiHeadSelfAttention(H, 8, output_shape=(2, 3))(_normal(B, T, D)).shape == (B, T, 2, 3)
    # Keras's seventh positional is attention_axes.
    layer = MultiHeadSelfAttention(H, 8, None, 0.0, True, None, (1,))
    assert layer.get_config()["attention_axes"] == (1,)


# -- return_attention_scores everywhere --------------------------------------


def test_bahdanau_takes_return_attention_scores():
    query, values = _normal(B, 8), _normal(B, S, C)
    attention = BahdanauAttention(units=6)
    context, weights = attention(query, values, return_attention_scores=True)
    assert tuple(weights.shape) == (B, S)
    with _refused("return_attention_weights", "return_attention_scores"):
        attention(query, values, return_attention_weights=True)
    with pytest.raises(TypeError, match=r"attention\(query, values\)"):
        attention([query, values])

    cell = BahdanauDecoderCell(keras.layers.GRUCell(8), attention_units=6)
    states = cell.get_initial_state(B)
    output, states, weights = cell(
        _normal(B, 3), states, values, return_attention_scores=True
    )
    assert tuple(weights.shape) == (B, S)
    with _refused("return_attention_weights", "return_attention_scores"):
        cell(_normal(B, 3), states, values, return_attention_weights=True)

    decoder = BahdanauDecoder(BahdanauDecoderCell(keras.layers.GRUCell(8), attention_units=6))
    outputs, weights = decoder(_normal(B, T, 3), values, return_attention_scores=True)
    assert tuple(weights.shape) == (B, T, S)
    with _refused("return_attention_weights", "return_attention_scores"):
        decoder(_normal(B, T, 3), values, return_attention_weights=True)


# -- GraphAttention against PyTorch Geometric's GATConv -----------------------

EDGES = np.array([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]], "int32")


@pytest.mark.parametrize(
    "old,new",
    [
        ("attention_dropout", "feature_dropout"),
        ("heads", "num_heads"),
        ("concat", "concat_heads"),
        ("bias", "use_bias"),
        ("out_channels", "units"),
        ("in_channels", "node_features"),
        ("edge_dim", "edge_features"),
        ("fill_value", "mean"),
    ],
)
def test_graph_attention_refuses_other_constructor_names(old, new):
    with _refused(old, new):
        GraphAttention(4, **{old: 1})


def test_graph_attention_attention_dropout_is_dropout():
    with _refused("attention_dropout", "is dropout"):
        GraphAttention(4, attention_dropout=0.5)
    layer = GraphAttention(4, dropout=0.5, feature_dropout=0.25)
    assert (layer.dropout, layer.feature_dropout) == (0.5, 0.25)
    config = layer.get_config()
    assert (config["dropout"], config["feature_dropout"]) == (0.5, 0.25)
    assert "attention_dropout" not in config


@pytest.mark.parametrize(
    "old,new",
    [
        ("edge_index", "edges"),
        ("edge_attr", "edge_features"),
        ("return_attention_weights", "return_attention_scores"),
    ],
)
def test_graph_attention_refuses_other_call_names(old, new):
    layer = GraphAttention(4, num_heads=2)
    layer(_normal(4, 3), EDGES, return_attention_scores=True)
    with _refused(old, new):
        layer(_normal(4, 3), EDGES, **{old: None})
