import datetime
import doctest

import numpy as np
import pytest

from keras_attention.data import dates

# Saturday, 3 April 2021, in every format.
EXPECTED = {
    "{d} {month} {Y}": "3 april 2021",
    "{dd} {mon} {Y}": "03 apr 2021",
    "{month} {d}, {Y}": "april 3, 2021",
    "{mon} {d}, {Y}": "apr 3, 2021",
    "{mon} {dd} {Y}": "apr 03 2021",
    "{weekday}, {month} {dth} {Y}": "saturday, april 3rd 2021",
    "{weekday}, {d} {month} {Y}": "saturday, 3 april 2021",
    "{wd} {d} {mon} {Y}": "sat 3 apr 2021",
    "{dth} {month} {Y}": "3rd april 2021",
    "the {dth} of {month}, {Y}": "the 3rd of april, 2021",
    "{dd}-{mon}-{Y}": "03-apr-2021",
    "{mm}/{dd}/{Y}": "04/03/2021",  # month first (US)
    "{m}/{d}/{Y}": "4/3/2021",
    "{dd}.{mm}.{Y}": "03.04.2021",  # day first (European)
    "{d}.{m}.{Y}": "3.4.2021",
    "{Y}.{mm}.{dd}": "2021.04.03",
    "{Y}/{mm}/{dd}": "2021/04/03",
    "{Y}{mm}{dd}": "20210403",
    "{Y}-{mm}-{dd}": "2021-04-03",
}


def test_every_format_of_one_date():
    date = datetime.date(2021, 4, 3)
    assert set(EXPECTED) == set(dates.FORMATS)
    for fmt, text in EXPECTED.items():
        assert dates.format_date(date, fmt) == text
    assert dates.format_date(date, "{mon} {d}, {Y}", "title") == "Apr 3, 2021"
    assert (
        dates.format_date(date, "{weekday}, {month} {dth} {Y}", "title")
        == "Saturday, April 3rd 2021"
    )
    assert dates.format_date(date, "the {dth} of {month}, {Y}", "upper") == (
        "THE 3RD OF APRIL, 2021"
    )
    with pytest.raises(ValueError, match=r"fmt must be one of FORMATS, .*fmt='\{d\}'"):
        dates.format_date(date, "{d}")
    with pytest.raises(ValueError, match=r"case must be one of .*case='shout'"):
        dates.format_date(date, "{d} {month} {Y}", "shout")


@pytest.mark.parametrize(
    "day,ordinal",
    [
        (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
        (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th"),
        (31, "31st"),
    ],
)
def test_ordinals(day, ordinal):
    text = dates.format_date(datetime.date(2020, 1, day), "{dth} {month} {Y}")
    assert text == f"{ordinal} january 2020"


def test_every_rendering_fits_the_source_side():
    # Every day of a leap year (every weekday and month name, every day
    # number) in every format and case.
    day = datetime.date(2000, 1, 1)
    longest = 0
    while day.year == 2000:
        texts = [
            dates.format_date(day, f, c) for f in dates.FORMATS for c in dates.CASES
        ]
        ids = dates.encode_sources(texts)  # raises on an unknown character
        assert ids.shape == (len(texts), dates.SOURCE_LENGTH)
        longest = max(longest, *map(len, texts))
        day += datetime.timedelta(days=1)
    assert longest == 30  # "wednesday, september 30th 2000"


def test_generate_is_deterministic_and_correct():
    sources, targets = dates.generate(300, seed=7)
    assert (sources, targets) == dates.generate(300, seed=7)
    assert dates.generate(300, seed=8) != (sources, targets)
    assert len(sources) == len(targets) == 300
    for source, target in zip(sources, targets):
        date = datetime.date.fromisoformat(target)
        assert dates.FIRST_DAY <= date <= dates.LAST_DAY
        renderings = {
            dates.format_date(date, f, c) for f in dates.FORMATS for c in dates.CASES
        }
        assert source in renderings
    assert dates.generate(0, seed=0) == ([], [])
    with pytest.raises(ValueError, match=r"n must be a non-negative int, .*n=-1"):
        dates.generate(-1, seed=0)


def test_all_formats_and_cases_occur():
    sources, targets = dates.generate(3000, seed=0)
    numeric = [s for s in sources if s.isdigit()]
    upper = [s for s in sources if any(c.isalpha() for c in s) and s.isupper()]
    assert len(numeric) > 100 and len(upper) > 300
    assert len(set(targets)) > 2900


def test_source_round_trip_and_padding():
    sources, _ = dates.generate(50, seed=1)
    ids = dates.encode_sources(sources)
    assert ids.dtype == np.int32 and ids.shape == (50, dates.SOURCE_LENGTH)
    for text, row in zip(sources, ids):
        assert "".join(dates.SOURCE_VOCABULARY[i] for i in row[: len(text)]) == text
        assert (row[len(text):] == dates.PAD_ID).all()
        assert (row[: len(text)] != dates.PAD_ID).all()


def test_target_arrays_for_teacher_forcing():
    _, targets = dates.generate(20, seed=2)
    decoder_inputs, target_ids = dates.encode_targets(targets)
    assert decoder_inputs.shape == target_ids.shape == (20, dates.TARGET_LENGTH)
    assert decoder_inputs.dtype == target_ids.dtype == np.int32
    assert (decoder_inputs[:, 0] == dates.START_ID).all()
    np.testing.assert_array_equal(decoder_inputs[:, 1:], target_ids[:, :-1])
    assert (target_ids[:, -1] == dates.END_ID).all()
    assert dates.decode_targets(target_ids) == targets
    # A string shorter than an ISO date is padded after its end token.
    decoder_inputs, target_ids = dates.encode_targets(["12-3"])
    assert target_ids.tolist() == [[4, 5, 13, 6, 2, 0, 0, 0, 0, 0, 0]]
    assert decoder_inputs.tolist() == [[1, 4, 5, 13, 6, 2, 0, 0, 0, 0, 0]]


def test_decode_targets_stops_at_end_and_drops_special_ids():
    ids = np.array([[1, 5, 6, 2, 7, 7], [5, 0, 6, 7, 8, 9]])
    # ids 3 to 12 are the digits 0 to 9.
    assert dates.decode_targets(ids) == ["23", "23456"]


def test_unknown_characters_and_long_strings_are_errors():
    with pytest.raises(ValueError, match=r"source 1 \('3 avril 2021!'\).*: '!'"):
        dates.encode_sources(["3 april 2021", "3 avril 2021!"])
    with pytest.raises(ValueError, match="'~', '\u00e9'"):
        dates.encode_sources(["~\u00e9"])
    with pytest.raises(ValueError, match=r"has 33 characters; at most 32 fit"):
        dates.encode_sources(["1" * 33])
    with pytest.raises(ValueError, match=r"target 0 \('2021/04/03'\).*: '/'"):
        dates.encode_targets(["2021/04/03"])
    with pytest.raises(ValueError, match=r"has 11 characters; at most 10 fit"):
        dates.encode_targets(["2021-04-031"])


def test_dataset_batches_with_loss_weights():
    sources, targets = dates.generate(10, seed=3)
    inputs, target_ids, weights = next(
        iter(dates.dataset(sources, targets, batch_size=4, seed=0).as_numpy_iterator())
    )
    assert inputs["source"].shape == (4, dates.SOURCE_LENGTH)
    assert inputs["decoder_inputs"].shape == target_ids.shape == weights.shape
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, target_ids != dates.PAD_ID)
    batches = list(dates.dataset(sources, targets, batch_size=4, shuffle=False))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(
        batches[0][0]["source"], dates.encode_sources(sources[:4])
    )


def test_exact_match():
    assert dates.exact_match(["a", "b", "c", "d"], ["a", "x", "c", "d"]) == 0.75
    with pytest.raises(ValueError, match="same length, received 1 and 2"):
        dates.exact_match(["a"], ["a", "b"])


def test_task_metadata_is_what_edge_demo_reads():
    task = dates.task_metadata()
    assert task["kind"] == "seq2seq"
    assert task["source_vocabulary"] == dates.SOURCE_VOCABULARY
    assert task["target_vocabulary"] == dates.TARGET_VOCABULARY
    assert task["target_vocabulary"][task["start_id"]] == "<s>"
    assert task["target_vocabulary"][task["end_id"]] == "</s>"
    assert task["pad_id"] == 0 and task["max_target_length"] == dates.TARGET_LENGTH
    arguments = dates.model_arguments()
    assert arguments["source_vocabulary_size"] == len(dates.SOURCE_VOCABULARY)
    assert arguments["target_length"] == dates.TARGET_LENGTH


def test_module_docstring_example():
    result = doctest.testmod(dates)
    assert result.attempted > 0 and result.failed == 0, result
