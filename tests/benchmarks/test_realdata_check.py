"""benchmarks/realdata_check.py: the summary lines, all series and those allowed for model choice."""

from __future__ import annotations

import pytest
from benchmark_scripts import load

rc = load("realdata_check")


def _row(truth: str, predicted: str, image: str, right: int, image_right: int, share: float, choice: bool) -> dict:
    return {"truth": truth, "predicted": predicted, "image_label": image, "correct_draws": right,
            "image_correct_draws": image_right, "draws": 20, "true_vote_share_min": share, "for_model_choice": choice}


def test_summary_counts_seed0_draws_images_and_shares(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [_row("venous", "venous", "venous", 20, 19, 0.62, True),
            _row("venous", "arterial", "arterial", 7, 6, 0.17, True),
            _row("other", "other", "venous", 15, 12, 0.15, False)]
    rc._summary(rows, "series")
    rc._summary([r for r in rows if r["for_model_choice"]], "allowed")
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("2/3 series, 42/60 over the other draws;")
    assert "1/3 and 37/60; 1 with a true share >= 0.6" in first
    assert second.startswith("1/2 allowed, 27/40 over the other draws;")
    assert "1/2 and 25/40; 1 with a true share >= 0.6" in second

