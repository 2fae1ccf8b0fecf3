"""``ctphase watch`` answers SIGTERM at once, whatever its work is blocked in (no Orthanc needed here)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from ctphase.cli.watch import _in_worker, _stop_on_signals


def _deaf_to_sigterm() -> None:
    """Make the calling thread unable to take SIGTERM, as a thread in an fsync or in native code is."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def test_sigterm_sets_stop_while_the_work_cannot_take_it() -> None:
    stop = threading.Event()

    def work() -> bool:
        _deaf_to_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)
        return stop.wait(10)  # the handler, in the waiting main thread, sets it

    with _stop_on_signals(stop, quiet=True):
        assert _in_worker(work, wait_step=0.05) is True


def test_a_second_sigterm_interrupts_and_the_handlers_are_restored() -> None:
    stop, release = threading.Event(), threading.Event()
    before = signal.getsignal(signal.SIGTERM)

    def work() -> None:
        _deaf_to_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(10)
        os.kill(os.getpid(), signal.SIGTERM)
        release.wait(10)  # still busy: only the interrupt ends the wait in the main thread

    try:
        with _stop_on_signals(stop, quiet=True), pytest.raises(KeyboardInterrupt):
            _in_worker(work, wait_step=0.05)
    finally:
        release.set()
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_work_s_result_and_errors_reach_the_caller() -> None:
    assert _in_worker(lambda: 42) == 42

    def broken() -> None:
        raise ValueError("bad state file")

    with pytest.raises(ValueError, match="bad state file"):
        _in_worker(broken)
