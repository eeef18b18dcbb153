"""`keras-attention ask` and its StoryReader."""

import io

import numpy as np
import pytest

from keras_attention.ask import StoryReader
from keras_attention.data import babi
from keras_attention.cli import main as cli_main

STORY = ["Mary moved to the bathroom.", "John went to the hallway.",
         "Mary travelled to the office."]


@pytest.fixture(scope="module")
def reader():
    # Task 1 is learnt in 128 steps (500 questions, 8 epochs; every check
    # below holds from the sixth): the tests' stories are answered and their
    # attention points at the right fact.
    return StoryReader.train(task=1, num_questions=500, epochs=8)


def test_the_reader_answers_and_shows_what_it_read(reader):
    found = reader.answer(STORY, "Where is Mary?")
    assert found.answer == "office", found
    assert found.attention.shape == (3, 3)
    np.testing.assert_allclose(found.attention.sum(-1), 1.0, rtol=1e-5)
    # The last hop looks hardest at Mary's last move.
    assert found.attended(top=1)[-1][0][1] == "Mary travelled to the office."
    assert reader.answer(STORY, "Where is John?").answer == "hallway"
    with pytest.raises(ValueError, match="sentences must hold at least one sentence"):
        reader.answer(["  "], "Where is Mary?")


def test_save_and_load(reader, tmp_path):
    reader.save(tmp_path / "reader")
    loaded = StoryReader.load(tmp_path / "reader")
    a, b = reader.answer(STORY, "Where is Mary?"), loaded.answer(STORY, "Where is Mary?")
    assert a.answer == b.answer
    np.testing.assert_allclose(a.attention, b.attention, atol=1e-6)
    assert (reader.task, loaded.task) == (1, 1)
    with pytest.raises(FileNotFoundError, match="is not a saved reader: it lacks"):
        StoryReader.load(tmp_path / "nothing")
    # A reader saved before reader.json existed loads, with no task; a
    # damaged reader.json is named.
    (tmp_path / "reader" / "reader.json").write_text('{"task": 4}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"reader.json: task must be null or one of"):
        StoryReader.load(tmp_path / "reader")
    (tmp_path / "reader" / "reader.json").unlink()
    assert StoryReader.load(tmp_path / "reader").task is None


def test_the_command(reader, tmp_path, capsys, monkeypatch):
    reader.save(tmp_path / "reader")
    story = tmp_path / "story.txt"
    story.write_text("\n".join(STORY) + "\n", encoding="utf-8")
    status = cli_main(["ask", "--model", str(tmp_path / "reader"), "--story", str(story),
                       "--question", "Where is Mary?", "--question", "Where is John?"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Where is Mary? -> office (" in out and "Where is John? -> hallway (" in out
    assert out.count("  hop ") == 6
    # Questions from the input, one a line, to the end.
    monkeypatch.setattr("sys.stdin", io.StringIO("Where is Mary?\n"))
    assert cli_main(["ask", "--model", str(tmp_path / "reader"), "--story", str(story)]) == 0
    assert "Where is Mary? -> office (" in capsys.readouterr().out
    assert cli_main(["ask", "--model", str(tmp_path / "reader"),
                     "--story", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: no such story file" in capsys.readouterr().err


def test_a_saved_reader_is_shown_a_story_of_its_own_task(reader, tmp_path, capsys):
    # Trained on task 1: without --task or --story, the story is task 1's
    # (the command's default task is 2).
    reader.save(tmp_path / "reader")
    assert cli_main(["ask", "--model", str(tmp_path / "reader"),
                     "--question", "Where is Mary?"]) == 0
    out = capsys.readouterr().out
    expected = babi.generate_stories(1, 5, seed=1000)[0].samples()[-1].facts
    assert all(f" {sentence}\n" in out for sentence in expected), out
    assert "note:" not in out
    # Told another task, it says so.
    assert cli_main(["ask", "--model", str(tmp_path / "reader"), "--task", "2",
                     "--question", "Where is Mary?"]) == 0
    assert "note: the reader was trained on task 1; the story is of task 2" in (
        capsys.readouterr().out)
