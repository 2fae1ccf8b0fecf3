"""``ctphase calibrate``: fit a checkpoint's series-level calibration on held-out labelled scans."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from ..errors import CTPhaseError
from ..sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE
from .common import DEVICE_HELP, QUIET_HELP, Device, Tracker, check_output_file, fail, fail_with, need_extra, say

DEFAULT_CALIBRATION_OFFSET = 300000
"""First synthetic calibration patient: clear of training (0..), validation (100000..) and test (200000..)."""


class Method(str, Enum):
    auto = "auto"
    temperature = "temperature"
    vector = "vector"


def calibrate(
    out: Path = typer.Option(..., "--out", "-o", help="Write the calibrated checkpoint here (.safetensors)."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint to calibrate; default: the bundled model."),
    manifest: str = typer.Option("synth", "--manifest", help="Held-out labelled scans: a manifest CSV or 'synth'."),
    patients: int = typer.Option(150, "--patients", help="With --manifest synth: number of synthetic patients (4 scans each)."),
    patient_offset: int = typer.Option(DEFAULT_CALIBRATION_OFFSET, "--patient-offset", help="With --manifest synth: first patient (must miss the training, validation and test ranges)."),
    slices_per_scan: int = typer.Option(32, "--slices-per-scan", help="With --manifest synth: slices rendered per scan."),
    method: Method = typer.Option(Method.auto, "--method", help="auto: temperature scaling unless vector scaling is clearly better by cross-validated NLL and its changes of the top class away from the vote are right more often than not."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices voted per scan (as predict)."),
    min_slices: int = typer.Option(DEFAULT_MIN_SLICES, "--min-slices", help="Vote at least N slices per scan (as predict)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the slice draws and folds; with synth also the population (use the training --seed)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds (by patient) that choose the method."),
    reader_draws: int = typer.Option(3, "--reader-draws", min=0, help="With a network with organ heads: also fit a series reader on this many draws of each scan, kept when it beats the vote and the calibration cross-validated by patient (0: no reader)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Slices per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help=DEVICE_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads of the model engine (default: the engine's)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --out (also the --model file itself)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Fit the series calibration (temperature scaling) of a checkpoint on held-out labelled scans.

    Each scan votes a seeded random R of its slices as predict does; its series score is the mean
    log slice probability over them. Prints NLL and ECE before (T = 1) and after, and writes a copy
    of the checkpoint (same weights and sha256) with the calibration and what it was fitted on. A
    network with organ heads also gets a series reader (one decision from all its outputs on the
    drawn slices, instead of the vote) when it beats the vote, cross-validated by patient.
    """
    need_extra("ctphase calibrate", "sklearn")
    from ..evaluation.calibrate import fit_calibration, overlapping, reserved_patients
    from ..evaluation.run import evaluation_scans
    from ..inference import Classifier
    from ..models.calibration import calibration_of, with_calibration
    from ..models.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint

    check_output_file(out, "--out", overwrite, "calibrated.safetensors", parents=True)
    try:
        path = resolve_checkpoint(model)
        ckpt = load_checkpoint(path)
        if manifest == "synth":
            clash = overlapping(range(patient_offset, patient_offset + max(patients, 0)), reserved_patients(ckpt.meta))
            if clash:
                fail(f"--patients {patients} from --patient-offset {patient_offset} overlap the {', '.join(clash)} "
                     "patients; calibrate on held-out patients (e.g. --patient-offset 300000)", 2)
        scans, dataset = evaluation_scans(manifest, path, patients=patients, patient_offset=patient_offset, seed=seed,
                                          slices_per_scan=slices_per_scan)
        data = {"dataset": dataset, "manifest": manifest, "population_seed": seed} if manifest == "synth" else \
            {"dataset": dataset, "manifest": manifest}
        if manifest == "synth":
            data.update({"patients": [patient_offset, patient_offset + patients], "slices_per_scan": slices_per_scan})
        clf = Classifier(ckpt, device=device.value, batch_size=batch_size, threads=threads)
        with Tracker(quiet) as tracker:
            fit = fit_calibration(scans, clf, method=method.value, sample_rate=sample_rate, min_slices=min_slices,
                                  seed=seed, folds=folds, data=data, on_progress=tracker.callback("classify", "scans"),
                                  reader_draws=reader_draws)
        previous = calibration_of(ckpt)
        save_checkpoint(with_calibration(ckpt, fit.calibration), out)
    except (CTPhaseError, OSError) as exc:
        fail_with(exc)
    _summary(fit, previous, dataset, out, quiet)


def _summary(fit, previous, dataset: str, out: Path, quiet: bool) -> None:  # noqa: ANN001
    cal, info = fit.calibration, fit.calibration.fitted_on
    cv = ", ".join(f"{k} {v:.4f}" for k, v in info["selection"]["cv_nll"].items())
    say(f"fitted on {info['scans']} scans of {info['patients']} patients ({dataset}), R = {100 * info['sample_rate']:g}%", quiet)
    say(f"chosen: {cal.describe()} (cross-validated NLL by patient: {cv})", quiet)
    for name, ch in info["selection"].get("cv_vote_changes", {}).items():
        if name != "none" and ch["changed"]:
            say(f"{name}: top class not the vote on {ch['changed']} held-out scans (top class right {ch['top_right']}, "
                f"vote right {ch['vote_right']})", quiet)
    if cal.method != "temperature":
        say(f"temperature scaling alone would use T = {info['selection']['temperature']:.3f}", quiet)
    b, a = fit.before, fit.after
    prefix = f"{cal.method} scaling alone (the series reader replaces it): " if cal.reader is not None else ""
    say(f"{prefix}NLL {b.nll:.4f} -> {a.nll:.4f}, ECE {b.ece:.4f} -> {a.ece:.4f} (before: T = 1; after: in-sample; "
        f"{len(b.bins)} bins; accuracy {a.accuracy:.3f})", quiet)
    if "seconds" in info:
        sec = info["seconds"]
        say(f"seconds interval: scale {sec['scale']:.3f} over {sec['series']} contrast-enhanced scans, 80% interval "
            f"coverage {sec['coverage_before']:.3f} -> {sec['coverage_after']:.3f} (in-sample)", quiet)
        for ph, f in sec.get("scale_by_phase", {}).items():
            say(f"  decided {ph}: scale {f:.3f}, coverage {sec['coverage_by_decided_phase'].get(ph, float('nan')):.3f}", quiet)
    if "reader" in info:
        r = info["reader"]
        say(f"series reader ({r['features']} features, C = {r['C']:g}, {r['draws']} draws of each scan): cross-validated "
            f"macro F1 {r['cv_macro_f1']:.3f} (vote {r['vote_macro_f1']:.3f}), NLL {r['cv_nll']:.4f} (calibration "
            f"{r['calibration_cv_nll']:.4f}): {'kept' if r['kept'] else 'not kept'}", quiet)
    if fit.existing is not None:
        say(f"the checkpoint's previous calibration ({previous.describe()}): NLL {fit.existing.nll:.4f}, "
            f"ECE {fit.existing.ece:.4f}; replaced", quiet)
    typer.echo(f"wrote {out} (model sha256 {fit.model_sha256[:12]}, calibration {cal.digest[:12]})")
