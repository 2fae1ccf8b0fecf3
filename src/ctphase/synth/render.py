"""Rendering: anatomy + physiology + scanner -> HU slices (and tissue label masks) at any size."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from . import scanner, textures
from .anatomy import Anatomy
from .patient import PatientParams
from .physiology import tissue_tables
from .series import SeriesParams
from .shapes import Canvas
from .tissues import Tissue as T

F32 = np.float32
_CACHE: OrderedDict[int, tuple[PatientParams, Anatomy]] = OrderedDict()


def anatomy_of(patient: PatientParams) -> Anatomy:
    """The (cached) :class:`Anatomy` of ``patient``."""
    key = id(patient)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is patient:
        _CACHE.move_to_end(key)
        return hit[1]
    anat = Anatomy(patient)
    _CACHE[key] = (patient, anat)
    while len(_CACHE) > 16:
        _CACHE.popitem(last=False)
    return anat


def render_slices(
    patient: PatientParams,
    series: SeriesParams,
    z_mm: np.ndarray,
    size: int,
    fov_mm: float | None = None,
    *,
    return_masks: bool = False,
    sub_slices: int | None = None,
    noise: bool = True,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render axial slices of one series directly at ``size x size``.

    Args:
        patient, series: the drawn parameters.
        z_mm: anatomical z of each slice centre (mm, 0 = right hemidiaphragm, superior positive).
        size: output matrix (pixels).
        fov_mm: field of view; default the series' ``pixel_spacing * matrix`` (what a real
            512 image covers), so a 224 render matches a real slice resized to 224.
        return_masks: also return ``(len(z), size, size)`` uint8 :class:`~ctphase.synth.tissues.Tissue`
            labels of the slice centre (before blur and noise).
        sub_slices: z samples averaged per slice for partial volume; default from the thickness
            (1 for <= 1.5 mm ... 4 for 5 mm).
        noise: add noise and streaks (False gives the noiseless, blurred image).
    Returns:
        ``(len(z), size, size)`` float32 HU, with the padding value outside the reconstruction circle.
    """
    z_mm = np.atleast_1d(np.asarray(z_mm, dtype=np.float64))
    plan = _plan(patient, series, len(z_mm), size, fov_mm, sub_slices, noise)
    cv = plan.cv
    out = np.empty((len(z_mm), size, size), F32)
    masks = np.empty((len(z_mm), size, size), np.uint8) if return_masks else None
    outside = scanner.circle_mask(cv.xs, cv.ys, (series.center_x, series.center_y), series.fov_mm / 2) if series.circle else None
    pad = float(series.padding_hu) if series.padding_hu is not None else -1024.0
    for i, z in enumerate(z_mm):
        z = float(z)
        tx = textures.sample_stack(cv.xs, cv.ys, z, plan.anat.tex_off)
        tex = F32(0.55) * tx[..., 0] + F32(0.85) * tx[..., 1]  # fine + medium texture
        hu, lab = _labels_and_hu(plan, z, tx, size)
        if masks is not None:
            masks[i] = lab
        if plan.pv_sig > 0.3:
            # partial volume at organ boundaries: oblique surfaces cut by a thick slice (and the
            # nearest-upsampled label map of the fast path) give soft 1-2 px edges
            hu = cv2.GaussianBlur(hu, (0, 0), sigmaX=plan.pv_sig, borderType=cv2.BORDER_REFLECT)
        hu += plan.tex_amp[lab] * tex
        _special(hu, lab, cv, z, plan.extra, tx, plan.lut, plan.anat)
        hu = scanner.psf_blur(hu, series, cv.px)
        if noise:
            _add_noise(hu, lab, plan, patient, series, z, size)
        if outside is not None:
            hu[outside] = pad
        out[i] = hu
    return (out, masks) if return_masks else out


@dataclass
class _Plan:
    """What stays fixed over one :func:`render_slices` call."""

    anat: Anatomy
    cv: Canvas  # output canvas
    pcv: Canvas  # canvas the labels are painted on (coarser on the fast path, else ``cv``)
    lut: np.ndarray  # HU per tissue
    tex_amp: np.ndarray  # texture amplitude per tissue
    extra: dict  # scalar effects of :func:`~ctphase.synth.physiology.tissue_tables`
    n_sub: int  # z sub-slices averaged per slice
    dz: np.ndarray  # their z offsets from the slice centre (mm)
    pv_sig: float  # in-plane blur (px) standing in for z partial volume when n_sub == 1
    bank: np.ndarray | None  # one noise field per call, cropped per slice (fast path)


def _plan(patient: PatientParams, series: SeriesParams, n_slices: int, size: int, fov_mm: float | None,
          sub_slices: int | None, noise: bool) -> _Plan:
    """Canvases, lookup tables, sub-slice offsets and the noise bank of one call."""
    anat = anatomy_of(patient)
    fov = float(fov_mm) if fov_mm is not None else series.fov_mm
    cv = Canvas(size, fov, (series.center_x, series.center_y))
    px = cv.px
    lut, tex_amp, extra = tissue_tables(patient, series)
    if sub_slices is not None:
        n_sub = int(sub_slices)
    elif size <= 320:  # training fast path: z partial volume approximated by a wider in-plane blur
        n_sub = 1
    else:
        n_sub = int(np.clip(round(series.slice_thickness / 1.5), 1, 4))
    # fast path: paint the label map at ~0.6x and upsample it (nearest); HU, textures, blur and
    # noise stay at full resolution
    psize = size if (size > 320 or not noise or size < 96) else max(96, int(round(size * 0.6)))
    pcv = cv if psize == size else Canvas(psize, fov, (series.center_x, series.center_y))
    # in-plane width (px) of the z partial-volume edge (sub-slices model it explicitly at > 320 px)
    pv_sig = 0.22 * series.slice_thickness / px if n_sub == 1 else 0.0
    bank = None
    if noise and size <= 320 and n_slices > 1:
        # fast path: one correlated noise field per call, random crops per slice
        brng = np.random.default_rng([series.noise_seed, patient.shape_seed, n_slices, size, 7])
        bank = scanner.noise_field(brng, (2 * size, 2 * size), series, px)
    dz = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * series.slice_thickness
    return _Plan(anat, cv, pcv, lut, tex_amp, extra, n_sub, dz, pv_sig, bank)


def _labels_and_hu(plan: _Plan, z: float, tx: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless HU (mean over the z sub-slices) and the labels of the middle sub-slice at ``z``."""
    cv, pcv, lut, n_sub = plan.cv, plan.pcv, plan.lut, plan.n_sub
    psize = pcv.size
    acc = None
    mid = n_sub // 2
    ptx = tx if pcv is cv else cv2.resize(tx, (psize, psize), interpolation=cv2.INTER_NEAREST)
    for k, dz in enumerate(plan.dz):
        lab = plan.anat.paint(pcv, z + float(dz), plan.extra["bladder_contrast"], ptx[..., 1], ptx)
        if pcv is not cv:
            # HU from the coarse label map upsampled linearly (soft edges, no stair steps);
            # labels nearest
            hu = cv2.resize(lut[lab], (size, size), interpolation=cv2.INTER_LINEAR)
            lab = cv2.resize(lab, (size, size), interpolation=cv2.INTER_NEAREST)
        else:
            hu = lut[lab]
        acc = hu if acc is None else acc + hu
        if k == mid:
            lab_mid = lab.copy() if n_sub > 1 else lab
    hu = acc * F32(1.0 / n_sub) if n_sub > 1 else acc
    return hu, lab_mid


def _add_noise(hu: np.ndarray, lab: np.ndarray, plan: _Plan, patient: PatientParams, series: SeriesParams,
               z: float, size: int) -> None:
    """Add correlated noise (a crop of the noise bank, or a fresh field) and streaks, in place."""
    rng = np.random.default_rng([series.noise_seed, patient.shape_seed, int(round(z * 1000)) & 0x7FFFFFFF, size])
    if plan.bank is not None:
        r0, c0 = rng.integers(0, size, 2)
        nz = plan.bank[r0:r0 + size, c0:c0 + size]
        if rng.random() < 0.5:
            nz = nz[::-1]
        hu += nz.T if rng.random() < 0.5 else nz
    else:
        hu += scanner.noise_field(rng, hu.shape, series, plan.cv.px)
    if series.streaks or (lab == T.METAL).any():
        _streaks(hu, lab, plan.cv, plan.anat, z, rng, series)


def _special(hu: np.ndarray, lab: np.ndarray, cv: Canvas, z: float, extra: dict, tx: np.ndarray, lut: np.ndarray,
             anat: Anatomy) -> None:
    """Tissue-specific texture effects: spleen arciform enhancement, IVC mixing, stool, food, liver perfusion,
    fat septa, mesenteric vessels."""
    if extra["spleen_het"] > 1:
        m = lab == T.SPLEEN
        if m.any():
            hu[m] += F32(extra["spleen_het"]) * tx[..., 3][m]
    if extra["ivc_mix"] > 1:
        m = lab == T.IVC_INFRARENAL
        if m.any():
            hu[m] += F32(extra["ivc_mix"]) * tx[..., 2][m]
    m = lab == T.FECES
    if m.any():
        v = F32(0.6) * tx[..., 0] + tx[..., 1] - F32(0.5) * tx[..., 2]  # irregular gas bubbles of mixed size
        bub = m & (v > 1.6)
        hu[bub] = F32(-900) + F32(80) * tx[..., 0][bub]
    m = lab == T.GASTRIC_FOOD
    if m.any():  # a meal: lumps, fat, fewer and smaller bubbles than stool, a few dense flecks
        hu[m] += F32(35) * tx[..., 2][m]
        fat = m & (tx[..., 2] < F32(-1.15))
        hu[fat] = F32(-75) + F32(15) * tx[..., 0][fat]
        bub = m & (F32(0.7) * tx[..., 0] + tx[..., 1] > 2.2)
        hu[bub] = F32(-850) + F32(100) * tx[..., 0][bub]
        fleck = m & ~bub & (F32(0.8) * tx[..., 0] - tx[..., 1] > 2.7)
        hu[fleck] += F32(160)
    m = lab == T.LIVER
    if m.any():
        hu[m] += F32(3.0) * tx[..., 2][m]
    # mesenteric arcades: thin vessels (arcs of the banded field, broken into segments) and
    # vessels cut across (blobs of the medium field) in the visceral fat in front of the spine;
    # arteries and veins (portal tributaries) enhance with their own curves
    h = anat.h
    if -330 * h < z < -95 * h:
        dens = anat.body.vessel_density * float(np.interp(z, [-330 * h, -260 * h, -130 * h, -95 * h], [0.3, 1.0, 1.0, 0.5]))
        r1 = int(np.searchsorted(cv.ys, anat.spine_y(z) - 8))
        if r1 > 0:
            t3 = tx[:r1, :, 3]
            t1 = tx[:r1, :, 1]
            k = F32(12.0 / dens)
            cand = (np.abs(t3) < F32(1.0) / k) | (t1 > F32(2.5))
            cand &= lab[:r1] == T.FAT_VISCERAL
            if cand.any():
                rr, cc = np.nonzero(cand)
                b3, b1, b0 = t3[rr, cc], t1[rr, cc], tx[rr, cc, 2]
                w = np.maximum(F32(0.0), F32(1.0) - np.abs(b3) * k) * (b0 > F32(-0.35))
                w = np.maximum(w, np.clip((b1 - F32(2.5)) * F32(3.0), 0, 1))
                blood = np.where(b0 > F32(0.4), lut[T.ARTERY], lut[T.PORTAL_VEIN]) - lut[T.FAT_VISCERAL]
                hu[rr, cc] += w * blood.astype(F32)
    # thin fibrous septa in subcutaneous fat (level lines of the coarse field)
    t2 = tx[..., 2]
    cand = (np.abs(t2) < F32(1.0 / 14.0)) & (lab == T.FAT_SC)
    if cand.any():
        rr, cc = np.nonzero(cand)
        hu[rr, cc] += F32(55.0) * (F32(1.0) - np.abs(t2[rr, cc]) * F32(14.0)) * (tx[rr, cc, 1] > -0.3)


def _streaks(hu: np.ndarray, lab: np.ndarray, cv: Canvas, anat: Anatomy, z: float, rng: np.random.Generator,
             series: SeriesParams) -> None:
    sources = []
    rr, cc = np.nonzero(lab == T.METAL)
    if rr.size:
        for j in rng.choice(rr.size, size=min(3, rr.size), replace=False):
            sources.append((float(cv.xs[cc[j]]), float(cv.ys[rr[j]]), float(rng.uniform(150, 450))))
    if series.streaks:
        rr, cc = np.nonzero(lab == T.ORAL_CONTRAST)
        if rr.size > 50 and rng.random() < 0.5:
            j = int(rng.integers(rr.size))
            sources.append((float(cv.xs[cc[j]]), float(cv.ys[rr[j]]), float(rng.uniform(20, 60))))
        fh = anat.pelvis.fem_head
        if abs(z - fh[0][2]) < anat.pelvis.head_r:
            hu += scanner.band(cv.xs, cv.ys, (fh[0][0], fh[0][1]), (fh[1][0], fh[1][1]), -rng.uniform(25, 70), rng.uniform(3, 8))
        elif -40 < z < 160 * anat.h and rng.random() < 0.5:
            ys = anat.spine_y(z)
            hu += scanner.band(cv.xs, cv.ys, (-150.0, ys - 10), (150.0, ys - 10), -rng.uniform(10, 30), rng.uniform(3, 6))
    if sources:
        hu += scanner.streaks(rng, hu.shape, cv.xs, cv.ys, sources, n_lines=int(rng.integers(6, 14)))
