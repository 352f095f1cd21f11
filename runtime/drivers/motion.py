"""Motion files: parameter curves over time, from our own JSON format or Live2D's motion3.json.

Our format (``*.motion.json``; written by :func:`save_motion`)::

    {
      "format": "seethrough-motion",
      "version": 1,
      "duration": 3.0,                  seconds, > 0
      "fps": 30,                        optional: the rate the motion was authored/recorded at
      "loop": false,                    optional, default false
      "fade_in": 0.5, "fade_out": 0.5,  optional seconds: fades as the Cubism SDK's (below)
      "curves": {
        "ParamAngleX": {"interpolation": "linear", "keys": [[0, 0], [1.5, 20], [3, 0]]},
        ...
      }
    }

Every curve has ``keys``: a list of keys sorted by time (equal times are allowed and make a
jump), and ``interpolation``: one name for every segment between keys, or a list with one name
per segment (``len(keys) - 1`` names). The names:

* ``linear``: straight line from key to key.
* ``step``: hold the key's value until the next key.
* ``inverse_step``: jump to the next key's value right after the key (Cubism's "inverse stepped").
* ``bezier``: cubic Bezier in (time, value). Each key may carry its handles in one of three forms:
  ``[t, v, in_t, in_v, out_t, out_v]`` (absolute handle positions: the in handle shapes the
  segment before the key, the out handle the one after it); ``[t, v, slope]`` (value units per
  second; the handles sit on that slope, one third of the neighbouring segment away); or plain
  ``[t, v]`` (automatic slope, as for ``smooth``).
* ``smooth``: a curve through the keys with automatic slopes: Fritsch-Carlson monotone cubic
  Hermite (flat at the first and last key and at local extrema, harmonic mean of the
  neighbouring secants elsewhere), so it never overshoots the keys and stays inside the
  parameter's range. Two keys give the classic ease-in-out ``3u^2 - 2u^3``.

Keys may have 2, 3 or 6 numbers in any curve; handles only matter to bezier segments. Other
top-level keys are ignored, so tools may store their own metadata (e.g. what was recorded).

Live2D ``.motion3.json`` (Cubism's public format, ``"Version": 3``): ``Meta`` gives Duration,
Fps, Loop, AreBeziersRestricted, FadeInTime/FadeOutTime and allocation counts (CurveCount,
TotalSegmentCount, TotalPointCount, UserDataCount, TotalUserDataSize: hints for the SDK's
buffers, not checked here). Each curve has a Target, an Id, optional FadeInTime/FadeOutTime and
flat Segments: ``t0, v0`` then per segment a type and its points: 0 linear ``t, v``; 1 bezier
``c1t, c1v, c2t, c2v, t, v``; 2 stepped ``t, v`` (holds the start value); 3 inverse stepped
``t, v`` (holds the end value). Targets: ``Parameter`` curves drive parameters; ``Model`` curves
``EyeBlink`` and ``LipSync`` drive the model's eye-blink and lip-sync parameter groups (see
Playback); ``PartOpacity`` and other Model curves are ignored with one warning. ``UserData``
(``[{"Time": s, "Value": "text"}]``) holds events, kept in ``Motion.events``. Cubism 2 ids
(``PARAM_ANGLE_X``) are renamed to the standard ones (``ParamAngleX``): each word capitalised,
plus a table of the few that were renamed outright (``PARAM_TERE`` -> ``ParamCheek``); the
renaming is listed in one warning.

Our format carries the same extras: ``"restricted_beziers": true``, ``"fade_in"``/``"fade_out"``
inside a curve (that curve's own fade), ``"model_curves": {"EyeBlink": curve, "LipSync": curve}``
and ``"events": [[t, "text"], ...]``.

Evaluation. Every segment is stored as a cubic Bezier (linear and smooth segments are exact
special cases with handles at one and two thirds) plus a kind flag for the two step kinds.
Bezier handle times are clamped into their segment, which makes time a monotone function of the
curve parameter s; we then solve ``x(s) = t`` by safeguarded Newton iteration (bisection whenever
a Newton step leaves the bracket) and evaluate the value polynomial at that s. This is the curve
as the Cubism Editor draws it. Files with ``AreBeziersRestricted: true`` are evaluated as the
Cubism SDK does for them: s is the time fraction of the segment and the value is the Bezier of
the four values at s (de Casteljau). The two agree whenever the handles sit at one and two
thirds of their segment and differ otherwise.

Before a curve's first key it holds the first value and after its last key the last value.
Sampling at time t uses t clamped to ``[0, duration]`` for a motion that plays once; a looping
motion wraps t into ``(0, duration]`` the way the SDK does (it subtracts the duration while time
is past it), so ``t = duration`` and its positive multiples give the last key, not time 0's.
All curves are sampled together: one ``searchsorted`` over the segments of every curve (each
curve's times shifted into its own band) and a few array operations, so sampling costs the same
whether a motion has two keys or two thousand.

Playback (:meth:`Motion.apply`), as the Cubism SDK applies a motion over the current pose. The
motion's weight at playback time t is ``fade_in(t) * fade_out(t)`` with the SDK's sine easing
``e(x) = 0.5 - 0.5 cos(pi clamp(x, 0, 1))``: ``fade_in = e(t / FadeInTime)`` and, for a motion
that plays once, ``fade_out = e((Duration - t) / FadeOutTime)``; a fade time of 0 is no fade
(weight 1), a motion3.json without (or with a negative) Meta fade time fades over 1 s as the SDK
does, our format without one does not fade, and a looping motion never fades out. A curve with its own FadeInTime or
FadeOutTime (>= 0) uses it in place of the motion's for that side; a negative or absent one
means the motion's. A parameter then gets ``source + (curve value - source) * weight``, where
source is its value before the motion. Model curves: an ``EyeBlink`` value multiplies the curves
of the eye-blink parameters the motion has, and sets those it lacks (with the motion's weight);
a ``LipSync`` value is added to the lip-sync parameters' curves, or sets them. The groups are
``ParamEyeLOpen``/``ParamEyeROpen`` and ``ParamMouthOpenY`` unless a model3.json's ``Groups``
say otherwise (:func:`load_model3_groups`). The fade-in runs once, from the start of playback
(the SDK can restart it at every loop; we do not).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from rig.params import PARAM_IDS, STANDARD_PARAMS
from seethrough_core.character import InputError

FORMAT = "seethrough-motion"
VERSION = 1
MOTION3_VERSION = 3

# Segment kinds; the numbers are motion3.json's segment types.
LINEAR, BEZIER, STEP, INVERSE_STEP = 0, 1, 2, 3
_KIND_BY_NAME = {"linear": LINEAR, "bezier": BEZIER, "step": STEP, "inverse_step": INVERSE_STEP,
                 "smooth": BEZIER}
_NAME_BY_KIND = {LINEAR: "linear", BEZIER: "bezier", STEP: "step", INVERSE_STEP: "inverse_step"}
INTERPOLATIONS = ("linear", "step", "inverse_step", "smooth", "bezier")
_MOTION3_POINTS = {LINEAR: 1, BEZIER: 3, STEP: 1, INVERSE_STEP: 1}

_NEWTON_TOL = 1e-12        # in units of the segment's length: far below any frame's time step
MAX_DURATION = 3600.0       # s, as `render --idle`
MAX_FILE_BYTES = 64 << 20
MAX_MODEL3_BYTES = 16 << 20
_NEWTON_MAX_ITER = 60      # bisection alone halves the bracket 60 times: below double precision
_CHUNK = 1 << 14           # times per curve evaluated at once by sample_many


class MotionWarning(UserWarning):
    """Something in a motion file was ignored (unknown ids, part-opacity curves...)."""


@dataclass
class CurveKeys:
    """One parameter curve as keys: what our format stores, with every bezier handle resolved.

    ``kinds[k]`` is the interpolation of the segment from key k to key k+1. ``out_handle[k]``
    and ``in_handle[k+1]`` are that segment's Bezier control points (absolute time, value),
    already clamped into the segment; for non-bezier segments they are unused.
    """

    times: np.ndarray        # (n,) float64, non-decreasing
    values: np.ndarray       # (n,) float64
    kinds: np.ndarray        # (n-1,) int8
    in_handle: np.ndarray    # (n, 2)
    out_handle: np.ndarray   # (n, 2)


EYE_BLINK, LIP_SYNC = "EyeBlink", "LipSync"
MODEL_CURVES = (EYE_BLINK, LIP_SYNC)
# The SDK's groups when no model3.json names them: the standard eye-open and mouth-open ids.
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {EYE_BLINK: ("ParamEyeLOpen", "ParamEyeROpen"),
                                              LIP_SYNC: ("ParamMouthOpenY",)}
_DEFAULTS = {p.id: float(p.default) for p in STANDARD_PARAMS}

# Cubism 2 ids whose Cubism 3 standard name is not the word-by-word rename.
CUBISM2_RENAMED = {"PARAM_TERE": "ParamCheek"}


def standard_id(pid: str) -> str:
    """A Cubism 2 id (``PARAM_EYE_L_OPEN``) as the Cubism 3 standard one (``ParamEyeLOpen``):
    each word capitalised, or the table above; any other id is returned unchanged."""
    if pid in CUBISM2_RENAMED:
        return CUBISM2_RENAMED[pid]
    words = pid.split("_")
    if len(words) < 2 or words[0] != "PARAM" or not all(w.isalnum() and w == w.upper() and w
                                                          for w in words[1:]):
        return pid
    return "Param" + "".join(w[0] + w[1:].lower() for w in words[1:])


def easing_sine(x: float) -> float:
    """The Cubism SDK's fade easing: 0 at x <= 0, 1 at x >= 1, a half cosine between."""
    x = min(max(float(x), 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * x)


def _fade(elapsed: float, seconds: float | None) -> float:
    """One fade side: no fade (1) when its time is 0 or unset."""
    if not seconds:
        return 1.0
    return easing_sine(elapsed / seconds)


class MotionEvent(NamedTuple):
    """A UserData event: ``value`` happens at ``time`` seconds."""

    time: float
    value: str


@dataclass
class Motion:
    """Parameter curves over time. ``sample(t)`` gives every curve's raw value at time t
    (seconds); ``apply(t, base)`` gives what playback sets, faded over ``base``."""

    curves: dict[str, CurveKeys]
    duration: float
    loop: bool = False
    fps: float | None = None
    fade_in: float | None = None
    fade_out: float | None = None
    unknown_ids: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    source: str | None = None
    restricted_beziers: bool = False
    # Per curve (fade_in, fade_out) overrides; None on a side: the motion's.
    curve_fades: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    model_curves: dict[str, CurveKeys] = field(default_factory=dict)   # EyeBlink, LipSync
    events: tuple[MotionEvent, ...] = ()
    eye_blink_ids: tuple[str, ...] = DEFAULT_GROUPS[EYE_BLINK]
    lip_sync_ids: tuple[str, ...] = DEFAULT_GROUPS[LIP_SYNC]
    renamed: dict[str, str] = field(default_factory=dict)   # Cubism 2 id -> standard id

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise ValueError(f"motion duration must be a positive number, got {self.duration}")
        self.ids: tuple[str, ...] = tuple(self.curves)
        self._table = _SegmentTable.build([self.curves[i] for i in self.ids],
                                          self.restricted_beziers)
        self._model_ids = tuple(self.model_curves)
        self._model_table = _SegmentTable.build([self.model_curves[i] for i in self._model_ids],
                                                self.restricted_beziers)
        self.events = tuple(sorted(self.events, key=lambda e: e.time))

    def local_time(self, t: float | np.ndarray) -> np.ndarray:
        """Where in the motion time t falls: wrapped into (0, duration] for looping motions (a
        positive multiple of the duration is the end, as in the SDK), clamped otherwise."""
        t = np.asarray(t, np.float64)
        if self.loop:
            wrapped = np.mod(t, self.duration)
            return np.where((wrapped == 0) & (t > 0), self.duration, wrapped)
        return np.clip(t, 0.0, self.duration)

    def sample(self, t: float) -> dict[str, float]:
        """Every parameter curve's raw value at time t (seconds): no fades, no model curves."""
        if not self.ids:
            return {}
        values = self._table.evaluate(np.full(len(self.ids), float(self.local_time(t))))
        return dict(zip(self.ids, values.tolist()))

    def sample_model(self, t: float) -> dict[str, float]:
        """The raw values of the Model curves (EyeBlink, LipSync) the motion has at time t."""
        if not self._model_ids:
            return {}
        values = self._model_table.evaluate(np.full(len(self._model_ids),
                                                    float(self.local_time(t))))
        return dict(zip(self._model_ids, values.tolist()))

    def fade_in_weight(self, t: float, seconds: float | None = None) -> float:
        """The fade-in at playback time t, over ``seconds`` (default: the motion's)."""
        return _fade(t, self.fade_in if seconds is None else seconds)

    def fade_out_weight(self, t: float, seconds: float | None = None) -> float:
        """The fade-out at playback time t (1 for a looping motion: it never ends)."""
        if self.loop:
            return 1.0
        return _fade(self.duration - t, self.fade_out if seconds is None else seconds)

    def weight(self, t: float) -> float:
        """The motion's weight at playback time t: fade-in times fade-out."""
        return self.fade_in_weight(t) * self.fade_out_weight(t)

    def curve_weight(self, pid: str, t: float) -> float:
        """The weight of one parameter curve: its own fade times where it has them."""
        fade_in, fade_out = self.curve_fades.get(pid, (None, None))
        return self.fade_in_weight(t, fade_in) * self.fade_out_weight(t, fade_out)

    def driven_ids(self) -> tuple[str, ...]:
        """Every id :meth:`apply` writes: the parameter curves, then the groups the Model
        curves set."""
        out = list(self.ids)
        for name, group in ((EYE_BLINK, self.eye_blink_ids), (LIP_SYNC, self.lip_sync_ids)):
            if name in self.model_curves:
                out += [pid for pid in group if pid not in out]
        return tuple(out)

    def apply(self, t: float, base: Mapping[str, float]) -> dict[str, float]:
        """What playback sets at time t (seconds since it started) over the pose ``base``
        (values before the motion; an id it lacks takes its standard default, else 0)."""
        raw = self.sample(t)
        model = self.sample_model(t)
        blink, lip = model.get(EYE_BLINK), model.get(LIP_SYNC)
        motion_weight = self.weight(t)
        out: dict[str, float] = {}
        for pid, value in raw.items():
            if blink is not None and pid in self.eye_blink_ids:
                value *= blink
            if lip is not None and pid in self.lip_sync_ids:
                value += lip
            source = base.get(pid, _DEFAULTS.get(pid, 0.0))
            weight = self.curve_weight(pid, t) if pid in self.curve_fades else motion_weight
            out[pid] = source + (value - source) * weight
        for value, group in ((blink, self.eye_blink_ids), (lip, self.lip_sync_ids)):
            if value is None:
                continue
            for pid in group:
                if pid not in raw:
                    source = base.get(pid, _DEFAULTS.get(pid, 0.0))
                    out[pid] = source + (value - source) * motion_weight
        return out

    def events_between(self, t0: float, t1: float) -> list[MotionEvent]:
        """The events playback passes in [t0, t1) (playback seconds), with the playback time
        of each pass; a looping motion passes its events once per loop."""
        out = []
        for event in self.events:
            if not self.loop:
                if t0 <= event.time < t1:
                    out.append(event)
                continue
            first = max(0, math.ceil((t0 - event.time) / self.duration))
            k = first
            while event.time + k * self.duration < t1:
                at = event.time + k * self.duration
                if at >= t0:
                    out.append(MotionEvent(at, event.value))
                k += 1
        return sorted(out, key=lambda e: e.time)

    def with_groups(self, groups: Mapping[str, Sequence[str]]) -> "Motion":
        """This motion with the eye-blink/lip-sync groups of a model (missing names: none)."""
        return _replace(self, eye_blink_ids=tuple(groups.get(EYE_BLINK, ())),
                        lip_sync_ids=tuple(groups.get(LIP_SYNC, ())))

    def sample_many(self, times: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """Every curve sampled at an array of times: {id: (len(times),) float64}."""
        times = self.local_time(np.asarray(times, np.float64).ravel())
        n_curves = len(self.ids)
        if n_curves == 0:
            return {}
        out = np.empty((n_curves, times.size))
        for a in range(0, times.size, _CHUNK):  # bounded temporaries for long timelines
            chunk = times[a:a + _CHUNK]
            out[:, a:a + chunk.size] = self._table.evaluate(np.tile(chunk, n_curves)).reshape(
                n_curves, chunk.size)
        return dict(zip(self.ids, out))

    def to_dict(self) -> dict[str, Any]:
        """This motion in our JSON format (exact: it samples identically after a round trip)."""
        doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "duration": self.duration}
        if self.fps is not None:
            doc["fps"] = self.fps
        doc["loop"] = self.loop
        if self.fade_in is not None:
            doc["fade_in"] = self.fade_in
        if self.fade_out is not None:
            doc["fade_out"] = self.fade_out
        if self.restricted_beziers:
            doc["restricted_beziers"] = True
        if self.events:
            doc["events"] = [[e.time, e.value] for e in self.events]
        if self.model_curves:
            doc["model_curves"] = {name: _curve_to_dict(c) for name, c in self.model_curves.items()}
        doc["curves"] = {}
        for pid, curve in self.curves.items():
            entry = _curve_to_dict(curve)
            fade_in, fade_out = self.curve_fades.get(pid, (None, None))
            if fade_in is not None:
                entry["fade_in"] = fade_in
            if fade_out is not None:
                entry["fade_out"] = fade_out
            doc["curves"][pid] = entry
        return doc


def _replace(motion: Motion, **changes) -> Motion:
    """A copy with some fields changed; the segment tables are shared, not rebuilt."""
    import copy
    out = copy.copy(motion)
    for key, value in changes.items():
        setattr(out, key, value)
    return out


class MotionDriver:
    """A motion played from a pose: ``sample(t)`` is :meth:`Motion.apply` over ``base`` (what an
    offline render poses), ``events_between`` passes the motion's events through."""

    def __init__(self, motion: Motion, base: Mapping[str, float]) -> None:
        self.motion = motion
        self.base = dict(base)

    def sample(self, t: float) -> dict[str, float]:
        return self.motion.apply(t, self.base)

    def events_between(self, t0: float, t1: float) -> list[MotionEvent]:
        return self.motion.events_between(t0, t1)


def load_model3_groups(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """The ``EyeBlink`` and ``LipSync`` parameter ids a Live2D .model3.json lists in its Groups
    (a name it lacks maps to no ids, as in the SDK)."""
    path = Path(path)
    data = read_json_file(path, "model3.json", MAX_MODEL3_BYTES, "a Live2D .model3.json")
    if not isinstance(data, dict):
        raise InputError(f"{path}: a model3.json holds a JSON object, not {type(data).__name__}")
    groups = data.get("Groups", [])
    if not isinstance(groups, list):
        raise InputError(f"{path}: \"Groups\" must be a list of {{Target, Name, Ids}}")
    out: dict[str, tuple[str, ...]] = {EYE_BLINK: (), LIP_SYNC: ()}
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            raise InputError(f"{path}: Groups[{i}] must be an object with Target, Name, Ids")
        name = group.get("Name")
        if name not in out or group.get("Target", "Parameter") != "Parameter":
            continue
        ids = group.get("Ids", [])
        if not isinstance(ids, list) or not all(isinstance(x, str) and x for x in ids):
            raise InputError(f"{path}: Groups[{i}] ({name}): \"Ids\" must be a list of "
                             "parameter ids")
        out[name] = out[name] + tuple(x for x in ids if x not in out[name])
    return out


# ------------------------------------------------------------------------------- evaluation

class _SegmentTable:
    """Every curve's segments in flat arrays, searched for all curves at once.

    Segment j of curve c is found by searching ``c * stride + (t0 - t_min)``: shifting each
    curve into its own band of the time axis turns a per-curve search into one searchsorted.
    """

    def __init__(self) -> None:
        self.keys = np.zeros(0)
        self.first = self.last = self.band = np.zeros(0)
        self.seg_lo = self.seg_hi = np.zeros(0, np.int64)
        self.t0 = self.t1 = self.v0 = self.v1 = np.zeros(0)
        self.kind = np.zeros(0, np.int8)
        # Per segment, (a, b, c) of a s^3 + b s^2 + c s in the curve parameter s: x_poly gives
        # the fraction of the segment's time, v_poly the value minus v0.
        self.x_poly = np.zeros((0, 3))
        self.v_poly = np.zeros((0, 3))
        self.t_min = 0.0
        self.restricted = False    # AreBeziersRestricted: s is the time fraction, no solve

    @classmethod
    def build(cls, curves: list[CurveKeys], restricted: bool = False) -> "_SegmentTable":
        table = cls()
        table.restricted = restricted
        if not curves:
            return table
        t0, t1, v0, v1, kind, c1, c2, owner = [], [], [], [], [], [], [], []
        for c, curve in enumerate(curves):
            t, v = curve.times, curve.values
            if len(t) == 1:  # a constant: one zero-length segment that evaluates to its value
                t0.append(t[:1]); t1.append(t[:1]); v0.append(v[:1]); v1.append(v[:1])
                kind.append(np.array([LINEAR], np.int8))
                c1.append(np.array([[t[0], v[0]]])); c2.append(np.array([[t[0], v[0]]]))
                owner.append(np.array([c]))
                continue
            t0.append(t[:-1]); t1.append(t[1:]); v0.append(v[:-1]); v1.append(v[1:])
            kind.append(curve.kinds)
            c1.append(curve.out_handle[:-1]); c2.append(curve.in_handle[1:])
            owner.append(np.full(len(t) - 1, c))
        table.t0, table.t1 = np.concatenate(t0), np.concatenate(t1)
        table.v0, table.v1 = np.concatenate(v0), np.concatenate(v1)
        table.kind = np.concatenate(kind).astype(np.int8)
        c1, c2 = np.concatenate(c1), np.concatenate(c2)
        owner = np.concatenate(owner)

        h = table.t1 - table.t0
        safe_h = np.where(h > 0, h, 1.0)
        # Normalised handle times; linear segments (and zero-length ones) get the thirds, which
        # makes x(s) = s exactly, so the solver returns s = u at once.
        bez = (table.kind == BEZIER) & (h > 0)
        p1 = np.where(bez, np.clip((c1[:, 0] - table.t0) / safe_h, 0.0, 1.0), 1.0 / 3.0)
        p2 = np.where(bez, np.clip((c2[:, 0] - table.t0) / safe_h, 0.0, 1.0), 2.0 / 3.0)
        q1 = np.where(bez, c1[:, 1], table.v0 + (table.v1 - table.v0) / 3.0)
        q2 = np.where(bez, c2[:, 1], table.v0 + 2.0 * (table.v1 - table.v0) / 3.0)
        # Bernstein -> power basis for B(s) = (1-s)^3 P0 + 3(1-s)^2 s P1 + 3(1-s) s^2 P2 + s^3 P3.
        table.x_poly = np.stack([1.0 + 3.0 * p1 - 3.0 * p2, 3.0 * p2 - 6.0 * p1, 3.0 * p1], axis=1)
        dv = table.v1 - table.v0
        table.v_poly = np.stack([dv + 3.0 * (q1 - q2), 3.0 * (q2 - 2.0 * q1 + table.v0),
                                 3.0 * (q1 - table.v0)], axis=1)

        n_seg = np.bincount(owner, minlength=len(curves))
        table.seg_lo = np.concatenate([[0], np.cumsum(n_seg)[:-1]]).astype(np.int64)
        table.seg_hi = table.seg_lo + n_seg - 1
        table.first = table.t0[table.seg_lo]
        table.last = table.t1[table.seg_hi]
        table.t_min = float(min(table.t0.min(), table.t1.min()))
        stride = float(max(table.t0.max(), table.t1.max()) - table.t_min) + 1.0
        table.band = np.arange(len(curves), dtype=np.float64) * stride
        table.keys = table.band[owner] + (table.t0 - table.t_min)
        return table

    def evaluate(self, times: np.ndarray) -> np.ndarray:
        """Values of every curve at ``times`` laid out curve-major: (n_curves * k,) -> same."""
        n_curves = len(self.first)
        per_curve = times.size // n_curves
        curve = np.repeat(np.arange(n_curves), per_curve)
        t = np.clip(times, self.first[curve], self.last[curve])
        seg = np.searchsorted(self.keys, self.band[curve] + (t - self.t_min), side="right") - 1
        seg = np.clip(seg, self.seg_lo[curve], self.seg_hi[curve])

        t0, t1 = self.t0[seg], self.t1[seg]
        h = t1 - t0
        u = np.ones_like(t)
        np.divide(t - t0, h, out=u, where=h > 0)
        u = np.clip(u, 0.0, 1.0)
        # Restricted files: the SDK's shortcut, the value Bezier at s = u (exact for handles
        # at the thirds; linear segments have them there, so they are exact either way).
        s = u if self.restricted else _solve_monotone_cubic(self.x_poly[seg], u)
        a, b, c = self.v_poly[seg].T
        value = self.v0[seg] + ((a * s + b) * s + c) * s

        kind = self.kind[seg]
        value = np.where(kind == STEP, np.where(t >= t1, self.v1[seg], self.v0[seg]), value)
        value = np.where(kind == INVERSE_STEP, self.v1[seg], value)
        return value


def _solve_monotone_cubic(poly: np.ndarray, u: np.ndarray) -> np.ndarray:
    """s in [0, 1] with a s^3 + b s^2 + c s = u, for cubics rising from 0 at s=0 to 1 at s=1.

    Safeguarded Newton: each step keeps a bracket [lo, hi] around the root and falls back to
    bisection when Newton would leave it (flat spots where a handle sits on its key). Starts
    at s = u, which is already the root for linear and Hermite segments.
    """
    a, b, c = poly[:, 0], poly[:, 1], poly[:, 2]
    s = u.copy()
    lo, hi = np.zeros_like(u), np.ones_like(u)
    for _ in range(_NEWTON_MAX_ITER):
        f = ((a * s + b) * s + c) * s - u
        active = np.abs(f) > _NEWTON_TOL
        if not active.any():
            break
        lo = np.where(active & (f < 0), s, lo)
        hi = np.where(active & (f > 0), s, hi)
        slope = (3.0 * a * s + 2.0 * b) * s + c
        step = np.zeros_like(s)
        np.divide(f, slope, out=step, where=slope > 0)
        newton = s - step
        inside = (slope > 0) & (newton > lo) & (newton < hi)
        s = np.where(active, np.where(inside, newton, 0.5 * (lo + hi)), s)
    return s


# ---------------------------------------------------------------------------------- loading

def load_motion(path: str | os.PathLike, known_ids: Iterable[str] | None = PARAM_IDS,
                groups: Mapping[str, Sequence[str]] | None = None) -> Motion:
    """Read a motion file: our format or a Live2D .motion3.json (told apart by content).

    Curves whose ids are not in ``known_ids`` are dropped and listed in ``Motion.unknown_ids``
    and a :class:`MotionWarning`; ``known_ids=None`` keeps every curve. With ``known_ids``, a
    motion that drives none of them is an InputError. ``groups`` (from
    :func:`load_model3_groups`) names the eye-blink and lip-sync parameters of the model.
    """
    path = Path(path)
    data = read_json_file(path, "motion file", MAX_FILE_BYTES,
                          f"a .motion3.json or {FORMAT} file")
    return motion_from_dict(data, known_ids=known_ids, source=str(path), groups=groups)


def read_json_file(path: Path, what: str, limit: int, expected: str) -> Any:
    """A JSON file's content; every way it can be unreadable is a one-line InputError."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give {expected}")
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give {expected}")
    size = path.stat().st_size
    if size > limit:
        raise InputError(f"{path}: {size / (1 << 20):.1f} MiB is too large for a {what} (the "
                         f"limit is {limit / (1 << 20):g} MiB)")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # Cubism's files may start with a BOM
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a {what} (not UTF-8 text); expected {expected}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno}); expected {expected}") from None
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: not a {what} (JSON nested too deeply)") from None


def motion_from_dict(data: Any, known_ids: Iterable[str] | None = PARAM_IDS,
                     source: str | None = None,
                     groups: Mapping[str, Sequence[str]] | None = None) -> Motion:
    """A Motion from parsed JSON in either format. Bad data raises InputError, and so does a
    motion that drives none of ``known_ids`` (when given)."""
    where = source or "motion"
    if not isinstance(data, dict):
        raise InputError(f"{where}: a motion file holds a JSON object, not {type(data).__name__}")
    known = None if known_ids is None else frozenset(known_ids)
    if "Version" in data or "Curves" in data:
        parsed = _parse_motion3(data, where)
    elif data.get("format") == FORMAT:
        parsed = _parse_ours(data, where)
    elif "format" in data:
        raise InputError(f"{where}: unknown motion format {data['format']!r}; expected "
                         f"{FORMAT!r} or a Live2D .motion3.json")
    else:
        raise InputError(f"{where}: not a motion file: no \"format\": \"{FORMAT}\" and no "
                         "Live2D \"Version\"/\"Curves\"")
    curves, header, notes, all_ids = parsed

    renamed = {}
    for pid in list(curves):
        new = standard_id(pid)
        if new != pid:
            if new in curves:
                raise InputError(f"{where}: curve {pid} is the Cubism 2 name of {new}, which "
                                 "has its own curve; keep one of them")
            renamed[pid] = new
    if renamed:
        curves = {renamed.get(pid, pid): c for pid, c in curves.items()}
        header["curve_fades"] = {renamed.get(pid, pid): f
                                 for pid, f in header.get("curve_fades", {}).items()}
        notes.insert(0, f"{where}: Cubism 2 ids read as the standard ones: "
                        + ", ".join(f"{a} -> {b}" for a, b in renamed.items()))
    unknown = tuple(pid for pid in curves if known is not None and pid not in known)
    if unknown:
        back = {b: a for a, b in renamed.items()}
        notes.append(f"{where}: ignoring {len(unknown)} curve(s) for parameters this rig does "
                     f"not have: {', '.join(back.get(pid, pid) for pid in unknown)}")
    kept = {pid: c for pid, c in curves.items() if pid not in unknown}
    header["curve_fades"] = {pid: f for pid, f in header.get("curve_fades", {}).items()
                             if pid in kept}
    if groups is not None:
        header["eye_blink_ids"] = tuple(groups.get(EYE_BLINK, ()))
        header["lip_sync_ids"] = tuple(groups.get(LIP_SYNC, ()))
    motion = Motion(kept, unknown_ids=unknown, warnings=notes, source=source, renamed=renamed,
                    **header)
    if known is not None and not any(pid in known for pid in motion.driven_ids()):
        listed = ", ".join(all_ids) if all_ids else "none"
        raise InputError(f"{where}: drives no parameter of this rig (the ids it has: {listed}); "
                         "give a motion for the Live2D standard parameters (ParamAngleX, "
                         "ParamEyeLOpen, ...)")
    for note in notes:
        warnings.warn(note, MotionWarning, stacklevel=3)
    return motion


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number (JSON has no {name}); give finite numbers")


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: {what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} must be finite, got {value}")
    return value


def _optional_seconds(data: Mapping, key: str, what: str, where: str) -> float | None:
    if data.get(key) is None:
        return None
    value = _number(data[key], what, where)
    if value < 0:
        raise InputError(f"{where}: {what} must not be negative, got {value}")
    return value


def _duration(value: Any, what: str, where: str) -> float:
    if value is None:
        raise InputError(f"{where}: missing {what} (the motion's length in seconds)")
    duration = _number(value, what, where)
    if duration <= 0:
        raise InputError(f"{where}: {what} must be positive, got {duration}")
    if duration > MAX_DURATION:
        raise InputError(f"{where}: {what} is {duration:g} s; a motion may last at most "
                         f"{MAX_DURATION:g} s (as `render --idle`)")
    return duration


_Parsed = tuple[dict[str, CurveKeys], dict, list[str], list[str]]


def _parse_ours(data: dict, where: str) -> _Parsed:
    version = data.get("version")
    if version != VERSION:
        raise InputError(f"{where}: {FORMAT} version {version!r} is not supported (this "
                         f"program reads version {VERSION}); update seethrough-rig")
    header = {
        "duration": _duration(data.get("duration"), "duration", where),
        "loop": _flag(data.get("loop", False), "loop", where),
        "fps": _optional_fps(data.get("fps"), "fps", where),
        "fade_in": _optional_seconds(data, "fade_in", "fade_in", where),
        "fade_out": _optional_seconds(data, "fade_out", "fade_out", where),
        "restricted_beziers": _flag(data.get("restricted_beziers", False),
                                    "restricted_beziers", where),
    }
    raw = data.get("curves")
    if not isinstance(raw, dict):
        raise InputError(f"{where}: \"curves\" must be an object mapping parameter ids to curves")
    curves, fades = {}, {}
    for pid, curve in raw.items():
        cwhere = f"{where}: curve {pid}"
        curves[pid] = _our_curve(curve, cwhere)
        fade = (_optional_seconds(curve, "fade_in", "fade_in", cwhere),
                _optional_seconds(curve, "fade_out", "fade_out", cwhere))
        if fade != (None, None):
            fades[pid] = fade
    header["curve_fades"] = fades
    model = data.get("model_curves", {})
    if not isinstance(model, dict):
        raise InputError(f"{where}: \"model_curves\" must be an object: {{\"EyeBlink\": curve, "
                         "\"LipSync\": curve}")
    for name in model:
        if name not in MODEL_CURVES:
            raise InputError(f"{where}: model_curves: unknown {name!r}; use EyeBlink or LipSync")
    header["model_curves"] = {name: _our_curve(c, f"{where}: model curve {name}")
                              for name, c in model.items()}
    events = data.get("events", [])
    if not isinstance(events, list):
        raise InputError(f"{where}: \"events\" must be a list of [time, \"text\"]")
    header["events"] = tuple(_event(e[0] if isinstance(e, list) and len(e) == 2 else None,
                                    e[1] if isinstance(e, list) and len(e) == 2 else None,
                                    f"events[{i}]", where, pair=True)
                             for i, e in enumerate(events))
    return curves, header, [], list(raw) + list(model)


def _our_curve(curve: Any, where: str) -> CurveKeys:
    if not isinstance(curve, dict):
        raise InputError(f"{where}: must be an object with \"interpolation\" and \"keys\"")
    return _curve_from_keys(curve.get("keys"), curve.get("interpolation", "linear"), where)


def _event(time: Any, value: Any, what: str, where: str, pair: bool = False) -> MotionEvent:
    if not isinstance(value, str) or time is None:
        form = "[time, \"text\"]" if pair else "{\"Time\": seconds, \"Value\": \"text\"}"
        raise InputError(f"{where}: {what} must be {form}")
    t = _number(time, f"{what} time", where)
    if t < 0:
        raise InputError(f"{where}: {what} time must not be negative, got {t:g}")
    return MotionEvent(t, value)


def _flag(value: Any, what: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{where}: {what} must be true or false, got {value!r}")
    return bool(value)


def _optional_fps(value: Any, what: str, where: str) -> float | None:
    if value is None:
        return None
    fps = _number(value, what, where)
    if fps <= 0:
        raise InputError(f"{where}: {what} must be positive, got {fps}")
    return fps


def _curve_from_keys(keys: Any, interpolation: Any, where: str) -> CurveKeys:
    if isinstance(keys, np.ndarray):
        keys = keys.tolist()
    if not isinstance(keys, (list, tuple)) or not keys:
        raise InputError(f"{where}: \"keys\" must be a non-empty list of [time, value, ...]")
    n = len(keys)
    times, values = np.empty(n), np.empty(n)
    explicit: list[tuple[float, float, float, float] | None] = [None] * n
    slopes: list[float | None] = [None] * n
    for k, key in enumerate(keys):
        if isinstance(key, np.ndarray):
            key = key.tolist()
        if not isinstance(key, (list, tuple)) or len(key) not in (2, 3, 6):
            raise InputError(f"{where}: key {k} must be [t, v], [t, v, slope] or "
                             f"[t, v, in_t, in_v, out_t, out_v], got {key!r}")
        nums = [_number(x, f"key {k}", where) for x in key]
        times[k], values[k] = nums[0], nums[1]
        if len(nums) == 3:
            slopes[k] = nums[2]
        elif len(nums) == 6:
            explicit[k] = (nums[2], nums[3], nums[4], nums[5])
    if n > 1 and np.any(np.diff(times) < 0):
        k = int(np.argmax(np.diff(times) < 0)) + 1
        raise InputError(f"{where}: key times must not go backwards (key {k} at t={times[k]:g} "
                         f"comes after t={times[k - 1]:g}); sort the keys by time")

    names = [interpolation] * (n - 1) if isinstance(interpolation, str) else interpolation
    if not isinstance(names, (list, tuple)) or len(names) != n - 1:
        raise InputError(f"{where}: \"interpolation\" must be one of {', '.join(INTERPOLATIONS)} "
                         f"or a list of {n - 1} of them (one per segment)")
    bad = [x for x in names if x not in _KIND_BY_NAME]
    if bad:
        raise InputError(f"{where}: unknown interpolation {bad[0]!r}; use one of "
                         f"{', '.join(INTERPOLATIONS)}")
    kinds = np.array([_KIND_BY_NAME[x] for x in names], np.int8)
    smooth = np.array([x == "smooth" for x in names], bool)

    auto = _auto_slopes(times, values)

    def handle(k: int, seg: int) -> tuple[float, float]:
        """The control point beside key k inside segment seg, clamped into the segment."""
        after = seg == k   # the out handle; otherwise the in handle of the segment's end key
        if explicit[k] is not None and not smooth[seg]:
            t, v = explicit[k][2:] if after else explicit[k][:2]
        else:
            slope = slopes[k] if slopes[k] is not None and not smooth[seg] else auto[k]
            dt = (times[seg + 1] - times[seg]) / 3.0 * (1.0 if after else -1.0)
            t, v = times[k] + dt, values[k] + slope * dt
        return min(max(t, times[seg]), times[seg + 1]), v

    # Unused handles rest on their key: harmless, and what a writer shows for them.
    in_h = np.stack([times, values], axis=1)
    out_h = in_h.copy()
    for seg in np.flatnonzero(kinds == BEZIER):
        out_h[seg] = handle(seg, seg)
        in_h[seg + 1] = handle(seg + 1, seg)
    return CurveKeys(times, values, kinds, in_h, out_h)


def _auto_slopes(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes: monotone between keys, flat at the ends and at extrema."""
    n = len(t)
    m = np.zeros(n)
    if n < 3:
        return m
    h = np.diff(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(h > 0, np.diff(v) / np.where(h > 0, h, 1.0), 0.0)
    h0, h1, d0, d1 = h[:-1], h[1:], d[:-1], d[1:]
    # Signs, not the product: slopes of a hostile file's huge values overflowed it.
    same_sign = np.sign(d0) * np.sign(d1) > 0
    w0, w1 = 2.0 * h1 + h0, h1 + 2.0 * h0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = w0 / np.where(same_sign, d0, 1.0) + w1 / np.where(same_sign, d1, 1.0)
        interior = (w0 + w1) / harmonic
    m[1:-1] = np.where(same_sign, interior, 0.0)
    return m


def _parse_motion3(data: dict, where: str) -> _Parsed:
    version = data.get("Version")
    if version != MOTION3_VERSION:
        raise InputError(f"{where}: motion3.json Version {version!r} is not supported; "
                         f"expected {MOTION3_VERSION} (re-export it from Cubism Editor 3 or later)")
    meta = data.get("Meta")
    if not isinstance(meta, dict):
        raise InputError(f"{where}: missing \"Meta\" object (Duration, Fps, Loop ...)")
    header = {
        "duration": _duration(meta.get("Duration"), "Meta.Duration", where),
        "loop": _flag(meta.get("Loop", False), "Meta.Loop", where),
        "fps": _optional_fps(meta.get("Fps"), "Meta.Fps", where),
        "fade_in": _sdk_fade(meta, "FadeInTime", where),
        "fade_out": _sdk_fade(meta, "FadeOutTime", where),
        "restricted_beziers": _flag(meta.get("AreBeziersRestricted", False),
                                    "Meta.AreBeziersRestricted", where),
    }
    raw = data.get("Curves")
    if not isinstance(raw, list):
        raise InputError(f"{where}: \"Curves\" must be a list of curves")
    curves: dict[str, CurveKeys] = {}
    model: dict[str, CurveKeys] = {}
    fades: dict[str, tuple[float | None, float | None]] = {}
    ignored: dict[str, list[str]] = {}
    all_ids: list[str] = []
    for i, curve in enumerate(raw):
        if not isinstance(curve, dict):
            raise InputError(f"{where}: Curves[{i}] must be an object with Target, Id, Segments")
        pid = curve.get("Id")
        if not isinstance(pid, str) or not pid:
            raise InputError(f"{where}: Curves[{i}] has no Id")
        all_ids.append(pid)
        cwhere = f"{where}: curve {pid}"
        keys = _motion3_segments(curve.get("Segments"), cwhere)
        target = curve.get("Target", "Parameter")
        if target == "Model" and pid in MODEL_CURVES:
            if pid in model:
                raise InputError(f"{cwhere}: appears twice; keep one {pid} curve")
            model[pid] = keys
            continue
        if target != "Parameter":
            ignored.setdefault(str(target), []).append(pid)
            continue
        if pid in curves:
            raise InputError(f"{cwhere}: appears twice; keep one curve per parameter")
        curves[pid] = keys
        # A negative or absent fade time means "the motion's"; 0 means no fade.
        fade = tuple(None if curve.get(key) is None or _number(curve[key], key, cwhere) < 0
                     else float(curve[key]) for key in ("FadeInTime", "FadeOutTime"))
        if fade != (None, None):
            fades[pid] = fade
    header["curve_fades"] = fades
    header["model_curves"] = model
    user = data.get("UserData", [])
    if not isinstance(user, list):
        raise InputError(f"{where}: \"UserData\" must be a list of {{Time, Value}}")
    header["events"] = tuple(
        _event(e.get("Time") if isinstance(e, dict) else None,
               e.get("Value") if isinstance(e, dict) else None, f"UserData[{i}]", where)
        for i, e in enumerate(user))
    notes = [f"{where}: ignoring {target} curves (they set no parameter of the rig): "
             f"{', '.join(ids)}"
             for target, ids in ignored.items()]
    return curves, header, notes, all_ids


SDK_DEFAULT_FADE = 1.0   # s: the Cubism SDK's fade for a motion3.json that gives none


def _sdk_fade(meta: Mapping, key: str, where: str) -> float:
    """Meta.FadeInTime/FadeOutTime as the SDK reads them: absent or negative means 1 s."""
    if meta.get(key) is None:
        return SDK_DEFAULT_FADE
    value = _number(meta[key], f"Meta.{key}", where)
    return SDK_DEFAULT_FADE if value < 0 else value


def _motion3_segments(raw: Any, where: str) -> CurveKeys:
    if not isinstance(raw, list) or len(raw) < 2:
        raise InputError(f"{where}: Segments must be a list starting with the first point t, v")
    nums = [_number(x, f"Segments[{i}]", where) for i, x in enumerate(raw)]
    times, values, kinds = [nums[0]], [nums[1]], []
    c1s: list[tuple[float, float]] = []
    c2s: list[tuple[float, float]] = []
    pos = 2
    while pos < len(nums):
        kind = nums[pos]
        if kind not in _MOTION3_POINTS:
            raise InputError(f"{where}: Segments[{pos}] = {kind:g} is not a segment type "
                             "(0 linear, 1 bezier, 2 stepped, 3 inverse stepped)")
        kind = int(kind)
        count = 2 * _MOTION3_POINTS[kind]
        if pos + 1 + count > len(nums):
            raise InputError(f"{where}: the segment at Segments[{pos}] is cut short: type "
                             f"{kind} needs {count} numbers, {len(nums) - pos - 1} left")
        pts = nums[pos + 1: pos + 1 + count]
        t_end, v_end = pts[-2], pts[-1]
        if t_end < times[-1]:
            raise InputError(f"{where}: segment times go backwards at Segments[{pos}] "
                             f"(t={t_end:g} after t={times[-1]:g})")
        if kind == BEZIER:
            c1s.append((min(max(pts[0], times[-1]), t_end), pts[1]))
            c2s.append((min(max(pts[2], times[-1]), t_end), pts[3]))
        else:
            c1s.append((times[-1], values[-1]))
            c2s.append((t_end, v_end))
        times.append(t_end)
        values.append(v_end)
        kinds.append(kind)
        pos += 1 + count
    t = np.array(times)
    v = np.array(values)
    in_h = np.stack([t, v], axis=1)
    out_h = in_h.copy()
    if kinds:
        out_h[:-1] = np.array(c1s)
        in_h[1:] = np.array(c2s)
    return CurveKeys(t, v, np.array(kinds, np.int8), in_h, out_h)


# ----------------------------------------------------------------------------------- saving

def _curve_to_dict(curve: CurveKeys) -> dict[str, Any]:
    n = len(curve.times)
    kinds = curve.kinds.tolist()
    keys = []
    for k in range(n):
        key = [float(curve.times[k]), float(curve.values[k])]
        touches_bezier = (k > 0 and kinds[k - 1] == BEZIER) or (k < n - 1 and kinds[k] == BEZIER)
        if touches_bezier:
            key += [float(x) for x in curve.in_handle[k]] + [float(x) for x in curve.out_handle[k]]
        keys.append(key)
    names = [_NAME_BY_KIND[x] for x in kinds]
    interpolation: str | list[str] = names[0] if names and len(set(names)) == 1 else names
    if not names:
        interpolation = "linear"
    return {"interpolation": interpolation, "keys": keys}


def save_motion(motion_or_dict: Motion | Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a motion in our format, atomically (temp file in the same folder, then rename).

    A dict is checked first (any problem raises InputError and nothing is written); its keys
    may be lists or numpy arrays. Curves for any id are kept: saving never drops data.
    """
    path = Path(path)
    if isinstance(motion_or_dict, Motion):
        doc = motion_or_dict.to_dict()
    else:
        data = dict(motion_or_dict)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MotionWarning)
            motion = motion_from_dict(data, known_ids=None, source=str(path))
        # Our own format is written as given (keeps "smooth" and slope keys readable); a
        # motion3 dict is converted.
        doc = _plain_json(data) if data.get("format") == FORMAT else motion.to_dict()
    _write_atomic(path, _format_document(doc))


def _plain_json(value: Any) -> Any:
    """numpy arrays and scalars -> lists and floats, so json can write them."""
    if isinstance(value, np.ndarray):
        return _plain_json(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _format_document(doc: dict[str, Any]) -> str:
    """Readable JSON: the header one field a line, each curve on one line (keys can be many)."""
    lines = ["{"]
    header = [(k, v) for k, v in doc.items() if k != "curves"]
    for k, v in header:
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    curves = doc.get("curves", {})
    if not curves:
        lines.append('  "curves": {}')
    else:
        lines.append('  "curves": {')
        items = list(curves.items())
        for i, (pid, curve) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"    {json.dumps(pid, ensure_ascii=False)}: "
                         f"{json.dumps(curve, ensure_ascii=False, allow_nan=False)}{comma}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    from seethrough_core.outputs import atomic_output
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
