"""A fact base you can question: a memory network over a story, in Keras.

`StoryReader` joins a trained `memn2n_model` and the `Vocabulary` it was
trained with. `answer(sentences, question)` reads the story's last `M`
sentences and returns the answer with each hop's attention over them, the
facts the model looked at. `keras-attention ask` trains one on a generated
task (or loads one it saved), prints a story (a generated one, or the
user's file) and answers the questions typed or given.

Example:

>>> reader = StoryReader.train(task=1, epochs=2, num_questions=100)
>>> found = reader.answer(["Mary moved to the bathroom.", "John went to the hallway."],
...                       "Where is Mary?")
>>> found.attention.shape
(3, 2)
"""

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

from edge_demo.errors import EdgeModelError
from edge_demo.files import write_atomically
from keras_attention.data import babi
from keras_attention.data._download import temporary_path
from keras_attention.models.memory_qa import attention_model, compile_qa_model, memn2n_model

MEMORY_SIZE = babi.MEMORY_SIZE
DEFAULT_TASK = 2


@dataclasses.dataclass
class Answer:
    """What `StoryReader.answer` returns.

    Attributes:
        answer: the most likely answer.
        probability: its probability.
        sentences: the sentences read (the story's last `M`).
        attention: float32 `[K, len(sentences)]`, each hop's weights.
    """

    answer: str
    probability: float
    sentences: list
    attention: np.ndarray

    def attended(self, top=2):
        """Per hop, the `top` most attended sentences as `(weight, sentence)`."""
        return [[(float(w[i]), self.sentences[i]) for i in np.argsort(w)[::-1][:top]]
                for w in self.attention]


class StoryReader:
    """A trained `memn2n_model` and its `Vocabulary`.

    Args:
        model: a `memn2n_model`.
        vocabulary: the `keras_attention.data.babi.Vocabulary` it was
            trained with.
        task: the generated task it was trained on, if one was (`ask`
            shows a story of that task unless told another).
    """

    def __init__(self, model, vocabulary, task=None):
        layer = model.get_layer("memory_network")
        if layer.vocabulary_size != vocabulary.size or layer.num_answers != len(vocabulary.answers):
            raise ValueError(
                f"vocabulary has {vocabulary.size} words and {len(vocabulary.answers)} "
                f"answers; the model takes {layer.vocabulary_size} and gives "
                f"{layer.num_answers}: they must be trained together")
        if task is not None and task not in babi.GENERATED_TASKS:
            raise ValueError(f"task must be None or one of the generated tasks "
                             f"{babi.GENERATED_TASKS}, received task={task!r}")
        self.model = model
        self.vocabulary = vocabulary
        self.task = task
        self._with_attention = attention_model(model)
        story = model.input["story"]
        self.memory_size, self.sentence_length = int(story.shape[1]), int(story.shape[2])

    @classmethod
    def train(cls, task=2, num_questions=1000, epochs=40, seed=0, verbose=0):
        """A reader trained on `num_questions` generated questions of `task`."""
        import keras

        samples = babi.samples_of(babi.generate_stories(task, num_questions, seed=seed))
        vocabulary = babi.Vocabulary.from_samples(samples)
        length = babi.longest_sentence(samples, MEMORY_SIZE)
        arrays = babi.vectorize(samples, vocabulary, MEMORY_SIZE, length)
        keras.utils.set_random_seed(seed)
        model = memn2n_model(vocabulary.size, len(vocabulary.answers), memory_size=MEMORY_SIZE,
                             sentence_length=length, answer_word_ids=vocabulary.answer_word_ids,
                             seed=seed)
        compile_qa_model(model, steps_per_epoch=int(np.ceil(len(samples) / 32)))
        model.fit({"story": arrays["story"], "question": arrays["question"]},
                  arrays["answer"], batch_size=32, epochs=epochs, verbose=verbose)
        return cls(model, vocabulary, task=task)

    def answer(self, sentences, question):
        """The answer to `question` about `sentences` (oldest first).

        Raises:
            ValueError: no sentence, or a sentence or question longer than
                the model's sentences (naming it).
        """
        sentences = [str(s).strip() for s in sentences if str(s).strip()]
        if not sentences:
            raise ValueError("sentences must hold at least one sentence, received none")
        if not babi.tokenize(str(question)):
            raise ValueError(f"question must hold a word, received {question!r}")
        kept = sentences[-self.memory_size:]
        sample = babi.Sample(tuple(kept), question, self.vocabulary.answers[0], ())
        arrays = babi.vectorize([sample], self.vocabulary, self.memory_size,
                                self.sentence_length)
        logits, weights = self._with_attention.predict(
            {"story": arrays["story"], "question": arrays["question"]}, verbose=0)
        shifted = np.exp(logits[0] - logits[0].max())
        probabilities = shifted / shifted.sum()
        best = int(np.argmax(probabilities))
        return Answer(self.vocabulary.answers[best], float(probabilities[best]), kept,
                      weights[0, :, : len(kept)].astype("float32"))

    def save(self, folder):
        """`folder/memn2n.keras`, `folder/vocabulary.json` and
        `folder/reader.json` (the task it was trained on), each written whole
        (a temporary file renamed into place)."""
        os.makedirs(folder, exist_ok=True)
        model_path = os.path.join(folder, "memn2n.keras")
        partial = temporary_path(model_path, suffix=".keras")
        try:
            self.model.save(partial)
            os.replace(partial, model_path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        write_atomically(os.path.join(folder, "vocabulary.json"),
                         json.dumps(self.vocabulary.to_config()))
        write_atomically(os.path.join(folder, "reader.json"), json.dumps({"task": self.task}))

    @classmethod
    def load(cls, folder):
        """A reader `save` wrote."""
        import keras

        paths = [os.path.join(folder, name) for name in ("memn2n.keras", "vocabulary.json")]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f"{folder} is not a saved reader: it lacks {', '.join(missing)} "
                "(keras-attention ask --save FOLDER writes both)")
        try:
            with open(paths[1], encoding="utf-8") as file:
                vocabulary = babi.Vocabulary.from_config(json.load(file))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{paths[1]} is not a vocabulary `save` wrote: {error!r}") from None
        # reader.json came later than the other two: a reader saved without
        # it loads, with no task.
        task = None
        path = os.path.join(folder, "reader.json")
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as file:
                    task = json.load(file)["task"]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path} is not what `save` wrote: {error!r}") from None
            if task is not None and task not in babi.GENERATED_TASKS:
                raise ValueError(f"{path}: task must be null or one of the generated tasks "
                                 f"{babi.GENERATED_TASKS}, received {task!r}")
        return cls(keras.saving.load_model(paths[0]), vocabulary, task=task)


DESCRIPTION = """\
Ask a memory network questions about a story. It trains an end-to-end
memory network (MemN2N) on a generated bAbI-style task (about half a
minute on 2 CPU cores), or loads one saved with --save, prints the story
(a generated test story, or your --story file, one sentence a line) and
answers each question: given with --question, or typed, one a line, until
an empty line or end of input. For each answer it prints the sentences
each hop attended to."""

EXAMPLES = """\
examples:
  keras-attention ask --task 2 --question "Where is the football?"
  keras-attention ask --task 1 --save reader/     # then type questions
  keras-attention ask --model reader/ --story my_story.txt"""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, received {text}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-attention ask", description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", type=int, default=None, choices=babi.GENERATED_TASKS,
                        help="the generated task to train on, and whose story to show "
                             "without --story (default 2; with --model, the task the "
                             "reader was trained on)")
    parser.add_argument("--model", help="a reader saved with --save, instead of training")
    parser.add_argument("--save", help="save the trained reader in this folder")
    parser.add_argument("--story", help="a text file, one sentence a line (default: a "
                                        "generated test story of the task)")
    parser.add_argument("--question", action="append", default=[],
                        help="a question (repeatable); without one, questions are read "
                             "from the input")
    parser.add_argument("--epochs", type=_positive_int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _story(args, task):
    if args.story is None:
        story = babi.generate_stories(task, 5, seed=args.seed + 1000)[0]
        sample = story.samples()[-1]
        return list(sample.facts), [s.question for s in story.samples()]
    # The device's reader of story files, so that both read a file alike.
    from edge_demo.qa import read_story

    return read_story(args.story), []


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.model:
            reader = StoryReader.load(args.model)
            task = args.task or reader.task or DEFAULT_TASK
            if args.story is None and reader.task not in (None, task):
                print(f"note: the reader was trained on task {reader.task}; the story "
                      f"is of task {task}", flush=True)
        else:
            task = args.task or DEFAULT_TASK
            print(f"training a memory network on generated task {task} "
                  f"({babi.TASK_NAMES[task]}) ...", flush=True)
            reader = StoryReader.train(task, epochs=args.epochs, seed=args.seed)
        if args.save:
            reader.save(args.save)
            print(f"saved: {args.save}")
        sentences, examples = _story(args, task)
    except (OSError, ValueError, EdgeModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("story:")
    for i, sentence in enumerate(sentences, start=1):
        print(f"  {i:2d} {sentence}")
    questions = args.question
    if not questions:
        if examples:
            print(f"questions like: {'; '.join(dict.fromkeys(examples))}")
        interactive = sys.stdin.isatty()
        questions = _typed(interactive)
    for question in questions:
        try:
            found = reader.answer(sentences, question)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            continue
        print(f"{question} -> {found.answer} ({found.probability:.3f})")
        for hop, attended in enumerate(found.attended(), start=1):
            print(f"  hop {hop}: " + "; ".join(f"{w:.2f} {s!r}" for w, s in attended))
    return 0


def _typed(interactive):
    while True:
        try:
            line = input("question> " if interactive else "")
        except EOFError:
            return
        if not line.strip():
            return
        yield line.strip()
