"""What a picture on a plain page holds besides its character: the ``backdrop`` layer.

Cutting the figure out of the page drops everything else on it: a frame line along the canvas
edge, the artist's signature, a cast shadow on the floor, specks too small to be figure. The
rest frame then no longer is the picture (a one-pixel grey border line alone costs a white
page ~10 dB), and the marks are lost from the layered file. They are kept in one static layer
under everything, away from the figure: the figure's own anti-aliased rim and compression
ringing belong to its edge, and a static copy of them would stay behind as a ghost outline
when the puppet moves.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..character import Character, Layer
from ..taxonomy import BACKDROP_TAG
from .foreground import _BACKGROUND_MAX, fit_background

# A pattern the page fit could not follow, not marks on a page, when more than this share of
# the canvas is left over: then no backdrop (it would be the page itself, opaque in a stream).
_MAX_SHARE = 0.05
_MIN_PIXELS = 16          # fewer mark pixels than this are JPEG noise, not marks
_INK_MIN = 4 * _BACKGROUND_MAX   # a mark stands this far off the page somewhere
_SOFT_MIN = _BACKGROUND_MAX / 3   # a mark's anti-aliased rim: off the page by more than this


def backdrop_layer(image: np.ndarray, figure_alpha: np.ndarray,
                   background: tuple[np.ndarray, np.ndarray] | None = None) -> Layer | None:
    """The marks on an opaque picture's page away from the figure, as a ``backdrop`` layer
    holding the picture's own pixels there, or None when there are none (or the page is a
    pattern). ``image``: (H, W, 3|4) uint8; ``figure_alpha``: (H, W) 0..1 or 0..255, the
    figure's coverage at rest; ``background``: ``fit_background`` of the image, when at hand."""
    rgb = np.ascontiguousarray(image[..., :3])
    h, w = rgb.shape[:2]
    dist, _ = background if background is not None else fit_background(rgb)
    figure = np.asarray(figure_alpha, np.float32)
    figure = figure > (0.02 * 255 if figure.max() > 1.0 else 0.02)
    r = max(3, min(h, w) // 150)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    clear = ~(cv2.dilate(figure.astype(np.uint8), kernel) > 0)
    marks = _without_grain((dist > _BACKGROUND_MAX) & clear, dist)
    count = int(marks.sum())
    if count < _MIN_PIXELS or count > _MAX_SHARE * h * w:
        return None
    # The marks' soft rims: the pixels beside them still off the page.
    rim = cv2.dilate(marks.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    keep = marks | (rim & (dist > _SOFT_MIN) & clear)
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[keep, :3] = rgb[keep]
    rgba[keep, 3] = 255
    layer = Layer(BACKDROP_TAG, rgba, tag=BACKDROP_TAG).cropped()
    layer.depth = np.ones(layer.rgba.shape[:2], np.float32)   # farthest of all
    return layer


def _without_grain(marks: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """The marks less the page's grain: streaks and specks barely off the page (compression
    noise, a scanned page's texture), kept as a static layer, would stay in the picture as a
    dirty film over a stream's transparent background. Only pieces that somewhere stand well
    off the page are ink, however small (a signature's dot)."""
    n, labels = cv2.connectedComponents(marks.astype(np.uint8), connectivity=8)
    if n <= 1:
        return marks
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, labels[marks], dist[marks])
    keep = peak >= _INK_MIN
    keep[0] = False
    return keep[labels]


def add_backdrop(character: Character, image: np.ndarray,
                 background: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Put the marks of ``image`` (the opaque (H, W, 3|4) uint8 picture at the character's
    size) under the character's layers, in place, unless it has a backdrop already.
    ``background``: ``fit_background`` of the image, when at hand."""
    if any(l.tag == BACKDROP_TAG for l in character.layers):
        return
    figure = character.rest_composite()[..., 3]
    layer = backdrop_layer(image, figure, background)
    if layer is not None:
        character.layers.insert(0, layer)
