"""Relative links in the README, docs/ and the model card point at files and headings that exist."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "src/ctphase/weights/MODEL_CARD.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@cache
def anchors(path: Path) -> frozenset[str]:
    """GitHub's anchors of a markdown file's headings (fenced code blocks skipped) and its ``<a id=...>`` tags."""
    out, fence = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        out.update(re.findall(r'<a (?:id|name)="([^"]+)"', line))
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            out.add(re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
    return frozenset(out)


def broken_links(path: Path) -> list[str]:
    """The relative links of ``path`` whose file or heading does not exist."""
    bad = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no such heading in {dest.name}")
    return bad


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path):
    assert path.exists()
    assert broken_links(path) == []


def test_checker_sees_a_broken_anchor(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# Title here\n\n```\n# not a heading\n```\n<a id=\"tag\"></a>[ok](#title-here) [tag](#tag)"
                   " [bad](#not-a-heading) [gone](b.md)\n")
    assert broken_links(doc) == ["#not-a-heading: no such heading in a.md", "b.md: no such file"]
