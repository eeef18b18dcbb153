"""bAbI-style tasks from a small world simulation, with their supporting facts.

People move between places and pick up and drop objects; questions ask
about the state of that world, and each records the ids of the statements
that settle its answer. Nine of the released tasks have a generated
counterpart (`GENERATED_TASKS`), written in the released files' format and
layout so that `load_babi` reads both:

- 1, single supporting fact: "Where is Mary?" after "Mary moved to the
  bathroom." (her last move).
- 2, two supporting facts: "Where is the football?": the pick-up or drop of
  the football and the move that put its carrier where it is (or was, when
  it was dropped).
- 3, three supporting facts: "Where was the apple before the kitchen?": the
  pick-up, and the two moves of its carrier, into the place before and
  into the kitchen.
- 6, yes/no questions: "Is Mary in the office?": her last move.
- 7, counting: "How many objects is Daniel carrying?" (none to three): for
  each object he ever handled, his last pick-up or drop of it.
- 8, lists and sets: "What is Mary carrying?" ("nothing", "milk", or
  "apple,milk" in the order she picked them up): as for counting.
- 11, basic coreference: "Then she went to the garden." continues the
  previous statement's person; "Where is Sandra?" is settled by her last
  move and, for a pronoun, the statement that names her.
- 12, conjunction: "Mary and Daniel went to the kitchen." moves both;
  "Where is Daniel?": his last move.
- 13, compound coreference: "Then they went to the garden." continues the
  previous statement's two people; settled as for task 11.

How they differ from the released tasks: a smaller vocabulary (four
people, six places, three objects, a few verbs each), five questions to a
story after a few statements each, and a question asked only where the
world settles its answer and its supporting facts are among the last 50
statements (the memory that MemN2N reads). Task 3's stories grow past 50
statements, as the released ones do.
"""

import os

import numpy as np

from keras_attention.data.babi._format import Question, Story, write_babi
from keras_attention.data.babi._load import SIZES, TASK_NAMES, task_file_name
from keras_attention.data.babi._vectorize import MEMORY_SIZE

PEOPLE = {"Mary": "she", "Sandra": "she", "John": "he", "Daniel": "he"}
PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
OBJECTS = ("apple", "football", "milk")
MOVES = ("went to", "journeyed to", "travelled to", "moved to", "went back to")
PICK_UPS = ("got", "picked up", "grabbed", "took")
DROPS = ("dropped", "discarded", "put down", "left")
PRONOUN_OPENINGS = ("Then", "After that", "Afterwards", "Following that")
COUNTS = ("none", "one", "two", "three")
GENERATED_TASKS = (1, 2, 3, 6, 7, 8, 11, 12, 13)
QUESTIONS_PER_STORY = 5
# Training questions per size; the test files hold TEST_QUESTIONS for both,
# the same file, as the released en/ and en-10k/ share their test sets.
SIZE_QUESTIONS = {"1k": 1_000, "10k": 10_000}
TEST_QUESTIONS = 1_000
# Statements before each question, drawn from this range per task: the
# object tasks need more to set up a question's answer.
STATEMENTS_BEFORE_QUESTION = {1: (2, 2), 2: (2, 5), 3: (3, 6), 6: (2, 2), 7: (2, 4), 8: (2, 4),
                              11: (2, 2), 12: (2, 2), 13: (2, 2)}


class _World:
    """The state a story's statements build, and the ids that set it."""

    def __init__(self, rng):
        self.rng = rng
        self.lines = []
        self.place = {}        # person -> place
        self.place_fact = {}   # person -> id of the statement that put them there
        self.mention = {}      # id of a pronoun statement -> id naming its person
        self.holder = {}       # object -> person carrying it, or absent
        self.grab_fact = {}    # object -> id of its carrier's pick-up
        self.lying = {}        # object -> (place, drop id, move id) when dropped
        self.handled = {}      # person -> {object: id of their last pick-up/drop}
        # object -> [(place, id that put it there, its carrier's pick-up id)]
        self.trail = {}
        self.last_named = None  # (people, id) of the previous statement, if it named any

    def _say(self, text):
        self.lines.append(text)
        return len(self.lines)

    def _choice(self, options):
        return options[self.rng.integers(len(options))]

    def move(self, pronoun=False, pair=False):
        """One person (or, with `pair`, two together) moves; with `pronoun`,
        whoever the previous statement named, as "she", "he" or "they"."""
        if pronoun:
            people, antecedent = self.last_named
            opening = self._choice(PRONOUN_OPENINGS)
            subject = f"{opening} {PEOPLE[people[0]] if len(people) == 1 else 'they'}"
        elif pair:
            first = self._choice(tuple(PEOPLE))
            people = (first, self._choice([p for p in PEOPLE if p != first]))
            subject = " and ".join(people)
        else:
            person = subject = self._choice(tuple(PEOPLE))
            people = (person,)
        here = {self.place.get(person) for person in people}
        place = self._choice([p for p in PLACES if p not in here])
        fact = self._say(f"{subject} {self._choice(MOVES)} the {place}.")
        for person in people:
            self.place[person], self.place_fact[person] = place, fact
        if pronoun:
            self.mention[fact] = antecedent
            self.last_named = None
        else:
            self.last_named = (people, fact)
        for thing, carrier in self.holder.items():
            if carrier in people:
                self.trail[thing].append((place, fact, self.grab_fact[thing]))
        return fact

    def pick_up(self):
        options = [
            (person, thing) for person in self.place for thing in OBJECTS
            if thing not in self.holder
            and (thing not in self.lying or self.lying[thing][0] == self.place[person])
        ]
        if not options:
            return self.move()
        person, thing = self._choice(options)
        fact = self._say(f"{person} {self._choice(PICK_UPS)} the {thing} there.")
        self.holder[thing], self.grab_fact[thing] = person, fact
        self.lying.pop(thing, None)
        self.handled.setdefault(person, {})[thing] = fact
        # The place it was picked up in, settled by the carrier's move there:
        # the first place of this carrying period.
        self.trail.setdefault(thing, []).append(
            (self.place[person], self.place_fact[person], fact))
        self.last_named = None
        return fact

    def drop(self):
        options = sorted(self.holder.items())
        if not options:
            return self.pick_up()
        thing, person = options[self.rng.integers(len(options))]
        fact = self._say(f"{person} {self._choice(DROPS)} the {thing}.")
        del self.holder[thing]
        self.lying[thing] = (self.place[person], fact, self.place_fact[person])
        self.handled[person][thing] = fact
        self.last_named = None
        return fact

    def ask(self, text, answer, supporting):
        self.lines.append(Question(text, answer, tuple(sorted(set(supporting)))))

    def settled_by(self, person):
        """The ids that settle where `person` is: their last move, and for a
        pronoun the statement that names them."""
        fact = self.place_fact[person]
        return (fact, self.mention[fact]) if fact in self.mention else (fact,)


# -- one question per task: None where the world cannot settle one yet ------


def _where_is_person(world):
    person = world._choice(sorted(world.place))
    return f"Where is {person}?", world.place[person], world.settled_by(person)


def _is_person_in(world):
    person = world._choice(sorted(world.place))
    place = world.place[person]
    if world.rng.random() < 0.5:
        return f"Is {person} in the {place}?", "yes", world.settled_by(person)
    other = world._choice([p for p in PLACES if p != place])
    return f"Is {person} in the {other}?", "no", world.settled_by(person)


def _where_is_object(world):
    known = sorted(set(world.holder) | set(world.lying))
    if not known:
        return None
    thing = world._choice(known)
    if thing in world.holder:
        person = world.holder[thing]
        return (f"Where is the {thing}?", world.place[person],
                (world.grab_fact[thing], world.place_fact[person]))
    place, drop_fact, move_fact = world.lying[thing]
    return f"Where is the {thing}?", place, (drop_fact, move_fact)


def _where_was_object(world):
    pairs = []
    for thing, trail in sorted(world.trail.items()):
        places = [place for place, _, _ in trail]
        for (before, before_fact, period), (after, after_fact, after_period) in zip(
            trail, trail[1:]
        ):
            # The same carrying, and a place it has been only once, so that
            # "before the kitchen" names one moment.
            if period == after_period and places.count(after) == 1:
                pairs.append((thing, before, after, (period, before_fact, after_fact)))
    if not pairs:
        return None
    thing, before, after, supporting = pairs[world.rng.integers(len(pairs))]
    return f"Where was the {thing} before the {after}?", before, supporting


def _what_is_carried(world):
    people = sorted(world.handled)
    if not people:
        return None
    person = world._choice(people)
    # In the order they were picked up, as the released task lists them.
    held = sorted((world.grab_fact[thing], thing)
                  for thing, carrier in world.holder.items() if carrier == person)
    answer = ",".join(thing for _, thing in held) or "nothing"
    return (f"What is {person} carrying?", answer, tuple(world.handled[person].values()))


def _how_many(world):
    people = sorted(world.handled)
    if not people:
        return None
    person = world._choice(people)
    count = sum(1 for carrier in world.holder.values() if carrier == person)
    return (f"How many objects is {person} carrying?", COUNTS[count],
            tuple(world.handled[person].values()))


QUESTIONS = {
    1: _where_is_person, 2: _where_is_object, 3: _where_was_object,
    6: _is_person_in, 7: _how_many, 8: _what_is_carried, 11: _where_is_person,
    12: _where_is_person, 13: _where_is_person,
}


def _statement(world, task):
    """One statement of a story of `task`: the tasks about people only
    move them (task 11 continues the previous one by pronoun half the time
    it can); the object tasks mix moves, pick-ups and drops."""
    if task in (1, 6):
        return world.move()
    if task == 11:
        return world.move(pronoun=world.last_named is not None and world.rng.random() < 0.5)
    if task == 12:
        return world.move(pair=world.rng.random() < 0.5)
    if task == 13:
        return world.move(pronoun=world.last_named is not None and world.rng.random() < 0.5,
                          pair=True)
    draw = world.rng.random()
    if draw < 0.5 or not world.place:
        return world.move()
    if draw < 0.8:
        return world.pick_up()
    return world.drop()


def generate_story(task, rng):
    """One `Story` of `task` with `QUESTIONS_PER_STORY` questions."""
    if task not in QUESTIONS:
        raise ValueError(
            f"task must be one of the generated tasks {GENERATED_TASKS}, received task={task!r}"
        )
    while True:
        story = _try_story(task, rng)
        if story is not None:
            return story


def _try_story(task, rng):
    """A story, or None where its world stops settling new questions (task
    3's objects, once they have been everywhere twice, settle no "before"):
    the caller starts another."""
    world = _World(rng)
    low, high = STATEMENTS_BEFORE_QUESTION[task]
    asked = set()

    def fresh_question():
        """A question not asked before in this story (the same words, answer
        and supporting facts), whose supporting facts are among the last
        `MEMORY_SIZE` statements; None if a few draws find none."""
        statements = [i for i, line in enumerate(world.lines, 1) if isinstance(line, str)]
        oldest = statements[max(0, len(statements) - MEMORY_SIZE)]
        for _ in range(8):
            question = QUESTIONS[task](world)
            if question is None:
                return None
            if question not in asked and min(question[2]) >= oldest:
                return question
        return None

    for _ in range(QUESTIONS_PER_STORY):
        for _ in range(rng.integers(low, high + 1)):
            _statement(world, task)
        question = fresh_question()
        for _ in range(MEMORY_SIZE):  # the world settles no new question yet: go on
            if question is not None:
                break
            _statement(world, task)
            question = fresh_question()
        if question is None:
            return None
        asked.add(question)
        world.ask(*question)
    return Story(tuple(world.lines))


def generate_stories(task, num_questions, seed=0):
    """Stories of `task` holding `num_questions` questions in all.

    Args:
        task: one of `GENERATED_TASKS`.
        num_questions: a positive multiple of `QUESTIONS_PER_STORY`.
        seed: the same seed gives the same stories.
    """
    if (isinstance(num_questions, bool) or not isinstance(num_questions, int)
            or num_questions <= 0 or num_questions % QUESTIONS_PER_STORY):
        raise ValueError(
            f"num_questions must be a positive multiple of {QUESTIONS_PER_STORY}, "
            f"received num_questions={num_questions!r}"
        )
    rng = np.random.default_rng(seed)
    return [generate_story(task, rng) for _ in range(num_questions // QUESTIONS_PER_STORY)]


def generate_babi(folder, tasks=GENERATED_TASKS, sizes=tuple(SIZES), seed=0):
    """Writes generated tasks into `folder` in the released archive's layout.

    `folder/en/qa<N>_<name>_{train,test}.txt` holds 1,000 training
    questions a task, `folder/en-10k/` 10,000; both test files are the same
    1,000. Each file is written atomically. `load_babi(task, path=folder)`
    reads them.

    Args:
        folder: where to write (made if missing).
        tasks: some of `GENERATED_TASKS`.
        sizes: some of `"1k"`, `"10k"`.
        seed: training and test stories come from separate streams of it.

    Returns:
        `folder`.
    """
    for size in sizes:
        if size not in SIZES:
            raise ValueError(f"sizes must be drawn from {tuple(SIZES)}, received {sizes!r}")
    for task in tasks:
        if task not in QUESTIONS:
            raise ValueError(
                f"tasks must be drawn from the generated tasks {GENERATED_TASKS}, "
                f"received {tasks!r}"
            )
        test = generate_stories(task, TEST_QUESTIONS, seed=[seed, task, 0])
        # One stream for every size: a smaller training set is the start of
        # the largest, so the largest is drawn once and cut.
        largest = generate_stories(task, max(SIZE_QUESTIONS[size] for size in sizes),
                                   seed=[seed, task, 1])
        for size in sizes:
            train = largest[: SIZE_QUESTIONS[size] // QUESTIONS_PER_STORY]
            out = os.path.join(folder, SIZES[size])
            write_babi(train, os.path.join(out, task_file_name(task, "train")))
            write_babi(test, os.path.join(out, task_file_name(task, "test")))
    return folder


__all__ = [
    "GENERATED_TASKS", "TASK_NAMES", "generate_babi", "generate_stories", "generate_story",
]
