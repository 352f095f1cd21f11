"""Frame sources for live mode: a webcam by index, or a video file played in real time.

``open_source("0")`` opens camera 0; ``open_source("clip.mp4", loop=True)`` plays a file at its
own frame rate against the wall clock, as if a camera were filming it, so the rest of the live
pipeline (tracking, pacing, latency) behaves exactly as with a webcam. Every source hands out
``CapturedFrame``s: RGB pixels plus the ``time.perf_counter()`` instant the frame came into
existence (for a file: the instant it was due), which is where capture->output latency starts.

``read()`` blocks until the next frame and returns None when a file ends (without looping).
"""
from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from seethrough_core.character import InputError

# Asked of webcams: what trackers expect and every webcam can deliver at 30 fps.
CAMERA_REQUEST_SIZE = (640, 480)
DEFAULT_FILE_FPS = 30.0     # when a file does not say its rate


@dataclass(frozen=True)
class CapturedFrame:
    index: int              # frames delivered since the source opened (loops keep counting)
    image: np.ndarray       # (h, w, 3) uint8 RGB
    t: float                # time.perf_counter() when it was captured


class FrameSource(Protocol):
    name: str
    size: tuple[int, int]   # (w, h)
    fps: float

    def read(self) -> CapturedFrame | None: ...

    def close(self) -> None: ...


def camera_missing_message(index: int, system: str | None = None) -> str:
    """One line: no camera at ``index``, the fix on this OS, and the file fallback."""
    system = system or platform.system()
    if system == "Linux":
        fix = (f"plug in a webcam and check `ls /dev/video*` (camera {index} is /dev/video{index}"
               "; your user needs the `video` group)")
    elif system == "Darwin":
        fix = ("plug in a webcam and allow camera access for your terminal in System Settings > "
               "Privacy & Security > Camera")
    elif system == "Windows":
        fix = ("plug in a webcam, allow desktop apps in Settings > Privacy & security > Camera, "
               "and close other apps that use it")
    else:
        fix = "plug in a webcam or try another index"
    return (f"no camera at index {index}: {fix}; or drive the puppet from a video with "
            "`--camera FILE`")


@contextlib.contextmanager
def _quiet_opencv():
    """OpenCV logs every failed camera probe as several WARN lines; our error says it once."""
    import cv2
    logging = getattr(cv2, "utils", None) and getattr(cv2.utils, "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


class CameraSource:
    """A webcam through OpenCV. Frames come at the camera's own rate; ``read`` blocks."""

    def __init__(self, index: int) -> None:
        import cv2

        self.index = index
        self.name = f"camera {index}"
        self._cv2 = cv2
        with _quiet_opencv():
            self._cap = cv2.VideoCapture(index)
            ok = self._cap.isOpened()
            if ok:
                self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, CAMERA_REQUEST_SIZE[0])
                self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, CAMERA_REQUEST_SIZE[1])
                ok, first = self._cap.read()
        if not ok:
            self._cap.release()
            raise InputError(camera_missing_message(index))
        h, w = first.shape[:2]
        self.size = (w, h)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self._count = 0

    def read(self) -> CapturedFrame | None:
        ok, bgr = self._cap.read()
        t = time.perf_counter()
        if not ok:
            raise InputError(f"{self.name} stopped sending frames (unplugged or taken by another "
                             "app?); reconnect it and start again")
        self._count += 1
        return CapturedFrame(self._count - 1, self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), t)

    def close(self) -> None:
        self._cap.release()


class _Pacer:
    """Hands out frames at ``fps`` in real time: the k-th frame no sooner than k / fps seconds
    after the first (a late frame is stamped when it came, never earlier)."""

    def __init__(self, fps: float) -> None:
        self.fps = float(fps)
        self.count = 0
        self._start: float | None = None

    def frame(self, image: np.ndarray) -> CapturedFrame:
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        due = self._start + self.count / self.fps
        if due > now:
            time.sleep(due - now)
        self.count += 1
        return CapturedFrame(self.count - 1, image, max(due, now))


class VideoFileSource:
    """A video file played in real time: frame k is handed out at start + k / fps.

    The clock starts at the first ``read``. Decoding runs ahead of nothing: when the reader
    is slow the file does not wait for it (a camera would not either), so frames the reader
    misses are simply newer by the time it asks. With ``loop`` the file starts over at its end
    and the timeline keeps running.
    """

    def __init__(self, path: str | os.PathLike, loop: bool = False) -> None:
        import cv2

        self.path = Path(path)
        self.name = str(self.path)
        self.loop = bool(loop)
        self._cv2 = cv2
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such video file; give a camera index (0, 1 ...) "
                             "or the path of a video")
        with _quiet_opencv():
            self._cap = cv2.VideoCapture(str(self.path))
            ok = self._cap.isOpened()
            first = self._cap.read()[1] if ok else None
        if first is None:
            self._cap.release()
            raise InputError(f"{self.path}: cannot read video frames from it; give a video file "
                             "(.mp4, .webm, .mov, .avi ...)")
        h, w = first.shape[:2]
        self.size = (w, h)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 1000.0 else DEFAULT_FILE_FPS
        self._pending: np.ndarray | None = first
        self._pace = _Pacer(self.fps)

    def read(self) -> CapturedFrame | None:
        bgr = self._next_bgr()
        if bgr is None:
            return None
        rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
        return self._pace.frame(rgb)

    def _next_bgr(self) -> np.ndarray | None:
        if self._pending is not None:
            bgr, self._pending = self._pending, None
            return bgr
        ok, bgr = self._cap.read()
        if ok:
            return bgr
        if not self.loop:
            return None
        self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
        ok, bgr = self._cap.read()
        return bgr if ok else None

    def close(self) -> None:
        self._cap.release()


class ClockSource:
    """No device at all: an empty frame every 1/fps seconds, for sessions that track nothing
    (``live --idle-only``), so they never open a camera they do not use."""

    def __init__(self, fps: float) -> None:
        self.name = "no camera (idle animation)"
        self.size = (1, 1)
        self.fps = float(fps)
        self._image = np.zeros((1, 1, 3), np.uint8)
        self._pace = _Pacer(self.fps)
        self._closed = False

    def read(self) -> CapturedFrame | None:
        if self._closed:
            return None
        return self._pace.frame(self._image)

    def close(self) -> None:
        self._closed = True


def open_source(spec: str | int, loop: bool = False) -> CameraSource | VideoFileSource:
    """A camera for an index ("0", 1 ...), otherwise a video file (``loop``: start over at its
    end). A file that happens to be named like an index wins over the camera."""
    text = str(spec).strip()
    if text.isdigit() and not Path(text).is_file():
        return CameraSource(int(text))
    return VideoFileSource(text, loop=loop)
