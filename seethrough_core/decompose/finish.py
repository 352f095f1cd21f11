"""Shared finishing of raw parts, whatever backend produced them.

A backend returns one layer per tag (no sides, no strata), with per-pixel pseudo-depth. Here:

1. left/right split of paired parts about the body's centre line (the character's left is the
   image's right);
2. See-through's depth-guided stratification: K-means (K = 2) on pseudo-depth inside hair,
   handwear, topwear and bottomwear gives a near (``-0``) and a far (``-1``) layer;
3. drawing order from depth (far first);
4. occlusion completion: each layer is extended under the opaque layers above it to a plausible
   whole shape (a face is convex and symmetric, a torso spans its rows, back hair fills the head
   behind the face, the far stratum continues under the near one) and the new pixels are painted
   by push-pull interpolation of the layer's own colours. Only pixels an opaque layer above hides
   are ever added, so the composite is unchanged.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from .. import taxonomy
from ..character import Character, Layer
from .depth import tag_depth
from .inpaint import push_pull_fill

Progress = Callable[[str, float], None]   # (stage, fraction done 0..1)

_MIN_PIXELS = 16            # a side or stratum smaller than this is not a layer of its own
_MIN_STRATUM_SHARE = 0.12   # each stratum must hold this share of the part's pixels
_MIN_STRATUM_GAP = 0.004    # and the two depth clusters must be this far apart


def finish_parts(raw: Character, *, progress: Progress | None = None) -> Character:
    """Raw per-tag parts -> finished layers (sides, strata, order, completion), cropped."""
    size = raw.size
    layers = [_full_canvas(layer, size) for layer in raw.layers if not layer.empty]
    axis = body_axis(layers, size)
    layers = [piece for layer in layers for piece in split_sides(layer, axis)]
    layers = [piece for layer in layers for piece in stratify(layer)]
    if progress:
        progress("completing hidden regions", 0.9)
    layers.sort(key=lambda l: taxonomy.canonical_rank(l.tag, l.variant))
    out = Character(size, layers, warnings=list(raw.warnings), source=raw.source)
    out.sort_by_depth()
    complete_occlusions(out.layers)
    out.layers = [layer.cropped() for layer in out.layers]
    out.layers = [layer for layer in out.layers if not layer.empty]
    return out


def _full_canvas(layer: Layer, size: tuple[int, int]) -> Layer:
    w, h = size
    depth = np.full((h, w), tag_depth(layer.tag), np.float32)
    if layer.depth is not None:
        x0, y0, x1, y1 = layer.bbox
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 > cx0 and cy1 > cy0:
            depth[cy0:cy1, cx0:cx1] = layer.depth[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return replace(layer, rgba=layer.on_canvas(size), offset=(0, 0), depth=depth)


def body_axis(layers: list[Layer], size: tuple[int, int]) -> float:
    """The character's vertical centre line: the face's centre, else the figure's."""
    for tags in (("face",), None):
        masks = [l.alpha > 127 for l in layers if tags is None or l.tag in tags]
        if masks:
            union = np.logical_or.reduce(masks)
            xs = np.nonzero(union)[1]
            if xs.size:
                return float((xs.min() + xs.max()) / 2) if tags else float(np.median(xs))
    return size[0] / 2


def split_sides(layer: Layer, axis_x: float) -> list[Layer]:
    """A paired part with no side -> its character-left (image right) and right pieces."""
    if layer.tag not in taxonomy.PAIRED_TAGS or layer.side is not None:
        return [layer]
    xs = np.arange(layer.width) + layer.offset[0]
    image_right = (xs > axis_x)[None, :]
    pieces = []
    for side, cols in (("l", image_right), ("r", ~image_right)):
        keep = np.broadcast_to(cols, layer.alpha.shape)
        if (layer.alpha[keep] > 0).sum() < _MIN_PIXELS:
            continue
        rgba = layer.rgba.copy()
        rgba[~keep] = 0
        pieces.append(replace(layer, rgba=rgba, side=side,
                              name=taxonomy.format_name(layer.tag, side, layer.stratum,
                                                        layer.group, layer.variant)))
    return pieces or [layer]


def stratify(layer: Layer) -> list[Layer]:
    """K-means (K = 2) on pseudo-depth: near ``-0`` and far ``-1`` layers of a stratified part."""
    if layer.tag not in taxonomy.STRATIFIED_TAGS or layer.stratum is not None \
            or layer.depth is None or layer.variant is not None:
        return [layer]
    visible = layer.alpha > 0
    values = layer.depth[visible].astype(np.float32)
    if values.size < 2 * _MIN_PIXELS or float(values.max() - values.min()) < _MIN_STRATUM_GAP:
        return [layer]
    centres = _kmeans_1d(values)
    if centres[1] - centres[0] < _MIN_STRATUM_GAP:
        return [layer]
    threshold = float(centres.mean())
    far = visible & (layer.depth > threshold)
    share = far.sum() / visible.sum()
    if not (_MIN_STRATUM_SHARE <= share <= 1 - _MIN_STRATUM_SHARE):
        return [layer]
    pieces = []
    for stratum, mask in ((1, far), (0, visible & ~far)):
        rgba = layer.rgba.copy()
        rgba[~mask] = 0
        pieces.append(replace(layer, rgba=rgba, stratum=stratum,
                              name=taxonomy.format_name(layer.tag, layer.side, stratum,
                                                        layer.group, layer.variant)))
    return pieces


def _kmeans_1d(values: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Two sorted cluster centres of 1-D values (Lloyd's algorithm from the quartiles)."""
    centres = np.percentile(values, [25, 75]).astype(np.float64)
    for _ in range(iterations):
        split = centres.mean()
        low, high = values[values <= split], values[values > split]
        if low.size == 0 or high.size == 0:
            break
        new = np.array([low.mean(), high.mean()])
        if np.allclose(new, centres):
            break
        centres = new
    return np.sort(centres)


# ----------------------------------------------------------------------- occlusion completion

def complete_occlusions(layers: list[Layer]) -> None:
    """Extend each full-canvas layer under the opaque layers above it (in place)."""
    if not layers:
        return
    h, w = layers[0].alpha.shape
    covered = np.zeros((h, w), bool)            # opaque pixels of the layers above
    hair = [l.alpha > 127 for l in layers if l.tag in taxonomy.HAIR_TAGS]
    faces = [l.alpha > 127 for l in layers if l.tag == "face"]
    head = np.logical_or.reduce(hair + faces) if hair or faces else None
    # Where two layers meet edge to edge, a downscaled render softens both edges and the
    # background shows through as a seam; every layer therefore also reaches a few pixels
    # under the opaque layers above it (invisible in the composite, closing the seam).
    seam = max(3, int(round(0.004 * max(h, w)))) * 2 + 1
    seam_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (seam, seam))
    for layer in reversed(layers):
        if layer.variant is None or layer.variant in ("mouth_close",):
            mask = layer.alpha > 127
            if mask.any() and covered.any():
                shape = completion_shape(layer, mask, head)
                shape |= cv2.dilate(mask.astype(np.uint8), seam_kernel) > 0
                new = shape & ~(layer.alpha > 0) & covered
                if new.any():
                    _paint(layer, new)
        covered |= layer.alpha == 255


def completion_shape(layer: Layer, mask: np.ndarray, head: np.ndarray | None) -> np.ndarray:
    """The whole shape a part plausibly has, hidden pieces included."""
    tag = layer.tag
    if tag == "face":
        xs = np.nonzero(mask)[1]
        centre = (xs.min() + xs.max()) / 2
        return convex_fill(mask | _mirror(mask, centre))
    if tag in ("back hair", "hair") and head is not None:
        return convex_fill(head)
    if tag == "neck":
        # The neck continues up under the chin: when the head turns, the face slides over it.
        shape = _row_spans(mask)
        rows = np.flatnonzero(mask.any(axis=1))
        top, height = rows[0], rows[-1] - rows[0] + 1
        cols = np.flatnonzero(mask[top:top + max(2, height // 4)].any(axis=0))
        up = max(0, top - int(round(0.6 * height)))
        shape[up:top, cols[0]:cols[-1] + 1] = True
        return shape
    if tag in ("topwear", "bottomwear"):
        return _row_spans(mask)
    if tag in ("eyewhite", "irides"):
        return convex_fill(mask)
    size = int(max(3, 0.08 * np.sqrt(mask.sum()))) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0


def _paint(layer: Layer, new: np.ndarray) -> None:
    """Colour and depth for the new pixels, from the layer's own opaque pixels nearby."""
    ys, xs = np.nonzero(new)
    h, w = new.shape
    pad = 8
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    known_all = layer.alpha > 127
    # Widen the window until it holds enough of the layer to paint from.
    while known_all[y0:y1, x0:x1].sum() < 16 and (y0 > 0 or x0 > 0 or y1 < h or x1 < w):
        pad *= 2
        y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    win = (slice(y0, y1), slice(x0, x1))
    known = known_all[win]
    if not known.any():
        return
    rgb = push_pull_fill(layer.rgba[win][..., :3].astype(np.float32), known)
    sub = new[win]
    patch = layer.rgba[win]
    patch[sub, :3] = np.clip(rgb[sub] + 0.5, 0, 255).astype(np.uint8)
    patch[sub, 3] = 255
    if layer.depth is not None:
        depth = push_pull_fill(layer.depth[win], known)
        layer.depth[win][sub] = depth[sub]


def convex_fill(mask: np.ndarray) -> np.ndarray:
    """The mask's convex hull, filled."""
    if not mask.any():
        return mask.copy()
    ys, xs = np.nonzero(mask)
    hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
    out = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out > 0


def _mirror(mask: np.ndarray, centre_x: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    mx = np.round(2 * centre_x - xs).astype(np.int64)
    ok = (mx >= 0) & (mx < mask.shape[1])
    out = np.zeros_like(mask)
    out[ys[ok], mx[ok]] = True
    return out


def _row_spans(mask: np.ndarray) -> np.ndarray:
    """Each row filled between its leftmost and rightmost pixel."""
    any_row = mask.any(1)
    first = np.argmax(mask, 1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], 1)
    cols = np.arange(mask.shape[1])[None, :]
    return any_row[:, None] & (cols >= first[:, None]) & (cols <= last[:, None])
