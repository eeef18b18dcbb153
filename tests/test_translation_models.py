"""The three translation models: recipes, overfitting, beam search, resuming."""

import itertools
import math
import re

import keras
import numpy as np
import pytest

from keras_attention.data import subwords, translation
from keras_attention.data.subwords import END_ID, START_ID
from keras_attention.models import decoding, translation_models
from keras_attention.models.translation_models import (
    InverseSquareRootSchedule,
    SmoothedSparseCrossentropy,
    compile_translation_model,
    translation_model,
)
from tests import translation_fixtures

SMALL = {
    "seq2seq": dict(units=32, embedding_dim=16, dropout=0.0),
    "rnnsearch": dict(units=32, embedding_dim=16, dropout=0.0),
    "transformer": dict(hidden_dim=32, num_heads=2, intermediate_dim=64,
                        num_encoder_blocks=1, num_decoder_blocks=1, dropout=0.0),
}


def _raises(error, *parts):
    return pytest.raises(error, match=".*".join(map(re.escape, parts)))


@pytest.fixture(scope="module")
def tiny_task():
    """Eight German-English pairs as ids, with their tokenizers."""
    german, english = translation_fixtures.corpus(200)
    source = subwords.SubwordTokenizer.train(german, vocabulary_size=60)
    target = subwords.SubwordTokenizer.train(english, vocabulary_size=60)
    pairs = list(dict.fromkeys(zip(german, english)))[:8]
    source_ids = source.encode([g for g, _ in pairs])
    target_ids = target.encode([e for _, e in pairs])
    length = max(len(ids) for ids in source_ids + target_ids)
    return dict(
        source=source, target=target, english=[e for _, e in pairs],
        source_ids=source_ids, target_ids=target_ids, length=length,
    )


def _model(kind, task, **overrides):
    keras.utils.set_random_seed(1)
    return translation_model(
        kind, task["source"].vocabulary_size, task["target"].vocabulary_size,
        source_length=task["length"], target_length=task["length"],
        **{**SMALL[kind], **overrides},
    )


class StopBelowLoss(keras.callbacks.Callback):
    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        if logs["loss"] < self.threshold:
            self.model.stop_training = True


@pytest.mark.parametrize("kind", translation_models.KINDS)
def test_each_model_overfits_a_tiny_corpus_to_exact_output(kind, tiny_task):
    # Without attention everything passes through one state: give it room.
    wider = dict(units=64) if kind == "seq2seq" else {}
    model = compile_translation_model(
        _model(kind, tiny_task, **wider),
        learning_rate=1e-2 if kind != "transformer" else 5e-3,
        label_smoothing=0.0,
    )
    data = translation.translation_dataset(
        tiny_task["source_ids"], tiny_task["target_ids"], batch_size=8,
        bucket_boundaries="auto", max_source_length=tiny_task["length"],
        max_target_length=tiny_task["length"], seed=0,
    )
    # Up to 600 steps, in rounds of 50, until the training loss says the
    # corpus is memorised (RNNsearch and the Transformer get there in 150
    # steps, the plain encoder-decoder in 250; XLA's compilation is most of
    # the time).
    model.fit(data.repeat(), steps_per_epoch=50, epochs=12, verbose=0,
              callbacks=[StopBelowLoss(0.01)])
    source = translation.pad_ids(tiny_task["source_ids"], tiny_task["length"])
    # Greedy decoding in Keras (test_beam_size_one_equals_greedy holds the
    # compiled greedy search to it).
    ids = model.greedy_decode(source)
    assert tiny_task["target"].decode(ids) == tiny_task["english"]
    # Beam search finds the same translations on a corpus it knows this well.
    beam, scores = decoding.beam_search(model, source, beam_size=3)
    assert tiny_task["target"].decode(beam) == tiny_task["english"]
    assert np.all(np.isfinite(scores)) and np.all(scores <= 0)


@pytest.mark.parametrize("kind", translation_models.KINDS)
def test_beam_size_one_equals_greedy(kind, tiny_task):
    model = _model(kind, tiny_task)
    rng = np.random.default_rng(0)
    source = rng.integers(3, tiny_task["source"].vocabulary_size,
                          (5, tiny_task["length"])).astype("int32")
    source[:, 6:] = 0
    source[1, 1:] = 0  # a one-token source
    eager = model.greedy_decode(source)
    np.testing.assert_array_equal(decoding.greedy_search(model, source, batch_size=2),
                                  eager)
    ids, _ = decoding.beam_search(model, source, beam_size=1, length_penalty=0.0)
    np.testing.assert_array_equal(ids, eager)


def _sequence_log_probs(model, source, hypotheses):
    """log p(ids | source) of each hypothesis by teacher forcing, up to and
    including its end id: one batched call of the model."""
    decoder_inputs = np.full((len(hypotheses), model.target_length), 0, "int32")
    decoder_inputs[:, 0] = START_ID
    for row, ids in enumerate(hypotheses):
        decoder_inputs[row, 1 : len(ids)] = ids[:-1]
    sources = np.repeat(source, len(hypotheses), axis=0)
    logits = np.asarray(model({"source": sources, "decoder_inputs": decoder_inputs}))
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(
        -1, keepdims=True)) - logits.max(-1, keepdims=True)
    return [
        float(sum(log_probs[row, t, token] for t, token in enumerate(ids)))
        for row, ids in enumerate(hypotheses)
    ]


def test_wide_beam_finds_the_most_probable_sequence():
    # V = 5 and T = 3: a beam of 25 keeps every prefix, so with no length
    # penalty it must return the exact argmax over all 5^3 hypotheses.
    keras.utils.set_random_seed(3)
    model = translation_model("transformer", 7, 5, source_length=4, target_length=3,
                              **SMALL["transformer"])
    source = np.array([[4, 5, 6, 2]], "int32")
    hypotheses = []
    for ids in itertools.product(range(5), repeat=3):
        ids = list(ids)
        if END_ID in ids:
            ids = ids[: ids.index(END_ID) + 1]
        hypotheses.append(ids)
    scores = _sequence_log_probs(model, source, hypotheses)
    best = max(scores)
    best_ids = hypotheses[scores.index(best)]
    found, score = decoding.beam_search(model, source, beam_size=25, length_penalty=0.0)
    assert found[0, : len(best_ids)].tolist() == best_ids
    assert not found[0, len(best_ids):].any()
    assert score[0] == pytest.approx(best, abs=1e-4)


def test_cached_decoding_equals_uncached(tiny_task):
    # The Transformer's compiled search reads its key/value cache; decoding
    # by re-running the whole prefix through the teacher-forced model each
    # step must give the same tokens.
    model = _model("transformer", tiny_task)
    length = tiny_task["length"]
    source = translation.pad_ids(tiny_task["source_ids"][:3], length)
    cached = decoding.greedy_search(model, source)
    decoder_inputs = np.zeros((3, length), "int32")
    decoder_inputs[:, 0] = START_ID
    uncached = np.zeros((3, length), "int32")
    done = np.zeros(3, bool)
    for t in range(length):
        logits = np.asarray(model({"source": source, "decoder_inputs": decoder_inputs}))
        token = logits[:, t].argmax(-1)
        uncached[:, t] = np.where(done, 0, token)
        done |= token == END_ID
        if t + 1 < length:
            decoder_inputs[:, t + 1] = token
    np.testing.assert_array_equal(cached, uncached)


def test_length_penalty_prefers_longer_hypotheses():
    keras.utils.set_random_seed(5)
    model = translation_model("rnnsearch", 9, 9, source_length=5, target_length=8,
                              units=8, embedding_dim=4)
    source = np.random.default_rng(1).integers(3, 9, (16, 5)).astype("int32")
    plain, _ = decoding.beam_search(model, source, beam_size=4, length_penalty=0.0)
    longer, _ = decoding.beam_search(model, source, beam_size=4, length_penalty=2.0)
    lengths = lambda ids: (ids != 0).sum(axis=1)
    assert lengths(longer).mean() >= lengths(plain).mean()


def test_decoding_bad_input_is_named(tiny_task):
    model = _model("seq2seq", tiny_task)
    source = translation.pad_ids(tiny_task["source_ids"][:2], tiny_task["length"])
    with _raises(ValueError, "beam_size must be a positive int"):
        decoding.beam_search(model, source, beam_size=0)
    with _raises(ValueError, "length_penalty must be a finite number >= 0", "-1"):
        decoding.beam_search(model, source, length_penalty=-1)
    with _raises(ValueError, "source_ids must have shape [B,", "received shape (2, 3)"):
        decoding.beam_search(model, source[:, :3])
    ids, scores = decoding.beam_search(model, source[:0])
    assert ids.shape == (0, tiny_task["length"]) and scores.shape == (0,)


def test_odd_sentences_decode_without_a_crash(tiny_task):
    # An empty sentence, unknown characters and a sentence longer than the
    # model's maximum all give a translation (of what the model can see).
    model = _model("transformer", tiny_task)
    length = tiny_task["length"]
    sentences = ["", "Ein 日本 Hund läuft.", " ".join(["Ein Hund läuft im Park."] * 10)]
    ids = tiny_task["source"].encode(sentences)
    assert ids[0] == [END_ID] and subwords.UNKNOWN_ID in ids[1] and len(ids[2]) > length
    source = translation.pad_ids(ids, length, truncate=True)
    assert source[2, -1] == END_ID
    out, scores = decoding.beam_search(model, source, beam_size=2)
    assert out.shape == (3, length) and np.all(np.isfinite(scores))
    assert len(tiny_task["target"].decode(out)) == 3


# -- recipes --------------------------------------------------------------------


def test_smoothed_crossentropy_by_hand():
    logits = np.array([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]]], "float32")  # [1, 2, 3]
    targets = np.array([[0, 2]])
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.array([log_p[0, 0, 0], log_p[0, 1, 2]])
    uniform = -log_p[0].mean(-1)
    weights = np.array([[1.0, 0.0]])
    loss = SmoothedSparseCrossentropy(0.1)
    want = 0.9 * nll[0] + 0.1 * uniform[0]  # the second token is padding
    assert float(loss(targets, logits, sample_weight=weights)) == pytest.approx(want, rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(SmoothedSparseCrossentropy(0.0)(targets, logits)) == pytest.approx(
        float(plain(targets, logits)), rel=1e-5)
    with _raises(ValueError, "label_smoothing must be a float in [0, 1)", "1.0"):
        SmoothedSparseCrossentropy(1.0)


def test_inverse_square_root_schedule_by_hand():
    schedule = InverseSquareRootSchedule(256, warmup_steps=100)
    rates = [float(schedule(step)) for step in (0, 49, 99, 399)]
    assert rates[0] == pytest.approx(256**-0.5 * 1 * 100**-1.5)
    assert rates[1] == pytest.approx(256**-0.5 * 50 * 100**-1.5)
    assert rates[2] == pytest.approx(256**-0.5 * 100**-0.5)  # the peak
    assert rates[3] == pytest.approx(256**-0.5 * 400**-0.5)
    again = InverseSquareRootSchedule.from_config(schedule.get_config())
    assert float(again(10)) == pytest.approx(float(schedule(10)))


def test_xla_by_default_where_it_pays(tiny_task):
    # bench/xla_cpu.py: on a CPU too, XLA speeds up every kind's step, now
    # that all of them draw their dropout with HashDropout.
    for kind in ("seq2seq", "rnnsearch", "transformer"):
        assert compile_translation_model(_model(kind, tiny_task)).jit_compile is True
    # An explicit choice is kept.
    plain = compile_translation_model(_model("transformer", tiny_task), jit_compile=False)
    assert plain.jit_compile is False


def test_recipes_per_kind(tiny_task):
    transformer = compile_translation_model(_model("transformer", tiny_task))
    assert isinstance(transformer.optimizer._learning_rate, InverseSquareRootSchedule)
    assert transformer.optimizer.beta_2 == 0.98
    assert transformer.loss.label_smoothing == 0.1
    rnnsearch = compile_translation_model(_model("rnnsearch", tiny_task))
    assert rnnsearch.loss.label_smoothing == 0.0
    assert rnnsearch.optimizer.global_clipnorm == 1.0
    assert rnnsearch.bidirectional and rnnsearch.attention
    seq2seq = _model("seq2seq", tiny_task)
    assert not seq2seq.attention
    with _raises(ValueError, "kind must be one of", "'lstm'"):
        translation_model("lstm", 10, 10)
    with _raises(ValueError, "mixed_precision must be None", "'float16'"):
        translation_model("seq2seq", 10, 10, mixed_precision="float16")


@pytest.mark.parametrize("kind", translation_models.KINDS)
def test_mixed_precision_keeps_float32_logits_and_trains(kind, tiny_task):
    model = _model(kind, tiny_task, mixed_precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # restored
    compile_translation_model(model, label_smoothing=0.1)
    data = translation.translation_dataset(
        tiny_task["source_ids"], tiny_task["target_ids"], batch_size=8,
        max_source_length=tiny_task["length"], max_target_length=tiny_task["length"],
    )
    history = model.fit(data, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    inputs, _, _ = next(iter(data))
    assert model(inputs).dtype == "float32"
    assert model.get_layer("source_embedding").compute_dtype == "bfloat16"


def test_training_resumes_from_its_checkpoint(tiny_task, tmp_path):
    data = translation.translation_dataset(
        tiny_task["source_ids"], tiny_task["target_ids"], batch_size=4, shuffle=False,
        max_source_length=tiny_task["length"], max_target_length=tiny_task["length"],
    )

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.weights = [w.copy() for w in self.model.get_weights()]
                raise KeyboardInterrupt

    # Without XLA: resuming is the callbacks' and the checkpoint's business,
    # and two XLA compilations were most of this test's time.
    model = compile_translation_model(_model("rnnsearch", tiny_task), jit_compile=False)
    interrupt = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        translation_models.train_translation_model(
            model, data, epochs=4, checkpoint_dir=str(tmp_path), callbacks=[interrupt],
            verbose=0,
        )
    # A new process would build a fresh model: the backup restores the
    # weights of the last finished epoch and fit continues after it.
    fresh = compile_translation_model(_model("rnnsearch", tiny_task), jit_compile=False)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if not seen:
                for got, want in zip(self.model.get_weights(), interrupt.weights):
                    np.testing.assert_allclose(got, want, rtol=0, atol=0)
            seen.append(epoch)

    translation_models.train_translation_model(
        fresh, data, epochs=4, checkpoint_dir=str(tmp_path), callbacks=[Record()],
        verbose=0,
    )
    assert seen == [2, 3]


@pytest.mark.parametrize("attention", [True, False])
def test_bidirectional_encoder_steps_equal_teacher_forcing(attention):
    # The exported encode runs the two encoder cells unrolled, as views; one
    # decode step at a time from it must give the teacher-forced logits.
    from keras_attention.models import RNNSeq2Seq

    keras.utils.set_random_seed(4)
    model = RNNSeq2Seq(30, 30, 8, 6, units=16, attention=attention, bidirectional=True)
    source = np.array([[5, 6, 7, 2, 0, 0, 0, 0], [8, 9, 10, 11, 12, 13, 14, 2]], "int32")
    decoder_inputs = np.array([[1, 5, 6, 7, 2, 0], [1, 8, 9, 3, 4, 5]], "int32")
    forced = np.asarray(model({"source": source, "decoder_inputs": decoder_inputs}))
    states = {k: np.asarray(v) for k, v in model._encode(source).items()}
    if attention:
        assert states["values"].shape == (2, 8, 32)  # [h_forward; h_backward]
    for t in range(6):
        out = model._decode_step(decoder_inputs[:, t : t + 1], np.array([t], "int32"), states)
        np.testing.assert_allclose(np.asarray(out["logits"])[:, 0], forced[:, t], atol=1e-5)
        states.update({k: np.asarray(v) for k, v in out.items() if k != "logits"})
    # The backward pass sees the source from its end: a change in the last
    # real token changes the decoder's initial state.
    changed = source.copy()
    changed[0, 2] = 9
    before = np.asarray(model._encode(source)["state"])[0]
    after = np.asarray(model._encode(changed)["state"])[0]
    assert np.abs(before - after).max() > 1e-4
