"""The idle driver: a character that breathes, blinks, glances around and drifts a little.

``IdleDriver(seed).sample(t)`` is a pure function of t (seconds): every random choice (blink
times, gaze targets, drift phases) is drawn from the seed up front, so a frame's pose does not
depend on the frame rate, on dropped frames, or on the order frames are asked for. Events are
drawn lazily in time order from per-stream generators; asking for a later time first only draws
the same events earlier. Hair needs nothing here: it swings through the rig's springs when the
head moves.

What it drives (Live2D standard ids, always inside their ranges):

* ParamBreath: a raised cosine, 0 = exhaled, 1 = inhaled. The breathing rate wanders slowly
  (frequency modulation) so every cycle lasts 3.6 to 4.4 s, never a metronome.
* ParamEyeLOpen / ParamEyeROpen: blinks. Gaps of open eyes between blinks are 2 to 6 s
  (log-normal around 3.5 s, cut to that range); a blink lasts 0.12 to 0.2 s, closing in 38 % of
  it, shut for 12 %, opening in the slower remaining 50 %. 15 % of blinks come as a double
  blink, the second one 0.08 to 0.2 s after the first.
* ParamEyeBallX / ParamEyeBallY: gaze. The eyes hold a target for 0.7 to 3.2 s, then jump to the
  next in a 50 ms saccade; about half of the targets are back at the centre.
* ParamAngleX/Y/Z and ParamBodyAngleX/Z: slow drift, each a sum of three sines with random
  phases and incommensurate periods (band-limited noise that never repeats), a few degrees at
  most. The head also turns a little toward where the eyes look, following in half a second.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from rig.params import spec

IDS: tuple[str, ...] = (
    "ParamAngleX", "ParamAngleY", "ParamAngleZ", "ParamBodyAngleX", "ParamBodyAngleZ",
    "ParamBreath", "ParamEyeLOpen", "ParamEyeROpen", "ParamEyeBallX", "ParamEyeBallY",
)

# Breathing: a resting adult takes 12-16 breaths a minute.
BREATH_PERIOD_RANGE = (3.6, 4.4)
BREATH_MODULATION_PERIOD = (25.0, 40.0)   # how slowly the breathing rate wanders

# Blinks: people blink 10-20 times a minute at rest; a blink takes 100-400 ms, the lid comes
# down faster than it goes up.
BLINK_GAP_RANGE = (2.0, 6.0)
BLINK_GAP_MEDIAN = 3.5
BLINK_GAP_SIGMA = 0.35                    # log-normal spread before cutting to the range
BLINK_DURATION_RANGE = (0.12, 0.2)
BLINK_CLOSE, BLINK_SHUT = 0.38, 0.12      # fractions of a blink; the rest is opening
DOUBLE_BLINK_SHARE = 0.15
DOUBLE_BLINK_GAP_RANGE = (0.08, 0.2)
FIRST_BLINK_RANGE = (0.5, 3.0)

# Gaze: fixations of about a second or two, 50 ms saccades.
GAZE_HOLD_RANGE = (0.7, 3.2)
SACCADE_TIME = 0.05
GAZE_CENTRE_SHARE = 0.5
GAZE_REACH = (0.6, 0.35)                  # |EyeBallX|, |EyeBallY| of off-centre targets
HEAD_FOLLOW_TIME = 0.5                    # shorter than the shortest hold: moves never overlap
HEAD_FOLLOW_DEGREES = (5.0, 3.0)          # head turn per unit of gaze, X and Y

# Drift amplitudes in degrees (the sum of the three sines never exceeds them).
DRIFT_AMPLITUDE = {
    "ParamAngleX": 4.0, "ParamAngleY": 3.0, "ParamAngleZ": 3.0,
    "ParamBodyAngleX": 2.5, "ParamBodyAngleZ": 2.0,
}
DRIFT_PERIODS = ((6.0, 9.0), (11.0, 16.0), (19.0, 31.0))   # per sine; body sways slower (x1.5)
DRIFT_WEIGHTS = (0.5, 0.3, 0.2)

_EVENT_BLOCK = 64  # events drawn at a time when a stream has to reach further
_CHUNK = 1 << 16   # times evaluated at once by sample_many


class _EventStream:
    """A time-ordered list of events drawn on demand from one generator.

    ``draw(rng, after)`` returns the next event's row and end time, given the end time of the
    last event (None for the first). Drawing always happens in order, in blocks, so the list
    never depends on the times asked.
    """

    def __init__(self, rng: np.random.Generator,
                 draw: Callable[[np.random.Generator, float | None], tuple[list[float], float]],
                 width: int) -> None:
        self._rng = rng
        self._draw = draw
        self.rows = np.zeros((0, width))
        self._end: float | None = None

    def cover(self, t: float) -> np.ndarray:
        """Events, drawn until the last one starts after t."""
        while len(self.rows) == 0 or self.rows[-1, 0] <= t:
            block = []
            for _ in range(_EVENT_BLOCK):
                row, self._end = self._draw(self._rng, self._end)
                block.append(row)
            self.rows = np.concatenate([self.rows, np.array(block)])
        return self.rows


class IdleDriver:
    """A living idle pose for any time t. Deterministic for a seed; ``intensity`` scales the
    head, body and gaze movement (0 keeps only breathing and blinking)."""

    ids = IDS

    def __init__(self, seed: int = 0, intensity: float = 1.0) -> None:
        if not (math.isfinite(intensity) and intensity >= 0):
            raise ValueError(f"intensity must be a non-negative number, got {intensity}")
        self.seed = seed
        self.intensity = float(intensity)
        blink_rng, gaze_rng, drift_rng, breath_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
        self._blinks = _EventStream(blink_rng, _draw_blink_group, 5)
        self._blink_table = np.zeros((0, 2))     # flattened blinks, rebuilt when more are drawn
        self._gaze = _EventStream(gaze_rng, _draw_fixation, 3)
        # Drift of every axis as one (axes, 3) table, so one sin() call serves all of them.
        drift = [_draw_drift(drift_rng, slow=pid.startswith("ParamBody"))
                 for pid in DRIFT_AMPLITUDE]
        self._drift_omega = np.array([2.0 * np.pi / periods for periods, _, _ in drift])
        self._drift_phase = np.array([phases for _, phases, _ in drift])
        self._drift_gain = np.array([weights * DRIFT_AMPLITUDE[pid] * self.intensity
                                     for pid, (_, _, weights) in zip(DRIFT_AMPLITUDE, drift)])
        period = breath_rng.uniform(*BREATH_PERIOD_RANGE)
        f0 = 1.0 / period
        lo, hi = 1.0 / BREATH_PERIOD_RANGE[1], 1.0 / BREATH_PERIOD_RANGE[0]
        self._breath_f0 = f0
        self._breath_df = 0.9 * min(f0 - lo, hi - f0)   # keeps every cycle inside the range
        self._breath_tm = breath_rng.uniform(*BREATH_MODULATION_PERIOD)
        self._breath_phase = breath_rng.uniform(0.0, 2.0 * np.pi, size=2)
        self._lo = np.array([[spec(pid).min] for pid in IDS])
        self._hi = np.array([[spec(pid).max] for pid in IDS])

    def sample(self, t: float) -> dict[str, float]:
        """Parameter values at time t (seconds)."""
        values = self._evaluate(np.array([float(t)]))[:, 0].tolist()
        return dict(zip(IDS, values))

    def sample_many(self, times: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """Parameter values at an array of times: {id: (n,) float64}."""
        t = np.asarray(times, np.float64).ravel()
        values = np.empty((len(IDS), t.size))
        for a in range(0, t.size, _CHUNK):  # bounded temporaries for long timelines
            values[:, a:a + _CHUNK] = self._evaluate(t[a:a + _CHUNK])
        return dict(zip(IDS, values))

    def _evaluate(self, t: np.ndarray) -> np.ndarray:
        """(len(IDS), n) values, rows in IDS order, clipped to the parameters' ranges."""
        if not np.isfinite(t).all():
            raise ValueError("idle times must be finite seconds")   # inf would draw forever
        out = np.empty((len(IDS), t.size))
        gaze_x, gaze_y, follow_x, follow_y = self._gaze_at(t)
        # Rows 0-4 are the drift axes, in DRIFT_AMPLITUDE's order (= IDS' first five).
        waves = np.sin(self._drift_omega[:, :, None] * t + self._drift_phase[:, :, None])
        np.einsum("ak,akn->an", self._drift_gain, waves, out=out[:5])
        out[0] += HEAD_FOLLOW_DEGREES[0] * follow_x
        out[1] += HEAD_FOLLOW_DEGREES[1] * follow_y
        out[5] = self._breath_at(t)
        out[6] = out[7] = self._eye_open_at(t)
        out[8] = gaze_x
        out[9] = gaze_y
        return np.clip(out, self._lo, self._hi, out=out)

    def blinks(self, until: float) -> np.ndarray:
        """(n, 2) start time and duration of every blink that starts before ``until``."""
        table = self._blinks_covering(until)
        return table[table[:, 0] < until].copy()

    def _blinks_covering(self, t: float) -> np.ndarray:
        rows = self._blinks.cover(t)
        if len(self._blink_table) != len(rows) + int(rows[:, 2].sum()):
            doubles = rows[rows[:, 2] > 0]
            table = np.concatenate([rows[:, :2], doubles[:, 3:5]])
            self._blink_table = table[np.argsort(table[:, 0], kind="stable")]
        return self._blink_table

    # ---------------------------------------------------------------------------- components

    def _breath_at(self, t: np.ndarray) -> np.ndarray:
        # Phase of a frequency f0 + df * sin(2 pi t / tm + p): the integral of the frequency.
        tm, p = self._breath_tm, self._breath_phase[1]
        wander = -self._breath_df * tm / (2.0 * np.pi) * np.cos(2.0 * np.pi * t / tm + p)
        phase = 2.0 * np.pi * (self._breath_f0 * t + wander) + self._breath_phase[0]
        return 0.5 - 0.5 * np.cos(phase)

    def _eye_open_at(self, t: np.ndarray) -> np.ndarray:
        blinks = self._blinks_covering(float(t.max()) if t.size else 0.0)
        eye = np.ones_like(t)
        if len(blinks) == 0:
            return eye
        i = np.searchsorted(blinks[:, 0], t, side="right") - 1
        inside = i >= 0
        start = np.where(inside, blinks[np.maximum(i, 0), 0], 0.0)
        duration = np.where(inside, blinks[np.maximum(i, 0), 1], 1.0)
        x = (t - start) / duration                     # 0..1 through the blink
        inside &= (x > 0) & (x < 1)
        closing = np.clip(x / BLINK_CLOSE, 0.0, 1.0)
        open_from = BLINK_CLOSE + BLINK_SHUT
        opening = np.clip((x - open_from) / (1.0 - open_from), 0.0, 1.0)
        lid = np.where(x < BLINK_CLOSE, 0.5 + 0.5 * np.cos(np.pi * closing),
                       0.5 - 0.5 * np.cos(np.pi * opening))
        return np.where(inside, lid, eye)

    def _gaze_at(self, t: np.ndarray) -> tuple[np.ndarray, ...]:
        rows = self._gaze.cover(float(t.max()) if t.size else 0.0)
        starts = rows[:, 0]
        targets = rows[:, 1:3] * self.intensity
        i = np.searchsorted(starts, t, side="right") - 1   # -1: before the first shift
        current = np.where(i[:, None] >= 0, targets[np.maximum(i, 0)], 0.0)
        previous = np.where(i[:, None] >= 1, targets[np.maximum(i - 1, 0)], 0.0)
        since = t - np.where(i >= 0, starts[np.maximum(i, 0)], -np.inf)
        eyes = _smoothstep(since / SACCADE_TIME)[:, None]
        head = _smoothstep(since / HEAD_FOLLOW_TIME)[:, None]
        gaze = previous + (current - previous) * eyes
        follow = previous + (current - previous) * head
        return gaze[:, 0], gaze[:, 1], follow[:, 0], follow[:, 1]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _draw_blink_group(rng: np.random.Generator, after: float | None) -> tuple[list[float], float]:
    """[start, duration, is_double, second_start, second_duration] and the group's end."""
    if after is None:
        start = rng.uniform(*FIRST_BLINK_RANGE)
    else:
        start = after + _blink_gap(rng)
    duration = rng.uniform(*BLINK_DURATION_RANGE)
    end = start + duration
    row = [start, duration, 0.0, 0.0, 0.0]
    if rng.random() < DOUBLE_BLINK_SHARE:
        second = end + rng.uniform(*DOUBLE_BLINK_GAP_RANGE)
        second_duration = rng.uniform(*BLINK_DURATION_RANGE)
        row[2:] = [1.0, second, second_duration]
        end = second + second_duration
    return row, end


def _blink_gap(rng: np.random.Generator) -> float:
    """Log-normal around the median, redrawn until it falls inside the range (no pile-ups at
    the limits, as clipping would make)."""
    while True:
        gap = BLINK_GAP_MEDIAN * math.exp(BLINK_GAP_SIGMA * rng.standard_normal())
        if BLINK_GAP_RANGE[0] <= gap <= BLINK_GAP_RANGE[1]:
            return gap


def _draw_fixation(rng: np.random.Generator, after: float | None) -> tuple[list[float], float]:
    """[start, target_x, target_y] of the next gaze shift, and when it starts."""
    start = (after or 0.0) + rng.uniform(*GAZE_HOLD_RANGE)
    if rng.random() < GAZE_CENTRE_SHARE:
        x, y = rng.normal(0.0, 0.05, size=2)
    else:
        x = rng.uniform(-GAZE_REACH[0], GAZE_REACH[0])
        y = rng.uniform(-GAZE_REACH[1], GAZE_REACH[1])
    return [start, float(x), float(y)], start


def _draw_drift(rng: np.random.Generator, slow: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periods, phases and weights of one axis' three sines."""
    stretch = 1.5 if slow else 1.0
    periods = np.array([rng.uniform(lo, hi) * stretch for lo, hi in DRIFT_PERIODS])
    phases = rng.uniform(0.0, 2.0 * np.pi, size=len(DRIFT_PERIODS))
    return periods, phases, np.array(DRIFT_WEIGHTS)
