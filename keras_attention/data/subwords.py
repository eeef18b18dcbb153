"""Subword tokenization with SentencePiece, with the ids the seq2seq models use.

`SubwordTokenizer` wraps a SentencePiece model (Kudo and Richardson 2018):
trained on the training split of one language, saved as the `.model` file
SentencePiece itself reads (so a device needs only the `sentencepiece`
package, never TensorFlow), and used to turn sentences into ids and back.
The special ids are those of `keras_attention.models`: 0 padding, 1 the start
token, 2 the end token, and 3 for anything the vocabulary cannot spell
(characters never seen in training; decoded as " ⁇ ").

Example:

>>> tokenizer = SubwordTokenizer.train(
...     ["a cat sat", "a dog sat", "the cat ran"] * 20, vocabulary_size=30)
>>> ids = tokenizer.encode("a cat sat")
>>> ids[-1] == END_ID, tokenizer.decode(ids)
(True, 'a cat sat')
"""

import io
import os

import numpy as np

from keras_attention.data._download import temporary_path

PAD_ID = 0
START_ID = 1
END_ID = 2
UNKNOWN_ID = 3
MODEL_TYPES = ("unigram", "bpe", "char", "word")


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ImportError(
            "SubwordTokenizer needs the sentencepiece package: pip install sentencepiece"
        ) from error
    return sentencepiece


def _check_sentences(name, sentences):
    if isinstance(sentences, str):
        raise ValueError(f"{name} must be a list of sentences, received one str")
    sentences = list(sentences)
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise ValueError(
                f"{name} must hold str sentences, received "
                f"{type(sentence).__name__} at index {index}"
            )
    return sentences


class SubwordTokenizer:
    """A SentencePiece subword vocabulary with fixed special ids.

    Make one with `train` (from sentences) or `load` (a `.model` file), or
    from the serialized model bytes.

    Args:
        model_proto: the SentencePiece model, as bytes (what `save` writes).

    Raises:
        ValueError: the bytes are not a SentencePiece model, or its special
            ids are not 0 padding, 1 start, 2 end, 3 unknown.
    """

    def __init__(self, model_proto):
        if not isinstance(model_proto, (bytes, bytearray)) or not model_proto:
            raise ValueError(
                "model_proto must be the non-empty bytes of a SentencePiece model, "
                f"received {type(model_proto).__name__}"
            )
        processor = _sentencepiece().SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(bytes(model_proto))
        except (RuntimeError, OSError, TypeError) as error:
            raise ValueError(
                f"model_proto is not a SentencePiece model: {error}"
            ) from error
        ids = (processor.pad_id(), processor.bos_id(), processor.eos_id(), processor.unk_id())
        if ids != (PAD_ID, START_ID, END_ID, UNKNOWN_ID):
            raise ValueError(
                "the SentencePiece model must use pad=0, start (bos)=1, end (eos)=2, "
                f"unknown=3, as SubwordTokenizer.train makes it; received {ids}"
            )
        self._proto = bytes(model_proto)
        self._processor = processor

    # -- making one ----------------------------------------------------------

    @classmethod
    def train(
        cls,
        sentences,
        vocabulary_size=8000,
        model_type="unigram",
        character_coverage=1.0,
        max_sentence_length=4192,
    ):
        """Learns a vocabulary from `sentences` (the training split).

        Args:
            sentences: a list of `str`, one sentence each; empty ones are
                skipped.
            vocabulary_size: pieces, the four special ones included. If the
                sentences cannot fill that many, the vocabulary is smaller
                (see `vocabulary_size` of the result).
            model_type: SentencePiece's `"unigram"` (default, Kudo 2018),
                `"bpe"`, `"char"` or `"word"`.
            character_coverage: share of characters the vocabulary must
                spell; 1.0 keeps every character of the training text.
            max_sentence_length: longer training sentences (in bytes) are
                skipped by SentencePiece.

        Returns:
            A `SubwordTokenizer`. Training is deterministic: the same
            sentences give the same model.
        """
        sentences = _check_sentences("sentences", sentences)
        if not any(s.strip() for s in sentences):
            raise ValueError(
                "sentences must hold at least one non-empty sentence to learn "
                f"from, received {len(sentences)} empty ones"
            )
        if (
            not isinstance(vocabulary_size, int)
            or isinstance(vocabulary_size, bool)
            or vocabulary_size < 5
        ):
            raise ValueError(
                "vocabulary_size must be an int >= 5 (4 special pieces and at "
                f"least one more), received vocabulary_size={vocabulary_size!r}"
            )
        if model_type not in MODEL_TYPES:
            raise ValueError(
                f"model_type must be one of {MODEL_TYPES}, received model_type={model_type!r}"
            )
        model = io.BytesIO()
        _sentencepiece().SentencePieceTrainer.train(
            sentence_iterator=iter([s for s in sentences if s.strip()]),
            model_writer=model,
            vocab_size=vocabulary_size,
            model_type=model_type,
            character_coverage=character_coverage,
            max_sentence_length=max_sentence_length,
            pad_id=PAD_ID,
            bos_id=START_ID,
            eos_id=END_ID,
            unk_id=UNKNOWN_ID,
            pad_piece="<pad>",
            bos_piece="<s>",
            eos_piece="</s>",
            unk_piece="<unk>",
            hard_vocab_limit=False,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
        )
        return cls(model.getvalue())

    @classmethod
    def load(cls, path):
        """Reads a `.model` file that `save` (or SentencePiece) wrote."""
        try:
            with open(path, "rb") as file:
                proto = file.read()
        except OSError as error:
            raise FileNotFoundError(
                f"cannot read the SentencePiece model {path!r}: {error}"
            ) from error
        try:
            return cls(proto)
        except ValueError as error:
            raise ValueError(f"{path} is not a usable SentencePiece model: {error}") from error

    def save(self, path):
        """Writes the SentencePiece `.model` file; returns `path`.

        Written to a temporary file beside `path`, then renamed: a failed
        write leaves any file already at `path` as it was.
        """
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        partial = temporary_path(path)
        try:
            with open(partial, "wb") as file:
                file.write(self._proto)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        return path

    @property
    def model_proto(self):
        """The serialized SentencePiece model (bytes)."""
        return self._proto

    @property
    def vocabulary_size(self):
        """Pieces, special ones included: ids are `0..vocabulary_size - 1`."""
        return self._processor.get_piece_size()

    def id_to_piece(self, index):
        """The piece of one id, e.g. `"▁cat"` (▁ marks a word's start)."""
        return self._processor.id_to_piece(int(index))

    # -- using one -----------------------------------------------------------

    def encode(self, sentences, add_start=False, add_end=True):
        """Ids of one sentence (`str` -> `list[int]`) or of many (a list).

        Characters the vocabulary lacks become `UNKNOWN_ID`; an empty
        sentence gives just the end id (with `add_end`).
        """
        single = isinstance(sentences, str)
        batch = [sentences] if single else _check_sentences("sentences", sentences)
        encoded = self._processor.encode(batch, out_type=int)
        encoded = [
            ([START_ID] if add_start else []) + list(ids) + ([END_ID] if add_end else [])
            for ids in encoded
        ]
        return encoded[0] if single else encoded

    def pack(self, sentences, sequence_length):
        """Sentences as language-model rows: the start id, the pieces, the
        end id, then padding (KerasHub's `StartEndPacker` after the
        tokenizer). Sentences that do not fit are left out, not cut.

        Args:
            sentences: a list of `str`.
            sequence_length: `T`, the length of every row.

        Returns:
            A dict of numpy arrays: `token_ids` int32 `[N, T]`,
            `padding_mask` bool `[N, T]` (true for real tokens) and `kept`
            int `[N]`, the index in `sentences` of each row.
        """
        if (not isinstance(sequence_length, int) or isinstance(sequence_length, bool)
                or sequence_length < 3):
            raise ValueError(
                "sequence_length must be an int >= 3 (start, a piece, end), "
                f"received sequence_length={sequence_length!r}"
            )
        encoded = self.encode(_check_sentences("sentences", sentences), add_start=True)
        kept = [i for i, ids in enumerate(encoded) if len(ids) <= sequence_length]
        token_ids = np.zeros((len(kept), sequence_length), "int32")
        for row, index in enumerate(kept):
            token_ids[row, : len(encoded[index])] = encoded[index]
        return {"token_ids": token_ids, "padding_mask": token_ids != PAD_ID,
                "kept": np.asarray(kept, "int64")}

    def _clean(self, ids):
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        for index in ids:
            if not 0 <= index < self.vocabulary_size:
                raise ValueError(
                    f"ids must lie in [0, {self.vocabulary_size}), received {index}"
                )
        if END_ID in ids:
            ids = ids[: ids.index(END_ID)]
        return [i for i in ids if i not in (PAD_ID, START_ID)]

    def decode(self, ids):
        """Text of one id sequence, or of each row of a batch `[N, T]`.

        Reads up to the first end id and skips padding and start ids, so a
        decoder's padded output can be passed as it is.
        """
        array = ids if isinstance(ids, np.ndarray) else None
        nested = (
            array.ndim == 2
            if array is not None
            else bool(ids) and not np.isscalar(ids[0]) and hasattr(ids[0], "__len__")
        )
        if nested:
            return [self._processor.decode(self._clean(row)) for row in ids]
        return self._processor.decode(self._clean(ids))
