"""``ctphase watch``: follow an Orthanc server's change feed and label every new stable CT series once.

The watcher talks to Orthanc over its REST API from its own process (no Orthanc plugin). It reads
``/changes``; each series seen there (``NewSeries``, ``StableSeries``) waits in ``pending`` until
Orthanc calls it stable (``IsStable``, which also covers a ``StableSeries`` event lost in an Orthanc
crash), is checked to be CT, classified, and gets a DICOM SR stored beside it and a metadata item
(:mod:`.label`). The state file (:mod:`.state`) survives restarts; Orthanc's metadata guards too.
When Orthanc stops answering the watcher waits, retrying with a growing delay, and goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import MissingExtraError
from .label import Labeller, MetadataNotDeclared, Outcome, not_ct
from .orthanc import (
    Orthanc,
    OrthancAuthError,
    OrthancError,
    OrthancNotFound,
    OrthancUnreachable,
)
from .read import TRANSFERS, SeriesReader
from .state import WatchState

__all__ = [
    "TRANSFERS",
    "Labeller",
    "MetadataNotDeclared",
    "Orthanc",
    "OrthancAuthError",
    "OrthancError",
    "OrthancNotFound",
    "OrthancUnreachable",
    "Outcome",
    "SeriesReader",
    "WatchEvent",
    "WatchState",
    "not_ct",
    "watch",
]

T = TypeVar("T")
MAX_DELAY = 30.0
"""Longest wait between two tries while Orthanc does not answer (seconds)."""


@dataclass
class WatchEvent:
    """One thing to tell the user: ``kind`` is an :class:`~.label.Outcome` kind (per series), ``retry``
    (a failed series will be tried again), ``waiting`` (Orthanc does not answer) or ``reconnected``."""

    kind: str
    series_id: str | None
    message: str
    value: dict[str, Any] | None = None


class _Stopped(Exception):
    pass


@dataclass
class _Loop:
    client: Orthanc
    labeller: Labeller
    state: WatchState
    state_path: Path
    stop: threading.Event
    emit: Callable[[WatchEvent], None]
    retry_for: float | None
    max_attempts: int

    def patiently(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried with a growing delay while Orthanc does not answer (up to ``retry_for`` seconds)."""
        delay, since = 0.5, None
        while True:
            try:
                result = fn()
            except OrthancUnreachable as exc:
                since = time.monotonic() if since is None else since
                waited = time.monotonic() - since
                if self.retry_for is not None and waited + delay > self.retry_for:
                    msg = f"{exc}; gave up after {waited:.0f} s"
                    raise OrthancUnreachable(msg) from exc
                self.emit(WatchEvent("waiting", None, f"{exc}; trying again in {delay:.1f} s"))
                if self.stop.wait(delay):
                    raise _Stopped from exc
                delay = min(2 * delay, MAX_DELAY)
                continue
            if since is not None:
                self.emit(WatchEvent("reconnected", None, f"Orthanc answers again (after {time.monotonic() - since:.0f} s)"))
            return result

    def read_feed(self) -> None:
        """Read ``/changes`` to its end: new series into ``pending``."""
        while True:
            page = self.client.changes(self.state.since)
            if int(page["Last"]) < self.state.since:  # a new Orthanc database: its feed starts again
                self.emit(WatchEvent("waiting", None, f"Orthanc's change feed restarted (last {page['Last']} < "
                                     f"{self.state.since}): reading it from the start"))
                self.state.since = 0
                continue
            for change in page["Changes"]:
                self.note(change)
            if page["Changes"] or int(page["Last"]) != self.state.since:  # an idle poll writes nothing (no fsync)
                self.state.since = int(page["Last"])
                self.state.save(self.state_path)
            if page["Done"] or not page["Changes"]:
                return

    def note(self, change: dict[str, Any]) -> None:
        if change.get("ResourceType") != "Series":
            return
        sid, kind, st = change["ID"], change["ChangeType"], self.state
        if kind == "NewSeries" and sid not in st.pending:  # new, or deleted and uploaded again (same Orthanc id)
            st.settle(sid)  # labelled before: the metadata guard tells whether it still carries the label
            st.pending[sid] = 0
        elif kind == "StableSeries" and sid in st.failed:  # stable again: new instances, another chance
            st.settle(sid)
            st.pending[sid] = 0

    def one(self, sid: str) -> None:
        """Label one pending series and record what became of it."""
        try:
            outcome = self.patiently(lambda: self.labeller.label(sid))
        except (_Stopped, KeyboardInterrupt, OrthancUnreachable, MetadataNotDeclared, MissingExtraError):
            raise  # the end of the run, not of one series
        except Exception as exc:  # noqa: BLE001 - one series never stops the others
            outcome = Outcome("failed", f"{type(exc).__name__}: {exc}" if not isinstance(exc, OrthancError) else str(exc))
        if outcome.kind == "unstable":
            return
        if outcome.kind in ("labelled", "already"):
            self.state.settle(sid, done=outcome.value or {})
        elif outcome.kind == "skipped":
            self.state.settle(sid, skipped=outcome.message)
        elif outcome.kind == "deleted":
            self.state.settle(sid)
        else:
            self.state.pending[sid] = attempts = self.state.pending.get(sid, 0) + 1
            if attempts >= self.max_attempts:
                self.state.settle(sid, failed=outcome.message)
                outcome.message += f" (attempt {attempts} of {self.max_attempts}: given up)"
            else:
                outcome = Outcome("retry", f"{outcome.message} (attempt {attempts} of {self.max_attempts}: will retry)")
        self.state.save(self.state_path)
        self.emit(WatchEvent(outcome.kind, sid, outcome.message, outcome.value))

    def run(self, once: bool, poll_interval: float) -> None:
        while not self.stop.is_set():
            self.patiently(self.read_feed)
            if once and not self.state.pending:
                return
            for sid in list(self.state.pending):
                if self.stop.is_set():
                    return
                self.one(sid)
            if self.stop.wait(poll_interval):
                return


def watch(
    url: str,
    *,
    state_path: str | Path,
    model: str | Path | None = None,
    auth: Any = None,
    poll_interval: float = 1.0,
    once: bool = False,
    stop: threading.Event | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    metadata_name: str = "ctphase",
    transfer: str = "auto",
    retry_for: float | None = None,
    max_attempts: int = 3,
    from_now: bool = False,
    **classify_options: Any,
) -> WatchState:
    """Label every stable CT series of the Orthanc server at ``url`` once; returns the state.

    Args:
        url: Orthanc's REST root (``http://host:8042``).
        state_path: the state file (created; read again by the next run).
        model: checkpoint; ``None``: the bundled model.
        auth: credentials for Orthanc's REST API and DICOMweb: a :class:`ctphase.io.dicomweb.DicomWebAuth`
            (:func:`~ctphase.io.dicomweb.auth_from_env`), a ``(user, password)`` pair, or ``None``.
        poll_interval: seconds between two reads of the feed.
        once: stop once the feed is read to its end and every series seen in it is settled.
        stop: set it (from a signal handler, another thread) to stop after the current series.
        on_event: called with a :class:`WatchEvent` for every series settled and every wait.
        metadata_name: the series metadata item written (declared in Orthanc's ``UserMetadata``).
        transfer: how pixels are read, one of :data:`TRANSFERS`.
        retry_for: give up (raise :class:`OrthancUnreachable`) when Orthanc does not answer for
            this many seconds; ``None``: wait as long as it takes.
        max_attempts: tries of a series whose labelling fails before it is given up.
        from_now: with a new state file, start at the end of the feed (series stored before are
            left alone); by default a new state reads the feed from its start (every series).
        classify_options: passed to :func:`ctphase.pipeline.classify` (``sample_rate``, ``seed``, ...).
    Raises:
        OrthancAuthError: the change feed refuses the credentials.
        MetadataNotDeclared: Orthanc does not know ``metadata_name`` (the message names the fix).
        ConfigError: a bad argument, or a state file of another server.
    """
    from ..extras import SR_HINT, require
    from ..models.checkpoint import load_checkpoint, resolve_checkpoint

    require("ctphase watch (its DICOM SRs)", "highdicom", hint=SR_HINT)
    checkpoint = resolve_checkpoint(model)
    sha = load_checkpoint(checkpoint).sha256
    if isinstance(auth, tuple):
        from ..io.dicomweb import DicomWebAuth

        auth = DicomWebAuth(user=auth[0], password=auth[1])
    client = Orthanc(url, auth)
    state = WatchState.load(Path(state_path), client.url)
    if from_now and not Path(state_path).exists():
        state.since = int(client.json("/changes?last")["Last"])
    labeller = Labeller(client, SeriesReader(checkpoint, transfer, classify_options), sha,
                        model_name=checkpoint.name if model is not None else "ctphase default model",
                        metadata_name=metadata_name)
    loop = _Loop(client, labeller, state, Path(state_path), stop or threading.Event(), on_event or (lambda e: None),
                 retry_for, max_attempts)
    try:
        loop.run(once, poll_interval)
    except _Stopped:
        pass
    finally:
        state.save(Path(state_path))
    return state
