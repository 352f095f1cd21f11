"""Shared finishing of raw parts, whatever backend produced them.

A backend returns one layer per tag (no sides, no strata), with per-pixel pseudo-depth. Here:

1. left/right split of paired parts about the body's centre line (the character's left is the
   image's right);
2. See-through's depth-guided stratification: K-means (K = 2) on pseudo-depth inside hair,
   handwear, topwear and bottomwear gives a near (``-0``) and a far (``-1``) layer;
3. drawing order from depth (far first);
4. occlusion completion (:mod:`.completion`): each layer is extended under the opaque layers
   above it to a plausible whole shape and painted like the art from its own pixels. Only
   pixels an opaque layer above hides are ever added, so the composite is unchanged;
5. expression art the picture does not show (:mod:`.expressions`): closed eyes and an open
   mouth, as ``eye_close`` / ``mouth_open`` variant layers.

Stratification needs a real depth signal: a backend whose pseudo-depth only restates the part
(the heuristic one) asks for ``stratify=False``, since splitting a part by made-up depth would
cut it where nothing in the picture is cut.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .. import taxonomy
from ..character import Character, Layer
from .completion import complete_hidden
from .depth import tag_depth
from .expressions import add_expression_art

Progress = Callable[[str, float], None]   # (stage, fraction done 0..1)

_MIN_PIXELS = 16            # a side or stratum smaller than this is not a layer of its own
_MIN_STRATUM_SHARE = 0.12   # each stratum must hold this share of the part's pixels
_MIN_STRATUM_GAP = 0.004    # and the two depth clusters must be this far apart


def finish_parts(raw: Character, *, progress: Progress | None = None,
                 stratify_depth: bool = True) -> Character:
    """Raw per-tag parts -> finished layers (sides, strata, order, completion), cropped."""
    size = raw.size
    layers = [_full_canvas(layer, size) for layer in raw.layers if not layer.empty]
    axis = body_axis(layers, size)
    layers = [piece for layer in layers for piece in split_sides(layer, axis)]
    if stratify_depth:
        layers = [piece for layer in layers for piece in stratify(layer)]
    if progress:
        progress("completing hidden regions", 0.9)
    layers.sort(key=lambda l: taxonomy.canonical_rank(l.tag, l.variant))
    out = Character(size, layers, warnings=list(raw.warnings), source=raw.source)
    out.sort_by_depth()
    complete_hidden(out.layers)
    out.layers = add_expression_art(out.layers)
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
    sides = [(side, np.broadcast_to(cols, layer.alpha.shape))
             for side, cols in (("l", image_right), ("r", ~image_right))]
    counts = [int((layer.alpha[keep] > 0).sum()) for _, keep in sides]
    if min(counts) < _MIN_PIXELS:
        # A speck across the axis is no part of its own: it stays with the side it hangs on
        # (dropped, its pixels would be missing from the picture).
        if max(counts) < _MIN_PIXELS:
            return [layer]
        side = sides[int(np.argmax(counts))][0]
        return [replace(layer, side=side, name=taxonomy.format_name(
            layer.tag, side, layer.stratum, layer.group, layer.variant))]
    pieces = []
    for side, keep in sides:
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
