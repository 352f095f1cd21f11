"""The round an iris's outline draws.

Anime irises are drawn as a disc with an outline, its top under the upper lash. Where the
iris's colour is close to the skin's or the lash's, labelling by colour takes only part of it;
the circle the outline draws (OpenCV's Hough transform) gives the whole round back, and the
part of it already labelled picks the right circle among the ones found.
"""
from __future__ import annotations

import cv2
import numpy as np


def iris_circle(gray: np.ndarray, iris: np.ndarray, span: float) -> np.ndarray | None:
    """The disc (bool, ``gray``'s shape) of the circle the iris's outline draws, or None.

    ``gray``: the picture's lightness around the eye (uint8); ``iris``: the pixels labelled
    iris there; ``span``: the eye's width (its upper lash's), px. Circles a third to three
    quarters of the span across count (a wider one is the eye's own outline, and closing
    under it dropped the lid onto the blush below the eye); the one that holds at least 70 %
    of ``iris`` and adds least outside it wins."""
    if iris.sum() < 8 or span < 8:
        return None
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    circles = cv2.HoughCircles(blurred, cv2.HOUGH_GRADIENT, dp=1, minDist=max(4.0, span / 4),
                               param1=60, param2=15, minRadius=max(3, int(0.17 * span)),
                               maxRadius=max(4, int(0.375 * span)))
    if circles is None:
        return None
    yy, xx = np.mgrid[0:gray.shape[0], 0:gray.shape[1]]
    best, best_score = None, 0.0
    for cx, cy, r in circles[0]:
        # The circle runs along the outline's inner edge: the outline is the iris's too.
        r = r + max(1.5, 0.08 * r)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        inside = (disc & iris).sum() / iris.sum()
        extra = (disc & ~iris).sum() / max(disc.sum(), 1)
        if inside >= 0.7 and inside - 0.5 * extra > best_score:
            best, best_score = disc, inside - 0.5 * extra
    return best
