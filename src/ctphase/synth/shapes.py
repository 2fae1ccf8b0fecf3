"""Implicit shape primitives evaluated on one axial slice, only inside their bounding box.

Coordinates are millimetres in the patient frame of DICOM (LPS): ``x`` grows to the patient's
left, ``y`` to posterior, ``z`` to superior. A :class:`Canvas` is one axial slice sampled on a
square pixel grid; primitives return a bounding box (row/column slices) plus a normalised
"radius" array on that box, so callers can threshold it, build rims, or paint sub-structures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

F32 = np.float32


class Canvas:
    """One axial slice: pixel centres ``xs`` (columns) and ``ys`` (rows) in mm, plus a label map."""

    def __init__(self, size: int, fov_mm: float, center_xy: tuple[float, float] = (0.0, 0.0)) -> None:
        self.size = int(size)
        self.px = float(fov_mm) / self.size
        self.x0 = center_xy[0] - fov_mm / 2.0 + self.px / 2.0
        self.y0 = center_xy[1] - fov_mm / 2.0 + self.px / 2.0
        self.xs = (self.x0 + np.arange(self.size, dtype=F32) * F32(self.px)).astype(F32)
        self.ys = (self.y0 + np.arange(self.size, dtype=F32) * F32(self.px)).astype(F32)
        self.lab = np.zeros((self.size, self.size), dtype=np.uint8)

    def box(self, xmin: float, xmax: float, ymin: float, ymax: float) -> tuple[slice, slice] | None:
        """Row/column slices covering ``[xmin, xmax] x [ymin, ymax]``, or None when off-canvas."""
        inv = 1.0 / self.px
        c0 = max(0, int((xmin - self.x0) * inv))
        c1 = min(self.size, int((xmax - self.x0) * inv) + 2)
        r0 = max(0, int((ymin - self.y0) * inv))
        r1 = min(self.size, int((ymax - self.y0) * inv) + 2)
        if c1 <= c0 or r1 <= r0:
            return None
        return slice(r0, r1), slice(c0, c1)

    def grid(self, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """Broadcastable ``X (1, w)`` and ``Y (h, 1)`` coordinates of a box."""
        rs, cs = box
        return self.xs[None, cs], self.ys[rs, None]

    def paint(self, box: tuple[slice, slice], mask: np.ndarray, label: int, where: np.ndarray | None = None) -> None:
        """Set ``label`` where ``mask`` (and, if given, ``where``: a mask of the same box) hold."""
        sub = self.lab[box]
        if where is not None:
            mask = mask & where
        sub[mask] = label

    def paint_if(self, box: tuple[slice, slice], mask: np.ndarray, label: int, allowed: tuple[int, ...]) -> None:
        """Set ``label`` where ``mask`` holds and the current label is one of ``allowed``."""
        sub = self.lab[box]
        sub[mask & _allowed_lut(allowed)[sub]] = label


_LUTS: dict[tuple[int, ...], np.ndarray] = {}


def _allowed_lut(allowed: tuple[int, ...]) -> np.ndarray:
    lut = _LUTS.get(allowed)
    if lut is None:
        lut = np.zeros(256, bool)
        lut[list(allowed)] = True
        _LUTS[allowed] = lut
    return lut


_ANG = np.linspace(0, 2 * np.pi, 256, endpoint=False)
_K = np.arange(2, 12)[:, None]


@dataclass
class Wobble:
    """Smooth radial deformation ``1 + sum_k a_k cos(k theta + phi_k + w_k z)`` of a cross-section."""

    amp: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))
    phase: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))
    freq: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))

    @classmethod
    def draw(cls, rng: np.random.Generator, strength: float, kmax: int = 5) -> Wobble:
        """Random harmonics 2..``kmax`` with amplitudes ~ ``strength / k^1.1``."""
        k = np.arange(2, kmax + 1)
        amp = (strength * rng.uniform(0.3, 1.0, len(k)) / k**1.1).astype(F32)
        return cls(amp, rng.uniform(0, 2 * np.pi, len(k)).astype(F32), rng.uniform(-0.02, 0.02, len(k)).astype(F32))

    def factor(self, u: np.ndarray, v: np.ndarray, z: float) -> np.ndarray:
        """Radial scale factor at local (normalised) coordinates ``u, v`` (angle LUT, 256 bins)."""
        if self.amp.size == 0:
            return np.ones(np.broadcast_shapes(u.shape, v.shape), F32)
        zk = round(float(z))
        cache = self.__dict__.setdefault("_lut", {})
        lut = cache.get(zk)
        if lut is None:
            k = _K[: self.amp.size]
            lut = (1 + (self.amp[:, None] * np.cos(k * _ANG[None] + (self.phase + self.freq * zk)[:, None])).sum(0)).astype(F32)
            if len(cache) > 4096:
                cache.clear()
            cache[zk] = lut
        idx = (np.arctan2(v, u) * F32(256 / (2 * np.pi))).astype(np.int32) & 255
        return lut[idx]


def ellipse_q(
    cv: Canvas,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    ang: float = 0.0,
    wob: Wobble | None = None,
    z: float = 0.0,
    margin: float = 1.35,
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """Normalised radius ``q`` (``< 1`` inside) of a rotated, wobbled ellipse on its bounding box.

    Returns ``(box, q, u, v)`` with ``u, v`` the rotated local coordinates divided by the radii.
    """
    if rx <= 0 or ry <= 0:
        return None
    r = max(rx, ry) * margin
    box = cv.box(cx - r, cx + r, cy - r, cy + r)
    if box is None:
        return None
    X, Y = cv.grid(box)
    X = X - F32(cx)
    Y = Y - F32(cy)
    if ang:
        c, s = F32(np.cos(ang)), F32(np.sin(ang))
        u = (X * c + Y * s) * F32(1.0 / rx)
        v = (Y * c - X * s) * F32(1.0 / ry)
    else:
        u = np.broadcast_to(X * F32(1.0 / rx), (Y.shape[0], X.shape[1]))
        v = np.broadcast_to(Y * F32(1.0 / ry), (Y.shape[0], X.shape[1]))
    q = np.sqrt(u * u + v * v)
    if wob is not None and wob.amp.size:
        # the deformation only matters near the outline: evaluate it there
        a = float(np.abs(wob.amp).sum()) + 0.02
        band = (q > 1 - a) & (q < 1 + a)
        qb = q[band]
        q[band] = qb / wob.factor(u[band], v[band], z)
    return box, q, u, v


def superellipse_q(
    cv: Canvas, cx: float, cy: float, rx: float, ry_ant: float, ry_post: float, p_ant: float, p_post: float,
    wob: Wobble | None = None, z: float = 0.0,
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Body-outline shape: superellipse with separate anterior/posterior half-heights and exponents."""
    r = max(rx, ry_ant, ry_post) * 1.3
    box = cv.box(cx - r, cx + r, cy - r, cy + r)
    if box is None:
        return None
    X, Y = cv.grid(box)
    u = np.abs(X - F32(cx)) * F32(1.0 / rx)
    dy = Y - F32(cy)
    post = dy > 0
    v = np.where(post, dy * F32(1.0 / ry_post), -dy * F32(1.0 / ry_ant))
    u2 = u * u
    v2 = v * v
    # anterior: superellipse with exponent p_ant (2 = ellipse); posterior: flatter back (p=3, lying on the table)
    if abs(p_ant - 2.0) < 1e-3:
        qa = np.sqrt(u2 + v2)
    else:
        e = F32(p_ant / 2)
        qa = (u2**e + v2**e) ** F32(1 / p_ant)
    q = np.where(post, np.cbrt(u2 * u + v2 * v), qa).astype(F32)
    if wob is not None and wob.amp.size:
        a = float(np.abs(wob.amp).sum()) + 0.02
        band = (q > 1 - a) & (q < 1 + a)
        Xb = np.broadcast_to(X - F32(cx), q.shape)[band]
        q[band] = q[band] / wob.factor(Xb, np.broadcast_to(dy, q.shape)[band], z)
    return box, q


def segment_q(
    cv: Canvas, z: float, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """Distance field of a 3D capsule (cone frustum with round ends) cut by the plane at ``z``.

    Returns ``(box, rho, t, dy)``: ``rho`` = distance / local radius (``< 1`` inside), ``t`` the
    position along the axis (0..1) and ``dy`` the y offset from the axis (for fluid levels).
    """
    d = p1 - p0
    rmax = max(r0, r1)
    dz = d[2]
    # part of the axis within |z_axis - z| <= rmax, to bound the box
    if abs(dz) > 1e-6:
        ta = (z - rmax - p0[2]) / dz
        tb = (z + rmax - p0[2]) / dz
        lo, hi = max(0.0, min(ta, tb)), min(1.0, max(ta, tb))
        if lo > hi:
            return None
    else:
        if abs(z - p0[2]) > rmax:
            return None
        lo, hi = 0.0, 1.0
    xa, xb = p0[0] + lo * d[0], p0[0] + hi * d[0]
    ya, yb = p0[1] + lo * d[1], p0[1] + hi * d[1]
    box = cv.box(min(xa, xb) - rmax, max(xa, xb) + rmax, min(ya, yb) - rmax, max(ya, yb) + rmax)
    if box is None:
        return None
    X, Y = cv.grid(box)
    wx = X - F32(p0[0])
    wy = Y - F32(p0[1])
    wz = F32(z - p0[2])
    dd = float(d @ d) or 1e-6
    t = (wx * F32(d[0]) + wy * F32(d[1]) + wz * F32(d[2])) * F32(1.0 / dd)
    t = np.clip(t, 0.0, 1.0)
    ex = wx - t * F32(d[0])
    ey = wy - t * F32(d[1])
    ez = wz - t * F32(d[2])
    rad = F32(r0) + t * F32(r1 - r0)
    rho = np.sqrt(ex * ex + ey * ey + ez * ez) / np.maximum(rad, F32(1e-3))
    return box, rho, t, ey


def bar_q(
    cv: Canvas, a: tuple[float, float], b: tuple[float, float], r: float
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """2D stadium (segment ``a``-``b`` thickened by ``r``) in the slice plane: ``rho < 1`` inside."""
    box = cv.box(min(a[0], b[0]) - r, max(a[0], b[0]) + r, min(a[1], b[1]) - r, max(a[1], b[1]) + r)
    if box is None or r <= 0:
        return None
    X, Y = cv.grid(box)
    dx, dy = b[0] - a[0], b[1] - a[1]
    dd = dx * dx + dy * dy or 1e-6
    wx = X - F32(a[0])
    wy = Y - F32(a[1])
    t = np.clip((wx * F32(dx) + wy * F32(dy)) * F32(1.0 / dd), 0.0, 1.0)
    ex = wx - t * F32(dx)
    ey = wy - t * F32(dy)
    return box, np.sqrt(ex * ex + ey * ey) * F32(1.0 / r)


@dataclass
class Tube:
    """A structure whose axial cross-section is an ellipse interpolated between z control points.

    ``ctrl`` rows are ``(z, cx, cy, rx, ry, angle)`` with z ascending; the structure is absent
    outside ``[z_first, z_last]``.
    """

    ctrl: np.ndarray
    wob: Wobble | None = None

    def __post_init__(self) -> None:
        self.ctrl = np.asarray(self.ctrl, dtype=np.float64)
        order = np.argsort(self.ctrl[:, 0])
        self.ctrl = self.ctrl[order]

    def at(self, z: float) -> tuple[float, float, float, float, float] | None:
        """``(cx, cy, rx, ry, angle)`` at ``z`` or None outside the z range."""
        c = self.ctrl
        if z < c[0, 0] or z > c[-1, 0]:
            return None
        i = int(np.searchsorted(c[:, 0], z))
        if i == 0:
            row = c[0]
        else:
            z0, z1 = c[i - 1, 0], c[i, 0]
            w = (z - z0) / (z1 - z0) if z1 > z0 else 0.0
            row = c[i - 1] * (1 - w) + c[i] * w
        return float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5])

    def q(self, cv: Canvas, z: float, grow: float = 0.0, margin: float = 1.35
          ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
        """:func:`ellipse_q` of the section at ``z`` (radii grown by ``grow`` mm), or None."""
        p = self.at(z)
        if p is None:
            return None
        cx, cy, rx, ry, ang = p
        return ellipse_q(cv, cx, cy, rx + grow, ry + grow, ang, self.wob, z, margin)


def ellipsoid_tube(
    center: tuple[float, float, float], radii: tuple[float, float, float], ang: float = 0.0,
    drift: tuple[float, float] = (0.0, 0.0), n: int = 9, wob: Wobble | None = None,
) -> Tube:
    """A :class:`Tube` approximating an ellipsoid (optionally with centre drifting along z)."""
    cx, cy, cz = center
    rx, ry, rz = radii
    s = np.linspace(-1, 1, n)
    prof = np.sqrt(np.clip(1 - s**2, 0, 1))
    prof[0] = prof[-1] = 0.05
    rows = [
        (cz + si * rz, cx + drift[0] * si, cy + drift[1] * si, rx * pi, ry * pi, ang) for si, pi in zip(s, prof)
    ]
    return Tube(np.array(rows), wob)


@dataclass
class Chain:
    """A polyline of 3D capsules: vessels, bowel, ureters. ``pts`` (n, 3) mm, ``radii`` (n,) mm."""

    pts: np.ndarray
    radii: np.ndarray

    def __post_init__(self) -> None:
        self.pts = np.asarray(self.pts, dtype=np.float64)
        self.radii = np.broadcast_to(np.asarray(self.radii, dtype=np.float64), (len(self.pts),)).copy()
        r = self.radii.max()
        self.zlo = float(self.pts[:, 2].min() - r)
        self.zhi = float(self.pts[:, 2].max() + r)
        seg_lo = np.minimum(self.pts[:-1, 2], self.pts[1:, 2]) - np.maximum(self.radii[:-1], self.radii[1:])
        seg_hi = np.maximum(self.pts[:-1, 2], self.pts[1:, 2]) + np.maximum(self.radii[:-1], self.radii[1:])
        self.seg_lo, self.seg_hi = seg_lo, seg_hi

    def segments(self, z: float) -> Iterator[tuple[int, np.ndarray, np.ndarray, float, float]]:
        """Yield ``(i, p0, p1, r0, r1)`` for segments that may cut the plane at ``z``."""
        if z < self.zlo or z > self.zhi:
            return
        for i in np.nonzero((self.seg_lo <= z) & (self.seg_hi >= z))[0]:
            yield int(i), self.pts[i], self.pts[i + 1], float(self.radii[i]), float(self.radii[i + 1])


def paint_chain(cv: Canvas, z: float, ch: Chain, label: int, wall: float = 0.0, wall_label: int = 0,
                allowed: tuple[int, ...] | None = None) -> None:
    """Paint the section of ``ch`` at ``z`` as ``label``.

    With ``wall`` (mm) the capsules grow by ``wall`` painted as ``wall_label`` around the lumen;
    with ``allowed`` only pixels currently labelled one of ``allowed`` are painted.
    """
    for i, p0, p1, r0, r1 in ch.segments(z):
        r = segment_q(cv, z, p0, p1, r0 + wall, r1 + wall)
        if r is None:
            continue
        box, rho, t, _ = r
        if wall:
            rad = r0 + wall + t * (r1 - r0)
            cv.paint(box, rho < 1, wall_label)
            inner = rho * rad < rad - wall
            cv.paint(box, inner, label)
        elif allowed is not None:
            cv.paint_if(box, rho < 1, label, allowed)
        else:
            cv.paint(box, rho < 1, label)
