"""The standard shake test: a fixed head motion played through a rig, and how its chains respond.

The motion (``ShakeMotion``): rest, a quick head turn, a stop (the head holds still while the
hair swings out and settles), a nod, a turn back, rest, then a fast turn as real Live2D motions
have them (the head swept from -30 to +30 degrees and straight back in 0.12 s each way, 750
deg/s at the peak) and rest again. Any other motion (``HeldMotion``, e.g. a motion file) is
played the same way followed by a hold of its last pose. It is played through ``Rig.pose`` at
several frame rates, and the chain particles are read from the rig's springs after each pose,
so the measurement covers everything between the parameters and the hair: the warp that moves
the chain roots, the root frames, the fixed sub-steps.

Metrics per chain group (``shake_test``):

* ``settle_s``: seconds after the stop until every tip of the group stays within 5 % of its
  largest excursion (at least 0.5 px) of where it hangs at equilibrium with the head held
  turned; None when it is still moving when the nod starts.
* ``overshoot``: after its largest excursion past the stop, how far a tip swings out on the
  other side of its equilibrium, as a fraction of that excursion (``springs.swing_metrics``).
* ``max_stretch``: the largest relative change of a segment's length, against its rest length
  carried by the root frame's scale (a head turn foreshortens the whole chain; that is not
  stretch), over every run.
* ``max_swing_deg``: the largest angle between a segment and its rest direction carried by its
  chain's root transform, over every run (degrees; ``springs.segment_angles``). Past about
  120 degrees a segment swings round above its root.
* ``max_bend_deg``: the largest angle between consecutive segments, over every run (degrees),
  measured as the change from the angle they make in the rest shape carried by the root
  transform: a chain drawn bent (a curl, a ribbon's kink) counts only how much more or less it
  bends. Past about 90 degrees a segment folds back on its parent (shards of hair on screen).
* ``non_finite``: whether any particle or posed vertex went NaN/inf in any run: at 30, 60 and
  144 fps, at the extreme frame times 1/240 s and 1/15 s, and at 60 fps with one dropped-frame
  spike of 0.5 s in the middle of each turn (``spike_times``: the quick turn and the fast one).
* ``frame_rate_consistency``: the largest distance between the tip trajectories of two of the
  30, 60 and 144 fps runs, at the times both have a frame, relative to the swing amplitude
  (the largest distance of a tip from its rest position carried by its root, at 144 fps;
  at least half a pixel, so chains that hardly move do not divide noise by nothing). Both
  over the motion up to ``consistency_end``: for ``ShakeMotion`` everything before the fast
  turn, which 30 fps cannot sample (a 0.12 s sweep is 3.6 frames: each frame rate feeds the
  springs a different head path, so their tips differ whatever the physics does); for a
  ``HeldMotion`` the whole motion and hold.
* ``swing_px``: the largest distance of a tip from its rest position carried by its root at
  144 fps over the whole motion.

``overall`` takes the worst of every group. ``BUDGETS`` are the limits the issues set. The
settle time and overshoot are measured in the stop after the first (quick, not fast) turn; for
a ``HeldMotion`` in the hold after it ends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rig import springs

CONSISTENCY_FPS = (30.0, 60.0, 144.0)
EXTREME_FRAME_TIMES = (1.0 / 240.0, 1.0 / 15.0)
SPIKE_S = 0.5                    # a dropped-frame spike (e.g. the window was dragged)
SETTLE_FRACTION = 0.05           # settled: within 5 % of the largest excursion ...
VISIBLE_PX = 0.5                 # less motion than half a pixel is invisible
EQUILIBRIUM_S = 8.0              # holding this long leaves every default chain at rest
HOLD_S = 2.0                     # a motion that is not the built-in one: hold its last pose
SPEED_STEP_S = 1e-3              # the motion's angular speed: differences over this step
ANGLE_PARAMS = ("ParamAngleX", "ParamAngleY", "ParamAngleZ",
                "ParamBodyAngleX", "ParamBodyAngleY", "ParamBodyAngleZ")
BUDGETS = {"frame_rate_consistency": 0.05, "max_stretch": 0.10, "non_finite": False,
           "max_swing_deg": 120.0, "max_bend_deg": 90.0}
METRIC_KEYS = ("settle_s", "overshoot", "max_stretch", "non_finite", "frame_rate_consistency",
               "max_swing_deg", "max_bend_deg")


def _smoothstep(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class ShakeMotion:
    """The standard test motion, as Live2D parameter values over time (a motion driver).

    Every phase starts and ends at rest speed (smoothstep / sin^2 ramps), so frame rates that
    sample it differently still see the same motion. After the first rest the head winds up to
    ``-fast_deg``, sweeps to ``+fast_deg`` and straight back in ``fast_s`` each way (a
    smoothstep: 1.5 * 2 * fast_deg / fast_s deg/s at the peak, 750 by default), comes back to
    the front and rests (``fast_rest_s``).
    """
    lead_in: float = 0.2          # s of rest before the turn
    turn_s: float = 0.25          # a quick head turn ...
    turn_deg: float = 25.0        # ... to this ParamAngleX
    body_deg: float = 8.0         # the body turns along (ParamBodyAngleX): skirts, sleeves
    hold_s: float = 2.2           # the stop: the head holds still, the hair settles
    nod_s: float = 0.6            # a nod down and back up ...
    nod_deg: float = 15.0         # ... this far (ParamAngleY)
    back_s: float = 0.4           # the head turns back to the front
    rest_s: float = 1.2           # rest before the fast turn
    windup_s: float = 0.3         # the head turns to -fast_deg ...
    fast_deg: float = 30.0        # ... sweeps to +fast_deg ...
    fast_s: float = 0.12          # ... in this long, and straight back as fast ...
    return_s: float = 0.3         # ... and turns back to the front
    fast_rest_s: float = 1.5      # rest at the end
    @property
    def stop_time(self) -> float:
        """When the turn stops (the settle time counts from here)."""
        return self.lead_in + self.turn_s

    @property
    def nod_start(self) -> float:
        return self.stop_time + self.hold_s

    @property
    def back_start(self) -> float:
        return self.nod_start + self.nod_s

    @property
    def fast_start(self) -> float:
        """When the wind-up to the fast turn starts."""
        return self.back_start + self.back_s + self.rest_s

    @property
    def sweep_start(self) -> float:
        """When the fast sweep (-fast_deg -> +fast_deg -> -fast_deg) starts."""
        return self.fast_start + self.windup_s

    @property
    def fast_end(self) -> float:
        """When the head is back at the front after the fast turn."""
        return self.sweep_start + 2 * self.fast_s + self.return_s

    @property
    def spike_times(self) -> tuple[float, ...]:
        """Where the dropped-frame spike runs drop a frame: in the middle of the first turn, and
        in the middle of the fast sweep."""
        return (self.lead_in + 0.5 * self.turn_s, self.sweep_start + self.fast_s)

    @property
    def consistency_end(self) -> float:
        """Frame-rate consistency is measured up to here: the fast turn is not (see above)."""
        return self.fast_start

    @property
    def duration(self) -> float:
        return self.fast_end + self.fast_rest_s

    @property
    def hold_params(self) -> dict[str, float]:
        """The pose held during the stop."""
        return {"ParamAngleX": self.turn_deg, "ParamAngleY": 0.0,
                "ParamBodyAngleX": self.body_deg}

    def sample(self, t: float) -> dict[str, float]:
        turn = _smoothstep((t - self.lead_in) / self.turn_s)
        back = _smoothstep((t - self.back_start) / self.back_s)
        nod = 0.0
        if self.nod_start < t < self.back_start:
            nod = math.sin(math.pi * (t - self.nod_start) / self.nod_s) ** 2
        sweep = self.sweep_start
        fast = self.fast_deg * (
            -_smoothstep((t - self.fast_start) / self.windup_s)
            + 2.0 * _smoothstep((t - sweep) / self.fast_s)
            - 2.0 * _smoothstep((t - sweep - self.fast_s) / self.fast_s)
            + _smoothstep((t - sweep - 2 * self.fast_s) / self.return_s))
        return {"ParamAngleX": self.turn_deg * (turn - back) + fast,
                "ParamAngleY": -self.nod_deg * nod,
                "ParamBodyAngleX": self.body_deg * (turn - back)}

    def describe(self) -> dict:
        speed, param = peak_speed(self, self.duration)
        sweep = self.sweep_start
        return {"turn": [self.lead_in, self.stop_time, self.turn_deg, self.body_deg],
                "stop": [self.stop_time, self.nod_start],
                "nod": [self.nod_start, self.back_start, self.nod_deg],
                "back": [self.back_start, self.back_start + self.back_s],
                "fast": [sweep, sweep + 2 * self.fast_s, self.fast_deg],
                "duration": self.duration, "consistency": [0.0, self.consistency_end],
                "peak_speed_deg_s": round(speed, 3), "peak_speed_param": param}


@dataclass(frozen=True)
class HeldMotion:
    """Any motion driver (``sample(t) -> {param: value}``, ``duration``; e.g. a motion file) as
    a shake-test motion: played once from t = 0, then its last pose held for ``hold_s`` seconds,
    in which the settle time and overshoot are measured. The dropped-frame spike falls where the
    head turns fastest."""
    motion: object
    hold_s: float = HOLD_S
    name: str = ""

    @property
    def stop_time(self) -> float:
        return float(self.motion.duration)

    @property
    def nod_start(self) -> float:
        """The end of the hold (where the built-in motion's nod would start)."""
        return self.stop_time + self.hold_s

    @property
    def duration(self) -> float:
        return self.nod_start

    @property
    def hold_params(self) -> dict[str, float]:
        return self.sample(self.stop_time)

    @property
    def spike_times(self) -> tuple[float, ...]:
        return (self._peak()[2],)

    @property
    def consistency_end(self) -> float:
        return self.duration

    def sample(self, t: float) -> dict[str, float]:
        return self.motion.sample(min(max(t, 0.0), self.stop_time))

    def _peak(self) -> tuple[float, str | None, float]:
        speed, param, at = _peak_speed(self.motion, self.stop_time)
        return speed, param, at

    def describe(self) -> dict:
        speed, param, at = self._peak()
        return {"motion": [0.0, self.stop_time], "source": self.name or None,
                "hold": [self.stop_time, self.nod_start], "duration": self.duration,
                "consistency": [0.0, self.consistency_end],
                "peak_speed_deg_s": round(speed, 3), "peak_speed_param": param,
                "peak_speed_at": round(at, 4)}


def peak_speed(motion, duration: float) -> tuple[float, str | None]:
    """The largest angular speed (deg/s) of the head and body angle parameters (``ANGLE_PARAMS``)
    over [0, duration], from differences over ``SPEED_STEP_S``, and the parameter that has it
    (None, 0.0 when the motion turns nothing)."""
    speed, param, _ = _peak_speed(motion, duration)
    return speed, param


def _peak_speed(motion, duration: float) -> tuple[float, str | None, float]:
    times = np.arange(int(math.ceil(duration / SPEED_STEP_S)) + 1) * SPEED_STEP_S
    times = np.minimum(times, duration)
    if hasattr(motion, "sample_many"):
        curves = motion.sample_many(times)
    else:
        samples = [motion.sample(float(t)) for t in times]
        curves = {k: np.array([s.get(k, 0.0) for s in samples]) for k in samples[0]}
    best, param, at = 0.0, None, 0.0
    for key in ANGLE_PARAMS:
        if key not in curves or len(times) < 2:
            continue
        rate = np.abs(np.diff(curves[key])) / np.maximum(np.diff(times), 1e-12)
        k = int(np.argmax(rate))
        if rate[k] > best:
            best, param, at = float(rate[k]), key, float(0.5 * (times[k] + times[k + 1]))
    return best, param, at


# ------------------------------------------------------------------------------ reading the rig

def chain_state(rig) -> tuple[np.ndarray, np.ndarray]:
    """Particle positions (N, 2) in canvas px and root transforms (C, 2, 3) of the rig's last
    pose (see `Rig.chain_state`)."""
    return rig.chain_state()


def _frame_scale(transforms: np.ndarray) -> np.ndarray:
    """|m| of each root transform's best-fit similarity (as the springs reduce it)."""
    a = transforms
    return 0.5 * np.hypot(a[:, 0, 0] + a[:, 1, 1], a[:, 1, 0] - a[:, 0, 1])


def _carried_rest(chains: springs.ChainSet, transforms: np.ndarray) -> np.ndarray:
    """The rest points carried rigidly by the root transforms (N, 2)."""
    homo = np.hstack([chains.rest_points, np.ones((chains.n_particles, 1))])
    return np.einsum("nij,nj->ni", transforms[chains.chain_of], homo)


@dataclass
class _Run:
    times: np.ndarray              # (T,)
    positions: np.ndarray          # (T, N, 2)
    carried: np.ndarray            # (T, N, 2) rest shape carried by the roots
    stretch: np.ndarray            # (T, N - C) relative segment stretch
    swing: np.ndarray              # (T, N - C) radians from the carried rest direction
    bend: np.ndarray               # (T, N - C) radians of bend beyond the carried rest bend
    bad_particles: np.ndarray      # (N,) went non-finite at some frame
    bad_vertices: np.ndarray       # (V,) posed vertices that went non-finite at some frame


def _play(rig, motion, frame_times: list[float]) -> _Run:
    """Reset the rig and pose it through the motion with the given frame times."""
    chains = rig.chains
    child = np.setdiff1d(np.arange(chains.n_particles), chains.root_index)
    rest_len = np.linalg.norm(chains.rest_points[child] - chains.rest_points[child - 1], axis=-1)
    rig.reset()
    t, dt = 0.0, 0.0
    times, positions, carried, stretch, frames = [], [], [], [], []
    bad_particles = np.zeros(chains.n_particles, bool)
    bad_vertices = None
    for k in range(len(frame_times) + 1):
        if k:
            dt = frame_times[k - 1]
            t += dt
        pose = rig.pose(motion.sample(t), dt)
        pos, transforms = chain_state(rig)
        vertex_ok = np.isfinite(pose.vertices).all(axis=1)
        bad_vertices = ~vertex_ok if bad_vertices is None else bad_vertices | ~vertex_ok
        bad_particles |= ~np.isfinite(pos).all(axis=1)
        seg = np.linalg.norm(pos[child] - pos[child - 1], axis=-1)
        expected = rest_len * _frame_scale(transforms)[chains.chain_of[child]]
        times.append(t)
        positions.append(pos)
        carried.append(_carried_rest(chains, transforms))
        stretch.append(seg / expected - 1.0)
        frames.append(transforms)
    positions = np.array(positions)
    with np.errstate(invalid="ignore"):
        swing, bend = springs.segment_angles(chains, positions, np.array(frames))
    return _Run(np.array(times), positions, np.array(carried), np.array(stretch), swing, bend,
                bad_particles, bad_vertices)


def _steady(motion, fps: float) -> list[float]:
    return [1.0 / fps] * int(round(motion.duration * fps))


def _with_spike(motion, fps: float, when: float) -> list[float]:
    """Steady frames with one of them replaced by a SPIKE_S frame at time ``when``."""
    frames = _steady(motion, fps)
    at = int(round(when * fps))
    covered = int(round(SPIKE_S * fps))
    return frames[:at] + [SPIKE_S] + frames[at + covered:]


def _equilibrium_tips(rig, params: dict[str, float]) -> np.ndarray:
    """Where the tips hang when the pose is held for a long time (N, 2 positions)."""
    rig.reset()
    rig.pose(params, 0.0)
    for _ in range(int(EQUILIBRIUM_S * 30)):
        rig.pose(params, 1.0 / 30.0)
    return chain_state(rig)[0][rig.chains.tip_index]


def _common(a: _Run, b: _Run, end: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Indices into a and b of the frames at the same time (keys in 1/720 s), up to ``end``."""
    ka = np.round(a.times * 720.0).astype(np.int64)
    kb = np.round(b.times * 720.0).astype(np.int64)
    _, ia, ib = np.intersect1d(ka, kb, return_indices=True)
    keep = a.times[ia] <= end
    return ia[keep], ib[keep]


# ------------------------------------------------------------------------------ the test

def shake_test(rig, motion: ShakeMotion | HeldMotion | None = None) -> dict:
    """Run the standard shake test through ``rig``; the rig is left reset.

    ``motion``: the built-in ``ShakeMotion`` (default), or any motion driver (``sample(t)``,
    ``duration``: a motion file) wrapped in ``HeldMotion``; a bare driver is wrapped here.
    Returns ``{"groups": {group: metrics}, "overall": metrics, "budgets": BUDGETS,
    "within_budget": bool, "motion": timeline}`` with the metrics of the module docstring.
    """
    motion = motion or ShakeMotion()
    if not isinstance(motion, (ShakeMotion, HeldMotion)):
        motion = HeldMotion(motion)
    chains = rig.chains
    if chains is None or chains.n_chains == 0:
        raise ValueError("the rig has no spring chains")
    runs = {fps: _play(rig, motion, _steady(motion, fps)) for fps in CONSISTENCY_FPS}
    extra = [_play(rig, motion, _steady(motion, 1.0 / dt)) for dt in EXTREME_FRAME_TIMES]
    extra += [_play(rig, motion, _with_spike(motion, 60.0, when)) for when in motion.spike_times]
    equilibrium = _equilibrium_tips(rig, motion.hold_params)
    rig.reset()

    tips = chains.tip_index
    child_chain = chains.chain_of[np.setdiff1d(np.arange(chains.n_particles), chains.root_index)]
    reference = runs[60.0]
    finest = runs[max(CONSISTENCY_FPS)]
    hold = ((reference.times >= motion.stop_time - 1e-9)
            & (reference.times <= motion.nod_start + 1e-9))
    pairs = [(a, b) for i, a in enumerate(CONSISTENCY_FPS) for b in CONSISTENCY_FPS[i + 1:]]
    end = motion.consistency_end + 1e-9
    matched = {(a, b): _common(runs[a], runs[b], end) for a, b in pairs}
    window = finest.times <= end

    all_runs = list(runs.values()) + extra
    bad_particles = np.logical_or.reduce([r.bad_particles for r in all_runs])
    bad_vertices = np.logical_or.reduce([r.bad_vertices for r in all_runs])
    groups = {}
    for group in sorted(set(chains.groups)):
        members = np.array([c for c, g in enumerate(chains.groups) if g == group])
        k_tips = tips[members]
        seg = np.isin(child_chain, members)
        # Non-finite: the group's particles, or the vertices of the layers its chains bend.
        layers = {rig.chain_specs[c].layer for c in members}
        non_finite = bool(bad_particles[np.isin(chains.chain_of, members)].any() or any(
            bad_vertices[slice(*rig.ranges[li])].any() for li in layers))
        stretch = max(_largest(np.abs(r.stretch[:, seg])) for r in all_runs)
        swing_deg = math.degrees(max(_largest(r.swing[:, seg]) for r in all_runs))
        bend_deg = math.degrees(max(_largest(r.bend[:, seg]) for r in all_runs))

        # Settling and overshoot: the hold, against where the tips hang with the head held.
        rest = equilibrium[np.searchsorted(tips, k_tips)]
        track = reference.positions[hold][:, k_tips]
        excursion = np.linalg.norm(track - rest, axis=-1)
        peak = _largest(excursion)
        settle_px = max(VISIBLE_PX, SETTLE_FRACTION * peak)
        swing = springs.swing_metrics(reference.times[hold], track, rest, motion.stop_time,
                                      settle_px=settle_px)
        settle = swing["settle_s"]

        # Frame-rate consistency: pairwise, relative to the swing behind the carried rest shape.
        lag = np.linalg.norm(finest.positions[:, k_tips] - finest.carried[:, k_tips], axis=-1)
        amplitude = _largest(lag[window])
        worst = 0.0
        for (a, b), (ia, ib) in matched.items():
            gap = runs[a].positions[ia][:, k_tips] - runs[b].positions[ib][:, k_tips]
            worst = max(worst, _largest(np.linalg.norm(gap, axis=-1)))
        # A swing under half a pixel is invisible: differences count against half a pixel.
        consistency = worst / max(amplitude, VISIBLE_PX)

        groups[group] = {
            "settle_s": None if not math.isfinite(settle) else round(settle, 4),
            "overshoot": _num(swing["overshoot"]),
            "max_stretch": _num(stretch),
            "non_finite": non_finite or swing["non_finite"],
            "frame_rate_consistency": _num(consistency),
            "max_swing_deg": _num(swing_deg),
            "max_bend_deg": _num(bend_deg),
            "swing_px": _num(_largest(lag)),
            "chains": int(len(members)),
        }

    overall = _worst(groups.values())
    overall["non_finite"] = bool(overall["non_finite"] or bad_particles.any()
                                 or bad_vertices.any())
    within = (not overall["non_finite"]
              and overall["max_stretch"] is not None
              and overall["max_stretch"] < BUDGETS["max_stretch"]
              and overall["frame_rate_consistency"] is not None
              and overall["frame_rate_consistency"] <= BUDGETS["frame_rate_consistency"]
              and overall["max_swing_deg"] is not None
              and overall["max_swing_deg"] <= BUDGETS["max_swing_deg"]
              and overall["max_bend_deg"] is not None
              and overall["max_bend_deg"] <= BUDGETS["max_bend_deg"])
    return {"groups": groups, "overall": overall, "budgets": dict(BUDGETS),
            "within_budget": bool(within), "motion": motion.describe()}


def _largest(values: np.ndarray) -> float:
    """The largest value, inf if any is NaN/inf (a blown-up run), 0 for none."""
    if values.size == 0:
        return 0.0
    return float(np.nan_to_num(values, nan=np.inf).max())


def _num(value: float) -> float | None:
    """A JSON-safe number: None stands for inf/NaN (never settled, blew up)."""
    return round(float(value), 6) if math.isfinite(value) else None


def _worst(metrics) -> dict:
    metrics = list(metrics)

    def largest(key: str) -> float | None:
        values = [m[key] for m in metrics]
        return None if any(v is None for v in values) else max(values, default=0.0)

    return {"settle_s": largest("settle_s"), "overshoot": largest("overshoot"),
            "max_stretch": largest("max_stretch"),
            "non_finite": any(m["non_finite"] for m in metrics),
            "frame_rate_consistency": largest("frame_rate_consistency"),
            "max_swing_deg": largest("max_swing_deg"), "max_bend_deg": largest("max_bend_deg"),
            "swing_px": largest("swing_px"), "chains": sum(m["chains"] for m in metrics)}
