"""Multi30k loading, SentencePiece subwords and the bucketed tf.data input."""

import os
import re

import numpy as np
import pytest

from keras_attention.data import multi30k, subwords, translation
from keras_attention.data.subwords import END_ID, PAD_ID, START_ID, UNKNOWN_ID
from tests import translation_fixtures

_corpus = translation_fixtures.corpus
_write_split = translation_fixtures.write_split


@pytest.fixture
def corpus_folder(tmp_path):
    _write_split(str(tmp_path), "train", *_corpus(200, seed=0))
    _write_split(str(tmp_path), "val", *_corpus(20, seed=1))
    return str(tmp_path)


def _raises(error, *parts):
    return pytest.raises(error, match=".*".join(map(re.escape, parts)))


# -- Multi30k --------------------------------------------------------------------


def test_load_multi30k_reads_a_folder_either_way_round(corpus_folder):
    german, english = _corpus(200, seed=0)
    assert multi30k.load_multi30k("train", path=corpus_folder) == (german, english)
    assert multi30k.load_multi30k(
        "train", source_language="en", target_language="de", path=corpus_folder
    ) == (english, german)
    sources, targets = multi30k.load_multi30k("validation", path=corpus_folder)
    assert (sources, targets) == _corpus(20, seed=1)


def test_load_multi30k_reads_plain_text_and_keeps_inner_text(tmp_path):
    _write_split(str(tmp_path), "train", ["  Ein  Hund. ", ""], ["A dog.", ""],
                 gzipped=False)
    assert multi30k.load_multi30k("train", path=str(tmp_path)) == (
        ["Ein  Hund.", ""], ["A dog.", ""]
    )


def test_load_multi30k_downloads_once_into_the_cache(tmp_path, monkeypatch):
    german, english = _corpus(5)
    served = str(tmp_path / "served")
    os.makedirs(served)
    _write_split(served, "val", german, english)
    fetched = []

    def fake_download(url, path):
        fetched.append(url)
        with open(os.path.join(served, url.rsplit("/", 1)[1]), "rb") as src:
            with open(path, "wb") as dst:
                dst.write(src.read())

    monkeypatch.setattr(multi30k, "_download", fake_download)
    # The generated corpus is not the canonical Multi30k, whose SHA-256 the
    # loader checks.
    monkeypatch.setattr(multi30k, "MULTI30K_SHA256", {})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    assert multi30k.load_multi30k("validation") == (german, english)
    assert sorted(fetched) == [
        multi30k.MULTI30K_URL.format(file="val.de.gz"),
        multi30k.MULTI30K_URL.format(file="val.en.gz"),
    ]
    assert os.path.isfile(tmp_path / "home" / "datasets" / "multi30k" / "val.de.gz")
    assert multi30k.load_multi30k("validation") == (german, english)
    assert len(fetched) == 2  # the second load read the cache


def test_load_multi30k_failed_download_names_the_url(tmp_path, monkeypatch):
    def offline(url, path):
        raise OSError("network unreachable")

    monkeypatch.setattr(multi30k, "_download", offline)
    with _raises(OSError, "could not download", "train.de.gz", "pass path="):
        multi30k.load_multi30k("train", cache_dir=str(tmp_path))
    assert not os.listdir(tmp_path)


def test_load_multi30k_bad_input(corpus_folder, tmp_path):
    with _raises(ValueError, "split must be one of", "received split='dev'"):
        multi30k.load_multi30k("dev", path=corpus_folder)
    with _raises(ValueError, "source_language must be one of", "'fr'"):
        multi30k.load_multi30k(source_language="fr", path=corpus_folder)
    with _raises(ValueError, "must differ", "'de'"):
        multi30k.load_multi30k(source_language="de", target_language="de",
                               path=corpus_folder)
    with _raises(FileNotFoundError, "not a folder"):
        multi30k.load_multi30k(path=str(tmp_path / "absent"))
    with _raises(FileNotFoundError, "test_2016_flickr.de", "is missing"):
        multi30k.load_multi30k("test", path=corpus_folder)
    # Misaligned files and corrupt files are named.
    bad = tmp_path / "bad"
    bad.mkdir()
    _write_split(str(bad), "train", ["Ein Hund.", "Zwei."], ["A dog."])
    with _raises(ValueError, "one line per sentence pair", "2 lines", "1 in"):
        multi30k.load_multi30k(path=str(bad))
    (bad / "train.de.gz").write_bytes(b"not gzip at all")
    with _raises(ValueError, "train.de.gz is not readable UTF-8 text"):
        multi30k.load_multi30k(path=str(bad))


@pytest.mark.skipif(
    not os.path.isdir(os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                   "data", "multi30k")),
    reason="the real Multi30k files are only on the development machines",
)
def test_real_multi30k_sizes():
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                          "multi30k")
    for split in ("train", "validation"):
        sources, targets = multi30k.load_multi30k(split, path=folder)
        assert len(sources) == len(targets) == multi30k.SIZES[split]


# -- subwords --------------------------------------------------------------------


@pytest.fixture(scope="module")
def english_tokenizer():
    return subwords.SubwordTokenizer.train(_corpus(200)[1], vocabulary_size=40)


def test_tokenizer_round_trip_and_special_ids(english_tokenizer):
    tokenizer = english_tokenizer
    english = _corpus(50, seed=3)[1]
    ids = tokenizer.encode(english)
    assert all(row[-1] == END_ID for row in ids)
    assert all(PAD_ID not in row[:-1] and START_ID not in row for row in ids)
    assert tokenizer.decode(ids) == english
    # A padded batch with start ids decodes the same; reading stops at the end id.
    padded = translation.pad_ids([[START_ID] + row for row in ids], 30)
    assert tokenizer.decode(padded) == english
    assert tokenizer.decode(ids[0] + [7, 8]) == english[0]
    assert tokenizer.encode("A dog runs.", add_start=True)[0] == START_ID
    assert tokenizer.encode("A dog runs.", add_end=False)[-1] != END_ID
    # Subwords: fewer pieces than the corpus has distinct words plus characters.
    assert 5 <= tokenizer.vocabulary_size <= 40
    assert tokenizer.id_to_piece(END_ID) == "</s>"


def test_pack_makes_language_model_rows_and_leaves_out_long_sentences(english_tokenizer):
    tokenizer = english_tokenizer
    sentences = ["A dog runs.", "A cat sleeps in the park.", "A bird jumps."]
    ids = [tokenizer.encode(s, add_start=True) for s in sentences]
    length = max(len(ids[0]), len(ids[2]))
    assert len(ids[1]) > length  # the middle sentence does not fit
    packed = tokenizer.pack(sentences, length)
    assert packed["kept"].tolist() == [0, 2]
    assert packed["token_ids"].dtype == np.int32
    for row, mask, want in zip(packed["token_ids"], packed["padding_mask"], (ids[0], ids[2])):
        assert row[: len(want)].tolist() == want and (row[len(want):] == PAD_ID).all()
        assert mask.tolist() == [True] * len(want) + [False] * (length - len(want))
    assert tokenizer.pack(sentences, 30)["kept"].tolist() == [0, 1, 2]
    assert tokenizer.pack([], 30)["token_ids"].shape == (0, 30)
    with _raises(ValueError, "sequence_length must be an int >= 3", "received sequence_length=2"):
        tokenizer.pack(sentences, 2)
    with _raises(ValueError, "sentences must be a list of sentences, received one str"):
        tokenizer.pack("A dog runs.", 30)


def test_tokenizer_defined_behaviour_on_odd_input(english_tokenizer):
    tokenizer = english_tokenizer
    assert tokenizer.encode("") == [END_ID]
    assert tokenizer.decode([END_ID]) == ""
    assert tokenizer.decode([]) == ""
    # Characters never seen in training become the unknown id, not a crash.
    ids = tokenizer.encode("A dog 日本 runs.")
    assert UNKNOWN_ID in ids
    assert "⁇" in tokenizer.decode(ids)
    assert tokenizer.decode(ids).startswith("A dog")
    with _raises(ValueError, "ids must lie in [0,", "received 99999"):
        tokenizer.decode([5, 99999])
    with _raises(ValueError, "sentences must hold str sentences", "int at index 1"):
        tokenizer.encode(["a", 3])


def test_tokenizer_training_is_deterministic_and_saves(english_tokenizer, tmp_path):
    again = subwords.SubwordTokenizer.train(_corpus(200)[1], vocabulary_size=40)
    assert again.model_proto == english_tokenizer.model_proto
    path = english_tokenizer.save(str(tmp_path / "vocab" / "en.model"))
    loaded = subwords.SubwordTokenizer.load(path)
    sentence = "A bird sleeps on the beach."
    assert loaded.encode(sentence) == english_tokenizer.encode(sentence)
    # SentencePiece itself reads the file (what a device without TF does).
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=path)
    assert processor.encode(sentence) + [END_ID] == loaded.encode(sentence)


def test_tokenizer_bad_input(tmp_path):
    with _raises(ValueError, "vocabulary_size must be an int >= 5", "received vocabulary_size=2"):
        subwords.SubwordTokenizer.train(["a b c"], vocabulary_size=2)
    with _raises(ValueError, "at least one non-empty sentence", "2 empty"):
        subwords.SubwordTokenizer.train(["", "  "])
    with _raises(ValueError, "must be a list of sentences, received one str"):
        subwords.SubwordTokenizer.train("a cat sat")
    with _raises(ValueError, "model_type must be one of"):
        subwords.SubwordTokenizer.train(["a cat"], vocabulary_size=10, model_type="wordpiece")
    corrupt = tmp_path / "corrupt.model"
    corrupt.write_bytes(b"\x00\x01 definitely not a model")
    with _raises(ValueError, "corrupt.model is not a usable SentencePiece model"):
        subwords.SubwordTokenizer.load(str(corrupt))
    with _raises(FileNotFoundError, "cannot read the SentencePiece model"):
        subwords.SubwordTokenizer.load(str(tmp_path / "absent.model"))


# -- tf.data ------------------------------------------------------------------------


def _encoded_corpus(count=200):
    german, english = _corpus(count)
    source = subwords.SubwordTokenizer.train(german, vocabulary_size=40)
    target = subwords.SubwordTokenizer.train(english, vocabulary_size=40)
    return source.encode(german), target.encode(english)


def test_dataset_teacher_forcing_layout_and_padding_mask():
    sources, targets = (ids[:16] for ids in _encoded_corpus(200))
    longest = max(len(ids) for ids in sources + targets)
    data = translation.translation_dataset(
        sources, targets, batch_size=16, shuffle=False, max_source_length=longest,
        max_target_length=longest,
    )
    (inputs, target, weights), = list(data)
    assert inputs["source"].shape == (16, longest) and target.shape == (16, longest)
    for row in range(16):
        n, m = len(sources[row]), len(targets[row])
        np.testing.assert_array_equal(inputs["source"][row, :n], sources[row])
        assert not inputs["source"][row, n:].numpy().any()
        np.testing.assert_array_equal(target[row, :m], targets[row])
        np.testing.assert_array_equal(
            inputs["decoder_inputs"][row, :m], [START_ID] + targets[row][:-1]
        )
        np.testing.assert_array_equal(weights[row], [1.0] * m + [0.0] * (longest - m))


def test_dataset_buckets_by_length_and_loses_no_pair():
    sources = [[5] * n + [END_ID] for n in range(1, 30)] * 3
    targets = [[6] * (n % 7 + 1) + [END_ID] for n in range(1, 30)] * 3
    data = translation.translation_dataset(
        sources, targets, batch_size=4, bucket_boundaries=[8, 16], shuffle=True,
        seed=3, max_source_length=30, max_target_length=30,
    )
    seen = []
    for inputs, target, weights in data:
        width = inputs["source"].shape[1]
        assert width in (7, 15, 30)  # each bucket padded to its boundary - 1
        assert target.shape[1] == width
        for source_row, weight_row in zip(inputs["source"].numpy(), weights.numpy()):
            length = int((source_row != 0).sum())
            assert length <= width and (width == 30 or length < width + 1)
            seen.append((length, int(weight_row.sum())))
    want = sorted((len(s), len(t)) for s, t in zip(sources, targets))
    assert sorted(seen) == want
    # No autotuning thread behind group_by_window: with it, deleting the
    # iterator at the end of a fit waited out the thread's sleep (up to 10 s
    # seen; keras_attention/data/translation.py).
    assert data.options().autotune.enabled is False
    # Shuffling with the same seed repeats the order; another seed changes it.
    def order(seed):
        data = translation.translation_dataset(
            sources, targets, batch_size=4, bucket_boundaries=[8, 16], seed=seed,
            max_source_length=30, max_target_length=30,
        )
        return [tuple(x["source"].numpy()[:, 0]) + (x["source"].shape[1],)
                for x, _, _ in data]
    assert order(1) == order(1) and order(1) != order(2)


def test_dataset_tokens_per_batch_and_auto_buckets():
    sources, targets = _encoded_corpus(200)
    data = translation.translation_dataset(
        sources, targets, tokens_per_batch=64, bucket_boundaries="auto",
        max_source_length=40, max_target_length=40,
    )
    total = 0
    for inputs, target, weights in data:
        width = target.shape[1]
        assert len(target) <= max(1, 64 // width)
        total += len(target)
    assert total == 200


def test_dataset_leaves_out_long_pairs_and_rejects_bad_input():
    sources = [[5, 2], [5, 5, 5, 5, 2], [7, 2]]
    targets = [[6, 2], [6, 2], [6, 6, 6, 6, 6, 2]]
    kept = translation.filter_by_length(sources, targets, 4, 4)
    assert kept == ([[5, 2]], [[6, 2]], 2)
    data = translation.translation_dataset(
        sources, targets, batch_size=8, max_source_length=4, max_target_length=4,
        shuffle=False,
    )
    (inputs, _, _), = list(data)
    assert inputs["source"].numpy().tolist() == [[5, 2, 0, 0]]
    with _raises(ValueError, "no pair fits max_source_length=1"):
        translation.translation_dataset(sources, targets, max_source_length=1)
    with _raises(ValueError, "source_ids and target_ids must be aligned", "3 and 2"):
        translation.translation_dataset(sources, targets[:2])
    with _raises(ValueError, "source_ids[1] is empty"):
        translation.translation_dataset([[5, 2], []], [[6, 2], [6, 2]])
    with _raises(ValueError, "bucket_boundaries must be increasing ints >= 2"):
        translation.translation_dataset(sources, targets, bucket_boundaries=[8, 4])
    with _raises(ValueError, "bucket_boundaries must be a list of lengths, 'auto' or None"):
        translation.translation_dataset(sources, targets, bucket_boundaries="yes")
    with _raises(ValueError, "batch_size must be a positive int"):
        translation.translation_dataset(sources, targets, batch_size=0)


def test_pad_ids_truncates_only_when_asked():
    np.testing.assert_array_equal(
        translation.pad_ids([[5, 6, 2], [7, 2]], 4), [[5, 6, 2, 0], [7, 2, 0, 0]]
    )
    with _raises(ValueError, "ids[0] has 5 ids, more than length=3", "truncate=True"):
        translation.pad_ids([[5, 6, 7, 8, 2]], 3)
    # Truncation keeps the end id, so the sentence still ends.
    np.testing.assert_array_equal(
        translation.pad_ids([[5, 6, 7, 8, 2]], 3, truncate=True), [[5, 6, 2]]
    )
    assert translation.pad_ids([], 3).shape == (0, 3)
