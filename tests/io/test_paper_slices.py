"""The paper's 8-bit slice images read back as HU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ctphase.io.paper_slices import read_8bit_as_hu
from ctphase.preprocessing import PAPER_WINDOW, Preprocessing


def test_paper_8bit_images_round_trip_through_preprocessing(tmp_path: Path) -> None:
    import cv2

    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    hu = read_8bit_as_hu(tmp_path / "a.png", PAPER_WINDOW)
    assert hu.min() == pytest.approx(PAPER_WINDOW[0] - PAPER_WINDOW[1] / 2)
    x = Preprocessing(windows=(PAPER_WINDOW,), size=16, channels=3)(hu)
    np.testing.assert_allclose(x[0, 0], img / 255.0, atol=1e-6)
