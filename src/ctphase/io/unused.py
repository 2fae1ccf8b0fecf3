"""Files found but not read, tallied per folder so that every input is accounted for.

While :func:`ctphase.io.discover` walks folders (and lists archives), each file it does not use
is counted in the folder that holds it, by category: neither DICOM nor NIfTI, a ``DICOMDIR``
index, hidden, a FIFO/socket/device, a zip inside an archive; hidden folders and symbolic links
to folders, which are not searched, are named too. :meth:`Unused.report` turns the tallies into
:class:`~ctphase.io.series.Skipped` records, each file counted once:

- a folder or archive given to ``discover`` that yields nothing (no series, no other record)
  gets one ``kind="skipped"`` record, ``"no DICOM or NIfTI files found (...)"``, that takes in
  every tally under it;
- every other folder with unused files gets one ``kind="unused"`` record naming up to five of them, e.g.
  ``"3 file(s) that are neither DICOM nor NIfTI, ignored: notes.txt, a.jpg, b.pdf"``.

``n_files`` counts the files (folders and links to folders are named, not counted).
"""

from __future__ import annotations

import os

from .findings import Findings

OTHER = "other"
DICOMDIR = "dicomdir"
HIDDEN = "hidden"
SPECIAL = "special"
ARCHIVE = "archive"
HIDDEN_DIR = "hidden_dir"
LINKED_DIR = "linked_dir"

_EXAMPLES = 5
# category -> (words after the count, whether to name examples, whether the entries are files)
_WORDS: dict[str, tuple[str, bool, bool]] = {
    OTHER: ("file(s) that are neither DICOM nor NIfTI, ignored", True, True),
    DICOMDIR: ("DICOMDIR index(es) (the files listed are read directly)", False, True),
    HIDDEN: ("hidden file(s) (name starting with '.'), ignored", True, True),
    SPECIAL: ("special file(s) (FIFO, socket or device), not read", True, True),
    ARCHIVE: ("zip archive(s) inside an archive, not opened", True, True),
    HIDDEN_DIR: ("hidden folder(s), not searched", True, False),
    LINKED_DIR: ("symbolic link(s) to folders, not followed", True, False),
}


class Unused:
    """Per-folder tallies of what was found and not read (each entry once)."""

    def __init__(self) -> None:
        self._by_folder: dict[str, dict[str, dict[str, None]]] = {}

    def add(self, folder: str, category: str, name: str) -> None:
        """Count ``name`` (a file or folder name, or a path below ``folder``) in ``folder``."""
        self._by_folder.setdefault(folder, {}).setdefault(category, {})[name] = None

    def report(self, findings: Findings, roots: list[tuple[str, str]], used: list[str]) -> None:
        """Add the records to ``findings``.

        Args:
            roots: the folders and archives searched, with their kind (``"folder"``/``"archive"``).
            used: paths of the series and records found so far: a root under which none lies
                gets the one "no DICOM or NIfTI files found" record.
        """
        used = [os.path.abspath(u) for u in used]
        taken: set[str] = set()
        for root, kind in sorted(set(roots), key=lambda r: -len(os.path.abspath(r[0]))):  # innermost first
            if any(_under(u, root) for u in used):
                continue
            folders = [f for f in self._by_folder if f not in taken and _under(f, root)]
            taken.update(folders)
            parts, n = self._describe(folders, root)
            detail = "; ".join(parts) if parts else f"the {kind} is empty"
            findings.skip(root, f"no DICOM or NIfTI files found ({detail})", n_files=n)
            used.append(os.path.abspath(root))
        for folder in sorted(self._by_folder):
            if folder not in taken:
                parts, n = self._describe([folder], folder)
                findings.skip(folder, "; ".join(parts), n_files=n, kind="unused")

    def _describe(self, folders: list[str], base: str) -> tuple[list[str], int]:
        """One phrase per category over ``folders``, names relative to ``base``; and the file count."""
        merged: dict[str, list[str]] = {}
        for f in sorted(folders):
            for cat, names in self._by_folder[f].items():
                merged.setdefault(cat, []).extend(_relative(f, name, base) for name in names)
        parts: list[str] = []
        n_files = 0
        for cat, (words, examples, files) in _WORDS.items():
            names = merged.get(cat)
            if not names:
                continue
            if files:
                n_files += len(names)
            text = f"{len(names)} {words}"
            if cat == DICOMDIR and len(names) == 1:
                text = "1 DICOMDIR index (its files are read directly)"
            if examples:
                text += ": " + ", ".join(names[:_EXAMPLES]) + (", ..." if len(names) > _EXAMPLES else "")
            parts.append(text)
        return parts, n_files


def _under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies inside it (a folder, or an archive: ``root!/...``)."""
    p, r = os.path.abspath(path), os.path.abspath(root)
    return p == r or p.startswith(os.path.join(r, "")) or p == r + "!" or p.startswith(r + "!/")


def _relative(folder: str, name: str, base: str) -> str:
    """``name`` in ``folder`` as seen from ``base`` (a folder, or an archive)."""
    f, b = os.path.abspath(folder), os.path.abspath(base)
    if f == b:
        return name
    if f.startswith(b + "!/"):
        return f"{f[len(b) + 2 :]}/{name}"
    return os.path.relpath(os.path.join(f, name), b)


__all__ = ["ARCHIVE", "DICOMDIR", "HIDDEN", "HIDDEN_DIR", "LINKED_DIR", "OTHER", "SPECIAL", "Unused"]
