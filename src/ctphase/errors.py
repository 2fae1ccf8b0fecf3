"""Exception types of ctphase. Messages name the file or value at fault and, where there is one, the fix."""

from __future__ import annotations

from pathlib import Path


class CTPhaseError(Exception):
    """Base class of every error ctphase raises on purpose."""


class InputError(CTPhaseError):
    """A file or series cannot be used; ``path`` names it when known."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
        self.reason = message


MAX_LISTED_PROBLEMS = 20
"""How many problems one error message lists before it only counts the rest."""


def listed(problems: list[str], what: str, limit: int = MAX_LISTED_PROBLEMS) -> str:
    """``"N <what>:"``, then the first ``limit`` problems one per indented line, then how many more."""
    shown = [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        shown.append(f"  ... and {len(problems) - limit} more")
    return "\n".join([f"{len(problems)} {what}:", *shown])


class DicomReadError(InputError):
    """A DICOM file cannot be parsed or decoded."""


class NiftiReadError(InputError):
    """A NIfTI file cannot be read or is not a 3D volume."""


class DicomWebError(InputError):
    """A DICOMweb server cannot be reached, refuses a request, or answers nonsense; ``path`` names the URL."""


class SeriesError(InputError):
    """A series cannot be assembled into a volume (gap, duplicates, too few slices, ...)."""


class CheckpointError(CTPhaseError):
    """A model checkpoint is missing, corrupt, or of an unknown format."""


class ModelNotAvailableError(CheckpointError):
    """No model was given and no bundled default is installed."""


class ConfigError(CTPhaseError, ValueError):
    """An argument or option has a bad value; the message names it and the allowed range."""


class MissingExtraError(ConfigError):
    """A feature needs packages that the light install (``pip install ctphase``) leaves out."""
