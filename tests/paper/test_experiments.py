"""The paper's experiments (``ctphase paper``) end to end at the tiny scale: results and the page hold what
they claim, every model is a ctphase checkpoint scored like the product, a stopped run resumes without retraining."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.errors import ConfigError
from ctphase.models.checkpoint import load_checkpoint
from ctphase.paper.data import SCALES, get_scale
from ctphase.paper.experiments import ARCHS, EXPERIMENTS, run_experiment
from ctphase.paper.models import bundled_description, preprocessing_for
from ctphase.paper.report import FIGURES, KEEP_MARKER, render, write_results_page
from ctphase.paper.workspace import Workspace

runner = CliRunner()


def test_scales_and_unknown_scale():
    assert get_scale("cpu").slice_size == 128 and 224 in get_scale("cpu").sizes
    assert get_scale("cpu").se3d_shape == (32, 128, 128)
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        get_scale("huge")
    assert set(SCALES) == {"cpu", "tiny"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Every synthetic experiment at the tiny scale, run once for the module (~15 s: its tests are slow)."""
    work = tmp_path_factory.mktemp("paper")
    ws = Workspace(work, get_scale("tiny"))
    out = {name: run_experiment(ws, name, command=f"ctphase paper run {name}") for name in EXPERIMENTS if name != "external"}
    return work, ws, out


@pytest.mark.slow
def test_architectures_cover_the_paper_models_with_equal_budget(tiny_run):
    work, ws, out = tiny_run
    res, md = out["architectures"]
    for key in [f"{a}@32" for a in ARCHS] + ["cdgan@128"]:
        r = res[key]
        assert r["train"]["samples"] == ws.scale.samples  # the same budget for all
        assert 0.0 <= r["slice"]["macro"].f1 <= 1.0
        ci = r["slice"]["f1_ci"]
        assert ci.low <= ci.estimate <= ci.high
    for arch in ARCHS:
        assert f"| {arch} |" in md
    record = json.loads((work / "results" / "architectures.json").read_text())
    assert record["experiment"] == "architectures"
    assert record["resnet18@32"]["slice"]["f1_ci"]["estimate"] == res["resnet18@32"]["slice"]["f1_ci"].estimate


@pytest.mark.slow
def test_every_trained_model_is_a_checkpoint_with_its_preprocessing(tiny_run):
    work, ws, _ = tiny_run
    for key in ("resnet18@32", "efficientnet_b2@48", "cdgan@128", "3dse"):
        ckpt = load_checkpoint(work / "models" / f"{key}.safetensors")
        assert ckpt.preprocessing == preprocessing_for(key, ws.scale)
        assert ckpt.meta["paper_key"] == key and ckpt.meta["train"]["seconds"] > 0
        assert ckpt.output_activation == "sigmoid"  # the paper's BCE loss
    assert preprocessing_for("3dse", ws.scale).depth == ws.scale.se3d_shape[0]
    assert preprocessing_for("cdgan@128", ws.scale).channels == 1 and preprocessing_for("resnet18@32", ws.scale).channels == 3
    # the scores of the experiments are the product's Classifier on the checkpoint
    scan = ws.scans("test")[0]
    probs = ws.classifier("3dse").predict_hu(scan.read())[0]
    np.testing.assert_allclose(probs, ws.model("3dse").probs[0], atol=1e-6)


@pytest.mark.slow
def test_a_paper_checkpoint_runs_in_ctphase_predict(tiny_run):
    work, ws, _ = tiny_run
    series = ws.scans("test")[0].path
    for key, voted in (("3dse", "all"), ("cdgan@128", "sampled")):
        model = str(work / "models" / f"{key}.safetensors")
        r = runner.invoke(app, ["predict", str(series), "--model", model, "--min-slices", "2", "-f", "json"])
        assert r.exit_code == 0, r.output
        (pred,) = json.loads(r.stdout)["predictions"]
        assert pred["status"] == "ok" and pred["label"] in ("non_contrast", "arterial", "venous", "other")
        if voted == "all":  # a volume model sees every slice once
            assert pred["sampled_indices"] == list(range(pred["n_slices"]))


@pytest.mark.slow
def test_input_size_reuses_the_architecture_model_and_adds_sizes(tiny_run):
    _, _, out = tiny_run
    res, md = out["input-size"]
    assert {k for k in res if "@" in k} == {"efficientnet_b2@32", "efficientnet_b2@48"}
    assert res["efficientnet_b2@32"]["train"] == out["architectures"][0]["efficientnet_b2@32"]["train"]
    assert "32 x 32" in md and "48 x 48" in md


@pytest.mark.slow
def test_per_class_and_sampling_use_the_chosen_model(tiny_run):
    work, ws, out = tiny_run
    pc, md = out["per-class"]
    assert "| macro |" in md
    assert pc["model"] == ws.chosen == "efficientnet_b2@48"
    cm = np.array(pc["scan_level"]["metrics"]["confusion_matrix"])
    assert cm.sum() == len(ws.scans("test")) == 4
    assert (work / "results" / "figures" / "confusion_efficientnet_b2_48_scan_level.png").stat().st_size > 1000
    # the shipped model is evaluated on the same test series as a reference
    assert pc["bundled"]["model"] == "bundled"
    assert np.array(pc["bundled"]["scan_level"]["metrics"]["confusion_matrix"]).sum() == 4
    # named by what the shipped checkpoint holds, not by a hand-written string
    ckpt = load_checkpoint(ws.bundled_path())
    desc = pc["bundled"]["description"]
    assert desc.endswith(f"/{ckpt.preprocessing.size}, {len(ckpt.preprocessing.windows)} windows") and desc in md
    sw, md = out["sampling"]
    assert "figures/sampling_sweep_efficientnet_b2_48.png" in md
    assert len(sw["bundled"]["sweep"].per_rate) == len(sw["sweep"].per_rate)
    rates = [e.rate for e in sw["sweep"].per_rate]
    assert rates[0] == 0.01 and rates[-1] == 1.0
    assert all(len(e.values) == ws.scale.sweep_repeats for e in sw["sweep"].per_rate)
    # at R = 100% every draw votes every slice, so the draws cannot differ
    assert sw["sweep"].per_rate[-1].std == 0.0


@pytest.mark.slow
def test_baselines_time_every_method_in_the_same_run(tiny_run):
    _, ws, out = tiny_run
    res, md = out["baselines"]
    methods = res["methods"]
    # the three methods of the paper's Table 6, plus the shipped model as a reference row
    assert {m["model"] for m in methods.values()} == {"efficientnet_b2@48", "cdgan@128", "3dse", "bundled default"}
    shipped = next(label for label, m in methods.items() if m["model"] == "bundled default")
    assert bundled_description(ws.bundled_path()) in shipped
    for m in methods.values():
        t = m["timing"]
        assert t["total"] > 0 and t["read"] > 0 and t["model"] > 0
        assert t["total"] >= t["model"]
    assert "time vs 2D" in md and "| 1.00 |" in md


@pytest.mark.slow
def test_header_baseline_scores_every_test_series(tiny_run):
    _, ws, out = tiny_run
    res, md = out["header"]
    strict = res["header rules"]
    assert 0.0 <= strict["coverage"] <= 1.0
    assert sum(v["n"] for v in strict["rules"].values()) == len(ws.scans("test"))
    assert sum(v["correct"] for v in strict["rules"].values()) == round(strict["accuracy"] * 4)
    assert "image model" in md


@pytest.mark.slow
def test_results_page_collects_every_experiment_and_copies_figures(tiny_run, tmp_path):
    work, _, _ = tiny_run
    out = write_results_page(work, tmp_path / "docs" / "results.md")
    text = out.read_text()
    for title in ("Table 3", "Table 4", "Table 5", "Figure 7", "Table 6", "Header-only"):
        assert title in text
    assert "ctphase paper run architectures" in text
    assert "## 7. External validation on real CT (paper Table 7)\n\nNot run." in text
    assert (tmp_path / "docs" / FIGURES / "sampling_sweep_efficientnet_b2_48.png").is_file()
    assert f"]({FIGURES}/sampling_sweep_efficientnet_b2_48.png)" in text


@pytest.mark.slow
def test_finished_models_are_reused_not_retrained(tiny_run):
    work, _, _ = tiny_run
    path = work / "models" / "efficientnet_b2@48.safetensors"
    before = path.stat().st_mtime_ns
    run = Workspace(work, get_scale("tiny")).model("efficientnet_b2@48")
    assert path.stat().st_mtime_ns == before
    assert len(run.probs) == 4 and all(p.shape[1] == 4 for p in run.probs)


@pytest.mark.slow
def test_a_work_folder_of_another_scale_is_refused(tiny_run):
    work, _, _ = tiny_run
    with pytest.raises(ConfigError, match="scale 'tiny', not 'cpu'"):
        Workspace(work, get_scale("cpu"))


@pytest.mark.slow
def test_results_page_keeps_the_hand_written_discussion(tiny_run, tmp_path):
    work, _, _ = tiny_run
    out = tmp_path / "results.md"
    out.write_text(f"# old generated part\n\n{KEEP_MARKER}\n\n## Discussion\n\nThe 2D method trails 3DSE.\n")
    text = write_results_page(work, out).read_text()
    assert "# old generated part" not in text
    assert text.index("Table 3") < text.index(KEEP_MARKER)
    assert text.rstrip().endswith("The 2D method trails 3DSE.")


def test_results_page_of_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no finished experiments"):
        render(tmp_path)
    r = runner.invoke(app, ["paper", "report", "--work", str(tmp_path), "--out", str(tmp_path / "r.md")])
    assert r.exit_code == 2 and "no finished experiments" in r.output
    assert not (tmp_path / "r.md").exists()


def test_cli_rejects_unknown_experiments(tmp_path):
    r = runner.invoke(app, ["paper", "run", "tables", "--work", str(tmp_path / "w"), "--scale", "tiny"])
    assert r.exit_code == 2
    assert "unknown experiment tables" in r.output
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("realdata", [None, "nowhere"])
def test_cli_external_without_real_data_fails_cleanly(tmp_path, realdata):
    args = ["paper", "run", "external", "--work", str(tmp_path / "w"), "--scale", "tiny"]
    if realdata:
        args += ["--realdata", str(tmp_path / realdata)]
    r = runner.invoke(app, args)
    assert r.exit_code == 1
    assert ("no real data" if realdata else "--realdata") in " ".join(r.output.split())
    assert "Traceback" not in r.output


@pytest.mark.slow
@pytest.mark.realdata
def test_external_validation_on_the_real_series(tiny_run, realdata_dir: Path):
    work, _, _ = tiny_run
    with open(realdata_dir / "labels.csv", newline="") as f:
        n = len(list(csv.DictReader(f)))
    ws = Workspace(work, get_scale("tiny"), realdata=realdata_dir)
    res, md = run_experiment(ws, "external")
    assert len(res["truth"]) == n
    for name, rows in res["models"].items():
        assert len(rows) == n, name
        assert res["summary"][name]["n"] == n
    # the shipped model is right on all but at most two series at seed 0 (11 of 12 when this was written)
    assert res["summary"]["bundled default model"]["correct"] >= n - 2
    assert "| **correct** |" in md
