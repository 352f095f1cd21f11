"""Anchors: where the face, eyes, brows, mouth, neck, shoulders and hip are, found from the layers.

Everything is measured from alpha masks on the canvas, so it works the same for See-through
output, artists' PSDs and our example character. Paired parts may come as one layer holding both
sides (See-through before its left/right split); they are separated here by connected components.
Sides are the character's: the character's right eye is on the image's left.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from seethrough_core.character import Character, InputError, Layer

Point = tuple[float, float]


@dataclass
class EyeAnchor:
    center: Point                 # centre of the eyewhite (or of the eye art when there is none)
    size: Point                   # (w, h) of the eyewhite
    closing_line: list[float]     # y = a u^2 + b u + c, u = x - center x: the eyewhite's lower edge
    top_line: list[float]         # the same through its upper edge (where the upper lash sits)
    x_range: Point                # eye corners' x
    iris_center: Point            # iris rest position
    iris_size: Point
    brow_center: Point | None = None
    brow_size: Point | None = None

    def closing_y(self, x: np.ndarray | float) -> np.ndarray | float:
        u = np.asarray(x) - self.center[0]
        a, b, c = self.closing_line
        return a * u * u + b * u + c

    def top_y(self, x: np.ndarray | float) -> np.ndarray | float:
        u = np.asarray(x) - self.center[0]
        a, b, c = self.top_line
        return a * u * u + b * u + c


@dataclass
class Anchors:
    canvas: Point
    face_center: Point
    face_size: Point
    head_center: Point            # centre of the head sphere used for turning (3D rotation axis)
    head_radius: float
    neck_pivot: Point             # roll pivot: the chin/neck joint
    eyes: dict[str, EyeAnchor] = field(default_factory=dict)   # 'l' / 'r'
    mouth_center: Point | None = None
    mouth_corners: tuple[Point, Point] | None = None   # image-left first
    mouth_size: Point | None = None
    shoulders: tuple[Point, Point] | None = None       # image-left first
    hip: Point | None = None
    body_center_x: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Anchors":
        d = dict(d)
        d["eyes"] = {k: EyeAnchor(**v) for k, v in d.get("eyes", {}).items()}
        for key in ("mouth_corners", "shoulders"):
            if d.get(key) is not None:
                d[key] = tuple(tuple(p) for p in d[key])
        return cls(**d)


# ------------------------------------------------------------------------------------ masks

def _canvas_alpha(character: Character, layers: list[Layer], threshold: int = 16) -> np.ndarray:
    w, h = character.size
    mask = np.zeros((h, w), bool)
    for layer in layers:
        x0, y0, x1, y1 = layer.bbox
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 > cx0 and cy1 > cy0:
            mask[cy0:cy1, cx0:cx1] |= layer.alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] >= threshold
    return mask


def _components(mask: np.ndarray, min_area: int) -> list[tuple[np.ndarray, tuple[int, int, int, int], int]]:
    """Connected components as (mask, bbox (x0, y0, x1, y1), area), largest first."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= min_area:
            out.append((labels == i, (int(x), int(y), int(x + w), int(y + h)), int(area)))
    out.sort(key=lambda c: -c[2])
    return out


def _centroid(mask: np.ndarray) -> Point:
    ys, xs = np.nonzero(mask)
    return (float(xs.mean()), float(ys.mean()))


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _split_pair(character: Character, tag: str, min_area: int) -> dict[str, np.ndarray]:
    """Masks of a paired part per character side, from side-tagged layers or by components."""
    layers = [l for l in character.find(tag, variant=None)]
    if not layers:
        return {}
    out: dict[str, np.ndarray] = {}
    sided = [l for l in layers if l.side in ("l", "r")]
    if sided:
        for side in ("l", "r"):
            m = _canvas_alpha(character, [l for l in sided if l.side == side])
            if m.any():
                out[side] = m
        if len(out) == 2:
            return out
    mask = _canvas_alpha(character, layers)
    comps = _components(mask, min_area)
    if len(comps) >= 2:
        a, b = comps[0], comps[1]
        # Merge smaller pieces (an iris highlight, a split lash) into the nearer of the two.
        ma, mb = a[0].copy(), b[0].copy()
        ca, cb = _centroid(ma), _centroid(mb)
        for m, _, _ in comps[2:]:
            c = _centroid(m)
            if abs(c[0] - ca[0]) < abs(c[0] - cb[0]):
                ma |= m
            else:
                mb |= m
        left_img, right_img = (ma, mb) if ca[0] < cb[0] else (mb, ma)
        # The character's right is on the image's left.
        out.setdefault("r", left_img)
        out.setdefault("l", right_img)
    elif comps:
        out["single"] = mask
    return out


def _edge_curve(mask: np.ndarray, lower: bool, x_origin: float) -> tuple[list[float], Point]:
    """Quadratic in (x - x_origin) through the lower (or upper) edge of a blob, fitted over its
    inner 80 % width."""
    ys, xs = np.nonzero(mask)
    x0, x1 = xs.min(), xs.max()
    cols = np.arange(x0, x1 + 1)
    edge = np.full(cols.shape, np.nan)
    for i, x in enumerate(cols):
        col = ys[xs == x]
        if col.size:
            edge[i] = col.max() + 1 if lower else col.min()
    keep = ~np.isnan(edge)
    span = x1 - x0
    inner = (cols >= x0 + 0.1 * span) & (cols <= x1 - 0.1 * span) & keep
    if inner.sum() < 3:
        inner = keep
    if inner.sum() >= 3:
        coef = np.polyfit(cols[inner].astype(float) - x_origin, edge[inner], 2)
    else:
        coef = np.array([0.0, 0.0, float(np.nanmean(edge))])
    return [float(c) for c in coef], (float(x0), float(x1 + 1))


# ---------------------------------------------------------------------------------- anchors

def find_anchors(character: Character) -> Anchors:
    """Measure the character's anchors. Raises InputError when there is no face to rig."""
    w, h = character.size
    face_layers = character.find("face", variant=None)
    face_mask = _canvas_alpha(character, face_layers) if face_layers else None
    head_mask = _canvas_alpha(character, [l for l in character.layers if l.tag in
                                          ("face", "front hair", "back hair", "hair")])
    if face_mask is None or not face_mask.any():
        # No face layer: fall back on the eyes and hair to place the head.
        if not head_mask.any():
            raise InputError("no face or hair layer found: the rigger needs at least a 'face' "
                             "layer (see `seethrough-rig inspect` for how layers were named)")
        face_mask = head_mask

    fb = _bbox(face_mask)
    eyes = _find_eyes(character)
    face_w = fb[2] - fb[0]

    # The face layer often carries the neck or ears; measure the face proper from the eyes.
    if eyes:
        eye_x = [e.center[0] for e in eyes.values()]
        eye_y = float(np.mean([e.center[1] for e in eyes.values()]))
        cx = float(np.mean(eye_x)) if len(eyes) == 2 else (fb[0] + fb[2]) / 2
    else:
        cx, eye_y = (fb[0] + fb[2]) / 2, fb[1] + 0.55 * (fb[3] - fb[1])

    mouth = _find_mouth(character)
    chin_y = _chin_y(face_mask, cx, face_w)
    face_top = fb[1]
    face_h = chin_y - face_top
    cy = (face_top + chin_y) / 2
    if mouth is not None:
        face_cy = (eye_y + mouth[0][1]) / 2
    else:
        face_cy = eye_y + 0.15 * face_h
    # Head sphere: centred between the brows and the chin horizontally at the face centre,
    # radius from the face width (the widest part of the skull).
    radius = 0.5 * max(face_w * 0.9, face_h * 0.75)
    neck_pivot = (cx, chin_y - 0.05 * face_h)

    shoulders, hip, body_cx = _find_body(character, cx, chin_y, face_w)
    anchors = Anchors(
        canvas=(float(w), float(h)), face_center=(cx, float(face_cy)),
        face_size=(float(face_w), float(face_h)), head_center=(cx, float(cy)),
        head_radius=float(radius), neck_pivot=(cx, float(neck_pivot[1])), eyes=eyes,
        shoulders=shoulders, hip=hip, body_center_x=body_cx,
    )
    if mouth is not None:
        anchors.mouth_center, anchors.mouth_corners, anchors.mouth_size = mouth
    return anchors


def _chin_y(face_mask: np.ndarray, cx: float, face_w: float) -> float:
    """Lowest face pixel near the centre line (the face layer may include ears; not the neck)."""
    x0 = int(max(cx - 0.15 * face_w, 0))
    x1 = int(min(cx + 0.15 * face_w + 1, face_mask.shape[1]))
    ys = np.nonzero(face_mask[:, x0:x1].any(axis=1))[0]
    return float(ys.max() + 1) if ys.size else float(face_mask.shape[0])


def _find_eyes(character: Character) -> dict[str, EyeAnchor]:
    w, h = character.size
    min_area = max(4, int(w * h * 1e-5))
    whites = _split_pair(character, "eyewhite", min_area)
    if len(whites) < 2:
        legacy = _split_pair(character, "eyes", min_area)
        if len(legacy) >= 2:
            whites = legacy
    if len(whites) < 2:
        lashes = _split_pair(character, "eyelash", min_area)
        if len(lashes) >= 2:
            whites = lashes
    irides = _split_pair(character, "irides", min_area)
    brows = _split_pair(character, "eyebrow", min_area)
    eyes: dict[str, EyeAnchor] = {}
    for side in ("l", "r"):
        white = whites.get(side)
        if white is None:
            continue
        bx0, by0, bx1, by1 = _bbox(white)
        center = ((bx0 + bx1) / 2, (by0 + by1) / 2)
        closing, xr = _edge_curve(white, lower=True, x_origin=center[0])
        top, _ = _edge_curve(white, lower=False, x_origin=center[0])
        iris = irides.get(side)
        if iris is not None:
            ib = _bbox(iris)
            iris_center = ((ib[0] + ib[2]) / 2, (ib[1] + ib[3]) / 2)
            iris_size = (float(ib[2] - ib[0]), float(ib[3] - ib[1]))
        else:
            iris_center, iris_size = center, (0.5 * (bx1 - bx0), float(by1 - by0))
        eye = EyeAnchor(center=center, size=(float(bx1 - bx0), float(by1 - by0)),
                        closing_line=closing, top_line=top, x_range=xr,
                        iris_center=iris_center, iris_size=iris_size)
        brow = brows.get(side)
        if brow is not None:
            bb = _bbox(brow)
            eye.brow_center = ((bb[0] + bb[2]) / 2, (bb[1] + bb[3]) / 2)
            eye.brow_size = (float(bb[2] - bb[0]), float(bb[3] - bb[1]))
        eyes[side] = eye
    return eyes


def _find_mouth(character: Character):
    layers = (character.find("mouth", variant="mouth_close") or character.find("mouth", variant=None)
              or character.find("mouth", variant="mouth_open"))
    if not layers:
        return None
    mask = _canvas_alpha(character, layers)
    b = _bbox(mask)
    if b is None:
        return None
    ys, xs = np.nonzero(mask)
    left_i, right_i = np.argmin(xs), np.argmax(xs)
    # Corners: the extreme columns, at their mean row (robust to thick line ends).
    ly = float(ys[xs == xs[left_i]].mean())
    ry = float(ys[xs == xs[right_i]].mean())
    corners = ((float(xs[left_i]), ly), (float(xs[right_i] + 1), ry))
    center = _centroid(mask)
    return center, corners, (float(b[2] - b[0]), float(b[3] - b[1]))


def _find_body(character: Character, cx: float, chin_y: float, face_w: float):
    top = character.find("topwear")
    top_mask = _canvas_alpha(character, top) if top else None
    body_cx = cx
    shoulders = hip = None
    if top_mask is not None and top_mask.any():
        tb = _bbox(top_mask)
        body_cx = (tb[0] + tb[2]) / 2
        height = tb[3] - tb[1]
        # Shoulders: the first row below the chin where the top is at least 80 % of its widest,
        # or (a coat's hem or a skirt cut with the top may be its widest part, far below)
        # wider than the face by half again: the neck is narrower, shoulders are wider.
        # The bare skin down to a neckline is the neck's: it makes up the top's width there.
        necks = [l for l in character.layers if l.tag == "neck" and l.variant is None]
        body = top_mask | _canvas_alpha(character, necks) if necks else top_mask
        widths = body.sum(axis=1)
        widest = widths.max()
        rows = np.nonzero(widths >= 0.8 * widest)[0]
        # Sleeves drawn apart from the top (single pictures split them off) make up the
        # shoulders' width there.
        sleeves = [l for l in character.layers if l.tag == "handwear" and l.variant is None]
        if sleeves:
            widths = (body | _canvas_alpha(character, sleeves)).sum(axis=1)
        rows = np.union1d(rows, np.nonzero(widths >= 1.5 * face_w)[0])
        rows = rows[rows >= chin_y] if (rows >= chin_y).any() else rows
        sy = int(rows[0]) if rows.size else int(tb[1] + 0.15 * height)
        xs = np.nonzero(top_mask[sy])[0]
        if xs.size == 0:
            # The row is wide through the bare neck or the sleeves alone (a tight bust, the
            # top only at its bottom edge): their span is the shoulders'.
            wide = body | _canvas_alpha(character, sleeves) if sleeves else body
            xs = np.nonzero(wide[sy])[0]
        if xs.size == 0:
            xs = np.array([tb[0], tb[2] - 1])
        shoulders = ((float(xs.min()), float(sy)), (float(xs.max() + 1), float(sy)))
        body_cx = (shoulders[0][0] + shoulders[1][0]) / 2
        hip = (body_cx, float(tb[3]))
    bottom = character.find("bottomwear")
    if bottom:
        bm = _canvas_alpha(character, bottom)
        bb = _bbox(bm)
        if bb is not None:
            hip = (body_cx, float(bb[1] + 0.15 * (bb[3] - bb[1])))
    if hip is None:
        hip = (body_cx, float(character.size[1]))
    return shoulders, hip, float(body_cx)
