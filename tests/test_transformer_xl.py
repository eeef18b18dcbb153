"""The Transformer-XL language model: memory semantics, training, perplexity."""

import re

import keras
import numpy as np
import pytest

from keras_attention.models import transformer_xl
from keras_attention.models.transformer_xl import TransformerXL

SMALL = dict(hidden_dim=16, num_heads=2, intermediate_dim=32, num_blocks=2, dropout=0.0)


def _raises(error, *parts):
    return pytest.raises(error, match=".*".join(map(re.escape, parts)))


def _copy_weights(source, target):
    by_path = {w.path.split("/", 1)[1]: w for w in source.weights}
    for weight in target.weights:
        weight.assign(by_path[weight.path.split("/", 1)[1]])


def test_memory_equals_attending_to_the_whole_text():
    # With a memory as long as a segment, segment 2 read after segment 1
    # gives the logits of reading both at once with no memory: causal
    # attention makes segment 1's hidden states the same either way.
    keras.utils.set_random_seed(0)
    length = 5
    tokens = np.random.default_rng(0).integers(0, 30, (2, 2 * length)).astype("int32")
    with_memory = TransformerXL(30, batch_size=2, memory_length=length, **SMALL)
    whole = TransformerXL(30, batch_size=2, memory_length=0, **SMALL)
    with_memory(tokens[:, :length])
    whole(tokens)
    _copy_weights(with_memory, whole)
    with_memory.reset_memory()
    first = np.asarray(with_memory(tokens[:, :length]))
    second = np.asarray(with_memory(tokens[:, length:]))
    both = np.asarray(whole(tokens))
    np.testing.assert_allclose(first, both[:, :length], atol=1e-5)
    np.testing.assert_allclose(second, both[:, length:], atol=1e-5)
    # Without the memory, segment 2 alone is a different computation.
    with_memory.reset_memory()
    alone = np.asarray(with_memory(tokens[:, length:], update_memory=False))
    assert np.abs(alone - both[:, length:]).max() > 1e-3
    # update_memory=False left the memory empty.
    assert not np.asarray(with_memory.memory_filled).any()


def test_memory_keeps_the_last_positions():
    keras.utils.set_random_seed(1)
    model = TransformerXL(20, batch_size=1, memory_length=3, **SMALL)
    model(np.array([[4, 5]], "int32"))
    np.testing.assert_array_equal(np.asarray(model.memory_filled), [[0, 1, 1]])
    model(np.array([[6, 7]], "int32"))
    np.testing.assert_array_equal(np.asarray(model.memory_filled), [[1, 1, 1]])
    # Block 0's memory holds its inputs: the scaled embeddings of 5, 6, 7.
    embedded = np.asarray(model.embedding(np.array([[5, 6, 7]]))) * np.sqrt(16)
    np.testing.assert_allclose(np.asarray(model.memories[0]), embedded, atol=1e-6)
    model.reset_memory()
    assert not np.asarray(model.memories[0]).any()


def test_stream_segments_continue_row_by_row():
    stream = np.arange(100)
    inputs, targets = transformer_xl.stream_segments(stream, batch_size=3, segment_length=4)
    # 99 tokens predictable, 33 per row, 8 whole segments per row.
    assert inputs.shape == targets.shape == (8, 3, 4)
    np.testing.assert_array_equal(targets, inputs + 1)
    for row in range(3):
        joined = inputs[:, row].reshape(-1)
        np.testing.assert_array_equal(joined, np.arange(32) + 33 * row)
    with _raises(ValueError, "too short for 3 rows of one segment of 40 tokens"):
        transformer_xl.stream_segments(stream, 3, 40)


def test_memory_lowers_perplexity_on_text_that_repeats_beyond_a_segment():
    # Random 12-token phrases, each said six times: from a segment of 8
    # tokens alone the next token is a guess at each phrase's start, with
    # 16 positions of memory it has been seen before.
    rng = np.random.default_rng(0)
    stream = np.concatenate([np.tile(rng.integers(3, 30, 12), 6) for _ in range(120)])
    keras.utils.set_random_seed(0)
    model = TransformerXL(30, batch_size=8, memory_length=16, hidden_dim=32, num_heads=2,
                          intermediate_dim=64, num_blocks=2, dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    model.fit(transformer_xl.language_model_dataset(stream, 8, 8), epochs=6,
              shuffle=False, callbacks=[transformer_xl.ResetMemory()], verbose=0)
    test = np.concatenate([np.tile(rng.integers(3, 30, 12), 6) for _ in range(20)])
    with_memory = transformer_xl.perplexity(model, test, 8, use_memory=True)
    without = transformer_xl.perplexity(model, test, 8, use_memory=False)
    assert with_memory < 4.0 < 20.0 < without, (with_memory, without)


def test_saved_model_keeps_weights_and_config(tmp_path):
    keras.utils.set_random_seed(2)
    model = TransformerXL(25, batch_size=2, memory_length=4, **SMALL)
    tokens = np.array([[3, 4, 5], [6, 7, 8]], "int32")
    model(tokens, update_memory=False)
    path = str(tmp_path / "txl.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        np.asarray(loaded(tokens, update_memory=False)),
        np.asarray(model(tokens, update_memory=False)), atol=1e-6)
    assert loaded.memory_length == 4 and loaded.batch_size == 2


def test_bad_arguments_are_named():
    model = TransformerXL(20, batch_size=2, memory_length=2, **SMALL)
    with _raises(ValueError, "tokens must have shape [B, L] with B = batch_size = 2",
                 "(3, 4)"):
        model(np.zeros((3, 4), "int32"))
    with _raises(ValueError, "memory_length must be an int >= 0", "-1"):
        TransformerXL(20, batch_size=2, memory_length=-1)
    with _raises(ValueError, "hidden_dim must be even and divisible by num_heads"):
        TransformerXL(20, batch_size=2, hidden_dim=15, num_heads=3)
