"""The virtual camera sink: frames into OBS Virtual Camera (Windows, macOS) or a v4l2loopback
device (Linux) through pyvirtualcam, so OBS, Discord or a browser see the puppet as a webcam.

Most virtual cameras carry no alpha: every frame is laid over an opaque background colour (green
by default in live mode, for OBS's chroma key) and sent as RGB. The exception is Unity Capture on
Windows (pyvirtualcam's 'unitycapture' backend), which takes RGBA and hands the alpha on to OBS:
with ``alpha=True`` a camera opened on it gets the frames as they are (``keeps_alpha``), straight
alpha. Backends are tried in pyvirtualcam's order either way, so asking for alpha never moves the
frames to another camera than the one that opens first. When no backend can be opened the
error is `VirtualCameraUnavailable` (an InputError) with the fix for the user's OS in one line,
so the caller can either stop with it or fall back to another sink with a warning.
"""
from __future__ import annotations

import platform

import numpy as np

from seethrough_core.character import InputError

from runtime.outputs.sinks import over_background

LINUX_FIX = ("load v4l2loopback with `sudo modprobe v4l2loopback devices=1 exclusive_caps=1` "
             "(package v4l2loopback-dkms on Debian/Ubuntu, v4l2loopback on Fedora/Arch)")
# pyvirtualcam backends that take PixelFormat.RGBA and keep the alpha (the others convert to
# YUV or RGB and drop it).
ALPHA_BACKENDS = frozenset({"unitycapture"})
OBS_FIX = ("install OBS Studio 28 or newer and start its virtual camera once (Start Virtual "
           "Camera), then close OBS or keep it running")


class VirtualCameraUnavailable(InputError):
    """No virtual camera backend could be opened on this machine."""


def no_virtualcam_message(system: str | None = None, detail: str = "") -> str:
    """One line: why there is no virtual camera and how to get one on ``system``."""
    system = system or platform.system()
    if system == "Linux":
        fix = LINUX_FIX
    elif system in ("Windows", "Darwin"):
        fix = OBS_FIX
    else:
        fix = f"pyvirtualcam has no virtual camera backend for {system or 'this system'}"
    reason = f" ({detail})" if detail else ""
    return f"no virtual camera available{reason}: {fix}"


def camera_attempts(backends, alpha: bool) -> list[tuple[str, str]]:
    """(backend, pixel format name) in the order to try them: pyvirtualcam's order, RGBA for a
    backend that keeps alpha when ``alpha`` is asked for, RGB otherwise."""
    return [(name, "RGBA" if alpha and name in ALPHA_BACKENDS else "RGB") for name in backends]


def _one_line(text: str) -> str:
    """pyvirtualcam joins one error per backend with newlines."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


class VirtualCamera:
    """Sends (h, w, 4) straight-alpha RGBA frames of a fixed ``size`` to a virtual camera.

    ``backend`` / ``device`` pick one of pyvirtualcam's backends (default: the first that
    opens). ``background`` is the RGB colour under transparent pixels. ``alpha``: send RGBA where
    the backend keeps it (`ALPHA_BACKENDS`); ``keeps_alpha`` tells whether it does.
    """

    keeps_alpha = False

    def __init__(self, size: tuple[int, int], fps: float,
                 background: tuple[int, int, int] = (0, 255, 0), *,
                 backend: str | None = None, device: str | None = None,
                 alpha: bool = False) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise VirtualCameraUnavailable(f"pyvirtualcam is not installed ({exc}); install it "
                                           "with `pip install pyvirtualcam`") from None
        self.size = (int(size[0]), int(size[1]))
        self.background = tuple(int(c) for c in background)
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            raise VirtualCameraUnavailable(no_virtualcam_message(
                detail=f"no backend named {backend!r}"))
        names = [backend] if backend is not None else list(pyvirtualcam.camera.BACKENDS)
        errors = []
        self._camera = None
        # One backend at a time (as pyvirtualcam does with backend=None), so each gets the
        # pixel format it can take.
        for name, fmt in camera_attempts(names, alpha):
            try:
                self._camera = pyvirtualcam.Camera(self.size[0], self.size[1], float(fps),
                                                   fmt=pyvirtualcam.PixelFormat[fmt],
                                                   backend=name, device=device)
            except Exception as exc:   # each fails its own way; pyvirtualcam names the backend
                errors.append(_one_line(exc))
            else:
                self.keeps_alpha = fmt == "RGBA"
                break
        if self._camera is None:
            raise VirtualCameraUnavailable(no_virtualcam_message(
                detail="; ".join(errors) or "pyvirtualcam has no backend here"))
        self.frames_sent = 0

    @property
    def name(self) -> str:
        """e.g. 'v4l2loopback /dev/video2' or 'obs OBS Virtual Camera'."""
        return f"{self._camera.backend} {self._camera.device}"

    def write(self, rgba: np.ndarray) -> None:
        h, w = rgba.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"frame is {w}x{h}, the virtual camera {self.size[0]}x{self.size[1]}")
        if self.keeps_alpha:
            out = rgba if rgba.shape[2] == 4 else np.dstack(
                [rgba, np.full((h, w), 255, np.uint8)])
        elif rgba.shape[2] == 3:
            out = rgba
        elif rgba[..., 3].min() == 255:
            out = rgba[..., :3]     # rendered over an opaque background: nothing to lay over
        else:
            out = over_background(rgba, self.background)
        self._camera.send(np.ascontiguousarray(out))
        self.frames_sent += 1

    def close(self) -> None:
        camera, self._camera = getattr(self, "_camera", None), None
        if camera is not None:
            camera.close()

    def __enter__(self) -> "VirtualCamera":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
