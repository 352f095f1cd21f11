"""Synthetic driving videos with known head motion, made from one face photograph.

* ``transformed``: the photo rolled about the face centre by a known angle (+ = counter-
  clockwise on screen, which tips the head toward the screen's LEFT: ParamAngleZ = -angle),
  shifted and scaled.
* ``turned``: yaw / pitch. FaceMesh's 3D landmarks of the photo are triangulated, textured with
  the photo, rotated in 3D about the face centre and drawn back to front (painter's algorithm,
  one affine warp per triangle) over the photo with the face region inpainted away.
* ``covered``: a grey box over the face (the tracker must lose it).
* ``write_video``: frames to an H.264 mp4, optionally with a sine tone (AAC) as audio.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def load_photo(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def photo_landmarks(photo: np.ndarray) -> np.ndarray:
    """(478, 3) landmarks of the photo's face (a fresh tracker, so nothing carries over)."""
    from runtime.drivers.tracking import FaceTracker

    with FaceTracker() as tracker:
        face, _ = tracker.process(photo, 0.0)
    assert face is not None, "no face in the photo"
    return face.landmarks.astype(np.float64)


def transformed(photo: np.ndarray, centre: tuple[float, float], size: int, roll: float = 0.0,
                shift: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    """The photo rotated by ``roll`` degrees (counter-clockwise on screen) and scaled about
    ``centre``, resized to ``size`` square and shifted by ``shift`` output pixels."""
    k = size / photo.shape[1]
    m = cv2.getRotationMatrix2D(centre, roll, scale * k)
    # getRotationMatrix2D keeps the centre in place; move it to where the resize puts it.
    m[:, 2] += np.array(centre) * k - np.array(centre) + np.array(shift)
    return cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def covered(frame: np.ndarray) -> np.ndarray:
    """A grey box over the middle of the frame, where the face is."""
    out = frame.copy()
    h, w = out.shape[:2]
    out[int(0.1 * h):int(0.75 * h), int(0.2 * w):int(0.8 * w)] = 128
    return out


class FaceTurner:
    """Re-renders the photo's face turned by known yaw / pitch (Live2D directions)."""

    def __init__(self, photo: np.ndarray, landmarks: np.ndarray) -> None:
        from scipy.spatial import Delaunay

        self.photo = photo
        self.points = landmarks[:468].astype(np.float64)    # the mesh, without irises
        self.triangles = Delaunay(self.points[:, :2]).simplices
        self.centre = self.points.mean(0)
        hull = cv2.convexHull(self.points[:, :2].astype(np.float32)).astype(np.int32)
        mask = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, hull, 255)
        mask = cv2.dilate(mask, np.ones((9, 9), np.uint8))
        # The face removed, so the turned face never shows a second outline behind it.
        self.background = cv2.inpaint(photo, mask, 5, cv2.INPAINT_TELEA)

    def render(self, angle_x: float, angle_y: float) -> np.ndarray:
        from runtime.drivers.solver import rotation_from_euler

        r = rotation_from_euler(angle_x, angle_y, 0.0)
        moved = (self.points - self.centre) @ r.T + self.centre
        out = self.background.copy()
        src2, dst2 = self.points[:, :2], moved[:, :2]
        depth = moved[self.triangles, 2].mean(1)
        h, w = out.shape[:2]
        for tri in self.triangles[np.argsort(-depth)]:     # far first
            s, d = src2[tri].astype(np.float32), dst2[tri].astype(np.float32)
            area = (d[1, 0] - d[0, 0]) * (d[2, 1] - d[0, 1]) - (d[2, 0] - d[0, 0]) * (d[1, 1] - d[0, 1])
            src_area = (s[1, 0] - s[0, 0]) * (s[2, 1] - s[0, 1]) - (s[2, 0] - s[0, 0]) * (s[1, 1] - s[0, 1])
            if area * src_area <= 0:       # turned away from the camera
                continue
            x0, y0 = np.floor(d.min(0)).astype(int)
            x1, y1 = np.ceil(d.max(0)).astype(int) + 1
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            m = cv2.getAffineTransform(s, d - np.array([x0, y0], np.float32))
            patch = cv2.warpAffine(self.photo, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillConvexPoly(mask, np.round(d - [x0, y0]).astype(np.int32), 1)
            region = out[y0:y1, x0:x1]
            region[mask > 0] = patch[mask > 0]
        return out


def write_video(path: Path, frames: list[np.ndarray], fps: int,
                tone_hz: float | None = None) -> Path:
    """Frames (RGB uint8, all one size) to an H.264 mp4; with ``tone_hz``, a sine tone too."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        audio = None
        if tone_hz is not None:
            rate = 48000
            audio = container.add_stream("aac", rate=rate, layout="mono")
            samples = np.arange(int(rate * len(frames) / fps))
            tone = (0.3 * np.sin(2 * np.pi * tone_hz * samples / rate)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = tone[start:start + 1024][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                for packet in audio.encode(frame):
                    container.mux(packet)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio is not None:
            for packet in audio.encode(None):
                container.mux(packet)
    return path
