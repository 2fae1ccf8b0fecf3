"""Header values of hand-made studies, shared by the tests of the header rules (paper) and the header opinion (study)."""

from __future__ import annotations


def four_phase_study() -> list[dict]:
    """A four-phase study without bolus start times: native, arterial, venous, delayed."""
    return [
        {"SeriesDescription": "Nativ", "AcquisitionTime": "100000"},
        {"SeriesDescription": "Recon 2", "ContrastBolusAgent": "APPLIED", "AcquisitionTime": "100230"},
        {"SeriesDescription": "ABDOMEN", "ContrastBolusAgent": "APPLIED", "AcquisitionTime": "100310"},
        {"SeriesDescription": "AXIAL", "AcquisitionTime": "100600"},
        {"SeriesDescription": "Body 3.0", "AcquisitionTime": "095900"},
    ]
