"""XLNet's `fill` signature to the device: GapFiller, edge_demo.fill, the CLI."""

import json
import re

import keras
import numpy as np
import pytest

from edge_demo.__main__ import main as edge_main
from edge_demo.errors import EdgeModelError
from edge_demo.runtime import load
from keras_attention.data import subwords
from keras_attention.gap_filler import GapFiller
from keras_attention.models import XLNetLM
from keras_attention.models.gap_filling import gap_logits
from tests import translation_fixtures

T = 32


@pytest.fixture(scope="module")
def filler():
    english = translation_fixtures.corpus(200, seed=0)[1]
    tokenizer = subwords.SubwordTokenizer.train(english, vocabulary_size=40)
    keras.utils.set_random_seed(0)
    model = XLNetLM(tokenizer.vocabulary_size, hidden_dim=16, num_heads=2,
                    intermediate_dim=32, num_blocks=2, dropout=0.0)
    return GapFiller(model, tokenizer, T), english


@pytest.fixture(scope="module")
def float32_export(filler, tmp_path_factory):
    path = tmp_path_factory.mktemp("fill") / "xlnet.tflite"
    filler[0].export_tflite(str(path), "float32")
    return path


def test_fill_is_the_model_on_gap_batch_inputs():
    # The signature's masks, built in keras.ops from the gap, against the
    # numpy gap_batch route: the same log-probabilities at every gap token.
    keras.utils.set_random_seed(0)
    model = XLNetLM(20, hidden_dim=16, num_heads=2, intermediate_dim=32, num_blocks=2,
                    dropout=0.0)
    rng = np.random.default_rng(0)
    lengths = np.array([10, 7, 5])
    padding = np.arange(10)[None] < lengths[:, None]
    tokens = np.where(padding, rng.integers(1, 20, (3, 10)), 0).astype("int32")
    start, length = np.array([3, 2, 1]), 2
    gap = (np.arange(10)[None] >= start[:, None]) & (np.arange(10)[None] < start[:, None] + length)
    want = gap_logits(model, tokens, start, length, padding)
    want = want - np.log(np.exp(want).sum(-1, keepdims=True))
    probabilities = keras.ops.convert_to_numpy(
        model.fill(tokens, padding.astype("int32"), gap.astype("int32")))
    got = np.log(np.take_along_axis(
        probabilities, (start[:, None] + np.arange(length))[..., None], 1))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_device_fills_the_gap_as_keras_does(filler, float32_export, capsys):
    filler, english = filler
    text = "A dog ___ in the park."
    path = float32_export
    metadata = json.loads(path.with_suffix(".json").read_text())
    assert metadata["task"]["kind"] == "fill"
    assert (path.parent / metadata["task"]["tokenizer"]["file"]).is_file()
    device = load(str(path))
    for gap_length in (1, 3):
        want = filler.fill(text, gap_length)
        got = device.fill(text, gap_length)
        assert got.text == want["text"] and got.pieces == want["pieces"]
        np.testing.assert_allclose(got.probabilities, want["probabilities"], atol=1e-5)
        assert len(got.call_ms) == gap_length
    assert got.text.startswith("A dog") and got.text.endswith("in the park.")
    # The command line: the filled text, the pieces and their candidates.
    capsys.readouterr()
    assert edge_main([str(path), "--text", text, "--runs", "2"]) == 0
    printed = capsys.readouterr().out
    want = filler.fill(text)
    assert f"output:  {want['text']}\n" in printed
    assert re.search(rf"gap:     {re.escape(want['pieces'][0])} 0\.\d{{3}}\n", printed)
    assert "first piece's candidates: " in printed


def test_int8_export_calibrates_on_sentences_with_gaps(filler, tmp_path):
    filler, english = filler
    token_ids, padding, gap = filler.calibration_arrays(english[:20])
    assert token_ids.shape == padding.shape == gap.shape == (20, T)
    lengths = padding.sum(1)
    assert (gap.sum(1) >= 1).all() and (gap.sum(1) <= 3).all()
    assert (gap[:, 0] == 0).all() and (gap[np.arange(20), lengths - 1] == 0).all()
    path = tmp_path / "xlnet_int8.tflite"
    with pytest.raises(ValueError, match="mode='int8' needs calibration_sentences"):
        filler.export_tflite(str(path), "int8")
    filler.export_tflite(str(path), "int8", calibration_sentences=english)
    device = load(str(path))
    assert device.mode == "int8"
    filled = device.fill("A cat ___ on the beach.")
    assert filled.text.startswith("A cat") and len(filled.pieces) == 1
    assert 0.0 < filled.probabilities[0] <= 1.0


def test_bad_text_and_a_changed_tokenizer_are_refused(filler, float32_export, tmp_path):
    filler, _ = filler
    for text, message in (("A dog runs.", "exactly one gap"),
                          ("A ___ runs ___.", "exactly one gap"),
                          ("A ___ " + "dog " * 40, "more than")):
        with pytest.raises(ValueError, match=message):
            filler.fill(text)
    for file in float32_export.parent.iterdir():  # a copy to damage
        (tmp_path / file.name).write_bytes(file.read_bytes())
    path = tmp_path / float32_export.name
    device = load(str(path))
    for text, message in (("A dog runs.", "exactly one gap"),
                          ("A ___ " + "dog " * 40, "more than the model's 32")):
        with pytest.raises(EdgeModelError, match=message):
            device.fill(text)
    tokenizer = tmp_path / "xlnet.tokenizer.model"
    tokenizer.write_bytes(tokenizer.read_bytes() + b"x")
    with pytest.raises(EdgeModelError, match="xlnet.tokenizer.model: SHA-256 differs"):
        load(str(path)).fill("A dog ___ in the park.")
