"""The tracking driver: camera or video frames in, filtered Live2D parameters out.

Per frame: MediaPipe landmarks (``tracking``), parameters (``solver``), One Euro smoothing
(``filters``). Breathing always comes from the idle animation (a face shows no breath). When the
face is lost, the parameters ease from the last tracked pose to the idle animation over
``LOST_BLEND_SECONDS`` (smoothstep); when it returns, the filter restarts from what is on screen,
so the puppet glides back to the tracked pose instead of jumping.

``mirror=True`` flips every frame horizontally before tracking: the puppet then moves like the
user's reflection (see ``solver`` for the directions).
"""
from __future__ import annotations

import os
import time

import numpy as np

from rig.params import defaults

from runtime.drivers.filters import ParamFilter
from runtime.drivers.idle import IdleDriver
from runtime.drivers.solver import Calibration, FaceFeatures, FaceSolver, measure
from runtime.drivers.tracking import FaceTracker

LOST_BLEND_SECONDS = 0.5


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class TrackingDriver:
    """Frames in, parameters out (every standard parameter id, every call)."""

    def __init__(self, *, face_model: str | os.PathLike | None = None, with_pose: bool = False,
                 calibration: Calibration | None = None, mirror: bool = False,
                 idle: IdleDriver | None = None, filter_config: dict | None = None) -> None:
        self.mirror = bool(mirror)
        self.idle = idle if idle is not None else IdleDriver(seed=0)
        self._filter = ParamFilter(filter_config)   # bad settings fail before MediaPipe starts
        self._solver = FaceSolver(calibration)
        self.tracker = FaceTracker(face_model=face_model, with_pose=with_pose)
        self.face_found = False
        self.features: FaceFeatures | None = None    # raw measurements of the last face
        self.timings: dict[str, float] = {"track_ms": 0.0, "solve_ms": 0.0}
        self._calibrate_next = False
        self._output = defaults()
        self._tracked = dict(self._output)   # the last filtered tracked pose
        self._lost_since: float | None = 0.0  # the idle animation until a face is seen
        self._need_restart = True

    @property
    def calibration(self) -> Calibration:
        return self._solver.calibration

    @calibration.setter
    def calibration(self, value: Calibration) -> None:
        self._solver.calibration = value

    def calibrate(self) -> None:
        """Use the next face seen (neutral, eyes open, looking ahead) as the zero."""
        self._calibrate_next = True

    def update(self, frame_rgb: np.ndarray, t: float) -> dict[str, float]:
        """Track one frame taken at ``t`` seconds and return the parameters to show."""
        t0 = time.perf_counter()
        frame = frame_rgb[:, ::-1] if self.mirror else frame_rgb
        face, pose = self.tracker.process(frame, t)
        t1 = time.perf_counter()
        idle = self.idle.sample(t)
        self.face_found = face is not None
        if face is not None:
            features = measure(face, pose)
            self.features = features
            if self._calibrate_next:
                self._solver.calibration = self._solver.calibration.captured(features)
                self._calibrate_next = False
            params = self._solver.solve(features)
            if self._need_restart:
                # Continue from what is on screen now: the filter glides to the face.
                self._filter.reset(self._output, t)
                self._need_restart = False
            self._tracked = self._filter(params, t)
            self._lost_since = None
            out = dict(self._tracked)
        else:
            if self._lost_since is None:
                self._lost_since = t
                self._need_restart = True
            w = _smoothstep((t - self._lost_since) / LOST_BLEND_SECONDS)
            out = {pid: (1.0 - w) * self._tracked.get(pid, value) + w * value
                   for pid, value in self._full(idle).items()}
        out["ParamBreath"] = idle.get("ParamBreath", 0.0)
        self._output = self._full(out)
        t2 = time.perf_counter()
        self.timings = {"track_ms": (t1 - t0) * 1e3, "solve_ms": (t2 - t1) * 1e3}
        return dict(self._output)

    @staticmethod
    def _full(params: dict[str, float]) -> dict[str, float]:
        out = defaults()
        out.update({k: float(v) for k, v in params.items() if k in out})
        return out

    def close(self) -> None:
        self.tracker.close()

    def __enter__(self) -> "TrackingDriver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

