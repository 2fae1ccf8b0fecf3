"""Tissue labels of the synthetic engine: one small integer per tissue class.

The label map returned by :func:`ctphase.synth.render_slices` (``return_masks=True``) holds
these values; :mod:`ctphase.synth.physiology` turns each label into HU for a given series.
"""

from __future__ import annotations

from enum import IntEnum


class Tissue(IntEnum):
    """Tissue classes painted by the anatomy model (uint8 labels)."""

    AIR = 0
    FAT_SC = 1
    FAT_VISCERAL = 2
    MUSCLE = 3
    LUNG = 4
    BONE_CORTEX = 5
    BONE_MARROW = 6
    DISC = 7
    CSF = 8
    HEART_LEFT = 9
    MYOCARDIUM = 10
    AORTA = 11
    PORTAL_VEIN = 12
    HEPATIC_VEIN = 13
    IVC_INFRARENAL = 14
    RENAL_VEIN = 15
    LIVER = 16
    SPLEEN = 17
    PANCREAS = 18
    KIDNEY_CORTEX = 19
    KIDNEY_MEDULLA = 20
    RENAL_SINUS = 21
    RENAL_PELVIS = 22
    BLADDER = 23
    ADRENAL = 24
    BOWEL_WALL = 25
    BOWEL_FLUID = 26
    BOWEL_AIR = 27
    ORAL_CONTRAST = 28
    FECES = 29
    GALLBLADDER = 30
    LESION = 31
    CYST = 32
    CALCIFICATION = 33
    METAL = 34
    ESOPHAGUS = 35
    PELVIC_ORGAN = 36
    TABLE = 37
    CARTILAGE = 38
    PULMONARY_VESSEL = 39
    HEART_RIGHT = 40
    THYROID = 41
    BLADDER_CONTRAST = 42
    YELLOW_MARROW = 43
    SKIN = 44
    ARTERY = 45
    VEIN_PERIPHERAL = 46
    BREAST = 47
    LIVER_PORTAL_BRANCH = 48
    LIVER_HEPATIC_BRANCH = 49
    URINE_CONTRAST = 50  # excreted contrast layering in the dependent renal pelvis (calyces first)
    GASTRIC_FOOD = 51  # a meal in the stomach: mottled, with gas bubbles and dense flecks


N_TISSUES: int = 64
"""Length of per-label lookup tables (room for new labels)."""
