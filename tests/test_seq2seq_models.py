"""The reference seq2seq models: training, decoding, export and the device.

Every model here is untrained but seeded. With Keras's initialisation an
untrained model decodes one token over and over, which would make a
token-for-token comparison weak, so `_build` redraws the weights from a
seeded normal distribution (layer norms left alone), with which the models
decode varied tokens and stop at different steps (a test checks that);
`_check_no_near_ties` makes sure no argmax along the way is close enough
to a tie for float rounding to flip it.
"""

import doctest

import keras
import numpy as np
import pytest

import keras_attention_export as export
from edge_demo import runtime
from keras_attention import models
from keras_attention.data import dates
from keras_attention.models import RNNSeq2Seq, TransformerSeq2Seq

SMALL = {
    "plain": lambda **a: RNNSeq2Seq(**{"units": 16, "embedding_dim": 8, **a}),
    "bahdanau": lambda **a: RNNSeq2Seq(
        **{"units": 16, "embedding_dim": 8, "attention": True, **a}
    ),
    "transformer": lambda **a: TransformerSeq2Seq(
        **{
            "hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32,
            "num_encoder_blocks": 1, "num_decoder_blocks": 1, **a,
        }
    ),
}
# The standard deviation of the redrawn weights, per model.
SCALE = {"plain": 0.5, "bahdanau": 1.0, "transformer": 1.0}
KINDS = sorted(SMALL)
# What each model's decode_step reads but does not give back.
MEMORY = {
    "plain": set(),
    "bahdanau": {"values", "keys", "source_mask"},
    "transformer": {"source_mask", "cross_attention_cache_0"},
}
# How the test models' greedy decoding of SOURCES stops.
STOPS = {"plain": {"end"}, "bahdanau": {"limit"}, "transformer": {"end", "limit"}}

SOURCES, TARGETS = dates.generate(6, seed=0)
SOURCE_IDS = dates.encode_sources(SOURCES)

# Greedy decoding compares argmaxes: float32 LiteRT differs from Keras by
# ~1e-6 on these logits, so a top-2 gap above this cannot flip.
MIN_LOGIT_GAP = 1e-3


def _build(kind, **overrides):
    model = SMALL[kind](**{**dates.model_arguments(), **overrides})
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if "norm" not in weight.path:
            weight.assign(rng.normal(0, SCALE[kind], weight.shape).astype("float32"))
    return model


def _strip(decoded, end_id=dates.END_ID):
    """Rows of `[N, T]` ids as lists, up to (without) the end token."""
    rows = []
    for row in np.asarray(decoded).tolist():
        rows.append(row[: row.index(end_id)] if end_id in row else row)
    return rows


def _teacher_forced_logits(model, decoded):
    inputs = {"source": SOURCE_IDS, "decoder_inputs": model._decoder_inputs_of(decoded)}
    return np.asarray(model(inputs, training=False))  # [N, T, V]


def _check_no_near_ties(logits, decoded):
    top2 = np.sort(logits, axis=-1)[..., -2:]
    gaps = top2[..., 1] - top2[..., 0]  # [N, T]
    for row, tokens in enumerate(_strip(decoded)):
        steps = min(len(tokens) + 1, gaps.shape[1])  # the end token's step too
        assert gaps[row, :steps].min() > MIN_LOGIT_GAP, (
            f"near tie decoding {SOURCES[row]!r}: change the seed or the sources"
        )


# -- training ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_fit_steps_with_xla(kind):
    # Short sequences keep the XLA compile of the three models short.
    lengths = dict(source_length=6, target_length=4)
    model = SMALL[kind](**{**dates.model_arguments(), **lengths})
    rng = np.random.default_rng(4)
    source_size = len(dates.SOURCE_VOCABULARY)
    target_size = len(dates.TARGET_VOCABULARY)
    inputs = {
        "source": rng.integers(0, source_size, (32, 6)).astype("int32"),
        "decoder_inputs": rng.integers(1, target_size, (32, 4)).astype("int32"),
    }
    target_ids = rng.integers(0, target_size, (32, 4))
    weights = (target_ids != dates.PAD_ID).astype("float32")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    assert model.jit_compile, "Keras turned XLA off for this model"
    # One batch per epoch: the first loss is the untrained model's.
    history = model.fit(
        inputs, target_ids, sample_weight=weights, batch_size=32, epochs=2, verbose=0
    )
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_padding_is_left_out_of_the_loss():
    model = _build("plain")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    inputs, target_ids, weights = dates.arrays(SOURCES, TARGETS)
    logits = model(inputs)
    weights[:, 5:] = 0.0  # as if the targets ended early
    changed = target_ids.copy()
    changed[:, 5:] = 7  # what the padding holds does not matter
    assert float(loss(changed, logits, weights)) == float(
        loss(target_ids, logits, weights)
    )
    assert float(loss(changed, logits)) != float(loss(target_ids, logits))


# -- decoding ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_decode_equals_teacher_forcing_on_its_own_output(kind):
    model = _build(kind)
    decoded = model.greedy_decode(SOURCE_IDS)
    assert decoded.shape == (len(SOURCES), dates.TARGET_LENGTH)
    assert decoded.dtype == np.int32
    forced = _teacher_forced_logits(model, decoded).argmax(-1)
    for row, tokens in enumerate(_strip(decoded)):
        steps = min(len(tokens) + 1, dates.TARGET_LENGTH)
        np.testing.assert_array_equal(forced[row, :steps], decoded[row, :steps])
        assert (decoded[row, steps:] == dates.PAD_ID).all()
    # The redrawn weights decode varied tokens, and between them the models
    # stop both ways: at the end token and at the length limit.
    assert len({tuple(row) for row in decoded.tolist()}) > 1
    stops = {
        "end" if len(tokens) < dates.TARGET_LENGTH else "limit"
        for tokens in _strip(decoded)
    }
    assert stops == STOPS[kind], stops
    # Batched decoding is the same as one row at a time.
    np.testing.assert_array_equal(
        model.greedy_decode(SOURCE_IDS, batch_size=4), decoded
    )


def check_decoding_reads_the_weights_now(model, source_ids, search=True):
    """Decoding, traced once per model (`_step_functions`, and with `search`
    the compiled `greedy_search`), reads the weights as they are at each
    call: new weights, new tokens, and the first agrees with teacher forcing.
    """
    before = model.greedy_decode(source_ids)
    if search:
        np.testing.assert_array_equal(models.greedy_search(model, source_ids), before)
    rng = np.random.default_rng(1)
    for weight in model.trainable_weights:
        if "norm" not in weight.path:
            weight.assign(rng.normal(0, 1.0, weight.shape).astype("float32"))
    after = model.greedy_decode(source_ids)
    assert not np.array_equal(after, before), "decoding kept the old weights"
    if search:
        np.testing.assert_array_equal(models.greedy_search(model, source_ids), after)
    inputs = {"source": source_ids, "decoder_inputs": model._decoder_inputs_of(after)}
    logits = keras.ops.convert_to_numpy(model(inputs, training=False))
    np.testing.assert_array_equal(logits.argmax(-1)[:, 0], after[:, 0])


@pytest.mark.parametrize("kind", KINDS)
def test_decoding_reads_the_weights_now(kind):
    # The compiled search on TensorFlow is held to greedy_decode in
    # test_translation_models; the backend checks run it here on JAX.
    check_decoding_reads_the_weights_now(_build(kind), SOURCE_IDS, search=False)


@pytest.mark.parametrize("kind", KINDS)
def test_litert_decoding_equals_keras_token_for_token(kind, tmp_path):
    model = _build(kind)
    decoded = model.greedy_decode(SOURCE_IDS)
    _check_no_near_ties(_teacher_forced_logits(model, decoded), decoded)
    # float32 with a batch of two rows; edge_demo runs the signatures.
    path = str(tmp_path / "model.tflite")
    export.export_tflite(
        model, path, mode="float32", signatures=model.export_signatures(batch_size=2),
        task=dates.task_metadata(),
    )
    device = runtime.load(path)
    want = _strip(decoded)
    for i in range(0, len(SOURCES), 2):
        got = device.greedy_decode(SOURCE_IDS[i : i + 2]).tokens
        assert got == want[i : i + 2], SOURCES[i : i + 2]

    # int8, calibrated on real dates decoded by the same model.
    sources, _ = dates.generate(4, seed=5)
    calibration = model.representative_data(dates.encode_sources(sources))
    assert len(calibration["encode"]) == 4
    assert len(calibration["decode_step"]) > 4
    path = str(tmp_path / "model_int8.tflite")
    # One trace of the batch-of-one signatures for both calibrated modes.
    exporter = export.Exporter(model, model.export_signatures())
    with exporter:
        exporter.export_tflite(
            path, mode="int8", representative_data=calibration,
            num_calibration_samples=100, task=dates.task_metadata(),
        )
        device = runtime.load(path)
        assert device.mode == "int8"
        for text in SOURCES:
            (tokens,) = device.greedy_decode(device.text_to_ids(text)).tokens
            assert len(tokens) <= dates.TARGET_LENGTH
            assert all(0 <= t < len(dates.TARGET_VOCABULARY) for t in tokens)

        # int16x8: TF 2.21's calibrator cannot range the int32 token and step
        # tensors, which every kind's decode_step has; the error says so
        # instead of the converter's own message (once: a calibrated
        # conversion is seconds).
        if kind == "plain":
            with pytest.raises(export.ExportError,
                               match=r"int16x8 calibration recorded no range"):
                exporter.convert("int16x8", representative_data=calibration)


# Batching and stopping are the shared base class's
# (`_seq2seq_model.representative_data`); what differs by model is the states
# it records, which batches of 2 cover for every kind. One row at a time
# runs for one kind.
@pytest.mark.parametrize(
    "kind, batch_size", [(kind, 2) for kind in KINDS] + [("transformer", 1)]
)
def test_representative_data_records_each_sample_as_if_decoded_alone(kind, batch_size):
    model = _build(kind)
    if kind == "bahdanau":  # its random weights never choose the end token
        bias = model.get_layer("readout").bias
        bias.assign(bias.numpy() + 4.0 * (np.arange(bias.shape[0]) == dates.END_ID))
    # The rows end at different steps, so a sample stops being recorded
    # while the others of its decoding go on.
    assert len({len(row) for row in _strip(model.greedy_decode(SOURCE_IDS))}) > 1
    got = model.representative_data(SOURCE_IDS, batch_size=batch_size)
    want = []  # by hand: each sample of batch_size rows decoded on its own
    for i in range(0, len(SOURCE_IDS), batch_size):
        model._greedy(
            SOURCE_IDS[i : i + batch_size],
            on_step=lambda token, step, states: want.append(
                {"token": token, "step": step, **states}
            ),
        )
    assert [s["source"].tolist() for s in got["encode"]] == [
        SOURCE_IDS[i : i + batch_size].tolist()
        for i in range(0, len(SOURCE_IDS), batch_size)
    ]
    assert len(got["decode_step"]) == len(want)
    # Rows decoded together differ from rows decoded alone by float32
    # rounding (up to 6e-5 after 11 steps of these random RNN weights).
    for recorded, alone in zip(got["decode_step"], want):
        assert recorded.keys() == alone.keys()
        for name in alone:
            np.testing.assert_allclose(recorded[name], alone[name], atol=2e-4, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_export_signatures_follow_the_seq2seq_convention(kind):
    model = _build(kind)
    signatures = model.export_signatures(batch_size=2)
    assert set(signatures) == {"encode", "decode_step"}
    (source,) = signatures["encode"].input_signature
    assert (source.name, tuple(source.shape), source.dtype) == (
        "source", (2, dates.SOURCE_LENGTH), "int32",
    )
    specs = {s.name: s for s in signatures["decode_step"].input_signature}
    assert tuple(specs.pop("token").shape) == (2, 1)
    assert tuple(specs.pop("step").shape) == (1,)
    states = signatures["encode"].function(SOURCE_IDS[:2])
    assert set(states) == set(specs)
    for name, value in states.items():
        assert tuple(value.shape) == tuple(specs[name].shape), name
    out = signatures["decode_step"].function(
        np.full((2, 1), dates.START_ID, "int32"), np.array([0], "int32"),
        *[states[s.name] for s in signatures["decode_step"].input_signature[2:]],
    )
    # The step gives back its states; the encoder's memory it only reads.
    memory = {s.name for s in model._memory_specs(2)}
    assert memory == MEMORY[kind]
    assert set(out) == (set(specs) - memory) | {"logits"}
    assert tuple(out["logits"].shape) == (2, 1, len(dates.TARGET_VOCABULARY))
    for name in set(specs) - memory:
        assert tuple(out[name].shape) == tuple(specs[name].shape), name
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        model.export_signatures(batch_size=0)


def test_source_ids_are_checked():
    model = _build("plain")
    with pytest.raises(ValueError, match=r"must have shape \[B, 32\].*\(2, 5\)"):
        model.greedy_decode(np.zeros((2, 5), "int32"))
    with pytest.raises(ValueError, match="source_ids must be integer ids"):
        model.greedy_decode(np.zeros((2, 32), "float32"))


# -- alignments ------------------------------------------------------------------


def test_bahdanau_alignments():
    model = _build("bahdanau")
    weights = model.attention_weights(SOURCE_IDS)
    assert weights.shape == (len(SOURCES), dates.TARGET_LENGTH, dates.SOURCE_LENGTH)
    _check_alignment_rows(weights)
    decoder_inputs, _ = dates.encode_targets(TARGETS)
    forced = model.attention_weights(SOURCE_IDS, decoder_inputs)
    _check_alignment_rows(forced)
    # The first step attends from the encoder's state alone.
    np.testing.assert_allclose(forced[:, 0], weights[:, 0], atol=1e-6)


def test_transformer_alignments_per_block_and_head():
    model = _build("transformer", num_decoder_blocks=2)
    weights = model.attention_weights(SOURCE_IDS)
    assert weights.shape == (
        len(SOURCES), 2, 2, dates.TARGET_LENGTH, dates.SOURCE_LENGTH,
    )  # [N, L, H, T, S]
    _check_alignment_rows(weights)
    assert not np.allclose(weights[:, 0, 0], weights[:, 0, 1])  # heads differ
    decoded = model.greedy_decode(SOURCE_IDS)
    np.testing.assert_array_equal(
        model.attention_weights(SOURCE_IDS, model._decoder_inputs_of(decoded)), weights
    )
    # Asking the decoder block for its weights must not change its output.
    x = keras.random.normal((2, dates.TARGET_LENGTH, 16), seed=1)
    encoded = keras.random.normal((2, dates.SOURCE_LENGTH, 16), seed=2)
    mask = SOURCE_IDS[:2] != dates.PAD_ID
    for block in model.decoder_blocks:
        got, _ = block(
            x, encoder_sequence=encoded, encoder_padding_mask=mask,
            return_attention_scores=True,
        )
        want = block(x, encoder_sequence=encoded, encoder_padding_mask=mask)
        np.testing.assert_allclose(got, want, atol=1e-6)


def _check_alignment_rows(weights):
    real = SOURCE_IDS != dates.PAD_ID  # [N, S]
    shape = (len(real),) + (1,) * (weights.ndim - 2) + (real.shape[1],)
    real = real.reshape(shape)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert (np.where(real, 0.0, weights) == 0.0).all(), "attention on padding"


def test_plain_model_has_no_alignments():
    with pytest.raises(ValueError, match="attention_weights needs attention=True"):
        _build("plain").attention_weights(SOURCE_IDS)


# -- saving ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_reload(kind, tmp_path):
    model = _build(kind)
    inputs, _, _ = dates.arrays(SOURCES, TARGETS)
    expected = np.asarray(model(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)), expected)
    np.testing.assert_array_equal(
        reloaded.greedy_decode(SOURCE_IDS), model.greedy_decode(SOURCE_IDS)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    model = SMALL[kind](**dates.model_arguments())
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("kind", ["plain", "bahdanau"])
def test_rnn_dropout_acts_in_training_only(kind):
    model = _build(kind, dropout=0.5)
    without = _build(kind)  # the same seeded weights, no dropout
    inputs = {
        "source": SOURCE_IDS,
        "decoder_inputs": model._decoder_inputs_of(model.greedy_decode(SOURCE_IDS)),
    }
    inferred = np.asarray(model(inputs, training=False))
    np.testing.assert_array_equal(inferred, np.asarray(without(inputs, training=False)))
    np.testing.assert_array_equal(
        model.greedy_decode(SOURCE_IDS), without.greedy_decode(SOURCE_IDS)
    )
    trained = np.asarray(model(inputs, training=True))
    assert np.abs(trained - inferred).max() > 0.1


# -- arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,overrides,message",
    [
        (RNNSeq2Seq, {"units": 0}, "units must be a positive int, received units=0"),
        (RNNSeq2Seq, {"source_length": None}, "source_length must be a positive int"),
        (RNNSeq2Seq, {"attention": 1}, "attention must be a bool, .*attention=1"),
        (RNNSeq2Seq, {"attention_units": 8}, "attention_units is for attention=True"),
        (RNNSeq2Seq, {"dropout": -0.1}, r"dropout must be a float in \[0, 1\)"),
        (RNNSeq2Seq, {"start_id": 0}, r"start_id must be an int in .*\[1, 14\)"),
        (RNNSeq2Seq, {"end_id": 14}, r"end_id must be an int .*\[1, 14\).*end_id=14"),
        (RNNSeq2Seq, {"end_id": 1}, "start_id and end_id must differ"),
        (TransformerSeq2Seq, {"num_heads": 3}, "hidden_dim must be divisible by"),
        (TransformerSeq2Seq, {"positions": "rotary"}, r"positions must be .*'rotary'"),
        (TransformerSeq2Seq, {"dropout": 1.0}, r"dropout must be a float in \[0, 1\)"),
        (TransformerSeq2Seq, {"num_decoder_blocks": 0}, "num_decoder_blocks must be"),
    ],
)
def test_argument_errors(cls, overrides, message):
    with pytest.raises(ValueError, match=message):
        cls(**{**dates.model_arguments(), **overrides})


def test_transformer_inputs_are_scaled_embeddings_plus_sinusoids():
    # Vaswani et al. 3.4-3.5 by hand: sqrt(D) * E[token] + PE(position),
    # PE(p, 2i) = sin(p / 10000^(2i / D)), PE(p, 2i + 1) = cos(...).
    model = _build("transformer", dropout=0.5)
    tokens = np.array([[1, 4, 9]], "int32")
    dim = model.hidden_dim
    table = model.target_embedding.embeddings.numpy()
    angles = np.arange(2, 5)[:, None] / 10000 ** (np.arange(0, dim, 2) / dim)
    positions = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(3, dim)
    want = np.sqrt(dim) * table[tokens[0]] + positions
    got = np.asarray(model._embedded_targets(tokens, start_index=2))[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    dropped = np.asarray(model.embedding_dropout(got, training=True))
    assert np.mean(dropped == 0) > 0.2  # the embedded inputs' dropout


def test_learned_positions_decode_like_teacher_forcing():
    model = TransformerSeq2Seq(
        **dates.model_arguments(), hidden_dim=16, num_heads=2, intermediate_dim=32,
        num_encoder_blocks=1, num_decoder_blocks=1, positions="learned",
    )
    decoded = model.greedy_decode(SOURCE_IDS)
    forced = _teacher_forced_logits(model, decoded).argmax(-1)
    for row, tokens in enumerate(_strip(decoded)):
        steps = min(len(tokens) + 1, dates.TARGET_LENGTH)
        np.testing.assert_array_equal(forced[row, :steps], decoded[row, :steps])


def test_public_names():
    assert {"RNNSeq2Seq", "TransformerSeq2Seq"} <= set(models.__all__)
    assert all(hasattr(models, name) for name in models.__all__)


@pytest.mark.parametrize(
    "cls", [RNNSeq2Seq, TransformerSeq2Seq], ids=lambda c: c.__name__
)
def test_docstring_example(cls):
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {"keras": keras, "np": np, cls.__name__: cls}
    for test in finder.find(cls, cls.__name__, globs=globs):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, result
