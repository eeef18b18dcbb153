"""bench/translate.py's JSON: a run of some models keeps the others' rows."""

import json
import sys

import pytest

from tests.bench_modules import load_bench


@pytest.fixture(scope="module")
def translate():
    return load_bench("translate")


def _row(model, bleu, date):
    scores = dict(bleu=bleu, chrf=2 * bleu)
    return dict(model=model, parameters=10, train_minutes=60.0, steps=100, epochs=3,
                tokens_per_second_xla=2000.0, tokens_per_second_no_xla=1000.0,
                greedy=scores, beam=dict(bleu=bleu + 1, chrf=2 * bleu + 1),
                device={"int8": dict(bleu=bleu - 0.5, kib=100.0, sentences_per_second=50.0)},
                run=dict(date=date, matmul_peak_gflops=300.0))


def _report(rows, language_model=None):
    return dict(models=rows, language_model=language_model,
                by_length={row["model"]: [row["greedy"]["bleu"]] for row in rows})


def test_a_run_of_one_model_keeps_the_others_rows(translate, tmp_path):
    path = tmp_path / "translate.json"
    first = translate.merged_report(
        _report([_row("transformer", 30.0, "day 1"), _row("seq2seq", 10.0, "day 1")],
                language_model=dict(perplexity_with_memory=40.0)), str(path))
    path.write_text(json.dumps(first))
    # Day 2 measures RNNsearch and the Transformer again, not the rest.
    second = translate.merged_report(
        _report([_row("transformer", 37.0, "day 2"), _row("rnnsearch", 35.0, "day 2")]),
        str(path))
    assert [r["model"] for r in second["models"]] == ["seq2seq", "rnnsearch", "transformer"]
    table = {r["model"]: r for r in second["table"]}
    assert (table["seq2seq"]["bleu_greedy"], table["seq2seq"]["date"]) == (10.0, "day 1")
    assert (table["transformer"]["bleu_greedy"], table["transformer"]["date"]) == (37.0, "day 2")
    assert table["transformer"]["bleu_beam"] == 38.0 and table["transformer"]["chrf_beam"] == 75.0
    assert table["rnnsearch"]["device_int8"] == 34.5
    assert table["rnnsearch"]["device_float32"] is None  # not measured: a dash in the docs
    assert second["by_length"] == {"seq2seq": [10.0], "transformer": [37.0], "rnnsearch": [35.0]}
    # The language model was not run on day 2: day 1's stays.
    assert second["language_model"] == dict(perplexity_with_memory=40.0)
    assert second["language_model_table"] == [
        dict(perplexity_with_memory=40.0, matmul_peak_gflops=None, date=None)]
    assert translate.merged_report(_report([_row("seq2seq", 1.0, "x")]), None)["table"][0][
        "bleu_greedy"] == 1.0
    assert table["seq2seq"]["device_date"] == "day 1"  # exported by the run that trained it


def test_a_model_exported_again_names_both_runs(translate):
    # --export-again: day 1 trained, day 3 exported and measured the device.
    row = dict(_row("transformer", 30.0, "day 1"), device_run=dict(date="day 3"))
    merged = translate.merged_report(_report([row]), None)
    (flat,) = merged["table"]
    assert (flat["date"], flat["device_date"]) == ("day 1", "day 3")
    (device,) = merged["device_table"]
    assert (device["model"], device["mode"], device["bleu"]) == ("transformer", "int8", 29.5)
    assert device["date"] == "day 3"


def test_steps_timed_again_name_their_run_and_its_peak(translate):
    # --speed-again: day 1 trained on a machine of peak 100, day 4 timed
    # the steps again on one of peak 400; the speeds go with day 4's peak.
    row = dict(_row("transformer", 30.0, "day 1"),
               speed_run=dict(date="day 4", matmul_peak_gflops=400.0))
    row["run"] = dict(row.get("run") or {}, date="day 1", matmul_peak_gflops=100.0)
    (flat,) = translate.merged_report(_report([row]), None)["table"]
    assert (flat["date"], flat["speed_date"], flat["matmul_peak_gflops"]) == (
        "day 1", "day 4", 400.0)
    plain = dict(_row("transformer", 30.0, "day 1"))
    (flat,) = translate.merged_report(_report([plain]), None)["table"]
    assert flat["speed_date"] == flat["date"] == "day 1"


def test_the_models_option_names_the_parts(translate, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["translate.py", "--models", "transformer,lstm"])
    with pytest.raises(SystemExit):
        translate.main()
    assert "--models must name some of seq2seq, rnnsearch, transformer, language-model, " \
        "received 'transformer,lstm'" in capsys.readouterr().err


def test_device_rows_say_how_they_were_timed(translate):
    row = _row("rnnsearch", 30.0, "day 1")
    (one_pass,) = translate.device_rows(row)
    assert one_pass["timing"].startswith("one pass")
    row["device"]["int8"]["pass_sentences_per_second"] = 40.0
    (interleaved,) = translate.device_rows(row)
    assert interleaved["timing"].startswith("interleaved")
    assert interleaved["sentences_per_second"] == 50.0


def test_device_speed_times_the_modes_in_turn(translate):
    import time

    class Device:
        def __init__(self, seconds):
            self.seconds, self.calls = seconds, 0

        def translate(self, sentence):
            self.calls += 1
            time.sleep(self.seconds)

    devices = {"slow": Device(0.004), "fast": Device(0.002)}
    speeds = translate.device_speed(devices, ["a sentence"] * 10, rounds=3)
    assert devices["slow"].calls == devices["fast"].calls == 30
    assert 1.4 < speeds["fast"] / speeds["slow"] < 2.6
    assert 150 < speeds["slow"] < 260  # about 1 / 0.004 s
