"""Progress: rich bars on a terminal, plain rate-limited lines on stderr otherwise, nothing with --quiet."""

from __future__ import annotations

import io
import re

from rich.console import Console
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.cli.common import Tracker, duration

runner = CliRunner()
LINE = re.compile(r"^work: (\d+)/(\d+) items \((\d+)%\), [\d.]+ (items/s|s/item), (ETA|took) \w+$")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _run(n: int, seconds_each: float, quiet: bool = False) -> list[tuple[float, str]]:
    """Lines (with the time they were written) of a task of ``n`` items, each taking ``seconds_each``."""
    clock, buf = Clock(), io.StringIO()
    out = Console(file=buf, width=200)
    lines: list[tuple[float, str]] = []
    with Tracker(quiet, out=out, clock=clock) as tracker:
        for i in range(1, n + 1):
            clock.t += seconds_each
            before = buf.getvalue()
            tracker.update("work", i, n, "items")
            lines += [(clock.t, line) for line in buf.getvalue()[len(before):].splitlines()]
    return lines


def test_lines_every_tenth_of_a_long_task_never_closer_than_5s() -> None:
    lines = _run(100, 1.0)
    assert [int(LINE.match(text).group(1)) for _, text in lines] == list(range(10, 101, 10))
    assert lines[0][1] == "work: 10/100 items (10%), 1.0 items/s, ETA 1m30s"
    assert lines[-1][1] == "work: 100/100 items (100%), 1.0 items/s, took 1m40s"


def test_a_short_task_logs_little_and_always_its_final_line() -> None:
    lines = _run(50, 0.15)  # 7.5 s: 10% steps come every 0.75 s, the 5 s limit decides
    assert len(lines) == 2 and lines[1][1].startswith("work: 50/50 items (100%)")
    assert lines[0][0] >= 5.0
    assert _run(3, 0.01)[-1][1].startswith("work: 3/3 items (100%)")


def test_a_slow_task_says_something_every_minute() -> None:
    lines = _run(1000, 1.0)  # 10% would be 100 s apart
    times = [t for t, _ in lines]
    assert all(60 <= b - a <= 61 for a, b in zip(times, times[1:-1]))
    assert all(LINE.match(text) for _, text in lines)


def test_quiet_prints_nothing() -> None:
    assert _run(100, 1.0, quiet=True) == []


def test_finish_unknown_total_and_notes() -> None:
    clock, buf = Clock(), io.StringIO()
    with Tracker(out=Console(file=buf, width=200), clock=clock) as tracker:
        clock.t = 2
        tracker.update("epoch 1/3", 7, 50, "steps", "loss 0.6931")
        tracker.finish("epoch 1/3")  # validation starts before the last step was logged
        clock.t = 8
        tracker.update("timing", 1, 2, "scans")
        clock.t = 15
        tracker.update("render", 4, None, "series")
    assert buf.getvalue().splitlines() == [
        "epoch 1/3: 7/50 steps (14%), 3.5 steps/s, ETA 12s, loss 0.6931",
        "timing: 1/2 scans (50%), 6.0 s/scan, ETA 6s",
        "render: 4 series, 1.8 s/series",  # slower than one a second: seconds each
    ]


def test_a_task_started_over_logs_its_final_line_again() -> None:
    clock, buf = Clock(), io.StringIO()
    with Tracker(out=Console(file=buf, width=200), clock=clock) as tracker:
        for _ in range(2):
            for i in (1, 2):
                clock.t += 1
                tracker.update("timing inference", i, 2, "scans")
    assert buf.getvalue().splitlines() == ["timing inference: 2/2 scans (100%), 1.0 scans/s, took 2s"] * 2


def test_duration() -> None:
    assert [duration(s) for s in (4.4, 59.6, 166, 3725)] == ["4s", "1m00s", "2m46s", "1h02m"]


def test_predict_writes_progress_lines_when_stderr_is_not_a_terminal(corpus, checkpoint) -> None:
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-f", "csv"])
    assert res.exit_code == 0, res.output
    assert re.search(r"^reading headers: (\d+)/\1 files \(100%\)", res.stderr, re.M)
    assert re.search(r"^classify: 2/2 series \(100%\), .*took \w+$", res.stderr, re.M)
    assert "classify" not in res.stdout  # the CSV stays clean


def test_quiet_silences_progress_but_not_errors(corpus, checkpoint, tmp_path) -> None:
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-f", "csv", "-q"])
    assert res.exit_code == 0 and res.stderr == ""
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(out), "--quiet"])
    assert res.exit_code == 0 and res.stderr == "" and out.is_file()  # not even "wrote ..."
    res = runner.invoke(app, ["predict", str(corpus), "--model", str(checkpoint), "-f", "json", "-q", "--strict"])
    assert res.exit_code == 1 and res.stderr.startswith("error: ")
