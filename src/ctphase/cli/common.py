"""What every command shares: the stderr console, ``error:`` exits, progress bars, option types."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..atomic import write_atomic
from ..errors import InputError

console = Console(stderr=True)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_with(exc: BaseException) -> None:
    """Exit on a library error: 1 for broken inputs and I/O, 2 for bad options, models and configurations."""
    fail(str(exc), 1 if isinstance(exc, (InputError, OSError)) else 2)


def refuse_existing(path: Path | None, overwrite: bool, what: str = "--output") -> None:
    """Exit 2 when ``path`` exists and ``overwrite`` is not given."""
    if path is not None and path.exists() and not overwrite:
        fail(f"{path} exists; choose another {what} or pass --overwrite", 2)


def write_new(path: Path, text: str, overwrite: bool) -> None:
    """Write ``text`` to ``path`` atomically; refuse to replace an existing file unless ``overwrite``."""
    refuse_existing(path, overwrite)
    try:
        write_atomic(path, text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", 1)


def progress() -> Progress:
    """Rich progress bars on a terminal; nothing when stderr is not one."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


__all__ = ["Device", "console", "fail", "fail_with", "progress", "refuse_existing", "write_new"]
