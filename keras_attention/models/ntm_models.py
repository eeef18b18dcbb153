"""Reference models for the Neural Turing Machine's tasks, and their export.

`ntm_model` is `keras.layers.RNN(NTMCell(...), return_sequences=True)` over a
task's inputs, giving one logit per target bit and step; `lstm_model` is the
LSTM baseline of Graves, Wayne and Danihelka (2014), Table 3: three layers of
256 units for copy and associative recall (they used 3 x 512 for repeat
copy: pass `units=512`). Collier and Beel (2018) compare their NTM with the
same kind of baseline. Both train on the tasks of
`keras_attention.data.ntm_tasks` with `compile_task_model` (Collier and
Beel's defaults: Adam 1e-3, or RMSProp 1e-4 with momentum 0.9, gradient
values clipped to [-50, 50], `jit_compile=True`, binary cross-entropy from
logits over the output phase only) and `train_task_model` (batches of 32).

For a device, `ntm_step_signatures` exports one step of the cell with the
state as explicit inputs and outputs, so that the device carries it from
step to step: inputs `inputs` `[B, I]` and every state by
`NTMCell.state_names`, outputs `logits` `[B, O]` and the next value of
every state under the same name (builtin TFLite ops only, no loop, so the
calibrated int8 mode works too). The initial state is learned; the device
gets it from the metadata (`ntm_copy_metadata`: `task["initial_state"]`,
exact float32 values per state name), not from a signature, so that it
needs no TensorFlow and no quantized copy of it.

Shapes: `B` batch, `T` steps, `I` input features, `O` output bits, `N`
memory rows, `R` read heads, `W` write heads.

Example:

>>> model = ntm_model(*task_widths("copy"), memory_size=16, memory_width=4,
...                   controller_units=16)
>>> tuple(model(np.zeros((2, 7, 9), "float32")).shape)
(2, 7, 8)
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.data import ntm_tasks
from keras_attention.layers._validation import check_positive_int
from keras_attention.layers.ntm_cell import NTMCell
from keras_attention.models._optimizer import build_optimizer
from keras_attention.models.signature import Signature, TensorSpec

TASKS = ("copy", "repeat_copy", "associative_recall")
OPTIMIZERS = ("adam", "rmsprop")
# Collier and Beel's settings (their sec. 4; Graves et al.'s RMSProp).
LEARNING_RATES = {"adam": 1e-3, "rmsprop": 1e-4}
RMSPROP_MOMENTUM = 0.9
CLIP_VALUE = 50.0
BATCH_SIZE = 32

_DATASETS = {
    "copy": ntm_tasks.copy_dataset,
    "repeat_copy": ntm_tasks.repeat_copy_dataset,
    "associative_recall": ntm_tasks.associative_recall_dataset,
}


def _check_task(task):
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, received task={task!r}")


def task_widths(task, num_bits=None):
    """`(input_width, output_width)` of a task's batches (see `ntm_tasks`).

    Args:
        task: one of `TASKS`.
        num_bits: the width of the task's vectors; by default the task's
            (8, or 6 for associative recall).
    """
    _check_task(task)
    if num_bits is None:
        num_bits = (
            ntm_tasks.ASSOCIATIVE_RECALL_BITS
            if task == "associative_recall"
            else ntm_tasks.NUM_BITS
        )
    check_positive_int("num_bits", num_bits)
    return {
        "copy": (num_bits + 1, num_bits),
        "repeat_copy": (num_bits + 2, num_bits + 1),
        "associative_recall": (num_bits + 2, num_bits),
    }[task]


def ntm_model(
    input_width,
    output_width,
    memory_size=128,
    memory_width=20,
    controller_units=100,
    controller="lstm",
    num_read_heads=1,
    num_write_heads=1,
    shift_range=1,
    clip_value=20.0,
    memory_init="constant",
    kernel_initializer="glorot_uniform",
    seed=None,
    name="ntm",
):
    """An NTM over a task's sequences: inputs `[B, T, I]`, logits `[B, T, O]`.

    Collier and Beel's configuration by default: memory 128 x 20, one read
    and one write head, shifts -1..+1, an LSTM controller of 100 units,
    constant memory initialisation, head parameters and outputs clipped to
    [-20, 20]. The output is the cell's (clipped) projection, read as
    logits: `sigmoid` gives the bits' probabilities.

    Args:
        input_width, output_width: `I` and `O`, see `task_widths`.
        memory_size, memory_width, controller_units, controller,
        num_read_heads, num_write_heads, shift_range, clip_value,
        memory_init, kernel_initializer, seed: passed to `NTMCell`
            (`units=output_width`).
        name: the model's.

    Returns:
        An uncompiled functional `keras.Model`; its layer `"ntm"` is the
        `keras.layers.RNN` whose cell is the `NTMCell`.
    """
    check_positive_int("input_width", input_width)
    check_positive_int("output_width", output_width)
    cell = NTMCell(
        units=output_width,
        controller=controller,
        controller_units=controller_units,
        memory_size=memory_size,
        memory_width=memory_width,
        num_read_heads=num_read_heads,
        num_write_heads=num_write_heads,
        shift_range=shift_range,
        clip_value=clip_value,
        memory_init=memory_init,
        kernel_initializer=kernel_initializer,
        seed=seed,
        name="ntm_cell",
    )
    inputs = keras.Input((None, input_width), name="inputs")  # [B, T, I]
    logits = keras.layers.RNN(cell, return_sequences=True, name="ntm")(inputs)
    return keras.Model(inputs, logits, name=name)  # [B, T, O]


def lstm_model(input_width, output_width, units=256, num_layers=3, name="lstm"):
    """The LSTM baseline: `num_layers` LSTMs of `units`, then a dense layer.

    Graves et al.'s copy and associative-recall baseline by default (3 x
    256). Inputs `[B, T, I]`, logits `[B, T, O]`.
    """
    check_positive_int("input_width", input_width)
    check_positive_int("output_width", output_width)
    check_positive_int("units", units)
    check_positive_int("num_layers", num_layers)
    inputs = keras.Input((None, input_width), name="inputs")
    hidden = inputs
    for index in range(num_layers):
        hidden = keras.layers.LSTM(
            units, return_sequences=True, name=f"lstm_{index + 1}"
        )(hidden)  # [B, T, units]
    logits = keras.layers.Dense(output_width, name="logits")(hidden)  # [B, T, O]
    return keras.Model(inputs, logits, name=name)


def compile_task_model(
    model, optimizer="adam", learning_rate=None, clipvalue=CLIP_VALUE, jit_compile=True
):
    """Compile `model` for an NTM task, with Collier and Beel's defaults.

    The loss is binary cross-entropy from logits, averaged over the bits of
    the output phase (the sample weights, `reduction="mean_with_sample_weight"`);
    the metric is `ntm_tasks.BitsPerSequence`, the papers' cost, as a
    weighted metric so that it counts the output phase only.

    Args:
        model: from `ntm_model` or `lstm_model`, or any model giving logits
            `[B, T, O]`.
        optimizer: `"adam"` (Adam, 1e-3 by default) or `"rmsprop"`
            (RMSProp, 1e-4, momentum 0.9, as Graves et al.), or a
            `keras.optimizers.Optimizer` used as it is (`learning_rate`
            and `clipvalue` are then ignored).
        learning_rate: overrides the optimizer's default.
        clipvalue: every gradient value is clipped to
            `[-clipvalue, clipvalue]` (Collier and Beel's 50), or `None`.
        jit_compile: compile the train step with XLA.

    Returns:
        `model`, compiled.
    """
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {OPTIMIZERS} or a keras optimizer, "
                f"received optimizer={optimizer!r}"
            )
        rate = LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
        if optimizer == "adam":
            optimizer = keras.optimizers.Adam(rate, clipvalue=clipvalue)
        else:
            optimizer = keras.optimizers.RMSprop(
                rate, momentum=RMSPROP_MOMENTUM, clipvalue=clipvalue
            )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[ntm_tasks.BitsPerSequence(from_logits=True)],
        jit_compile=jit_compile,
    )
    return build_optimizer(model)


def task_dataset(task, batch_size=BATCH_SIZE, seed=0, num_batches=None, **arguments):
    """The task's `tf.data` pipeline (see `ntm_tasks`), by name."""
    _check_task(task)
    return _DATASETS[task](
        batch_size=batch_size, seed=seed, num_batches=num_batches, **arguments
    )


def train_task_model(
    model,
    task,
    steps,
    steps_per_epoch=100,
    batch_size=BATCH_SIZE,
    seed=0,
    validation_batches=0,
    callbacks=None,
    verbose=0,
    **task_arguments,
):
    """Train `model` on `steps` fresh batches of a task; returns the history.

    Every batch is new (batch `b` of `task_dataset(task, seed=seed)`); an
    epoch is `steps_per_epoch` of them, so the history has a point every
    `steps_per_epoch` steps (`steps` is rounded up to whole epochs). A
    model that is not compiled yet is compiled with `compile_task_model`'s
    defaults.

    Args:
        model: a model giving logits `[B, T, O]` for the task's inputs.
        task: one of `TASKS`.
        steps: the number of training batches.
        steps_per_epoch: batches between history points.
        batch_size: Collier and Beel's 32.
        seed: of the training batches.
        validation_batches: when positive, that many batches of the same
            task (seed `seed + 10_000`, the same every epoch, each example
            with its own length so that every batch covers the range) are
            evaluated after each epoch (`val_loss`, `val_bits_per_sequence`).
        callbacks, verbose: passed to `fit`.
        **task_arguments: to the task's dataset, e.g. `min_length=1,
            max_length=20` (and `length_sampling`, one length per batch
            by default).

    Returns:
        The `keras.callbacks.History`.
    """
    _check_task(task)
    check_positive_int("steps", steps)
    check_positive_int("steps_per_epoch", steps_per_epoch)
    if not getattr(model, "compiled", False):
        compile_task_model(model)
    per_epoch = min(steps_per_epoch, steps)
    validation = None
    if validation_batches:
        validation = task_dataset(
            task, batch_size, seed=seed + 10_000, num_batches=validation_batches,
            **{**task_arguments, "length_sampling": "example"},
        )
    return model.fit(
        task_dataset(task, batch_size, seed=seed, **task_arguments),
        steps_per_epoch=per_epoch,
        epochs=math.ceil(steps / per_epoch),
        shuffle=False,  # a generated stream; Keras would warn it cannot shuffle
        validation_data=validation,
        callbacks=callbacks,
        verbose=verbose,
    )


# -- the cell inside a model ------------------------------------------------------


def _ntm_cell(model_or_cell):
    """The `NTMCell` of a model (the only one), or the cell itself."""
    if isinstance(model_or_cell, NTMCell):
        cell = model_or_cell
    else:
        cells = [
            layer
            for layer in model_or_cell._flatten_layers(include_self=False)
            if isinstance(layer, NTMCell)
        ]
        if len(cells) != 1:
            raise ValueError(
                "model_or_cell must be an NTMCell or a model holding exactly one, "
                f"received {type(model_or_cell).__name__} {model_or_cell.name!r} "
                f"with {len(cells)}"
            )
        (cell,) = cells
    if not cell.built:
        raise ValueError(
            f"the NTMCell {cell.name!r} is not built: call the model (or build "
            "the cell) first"
        )
    return cell


def _input_width(cell):
    # The controller reads the input and the read vectors: E + R*M rows.
    rows = cell.controller_layer.kernel.shape[0]
    return rows - cell.num_read_heads * cell.memory_width


def ntm_weightings(model_or_cell, inputs):
    """Logits and every head's weighting at every step, for plots.

    Runs a copy of the model's cell made with `return_weightings=True` and
    the same weights over `inputs`.

    Args:
        model_or_cell: a model from `ntm_model` (or any with one `NTMCell`),
            or the cell.
        inputs: `[B, T, I]`.

    Returns:
        numpy `(logits [B, T, O], read_weightings [B, T, R, N],
        write_weightings [B, T, W, N])`.
    """
    cell = _ntm_cell(model_or_cell)
    config = {**cell.get_config(), "return_weightings": True}
    twin = NTMCell.from_config(config)
    rnn = keras.layers.RNN(twin, return_sequences=True)
    rnn.build((None, None, _input_width(cell)))
    twin.set_weights(cell.get_weights())
    outputs = rnn(np.asarray(inputs, "float32"))
    return tuple(ops.convert_to_numpy(part) for part in twin.split_output(outputs))


def ntm_initial_state(model_or_cell):
    """The learned initial state of one sequence: `{state name: [1, size]}`."""
    cell = _ntm_cell(model_or_cell)
    states = cell.get_initial_state(batch_size=1)
    return {
        name: ops.convert_to_numpy(state).astype("float32")
        for name, state in zip(cell.state_names, states)
    }


def ntm_step_signatures(model_or_cell, batch_size=1):
    """`{"step": Signature}`: one step of the NTM with its state explicit.

    Inputs `inputs` `[B, I]` and every state `[B, size]` by
    `NTMCell.state_names`; outputs `logits` `[B, O]` and each state's next
    value under the same name. Chaining `step` from `ntm_initial_state`
    gives the model's outputs step by step. Pass to `export.convert` or
    `export.export_tflite` as `signatures=` with the model.
    """
    check_positive_int("batch_size", batch_size)
    cell = _ntm_cell(model_or_cell)
    specs = [
        TensorSpec((batch_size, _input_width(cell)), "float32", name="inputs")
    ] + [
        TensorSpec((batch_size, size), "float32", name=name)
        for name, size in zip(cell.state_names, cell.state_size)
    ]

    def step(inputs, *states):
        output, new_states = cell(inputs, list(states), training=False)
        return {
            "logits": output[:, : cell.units],  # without any weightings
            **dict(zip(cell.state_names, new_states)),
        }

    return {"step": Signature(step, specs)}


def ntm_representative_data(model_or_cell, inputs):
    """Calibration samples for the `step` signature, recorded from `inputs`.

    Runs the cell over `inputs` `[B, T, I]` step by step from the initial
    state and records every step's input and incoming state: `B * T`
    samples, as `{"step": {input name: [B * T, size]}}`, the form
    `export.convert(representative_data=...)` takes for a signature of
    batch 1 (give `num_calibration_samples` at least `B * T` to use all).
    """
    cell = _ntm_cell(model_or_cell)
    inputs = np.asarray(inputs, "float32")
    batch, steps = inputs.shape[:2]
    states = cell.get_initial_state(batch_size=batch)
    recorded = {name: [] for name in ["inputs"] + cell.state_names}
    for t in range(steps):
        recorded["inputs"].append(inputs[:, t])
        for name, state in zip(cell.state_names, states):
            recorded[name].append(ops.convert_to_numpy(state))
        _, states = cell(inputs[:, t], states, training=False)
    # Step-major: sample t * B + b is sequence b's step t.
    return {"step": {name: np.concatenate(v, axis=0) for name, v in recorded.items()}}


def ntm_copy_metadata(model_or_cell, max_length=None):
    """The `task` of an exported copy model, for `edge_demo`.

    `{"kind": "ntm_copy", "signature": "step", "input": "inputs",
    "output": "logits", "num_bits", "state_names", "initial_state":
    {name: [values]}, ...}`: the device starts from `initial_state` (exact
    float32 values, one list per state of one sequence) and feeds each
    step's states to the next. `max_length`, the longest training
    sequence, is the device's default length.
    """
    cell = _ntm_cell(model_or_cell)
    num_bits = _input_width(cell) - 1
    if cell.units != num_bits:
        raise ValueError(
            "a copy model reads num_bits + 1 features and writes num_bits; "
            f"this one reads {num_bits + 1} and writes {cell.units}"
        )
    initial = ntm_initial_state(cell)
    task = {
        "kind": "ntm_copy",
        "signature": "step",
        "input": "inputs",
        "output": "logits",
        "num_bits": num_bits,
        "memory_size": cell.memory_size,
        "memory_width": cell.memory_width,
        "num_read_heads": cell.num_read_heads,
        "num_write_heads": cell.num_write_heads,
        "state_names": cell.state_names,
        # float32 -> Python float is exact, and so is JSON's repr of it.
        "initial_state": {
            name: [float(v) for v in value.ravel()] for name, value in initial.items()
        },
    }
    if max_length is not None:
        check_positive_int("max_length", max_length)
        task["max_length"] = max_length
    return task

