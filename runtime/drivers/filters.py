"""One Euro filter (Casiez, Roussel, Vogel, CHI 2012), vectorised over all parameters.

A low-pass filter whose cutoff rises with speed: at rest the cutoff is ``min_cutoff`` (Hz) and
jitter is smoothed away; in motion it becomes ``min_cutoff + beta * |speed|`` so fast moves get
through with little lag. The speed itself is low-passed at ``d_cutoff``. Each value has its own
three settings, so one filter serves every parameter at once with one set of array operations.

``ParamFilter`` applies it to the Live2D parameters with settings per group (head, eyes, gaze,
brows, mouth, body); ``beta`` is in 1 / (parameter units), so degrees for angles.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

FILTER_GROUPS: dict[str, tuple[str, ...]] = {
    "head": ("ParamAngleX", "ParamAngleY", "ParamAngleZ"),
    "eyes": ("ParamEyeLOpen", "ParamEyeROpen"),
    "gaze": ("ParamEyeBallX", "ParamEyeBallY"),
    "brows": ("ParamBrowLY", "ParamBrowRY"),
    "mouth": ("ParamMouthOpenY", "ParamMouthForm"),
    "body": ("ParamBodyAngleX", "ParamBodyAngleY", "ParamBodyAngleZ"),
}

# min_cutoff (Hz), beta, d_cutoff (Hz). Angles move tens of degrees a second: a small beta
# already opens the filter wide, and a slow speed estimate (d_cutoff) keeps landmark jitter
# from opening it at rest (0.3 deg of jitter comes out ~7x smaller; 20 deg/s lags ~40 ms).
# Eyelids must pass a 150 ms blink: a large beta.
DEFAULT_FILTER_CONFIG: dict[str, dict[str, float]] = {
    "head": {"min_cutoff": 0.3, "beta": 0.05, "d_cutoff": 0.3},
    "eyes": {"min_cutoff": 2.0, "beta": 3.0, "d_cutoff": 1.0},
    "gaze": {"min_cutoff": 1.0, "beta": 1.5, "d_cutoff": 1.0},
    "brows": {"min_cutoff": 1.0, "beta": 1.0, "d_cutoff": 1.0},
    "mouth": {"min_cutoff": 2.0, "beta": 3.0, "d_cutoff": 1.0},
    "body": {"min_cutoff": 0.3, "beta": 0.1, "d_cutoff": 0.3},
}


def _alpha(cutoff: np.ndarray, dt: float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz for a step of dt seconds."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter over a vector of n values; settings are scalars or (n,) arrays."""

    def __init__(self, n: int, min_cutoff: float | np.ndarray = 1.0,
                 beta: float | np.ndarray = 0.0, d_cutoff: float | np.ndarray = 1.0) -> None:
        self.n = int(n)
        self.min_cutoff = np.broadcast_to(np.asarray(min_cutoff, np.float64), (self.n,)).copy()
        self.beta = np.broadcast_to(np.asarray(beta, np.float64), (self.n,)).copy()
        self.d_cutoff = np.broadcast_to(np.asarray(d_cutoff, np.float64), (self.n,)).copy()
        if (self.min_cutoff <= 0).any() or (self.d_cutoff <= 0).any() or (self.beta < 0).any():
            raise ValueError("cutoffs must be positive and beta non-negative")
        self._x: np.ndarray | None = None
        self._dx = np.zeros(self.n)
        self._t: float | None = None

    def reset(self, value: np.ndarray | None = None, t: float | None = None) -> None:
        """Forget the past; with ``value``, start from it at rest (no speed)."""
        self._x = None if value is None else np.array(value, np.float64).reshape(self.n)
        self._dx = np.zeros(self.n)
        self._t = t

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filtered values for sample ``x`` taken at time ``t`` (seconds, increasing)."""
        x = np.asarray(x, np.float64).reshape(self.n)
        if self._x is None or self._t is None:
            self._x = x.copy()
            self._t = float(t)
            return self._x.copy()
        dt = float(t) - self._t
        if dt <= 0.0:       # a repeated timestamp: nothing new to learn from
            return self._x.copy()
        self._t = float(t)
        dx = (x - self._x) / dt
        self._dx += _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x += _alpha(cutoff, dt) * (x - self._x)
        return self._x.copy()


class ParamFilter:
    """One Euro over named parameters with per-group settings.

    ``config`` overrides ``DEFAULT_FILTER_CONFIG`` per group and key, e.g.
    ``{"head": {"beta": 0.2}}``. Parameters outside every group pass through unfiltered.
    """

    def __init__(self, config: Mapping[str, Mapping[str, float]] | None = None) -> None:
        settings = {g: dict(v) for g, v in DEFAULT_FILTER_CONFIG.items()}
        for group, values in (config or {}).items():
            if group not in settings:
                raise ValueError(f"unknown filter group {group!r}; one of {', '.join(settings)}")
            for key, value in values.items():
                if key not in ("min_cutoff", "beta", "d_cutoff"):
                    raise ValueError(f"unknown filter setting {key!r} for {group!r}")
                settings[group][key] = float(value)
        self.config = settings
        self.ids: tuple[str, ...] = tuple(pid for ids in FILTER_GROUPS.values() for pid in ids)
        per_id = [settings[g] for g, ids in FILTER_GROUPS.items() for _ in ids]
        self._filter = OneEuroFilter(
            len(self.ids), min_cutoff=np.array([s["min_cutoff"] for s in per_id]),
            beta=np.array([s["beta"] for s in per_id]),
            d_cutoff=np.array([s["d_cutoff"] for s in per_id]))
        self._last = np.zeros(len(self.ids))

    def __call__(self, params: Mapping[str, float], t: float) -> dict[str, float]:
        # A parameter missing from this sample holds its last value.
        x = np.array([params.get(pid, self._last[i]) for i, pid in enumerate(self.ids)])
        self._last = self._filter(x, t)
        out = dict(params)
        out.update(zip(self.ids, self._last.tolist()))
        return out

    def reset(self, params: Mapping[str, float] | None = None, t: float | None = None) -> None:
        """Forget the past; with ``params``, continue smoothly from them."""
        if params is None:
            self._filter.reset()
            return
        self._last = np.array([float(params.get(pid, 0.0)) for pid in self.ids])
        self._filter.reset(self._last, t)
