"""A recurrent step signature on the device, and the NTM copy task on it.

A recurrent model exports one step (by default the signature `step`): it
takes one step's input and every state by name, and gives the step's output
and every state's next value under the same name. The task names them:
`"input"` (default `"inputs"`), `"output"` (default `"outputs"`),
`"state_names"`, and `"initial_state"` (`{name: values of one sequence}`,
the model's learned initial state). `run_steps` carries the state from step
to step; `copy_sequence` runs a Neural Turing Machine's copy task.
"""

import dataclasses
import time

import numpy as np

from edge_demo.contract import MAX_STEPS, ms_since
from edge_demo.errors import EdgeModelError

# The longest sequence `copy_sequence` copies: `2L + 1` steps within
# `contract.MAX_STEPS`.
MAX_COPY_LENGTH = (MAX_STEPS - 1) // 2


@dataclasses.dataclass
class Stepped:
    """What `run_steps` returns.

    Attributes:
        outputs: the output of every step, `[T, ...]`.
        states: the state after the last step, by name.
        step_ms: milliseconds each step took, in order.
    """

    outputs: np.ndarray
    states: dict
    step_ms: list


@dataclasses.dataclass
class Copied:
    """What `copy_sequence` returns.

    Attributes:
        bits: the sequence given, `[L, K]` of 0 and 1.
        logits: the model's output in the output phase, `[L, K]`.
        copied: the bits it wrote, `logits > 0`, `[L, K]` of 0 and 1.
        errors: wrong bits, an int.
        step_ms: milliseconds each of the `2L + 1` steps took.
    """

    bits: np.ndarray
    logits: np.ndarray
    copied: np.ndarray
    errors: int
    step_ms: list


def run_steps(model, inputs, states=None):
    """Run a recurrent model's step signature once per step, carrying the state.

    The first step starts from `states`, or from the task's
    `"initial_state"`.

    Args:
        model: an `EdgeModel` whose task has `"state_names"`.
        inputs: `[T, ...]`, one step's input per row: the signature's
            input shape, or without its batch axis when that is 1.
        states: optional `{name: array}` to start from.

    Returns:
        A `Stepped`: every step's output (`[T, ...]`, shaped like the
        inputs), the last state and each step's latency.
    """
    task = model.task_fields("state_names")
    signature = task.get("signature", "step")
    input_name, output_name = step_names(model, signature)
    (input_spec,) = [
        t for t in model.spec(signature)["inputs"] if t["name"] == input_name
    ]
    steps = np.asarray(inputs)
    shape = input_spec["shape"]
    unbatched = shape[0] == 1 and list(steps.shape[1:]) == shape[1:]
    if unbatched:
        steps = steps[:, None]
    if steps.ndim < 1 or list(steps.shape[1:]) != shape:
        raise EdgeModelError(
            f"{model.model_path}: run_steps takes inputs [T] + {shape} (or "
            f"[T] + {shape[1:]} for batch 1), received {list(np.shape(inputs))}"
        )
    states = dict(initial_state(model, signature) if states is None else states)
    outputs, step_ms = [], []
    for x in steps:
        start = time.perf_counter()
        out = model.run(signature, **{input_name: x}, **states)
        step_ms.append(ms_since(start))
        outputs.append(out[output_name][0] if unbatched else out[output_name])
        states = {name: out[name] for name in task["state_names"]}
    return Stepped(np.stack(outputs), states, step_ms)


def step_names(model, signature):
    """`(input name, output name)`, after checking the step signature takes
    the input and the states and gives the output and the states."""
    task = model.task
    states = list(task["state_names"])
    input_name = task.get("input", "inputs")
    output_name = task.get("output", "outputs")
    spec = model.spec(signature)
    want_in = sorted(states + [input_name])
    found_in = sorted(t["name"] for t in spec["inputs"])
    found_out = sorted(t["name"] for t in spec["outputs"])
    if found_in != want_in or not set(states + [output_name]) <= set(found_out):
        raise EdgeModelError(
            f"{model.model_path}: signature {signature!r} must take {want_in} "
            f"and give {sorted(states + [output_name])} (the task's states "
            f"{states}); it takes {found_in} and gives {found_out}"
        )
    return input_name, output_name


def initial_state(model, signature):
    """The task's `initial_state`, each shaped as the signature's input."""
    initial = model.task_fields("initial_state")["initial_state"]
    specs = {t["name"]: t for t in model.spec(signature)["inputs"]}
    states = {}
    for name in model.task["state_names"]:
        if name not in initial:
            raise EdgeModelError(
                f"{model.metadata_path}: task initial_state has no {name!r}"
            )
        values = np.asarray(initial[name], np.float32)
        shape = specs[name]["shape"]
        if values.size != int(np.prod(shape[1:])):
            raise EdgeModelError(
                f"{model.metadata_path}: initial_state {name!r} holds "
                f"{values.size} values, the signature's state {shape} takes "
                f"{int(np.prod(shape[1:]))} per sequence"
            )
        # The same start for every sequence of the batch.
        states[name] = np.broadcast_to(values.reshape(shape[1:]), shape)
    return states


def copy_inputs(bits):
    """The copy task's input sequence for `bits` `[L, K]`: `[2L + 1, K + 1]`.

    The layout of `keras_attention.data.ntm_tasks.copy_batch`: the vectors
    at steps `0..L-1`, the delimiter (channel `K`) at step `L`, then `L`
    steps of zeros, during which the model writes the copy.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2 or not 1 <= bits.shape[0] <= MAX_COPY_LENGTH:
        raise EdgeModelError(
            "a copy sequence must be an [L, K] array with 1 <= L <= "
            f"{MAX_COPY_LENGTH}, received shape {list(bits.shape)}"
        )
    if not np.isin(bits, (0, 1)).all():
        raise EdgeModelError(
            "a copy sequence must hold 0 and 1 only, received values "
            f"{sorted(set(np.unique(bits).tolist()) - {0, 1})[:5]}"
        )
    length, width = bits.shape
    inputs = np.zeros((2 * length + 1, width + 1), np.float32)
    inputs[:length, :width] = bits
    inputs[length, width] = 1.0
    return inputs


def copy_sequence(model, bits):
    """Copy `bits` `[L, K]` (0 and 1) with an NTM copy model, step by step.

    Feeds `copy_inputs(bits)` through `run_steps` and reads the output
    phase, the last `L` steps, as logits (a bit is 1 where its logit is
    positive). Needs a task of kind `"ntm_copy"` with `"num_bits"` K.

    Returns:
        A `Copied`.
    """
    num_bits = model.task_fields("num_bits")["num_bits"]
    bits = np.asarray(bits)
    if bits.ndim == 2 and bits.shape[1] != num_bits:
        raise EdgeModelError(
            f"{model.model_path} copies vectors of {num_bits} bits, "
            f"received {bits.shape[1]} per step"
        )
    inputs = copy_inputs(bits)
    length = len(bits)
    stepped = run_steps(model, inputs)
    logits = stepped.outputs[length + 1 :].reshape(length, -1)  # [L, K]
    copied = (logits > 0).astype(np.int64)
    errors = int(np.sum(copied != bits))
    return Copied(bits.astype(np.int64), logits, copied, errors, stepped.step_ms)
