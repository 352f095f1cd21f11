"""Pseudo-depth (0 near, 1 far) for parts that come without a depth model.

Two cues: the part's usual place in the drawing order (back hair far, front hair near), which
fixes each part's depth band, and the figure's "inflation" inside that band: a drawn figure is
roughly a rounded solid, so pixels deep inside its silhouette face the viewer and pixels at its
outline turn away (the idea behind sketch-based inflation, e.g. Teddy). Hair lying over the face
comes out nearer than the strands at the figure's edge; an arm in front of the chest nearer than
one hanging at the side. Each part keeps within its own band, so the order the bands imply and
the order derived from depth never disagree.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..taxonomy import CANONICAL_ORDER, canonical_rank

_N = len(CANONICAL_ORDER) + 1
RANK_STEP = 1.0 / _N
_SPREAD = 0.45 * RANK_STEP     # half-width of a part's band: bands never overlap


def tag_depth(tag: str) -> float:
    """The centre of a tag's depth band: canonical back-to-front rank mapped to 1 (far) .. 0."""
    return 1.0 - (canonical_rank(tag) + 0.5) * RANK_STEP


def inflation(mask: np.ndarray) -> np.ndarray:
    """0 at the silhouette's outline .. 1 at its thickest point (sqrt of the distance)."""
    m = np.ascontiguousarray(mask, np.uint8)
    if not m.any():
        return np.zeros(mask.shape, np.float32)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    return np.sqrt(dist / max(float(dist.max()), 1e-6)).astype(np.float32)


def part_depth(tag: str, inflated: np.ndarray) -> np.ndarray:
    """Per-pixel pseudo-depth of a part: its band, nearer where the figure is thicker."""
    return (tag_depth(tag) + _SPREAD * (1.0 - 2.0 * inflated)).astype(np.float32)
