"""``ctphase synth``: write synthetic multi-phase abdominal CT studies."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import CTPhaseError
from .common import QUIET_HELP, Tracker, check_output_folder, fail, say

FORMATS = ("dicom", "nifti")
"""``ctphase.synth.dataset.FORMATS`` (not imported here: it loads numpy), shown in --help. The library
checks the value, so a wrong one gets its message (case does not matter)."""
STUDY_MODES = ("simple", "realistic")
"""``ctphase.synth.dataset.STUDY_MODES``, shown in --help and checked by the library like ``FORMATS``."""
ALL_PHASES = "non_contrast,arterial,venous,other"


def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (must be empty, or a previous synth output with --overwrite)."),
    patients: int = typer.Option(..., "--patients", help="Number of synthetic patients (one study each; some get two with --studies realistic)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; patient i depends only on (seed, i)."),
    phases: str = typer.Option(
        ALL_PHASES, "--phases", show_default=False,
        help=f"Comma-separated phases, one series each (default: all four: {ALL_PHASES}; simple studies only).",
    ),
    fmt: str = typer.Option("dicom", "--format", metavar=f"<{'|'.join(FORMATS)}>", help="File format of the series."),
    matrix: int = typer.Option(512, "--matrix", help="Image matrix (pixels)."),
    first_patient: int = typer.Option(
        0, "--first-patient", min=0, help="Index of the first patient (e.g. 200000 for a test set clear of training patients)."
    ),
    max_slices: int = typer.Option(400, "--max-slices", min=2, help="Widen the slice spacing of thin-slice series above N slices."),
    studies: str = typer.Option(
        "simple", "--studies", metavar=f"<{'|'.join(STUDY_MODES)}>",
        help="simple: one study per patient, one series per phase. realistic: studies as archives hold them "
        "(drawn protocols, several reconstructions and reformats per acquisition, time tags and header text right, "
        "missing or wrong; DICOM only; the manifest says the truth).",
    ),
    condition: list[str] = typer.Option(
        [], "--condition", metavar="<name>",
        help="Give every patient and series this uncommon body or scan (repeatable; simple studies): paediatric, obese, "
        "thin, arms_down, metal, oral_contrast, distended_stomach, gastric_food, pet_ct, small_fov, pelvis_only. Without "
        "it they are drawn at low rates.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous ctphase synth output in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Write synthetic multiphase abdominal CT studies plus manifest.csv and JSON records."""
    from ..synth import generate_dataset

    check_output_folder(out, "--out")
    phase_list = [p.strip() for p in phases.split(",") if p.strip()]
    try:
        with Tracker(quiet) as tracker:
            manifest = generate_dataset(
                out, patients, seed=seed, phases=phase_list, fmt=fmt.lower(), matrix=matrix, overwrite=overwrite,
                max_slices=max_slices, first_patient=first_patient, progress=tracker.callback("render", "series"),
                studies=studies.lower(), force=condition,
            )
    except (CTPhaseError, OSError) as exc:
        fail(str(exc), 1 if isinstance(exc, OSError) else 2)  # a bad option is a usage error, failed writing 1
    say(f"wrote {manifest}", quiet)
