"""The ``ctphase`` command: one sub-command per module of this package, each a thin layer over the library."""

from __future__ import annotations

import typer

from .. import __version__
from . import evaluate, export, paper, predict, synth, train

app = typer.Typer(
    name="ctphase",
    help="Contrast phase recognition for CT scans: non_contrast, arterial, venous, other.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the ctphase version."""
    typer.echo(__version__)


app.command()(predict.predict)
app.command()(train.train)
app.command()(evaluate.evaluate)
app.command()(synth.synth)
app.command("models")(export.models)
app.command("export")(export.export)
app.add_typer(paper.app, name="paper")
