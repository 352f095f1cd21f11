"""Expression deformers for eyes, gaze, brows and mouth (the maps are documented in rig.deform).

Each deformer is built once from a layer's rest vertices and the anchors; per frame it adds a
displacement to the layer's slice of the local vertex buffer and sets per-vertex opacity. Layers
holding both eyes (See-through output before the left/right split) work too: every vertex is
assigned to the nearer eye and reads that eye's parameters.
"""
from __future__ import annotations

import numpy as np

from .anchors import Anchors
from .deform import eye_close_fade, mouth_open_fade, smoothstep

# Parameter slots the deformers read; filled by the Rig from its ParamVector each frame.
EYE_OPEN = ("ParamEyeROpen", "ParamEyeLOpen")   # index 0 = character's right, 1 = left
BROW_Y = ("ParamBrowRY", "ParamBrowLY")
SIDES = ("r", "l")


class FrameParams:
    """The handful of values the expression deformers need, read once per frame."""

    __slots__ = ("eye_open", "gaze_x", "gaze_y", "brow", "mouth_open", "mouth_form",
                 "close_weight", "open_weight")

    def __init__(self) -> None:
        self.eye_open = np.ones(2)
        self.gaze_x = 0.0
        self.gaze_y = 0.0
        self.brow = np.zeros(2)
        self.mouth_open = 0.0
        self.mouth_form = 0.0
        self.close_weight = np.zeros(2)   # eye_close art weight per eye
        self.open_weight = 0.0            # mouth_open art weight

    def derive(self) -> None:
        """Cross-fade weights, once per frame after the raw values are set."""
        self.close_weight[0] = eye_close_fade(self.eye_open[0])
        self.close_weight[1] = eye_close_fade(self.eye_open[1])
        self.open_weight = mouth_open_fade(self.mouth_open)


def assign_eyes(vertices: np.ndarray, anchors: Anchors, side: str | None) -> np.ndarray:
    """(N,) eye index per vertex: the layer's side when it has one, else the nearer eye."""
    n = len(vertices)
    if side in SIDES and side in anchors.eyes:
        return np.full(n, SIDES.index(side), np.int64)
    present = [s for s in SIDES if s in anchors.eyes]
    if not present:
        return np.full(n, -1, np.int64)
    if len(present) == 1:
        return np.full(n, SIDES.index(present[0]), np.int64)
    cr = anchors.eyes["r"].center[0]
    cl = anchors.eyes["l"].center[0]
    x = vertices[:, 0]
    return np.where(np.abs(x - cr) <= np.abs(x - cl), 0, 1).astype(np.int64)


class EyeBinding:
    """Which eye each vertex reads. Most layers belong to one eye: then a per-eye value is a
    scalar and no per-vertex gather is needed; a layer holding both eyes gathers per vertex."""

    def __init__(self, vertices: np.ndarray, anchors: Anchors, side: str | None):
        self.eye = assign_eyes(vertices, anchors, side)
        self.valid = self.eye >= 0
        present = np.unique(self.eye[self.valid]) if len(self.eye) else np.zeros(0, int)
        self.single = int(present[0]) if len(present) == 1 and self.valid.all() else None
        self.index = np.maximum(self.eye, 0)

    def pick(self, values: np.ndarray):
        """values (2,) per eye -> a scalar (one eye) or a per-vertex array."""
        if self.single is not None:
            return values[self.single]
        return values[self.index]


class Deformer:
    """Base: no local motion, full opacity."""

    kind = "rigid"
    sets_alpha = False

    def apply(self, rest: np.ndarray, local: np.ndarray, alpha: np.ndarray, fp: FrameParams) -> None:
        return None


class EyewhiteDeformer(Deformer):
    kind = "eyewhite"

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None, has_close_art: bool):
        self.bind = EyeBinding(rest, anchors, side)
        above = np.zeros(len(rest))
        for i, s in enumerate(SIDES):
            sel = self.bind.eye == i
            if sel.any() and s in anchors.eyes:
                yc = anchors.eyes[s].closing_y(rest[sel, 0])
                above[sel] = np.minimum(rest[sel, 1] - yc, 0.0)
        self.above = above           # signed distance above the closing line (<= 0; 0 off-eye)
        self.fade_out = self.sets_alpha = has_close_art

    def apply(self, rest, local, alpha, fp):
        local[:, 1] += self.above * (self.bind.pick(fp.eye_open) - 1.0)
        if self.fade_out:
            alpha[:] = 1.0 - self.bind.pick(fp.close_weight)


class EyelashDeformer(Deformer):
    kind = "eyelash"

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None, has_close_art: bool):
        self.bind = EyeBinding(rest, anchors, side)
        drop = np.zeros(len(rest))
        for i, s in enumerate(SIDES):
            sel = self.bind.eye == i
            if not sel.any() or s not in anchors.eyes:
                continue
            e = anchors.eyes[s]
            x, y = rest[sel, 0], rest[sel, 1]
            # Clamp x to the eye's span so the lash's outer flicks move with the corners.
            xc = np.clip(x, e.x_range[0], e.x_range[1])
            yc, yt = e.closing_y(xc), e.top_y(xc)
            gap = np.maximum(yc - yt, 0.0)
            # Upper lash (above the middle of the eye) drops fully; the lower lid stays put.
            mid = 0.5 * (yc + yt)
            weight = smoothstep(mid + 0.15 * gap, mid - 0.15 * gap, y) if np.any(gap > 0) else 0.0
            drop[sel] = gap * weight
        self.drop = drop
        self.fade_out = self.sets_alpha = has_close_art

    def apply(self, rest, local, alpha, fp):
        local[:, 1] += (1.0 - self.bind.pick(fp.eye_open)) * self.drop
        if self.fade_out:
            alpha[:] = 1.0 - self.bind.pick(fp.close_weight)


class IrisDeformer(Deformer):
    kind = "iris"

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None, has_close_art: bool):
        self.bind = EyeBinding(rest, anchors, side)
        gx = np.zeros(len(rest))
        gy = np.zeros(len(rest))
        for i, s in enumerate(SIDES):
            sel = self.bind.eye == i
            if sel.any() and s in anchors.eyes:
                e = anchors.eyes[s]
                # Room for the iris inside the eyewhite, but always a visible amount.
                gx[sel] = max(0.5 * (e.size[0] - e.iris_size[0]) * 0.85, 0.18 * e.size[0])
                gy[sel] = max(0.5 * (e.size[1] - 0.6 * e.iris_size[1]) * 0.6, 0.12 * e.size[1])
        self.gx, self.gy = gx, gy
        self.fade_out = self.sets_alpha = has_close_art

    def apply(self, rest, local, alpha, fp):
        local[:, 0] += fp.gaze_x * self.gx
        local[:, 1] -= fp.gaze_y * self.gy
        if self.fade_out:
            alpha[:] = 1.0 - self.bind.pick(fp.close_weight)


class EyeCloseDeformer(Deformer):
    kind = "eye_close"
    sets_alpha = True

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None):
        self.bind = EyeBinding(rest, anchors, side)

    def apply(self, rest, local, alpha, fp):
        alpha[:] = self.bind.pick(fp.close_weight)


class BrowDeformer(Deformer):
    kind = "brow"

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None):
        self.bind = EyeBinding(rest, anchors, side)
        amp = np.zeros(len(rest))
        for i, s in enumerate(SIDES):
            sel = self.bind.eye == i
            if sel.any() and s in anchors.eyes:
                amp[sel] = 0.4 * anchors.eyes[s].size[1]
        self.amp = amp

    def apply(self, rest, local, alpha, fp):
        pick = self.bind.pick
        local[:, 1] += self.amp * (0.25 * (1.0 - pick(fp.eye_open)) - pick(fp.brow))


class MouthDeformer(Deformer):
    """mouth_close / mouth_open art or a single plain mouth layer."""

    kind = "mouth"

    def __init__(self, rest: np.ndarray, anchors: Anchors, variant: str | None, has_open_art: bool):
        self.variant = variant
        self.has_open_art = has_open_art
        self.sets_alpha = variant == "mouth_open" or (variant == "mouth_close" and has_open_art)
        if anchors.mouth_center is not None:
            mx, my = anchors.mouth_center
            mw, mh = anchors.mouth_size
        else:
            mx, my = rest.mean(axis=0) if len(rest) else (0.0, 0.0)
            mw, mh = np.ptp(rest, axis=0) if len(rest) else (1.0, 1.0)
        half = max(mw / 2, 1.0)
        u = np.clip((rest[:, 0] - mx) / half, -1.5, 1.5) if len(rest) else np.zeros(0)
        # Smile bend: corners lift by 35 % of the mouth half-width, the middle by none.
        self.bend = 0.35 * half * u * u
        self.widen = 0.08 * (rest[:, 0] - mx) if len(rest) else np.zeros(0)
        if variant == "mouth_open" and len(rest):
            top = rest[:, 1].min()
            self.below_top = rest[:, 1] - top
            self.narrow = (rest[:, 0] - mx)
        else:
            self.below_top = np.zeros(len(rest))
            self.narrow = np.zeros(len(rest))
        # Plain mouth: the part below the centre line drops when opening.
        self.jaw = (np.clip((rest[:, 1] - my) / max(mh, 1.0), 0.0, 1.0) * max(mh, 0.06 * half * 2)
                    if len(rest) else np.zeros(0))

    def apply(self, rest, local, alpha, fp):
        m, f = fp.mouth_open, fp.mouth_form
        local[:, 1] -= f * self.bend
        local[:, 0] += f * self.widen
        if self.variant == "mouth_open":
            s = 0.3 + 0.7 * m
            local[:, 1] += self.below_top * (s - 1.0)
            local[:, 0] += self.narrow * (0.1 * (m - 1.0))
            alpha[:] = fp.open_weight
        elif self.variant == "mouth_close":
            if self.has_open_art:
                alpha[:] = 1.0 - fp.open_weight
        else:
            local[:, 1] += m * 2.5 * self.jaw

