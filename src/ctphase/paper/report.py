"""Assemble the experiment results of a work folder into one markdown page (``ctphase paper report``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluation.results import ClassificationIntervals, Interval, from_dict
from .experiments import EXPERIMENTS, PAPER

TITLES = {
    "architectures": "1. Architectures (paper Table 3)",
    "input-size": "2. Input size (paper Table 4)",
    "per-class": "3. Per-class results with confidence intervals (paper Table 5)",
    "sampling": "4. Sampling rate R (paper Figure 7)",
    "baselines": "5. Against 3DSE and CD-GAN (paper Table 6)",
    "header": "6. Header-only baseline",
    "external": "7. External validation on real CT (paper Table 7)",
}
FIGURES = "results_figures"
KEEP_MARKER = "<!-- written by hand below: kept when the report is regenerated -->"
"""Text after this line in an existing page survives ``ctphase paper report`` (the discussion)."""


def load_results(work: Path) -> dict[str, dict[str, Any]]:
    """``{experiment: (json, markdown)}`` of every finished experiment under ``work/results``."""
    out = {}
    for name in EXPERIMENTS:
        j, m = work / "results" / f"{name}.json", work / "results" / f"{name}.md"
        if j.is_file() and m.is_file():
            out[name] = {"json": json.loads(j.read_text()), "md": m.read_text()}
    return out


def _f1(record: dict[str, Any], level: str) -> Interval:
    """The macro-F1 interval of one level of a per-class record, read back typed."""
    return from_dict(ClassificationIntervals, record[level]["ci"]).macro.f1


def _summary(res: dict[str, dict[str, Any]]) -> list[str]:
    """Side-by-side lines: the paper's headline figure and ours, where both exist."""
    rows = []
    pc = res.get("per-class", {}).get("json")
    if pc:
        for level, label, paper in (("slice_level", "slice-level", "slice_f1"), ("scan_level", "scan-level", "scan_f1_r30")):
            rows.append((f"{label} macro F1" + (", R=30%" if level == "scan_level" else ""), f"{PAPER[paper]:.2f}",
                         _f1(pc, level).format(), pc["model"]))
        ref = pc.get("bundled")
        if ref:
            for level, label, paper in (("slice_level", "slice-level", "slice_f1"), ("scan_level", "scan-level", "scan_f1_r30")):
                rows.append((f"{label} macro F1, shipped model", f"{PAPER[paper]:.2f}", _f1(ref, level).format(),
                             ref.get("description", "shipped model") + ", trained longer"))
    bl = res.get("baselines", {}).get("json")
    if bl:
        m = bl["methods"]
        two_d = next(v for k, v in m.items() if k.startswith("2D"))
        se3d = next(v for k, v in m.items() if k.startswith("3DSE"))
        t2, t3 = two_d["timing"]["total"], se3d["timing"]["total"]
        speed = f"2D {t3 / t2:.1f}x faster" if t2 < t3 else f"2D {t2 / t3:.1f}x slower"
        rows.append(("inference time per scan, 2D method vs 3DSE", f"2D ~{PAPER['speedup_vs_3dse']:.0f}x faster",
                     f"{speed} ({t2:.3f} s vs {t3:.3f} s)", "same run, this CPU, eager PyTorch"))
        shipped = next((v for k, v in m.items() if k.startswith("ctphase")), None)
        if shipped:
            ts = shipped["timing"]["total"]
            rows.append(("inference time per scan, shipped 2D model vs 3DSE", "–",
                         f"{t3 / ts:.1f}x faster ({ts:.3f} s vs {t3:.3f} s)" if ts < t3
                         else f"{ts / t3:.1f}x slower ({ts:.3f} s vs {t3:.3f} s)", "same run, ONNX Runtime"))
        f2, f3 = (from_dict(Interval, method["scan_f1_ci"]).estimate for method in (two_d, se3d))
        rows.append(("scan F1, 2D method vs 3DSE", "2D higher", f"{f2:.3f} vs {f3:.3f}", "same data and run"))
    ex = res.get("external", {}).get("json")
    if ex:
        s = ex["summary"]
        ours = ", ".join(f"{k}: {v['correct']}/{v['n']}" for k, v in s.items())
        rows.append(("external validation", f"F1 {PAPER['external_f1'][0]:.2f} and {PAPER['external_f1'][1]:.2f}",
                     f"series correct: {ours}", f"{len(ex['series'])} real series"))
    if not rows:
        return []
    lines = ["| figure | paper | ctphase (this run) | note |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def render(work: Path) -> str:
    """The markdown document for ``work`` (figure links point to ``results_figures/``)."""
    res = load_results(work)
    if not res:
        raise ConfigError(f"{work} holds no finished experiments (results/*.json); run `ctphase paper run` first")
    any_json = next(iter(res.values()))["json"]
    sc, mach = any_json["scale"], any_json["machine"]
    lines = [
        "# The paper's experiments, rerun with ctphase",
        "",
        "Dao et al. (2022), *Phase Recognition in Contrast-Enhanced CT Scans based on Deep Learning and Random "
        "Sampling*, rerun on ctphase's synthetic CT (real DICOM files written by `ctphase synth`, read back by "
        "ctphase's reader), with the real series of `shared/realdata` kept apart for external validation. "
        "All tables were generated by `ctphase paper report` from the results of the commands shown; only the "
        "closing discussion is written by hand.",
        "",
        "## Scale of this run",
        "",
        f"- Machine: {mach['cpus']} CPUs, torch {mach['torch']} ({mach['torch_threads']} threads), "
        f"{'GPU ' + mach['cuda'] if mach.get('cuda') else 'no GPU'}, {mach['platform']}.",
        f"- Preset `--scale {sc['name']}`: train {sc['train_patients']} patients and test {sc['test_patients']} other "
        f"patients, one series per phase each ({4 * sc['train_patients']} / {4 * sc['test_patients']} series), "
        f"{sc['slices_per_series']} slices per series at {sc['matrix']}x{sc['matrix']}.",
        f"- Every 2D model (and CD-GAN) is trained from random weights on exactly {sc['samples']} slices "
        f"(batch {sc['batch_size']}, Adam, lr {sc['lr']:g} (CD-GAN {sc['gan_lr']:g}), 5% warm-up then cosine, BCE loss as in "
        f"the paper, no augmentation). 3DSE: {sc['se3d_epochs']} epochs over the train volumes at "
        f"{'x'.join(map(str, sc['se3d_shape']))}, batch {sc['se3d_batch']}.",
        f"- CIs: 95% percentile bootstrap over patients ({sc['n_resamples']} resamples). "
        f"Sampling sweep: {sc['sweep_repeats']} draws per R.",
        "- No pretrained weights (ctphase never downloads any): every network starts from random weights. "
        "These budgets are far below a converged run (the shipped model saw about 60 times more slices: "
        "9 epochs x 1000 steps x 32), so absolute figures are far below a converged model's, and differences "
        "between architectures mostly show how fast each learns from few samples.",
        "",
        "Reproduce everything (about the time shown per experiment, on this machine):",
        "",
        "```bash",
        f"ctphase paper run all --work runs/paper --scale {sc['name']} --realdata REALDATA  # labels.csv + one folder per real series",
        "ctphase paper report --work runs/paper --out docs/results.md",
        "```",
        "",
    ]
    total = sum(r["json"]["seconds"] for r in res.values())
    lines.insert(lines.index("Reproduce everything (about the time shown per experiment, on this machine):"),
                 f"Measured time of the experiments below: {total / 60:.0f} min in all.\n")
    summary = _summary(res)
    if summary:
        lines += ["## Where ctphase stands against the paper", "", *summary, ""]
    for name in EXPERIMENTS:
        if name not in res:
            lines += [f"## {TITLES[name]}", "", "Not run.", ""]
            continue
        j = res[name]["json"]
        md = res[name]["md"].replace("](figures/", f"]({FIGURES}/")
        lines += [f"## {TITLES[name]}", "", f"`{j.get('command') or 'ctphase paper run ' + name}` "
                  f"({j['seconds'] / 60:.1f} min, finished {j['finished']})", "", md.rstrip(), ""]
    return "\n".join(lines)


def write_results_page(work: Path, out: Path) -> Path:
    """Write :func:`render` to ``out`` and copy the figures beside it (``results_figures/``).

    If ``out`` exists and holds :data:`KEEP_MARKER`, everything from the marker on is kept.
    """
    from ..atomic import write_atomic

    text = render(Path(work))
    out = Path(out)
    if out.is_file():
        old = out.read_text()
        if KEEP_MARKER in old:
            text = text.rstrip() + "\n\n" + old[old.index(KEEP_MARKER) :].rstrip()
    src = Path(work) / "results" / "figures"
    used = sorted(set(re.findall(rf"\]\({FIGURES}/([^)/]+)\)", text)))
    if used:
        dst = Path(out).parent / FIGURES
        dst.mkdir(parents=True, exist_ok=True)
        for name in used:
            shutil.copyfile(src / name, dst / name)
    return write_atomic(out, text + "\n")
