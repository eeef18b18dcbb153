"""A Neural Turing Machine as a Keras RNN cell (Graves, Wayne and Danihelka 2014)."""

import keras
from keras import ops

from keras_attention.layers._initializers import SUBLAYER_SALT, clone_initializer
from keras_attention.layers._ntm_addressing import (
    address,
    decode_head_parameters,
    read,
    write,
)
from keras_attention.layers._ntm_state import NTMState
from keras_attention.layers._validation import check_positive_int

CONTROLLERS = ("lstm", "dense")
MEMORY_INITS = ("constant", "learned", "random")


@keras.saving.register_keras_serializable(package="keras_attention")
class NTMCell(NTMState, keras.layers.Layer):
    """A Neural Turing Machine: a controller that reads and writes a memory.

    Graves, Wayne and Danihelka (2014), "Neural Turing Machines", with the
    choices Collier and Beel (2018), "Implementing Neural Turing Machines",
    found to make it train reliably. Each step:

    1. the controller (an LSTM or a feed-forward layer) reads the input and
       the previous step's read vectors;
    2. a dense layer maps its output to every head's parameters, clipped to
       `[-clip_value, clip_value]`: key `k = tanh`, strength
       `beta = softplus`, gate `g = sigmoid`, shift distribution `s =
       softmax` over `-shift_range..+shift_range`, sharpening
       `gamma = 1 + softplus` (so at least one); a write head adds
       erase `e = sigmoid` and add `a = tanh` vectors;
    3. each head addresses the memory (sec. 3.3): content weighting by
       cosine similarity with an epsilon, interpolation with its previous
       weighting, circular shift, sharpening;
    4. the read heads read the memory as it was, then the write heads erase
       and add;
    5. the output is a dense projection of the controller output and the
       new read vectors to `units`, clipped like the parameters (Collier and
       Beel's output layer; give it the task's output width, and apply a
       sigmoid or softmax in the loss).

    Addressing, reads and writes run in float32 under mixed precision; the
    states they produce are cast to the compute dtype, in which
    `keras.layers.RNN` carries every state.

    The initial state is learned, as Collier and Beel recommend: the read
    vectors are `tanh` of a weight and each head's weighting a `softmax` of
    a weight, both drawn with `kernel_initializer` (a flat weighting would
    leave identical rows identical forever); the controller starts from
    zeros; the memory from `memory_init`.

    The state is a flat list of 2-D tensors, in the order of `state_names`:
    `[h, c]` (LSTM only), read vectors `[B, R*M]`, read weightings
    `[B, R*N]`, write weightings `[B, W*N]` and memory `[B, N*M]`, each
    head's or row's values contiguous. A step exported for a device takes
    and returns exactly these; `split_state` reshapes them per head and row.

    Shapes: `B` batch, `E` input features, `N` memory rows, `M` memory
    width, `R` read heads, `W` write heads, `C` controller units, `U` units.

    Args:
        units: output features `U`.
        controller: `"lstm"` (a `keras.layers.LSTMCell`) or `"dense"` (a
            feed-forward `tanh` layer, no state of its own).
        controller_units: `C`.
        memory_size: rows `N`.
        memory_width: row width `M`.
        num_read_heads: `R`.
        num_write_heads: `W`.
        shift_range: the largest shift, in rows; the shifts are
            `-shift_range..shift_range`, at most `N` distinct ones.
        clip_value: bound of the head parameters and of the output.
        memory_init: `"constant"` (every entry 1e-6, Collier and Beel's
            recommendation), `"learned"` (`tanh` of a trainable weight) or
            `"random"` (a truncated normal with stddev 0.5, drawn once at
            build with `seed` and kept as a non-trainable weight).
        return_weightings: append every head's weighting to the output, so
            that `keras.layers.RNN(..., return_sequences=True)` returns them
            for plots; `split_output` takes them apart.
        kernel_initializer: of every kernel and of the learned initial
            state; each gets its own copy.
        seed: of the `"random"` memory.

    Call arguments:
        inputs: one step's input, `[B, E]`.
        states: the list from `get_initial_state`, or the previous step's
            `new_states`.
        training: passed to the controller.

    Returns:
        `(output, new_states)`, output `[B, U]`, or `[B, U + (R + W) * N]`
        with `return_weightings` (the output, then the read heads' and the
        write heads' weightings of this step).

    Example:

    >>> cell = NTMCell(units=8, memory_size=16, memory_width=4,
    ...                controller_units=16)
    >>> ntm = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(ntm(keras.random.normal((2, 5, 9))).shape)
    (2, 5, 8)
    >>> cell.state_size  # [h, c, reads, read and write weightings, memory]
    [16, 16, 4, 16, 16, 64]
    """

    def __init__(
        self,
        units,
        controller="lstm",
        controller_units=100,
        memory_size=128,
        memory_width=20,
        num_read_heads=1,
        num_write_heads=1,
        shift_range=1,
        clip_value=20.0,
        memory_init="constant",
        return_weightings=False,
        kernel_initializer="glorot_uniform",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("units", units)
        if controller not in CONTROLLERS:
            raise ValueError(
                f"controller must be one of {CONTROLLERS}, "
                f"received controller={controller!r}"
            )
        for name, value in [
            ("controller_units", controller_units),
            ("memory_size", memory_size),
            ("memory_width", memory_width),
            ("num_read_heads", num_read_heads),
            ("num_write_heads", num_write_heads),
        ]:
            check_positive_int(name, value)
        largest_shift = (memory_size - 1) // 2
        if (
            not isinstance(shift_range, int)
            or isinstance(shift_range, bool)
            or not 0 <= shift_range <= largest_shift
        ):
            raise ValueError(
                "shift_range must be an int in [0, (memory_size - 1) // 2] = "
                f"[0, {largest_shift}] (2 * shift_range + 1 distinct shifts of "
                f"memory_size={memory_size} rows), received shift_range={shift_range!r}"
            )
        if (
            not isinstance(clip_value, (int, float))
            or isinstance(clip_value, bool)
            or not clip_value > 0
        ):
            raise ValueError(
                "clip_value must be a positive number, "
                f"received clip_value={clip_value!r}"
            )
        if memory_init not in MEMORY_INITS:
            raise ValueError(
                f"memory_init must be one of {MEMORY_INITS}, "
                f"received memory_init={memory_init!r}"
            )
        self.units = units
        self.controller = controller
        self.controller_units = controller_units
        self.memory_size = memory_size
        self.memory_width = memory_width
        self.num_read_heads = num_read_heads
        self.num_write_heads = num_write_heads
        self.shift_range = shift_range
        self.clip_value = float(clip_value)
        self.memory_init = memory_init
        self.return_weightings = bool(return_weightings)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed

        if controller == "lstm":
            self.controller_layer = keras.layers.LSTMCell(
                controller_units,
                kernel_initializer=clone_initializer(self.kernel_initializer, 1),
                dtype=self.dtype_policy,
                name="controller",
            )
        else:
            self.controller_layer = keras.layers.Dense(
                controller_units,
                activation="tanh",
                kernel_initializer=clone_initializer(self.kernel_initializer, 1),
                dtype=self.dtype_policy,
                name="controller",
            )
        self.head_parameters = keras.layers.Dense(
            self._num_head_parameters,
            kernel_initializer=clone_initializer(
                self.kernel_initializer, SUBLAYER_SALT
            ),
            dtype=self.dtype_policy,
            name="head_parameters",
        )
        self.output_projection = keras.layers.Dense(
            units,
            kernel_initializer=clone_initializer(
                self.kernel_initializer, 2 * SUBLAYER_SALT
            ),
            dtype=self.dtype_policy,
            name="output_projection",
        )
        self._num_controller_states = 2 if controller == "lstm" else 0

    # -- sizes ----------------------------------------------------------------

    @property
    def _num_heads(self):
        return self.num_read_heads + self.num_write_heads

    @property
    def _addressing_width(self):
        # key M, beta, g, shifts 2R + 1, gamma
        return self.memory_width + 2 * self.shift_range + 4

    @property
    def _num_head_parameters(self):
        return (
            self._num_heads * self._addressing_width
            + self.num_write_heads * 2 * self.memory_width  # erase and add
        )

    # -- the Keras cell contract ----------------------------------------------

    @property
    def output_size(self):
        """`U`, plus `(R + W) * N` with `return_weightings`."""
        if self.return_weightings:
            return self.units + self._num_heads * self.memory_size
        return self.units

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "inputs must have shape [B, E] with a known E, "
                f"received input_shape={input_shape}"
            )
        m = self.memory_width
        controller_input = input_shape[-1] + self.num_read_heads * m  # E + R*M
        self.controller_layer.build((input_shape[0], controller_input))
        self.head_parameters.build((input_shape[0], self.controller_units))
        self.output_projection.build(
            (input_shape[0], self.controller_units + self.num_read_heads * m)
        )
        self._build_initial_state()
        self.built = True

    def call(self, inputs, states, training=False):
        states = list(states)
        if len(states) != len(self.state_size):
            raise ValueError(
                f"states must be the list {self.state_names} "
                "(from get_initial_state, or the previous step's new states), "
                f"received a list of {len(states)} tensors"
            )
        n, m = self.memory_size, self.memory_width
        num_read, num_write = self.num_read_heads, self.num_write_heads
        controller_states = states[: self._num_controller_states]
        reads, read_weightings, write_weightings, memory = states[
            self._num_controller_states :
        ]

        controller_input = ops.concatenate(
            [inputs, ops.cast(reads, inputs.dtype)], axis=-1
        )  # [B, E + R*M]
        if self.controller == "lstm":
            hidden, controller_states = self.controller_layer(
                controller_input, controller_states, training=training
            )  # [B, C], [h, c]
            controller_states = list(controller_states)
        else:
            hidden = self.controller_layer(controller_input)  # [B, C]
        parameters = ops.clip(
            self.head_parameters(hidden), -self.clip_value, self.clip_value
        )  # [B, P]
        parameters = ops.cast(parameters, "float32")

        heads = decode_head_parameters(
            parameters, self._num_heads, num_write, m, self.shift_range
        )  # keys [B, R + W, M], ..., erase and add [B, W, M]

        memory = ops.reshape(ops.cast(memory, "float32"), (-1, n, m))  # [B, N, M]
        previous = ops.reshape(
            ops.cast(
                ops.concatenate([read_weightings, write_weightings], axis=-1),
                "float32",
            ),
            (-1, self._num_heads, n),
        )  # [B, R + W, N]
        weightings = address(memory, previous, heads)  # [B, R + W, N]
        read_w, write_w = weightings[:, :num_read], weightings[:, num_read:]
        new_reads = read(memory, read_w)  # [B, R, M]
        new_memory = write(memory, write_w, heads["erase"], heads["add"])  # [B, N, M]

        dtype = self.compute_dtype
        new_reads = ops.cast(ops.reshape(new_reads, (-1, num_read * m)), dtype)
        output = self.output_projection(
            ops.concatenate([hidden, new_reads], axis=-1)  # [B, C + R*M]
        )
        output = ops.clip(output, -self.clip_value, self.clip_value)  # [B, U]
        read_w = ops.cast(ops.reshape(read_w, (-1, num_read * n)), dtype)
        write_w = ops.cast(ops.reshape(write_w, (-1, num_write * n)), dtype)
        if self.return_weightings:
            output = ops.concatenate([output, read_w, write_w], axis=-1)
        new_states = [ops.cast(s, dtype) for s in controller_states] + [
            new_reads,
            read_w,
            write_w,
            ops.cast(ops.reshape(new_memory, (-1, n * m)), dtype),
        ]
        return output, new_states

    def get_config(self):
        config = {
            "units": self.units,
            "controller": self.controller,
            "controller_units": self.controller_units,
            "memory_size": self.memory_size,
            "memory_width": self.memory_width,
            "num_read_heads": self.num_read_heads,
            "num_write_heads": self.num_write_heads,
            "shift_range": self.shift_range,
            "clip_value": self.clip_value,
            "memory_init": self.memory_init,
            "return_weightings": self.return_weightings,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
