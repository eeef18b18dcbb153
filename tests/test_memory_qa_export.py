"""MemN2N to the device: the `answer` signature in every mode, run by edge_demo."""

import json

import keras
import numpy as np
import pytest

import edge_demo
from edge_demo.__main__ import main as edge_main
from edge_demo.errors import EdgeModelError
from edge_demo.qa import answer_question, read_story
from keras_attention.data import babi
from keras_attention.models import (
    attention_model,
    compile_qa_model,
    memn2n_model,
    memn2n_signatures,
    qa_task_metadata,
)
from keras_attention_export import Exporter

MEMORY, LENGTH = 10, 6


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A MemN2N trained a little on generated task 2, exported in the three
    modes; its Keras answers and attention on the first 20 questions. Its
    stories run up to 26 sentences, so both sides keep the last 10."""
    samples = babi.samples_of(babi.generate_stories(2, 200, seed=0))
    vocabulary = babi.Vocabulary.from_samples(samples)
    arrays = babi.vectorize(samples, vocabulary, memory_size=MEMORY, sentence_length=LENGTH)
    keras.utils.set_random_seed(0)
    # The answers tied to their words, as the bench, the tour and `ask` build it.
    model = memn2n_model(vocabulary.size, len(vocabulary.answers), memory_size=MEMORY,
                         sentence_length=LENGTH, hidden_dim=16,
                         answer_word_ids=vocabulary.answer_word_ids)
    compile_qa_model(model)
    inputs = {"story": arrays["story"], "question": arrays["question"]}
    model.fit(inputs, arrays["answer"], epochs=20, verbose=0)
    logits, weights = attention_model(model).predict(
        {k: v[:20] for k, v in inputs.items()}, verbose=0)
    folder = tmp_path_factory.mktemp("memn2n")
    paths = {}
    with Exporter(model, signatures=memn2n_signatures(model)) as exporter:
        for mode in ("float32", "dynamic", "int8"):
            paths[mode] = folder / f"memn2n_{mode}.tflite"
            exporter.export_tflite(
                paths[mode], mode=mode, task=qa_task_metadata(model, vocabulary),
                representative_data=(
                    {"answer": {k: v[:100] for k, v in inputs.items()}}
                    if mode == "int8" else None))
    assert max(len(s.facts) for s in samples[:20]) > MEMORY
    return dict(samples=samples[:20], vocabulary=vocabulary, logits=logits,
                weights=weights, paths=paths, model=model, folder=folder)


@pytest.mark.parametrize("mode, atol", [("float32", 1e-5), ("dynamic", 1e-2), ("int8", 0.15)])
def test_the_device_answers_as_keras_does(exported, mode, atol):
    device = edge_demo.load(exported["paths"][mode])
    answers = exported["vocabulary"].answers
    agree = 0
    for i, sample in enumerate(exported["samples"]):
        found = answer_question(device, list(sample.facts), sample.question)
        agree += found.answer == answers[int(np.argmax(exported["logits"][i]))]
        n = len(found.sentences)
        assert found.sentences == list(sample.facts[-MEMORY:])
        assert found.attention.shape == (3, n)
        np.testing.assert_allclose(found.attention, exported["weights"][i][:, :n], atol=atol)
        if mode != "int8":  # the same sentence read hardest at every hop
            np.testing.assert_array_equal(np.argmax(found.attention, -1),
                                          np.argmax(exported["weights"][i][:, :n], -1))
        # int8 outputs come in steps of 1/256: each of the A answers' (6 here)
        # probabilities is off by up to 1/512, their sum by up to A/512 = 0.012 < 2e-2.
        np.testing.assert_allclose(found.probabilities.sum(), 1.0, atol=2e-2 if mode == "int8" else 1e-5)
    assert agree == len(exported["samples"]) if mode != "int8" else agree >= 18


def test_the_command_answers_and_shows_what_it_read(exported, tmp_path, capsys):
    sample = next(s for s in exported["samples"] if len(s.facts) <= MEMORY)
    story = tmp_path / "story.txt"
    # Numbered as in a bAbI file, with a blank line: both are dropped.
    story.write_text("\n".join(f"{i} {fact}" for i, fact in enumerate(sample.facts, 1))
                     + "\n\n", encoding="utf-8")
    assert read_story(story) == list(sample.facts)
    status = edge_main([str(exported["paths"]["float32"]), "--story", str(story),
                        "--question", sample.question, "--runs", "2"])
    out = capsys.readouterr().out
    assert status == 0, out
    i = exported["samples"].index(sample)
    answer = exported["vocabulary"].answers[int(np.argmax(exported["logits"][i]))]
    assert f"answer:  {answer} (" in out
    hops = [line for line in out.splitlines() if line.startswith("hop ")]
    assert len(hops) == 3
    for hop, line in enumerate(hops):  # each hop's most attended sentence first
        top = sample.facts[int(np.argmax(exported["weights"][i][hop, :len(sample.facts)]))]
        assert line.split("; ")[0].endswith(repr(top)), (line, top)


def test_a_story_file_with_a_question_or_a_second_story_is_refused(tmp_path):
    question = tmp_path / "question.txt"
    question.write_text("1 Mary moved to the hallway.\n2 Where is Mary? \thallway\t1\n")
    with pytest.raises(EdgeModelError, match="question.txt, line 2: a question line"):
        read_story(question)
    two = tmp_path / "two.txt"
    two.write_text("1 Mary moved to the hallway.\n2 John went to the garden.\n"
                   "1 Sandra moved to the office.\n")
    with pytest.raises(EdgeModelError, match="two.txt, line 3: the numbering starts again"):
        read_story(two)


def test_bad_stories_and_questions_are_named(exported, tmp_path, capsys):
    device = edge_demo.load(exported["paths"]["float32"])
    with pytest.raises(EdgeModelError, match="no such story file"):
        answer_question(device, tmp_path / "missing.txt", "Where is Mary?")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(EdgeModelError, match="empty.txt: the story holds no sentence"):
        answer_question(device, empty, "Where is Mary?")
    with pytest.raises(EdgeModelError, match=r"sentence 2 of the story has 10 words, more "
                                             r"than the model's 6"):
        answer_question(device, ["Mary moved to the hallway.",
                                 "Mary moved to the hallway and then to the garden."],
                        "Where is Mary?")
    with pytest.raises(EdgeModelError, match="the question holds no word"):
        answer_question(device, ["Mary moved to the hallway."], "?")
    # An unknown word is read as the unknown id, not refused.
    found = answer_question(device, ["Bob moved to the hallway."], "Where is Bob?")
    assert found.answer in exported["vocabulary"].answers
    assert edge_main([str(exported["paths"]["float32"]), "--story", str(empty)]) == 2
    assert "give --story FILE and --question TEXT" in capsys.readouterr().err


@pytest.mark.parametrize("field, change", [
    ("answers", lambda task: task["answers"][:-1]),
    ("unknown_id", lambda task: 0),
    ("lowercase", lambda task: "yes"),
    ("words", lambda task: task["words"][:2] + task["words"][1:]),
    ("memory_size", lambda task: task["memory_size"] + 1),
    ("token_pattern", lambda task: "[a-z"),
])
def test_a_metadata_that_does_not_fit_is_refused(exported, tmp_path, field, change):
    path = exported["paths"]["float32"]
    metadata = json.loads(path.with_suffix(".json").read_text())
    metadata["task"][field] = change(metadata["task"])
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(metadata))
    with pytest.raises(EdgeModelError, match=f"task.{field}"):
        edge_demo.load(path, broken)


def test_task_metadata_checks_the_vocabulary(exported):
    words = exported["vocabulary"]
    short = babi.Vocabulary(words.words[:-1], words.answers)
    with pytest.raises(ValueError, match="vocabulary must have the model's"):
        qa_task_metadata(exported["model"], short)
