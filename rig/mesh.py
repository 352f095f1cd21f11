"""Layer meshes: an alpha mask becomes a quality triangle mesh that follows the art's outline.

Browser auto-riggers drape a regular grid over each layer; a grid wastes vertices on transparent
space and bends straight across a strand of hair. Here the mesh is a constrained quality Delaunay
triangulation (Shewchuk's Triangle) of the layer's outline:

1. The mask (alpha >= threshold) is grown by ``band`` px so anti-aliased edges stay inside the
   mesh, on a half-pixel grid so that 1-px strands and single pixels still get a real area.
2. Every island and every hole of the grown mask is traced as a closed polyline
   (:func:`trace_contours`), then simplified (:func:`simplify_contour`, Douglas-Peucker). A
   simplification that makes outlines touch or cross is detected and retried with a smaller
   tolerance, because Triangle would otherwise split the domain in the wrong places.
3. Triangle meshes the outline with a minimum angle and a maximum area; an optional
   ``refine_mask`` then asks for smaller triangles where the rigger needs them.

Conventions (the module's contract with the rigger and the renderer):

- Coordinates are pixel-corner coordinates: pixel (row i, column j) covers [j, j+1] x [i, i+1],
  its centre is (j + 0.5, i + 0.5); x right, y down. ``Mesh.vertices`` are on the canvas (the
  layer's offset added); contours are in the layer's own frame.
- Orientation uses the signed area ``0.5 * ((x1-x0)*(y2-y0) - (x2-x0)*(y1-y0))``. Every triangle
  has a positive signed area: counter-clockwise in the x-right/y-up algebra, which is clockwise
  as seen on a y-down screen, and counter-clockwise again (OpenGL's default front face) once the
  renderer flips y into clip space. Outer contours also have positive signed area; holes negative.
- The mesh never leaves the layer's texture rectangle, so ``uvs`` lie in [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import triangle

# Islands smaller than this many pixels whose most opaque pixel is still below `faint_speck_alpha`
# are invisible dust (eraser leftovers); meshing them costs triangles and nothing else.
SPECK_MAX_AREA = 4
FAINT_SPECK_ALPHA = 8
# Triangle does not terminate reliably for minimum angles much above 34 degrees.
MAX_MIN_ANGLE = 34.0
# Refinement passes: Triangle's per-triangle area bounds are only partly inherited by the
# triangles it creates, so the bounds are re-evaluated a few times.
REFINE_PASSES = 4


@dataclass
class Mesh:
    vertices: np.ndarray    # (N, 2) float32, canvas pixels (rest pose)
    triangles: np.ndarray   # (M, 3) int32, positive signed area (see module docstring)
    uvs: np.ndarray         # (N, 2) float32 in [0, 1]: ((x - ox) / w, (y - oy) / h) of the texture
    boundary: np.ndarray    # (B,) int32 sorted indices of the vertices on any outline

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])

    @property
    def empty(self) -> bool:
        return self.n_triangles == 0

    @classmethod
    def empty_mesh(cls) -> "Mesh":
        return cls(vertices=np.zeros((0, 2), np.float32), triangles=np.zeros((0, 3), np.int32),
                   uvs=np.zeros((0, 2), np.float32), boundary=np.zeros((0,), np.int32))


@dataclass
class _Outline:
    """Traced contours of one grown mask, with what meshing needs beyond the polylines."""
    contours: list[np.ndarray]        # (K, 2) float64, layer frame, oriented (outer +, hole -)
    seeds: dict[int, np.ndarray]      # contour index of a hole -> (2,) point inside that hole
    clearance: dict[int, float]       # hole contour index -> px from its seed to the nearest mask
    size: tuple[int, int]             # (w, h) of the layer rectangle the outlines are clipped to
    reach: float                      # how far (px) raw outlines lie beyond mask pixel centres


# --------------------------------------------------------------------------------------------
# Contours


def trace_contours(alpha: np.ndarray, threshold: int = 1, band: float = 1.5, *,
                   faint_speck_alpha: int = FAINT_SPECK_ALPHA) -> list[np.ndarray]:
    """Closed outlines of every island and every hole of the mask ``alpha >= threshold``.

    The mask is first grown by ``band`` px so anti-aliased edges are covered, and clipped to the
    layer's rectangle (outlines along the rectangle's border run exactly on it). Each outline is an
    (K, 2) float64 array of pixel-corner coordinates in the layer's frame, not repeating its first
    point. Outer outlines have positive signed area (clockwise on a y-down screen), holes negative.
    Outlines run through the centres of half-pixel cells, within ``band + 0.3`` px of the nearest
    mask pixel centre and more than ``band - 0.25`` px from every one. Islands under
    ``SPECK_MAX_AREA`` px whose alpha never reaches ``faint_speck_alpha`` are dropped (0 keeps
    them).
    """
    return _trace(alpha, threshold, band, faint_speck_alpha).contours


def _trace(alpha: np.ndarray, threshold: int, band: float, faint_speck_alpha: int) -> _Outline:
    alpha = _check_alpha(alpha)
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1 (1 keeps every non-transparent pixel), "
                         f"got {threshold}")
    if not math.isfinite(band) or band < 0:
        raise ValueError(f"band must be a finite number of pixels >= 0, got {band}")
    mask = alpha >= threshold
    mask = _drop_faint_specks(mask, alpha, faint_speck_alpha)
    if not mask.any():
        return _Outline([], {}, {}, (alpha.shape[1], alpha.shape[0]), 0.0)
    h, w = mask.shape
    grown = _well_composed(_grow_half_pixel(mask, band))
    # A frame of background around the grid, so findContours sees every island as closed.
    framed = np.pad(grown, 1).view(np.uint8)
    raw, hierarchy = cv2.findContours(framed, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)

    hole_ids = [i for i in range(len(raw)) if hierarchy[0, i, 3] != -1]
    # Many holes: one map of the whole grid beats one small map per hole.
    whole = _BackgroundMap(framed, exclude_label_at=(0, 0)) if len(hole_ids) > 16 else None
    contours, seeds, clearance = [], {}, {}
    for i, points in enumerate(raw):
        cells = points.reshape(-1, 2)
        hole = i in hole_ids
        if hole:
            found = _hole_seed(framed, cells, whole)
            if found is None:
                continue    # no background inside: cannot happen on a well-composed grid
            seed_cell, depth = found
            seeds[len(contours)] = (seed_cell - 1.0 + 0.5) / 2.0
            # The hole's outline joins cell centres up to a diagonal step apart.
            clearance[len(contours)] = max(depth - math.sqrt(0.5), 0.0) / 2.0
        # Half-pixel cell centres -> pixel-corner coordinates in the layer's frame.
        poly = (cells.astype(np.float64) - 1.0 + 0.5) / 2.0
        if not hole:
            poly = _snap_to_rectangle(poly, w, h)
        poly = _drop_repeats(poly)
        if (_signed_area(poly) < 0) != hole:
            poly = poly[::-1].copy()
        contours.append(poly)
    return _Outline(contours, seeds, clearance, (w, h), _reach(band))


class _BackgroundMap:
    """Background components of a grid region, each with its cell farthest from the foreground.

    Background is 4-connected where findContours' foreground is 8-connected.
    """

    def __init__(self, region: np.ndarray, origin: tuple[int, int] = (0, 0),
                 exclude_label_at: tuple[int, int] | None = None) -> None:
        background = (1 - region).astype(np.uint8)
        n, self.labels = cv2.connectedComponents(background, connectivity=4)
        self.depth = cv2.distanceTransform(background, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        self.origin = np.array(origin)
        flat = self.labels.ravel()
        candidate = flat != 0
        if exclude_label_at is not None:
            # The outside: huge, never a hole, not worth sorting.
            candidate &= flat != self.labels[exclude_label_at[1], exclude_label_at[0]]
        cells = np.flatnonzero(candidate)
        order = np.lexsort((-self.depth.ravel()[cells], flat[cells]))
        cells = cells[order]
        first = np.concatenate([[True], flat[cells][1:] != flat[cells][:-1]]) if cells.size else cells
        self.deepest = np.full(n, -1, np.int64)
        self.deepest[flat[cells[first]]] = cells[first]

    def seed_inside(self, cells: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Deepest cell of the component next to ``cells`` (a hole's border) that it encloses."""
        local = cells - self.origin
        hh, ww = self.labels.shape
        near = []
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            xs, ys = local[:, 0] + dx, local[:, 1] + dy
            ok = (xs >= 0) & (xs < ww) & (ys >= 0) & (ys < hh)
            near.append(self.labels[ys[ok], xs[ok]])
        candidates = np.unique(np.concatenate(near))
        polygon = local.reshape(-1, 1, 2).astype(np.int32)
        for label in candidates[candidates > 0]:
            cell = self.deepest[label]
            if cell < 0:
                continue
            row, col = divmod(int(cell), ww)
            if cv2.pointPolygonTest(polygon, (float(col), float(row)), False) > 0:
                return (np.array([col, row], np.float64) + self.origin,
                        float(self.depth[row, col]))
        return None


def _hole_seed(framed: np.ndarray, cells: np.ndarray,
               whole: _BackgroundMap | None) -> tuple[np.ndarray, float] | None:
    """A point deep inside the hole a contour encloses (grid cells), and its depth (cells).

    A hole is enclosed by its border, so the border's bounding box holds all of it.
    """
    if whole is not None:
        return whole.seed_inside(cells)
    x0, y0 = cells.min(axis=0)
    x1, y1 = cells.max(axis=0) + 1
    return _BackgroundMap(framed[y0:y1, x0:x1], (x0, y0)).seed_inside(cells)


def _reach(band: float) -> float:
    """Radius (px) around each mask pixel centre that the traced outline encloses.

    band + 0.3 keeps the half-pixel cells whose centres lie ``band`` px beyond a pixel's square
    along the axes (they sit a quarter pixel off the axis); 0.36 keeps at least a pixel's own
    four cells.
    """
    return max(band + 0.3, 0.36)


def _check_alpha(alpha: np.ndarray) -> np.ndarray:
    alpha = np.asarray(alpha)
    if alpha.ndim != 2:
        raise ValueError(f"alpha must be a 2-D array, got shape {alpha.shape}")
    if not (np.issubdtype(alpha.dtype, np.integer) or np.issubdtype(alpha.dtype, np.floating)
            or alpha.dtype == bool):
        raise ValueError(f"alpha must be numeric, got {alpha.dtype}")
    return alpha


def _drop_faint_specks(mask: np.ndarray, alpha: np.ndarray, faint_alpha: int) -> np.ndarray:
    if faint_alpha <= 0 or not mask.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < SPECK_MAX_AREA
    small[0] = False                                    # label 0 is the background
    if not small.any():
        return mask
    in_small = small[labels]
    peak = np.zeros(n, np.float64)
    np.maximum.at(peak, labels[in_small], alpha[in_small].astype(np.float64))
    faint = small & (peak < faint_alpha)
    return mask & ~faint[labels] if faint.any() else mask


def _grow_half_pixel(mask: np.ndarray, band: float) -> np.ndarray:
    """The mask on a half-pixel grid, grown to the cells within ``_reach(band)`` px of a mask
    pixel's centre.

    Growing from centres (not from pixel squares) is isotropic, so a diagonal edge grows no
    further than a straight one. Each mask pixel marks its top-left cell; its centre is the
    corner that cell shares with the other three, so the disk is stamped off-centre through an
    even-sized kernel anchored half a cell away.
    """
    h, w = mask.shape
    radius = 2.0 * _reach(band)                     # in cells
    hi = int(math.floor(radius + 0.5))
    offsets = hi - np.arange(2 * hi) - 0.5          # cell centre minus pixel centre, in cells
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius).astype(np.uint8)
    seeds = np.zeros((2 * h, 2 * w), np.uint8)
    seeds[0::2, 0::2] = mask
    return cv2.dilate(seeds, disk, anchor=(hi, hi)).astype(bool)


def _well_composed(grid: np.ndarray) -> np.ndarray:
    """Fill every 2x2 window whose cells touch only diagonally.

    Such a pinch makes an outline visit the same point twice, which no simple polygon can
    represent. Filling it adds at most half a pixel of area and leaves a grid whose outlines are
    simple closed curves. Every round only adds cells, so the loop ends.
    """
    grid = grid.copy()
    while True:
        a, b = grid[:-1, :-1], grid[:-1, 1:]
        c, d = grid[1:, :-1], grid[1:, 1:]
        pinch = (a & d & ~b & ~c) | (b & c & ~a & ~d)
        if not pinch.any():
            break
        grid[:-1, :-1] |= pinch
        grid[:-1, 1:] |= pinch
        grid[1:, :-1] |= pinch
        grid[1:, 1:] |= pinch
    return grid


def _snap_to_rectangle(poly: np.ndarray, w: int, h: int) -> np.ndarray:
    """Move points on the outermost half-pixel row/column onto the layer rectangle's edge.

    The grown mask is clipped to the rectangle, so a layer that touches its border would otherwise
    leave a quarter-pixel strip of opaque art outside the mesh.
    """
    poly = poly.copy()
    x, y = poly[:, 0], poly[:, 1]
    x[x == 0.25] = 0.0
    x[x == w - 0.25] = float(w)
    y[y == 0.25] = 0.0
    y[y == h - 0.25] = float(h)
    return poly


def _drop_repeats(poly: np.ndarray) -> np.ndarray:
    keep = np.any(poly != np.roll(poly, -1, axis=0), axis=1)
    return poly[keep] if keep.any() else poly[:1]


def _signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


# --------------------------------------------------------------------------------------------
# Simplification


def simplify_contour(poly: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker on a closed polyline: drop points within ``tolerance`` px of the outline.

    Returns a subset of the points in their original order (so orientation is kept), at least
    three when the input has three non-collinear ones. Distances are measured to the chord
    *segment*, so a spike running past a chord's end is kept. ``tolerance=0`` removes only
    collinear points.
    """
    poly = np.asarray(poly, np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2:
        raise ValueError(f"poly must be (K, 2), got shape {poly.shape}")
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
    if len(poly) <= 3:
        return poly.copy()
    return _simplify_all([poly], [tolerance], [tolerance], [None])[0]


def _simplify_all(polys: list[np.ndarray], inward: list[float], outward: list[float],
                  fixed: list[np.ndarray | None]) -> list[np.ndarray]:
    """Douglas-Peucker on many closed polylines at once, one tolerance on each side.

    Sides follow this module's orientation: the domain lies to the left of the direction of
    travel (cross product > 0) for outer outlines and holes alike. ``inward`` bounds how far a
    chord may cut into the domain, ``outward`` how far it may bulge away from it. Points flagged
    in ``fixed`` are always kept. Every chain of every outline is split in the same vectorised
    pass, so the cost is a few numpy passes per recursion level, not one per kept point.
    """
    rings, firsts = [], []
    for poly, fx in zip(polys, fixed):
        poly = np.asarray(poly, np.float64)
        if len(poly) > 1:
            distinct = np.any(poly != np.roll(poly, -1, axis=0), axis=1)
            distinct[0] |= not distinct.any()
            poly = poly[distinct]
            fx = None if fx is None else np.asarray(fx, bool)[distinct]
        anchors = np.nonzero(fx)[0] if fx is not None else np.zeros(0, np.int64)
        if len(poly) > 3 and len(anchors) < 2:
            # Mutually far points lie on the convex hull: good anchors for a closed curve.
            a = int(anchors[0]) if len(anchors) else int(np.argmax(np.sum((poly - poly[0]) ** 2, 1)))
            b = int(np.argmax(np.sum((poly - poly[a]) ** 2, axis=1)))
            anchors = np.unique([a, b])
        start = int(anchors[0]) if len(anchors) else 0
        rings.append(np.roll(poly, -start, axis=0))
        firsts.append(anchors - start)

    # One array of closed rings (first point repeated at the end) for the vectorised passes.
    sizes = np.array([len(r) + 1 for r in rings])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    points = np.vstack([np.vstack([r, r[:1]]) for r in rings])
    ring_of = np.repeat(np.arange(len(rings)), sizes)
    tiny = 1e-12
    inv_in = 1.0 / np.maximum(np.asarray(inward, np.float64), tiny)[ring_of]
    inv_out = 1.0 / np.maximum(np.asarray(outward, np.float64), tiny)[ring_of]
    keep = np.zeros(len(points), bool)
    for ring, off, size, anchors in zip(rings, offsets, sizes, firsts):
        if len(ring) <= 3:
            keep[off:off + size] = True           # nothing to simplify
        else:
            keep[off + anchors] = True
            keep[off + size - 1] = True
    open_points = ~keep
    while open_points.any():
        corners = np.flatnonzero(keep)
        cand = np.flatnonzero(open_points)
        chain = np.searchsorted(corners, cand, side="right") - 1
        p, q = points[corners[chain]], points[corners[chain + 1]]
        d = q - p
        rel = points[cand] - p
        length2 = np.einsum("ij,ij->i", d, d)
        t = np.clip(np.einsum("ij,ij->i", rel, d) / np.maximum(length2, tiny), 0.0, 1.0)
        dist = np.hypot(rel[:, 0] - t * d[:, 0], rel[:, 1] - t * d[:, 1])
        side = d[:, 0] * rel[:, 1] - d[:, 1] * rel[:, 0]   # > 0: on the domain's side
        excess = dist * np.where(side > 0, inv_out[cand], inv_in[cand])
        worst = np.full(len(corners), -1.0)
        np.maximum.at(worst, chain, excess)
        split = worst[chain] > 1.0
        # Chains within tolerance are final; the others keep their worst point.
        open_points[cand[~split]] = False
        winners = np.flatnonzero(split & (excess == worst[chain]))
        if winners.size == 0:
            break
        _, first = np.unique(chain[winners], return_index=True)   # one point per chain
        chosen = cand[winners[first]]
        keep[chosen] = True
        open_points[chosen] = False

    out = []
    for ring, off, size in zip(rings, offsets, sizes):
        kept = keep[off:off + size - 1]
        if len(ring) > 3 and np.count_nonzero(kept) < 3:
            # Everything was within tolerance of one chord: keep the point farthest from it.
            a, b = np.flatnonzero(kept)[:2] if np.count_nonzero(kept) >= 2 else (0, len(ring) // 2)
            d = ring[b] - ring[a]
            off_line = np.abs(d[0] * (ring[:, 1] - ring[a, 1]) - d[1] * (ring[:, 0] - ring[a, 0]))
            far = int(np.argmax(off_line))
            if off_line[far] > 0:
                kept = kept.copy()
                kept[far] = True
        out.append(ring[kept])
    return out


# --------------------------------------------------------------------------------------------
# Validity of a set of outlines


def _segments(contours: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Start points, end points, contour id and position of every outline segment."""
    starts = np.vstack(contours)
    ends = np.vstack([np.roll(c, -1, axis=0) for c in contours])
    owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(contours)])
    position = np.concatenate([np.arange(len(c)) for c in contours])
    return starts, ends, owner, position


def _outlines_are_simple(contours: list[np.ndarray], max_pairs: int = 4_000_000) -> bool:
    """True when no two outline segments touch except consecutive ones at their shared point.

    A sweep along x pairs up only segments whose x ranges overlap. Coordinates come from a
    quarter-pixel grid (or the rectangle's edges), so the orientation tests are exact.
    """
    if any(len(c) < 3 for c in contours):
        return False
    p, q, owner, position = _segments(contours)
    sizes = np.array([len(c) for c in contours])[owner]
    lo = np.minimum(p, q)
    hi = np.maximum(p, q)
    order = np.argsort(lo[:, 0], kind="stable")
    lo, hi, p, q = lo[order], hi[order], p[order], q[order]
    owner, position, sizes = owner[order], position[order], sizes[order]
    n = len(p)
    reach = np.searchsorted(lo[:, 0], hi[:, 0], side="right")
    counts = np.maximum(reach - np.arange(n) - 1, 0)
    first = 0
    while first < n:
        # Chunks keep the pair arrays to a bounded size.
        budget = np.cumsum(counts[first:])
        last = first + max(int(np.searchsorted(budget, max_pairs, side="right")), 1)
        rows = np.arange(first, min(last, n))
        c = counts[rows]
        first = int(rows[-1]) + 1
        total = int(c.sum())
        if total == 0:
            continue
        i = np.repeat(rows, c)
        j = i + 1 + (np.arange(total) - np.repeat(np.cumsum(c) - c, c))
        overlap = (lo[j, 1] <= hi[i, 1]) & (lo[i, 1] <= hi[j, 1])
        i, j = i[overlap], j[overlap]
        if i.size == 0:
            continue
        gap = np.abs(position[i] - position[j])
        adjacent = (owner[i] == owner[j]) & ((gap == 1) | (gap == sizes[i] - 1))
        d1 = _orient(p[i], q[i], p[j])
        d2 = _orient(p[i], q[i], q[j])
        d3 = _orient(p[j], q[j], p[i])
        d4 = _orient(p[j], q[j], q[i])
        touch = (d1 * d2 <= 0) & (d3 * d4 <= 0)
        if np.any(touch & ~adjacent):
            return False
        # Consecutive segments share one point; they must not fold back onto each other.
        fold = adjacent & (d1 == 0) & (d2 == 0)
        if np.any(fold):
            u = q[i[fold]] - p[i[fold]]
            v = q[j[fold]] - p[j[fold]]
            same_start = np.all(p[i[fold]] == q[j[fold]], axis=1) | np.all(q[i[fold]] == p[j[fold]], axis=1)
            # Chained head to tail, the directions of a fold point against each other.
            if np.any(same_start & (np.sum(u * v, axis=1) < 0)):
                return False
    return True


def _orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.sign((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                   - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _crossings(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(P, S) bool: does a ray from each point towards +x cross each segment (even-odd rule)."""
    px, py = points[:, :1], points[:, 1:]
    x1, y1, x2, y2 = starts[:, 0], starts[:, 1], ends[:, 0], ends[:, 1]
    straddle = (y1 > py) != (y2 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    return straddle & (px < x_at)


def _seeds_are_in_holes(contours: list[np.ndarray], outline: _Outline) -> bool:
    """Each hole seed lies inside its own hole and outside the meshed domain (even-odd)."""
    if not outline.seeds:
        return True
    index = list(outline.seeds)
    points = np.array([outline.seeds[i] for i in index])
    p, q, owner, _ = _segments(contours)
    hits = _crossings(points, p, q)
    own = owner[None, :] == np.array(index)[:, None]
    inside_own = (hits & own).sum(axis=1) % 2 == 1
    outside_domain = hits.sum(axis=1) % 2 == 0
    return bool(np.all(inside_own & outside_domain))


# --------------------------------------------------------------------------------------------
# Meshing


def mesh_of_boxes(alpha: np.ndarray, offset: tuple[int, int] = (0, 0), *,
                  gap: int = 16) -> Mesh:
    """Two triangles over the bounding box of each cluster of ``alpha > 0`` (pieces closer than
    ``gap`` px form one cluster), clipped to the layer. For a layer that never bends (the
    backdrop): its texture's alpha draws the shapes, and a one-pixel frame line along the
    canvas needs four vertices instead of the ~1000 an outline-following mesh gives it."""
    alpha = _check_alpha(alpha)
    h, w = alpha.shape
    mask = (alpha > 0).astype(np.uint8)
    if not mask.any():
        return Mesh.empty_mesh()
    near = cv2.dilate(mask, np.ones((gap, gap), np.uint8)) if gap > 1 else mask
    n, _, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    verts, tris = [], []
    for x, y, bw, bh, _ in stats[1:n]:
        x0, y0 = x, y
        x1, y1 = min(x + bw, w), min(y + bh, h)
        if not mask[y0:y1, x0:x1].any():
            continue
        k = len(verts)
        verts += [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        tris += [(k, k + 1, k + 2), (k, k + 2, k + 3)]
    local = np.array(verts, np.float32)
    uvs = local / np.array([w, h], np.float32)
    vertices = local + np.array(offset, np.float32)
    return Mesh(vertices=vertices, triangles=np.array(tris, np.int32), uvs=uvs,
                boundary=np.arange(len(verts), dtype=np.int32))


def default_max_edge(mask_area: float, density: float = 1.0) -> float:
    """Target edge length (px): a small eye gets a few dozen vertices, a shirt a few hundred."""
    return max(8.0, math.sqrt(max(mask_area, 0.0)) / 12.0) / density


def mesh_from_alpha(alpha: np.ndarray, offset: tuple[int, int] = (0, 0), *,
                    max_edge: float | None = None, density: float = 1.0,
                    min_angle: float = 28.0, band: float = 1.5, threshold: int = 1,
                    refine_mask: np.ndarray | None = None,
                    faint_speck_alpha: int = FAINT_SPECK_ALPHA) -> Mesh:
    """A quality triangle mesh covering ``alpha >= threshold`` grown by ``band`` px.

    ``offset`` is the (x, y) canvas position of ``alpha[0, 0]``. ``max_edge`` (px) bounds the
    triangle size; by default it follows the mask's area and is divided by ``density``.
    ``min_angle`` (degrees, at most 34) is Triangle's quality bound. ``refine_mask`` is an optional
    map shaped like ``alpha`` of values >= 0: where it holds r, edges shrink to about
    max_edge / (1 + r) (r = 1 halves them). An empty mask gives an empty mesh.
    """
    alpha = _check_alpha(alpha)
    if not (density > 0 and math.isfinite(density)):
        raise ValueError(f"density must be a positive number, got {density}")
    if max_edge is not None and not (max_edge > 0 and math.isfinite(max_edge)):
        raise ValueError(f"max_edge must be a positive number of pixels, got {max_edge}")
    if not 0 <= min_angle <= MAX_MIN_ANGLE:
        raise ValueError(f"min_angle must be within 0..{MAX_MIN_ANGLE} degrees (Triangle may not "
                         f"terminate above that), got {min_angle}")
    if refine_mask is not None:
        refine_mask = np.asarray(refine_mask, np.float32)
        if refine_mask.shape != alpha.shape:
            raise ValueError(f"refine_mask shape {refine_mask.shape} != alpha shape {alpha.shape}")
        if not np.all(np.isfinite(refine_mask)):
            raise ValueError("refine_mask must be finite")

    outline = _trace(alpha, threshold, band, faint_speck_alpha)
    if not outline.contours:
        return Mesh.empty_mesh()

    area = float(np.count_nonzero(alpha >= threshold))
    if max_edge is None:
        max_edge = default_max_edge(area, density)
    max_area = math.sqrt(3.0) / 4.0 * max_edge * max_edge   # an equilateral triangle's area

    contours = _simplified_outlines(outline, *_corridor(outline.reach, band))
    vertices, triangles, segments = _triangulate(contours, outline, max_area, min_angle)
    if refine_mask is not None and triangles.size:
        vertices, triangles = _refine(vertices, triangles, segments, refine_mask, max_edge,
                                      max_area, min_angle)
    return _finish(vertices, triangles, offset, alpha.shape)


def _corridor(reach: float, band: float) -> tuple[float, float]:
    """How far simplification may cut into / bulge out of the traced outline (px).

    The raw outline runs through boundary cells of the grown grid: each is within ``reach`` px of
    a mask pixel centre and half a pixel from a cell that is not, so more than reach - 0.5 px
    from every centre (reach - 0.55 between cells, where a diagonal step sags). Cutting in by
    reach - 0.65 keeps every centre at least 0.1 px inside; bulging out by band + 0.95 - reach
    stays within band + 1 px of the art.
    """
    return max(reach - 0.65, 0.1), max(band + 0.95 - reach, 0.1)


def _simplified_outlines(outline: _Outline, inward: float, outward: float) -> list[np.ndarray]:
    """Simplify within the corridor; halve it until the outlines stay simple and apart.

    Triangle crashes the process (no exception) on outlines that touch or cross, so outlines
    that are still not simple unsimplified raise instead of reaching it.
    """
    w, h = outline.size
    scale = 1.0
    while True:
        outs, fixed = [], []
        for i, poly in enumerate(outline.contours):
            out = outward * scale
            if i in outline.clearance:
                # A hole must stay open around its seed point.
                out = min(out, 0.5 * outline.clearance[i])
            outs.append(out)
            # Runs along the layer rectangle have no band beyond them: keep them exact.
            fixed.append((poly[:, 0] == 0) | (poly[:, 0] == w) | (poly[:, 1] == 0) | (poly[:, 1] == h))
        contours = _simplify_all(outline.contours, [inward * scale] * len(outs), outs, fixed)
        if _outlines_are_simple(contours) and _seeds_are_in_holes(contours, outline):
            return contours
        if scale == 0.0:
            raise RuntimeError("layer outline touches itself even unsimplified; this is a bug in "
                               "rig.mesh, please report it with the layer's alpha")
        scale = scale / 2.0 if scale > 0.1 else 0.0


def _triangulate(contours: list[np.ndarray], outline: _Outline, max_area: float,
                 min_angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices = np.vstack(contours)
    starts = np.cumsum([0] + [len(c) for c in contours[:-1]])
    segments = np.vstack([np.column_stack([s + np.arange(len(c)), s + (np.arange(len(c)) + 1) % len(c)])
                          for s, c in zip(starts, contours)])
    pslg = {"vertices": vertices, "segments": segments}
    if outline.seeds:
        pslg["holes"] = np.array(list(outline.seeds.values()))
    quality = f"q{min_angle:g}" if min_angle > 0 else ""
    result = triangle.triangulate(pslg, f"p{quality}a{max_area:.6f}")
    if "triangles" not in result:
        return vertices, np.zeros((0, 3), np.int32), segments
    return result["vertices"], result["triangles"], result["segments"]


def _refine(vertices: np.ndarray, triangles: np.ndarray, segments: np.ndarray,
            refine_mask: np.ndarray, max_edge: float, max_area: float,
            min_angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Shrink triangles where ``refine_mask`` asks for it, via Triangle's per-triangle areas."""
    # A max filter as wide as the coarsest triangle: sampling it at a centroid sees any request
    # anywhere in that triangle, and the finer zone fades out over one coarse triangle.
    width = int(math.ceil(max_edge)) | 1
    need = cv2.dilate(np.maximum(refine_mask, 0.0), np.ones((width, width), np.uint8))
    h, w = need.shape
    quality = f"q{min_angle:g}" if min_angle > 0 else ""
    for _ in range(REFINE_PASSES):
        corners = vertices[triangles]
        centre = corners.mean(axis=1)
        col = np.clip(np.floor(centre[:, 0]).astype(int), 0, w - 1)
        row = np.clip(np.floor(centre[:, 1]).astype(int), 0, h - 1)
        target = max_area / (1.0 + need[row, col].astype(np.float64)) ** 2
        too_big = _triangle_areas(vertices, triangles) > target * 1.01
        if not too_big.any():
            break
        bounds = np.where(too_big, target, -1.0)     # -1: no bound beyond the global one
        result = triangle.triangulate({"vertices": vertices, "segments": segments,
                                       "triangles": triangles, "triangle_max_area": bounds},
                                      f"rp{quality}a")
        vertices, triangles, segments = result["vertices"], result["triangles"], result["segments"]
    return vertices, triangles


def _triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (vertices[triangles[:, k]].astype(np.float64) for k in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def _finish(vertices: np.ndarray, triangles: np.ndarray, offset: tuple[int, int],
            shape: tuple[int, int]) -> Mesh:
    """Orient, drop unused vertices, find the outline, move to the canvas, add uvs."""
    triangles = np.asarray(triangles, np.int64)
    if triangles.size == 0:
        return Mesh.empty_mesh()
    area = _triangle_areas(vertices, triangles)
    flip = area < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    triangles = triangles[area != 0]
    used, triangles = np.unique(triangles, return_inverse=True)
    triangles = triangles.reshape(-1, 3)
    local = np.asarray(vertices, np.float64)[used]

    edges = np.sort(triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    unique_edges, count = np.unique(edges, axis=0, return_counts=True)
    boundary = np.unique(unique_edges[count == 1])

    h, w = shape
    ox, oy = offset
    return Mesh(vertices=(local + np.array([ox, oy], np.float64)).astype(np.float32),
                triangles=triangles.astype(np.int32),
                uvs=(local / np.array([w, h], np.float64)).astype(np.float32),
                boundary=boundary.astype(np.int32))


# --------------------------------------------------------------------------------------------
# Diagnostics


def rasterize_coverage(mesh: Mesh, shape: tuple[int, int],
                       offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(h, w) bool: which pixels of a grid placed at canvas ``offset`` have their centre in the mesh.

    A centre on a triangle's edge counts as inside. Exact, with no scan-line rounding (unlike
    cv2.fillPoly, which also marks pixels an edge merely passes near), so tests can compare
    coverage with masks pixel by pixel. Each triangle is cut into one span per pixel row; spans
    are painted with a running sum along each row.
    """
    h, w = int(shape[0]), int(shape[1])
    if mesh.n_triangles == 0 or h == 0 or w == 0:
        return np.zeros((h, w), bool)
    # Pixel (row i, column j) has its centre at integer (j, i) in these coordinates.
    pts = mesh.vertices.astype(np.float64) - np.array(offset, np.float64) - 0.5
    tri = pts[mesh.triangles]                                      # (M, 3, 2)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    orient = np.sign((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                     - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
    keep = orient != 0
    tri, orient = tri[keep], orient[keep]
    y0 = np.clip(np.ceil(tri[..., 1].min(axis=1) - 1e-9), 0, h).astype(np.int64)
    y1 = np.clip(np.floor(tri[..., 1].max(axis=1) + 1e-9) + 1, 0, h).astype(np.int64)
    rows = np.maximum(y1 - y0, 0)
    owner = np.repeat(np.arange(len(tri)), rows)
    y = (y0[owner] + np.arange(rows.sum()) - np.repeat(np.cumsum(rows) - rows, rows)).astype(np.float64)
    left = np.full(len(owner), -np.inf)
    right = np.full(len(owner), np.inf)
    for e in range(3):
        p, q = tri[owner, e], tri[owner, (e + 1) % 3]
        # Inside this edge: s * ((q - p) x (pt - p)) >= 0, i.e. A * x >= B on the row.
        s = orient[owner]
        coef_a = -s * (q[:, 1] - p[:, 1])
        coef_b = -s * ((q[:, 0] - p[:, 0]) * (y - p[:, 1]) + (q[:, 1] - p[:, 1]) * p[:, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = coef_b / coef_a
        left = np.where(coef_a > 0, np.maximum(left, bound), left)
        right = np.where(coef_a < 0, np.minimum(right, bound), right)
        # Edges parallel to the row: the whole row is inside or outside of them.
        flat_out = (coef_a == 0) & (coef_b > 1e-9)
        right = np.where(flat_out, -np.inf, right)
    x0 = np.clip(np.ceil(left - 1e-9), 0, w).astype(np.int64)
    x1 = np.clip(np.floor(right + 1e-9) + 1, 0, w).astype(np.int64)
    filled = x1 > x0
    row = y[filled].astype(np.int64)
    runs = np.zeros((h, w + 1), np.int32)
    np.add.at(runs, (row, x0[filled]), 1)
    np.add.at(runs, (row, x1[filled]), -1)
    return np.cumsum(runs, axis=1)[:, :w] > 0
