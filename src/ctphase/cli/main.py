"""The ``ctphase`` command: one sub-command per module of this package, each a thin layer over the library."""

from __future__ import annotations

import typer

from .. import __version__
from . import calibrate, compare, evaluate, export, paper, predict, report, sort, synth, train, watch
from .helpfmt import Command, Group

app = typer.Typer(
    name="ctphase",
    help="Contrast phase recognition for CT scans: non_contrast, arterial, venous, other.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)


@app.command(cls=Command)
def version() -> None:
    """Print the ctphase version."""
    typer.echo(__version__)


for _name, _fn in (("predict", predict.predict), ("sort", sort.sort), ("train", train.train), ("evaluate", evaluate.evaluate),
                  ("compare", compare.compare), ("calibrate", calibrate.calibrate), ("report", report.report),
                  ("synth", synth.synth), ("models", export.models), ("export", export.export),
                  ("average", export.average), ("watch", watch.watch)):
    app.command(_name, cls=Command)(_fn)
app.add_typer(paper.app, name="paper")
