"""Small raster drawing kit for the procedural example character.

Shapes are curves sampled into polygons (canvas pixels, origin top-left, y down). A
:class:`Sheet` is one layer being painted: a supersampled, premultiplied RGBA buffer over a box of
the canvas. Coverage masks are drawn at the supersampled resolution and the finished sheet is
box-filtered down, which gives clean anti-aliased edges; keeping the buffer premultiplied until
the very end makes the straight-alpha result free of dark fringes (a half-covered edge pixel keeps
the colour of the paint on it).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Color = tuple[int, int, int]
Points = np.ndarray  # (n, 2) float, canvas pixels

SUPERSAMPLE = 2          # linear supersampling factor of every sheet
_SHIFT = 4               # fixed-point fraction bits for cv2 polygon vertices (1/16 pixel)


# ------------------------------------------------------------------------------------ curves

def catmull_rom(points: Sequence, samples: int = 12, closed: bool = False) -> Points:
    """Points sampled along a centripetal Catmull-Rom spline through ``points``.

    Centripetal parametrisation never overshoots into loops or cusps when control points are
    unevenly spaced, which keeps hand-placed outlines well behaved.
    """
    p = np.asarray(points, np.float64)
    if len(p) < 2:
        return p.copy()
    if closed:
        ext = np.vstack([p[-1], p, p[0], p[1]])
    else:
        ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    n = len(ext) - 3
    p0, p1, p2, p3 = (ext[i:i + n, None, :] for i in range(4))     # (segments, 1, 2)
    knot = np.linalg.norm(np.diff(ext, axis=0), axis=1) ** 0.5 + 1e-9
    t1 = knot[:n, None, None]
    t2 = t1 + knot[1:n + 1, None, None]
    t3 = t2 + knot[2:n + 2, None, None]
    t = t1 + (t2 - t1) * (np.arange(samples) / samples)[None, :, None]
    a1 = (t1 - t) / t1 * p0 + t / t1 * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / t2 * a1 + t / t2 * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    out = ((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2).reshape(-1, 2)
    return out if closed else np.vstack([out, p[-1:]])


def joined(*runs: Sequence) -> Points:
    """Concatenate polylines into one outline, dropping a run's first point when it repeats the
    previous run's last point (runs meet at sharp corners such as hair tips)."""
    out: list[np.ndarray] = []
    for run in runs:
        r = np.asarray(run, np.float64).reshape(-1, 2)
        if out and len(r) and np.allclose(out[-1][-1], r[0]):
            r = r[1:]
        if len(r):
            out.append(r)
    return np.vstack(out)


def ellipse(center: Sequence[float], rx: float, ry: float, n: int = 72,
            angle_deg: float = 0.0) -> Points:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    a = np.deg2rad(angle_deg)
    return np.stack([center[0] + x * np.cos(a) - y * np.sin(a),
                     center[1] + x * np.sin(a) + y * np.cos(a)], axis=1)


def arc(center: Sequence[float], radius: float, deg0: float, deg1: float, n: int = 32) -> Points:
    """Points on a circle, angles in degrees measured from straight up, clockwise on screen."""
    a = np.deg2rad(np.linspace(deg0, deg1, n))
    return np.stack([center[0] + radius * np.sin(a), center[1] - radius * np.cos(a)], axis=1)


def normals(points: Sequence) -> np.ndarray:
    """Unit normals of a polyline: its tangent turned a quarter to the left of travel."""
    p = np.asarray(points, np.float64)
    tangent = np.gradient(p, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    return np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)


def stroke(points: Sequence, widths: float | Sequence[float]) -> Points:
    """Outline polygon of a brush stroke of varying width along a polyline (width 0 = a point)."""
    p = np.asarray(points, np.float64)
    w = np.broadcast_to(np.asarray(widths, np.float64), (len(p),))
    side = normals(p) * (w / 2.0)[:, None]
    return np.vstack([p + side, (p - side)[::-1]])


def taper(n: int, width: float, start: float = 0.0, end: float = 0.0,
          peak: float = 0.5) -> np.ndarray:
    """Brush pressure along a stroke of ``n`` samples: ``start``*width rising to ``width`` at
    ``peak`` (0..1 along the stroke) and falling to ``end``*width, with eased shoulders."""
    t = np.linspace(0.0, 1.0, n)
    rise = start + (1.0 - start) * np.sin(0.5 * np.pi * np.clip(t / max(peak, 1e-6), 0, 1))
    fall = end + (1.0 - end) * np.sin(0.5 * np.pi * np.clip((1 - t) / max(1 - peak, 1e-6), 0, 1))
    return width * np.where(t <= peak, rise, fall)


def mirror_x(points: Sequence, axis_x: float) -> Points:
    p = np.array(points, np.float64)
    p[:, 0] = 2.0 * axis_x - p[:, 0]
    return p


def resample(points: Sequence, n: int) -> Points:
    """``n`` points evenly spaced by arc length along a polyline."""
    p = np.asarray(points, np.float64)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(u, s, p[:, 0]), np.interp(u, s, p[:, 1])], axis=1)


def bounds(*polygons: Sequence) -> tuple[float, float, float, float]:
    allp = np.vstack([np.asarray(p, np.float64).reshape(-1, 2) for p in polygons])
    return (float(allp[:, 0].min()), float(allp[:, 1].min()),
            float(allp[:, 0].max()), float(allp[:, 1].max()))


# ------------------------------------------------------------------------------------- sheet

class Sheet:
    """One layer being painted, over the canvas box (x0, y0, x1, y1), supersampled.

    Masks are float32 coverage arrays (0..1) at the supersampled resolution. Paint operations
    work on premultiplied colour, so nothing is ever blended towards black.
    """

    def __init__(self, box: tuple[int, int, int, int], ss: int = SUPERSAMPLE):
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty sheet box {box}")
        self.box, self.ss = (int(x0), int(y0), int(x1), int(y1)), int(ss)
        shape = ((y1 - y0) * ss, (x1 - x0) * ss)
        self.premul = np.zeros(shape + (3,), np.float32)
        self.alpha = np.zeros(shape, np.float32)
        self._blank = True       # nothing painted yet: the first fill is a plain write

    @classmethod
    def around(cls, polygons: Sequence, margin: float, canvas: tuple[int, int],
               ss: int = SUPERSAMPLE) -> "Sheet":
        """A sheet just big enough for ``polygons`` plus ``margin`` pixels, clipped to the
        canvas."""
        bx0, by0, bx1, by1 = bounds(*polygons)
        x0 = max(int(np.floor(bx0 - margin)), 0)
        y0 = max(int(np.floor(by0 - margin)), 0)
        x1 = min(int(np.ceil(bx1 + margin)) + 1, canvas[0])
        y1 = min(int(np.ceil(by1 + margin)) + 1, canvas[1])
        return cls((x0, y0, x1, y1), ss)

    # -- masks
    def mask(self, *polygons: Sequence) -> np.ndarray:
        """Coverage of the union of filled polygons (canvas pixels)."""
        buf = np.zeros(self.alpha.shape, np.uint8)
        # A canvas point x maps to supersampled pixel (x - x0) * ss - 0.5 (pixel centres at .5).
        origin = np.array(self.box[:2], np.float64)
        pts = [np.round(((np.asarray(p, np.float64).reshape(-1, 2) - origin) * self.ss - 0.5)
                        * (1 << _SHIFT)).astype(np.int32) for p in polygons]
        # cv2's anti-aliased fill on top of 2x supersampling gives smooth edges at a fraction of
        # the cost of 4x; it grows shapes by about a quarter pixel, which nothing here relies on.
        # One call per polygon: a single fillPoly call would XOR where polygons overlap.
        for poly in pts:
            cv2.fillPoly(buf, [poly], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
        return buf.astype(np.float32) * (1.0 / 255.0)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Canvas coordinates (x, y) of every supersampled pixel centre."""
        h, w = self.alpha.shape
        x0, y0 = self.box[:2]
        xs = x0 + (np.arange(w, dtype=np.float32) + 0.5) / self.ss
        ys = y0 + (np.arange(h, dtype=np.float32) + 0.5) / self.ss
        return np.meshgrid(xs, ys)

    def soft_ellipse(self, center: Sequence[float], rx: float, ry: float) -> np.ndarray:
        """A smooth gaussian-like blob (peak 1 at the centre), for blush."""
        x, y = self.grid()
        r2 = ((x - center[0]) / rx) ** 2 + ((y - center[1]) / ry) ** 2
        return np.exp(-2.0 * r2).astype(np.float32)

    def shifted(self, mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
        """``mask`` moved by (dx, dy) canvas pixels (what enters from outside is empty)."""
        m = np.float32([[1, 0, dx * self.ss], [0, 1, dy * self.ss]])
        h, w = mask.shape
        return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def edge_band(self, mask: np.ndarray, width: float) -> np.ndarray:
        """The inner rim of a shape, ``width`` canvas pixels wide: where its outline goes."""
        inside = (mask >= 0.5).astype(np.uint8)
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
        # One supersampled pixel of ramp keeps the rim's inner edge anti-aliased too.
        band = np.clip(width * self.ss + 0.5 - dist, 0.0, 1.0)
        return np.where(mask > 0, band, 0.0).astype(np.float32)

    # -- paint
    @staticmethod
    def _extent(mask: np.ndarray) -> tuple[slice, slice] | None:
        """The smallest window holding every non-zero pixel of ``mask`` (paint only there)."""
        rows = np.flatnonzero(mask.max(axis=1) > 0)
        if rows.size == 0:
            return None
        cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].max(axis=0) > 0)
        return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)

    def _paint(self, mask: np.ndarray, color: Color | np.ndarray, opacity: float,
               grow: bool) -> None:
        """``grow``: paint over (coverage adds up); otherwise paint atop (coverage unchanged).
        ``color`` is an RGB triple or a per-pixel (h, w, 3) uint8-range image of the sheet."""
        win = self._extent(mask)
        if win is None:
            return
        m = mask[win]
        per_pixel = np.ndim(color) == 3
        colors = np.asarray(color, np.float32) / 255.0
        rows, cols = np.nonzero(m)
        if rows.size < m.size // 3:
            # Sparse paint (outlines, strokes): touch only the covered pixels.
            flat = (rows + win[0].start) * self.alpha.shape[1] + (cols + win[1].start)
            premul, alpha = self.premul.reshape(-1, 3), self.alpha.reshape(-1)
            c = colors.reshape(-1, 3)[flat] if per_pixel else colors
            mv = m[rows, cols] * np.float32(opacity)
            paint = mv if grow else mv * alpha[flat]
            premul[flat] = premul[flat] * (1.0 - mv)[:, None] + paint[:, None] * c
            if grow:
                alpha[flat] = alpha[flat] * (1.0 - mv) + mv
                self._blank = False
            return
        c = colors[win] if per_pixel else colors
        m = m * np.float32(opacity)
        if grow and self._blank:
            self.premul[win] = m[..., None] * c
            self.alpha[win] = m
            self._blank = False
            return
        premul, alpha = self.premul[win], self.alpha[win]
        premul *= (1.0 - m)[..., None]
        premul += (m if grow else m * alpha)[..., None] * c
        if grow:
            alpha *= 1.0 - m
            alpha += m

    def over(self, mask: np.ndarray, color: Color | np.ndarray, opacity: float = 1.0) -> None:
        """Paint ``color`` with coverage ``mask`` on top of what is there (grows the layer)."""
        self._paint(mask, color, opacity, grow=True)

    def atop(self, mask: np.ndarray, color: Color | np.ndarray, opacity: float = 1.0) -> None:
        """Paint ``color`` only onto what is already drawn (shading, line work inside a part)."""
        self._paint(mask, color, opacity, grow=False)

    # -- result
    def finish(self) -> tuple[np.ndarray, tuple[int, int]]:
        """Straight-alpha uint8 RGBA at canvas resolution, and its canvas offset."""
        x0, y0, x1, y1 = self.box
        size = (x1 - x0, y1 - y0)
        premul = cv2.resize(self.premul, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(self.alpha, size, interpolation=cv2.INTER_AREA)
        rgba = np.zeros((size[1], size[0], 4), np.uint8)
        rgb = np.zeros(premul.shape, np.float32)
        np.divide(premul, alpha[..., None], out=rgb, where=alpha[..., None] > 1e-4)
        rgba[..., :3] = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
        rgba[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        rgba[rgba[..., 3] == 0] = 0
        return rgba, (x0, y0)
