"""Word ids for a memory reader: stories as `[N, M, L]`, questions as `[N, L]`.

Shapes: `N` samples, `M` memory slots (sentences), `L` words a sentence.
"""

import dataclasses
import functools
import re

import numpy as np

PAD, UNKNOWN = "<pad>", "<unk>"
# The sentences a reader keeps, the most recent ones: the paper's memory of 50.
MEMORY_SIZE = 50
# A word, after lower-casing: what `tokenize` keeps. An export carries the
# pattern to the device (`qa_task_metadata`), so both sides split text alike.
TOKEN_PATTERN = "[a-z0-9]+"
_WORD = re.compile(TOKEN_PATTERN)


def tokenize(sentence):
    """Lower-case words, punctuation dropped: "Where is Mary?" gives
    `["where", "is", "mary"]`."""
    return _WORD.findall(sentence.lower())


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Word ids (0 the padding, 1 a word never seen in training) and the
    answer classes.

    The paper's reader scores every word of the vocabulary as the answer;
    here the answers are classes of their own, the distinct answers of the
    training set, so that the output layer is as wide as the task needs.
    Each answer is also a word (`answer_word_ids`), so that a reader can
    score an answer with its word's embedding, as the paper's does.
    """

    words: tuple
    answers: tuple

    @classmethod
    def from_samples(cls, samples):
        """The words of every fact and question of `samples` and their answers
        (each answer a word too, whole: "apple,milk" is one), each in sorted
        order (so the same samples give the same ids)."""
        samples = list(samples)
        words = set()
        for sample in samples:
            for sentence in (*sample.facts, sample.question):
                words.update(tokenize(sentence))
        answers = sorted({sample.answer for sample in samples})
        if not answers:
            raise ValueError("samples must hold at least one question, received none")
        return cls((PAD, UNKNOWN, *sorted(words | set(answers))), tuple(answers))

    @property
    def size(self):
        return len(self.words)

    def ids(self, sentence):
        index = self._index
        return [index.get(word, 1) for word in tokenize(sentence)]

    def answer_id(self, answer):
        try:
            return self._answer_index[answer]
        except KeyError:
            raise ValueError(
                f"answer {answer!r} is not one of the vocabulary's answers {self.answers}"
            ) from None

    @property
    def answer_word_ids(self):
        """The word id of each answer class, in `answers`' order: what
        `MemoryNetwork(answer_word_ids=...)` scores the answers with."""
        missing = [answer for answer in self.answers if answer not in self._index]
        if missing:
            raise ValueError(
                f"answer_word_ids needs every answer among the words; answers {missing} "
                f"are not (a Vocabulary from `from_samples` has them all)"
            )
        return [self._index[answer] for answer in self.answers]

    @functools.cached_property
    def _index(self):
        return {word: i for i, word in enumerate(self.words)}

    @functools.cached_property
    def _answer_index(self):
        return {answer: i for i, answer in enumerate(self.answers)}

    def to_config(self):
        return {"words": list(self.words), "answers": list(self.answers)}

    @classmethod
    def from_config(cls, config):
        return cls(tuple(config["words"]), tuple(config["answers"]))


def longest_sentence(samples, memory_size=MEMORY_SIZE):
    """The most words in a question, or in a fact a memory of `memory_size`
    keeps, over `samples`: the `sentence_length` that holds them all (give
    it the training and the test samples, so that both vectorize alike)."""
    return max((len(tokenize(sentence)) for sample in samples
                for sentence in (*sample.facts[-memory_size:], sample.question)), default=1)


def vectorize(samples, vocabulary, memory_size=MEMORY_SIZE, sentence_length=None):
    """The arrays a memory reader trains on.

    A story longer than `memory_size` statements keeps its most recent
    ones, as the paper's reader does (its memory holds the last 50). The
    kept statements fill slots `0 .. n-1`, oldest first; the other slots
    are all zeros, the padding id, which the reader masks.

    Args:
        samples: `Sample`s (`samples_of(stories)`).
        vocabulary: a `Vocabulary`; words it lacks get id 1.
        memory_size: `M`, the slots a story gets.
        sentence_length: `L`, the words a sentence gets; None takes the
            longest fact or question of `samples`.

    Returns:
        A dict: `"story"` int32 `[N, M, L]`, `"question"` int32 `[N, L]`,
        `"answer"` int32 `[N]` (an index into `vocabulary.answers`), and
        `"supporting"` bool `[N, M]` (the slots of the supporting facts;
        a supporting fact older than the kept slots marks none).

    Raises:
        ValueError: a sentence longer than `sentence_length` (naming the
            sample and the sentence), an answer the vocabulary lacks, or
            a `memory_size` that is not a positive int.
    """
    for name, value in (("memory_size", memory_size), ("sentence_length", sentence_length)):
        if value is None and name == "sentence_length":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, received {name}={value!r}")
    samples = list(samples)
    encoded = []
    for index, sample in enumerate(samples):
        kept = len(sample.facts) - min(len(sample.facts), memory_size)
        facts = [vocabulary.ids(fact) for fact in sample.facts[kept:]]
        for fact, ids in zip(sample.facts[kept:], facts):
            if not ids:
                # An all-padding slot reads as empty: the fact would vanish.
                raise ValueError(f"sample {index} has a fact without a word: {fact!r}")
        supporting = [i - kept for i in sample.supporting if i >= kept]
        encoded.append((facts, vocabulary.ids(sample.question),
                        vocabulary.answer_id(sample.answer), supporting))
    longest = max(
        (len(s) for facts, question, _, _ in encoded for s in (*facts, question)), default=1
    )
    length = longest if sentence_length is None else sentence_length
    n = len(encoded)
    story = np.zeros((n, memory_size, length), "int32")
    question = np.zeros((n, length), "int32")
    answer = np.zeros((n,), "int32")
    supporting = np.zeros((n, memory_size), bool)
    for i, (facts, words, answer_id, support) in enumerate(encoded):
        for slot, fact in enumerate(facts):
            _check_length(fact, length, i, samples[i].facts[len(samples[i].facts) - len(facts) + slot])
            story[i, slot, : len(fact)] = fact
        _check_length(words, length, i, samples[i].question)
        question[i, : len(words)] = words
        answer[i] = answer_id
        supporting[i, support] = True
    return {"story": story, "question": question, "answer": answer, "supporting": supporting}


def _check_length(ids, length, index, sentence):
    if len(ids) > length:
        raise ValueError(
            f"sentence_length={length} is too short for sample {index}: "
            f"{sentence!r} has {len(ids)} words"
        )
