"""Face (and optional body) landmarks from video frames with MediaPipe, offline.

Two face backends:

* default: the FaceMesh solution bundled in the mediapipe 0.10.21 wheel, with refined
  landmarks (478 points: 468 mesh points + 2 x 5 iris points), in video mode (landmarks are
  tracked from frame to frame; the detector runs only when the face is lost).
* ``face_model="face_landmarker.task"``: the Tasks FaceLandmarker from a local model file, in
  VIDEO running mode, which also gives 52 blendshapes and the facial transformation matrix.

Body: the Pose solution (33 points, model_complexity 1) when ``with_pose=True``.

Everything is reported in image pixels of the frame that was passed in: x right, y down, and z
scaled like x (MediaPipe's z is relative to the image width), negative toward the camera.
Nothing here downloads anything: the models ship inside the wheel or are the user's file.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seethrough_core.character import InputError

FACE_POINTS = 478
POSE_POINTS = 33


@dataclass
class FaceObservation:
    landmarks: np.ndarray                 # (478, 3) float32: x, y pixels; z scaled like x
    image_size: tuple[int, int]           # (width, height)
    blendshapes: dict[str, float] | None = None   # Tasks model only
    matrix: np.ndarray | None = None      # (4, 4) facial transformation (Tasks model only)


@dataclass
class PoseObservation:
    landmarks: np.ndarray                 # (33, 3) float32 like FaceObservation.landmarks
    visibility: np.ndarray                # (33,) float32, 0..1
    image_size: tuple[int, int]


def _landmark_array(landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe's normalised landmarks -> (n, 3) float32 pixels (z scaled by the width)."""
    raw = np.array([(p.x, p.y, p.z) for p in landmarks], np.float32)
    raw *= np.array([width, height, width], np.float32)
    return raw


class FaceTracker:
    """Landmarks of one face (and optionally the body) per video frame.

    ``process(frame_rgb, t)`` takes (h, w, 3) uint8 RGB frames in time order; ``t`` in seconds
    must increase (the Tasks model requires it; FaceMesh ignores it). Returns
    ``(FaceObservation | None, PoseObservation | None)``.
    """

    def __init__(self, face_model: str | os.PathLike | None = None, with_pose: bool = False,
                 min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        self._face_mesh = None
        self._landmarker = None
        self._pose = None
        self._last_ms = -1
        self.timings: dict[str, float] = {"face_ms": 0.0, "pose_ms": 0.0}   # the last frame
        try:
            import mediapipe as mp
        except ImportError:
            raise InputError("mediapipe is not installed; install seethrough-rig with its "
                             "default dependencies (pip install mediapipe==0.10.21)") from None
        if face_model is not None:
            self._landmarker = _open_landmarker(Path(face_model), min_detection_confidence,
                                                min_tracking_confidence)
        else:
            try:
                self._face_mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                    min_detection_confidence=min_detection_confidence,
                    min_tracking_confidence=min_tracking_confidence)
            except (RuntimeError, FileNotFoundError) as exc:
                raise InputError(f"MediaPipe's bundled face model could not be loaded ({exc}); "
                                 "reinstall mediapipe==0.10.21") from None
        if with_pose:
            try:
                self._pose = mp.solutions.pose.Pose(
                    static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                    min_detection_confidence=min_detection_confidence,
                    min_tracking_confidence=min_tracking_confidence)
            except (RuntimeError, FileNotFoundError) as exc:
                self.close()
                raise InputError(f"MediaPipe's bundled pose model could not be loaded ({exc}); "
                                 "reinstall mediapipe==0.10.21") from None

    @property
    def uses_tasks_model(self) -> bool:
        return self._landmarker is not None

    def process(self, frame_rgb: np.ndarray, t: float
                ) -> tuple[FaceObservation | None, PoseObservation | None]:
        frame = _check_frame(frame_rgb)
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        face = self._track_face(frame, t, w, h)
        t1 = time.perf_counter()
        pose = None
        if self._pose is not None:
            result = self._pose.process(frame)
            if result.pose_landmarks is not None:
                points = result.pose_landmarks.landmark
                pose = PoseObservation(
                    landmarks=_landmark_array(points, w, h),
                    visibility=np.array([p.visibility for p in points], np.float32),
                    image_size=(w, h))
        self.timings = {"face_ms": (t1 - t0) * 1e3, "pose_ms": (time.perf_counter() - t1) * 1e3}
        return face, pose

    def _track_face(self, frame: np.ndarray, t: float, w: int, h: int) -> FaceObservation | None:
        if self._face_mesh is not None:
            result = self._face_mesh.process(frame)
            if not result.multi_face_landmarks:
                return None
            return FaceObservation(_landmark_array(result.multi_face_landmarks[0].landmark, w, h),
                                   (w, h))
        import mediapipe as mp

        # VIDEO mode needs strictly increasing integer milliseconds.
        ms = max(int(round(t * 1000.0)), self._last_ms + 1)
        self._last_ms = ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
        result = self._landmarker.detect_for_video(image, ms)
        if not result.face_landmarks:
            return None
        blendshapes = None
        if result.face_blendshapes:
            blendshapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
        matrix = None
        if result.facial_transformation_matrixes:
            matrix = np.asarray(result.facial_transformation_matrixes[0], np.float64).reshape(4, 4)
        return FaceObservation(_landmark_array(result.face_landmarks[0], w, h), (w, h),
                               blendshapes, matrix)

    def close(self) -> None:
        for attr in ("_face_mesh", "_landmarker", "_pose"):
            model = getattr(self, attr)
            if model is not None:
                model.close()
                setattr(self, attr, None)

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (h, w, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    return np.ascontiguousarray(frame)   # MediaPipe reads the buffer as packed rows


def _open_landmarker(path: Path, min_detection: float, min_tracking: float):
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    if not path.is_file():
        raise InputError(f"--face-model {path}: no such file; download face_landmarker.task "
                         "from MediaPipe's model page and give its local path")
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.VIDEO, num_faces=1,
        min_face_detection_confidence=min_detection, min_face_presence_confidence=min_detection,
        min_tracking_confidence=min_tracking,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    try:
        return vision.FaceLandmarker.create_from_options(options)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--face-model {path}: not a MediaPipe FaceLandmarker task file "
                         f"({first}); use face_landmarker.task from MediaPipe") from None
