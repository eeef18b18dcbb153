"""What the reference seq2seq models share (private).

A model is a functional `keras.Model` made by its subclass's constructor:
`{"source": [B, S], "decoder_inputs": [B, T]} -> logits [B, T, V]`, trained
with teacher forcing. Decoding goes through two functions that the subclass
provides, the same ones in Keras and on the device:

- `_encode(source)`: `{name: tensor}`, the decoder's initial states and
  the encoder's memory;
- `_decode_step(token, step, inputs)`: one target step from `inputs` (every
  name `_encode` gives), returning `{"logits": [B, 1, V], **states}`: the
  next value of every state under its name. The memory (`_memory_specs`,
  e.g. Bahdanau's encoder outputs and keys) is only read: the step does
  not return it, and a loop passes the same tensors to every step.

This base turns them into the `encode` / `decode_step` export signatures
(export/metadata.py describes the convention), into greedy decoding in
Keras, and into representative data for int8 calibration. Decoding in
Keras encodes through `_encode_in_keras`, the same states as `_encode`,
which a subclass may compute in a form that compiles faster.

Shapes: `B` batch, `S` source length, `T` target length, `V` target
vocabulary.
"""

import keras
import numpy as np
from keras import ops
from keras.src.layers.layer import BackendLayer

from keras_attention.layers._validation import check_positive_int
from keras_attention.models._traced import traced
from keras_attention.models._optimizer import OptimizerBuiltFirst
from keras_attention.models.signature import Signature, TensorSpec

PAD_ID = 0
# Rows that `representative_data` decodes together: one encoder call and one
# step per position for all of them, rather than for each sample (the tour's
# 16 calibration dates: one eager RNN encoding rather than 16).
CALIBRATION_ROWS = 256


class _Seq2SeqModel(OptimizerBuiltFirst, keras.Model):
    """Base of `RNNSeq2Seq` and `TransformerSeq2Seq` (private)."""

    # The mode `export.convert` uses when none is given: the fastest that
    # keeps the accuracy of the tour's models (`bench/export.py`: dynamic
    # range at 0.4-0.5x the float32 size and no slower, no accuracy lost).
    default_export_mode = "dynamic"

    def _check_task_arguments(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        source_length,
        target_length,
        start_id,
        end_id,
    ):
        check_positive_int("source_vocabulary_size", source_vocabulary_size)
        check_positive_int("target_vocabulary_size", target_vocabulary_size)
        check_positive_int("source_length", source_length)
        check_positive_int("target_length", target_length)
        for name, value in (("start_id", start_id), ("end_id", end_id)):
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not PAD_ID < value < target_vocabulary_size
            ):
                raise ValueError(
                    f"{name} must be an int in [1, target_vocabulary_size) = "
                    f"[1, {target_vocabulary_size}) (0 is padding), "
                    f"received {name}={value!r}"
                )
        if start_id == end_id:
            raise ValueError(
                "start_id and end_id must differ, received "
                f"start_id={start_id} and end_id={end_id}"
            )

    def _task_config(self):
        return {
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "source_length": self.source_length,
            "target_length": self.target_length,
            "start_id": self.start_id,
            "end_id": self.end_id,
        }

    def _hold_attributes(self):
        """Lets the constructor set its layers before the functional construction.

        On PyTorch a Keras layer is a `torch.nn.Module`, which accepts
        another as an attribute only after `Module.__init__`, and the
        functional construction (`Model.__init__`) needs the layers first.
        The backend's layer base is initialised here, early; `Model.__init__`
        initialises it again, which empties PyTorch's registry of
        submodules, so `_functional_init` sets the attributes set until then
        once more. Keras tracks them in the order they were set, as before.
        """
        BackendLayer.__init__(self)
        object.__setattr__(self, "_held_attributes", {})

    def __setattr__(self, name, value):
        held = self.__dict__.get("_held_attributes")
        if held is not None:
            held[name] = value
        super().__setattr__(name, value)

    @staticmethod
    def _layer_policy(kwargs):
        """The dtype policy of the model and of every layer it makes.

        `kwargs`' `dtype` (popped) if given, as a reloaded model's config
        gives it, else the global policy at construction. The layers are
        made with it and `get_config` saves it, so a model built under
        `mixed_float16` reloads as one whatever the global policy is then
        (a functional model's own config has no dtype).
        """
        return keras.dtype_policies.get(kwargs.pop("dtype", None))

    def _functional_init(self, policy, **kwargs):
        """Makes the model the functional graph of `_teacher_forced`.

        Its inputs take any length up to `source_length` and `target_length`
        (the maxima: the size of the position tables, and the static shapes
        of the exported signatures), so that training batches can be padded
        per length bucket rather than to the maxima. `policy` is the
        model's dtype policy (`_layer_policy`), which Keras's functional
        construction would leave at the global one.
        """
        held = self.__dict__.pop("_held_attributes", {})
        source = self._source_input()
        decoder_inputs = keras.Input((None,), dtype="int32", name="decoder_inputs")
        logits = self._teacher_forced(source, decoder_inputs)  # [B, T, V]
        # super(), not keras.Model.__init__: the first functional
        # construction puts Functional into this class's bases, and from
        # then on super() must reach Functional.__init__ (calling
        # keras.Model.__init__ again would inject it a second time).
        super().__init__(
            inputs={"source": source, "decoder_inputs": decoder_inputs},
            outputs=logits,
            **kwargs,
        )
        self.dtype_policy = policy
        for name, value in held.items():
            setattr(self, name, value)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self._task_config(),
        }

    # -- subclasses ----------------------------------------------------------

    def _source_input(self):
        """The functional model's `source` input: token ids `[B, S]` of any
        length up to `source_length`. An image captioner takes images."""
        return keras.Input((None,), dtype="int32", name="source")

    def _source_spec(self, batch_size):
        """The `encode` signature's `source`: int32 `[batch_size, S]`."""
        return TensorSpec((batch_size, self.source_length), "int32", name="source")

    def _teacher_forced(self, source, decoder_inputs):
        raise NotImplementedError

    def _encode(self, source):
        raise NotImplementedError

    def _decode_step(self, token, step, inputs):
        raise NotImplementedError

    def _state_specs(self, batch_size):
        """`[TensorSpec]` of the states `_decode_step` returns, named, in a
        fixed order."""
        raise NotImplementedError

    def _memory_specs(self, batch_size):
        """`[TensorSpec]` of what `_encode` gives that `_decode_step` only reads."""
        return []

    # -- export ----------------------------------------------------------------

    def export_signatures(self, batch_size=1):
        """`{"encode": Signature, "decode_step": Signature}` with static shapes.

        `encode` takes `source` (int32 `[batch_size, S]`, or what
        `_source_spec` says: an image captioner's images) and returns the
        decoder's initial states and the encoder's memory by name;
        `decode_step` takes `token` int32 `[batch_size, 1]`, `step` int32
        `[1]` (the position of `token`, 0 for the start token) and everything
        `encode` returned by name, and returns `logits` `[batch_size, 1, V]`
        and the next value of every state under the same names, but not the
        memory, which it only reads (`edge_demo.contract` describes the
        convention). Pass them to `export.convert(model, signatures=...)`.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or (
            batch_size <= 0
        ):
            raise ValueError(
                f"batch_size must be a positive int, received batch_size={batch_size!r}"
            )
        state_specs = self._state_specs(batch_size) + self._memory_specs(batch_size)
        names = [spec.name for spec in state_specs]

        def encode(source):
            return self._encode(source)

        def decode_step(token, step, *inputs):
            return self._decode_step(token, step, dict(zip(names, inputs)))

        return {
            "encode": Signature(
                encode,
                [self._source_spec(batch_size)],
            ),
            "decode_step": Signature(
                decode_step,
                [
                    TensorSpec((batch_size, 1), "int32", name="token"),
                    TensorSpec((1,), "int32", name="step"),
                    *state_specs,
                ],
            ),
        }

    # -- decoding --------------------------------------------------------------

    def _check_source(self, source_ids):
        source = np.asarray(source_ids)
        if source.ndim != 2 or source.shape[1] != self.source_length:
            raise ValueError(
                f"source_ids must have shape [B, {self.source_length}] (padded to "
                f"source_length), received shape {source.shape}"
            )
        if not np.issubdtype(source.dtype, np.integer):
            raise ValueError(
                f"source_ids must be integer ids, received dtype {source.dtype}"
            )
        return source.astype("int32")

    def _encode_in_keras(self, source):
        """`_encode` for decoding in Keras (greedy and beam search): the
        same states; a subclass may compute them in a form that traces and
        compiles faster than the exported one."""
        return self._encode(source)

    def _step_functions(self):
        """`(encode, decode_step)` for decoding in Keras: `_encode_in_keras`
        as it is, and `_decode_step` traced once per model and shape where
        the backend traces.

        Eagerly, every op of every step is dispatched from Python (a step of
        the tour's Transformer: about 50 ms on 2 cores on TensorFlow), and
        JAX compiles each new op and shape on its first run. Traced, a step
        runs as one program that reads the variables as they are at each
        call:
        - TensorFlow: a `tf.function`, not XLA-compiled (a step is small,
          and compiling one per batch shape costs more than it saves);
        - JAX: a `jax.jit` of the stateless step, given the variables'
          current values (`keras.StatelessScope`), so training between two
          decodings is seen;
        - PyTorch runs it eagerly.

        The encoder runs once per batch, eagerly: tracing it would cost more
        than it saves (RNNSeq2Seq's exported encoder, unrolled over the
        source: about a second on TensorFlow).
        """
        decode_step = self.__dict__.get("_traced_decode_step")
        if decode_step is None:
            decode_step = traced(self, self._decode_step)
            # Held outside Keras's attribute tracking, like beam search's.
            self.__dict__["_traced_decode_step"] = decode_step
        return self._encode_in_keras, decode_step

    def _greedy(self, source, on_step=None, max_length=None):
        """Greedy decoding of `source` `[B, S]` through `_encode` and `_decode_step`.

        `on_step(token, step, states)` sees each step's inputs (numpy).
        Returns ids `[B, T]`: each row's tokens up to its end token, then
        padding. Stops when every row has ended, or after `max_length`
        (default `T`) steps.
        """
        batch = len(source)
        encode, decode_step = self._step_functions()
        states = encode(ops.convert_to_tensor(source))
        states = {name: ops.convert_to_numpy(value) for name, value in states.items()}
        token = np.full((batch, 1), self.start_id, "int32")
        decoded = np.full((batch, self.target_length), PAD_ID, "int32")
        done = np.zeros(batch, bool)
        for t in range(max_length or self.target_length):
            step = np.array([t], "int32")
            if on_step is not None:
                on_step(token, step, states)
            out = decode_step(
                ops.convert_to_tensor(token), ops.convert_to_tensor(step), states
            )
            next_ids = np.argmax(
                ops.convert_to_numpy(out["logits"]).reshape(batch, -1), axis=-1
            ).astype("int32")  # [B]
            decoded[:, t] = np.where(done, PAD_ID, next_ids)
            done |= next_ids == self.end_id
            if done.all():
                break
            token = next_ids[:, None]  # [B, 1]
            # The states the step returned; the memory stays as it is.
            states.update(
                {name: ops.convert_to_numpy(out[name]) for name in out if name != "logits"}
            )
        return decoded

    def _check_max_length(self, max_length):
        """`max_length` if the decoder can run that many steps.

        The Transformer's self-attention cache and position table hold
        `target_length` steps, and the output has `target_length` columns:
        a step past them would be written nowhere (`decode_step` gives NaN
        there, the exported model a gather error).
        """
        if max_length is None:
            return self.target_length
        check_positive_int("max_length", max_length)
        if max_length > self.target_length:
            raise ValueError(
                f"max_length must be at most target_length={self.target_length} "
                "(the steps the decoder's cache and positions hold), received "
                f"max_length={max_length}"
            )
        return max_length

    def greedy_decode(self, source_ids, batch_size=256, max_length=None):
        """Greedy decoding in Keras, one target step at a time.

        It runs the computation that `export_signatures` exports (the same
        `decode_step`; the same encoder, which RNNSeq2Seq exports unrolled
        and runs here in a loop), so a device decoding the exported model
        (e.g. `edge_demo`'s `EdgeModel.greedy_decode`) must produce the same
        tokens. Each step feeds back the argmax; a row stops at `end_id`,
        decoding stops when every row has, or after `max_length` steps.

        Args:
            source_ids: int `[N, S]`, padded with 0.
            batch_size: rows decoded together.
            max_length: the most steps, at most (and by default)
                `target_length`.

        Returns:
            int32 `[N, T]`: each row's tokens up to and including its end
            token, then 0.
        """
        source = self._check_source(source_ids)
        check_positive_int("batch_size", batch_size)
        max_length = self._check_max_length(max_length)
        parts = [
            self._greedy(source[i : i + batch_size], max_length=max_length)
            for i in range(0, len(source), batch_size)
        ]
        if not parts:
            return np.zeros((0, self.target_length), "int32")
        return np.concatenate(parts)

    def _decoder_inputs_of(self, decoded):
        """Teacher-forcing inputs that reproduce `decoded` `[B, T]`."""
        decoder_inputs = np.full_like(decoded, self.start_id)
        decoder_inputs[:, 1:] = decoded[:, :-1]
        return decoder_inputs

    def representative_data(self, source_ids, batch_size=1):
        """Calibration data for `export.convert(..., mode="int8")` from real sources.

        Decodes `source_ids` greedily in Keras and records what each
        signature receives: the sources for `encode`, and for `decode_step`
        every step's token, step and states, for the whole decoding of one
        batch after another. Pass `num_calibration_samples` at least the
        length of each list to calibrate on all of them.

        Returns:
            `{"encode": [{"source": ...}], "decode_step": [{...}]}`, one dict
            per sample of `batch_size` rows (the signatures' batch size).
        """
        source = self._check_source(source_ids)
        check_positive_int("batch_size", batch_size)
        usable = len(source) - len(source) % batch_size
        if usable == 0:
            raise ValueError(
                f"source_ids must hold at least batch_size={batch_size} rows, "
                f"received {len(source)}"
            )
        encode = [
            {"source": source[i : i + batch_size]} for i in range(0, usable, batch_size)
        ]
        # Many samples decoded together (rows do not interact), recorded as if
        # each sample were decoded alone: a sample's steps until all of its
        # rows have ended, the samples one after another.
        groups = [[] for _ in encode]  # the decode_step inputs of each sample
        per_block = batch_size * max(1, CALIBRATION_ROWS // batch_size)
        for first in range(0, usable, per_block):
            block = source[first : min(first + per_block, usable)]
            ended = np.zeros(len(block), bool)

            def record(token, step, states, first=first, ended=ended):
                if step[0] > 0:  # `token` is what the last step chose
                    ended |= token[:, 0] == self.end_id
                for start in range(0, len(ended), batch_size):
                    rows = slice(start, start + batch_size)
                    if not ended[rows].all():
                        sample = {"token": token[rows], "step": step}
                        sample.update({k: v[rows] for k, v in states.items()})
                        groups[(first + start) // batch_size].append(sample)

            self._greedy(block, on_step=record)
        return {"encode": encode, "decode_step": [s for g in groups for s in g]}
