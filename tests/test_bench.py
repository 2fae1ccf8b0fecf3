"""The paper-experiment suite (``ctphase bench``): trainers learn, experiments run end to end at tiny scale,
results and the report hold what they claim, a stopped run resumes without retraining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ctphase.bench import trainers
from ctphase.bench.data import SCALES, get_scale
from ctphase.bench.experiments import ARCHS, EXPERIMENTS, Bench
from ctphase.bench.report import FIGURES, render, write_report
from ctphase.cli import app
from ctphase.errors import ConfigError

runner = CliRunner()


# --------------------------------------------------------------------------- trainers


def _toy_slices(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label k = quadrant k is bright, plus noise: separable, so any working trainer must learn it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0.2, 0.05, (n, 1, size, size)).astype(np.float32)
    h = size // 2
    for i, k in enumerate(y):
        x[i, 0, (k // 2) * h : (k // 2 + 1) * h, (k % 2) * h : (k % 2 + 1) * h] += 0.5
    return np.clip(x, 0, 1), y.astype(np.int64)


class _TinyNet(nn.Module):
    def __init__(self, in_chans: int = 3, size: int = 16) -> None:
        super().__init__()
        self.fc = nn.Linear(in_chans * size * size, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_batches_visit_every_sample_once_per_epoch():
    batches = trainers._batch_indices(10, steps=5, batch_size=4, seed=3)  # 20 draws = 2 epochs
    flat = np.concatenate(batches)
    assert len(flat) == 20
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert [b.tolist() for b in batches] == [b.tolist() for b in trainers._batch_indices(10, 5, 4, seed=3)]


def test_slice_trainer_learns_a_separable_task_within_its_budget():
    torch.manual_seed(0)
    x, y = _toy_slices(256)
    net = _TinyNet()
    stats = trainers.train_slice_classifier(net, x, y, samples=1600, batch_size=16, lr=0.02)
    assert stats["steps"] == 100 and stats["samples"] == 1600
    xt, yt = _toy_slices(200, seed=1)
    p = trainers.predict(net, xt, channels=3)
    assert p.shape == (200, 4) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert (p.argmax(1) == yt).mean() > 0.9


def test_volume_trainer_learns_3dse_on_toy_volumes():
    from ctphase.models.baselines import SE3DNet

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 48)
    v = rng.normal(0.2, 0.05, (48, 1, 8, 16, 16)).astype(np.float32)
    for i, k in enumerate(y):  # class k: slab k of the volume is bright
        v[i, 0, 2 * k : 2 * k + 2] += 0.5
    net = SE3DNet(width=4, drop_rate=0.0)
    stats = trainers.train_volume_classifier(net, v, y.astype(np.int64), epochs=15, batch_size=8, lr=0.01)
    assert stats["steps"] == 15 * 48 // 8
    p = trainers.predict(net, v, channels=None, batch_size=16)
    assert (p.argmax(1) == y).mean() > 0.9


def test_cdgan_trainer_trains_the_discriminator_phase_head():
    from ctphase.models.baselines import CDGAN

    torch.manual_seed(0)
    x, y = _toy_slices(64, size=128)
    gan = CDGAN(width=4, latent_dim=8, embed_dim=4)
    before = trainers.predict(gan, x, channels=1)
    stats = trainers.train_cdgan(gan, x, y, samples=480, batch_size=16, lr=2e-3)
    assert stats["steps"] == 30
    after = trainers.predict(gan, x, channels=1)
    assert (after.argmax(1) == y).mean() > max(0.6, (before.argmax(1) == y).mean())


# --------------------------------------------------------------------------- scale presets


def test_scales_and_unknown_scale():
    assert get_scale("cpu").slice_size == 128 and 224 in get_scale("cpu").sizes
    assert get_scale("cpu").se3d_shape == (32, 128, 128)
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        get_scale("huge")
    assert set(SCALES) == {"cpu", "tiny"}


# --------------------------------------------------------------------------- end to end (tiny)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Every synthetic experiment at the tiny scale, run once for the module."""
    work = tmp_path_factory.mktemp("bench")
    bench = Bench(work, get_scale("tiny"))
    out = {name: bench.run(name, command=f"ctphase bench run {name}") for name in EXPERIMENTS if name != "external"}
    return work, bench, out


def test_architectures_cover_the_paper_models_with_equal_budget(tiny_run):
    work, bench, out = tiny_run
    res, md = out["architectures"]
    keys = [f"{a}@32" for a in ARCHS] + ["cdgan@128"]
    for key in keys:
        r = res[key]
        assert r["train"]["samples"] == bench.scale.samples  # the same budget for all
        assert 0.0 <= r["slice"]["macro"]["f1"] <= 1.0
        ci = r["slice"]["f1_ci"]
        assert ci["low"] <= ci["estimate"] <= ci["high"]
    for arch in ARCHS:
        assert f"| {arch} |" in md
    assert json.loads((work / "results" / "architectures.json").read_text())["experiment"] == "architectures"


def test_input_size_reuses_the_architecture_model_and_adds_sizes(tiny_run):
    _, _, out = tiny_run
    res, md = out["input-size"]
    assert {k for k in res if "@" in k} == {"efficientnet_b2@32", "efficientnet_b2@48"}
    assert res["efficientnet_b2@32"]["train"] == out["architectures"][0]["efficientnet_b2@32"]["train"]
    assert "32 x 32" in md and "48 x 48" in md


def test_per_class_and_sampling_use_the_chosen_model(tiny_run):
    work, bench, out = tiny_run
    pc, md = out["per-class"]
    assert "| macro |" in md
    assert pc["model"] == bench.chosen == "efficientnet_b2@48"
    cm = np.array(pc["scan_level"]["metrics"]["confusion_matrix"])
    assert cm.sum() == len(bench.scans("test")) == 4
    assert (work / "results" / "figures" / "confusion_efficientnet_b2_48_scan_level.png").stat().st_size > 1000
    # the shipped model is evaluated on the same test series as a reference
    assert pc["bundled"]["model"] == "bundled"
    assert np.array(pc["bundled"]["scan_level"]["metrics"]["confusion_matrix"]).sum() == 4
    sw, md = out["sampling"]
    assert "figures/sampling_sweep_efficientnet_b2_48.png" in md
    assert len(sw["bundled"]["sweep"]["per_rate"]) == len(sw["sweep"]["per_rate"])
    rates = [e["rate"] for e in sw["sweep"]["per_rate"]]
    assert rates[0] == 0.01 and rates[-1] == 1.0
    assert all(len(e["values"]) == bench.scale.sweep_repeats for e in sw["sweep"]["per_rate"])
    # at R = 100% every draw votes every slice, so the draws cannot differ
    assert sw["sweep"]["per_rate"][-1]["std"] == 0.0


def test_baselines_time_every_method_in_the_same_run(tiny_run):
    _, _, out = tiny_run
    res, md = out["baselines"]
    methods = res["methods"]
    # the three methods of the paper's Table 6, plus the shipped model as a reference row
    assert {m["model"] for m in methods.values()} == {"efficientnet_b2@48", "cdgan@128", "3dse", "bundled default"}
    for m in methods.values():
        t = m["timing"]
        assert t["total"] > 0 and t["read"] > 0 and t["model"] > 0
        assert t["total"] >= t["model"]
    assert "time vs 2D" in md and "| 1.00 |" in md


def test_header_baseline_scores_every_test_series(tiny_run):
    _, bench, out = tiny_run
    res, md = out["header"]
    strict = res["header rules"]
    assert 0.0 <= strict["coverage"] <= 1.0
    assert sum(v["n"] for v in strict["rules"].values()) == len(bench.scans("test"))
    assert sum(v["correct"] for v in strict["rules"].values()) == round(strict["accuracy"] * 4)
    assert "image model" in md


def test_report_collects_every_experiment_and_copies_figures(tiny_run, tmp_path):
    work, _, _ = tiny_run
    out = write_report(work, tmp_path / "docs" / "results.md")
    text = out.read_text()
    for title in ("Table 3", "Table 4", "Table 5", "Figure 7", "Table 6", "Header-only"):
        assert title in text
    assert "ctphase bench run architectures" in text
    assert "## 7. External validation on real CT (paper Table 7)\n\nNot run." in text
    assert (tmp_path / "docs" / FIGURES / "sampling_sweep_efficientnet_b2_48.png").is_file()
    assert f"]({FIGURES}/sampling_sweep_efficientnet_b2_48.png)" in text


def test_finished_models_are_reused_not_retrained(tiny_run):
    work, _, _ = tiny_run
    wpath = work / "models" / "efficientnet_b2@48.pt"
    before = wpath.stat().st_mtime_ns
    again = Bench(work, get_scale("tiny"))
    info = again.model("efficientnet_b2@48")
    assert wpath.stat().st_mtime_ns == before
    assert len(info["probs"]) == 4 and all(p.shape[1] == 4 for p in info["probs"])


def test_a_work_folder_of_another_scale_is_refused(tiny_run):
    work, _, _ = tiny_run
    with pytest.raises(ConfigError, match="scale 'tiny', not 'cpu'"):
        Bench(work, get_scale("cpu"))


def test_report_keeps_the_hand_written_discussion(tiny_run, tmp_path):
    from ctphase.bench.report import KEEP_MARKER

    work, _, _ = tiny_run
    out = tmp_path / "results.md"
    out.write_text(f"# old generated part\n\n{KEEP_MARKER}\n\n## Discussion\n\nThe 2D method trails 3DSE.\n")
    text = write_report(work, out).read_text()
    assert "# old generated part" not in text
    assert text.index("Table 3") < text.index(KEEP_MARKER)
    assert text.rstrip().endswith("The 2D method trails 3DSE.")


def test_report_of_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no finished experiments"):
        render(tmp_path)
    r = runner.invoke(app, ["bench", "report", "--work", str(tmp_path), "--out", str(tmp_path / "r.md")])
    assert r.exit_code == 2 and "no finished experiments" in r.output
    assert not (tmp_path / "r.md").exists()


def test_cli_rejects_unknown_experiments(tmp_path):
    r = runner.invoke(app, ["bench", "run", "tables", "--work", str(tmp_path / "w"), "--scale", "tiny"])
    assert r.exit_code == 2
    assert "unknown experiment tables" in r.output
    assert not (tmp_path / "w").exists()


def test_cli_external_without_real_data_fails_cleanly(tmp_path):
    r = runner.invoke(app, ["bench", "run", "external", "--work", str(tmp_path / "w"), "--scale", "tiny",
                            "--realdata", str(tmp_path / "nowhere")])
    assert r.exit_code == 1
    assert "no real data" in r.output and "Traceback" not in r.output


@pytest.mark.realdata
def test_external_validation_on_the_real_series(tiny_run, realdata_dir: Path):
    work, _, _ = tiny_run
    bench = Bench(work, get_scale("tiny"), realdata=realdata_dir)
    res, md = bench.run("external")
    assert len(res["truth"]) == 6
    for name, rows in res["models"].items():
        assert len(rows) == 6, name
        assert res["summary"][name]["n"] == 6
    # the bundled model is measured on these series elsewhere (5/6, tests/test_default_model.py)
    assert res["summary"]["bundled default model"]["correct"] >= 5
    assert "| **correct** |" in md


def test_batchnorm_recalibration_uses_only_the_given_real_slices():
    bn = nn.Sequential(nn.BatchNorm2d(1))
    bn[0].running_mean.fill_(5.0)  # as if polluted by generated batches
    x = np.random.default_rng(0).normal(0.3, 0.1, (100, 1, 8, 8)).astype(np.float32)
    bn.eval()
    trainers.recalibrate_batchnorm(bn, x, batch_size=25)  # equal batches: the mean of batch means is the mean
    assert not bn.training and bn[0].momentum == 0.1
    assert bn[0].running_mean.item() == pytest.approx(float(x.mean()), abs=1e-4)
