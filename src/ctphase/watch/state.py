"""The watcher's state file: where it is in Orthanc's change feed and what became of each series.

One JSON file, rewritten atomically (:mod:`ctphase.atomic`) after every series and every page
of the feed, so that a watcher stopped at any point (Ctrl-C, SIGTERM, a crash) and started
again relabels nothing: the series it finished are in ``done``, the ones it had seen but not
finished are in ``pending``. Orthanc's metadata on each labelled series is the second guard.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..errors import ConfigError

STATE_VERSION = 1


@dataclass
class WatchState:
    """What the watcher of one Orthanc server has done so far.

    Attributes:
        url: the Orthanc server this state belongs to.
        since: the last sequence number of the ``/changes`` feed read.
        pending: Orthanc series id -> failed attempts so far, for series seen in the feed and not finished.
        done: series id -> what was written (label, model sha256, time), or why it needed no write.
        skipped: series id -> why it is not labelled (not CT, deleted, not classifiable).
        failed: series id -> the last error, for series given up after too many failed attempts.
    """

    url: str
    since: int = 0
    pending: dict[str, int] = field(default_factory=dict)
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def settle(self, series_id: str, *, done: dict[str, Any] | None = None, skipped: str | None = None,
               failed: str | None = None) -> None:
        """Move a series out of ``pending`` into ``done``, ``skipped`` or ``failed``."""
        self.pending.pop(series_id, None)
        for table in (self.done, self.skipped, self.failed):
            table.pop(series_id, None)
        if done is not None:
            self.done[series_id] = done
        elif skipped is not None:
            self.skipped[series_id] = skipped
        elif failed is not None:
            self.failed[series_id] = failed

    def save(self, path: Path) -> None:
        """Write the state to ``path`` atomically (whole or not at all)."""
        doc = {"ctphase_watch_state": STATE_VERSION, **asdict(self)}
        write_atomic(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path, url: str) -> WatchState:
        """The state in ``path`` (a new one when the file does not exist) for the server at ``url``.

        Raises:
            ConfigError: the file is not a watcher state, or belongs to another server.
        """
        if not path.exists():
            return cls(url=url)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            version = doc.pop("ctphase_watch_state")
            state = cls(**doc)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            msg = (f"{path} is not a ctphase watch state file ({type(exc).__name__}: {exc}); "
                   "give another --state path, or delete this file to start over (Orthanc's metadata still "
                   "keeps labelled series from being labelled again)")
            raise ConfigError(msg) from exc
        if version != STATE_VERSION:
            msg = f"{path}: state format {version} is not supported by this ctphase (expected {STATE_VERSION})"
            raise ConfigError(msg)
        if state.url.rstrip("/") != url.rstrip("/"):
            msg = f"{path} is the state of the watcher of {state.url}, not of {url}; give another --state path"
            raise ConfigError(msg)
        return state
