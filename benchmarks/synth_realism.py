"""Realism check of the synthetic engine: median HU per phase, synthetic vs real.

A second table gives the cues that separate the neighbouring classes (aorta - portal vein and
aorta - IVC falling towards equilibrium, hepatic veins filling after the portal vein,
corticomedullary -> homogeneous kidneys, contrast in the renal pelvis, the nephrogram persisting
above the washed-out blood pool in the delayed phases) per synthetic *subphase*
and per phase, synthetic | real where the real ROIs allow (hepatic veins, IVC and medulla have
no hand-placed real ROI yet: "-"). A last block gives the size of the pool of positive oral
contrast in the stomach (the largest cross-section, cm2), which looks the same in every phase:
synthetic patients with a resting and with a distended stomach, against the real series that hold
one (the oral contrast row of the first table is its density). The very last block gives the
spread of a meal left in the stomach (HU percentiles): synthetic patients given food against a
hand-placed box in the real PET/CT series' stomach (TotalSegmentator test data). A grain block
gives the HU standard deviation in liver and spleen at the network's input size (224 px),
synthetic venous patients without and with the PET/CT condition against each real series.

Synthetic numbers come from the engine's own tissue masks (eroded by one pixel, except the thin
dependent renal pelvis where excreted contrast collects first, ``URINE_CONTRAST``); real numbers
from ROIs placed once by hand on rendered slices of ../shared/realdata (constants below). The
real columns are skipped when that folder is absent. With ``--png`` also writes
docs/synth_vs_real.png (per phase: three synthetic patients at liver/kidney level next to the
real slices, window 50/400; real panels only from HCC-TACE-Seg, CC BY 4.0, and the TotalSegmentator
test series, Apache-2.0, Wasserthal et al.; never from the rctt2022 series).

    python benchmarks/synth_realism.py [--patients 8] [--png docs/synth_vs_real.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import glob
from pathlib import Path

import cv2
import numpy as np

from ctphase.phases import PHASE_NAMES, SUBPHASE_NAMES
from ctphase.synth import SeriesParams, Tissue, patient_params, render_slices

from real_labels import REALDATA, has_labels

TISSUES = {
    "aorta": (Tissue.AORTA, [-100, -130, -160, -200]),
    "portal_vein": (Tissue.PORTAL_VEIN, [-85, -100, -112, -120]),
    "liver": (Tissue.LIVER, [-60, -90, -120]),
    "spleen": (Tissue.SPLEEN, [-50, -70, -90]),
    "kidney_cortex": (Tissue.KIDNEY_CORTEX, [-130, -145, -160]),
    "renal_pelvis": (Tissue.URINE_CONTRAST, [-135, -145, -155]),  # its dependent part: the real ROIs sit on excreted contrast
    "hepatic_vein": (Tissue.HEPATIC_VEIN, [-60, -80, -100]),
    "ivc": (Tissue.IVC_INFRARENAL, [-150, -180, -210]),
    "kidney_medulla": (Tissue.KIDNEY_MEDULLA, [-130, -145, -160]),
    "oral_contrast": (Tissue.ORAL_CONTRAST, [-40, -60, -80]),  # in the stomach, of the patients who drank it
}
STOMACH_Z = np.arange(-20.0, -101.0, -10.0)  # levels (x height) searched for the largest pool of oral contrast
# the cues where neighbouring classes meet: name -> (tissue a, tissue b or None); value a - b (or a)
CUES: dict[str, tuple[str, str | None]] = {
    "aorta-portal": ("aorta", "portal_vein"),  # > 0 arterial, ~0 or < 0 portal venous, ~0 delayed
    "hepatic-portal": ("hepatic_vein", "portal_vein"),  # < 0 until the hepatic veins fill (~60-70 s)
    "aorta-ivc": ("aorta", "ivc"),  # large arterial, small venous, ~0 at equilibrium
    "cortex-medulla": ("kidney_cortex", "kidney_medulla"),  # corticomedullary (arterial) -> nephrographic ~0
    "renal_pelvis": ("renal_pelvis", None),  # excreted contrast only late (excretory >= ~3-5 min)
    "cortex-aorta": ("kidney_cortex", "aorta"),  # the nephrogram outlasts the blood pool: < 0 venous, > 0 delayed
}
# Hand-placed ROIs on the real series: folder -> {tissue: (slice z in mm, column, row, radius px)}.
# Placed on 512x512 renders at window 50/400 (see the closing note of the synth issue).
REAL_ROIS: dict[str, dict[str, tuple[float, int, int, int]]] = {
    "hcc005_s1_pre_noncontrast": {
        "aorta": (-125.7, 263, 292, 6), "liver": (-125.7, 120, 230, 12), "spleen": (-125.7, 360, 320, 10),
        "oral_contrast": (-80, 340, 240, 15),
    },
    "hcc005_s1_recon2_arterial": {
        "aorta": (-125, 263, 292, 6), "portal_vein": (-125, 200, 210, 3), "liver": (-125, 120, 230, 12),
        "spleen": (-125, 360, 320, 10), "kidney_cortex": (-170, 363, 305, 2), "renal_pelvis": (-170, 330, 300, 3),
        "oral_contrast": (-80, 340, 240, 15), "kidney_medulla": (-170, 343, 322, 2), "ivc": (-215, 218, 229, 5),
    },
    "hcc005_s1_s103_venous": {
        "aorta": (-125, 263, 292, 6), "portal_vein": (-125, 200, 210, 3), "liver": (-125, 120, 230, 12),
        "spleen": (-125, 360, 320, 10), "kidney_cortex": (-170, 363, 305, 2), "renal_pelvis": (-170, 330, 300, 3),
        "oral_contrast": (-80, 340, 240, 15), "kidney_medulla": (-170, 343, 322, 2), "ivc": (-215, 218, 229, 5),
    },
    # kidney only (cortex and a medullary pyramid of the left kidney, on one line of the stack's two series)
    "hcc009_19980215_s4_recon2_arterial": {"kidney_cortex": (-394, 329, 300, 2), "kidney_medulla": (-394, 340, 300, 2)},
    "hcc009_19980215_s103_venous": {"kidney_cortex": (-394, 329, 300, 2), "kidney_medulla": (-394, 340, 300, 2)},
    "hcc009_19980320_s105_arterial": {"kidney_cortex": (-379, 377, 306, 2), "kidney_medulla": (-379, 366, 306, 2)},
    "hcc009_19980320_s107_venous": {"kidney_cortex": (-379, 377, 306, 2), "kidney_medulla": (-379, 366, 306, 2)},
    "rctt2022_ap_arterial": {
        "aorta": (-135, 278, 268, 6), "portal_vein": (-135, 200, 222, 2), "liver": (-135, 120, 240, 12),
        "spleen": (-135, 385, 305, 8), "kidney_cortex": (-185, 340, 270, 3),
    },
    "rctt2022_eqp_other": {
        "aorta": (-135, 278, 268, 6), "portal_vein": (-135, 200, 222, 2), "liver": (-135, 120, 240, 12),
        "spleen": (-135, 385, 305, 8), "kidney_cortex": (-185, 340, 270, 3), "renal_pelvis": (-185, 367, 285, 2),
    },
    # the PET/CT series' slab of upper abdomen (low dose): aorta, liver and spleen only (its portal vein is not
    # told apart from the IVC with confidence on these slices)
    "ts_petct_dicom_venous": {"aorta": (-796.5, 257, 293, 5), "liver": (-796.5, 130, 300, 12), "spleen": (-796.5, 385, 320, 10)},
}
REAL_PHASE = {"hcc005_s1_pre_noncontrast": "non_contrast", "hcc005_s1_recon2_arterial": "arterial",
              "hcc005_s1_s103_venous": "venous", "rctt2022_ap_arterial": "arterial", "rctt2022_eqp_other": "other",
              "hcc009_19980215_s4_recon2_arterial": "arterial", "hcc009_19980215_s103_venous": "venous",
              "hcc009_19980320_s105_arterial": "arterial", "hcc009_19980320_s107_venous": "venous",
              "ts_petct_dicom_venous": "venous"}
PNG_REAL = {"non_contrast": [("hcc005_s1_pre_noncontrast", -125.7, "HCC-TACE-Seg (CC BY 4.0)")],
            "arterial": [("hcc005_s1_recon2_arterial", -125.0, "HCC-TACE-Seg (CC BY 4.0)")],
            "venous": [("hcc005_s1_s103_venous", -125.0, "HCC-TACE-Seg (CC BY 4.0)"),
                       ("ts_petct_dicom_venous", -786.0, "TotalSegmentator (Apache-2.0)")],
            "other": []}
# real panels only from openly licensed series (the rctt2022 series may not be redistributed)
PNG_SYNTH_Z = (-95.0, -125.0, -150.0)  # one synthetic patient per column, at these levels (x height)


@functools.cache
def load_real(folder: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Axial HU volume (z ascending), slice z and row pixel spacing (mm) of a real series (coronal
    reformats dropped); read once per folder (the blocks below share it), the arrays read-only."""
    import pydicom

    dss = [pydicom.dcmread(p) for p in glob.glob(str(folder / "*"))]
    dss = [d for d in dss if abs(float(d.ImageOrientationPatient[4])) > 0.9]
    dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss]).astype(np.float32)
    z = np.array([float(d.ImagePositionPatient[2]) for d in dss])
    vol.flags.writeable = z.flags.writeable = False
    return vol, z, float(dss[0].PixelSpacing[0])


def roi_slice(z: np.ndarray, roi: tuple[float, int, int, int]) -> int:
    """Index of the slice (of slice positions ``z``) nearest a ROI's z."""
    return int(np.argmin(np.abs(z - roi[0])))


def disc(im: np.ndarray, column: float, row: float, radius: float) -> np.ndarray:
    """The pixels of slice ``im`` inside a disc (centre and radius in pixels)."""
    yy, xx = np.ogrid[: im.shape[0], : im.shape[1]]
    return im[(yy - row) ** 2 + (xx - column) ** 2 <= radius * radius]


def roi_median(im: np.ndarray, roi: tuple[float, int, int, int]) -> float:
    """Median HU of slice ``im`` inside the disc of a ROI ``(z, column, row, radius)``."""
    return float(np.median(disc(im, *roi[1:])))


def real_series() -> dict[str, dict[str, float]]:
    """ROI median HU per real series (folder) and tissue."""
    out: dict[str, dict[str, float]] = {}
    for folder, rois in REAL_ROIS.items():
        vol, z, _ = load_real(REALDATA / folder)
        out[folder] = {tissue: roi_median(vol[roi_slice(z, roi)], roi) for tissue, roi in rois.items()}
    return out


def real_table(series: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean over the real series of each phase of their ROI medians, per tissue."""
    out: dict[str, dict[str, list[float]]] = {}
    for folder, rois in series.items():
        for tissue, v in rois.items():
            out.setdefault(REAL_PHASE[folder], {}).setdefault(tissue, []).append(v)
    return {ph: {t: float(np.mean(v)) for t, v in d.items()} for ph, d in out.items()}


def phase_medians(per_patient: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Median over patients of each tissue's HU, per phase (or subphase)."""
    return {ph: {t: float(np.median([p[t] for p in pats if t in p])) for t in {t for p in pats for t in p}}
            for ph, pats in per_patient.items()}


def synth_patients(n_patients: int, seed: int, size: int = 256, by_subphase: bool = False) -> dict[str, list[dict[str, float]]]:
    """Per phase (or subphase), one ``{tissue: median HU}`` per synthetic patient (tissues it shows)."""
    res: dict[str, list[dict[str, float]]] = {}
    groups = SUBPHASE_NAMES if by_subphase else PHASE_NAMES
    for i in range(n_patients):
        p = patient_params(seed, 900_000 + i)
        for k, ph in enumerate(groups):
            kw = {"subphase": ph} if by_subphase else {"phase": ph}
            s = SeriesParams.draw(np.random.default_rng([seed, i, k]), p, **kw)
            s.streaks = False
            row: dict[str, float] = {}
            for name, (tissue, zs) in TISSUES.items():
                hu, m = render_slices(p, s, np.asarray(zs, float) * p.height, size, return_masks=True)
                k = np.ones((1, 1) if tissue == Tissue.URINE_CONTRAST else (3, 3), np.uint8)  # a crescent, too thin to erode
                vals = [hu[j][cv2.erode((m[j] == tissue).astype(np.uint8), k).astype(bool)] for j in range(len(zs))]
                v = np.concatenate(vals)
                if v.size > 3:
                    row[name] = float(np.median(v))
            res.setdefault(ph, []).append(row)
    return res


def bright_open(hu: np.ndarray, threshold: float = 180.0) -> np.ndarray:
    """``uint8`` mask of the pixels of slice ``hu`` above ``threshold`` HU, opened by 2 pixels (a 5x5
    kernel) so that thin bright walls and vessels drop out: where oral contrast pools."""
    return cv2.morphologyEx((hu > threshold).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))


def _largest_area(mask: np.ndarray) -> int:
    """Pixels of the largest 8-connected component of ``mask`` (0 when empty)."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0


def synth_stomach_pools(n_patients: int, seed: int, size: int = 256) -> dict[str, list[float]]:
    """Largest cross-section (cm2) of oral contrast at the stomach's levels per patient who drank it,
    split by a resting and a distended stomach (``stomach_distension`` > 0)."""
    out: dict[str, list[float]] = {"resting": [], "distended": []}
    for i in range(n_patients):
        p = patient_params(seed, 900_000 + i)
        if not p.oral_contrast:
            continue
        s = SeriesParams.draw(np.random.default_rng([seed, i, 2]), p, phase="venous")
        _, m = render_slices(p, s, STOMACH_Z * p.height, size, return_masks=True, noise=False)
        mm2 = (s.fov_mm / size) ** 2
        area = max(_largest_area(x == Tissue.ORAL_CONTRAST) for x in m) * mm2 / 100
        out["distended" if p.stomach_distension > 0 else "resting"].append(area)
    return out


def real_stomach_pools() -> dict[str, float]:
    """Largest cross-section (cm2) of the pool above 180 HU (:func:`bright_open`) on the slices within
    20 mm of each real series' hand-placed oral contrast ROI."""
    out = {}
    for folder, rois in REAL_ROIS.items():
        if "oral_contrast" not in rois:
            continue
        vol, z, spacing = load_real(REALDATA / folder)
        near = np.nonzero(np.abs(z - rois["oral_contrast"][0]) <= 20)[0]
        out[folder] = max(_largest_area(bright_open(vol[j])) for j in near) * spacing**2 / 100
    return out


def print_stomach_pools(syn: dict[str, list[float]], real: dict[str, float] | None) -> None:
    """The size of the stomach's oral contrast pool: synthetic resting / distended, then real."""
    print("\nlargest pool of oral contrast at the stomach's levels (cm2): synthetic, venous, patients who drank it")
    for kind, v in syn.items():
        txt = "none drawn" if not v else f"median {np.median(v):.0f}, max {np.max(v):.0f}"
        print(f"  {kind:<10} {len(v):>3} patients: {txt}")
    for folder, area in (real or {}).items():
        print(f"  real {folder}: {area:.0f}")


# a box inside the stomach's contents on the real PET/CT series: (folder, slice z in mm, rows, columns)
REAL_FOOD = ("ts_petct_dicom_venous", (-788.5, -784.5, -780.5), (245, 290), (300, 345))
FOOD_PERCENTILES = (10, 25, 50, 75, 90)


def synth_food(n_patients: int, seed: int, size: int = 256) -> np.ndarray:
    """HU percentiles (:data:`FOOD_PERCENTILES`) of the meal pixels (eroded by one pixel) at the
    stomach's levels, pooled over ``n_patients`` synthetic patients each given food, venous, with noise."""
    vals = []
    k = np.ones((3, 3), np.uint8)
    for i in range(n_patients):
        p = patient_params(seed, 900_000 + i)
        p = dataclasses.replace(p, gastric_food=max(p.gastric_food, 0.7))
        s = SeriesParams.draw(np.random.default_rng([seed, i, 2]), p, phase="venous")
        s.streaks = False
        hu, m = render_slices(p, s, STOMACH_Z[1:6] * p.height, size, return_masks=True)
        vals += [hu[j][cv2.erode((m[j] == Tissue.GASTRIC_FOOD).astype(np.uint8), k).astype(bool)] for j in range(len(hu))]
    return np.percentile(np.concatenate(vals), FOOD_PERCENTILES)


def real_food() -> np.ndarray | None:
    """HU percentiles of :data:`REAL_FOOD`'s box over its slices (None when the series is absent)."""
    folder, zs, (r0, r1), (c0, c1) = REAL_FOOD
    if not (REALDATA / folder).is_dir():
        return None
    vol, z, _ = load_real(REALDATA / folder)
    vals = [vol[int(np.argmin(np.abs(z - zz))), r0:r1, c0:c1].ravel() for zz in zs]
    return np.percentile(np.concatenate(vals), FOOD_PERCENTILES)


def print_food(syn: np.ndarray, real: np.ndarray | None, n_patients: int) -> None:
    """A meal in the stomach: HU percentiles, synthetic then real."""
    print(f"\nfood in the stomach, HU percentiles {' / '.join(f'p{q}' for q in FOOD_PERCENTILES)}")
    print(f"  synthetic ({n_patients} patients given food, venous): {' / '.join(f'{v:.0f}' for v in syn)}")
    if real is not None:
        print(f"  real {REAL_FOOD[0]} (box in the stomach, 3 slices): {' / '.join(f'{v:.0f}' for v in real)}")


def write_png(path: Path, seed: int) -> None:
    """One row per phase: three synthetic patients (liver/kidney levels), then the real slices."""
    tiles = []
    for k, ph in enumerate(PHASE_NAMES):
        row = []
        for j, zz in enumerate(PNG_SYNTH_Z):
            p = patient_params(seed, 900_000 + j)
            s = SeriesParams.draw(np.random.default_rng([seed, j, k]), p, phase=ph)
            s.streaks = False
            syn = render_slices(p, s, np.array([zz * p.height]), 512)[0]
            t = "" if s.seconds_after_injection is None else f", {s.seconds_after_injection:.0f} s"
            row.append(_win(syn, f"synthetic {ph} ({s.subphase}{t})"))
        reals = [r for r in PNG_REAL[ph] if (REALDATA / r[0]).is_dir()]
        for folder, zz, src in reals:
            vol, z, _ = load_real(REALDATA / folder)
            row.append(_win(vol[int(np.argmin(np.abs(z - zz)))], f"real {ph}: {src}"))
        while len(row) < len(PNG_SYNTH_Z) + 2:
            blank = np.zeros((256, 256), np.uint8)
            cv2.putText(blank, "no openly licensed real", (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 200, 1)
            cv2.putText(blank, f"'{ph}' series here", (20, 140), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 200, 1)
            row.append(blank)
        tiles.append(np.hstack(row))
    img = np.vstack(tiles)
    cap = np.zeros((44, img.shape[1]), np.uint8)
    cv2.putText(cap, "window 50/400; columns 1-3 synthetic (3 patients), 4-5 real. Real: Moawad et al., HCC-TACE-Seg, TCIA "
                "doi:10.7937/TCIA.5FNA-0924, CC BY 4.0;", (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.36, 255, 1)
    cv2.putText(cap, "TotalSegmentator test data (github.com/wasserth/TotalSegmentator, Apache-2.0), Wasserthal et al., "
                "Radiology: AI 2023", (4, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.36, 255, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([img, cap]), [cv2.IMWRITE_PNG_COMPRESSION, 9])


# the grain at the network's input scale: organ -> engine tissue (liver and spleen share a level at 0.9 height)
GRAIN_TISSUES = {"liver": Tissue.LIVER, "spleen": Tissue.SPLEEN}
GRAIN_Z = -90.0  # x height
NET_SIZE = 224


def synth_grain(n_patients: int, seed: int, condition: str | None = None, size: int = NET_SIZE) -> dict[str, list[float]]:
    """Per organ, each synthetic venous patient's HU standard deviation inside it (eroded by two
    pixels) on one slice rendered at the network's input size; ``condition`` (e.g. ``"pet_ct"``) is
    applied to the drawn patient and series as the engine applies it."""
    from ctphase.synth.conditions import CONDITIONS

    out: dict[str, list[float]] = {t: [] for t in GRAIN_TISSUES}
    k = np.ones((5, 5), np.uint8)
    for i in range(n_patients):
        p = patient_params(seed, 900_000 + i)
        s = SeriesParams.draw(np.random.default_rng([seed, i, 3]), p, phase="venous")
        if condition is not None:
            CONDITIONS[condition].apply(np.random.default_rng([seed, i, 4]), p, s)
        s.streaks = False
        hu, m = render_slices(p, s, np.array([GRAIN_Z * p.height]), size, return_masks=True)
        for name, tissue in GRAIN_TISSUES.items():
            mask = cv2.erode((m[0] == tissue).astype(np.uint8), k).astype(bool)
            if mask.sum() > 10:
                out[name].append(float(np.std(hu[0][mask])))
    return out


def real_grain() -> dict[str, dict[str, float]]:
    """Per real series with liver or spleen ROIs, their HU standard deviation on the ROI's slice
    resized to the network's input size as ctphase resizes (:func:`ctphase.preprocessing.resize`);
    a hand-placed disc holds vessels and lesions as well as noise, so this is an upper bound."""
    from ctphase.preprocessing import resize

    out: dict[str, dict[str, float]] = {}
    for folder, rois in REAL_ROIS.items():
        tissues = [t for t in GRAIN_TISSUES if t in rois]
        if tissues:
            vol, z, _ = load_real(REALDATA / folder)
            out[folder] = {}
            for t in tissues:
                im = vol[roi_slice(z, rois[t])]
                f = NET_SIZE / im.shape[1]
                _, c, r, rad = rois[t]
                out[folder][t] = float(np.std(disc(resize(im, NET_SIZE), c * f, r * f, max(2.0, rad * f))))
    return out


def print_grain(n_patients: int, seed: int, real: dict[str, dict[str, float]] | None) -> None:
    """The HU standard deviation in liver and spleen at the network's input size: synthetic venous
    patients without and with the PET/CT condition, then each real series."""
    print(f"\ngrain at {NET_SIZE} px (HU standard deviation inside the organ): synthetic venous p10 / p50 / p90 | real")
    for cond in (None, "pet_ct"):
        g = synth_grain(n_patients, seed, cond)
        cells = "  ".join(t + " " + " / ".join(f"{x:.1f}" for x in np.percentile(v, [10, 50, 90])) for t, v in g.items() if v)
        print(f"  synthetic, {cond or 'no condition':<13} {cells}")
    for folder, d in (real or {}).items():
        print(f"  real {folder}: " + "  ".join(f"{t} {v:.1f}" for t, v in d.items()))


def _cue(table: dict[str, float] | None, cue: str) -> float | None:
    a, b = CUES[cue]
    if not table or a not in table or (b is not None and b not in table):
        return None
    return table[a] - (table[b] if b is not None else 0.0)


def print_cue_spread(per_patient: dict[str, list[dict[str, float]]], series: dict[str, dict[str, float]] | None) -> None:
    """Each cue's spread per phase: synthetic patients' 10th / 50th / 90th percentiles, and every
    real series that holds both of its ROIs (a phase's pooled medians can mix series)."""
    print("\ncue spread per phase: synthetic patients p10 / p50 / p90 | each real series with both ROIs")
    for c in CUES:
        for ph in PHASE_NAMES:
            sv = [v for p in per_patient.get(ph, []) if (v := _cue(p, c)) is not None]
            rv = [] if series is None else [f"{f}: {v:.0f}" for f, s in series.items()
                                           if REAL_PHASE[f] == ph and (v := _cue(s, c)) is not None]
            if sv or rv:
                q = "-" if not sv else " / ".join(f"{x:.0f}" for x in np.percentile(sv, [10, 50, 90]))
                print(f"{c:<15}{ph:<13}{q:>18} | {', '.join(rv) or '-'}")


def print_cues(by_sub: dict[str, dict[str, float]], by_phase: dict[str, dict[str, float]],
               real: dict[str, dict[str, float]] | None) -> None:
    """The cues (HU differences) per synthetic subphase, then per phase synthetic | real."""
    print("\ncues where the classes meet (HU; a - b of the medians above): synthetic, per subphase")
    print(f"{'subphase':<15}" + "".join(f"{c:>16}" for c in CUES))
    for sub in SUBPHASE_NAMES:
        vals = [_cue(by_sub.get(sub), c) for c in CUES]
        print(f"{sub:<15}" + "".join(f"{'-' if v is None else f'{v:.0f}':>16}" for v in vals))
    print("per phase: synthetic | real (hand-placed ROIs; '-' where none)")
    print(f"{'phase':<15}" + "".join(f"{c:>16}" for c in CUES))
    for ph in PHASE_NAMES:
        cells = []
        for c in CUES:
            sv, rv = _cue(by_phase.get(ph), c), _cue(None if real is None else real.get(ph), c)
            cell = ("-" if sv is None else f"{sv:.0f}") + ("" if real is None else " | " + ("-" if rv is None else f"{rv:.0f}"))
            cells.append(f"{cell:>16}")
        print(f"{ph:<15}" + "".join(cells))


def _win(hu: np.ndarray, label: str) -> np.ndarray:
    im = (np.clip((hu + 150) / 400, 0, 1) * 255).astype(np.uint8)
    im = cv2.resize(im, (256, 256), interpolation=cv2.INTER_AREA)
    cv2.putText(im, label, (4, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.3, 255, 1)
    return im


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", type=Path, default=None)
    args = ap.parse_args()
    per_patient = synth_patients(args.patients, args.seed)
    syn = phase_medians(per_patient)
    series = real_series() if has_labels(REALDATA) else None
    real = None if series is None else real_table(series)
    if real is None:
        print(f"(real data not found at {REALDATA}: synthetic columns only)")
    print(f"median HU: synthetic ({args.patients} patients, engine masks) | real (hand-placed ROIs)")
    print(f"{'phase':<13}" + "".join(f"{t:>22}" for t in TISSUES))
    for ph in PHASE_NAMES:
        cells = []
        for t in TISSUES:
            sv = syn.get(ph, {}).get(t)
            rv = None if real is None else real.get(ph, {}).get(t)
            a = "-" if sv is None else f"{sv:.0f}"
            b = "" if real is None else (" | -" if rv is None else f" | {rv:.0f}")
            cells.append(f"{a + b:>22}")
        print(f"{ph:<13}" + "".join(cells))
    print_cues(phase_medians(synth_patients(args.patients, args.seed, by_subphase=True)), syn, real)
    print_cue_spread(per_patient, series)
    print_stomach_pools(synth_stomach_pools(max(args.patients, 40), args.seed), None if real is None else real_stomach_pools())
    print_food(synth_food(args.patients, args.seed), None if real is None else real_food(), args.patients)
    print_grain(max(args.patients, 12), args.seed, None if real is None else real_grain())
    if args.png:
        write_png(args.png, args.seed)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
