"""Glasses: frames around both eyes, found from the picture so they move with the face.

A frame is a ring of strokes around an eye, darker than the skin or of another colour, that
runs *below* the eye too, where a bare face has at most its lower lash. Around each eye the
candidate stroke pixels are binned by angle on an elliptic band 1.05-2.3 eye radii out; glasses
are there when both eyes are ringed (most angle bins, and most of the lower half, hold strokes).
The eyewear is then the strokes on those rings, on the bridge between them and on the temple
arms running out sideways at the eyes' height, as one piece.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

BINS = 24
INNER, OUTER = 1.05, 2.3        # the band searched, in eye radii (ellipse 1 : 0.75)
MIN_COVERAGE = 0.6


def find_eyewear(lab: np.ndarray, solid: np.ndarray, face_skin: np.ndarray,
                 taken: np.ndarray, eyes: list[tuple[float, float, float]]) -> np.ndarray | None:
    """Bool (H, W) eyewear pixels, or None when the eyes wear no glasses.

    ``eyes``: per eye (centre x, centre y, radius = half its width); ``taken``: pixels that are
    surely not the frame (the eyes' whites and irides)."""
    if len(eyes) != 2 or not face_skin.any():
        return None
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    ref = np.median(lab[face_skin], axis=0)
    differs = np.hypot(A - ref[1], B - ref[2]) > 18
    strokes = solid & ~taken & ((L < ref[0] - 30) | differs)
    h, w = solid.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bands = []
    for ex, ey, er in eyes:
        rho = np.hypot((xx - ex) / er, (yy - ey) / (0.75 * er))
        band = (rho > INNER) & (rho < OUTER)
        ring = strokes & band
        if not _ringed(ring, ex, ey):
            return None
        bands.append(band)
    (lx, ly, lr), (rx, ry, rr) = sorted(eyes)
    mid_y = 0.5 * (ly + ry)
    half = 0.45 * max(lr, rr)
    bridge = (xx > lx) & (xx < rx) & (np.abs(yy - mid_y) < half)
    temples = (np.abs(yy - mid_y) < half) & ((xx < lx - INNER * lr) | (xx > rx + INNER * rr))
    frame = strokes & (bands[0] | bands[1] | bridge | temples)
    # One piece: the strokes joined to the rings.
    comps, n = ndimage.label(frame, structure=np.ones((3, 3)))
    if n == 0:
        return None
    on_ring = np.unique(comps[frame & (bands[0] | bands[1])])
    frame = np.isin(comps, on_ring[on_ring > 0])
    # A frame is a thin stroke: a solid blob (hair over the eye, a shadow) is not.
    thick = cv2.erode(frame.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (5, 5)), iterations=max(1, int(0.12 * min(lr, rr)))) > 0
    return frame & ~(cv2.dilate(thick.astype(np.uint8), np.ones((5, 5), np.uint8),
                                iterations=max(1, int(0.12 * min(lr, rr)))) > 0)


def _ringed(ring: np.ndarray, ex: float, ey: float) -> bool:
    ys, xs = np.nonzero(ring)
    if ys.size < BINS:
        return False
    angle = np.arctan2(ys - ey, xs - ex)
    counts = np.bincount(((angle + np.pi) / (2 * np.pi) * BINS).astype(int) % BINS,
                         minlength=BINS)
    # Bins whose centre lies below the eye (y down: angles in (0, pi)).
    centres = -np.pi + (np.arange(BINS) + 0.5) * 2 * np.pi / BINS
    lower = (centres > 0.15) & (centres < np.pi - 0.15)
    full = counts >= 2
    return full.mean() >= MIN_COVERAGE and full[lower].mean() >= MIN_COVERAGE
