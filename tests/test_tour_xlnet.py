"""The tour's XLNet family: its sentences and its picture (the quick tour in
tests/test_tour.py runs the family end to end)."""

import datetime

import keras

from keras_attention.data import dates
from keras_attention.data.subwords import SubwordTokenizer
from keras_attention.models import XLNetLM
from keras_attention.tour import xlnet


def test_date_sentences_hide_the_month_that_the_iso_date_names():
    sentences = xlnet.date_sentences(300, seed=5)
    assert sentences == xlnet.date_sentences(300, seed=5)
    assert sentences != xlnet.date_sentences(300, seed=6)
    starts = set()
    for left, month, right in sentences:
        human, iso = xlnet._join(left, month, right).split(" = ")
        day = datetime.date.fromisoformat(iso)
        assert month == dates.MONTHS[day.month - 1]
        # The human side is the same day in one of the family's formats.
        assert human in {dates.format_date(day, f) for f in xlnet.FORMATS}
        starts.add(left.split(" ")[0].rstrip(",") if left else "")
    # Every format comes up: the month first (nothing on its left), after
    # a number, after a weekday.
    assert "" in starts and set(dates.WEEKDAYS) & starts and any(s.isdigit() for s in starts)


def test_the_two_streams_picture_is_drawn(tmp_path):
    text = [xlnet._join(*parts) for parts in xlnet.date_sentences(200, seed=0)]
    tokenizer = SubwordTokenizer.train(text, 120, model_type="bpe")
    keras.utils.set_random_seed(0)
    model = XLNetLM(tokenizer.vocabulary_size, hidden_dim=8, num_heads=2,
                    intermediate_dim=16, num_blocks=1)
    path = xlnet.two_streams_picture(model, tokenizer, xlnet.SHOWN,
                                     str(tmp_path / "streams.png"))
    assert path.endswith("streams.png")
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


def test_fill_all_scores_whole_months_from_the_text_with_its_gap():
    sentences = xlnet.date_sentences(4, seed=2)
    text = [xlnet._join(*parts) for parts in xlnet.date_sentences(200, seed=0)]
    tokenizer = SubwordTokenizer.train(text, 120, model_type="bpe")
    seen = []

    def fill(gapped, gap_length):
        # Right for the first two sentences, a wrong last piece after that.
        index = len(seen)
        seen.append(gapped)
        left, month, right = sentences[index]
        assert gapped == xlnet._join(left, "___", right)
        truth = [tokenizer.id_to_piece(i) for i in tokenizer.encode(month, add_end=False)]
        assert gap_length == len(truth)
        return (truth if index < 2 else truth[:-1] + ["▁x"]), [0.5 * index]

    accuracy, pieces, call_ms = xlnet.fill_all(fill, tokenizer, sentences)
    assert accuracy == 0.5 and len(pieces) == 4 and call_ms == [0.0, 0.5, 1.0, 1.5]
