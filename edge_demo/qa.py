"""Answering a question about a story on the device: MemN2N's `answer` signature.

A model of task kind `"question_answering"` (`memn2n_model` exported with
`memn2n_signatures` and the task of `qa_task_metadata`) has one signature,
`answer`: `story` int32 `[1, M, L]` (one sentence a slot, oldest first,
empty slots all zeros) and `question` int32 `[1, L]` in; `answer`, the
answers' probabilities `[1, A]`, and `attention`, each hop's weights over
the slots `[1, K, M]`, out. Its task names the words by id, the answers,
and how text is split into words (`token_pattern` after lower-casing), the
same rule the library trained with.

A story file is plain UTF-8 text, one sentence a line; blank lines are
skipped, and a leading line number (as in the bAbI files) is dropped, so a
bAbI story's statements can be pasted as they are. The last `M` sentences
are kept, as the model was trained.
"""

import dataclasses
import os
import re
import time

import numpy as np

from edge_demo.errors import EdgeModelError

_LINE_NUMBER = re.compile(r"^\s*[0-9]+\s+")


@dataclasses.dataclass
class Answered:
    """What `answer_question` returns.

    Attributes:
        answer: the most likely answer.
        probability: its probability.
        probabilities: float32 `[A]`, every answer's.
        sentences: the story's sentences the model read (the last `M`).
        attention: float32 `[K, len(sentences)]`, each hop's weight on each.
        call_ms: the time of the model's call.
    """

    answer: str
    probability: float
    probabilities: np.ndarray
    sentences: list
    attention: np.ndarray
    call_ms: float


def read_story(path):
    """The sentences of the story file `path`, in order.

    One sentence a line; blank lines are skipped and a leading line number
    is dropped, so the statements of one bAbI story can be pasted as they
    are. A bAbI question line (it holds a tab, then its answer) is refused,
    since its answer would sit in the memory, and so is numbering that
    starts again at 1 (a second story).

    Raises:
        EdgeModelError: naming `path` (and the line): missing, not UTF-8,
            without a sentence, a question line, or a second story.
    """
    if not os.path.isfile(path):
        raise EdgeModelError(f"{path}: no such story file")
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except UnicodeDecodeError as error:
        raise EdgeModelError(f"{path}: the story is not UTF-8 text ({error})") from None
    sentences, numbered = [], 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if "\t" in line:
            raise EdgeModelError(
                f"{path}, line {number}: a question line (it holds a tab and an answer); "
                "a story file holds statements only, one a line")
        found = _LINE_NUMBER.match(line)
        if found:
            value = int(found.group(0))
            if value == 1 and numbered:
                raise EdgeModelError(
                    f"{path}, line {number}: the numbering starts again at 1, a second "
                    "story; a story file holds one")
            numbered = value
        sentences.append(_LINE_NUMBER.sub("", line).strip())
    if not sentences:
        raise EdgeModelError(f"{path}: the story holds no sentence (one a line)")
    return sentences


class _Words:
    """The task's text-to-ids rule, checked once."""

    def __init__(self, model):
        task = model.task_fields("words", "answers", "token_pattern", "lowercase",
                                 "unknown_id", "memory_size", "sentence_length")
        self.pattern = re.compile(task["token_pattern"])
        self.lowercase = task["lowercase"]
        self.index = {word: i for i, word in enumerate(task["words"])}
        self.unknown_id = task["unknown_id"]
        self.memory_size = task["memory_size"]
        self.length = task["sentence_length"]

    def ids(self, sentence, what):
        words = self.pattern.findall(sentence.lower() if self.lowercase else sentence)
        if not words:
            raise EdgeModelError(f"{what} holds no word: {sentence!r}")
        if len(words) > self.length:
            raise EdgeModelError(
                f"{what} has {len(words)} words, more than the model's {self.length}: "
                f"{sentence!r}")
        return [self.index.get(word, self.unknown_id) for word in words]


def _words(model):
    if "words" not in model.task_state:
        model.task_state["words"] = _Words(model)
    return model.task_state["words"]


def answer_question(model, story, question):
    """Answer `question` (a string) about `story` (a file's path, or a list
    of sentences).

    Raises:
        EdgeModelError: an unreadable story file, a question or sentence
            without a word or longer than the model's sentences.
    """
    words = _words(model)
    sentences = read_story(os.fspath(story)) if isinstance(story, (str, os.PathLike)) else [
        str(s) for s in story]
    if not isinstance(question, str):
        raise EdgeModelError(f"question must be a string, received {type(question).__name__}")
    kept = sentences[-words.memory_size:]
    story_ids = np.zeros((1, words.memory_size, words.length), np.int32)
    for slot, sentence in enumerate(kept):
        ids = words.ids(sentence, f"sentence {len(sentences) - len(kept) + slot + 1} of the story")
        story_ids[0, slot, : len(ids)] = ids
    question_ids = np.zeros((1, words.length), np.int32)
    ids = words.ids(question, "the question")
    question_ids[0, : len(ids)] = ids
    began = time.perf_counter()
    out = model.run("answer", story=story_ids, question=question_ids)
    call_ms = (time.perf_counter() - began) * 1000
    probabilities = out["answer"][0].astype(np.float32)
    best = int(np.argmax(probabilities))
    return Answered(
        answer=model.task["answers"][best],
        probability=float(probabilities[best]),
        probabilities=probabilities,
        sentences=kept,
        attention=out["attention"][0, :, : len(kept)].astype(np.float32),
        call_ms=call_ms,
    )
