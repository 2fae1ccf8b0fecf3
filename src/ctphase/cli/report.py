"""``ctphase report``: the HTML QC report of a saved run; a thin layer over :mod:`ctphase.htmlreport`.

``ctphase predict --html`` writes the same report at the end of a run (:func:`write_html`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from ..errors import InputError
from .common import QUIET_HELP, check_output_file, fail, say, write_new

HTML_HELP = ("Also write the HTML QC report (one self-contained file: thumbnails of the classified slices with "
             "their votes, vote bars, confidence, QC flags and findings; sorting and filtering; never overwritten "
             "unless --overwrite).")
THUMBS_HELP = "Thumbnails per series, spread over its classified slices (0: none, only the vote ribbon)."


def write_html(predictions: Sequence[Any], series: Mapping[Any, Any] | None, path: Path, overwrite: bool, *,
               notes: Mapping[Any, str] | None = None, arguments: Mapping[str, Any] | None = None,
               created: str | None = None, max_thumbs: int | None = None, quiet: bool = False,
               option: str = "--html") -> None:
    """Render the report and write it to ``path`` (atomically; checked before the run by :func:`check_output_file`)."""
    from ..htmlreport import MAX_THUMBS, render_html

    html = render_html(predictions, series, notes=notes, arguments=arguments, created=created,
                       max_thumbs=MAX_THUMBS if max_thumbs is None else max_thumbs)
    write_new(path, html, overwrite, option)
    shown = sum(1 for p in predictions if p.source != "unused")
    missing = f"; {len(notes)} series could not be read again (no thumbnails)" if notes else ""
    say(f"wrote the HTML QC report of {shown} series to {path} ({_size(len(html.encode()))}){missing}", quiet)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def report(
    run: Path = typer.Argument(..., help="The JSON record of a run (ctphase predict PATHS -o run.json)."),
    output: Path = typer.Option(..., "--output", "-o", help="The HTML file to write."),
    max_thumbs: int = typer.Option(24, "--thumbnails", min=0, help=THUMBS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --output file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Write the HTML QC report of a saved run (the JSON of ctphase predict).

    The thumbnails are read again from the series' recorded paths (only the slices shown); a
    series that is gone or has changed gets a card without them. The report holds no patient
    name or ID. Exit codes: 0 written; 2 unusable RUN or --output.
    """
    from ..htmlreport import read_run_record, reopen_series

    check_output_file(output, "--output", overwrite, "report.html")
    try:
        predictions, record = read_run_record(run)
    except InputError as exc:
        fail(str(exc), 2)
    series, notes = reopen_series(predictions)
    write_html(predictions, series, output, overwrite, notes=notes, arguments=record.get("arguments"),
               created=record.get("created"), max_thumbs=max_thumbs, quiet=quiet, option="--output")
