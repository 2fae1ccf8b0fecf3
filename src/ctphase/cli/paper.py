"""``ctphase paper run`` and ``ctphase paper report``: the reference paper's experiments."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from ..errors import CTPhaseError
from .common import QUIET_HELP, Tracker, check_output_file, check_output_folder, console, fail, need_extra, say
from .helpfmt import Command, Group


class ScaleName(str, Enum):
    cpu = "cpu"
    tiny = "tiny"


UNITS = {"training": "steps", "writing": "series", "reading": "series", "timing": "scans"}
"""The unit of a progress task of :class:`ctphase.paper.workspace.Workspace`, by its first word."""

app = typer.Typer(
    help="Rerun the reference paper's experiments (architectures, input size, per-class CIs, sampling rate, "
    "3DSE/CD-GAN/header baselines, external validation) and write the results page.",
    no_args_is_help=True,
    cls=Group,
)


@app.command("run", cls=Command)
def run(
    experiments: list[str] = typer.Argument(..., help="Experiments to run, or 'all': architectures, input-size, "
                                            "per-class, sampling, baselines, header, external."),
    work: Path = typer.Option(Path("runs/paper"), "--work", help="Folder for data, models and results (resumable)."),
    scale: ScaleName = typer.Option(ScaleName.cpu, "--scale", help="cpu (under 2 h on 2 CPU cores) or tiny (seconds; for tests)."),
    realdata: Path | None = typer.Option(None, "--realdata", help="Real series for 'external' (labels.csv + one folder per series)."),
    seed: int = typer.Option(0, "--seed", help="Seed of training and slice draws."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Run experiments of the paper on ctphase's benchmark data; results go to WORK/results/NAME.json and NAME.md.

    Trained models are kept in WORK/models as ctphase checkpoints and shared by the experiments:
    a stopped run resumes.
    """
    need_extra("ctphase paper run", "torch", "timm", "sklearn", "matplotlib")
    from ..paper.data import get_scale
    from ..paper.experiments import EXPERIMENTS, run_experiment
    from ..paper.workspace import Workspace

    names = list(EXPERIMENTS) if experiments == ["all"] else experiments
    bad = [n for n in names if n not in EXPERIMENTS]
    if bad:
        fail(f"unknown experiment {', '.join(bad)}; choose from {', '.join(EXPERIMENTS)} or all", 2)
    check_output_folder(work, "--work")
    options = f"--work {work} --scale {scale.value}" + (f" --realdata {realdata}" if realdata else "") + (f" --seed {seed}" if seed else "")
    failed = []
    with Tracker(quiet) as tracker:
        try:
            ws = Workspace(work, get_scale(scale.value), realdata=realdata, seed=seed,
                           progress=lambda task, done, total: tracker.update(task, done, total, UNITS.get(task.split()[0], "")))
        except (CTPhaseError, OSError) as exc:
            fail(str(exc), 2)
        for name in names:
            try:
                res, _ = run_experiment(ws, name, command=f"ctphase paper run {name} {options}")
            except (CTPhaseError, OSError) as exc:
                console.print(f"[bold red]error:[/] {name}: {escape(str(exc))}", highlight=False, soft_wrap=True)
                failed.append(name)
                continue
            tracker.say(f"{name}: done in {res['seconds'] / 60:.1f} min -> {work / 'results' / (name + '.md')}")
    if failed:
        raise typer.Exit(1)


@app.command("report", cls=Command)
def report(
    work: Path = typer.Option(Path("runs/paper"), "--work", help="The folder given to ctphase paper run."),
    out: Path = typer.Option(Path("docs/results.md"), "--out", "-o", help="Markdown file to write (figures go beside it)."),
) -> None:
    """Collect the finished experiments of WORK into one markdown page with the commands that made it."""
    need_extra("ctphase paper report", "sklearn", "matplotlib")
    from ..paper.report import write_results_page

    check_output_file(out, "--out", True, "results.md", parents=True)
    try:
        path = write_results_page(work, out)
    except (CTPhaseError, OSError) as exc:
        fail(str(exc), 2)
    say(f"wrote {path}")
