"""Glasses: frames around both eyes, found from the picture so they move with the face.

A frame is a ring of strokes around an eye, darker than the skin or of another colour, that
runs *below* the eye too, where a bare face has at most its lower lash. Around each eye the
candidate stroke pixels are binned by angle on an elliptic band 1.3-3 times the drawn eye's
half width and height out (clear of its own lashes and lids); glasses
are there when both eyes are ringed (most angle bins, and most of the lower half, hold strokes).
The eyewear is then the strokes on those rings, on the bridge between them and on the temple
arms running out sideways at the eyes' height, as one piece.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

BINS = 24
INNER, OUTER = 1.3, 3.0         # the band searched, in the drawn eye's half extents
MIN_COVERAGE = 0.6


def find_eyewear(lab: np.ndarray, solid: np.ndarray, face_skin: np.ndarray,
                 taken: np.ndarray, eyes: list[tuple[float, ...]],
                 hair: np.ndarray | None = None) -> np.ndarray | None:
    """Bool (H, W) eyewear pixels, or None when the eyes wear no glasses.

    ``eyes``: per eye (centre x, centre y, half width[, half height]) of the whole drawn eye,
    lashes included; ``taken``: pixels that are surely not the frame (the eyes' own parts)."""
    if len(eyes) != 2 or not face_skin.any():
        return None
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    ref = np.median(lab[face_skin], axis=0)
    # Frames are dark, or of a strong colour a little darker than the skin (a blush is only
    # rosy, hair beside the eye is left out by the caller).
    differs = (np.hypot(A - ref[1], B - ref[2]) > 35) & (L < ref[0] - 22)
    strokes = solid & ~taken & ((L < ref[0] - 30) | differs)
    h, w = solid.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bands = []
    eyes = [e if len(e) == 4 else (*e, 0.75 * e[2]) for e in eyes]
    on_cheek = _on_the_face(lab, face_skin, hair, min(e[2] for e in eyes))
    rims = np.zeros((h, w), bool)

    for ex, ey, er, eh in eyes:
        rho = np.hypot((xx - ex) / er, (yy - ey) / eh)
        band = (rho > INNER) & (rho < OUTER)
        ring = strokes & band
        cheek = ring & on_cheek
        if not _ringed(ring, ex, ey, cheek):
            return None
        bands.append(band)
        rims |= cheek & (yy > ey)
    # The frame is drawn in one ink: the rims crossing the cheeks show it; shaded hair and
    # other strokes in the bands that are not of that ink are not the frame.
    ink = np.median(lab[rims], axis=0)
    off = np.linalg.norm(lab - ink, axis=-1)
    strokes &= off < max(15.0, 2.0 * float(np.percentile(off[rims], 75)))
    (lx, ly, lr, _), (rx, ry, rr, _) = sorted(eyes)
    mid_y = 0.5 * (ly + ry)
    half = 0.45 * max(lr, rr)
    bridge = (xx > lx) & (xx < rx) & (np.abs(yy - mid_y) < half)
    temples = (np.abs(yy - mid_y) < half) & ((xx < lx - INNER * lr) | (xx > rx + INNER * rr))
    # Glasses sit on the face, their arms running back to the ears at its sides: the hair's
    # outlines further out, level with the eyes, are not theirs (taken, they moved with the
    # face, off the hair). The face is as wide on both sides of the eyes' middle as on its
    # wider side (hair may hide the other); a rim may reach over the hair past the skin seen,
    # about an eye's width beyond the eye.
    fx = np.nonzero(face_skin)[1]
    cx = 0.5 * (lx + rx)
    half = max(max(cx - fx.min(), fx.max() - cx) + 0.1 * float(np.ptp(fx) + 1),
               max(abs(lx - cx) + 2.1 * lr, abs(rx - cx) + 2.1 * rr))
    on_face = np.abs(xx - cx) <= half
    frame = strokes & (bands[0] | bands[1] | bridge | temples) & on_face
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


def _on_the_face(lab: np.ndarray, face_skin: np.ndarray, hair: np.ndarray | None,
                 eye_half_width: float) -> np.ndarray:
    """Where a frame's lower rim can be told from other strokes: inside the face, clear of its
    outline (a jaw line curves round below the eyes too), and not on hair of the hair's own
    colour (a lock beside the eye). A dark frame the hair mask took in (it joins the hair's
    outlines) is not of the hair's colour, unless the hair is as dark as the frame."""
    from .completion import convex_fill
    hull = convex_fill(face_skin).astype(np.uint8)
    r = max(2, int(round(0.15 * eye_half_width)))
    inside = cv2.erode(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    if hair is None or not hair.any():
        return inside
    ref = np.median(lab[hair], axis=0)
    return inside & ~(hair & (np.linalg.norm(lab - ref, axis=-1) < 25))


def _ringed(ring: np.ndarray, ex: float, ey: float, cheek: np.ndarray) -> bool:
    """Most angle bins around the eye hold strokes, and most of the lower half hold strokes
    on the cheek."""
    full = _bins(ring, ex, ey) >= 2
    below = _bins(cheek, ex, ey) >= 2
    # Bins whose centre lies below the eye (y down: angles in (0, pi)).
    centres = -np.pi + (np.arange(BINS) + 0.5) * 2 * np.pi / BINS
    lower = (centres > 0.15) & (centres < np.pi - 0.15)
    return full.mean() >= MIN_COVERAGE and below[lower].mean() >= MIN_COVERAGE


def _bins(mask: np.ndarray, ex: float, ey: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    angle = np.arctan2(ys - ey, xs - ex)
    return np.bincount(((angle + np.pi) / (2 * np.pi) * BINS).astype(int) % BINS,
                       minlength=BINS)
