"""Bad and edge inputs of the attention layers and the sequence models (issue 16).

Two kinds of case, counted in the issue's table:
- clear error: a bad input is refused with an error that names the argument
  and the value that came (`BAD_INPUTS`, one row each);
- behaves correctly: an input at the edge is handled and gives the right
  result (NaN in masked positions, empty sequences, a traced cache index
  past the end, float 0/1 masks, mixed precision through save and reload).
"""

import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from keras_attention.layers import (
    BahdanauAttention,
    BahdanauDecoder,
    BahdanauDecoderCell,
    CachedMultiHeadAttention,
    LearnedPositionalEmbedding,
    MultiHeadSelfAttention,
    SinusoidalPositionalEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from keras_attention.models import ntm_models, transformer_xl, translation_models
from keras_attention.models._traced import traced
from keras_attention.models.transformer_seq2seq import TransformerSeq2Seq

B, T, S, D = 2, 5, 4, 8
RNG = np.random.default_rng(0)
X = RNG.normal(size=(B, T, D)).astype("float32")  # [B, T, D]
CONTEXT = RNG.normal(size=(B, S, D)).astype("float32")  # [B, S, D]
# Row 0 has 3 real steps, row 1 all 5; the context's row 0 has 2 of 4.
PADDING = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)  # [B, T]
CONTEXT_PADDING = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)  # [B, S]


def with_padding(x, padding, value):
    """`x` with `value` (NaN, 0, ...) at the padded steps."""
    x = x.copy()
    x[~padding] = value
    return x


def numpy(x):
    return ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def layers():
    """One built layer of each kind, shared (building is most of a call's cost)."""
    keras.utils.set_random_seed(1)
    made = {
        "mha": MultiHeadSelfAttention(num_heads=2, key_dim=4, use_gate=True),
        "cached": CachedMultiHeadAttention(num_heads=2, key_dim=4),
        "bahdanau": BahdanauAttention(units=4),
        "cell": BahdanauDecoderCell(keras.layers.GRUCell(6), attention_units=4),
        "encoder_block": TransformerEncoderBlock(intermediate_dim=8, num_heads=2),
        "decoder_block": TransformerDecoderBlock(intermediate_dim=8, num_heads=2),
        "learned": LearnedPositionalEmbedding(sequence_length=8),
        "sinusoidal": SinusoidalPositionalEmbedding(max_length=8),
    }
    made["decoder"] = BahdanauDecoder(made["cell"])
    made["mha"](X)
    made["cached"](X, CONTEXT)
    made["bahdanau"](X[:, 0], CONTEXT)
    made["decoder"](X, CONTEXT)
    made["encoder_block"](X)
    made["decoder_block"](X, CONTEXT)
    return made


@pytest.fixture(scope="module")
def transformer():
    keras.utils.set_random_seed(2)
    return TransformerSeq2Seq(
        source_vocabulary_size=11, target_vocabulary_size=12, source_length=5,
        target_length=4, hidden_dim=8, num_heads=2, intermediate_dim=8,
        num_encoder_blocks=1, num_decoder_blocks=1,
    )


SOURCE = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 0]], "int32")
HALF_MASK = np.where(PADDING, 1.0, 0.3).astype("float32")  # 0.3 is no mask value
STRINGS = np.where(PADDING, "yes", "no")


def cache_of(layers):
    return layers["cached"].init_cache(B, T)  # [B, H, T, K + V]


# -- clear errors: (id, call(layers, transformer), error, message parts) ----

BAD_INPUTS = [
    # Masks: bool, or numbers that are 0 or 1.
    ("mha query_mask 0.3", lambda m, _: m["mha"](X, query_mask=HALF_MASK),
     ValueError, r"query_mask must be boolean .*holding 0\.3"),
    ("mha value_mask 0.5", lambda m, _: m["mha"](
        X, CONTEXT, value_mask=np.full((B, S), 0.5, "float32")),
     ValueError, r"value_mask must be boolean .*holding 0\.5"),
    ("mha key_mask -1", lambda m, _: m["mha"](
        X, CONTEXT, key_mask=np.full((B, S), -1, "int32")),
     ValueError, r"key_mask must be boolean .*holding -1"),
    ("mha attention_mask 2", lambda m, _: m["mha"](
        X, attention_mask=np.full((T, T), 2.0, "float32")),
     ValueError, r"attention_mask must be boolean .*holding 2"),
    ("mha query_mask NaN", lambda m, _: m["mha"](
        X, query_mask=np.where(PADDING, 1.0, np.nan).astype("float32")),
     ValueError, r"query_mask must be boolean .*holding nan"),
    ("mha query_mask strings", lambda m, _: m["mha"](X, query_mask=STRINGS),
     ValueError, r"query_mask must be boolean .*dtype string"),
    ("mha mask (Keras's) 0.3", lambda m, _: m["mha"](X, mask=HALF_MASK),
     ValueError, r"received mask \(dtype float32\) holding 0\.3"),
    ("cached step attention_mask 0.3", lambda m, _: m["cached"].step(
        X[:, :1], cache_of(m), 0, attention_mask=np.full((1, T), 0.3, "float32")),
     ValueError, r"attention_mask must be boolean .*holding 0\.3"),
    ("cached cross_step value_mask 0.3", lambda m, _: m["cached"].cross_step(
        X[:, :1], m["cached"].context_cache(CONTEXT),
        value_mask=np.full((B, S), 0.3, "float32")),
     ValueError, r"value_mask must be boolean .*holding 0\.3"),
    ("bahdanau values_mask 0.3", lambda m, _: m["bahdanau"](
        X[:, 0], CONTEXT, values_mask=np.full((B, S), 0.3, "float32")),
     ValueError, r"values_mask must be boolean .*holding 0\.3"),
    ("bahdanau query_mask strings", lambda m, _: m["bahdanau"](
        X, CONTEXT, query_mask=STRINGS),
     ValueError, r"query_mask must be boolean .*dtype string"),
    ("bahdanau decoder inputs_mask 0.3", lambda m, _: m["decoder"](
        X, CONTEXT, inputs_mask=HALF_MASK),
     ValueError, r"inputs_mask must be boolean .*holding 0\.3"),
    ("bahdanau decoder values_mask 0.3", lambda m, _: m["decoder"](
        X, CONTEXT, values_mask=np.full((B, S), 0.3, "float32")),
     ValueError, r"values_mask must be boolean .*holding 0\.3"),
    ("bahdanau cell values_mask 0.3", lambda m, _: m["cell"](
        X[:, 0], m["cell"].get_initial_state(B), CONTEXT,
        values_mask=np.full((B, S), 0.3, "float32")),
     ValueError, r"values_mask must be boolean .*holding 0\.3"),
    ("encoder block padding_mask 0.3", lambda m, _: m["encoder_block"](
        X, padding_mask=HALF_MASK),
     ValueError, r"padding_mask must be boolean .*holding 0\.3"),
    ("decoder block encoder_padding_mask 0.3", lambda m, _: m["decoder_block"](
        X, CONTEXT, encoder_padding_mask=np.full((B, S), 0.3, "float32")),
     ValueError, r"encoder_padding_mask must be boolean .*holding 0\.3"),
    ("decoder block decoder_padding_mask strings", lambda m, _: m["decoder_block"](
        X, CONTEXT, decoder_padding_mask=STRINGS),
     ValueError, r"decoder_padding_mask must be boolean .*dtype string"),
    # The cache index: an eager tensor is checked as an int is.
    ("cached step tensor index past the end", lambda m, _: m["cached"].step(
        X[:, :1], cache_of(m), ops.convert_to_tensor(5, "int32")),
     ValueError, r"cache_update_index must be in \[0, S_max - T\] = \[0, 4\], "
                 r"received cache_update_index=5"),
    ("cached step tensor index -1", lambda m, _: m["cached"].step(
        X[:, :1], cache_of(m), ops.convert_to_tensor(-1, "int32")),
     ValueError, r"\[0, 4\], received cache_update_index=-1"),
    ("cached step 2 steps at index 4", lambda m, _: m["cached"].step(
        X[:, :2], cache_of(m), ops.convert_to_tensor(4, "int32")),
     ValueError, r"\[0, 3\], received cache_update_index=4"),
    ("cached step float index", lambda m, _: m["cached"].step(
        X[:, :1], cache_of(m), ops.convert_to_tensor(1.0, "float32")),
     ValueError, r"cache_update_index must be an int or a scalar int tensor"),
    ("cached step index of shape [1]", lambda m, _: m["cached"].step(
        X[:, :1], cache_of(m), ops.convert_to_tensor([1], "int32")),
     ValueError, r"cache_update_index must be an int or a scalar int tensor"),
    ("decoder block tensor index past the end", lambda m, _: m["decoder_block"](
        X[:, :1], self_attention_cache=m["decoder_block"].init_cache(B, 3),
        self_attention_cache_update_index=ops.convert_to_tensor(3, "int32"),
        cross_attention_cache=m["decoder_block"].cross_attention_cache(CONTEXT)),
     ValueError, r"\[0, 2\], received cache_update_index=3"),
    # Positions past the table, from an eager tensor index.
    ("learned positions tensor start_index", lambda m, _: m["learned"](
        X, start_index=ops.convert_to_tensor(4, "int32")),
     ValueError, r"sequence_length=8, received start_index=4"),
    ("sinusoidal positions tensor start_index", lambda m, _: m["sinusoidal"](
        X, start_index=ops.convert_to_tensor(4, "int32")),
     ValueError, r"max_length=8\), received start_index=4"),
    # Decoding limits: the cache and positions hold target_length steps.
    ("greedy_decode max_length past the cache", lambda _, model: model.greedy_decode(
        SOURCE, max_length=60),
     ValueError, r"max_length must be at most target_length=4 .*received max_length=60"),
    ("greedy_decode max_length 0", lambda _, model: model.greedy_decode(
        SOURCE, max_length=0),
     ValueError, r"max_length must be a positive int, received max_length=0"),
    # Sequence-model builders.
    ("translation_model mixed_precision float16", lambda *_: (
        translation_models.translation_model("transformer", 10, 10,
                                             mixed_precision="float16")),
     ValueError, r"mixed_precision must be .*received mixed_precision='float16'"),
    ("TransformerSeq2Seq hidden_dim 7, 2 heads", lambda *_: TransformerSeq2Seq(
        10, 10, 4, 4, hidden_dim=7, num_heads=2),
     ValueError, r"hidden_dim=7 and num_heads=2"),
    ("TransformerSeq2Seq end_id = start_id", lambda *_: TransformerSeq2Seq(
        10, 10, 4, 4, start_id=3, end_id=3),
     ValueError, r"start_id=3 and end_id=3"),
    ("TransformerXL memory_length -1", lambda *_: transformer_xl.TransformerXL(
        10, 2, memory_length=-1),
     ValueError, r"memory_length must be an int >= 0, received memory_length=-1"),
    ("ntm_model input_width 0", lambda *_: ntm_models.ntm_model(0, 3),
     ValueError, r"input_width must be a positive int, received input_width=0"),
]


@pytest.mark.parametrize(
    "call, error, match", [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_refused_by_name(layers, transformer, call, error, match):
    with pytest.raises(error, match=match):
        call(layers, transformer)


# -- behaves correctly: masked entries are never read ---------------------------


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_nan_in_padded_queries_stays_in_their_rows(layers, causal):
    # Padded self-attention steps are padded keys too: their NaN queries,
    # keys, values and gate must not reach the real rows.
    layer = layers["mha"]
    with_nan = numpy(layer(with_padding(X, PADDING, np.nan), query_mask=PADDING,
                           use_causal_mask=causal))
    with_zeros = numpy(layer(with_padding(X, PADDING, 0.0), query_mask=PADDING,
                             use_causal_mask=causal))
    assert np.isfinite(with_nan).all()
    np.testing.assert_array_equal(with_nan[PADDING], with_zeros[PADDING])
    np.testing.assert_array_equal(with_nan[~PADDING], 0.0)  # padded rows: zeros


def test_nan_in_masked_context_stays_out_of_cross_attention(layers):
    layer = layers["cached"]
    with_nan = with_padding(CONTEXT, CONTEXT_PADDING, np.nan)
    with_zeros = with_padding(CONTEXT, CONTEXT_PADDING, 0.0)
    outputs = [numpy(layer(X, c, value_mask=CONTEXT_PADDING)) for c in (with_nan, with_zeros)]
    # The same through the decoding path: a context cache projected once.
    steps = [
        numpy(layer.cross_step(X[:, :1], layer.context_cache(c),
                               value_mask=CONTEXT_PADDING)[0])
        for c in (with_nan, with_zeros)
    ]
    for got, want in (outputs, steps):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, want)


def test_nan_in_masked_context_stays_out_of_bahdanau(layers):
    with_nan = with_padding(CONTEXT, CONTEXT_PADDING, np.nan)
    with_zeros = with_padding(CONTEXT, CONTEXT_PADDING, 0.0)
    for name, call in [
        ("one step", lambda c: layers["bahdanau"](X[:, 0], c, values_mask=CONTEXT_PADDING)),
        ("a sequence", lambda c: layers["bahdanau"](X, c, values_mask=CONTEXT_PADDING)),
        ("the decoder", lambda c: layers["decoder"](X, c, values_mask=CONTEXT_PADDING)),
    ]:
        got, want = numpy(call(with_nan)), numpy(call(with_zeros))
        assert np.isfinite(got).all(), name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_nan_in_padded_steps_stays_out_of_the_transformer_blocks(layers):
    source = with_padding(CONTEXT, CONTEXT_PADDING, np.nan)
    encoded = numpy(layers["encoder_block"](source, padding_mask=CONTEXT_PADDING))
    reference = numpy(layers["encoder_block"](
        with_padding(CONTEXT, CONTEXT_PADDING, 0.0), padding_mask=CONTEXT_PADDING))
    np.testing.assert_array_equal(encoded[CONTEXT_PADDING], reference[CONTEXT_PADDING])
    assert np.isfinite(encoded[CONTEXT_PADDING]).all()
    # The encoder's padded rows (NaN here) are masked keys of the decoder.
    decoded = numpy(layers["decoder_block"](X, encoded, encoder_padding_mask=CONTEXT_PADDING))
    expected = numpy(layers["decoder_block"](
        X, np.where(CONTEXT_PADDING[..., None], encoded, 0.0),
        encoder_padding_mask=CONTEXT_PADDING))
    assert np.isfinite(decoded).all()
    np.testing.assert_array_equal(decoded, expected)


# -- behaves correctly: empty sequences, as keras.layers.MultiHeadAttention ---


@pytest.mark.parametrize("kwargs", [
    dict(use_causal_mask=True),
    dict(query_mask=np.zeros((B, 0), bool)),
    dict(use_causal_mask=True, query_mask=np.zeros((B, 0), bool)),
], ids=["causal", "query_mask", "both"])
def test_empty_sequence_gives_empty_output(layers, kwargs):
    empty = np.zeros((B, 0, D), "float32")
    keras_mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    want = keras_mha(empty, empty, use_causal_mask=kwargs.get("use_causal_mask", False))
    got = layers["mha"](empty, **kwargs)
    assert tuple(got.shape) == tuple(want.shape) == (B, 0, D)


def test_empty_context_gives_zeros(layers):
    # No key to attend to: every row is empty, and gets zeros (never NaN).
    empty = np.zeros((B, 0, D), "float32")
    got = numpy(layers["mha"](X, empty, value_mask=np.zeros((B, 0), bool),
                              use_causal_mask=True))
    np.testing.assert_array_equal(got, np.zeros((B, T, D)))


# -- behaves correctly: the cache index ------------------------------------------


def test_traced_index_past_the_cache_writes_nothing_and_gives_nan(layers):
    # Inside a traced function the index has no value to check: the step
    # leaves the cache as it was and its output is NaN, where every
    # backend's slice_update would have overwritten the last slot.
    # (PyTorch runs `traced` functions eagerly: there it is refused.)
    layer = layers["cached"]
    step = traced(layer, lambda q, cache, index: layer.step(q, cache, index))
    cache = numpy(layer.init_cache(B, T)) + 1.0
    query = X[:, :1]
    for index in (5, -1, 100):
        index = ops.convert_to_tensor(index, "int32")
        if keras.backend.backend() == "torch":
            with pytest.raises(ValueError, match=r"received cache_update_index="):
                step(query, cache, index)
            continue
        output, new_cache = step(query, cache, index)
        assert np.isnan(numpy(output)).all(), index
        np.testing.assert_array_equal(numpy(new_cache), cache)
    # In range, the traced step is the eager one.
    output, new_cache = step(query, cache, ops.convert_to_tensor(4, "int32"))
    eager_output, eager_cache = layer.step(query, cache, 4)
    np.testing.assert_allclose(numpy(output), numpy(eager_output), atol=1e-6)
    np.testing.assert_allclose(numpy(new_cache), numpy(eager_cache), atol=1e-6)
    assert not np.array_equal(numpy(new_cache)[:, :, 4], cache[:, :, 4])


def test_eager_tensor_index_is_the_int_index(layers):
    layer = layers["cached"]
    cache = layer.init_cache(B, T)
    by_int = layer.step(X[:, :1], cache, 2)
    by_tensor = layer.step(X[:, :1], cache, ops.convert_to_tensor(2, "int32"))
    for got, want in zip(by_tensor, by_int):
        np.testing.assert_array_equal(numpy(got), numpy(want))


def test_greedy_decode_stops_at_max_length(transformer):
    full = transformer.greedy_decode(SOURCE)
    short = transformer.greedy_decode(SOURCE, max_length=2)
    assert short.shape == full.shape == (2, 4)
    np.testing.assert_array_equal(short[:, :2], full[:, :2])
    np.testing.assert_array_equal(short[:, 2:], 0)


# -- behaves correctly: masks, as properties (Hypothesis) ------------------------


@st.composite
def padded_batches(draw):
    """A batch `[B, T, 8]` with a padding mask that keeps >= 1 step per row."""
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 6))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    mask = np.arange(steps)[None, :] < np.array(lengths)[:, None]  # [B, T]
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).normal(size=(batch, steps, D)).astype("float32")
    filler = draw(st.sampled_from([np.nan, np.inf, 1e4, -3.0]))
    causal = draw(st.booleans())
    return x, mask, filler, causal


# T = 1 gives Keras's warning that a softmax over one key is always 1: so
# it is, and that case belongs here.
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
@settings(max_examples=30)
@given(padded_batches())
def test_padding_never_changes_real_rows(layers, example):
    x, mask, filler, causal = example
    layer = layers["mha"]
    real = numpy(layer(x, query_mask=mask, use_causal_mask=causal))
    filled = numpy(layer(with_padding(x, mask, filler), query_mask=mask,
                         use_causal_mask=causal))
    as_floats = numpy(layer(x, query_mask=mask.astype("float32"), use_causal_mask=causal))
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[mask], real[mask])
    np.testing.assert_array_equal(as_floats, real)  # 0/1 floats are the bool mask


# -- behaves correctly: mixed precision through save and reload ------------------


def _reference_models():
    """Every reference sequence model, tiny; each with an input to compare."""
    tokens = np.array([[3, 4, 0], [5, 6, 7]], "int32")
    seq2seq_inputs = {"source": tokens, "decoder_inputs": tokens[:, :2]}
    sizes = {
        "seq2seq": dict(units=8, embedding_dim=4),
        "rnnsearch": dict(units=8, embedding_dim=4),
        "transformer": dict(hidden_dim=8, num_heads=2, intermediate_dim=8,
                            num_encoder_blocks=1, num_decoder_blocks=1),
    }
    for kind, kind_sizes in sizes.items():
        yield kind, lambda policy, kind=kind, kind_sizes=kind_sizes: (
            translation_models.translation_model(
                kind, 10, 10, source_length=3, target_length=3,
                mixed_precision=policy, **kind_sizes),
            seq2seq_inputs,
        )

    def xl(policy):
        keras.config.set_dtype_policy(policy)
        model = transformer_xl.TransformerXL(
            10, batch_size=2, memory_length=2, hidden_dim=8, num_heads=2,
            intermediate_dim=8, num_blocks=1)
        return model, tokens

    def ntm(policy):
        keras.config.set_dtype_policy(policy)
        model = ntm_models.ntm_model(3, 2, memory_size=4, memory_width=3,
                                     controller_units=4)
        return model, RNG.normal(size=(2, 3, 3)).astype("float32")

    yield "transformer_xl", xl
    yield "ntm", ntm


def _policies(model):
    """The sorted `(class, name, dtype policy)` of the layers that compute.

    By name, not path: Keras's paths of a reloaded model's nested layers
    differ. Left out: the InputLayers, which compute nothing (Keras gives
    them the inputs' dtype), and a plain functional model itself (Keras's
    functional config has no dtype; it converts each input to that
    input's own dtype).
    """
    return sorted(
        (type(layer).__name__, layer.name, layer.dtype_policy.name)
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if not isinstance(layer, keras.layers.InputLayer)
        and type(layer).__name__ != "Functional"
    )


def _outputs(model, inputs):
    if isinstance(model, transformer_xl.TransformerXL):
        # From an empty memory, leaving it as it was.
        model.reset_memory()
        return numpy(model(inputs, update_memory=False))
    return numpy(model(inputs))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("kind, make", list(_reference_models()),
                         ids=[kind for kind, _ in _reference_models()])
def test_mixed_precision_survives_save_and_reload(tmp_path, kind, make, policy):
    model, inputs = make(policy)
    outputs = _outputs(model, inputs)  # built: every sublayer made
    before = _policies(model)
    assert {layer_policy for *_, layer_policy in before} >= {policy}, before
    path = os.path.join(tmp_path, f"{kind}.keras")
    model.save(path)
    keras.config.set_dtype_policy("float32")
    reloaded = keras.models.load_model(path)
    assert _policies(reloaded) == before
    np.testing.assert_array_equal(_outputs(reloaded, inputs), outputs)
