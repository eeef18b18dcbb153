"""The state half of `NTMCell` (private): its layout and its learned start.

`NTMState` is a mixin of `NTMCell`: it reads the cell's configuration
(`memory_size`, `memory_width`, the head counts, `controller_units`,
`memory_init`, `kernel_initializer`, `seed`) and holds what the state is:
its names and sizes, the weights of the learned initial state and that
state for a batch, and the reshaping of the flat states and outputs per
head and row. The step itself (`NTMCell.call`) and the addressing
(`_ntm_addressing`) live beside it.

Shapes: `B` batch, `N` memory rows, `M` memory width, `R` read heads, `W`
write heads, `C` controller units, `U` units.
"""

import keras
from keras import ops

from keras_attention.layers._initializers import SUBLAYER_SALT, clone_initializer

# Collier and Beel's constant memory initialisation: small, so that the first
# cosine similarities are defined, and the same in every row.
MEMORY_INIT_CONSTANT = 1e-6
# The stddev of `memory_init="random"`: Collier and Beel's 0.5, truncated
# at two stddevs so that every value lies in [-1, 1] like a written one.
MEMORY_INIT_STDDEV = 0.5


class NTMState:
    """`NTMCell`'s state: names, sizes, learned start, per-head views."""

    @property
    def state_names(self):
        """The names of the states, in the order of `state_size`."""
        controller = ["controller_h", "controller_c"][: self._num_controller_states]
        return controller + [
            "read_vectors", "read_weightings", "write_weightings", "memory"
        ]

    @property
    def state_size(self):
        """`[C, C]` (LSTM only), then `R*M`, `R*N`, `W*N` and `N*M`."""
        n, m = self.memory_size, self.memory_width
        return [self.controller_units] * self._num_controller_states + [
            self.num_read_heads * m,
            self.num_read_heads * n,
            self.num_write_heads * n,
            n * m,
        ]

    def _build_initial_state(self):
        """The weights of the learned initial state (from `build`)."""
        n, m = self.memory_size, self.memory_width
        self.initial_read_vectors = self.add_weight(
            shape=(self.num_read_heads, m),
            initializer=clone_initializer(self.kernel_initializer, 3 * SUBLAYER_SALT),
            name="initial_read_vectors",
        )
        self.initial_weighting_logits = self.add_weight(
            shape=(self._num_heads, n),
            initializer=clone_initializer(self.kernel_initializer, 4 * SUBLAYER_SALT),
            name="initial_weighting_logits",
        )
        if self.memory_init == "learned":
            self.initial_memory = self.add_weight(
                shape=(n, m),
                initializer=clone_initializer(
                    self.kernel_initializer, 5 * SUBLAYER_SALT
                ),
                name="initial_memory",
            )
        elif self.memory_init == "random":
            self.initial_memory = self.add_weight(
                shape=(n, m),
                initializer=keras.initializers.TruncatedNormal(
                    stddev=MEMORY_INIT_STDDEV, seed=self.seed
                ),
                trainable=False,
                name="initial_memory",
            )

    def get_initial_state(self, batch_size=None):
        """The learned initial state for `batch_size` sequences, as a list.

        Every sequence starts from the same state; see the class docstring
        for the order.
        """
        if batch_size is None:
            raise ValueError(
                "get_initial_state needs the batch size, received batch_size=None"
            )
        if not self.built:
            raise ValueError(
                "NTMCell learns its initial state: build it (or call it in "
                "keras.layers.RNN) before get_initial_state, "
                f"received batch_size={batch_size} on an unbuilt cell"
            )
        dtype = self.compute_dtype
        n, m = self.memory_size, self.memory_width
        zeros = ops.zeros((batch_size, 1), dtype=dtype)  # [B, 1]

        def batched(row):  # [k] -> [B, k]
            return zeros + ops.cast(ops.reshape(row, (1, -1)), dtype)

        controller = [
            ops.zeros((batch_size, self.controller_units), dtype=dtype)
        ] * self._num_controller_states
        reads = ops.tanh(ops.cast(self.initial_read_vectors, "float32"))  # [R, M]
        weightings = ops.softmax(
            ops.cast(self.initial_weighting_logits, "float32"), axis=-1
        )  # [R + W, N]
        if self.memory_init == "constant":
            memory = ops.full((n * m,), MEMORY_INIT_CONSTANT, dtype="float32")
        elif self.memory_init == "learned":
            memory = ops.tanh(ops.cast(self.initial_memory, "float32"))
        else:
            memory = ops.cast(self.initial_memory, "float32")
        return controller + [
            batched(reads),
            batched(weightings[: self.num_read_heads]),
            batched(weightings[self.num_read_heads :]),
            batched(memory),
        ]

    def split_output(self, outputs):
        """`(output, read_weightings, write_weightings)` of a `return_weightings` cell.

        Args:
            outputs: the cell's or the RNN's outputs, `[..., U + (R + W) * N]`.

        Returns:
            output `[..., U]`, read weightings `[..., R, N]` and write
            weightings `[..., W, N]`.
        """
        if not self.return_weightings:
            raise ValueError(
                "split_output needs a cell made with return_weightings=True, "
                "received a cell with return_weightings=False"
            )
        if outputs.shape[-1] != self.output_size:
            raise ValueError(
                f"outputs must have {self.output_size} features (U={self.units} "
                f"then (R + W) * N = {self._num_heads} * {self.memory_size}), "
                f"received outputs.shape={tuple(outputs.shape)}"
            )
        lead = tuple(-1 if d is None else d for d in outputs.shape[:-1])
        n, u, r = self.memory_size, self.units, self.num_read_heads
        read = ops.reshape(outputs[..., u : u + r * n], lead + (r, n))
        write = ops.reshape(outputs[..., u + r * n :], lead + (self.num_write_heads, n))
        return outputs[..., :u], read, write

    def split_state(self, states):
        """The state list as a dict by `state_names`, each head and row apart.

        read_vectors `[B, R, M]`, read_weightings `[B, R, N]`,
        write_weightings `[B, W, N]`, memory `[B, N, M]`; the controller's
        states as they are.
        """
        states = list(states)
        if len(states) != len(self.state_size):
            raise ValueError(
                f"states must be the list {self.state_names}, "
                f"received a list of {len(states)} tensors"
            )
        n, m = self.memory_size, self.memory_width
        shapes = {
            "read_vectors": (self.num_read_heads, m),
            "read_weightings": (self.num_read_heads, n),
            "write_weightings": (self.num_write_heads, n),
            "memory": (n, m),
        }
        return {
            name: ops.reshape(state, (-1,) + shapes[name]) if name in shapes else state
            for name, state in zip(self.state_names, states)
        }
