import doctest
import json
import math
import re

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import edge_demo
from edge_demo.recurrent import copy_inputs
import keras_attention_export as export
from keras_attention.data import ntm_tasks
from keras_attention.layers.ntm_cell import NTMCell
from keras_attention.models import ntm_models
from tests import harness

# Small enough that XLA compiles in seconds: memory N x M, controller C.
N, M, C = 8, 4, 16
BITS = 3
SMALL = dict(memory_size=N, memory_width=M, controller_units=C)


def _raises(*parts):
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def _copy_model(**kwargs):
    widths = ntm_models.task_widths("copy", BITS)
    return ntm_models.ntm_model(*widths, **{**SMALL, **kwargs})


def _chain(runner, cell, inputs, initial):
    """Step `runner` over `inputs` `[T, I]`; every step's logits and states."""
    states, logits, trace = dict(initial), [], []
    for x in inputs:
        results = runner(inputs=x[None], **states)
        states = {name: results[name] for name in cell.state_names}
        logits.append(results["logits"][0])
        trace.append(states)
    return np.stack(logits), trace


def test_module_docstring_example():
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    for test in finder.find(ntm_models, "ntm_models", globs=dict(vars(ntm_models))):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, result


def test_task_widths():
    assert ntm_models.task_widths("copy") == (9, 8)
    assert ntm_models.task_widths("repeat_copy") == (10, 9)
    assert ntm_models.task_widths("associative_recall") == (8, 6)
    assert ntm_models.task_widths("copy", num_bits=3) == (4, 3)
    # The widths are those of the task's batches.
    for task, batch in [
        ("copy", ntm_tasks.copy_batch(1, 1, 2)),
        ("repeat_copy", ntm_tasks.repeat_copy_batch(1, 1, 2, 1, 2)),
        ("associative_recall", ntm_tasks.associative_recall_batch(1, 2, 2)),
    ]:
        assert ntm_models.task_widths(task) == (batch[0].shape[-1], batch[1].shape[-1])


def test_models_fit_a_few_xla_steps():
    model = ntm_models.compile_task_model(_copy_model())
    history = ntm_models.train_task_model(
        model, "copy", steps=5, steps_per_epoch=2, batch_size=4,
        validation_batches=1, num_bits=BITS, max_length=3,
    ).history
    # 5 steps round up to 3 epochs of 2.
    assert len(history["loss"]) == 3
    assert {"loss", "bits_per_sequence", "val_loss", "val_bits_per_sequence"} <= set(
        history
    )
    assert all(math.isfinite(v) for values in history.values() for v in values)
    assert model.jit_compile
    # Every task's batches fit its model.
    for task, kwargs in [
        ("repeat_copy", dict(max_length=2, max_repeats=2)),
        ("associative_recall", dict(max_items=3)),
    ]:
        widths = ntm_models.task_widths(task)
        inputs, targets, _ = next(iter(
            ntm_models.task_dataset(task, batch_size=2, num_batches=1, **kwargs)
        ))
        logits = ntm_models.ntm_model(*widths, **SMALL)(inputs)
        assert logits.shape == targets.shape
    # The LSTM baseline, compiled by train_task_model itself.
    lstm = ntm_models.lstm_model(4, 3, units=8, num_layers=2)
    assert [layer.name for layer in lstm.layers[1:]] == ["lstm_1", "lstm_2", "logits"]
    history = ntm_models.train_task_model(
        lstm, "copy", steps=2, batch_size=4, num_bits=3, max_length=3
    ).history
    assert len(history["loss"]) == 1 and lstm.jit_compile
    assert isinstance(lstm.optimizer, keras.optimizers.Adam)


def test_compile_defaults_are_collier_and_beel():
    model = ntm_models.compile_task_model(_copy_model())
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert math.isclose(float(optimizer.learning_rate), 1e-3, rel_tol=1e-6)
    assert optimizer.clipvalue == 50.0
    assert model.jit_compile
    ntm_models.compile_task_model(model, optimizer="rmsprop", jit_compile=False)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert math.isclose(float(optimizer.learning_rate), 1e-4, rel_tol=1e-6)
    assert optimizer.momentum == 0.9 and optimizer.clipvalue == 50.0
    with _raises("optimizer must be one of ('adam', 'rmsprop')", "'sgd'"):
        ntm_models.compile_task_model(model, optimizer="sgd")


def test_loss_and_metric_count_the_output_phase_only():
    model = ntm_models.compile_task_model(_copy_model(), jit_compile=False)
    inputs, targets, weights = ntm_tasks.copy_batch(4, 1, 4, num_bits=BITS, seed=1)
    logits = np.asarray(model(inputs), "float64")
    # Binary cross-entropy from logits, per bit, in nats.
    cost = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    phase = weights > 0
    want_loss = cost[phase].mean()  # mean over the output phase's bits
    want_bits = (cost.sum(-1) * weights).sum(-1).mean() / math.log(2)
    got = model.evaluate(inputs, targets, sample_weight=weights, verbose=0,
                         return_dict=True)
    np.testing.assert_allclose(got["loss"], want_loss, rtol=1e-5)
    np.testing.assert_allclose(got["bits_per_sequence"], want_bits, rtol=1e-5)
    # Changing an input-phase target changes neither.
    targets[:, 0] = 1 - targets[:, 0]
    again = model.evaluate(inputs, targets, sample_weight=weights, verbose=0,
                           return_dict=True)
    np.testing.assert_allclose(again["loss"], got["loss"], rtol=1e-6)


def test_save_and_reload(tmp_path):
    model = ntm_models.compile_task_model(_copy_model(memory_init="learned"))
    ntm_models.train_task_model(model, "copy", steps=1, batch_size=2, num_bits=BITS,
                                max_length=2)
    inputs = ntm_tasks.copy_batch(2, 1, 3, num_bits=BITS, seed=2)[0]
    path = tmp_path / "ntm.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded(inputs), model(inputs), atol=1e-6, rtol=0)
    assert isinstance(reloaded.get_layer("ntm").cell, NTMCell)
    # Compiled as it was, optimizer state included, to train on.
    assert reloaded.jit_compile and reloaded.optimizer.clipvalue == 50.0
    assert int(reloaded.optimizer.iterations) == 1


def test_weightings_are_the_models():
    model = _copy_model(num_read_heads=2)
    inputs = ntm_tasks.copy_batch(2, 3, 3, num_bits=BITS, seed=3)[0]  # T = 7
    logits, read, write = ntm_models.ntm_weightings(model, inputs)
    np.testing.assert_allclose(logits, model(inputs), atol=1e-6, rtol=0)
    assert read.shape == (2, 7, 2, N) and write.shape == (2, 7, 1, N)
    np.testing.assert_allclose(read.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(write.sum(-1), 1.0, atol=1e-5)


def test_step_signature_round_trip_equals_keras_in_float32(tmp_path):
    model = _copy_model(memory_init="learned")
    cell = model.get_layer("ntm").cell
    inputs = ntm_tasks.copy_batch(1, 5, 5, num_bits=BITS, seed=4)[0]  # [1, 11, 4]
    path = str(tmp_path / "ntm.tflite")
    export.export_tflite(
        model, path, mode="float32", signatures=ntm_models.ntm_step_signatures(model),
        task=ntm_models.ntm_copy_metadata(model, max_length=5),
    )
    interpreter = Interpreter(model_path=path)
    runner = interpreter.get_signature_runner("step")
    initial = ntm_models.ntm_initial_state(model)
    logits, trace = _chain(runner, cell, inputs[0], initial)
    np.testing.assert_allclose(logits, model(inputs)[0], atol=harness.FLOAT32_ATOL,
                               rtol=0)
    # Every state the device carried is the one Keras computes.
    states = cell.get_initial_state(batch_size=1)
    for t, device_states in enumerate(trace):
        _, states = cell(inputs[:, t], states)
        for name, want in zip(cell.state_names, states):
            np.testing.assert_allclose(
                device_states[name], want, atol=harness.FLOAT32_ATOL, rtol=0,
                err_msg=f"step {t} {name}",
            )
    # The metadata holds the learned initial state exactly, and edge_demo,
    # starting from it, copies as Keras does.
    with open(str(tmp_path / "ntm.json"), encoding="utf-8") as f:
        task = json.load(f)["task"]
    assert task["state_names"] == cell.state_names and task["max_length"] == 5
    for name, value in initial.items():
        np.testing.assert_array_equal(
            np.asarray(task["initial_state"][name], "float32"), value[0]
        )
    device = edge_demo.load(path)
    stepped = device.run_steps(inputs[0])
    np.testing.assert_allclose(stepped.outputs, logits, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(
        copy_inputs(inputs[0, :5, :BITS]), inputs[0]
    )


# Dynamic range stores the kernels of at least 1024 weights in int8 (here
# the controller's [E + R*M, 4C] = [8, 128] and [C, 4C] = [32, 128]) and
# quantizes their inputs on the fly, per row: an error of a fraction of a
# percent on those products. Over 11 chained steps the logits moved by at
# most 0.8% of the largest logit (5 seeds measured); 3% leaves room for
# kernel differences and still fails a broken quantization or state chain.
DYNAMIC_RTOL = 0.03


def test_dynamic_range_chain_stays_close_to_keras():
    model = _copy_model(controller_units=32)
    cell = model.get_layer("ntm").cell
    inputs = ntm_tasks.copy_batch(1, 5, 5, num_bits=BITS, seed=0)[0]
    signatures = ntm_models.ntm_step_signatures(model)
    sizes = {}
    for mode in ("float32", "dynamic"):
        flatbuffer = export.convert(model, mode=mode, signatures=signatures)
        sizes[mode] = len(flatbuffer)
        runner = Interpreter(
            model_content=flatbuffer
        ).get_signature_runner("step")
        logits, _ = _chain(runner, cell, inputs[0], ntm_models.ntm_initial_state(model))
        want = np.asarray(model(inputs)[0])
        error = np.abs(logits - want).max()
        if mode == "float32":
            assert error < harness.FLOAT32_ATOL
        else:  # quantized, so not exact, but close
            assert 0 < error < DYNAMIC_RTOL * np.abs(want).max(), error
    assert sizes["dynamic"] < 0.8 * sizes["float32"]


def test_int8_calibrates_on_recorded_states():
    model = _copy_model()
    cell = model.get_layer("ntm").cell
    inputs = ntm_tasks.copy_batch(3, 1, 3, num_bits=BITS, seed=6)[0]  # [3, 7, 4]
    data = ntm_models.ntm_representative_data(model, inputs)
    assert set(data) == {"step"}
    recorded = data["step"]
    assert set(recorded) == {"inputs", *cell.state_names}
    assert recorded["inputs"].shape == (21, BITS + 1)
    assert recorded["memory"].shape == (21, N * M)
    # Sample t * B + b is sequence b's step t: step 0 holds the initial state.
    initial = ntm_models.ntm_initial_state(model)
    for name in cell.state_names:
        np.testing.assert_allclose(recorded[name][:3], np.repeat(initial[name], 3, 0))
    np.testing.assert_array_equal(recorded["inputs"][3:6], inputs[:, 1])
    flatbuffer = export.convert(
        model, mode="int8", signatures=ntm_models.ntm_step_signatures(model),
        representative_data=data, num_calibration_samples=100,
    )
    runner = Interpreter(model_content=flatbuffer).get_signature_runner(
        "step"
    )
    logits, _ = _chain(runner, cell, inputs[0], initial)
    assert np.isfinite(logits).all()


def test_copy_metadata():
    model = _copy_model()
    task = ntm_models.ntm_copy_metadata(model)
    assert task["kind"] == "ntm_copy" and task["num_bits"] == BITS
    assert (task["signature"], task["input"], task["output"]) == (
        "step", "inputs", "logits"
    )
    assert "max_length" not in task
    sizes = {k: len(v) for k, v in task["initial_state"].items()}
    cell = model.get_layer("ntm").cell
    assert sizes == dict(zip(task["state_names"], cell.state_size))
    json.dumps(task)  # plain JSON


def test_bad_arguments_raise():
    with _raises("task must be one of ('copy', 'repeat_copy', 'associative_recall')",
                 "task='sort'"):
        ntm_models.task_widths("sort")
    with _raises("num_bits must be a positive int", "num_bits=0"):
        ntm_models.task_widths("copy", num_bits=0)
    with _raises("input_width must be a positive int", "input_width=0"):
        ntm_models.ntm_model(0, 3)
    with _raises("num_layers must be a positive int", "num_layers=0"):
        ntm_models.lstm_model(4, 3, num_layers=0)
    with _raises("steps must be a positive int", "steps=0"):
        ntm_models.train_task_model(_copy_model(), "copy", steps=0)
    with _raises("holding exactly one", "'lstm' with 0"):
        ntm_models.ntm_step_signatures(ntm_models.lstm_model(4, 3, units=4))
    with _raises("is not built"):
        ntm_models.ntm_initial_state(NTMCell(3, **SMALL))
    with _raises("reads num_bits + 1 features and writes num_bits",
                 "reads 8 and writes 6"):
        ntm_models.ntm_copy_metadata(
            ntm_models.ntm_model(*ntm_models.task_widths("associative_recall"), **SMALL)
        )
    with _raises("max_length must be a positive int"):
        ntm_models.ntm_copy_metadata(_copy_model(), max_length=0)
