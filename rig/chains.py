"""Find the strands that swing (hair, skirt hems, sleeves, tails, ribbons) and lay particle chains
along them, root to tip.

For one layer: mark its *root zone* (where it is attached: the scalp for hair, the waist for a
skirt, the shoulder for a sleeve), compute the geodesic distance from that zone through the
layer's opaque pixels (on a coarse grid, with steps through thin places costing more so paths
run down the middle of a strand), take the local maxima of that distance as strand tips, and
follow the shortest paths back to the root. Each path, smoothed and resampled, is a chain.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from .anchors import Anchors

GRID_CELLS = 96          # the layer's longer side on the coarse grid
# Groups whose chains hang from their roots (hair): their strands fall, tips below roots.
HANGING_GROUPS = frozenset({"front hair", "side hair", "back hair", "hair"})
MAX_CHAINS = {"front hair": 6, "side hair": 4, "back hair": 6, "hair": 8, "skirt": 5,
              "sleeves": 2, "tail": 1, "ribbons": 2}


@dataclass
class ChainSpec:
    name: str
    group: str
    layer: int                  # index of the layer it bends
    rest: np.ndarray            # (P, 2) particle rest positions, root first, canvas px
    attach: str                 # 'head' or 'body': what the root moves with

    def to_dict(self) -> dict:
        return {"name": self.name, "group": self.group, "layer": self.layer,
                "rest": np.asarray(self.rest, np.float64).tolist(), "attach": self.attach}

    @classmethod
    def from_dict(cls, d: dict) -> "ChainSpec":
        return cls(d["name"], d["group"], int(d["layer"]), np.asarray(d["rest"], np.float64),
                   d["attach"])


def chain_group_for(tag: str) -> str | None:
    return {"front hair": "front hair", "back hair": "back hair", "hair": "hair",
            "bottomwear": "skirt", "handwear": "sleeves", "tail": "tail",
            "headwear": "ribbons", "neckwear": "ribbons"}.get(tag)


def root_zone(alpha: np.ndarray, offset: tuple[int, int], tag: str, anchors: Anchors) -> np.ndarray:
    """Boolean mask (layer pixels) of where the layer is attached."""
    h, w = alpha.shape
    opaque = alpha >= 128
    ys, xs = np.mgrid[0:h, 0:w]
    cx_abs = xs + offset[0]
    cy_abs = ys + offset[1]
    zone = np.zeros_like(opaque)
    if tag in ("front hair", "back hair", "hair", "headwear"):
        hx, hy = anchors.head_center
        r = anchors.head_radius
        # Hair grows from the crown: above the top of the face sphere (the fringe hangs below it).
        zone = opaque & (np.abs(cx_abs - hx) < 0.8 * r) & (cy_abs < hy - 0.7 * r)
    elif tag == "tail" and anchors.hip is not None:
        d = np.hypot(cx_abs - anchors.hip[0], cy_abs - anchors.hip[1])
        zone = opaque & (d <= d[opaque].min() + 0.1 * max(h, w)) if opaque.any() else zone
    if zone.sum() < 4:
        # Attached along the top: the waist of a skirt, a sleeve at the shoulder, a lone strand.
        rows = np.nonzero(opaque.any(axis=1))[0]
        if rows.size:
            top = rows[0] + max(2, int(0.12 * (rows[-1] - rows[0] + 1)))
            zone = opaque & (ys < top)
    return zone


def find_chains(alpha: np.ndarray, offset: tuple[int, int], tag: str, anchors: Anchors,
                layer_index: int, name: str) -> list[ChainSpec]:
    group = chain_group_for(tag)
    if group is None or alpha.size == 0:
        return []
    h, w = alpha.shape
    step = max(1.0, max(h, w) / GRID_CELLS)
    gw, gh = max(2, int(round(w / step))), max(2, int(round(h / step)))
    sx, sy = w / gw, h / gh
    grid = cv2.resize((alpha >= 128).astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA) >= 0.5
    zone_full = root_zone(alpha, offset, tag, anchors)
    zone = cv2.resize(zone_full.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA) > 0.25
    zone &= grid
    if grid.sum() < 6 or not zone.any():
        return []

    dist_to_edge = ndimage.distance_transform_edt(grid)
    dist, pred = _geodesic(grid, zone, dist_to_edge)
    finite = np.isfinite(dist)
    if not finite.any():
        return []
    scale = 0.5 * (sx + sy)
    head_r = anchors.head_radius
    min_len = {"skirt": 0.25, "sleeves": 0.5}.get(group, 0.25) * (head_r / scale)
    min_len = min(min_len, 0.6 * dist[finite].max())

    if group == "skirt":
        tips = _hem_tips(grid, dist, MAX_CHAINS[group], min_len)
    else:
        # Tips closer than ~0.35 head radii belong to one strand: two chains there would pull
        # the same strand apart.
        nms = max(3, int(round((0.35 * head_r) / scale)))
        tips = _local_maxima(dist, finite, nms, min_len, MAX_CHAINS.get(group, 4))
    # One physics group per layer: chains of one layer swinging with different physics would
    # tear it. Front hair hanging beside the face (by the layer's centre) is side hair.
    chain_group = group
    if tag == "front hair" and anchors.face_size[0] > 0:
        ys, xs = np.nonzero(alpha >= 128)
        if xs.size and abs(xs.mean() + offset[0] - anchors.face_center[0]) > 0.42 * anchors.face_size[0]:
            chain_group = "side hair"
    chains = []
    for k, (ty, tx) in enumerate(tips):
        path = _trace(pred, ty * gw + tx, gw)
        if len(path) < 3:
            continue
        pts = np.array([((i % gw + 0.5) * sx + offset[0], (i // gw + 0.5) * sy + offset[1])
                        for i in path[::-1]], np.float64)          # root first
        pts = _smooth(pts)
        seg = {"skirt": 0.3, "sleeves": 0.45}.get(group, 0.16) * head_r
        n = int(np.clip(round(_length(pts) / max(seg, 1.0)) + 1, 3, 8))
        rest = _resample(pts, n)
        if group in HANGING_GROUPS and not _hangs(rest):
            continue
        attach = "head" if tag in ("front hair", "back hair", "hair", "headwear") else "body"
        chains.append(ChainSpec(f"{name}#{k}", chain_group, layer_index, rest, attach))
    return chains


def _hangs(rest: np.ndarray) -> bool:
    """Whether a chain hangs: its tip lies below its root, at most 60 degrees off straight
    down. The side of a round head juts out beside the root zone, so the geodesic distance
    peaks there too: a chain straight out sideways from the zone's edge is the skull's
    outline, no strand. Swung by gravity it buckled, and the layer bent with it tore the head
    apart when the head tilted."""
    d = rest[-1] - rest[0]
    return bool(d[1] >= 0.5 * np.hypot(d[0], d[1]))


def _geodesic(grid: np.ndarray, zone: np.ndarray, dist_to_edge: np.ndarray):
    """Multi-source Dijkstra over the 8-connected opaque cells; thin places cost more."""
    gh, gw = grid.shape
    idx = np.arange(gh * gw).reshape(gh, gw)
    cost = 1.0 + 2.0 / (1.0 + dist_to_edge)       # per cell: prefer the middle of a strand
    rows, cols, vals = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = grid[max(0, -dy):gh - max(0, dy), max(0, -dx):gw - max(0, dx)]
        ys0, ys1 = max(0, -dy), gh - max(0, dy)
        xs0, xs1 = max(0, -dx), gw - max(0, dx)
        b = grid[ys0 + dy:ys1 + dy, xs0 + dx:xs1 + dx]
        both = a & b
        ia = idx[ys0:ys1, xs0:xs1][both]
        ib = idx[ys0 + dy:ys1 + dy, xs0 + dx:xs1 + dx][both]
        length = np.hypot(dx, dy)
        c = 0.5 * (cost.ravel()[ia] + cost.ravel()[ib]) * length
        rows += [ia, ib]
        cols += [ib, ia]
        vals += [c, c]
    graph = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(gh * gw, gh * gw)).tocsr()
    sources = idx[zone]
    dist, pred, _ = dijkstra(graph, directed=True, indices=sources, min_only=True,
                             return_predecessors=True)
    return dist.reshape(gh, gw), pred


def _local_maxima(dist, finite, size, min_len, limit):
    d = np.where(finite, dist, -1.0)
    peaks = (d == ndimage.maximum_filter(d, size=size)) & (d >= min_len)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-d[ys, xs])
    chosen: list[tuple[int, int]] = []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        if all((y - cy) ** 2 + (x - cx) ** 2 >= size * size for cy, cx in chosen):
            chosen.append((y, x))
        if len(chosen) >= limit:
            break
    return chosen


def _hem_tips(grid, dist, count, min_len):
    """Evenly spaced points along the bottom edge (a skirt hem)."""
    cols = np.nonzero(grid.any(axis=0))[0]
    if cols.size == 0:
        return []
    xs = np.linspace(cols[0], cols[-1], count + 2)[1:-1].round().astype(int)
    tips = []
    for x in xs:
        ys = np.nonzero(grid[:, x])[0]
        if ys.size and np.isfinite(dist[ys[-1], x]) and dist[ys[-1], x] >= min_len:
            tips.append((int(ys[-1]), int(x)))
    return tips


def _trace(pred, start, gw):
    path = [start]
    cur = start
    while pred[cur] >= 0 and len(path) < 100000:
        cur = pred[cur]
        path.append(int(cur))
    return path


def _smooth(pts: np.ndarray, k: int = 2) -> np.ndarray:
    if len(pts) < 2 * k + 1:
        return pts
    out = pts.copy()
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    for d in range(2):
        padded = np.pad(pts[:, d], k, mode="edge")
        out[:, d] = np.convolve(padded, kernel, mode="valid")
    out[0], out[-1] = pts[0], pts[-1]
    return out


def _length(pts: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def _resample(pts: np.ndarray, n: int) -> np.ndarray:
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(pts[:1], n, axis=0)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], axis=1)


# Default physics per chain group, for a head of REFERENCE_HEAD_RADIUS px (the rig scales the
# accelerations, gravity and wind, to its own head size). Fringes are springier than long hair
# (they swing back faster after a move) and less dragged along; sleeves barely swing.
REFERENCE_HEAD_RADIUS = 150.0
# Hair is one material: held at a tilt, a point of any lock sags as far as a point the same
# way from its root on any other, whichever layer holds it (a particle sags by
# gravity / (2 pi f)^2, f growing with the stiffness, so gravity / stiffness^2 is the same for
# all hair groups, over one stiffness profile that runs the length of the longest lock: the
# rig builds the hair groups' chains as one material, see springs.build_chains). Front locks
# hanging beside back hair that sagged five times as far parted from it at a tilt, and the
# page showed between them.
HAIR_SAG = 5220.0           # gravity / stiffness^2 of every hair group
HAIR_TIP_STIFFNESS = 0.4


def _hair(stiffness: float, damping: float, inertia: float):
    from .springs import ChainParams
    return ChainParams(stiffness=stiffness, damping=damping, gravity=HAIR_SAG * stiffness ** 2,
                       inertia=inertia, root_stiffness=1.5, tip_stiffness=HAIR_TIP_STIFFNESS)


def _group_defaults():
    from .springs import PRESETS, ChainParams
    return {
        "back hair": _hair(stiffness=0.35, damping=6.0, inertia=0.45),
        "hair": _hair(stiffness=0.45, damping=6.5, inertia=0.4),
        "side hair": _hair(stiffness=0.45, damping=6.5, inertia=0.4),
        "front hair": _hair(stiffness=0.6, damping=7.0, inertia=0.35),
        "skirt": ChainParams(stiffness=0.7, damping=6.0, gravity=800.0, inertia=0.5,
                             root_stiffness=1.5, tip_stiffness=0.6),
        "sleeves": PRESETS["stiff"],
        "tail": PRESETS["soft"],
        "ribbons": PRESETS["soft"],
    }


def default_chain_params(group: str):
    from .springs import PRESETS
    return _group_defaults().get(group, PRESETS["normal"])
