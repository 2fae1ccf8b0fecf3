"""Reading CT series: discovery of DICOM/NIfTI inputs, grouping into series, lazy HU slices.

Modules, in reading order:

- ``discover``: walks the given paths, reads each candidate file once, returns a :class:`Discovery`;
  ``archive`` reads zip archives in place (members named ``archive.zip!/inner/path``),
  ``dicomdir`` follows a DICOMDIR named directly, ``unused`` accounts for the files not read.
- ``dicom_header``: one ``SliceHeader`` per DICOM file, pixel data left unread
  (``dicom_elements`` is its byte-level data element parser; ``dicom_enhanced`` gives an
  Enhanced CT file one header per frame).
- ``dicom``: groups slice headers into axial series (orientation, order along the slice normal,
  duplicates, gaps, acquisitions).
- ``dicom_pixels``: ``DicomSeries``; stored values to HU, only for the slices asked for.
- ``nifti``: NIfTI volumes as axial series.
- ``paper_slices``: the reference paper's pre-windowed 8-bit slice images, read back as HU.
- ``series``: the ``Series`` and ``Skipped`` types both formats return; ``findings``: the
  ``Findings`` collector that gathers them while reading.

``discover`` and ``load_series`` are imported eagerly: the submodule ``ctphase.io.discover``
shares its name with the function, and an eager ``from .discover import ...`` is the one way
that ``ctphase.io.discover`` reliably names the function whatever was imported first. The
import stays light (numpy only; pydicom and nibabel are imported when first needed).
"""

from .discover import Discovery, discover, load_series
from .nifti import is_nifti_path
from .series import AIR_HU, Series, Skipped

__all__ = ["AIR_HU", "Discovery", "Series", "Skipped", "discover", "is_nifti_path", "load_series"]
