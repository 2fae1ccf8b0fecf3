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



@pytest.mark.parametrize("early_stop", [True, False])
def test_no_early_stop_votes_every_drawn_slice(tmp_path, small_checkpoint, early_stop: bool) -> None:
    import json
    import subprocess
    import sys

    import numpy as np
    from benchmark_scripts import BENCHMARKS
    from dicom_factory import write_series

    hu = np.zeros((40, 32, 32), np.float32)  # one value: a random model votes every slice alike
    write_series(tmp_path / "s1", n=40, hu=hu)
    (tmp_path / "labels.csv").write_text("folder,name,phase,patient\ns1,s1,venous,p1\n")
    out = tmp_path / "out.json"
    cmd = [sys.executable, str(BENCHMARKS / "realdata_check.py"), "--realdata", str(tmp_path), "--model",
           str(small_checkpoint), "--draws", "1", "--json", str(out)] + ([] if early_stop else ["--no-early-stop"])
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(out.read_text())
    assert row["n_sampled"] == 12  # 30% of 40
    # every slice alike: early stopping stops once 7 of the 12 agree, without it all 12 are voted
    assert row["n_used"] == (7 if early_stop else 12)
