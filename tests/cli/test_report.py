"""``ctphase predict --html`` and ``ctphase report RUN.json -o report.html`` in-process."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from ctphase.cli import app

runner = CliRunner()


def _cards(html: str) -> int:
    return html.count('<article class="card"')


def test_predict_html_and_no_overwrite(corpus, checkpoint, tmp_path):
    page, run = tmp_path / "report.html", tmp_path / "run.json"
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(run),
                              "--html", str(page)])
    assert res.exit_code == 0, res.output
    html = page.read_text()
    assert _cards(html) == 2 and html.count("data:image/jpeg;base64,") == 2
    assert "wrote the HTML QC report of 2 series" in res.output
    before = page.read_text()
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "--html", str(page)])
    assert res.exit_code == 2 and "exists" in res.output and "--html" in res.output
    assert page.read_text() == before
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-f", "json", "-o", str(page), "--html",
                              str(page), "--overwrite"])
    assert res.exit_code == 2 and "different file" in res.output


def test_predict_html_checked_before_any_work(corpus, checkpoint, tmp_path):
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "--html",
                              str(tmp_path / "no" / "such" / "report.html")])
    assert res.exit_code == 2 and "does not exist" in res.output
    assert "classify" not in res.output


def test_report_from_a_saved_run(corpus, checkpoint, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus / "study1", data)
    run = tmp_path / "run.json"
    res = runner.invoke(app, ["predict", str(data), "--model", str(checkpoint), "-o", str(run), "-q"])
    assert res.exit_code == 0, res.output
    page = tmp_path / "report.html"
    res = runner.invoke(app, ["report", str(run), "-o", str(page)])
    assert res.exit_code == 0, res.output
    html = page.read_text()
    assert _cards(html) == 2 and html.count("data:image/jpeg;base64,") == 2
    # the series moved away: the report is still written, its cards say why there are no thumbnails
    gone = json.loads(run.read_text())["predictions"][0]["path"]
    shutil.rmtree(gone)
    res = runner.invoke(app, ["report", str(run), "-o", str(page), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert "1 series could not be read again" in res.output
    html = page.read_text()
    assert _cards(html) == 2 and html.count("data:image/jpeg;base64,") == 1 and "slices not shown" in html
    assert "Traceback" not in res.output


def test_report_refuses_bad_records(tmp_path):
    (tmp_path / "text.json").write_text("hello")
    (tmp_path / "other.json").write_text(json.dumps({"predictions": "x"}))
    for name, message in [("missing.json", "no such file"), ("text.json", "not JSON"), ("other.json", "not a ctphase run")]:
        res = runner.invoke(app, ["report", str(tmp_path / name), "-o", str(tmp_path / "r.html")])
        assert res.exit_code == 2, res.output
        assert name in res.output and message in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
