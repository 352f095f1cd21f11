"""Keep layers that touch in the picture moving together.

Two layers that meet along a border either really overlap there (the fringe over the forehead:
the lower layer is painted on under the upper one) or were merely cut apart (two strata of one
strand, a part split by a straight line): the lower layer stops at the border. Per border point,
the *reach* is how far the lower layer continues under the upper one (the distance to the
nearest pixel under the upper layer that the lower one does not cover).

The warp moves two points apart by roughly their difference in height ``z`` times the sine of
the head angle (at most 30 degrees: half the difference), and by their difference in head
weight ``w`` times the turn about the neck. So along every border:

- a **cut** (reach under two seam bands) is stitched: both layers take the mean of their warp
  attributes at the border, easing back to their own over ``radius``, so they move as one
  continuous surface;
- an **overlap** keeps its parallax only as far as the painting reaches: the height difference
  is limited to twice the reach, so the lower layer never shows past its painted edge.

Pure numpy on plain arrays: layer alpha masks, vertices and the per-vertex attributes.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .deform import WarpAttributes

FIELDS = ("w_head", "z_head", "z_body", "w_body", "w_breath")
MAX_SINE = 0.5          # sin(30 degrees): the largest head angle's parallax per unit height


@dataclass
class Border:
    """Where two layers touch: border points (canvas px) and the lower layer's reach there."""

    upper: int
    lower: int
    points: np.ndarray      # (K, 2)
    reach: np.ndarray       # (K,) px


def find_borders(masks: list[np.ndarray | None], offsets: list[tuple[int, int]],
                 size: tuple[int, int], seam: float, step: int = 2) -> list[Border]:
    """Every pair of layers (drawing order, bottom first) whose visible regions touch, with
    sampled border points and the lower layer's reach under the upper one there. ``masks``:
    per layer its opaque pixels (layer-local, None to skip it)."""
    w, h = size
    owner = np.full((h, w), -1, np.int32)
    canvas_masks: dict[int, tuple[slice, slice, np.ndarray]] = {}
    for i, m in enumerate(masks):
        if m is None or not m.any():
            continue
        ox, oy = offsets[i]
        y0, x0 = max(oy, 0), max(ox, 0)
        y1, x1 = min(oy + m.shape[0], h), min(ox + m.shape[1], w)
        if y1 <= y0 or x1 <= x0:
            continue
        sub = m[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        canvas_masks[i] = (slice(y0, y1), slice(x0, x1), sub)
        owner[y0:y1, x0:x1][sub] = i
    # Pairs of owners on either side of a pixel edge.
    pairs: set[tuple[int, int]] = set()
    for a, b in ((owner[:, :-1], owner[:, 1:]), (owner[:-1, :], owner[1:, :])):
        diff = (a != b) & (a >= 0) & (b >= 0)
        if diff.any():
            lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
            pairs.update(zip(lo.tolist(), hi.tolist()))
    borders = []
    ring = np.ones((3, 3), np.uint8)
    pad = int(8 * seam) + 2
    for lower, upper in sorted(pairs):
        ly, lx, lsub = canvas_masks[lower]
        uy, ux, _ = canvas_masks[upper]
        # Work in the window where the two can meet.
        y0, y1 = max(ly.start, uy.start) - pad, min(ly.stop, uy.stop) + pad
        x0, x1 = max(lx.start, ux.start) - pad, min(lx.stop, ux.stop) + pad
        y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
        if y1 <= y0 or x1 <= x0:
            continue
        win = owner[y0:y1, x0:x1]
        up = win == upper
        touch = up & (cv2.dilate((win == lower).astype(np.uint8), ring) > 0)
        ys, xs = np.nonzero(touch)
        if ys.size == 0:
            continue
        if ys.size > 64:
            keep = ((ys + y0) % step == 0) & ((xs + x0) % step == 0)
            if keep.any():
                ys, xs = ys[keep], xs[keep]
        # Under the upper layer, where the lower one is not painted.
        low = np.zeros(win.shape, bool)
        iy0, iy1 = max(ly.start, y0), min(ly.stop, y1)
        ix0, ix1 = max(lx.start, x0), min(lx.stop, x1)
        if iy1 > iy0 and ix1 > ix0:
            low[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = \
                lsub[iy0 - ly.start:iy1 - ly.start, ix0 - lx.start:ix1 - lx.start]
        bare = up & ~low
        if bare.any():
            dist = cv2.distanceTransform((~bare).astype(np.uint8), cv2.DIST_L2, 3)
            reach = np.minimum(dist[ys, xs].astype(np.float64), float(pad))
        else:
            reach = np.full(ys.size, float(pad))
        points = np.stack([xs + x0, ys + y0], 1).astype(np.float64)
        borders.append(Border(upper, lower, points, reach))
    return borders


def stitch(vertices: list[np.ndarray], attrs: list[WarpAttributes], borders: list[Border],
           seam: float, radius: float, evaluate, groups: list[str] | None = None,
           rigid: list[bool] | None = None) -> list[WarpAttributes]:
    """Per-layer attributes made continuous across cuts and limited across overlaps (see the
    module doc); returns new attributes.

    ``vertices``: per layer (N_i, 2) rest positions; ``evaluate(j, points)``: layer j's own
    attributes (a WarpAttributes) at any points, the binding being a function of position;
    ``groups``: per layer what it moves with ('head', 'body', or 'both' for a neck): a head part
    beside a body part moves on its own by design; ``rigid``: layers that must keep their own
    shape (eyes, mouth: they ride on the face as one piece) and are left alone.

    Across a cut between layers i and j, a vertex of i near the border takes the mean of i's
    and j's bindings at its own position, weighted by its closeness to the border (1 on it,
    easing to 0 over the radius): both sides agree on the border and each eases back to its
    own binding, smoothly, however many borders a layer has."""
    n = len(attrs)
    out = [WarpAttributes(*(getattr(a, f).copy() for f in FIELDS)) for a in attrs]
    trees = [cKDTree(v) if len(v) else None for v in vertices]
    blends: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    limits: list[tuple[int, int, Border]] = []
    for b in borders:
        if trees[b.upper] is None or trees[b.lower] is None:
            continue
        if groups is not None and "both" not in (groups[b.upper], groups[b.lower]) \
                and groups[b.upper] != groups[b.lower]:
            continue
        if rigid is not None and (rigid[b.upper] or rigid[b.lower]):
            continue
        cut = b.reach < 2.0 * seam
        # A cut runs along most of a border; a few bare points on a painted overlap are only
        # where the lower part's own edge happens to end under the upper one.
        if cut.mean() >= 0.5:
            pts = b.points[cut]
            vu = _at(trees[b.upper], attrs[b.upper], pts)
            vl = _at(trees[b.lower], attrs[b.lower], pts)
            step = max(float(np.abs(vu[f] - vl[f]).max(initial=0.0)) for f in ("z_head",))
            r = max(radius, 2.5 * step)
            for i in (b.upper, b.lower):
                blends[i].append((b.upper + b.lower - i, _closeness(vertices[i], pts, r)))
        else:
            limits.append((b.upper, b.lower, b))
    for i in range(n):
        if not blends[i]:
            continue
        total = np.ones(len(vertices[i]))
        acc = {f: getattr(attrs[i], f).copy() for f in FIELDS}
        for j, wgt in blends[i]:
            near = wgt > 0
            if not near.any():
                continue
            other = evaluate(j, vertices[i][near])
            for f in FIELDS:
                acc[f][near] += wgt[near] * getattr(other, f)
            total += wgt
        for f in FIELDS:
            getattr(out[i], f)[:] = acc[f] / total
    # Overlaps: no more parallax than the painting under the upper layer allows; the lower
    # layer gives way near the border, the upper one keeps its place.
    for upper, lower, b in limits:
        vu = _at(trees[upper], out[upper], b.points)
        vl = _at(trees[lower], out[lower], b.points)
        allowed = b.reach / MAX_SINE
        gap = vu["z_head"] - vl["z_head"]
        over = np.abs(gap) > allowed
        if not over.any():
            continue
        fix = np.where(over, gap - np.sign(gap) * allowed, 0.0)
        r = max(radius, 2.5 * float(np.abs(fix).max()))
        _spread(vertices[lower], out[lower], b.points, {f: (fix if f == "z_head" else
                                                            np.zeros_like(fix))
                                                        for f in FIELDS}, r)
    return out


def _closeness(verts: np.ndarray, points: np.ndarray, radius: float) -> np.ndarray:
    """Per vertex, 1 on the border points easing to 0 at ``radius`` from them."""
    d, _ = cKDTree(points).query(verts, distance_upper_bound=radius)
    t = np.clip(np.where(np.isfinite(d), d, radius) / radius, 0.0, 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)


def _at(tree: cKDTree, a: WarpAttributes, points: np.ndarray, k: int = 3) -> dict:
    """Attributes at ``points``: inverse-distance mean of the nearest vertices'."""
    k = min(k, tree.n)
    d, idx = tree.query(points, k=k)
    if k == 1:
        d, idx = d[:, None], idx[:, None]
    wgt = 1.0 / np.maximum(d, 0.5)
    wgt /= wgt.sum(axis=1, keepdims=True)
    return {f: (getattr(a, f)[idx] * wgt).sum(axis=1) for f in FIELDS}


def _spread(verts: np.ndarray, a: WarpAttributes, points: np.ndarray, delta: dict,
            radius: float) -> None:
    """Add each border point's correction to the layer's vertices near it, fading out over
    ``radius`` (the nearest border point decides)."""
    moving = np.zeros(len(points), bool)
    for f in FIELDS:
        moving |= np.abs(delta[f]) > 1e-9
    if not moving.any() or len(verts) == 0:
        return
    tree = cKDTree(points[moving])
    d, idx = tree.query(verts, distance_upper_bound=radius)
    near = np.isfinite(d)
    if not near.any():
        return
    t = np.clip(d[near] / radius, 0.0, 1.0)
    fall = 1.0 - t * t * (3.0 - 2.0 * t)
    for f in FIELDS:
        getattr(a, f)[near] += fall * delta[f][moving][idx[near]]
