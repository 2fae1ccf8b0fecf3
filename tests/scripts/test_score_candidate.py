"""scripts/score_candidate.sh, the scoring of a model candidate by the model-choice rule, run end to end at a toy
size: export and calibration of the candidate, the real-series check, the selection and test sets, the paired
comparisons, the latency and the rule, each step's file in OUT, and a second call that reuses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "score_candidate.sh"
TOY = {"SEL_PATIENTS": "1", "TEST_PATIENTS": "1", "CAL_PATIENTS": "2", "DRAWS": "1", "BOOT": "20", "SLICES": "8"}


def _run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEST"}
    env.update({"PYTHON": sys.executable, **TOY, **extra})
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_same_weights_pass_the_rule_then_the_test_set(tmp_path: Path, small_checkpoint: Path) -> None:
    from dicom_factory import write_series

    from ctphase.pipeline import classify

    # the baseline: the candidate's weights exported and calibrated as the script does, so the two are the same model
    base = tmp_path / "base.safetensors"
    for cmd in (["export", "--model", str(small_checkpoint), "--embed", str(tmp_path / "e.safetensors"), "--exporter", "legacy"],
                ["calibrate", "--model", str(tmp_path / "e.safetensors"), "--patients", "2", "--patient-offset", "300000",
                 "--slices-per-scan", "8", "--out", str(base), "-q"]):
        done = subprocess.run([sys.executable, "-m", "ctphase", *cmd], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    real = tmp_path / "real"
    write_series(real / "s1", n=20, hu=np.random.default_rng(0).normal(40, 30, (20, 32, 32)).astype(np.float32))
    (pred,) = classify([real / "s1"], model=base, seed=0)
    # labelled with what the model says, the one real series is right: every criterion can hold
    (real / "labels.csv").write_text(f"folder,name,phase,patient\ns1,s1,{pred.label},p1\n")
    out = tmp_path / "out"

    first = _run([str(out), str(base)], tmp_path, REALDATA=str(real))
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "baseline scored" in first.stdout
    assert sorted(p.name for p in out.iterdir()) == ["base.real.json", "base.real.txt", "base.safetensors", "base.sel"]

    second = _run([str(out), str(base), str(small_checkpoint)], tmp_path, REALDATA=str(real), TEST="1")
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert (out / "rule.txt").read_text().strip().endswith("the rule holds")
    assert "holds  test set: scan and slice macro F1 differences >= -0.010: scan +0.000, slice +0.000" in second.stdout
    cand, base_real = json.loads((out / "cand.real.json").read_text()), json.loads((out / "base.real.json").read_text())
    assert [r["true_vote_share_mean"] for r in cand] == [r["true_vote_share_mean"] for r in base_real]
    latency = json.loads((out / "latency.json").read_text())
    assert latency["old"]["model"].endswith("base.safetensors") and latency["new"]["ms_per_slice"] > 0
    comparison = json.loads((out / "compare.sel.json").read_text())
    assert comparison["n_scans"] == 4 and comparison["only_a_right"] == comparison["only_b_right"] == 0
    for f in ("exported.safetensors", "cand.safetensors", "latency.txt", "latency.json", "compare.test.json", "rule.test.txt"):
        assert (out / f).is_file(), f

    # a folder scored against one baseline refuses another
    third = _run([str(out), str(small_checkpoint)], tmp_path, REALDATA=str(real))
    assert third.returncode == 2 and "holds another baseline" in third.stderr
