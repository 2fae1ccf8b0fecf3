"""The HTML QC report (:mod:`ctphase.htmlreport`): content, self-containment, and a real browser (headless Chromium).

The browser tests render the page in Debian's ``chromium``: a screenshot that is not blank,
cards in the DOM after the page's scripts ran, no console errors, filters and sorting that work.
They skip when Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser import CHROMIUM, dump_dom, screenshot

from ctphase.htmlreport import (
    pick_thumbnails,
    read_run_record,
    render_html,
    reopen_series,
    thumbnail_strip,
    vote_ribbon,
    windowed,
)
from ctphase.phases import PHASE_NAMES
from ctphase.prediction import ScanPrediction
from ctphase.reporting import to_json

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def run(corpus, checkpoint):
    """``(predictions, read)`` of the test corpus: DICOM and NIfTI series, an MR series, broken files."""
    from ctphase.pipeline import classify

    read: dict = {}
    preds = classify([corpus], model=checkpoint, read=read)
    return preds, read


def _made_up() -> list[ScanPrediction]:
    """Predictions without pixels: every label, several confidences, a finding and QC flags."""
    out = []
    for i, (label, conf) in enumerate([("venous", 0.91), ("arterial", 0.42), ("uncertain", 0.55), ("non_contrast", 0.77),
                                       ("other", 0.66), ("venous", 0.30)]):
        image = "arterial" if label == "uncertain" else label
        out.append(ScanPrediction(
            series_id=f"1.2.3/1.2.3.{i}", path=f"/data/s{i}", source="dicom", status="ok", study_uid="1.2.3",
            series_uid=f"1.2.3.{i}", n_slices=50, sampled_indices=[5, 10, 20], used_indices=[20, 5, 10],
            slice_labels=[image] * 3, label=label, image_label=image, confidence=conf, acquisition_order=i,
            vote_fractions={n: float(n == image) for n in PHASE_NAMES},
            probabilities={n: conf if n == image else (1 - conf) / 3 for n in PHASE_NAMES},
            qc=["slice_gaps"] if i == 2 else [], findings=["header says venous, images say arterial (text)"] if i == 1 else [],
        ))
    out.append(ScanPrediction(series_id="/data/junk.dcm", path="/data/junk.dcm", source="file", status="error",
                              error="not a DICOM file"))
    return out


# --------------------------------------------------------------------------- pieces


def test_slice_labels_are_the_votes_of_the_used_slices(run) -> None:
    preds, _ = run
    ok = [p for p in preds if p.status == "ok"]
    assert ok
    for p in ok:
        assert len(p.slice_labels) == len(p.used_indices) > 0
        for name in PHASE_NAMES:
            assert p.vote_fractions[name] == pytest.approx(p.slice_labels.count(name) / len(p.slice_labels), abs=1e-5)


def test_window_and_thumbnail_choice() -> None:
    assert windowed(np.array([-1000.0, -150.0, -50.0, 250.0, 3000.0])).tolist() == [0, 0, 64, 255, 255]
    picked = pick_thumbnails(list(range(99, -1, -1)), ["venous"] * 100, 5)
    assert [i for i, _ in picked] == [0, 25, 50, 74, 99]
    assert pick_thumbnails([3, 1], ["arterial", "venous"], 5) == [(1, "venous"), (3, "arterial")]


def test_vote_ribbon_colours_the_voted_slices() -> None:
    import base64

    import cv2

    uri = vote_ribbon(10, [0, 9], ["arterial", "venous"])
    assert uri is not None and uri.startswith("data:image/png;base64,")
    img = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (1, 10, 3)
    assert tuple(img[0, 0]) == (0x28, 0x28, 0xD6) and tuple(img[0, 9]) == (0xCD, 0x5F, 0x3A)  # BGR of the phase colours
    assert tuple(img[0, 5]) == (225, 225, 225)  # not classified
    assert vote_ribbon(0, [], []) is None


def test_strip_reads_only_the_slices_shown(run) -> None:
    preds, read = run
    p = next(p for p in preds if p.status == "ok" and p.source == "dicom")
    series = read[(p.series_id, p.path)]
    asked: list[list[int]] = []
    original = series.read_slices

    def spy(indices=None):
        asked.append([int(i) for i in indices])
        return original(indices)

    series.read_slices = spy
    try:
        strip = thumbnail_strip(series, p, max_thumbs=3)
    finally:
        del series.read_slices
    assert asked == [[i for i, _ in strip.cells]] and len(strip.cells) == 3
    assert set(asked[0]) <= set(p.used_indices)
    assert strip.image.startswith("data:image/jpeg;base64,") and strip.note is None


# --------------------------------------------------------------------------- the page


def test_report_is_self_contained_and_holds_every_series(run) -> None:
    preds, read = run
    html = render_html(preds, read, arguments={"sample_rate": 0.3})
    shown = [p for p in preds if p.source != "unused"]
    assert html.count('<article class="card"') == len(shown)
    assert html.count('<div class="strip"><img src="data:image/jpeg;base64,') == sum(p.status == "ok" for p in preds)
    for p in shown:
        assert p.series_id in html
    # nothing to fetch: every src/href is inline, no @import, no external URL at all
    assert not re.search(r"""(?:src|href)\s*=\s*(?!["']?(?:data:|#))""", html, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*['\"]?(?!data:)", html, re.IGNORECASE)
    assert not re.search(r"https?://", html, re.IGNORECASE)
    assert "<link" not in html.lower()
    assert "SECRET" not in html  # the test DICOMs' PatientName and PatientID
    assert len(html.encode()) < 200_000


def test_cards_show_subphase_and_seconds_of_a_model_with_heads() -> None:
    p = _made_up()[0]
    p.subphase, p.seconds_after_injection = "nephrographic", {"estimate": 104.0, "low": 80.5, "high": 131.0, "interval": 0.8}
    html = render_html([p, _made_up()[1]])
    assert html.count(">nephrographic</span>") == 1 and "~104 s (80&ndash;131)" in html


def test_report_escapes_what_it_shows() -> None:
    p = _made_up()[1]
    p.findings = ['header says <script>alert("x")</script>, images say arterial']
    html = render_html([p])
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_read_run_record_round_trip_and_errors(run, tmp_path: Path) -> None:
    preds, _ = run
    path = tmp_path / "run.json"
    path.write_text(to_json(preds, {"sample_rate": 0.3}))
    back, record = read_run_record(path)
    assert [p.to_dict() for p in back] == [p.to_dict() for p in preds]
    assert record["arguments"] == {"sample_rate": 0.3}
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"predictions": []}')
    for name, message in [("missing.json", "no such file"), ("bad.json", "not JSON"), ("other.json", "not a ctphase run record")]:
        with pytest.raises(Exception, match=message) as err:
            read_run_record(tmp_path / name)
        assert name in str(err.value)


def test_reopen_series_finds_them_again_or_says_why(corpus, run, tmp_path: Path) -> None:
    preds, _ = run
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    moved = [ScanPrediction(**{**p.to_dict(), "path": p.path.replace(str(corpus), str(copy))}) for p in preds]
    found, notes = reopen_series(moved)
    ok = [p for p in moved if p.status == "ok"]
    assert set(found) == {(p.series_id, p.path) for p in ok} and not notes
    gone = next(p for p in ok if p.source == "dicom")
    shutil.rmtree(gone.path)
    found, notes = reopen_series(moved)
    assert (gone.series_id, gone.path) in notes and (gone.series_id, gone.path) not in found
    html = render_html(moved, found, notes=notes)
    assert html.count('<div class="strip"><img') == len(ok) - 1
    assert "could not be read again" in html or "not found again" in html


def test_reopen_series_inside_a_zip(corpus, run, tmp_path: Path) -> None:
    import zipfile

    preds, _ = run
    p = next(p for p in preds if p.status == "ok" and p.path.endswith("study1/a"))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(Path(p.path).iterdir()):
            zf.write(f, f"CT/a/{f.name}")
    zipped = ScanPrediction(**{**p.to_dict(), "path": f"{archive}!/CT/a"})
    found, notes = reopen_series([zipped])
    assert not notes and found[(zipped.series_id, zipped.path)].n_slices == p.n_slices
    assert render_html([zipped], found).count("data:image/jpeg;base64,") == 1


# --------------------------------------------------------------------------- a real browser


def _not_blank(png: Path) -> tuple[float, float]:
    import cv2

    img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    return float(img.std()), float((img < 200).mean())


@needs_chromium
def test_report_renders_in_chromium(run, tmp_path: Path) -> None:
    preds, read = run
    page = tmp_path / "report.html"
    page.write_text(render_html(preds, read), encoding="utf-8")
    shot = tmp_path / "shot.png"
    console = screenshot(page.as_uri(), shot, tmp_path / "profile")
    std, dark = _not_blank(shot)
    assert std > 20 and dark > 0.05, (std, dark)  # a page, not a white or empty screen
    dom = dump_dom(page.as_uri(), tmp_path / "profile")
    n = sum(p.source != "unused" for p in preds)
    assert dom.attr("body", "data-ready") == "1"
    assert dom.attr("body", "data-cards") == dom.attr("body", "data-visible") == str(n)
    assert dom.attr("html", "data-console-errors") == "0", dom.attr("html", "data-console-error-text")
    assert dom.dom.count('class="card"') == n
    assert not console and not dom.console, console + dom.console


@needs_chromium
def test_filters_and_sorting_work_in_chromium(tmp_path: Path) -> None:
    preds = _made_up()
    page = tmp_path / "report.html"
    page.write_text(render_html(preds), encoding="utf-8")
    profile = tmp_path / "profile"

    def state(fragment: str) -> tuple[str | None, list[int]]:
        dom = dump_dom(page.as_uri() + fragment, profile)
        assert dom.attr("html", "data-console-errors") == "0" and not dom.console
        order = dom.attr("body", "data-order") or ""
        return dom.attr("body", "data-visible"), [int(i) for i in order.split(",") if i]

    assert state("")[0] == "7"
    assert state("#label=venous")[0] == "2"
    assert state("#label=error")[0] == "1"
    assert state("#finding=__some")[0] == "2"
    assert state("#finding=qc:slice_gaps")[0] == "1"
    assert state("#cmax=0.5")[0] == "2"  # 0.42 and 0.30; the failed series has no confidence
    visible, order = state("#sort=conf-asc")
    confidences = [preds[i].confidence for i in order if preds[i].confidence is not None]
    assert visible == "7" and confidences == sorted(confidences) and len(order) == 7
    assert state("#sort=conf-desc&label=venous")[1] == [0, 5]


@needs_chromium
def test_the_error_checks_would_see_an_error(tmp_path: Path) -> None:
    """The checks above are not blind: a script error and a missing image are counted and logged."""
    page = tmp_path / "broken.html"
    html = render_html(_made_up()).replace("</body>", '<img src="missing.png"><script>undefinedFunction();</script></body>')
    page.write_text(html, encoding="utf-8")
    dom = dump_dom(page.as_uri(), tmp_path / "profile")
    assert dom.attr("html", "data-console-errors") == "2", dom.attr("html", "data-console-error-text")
    assert any("undefinedFunction" in line for line in dom.console)
