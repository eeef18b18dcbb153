"""A Transformer-XL language model (Dai et al. 2019) with segment memory.

A long text is read in segments of `segment_length` tokens. Each block
attends, causally, to its own segment and to `memory_length` cached hidden
states of the segments before it (its inputs there, gradients stopped),
with the paper's relative positional encoding, so the model sees up to
`num_blocks * memory_length` tokens back while each step costs one
segment. `memory_length=0` is the same model without memory: every segment
on its own.

The memory is the model's state, kept in non-trainable variables for a
fixed `batch_size` of parallel streams, as a stateful RNN keeps its state:
every call reads it and (unless `update_memory=False`) writes the new one,
so `model.fit` over consecutive segments in order (`language_model_dataset`,
`shuffle=False`) trains with it as Dai et al. do, and `perplexity` evaluates
with or without it. `reset_memory()` empties it (new text, new epoch).

Shapes: `B` streams, `L` segment length, `M` memory length, `D` width, `V`
vocabulary.

Example:

>>> model = TransformerXL(vocabulary_size=20, batch_size=2, memory_length=4,
...                       hidden_dim=8, num_heads=2, intermediate_dim=16,
...                       num_blocks=1)
>>> tuple(model(np.zeros((2, 3), "int32")).shape)
(2, 3, 20)
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import (
    check_positive_int,
    check_rate,
    check_shape,
)
from keras_attention.layers.relative_multi_head_attention import (
    RelativeMultiHeadAttention,
)
from keras_attention.models._optimizer import OptimizerBuiltFirst


def check_block_sizes(hidden_dim, num_heads, intermediate_dim, num_blocks, dropout):
    """Raise unless the sizes make relative-attention blocks: positive ints,
    a rate, and an even `hidden_dim` (the relative encoding pairs its
    features) that `num_heads` divides. For `TransformerXL` and `XLNetLM`."""
    for name, value in (("hidden_dim", hidden_dim), ("num_heads", num_heads),
                        ("intermediate_dim", intermediate_dim),
                        ("num_blocks", num_blocks)):
        check_positive_int(name, value)
    check_rate("dropout", dropout)
    if hidden_dim % num_heads or hidden_dim % 2:
        raise ValueError(
            "hidden_dim must be even and divisible by num_heads, received "
            f"hidden_dim={hidden_dim} and num_heads={num_heads}"
        )


def with_memory(segment, memory, memory_mask=None):
    """The keys' source of a segment that reads a memory: `[memory; segment]`.

    Transformer-XL's segment recurrence (Dai et al. 2019, eq. 1): the
    previous segment's hidden states `memory` `[B, M, D]` extend the keys
    and values of the current `segment` `[B, T, D]`, with gradients stopped
    so training never reaches back into an earlier segment.

    Returns `(value, value_mask)`: `[B, M + T, D]` for the attention's
    `value` (its queries are the last `T` positions), and `[B, M + T]` for
    its `value_mask` (`None` without `memory_mask`, false for memory slots
    that hold nothing yet).
    """
    batch, dim = segment.shape[0], segment.shape[-1]
    note = f" (segment.shape={tuple(segment.shape)})"
    check_shape("memory", memory, (batch, None, dim), "[B, M, D]", note)
    check_shape("memory_mask", memory_mask, (batch, memory.shape[1]), "[B, M]")
    memory = ops.stop_gradient(ops.cast(memory, segment.dtype))
    value = ops.concatenate([memory, segment], axis=1)  # [B, M + T, D]
    if memory_mask is None:
        return value, None
    segment_mask = ops.ones(ops.shape(segment)[:2], dtype="bool")
    value_mask = ops.concatenate([ops.cast(memory_mask, "bool"), segment_mask], axis=1)
    return value, value_mask  # [B, M + T, D], [B, M + T]


class _XLBlock(keras.layers.Layer):
    """Relative self-attention over memory and segment, then a feed-forward
    layer, each with a residual connection and post-LN (private). XLNet's
    block (`models.xlnet`) builds the same with its own attention."""

    attention_class = RelativeMultiHeadAttention
    activation = "relu"

    def __init__(self, num_heads, intermediate_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout_rate = dropout

    def build(self, input_shape):
        dim = input_shape[-1]
        self.attention = self.attention_class(
            self.num_heads, dim // self.num_heads, dropout=self.dropout_rate,
            dtype=self.dtype_policy, name="attention",
        )
        self.attention.build(input_shape)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype="float32", name="attention_norm")
        self.attention_norm.build(input_shape)
        self.hidden = keras.layers.Dense(
            self.intermediate_dim, activation=self.activation, dtype=self.dtype_policy,
            name="hidden")
        self.hidden.build(input_shape)
        self.output_dense = keras.layers.Dense(dim, dtype=self.dtype_policy, name="output")
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.feedforward_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype="float32", name="feedforward_norm")
        self.feedforward_norm.build(input_shape)
        self.drop = HashDropout(
            self.dropout_rate, dtype=self.dtype_policy, name="dropout"
        )
        self.built = True

    def call(self, x, memory=None, memory_mask=None, training=False):
        value, value_mask = None, None
        if memory is not None:
            value, value_mask = with_memory(x, memory, memory_mask)  # [B, M + L, D]
        y = self.attention(x, value, value_mask=value_mask, use_causal_mask=True,
                           training=training)
        return self._feedforward(self._residual(x, y, self.attention_norm, training),
                                 training)

    def _residual(self, x, y, norm, training):
        """`norm(x + dropout(y))` in float32, back in `x`'s dtype (post-LN)."""
        return ops.cast(norm(x + self.drop(y, training=training)), x.dtype)

    def _feedforward(self, x, training):
        y = self.output_dense(self.hidden(x))
        return self._residual(x, y, self.feedforward_norm, training)


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerXL(OptimizerBuiltFirst, keras.Model):
    """A Transformer-XL language model: tokens `[B, L]` -> next-token logits `[B, L, V]`.

    Args:
        vocabulary_size: `V`.
        batch_size: `B`, the number of parallel streams the memory holds.
        memory_length: `M`, cached positions per block; 0 for none.
        hidden_dim: `D` (even: the relative encoding needs it).
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: width of the feed-forward layers.
        num_blocks: depth.
        dropout: rate on attention weights and sublayer outputs in training.

    Keyword arguments:
        dtype: the dtype policy of every layer but the float32 readout
            (default: the global policy when the model is made), saved in
            the config so that the model reloads with it.

    Call arguments:
        tokens: int `[B, L]`.
        training: dropout on.
        update_memory: write this segment's hidden states into the memory
            (default); False leaves it as it was.
    """

    def __init__(self, vocabulary_size, batch_size, memory_length=64, hidden_dim=256,
                 num_heads=4, intermediate_dim=1024, num_blocks=4, dropout=0.1,
                 **kwargs):
        super().__init__(**kwargs)
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("batch_size", batch_size)
        if not isinstance(memory_length, int) or isinstance(memory_length, bool) or (
            memory_length < 0
        ):
            raise ValueError(
                f"memory_length must be an int >= 0, received memory_length={memory_length!r}"
            )
        check_block_sizes(hidden_dim, num_heads, intermediate_dim, num_blocks, dropout)
        self.vocabulary_size = vocabulary_size
        self.batch_size = batch_size
        self.memory_length = memory_length
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.num_blocks = num_blocks
        self.dropout = dropout
        # The model's policy (`dtype`, else the global one at construction)
        # for every layer but the float32 readout; saved in the config.
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=policy, name="embedding"
        )
        self.blocks = [
            _XLBlock(num_heads, intermediate_dim, dropout, dtype=policy, name=f"block_{i}")
            for i in range(num_blocks)
        ]
        self.readout = keras.layers.Dense(vocabulary_size, dtype="float32", name="readout")
        self.memories = []
        self.memory_filled = None
        if memory_length:
            self.memories = [
                self.add_weight(shape=(batch_size, memory_length, hidden_dim),
                                initializer="zeros", trainable=False,
                                name=f"memory_{i}")
                for i in range(num_blocks)
            ]
            # 1.0 where a memory slot holds a real position.
            self.memory_filled = self.add_weight(
                shape=(batch_size, memory_length), initializer="zeros",
                trainable=False, name="memory_filled")

    def build(self, input_shape):
        shape = (self.batch_size, input_shape[1], self.hidden_dim)
        self.embedding.build(input_shape)
        for block in self.blocks:
            block.build(shape)
        self.readout.build(shape)
        self.built = True

    def reset_memory(self):
        """Empties the memory: the next segment starts a new text."""
        # zeros of the variable's shape: JAX's zeros_like takes no Variable.
        for memory in self.memories:
            memory.assign(ops.zeros(memory.shape, memory.dtype))
        if self.memory_filled is not None:
            self.memory_filled.assign(
                ops.zeros(self.memory_filled.shape, self.memory_filled.dtype)
            )

    def call(self, tokens, training=False, update_memory=True):
        tokens = ops.convert_to_tensor(tokens, "int32")
        if tokens.shape[0] is not None and tokens.shape[0] != self.batch_size:
            raise ValueError(
                f"tokens must have shape [B, L] with B = batch_size = {self.batch_size} "
                f"(the memory's streams), received tokens.shape={tuple(tokens.shape)}"
            )
        x = self.embedding(tokens)  # [B, L, D]
        x = ops.multiply(x, ops.cast(math.sqrt(self.hidden_dim), x.dtype))
        length = ops.shape(tokens)[1]
        inputs = []
        memory_mask = None
        if self.memory_length:
            memory_mask = ops.cast(self.memory_filled, "bool")  # [B, M]
        for i, block in enumerate(self.blocks):
            inputs.append(x)
            memory = (
                ops.cast(self.memories[i], x.dtype) if self.memory_length else None
            )
            x = block(x, memory=memory, memory_mask=memory_mask, training=training)
        if self.memory_length and update_memory:
            m = self.memory_length
            for memory, layer_input in zip(self.memories, inputs):
                joined = ops.concatenate(
                    [memory, ops.cast(ops.stop_gradient(layer_input), memory.dtype)], axis=1
                )  # [B, M + L, D]
                memory.assign(joined[:, -m:])
            filled = ops.concatenate(
                [self.memory_filled, ops.ones((self.batch_size, length), "float32")],
                axis=1,
            )
            self.memory_filled.assign(filled[:, -m:])
        return self.readout(x)  # [B, L, V]

    def get_config(self):
        return {
            **super().get_config(),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "batch_size": self.batch_size,
            "memory_length": self.memory_length,
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_blocks": self.num_blocks,
            "dropout": self.dropout,
        }


def token_stream(id_lists):
    """One stream of ids from sentences (each ending with its end id)."""
    return np.asarray([i for ids in id_lists for i in ids], "int32")


def stream_segments(stream, batch_size, segment_length):
    """The stream cut into `batch_size` parallel rows and then into segments.

    Returns `(inputs, targets)`, each `[N, B, L]`: segment `n` of row `b`
    continues segment `n - 1` of the same row, and the targets are the
    inputs shifted by one token. The tail that does not fill a segment in
    every row is dropped.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("segment_length", segment_length)
    stream = np.asarray(stream, "int32").reshape(-1)
    per_row = (len(stream) - 1) // batch_size
    segments = per_row // segment_length
    if segments == 0:
        raise ValueError(
            f"the stream of {len(stream)} tokens is too short for {batch_size} rows "
            f"of one segment of {segment_length} tokens"
        )
    used = segments * segment_length
    rows = np.stack([stream[b * per_row : b * per_row + used + 1] for b in range(batch_size)])
    inputs = rows[:, :-1].reshape(batch_size, segments, segment_length).transpose(1, 0, 2)
    targets = rows[:, 1:].reshape(batch_size, segments, segment_length).transpose(1, 0, 2)
    return inputs, targets


def language_model_dataset(stream, batch_size, segment_length):
    """`tf.data` of consecutive segments `(inputs [B, L], targets [B, L])`, in order.

    Train with `model.fit(..., shuffle=False)` and reset the memory at each
    epoch (`ResetMemory`). A `tf.data` pipeline: it needs TensorFlow
    installed, not the TensorFlow backend (`stream_segments` gives the same
    arrays with numpy only).
    """
    from keras_attention._tensorflow import import_tensorflow

    tf = import_tensorflow("language_model_dataset (a tf.data pipeline)")

    inputs, targets = stream_segments(stream, batch_size, segment_length)
    return tf.data.Dataset.from_tensor_slices((inputs, targets))


class ResetMemory(keras.callbacks.Callback):
    """Empties a `TransformerXL`'s memory at the start of every epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_memory()


def perplexity(model, stream, segment_length, use_memory=True):
    """Perplexity of `model` on a token stream, read segment by segment.

    With `use_memory` each segment sees the memory of the ones before it;
    without, the memory is emptied before every segment (the same weights
    reading each segment on its own). The memory is emptied at the start and
    left as the last segment made it.
    """
    inputs, targets = stream_segments(stream, model.batch_size, segment_length)
    model.reset_memory()
    total, count = 0.0, 0
    for segment_inputs, segment_targets in zip(inputs, targets):
        if not use_memory:
            model.reset_memory()
        logits = ops.convert_to_numpy(model(segment_inputs, training=False)).astype("float64")
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        total -= np.take_along_axis(log_probs, segment_targets[..., None], -1).sum()
        count += segment_targets.size
    return float(np.exp(total / count))
