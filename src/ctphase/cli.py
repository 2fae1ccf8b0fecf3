"""The ``ctphase`` command line. Thin: each command parses options and calls one library function."""

from __future__ import annotations

import typer
from rich.console import Console

from . import __version__

app = typer.Typer(
    name="ctphase",
    help="Contrast phase recognition for CT scans: non_contrast, arterial, venous, other.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print the ctphase version."""
    typer.echo(__version__)
