"""bAbI: the file format, the loader, the generator and the word ids."""

import hashlib
import io
import os
import re
import tarfile

import numpy as np
import pytest

from keras_attention.data import babi
from keras_attention.data.babi import _load

# The released files' own shape: a space before a question's tab, two
# stories, a list answer, several supporting ids (from qa1 and qa8).
RELEASED = (
    "1 Mary moved to the bathroom.\n"
    "2 John went to the hallway.\n"
    "3 Where is Mary? \tbathroom\t1\n"
    "4 Daniel went back to the hallway.\n"
    "5 Sandra moved to the garden.\n"
    "6 Where is Daniel? \thallway\t4\n"
    "1 Mary got the milk there.\n"
    "2 Mary took the apple there.\n"
    "3 What is Mary carrying? \tmilk,apple\t1 2\n"
)


def test_parses_the_released_format():
    stories = babi.parse_babi(RELEASED.splitlines(keepends=True), "qa.txt")
    assert len(stories) == 2
    assert stories[0].lines[:2] == ("Mary moved to the bathroom.", "John went to the hallway.")
    assert stories[0].lines[2] == babi.Question("Where is Mary?", "bathroom", (1,))
    samples = babi.samples_of(stories)
    assert [s.answer for s in samples] == ["bathroom", "hallway", "milk,apple"]
    # The question lines are not facts: Daniel's move is the third fact.
    assert samples[1].facts == (
        "Mary moved to the bathroom.", "John went to the hallway.",
        "Daniel went back to the hallway.", "Sandra moved to the garden.",
    )
    assert samples[1].supporting == (2,)
    assert samples[2].facts == ("Mary got the milk there.", "Mary took the apple there.")
    assert samples[2].supporting == (0, 1)


def test_format_round_trip():
    stories = babi.parse_babi(RELEASED.splitlines(), "qa.txt")
    assert babi.format_babi(stories) == RELEASED


@pytest.mark.parametrize("text, line, reason", [
    ("Mary moved to the bathroom.\n", 1, "starts with its id"),
    ("1 Mary moved.\n3 John moved.\n", 2, "neither continues"),
    ("1 Mary moved.\n2 Where is Mary?\tbathroom\n", 2, "3 tab-separated fields, not 2"),
    ("1 Mary moved.\n2 Where is Mary?\tbathroom\tone\n", 2, "must be integers"),
    ("1 Mary moved.\n2 Where is Mary?\tbathroom\t3\n", 2, "name no earlier statement"),
    ("1 Mary moved.\n2 Where?\tbathroom\t1\n3 Where?\tbathroom\t2\n", 3,
     "name no earlier statement"),  # a question is no supporting fact
    ("1 Mary moved.\n\n2 John moved.\n", 2, "an empty line"),
    ("1 Mary moved.\n2 Where?\t\t1\n", 2, "needs a question and an answer"),
])
def test_a_malformed_line_is_named(tmp_path, text, line, reason):
    path = tmp_path / "qa1_single-supporting-fact_train.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(babi.BabiFormatError) as error:
        babi.read_babi(path)
    assert f"{path}, line {line}: " in str(error.value)
    assert reason in str(error.value)


def test_what_the_format_cannot_hold_is_refused():
    with pytest.raises(TypeError, match="lines must be the lines of a file"):
        babi.parse_babi(RELEASED, "qa.txt")
    with pytest.raises(babi.BabiFormatError, match="qa.txt, line 1: a line starts with its id"):
        babi.parse_babi(["\u00b2 Mary moved."], "qa.txt")  # a Unicode digit is no id
    tabbed = babi.Story(("Mary\tmoved.",))
    with pytest.raises(ValueError, match="line 1 of a story cannot be written"):
        babi.format_babi([tabbed])
    unsupported = babi.Story(("Mary moved.", babi.Question("Where is Mary?", "x", ())))
    with pytest.raises(ValueError, match="line 2 of a story cannot be written"):
        babi.format_babi([unsupported])


def test_an_empty_or_binary_file_is_named(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(babi.BabiFormatError, match=f"{re.escape(str(empty))} holds no story"):
        babi.read_babi(empty)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"1 \xff\xfe\n")
    with pytest.raises(babi.BabiFormatError, match=f"{re.escape(str(binary))} is not UTF-8"):
        babi.read_babi(binary)


# -- the loader's places -------------------------------------------------------


def _write_task(folder, text=RELEASED, task=1, split="train"):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, babi.task_file_name(task, split))
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    return path


def _archive(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("layout", ["en", "tasks_1-20_v1-2/en", ""])
def test_loads_from_a_folder(tmp_path, layout):
    _write_task(tmp_path / layout)
    stories = babi.load_babi(1, "train", path=tmp_path)
    assert babi.format_babi(stories) == RELEASED


def test_loads_the_size_asked_for(tmp_path):
    _write_task(tmp_path / "en")
    ten_k = RELEASED.replace("bathroom", "kitchen")
    _write_task(tmp_path / "en-10k", ten_k)
    assert babi.format_babi(babi.load_babi(1, path=tmp_path, size="10k")) == ten_k
    assert babi.format_babi(babi.load_babi(1, path=tmp_path, size="1k")) == RELEASED


def test_loads_from_the_archive(tmp_path):
    member = f"tasks_1-20_v1-2/en-10k/{babi.task_file_name(1, 'test')}"
    archive = _archive(tmp_path / "tasks_1-20_v1-2.tar.gz", {member: RELEASED})
    stories = babi.load_babi(1, "test", size="10k", path=archive)
    assert babi.format_babi(stories) == RELEASED
    with pytest.raises(FileNotFoundError, match="holds no tasks_1-20_v1-2/en/qa1_"):
        babi.load_babi(1, "test", size="1k", path=archive)


def test_loader_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="task must be an int from 1 to 20, received task=21"):
        babi.load_babi(21, path=tmp_path)
    with pytest.raises(ValueError, match="split must be one of .*received split='valid'"):
        babi.load_babi(1, "valid", path=tmp_path)
    with pytest.raises(ValueError, match="size must be one of .*received size='5k'"):
        babi.load_babi(1, size="5k", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="no bAbI file qa1_single-supporting-fact_train.txt"):
        babi.load_babi(1, path=tmp_path)
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="which does not exist"):
        babi.load_babi(1, path=missing)
    other = _write_task(tmp_path / "flat")
    with pytest.raises(ValueError, match="a file of neither kind"):
        babi.load_babi(1, path=other)


def test_downloads_once_and_checks_the_archive(tmp_path, monkeypatch):
    member = f"tasks_1-20_v1-2/en/{babi.task_file_name(1, 'train')}"
    source = _archive(tmp_path / "served.tar.gz", {member: RELEASED})
    served = source.read_bytes()
    calls = []

    def fake_download(url, path):
        calls.append(url)
        with open(path, "wb") as file:
            file.write(served)

    monkeypatch.setattr(_load, "_download", fake_download)
    cache = tmp_path / "cache"
    # Not the canonical archive: its SHA-256 differs, and nothing stays.
    with pytest.raises(ValueError, match="SHA-256 is .*not the canonical file's"):
        babi.load_babi(1, cache_dir=cache)
    assert calls == [babi.BABI_URL] and not list(cache.iterdir())
    monkeypatch.setattr(_load, "BABI_SHA256", hashlib.sha256(served).hexdigest())
    for _ in range(2):
        assert babi.format_babi(babi.load_babi(1, cache_dir=cache)) == RELEASED
    assert len(calls) == 2  # the failed one and one more: the second load used the cache


def test_a_cut_archive_is_refused(tmp_path, monkeypatch):
    member = f"tasks_1-20_v1-2/en/{babi.task_file_name(1, 'train')}"
    served = _archive(tmp_path / "served.tar.gz", {member: RELEASED * 50}).read_bytes()

    def cut_download(url, path):
        with open(path, "wb") as file:
            file.write(served[: len(served) // 2])

    monkeypatch.setattr(_load, "_download", cut_download)
    monkeypatch.setattr(_load, "BABI_SHA256", None)
    with pytest.raises(ValueError, match="not a complete tar.gz archive"):
        babi.load_babi(1, cache_dir=tmp_path / "cache")


# -- the generator -------------------------------------------------------------

_NAME = r"(?:Mary|Sandra|John|Daniel)"
_SUBJECT = rf"({_NAME} and {_NAME}|{_NAME}|he|she|they)"
_MOVE = re.compile(rf"^(?:(?:Then|After that|Afterwards|Following that) )?{_SUBJECT} "
                   r"(?:went to|journeyed to|travelled to|moved to|went back to) the (\w+)\.$")
_PICK = re.compile(r"^(\w+) (?:got|picked up|grabbed|took) the (\w+) there\.$")
_DROP = re.compile(r"^(\w+) (?:dropped|discarded|put down|left) the (\w+)\.$")


class _Tracker:
    """An independent reading of a generated story: the world its
    statements describe, parsed from the words alone."""

    PRONOUNS = {"Mary": "she", "Sandra": "she", "John": "he", "Daniel": "he"}

    def __init__(self):
        self.place, self.holder, self.object_place = {}, {}, {}
        self.history = {}  # object -> places it has been, in order
        self.picked = []  # objects, by their last pick-up, oldest first
        self.last_named = None  # (people, line number) of the previous statement
        # person -> the line numbers that settle where they are: their last
        # move, and for a pronoun the statement naming them.
        self.settled = {}

    def read(self, sentence, number):
        move, pick, drop = _MOVE.match(sentence), _PICK.match(sentence), _DROP.match(sentence)
        named, self.last_named = self.last_named, None
        if move:
            subject, place = move.groups()
            if subject in ("he", "she", "they"):
                # Only straight after a statement naming its people.
                people, antecedent = named
                pronoun = self.PRONOUNS[people[0]] if len(people) == 1 else "they"
                assert pronoun == subject, sentence
                settled = {number, antecedent}
            else:
                people = tuple(subject.split(" and "))
                assert len(set(people)) == len(people), sentence
                self.last_named, settled = (people, number), {number}
            for person in people:
                self.place[person] = place
                self.settled[person] = settled
            for thing, person in self.holder.items():
                if person in people:
                    self._arrive(thing, place)
        elif pick:
            person, thing = pick.groups()
            assert thing not in self.holder, sentence
            assert self.object_place.get(thing, self.place[person]) == self.place[person]
            self.holder[thing] = person
            self.picked = [t for t in self.picked if t != thing] + [thing]
            self._arrive(thing, self.place[person])
        elif drop:
            person, thing = drop.groups()
            assert self.holder.pop(thing) == person, sentence
        else:
            raise AssertionError(f"not a generated statement: {sentence!r}")

    def _arrive(self, thing, place):
        self.object_place[thing] = place
        trail = self.history.setdefault(thing, [])
        if not trail or trail[-1] != place:
            trail.append(place)

    def answer(self, question):
        words = question.rstrip("?").split()
        if question.startswith("Where is the "):
            return self.object_place[words[-1]]
        if question.startswith("Where is "):
            return self.place[words[-1]]
        if question.startswith("Is "):
            return "yes" if self.place[words[1]] == words[-1] else "no"
        if question.startswith("What is "):
            # Listed in the order they were picked up.
            held = [thing for thing in self.picked if self.holder.get(thing) == words[2]]
            return ",".join(held) or "nothing"
        if question.startswith("How many objects is "):
            count = sum(1 for person in self.holder.values() if person == words[4])
            return ("none", "one", "two", "three")[count]
        if question.startswith("Where was the "):
            trail = self.history[words[3]]
            return trail[trail.index(words[-1]) - 1]
        raise AssertionError(f"not a generated question: {question!r}")


def _settled_by_support(task, sample):
    """The answer that the supporting facts alone give."""
    facts = [sample.facts[i] for i in sample.supporting]
    moves = [_MOVE.match(f) for f in facts if _MOVE.match(f)]
    words = sample.question.rstrip("?").split()
    if task in (1, 11, 12, 13):
        # The last move of the one asked about: named in it, or in the
        # statement its pronoun refers to.
        named = [f for f in facts if words[-1] in f]
        assert named and (named[-1] == facts[-1] or task in (11, 13)), sample
        return moves[-1].group(2)
    if task == 6:
        return "yes" if moves[-1].group(2) == words[-1] else "no"
    if task == 2:
        (move,) = moves
        return move.group(2)
    if task == 3:
        places = [m.group(2) for m in moves]
        assert len(places) == 2 and words[-1] in places, sample
        return places[0] if places[1] == words[-1] else places[1]
    if task == 7:
        return ("none", "one", "two", "three")[sum(bool(_PICK.match(f)) for f in facts)]
    if task == 8:
        # Each a pick-up or drop by the one asked about.
        handled = [_PICK.match(f) or _DROP.match(f) for f in facts]
        assert all(h and h.group(1) == words[2] for h in handled), sample
        picks = [_PICK.match(f).group(2) for f in facts if _PICK.match(f)]
        return ",".join(picks) or "nothing"
    raise AssertionError(task)


@pytest.mark.parametrize("task", babi.GENERATED_TASKS)
def test_generated_answers_agree_with_the_story_and_the_supporting_facts(task):
    stories = babi.generate_stories(task, 300, seed=task)
    supports = {1: {1}, 2: {2}, 3: {3}, 6: {1}, 7: {1, 2, 3}, 8: {1, 2, 3}, 11: {1, 2},
                12: {1}, 13: {1, 2}}[task]
    answers = set()
    for story in stories:
        tracker = _Tracker()
        samples = iter(story.samples())
        for number, line in enumerate(story.lines, 1):
            if isinstance(line, babi.Question):
                sample = next(samples)
                # The whole story read independently gives the recorded answer,
                assert tracker.answer(line.text) == line.answer, (line, story)
                if task in (1, 6, 11, 12, 13):
                    # and the person's last move (and its antecedent) support it,
                    person = line.text.split()[1 if task == 6 else 2].rstrip("?")
                    assert set(line.supporting) == tracker.settled[person], (line, story)
                # and so do the supporting facts alone.
                assert _settled_by_support(task, sample) == line.answer, (sample, story)
                assert len(line.supporting) in supports
                # Every supporting fact is in the memory a reader keeps.
                assert min(sample.supporting) >= len(sample.facts) - 50
                answers.add(line.answer)
            else:
                tracker.read(line, number)
    assert len(answers) >= 2  # not one answer to everything
    if task == 8:  # empty hands, one object and lists of them
        assert "nothing" in answers and any("," in answer for answer in answers)


def test_generation_is_seeded_and_grows_with_the_size(tmp_path):
    first = babi.format_babi(babi.generate_stories(2, 50, seed=3))
    assert first == babi.format_babi(babi.generate_stories(2, 50, seed=3))
    assert first != babi.format_babi(babi.generate_stories(2, 50, seed=4))
    babi.generate_babi(tmp_path, tasks=(1, 11))
    for task in (1, 11):
        one_k = babi.load_babi(task, path=tmp_path, size="1k")
        ten_k = babi.load_babi(task, path=tmp_path, size="10k")
        assert len(babi.samples_of(one_k)) == 1_000 and len(babi.samples_of(ten_k)) == 10_000
        assert ten_k[: len(one_k)] == one_k  # 1k is the start of 10k
        test_1k = babi.load_babi(task, "test", path=tmp_path, size="1k")
        assert test_1k == babi.load_babi(task, "test", path=tmp_path, size="10k")
        assert len(babi.samples_of(test_1k)) == 1_000
        assert babi.format_babi(test_1k) not in babi.format_babi(ten_k)


def test_generator_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="task must be one of the generated tasks"):
        babi.generate_stories(4, 10)
    with pytest.raises(ValueError, match="num_questions must be a positive multiple of 5"):
        babi.generate_stories(1, 12)
    with pytest.raises(ValueError, match="tasks must be drawn from the generated tasks"):
        babi.generate_babi(tmp_path, tasks=(5,))
    with pytest.raises(ValueError, match="sizes must be drawn from"):
        babi.generate_babi(tmp_path, sizes=("2k",))


# -- word ids ------------------------------------------------------------------


def test_vectorize_keeps_the_recent_facts_and_marks_the_support():
    facts = tuple(f"Mary moved to the room{i}." for i in range(6))
    samples = [
        babi.Sample(facts, "Where is Mary?", "room5", (5,)),
        babi.Sample(facts[:2], "Where is Mary?", "room1", (1,)),
        babi.Sample(facts, "Where was Mary?", "room0", (0,)),  # older than the memory
    ]
    vocabulary = babi.Vocabulary.from_samples(samples)
    assert vocabulary.words[:2] == ("<pad>", "<unk>")
    assert vocabulary.answers == ("room0", "room1", "room5")
    arrays = babi.vectorize(samples, vocabulary, memory_size=4)
    assert arrays["story"].shape == (3, 4, 5) and arrays["question"].shape == (3, 5)
    room = {f"room{i}": vocabulary.words.index(f"room{i}") for i in range(6)}
    # The last four facts, oldest first: rooms 2 to 5.
    np.testing.assert_array_equal(arrays["story"][0, :, 4], [room[f"room{i}"] for i in (2, 3, 4, 5)])
    np.testing.assert_array_equal(arrays["supporting"][0], [False, False, False, True])
    # Two facts: slots 2 and 3 are padding.
    np.testing.assert_array_equal(arrays["story"][1, 2:], 0)
    np.testing.assert_array_equal(arrays["supporting"][1], [False, True, False, False])
    assert not arrays["supporting"][2].any()
    np.testing.assert_array_equal(arrays["answer"], [2, 1, 0])
    np.testing.assert_array_equal(
        arrays["question"][0], [vocabulary.words.index(w) for w in ("where", "is", "mary")] + [0, 0])
    assert vocabulary.ids("Where is Bob?")[-1] == 1  # an unknown word
    with pytest.raises(ValueError, match=r"sentence_length=3 is too short for sample 0: "
                                         r"'Mary moved to the room2\.' has 5 words"):
        babi.vectorize(samples, vocabulary, memory_size=4, sentence_length=3)
    with pytest.raises(ValueError, match="answer 'room9' is not one of"):
        babi.vectorize([babi.Sample(facts, "Where?", "room9", (0,))], vocabulary)
    assert babi.Vocabulary.from_config(vocabulary.to_config()) == vocabulary
    # Every answer is a word, so that MemN2N can score it by its embedding.
    assert [vocabulary.words[i] for i in vocabulary.answer_word_ids] == list(vocabulary.answers)
    with pytest.raises(ValueError, match=r"answers \['room7'\] are not"):
        babi.Vocabulary(vocabulary.words, ("room0", "room7")).answer_word_ids
    with pytest.raises(ValueError, match="sentence_length must be a positive int"):
        babi.vectorize(samples, vocabulary, sentence_length=0)
    with pytest.raises(ValueError, match="sample 0 has a fact without a word: '...'"):
        babi.vectorize([babi.Sample(("...",), "Where?", "room0", (0,))], vocabulary)
    # Generators are read once, whole.
    assert babi.Vocabulary.from_samples(iter(samples)) == vocabulary
    np.testing.assert_array_equal(
        babi.vectorize(iter(samples), vocabulary, memory_size=4)["story"], arrays["story"])
