"""Translation on the device: SentencePiece, greedy decoding, SentencePiece.

A translation model is a seq2seq model (`edge_demo.seq2seq`) whose task
names two SentencePiece files lying beside it, each with its SHA-256;
`sentencepiece` (no TensorFlow either) reads them.
"""

import dataclasses
import os

import numpy as np

from edge_demo.contract import sha256_hex
from edge_demo.errors import EdgeModelError
from edge_demo.seq2seq import check_text, greedy_decode, source_length


@dataclasses.dataclass
class Translated:
    """What `translate` returns.

    Attributes:
        text: the translation.
        tokens: its target ids, without start and end tokens.
        truncated: whether the sentence was cut to the model's source length.
        encode_ms, step_ms: as in `edge_demo.seq2seq.Decoded`.
    """

    text: str
    tokens: list
    truncated: bool
    encode_ms: float
    step_ms: list


def translate(model, text, max_length=None):
    """Translate one sentence with a model of task kind `"translation"`.

    The sentence's pieces end with the end id; a sentence longer than the
    `encode` signature's length is cut to fit (its last piece replaced by
    the end id), as Keras's `Translator` does; characters the vocabulary
    lacks become the unknown piece.

    Args:
        model: an `EdgeModel`.
        text: the sentence.
        max_length: the most decoding steps (default: the task's).

    Returns:
        A `Translated`.

    Raises:
        EdgeModelError: text that is not a string (empty text translates as
            in Keras; the command line refuses it, see `check_text`), or a
            tokenizer file that is missing, changed, or does not fit the
            task's ids.
    """
    check_text(text)
    source_tokenizer, target_tokenizer = tokenizers(model)
    end_id = model.task_fields("end_id")["end_id"]
    length = source_length(model)
    ids = list(source_tokenizer.encode(text)) + [end_id]
    truncated = len(ids) > length
    if truncated:
        ids = ids[: length - 1] + [end_id]
    ids = ids + [model.task.get("pad_id", 0)] * (length - len(ids))
    decoded = greedy_decode(model, np.array([ids], np.int32), max_length)
    return Translated(
        target_tokenizer.decode(decoded.tokens[0]),
        decoded.tokens[0],
        truncated,
        decoded.encode_ms,
        decoded.step_ms,
    )


def tokenizers(model):
    """The task's two SentencePiece processors (source, target), checked
    against the metadata's digests once and kept in `model.task_state`."""
    if "sentencepiece" not in model.task_state:
        model.task_state["sentencepiece"] = tuple(
            _processor(model, side)
            for side in ("source_tokenizer", "target_tokenizer")
        )
    return model.task_state["sentencepiece"]


def _processor(model, side):
    processor = load_processor(model, side, "a translation model")
    _check_ids(model, side, processor.GetPieceSize())
    return processor


def load_processor(model, field, what):
    """The SentencePiece processor of the file that the task's `field`
    (`{"file", "sha256"}`) names beside the model, checked against its
    SHA-256; `what` names the model in the error for a missing package."""
    try:
        import sentencepiece
    except ImportError as error:
        raise EdgeModelError(
            f"{model.metadata_path}: {what} needs the "
            "sentencepiece package (pip install sentencepiece)"
        ) from error
    entry = model.task_fields(field)[field]  # checked by edge_demo.schema
    folder = os.path.dirname(os.path.abspath(model.metadata_path))
    path = os.path.join(folder, entry["file"])
    if not os.path.isfile(path):
        raise EdgeModelError(
            f"{path}: the {field.replace('_', ' ')} named in "
            f"{model.metadata_path} is missing"
        )
    with open(path, "rb") as f:
        content = f.read()
    if sha256_hex(content) != entry["sha256"]:
        raise EdgeModelError(
            f"{path}: SHA-256 differs from {model.metadata_path}'s; "
            "the file was changed or belongs to another model"
        )
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(content)
    except RuntimeError as e:  # a digest that vouches for garbage
        raise EdgeModelError(
            f"{path}: SentencePiece cannot read it ({' '.join(str(e).split())})"
        ) from None
    return processor


def _check_ids(model, side, size):
    """The task's ids within the vocabulary of the tokenizer that reads
    them: the source ids (padding, the end id appended to a sentence), and
    every id decode_step's logits can give, which the target decodes."""
    if side == "source_tokenizer":
        ids = {f"task.{name}": model.task.get(name, 0) for name in ("pad_id", "end_id")}
    else:
        (logits,) = [
            t for t in model.spec("decode_step")["outputs"] if t["name"] == "logits"
        ]
        ids = {"the largest id of decode_step's logits": logits["shape"][-1] - 1}
    for name, value in ids.items():
        if value >= size:
            raise EdgeModelError(
                f"{model.metadata_path}: {name} must be below {size}, the size "
                f"of the {side.replace('_', ' ')}'s vocabulary, received {value}"
            )
