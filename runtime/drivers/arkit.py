"""ARKit face blendshapes and VRM expression presets -> Live2D parameters: the one mapping every
blendshape tracker shares (MediaPipe Tasks in ``FaceSolver``, VMC senders, iFacialMocap).

Sides. ARKit names sides by the *subject*: ``eyeBlinkLeft`` is the subject's own left eye. It
drives the character's left eye (ParamEyeLOpen), the way the camera path does without
``--mirror``: a character facing the viewer has its left eye on the screen's right, where a
camera shows the subject's left eye. VRM presets name the avatar's own sides the same way
(``Blink_L`` is the avatar's left eye). ``mirror_params`` swaps sides for a mirror view.

Names are matched without regard to case, with iFacialMocap's ``_L``/``_R`` suffixes read as
``Left``/``Right`` (``eyeBlink_L`` = ``eyeBlinkLeft``), and VRM 0.x and 1.0 preset names both
understood (``A``/``aa``, ``Joy``/``happy``, ``Blink_L``/``blinkLeft`` ...).

The mapping (g = the blendshape's value, clamped to 0..1; results clamped to each range):

=================  ==========================================================================
ParamEyeL/ROpen    (0.75 - eyeBlinkLeft/Right) / 0.5; both take their mean when they differ
                   by less than 0.25 (a blink, not two half-winks)
ParamEyeBallX      2 * mean(eyeLookOutLeft - eyeLookInLeft, eyeLookInRight - eyeLookOutRight)
ParamEyeBallY      2 * mean(eyeLookUpLeft - eyeLookDownLeft, eyeLookUpRight - eyeLookDownRight)
ParamBrowL/RY      0.5 * browInnerUp + browOuterUpLeft/Right - browDownLeft/Right
ParamBrowL/RAngle  browInnerUp - browDownLeft/Right (+ inner end up: worried; - angry)
ParamEyeL/RSmile   (eyeSquintLeft/Right - 0.15) / 0.5
ParamMouthOpenY    1.2 * jawOpen
ParamMouthForm     1.5 * (mean(mouthSmileLeft, Right) - mean(mouthFrownLeft, Right))
=================  ==========================================================================

cheekPuff is not mapped: ParamCheek is a blush (a colour), not a puffed cheek, and a tracker
driving it would fight the expression keys that switch a blush on.

VRM presets (used when a frame carries no ARKit name; a sender with both is taken at its
ARKit values, which say more):

=================  ==========================================================================
ParamEyeL/ROpen    1 - max(Blink, Blink_L/R)
ParamMouthOpenY    A + 0.4 I + 0.5 U + 0.6 E + 0.8 O (A is the widest vowel)
ParamMouthForm     Joy + 0.6 Fun - 0.6 Angry - 0.8 Sorrow
ParamEyeL/RSmile   Joy + 0.5 Fun
ParamBrowL/RY      Surprised + 0.3 Sorrow - 0.5 Angry
ParamBrowL/RAngle  Sorrow - Angry
ParamEyeBallX/Y    LookLeft - LookRight (the avatar's left: the screen's right), LookUp - LookDown
=================  ==========================================================================

A parameter is only given when a name it reads was sent (``complete=False``), so a sender of
mouth shapes alone (lip-sync) leaves the eyes to whatever lies under it; MediaPipe gives all 52
and is read with ``complete=True`` (a missing name counts as 0).
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

from rig.params import spec

# The 52 ARKit face blendshapes (ARFaceAnchor.BlendShapeLocation), as phone trackers name them.
ARKIT_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft",
    "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)
_ARKIT = {name.lower(): name for name in ARKIT_NAMES}

# VRM expression presets, 0.x and 1.0 names (lower case) -> the 1.0 name used below.
_VRM = {"a": "aa", "aa": "aa", "i": "ih", "ih": "ih", "u": "ou", "ou": "ou", "e": "ee",
        "ee": "ee", "o": "oh", "oh": "oh", "blink": "blink", "blinkleft": "blinkLeft",
        "blinkright": "blinkRight", "joy": "happy", "happy": "happy", "angry": "angry",
        "sorrow": "sad", "sad": "sad", "fun": "relaxed", "relaxed": "relaxed",
        "surprised": "surprised", "lookup": "lookUp", "lookdown": "lookDown",
        "lookleft": "lookLeft", "lookright": "lookRight"}

EYE_LINK = 0.25           # eyes closer than this in openness move together
BODY_FOLLOW = 0.3         # body share of the head's turn when no body rotation is known

# Left/right parameter pairs, and parameters whose sign is a screen direction (for mirroring).
MIRROR_PAIRS = (("ParamEyeLOpen", "ParamEyeROpen"), ("ParamEyeLSmile", "ParamEyeRSmile"),
                ("ParamBrowLY", "ParamBrowRY"), ("ParamBrowLX", "ParamBrowRX"),
                ("ParamBrowLAngle", "ParamBrowRAngle"), ("ParamBrowLForm", "ParamBrowRForm"),
                ("ParamArmLA", "ParamArmRA"), ("ParamArmLB", "ParamArmRB"))
MIRROR_NEGATE = ("ParamAngleX", "ParamAngleZ", "ParamEyeBallX", "ParamBodyAngleX",
                 "ParamBodyAngleZ", "ParamHairFront", "ParamHairSide", "ParamHairBack")


def clip(param_id: str, value: float) -> float:
    p = spec(param_id)
    return float(min(max(value, p.min), p.max))


def arkit_name(name: str) -> str | None:
    """The ARKit name ``name`` stands for (any case, ``_L``/``_R`` suffixes), or None."""
    key = name.strip().lower()
    if key.endswith("_l"):
        key = key[:-2] + "left"
    elif key.endswith("_r"):
        key = key[:-2] + "right"
    return _ARKIT.get(key)


def vrm_name(name: str) -> str | None:
    """The VRM 1.0 preset name ``name`` stands for (0.x or 1.0, any case), or None."""
    key = name.strip().lower()
    if key.endswith("_l"):
        key = key[:-2] + "left"
    elif key.endswith("_r"):
        key = key[:-2] + "right"
    return _VRM.get(key)


# ------------------------------------------------------------------------------ the tables

Getter = Callable[[str], float]


def _eye_open(blink: float) -> float:   # blink scores rest near 0.1-0.3 and reach ~0.9 shut
    return min(max((0.75 - blink) / 0.5, 0.0), 1.0)


def _linked(left: float, right: float) -> tuple[float, float]:
    if abs(left - right) < EYE_LINK:          # one blink, not two half-winks
        mean = 0.5 * (left + right)
        return mean, mean
    return left, right


def _eyes(g: Getter) -> dict[str, float]:
    left, right = _linked(_eye_open(g("eyeBlinkLeft")), _eye_open(g("eyeBlinkRight")))
    return {"ParamEyeLOpen": left, "ParamEyeROpen": right}


def _gaze_x(g: Getter) -> dict[str, float]:
    # The subject's left eye looking out (to their left) is a look toward the screen's right.
    x = 0.5 * ((g("eyeLookOutLeft") - g("eyeLookInLeft"))
               + (g("eyeLookInRight") - g("eyeLookOutRight")))
    return {"ParamEyeBallX": clip("ParamEyeBallX", 2.0 * x)}


def _gaze_y(g: Getter) -> dict[str, float]:
    y = 0.5 * ((g("eyeLookUpLeft") - g("eyeLookDownLeft"))
               + (g("eyeLookUpRight") - g("eyeLookDownRight")))
    return {"ParamEyeBallY": clip("ParamEyeBallY", 2.0 * y)}


def _brow_y(side: str, pid: str) -> Callable[[Getter], dict[str, float]]:
    def row(g: Getter) -> dict[str, float]:
        return {pid: clip(pid, 0.5 * g("browInnerUp") + g(f"browOuterUp{side}")
                          - g(f"browDown{side}"))}
    return row


def _brow_angle(side: str, pid: str) -> Callable[[Getter], dict[str, float]]:
    def row(g: Getter) -> dict[str, float]:
        # The inner brow rising reads as a worried angle (+), pulled down as an angry one (-).
        return {pid: clip(pid, g("browInnerUp") - g(f"browDown{side}"))}
    return row


def _eye_smile(side: str, pid: str) -> Callable[[Getter], dict[str, float]]:
    def row(g: Getter) -> dict[str, float]:   # squint scores rest near 0.1-0.2
        return {pid: clip(pid, (g(f"eyeSquint{side}") - 0.15) / 0.5)}
    return row


def _mouth_open(g: Getter) -> dict[str, float]:
    return {"ParamMouthOpenY": clip("ParamMouthOpenY", 1.2 * g("jawOpen"))}


def _mouth_form(g: Getter) -> dict[str, float]:
    smile = 0.5 * (g("mouthSmileLeft") + g("mouthSmileRight"))
    frown = 0.5 * (g("mouthFrownLeft") + g("mouthFrownRight"))
    return {"ParamMouthForm": clip("ParamMouthForm", 1.5 * (smile - frown))}


# (names read, the parameters they give)
ARKIT_ROWS: tuple[tuple[tuple[str, ...], Callable[[Getter], dict[str, float]]], ...] = (
    (("eyeBlinkLeft", "eyeBlinkRight"), _eyes),
    (("eyeLookInLeft", "eyeLookOutLeft", "eyeLookInRight", "eyeLookOutRight"), _gaze_x),
    (("eyeLookUpLeft", "eyeLookDownLeft", "eyeLookUpRight", "eyeLookDownRight"), _gaze_y),
    (("browInnerUp", "browOuterUpLeft", "browDownLeft"), _brow_y("Left", "ParamBrowLY")),
    (("browInnerUp", "browOuterUpRight", "browDownRight"), _brow_y("Right", "ParamBrowRY")),
    (("jawOpen",), _mouth_open),
    (("mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight"), _mouth_form),
    (("eyeSquintLeft",), _eye_smile("Left", "ParamEyeLSmile")),
    (("eyeSquintRight",), _eye_smile("Right", "ParamEyeRSmile")),
    (("browInnerUp", "browDownLeft"), _brow_angle("Left", "ParamBrowLAngle")),
    (("browInnerUp", "browDownRight"), _brow_angle("Right", "ParamBrowRAngle")),
)


def _vrm_eyes(g: Getter) -> dict[str, float]:
    return {"ParamEyeLOpen": 1.0 - max(g("blink"), g("blinkLeft")),
            "ParamEyeROpen": 1.0 - max(g("blink"), g("blinkRight"))}


def _vrm_mouth_open(g: Getter) -> dict[str, float]:
    value = g("aa") + 0.4 * g("ih") + 0.5 * g("ou") + 0.6 * g("ee") + 0.8 * g("oh")
    return {"ParamMouthOpenY": clip("ParamMouthOpenY", value)}


def _vrm_mouth_form(g: Getter) -> dict[str, float]:
    value = g("happy") + 0.6 * g("relaxed") - 0.6 * g("angry") - 0.8 * g("sad")
    return {"ParamMouthForm": clip("ParamMouthForm", value)}


def _vrm_eye_smile(g: Getter) -> dict[str, float]:
    value = clip("ParamEyeLSmile", g("happy") + 0.5 * g("relaxed"))
    return {"ParamEyeLSmile": value, "ParamEyeRSmile": value}


def _vrm_brows(g: Getter) -> dict[str, float]:
    y = clip("ParamBrowLY", g("surprised") + 0.3 * g("sad") - 0.5 * g("angry"))
    return {"ParamBrowLY": y, "ParamBrowRY": y}


def _vrm_brow_angle(g: Getter) -> dict[str, float]:
    angle = clip("ParamBrowLAngle", g("sad") - g("angry"))
    return {"ParamBrowLAngle": angle, "ParamBrowRAngle": angle}


def _vrm_gaze_x(g: Getter) -> dict[str, float]:
    return {"ParamEyeBallX": clip("ParamEyeBallX", g("lookLeft") - g("lookRight"))}


def _vrm_gaze_y(g: Getter) -> dict[str, float]:
    return {"ParamEyeBallY": clip("ParamEyeBallY", g("lookUp") - g("lookDown"))}


VRM_ROWS: tuple[tuple[tuple[str, ...], Callable[[Getter], dict[str, float]]], ...] = (
    (("blink", "blinkLeft", "blinkRight"), _vrm_eyes),
    (("aa", "ih", "ou", "ee", "oh"), _vrm_mouth_open),
    (("happy", "relaxed", "angry", "sad"), _vrm_mouth_form),
    (("happy", "relaxed"), _vrm_eye_smile),
    (("surprised", "sad", "angry"), _vrm_brows),
    (("sad", "angry"), _vrm_brow_angle),
    (("lookLeft", "lookRight"), _vrm_gaze_x),
    (("lookUp", "lookDown"), _vrm_gaze_y),
)


def _apply(rows, values: Mapping[str, float], complete: bool) -> dict[str, float]:
    def g(name: str) -> float:
        v = values.get(name, 0.0)
        return min(max(v, 0.0), 1.0) if math.isfinite(v) else 0.0

    out: dict[str, float] = {}
    for names, row in rows:
        if complete or any(n in values for n in names):
            out.update(row(g))
    return out


# ------------------------------------------------------------------------------ public

def arkit_params(blendshapes: Mapping[str, float], complete: bool = False) -> dict[str, float]:
    """Parameters from blendshapes under their ARKit names (values 0..1); see the module
    docstring. ``complete``: every parameter, a missing name counting as 0."""
    return _apply(ARKIT_ROWS, blendshapes, complete)


def vrm_params(presets: Mapping[str, float]) -> dict[str, float]:
    """Parameters from VRM expression presets under their VRM 1.0 names (values 0..1)."""
    return _apply(VRM_ROWS, presets, False)


def face_params(blendshapes: Mapping[str, float]) -> dict[str, float]:
    """Parameters from whatever a sender named: ARKit names in any spelling (perfect sync,
    iFacialMocap) or, when there are none, VRM presets. Unknown names are ignored."""
    arkit: dict[str, float] = {}
    vrm: dict[str, float] = {}
    for name, value in blendshapes.items():
        if (a := arkit_name(name)) is not None:
            arkit[a] = float(value)
        elif (v := vrm_name(name)) is not None:
            vrm[v] = float(value)
    return arkit_params(arkit) if arkit else vrm_params(vrm)


def head_params(angle_x: float, angle_y: float, angle_z: float,
                body: tuple[float, float, float] | None = None) -> dict[str, float]:
    """Head angles (degrees, Live2D directions) and the body's: ``body`` (x, y, z) when a tracker
    gives it, else the body follows the head by ``BODY_FOLLOW``. Non-finite angles give
    nothing."""
    if not all(math.isfinite(v) for v in (angle_x, angle_y, angle_z)):
        return {}
    out = {"ParamAngleX": clip("ParamAngleX", angle_x),
           "ParamAngleY": clip("ParamAngleY", angle_y),
           "ParamAngleZ": clip("ParamAngleZ", angle_z)}
    if body is None or not all(math.isfinite(v) for v in body):
        body = (BODY_FOLLOW * angle_x, BODY_FOLLOW * angle_y, BODY_FOLLOW * angle_z)
    out.update({"ParamBodyAngleX": clip("ParamBodyAngleX", body[0]),
                "ParamBodyAngleY": clip("ParamBodyAngleY", body[1]),
                "ParamBodyAngleZ": clip("ParamBodyAngleZ", body[2])})
    return out


def mirror_params(params: Mapping[str, float]) -> dict[str, float]:
    """``params`` as a mirror shows them: left and right swapped, screen directions negated."""
    out = dict(params)
    for a, b in MIRROR_PAIRS:
        if a in params or b in params:
            out.pop(a, None)
            out.pop(b, None)
            if b in params:
                out[a] = params[b]
            if a in params:
                out[b] = params[a]
    for pid in MIRROR_NEGATE:
        if pid in out:
            out[pid] = -out[pid]
    return out
