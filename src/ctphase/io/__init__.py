"""Reading CT series: discovery of DICOM/NIfTI inputs, grouping into series, lazy HU slices."""

from .volume import Series, Skipped

__all__ = ["Series", "Skipped", "discover", "load_series"]


def __getattr__(name: str):  # lazy: keeps `import ctphase.io.volume` light
    if name in {"discover", "load_series"}:
        from . import discover as _d

        return getattr(_d, name)
    raise AttributeError(name)
