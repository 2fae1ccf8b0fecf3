"""Reading CT series: discovery of DICOM/NIfTI inputs, grouping into series, lazy HU slices.

``discover`` and ``load_series`` are imported eagerly: the submodule ``ctphase.io.discover``
shares its name with the function, and an eager ``from .discover import ...`` is the one way
that ``ctphase.io.discover`` reliably names the function whatever was imported first. The
import stays light (numpy only; pydicom and nibabel are imported when first needed).
"""

from .discover import Discovery, discover, load_series
from .nifti import is_nifti_path
from .volume import Series, Skipped

__all__ = ["Discovery", "Series", "Skipped", "discover", "is_nifti_path", "load_series"]
