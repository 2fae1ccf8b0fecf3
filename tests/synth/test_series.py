"""Series draws: subphase time windows and their labels."""

from __future__ import annotations

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.synth import SeriesParams, patient_params, subphase_at
from ctphase.synth.physiology import SUBPHASE_WINDOWS


def test_subphase_windows_and_labels() -> None:
    assert subphase_at(None) == "non_contrast"
    assert subphase_at(25) == "early_arterial"
    assert subphase_at(40) == "late_arterial"
    assert subphase_at(55) == "portal_venous"
    assert subphase_at(75) == "portal_venous"
    assert subphase_at(110) == "nephrographic"
    assert subphase_at(150) == "transitional"
    assert subphase_at(200) == "equilibrium"
    assert subphase_at(700) == "excretory"
    p = patient_params(0, 0)
    for sub, (lo, hi) in SUBPHASE_WINDOWS.items():
        s = SeriesParams.draw(np.random.default_rng(5), p, subphase=sub)
        assert lo <= s.effective_time_s < hi
        assert subphase_at(s.effective_time_s) == sub
    with pytest.raises(ConfigError, match="unknown subphase"):
        SeriesParams.draw(np.random.default_rng(0), p, subphase="lunch")
