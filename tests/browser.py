"""Headless Chromium for the HTML report tests: render a page, take a screenshot, read the DOM after its scripts ran.

Uses the Debian ``chromium`` package (``apt-get install chromium``); tests skip when it is absent.
Console messages reach stderr as ``INFO:CONSOLE`` lines with ``--enable-logging=stderr``; the
report's own hook also counts errors on ``<html data-console-errors>``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--enable-logging=stderr", "--v=0"]


@dataclass
class Page:
    dom: str
    console: list[str]  # the CONSOLE lines Chromium logged

    def attr(self, tag: str, name: str) -> str | None:
        """Attribute ``name`` of the first ``<tag>`` in the DOM."""
        m = re.search(rf"<{tag}\b[^>]*\s{name}=\"([^\"]*)\"", self.dom)
        return None if m is None else m.group(1)


def _run(args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    env = {**os.environ, "HOME": str(profile)}  # no writes to the real home
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def dump_dom(url: str, profile: Path, timeout: float = 120) -> Page:
    """The DOM of ``url`` once loaded (its scripts ran), and the console lines logged meanwhile."""
    res = _run(["--virtual-time-budget=3000", "--dump-dom", url], profile, timeout)
    assert res.returncode == 0, res.stderr[-2000:]
    return Page(res.stdout, _console(res.stderr))


def screenshot(url: str, png: Path, profile: Path, size: tuple[int, int] = (1280, 1000), timeout: float = 120) -> list[str]:
    """Write a screenshot of ``url`` to ``png``; returns the console lines logged."""
    res = _run([f"--window-size={size[0]},{size[1]}", "--hide-scrollbars", f"--screenshot={png}", url], profile, timeout)
    assert res.returncode == 0 and png.is_file(), res.stderr[-2000:]
    return _console(res.stderr)
