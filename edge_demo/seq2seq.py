"""Sequence to sequence on the device: greedy decoding, character vocabularies.

A seq2seq model exports two signatures (`edge_demo.contract`): `encode`
(`source` in; the decoder's initial states and the encoder's memory out, by
name) and `decode_step` (`token`, `step` and everything `encode` gave in;
`logits` and every state's next value out, the memory only read).
`greedy_decode` runs them; `text_to_ids` and `ids_to_text` read and write a
character model's text with the vocabularies of its task.
"""

import dataclasses
import time

import numpy as np

from edge_demo.contract import ms_since, step_limit
from edge_demo.errors import EdgeModelError


@dataclasses.dataclass
class Decoded:
    """What `greedy_decode` returns.

    Attributes:
        tokens: per batch row, the generated ids, without the start and end
            tokens.
        encode_ms: milliseconds the `encode` call took.
        step_ms: milliseconds each `decode_step` call took, in order.
    """

    tokens: list
    encode_ms: float
    step_ms: list


def greedy_decode(model, source_ids, max_length=None):
    """Decode step by step through the `encode` / `decode_step` signatures.

    `encode(source)` gives the decoder's states and the encoder's memory by
    name; each `decode_step(token, step, **states, **memory)` gives `logits`
    ([B, 1, V] or [B, V]) and the next states, and the memory goes in
    unchanged at every step. The next token is the argmax. Decoding
    starts from `task["start_id"]` and stops when every row has produced
    `task["end_id"]`, or after `max_length` (default
    `task["max_target_length"]`) steps.

    Args:
        model: an `EdgeModel`.
        source_ids: `[S]` or `[B, S]` token ids, padded to the model's `S`,
            each within the task's source vocabulary when it has one.
        max_length: the most steps to run, at most what the model's cache
            holds (`contract.step_limit`).

    Returns:
        A `Decoded`: tokens per row and the latency of each call.

    Raises:
        EdgeModelError: a `max_length` that is not a positive int or that
            the model cannot run, or an id outside the source vocabulary.
    """
    task = model.task_fields("start_id", "end_id", "max_target_length")
    limit = step_limit(model.metadata["signatures"])
    if max_length is None:
        max_length = task["max_target_length"]
    elif (
        isinstance(max_length, bool)
        or not isinstance(max_length, (int, np.integer))
        or not 1 <= max_length <= limit
    ):
        raise EdgeModelError(
            f"max_length must be an int in [1, {limit}] (the most steps "
            f"{model.model_path}'s decode_step can run), received "
            f"max_length={max_length!r}"
        )
    source = np.asarray(source_ids)
    source = source[None] if source.ndim == 1 else source
    _check_source_ids(model, source)
    state_names = state_names_of(model)
    start = time.perf_counter()
    states = model.run("encode", source=source)
    encode_ms = ms_since(start)
    batch = source.shape[0]
    token = np.full((batch, 1), task["start_id"], np.int32)
    tokens, done, step_ms = [[] for _ in range(batch)], np.zeros(batch, bool), []
    for t in range(max_length):
        start = time.perf_counter()
        out = model.run(
            "decode_step", token=token, step=np.array([t], np.int32), **states
        )
        step_ms.append(ms_since(start))
        next_ids = np.argmax(out["logits"].reshape(batch, -1), axis=-1)  # [B]
        for row, tok in enumerate(next_ids):
            done[row] |= tok == task["end_id"]
            if not done[row]:
                tokens[row].append(int(tok))
        if done.all():
            break
        token = next_ids[:, None].astype(np.int32)  # [B, 1]
        states.update({name: out[name] for name in state_names})
    return Decoded(tokens, encode_ms, step_ms)


def _check_source_ids(model, source):
    """Ids within the source vocabulary: the encoder's embedding would
    otherwise read past its table (an error in LiteRT, or garbage)."""
    vocabulary = model.task.get("source_vocabulary")
    if source.dtype.kind not in "iu" or source.size == 0:
        return  # the signature's check names the dtype or shape
    size = len(vocabulary) if vocabulary is not None else None
    bad = (source < 0) | (source >= size) if size is not None else source < 0
    if bad.any():
        index = [int(i) for i in np.argwhere(bad)[0]]
        within = f"[0, {size})" if size is not None else ">= 0"
        raise EdgeModelError(
            f"source_ids must be ids in {within} (the source vocabulary of "
            f"{model.metadata_path}), received {source[tuple(index)]} at {index}"
        )


def check_text(text, name="text", allow_blank=True):
    """Refuse text that is not a string and, unless `allow_blank`, text that
    is empty or only whitespace.

    The API decodes blank text as Keras's `Translator` does (to what the
    model makes of the end token alone), so that the two agree; the command
    line (`python -m edge_demo --text`) refuses it, since a person who gave
    no text gets a plausible date or sentence made up from nothing.
    """
    if not isinstance(text, str):
        raise EdgeModelError(
            f"{name} must be a string, received {type(text).__name__} {text!r}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        # A command line's bytes that are not UTF-8 arrive as lone surrogates.
        raise EdgeModelError(
            f"{name} must be UTF-8 text, received {text!r} (character "
            f"{e.start}: {text[e.start]!r})"
        ) from None
    if allow_blank:
        return text
    if not text:
        raise EdgeModelError(f"{name} is empty (received ''): give the text to decode")
    if not text.strip():
        # The count too: a message printed on one line folds the spaces.
        raise EdgeModelError(
            f"{name} is only whitespace (received {len(text)} whitespace "
            f"characters: {text!r}): give the text to decode"
        )
    return text


def state_names_of(model):
    """The names of the states `decode_step` gives back, after checking
    that both signatures follow the seq2seq convention; the rest of what
    `encode` gives is memory, only read."""
    encode, step = model.spec("encode"), model.spec("decode_step")
    given = sorted(t["name"] for t in encode["outputs"])
    found_in = sorted(t["name"] for t in step["inputs"])
    found_out = sorted(t["name"] for t in step["outputs"])
    states = sorted(set(found_out) - {"logits"})
    want_in = sorted(given + ["step", "token"])
    if found_in != want_in or "logits" not in found_out or not set(states) <= set(
        given
    ):
        raise EdgeModelError(
            f"{model.model_path}: decode_step must take {want_in} (encode "
            f"gives {given}) and give logits and some of the same states; "
            f"it takes {found_in} and gives {found_out}"
        )
    return states


def source_length(model):
    """`S`, the length of the `encode` signature's `source` `[B, S]`."""
    (source,) = model.spec("encode")["inputs"]
    return source["shape"][-1]


def text_to_ids(model, text):
    """Character ids of `text` from `task["source_vocabulary"]`, `[1, S]`.

    Padded with `task["pad_id"]` (default 0) to the `encode` signature's
    length; a character outside the vocabulary is an error naming it, and
    so is text that is not a string (`check_text`).
    """
    check_text(text)
    vocabulary = model.task_fields("source_vocabulary")["source_vocabulary"]
    index = {token: i for i, token in enumerate(vocabulary) if len(token) == 1}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise EdgeModelError(
            f"characters not in the source vocabulary of {model.metadata_path}: "
            f"{', '.join(map(repr, unknown))}"
        )
    length = source_length(model)
    if len(text) > length:
        raise EdgeModelError(
            f"text of {len(text)} characters; {model.model_path} takes at "
            f"most {length}"
        )
    ids = [index[c] for c in text] + [model.task.get("pad_id", 0)] * (
        length - len(text)
    )
    return np.array([ids], np.int32)


def ids_to_text(model, ids):
    """The tokens of `task["target_vocabulary"]` for `ids`, joined."""
    vocabulary = model.task_fields("target_vocabulary")["target_vocabulary"]
    array = np.asarray(ids).reshape(-1)
    if array.size and array.dtype.kind not in "iu":
        raise EdgeModelError(f"ids must be ints, received {array.dtype.name}")
    ids = [int(i) for i in array]
    outside = [i for i in ids if not 0 <= i < len(vocabulary)]
    if outside:
        raise EdgeModelError(
            f"ids must be in [0, {len(vocabulary)}) (the target vocabulary of "
            f"{model.metadata_path}), received {outside[:5]}"
        )
    return "".join(vocabulary[i] for i in ids)
