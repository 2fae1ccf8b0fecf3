"""Run journals: long ``ctphase predict`` runs that survive interruptions (``--journal RUN.jsonl``).

A journal is a JSON Lines file. Its first line is a header::

    {"ctphase_journal": 1, "ctphase_version": ..., "created": ..., "model_sha256": ..., "arguments": {...}}

and every further line is one series' *series-alone* result (:meth:`ScanPrediction.to_dict`,
before the study step), appended, flushed and fsync'ed as soon as the series is classified.
An interrupted run (Ctrl-C, SIGTERM, a crash, a power cut) thus loses at most the series in
flight; a last line cut in half is dropped (and cut off the file) when the journal is opened
again.

Opening an existing journal resumes it: the series it holds (matched by ``series_id`` and
``path``) are not classified again, provided the journal was written by the same model and with
the same arguments that change a series' result (:data:`RESULT_ARGUMENTS`); otherwise it is
refused (:class:`JournalMismatch`, exit 2). Series that failed (status ``error``) are tried
again. Study-level options (``--study``, ``--use-headers``, ``--min-confidence``) may change
between runs: the study step runs at the end, over the journal's results and the new ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from . import __version__
from .errors import ConfigError
from .prediction import STATUS_ERROR, ScanPrediction

JOURNAL_FORMAT = 1
RESULT_ARGUMENTS = ("sample_rate", "min_slices", "seed", "early_stop", "draw")
"""The arguments that change a series-alone result: a journal is resumed only with the same values."""

Key = tuple[str, str]


class JournalMismatch(ConfigError):
    """A journal written by another model, other result-changing arguments, or not a journal at all."""


def result_key(p: ScanPrediction) -> Key:
    """What identifies a series' result in a journal: its id and the path it was read from."""
    return (p.series_id, p.path)


class Journal:
    """An append-only run journal at ``path`` (see the module docstring).

    ``arguments``: the run's arguments (written in the header; :data:`RESULT_ARGUMENTS` are
    compared on resume). :meth:`start` opens (creating or resuming) the journal and returns the
    results it already holds; :meth:`record` appends one; :meth:`close` closes the file.
    """

    def __init__(self, path: str | os.PathLike[str], arguments: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.arguments = dict(arguments)
        self.done: dict[Key, ScanPrediction] = {}
        self.written = 0
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, model_sha256: str) -> dict[Key, ScanPrediction]:
        """Open the journal for ``model_sha256``: the results it holds (empty for a new journal).

        Raises:
            JournalMismatch: the journal was written by another model or with other
                :data:`RESULT_ARGUMENTS`, or is not a ctphase journal.
            OSError: it cannot be read or written.
        """
        header = {"ctphase_journal": JOURNAL_FORMAT, "ctphase_version": __version__,
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "model_sha256": model_sha256, "arguments": self.arguments}
        data = self.path.read_bytes() if self.path.exists() else b""
        end = data.rfind(b"\n") + 1  # a last line without its newline was cut off mid-write
        lines = data[:end].splitlines()
        if lines:
            self._check_header(lines[0], model_sha256)
            self.done = self._results(lines[1:])
        self._fh = open(self.path, "r+b" if data else "wb")  # noqa: SIM115 - kept open for the run, closed by close()
        self._fh.truncate(end)
        self._fh.seek(end)
        if not lines:
            self._append(header)
        return dict(self.done)

    def record(self, p: ScanPrediction) -> None:
        """Append ``p`` (a series-alone result) and make it durable before returning."""
        self._append(p.to_dict())
        self.written += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _append(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            raise RuntimeError("Journal.start() was not called")
        self._fh.write(json.dumps(obj).encode("utf-8") + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _check_header(self, line: bytes, model_sha256: str) -> None:
        try:
            head = json.loads(line)
        except ValueError:
            head = None
        if not isinstance(head, dict) or head.get("ctphase_journal") != JOURNAL_FORMAT:
            raise JournalMismatch(f"--journal {self.path} is not a ctphase predict journal; give a new file name")
        differ = []
        if head.get("model_sha256") != model_sha256:
            differ.append(f"model sha256 {str(head.get('model_sha256'))[:12]}... (this run: {model_sha256[:12]}...)")
        old = head.get("arguments") or {}
        for name in RESULT_ARGUMENTS:
            if old.get(name) != self.arguments.get(name):
                differ.append(f"{name}={old.get(name)!r} (this run: {self.arguments.get(name)!r})")
        if differ:
            raise JournalMismatch(
                f"--journal {self.path} was written with {', '.join(differ)}: its results cannot be reused; "
                "rerun with the same model and arguments, or give a new journal file")

    def _results(self, lines: list[bytes]) -> dict[Key, ScanPrediction]:
        done: dict[Key, ScanPrediction] = {}
        for n, line in enumerate(lines, start=2):
            try:
                p = ScanPrediction(**json.loads(line))
            except (ValueError, TypeError) as exc:
                raise JournalMismatch(f"--journal {self.path}: line {n} is not a series result ({exc}); "
                                      "the file was changed by hand, give a new journal file") from exc
            if p.status == STATUS_ERROR:
                done.pop(result_key(p), None)  # failed: tried again
            else:
                done[result_key(p)] = p
        return done


__all__ = ["JOURNAL_FORMAT", "RESULT_ARGUMENTS", "Journal", "JournalMismatch", "result_key"]
