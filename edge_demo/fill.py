"""Filling a gap in a sentence on the device: XLNet's `fill` signature.

A model of task kind `"fill"` (`keras_attention.gap_filler.GapFiller.export_tflite`)
has one signature, `fill`: `token_ids`, `padding_mask` and `gap_mask`, int32
`[1, T]` each, in; `probabilities` `[1, T, V]` out, at each gap position the
distribution of its token given every real token outside the gap and the
gap's earlier tokens. Its task names the SentencePiece file beside it, with
its SHA-256, and the padding, start and end ids.

The gap is written as three or more underscores: `"A man in a ___ hat"`.
Its `gap_length` pieces are chosen left to right, one call each: a call gives
the next piece's distribution, the most likely piece is written into
`token_ids`, and the next call sees it (`fill_ids`, on ids).
"""

import dataclasses
import re
import time

import numpy as np

from edge_demo.errors import EdgeModelError
from edge_demo.seq2seq import check_text
from edge_demo.translation import load_processor

GAP = re.compile(r"_{3,}")


@dataclasses.dataclass
class Filled:
    """What `fill` returns.

    Attributes:
        text: the sentence with the gap filled.
        pieces: the chosen pieces, e.g. `["▁red"]`.
        probabilities: each chosen piece's probability.
        candidates: the most likely first pieces, `(piece, probability)`.
        call_ms: the time of each call of `fill`.
    """

    text: str
    pieces: list
    probabilities: list
    candidates: list
    call_ms: list


def tokenizer(model):
    """The task's SentencePiece processor, checked once and kept."""
    if "sentencepiece" not in model.task_state:
        processor = load_processor(model, "tokenizer", "a fill model")
        size = model.spec("fill")["outputs"][0]["shape"][-1]
        if processor.GetPieceSize() != size:
            raise EdgeModelError(
                f"{model.metadata_path}: the tokenizer has {processor.GetPieceSize()} "
                f"pieces, the model's probabilities {size} classes"
            )
        model.task_state["sentencepiece"] = processor
    return model.task_state["sentencepiece"]


def sequence_length(model):
    """`T`, the length of the `fill` signature's rows."""
    return model.spec("fill")["inputs"][0]["shape"][1]


def fill_ids(model, token_ids, gap_positions, exclude=()):
    """Choose the tokens at `gap_positions` of one sentence, left to right.

    Args:
        model: an `EdgeModel` of task kind `"fill"`.
        token_ids: int `[T]`: start id, pieces, end id, padding (the gap's
            own ids are ignored).
        gap_positions: the gap's positions, in order.
        exclude: ids never chosen (the text path leaves out the special ids).

    Returns:
        `(ids, probabilities, first, call_ms)`: the chosen ids, their
        probabilities, the whole distribution `[V]` at the first gap
        position, and each call's time.
    """
    length = sequence_length(model)
    token_ids = np.array(token_ids, np.int32).reshape(-1)
    if token_ids.shape != (length,):
        raise EdgeModelError(
            f"token_ids must hold the model's {length} ids, received {token_ids.shape[0]}"
        )
    positions = [int(p) for p in gap_positions]
    pad_id = model.task_fields("pad_id")["pad_id"]
    real = token_ids != pad_id
    if not positions or any(not (0 <= p < length and real[p]) for p in positions):
        raise EdgeModelError(
            f"gap_positions must be real tokens' positions in [0, {length}), "
            f"received {positions}"
        )
    gap = np.zeros(length, np.int32)
    gap[positions] = 1
    chosen, probabilities, call_ms, first = [], [], [], None
    for position in positions:
        began = time.perf_counter()
        out = model.run(
            "fill", token_ids=token_ids[None], padding_mask=real[None].astype(np.int32),
            gap_mask=gap[None],
        )["probabilities"][0, position].astype(np.float64)
        call_ms.append((time.perf_counter() - began) * 1000)
        first = out if first is None else first
        allowed = out.copy()
        allowed[list(exclude)] = -np.inf
        token = int(np.argmax(allowed))
        token_ids[position] = token
        chosen.append(token)
        probabilities.append(float(out[token]))
    return chosen, probabilities, first, call_ms


def fill(model, text, gap_length=1, top_k=5):
    """Fill the gap (`___`) of `text` with `gap_length` pieces.

    Raises:
        EdgeModelError: text that is not a string, without exactly one gap,
            or too long for the model with its gap; a tokenizer file that is
            missing, changed or does not fit the model.
    """
    check_text(text)
    if not isinstance(gap_length, int) or gap_length < 1:
        raise EdgeModelError(f"gap_length must be an int >= 1, received {gap_length!r}")
    parts = GAP.split(text)
    if len(parts) != 2:
        raise EdgeModelError(
            "the text must hold exactly one gap written as three or more "
            f"underscores ('A man in a ___ hat'), received {len(parts) - 1}: {text!r}"
        )
    processor = tokenizer(model)
    task = model.task_fields("pad_id", "start_id", "end_id")
    left, right = (processor.encode(p.strip(), out_type=int) if p.strip() else []
                   for p in parts)
    # The gap holds any real id until its pieces are chosen.
    ids = [task["start_id"], *left, *[task["start_id"]] * gap_length, *right, task["end_id"]]
    length = sequence_length(model)
    if len(ids) > length:
        raise EdgeModelError(
            f"the text with its gap is {len(ids)} pieces (start and end included), "
            f"more than the model's {length}"
        )
    start = 1 + len(left)
    positions = list(range(start, start + gap_length))
    ids += [task["pad_id"]] * (length - len(ids))
    special = {task["pad_id"], task["start_id"], task["end_id"], processor.unk_id()}
    chosen, probabilities, first, call_ms = fill_ids(model, ids, positions, exclude=special)
    first = first.copy()
    first[list(special)] = -1.0
    best = np.argsort(-first)[:top_k]
    return Filled(
        text=processor.decode(left + chosen + right),
        pieces=[processor.id_to_piece(i) for i in chosen],
        probabilities=probabilities,
        candidates=[(processor.id_to_piece(int(i)), float(first[i])) for i in best],
        call_ms=call_ms,
    )
