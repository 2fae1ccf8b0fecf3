"""training/config.py: the parsers the CLI and the scripts share for windows and extra conditions."""

from __future__ import annotations

import pytest

from ctphase.training.config import parse_extra, parse_window


def test_parse_window_reads_center_and_width() -> None:
    assert parse_window("50,400") == (50.0, 400.0)
    assert parse_window(" -600 , 1500 ") == (-600.0, 1500.0)


@pytest.mark.parametrize("bad", ["50", "50,400,3", "a,b", ""])
def test_parse_window_names_the_bad_text(bad: str) -> None:
    with pytest.raises(ValueError, match=f"^{bad!r} must be CENTER,WIDTH in HU"):
        parse_window(bad)


def test_parse_extra_reads_name_and_rate() -> None:
    assert parse_extra("pet_ct=0.12") == ("pet_ct", 0.12)
    assert parse_extra(" obese =1") == ("obese", 1.0)
    with pytest.raises(ValueError, match="^'pet_ct' must be NAME=RATE"):
        parse_extra("pet_ct")
