"""The question-answering readers on generated bAbI stories."""

import keras
import numpy as np
import pytest

from keras_attention.data import babi
from keras_attention.models import (
    LinearStart,
    attention_model,
    compile_qa_model,
    memn2n_model,
    qa_model,
    support_recall,
)

MEMORY, LENGTH = 20, 8


@pytest.fixture(scope="module")
def task_two():
    samples = babi.samples_of(babi.generate_stories(2, 100, seed=0))
    vocabulary = babi.Vocabulary.from_samples(samples)
    arrays = babi.vectorize(samples, vocabulary, memory_size=MEMORY, sentence_length=LENGTH)
    return vocabulary, arrays


def _inputs(arrays, n=None):
    return {"story": arrays["story"][:n], "question": arrays["question"][:n]}


@pytest.mark.parametrize("reader", ["memn2n", "lstm", "ntm"])
def test_each_reader_trains_and_reloads(reader, task_two, tmp_path):
    vocabulary, arrays = task_two
    keras.utils.set_random_seed(0)
    kwargs = {"lstm": dict(units=16, embedding_dim=8),
              "ntm": dict(embedding_dim=8, ntm_memory_size=8, memory_width=6,
                          controller_units=16),
              "memn2n": dict(hidden_dim=8)}[reader]
    model = qa_model(reader, vocabulary.size, len(vocabulary.answers), memory_size=MEMORY,
                     sentence_length=LENGTH, **kwargs)
    compile_qa_model(model, learning_rate=0.05)
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(_inputs(arrays), arrays["answer"], batch_size=32, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    still = [w.path for w, b in zip(model.trainable_weights, before)
             if np.array_equal(w.numpy(), b)]
    assert not still, f"weights that did not move: {still}"
    logits = model.predict(_inputs(arrays, 8), verbose=0)
    assert logits.shape == (8, len(vocabulary.answers))
    model.save(tmp_path / "reader.keras")
    reloaded = keras.saving.load_model(tmp_path / "reader.keras")
    np.testing.assert_allclose(reloaded.predict(_inputs(arrays, 8), verbose=0), logits, atol=1e-5)


def test_empty_slots_change_nothing_for_the_ntm_reader(task_two):
    """The NTM reader skips empty slots: the same sentences packed or with
    empty slots between them give the same answer."""
    vocabulary, arrays = task_two
    model = qa_model("ntm", vocabulary.size, len(vocabulary.answers), memory_size=MEMORY,
                     sentence_length=LENGTH, embedding_dim=8, ntm_memory_size=8,
                     memory_width=6, controller_units=16, seed=0)
    story = arrays["story"][:1]
    count = int(np.any(story[0] != 0, axis=-1).sum())
    assert count <= MEMORY // 2
    spread = np.zeros_like(story)
    spread[0, ::2][:count] = story[0, :count]
    question = arrays["question"][:1]
    packed_logits = model.predict({"story": story, "question": question}, verbose=0)
    spread_logits = model.predict({"story": spread, "question": question}, verbose=0)
    np.testing.assert_allclose(packed_logits, spread_logits, atol=1e-5)


def test_attention_model_shares_the_weights(task_two, tmp_path):
    vocabulary, arrays = task_two
    model = memn2n_model(vocabulary.size, len(vocabulary.answers), memory_size=MEMORY,
                         sentence_length=LENGTH, hidden_dim=8, num_hops=2)
    with_attention = attention_model(model)
    logits, weights = with_attention.predict(_inputs(arrays, 4), verbose=0)
    np.testing.assert_allclose(logits, model.predict(_inputs(arrays, 4), verbose=0), atol=1e-6)
    assert weights.shape == (4, 2, MEMORY)
    filled = np.any(arrays["story"][:4] != 0, axis=-1)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[:, :, ~filled[0]][0] == 0)
    # A reloaded model gives its attention too.
    model.save(tmp_path / "memn2n.keras")
    reloaded = attention_model(keras.saving.load_model(tmp_path / "memn2n.keras"))
    for got, want in zip(reloaded.predict(_inputs(arrays, 4), verbose=0), (logits, weights)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_linear_start_switches_on_a_plateau():
    model = memn2n_model(10, 3, memory_size=4, sentence_length=3, hidden_dim=4,
                         linear_start=True)
    layer = model.get_layer("memory_network")
    callback = LinearStart(patience=2)
    callback.set_model(model)
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.92]):
        assert float(layer.attention_softmax.numpy()) == 0.0
        callback.on_epoch_end(epoch, {"val_loss": loss})
    assert float(layer.attention_softmax.numpy()) == 1.0 and callback.switched_at == 3
    with pytest.raises(ValueError, match="LinearStart monitors 'val_loss', which the logs lack"):
        fresh = LinearStart()
        fresh.set_model(model)
        fresh.on_epoch_end(0, {"loss": 1.0})
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="LinearStart needs a model with a MemoryNetwork"):
        stuck = LinearStart(patience=1)
        stuck.set_model(plain)
        stuck.on_epoch_end(0, {"val_loss": 1.0})
        stuck.on_epoch_end(1, {"val_loss": 1.0})


def test_linear_start_ends_inside_a_compiled_fit(task_two):
    """The switch is a variable the compiled step reads: after LinearStart
    ends it mid-fit, the same compiled model attends with a softmax."""
    vocabulary, arrays = task_two
    model = memn2n_model(vocabulary.size, len(vocabulary.answers), memory_size=MEMORY,
                         sentence_length=LENGTH, hidden_dim=8, linear_start=True)
    compile_qa_model(model)
    seen = []

    class Plateau(keras.callbacks.Callback):  # the validation loss stops falling
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = 1.0

    class Weights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _, weights = attention_model(self.model).predict(_inputs(arrays, 8), verbose=0)
            seen.append(np.abs(weights.sum(-1) - 1).max())

    switch = LinearStart(patience=1)
    model.fit(_inputs(arrays), arrays["answer"], validation_data=(_inputs(arrays, 8),
              arrays["answer"][:8]), batch_size=32, epochs=3, verbose=0,
              callbacks=[Plateau(), switch, Weights()])
    assert switch.switched_at == 1
    assert seen[0] > 1e-3 and seen[2] < 1e-5, seen  # linear, then a softmax
    assert model.jit_compile


def test_an_unknown_reader_is_named():
    with pytest.raises(ValueError, match="reader must be one of .*received reader='gru'"):
        qa_model("gru", 10, 3)


def test_support_recall_by_hand():
    weights = np.array([
        [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]],  # hop 1 on slot 1, hop 2 on slot 0
        [[0.2, 0.2, 0.6], [0.1, 0.1, 0.8]],  # both on slot 2
    ])
    supporting = np.array([[False, True, False], [False, False, True]])
    np.testing.assert_allclose(support_recall(weights, supporting), [1.0, 0.5])
    with pytest.raises(ValueError, match="weights must be"):
        support_recall(weights[0], supporting)


def test_the_hop_attention_plot(tmp_path):
    from keras_attention.plotting import plot_hop_attention

    figure = plot_hop_attention(["Mary went to the hallway.", "John moved to the garden."],
                                [[0.9, 0.1], [0.3, 0.7]], [0], "Where is Mary?", "hallway",
                                tmp_path / "hops.png")
    assert (tmp_path / "hops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[0].startswith("* 1.") and labels[1].startswith("2.")
    with pytest.raises(ValueError, match="weights must be \\[K, 2\\] for 2 sentences"):
        plot_hop_attention(["a.", "b."], [[1.0, 0.0, 0.0]], [0], "q?", "a", tmp_path / "x.png")
