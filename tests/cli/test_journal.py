"""``ctphase predict --journal``: results kept as they come, resumed runs redo and lose nothing, mismatches refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.journal import Journal

runner = CliRunner()


def _predict(corpus: Path, checkpoint: Path, *extra: str):
    return runner.invoke(app, ["predict", str(corpus), "--model", str(checkpoint), *extra])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_timings(record: dict) -> dict:
    preds = [{k: v for k, v in p.items() if k != "timings"} for p in record["predictions"]]
    return {"summary": record["summary"], "studies": record["studies"], "predictions": preds}


@pytest.fixture(scope="module")
def plain(corpus, checkpoint, tmp_path_factory) -> dict:
    """The JSON record of an uninterrupted run without a journal."""
    out = tmp_path_factory.mktemp("plain") / "plain.json"
    res = _predict(corpus, checkpoint, "-o", str(out), "-q")
    assert res.exit_code == 1, res.output  # the corpus holds broken files
    return json.loads(out.read_text())


def test_journal_is_written_and_a_rerun_classifies_nothing_new(corpus, checkpoint, plain, tmp_path) -> None:
    journal = tmp_path / "run.jsonl"
    first = _predict(corpus, checkpoint, "--journal", str(journal), "-o", str(tmp_path / "1.json"))
    assert first.exit_code == 1, first.output
    lines = _lines(journal)
    head, results = lines[0], lines[1:]
    assert head["ctphase_journal"] == 1 and head["model_sha256"] == plain["predictions"][0]["model_sha256"]
    assert head["arguments"]["seed"] == 0 and "ctphase_version" in head
    assert len(results) == plain["summary"]["ok"] == 4  # every classified series, once
    assert "journal" in first.stderr and "4 new series result(s)" in first.stderr

    before = journal.read_bytes()
    second = _predict(corpus, checkpoint, "--journal", str(journal), "-o", str(tmp_path / "2.json"))
    assert second.exit_code == 1, second.output
    assert "resumed: 4 series already done" in second.stderr and "0 to classify" in second.stderr
    assert journal.read_bytes() == before  # nothing classified again
    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in (1, 2))
    assert one["predictions"] == two["predictions"]  # timings included: the results were reused, not redone
    assert _without_timings(two) == _without_timings(plain)


def test_an_interrupted_run_resumes_with_every_series_once(corpus, checkpoint, plain, tmp_path) -> None:
    journal = tmp_path / "run.jsonl"
    assert _predict(corpus, checkpoint, "--journal", str(journal), "-q").exit_code == 1
    text = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(text[:2]) + text[2][: len(text[2]) // 2])  # header, one result, half a line
    res = _predict(corpus, checkpoint, "--journal", str(journal), "-o", str(tmp_path / "out.json"))
    assert res.exit_code == 1, res.output
    assert "resumed: 1 series already done" in res.stderr
    results = _lines(journal)[1:]  # every line parses: the half line was cut off
    assert sorted(r["series_id"] for r in results) == sorted(p["series_id"] for p in plain["predictions"]
                                                             if p["status"] == "ok")
    assert _without_timings(json.loads((tmp_path / "out.json").read_text())) == _without_timings(plain)


def test_ctrl_c_keeps_what_was_classified(corpus, checkpoint, plain, tmp_path, monkeypatch) -> None:
    journal = tmp_path / "run.jsonl"
    real = Journal.record

    def interrupted(self, p):
        if self.written == 2:
            raise KeyboardInterrupt
        real(self, p)

    monkeypatch.setattr(Journal, "record", interrupted)
    res = _predict(corpus, checkpoint, "--journal", str(journal), "-o", str(tmp_path / "out.json"))
    assert res.exit_code == 130, res.output
    assert "interrupted" in res.stderr and "run the same command again" in res.stderr
    assert len(_lines(journal)) == 3 and not (tmp_path / "out.json").exists()
    monkeypatch.setattr(Journal, "record", real)
    res = _predict(corpus, checkpoint, "--journal", str(journal), "-o", str(tmp_path / "out.json"))
    assert res.exit_code == 1 and "resumed: 2 series already done" in res.stderr
    assert len(_lines(journal)) == 5
    assert _without_timings(json.loads((tmp_path / "out.json").read_text())) == _without_timings(plain)


def test_a_journal_of_other_results_is_refused(corpus, checkpoint, small_checkpoint, tmp_path) -> None:
    journal = tmp_path / "run.jsonl"
    assert _predict(corpus / "study1", checkpoint, "--journal", str(journal), "-q").exit_code == 0
    before = journal.read_bytes()
    for extra, message in [(["--seed", "1"], "seed=0 (this run: 1)"), (["--no-early-stop"], "early_stop=True"),
                           (["--sample-rate", "0.5"], "sample_rate=0.3")]:
        res = _predict(corpus / "study1", checkpoint, "--journal", str(journal), *extra)
        assert res.exit_code == 2, res.output
        assert message in res.stderr and "Traceback" not in res.output
    res = _predict(corpus / "study1", small_checkpoint, "--journal", str(journal))
    assert res.exit_code == 2 and "model sha256" in res.stderr
    assert journal.read_bytes() == before
    # a journal of the uniform draw (written before the spread draw, no "draw" argument) is not resumed
    head, *rest = before.splitlines(keepends=True)
    old_head = json.loads(head)
    assert old_head["arguments"].pop("draw") == "spread"
    older = tmp_path / "older.jsonl"
    older.write_bytes((json.dumps(old_head) + "\n").encode() + b"".join(rest))
    res = _predict(corpus / "study1", checkpoint, "--journal", str(older))
    assert res.exit_code == 2 and "draw=None (this run: 'spread')" in res.stderr
    # study-level options may change: the study step runs at the end
    assert _predict(corpus / "study1", checkpoint, "--journal", str(journal), "--no-study", "-q").exit_code == 0
    other = tmp_path / "other.jsonl"
    other.write_text('{"something": "else"}\n')
    res = _predict(corpus / "study1", checkpoint, "--journal", str(other))
    assert res.exit_code == 2 and "not a ctphase predict journal" in res.stderr
    res = _predict(corpus / "study1", checkpoint, "--journal", str(journal), "-o", str(journal), "--overwrite")
    assert res.exit_code == 2 and "different files" in res.stderr


def test_results_reach_the_journal_as_they_come(corpus, checkpoint, tmp_path) -> None:
    from ctphase.pipeline import classify

    path = tmp_path / "run.jsonl"
    seen = []

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage == "classify":
            seen.append((done, len(path.read_text().splitlines()) - 1))

    with Journal(path, {"sample_rate": 0.3, "min_slices": 8, "seed": 0, "early_stop": True}) as journal:
        preds = classify(corpus, model=checkpoint, journal=journal, on_progress=on_progress)
    assert seen == [(i, i) for i in range(1, 5)]  # each result on disk before the next series starts
    assert len([p for p in preds if p.status == "ok"]) == 4


def test_jsonl_output(corpus, checkpoint, plain, tmp_path) -> None:
    out = tmp_path / "phases.jsonl"
    res = _predict(corpus, checkpoint, "-o", str(out), "-q")
    assert res.exit_code == 1, res.output
    rows = _lines(out)
    assert [r["series_id"] for r in rows] == [p["series_id"] for p in plain["predictions"]]
    assert _without_timings({"summary": 0, "studies": 0, "predictions": rows})["predictions"] == \
        _without_timings(plain)["predictions"]
    res = _predict(corpus, checkpoint, "-f", "jsonl", "-q")
    assert len(res.stdout.splitlines()) == len(rows)


def test_failed_series_are_tried_again(tmp_path) -> None:
    from ctphase.prediction import ScanPrediction

    path = tmp_path / "run.jsonl"
    args = {"sample_rate": 0.3, "min_slices": 8, "seed": 0, "early_stop": True}
    with Journal(path, args) as journal:
        assert journal.start("abc") == {}
        journal.record(ScanPrediction("s1", "p1", "dicom", "error", error="disk hiccup"))
        journal.record(ScanPrediction("s2", "p2", "dicom", "ok", label="venous"))
    with Journal(path, args) as journal:
        assert list(journal.start("abc")) == [("s2", "p2")]
