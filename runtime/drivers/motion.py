"""Motion files: parameter curves over time, from our own JSON format or Live2D's motion3.json.

Our format (``*.motion.json``; written by :func:`save_motion`)::

    {
      "format": "seethrough-motion",
      "version": 1,
      "duration": 3.0,                  seconds, > 0
      "fps": 30,                        optional: the rate the motion was authored/recorded at
      "loop": false,                    optional, default false
      "fade_in": 0.5, "fade_out": 0.5,  optional seconds, for a player that blends motions
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
TotalSegmentCount, TotalPointCount: hints for the SDK's buffers, not checked here). Each curve
has a Target (``Parameter``; ``PartOpacity`` and ``Model`` curves are ignored with a warning),
an Id and flat Segments: ``t0, v0`` then per segment a type and its points: 0 linear
``t, v``; 1 bezier ``c1t, c1v, c2t, c2v, t, v``; 2 stepped ``t, v`` (holds the start value);
3 inverse stepped ``t, v`` (holds the end value). Per-curve fade times are not used.

Evaluation. Every segment is stored as a cubic Bezier (linear and smooth segments are exact
special cases with handles at one and two thirds) plus a kind flag for the two step kinds.
Bezier handle times are clamped into their segment, which makes time a monotone function of the
curve parameter s; we then solve ``x(s) = t`` by safeguarded Newton iteration (bisection whenever
a Newton step leaves the bracket) and evaluate the value polynomial at that s. This is the curve
as the Cubism Editor draws it. The Cubism SDK takes a shortcut for files with
``AreBeziersRestricted: true`` (it uses the time fraction as s), which agrees with the exact
solution whenever the handles sit at one and two thirds of their segment.

Before a curve's first key it holds the first value and after its last key the last value.
Sampling at time t uses ``t mod duration`` for looping motions and ``t`` clamped to
``[0, duration]`` otherwise. All curves are sampled together: one ``searchsorted`` over the
segments of every curve (each curve's times shifted into its own band) and a few array
operations, so sampling costs the same whether a motion has two keys or two thousand.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from rig.params import PARAM_IDS
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


@dataclass
class Motion:
    """Parameter curves over time. ``sample(t)`` gives every curve's value at time t (seconds)."""

    curves: dict[str, CurveKeys]
    duration: float
    loop: bool = False
    fps: float | None = None
    fade_in: float | None = None
    fade_out: float | None = None
    unknown_ids: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise ValueError(f"motion duration must be a positive number, got {self.duration}")
        self.ids: tuple[str, ...] = tuple(self.curves)
        self._table = _SegmentTable.build([self.curves[i] for i in self.ids])

    def local_time(self, t: float | np.ndarray) -> np.ndarray:
        """Where in the motion time t falls: wrapped for looping motions, clamped otherwise."""
        t = np.asarray(t, np.float64)
        if self.loop:
            return np.mod(t, self.duration)
        return np.clip(t, 0.0, self.duration)

    def sample(self, t: float) -> dict[str, float]:
        """Every curve's value at time t (seconds)."""
        if not self.ids:
            return {}
        values = self._table.evaluate(np.full(len(self.ids), float(self.local_time(t))))
        return dict(zip(self.ids, values.tolist()))

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
        doc["curves"] = {pid: _curve_to_dict(curve) for pid, curve in self.curves.items()}
        return doc


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

    @classmethod
    def build(cls, curves: list[CurveKeys]) -> "_SegmentTable":
        table = cls()
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
        s = _solve_monotone_cubic(self.x_poly[seg], u)
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

def load_motion(path: str | os.PathLike, known_ids: Iterable[str] | None = PARAM_IDS) -> Motion:
    """Read a motion file: our format or a Live2D .motion3.json (told apart by content).

    Curves whose ids are not in ``known_ids`` are dropped and listed in ``Motion.unknown_ids``
    and a :class:`MotionWarning`; ``known_ids=None`` keeps every curve.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a .motion3.json or {FORMAT} file")
    if not path.exists():
        raise InputError(f"{path}: no such motion file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give a .motion3.json or {FORMAT} file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {path.stat().st_size >> 20} MiB is too large for a motion "
                         f"file (the limit is {MAX_FILE_BYTES >> 20} MiB)")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # Cubism's files may start with a BOM
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a motion file (not UTF-8 text); expected a "
                         f".motion3.json or a {FORMAT} JSON file") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno}); expected a .motion3.json or a {FORMAT} file") from None
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: not a motion file (JSON nested too deeply)") from None
    return motion_from_dict(data, known_ids=known_ids, source=str(path))


def motion_from_dict(data: Any, known_ids: Iterable[str] | None = PARAM_IDS,
                     source: str | None = None) -> Motion:
    """A Motion from parsed JSON in either format. Bad data raises InputError."""
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
    curves, header, notes = parsed

    unknown = tuple(pid for pid in curves if known is not None and pid not in known)
    if unknown:
        notes.append(f"{where}: ignoring {len(unknown)} curve(s) for parameters this rig does "
                     f"not have: {', '.join(unknown)}")
    kept = {pid: c for pid, c in curves.items() if pid not in unknown}
    for note in notes:
        warnings.warn(note, MotionWarning, stacklevel=3)
    return Motion(kept, unknown_ids=unknown, warnings=notes, source=source, **header)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a motion may hold")


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


def _parse_ours(data: dict, where: str) -> tuple[dict[str, CurveKeys], dict, list[str]]:
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
    }
    raw = data.get("curves")
    if not isinstance(raw, dict):
        raise InputError(f"{where}: \"curves\" must be an object mapping parameter ids to curves")
    curves = {}
    for pid, curve in raw.items():
        cwhere = f"{where}: curve {pid}"
        if not isinstance(curve, dict):
            raise InputError(f"{cwhere}: must be an object with \"interpolation\" and \"keys\"")
        curves[pid] = _curve_from_keys(curve.get("keys"), curve.get("interpolation", "linear"),
                                       cwhere)
    return curves, header, []


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
    same_sign = (d0 * d1) > 0
    w0, w1 = 2.0 * h1 + h0, h1 + 2.0 * h0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = w0 / np.where(same_sign, d0, 1.0) + w1 / np.where(same_sign, d1, 1.0)
        interior = (w0 + w1) / harmonic
    m[1:-1] = np.where(same_sign, interior, 0.0)
    return m


def _parse_motion3(data: dict, where: str) -> tuple[dict[str, CurveKeys], dict, list[str]]:
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
        "fade_in": _optional_seconds(meta, "FadeInTime", "Meta.FadeInTime", where),
        "fade_out": _optional_seconds(meta, "FadeOutTime", "Meta.FadeOutTime", where),
    }
    raw = data.get("Curves")
    if not isinstance(raw, list):
        raise InputError(f"{where}: \"Curves\" must be a list of curves")
    curves: dict[str, CurveKeys] = {}
    ignored: dict[str, list[str]] = {}
    for i, curve in enumerate(raw):
        if not isinstance(curve, dict):
            raise InputError(f"{where}: Curves[{i}] must be an object with Target, Id, Segments")
        pid = curve.get("Id")
        if not isinstance(pid, str) or not pid:
            raise InputError(f"{where}: Curves[{i}] has no Id")
        cwhere = f"{where}: curve {pid}"
        keys = _motion3_segments(curve.get("Segments"), cwhere)
        target = curve.get("Target", "Parameter")
        if target != "Parameter":
            ignored.setdefault(str(target), []).append(pid)
            continue
        if pid in curves:
            raise InputError(f"{cwhere}: appears twice; keep one curve per parameter")
        curves[pid] = keys
    notes = [f"{where}: ignoring {target} curves (only parameter curves drive the rig): "
             f"{', '.join(ids)}" for target, ids in ignored.items()]
    return curves, header, notes


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
