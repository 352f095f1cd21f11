"""Where the character's head and limbs are: MediaPipe's bundled pose model, with fallbacks.

MediaPipe Pose (in the wheel, offline) finds the figure on many anime illustrations; when it does
not, or a landmark is off the picture or unsure, the layout falls back to the skin blob at the
top of the figure and to typical anime proportions. Everything is in image pixels.
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field

import numpy as np

Point = tuple[float, float]

# MediaPipe Pose landmark indices (the person's left is the image's right).
_NOSE, _EYE_L, _EYE_R, _EAR_L, _EAR_R, _MOUTH_L, _MOUTH_R = 0, 2, 5, 7, 8, 9, 10
_LIMBS = {"shoulder": (11, 12), "elbow": (13, 14), "wrist": (15, 16), "hip": (23, 24),
          "knee": (25, 26), "ankle": (27, 28)}
_MIN_VISIBILITY = 0.5
_FACE = ("nose", "eye_l", "eye_r", "ear_l", "ear_r", "mouth_l", "mouth_r")
# Steeper than these (degrees from level) a pair is not the eyes or shoulders of a figure
# drawn upright: the pose model has read something else (a bust filling the picture gave a
# skeleton lying on its side, eyes one above the other).
MAX_EYE_LINE_LEAN = 60.0
MAX_SHOULDER_LEAN = 45.0


@dataclass
class Layout:
    """Body landmarks in pixels; a limb joint is absent when it was not found."""

    points: dict[str, Point] = field(default_factory=dict)   # e.g. "nose", "eye_l", "knee_r"
    from_pose: bool = False

    def get(self, name: str) -> Point | None:
        return self.points.get(name)

    def pair(self, joint: str) -> tuple[Point, Point] | None:
        l, r = self.points.get(joint + "_l"), self.points.get(joint + "_r")
        return (l, r) if l is not None and r is not None else None

    def mid(self, joint: str) -> Point | None:
        pair = self.pair(joint)
        if pair is None:
            return None
        return ((pair[0][0] + pair[1][0]) / 2, (pair[0][1] + pair[1][1]) / 2)


def _run_solution(module: str, cls: str, rgb: np.ndarray, **options):
    """One still image through a bundled MediaPipe solution (its result), quietly; None when
    MediaPipe is not usable (the fallbacks carry on alone)."""
    try:
        with _quiet_stderr():
            os.environ.setdefault("GLOG_minloglevel", "2")
            import mediapipe as mp
            solution = getattr(getattr(mp.solutions, module), cls)
            with solution(static_image_mode=True, **options) as model:
                return model.process(np.ascontiguousarray(rgb))
    except Exception:
        return None


@contextlib.contextmanager
def _quiet_stderr():
    """MediaPipe's C++ side prints to fd 2; keep the command line clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def detect_pose(rgb: np.ndarray) -> Layout:
    """Body and face landmarks of the figure in ``rgb`` (uint8, matted on white); empty when
    none. MediaPipe Pose first; a figure filling the picture is tried again with room around
    it (Pose wants the whole body in view); a bust where Pose finds no face takes its eyes,
    nose and mouth from FaceMesh."""
    layout = believable(_pose(rgb))
    if layout.get("eye_l") is None or layout.get("nose") is None:
        h, w = rgb.shape[:2]
        pad = np.full((2 * h, 2 * w, 3), 255, np.uint8)
        pad[h // 2:h // 2 + h, w // 2:w // 2 + w] = rgb
        padded = believable(_pose(pad))
        if padded.get("eye_l") is not None and padded.get("nose") is not None:
            layout = Layout({k: (x - w // 2, y - h // 2) for k, (x, y) in padded.points.items()},
                            from_pose=True)
    if layout.get("eye_l") is None or layout.get("nose") is None:
        face = _face_mesh(rgb)
        if face:
            points = dict(layout.points)
            points.update(face)
            layout = Layout(points, from_pose=True)
    return layout


def believable(layout: Layout) -> Layout:
    """``layout`` without the landmarks no upright figure shows: the face's when its eyes lie
    steeper than MAX_EYE_LINE_LEAN; the body's when its shoulders lie steeper than
    MAX_SHOULDER_LEAN, or not below the eyes (the nose without them), or its hips not below
    its shoulders. A pair drawn nearly into one point (a face or body the model saw side-on)
    has no lean to judge. What is left out the fallbacks find in the picture itself."""
    points = dict(layout.points)
    eyes, mouth = layout.pair("eye"), layout.mid("mouth") or layout.get("nose")
    if eyes is not None and abs(line_angle(eyes)) > MAX_EYE_LINE_LEAN and \
            _apart(eyes, layout.mid("eye"), mouth):
        for name in _FACE:
            points.pop(name, None)
    shoulders, hips = layout.pair("shoulder"), layout.mid("hip")
    if shoulders is not None:
        top = layout.mid("eye") if "eye_l" in points else points.get("nose")
        below = layout.mid("shoulder")
        if (abs(line_angle(shoulders)) > MAX_SHOULDER_LEAN and _apart(shoulders, below, top)) or \
                (top is not None and below[1] <= top[1]) or \
                (hips is not None and hips[1] <= below[1]):
            points = {k: p for k, p in points.items() if k in _FACE}
    if points == layout.points:
        return layout
    return Layout(points, from_pose=bool(points))


def _apart(pair: tuple[Point, Point], centre: Point, other: Point | None) -> bool:
    """Whether a pair lies apart by at least half the way from its middle to ``other`` (the
    next part along the figure), when there is one."""
    return other is None or math.dist(*pair) >= 0.5 * math.dist(centre, other)


def line_angle(pair: tuple[Point, Point]) -> float:
    """The angle in degrees from level of the line through two points, as image coordinates
    give it (negative when the point on the image's right is the higher)."""
    (xl, yl), (xr, yr) = pair
    if xl < xr:                      # whichever way round, measured left to right
        (xl, yl), (xr, yr) = (xr, yr), (xl, yl)
    return math.degrees(math.atan2(yl - yr, xl - xr))


# FaceMesh landmarks: eye corners, nose tip, mouth corners.
_MESH_EYES = ((33, 133), (362, 263))
_MESH_NOSE = 1
_MESH_MOUTH = (61, 291)


def _face_mesh(rgb: np.ndarray) -> dict[str, Point]:
    """Eyes (character's left = image right), nose and mouth corners from MediaPipe FaceMesh,
    or {} when it finds no face."""
    h, w = rgb.shape[:2]
    result = _run_solution("face_mesh", "FaceMesh", rgb, max_num_faces=1)
    if result is None or not result.multi_face_landmarks:
        return {}
    m = result.multi_face_landmarks[0].landmark

    def at(*idx: int) -> Point:
        return (float(np.mean([m[i].x for i in idx]) * w), float(np.mean([m[i].y for i in idx]) * h))

    eyes = sorted((at(*pair) for pair in _MESH_EYES), key=lambda p: p[0])
    mouth = sorted((at(i) for i in _MESH_MOUTH), key=lambda p: p[0])
    return {"eye_r": eyes[0], "eye_l": eyes[1], "nose": at(_MESH_NOSE),
            "mouth_r": mouth[0], "mouth_l": mouth[1]}


def _pose(rgb: np.ndarray) -> Layout:
    """MediaPipe Pose landmarks of ``rgb``; empty when none."""
    h, w = rgb.shape[:2]
    result = _run_solution("pose", "Pose", rgb, model_complexity=1)
    if result is None or result.pose_landmarks is None:
        return Layout()
    marks = result.pose_landmarks.landmark
    points: dict[str, Point] = {}

    def put(name: str, index: int, margin: float = 0.02) -> None:
        m = marks[index]
        inside = -margin <= m.x <= 1 + margin and -margin <= m.y <= 1 + margin
        if m.visibility >= _MIN_VISIBILITY and inside:
            points[name] = (float(m.x * w), float(m.y * h))

    for name, index in (("nose", _NOSE), ("eye_l", _EYE_L), ("eye_r", _EYE_R),
                        ("ear_l", _EAR_L), ("ear_r", _EAR_R), ("mouth_l", _MOUTH_L),
                        ("mouth_r", _MOUTH_R)):
        put(name, index)
    for joint, (left, right) in _LIMBS.items():
        put(joint + "_l", left)
        put(joint + "_r", right)
    return Layout(points, from_pose=bool(points))
