"""``ctphase evaluate``: slice- and scan-level metrics of a model on labelled scans."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import CTPhaseError
from ..sampling import DEFAULT_EVAL_DRAWS, DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE
from .common import (
    DEVICE_HELP, QUIET_HELP, Device, Tracker, check_output_folder, fail_with, need_extra, refuse_existing, say,
)


def evaluate(
    manifest: str = typer.Option(..., "--manifest", help="Labelled scans: a manifest CSV (series or the paper's per-slice CSV) or 'synth'."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for metrics.json, report.md and the figures."),
    bootstrap: int = typer.Option(5000, "--bootstrap", min=0, help="Bootstrap resamples over patients for the 95% CIs (0: none)."),
    sweep: bool = typer.Option(False, "--sweep", help="Also run the random-sampling sweep over R (1..100%)."),
    draws: int = typer.Option(DEFAULT_EVAL_DRAWS, "--draws", min=0, help="Also give the scan macro F1's mean and spread over N seeded draws at R (0: none)."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices voted per scan."),
    min_slices: int = typer.Option(DEFAULT_MIN_SLICES, "--min-slices", help="Vote at least N slices per scan."),
    seed: int = typer.Option(0, "--seed", help="Seed of slice draws and bootstrap; with synth also the population (use the training --seed)."),
    patients: int = typer.Option(50, "--patients", help="With --manifest synth: number of synthetic test patients (4 scans each)."),
    patient_offset: int = typer.Option(200000, "--patient-offset", help="With --manifest synth: first test patient (keep clear of training/validation ranges)."),
    slices_per_scan: int = typer.Option(32, "--slices-per-scan", help="With --manifest synth: slices rendered per scan."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Slices per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help=DEVICE_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads of the model engine (default: the engine's)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing report in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Evaluate a model on labelled scans: slice- and scan-level metrics with patient-bootstrap CIs, optional R sweep.

    Every slice of every scan is classified once; the scan label is the majority vote of a
    seeded random R of its slices. Also measures calibration (ECE before/after the checkpoint's
    series calibration, reliability diagram) and abstention (accuracy at 100/95/90/80% coverage).
    Writes metrics.json, report.md and PNG figures into --out.
    """
    need_extra("ctphase evaluate", "sklearn", "matplotlib")
    from ..evaluation.run import evaluation_scans, run_evaluation
    from ..models.checkpoint import resolve_checkpoint

    check_output_folder(out, "--out")
    refuse_existing(out / "metrics.json", overwrite, "--out")
    try:
        ckpt = resolve_checkpoint(model)
        scans, dataset = evaluation_scans(manifest, ckpt, patients=patients, patient_offset=patient_offset, seed=seed,
                                          slices_per_scan=slices_per_scan)
        arguments = {"manifest": manifest, "model": str(ckpt), "bootstrap": bootstrap, "sweep": sweep, "draws": draws,
                     "sample_rate": sample_rate, "min_slices": min_slices, "seed": seed, "batch_size": batch_size,
                     "device": device.value}
        if manifest == "synth":
            arguments.update({"patients": patients, "patient_offset": patient_offset, "slices_per_scan": slices_per_scan})
        with Tracker(quiet) as tracker:
            results = run_evaluation(
                scans, ckpt, out, n_resamples=bootstrap, sweep=sweep, draws=draws, sample_rate=sample_rate, min_slices=min_slices,
                seed=seed, batch_size=batch_size, device=device.value, threads=threads, dataset=dataset,
                arguments=arguments, on_progress=tracker.callback("classify", "scans"),
            )
    except (CTPhaseError, OSError) as exc:
        fail_with(exc)
    scan, sl = results.scan_level.metrics, results.slice_level.metrics
    say(
        f"{results.counts.scans} scans, {results.counts.slices} slices: scan accuracy {scan.accuracy:.3f}, "
        f"macro F1 {scan.macro.f1:.3f}; slice accuracy {sl.accuracy:.3f}, macro F1 {sl.macro.f1:.3f}",
        quiet,
    )
    if results.draws is not None:
        say(f"scan macro F1 over {len(results.draws.values)} draws of the slices: {results.draws.format()} "
            "(the figures above are draw 0's)", quiet)
    cal = results.calibration
    if cal is not None:
        after = cal.scan_calibrated
        ece = f"{cal.scan_uncalibrated.ece:.3f}" + (f" -> {after.ece:.3f} calibrated" if after else " (no calibration stored)")
        cover = ", ".join(f"{100 * p.target_coverage:g}% {p.accuracy:.3f}" for p in cal.risk_coverage.points)
        say(f"scan ECE {ece}; accuracy at coverage {cover}", quiet)
    say(f"wrote {out / 'metrics.json'} and {out / 'report.md'}", quiet)
