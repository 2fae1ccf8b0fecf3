"""``ctphase predict``: the phase of every CT series under the given paths."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..errors import CTPhaseError
from ..sampling import DEFAULT_EARLY_STOP, DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, DRAW
from .common import (
    DEVICE_HELP, QUIET_HELP, Device, Tracker, check_output_file, check_output_folder, console, fail, fail_with,
    report_outcome, say, write_new,
)
from .dicomweb import (
    AUTH_FILE, MODALITY, PATHS_HELP, SERIES_UIDS, SR_STORE, STUDY_DATE, STUDY_UIDS, check_inputs, query_arguments, store_sr,
)
from .report import HTML_HELP, write_html

TABLE_WIDTH = 100
"""Width of the table when stdout is not a terminal (a file or a pipe)."""


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


_SUFFIXES = {".json": OutputFormat.json, ".jsonl": OutputFormat.jsonl, ".csv": OutputFormat.csv}


def _format(fmt: OutputFormat | None, output: Path | None) -> OutputFormat:
    if fmt is not None:
        return fmt
    return _SUFFIXES.get(output.suffix.lower() if output else "", OutputFormat.table)


def _check_output(fmt: OutputFormat | None, output: Path | None, overwrite: bool, journal: Path | None,
                  html: Path | None = None) -> OutputFormat:
    """The output format; exits 2 before any work when ``--output``, ``--journal`` or ``--html`` cannot be written."""
    example = f"phases.{fmt.value if fmt not in (None, OutputFormat.table) else 'csv'}"
    check_output_file(output, "--output", overwrite, example)
    check_output_file(journal, "--journal", True, "run.jsonl")  # an existing journal is resumed
    check_output_file(html, "--html", overwrite, "report.html")
    if html is not None and html.resolve() in {p.resolve() for p in (output, journal) if p is not None}:
        fail("--html must be a different file from --output and --journal", 2)
    if journal is not None and output is not None and journal.resolve() == output.resolve():
        fail("--journal and --output must be different files", 2)
    fmt = _format(fmt, output)
    if output is not None and fmt is OutputFormat.table:
        fail("--output needs --format json, jsonl or csv (or a .json/.jsonl/.csv file name)", 2)
    return fmt


def _emit(preds: list[Any], fmt: OutputFormat, output: Path | None, overwrite: bool, arguments: dict[str, Any],
          quiet: bool, html: Path | None = None, read: dict[Any, Any] | None = None) -> None:
    """Print or write the results; write the HTML QC report when asked (``read``: the series, for its thumbnails)."""
    from ..reporting import to_csv, to_json, to_jsonl, to_table

    if fmt is OutputFormat.table:
        out = Console()
        if not out.is_terminal:
            out = Console(width=TABLE_WIDTH)
        out.print(to_table(preds, width=out.width))
    else:
        text = (to_json(preds, arguments) if fmt is OutputFormat.json else to_jsonl(preds) if fmt is OutputFormat.jsonl
                else to_csv(preds))
        if output is None:
            sys.stdout.write(text)
        else:
            write_new(output, text, overwrite)
            say(f"wrote {len(preds)} results to {output}", quiet)
    if html is not None:
        write_html(preds, read, html, overwrite, arguments=arguments, quiet=quiet)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a batch scheduler's stop) ends the run as Ctrl-C does: cleanly, the journal kept."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(paths: list[str], options: dict[str, Any], journal: Path | None, arguments: dict[str, Any],
         quiet: bool) -> list[Any]:
    """:func:`ctphase.pipeline.classify` under a progress tracker, with the run journal when asked."""
    from ..journal import Journal
    from ..pipeline import classify

    stages = {"discover": ("reading headers", "files"), "classify": ("classify", "series")}
    run_journal = Journal(journal, arguments) if journal is not None else None
    with Tracker(quiet) as tracker:

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage == "resumed":
                tracker.say(f"resumed: {done} series already done (from {journal}), {total - done} to classify")
            else:
                tracker.update(stages[stage][0], done, total, stages[stage][1])

        if run_journal is None:
            try:
                return classify(paths, on_progress=on_progress, **options)
            except (CTPhaseError, OSError) as exc:
                fail_with(exc)  # a broken input under --strict is a failure (1); a bad option or model a usage error (2)
        try:
            with run_journal, _sigterm_as_interrupt():
                preds = classify(paths, on_progress=on_progress, journal=run_journal, **options)
        except (CTPhaseError, OSError) as exc:
            fail_with(exc)
        except KeyboardInterrupt:
            fail(f"interrupted: the {run_journal.written} series classified in this run are kept in {journal}; "
                 "run the same command again to continue", 130)
        tracker.say(f"journal {journal}: {run_journal.written} new series result(s) recorded")
        return preds


class Engine(str, Enum):
    local = "local"
    ray = "ray"


ENGINE_HELP = ("Where the series are classified: in this process, or by a pool of Ray workers "
               "(same results; needs the ray extra of ctphase).")
RAY_ADDRESS_HELP = ("Ray cluster for --engine ray (auto: the one started on this node with ray start); "
                    "default: RAY_ADDRESS, else a local Ray instance for this run.")


def _engine_options(engine: Engine, ray_address: str | None) -> dict[str, Any]:
    """The classify options of ``--engine``; exits 2 with the install command when Ray is missing."""
    if engine is Engine.local:
        return {}
    from ..ray_engine import check_executor

    try:
        check_executor(engine.value)
    except CTPhaseError as exc:
        fail_with(exc)
    return {"executor": engine.value, "ray_address": ray_address}


SR_OUT_HELP = ("Also write one DICOM Comprehensive SR per classified DICOM series into this folder, as "
               "<study>/<series>.dcm (short anonymous ids; never overwritten); needs the sr extra of ctphase.")


def _check_sr_out(sr_out: Path | None, html: Path | None = None) -> dict[str, Any] | None:
    """The ``read`` dict :func:`ctphase.pipeline.classify` fills for ``--sr-out`` or ``--html``; exits 2 when unusable."""
    if sr_out is None:
        return {} if html is not None else None
    from ..errors import MissingExtraError
    from ..extras import SR_HINT, require

    check_output_folder(sr_out, "--sr-out")
    try:
        require("--sr-out", "highdicom", hint=SR_HINT)
    except MissingExtraError as exc:
        fail(str(exc), 2)
    return {}


def _write_sr(preds: list[Any], read: dict[Any, Any], sr_out: Path, model: Path | None, quiet: bool) -> int:
    """Write the SRs; 1 when some could not be written (each named), else 0. Never prints patient data."""
    from ..sr import write_srs

    written, notes, errors = write_srs(preds, read, sr_out, model_name=model.name if model else "ctphase default model")
    return report_outcome(notes, errors, f"wrote {len(written)} DICOM SR file(s) under {sr_out}", quiet)


def predict(
    paths: list[str] = typer.Argument(..., help=PATHS_HELP),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices to classify, in (0, 1]."),
    min_slices: int = typer.Option(
        DEFAULT_MIN_SLICES, "--min-slices",
        help="Sample at least N slices; series with fewer slices are classified from all of them and flagged few_slices.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the slice draw (each series is seeded by the seed and its id)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Slices per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help=DEVICE_HELP),
    fmt: OutputFormat | None = typer.Option(
        None, "--format", "-f", show_default=False, help="Output format (default: table, or from the --output file's extension)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the results to this .json, .jsonl or .csv file instead of stdout."),
    journal: Path | None = typer.Option(
        None, "--journal", show_default=False,
        help="Run journal (JSON Lines): each series' result is appended as soon as it is classified; "
             "rerunning with the same journal skips the series it holds and continues where the run stopped.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --output file."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first broken file or series."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    study: bool = typer.Option(
        True, "--study/--no-study",
        help="Decode the acquisitions of each study jointly over time (--no-study: every series alone).",
    ),
    use_headers: bool = typer.Option(
        False, "--use-headers",
        help="Let the DICOM header text and timing weigh in the final label (off: only reported, as header_label and findings).",
    ),
    min_confidence: float | None = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0, show_default=False,
        help="Final labels with a lower calibrated confidence become uncertain.",
    ),
    early_stop: bool = typer.Option(
        DEFAULT_EARLY_STOP, "--early-stop/--no-early-stop",
        help="Classify the drawn slices in a random order spread along the stack and stop once their vote cannot change "
             "(n_used); --no-early-stop classifies all of them (the paper's fixed R%), as a model with a series reader always does.",
    ),
    engine: Engine = typer.Option(Engine.local, "--engine", help=ENGINE_HELP),
    ray_address: str | None = typer.Option(None, "--ray-address", show_default=False, help=RAY_ADDRESS_HELP),
    sr_out: Path | None = typer.Option(None, "--sr-out", show_default=False, help=SR_OUT_HELP),
    html: Path | None = typer.Option(None, "--html", show_default=False, help=HTML_HELP),
    study_uids: list[str] = STUDY_UIDS, series_uids: list[str] = SERIES_UIDS, modality: str = MODALITY,  # DICOMweb
    study_date: str | None = STUDY_DATE, auth_file: Path | None = AUTH_FILE, sr_store: bool = SR_STORE,
) -> None:
    """Classify the contrast phase of every CT series under PATHS.

    Exit codes: 0 every series found was classified; 1 some series or files failed;
    2 usage error (bad option, unusable --output or model), or no classifiable series found.
    """
    from ..prediction import exit_code

    fmt = _check_output(fmt, output, overwrite, journal, html)
    read = _check_sr_out(sr_out, html)
    paths, query, read = check_inputs(paths, read, sr_store, study_uids, series_uids, modality, study_date, auth_file)
    arguments = {
        "paths": list(paths), **query_arguments(query), "model": str(model) if model else None, "sample_rate": sample_rate,
        "min_slices": min_slices, "seed": seed, "batch_size": batch_size, "device": device.value, "strict": strict,
        "study": study, "use_headers": use_headers, "min_confidence": min_confidence,
        "early_stop": early_stop, "draw": DRAW, "journal": str(journal) if journal else None,
    }
    options = {"model": model, "sample_rate": sample_rate, "min_slices": min_slices, "seed": seed, "batch_size": batch_size,
               "device": device.value, "strict": strict, "study": study, "use_headers": use_headers,
               "min_confidence": min_confidence, "early_stop": early_stop, "dicomweb": query}
    options.update(_engine_options(engine, ray_address))
    if read is not None:
        options["read"] = read
    preds = _run(paths, options, journal, arguments, quiet)
    if preds:
        arguments["model_sha256"] = next((p.model_sha256 for p in preds if p.model_sha256), None)
    _emit(preds, fmt, output, overwrite, arguments, quiet, html, read)
    code = max(exit_code(preds), store_sr(preds, read, model, quiet) if sr_store else 0)
    if read is not None and sr_out is not None:
        code = max(code, _write_sr(preds, read, sr_out, model, quiet))
    if code == 2:
        console.print("[yellow]no classifiable CT series found[/]", highlight=False)  # a warning: even with --quiet
    raise typer.Exit(code)
