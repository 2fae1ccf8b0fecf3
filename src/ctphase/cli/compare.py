"""``ctphase compare``: is model B better than model A on the same scans? A thin layer over :mod:`ctphase.evaluation.compare`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from ..errors import CTPhaseError, InputError
from .common import QUIET_HELP, check_output_file, fail, fail_with, say, write_new


def _load(path: Path) -> dict[str, Any]:
    file = path / "metrics.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{file}: not found (give the --out folder of ctphase evaluate or its metrics.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{file}: unreadable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: not the metrics.json of ctphase evaluate")
    return data


def compare(
    a: Path = typer.Argument(..., help="Model A's evaluation: the --out folder of ctphase evaluate, or its metrics.json."),
    b: Path = typer.Argument(..., help="Model B's evaluation on the same scans."),
    bootstrap: int = typer.Option(5000, "--bootstrap", min=1, help="Paired bootstrap resamples over patients."),
    seed: int = typer.Option(0, "--seed", help="Seed of the resamples."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the comparison as JSON to this file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --json file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Compare two evaluations of the same scans: B - A per metric, scan and slice level, with a paired patient-bootstrap 95% CI.

    Both runs resample the same patients in each draw, so the interval is that of the
    difference (two overlapping intervals of the runs alone do not mean "no difference").
    Also prints the scans only one model gets right and their exact McNemar p-value.
    Exit codes: 0 compared; 1 unreadable or mismatched runs (not the same scans or labels); 2 bad options.
    """
    from ..evaluation.compare import compare_results

    check_output_file(json_out, "--json", overwrite, "comparison.json")
    try:
        result = compare_results(_load(a), _load(b), names=(str(a), str(b)), n_resamples=bootstrap, seed=seed)
    except CTPhaseError as exc:
        fail_with(exc)
    except KeyError as exc:
        fail(f"{a} or {b}: a scan prediction lacks {exc} (not the metrics.json of ctphase evaluate)", 1)
    pct = round(100 * result.confidence)
    typer.echo(f"A: {a}\nB: {b}\n{result.n_scans} scans of {result.n_clusters} {result.clusters}; "
               f"paired bootstrap over {result.clusters}, {result.n_resamples} resamples")
    levels = [(f"scan level ({result.n_scans} scans)", result.metrics)]
    if result.slice_metrics is not None:
        levels.append((f"slice level ({result.n_slices} slices)", result.slice_metrics))
    for title, metrics in levels:
        typer.echo(f"{title}\n{'metric':<22}{'A':>8}{'B':>8}{'B - A':>9}  {pct}% CI")
        for m in metrics:
            d = m.difference
            ci = "-" if d.low is None else f"[{d.low:+.3f}, {d.high:+.3f}]"
            typer.echo(f"{m.name:<22}{m.a:>8.3f}{m.b:>8.3f}{d.estimate:>+9.3f}  {ci}")
    typer.echo(f"scans only A gets right: {result.only_a_right}; only B: {result.only_b_right}; "
               f"exact McNemar p = {result.mcnemar_p:.3g} (scans as independent)")
    if (d := result.draws) is not None:
        typer.echo(f"scan macro F1 over the same {d.n_draws} draws of the slices: A {d.a_mean:.3f}, B {d.b_mean:.3f}, "
                   f"B - A {d.difference_mean:+.3f} (draw by draw {d.difference_min:+.3f} to {d.difference_max:+.3f}; "
                   f"B higher in {d.b_better} of {d.n_draws})")
    if result.clusters == "scans":
        say("note: a run does not record its patients (an evaluation older than this field); "
            "scans were resampled as if independent, which narrows the interval when patients have several scans", quiet)
    if result.slice_metrics is None:
        say("note: a run holds no slice predictions (an evaluation older than this field); slice level not compared",
            quiet)
    if json_out is not None:
        write_new(json_out, json.dumps({"a": str(a), "b": str(b), **asdict(result)}, indent=1), overwrite, "--json")
        say(f"wrote {json_out}", quiet)
