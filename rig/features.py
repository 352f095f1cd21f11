"""Expression deformers for eyes, gaze, brows, mouth, cheeks, shoulders and arms (the maps are
documented in rig.deform).

Each deformer is built once from a layer's rest vertices and the anchors; per frame it adds a
displacement to the layer's slice of the local vertex buffer and sets per-vertex opacity. Layers
holding both eyes (See-through output before the left/right split) work too: every vertex is
assigned to the nearer eye and reads that eye's parameters.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .anchors import Anchors
from .deform import eye_close_fade, mouth_open_fade, smoothstep

SIDES = ("r", "l")   # index 0 = character's right, 1 = left, in every per-side value

SMILE_LIFT = 0.6          # share of the eye's height the lower lid rises at EyeSmile 1 (middle)
IRIS_FORM_SCALE = 0.22    # iris grows/shrinks by this share at EyeBallForm +-1
BROW_SHIFT = 0.18         # brow travel across at BrowX +-1, share of the eye's width
BROW_TILT = np.tan(np.radians(15.0))   # brow rotation at BrowAngle +-1
BROW_BEND = 0.35          # brow middle lift at BrowForm +-1, share of the eye's height
SHRUG_LIFT = 0.14         # shoulder lift at ShoulderY 10, share of the half shoulder width


class FrameParams:
    """The handful of values the expression deformers need, read once per frame."""

    __slots__ = ("eye_open", "eye_smile", "gaze_x", "gaze_y", "iris_form", "brow", "brow_x",
                 "brow_angle", "brow_form", "mouth_open", "mouth_form", "cheek", "arm_a", "arm_b",
                 "shoulder", "close_weight", "open_weight")

    def __init__(self) -> None:
        self.eye_open = np.ones(2)
        self.eye_smile = np.zeros(2)
        self.gaze_x = 0.0
        self.gaze_y = 0.0
        self.iris_form = 0.0
        self.brow = np.zeros(2)
        self.brow_x = np.zeros(2)
        self.brow_angle = np.zeros(2)
        self.brow_form = np.zeros(2)
        self.mouth_open = 0.0
        self.mouth_form = 0.0
        self.cheek = 0.0
        self.arm_a = np.zeros(2)          # degrees, per character side (0 right, 1 left)
        self.arm_b = np.zeros(2)
        self.shoulder = 0.0               # ParamShoulderY, -10..10
        self.close_weight = np.zeros(2)   # eye_close art weight per eye
        self.open_weight = 0.0            # mouth_open art weight

    def read(self, values: np.ndarray, slots: ParamSlots) -> None:
        """Take this frame's values from the rig's parameter vector."""
        for name, i in slots.scalars:
            setattr(self, name, values[i])
        for name, (right, left) in slots.pairs:
            pair = getattr(self, name)
            pair[0] = values[right]
            pair[1] = values[left]

    def derive(self) -> None:
        """Cross-fade weights, once per frame after the raw values are set."""
        self.close_weight[0] = eye_close_fade(self.eye_open[0])
        self.close_weight[1] = eye_close_fade(self.eye_open[1])
        self.open_weight = mouth_open_fade(self.mouth_open)


# Where each FrameParams value comes from: one id, or a (character's right, left) pair of ids.
FRAME_SCALARS = {"gaze_x": "ParamEyeBallX", "gaze_y": "ParamEyeBallY",
                 "iris_form": "ParamEyeBallForm", "mouth_open": "ParamMouthOpenY",
                 "mouth_form": "ParamMouthForm", "cheek": "ParamCheek",
                 "shoulder": "ParamShoulderY"}
FRAME_PAIRS = {"eye_open": ("ParamEyeROpen", "ParamEyeLOpen"),
               "eye_smile": ("ParamEyeRSmile", "ParamEyeLSmile"),
               "brow": ("ParamBrowRY", "ParamBrowLY"),
               "brow_x": ("ParamBrowRX", "ParamBrowLX"),
               "brow_angle": ("ParamBrowRAngle", "ParamBrowLAngle"),
               "brow_form": ("ParamBrowRForm", "ParamBrowLForm"),
               "arm_a": ("ParamArmRA", "ParamArmLA"),
               "arm_b": ("ParamArmRB", "ParamArmLB")}


class ParamSlots:
    """FRAME_SCALARS / FRAME_PAIRS resolved once to positions in a rig's parameter vector."""

    def __init__(self, index: Mapping[str, int]) -> None:
        self.scalars = tuple((name, index[pid]) for name, pid in FRAME_SCALARS.items())
        self.pairs = tuple((name, (index[r], index[l])) for name, (r, l) in FRAME_PAIRS.items())


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


class EyeSmile:
    """ParamEyeLSmile/RSmile: the lower lid rises toward the upper one, most in the eye's middle,
    so the eye narrows into an upward arch (a closed eye's lid line arches the same way).
    Applied to wherever the vertex is after opening/closing: ``y -= s lift max(y - y_top, 0)``."""

    def __init__(self, rest: np.ndarray, anchors: Anchors, bind: EyeBinding):
        self.bind = bind
        self.top = np.zeros(len(rest))
        self.lift = np.zeros(len(rest))
        for i, side in enumerate(SIDES):
            sel = bind.eye == i
            if not sel.any() or side not in anchors.eyes:
                continue
            e = anchors.eyes[side]
            x = np.clip(rest[sel, 0], e.x_range[0], e.x_range[1])
            half = max(0.5 * (e.x_range[1] - e.x_range[0]), 1.0)
            u = np.clip((rest[sel, 0] - e.center[0]) / half, -1.0, 1.0)
            self.top[sel] = e.top_y(x)
            self.lift[sel] = SMILE_LIFT * (1.0 - 0.5 * u * u)

    def apply(self, local: np.ndarray, fp: "FrameParams") -> None:
        s = self.bind.pick(fp.eye_smile)
        if np.any(s):
            y = local[:, 1]
            y -= s * self.lift * np.maximum(y - self.top, 0.0)


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
        self.smile = EyeSmile(rest, anchors, self.bind)
        self.fade_out = self.sets_alpha = has_close_art

    def apply(self, rest, local, alpha, fp):
        local[:, 1] += self.above * (self.bind.pick(fp.eye_open) - 1.0)
        self.smile.apply(local, fp)
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
        self.smile = EyeSmile(rest, anchors, self.bind)
        self.fade_out = self.sets_alpha = has_close_art

    def apply(self, rest, local, alpha, fp):
        local[:, 1] += (1.0 - self.bind.pick(fp.eye_open)) * self.drop
        self.smile.apply(local, fp)
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
        # EyeBallForm scales each iris about its own centre (per eye for a layer with both).
        spread = np.zeros_like(rest, dtype=np.float64)
        for i in range(2):
            sel = self.bind.eye == i
            if sel.any():
                spread[sel] = IRIS_FORM_SCALE * (rest[sel] - rest[sel].mean(axis=0))
        self.spread = spread
        self.fade_out = self.sets_alpha = has_close_art

    def apply(self, rest, local, alpha, fp):
        local[:, 0] += fp.gaze_x * self.gx
        local[:, 1] -= fp.gaze_y * self.gy
        if fp.iris_form:
            local += fp.iris_form * self.spread
        if self.fade_out:
            alpha[:] = 1.0 - self.bind.pick(fp.close_weight)


class EyeCloseDeformer(Deformer):
    kind = "eye_close"
    sets_alpha = True

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None):
        self.bind = EyeBinding(rest, anchors, side)
        self.smile = EyeSmile(rest, anchors, self.bind)

    def apply(self, rest, local, alpha, fp):
        self.smile.apply(local, fp)
        alpha[:] = self.bind.pick(fp.close_weight)


class BrowDeformer(Deformer):
    kind = "brow"

    def __init__(self, rest: np.ndarray, anchors: Anchors, side: str | None):
        self.bind = EyeBinding(rest, anchors, side)
        n = len(rest)
        amp = np.zeros(n)
        shift, tilt, bend = np.zeros(n), np.zeros(n), np.zeros(n)
        for i, s in enumerate(SIDES):
            sel = self.bind.eye == i
            if not (sel.any() and s in anchors.eyes):
                continue
            e = anchors.eyes[s]
            amp[sel] = 0.4 * e.size[1]
            x = rest[sel, 0]
            cx = float(x.mean())
            half = max(0.5 * float(np.ptp(x)), 1.0)
            # +1 where the face's middle lies toward +x from this brow.
            inward = 1.0 if anchors.face_center[0] >= cx else -1.0
            shift[sel] = -BROW_SHIFT * e.size[0] * inward       # x shift per unit BrowX
            tilt[sel] = -BROW_TILT * (x - cx) * inward           # y shift per unit BrowAngle
            u = np.clip((x - cx) / half, -1.0, 1.0)
            bend[sel] = -BROW_BEND * e.size[1] * (1.0 - u * u)   # y shift per unit BrowForm
        self.amp, self.shift, self.tilt, self.bend = amp, shift, tilt, bend

    def apply(self, rest, local, alpha, fp):
        pick = self.bind.pick
        local[:, 1] += self.amp * (0.25 * (1.0 - pick(fp.eye_open)) - pick(fp.brow))
        if fp.brow_x.any():
            local[:, 0] += self.shift * pick(fp.brow_x)
        if fp.brow_angle.any():
            local[:, 1] += self.tilt * pick(fp.brow_angle)
        if fp.brow_form.any():
            local[:, 1] += self.bend * pick(fp.brow_form)


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



class BlushDeformer(Deformer):
    """The ``blush`` layer: shown as much as ParamCheek says."""

    kind = "blush"
    sets_alpha = True

    def apply(self, rest, local, alpha, fp):
        alpha[:] = fp.cheek


class BodyDeformer(Deformer):
    """ParamShoulderY and the arms, on body layers.

    * Shoulders (ShoulderY = v, -10..10): vertices out toward the shoulders and at shoulder
      height rise by ``v / 10 * SHRUG_LIFT * r_b`` (r_b the half shoulder width), fading to
      nothing toward the neck line and down to the chest, so the collar stays put; arm layers
      rise as one piece.
    * Arms (``handwear`` layers; ArmLA/RA = a, ArmLB/RB = b, degrees): each side's arm turns
      about its shoulder by a (+ raises it outward), the turn fading in over the arm's top 30 %
      so it stays attached to the shoulder; the forearm (below the elbow, half-way down the
      arm) first bends by b about the elbow. Sides: the layer's own side, else the side of the
      body axis the vertex is on (the character's left is the screen's right).
    """

    kind = "body"

    def __init__(self, rest: np.ndarray, anchors: Anchors, tag: str, side: str | None):
        from .binding import body_levels
        shoulder_y, chest_y, _ = body_levels(anchors)
        bcx = anchors.body_center_x
        if anchors.shoulders:
            rb = max(0.5 * (anchors.shoulders[1][0] - anchors.shoulders[0][0]), 1.0)
        else:
            rb = max(anchors.face_size[0], 1.0)
        x, y = rest[:, 0], rest[:, 1]
        lift = SHRUG_LIFT * rb
        self.arm = tag == "handwear"
        if self.arm:
            self.shrug = np.full(len(rest), lift)
        else:
            lateral = smoothstep(0.25 * rb, 0.8 * rb, np.abs(x - bcx))
            self.shrug = lift * lateral * smoothstep(chest_y, shoulder_y, y)
        self.sides = []
        if self.arm and len(rest):
            if side in SIDES:
                index = np.full(len(rest), SIDES.index(side))
            else:
                index = np.where(x >= bcx, 1, 0)        # screen right = character's left
            for k in (0, 1):
                sel = np.flatnonzero(index == k)
                if not len(sel):
                    continue
                out = 1.0 if k == 1 else -1.0           # outward along screen x
                if anchors.shoulders:
                    px, py = anchors.shoulders[1 if k == 1 else 0]
                else:
                    px, py = bcx + out * rb, shoulder_y
                length = max(float(y[sel].max()) - py, 0.3 * rb)
                w_a = smoothstep(py, py + 0.3 * length, y[sel])
                elbow_y = py + 0.5 * length
                w_b = smoothstep(elbow_y - 0.1 * length, elbow_y + 0.1 * length, y[sel])
                elbow_x = float(np.median(x[sel][np.abs(y[sel] - elbow_y) < 0.15 * length])) \
                    if np.any(np.abs(y[sel] - elbow_y) < 0.15 * length) else px
                self.sides.append((k, sel, out, np.array([px, py]), np.array([elbow_x, elbow_y]),
                                   w_a, w_b))

    def apply(self, rest, local, alpha, fp):
        for k, sel, out, pivot, elbow, w_a, w_b in self.sides:
            a, b = fp.arm_a[k], fp.arm_b[k]
            if a == 0.0 and b == 0.0:
                continue
            p = local[sel]
            if b:
                p = _turn(p, elbow, -out * np.radians(b), w_b)
            if a:
                p = _turn(p, pivot, -out * np.radians(a), w_a)
            local[sel] = p
        if fp.shoulder:
            local[:, 1] -= (fp.shoulder / 10.0) * self.shrug


def _turn(points: np.ndarray, centre: np.ndarray, angle: float, weight: np.ndarray) -> np.ndarray:
    """Points turned about ``centre`` by ``angle`` (radians, image axes), blended by weight."""
    c, s = np.cos(angle), np.sin(angle)
    d = points - centre
    turned = np.empty_like(points)
    turned[:, 0] = centre[0] + c * d[:, 0] - s * d[:, 1]
    turned[:, 1] = centre[1] + s * d[:, 0] + c * d[:, 1]
    return points + weight[:, None] * (turned - points)
