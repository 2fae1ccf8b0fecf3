"""What every command shares: the stderr console, ``error:`` exits, output checks, progress, option types."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..atomic import write_atomic
from ..errors import InputError

console = Console(stderr=True)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DEVICE_HELP = "Where the model runs (auto: cuda when available, else cpu)."
QUIET_HELP = "No progress bars or progress lines (errors and warnings still print)."


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_with(exc: BaseException) -> None:
    """Exit on a library error: 1 for broken inputs and I/O, 2 for bad options, models and configurations."""
    fail(str(exc), 1 if isinstance(exc, (InputError, OSError)) else 2)


def need_extra(what: str, *modules: str) -> None:
    """Exit 2 with the install command (``pip install "ctphase[train]"``) when ``modules`` are not importable."""
    from ..errors import MissingExtraError
    from ..extras import require

    try:
        require(what, *modules)
    except MissingExtraError as exc:
        fail(str(exc), 2)


def say(message: str, quiet: bool = False, out: Console | None = None) -> None:
    """Print an informational line on stderr (or ``out``; plain text, not markup), unless ``quiet``."""
    if not quiet:
        (out or console).print(message, markup=False, highlight=False, soft_wrap=True)


def report_outcome(notes: list[str], errors: list[str], summary: str, quiet: bool) -> int:
    """Print notes (unless ``quiet``), errors (always) and a summary line; 1 when there are errors, else 0."""
    for note in notes:
        say(f"note: {note}", quiet)
    for error in errors:
        console.print(f"[bold red]error:[/] {escape(error)}", highlight=False, soft_wrap=True)
    say(summary, quiet)
    return 1 if errors else 0


# --------------------------------------------------------------------------- output paths


def refuse_existing(path: Path | None, overwrite: bool, what: str = "--output") -> None:
    """Exit 2 when ``path`` exists and ``overwrite`` is not given."""
    if path is not None and path.exists() and not overwrite:
        fail(f"{path} exists; choose another {what} or pass --overwrite", 2)


def _check_writable_folder(folder: Path, option: str, path: Path) -> None:
    if not folder.exists():
        fail(f"{option} {path}: folder {folder} does not exist; create it first", 2)
    if not folder.is_dir():
        fail(f"{option} {path}: {folder} is a file, not a folder", 2)
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"{option} {path}: cannot write in folder {folder} (permission denied)", 2)


def check_output_file(path: Path | None, option: str, overwrite: bool, example: str, *, parents: bool = False) -> None:
    """Before any work, exit 2 unless ``path`` can be written as a new (or, with ``overwrite``, a replaced) file.

    Checks, in order: ``path`` is not a folder (the message suggests ``path/example``); its parent
    folder exists and is writable (with ``parents``: can be created, see :func:`check_output_folder`);
    ``path`` does not exist unless ``overwrite``. Without ``parents`` missing folders are an error:
    a typo should not become a folder tree.
    """
    if path is None:
        return
    if path.is_dir():
        fail(f"{option} {path} is a folder; give a file name inside it, e.g. {option} {path / example}", 2)
    if parents:
        check_output_folder(path.parent, option)
    else:
        _check_writable_folder(path.parent, option, path)
    refuse_existing(path, overwrite, option)


def check_output_folder(path: Path | None, option: str) -> None:
    """Before any work, exit 2 unless ``path`` is, or can be created as, a writable folder.

    The folder need not exist (commands create it with its parents); its nearest existing
    ancestor must be a writable folder, and ``path`` itself must not be a file.
    """
    if path is None:
        return
    if path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file, not a folder", 2)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        fail(f"{option} {path}: {existing} is a file, not a folder", 2)
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{option} {path}: cannot write in folder {existing} (permission denied)", 2)


def write_new(path: Path, text: str, overwrite: bool, option: str = "--output") -> None:
    """Write ``text`` to ``path`` atomically, or save it elsewhere and exit 2.

    The commands check ``path`` with :func:`check_output_file` before they start, so failing
    here is rare: the disk filled up, the folder went away or changed permissions, or another
    process created ``path`` meanwhile. The results took minutes to compute and must not be
    lost, so they are written to a file of the same name in the system temp folder (e.g.
    ``/tmp/phases-k3j9x.csv``), the error names it, and the exit code is 2 as for any other
    unusable output path. Only when that fails too are the results lost (both errors shown).
    """
    reason = None
    if path.exists() and not overwrite:
        reason = "it was created by someone else during the run (pass --overwrite to replace it)"
    else:
        try:
            write_atomic(path, text)
            return
        except OSError as exc:
            reason = exc.strerror or str(exc)
    try:
        fd, rescue = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=path.suffix, dir=tempfile.gettempdir())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        fail(f"cannot write {option} {path}: {reason}; saving the results to {tempfile.gettempdir()} failed too: {exc}", 2)
    fail(f"cannot write {option} {path}: {reason}; the results were saved to {rescue} instead", 2)


# --------------------------------------------------------------------------- progress


def duration(seconds: float) -> str:
    """``"45s"``, ``"2m46s"`` or ``"1h02m"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class _Task:
    start: float
    unit: str
    done: int = 0
    total: int | None = None
    note: str = ""
    logged_at: float = 0.0
    logged_done: int = 0
    bar: Any = None


class Tracker:
    """Progress of a long command on stderr: the one facility every command uses.

    On a terminal: a rich progress bar per task. Otherwise (a pipe, a log file, CI) plain lines,
    e.g. ``classify: 120/800 series (15%), 4.1 series/s, ETA 2m46s``: a task logs a line when at
    least ``interval`` seconds *and* a ``step`` fraction of its total have passed since its last
    line (about ten lines for a long task, a few for a short one), at least every ``heartbeat``
    seconds while it advances, and always its final line. ``quiet``: nothing (errors still print
    through :func:`fail`; informational lines go through :meth:`say`, which ``quiet`` silences too).

    Use as a context manager; :meth:`update` (or a :meth:`callback`) reports progress.
    """

    def __init__(self, quiet: bool = False, *, out: Console | None = None, clock: Callable[[], float] = time.monotonic,
                 interval: float = 5.0, step: float = 0.1, heartbeat: float = 60.0) -> None:
        self.console = out or console
        self.quiet = quiet
        self.clock = clock
        self.interval, self.step, self.heartbeat = interval, step, heartbeat
        self.tasks: dict[str, _Task] = {}
        self.bars: Progress | None = None
        self._last = clock()

    def __enter__(self) -> Tracker:
        if not self.quiet and self.console.is_terminal:
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=True)
            self.bars.start()
        self._last = self.clock()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def say(self, message: str) -> None:
        """An informational line (above the bars on a terminal), unless quiet."""
        say(message, self.quiet, self.console)

    def callback(self, task: str, unit: str = "") -> Callable[[int, int], None]:
        """A ``(done, total)`` callback for ``task``, as the library functions take."""
        return lambda done, total: self.update(task, done, total, unit)

    def update(self, task: str, done: int, total: int | None, unit: str = "", note: str = "") -> None:
        """``task`` has ``done`` of ``total`` (None: unknown) ``unit`` done; ``note`` is shown beside it."""
        if self.quiet:
            return
        now = self.clock()
        t = self.tasks.get(task)
        if t is None or done < t.done:  # a new task, or the same one started over
            t = self.tasks[task] = _Task(start=self._last, unit=unit, logged_at=self._last, bar=t.bar if t else None)
        self._last = now
        t.done, t.total, t.note = done, total, note
        if self.bars is not None:
            if t.bar is None:
                t.bar = self.bars.add_task(task, total=total, unit=unit)
            self.bars.update(t.bar, completed=done, total=total, description=f"{task} {note}".strip())
        elif self._due(t, now):
            self._log(task, t, now)

    def finish(self, task: str) -> None:
        """``task`` is over: remove its bar, or log its last state if that line is not out yet."""
        t = self.tasks.pop(task, None)
        if t is None or self.quiet:
            return
        if self.bars is not None:
            if t.bar is not None:
                self.bars.remove_task(t.bar)
        elif t.logged_done != t.done:
            self._log(task, t, self.clock())

    def _due(self, t: _Task, now: float) -> bool:
        if t.total is not None and t.done >= t.total:
            return t.logged_done != t.done
        if now - t.logged_at >= self.heartbeat:
            return t.done != t.logged_done
        enough = t.total is None or t.done - t.logged_done >= self.step * t.total
        return now - t.logged_at >= self.interval and enough

    def _log(self, name: str, t: _Task, now: float) -> None:
        t.logged_at, t.logged_done = now, t.done
        unit = f" {t.unit}" if t.unit else ""
        parts = [f"{name}: {t.done}/{t.total}{unit} ({100 * t.done / t.total:.0f}%)" if t.total
                 else f"{name}: {t.done}{unit}"]
        elapsed = now - t.start
        if elapsed > 0 and t.done:
            rate = t.done / elapsed
            one = t.unit[:-1] if t.unit.endswith("s") and t.unit != "series" else t.unit or "item"
            parts.append(f"{rate:.1f}{unit}/s" if rate >= 1 else f"{1 / rate:.1f} s/{one}")
            if t.total and t.done < t.total:
                parts.append(f"ETA {duration((t.total - t.done) / rate)}")
            elif t.total:
                parts.append(f"took {duration(elapsed)}")
        if t.note:
            parts.append(t.note)
        say(", ".join(parts), out=self.console)


__all__ = [
    "DEVICE_HELP", "QUIET_HELP", "Device", "Tracker", "check_output_file", "check_output_folder", "console", "duration",
    "fail", "fail_with", "need_extra", "refuse_existing", "say", "write_new",
]
