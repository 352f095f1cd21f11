"""Bind each vertex to the global warp: how much it follows the head, how high it stands above
the head's centre plane (turn parallax), where it sits on the torso cylinder, how much it sways
and breathes. See rig.deform for what the numbers mean.

Heights come from the layer's part and its pseudo-depth: the face is a dome (an ellipsoid over
the face outline), eyes/brows/nose/mouth stand rigidly on it, glasses follow it just above the
skin, front hair floats just above it,
ears sit at its rim and back hair lies behind. Layers nearer than the face by pseudo-depth float
higher, farther ones sink, so an artist's or See-through's depth ordering shows up as parallax.
"""
from __future__ import annotations

import numpy as np

from seethrough_core.taxonomy import BACKDROP_TAG, EYE_TAGS, HEAD_TAGS

from .anchors import Anchors
from .deform import WarpAttributes, smoothstep

FEATURE_TAGS = EYE_TAGS | {"nose", "mouth"}
EYEWEAR_LIFT = 0.05     # head radii between the skin and a glasses frame
NECK_AXIS_DEPTH = 0.3   # head radii from the head's centre plane back to the neck's turning axis
HAIR_LIFT = 0.12        # head radii between the skin and front hair
MAX_DEPTH_LIFT = 0.15   # head radii of height that pseudo-depth may add or take away
SIDE_LOCK_LIFT = 0.35   # share of HAIR_LIFT front hair keeps beside the face


def body_levels(anchors: Anchors) -> tuple[float, float, float]:
    """(shoulder_y, chest_y, hip_y)."""
    hip_y = anchors.hip[1] if anchors.hip else anchors.canvas[1]
    if anchors.shoulders:
        shoulder_y = 0.5 * (anchors.shoulders[0][1] + anchors.shoulders[1][1])
    else:
        shoulder_y = anchors.neck_pivot[1] + 0.35 * anchors.face_size[1]
    hip_y = max(hip_y, shoulder_y + 1.0)
    chest_y = shoulder_y + 0.4 * (hip_y - shoulder_y)
    return shoulder_y, chest_y, hip_y


# A sphere's rim is vertical: turned by 30 degrees, the far side of a spherical face folds over
# itself. A paraboloid cap has a bounded slope 2 h R / rx at its rim; keeping that below
# cot(35 deg) guarantees no triangle flips for head angles up to 35 degrees.
MAX_RIM_SLOPE = 1.0 / np.tan(np.radians(35.0))
DOME_HEIGHT = 0.7     # cap height in head radii, lowered further where the slope needs it


def dome_height(anchors: Anchors) -> float:
    rx = max(0.5 * anchors.face_size[0], 1.0)
    ry = max(0.55 * anchors.face_size[1], 1.0)
    r = max(anchors.head_radius, 1e-6)
    return min(DOME_HEIGHT, 0.9 * MAX_RIM_SLOPE * min(rx, ry) / (2.0 * r))


def face_dome(x: np.ndarray, y: np.ndarray, anchors: Anchors) -> np.ndarray:
    """Height of the face surface above the head centre plane (0 outside the face)."""
    hx, hy = anchors.head_center
    rx = max(0.5 * anchors.face_size[0], 1.0)
    ry = max(0.55 * anchors.face_size[1], 1.0)
    q = 1.0 - ((x - hx) / rx) ** 2 - ((y - hy) / ry) ** 2
    return anchors.head_radius * dome_height(anchors) * np.clip(q, 0.0, 1.0)


def depth_lift(depth: float | None, reference: float | None, head_radius: float) -> float:
    """Pseudo-depth relative to the other layers of the same part as a height: nearer than
    their mean lifts a layer by up to MAX_DEPTH_LIFT head radii (0.25 of depth range
    saturates), farther lowers it. The part itself already fixes how high it stands (front
    hair above the skin, back hair behind); depth adds what a part's layers show beyond that
    (See-through's near and far strata), so a file with depth and the same file without it
    turn alike."""
    if depth is None or reference is None:
        return 0.0
    return float(np.clip((reference - depth) / 0.25, -1.0, 1.0)) * MAX_DEPTH_LIFT * head_radius


def reference_depths(layers) -> dict[str, float]:
    """Per tag, the mean pseudo-depth of its layers weighted by their opaque pixels (layers
    with ``tag``, ``depth`` (median) and ``texture`` (RGBA) attributes)."""
    sums: dict[str, list[float]] = {}
    for l in layers:
        if l.depth is None or getattr(l, "variant", None) is not None:
            continue
        weight = float(np.count_nonzero(l.texture[..., 3] > 127)) if l.texture.size else 0.0
        acc = sums.setdefault(l.tag, [0.0, 0.0])
        acc[0] += weight * float(l.depth)
        acc[1] += weight
    return {tag: s / w for tag, (s, w) in sums.items() if w > 0}


# Clothes whose upper edge, drawn over the neck, is where the neck meets the body.
NECK_COVERS = ("topwear", "neckwear")


def neck_floor(layers, anchors: Anchors) -> tuple[np.ndarray, np.ndarray] | None:
    """(columns, rows): per canvas column across the neck, the first row below the chin where
    clothes drawn over it begin (``layers`` in drawing order, each with ``tag``, ``variant``,
    ``texture`` and ``offset``), or None when nothing lies over the neck. The neck is fixed
    to the body there: bound to the head down to a fixed share of the way to the shoulders,
    its edge under a neckline above that share rose with a look-up and showed the flat paint
    under the top as a band."""
    necks = [i for i, l in enumerate(layers) if l.tag == "neck" and l.variant is None
             and l.texture.size]
    if not necks:
        return None
    neck = layers[necks[0]]
    h, w = neck.texture.shape[:2]
    x0, y0 = neck.offset
    painted = neck.texture[..., 3] > 127
    chin_y = anchors.neck_pivot[1]
    cover = np.zeros((h, w), bool)
    for l in layers[necks[0] + 1:]:
        if l.tag not in NECK_COVERS or l.variant is not None or not l.texture.size:
            continue
        lh, lw = l.texture.shape[:2]
        lx, ly = l.offset
        ax0, ay0 = max(x0, lx), max(y0, ly)
        ax1, ay1 = min(x0 + w, lx + lw), min(y0 + h, ly + lh)
        if ax1 > ax0 and ay1 > ay0:
            cover[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] |= \
                l.texture[ay0 - ly:ay1 - ly, ax0 - lx:ax1 - lx, 3] > 127
    rows = np.arange(h)[:, None] + y0
    meet = painted & cover & (rows > chin_y)
    cols = np.flatnonzero(meet.any(axis=0))
    if cols.size == 0:
        return None
    first = np.argmax(meet[:, cols], axis=0) + y0
    return (cols + x0).astype(np.float64), first.astype(np.float64)


def held_at_floor(vertices: np.ndarray, w_head: np.ndarray, floor: tuple[np.ndarray, np.ndarray],
                  anchors: Anchors) -> np.ndarray:
    """The neck's head weights (after stitching, which carries the chin's and the locks'
    motion some way down it) brought to 0 at its floor and below, over the lower half of the
    way up to the chin: the neck's edge under a neckline stays on the body."""
    x, y = vertices[:, 0].astype(np.float64), vertices[:, 1].astype(np.float64)
    chin_y = anchors.neck_pivot[1]
    low = np.interp(x, *floor)
    ramp = smoothstep(low, 0.5 * (low + chin_y), y)
    return np.minimum(w_head, np.where(low > chin_y, ramp, w_head))


def bind_layer(vertices: np.ndarray, tag: str, anchors: Anchors, depth: float | None,
               reference_depth: float | None,
               floor: tuple[np.ndarray, np.ndarray] | None = None) -> WarpAttributes:
    """How each vertex of a layer follows the head and the body. ``floor``: the neck's
    (neck_floor), for the neck."""
    n = len(vertices)
    if n == 0 or tag == BACKDROP_TAG:
        return WarpAttributes.empty(n)      # the picture around the character stays put
    x, y = vertices[:, 0].astype(np.float64), vertices[:, 1].astype(np.float64)
    r = anchors.head_radius
    shoulder_y, chest_y, hip_y = body_levels(anchors)
    chin_y = anchors.neck_pivot[1]

    lift = depth_lift(depth, reference_depth, r)

    is_head = tag in HEAD_TAGS
    z_head = np.zeros(n)
    w_head = np.zeros(n)
    # Heights are measured from the head's centre plane; the head turns about the neck, whose
    # axis lies behind that plane, so every head point also swings by NECK_AXIS_DEPTH.
    if is_head:
        w_head[:] = 1.0
        if tag == "face":
            z_head = face_dome(x, y, anchors)
        elif tag in EYE_TAGS:
            # Eyes lie on the face's curve, a little above the skin, as a face warp carries
            # them: held at their centre's height, an eye's outer corner swung past the skin
            # and the locks beside it by a fifth of a head radius times the turn's sine, and
            # a lash wing drawn on a lock, or the skin seen between locks, came apart there.
            z_head = face_dome(x, y, anchors) + 0.05 * r
        elif tag in FEATURE_TAGS:
            # The nose and mouth move rigidly: the dome height at their own centre, a little
            # above the skin (on the face's centre line, where the dome is flat).
            c = np.repeat(vertices.mean(axis=0, keepdims=True), n, axis=0)
            z_head = face_dome(c[:, 0], c[:, 1], anchors) + 0.05 * r
        elif tag == "eyewear":
            # Glasses follow the face's curve a little above the skin: a rigid frame at the
            # height of the nose bridge would slide its outer rims past the face's outline
            # when the head turns, and a frame cut from one picture (its rims partly in the
            # face's or the lashes' layers) would come apart from its own pieces.
            z_head = face_dome(x, y, anchors) + EYEWEAR_LIFT * r
        elif tag in ("front hair", "headwear"):
            # Just above the skin: hair and face move together, so no gap opens at the temple.
            # Beside the face a lock lies on the side of the head, near the back hair's
            # depth: it keeps only a little of the lift (so the locks and the hair behind
            # them do not slide apart when the head turns).
            dome = face_dome(x, y, anchors)
            # Regained over the dome's whole height: a steeper blend would tilt the hair
            # enough to fold it at the face's rim when the head turns far.
            over = np.clip(dome / max(dome_height(anchors) * r, 1e-6), 0.0, 1.0)
            z_head = 0.9 * dome + HAIR_LIFT * r * (SIDE_LOCK_LIFT + (1 - SIDE_LOCK_LIFT) * over) \
                + max(lift, 0.0)
        elif tag == "hair":
            z_head = 0.5 * face_dome(x, y, anchors) + 0.1 * r
        elif tag == "back hair":
            # Seen around the face, back hair is the head's silhouette: nearly in the centre plane.
            z_head = np.full(n, -0.05 * r + min(lift, 0.0))
        elif tag in ("ears", "earwear"):
            z_head = np.zeros(n)
        else:
            z_head = face_dome(x, y, anchors) + lift
    elif tag == "neck":
        # The neck bends: its top follows the head, its base the body.
        base = chin_y + 0.7 * max(shoulder_y - chin_y, 1.0)
        if floor is not None:
            # Down to where the clothes over it begin, not past it; and over a quarter of the
            # way at least, however high a collar (the bend is not one row).
            base = np.clip(np.interp(x, *floor), chin_y + 0.25 * (base - chin_y), base)
        w_head = smoothstep(base, chin_y - 0.05 * r, y)
        z_head = np.zeros(n)
    if is_head or tag == "neck":
        z_head = z_head + NECK_AXIS_DEPTH * r

    # Body: a cylinder about the body axis; the head rides on the chest's front.
    bcx = anchors.body_center_x
    if anchors.shoulders:
        rb = max(0.5 * (anchors.shoulders[1][0] - anchors.shoulders[0][0]), 1.0)
    else:
        rb = max(anchors.face_size[0], 1.0)
    cyl = 0.5 * rb * np.sqrt(np.clip(1.0 - ((x - bcx) / rb) ** 2, 0.0, 1.0))
    if is_head or tag == "neck":
        z_body = np.full(n, 0.5 * rb)
        w_body = np.ones(n)
        w_breath = np.ones(n)
    else:
        z_body = cyl + (0.1 * rb if tag in ("neckwear",) else 0.0)
        if tag == "handwear":
            z_body = np.full(n, 0.1 * rb)
        w_body = smoothstep(hip_y, chest_y, y)
        w_breath = smoothstep(chest_y + 0.3 * (hip_y - chest_y), shoulder_y, y)
        if tag == "handwear":
            # Arms hang from the shoulders: they sway and breathe with them as one piece.
            w_body = np.full(n, float(smoothstep(hip_y, chest_y, shoulder_y)))
            w_breath = np.ones(n)
    return WarpAttributes(w_head.astype(np.float64), z_head.astype(np.float64),
                          z_body.astype(np.float64), w_body.astype(np.float64),
                          w_breath.astype(np.float64))
