"""``ctphase predict``: the phase of every CT series under the given paths."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from ..errors import CTPhaseError
from ..sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE
from .common import Device, console, fail, fail_with, progress, refuse_existing, write_new


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _format(fmt: OutputFormat | None, output: Path | None) -> OutputFormat:
    if fmt is not None:
        return fmt
    suffix = output.suffix.lower() if output else ""
    return OutputFormat.json if suffix == ".json" else OutputFormat.csv if suffix == ".csv" else OutputFormat.table


def predict(
    paths: list[Path] = typer.Argument(..., help="DICOM files/folders (any names, nested) and .nii/.nii.gz files."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices to classify, in (0, 1]."),
    min_slices: int = typer.Option(DEFAULT_MIN_SLICES, "--min-slices", help="Sample at least N slices; series with fewer are skipped."),
    seed: int = typer.Option(0, "--seed", help="Seed of the slice draw (each series is seeded by seed and its UID)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Slices per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    fmt: OutputFormat | None = typer.Option(None, "--format", "-f", help="table, json or csv (default: table, or from --output's extension)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the result to FILE instead of stdout."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --output file."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first broken file or series."),
) -> None:
    """Classify the contrast phase of every CT series under PATHS.

    Exit codes: 0 every series found was classified; 1 some series or files failed;
    2 usage error, or no classifiable series found.
    """
    from ..pipeline import classify
    from ..prediction import exit_code
    from ..reporting import to_csv, to_json, to_table

    fmt = _format(fmt, output)
    if output is not None and fmt is OutputFormat.table:
        fail("--output needs --format json or csv (or a .json/.csv file name)", 2)
    refuse_existing(output, overwrite)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", 2)
    arguments = {
        "paths": [str(p) for p in paths], "model": str(model) if model else None, "sample_rate": sample_rate,
        "min_slices": min_slices, "seed": seed, "batch_size": batch_size, "device": device.value, "strict": strict,
    }
    with progress() as bars:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task("Reading headers" if stage == "discover" else "Classifying series", total=total)
            bars.update(tasks[stage], completed=done, total=total)

        try:
            preds = classify(paths, model=model, sample_rate=sample_rate, min_slices=min_slices, seed=seed,
                             batch_size=batch_size, device=device.value, strict=strict, on_progress=on_progress)
        except (CTPhaseError, OSError) as exc:
            fail_with(exc)  # a broken input under --strict is a failure (1); a bad option or model a usage error (2)
    if preds:
        arguments["model_sha256"] = next((p.model_sha256 for p in preds if p.model_sha256), None)
    if fmt is OutputFormat.table:
        Console().print(to_table(preds))
    else:
        text = to_json(preds, arguments) if fmt is OutputFormat.json else to_csv(preds)
        if output is None:
            sys.stdout.write(text)
        else:
            write_new(output, text, overwrite)
            console.print(f"wrote {len(preds)} results to {output}")
    code = exit_code(preds)
    if code == 2:
        console.print("[yellow]no classifiable CT series found[/]")
    raise typer.Exit(code)
