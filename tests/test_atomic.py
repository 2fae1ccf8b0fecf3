"""Atomic file output: complete at its final path or absent, with the usual permissions of a new file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctphase.atomic import atomic_path, write_atomic


def _usual_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def test_write_atomic_gives_the_usual_permissions(tmp_path: Path) -> None:
    out = write_atomic(tmp_path / "a" / "b.txt", "hello")
    assert out.read_text() == "hello" and out.stat().st_mode & 0o777 == _usual_mode()


def test_a_writer_that_recreates_the_file_still_gets_the_usual_permissions(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    with atomic_path(tmp_path / "w.safetensors") as tmp:
        save_file({"w": torch.zeros(2)}, str(tmp))  # safetensors writes 0600 files
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == _usual_mode()


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stop")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
