"""Markdown cells and tables of the paper's experiment results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..evaluation import Interval


def num(v: float | None, digits: int = 3) -> str:
    """A number, or an en dash when there is none."""
    return "–" if v is None else f"{v:.{digits}f}"


def ci(iv: Interval | None, digits: int = 3) -> str:
    """``"0.912 [0.870, 0.950]"``; the estimate alone without an interval; an en dash without an estimate."""
    if iv is None or iv.estimate is None:
        return "–"
    return iv.format(digits)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
