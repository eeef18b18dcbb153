import re

import keras
import numpy as np
import pytest

from keras_attention.layers.bahdanau_decoder import BahdanauDecoder
from keras_attention.layers.bahdanau_decoder_cell import BahdanauDecoderCell
from tests import harness

RNG = np.random.default_rng(0)
B, T, S, E, DV, DS, U = 2, 4, 5, 3, 6, 8, 7
INNER = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}


def _raises(*parts):
    """`pytest.raises(ValueError)` whose message holds `parts` in order."""
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


VALUES_MASK = harness.lengths_mask([3, 5], S)
TARGETS_MASK = harness.lengths_mask([4, 2], T)


def _inputs_and_values_masks(masks):
    """The cases' Keras masks as the explicit call arguments."""
    return {"inputs_mask": masks["inputs"], "values_mask": masks["values"]}


@keras.saving.register_keras_serializable(package="keras_attention_tests")
class TeacherForcedDecoder(BahdanauDecoder):
    """`BahdanauDecoder` with the cell made from plain arguments.

    The harness makes a fresh layer per check from `init_kwargs`; a cell
    object in those would be shared between layers, so the cell is made
    here from its arguments, and the config holds those arguments.
    """

    def __init__(
        self,
        inner,
        units,
        attention_units,
        normalize=False,
        attention_dropout=0.0,
        hard_attention=False,
        **kwargs,
    ):
        cell = BahdanauDecoderCell(
            INNER[inner](units, dtype=kwargs.get("dtype")),
            attention_units,
            normalize=normalize,
            attention_dropout=attention_dropout,
            hard_attention=hard_attention,
            seed=1,
            dtype=kwargs.get("dtype"),
        )
        super().__init__(cell, **kwargs)
        self.inner = inner
        self.units = units
        self.attention_units = attention_units
        self.normalize = normalize
        self.attention_dropout = attention_dropout
        self.hard_attention = hard_attention

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(
            inner=self.inner,
            units=self.units,
            attention_units=self.attention_units,
            normalize=self.normalize,
            attention_dropout=self.attention_dropout,
            hard_attention=self.hard_attention,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _cell_params(inner, normalize=False):
    # inner kernel (E + Dv) x gates*Ds and recurrent kernel Ds x gates*Ds;
    # GRU bias 2 x 3Ds (reset_after), LSTM bias 4Ds; attention W_q Ds x U,
    # W_k Dv x U, v U, and with normalize g (scalar) and b U.
    gates = {"gru": 3, "lstm": 4}[inner]
    bias = 2 * 3 * DS if inner == "gru" else 4 * DS
    params = (E + DV) * gates * DS + DS * gates * DS + bias
    params += DS * U + DV * U + U
    return params + (1 + U if normalize else 0)


CASES = [
    harness.LayerCase(
        name="gru_masked_weights",
        cls=TeacherForcedDecoder,
        init_kwargs=dict(inner="gru", units=DS, attention_units=U),
        inputs={
            "inputs": _normal(B, T, E),
            "values": _normal(B, S, DV),
            "decoder_state": _normal(B, DS),
        },
        call_kwargs={"return_attention_scores": True},
        masks={"inputs": TARGETS_MASK, "values": VALUES_MASK},
        explicit_mask=_inputs_and_values_masks,
        trainable_weights=6,
        trainable_params=_cell_params("gru"),
    ),
    harness.LayerCase(
        name="lstm_normalize_dropout",
        cls=TeacherForcedDecoder,
        init_kwargs=dict(
            inner="lstm",
            units=DS,
            attention_units=U,
            normalize=True,
            attention_dropout=0.2,
        ),
        inputs={"inputs": _normal(B, T, E), "values": _normal(B, S, DV)},
        masks={"values": VALUES_MASK},
        explicit_mask=lambda m: {"values_mask": m["values"]},
        trainable_weights=8,
        trainable_params=_cell_params("lstm", normalize=True),
    ),
    harness.LayerCase(
        name="lstm_hard_masked",
        cls=TeacherForcedDecoder,
        init_kwargs=dict(inner="lstm", units=DS, attention_units=U, hard_attention=True),
        inputs={"inputs": _normal(B, T, E), "values": _normal(B, S, DV)},
        call_kwargs={"return_attention_scores": True},
        masks={"inputs": TARGETS_MASK, "values": VALUES_MASK},
        explicit_mask=_inputs_and_values_masks,
        trainable_weights=6,
        trainable_params=_cell_params("lstm"),
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- decoding ------------------------------------------------------------------

VOCAB = 5


@pytest.mark.parametrize("inner", ["gru", "lstm"])
def test_greedy_steps_equal_teacher_forcing(inner):
    cell = BahdanauDecoderCell(INNER[inner](DS), attention_units=U)
    embedding = keras.layers.Embedding(VOCAB, E)
    readout = keras.layers.Dense(VOCAB)
    values = _normal(B, S, DV)
    initial = [_normal(B, DS) for _ in range({"gru": 1, "lstm": 2}[inner])]
    keys = cell.precompute_keys(values)
    # The state is the inner cell's alone; the encoder outputs, keys and
    # mask are arguments of every step.
    assert cell.state_size == [DS] * len(initial)

    # Greedy decoding from token 0, one step at a time.
    tokens = [np.zeros(B, "int32")]
    states, outputs, step_weights = initial, [], []
    for _ in range(T):
        output, states, weights = cell(
            embedding(tokens[-1]), states, values, keys=keys,
            values_mask=VALUES_MASK, return_attention_scores=True,
        )
        assert len(states) == len(initial)
        outputs.append(output)
        step_weights.append(weights)
        tokens.append(np.argmax(readout(output), axis=-1).astype("int32"))

    # The same tokens, teacher-forced through the decoder's own loop.
    forced, weights = BahdanauDecoder(cell)(
        embedding(np.stack(tokens[:-1], axis=1)), values, decoder_state=initial,
        values_mask=VALUES_MASK, return_attention_scores=True,
    )
    # Same float32 arithmetic, eager step by step or in a loop.
    np.testing.assert_allclose(np.stack(outputs, axis=1), forced, atol=1e-6, rtol=0)
    assert tuple(weights.shape) == (B, T, S)
    np.testing.assert_allclose(np.stack(step_weights, axis=1), weights, atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(weights)[~VALUES_MASK[:, None, :].repeat(T, 1)], 0.0
    )
    # Some later step must attend differently, or the check shows little.
    assert np.abs(np.asarray(weights)[:, 1:] - np.asarray(weights)[:, :1]).max() > 1e-3


def test_hard_attention_reads_one_value_a_step_and_decodes_alike():
    # Training: every step's context is one encoder output, drawn from that
    # step's noise (pre-drawn for the loop), so a second call differs.
    # Inference: the most attended one, the same step by step as in the loop.
    cell = BahdanauDecoderCell(keras.layers.LSTMCell(DS), attention_units=U,
                               hard_attention=True, seed=4)
    decoder = BahdanauDecoder(cell)
    inputs, values = _normal(B, T, E), _normal(B, S, DV)
    sampled = [
        np.asarray(decoder(inputs, values, values_mask=VALUES_MASK, training=True))[..., DS:]
        for _ in range(2)
    ]  # the contexts [B, T, Dv]
    for contexts in sampled:
        for b in range(B):
            rows = values[b][VALUES_MASK[b]]  # the unmasked outputs
            matches = np.isclose(contexts[b][:, None], rows[None]).all(-1)  # [T, S']
            assert np.all(matches.sum(-1) == 1), matches
    assert not np.array_equal(sampled[0], sampled[1])

    forced, weights = decoder(inputs, values, values_mask=VALUES_MASK,
                              return_attention_scores=True)
    forced, weights = np.asarray(forced), np.asarray(weights)
    chosen = weights.argmax(-1)  # [B, T]
    np.testing.assert_array_equal(
        forced[..., DS:], np.take_along_axis(values[:, None], chosen[..., None, None], 2)[:, :, 0])
    states, outputs = cell.get_initial_state(B), []
    for t in range(T):
        output, states = cell(inputs[:, t], states, values, values_mask=VALUES_MASK)
        outputs.append(output)
    np.testing.assert_allclose(np.stack(outputs, axis=1), forced, atol=1e-6, rtol=0)


def test_target_padding_gives_zeros_and_keeps_the_state():
    # Row 1 is padded at step 1 only: that step outputs zeros (weights
    # too), and step 2 goes on from the state step 0 left.
    cell = BahdanauDecoderCell(keras.layers.GRUCell(DS), attention_units=U)
    decoder = BahdanauDecoder(cell)
    inputs, values = _normal(B, T, E), _normal(B, S, DV)
    mask = np.ones((B, T), bool)
    mask[1, 1] = False
    outputs, weights = decoder(
        inputs, values, inputs_mask=mask, return_attention_scores=True
    )
    outputs, weights = np.asarray(outputs), np.asarray(weights)
    assert (outputs[1, 1] == 0).all() and (weights[1, 1] == 0).all()
    np.testing.assert_allclose(weights[~mask].sum(-1), 0.0)
    np.testing.assert_allclose(weights[mask].sum(-1), 1.0, atol=1e-6)
    skipped = np.delete(inputs, 1, axis=1)[1:]  # row 1 without its padded step
    want = np.asarray(decoder(skipped, values[1:]))
    np.testing.assert_allclose(outputs[1, [0, 2, 3]], want[0], atol=1e-6, rtol=0)


def test_unrolled_decoder_equals_the_loop():
    cell = BahdanauDecoderCell(keras.layers.LSTMCell(DS), attention_units=U)
    inputs, values = _normal(B, T, E), _normal(B, S, DV)
    looped = BahdanauDecoder(cell)(
        inputs, values, inputs_mask=TARGETS_MASK, values_mask=VALUES_MASK,
        return_attention_scores=True,
    )
    unrolled = BahdanauDecoder(cell, unroll=True)(
        inputs, values, inputs_mask=TARGETS_MASK, values_mask=VALUES_MASK,
        return_attention_scores=True,
    )
    for got, want in zip(unrolled, looped):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def _functional_decoder(inner, batch_size=None):
    """A plain functional model: the decoder layer on keras.Inputs."""
    targets = keras.Input((T, E), batch_size=batch_size, name="targets")
    values = keras.Input((S, DV), batch_size=batch_size, name="values")
    values_mask = keras.Input(
        (S,), batch_size=batch_size, dtype="bool", name="values_mask"
    )
    cell = BahdanauDecoderCell(INNER[inner](DS), attention_units=U)
    outputs, weights = BahdanauDecoder(cell)(
        keras.layers.Masking(0.0)(targets), values, values_mask=values_mask,
        return_attention_scores=True,
    )
    logits = keras.layers.Dense(VOCAB)(outputs)
    model = keras.Model([targets, values, values_mask], [logits, weights])
    return model, cell


def _arrays(batch):
    targets = RNG.normal(size=(batch, T, E)).astype("float32")
    targets[1, 3:] = 0.0  # padded target steps, through Masking
    mask = np.ones((batch, S), bool)
    mask[0, 3:] = False
    return {
        "targets": targets,
        "values": RNG.normal(size=(batch, S, DV)).astype("float32"),
        "values_mask": mask,
    }


def test_teacher_forced_decoder_trains_with_xla():
    model, cell = _functional_decoder("gru")
    model = keras.Model(model.inputs, model.outputs[0])
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    arrays = _arrays(16)
    labels = RNG.integers(0, VOCAB, size=(16, T))
    key_kernel = cell.attention.key_kernel.numpy()
    history = model.fit(arrays, labels, epochs=8, batch_size=16, verbose=0)
    losses = history.history["loss"]
    # Chance is log(5) = 1.609; eight Adam steps on one batch of random
    # labels must fit some of them.
    assert losses[-1] < 0.9 * losses[0], losses
    # The keys are projected once, before the loop; their kernel must still train.
    assert not np.array_equal(cell.attention.key_kernel.numpy(), key_kernel)


def test_built_decoder_deserializes_built():
    # The cell's build config holds the step input's and the encoder
    # outputs' shapes, so that a reloaded decoder has every weight before
    # its first call.
    cell = BahdanauDecoderCell(keras.layers.LSTMCell(DS), attention_units=U)
    decoder = BahdanauDecoder(cell)
    values, targets = _normal(B, S, DV), _normal(B, T, E)
    expected = decoder(targets, values)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(decoder)
    )
    assert clone.cell.built and len(clone.weights) == len(decoder.weights) == 6
    clone.set_weights(decoder.get_weights())
    np.testing.assert_array_equal(clone(targets, values), expected)


def test_tflite_parity_of_the_functional_decoder(tmp_path):
    model, _ = _functional_decoder("gru", batch_size=B)
    arrays = _arrays(B)
    expected = model.predict(arrays, verbose=0)
    # Builtin ops only: convert_to_tflite fails on anything else.
    flatbuffer = harness.convert_to_tflite(model, tmp_path / "saved_model")
    got = harness.run_tflite(flatbuffer, arrays)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=harness.FLOAT32_ATOL, rtol=0)


def test_config_round_trip_of_a_built_cell():
    cell = BahdanauDecoderCell(
        keras.layers.LSTMCell(DS),
        attention_units=U,
        normalize=True,
        attention_dropout=0.1,
        kernel_regularizer="l2",
        seed=3,
    )
    assert cell.state_size == [DS, DS] and cell.output_size is None
    cell(_normal(B, E), cell.get_initial_state(B), _normal(B, S, DV))
    config = cell.get_config()
    clone = BahdanauDecoderCell.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.cell, keras.layers.LSTMCell)
    assert cell.output_size == DS + DV
    assert cell.state_size == [DS, DS]


# -- errors ----------------------------------------------------------------------


def test_bad_arguments_raise():
    gru = keras.layers.GRUCell(DS)
    with _raises(
        "cell must be a keras.layers.GRUCell or keras.layers.LSTMCell",
        "received cell=<Dense",
    ):
        BahdanauDecoderCell(keras.layers.Dense(DS), attention_units=U)
    with _raises("cell must have no dropout", "received cell with dropout=0.2"):
        BahdanauDecoderCell(keras.layers.GRUCell(DS, dropout=0.2), attention_units=U)
    with _raises("received cell with dtype policy 'float32' and dtype='mixed_float16'"):
        BahdanauDecoderCell(gru, attention_units=U, dtype="mixed_float16")
    with _raises("attention_units must be a positive int, received attention_units=0"):
        BahdanauDecoderCell(gru, attention_units=0)
    with _raises(
        "attention_dropout must be a float in [0, 1), received attention_dropout=-0.1"
    ):
        BahdanauDecoderCell(gru, attention_units=U, attention_dropout=-0.1)
    with _raises("hard_attention must be True or False, received hard_attention=1"):
        BahdanauDecoderCell(gru, attention_units=U, hard_attention=1)
    with _raises("attention_dropout must be 0 with hard_attention=True",
                 "received attention_dropout=0.1"):
        BahdanauDecoderCell(gru, attention_units=U, attention_dropout=0.1,
                            hard_attention=True)


def test_mismatched_shapes_raise():
    cell = BahdanauDecoderCell(keras.layers.LSTMCell(DS), attention_units=U)
    zeros = cell.get_initial_state(batch_size=2)
    assert [tuple(s.shape) for s in zeros] == [(2, DS), (2, DS)]
    with _raises(
        "reads the encoder outputs at every step", "keras.layers.RNN cannot pass",
        "received inputs.shape=(2, 3) and no values",
    ):
        keras.layers.RNN(cell)(_normal(B, T, E))
    with _raises(
        "values must have shape [B, S, Dv] with a known Dv",
        "received values.shape=(2, 6)",
    ):
        cell.precompute_keys(_normal(B, DV))
    values = _normal(B, S, DV)
    decoder = BahdanauDecoder(cell)
    targets = _normal(B, T, E)
    with _raises("decoder_state must be [h, c]", "shapes [(2, 8)]"):
        decoder(targets, values, decoder_state=_normal(B, DS))
    with _raises("decoder_state must be [h, c]", "shapes [(3, 8), (3, 8)]"):
        decoder(targets, values, decoder_state=[_normal(3, DS)] * 2)
    with _raises("values_mask must have shape [B, S] = [2, 5]", "shape=(2, 5, 1)"):
        decoder(targets, values, values_mask=np.ones((B, S, 1), bool))
    with _raises("values_mask must have shape [B, S] = [2, 5]", "shape=(2, 4)"):
        decoder(targets, values, values_mask=np.ones((B, S - 1), bool))
    with _raises("inputs_mask must have shape [B, T] = [2, 4]", "shape=(2, 3)"):
        decoder(targets, values, inputs_mask=np.ones((B, T - 1), bool))
    with _raises("values must have shape [B, S, 6]", "received values.shape=(2, 5, 4)"):
        cell.precompute_keys(_normal(B, S, 4))
    with _raises("states must be [h, c]", "received states shapes [(2, 8)]"):
        cell(_normal(B, E), zeros[1:], values)
    with _raises("inputs must have shape [B, T, E]", "received inputs.shape=(2, 3)"):
        BahdanauDecoder(cell)(_normal(B, E), values)
    with _raises(
        "unroll=True needs a known number of target steps",
        "received inputs.shape=(None, None, 3)",
    ):
        BahdanauDecoder(cell, unroll=True)(
            keras.Input((None, E)), keras.Input((S, DV))
        )


def test_functional_model_with_the_decoder_layer_saves_and_trains(tmp_path):
    # The decoder layer keeps the key projection a weight of the saved
    # model: the reloaded model has every weight and goes on training.
    inputs = keras.Input((T, E), name="inputs")
    values = keras.Input((S, DV), name="values")
    cell = BahdanauDecoderCell(keras.layers.GRUCell(DS), attention_units=U)
    outputs, weights = BahdanauDecoder(cell)(
        keras.layers.Masking(0.0)(inputs), values, return_attention_scores=True
    )
    model = keras.Model([inputs, values], [keras.layers.Dense(VOCAB)(outputs), weights])
    arrays = {"inputs": _normal(B, T, E), "values": _normal(B, S, DV)}
    expected = model.predict(arrays, verbose=0)
    model.save(tmp_path / "decoder.keras")
    reloaded = keras.saving.load_model(tmp_path / "decoder.keras")
    for got, want in zip(reloaded.predict(arrays, verbose=0), expected):
        np.testing.assert_array_equal(got, want)
    # Paths are scoped differently on reload; the weights are the same.
    def shapes(m):
        return sorted((w.path.split("/")[-1], tuple(w.shape)) for w in m.trainable_weights)

    assert shapes(reloaded) == shapes(model)
    assert ("key_kernel", (DV, U)) in shapes(reloaded)
    reloaded_cell = reloaded.layers[3].cell
    key_kernel = reloaded_cell.attention.key_kernel.numpy()
    trainer = keras.Model(reloaded.inputs, reloaded.outputs[0])
    trainer.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    trainer.fit(arrays, RNG.integers(0, VOCAB, size=(B, T)), epochs=1, verbose=0)
    assert not np.array_equal(reloaded_cell.attention.key_kernel.numpy(), key_kernel)


def test_decoder_layer_rejects_other_cells():
    with _raises("cell must be a BahdanauDecoderCell", "GRUCell"):
        BahdanauDecoder(keras.layers.GRUCell(DS))
