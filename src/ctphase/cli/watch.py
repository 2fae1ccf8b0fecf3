"""``ctphase watch``: label every new stable CT series of an Orthanc server; a thin layer over :mod:`ctphase.watch`."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from ..errors import CTPhaseError
from ..sampling import DEFAULT_SAMPLE_RATE
from .common import QUIET_HELP, fail, fail_with, say

ONCE_RETRY_FOR = 60.0
"""With --once, give up after this many seconds without an answer from Orthanc (default of --retry-for)."""
STYLES = {"labelled": "labelled", "already": "already labelled", "skipped": "skipped", "deleted": "deleted",
          "failed": "failed", "retry": "failed"}


@contextmanager
def _stop_on_signals(stop: threading.Event, quiet: bool) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the watcher ends after the current series, state saved); a second one interrupts."""
    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        say(f"{signal.Signals(signum).name}: stopping after the current series (again to interrupt now)", quiet)

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _in_worker(fn: Callable[[], Any], wait_step: float = 0.2) -> Any:
    """``fn()`` run in a worker thread while the main thread waits in short steps; returns its result or raises its error.

    Python runs signal handlers in the main thread, between two bytecodes: a main thread blocked in
    a request to a stalled Orthanc, an fsync on a busy disk or native code would leave SIGTERM
    unanswered until that call returns. Waiting here instead, the handler runs within ``wait_step``
    seconds whatever the work is blocked in; the work sees the stop event after its current series.
    A second signal raises KeyboardInterrupt here; the worker (a daemon thread) ends with the process.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            box["error"] = exc

    worker = threading.Thread(target=target, name="ctphase-watch", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(wait_step)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _printer(quiet: bool) -> Any:
    """One line per series on stdout (UTC time, what happened, Orthanc's series id, the label); waits on stderr."""
    def show(event: Any) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if event.series_id is None:
            say(f"{stamp} {event.message}", quiet)
            return
        if event.kind in ("already", "skipped") and quiet:
            return
        sys.stdout.write(f"{stamp} {STYLES.get(event.kind, event.kind)} {event.series_id}: {event.message}\n")
        sys.stdout.flush()
    return show


def watch(
    url: str = typer.Argument(..., help="Orthanc's REST root, e.g. http://localhost:8042 (its DICOMweb plugin under /dicom-web)."),
    state: Path = typer.Option(..., "--state", help="State file: where the watcher is in Orthanc's change feed and "
                               "which series it labelled (created; a restarted watcher relabels nothing)."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    poll_interval: float = typer.Option(1.0, "--poll-interval", min=0.05, help="Seconds between two reads of /changes."),
    once: bool = typer.Option(False, "--once", help="Label what the change feed holds now (waiting for those series "
                              "to become stable), then exit."),
    from_now: bool = typer.Option(False, "--from-now", help="With a new --state file, leave the series Orthanc "
                                  "holds already alone (default: label them too)."),
    auth_file: Path | None = typer.Option(
        None, "--auth-file", help="File holding one line: user:password or a bearer token (default: the environment, "
        "CTPHASE_DICOMWEB_TOKEN or CTPHASE_DICOMWEB_USER and CTPHASE_DICOMWEB_PASSWORD). Never on the command line."),
    metadata_name: str = typer.Option("ctphase", "--metadata-name", help="Series metadata item written; declare it in "
                                      'Orthanc\'s configuration: "UserMetadata": {"ctphase": 4242}.'),
    transfer: str = typer.Option("auto", "--transfer", help="How pixels are read: dicomweb (only the sampled "
                                 "instances, via Orthanc's DICOMweb plugin), download (every instance), auto."),
    retry_for: float | None = typer.Option(
        None, "--retry-for", min=0, show_default=False,
        help=f"Give up when Orthanc does not answer for this many seconds (default: wait forever; {ONCE_RETRY_FOR:.0f} with --once)."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Tries of a series whose labelling fails."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices to classify, in (0, 1]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the slice draw."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP + " Only labelled and failed series are listed."),
) -> None:
    """Follow an Orthanc server's change feed; label every new stable CT series once.

    Each CT series gets a DICOM SR stored beside it (research use only) and a metadata item
    (--metadata-name) holding the label, confidence, model sha256, ctphase version and time. Series
    that are not CT are never written to. Stop with Ctrl-C or SIGTERM: the state is saved.
    Exit codes: 0 stopped cleanly; 1 some series failed (--once); 2 usage or configuration error,
    refused credentials, or Orthanc unreachable for --retry-for seconds.
    """
    from ..io.dicomweb import auth_from_env
    from ..watch import TRANSFERS, OrthancError
    from ..watch import watch as run_watch

    if transfer not in TRANSFERS:
        fail(f"--transfer must be one of {', '.join(TRANSFERS)}, got {transfer!r}", 2)
    stop = threading.Event()
    try:
        auth = auth_from_env(auth_file)
        with _stop_on_signals(stop, quiet):
            say(f"watching {url} (state {state}){'; --once' if once else ''}", quiet)
            result = _in_worker(lambda: run_watch(
                url, state_path=state, model=model, auth=auth, poll_interval=poll_interval, once=once, stop=stop,
                on_event=_printer(quiet), metadata_name=metadata_name, transfer=transfer,
                retry_for=ONCE_RETRY_FOR if once and retry_for is None else retry_for,
                max_attempts=max_attempts, from_now=from_now, sample_rate=sample_rate, seed=seed))
    except OrthancError as exc:
        fail(f"{exc}; the state is saved in {state}", 2)
    except CTPhaseError as exc:
        fail_with(exc)
    except KeyboardInterrupt:
        fail(f"interrupted; the state is saved in {state}: run the same command again to go on", 130)
    say(f"{'done' if once else 'stopped'}: {len(result.done)} labelled, {len(result.skipped)} skipped, "
        f"{len(result.failed)} failed, {len(result.pending)} pending; state saved in {state}", quiet)
    raise typer.Exit(1 if once and result.failed else 0)
