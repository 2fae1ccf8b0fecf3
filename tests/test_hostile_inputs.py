"""Hostile inputs end to end: every input gets its exact records, none is lost, none is answered confidently.

The corpus (tests/hostile_corpus.py) is classified once by the Python API with the bundled
model, and once by ``ctphase predict`` in a subprocess (no traceback, every case in the JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import PHASE, UNCERTAIN, Case, Expect, build, cases

from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import classify
from ctphase.prediction import ScanPrediction
from ctphase.qc import is_untrustworthy

CASES = cases()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    return root, build(root)


@pytest.fixture(scope="module")
def predictions(corpus: tuple[Path, dict[str, Path]]) -> list[ScanPrediction]:
    _, inputs = corpus
    return classify(list(inputs.values()), seed=0)


def _records_of(case: Case, root: Path, preds: list[ScanPrediction]) -> list[ScanPrediction]:
    base = str(root / case.name)
    return [p for p in preds if p.path == base or p.path.startswith(base + os.sep)]


def _matches(p: ScanPrediction, e: Expect) -> bool:
    if p.status != e.status or set(p.qc) != set(e.qc):
        return False
    if e.label == PHASE and p.label not in PHASE_NAMES:
        return False
    if e.label == UNCERTAIN and p.label != "uncertain":
        return False
    if e.label is None and p.label is not None:
        return False
    text = " | ".join([p.error or "", *p.warnings])
    return e.message in text


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_gets_exactly_its_records(case: Case, corpus: tuple[Path, dict[str, Path]], predictions: list[ScanPrediction]) -> None:
    root, _ = corpus
    records = _records_of(case, root, predictions)
    shown = [(p.status, p.label, p.qc, p.error, p.warnings) for p in records]
    assert len(records) == len(case.expect), shown
    left = list(records)
    for e in case.expect:
        hit = next((p for p in left if _matches(p, e)), None)
        assert hit is not None, (e, shown)
        left.remove(hit)


def test_no_input_missing_and_no_series_twice(corpus: tuple[Path, dict[str, Path]], predictions: list[ScanPrediction]) -> None:
    root, inputs = corpus
    for case in CASES:
        assert _records_of(case, root, predictions), case.name
    named = set(inputs.values())  # a named DICOMDIR is followed: its series' records stand for it
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in named:
            assert any(str(path) == p.path or str(path).startswith(p.path + os.sep) for p in predictions), path
    ids = [p.series_id for p in predictions if p.series_uid]
    assert len(ids) == len(set(ids))


def test_no_confident_label_on_untrustworthy_input(predictions: list[ScanPrediction]) -> None:
    flagged = [p for p in predictions if is_untrustworthy(p.qc)]
    assert len(flagged) >= 4
    for p in flagged:
        assert p.label == "uncertain" and p.image_label in PHASE_NAMES
    for p in predictions:
        if p.status == "ok" and not is_untrustworthy(p.qc):
            assert p.label == p.image_label


def test_cli_on_the_whole_corpus(corpus: tuple[Path, dict[str, Path]]) -> None:
    root, _ = corpus
    res = subprocess.run(
        [sys.executable, "-c", "from ctphase.cli import app; app()", "predict", str(root), "--format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert res.returncode == 1, res.stderr  # the corpus holds broken files
    record = json.loads(res.stdout)
    paths = [p["path"] for p in record["predictions"]]
    for case in CASES:
        base = str(root / case.name)
        assert any(p == base or p.startswith(base + os.sep) for p in paths), case.name
    assert "SECRET" not in res.stdout and "SECRET" not in res.stderr  # no patient name or ID
