import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_attention_export as export
from keras_attention.layers._ntm_addressing import (
    content_weighting,
    interpolate,
    read,
    sharpen,
    shift,
    softplus,
    write,
)
from keras_attention.layers.ntm_cell import NTMCell
from tests import harness

RNG = np.random.default_rng(0)
# Small enough that XLA compiles in seconds: N rows of width M, controller C.
B, T, E, U, N, M, C = 2, 4, 6, 5, 8, 4, 16


def _raises(*parts):
    """`pytest.raises(ValueError)` whose message holds `parts` in order."""
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _normal(*shape, scale=1.0):
    return (scale * RNG.normal(size=shape)).astype("float32")


def _f32(x):
    return np.asarray(x, dtype="float32")


@keras.saving.register_keras_serializable(package="keras_attention_tests")
class NTMSequence(keras.layers.Layer):
    """`keras.layers.RNN(NTMCell(**cell_config), return_sequences=True)`.

    The harness makes a fresh layer per check from `init_kwargs`; a cell
    object in those would be shared between layers, so the cell is made
    here from its config, with this layer's dtype policy.
    """

    def __init__(self, cell_config, **kwargs):
        super().__init__(**kwargs)
        self.cell_config = dict(cell_config)
        self.cell = NTMCell(**self.cell_config, dtype=self.dtype_policy)
        self.rnn = keras.layers.RNN(
            self.cell, return_sequences=True, dtype=self.dtype_policy, name="rnn"
        )

    def build(self, input_shape):
        self.rnn.build(input_shape)

    def call(self, inputs, training=None):
        return self.rnn(inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "cell_config": self.cell_config}


def _params(controller="lstm", r=1, w=1, s=1, memory_init="constant"):
    """Trainable scalars of an NTMCell with E inputs, C, N, M and U as above."""
    controller_input = E + r * M
    if controller == "lstm":  # kernel, recurrent kernel, bias
        params = controller_input * 4 * C + C * 4 * C + 4 * C
    else:  # kernel, bias
        params = controller_input * C + C
    # Per head: key M, beta, g, 2s + 1 shifts, gamma; per write head: e, a.
    heads = (r + w) * (M + 2 * s + 4) + w * 2 * M
    params += C * heads + heads
    params += (C + r * M) * U + U  # output projection
    params += r * M + (r + w) * N  # initial read vectors, initial weightings
    return params + (N * M if memory_init == "learned" else 0)


SMALL = dict(units=U, memory_size=N, memory_width=M, controller_units=C)

CASES = [
    harness.LayerCase(
        name="lstm_constant_weightings",
        cls=NTMSequence,
        init_kwargs=dict(cell_config=dict(SMALL, return_weightings=True)),
        inputs={"inputs": _normal(B, T, E)},
        # LSTM kernel, recurrent kernel, bias; heads kernel, bias; output
        # kernel, bias; initial read vectors and weightings.
        trainable_weights=9,
        trainable_params=_params(),
    ),
    harness.LayerCase(
        name="dense_learned_two_heads_each",
        cls=NTMSequence,
        init_kwargs=dict(
            cell_config=dict(
                SMALL,
                controller="dense",
                num_read_heads=2,
                num_write_heads=2,
                shift_range=2,
                memory_init="learned",
            )
        ),
        inputs={"inputs": _normal(B, T, E)},
        # Dense kernel, bias; heads; output; initial reads, weightings, memory.
        trainable_weights=9,
        trainable_params=_params("dense", r=2, w=2, s=2, memory_init="learned"),
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- addressing, by hand --------------------------------------------------------


def test_content_weighting_by_hand():
    # Rows [1, 0], [0, 1], [1, 1] and key [1, 0]: cosines 1, 0 and 1/sqrt(2);
    # with beta = 2 the weights are softmax([2, 0, sqrt(2)]).
    memory = _f32([[[1, 0], [0, 1], [1, 1]]])
    got = content_weighting(memory, _f32([[[1, 0]]]), _f32([[[2.0]]]))
    logits = np.array([2.0, 0.0, math.sqrt(2.0)])
    want = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(np.asarray(got)[0, 0], want, atol=1e-6, rtol=0)


def test_content_weighting_of_a_matching_key_is_one_hot():
    memory = _normal(1, N, M)
    keys = 3.0 * memory[:, [5, 2], :]  # the cosine ignores the key's norm
    got = np.asarray(content_weighting(memory, keys, _f32([[[500.0], [500.0]]])))
    np.testing.assert_allclose(got[0], np.eye(N)[[5, 2]], atol=1e-4, rtol=0)


def test_zero_memory_and_zero_key_give_uniform_weights_and_finite_gradients():
    memory = tf.zeros((1, N, M))
    memory = tf.concat([memory[:, :4], _normal(1, N - 4, M)], axis=1)  # 4 zero rows
    keys = tf.zeros((1, 2, M))
    keys = tf.concat([keys[:, :1], _normal(1, 1, M)], axis=1)  # a zero key
    beta = tf.fill((1, 2, 1), 5.0)
    with tf.GradientTape() as tape:
        tape.watch([memory, keys])
        weights = content_weighting(memory, keys, beta)
        loss = tf.reduce_sum(weights * _normal(1, 2, N))
    gradients = tape.gradient(loss, [memory, keys])
    # A zero key is as similar to every row (cosine 0): uniform weights.
    np.testing.assert_allclose(weights[0, 0], np.full(N, 1 / N), atol=1e-7)
    # A nonzero key against a zero row has cosine 0 there.
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(gradients[0]))
    assert np.all(np.isfinite(gradients[1]))
    # Without the epsilon the norm's gradient is 0 * inf = NaN at a zero row.
    with tf.GradientTape() as tape:
        tape.watch(memory)
        naive = tf.norm(memory, axis=-1)
    assert np.isnan(tape.gradient(naive, memory)).any()


@pytest.mark.parametrize(
    "position,shifts,want",
    [
        (0, [0, 0, 1], 1),  # +1
        (0, [1, 0, 0], 4),  # -1, wrapping to the last row
        (4, [0, 0, 1], 0),  # +1, wrapping to the first row
        (2, [1, 0, 0], 1),  # -1
        (3, [0, 1, 0], 3),  # no shift
    ],
)
def test_shift_rotates_a_one_hot_weighting(position, shifts, want):
    weights = np.eye(5, dtype="float32")[position][None, None]  # [1, 1, 5]
    got = shift(weights, _f32([[shifts]]))
    np.testing.assert_array_equal(np.asarray(got)[0, 0], np.eye(5)[want])


def test_shift_spreads_a_one_hot_weighting_by_the_shift_distribution():
    # w~(i) = sum_j w(j) s(i - j), w one-hot at 2: w~(i) = s(i - 2), so rows
    # 1, 2, 3 get s(-1), s(0), s(+1); with range 2 rows 0 and 4 get s(-2), s(+2).
    weights = np.eye(5, dtype="float32")[2][None, None]
    got = shift(weights, _f32([[[0.2, 0.5, 0.3]]]))
    np.testing.assert_allclose(np.asarray(got)[0, 0], [0, 0.2, 0.5, 0.3, 0], atol=1e-7)
    got = shift(weights, _f32([[[0.1, 0.2, 0.3, 0.15, 0.25]]]))
    np.testing.assert_allclose(
        np.asarray(got)[0, 0], [0.1, 0.2, 0.3, 0.15, 0.25], atol=1e-7
    )


def test_sharpen_by_hand():
    weights = _f32([[[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]]])
    # gamma = 1 leaves a weighting as it is (up to the epsilon).
    got = sharpen(weights, np.ones((1, 2, 1), "float32"))
    np.testing.assert_allclose(got, weights, atol=1e-6, rtol=0)
    # gamma = 2: [0.25, 0.0625, 0.0625, 0] / 0.375 = [2/3, 1/6, 1/6, 0].
    got = sharpen(weights[:, :1], _f32([[[2.0]]]))
    np.testing.assert_allclose(got[0, 0], [2 / 3, 1 / 6, 1 / 6, 0], atol=1e-6)
    # A flat weighting of 128 rows to the power 21 underflows float32 in the
    # direct form; the log-space form still sums to one.
    flat = np.full((1, 1, 128), 1 / 128, "float32")
    flat[0, 0, 7] *= 1.01
    got = np.asarray(sharpen(flat / flat.sum(), _f32([[[21.0]]])))
    assert np.isfinite(got).all() and abs(got.sum() - 1) < 1e-5
    assert got[0, 0].argmax() == 7


def test_interpolation_gate():
    content, previous = _f32([[[0.7, 0.3]]]), _f32([[[0.1, 0.9]]])
    closed, open_ = _f32([[[0.0]]]), _f32([[[1.0]]])
    np.testing.assert_array_equal(interpolate(content, previous, closed), previous)
    np.testing.assert_array_equal(interpolate(content, previous, open_), content)
    np.testing.assert_allclose(
        interpolate(content, previous, _f32([[[0.25]]])), [[[0.25, 0.75]]], atol=1e-7
    )


def test_erase_and_add_by_hand():
    memory = _normal(1, N, M)
    one_hot = np.eye(N, dtype="float32")[[2]][None]  # [1, 1, N], row 2
    # e = 1 on row 2 clears it; the other rows stay.
    ones, zeros = np.ones((1, 1, M), "f4"), np.zeros((1, 1, M), "f4")
    got = np.asarray(write(memory, one_hot, ones, zeros))
    want = memory.copy()
    want[0, 2] = 0.0
    np.testing.assert_array_equal(got, want)
    # e = 0 and a: row i gains w(i) a.
    weights = np.zeros((1, 1, N), "float32")
    weights[0, 0, [1, 6]] = [0.25, 0.75]
    add = _f32([[[1.0, -2.0, 0.5, 4.0]]])
    got = np.asarray(write(memory, weights, zeros, add))
    want = memory.copy()
    want[0, 1] += 0.25 * add[0, 0]
    want[0, 6] += 0.75 * add[0, 0]
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    # Erase e = 0.5 with w(3) = 0.5 keeps 1 - 0.25 of row 3, then adds.
    weights = np.zeros((1, 1, N), "float32")
    weights[0, 0, 3] = 0.5
    got = np.asarray(write(memory, weights, np.full((1, 1, M), 0.5, "f4"), add))
    want = memory.copy()
    want[0, 3] = 0.75 * memory[0, 3] + 0.5 * add[0, 0]
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_two_write_heads_erase_before_they_add():
    # Head 0 adds a to row 1; head 1 erases row 1 completely. Erasing first,
    # row 1 ends up a (not 0, which adding first would give).
    memory = _normal(1, N, M)
    weights = np.zeros((1, 2, N), "float32")
    weights[0, :, 1] = 1.0
    erase = np.stack([np.zeros(M), np.ones(M)])[None].astype("float32")
    add = np.stack([np.arange(M) + 1.0, np.zeros(M)])[None].astype("float32")
    got = np.asarray(write(memory, weights, erase, add))
    np.testing.assert_allclose(got[0, 1], np.arange(M) + 1.0, atol=1e-7)
    np.testing.assert_array_equal(np.delete(got[0], 1, 0), np.delete(memory[0], 1, 0))


def test_read_by_hand():
    memory = _normal(1, N, M)
    weights = np.zeros((1, 2, N), "float32")
    weights[0, 0, 4] = 1.0  # one-hot: row 4
    weights[0, 1, [0, 7]] = [0.5, 0.5]  # the mean of rows 0 and 7
    got = np.asarray(read(memory, weights))
    np.testing.assert_allclose(got[0, 0], memory[0, 4], atol=1e-7)
    np.testing.assert_allclose(got[0, 1], (memory[0, 0] + memory[0, 7]) / 2, atol=1e-6)


def test_softplus_is_exact_and_finite():
    x = np.linspace(-40, 40, 161).astype("float32")
    np.testing.assert_allclose(softplus(x), np.logaddexp(0.0, x), atol=1e-6, rtol=1e-6)


# -- the cell -------------------------------------------------------------------


def test_state_layout():
    cell = NTMCell(**SMALL, num_read_heads=2, num_write_heads=3)
    assert cell.state_names == [
        "controller_h", "controller_c", "read_vectors", "read_weightings",
        "write_weightings", "memory",
    ]
    assert cell.state_size == [C, C, 2 * M, 2 * N, 3 * N, N * M]
    assert cell.output_size == U
    cell.build((None, E))
    states = cell.get_initial_state(batch_size=3)
    assert [tuple(s.shape) for s in states] == [(3, s) for s in cell.state_size]
    parts = cell.split_state(states)
    assert tuple(parts["memory"].shape) == (3, N, M)
    assert tuple(parts["read_weightings"].shape) == (3, 2, N)
    assert tuple(parts["write_weightings"].shape) == (3, 3, N)
    # Learned initial state: read vectors tanh of a weight, weightings a
    # softmax of one, the same for every sequence; constant memory 1e-6.
    np.testing.assert_allclose(
        parts["read_vectors"][2], np.tanh(cell.initial_read_vectors.numpy()), atol=1e-7
    )
    logits = cell.initial_weighting_logits.numpy()
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(parts["write_weightings"][1], softmax[2:], atol=1e-7)
    assert np.ptp(softmax, axis=-1).min() > 1e-3, "the initial weightings are flat"
    np.testing.assert_array_equal(parts["memory"], np.full((3, N, M), 1e-6, "float32"))
    dense = NTMCell(**SMALL, controller="dense")
    assert dense.state_names[0] == "read_vectors"
    assert dense.state_size == [M, N, N, N * M]


def test_rnn_equals_stepping_by_hand():
    cell = NTMCell(**SMALL, num_read_heads=2, return_weightings=True)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    inputs = _normal(B, 7, E, scale=2.0)
    outputs, *final = rnn(inputs)
    states = cell.get_initial_state(batch_size=B)
    stepped = []
    for t in range(inputs.shape[1]):
        output, states = cell(inputs[:, t], states)
        stepped.append(output)
    # The same float32 arithmetic, eagerly or in a while loop.
    np.testing.assert_allclose(np.stack(stepped, 1), outputs, atol=1e-6, rtol=0)
    for got, want in zip(states, final):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    output, read_weightings, write_weightings = cell.split_output(outputs)
    assert tuple(output.shape) == (B, 7, U)
    assert tuple(read_weightings.shape) == (B, 7, 2, N)
    np.testing.assert_allclose(np.sum(read_weightings, -1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.sum(write_weightings, -1), 1.0, atol=1e-5)
    # The last step's weightings are the final state's.
    parts = cell.split_state(final)
    np.testing.assert_allclose(read_weightings[:, -1], parts["read_weightings"], atol=0)
    # The addressing moves, or the comparison shows little.
    assert np.abs(np.diff(np.asarray(write_weightings), axis=1)).max() > 1e-3


def test_ten_thousand_steps_stay_finite():
    cell = NTMCell(**SMALL, num_write_heads=2)
    rnn = keras.layers.RNN(cell, return_state=True)
    inputs = _normal(4, 10_000, E, scale=5.0)
    rnn.build(inputs.shape)
    # Large weights push the head parameters against the clip.
    for weight in cell.trainable_weights:
        weight.assign(weight * 4.0)
    run = tf.function(rnn, jit_compile=True)
    output, *states = run(inputs)
    for tensor in [output, *states]:
        assert np.all(np.isfinite(tensor))
    parts = cell.split_state(states)
    for name in ("read_weightings", "write_weightings"):
        np.testing.assert_allclose(np.sum(parts[name], -1), 1.0, atol=1e-4)


def test_memory_init_modes():
    inputs = _normal(B, T, E)
    random = NTMCell(**SMALL, memory_init="random", seed=7)
    rnn = keras.layers.RNN(random)
    rnn(inputs)
    initial = random.initial_memory.numpy()
    assert not random.initial_memory.trainable
    assert 0.3 < initial.std() < 0.6 and np.abs(initial).max() <= 1.0
    # Drawn once at build: every batch starts from the same memory...
    first = random.split_state(random.get_initial_state(2))["memory"]
    rnn(inputs)
    again = random.split_state(random.get_initial_state(2))["memory"]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[0], initial)
    # ... and the seed draws it again.
    other = NTMCell(**SMALL, memory_init="random", seed=7)
    other.build((None, E))
    np.testing.assert_array_equal(other.initial_memory.numpy(), initial)
    learned = NTMCell(**SMALL, memory_init="learned")
    learned.build((None, E))
    memory = learned.split_state(learned.get_initial_state(1))["memory"]
    want = np.tanh(learned.initial_memory.numpy())
    np.testing.assert_allclose(memory[0], want, atol=1e-7)


def test_functional_model_saves_and_reloads_the_drawn_memory(tmp_path):
    # An unseeded random memory is drawn at build; the reloaded model must
    # restore it from the file, not draw another.
    inputs = keras.Input((T, E))
    cell = NTMCell(**SMALL, memory_init="random", return_weightings=True)
    model = keras.Model(inputs, keras.layers.RNN(cell, return_sequences=True)(inputs))
    x = _normal(B, T, E)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "ntm.keras")
    reloaded = keras.saving.load_model(tmp_path / "ntm.keras")
    reloaded_cell = reloaded.layers[1].cell
    np.testing.assert_array_equal(
        reloaded_cell.initial_memory.numpy(), cell.initial_memory.numpy()
    )
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
    assert reloaded_cell.get_config() == cell.get_config()


def test_gradients_reach_the_learned_initial_state():
    cell = NTMCell(**SMALL, memory_init="learned")
    rnn = keras.layers.RNN(cell)
    inputs = _normal(B, T, E)
    rnn(inputs)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(rnn(inputs)))
    grads = tape.gradient(loss, cell.trainable_weights)
    by_name = {w.path.split("/")[-1]: g for w, g in zip(cell.trainable_weights, grads)}
    for name in ("initial_read_vectors", "initial_weighting_logits", "initial_memory"):
        assert by_name[name] is not None and np.abs(by_name[name]).max() > 0, name


def test_mixed_precision_addresses_in_float32():
    cell = NTMCell(**SMALL, return_weightings=True, dtype="mixed_float16")
    rnn = keras.layers.RNN(cell, return_sequences=True, dtype="mixed_float16")
    inputs = _normal(B, T, E)
    rnn(inputs)
    traced = tf.function(rnn).get_concrete_function(tf.TensorSpec(inputs.shape))
    graph_def = traced.graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)

    def dtypes(op):
        return {tf.dtypes.as_dtype(n.attr["T"].type).name for n in nodes if n.op == op}

    # Content, shift and sharpening softmaxes, the initial weightings' one,
    # and the addressing's matrix products run in float32; the controller's
    # and the projections' products in float16.
    assert dtypes("Softmax") == {"float32"}
    assert {"float16", "float32"} <= dtypes("BatchMatMulV2") | dtypes("MatMul")
    assert dtypes("Log") == {"float32"} and dtypes("Rsqrt") == {"float32"}
    outputs = rnn(inputs)
    assert outputs.dtype == "float16"
    _, read_weightings, _ = cell.split_output(outputs)
    np.testing.assert_allclose(np.sum(read_weightings, -1, dtype="f4"), 1.0, atol=3e-3)


def test_step_signature_exports_to_tflite_and_chains_like_keras():
    cell = NTMCell(**SMALL, return_weightings=True)
    step_input = keras.Input((E,), batch_size=1, name="inputs")
    state_inputs = [
        keras.Input((size,), batch_size=1, name=name)
        for name, size in zip(cell.state_names, cell.state_size)
    ]
    output, new_states = cell(step_input, state_inputs)
    model = keras.Model([step_input, *state_inputs], [output, *new_states])

    def step(inputs, *states):
        output, *new_states = model([inputs, *states])
        return {"output": output, **dict(zip(cell.state_names, new_states))}

    specs = [tf.TensorSpec((1, E), tf.float32, name="inputs")] + [
        tf.TensorSpec((1, size), tf.float32, name=name)
        for name, size in zip(cell.state_names, cell.state_size)
    ]
    flatbuffer = export.convert(
        model, mode="float32", signatures={"step": export.Signature(step, specs)}
    )
    runner = Interpreter(model_content=flatbuffer).get_signature_runner("step")
    states = [np.asarray(s) for s in cell.get_initial_state(batch_size=1)]
    device_states = list(states)
    for t in range(6):
        x = _normal(1, E, scale=2.0)
        output, states = cell(x, states)
        results = runner(inputs=x, **dict(zip(cell.state_names, device_states)))
        device_states = [results[name] for name in cell.state_names]
        np.testing.assert_allclose(
            results["output"], output, atol=harness.FLOAT32_ATOL, rtol=0,
            err_msg=f"step {t}",
        )
        for name, got, want in zip(cell.state_names, device_states, states):
            np.testing.assert_allclose(
                got, want, atol=harness.FLOAT32_ATOL, rtol=0, err_msg=f"step {t} {name}"
            )


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,parts",
    [
        (dict(units=0), ["units must be a positive int, received units=0"]),
        (
            dict(controller="gru"),
            ["controller must be one of ('lstm', 'dense')", "controller='gru'"],
        ),
        (dict(controller_units=-1), ["controller_units must be a positive int", "=-1"]),
        (dict(memory_size=0), ["memory_size must be a positive int", "=0"]),
        (dict(memory_width=2.5), ["memory_width must be a positive int", "=2.5"]),
        (dict(num_read_heads=0), ["num_read_heads must be a positive int", "=0"]),
        (dict(num_write_heads=True), ["num_write_heads must be a positive", "=True"]),
        (
            dict(shift_range=-1),
            [
                "shift_range must be an int in [0, (memory_size - 1) // 2] = [0, 3]",
                "memory_size=8",
                "received shift_range=-1",
            ],
        ),
        (dict(shift_range=4), ["[0, 3]", "received shift_range=4"]),
        (dict(shift_range=1.0), ["shift_range must be an int", "shift_range=1.0"]),
        (dict(memory_size=2), ["[0, 0]", "memory_size=2", "received shift_range=1"]),
        (dict(clip_value=0), ["clip_value must be a positive number", "=0"]),
        (
            dict(memory_init="zeros"),
            ["memory_init must be one of ('constant', 'learned', 'random')", "'zeros'"],
        ),
    ],
)
def test_bad_arguments_raise(kwargs, parts):
    with _raises(*parts):
        NTMCell(**{**SMALL, **kwargs})


def test_largest_shift_range_is_accepted():
    # 2 * 3 + 1 = 7 distinct shifts of 8 rows, and of 7.
    NTMCell(**{**SMALL, "shift_range": 3})
    NTMCell(**{**SMALL, "memory_size": 7, "shift_range": 3})


def test_bad_shapes_and_states_raise():
    cell = NTMCell(**SMALL)
    with _raises("build it", "received batch_size=2 on an unbuilt cell"):
        cell.get_initial_state(batch_size=2)
    with _raises("inputs must have shape [B, E]", "received input_shape=(2, 3, 6)"):
        cell.build((2, 3, 6))
    cell.build((None, E))
    states = cell.get_initial_state(batch_size=B)
    with _raises("states must be the list ['controller_h'", "a list of 5 tensors"):
        cell(_normal(B, E), states[1:])
    with _raises("split_output needs a cell made with return_weightings=True"):
        cell.split_output(_normal(B, U))
    weighting_cell = NTMCell(**SMALL, return_weightings=True)
    with _raises(f"outputs must have {U + 2 * N} features", "shape=(2, 5)"):
        weighting_cell.split_output(_normal(B, U))
