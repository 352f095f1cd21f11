"""Face landmarks -> Live2D parameters (``rig.params`` ids, ranges and directions).

Conventions. Parameters describe the frame *as it is seen*: a face turning toward the image's
right gives ParamAngleX > 0 (the puppet turns toward the screen's right), the eye on the image's
right drives the character's left eye (ParamEyeLOpen), since a character facing the viewer has
its left eye on the image's right. A raw webcam image therefore makes the puppet copy the camera's
view of you; ``mirror=True`` in the tracking driver flips each frame first, so the puppet moves
like your reflection (you turn to your left, it turns to the screen's left), as VTubers expect.

Head rotation is a 3D fit: a scaled rigid transform (Umeyama 1991) from a canonical face to the
frame's 3D landmarks, on landmarks that expressions do not move (forehead, nose, eye corners,
cheekbones, face edge). The canonical face was derived once from FaceMesh's 3D landmarks of a
frontal neutral photograph (astronaut.png in the shared data), made exactly left-right
symmetric and scaled so the outer eye corners are 1 apart. The rotation is reported relative
to the calibrated neutral, as yaw/pitch/roll of R = Ry(yaw) Rx(pitch) Rz(roll) in camera axes
(x right, y down, z away from the camera). With the Tasks model its facial transformation matrix
gives the rotation instead.

Every other measurement is taken in the head frame (the landmarks rotated back and scaled to the
canonical face), so turning the head does not change eye, brow or mouth ratios by projection.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rig.params import spec
from seethrough_core.character import InputError

from runtime.drivers.arkit import BODY_FOLLOW, EYE_LINK, arkit_params
from runtime.drivers.tracking import FaceObservation, PoseObservation

# Canonical face (index: x, y, z) in units of the outer eye-corner distance; x toward the
# image's right, y down, z away from the camera. Derived from FaceMesh on a frontal photo.
CANONICAL_FACE: dict[int, tuple[float, float, float]] = {
    33: (-0.5000, -0.0181, 0.0192), 263: (0.5000, -0.0181, 0.0192),
    133: (-0.1955, 0.0105, -0.0355), 362: (0.1955, 0.0105, -0.0355),
    234: (-0.7505, 0.1493, 0.6215), 454: (0.7505, 0.1493, 0.6215),
    127: (-0.7530, 0.0067, 0.5565), 356: (0.7530, 0.0067, 0.5565),
    93: (-0.7446, 0.2970, 0.6421), 323: (0.7446, 0.2970, 0.6421),
    116: (-0.6945, 0.1303, 0.1686), 345: (0.6945, 0.1303, 0.1686),
    50: (-0.5630, 0.2762, -0.0199), 280: (0.5630, 0.2762, -0.0199),
    54: (-0.6431, -0.3620, 0.1376), 284: (0.6431, -0.3620, 0.1376),
    103: (-0.5448, -0.4468, -0.0062), 332: (0.5448, -0.4468, -0.0062),
    67: (-0.3853, -0.5002, -0.1331), 297: (0.3853, -0.5002, -0.1331),
    98: (-0.2293, 0.4150, -0.1597), 327: (0.2293, 0.4150, -0.1597),
    10: (0.0, -0.5279, -0.2255), 151: (0.0, -0.3761, -0.2454), 9: (0.0, -0.2171, -0.2591),
    168: (0.0, -0.0529, -0.2311), 6: (0.0, 0.0315, -0.2746), 197: (0.0, 0.1117, -0.3243),
    195: (0.0, 0.1863, -0.3795), 5: (0.0, 0.2680, -0.4372), 4: (0.0, 0.3649, -0.4569),
    1: (0.0, 0.4349, -0.4286), 2: (0.0, 0.4749, -0.2459),
}
RIGID_INDICES = np.array(list(CANONICAL_FACE), np.int64)
CANONICAL_POINTS = np.array(list(CANONICAL_FACE.values()), np.float64)


@dataclass(frozen=True)
class EyeIndices:
    """FaceMesh indices of one eye, named by the image side it appears on."""
    outer: int
    inner: int
    upper: tuple[int, int]        # two upper-lid points ...
    lower: tuple[int, int]        # ... above these two lower-lid points
    lid_top: int
    lid_bottom: int
    iris: int                     # iris centre (refined landmarks)
    brow: tuple[int, ...]


# The subject's right eye appears on the image's left: 33 outer, 133 inner, iris 468.
IMAGE_LEFT_EYE = EyeIndices(33, 133, (160, 158), (144, 153), 159, 145, 468,
                            (70, 63, 105, 66, 107))
IMAGE_RIGHT_EYE = EyeIndices(263, 362, (387, 385), (373, 380), 386, 374, 473,
                             (300, 293, 334, 296, 336))
MOUTH_INNER_TOP, MOUTH_INNER_BOTTOM = 13, 14
MOUTH_CORNERS = (61, 291)
POSE_SHOULDERS = (12, 11)         # subject's right, left: image left, right when unmirrored

# Gains: measurement change that reaches a parameter's full range (canonical units).
GAZE_GAIN = (1 / 0.28, 1 / 0.16)  # iris offset / eye half-width at a full side / up glance
BROW_RANGE = 0.06                 # brow-to-eye distance change for a full raise
BROW_TILT_RANGE = 0.03            # inner-over-outer brow height change for a full brow angle
EYE_SMILE_RANGE = 0.06            # lower-lid rise / eye width for a full eye smile
MOUTH_OPEN_RANGE = 0.55           # inner-lip gap / mouth width when wide open
MOUTH_OPEN_DEADZONE = 0.03        # lips that merely part stay closed
MOUTH_FORM_RANGE = 0.10           # corner lift / mouth width for a full smile
EYE_OPEN_SLACK = 0.85             # ratios down to 85 % of the calibrated open still read 1
PITCH_EYE_COMPENSATION = 0.35     # lids drop this share of their opening at 30 deg down
GAZE_HOLD_BELOW = 0.35            # irises are unreliable behind nearly shut lids


@dataclass
class Calibration:
    """One user's neutral: head rotation, eye open/closed ratios, gaze, brows, mouth.

    Eye lists are (character's left, character's right), i.e. (image right, image left)."""
    neutral_rotation: list[list[float]] = field(
        default_factory=lambda: np.eye(3).tolist())
    eye_open: list[float] = field(default_factory=lambda: [0.32, 0.32])
    eye_closed: list[float] = field(default_factory=lambda: [0.07, 0.07])
    gaze: list[float] = field(default_factory=lambda: [0.0, 0.0])
    brow: list[float] = field(default_factory=lambda: [0.14, 0.14])
    # Defaults: a neutral face's own (the brow's inner end sits a little above its outer one).
    brow_tilt: list[float] = field(default_factory=lambda: [0.048, 0.048])
    lower_lid: list[float] = field(default_factory=lambda: [0.095, 0.095])
    mouth_open: float = 0.0
    mouth_form: float = 0.05
    body: list[float] = field(default_factory=lambda: [0.0, 0.0])   # shoulder yaw, roll (deg)

    @property
    def rotation(self) -> np.ndarray:
        return np.asarray(self.neutral_rotation, np.float64)

    def captured(self, features: "FaceFeatures") -> "Calibration":
        """This calibration with ``features`` (a neutral face, eyes open) as the zero."""
        closed_share = [c / o if o > 0 else 0.2 for c, o in zip(self.eye_closed, self.eye_open)]
        eye_open = [max(float(v), 1e-3) for v in features.eye_ratio]
        return replace(
            self, neutral_rotation=features.rotation.tolist(), eye_open=eye_open,
            eye_closed=[o * s for o, s in zip(eye_open, closed_share)],
            gaze=[float(v) for v in features.gaze], brow=[float(v) for v in features.brow],
            brow_tilt=[float(v) for v in features.brow_tilt],
            lower_lid=[float(v) for v in features.lower_lid],
            mouth_open=float(features.mouth_open), mouth_form=float(features.mouth_form),
            body=[float(v) for v in features.body] if features.body is not None else [0.0, 0.0])

    def with_closed_eyes(self, features: "FaceFeatures") -> "Calibration":
        """This calibration with ``features`` (eyes shut) as the closed ratios."""
        closed = [min(float(c), 0.8 * o) for c, o in zip(features.eye_ratio, self.eye_open)]
        return replace(self, eye_closed=closed)

    def save(self, path: str | os.PathLike) -> None:
        from seethrough_core.outputs import atomic_output
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Calibration":
        try:
            data = json.loads(Path(path).read_text())
            calibration = cls(**data)
            rotation = calibration.rotation
            pairs = [np.asarray(v, np.float64) for v in (
                calibration.eye_open, calibration.eye_closed, calibration.gaze,
                calibration.brow, calibration.body, calibration.brow_tilt,
                calibration.lower_lid)]
            scalars = float(calibration.mouth_open), float(calibration.mouth_form)
        except FileNotFoundError:
            raise InputError(f"{path}: no such calibration file; run with --calibrate to "
                             "make one") from None
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: not a calibration file ({exc}); delete it and "
                             "calibrate again") from None
        if (rotation.shape != (3, 3) or any(p.shape != (2,) for p in pairs)
                or not all(np.isfinite(p).all() for p in pairs + [rotation, np.array(scalars)])):
            raise InputError(f"{path}: malformed calibration; delete it and calibrate again")
        return calibration


@dataclass
class FaceFeatures:
    """Raw measurements of one frame, before calibration. Pairs are (char left, char right)."""
    rotation: np.ndarray                  # (3, 3) head rotation in camera axes
    eye_ratio: tuple[float, float]        # lid opening / eye width
    gaze: tuple[float, float]             # iris offset / eye half-width, x right, y down
    brow: tuple[float, float]             # brow-to-upper-lid distance (canonical units)
    mouth_open: float                     # inner-lip gap / mouth width
    mouth_form: float                     # corner lift over the lip centre / mouth width
    body: tuple[float, float] | None = None      # shoulder yaw, roll in degrees (Pose)
    blendshapes: dict[str, float] | None = None
    brow_tilt: tuple[float, float] = (0.048, 0.048)  # inner brow end above the outer end
    lower_lid: tuple[float, float] = (0.095, 0.095)  # lower lid below the eye corners / width


# ------------------------------------------------------------------------------ geometry

def fit_similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale s, rotation R, translation t minimising |s R source + t - target| (Umeyama)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0   # a rotation, never a reflection
    rotation = (u * d) @ vt
    scale = float((sigma * d).sum() / (a * a).sum())
    return scale, rotation, mu_t - scale * rotation @ mu_s


def euler_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """(AngleX, AngleY, AngleZ) in degrees from R = Ry(a) Rx(b) Rz(c) in camera axes.

    a > 0 turns the face toward the image's left, b > 0 tips it down, c > 0 moves the top of
    the head toward the image's right; Live2D wants + = screen right, up, screen right."""
    r = rotation
    a = math.atan2(r[0, 2], r[2, 2])
    b = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    c = math.atan2(r[1, 0], r[1, 1])
    return -math.degrees(a), -math.degrees(b), math.degrees(c)


def rotation_from_euler(angle_x: float, angle_y: float, angle_z: float) -> np.ndarray:
    """The inverse of ``euler_from_rotation`` (degrees in Live2D's directions)."""
    a, b, c = math.radians(-angle_x), math.radians(-angle_y), math.radians(angle_z)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _tasks_rotation(matrix: np.ndarray) -> np.ndarray:
    """The Tasks transformation matrix (OpenGL axes: y up, z toward the viewer) as a rotation
    in our camera axes, with any scale removed."""
    flip = np.diag([1.0, -1.0, -1.0])
    m = flip @ np.asarray(matrix, np.float64)[:3, :3] @ flip
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        r = u @ np.diag([1.0, 1.0, -1.0]) @ vt
    return r


# ----------------------------------------------------------------------------- measuring

def measure(face: FaceObservation, pose: PoseObservation | None = None) -> FaceFeatures:
    """Everything the solver needs from one frame's landmarks."""
    points = np.asarray(face.landmarks, np.float64)
    scale, rotation, shift = fit_similarity(CANONICAL_POINTS, points[RIGID_INDICES])
    # Landmarks in the head frame: canonical units, the head facing the camera upright.
    head = ((points - shift) @ rotation) / scale
    if face.matrix is not None:
        rotation = _tasks_rotation(face.matrix)
    left = _eye(head, IMAGE_RIGHT_EYE)     # character's left eye: on the image's right
    right = _eye(head, IMAGE_LEFT_EYE)
    top, bottom = head[MOUTH_INNER_TOP], head[MOUTH_INNER_BOTTOM]
    corner_a, corner_b = head[MOUTH_CORNERS[0]], head[MOUTH_CORNERS[1]]
    width = max(float(np.linalg.norm(corner_b[:2] - corner_a[:2])), 1e-6)
    centre_y = 0.5 * (top[1] + bottom[1])
    corners_y = 0.5 * (corner_a[1] + corner_b[1])
    gaze = 0.5 * (left[1] + right[1])
    return FaceFeatures(
        rotation=rotation, eye_ratio=(left[0], right[0]), gaze=(float(gaze[0]), float(gaze[1])),
        brow=(left[2], right[2]), brow_tilt=(left[3], right[3]), lower_lid=(left[4], right[4]),
        mouth_open=float(np.linalg.norm(bottom[:2] - top[:2]) / width),
        mouth_form=float((centre_y - corners_y) / width),
        body=_shoulders(pose), blendshapes=face.blendshapes)


def _eye(head: np.ndarray, eye: EyeIndices) -> tuple[float, np.ndarray, float, float, float]:
    """(opening ratio, iris offset (x, y) / half-width, brow height, brow tilt, lower-lid
    depth) of one eye. ``eye.brow`` runs from the outer end to the inner one."""
    outer, inner = head[eye.outer, :2], head[eye.inner, :2]
    width = max(float(np.linalg.norm(inner - outer)), 1e-6)
    opening = sum(float(np.linalg.norm(head[u, :2] - head[d, :2]))
                  for u, d in zip(eye.upper, eye.lower))
    ratio = opening / (2.0 * width)
    centre = np.array([0.5 * (outer[0] + inner[0]),
                       0.5 * (head[eye.lid_top, 1] + head[eye.lid_bottom, 1])])
    gaze = (head[eye.iris, :2] - centre) / (0.5 * width)
    brow = float(head[eye.lid_top, 1] - head[list(eye.brow), 1].mean())
    tilt = float(head[eye.brow[0], 1] - head[eye.brow[-1], 1])    # y down: + inner end higher
    corners_y = 0.5 * (head[eye.outer, 1] + head[eye.inner, 1])
    lower = float(np.mean([head[d, 1] for d in eye.lower]) - corners_y) / width
    return ratio, gaze, brow, tilt, lower


def _shoulders(pose: PoseObservation | None) -> tuple[float, float] | None:
    """Shoulder-line yaw and roll in degrees (+ toward the image's right), or None."""
    if pose is None:
        return None
    a, b = POSE_SHOULDERS
    if min(pose.visibility[a], pose.visibility[b]) < 0.5:
        return None
    left, right = pose.landmarks[a].astype(np.float64), pose.landmarks[b].astype(np.float64)
    d = right - left                     # from the image-left shoulder to the image-right one
    if d[0] <= 1e-6:
        return None                      # shoulders crossed over: a back view or a bad fit
    yaw = math.degrees(math.atan2(d[2], d[0]))    # the image-right shoulder farther: turned right
    roll = math.degrees(math.atan2(d[1], d[0]))   # the image-right shoulder lower: leans right
    return yaw, roll


# ------------------------------------------------------------------------------- solving

def _clip(param_id: str, value: float) -> float:
    p = spec(param_id)
    return float(min(max(value, p.min), p.max))


class FaceSolver:
    """Turns ``FaceFeatures`` into parameter values under a ``Calibration``."""

    def __init__(self, calibration: Calibration | None = None) -> None:
        self.calibration = calibration or Calibration()
        self._gaze = (0.0, 0.0)

    def solve(self, features: FaceFeatures) -> dict[str, float]:
        cal = self.calibration
        relative = features.rotation @ cal.rotation.T
        angle_x, angle_y, angle_z = euler_from_rotation(relative)
        out = {"ParamAngleX": _clip("ParamAngleX", angle_x),
               "ParamAngleY": _clip("ParamAngleY", angle_y),
               "ParamAngleZ": _clip("ParamAngleZ", angle_z)}
        if features.blendshapes:
            out.update(self._from_blendshapes(features.blendshapes))
        else:
            out.update(self._from_landmarks(features, angle_y))
        out.update(self._body(features, angle_x, angle_y, angle_z))
        return out

    def _from_landmarks(self, f: FaceFeatures, pitch: float) -> dict[str, float]:
        cal = self.calibration
        # Looking down lowers the lids without closing the eyes: expect a smaller opening.
        down = min(max(-pitch / 30.0, 0.0), 1.0)
        eyes = []
        for ratio, open_, closed in zip(f.eye_ratio, cal.eye_open, cal.eye_closed):
            expected = open_ * (1.0 - PITCH_EYE_COMPENSATION * down)
            span = max(EYE_OPEN_SLACK * expected - closed, 1e-6)
            eyes.append(min(max((ratio - closed) / span, 0.0), 1.0))
        if abs(eyes[0] - eyes[1]) < EYE_LINK:   # one blink, not two half-winks
            eyes = [0.5 * (eyes[0] + eyes[1])] * 2
        if max(eyes) >= GAZE_HOLD_BELOW:
            self._gaze = (GAZE_GAIN[0] * (f.gaze[0] - cal.gaze[0]),
                          -GAZE_GAIN[1] * (f.gaze[1] - cal.gaze[1]))
        mouth = (f.mouth_open - cal.mouth_open - MOUTH_OPEN_DEADZONE) / MOUTH_OPEN_RANGE
        return {
            "ParamEyeLOpen": eyes[0], "ParamEyeROpen": eyes[1],
            "ParamEyeBallX": _clip("ParamEyeBallX", self._gaze[0]),
            "ParamEyeBallY": _clip("ParamEyeBallY", self._gaze[1]),
            "ParamBrowLY": _clip("ParamBrowLY", (f.brow[0] - cal.brow[0]) / BROW_RANGE),
            "ParamBrowRY": _clip("ParamBrowRY", (f.brow[1] - cal.brow[1]) / BROW_RANGE),
            # A squint raises the lower lid toward the corners: the eye smile.
            "ParamEyeLSmile": _clip("ParamEyeLSmile",
                                    (cal.lower_lid[0] - f.lower_lid[0]) / EYE_SMILE_RANGE),
            "ParamEyeRSmile": _clip("ParamEyeRSmile",
                                    (cal.lower_lid[1] - f.lower_lid[1]) / EYE_SMILE_RANGE),
            "ParamBrowLAngle": _clip("ParamBrowLAngle",
                                     (f.brow_tilt[0] - cal.brow_tilt[0]) / BROW_TILT_RANGE),
            "ParamBrowRAngle": _clip("ParamBrowRAngle",
                                     (f.brow_tilt[1] - cal.brow_tilt[1]) / BROW_TILT_RANGE),
            "ParamMouthOpenY": _clip("ParamMouthOpenY", mouth),
            "ParamMouthForm": _clip("ParamMouthForm",
                                    (f.mouth_form - cal.mouth_form) / MOUTH_FORM_RANGE),
        }

    def _from_blendshapes(self, b: dict[str, float]) -> dict[str, float]:
        """The Tasks model's ARKit-style blendshapes, through the mapping every blendshape
        tracker shares (runtime.drivers.arkit). "Left" is the subject's left, which a camera
        shows on the image's right: the character's left. The model gives all 52 names."""
        return arkit_params(b, complete=True)

    def _body(self, f: FaceFeatures, angle_x: float, angle_y: float,
              angle_z: float) -> dict[str, float]:
        if f.body is not None:
            body_x = f.body[0] - self.calibration.body[0]
            body_z = f.body[1] - self.calibration.body[1]
        else:   # no shoulders seen: the body follows the head a little
            body_x, body_z = BODY_FOLLOW * angle_x, BODY_FOLLOW * angle_z
        return {"ParamBodyAngleX": _clip("ParamBodyAngleX", body_x),
                "ParamBodyAngleY": _clip("ParamBodyAngleY", BODY_FOLLOW * angle_y),
                "ParamBodyAngleZ": _clip("ParamBodyAngleZ", body_z)}
