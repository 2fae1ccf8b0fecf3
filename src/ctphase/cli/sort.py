"""``ctphase sort``: copy (or hard-link) every classified series into phase folders; a thin layer over :mod:`ctphase.sorting`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from ..errors import CTPhaseError
from ..sampling import DEFAULT_SAMPLE_RATE
from .common import DEVICE_HELP, QUIET_HELP, Device, Tracker, check_output_folder, console, fail, fail_with, say

PATTERN_HELP = ("Folder of each series under DEST, from the fields {study} (8 hex digits of a hash of the "
                "StudyInstanceUID), {phase} (the label, uncertain included), {series} (last 8 characters of the "
                "SeriesInstanceUID; required) and {acquisition_order} (0 first, na when unknown).")


def sort(
    src: list[Path] = typer.Argument(..., help="DICOM files or folders, .nii/.nii.gz files (read only, never changed)."),
    dest: Path = typer.Argument(..., help="Destination root folder (created; must not be inside SRC)."),
    pattern: str = typer.Option("{study}/{phase}/{series}", "--pattern", help=PATTERN_HELP),
    link: bool = typer.Option(False, "--link", help="Hard-link the files instead of copying them (copies, with a "
                              "warning, across file systems; zip members are always extracted)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Classify and print the plan (the index, CSV) on stdout; "
                                 "write nothing."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices to classify, in (0, 1]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the slice draw."),
    device: Device = typer.Option(Device.auto, "--device", help=DEVICE_HELP),
    study: bool = typer.Option(True, "--study/--no-study", help="Decode the acquisitions of each study jointly over time."),
    min_confidence: float | None = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0, show_default=False,
        help="Final labels with a lower calibrated confidence become uncertain (folder uncertain)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Classify every CT series under SRC and copy its files into DEST/<study>/<phase>/<series>/.

    The originals are never moved or changed. DEST/index.csv lists every input (sorted, skipped,
    failed). A rerun skips files already in place (same size and SHA-256) and never replaces a
    different file: such a series fails, the others go on.
    Exit codes: 0 every series sorted; 1 some series or files failed; 2 usage error, or no classifiable series.
    """
    from ..prediction import exit_code
    from ..sorting import check_destination, check_pattern, index_csv, sort_series

    missing = [str(p) for p in src if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", 2)
    try:
        check_pattern(pattern)
        check_destination(src, dest)
    except CTPhaseError as exc:
        fail_with(exc)
    if not dry_run:
        check_output_folder(dest, "DEST")
    stages = {"discover": ("reading headers", "files"), "classify": ("classify", "series"), "sort": ("sort", "series")}
    options = {"model": model, "sample_rate": sample_rate, "seed": seed, "device": device.value, "study": study,
               "min_confidence": min_confidence}
    try:
        with Tracker(quiet) as tracker:
            entries = sort_series(src, dest, pattern=pattern, link=link, dry_run=dry_run,
                                  on_progress=lambda s, d, t: tracker.update(stages[s][0], d, t, stages[s][1]),
                                  **options)
    except (CTPhaseError, OSError) as exc:
        fail_with(exc)
    except KeyboardInterrupt:
        fail("interrupted: the files placed so far are kept; run the same command again to continue", 130)
    for e in entries:
        if e.status == "failed":
            console.print(f"[red]failed:[/] {escape(e.prediction.path)}: {escape(e.reason)}", highlight=False, soft_wrap=True)
        elif e.warnings:
            console.print(f"[yellow]warning:[/] {escape(e.prediction.path)}: {escape('; '.join(e.warnings))}", highlight=False)
    if dry_run:
        sys.stdout.write(index_csv(entries, dest))
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    say(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ("" if dry_run else f"; index: {dest / 'index.csv'}"),
        quiet)
    code = exit_code([e.prediction for e in entries])
    if code == 2:
        console.print("[yellow]no classifiable CT series found[/]", highlight=False)
    raise typer.Exit(1 if code != 2 and any(e.failed for e in entries) else code)
