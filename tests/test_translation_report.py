"""Translator (text in, text out, one folder), sacrebleu scores and the report."""

import json
import os
import re

import keras
import numpy as np
import pytest

from keras_attention import translation
from keras_attention.data import subwords
from keras_attention.models import translation_model
from tests import translation_fixtures

SMALL = {
    "seq2seq": dict(units=16, embedding_dim=8, dropout=0.0),
    "rnnsearch": dict(units=16, embedding_dim=8, dropout=0.0),
    "transformer": dict(hidden_dim=16, num_heads=2, intermediate_dim=32,
                        num_encoder_blocks=1, num_decoder_blocks=1),
}


def _raises(error, *parts):
    return pytest.raises(error, match=".*".join(map(re.escape, parts)))


@pytest.fixture(scope="module")
def tokenizers():
    german, english = translation_fixtures.corpus(200)
    return (subwords.SubwordTokenizer.train(german, vocabulary_size=50),
            subwords.SubwordTokenizer.train(english, vocabulary_size=50))


def _translator(kind, tokenizers, length=24):
    keras.utils.set_random_seed(0)
    source, target = tokenizers
    model = translation_model(kind, source.vocabulary_size, target.vocabulary_size,
                              source_length=length, target_length=length, **SMALL[kind])
    return translation.Translator(model, source, target)


def test_evaluate_is_sacrebleu_on_detokenized_text():
    import sacrebleu

    references = ["A dog runs in the park.", "Two cats sleep on the street."]
    perfect = translation.evaluate(references, references)
    assert perfect == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0)}
    hypotheses = ["A dog runs in a park.", "Two cats sleep."]
    scores = translation.evaluate(hypotheses, references)
    assert scores["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert scores["chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert 0 < scores["bleu"] < 100
    with _raises(ValueError, "must be aligned", "1 and 2"):
        translation.evaluate(hypotheses[:1], references)
    with _raises(ValueError, "at least one sentence"):
        translation.evaluate([], [])


def test_bleu_by_length_bins_by_source_words():
    sources = ["a b", "a b c d e f g h i j k l", "a", "x " * 25]
    references = ["one two three four", "five six seven eight", "nine ten eleven twelve",
                  "a b c d"]
    hypotheses = list(references)
    hypotheses[1] = "nothing alike at all"
    rows = translation.bleu_by_length(sources, hypotheses, references,
                                      bins=(0, 10, 20, 30))
    assert [(low, high, count) for low, high, count, _ in rows] == [
        (0, 10, 2), (10, 20, 1), (20, 30, 1)]
    assert rows[0][3] == pytest.approx(100.0) and rows[1][3] == pytest.approx(0.0)


@pytest.mark.parametrize("kind", ["seq2seq", "rnnsearch", "transformer"])
def test_translator_round_trips_through_its_folder(kind, tokenizers, tmp_path):
    translator = _translator(kind, tokenizers)
    sentences = ["Ein Hund läuft im Park.", "", "Eine Katze 日本 schläft."]
    before = translator.translate(sentences, beam_size=2)
    assert len(before) == 3 and all(isinstance(s, str) for s in before)
    folder = translator.save(str(tmp_path / kind))
    assert sorted(os.listdir(folder)) == [
        "model.keras", "source.model", "target.model", "translator.json"]
    loaded = translation.Translator.load(folder)
    assert loaded.kind == kind
    assert loaded.translate(sentences, beam_size=2) == before


def _contents(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_a_failed_save_leaves_the_folder_as_it_was(tokenizers, tmp_path, monkeypatch):
    translator = _translator("seq2seq", tokenizers)
    folder = tmp_path / "saved"
    translator.save(str(folder))
    before = _contents(folder)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # The target tokenizer is written after the model and the source
    # tokenizer: its failure must leave neither of them in the folder.
    other = _translator("seq2seq", tokenizers)
    weight = other.model.trainable_variables[0]
    weight.assign(weight + 1.0)  # another model.keras than the one saved
    monkeypatch.setattr(other.target_tokenizer, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        other.save(str(folder))
    assert _contents(folder) == before  # no staging folder left either


def test_a_failed_device_export_leaves_the_old_files(tokenizers, tmp_path, monkeypatch):
    from keras_attention_export import tflite

    old = {f"m.{side}.model": f"old {side}".encode() for side in ("source", "target")}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)

    def fail(*args, **kwargs):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(tflite, "export_tflite", fail)
    with pytest.raises(RuntimeError, match="conversion failed"):
        _translator("seq2seq", tokenizers).export_tflite(str(tmp_path / "m.tflite"))
    assert _contents(tmp_path) == old


def test_translator_checks_its_parts(tokenizers, tmp_path):
    source, target = tokenizers
    model = translation_model("seq2seq", source.vocabulary_size + 1,
                              target.vocabulary_size, source_length=8, target_length=8,
                              **SMALL["seq2seq"])
    with _raises(ValueError, "the source tokenizer has", "source_vocabulary_size is"):
        translation.Translator(model, source, target)
    good = _translator("seq2seq", tokenizers).model
    with _raises(ValueError, "target_tokenizer must be a SubwordTokenizer", "str"):
        translation.Translator(good, source, "en.model")
    with _raises(FileNotFoundError, "holds no translator.json"):
        translation.Translator.load(str(tmp_path))
    with _raises(ValueError, "the seq2seq model has no attention"):
        _translator("seq2seq", tokenizers).alignment("Ein Hund.")


def test_alignments_have_one_row_per_output_piece(tokenizers):
    rnnsearch = _translator("rnnsearch", tokenizers)
    weights, source_pieces, target_pieces = rnnsearch.alignment("Ein Hund läuft.")
    assert weights.shape == (len(target_pieces), len(source_pieces))
    assert source_pieces[-1] == "</s>"
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)  # over the real source
    transformer = _translator("transformer", tokenizers)
    weights, source_pieces, target_pieces = transformer.alignment("Ein Hund läuft.")
    assert weights.shape == (2, len(target_pieces), len(source_pieces))
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_write_report_writes_scores_plot_and_heatmaps(tokenizers, tmp_path):
    german, english = translation_fixtures.corpus(12, seed=4)
    translators = {kind: _translator(kind, tokenizers)
                   for kind in ("seq2seq", "rnnsearch", "transformer")}
    scores = translation.write_report(translators, german, english, str(tmp_path),
                                      examples=(0, 3), beam_size=2)
    files = set(os.listdir(tmp_path))
    assert {"index.md", "scores.json", "bleu_by_length.png"} <= files
    # RNNsearch: one alignment per example; Transformer: one per head.
    assert {"alignment_rnnsearch_0.png", "alignment_rnnsearch_3.png",
            "alignment_transformer_0_head0.png", "alignment_transformer_3_head1.png"} <= files
    assert not any(name.startswith("alignment_seq2seq") for name in files)
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert set(saved) == set(translators)
    for name, result in scores.items():
        assert 0.0 <= result["bleu"] <= 100.0 and saved[name]["chrf"] == result["chrf"]
        assert sum(count for _, _, count, _ in result["by_length"]) == 12
    assert "| rnnsearch |" in (tmp_path / "index.md").read_text()
    with _raises(ValueError, "examples must be indices into the 12 sources", "[12]"):
        translation.write_report(translators, german, english, str(tmp_path),
                                 examples=(12,))


@pytest.mark.parametrize("kind", ["rnnsearch", "transformer"])
def test_export_for_the_device_translates_as_keras_does(kind, tokenizers, tmp_path):
    from edge_demo.runtime import load

    translator = _translator(kind, tokenizers)
    sentences = translation_fixtures.corpus(6, seed=9)[0] + ["", "Ein 日本 Hund."]
    meta = translator.export_tflite(str(tmp_path / f"{kind}.tflite"), mode="float32")
    task = json.loads(open(meta).read())["task"]
    assert task["kind"] == "translation" and task["source_language"] == "de"
    for side in ("source", "target"):
        assert (tmp_path / task[f"{side}_tokenizer"]["file"]).is_file()
    device = load(str(tmp_path / f"{kind}.tflite"))
    # The device runs the exported encode and decode_step; so does Keras's
    # greedy_decode (test_translation_models holds greedy_search to it).
    keras_ids = translator.model.greedy_decode(translator.source_ids(sentences))
    want = translator.target_tokenizer.decode(keras_ids)
    assert [device.translate(s).text for s in sentences] == want
    # Calibrated modes need real sentences to calibrate on.
    with _raises(ValueError, "mode='int8' needs calibration_sentences"):
        translator.export_tflite(str(tmp_path / "int8.tflite"), mode="int8")
    meta = translator.export_tflite(str(tmp_path / "int8.tflite"), mode="int8",
                                    calibration_sentences=sentences)
    assert json.loads(open(meta).read())["mode"] == "int8"
    assert len(load(str(tmp_path / "int8.tflite")).translate(sentences[0]).text) > 0
