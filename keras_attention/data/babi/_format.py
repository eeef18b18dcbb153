"""The bAbI file format (Weston et al. 2015): stories of numbered lines.

One line is `<id> <text>`. Ids count from 1 within a story, and a story
ends where the numbering starts again at 1. A statement's text is a
sentence; a question's text is the question, a tab, the answer, a tab and
the ids of its supporting statements, separated by spaces:

    1 Mary moved to the bathroom.
    2 John went to the hallway.
    3 Where is Mary? \tbathroom\t1

A question takes a line id of its own, and its supporting ids name earlier
statements of the same story. Some tasks' answers are lists, written with
commas ("apple,football").
"""

import dataclasses
import os

from keras_attention.data._download import temporary_path


@dataclasses.dataclass(frozen=True)
class Question:
    """A question line: its text, the answer and the supporting statements'
    line ids."""

    text: str
    answer: str
    supporting: tuple


@dataclasses.dataclass(frozen=True)
class Story:
    """A story as its lines, in order: each a `str` (a statement) or a
    `Question`. Line `i` of the file has id `i + 1`."""

    lines: tuple

    def samples(self):
        """One `Sample` per question: the statements before it, with the
        supporting ids turned into indices of those statements."""
        samples, facts, index_of = [], [], {}
        for line_id, line in enumerate(self.lines, start=1):
            if isinstance(line, Question):
                samples.append(Sample(
                    facts=tuple(facts), question=line.text, answer=line.answer,
                    supporting=tuple(index_of[i] for i in line.supporting),
                ))
            else:
                index_of[line_id] = len(facts)
                facts.append(line)
        return samples


@dataclasses.dataclass(frozen=True)
class Sample:
    """What a reader gets: `facts` (the story's statements before the
    question, oldest first), the question, its answer, and `supporting`:
    indices into `facts`."""

    facts: tuple
    question: str
    answer: str
    supporting: tuple


def samples_of(stories):
    """Every question of `stories` as a `Sample`, in file order."""
    return [sample for story in stories for sample in story.samples()]


class BabiFormatError(ValueError):
    """A line that is not in the bAbI format; the message names the file and
    the line."""


def parse_babi(lines, source="<lines>"):
    """The `Story`s of bAbI text given as lines (`str`, newlines allowed).

    Args:
        lines: the file's lines, in order.
        source: what to call them in errors (the file's name).

    Raises:
        BabiFormatError: naming `source` and the line number: a line
            without a leading id, an id that neither continues the story
            nor starts a new one at 1, an empty statement or question, a
            question line without exactly question, answer and supporting
            ids, or a supporting id that names no earlier statement of the
            story.
    """
    if isinstance(lines, (str, bytes)):
        raise TypeError(
            f"lines must be the lines of a file (a list, or an open file), received one "
            f"{type(lines).__name__}; parse_babi_text takes a whole file's text")
    stories, current = [], []
    statement_ids = set()

    def fail(number, line, reason):
        raise BabiFormatError(
            f"{source}, line {number}: {reason}; the bAbI format is "
            f"'<id> <sentence>' or '<id> <question>\\t<answer>\\t<supporting ids>', "
            f"received {line[:80]!r}"
        )

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            fail(number, line, "an empty line")
        head, _, text = line.partition(" ")
        if not (head.isascii() and head.isdigit()) or not text.strip():
            fail(number, line, "a line starts with its id, a space and its text")
        line_id = int(head)
        if line_id == 1:
            if current:
                stories.append(Story(tuple(current)))
            current, statement_ids = [], set()
        elif line_id != len(current) + 1:
            fail(number, line,
                 f"id {line_id} neither continues the story (next id "
                 f"{len(current) + 1}) nor starts a new one at 1")
        if "\t" not in text:
            current.append(text.strip())
            statement_ids.add(line_id)
            continue
        fields = text.split("\t")
        if len(fields) != 3:
            fail(number, line,
                 f"a question line has 3 tab-separated fields, not {len(fields)}")
        question, answer, support = (field.strip() for field in fields)
        if not question or not answer:
            fail(number, line, "a question line needs a question and an answer")
        support_ids = support.split()
        if not support_ids or not all(i.isascii() and i.isdigit() for i in support_ids):
            fail(number, line, "the supporting ids must be integers separated by spaces")
        support_ids = tuple(int(i) for i in support_ids)
        unknown = [i for i in support_ids if i not in statement_ids]
        if unknown:
            fail(number, line,
                 f"supporting ids {unknown} name no earlier statement of this story")
        current.append(Question(question, answer, support_ids))
    if current:
        stories.append(Story(tuple(current)))
    return stories


def read_babi(path):
    """The `Story`s of the bAbI file `path` (UTF-8 text).

    Raises:
        FileNotFoundError: `path` does not exist.
        BabiFormatError: the file is not UTF-8, holds no story, or a line is
            not in the format (naming the file and the line).
    """
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except UnicodeDecodeError as error:
        raise BabiFormatError(f"{path} is not UTF-8 text: {error}") from None
    return parse_babi_text(text, path)


def parse_babi_text(text, source):
    """`parse_babi` of a whole file's text; an empty one is an error."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    stories = parse_babi(lines, source)
    if not stories:
        raise BabiFormatError(f"{source} holds no story: it is empty")
    return stories


def format_babi(stories):
    """The bAbI text of `stories`, as the released files write it (a space
    before a question's tab)."""
    out = []
    for story in stories:
        for line_id, line in enumerate(story.lines, start=1):
            text = line.text + line.answer if isinstance(line, Question) else line
            if "\t" in text or "\n" in text or (isinstance(line, Question) and not line.supporting):
                raise ValueError(
                    f"line {line_id} of a story cannot be written in the bAbI format (a tab "
                    f"or newline in its text, or a question without supporting facts): {line!r}")
            if isinstance(line, Question):
                support = " ".join(str(i) for i in line.supporting)
                out.append(f"{line_id} {line.text} \t{line.answer}\t{support}\n")
            else:
                out.append(f"{line_id} {line}\n")
    return "".join(out)


def write_babi(stories, path):
    """Writes `stories` to `path` in the bAbI format, atomically: a
    temporary file beside it, renamed into place once whole."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = temporary_path(path)
    try:
        with open(partial, "w", encoding="utf-8") as file:
            file.write(format_babi(stories))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
