"""The standard shake test: a fixed head motion played through a rig, and how its chains respond.

The motion (``ShakeMotion``): rest, a quick head turn, a stop (the head holds still while the
hair swings out and settles), a nod, a turn back, rest. It is played through ``Rig.pose`` at
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
* ``non_finite``: whether any particle or posed vertex went NaN/inf in any run: at 30, 60 and
  144 fps, at the extreme frame times 1/240 s and 1/15 s, and at 60 fps with one dropped-frame
  spike of 0.5 s in the middle of the turn.
* ``frame_rate_consistency``: the largest distance between the tip trajectories of two of the
  30, 60 and 144 fps runs, at the times both have a frame, relative to the swing amplitude
  (the largest distance of a tip from its rest position carried by its root, at 144 fps;
  at least half a pixel, so chains that hardly move do not divide noise by nothing).

``overall`` takes the worst of every group. ``BUDGETS`` are the limits the issue sets.
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
BUDGETS = {"frame_rate_consistency": 0.05, "max_stretch": 0.10, "non_finite": False}
METRIC_KEYS = ("settle_s", "overshoot", "max_stretch", "non_finite", "frame_rate_consistency")


def _smoothstep(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class ShakeMotion:
    """The standard test motion, as Live2D parameter values over time (a motion driver).

    Every phase starts and ends at rest speed (smoothstep / sin^2 ramps), so frame rates that
    sample it differently still see the same motion.
    """
    lead_in: float = 0.2          # s of rest before the turn
    turn_s: float = 0.25          # a quick head turn ...
    turn_deg: float = 25.0        # ... to this ParamAngleX
    body_deg: float = 8.0         # the body turns along (ParamBodyAngleX): skirts, sleeves
    hold_s: float = 2.2           # the stop: the head holds still, the hair settles
    nod_s: float = 0.6            # a nod down and back up ...
    nod_deg: float = 15.0         # ... this far (ParamAngleY)
    back_s: float = 0.4           # the head turns back to the front
    rest_s: float = 1.2           # rest at the end

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
    def duration(self) -> float:
        return self.back_start + self.back_s + self.rest_s

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
        return {"ParamAngleX": self.turn_deg * (turn - back), "ParamAngleY": -self.nod_deg * nod,
                "ParamBodyAngleX": self.body_deg * (turn - back)}

    def describe(self) -> dict:
        return {"turn": [self.lead_in, self.stop_time, self.turn_deg, self.body_deg],
                "stop": [self.stop_time, self.nod_start],
                "nod": [self.nod_start, self.back_start, self.nod_deg],
                "back": [self.back_start, self.back_start + self.back_s],
                "duration": self.duration}


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
    bad_particles: np.ndarray      # (N,) went non-finite at some frame
    bad_vertices: np.ndarray       # (V,) posed vertices that went non-finite at some frame


def _play(rig, motion: ShakeMotion, frame_times: list[float]) -> _Run:
    """Reset the rig and pose it through the motion with the given frame times."""
    chains = rig.chains
    child = np.setdiff1d(np.arange(chains.n_particles), chains.root_index)
    rest_len = np.linalg.norm(chains.rest_points[child] - chains.rest_points[child - 1], axis=-1)
    rig.reset()
    t, dt = 0.0, 0.0
    times, positions, carried, stretch = [], [], [], []
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
    return _Run(np.array(times), np.array(positions), np.array(carried), np.array(stretch),
                bad_particles, bad_vertices)


def _steady(motion: ShakeMotion, fps: float) -> list[float]:
    return [1.0 / fps] * int(round(motion.duration * fps))


def _with_spike(motion: ShakeMotion, fps: float) -> list[float]:
    """Steady frames with one of them replaced by a SPIKE_S frame in the middle of the turn."""
    frames = _steady(motion, fps)
    at = int(round((motion.lead_in + 0.5 * motion.turn_s) * fps))
    covered = int(round(SPIKE_S * fps))
    return frames[:at] + [SPIKE_S] + frames[at + covered:]


def _equilibrium_tips(rig, params: dict[str, float]) -> np.ndarray:
    """Where the tips hang when the pose is held for a long time (N, 2 positions)."""
    rig.reset()
    rig.pose(params, 0.0)
    for _ in range(int(EQUILIBRIUM_S * 30)):
        rig.pose(params, 1.0 / 30.0)
    return chain_state(rig)[0][rig.chains.tip_index]


def _common(a: _Run, b: _Run) -> tuple[np.ndarray, np.ndarray]:
    """Indices into a and b of the frames at the same time (keys in 1/720 s)."""
    ka = np.round(a.times * 720.0).astype(np.int64)
    kb = np.round(b.times * 720.0).astype(np.int64)
    _, ia, ib = np.intersect1d(ka, kb, return_indices=True)
    return ia, ib


# ------------------------------------------------------------------------------ the test

def shake_test(rig, motion: ShakeMotion | None = None) -> dict:
    """Run the standard shake test through ``rig``; the rig is left reset.

    Returns ``{"groups": {group: metrics}, "overall": metrics, "budgets": BUDGETS,
    "within_budget": bool, "motion": timeline}`` with the metrics of the module docstring.
    """
    motion = motion or ShakeMotion()
    chains = rig.chains
    if chains is None or chains.n_chains == 0:
        raise ValueError("the rig has no spring chains")
    runs = {fps: _play(rig, motion, _steady(motion, fps)) for fps in CONSISTENCY_FPS}
    extra = [_play(rig, motion, _steady(motion, 1.0 / dt)) for dt in EXTREME_FRAME_TIMES]
    extra.append(_play(rig, motion, _with_spike(motion, 60.0)))
    equilibrium = _equilibrium_tips(rig, motion.hold_params)
    rig.reset()

    tips = chains.tip_index
    child_chain = chains.chain_of[np.setdiff1d(np.arange(chains.n_particles), chains.root_index)]
    reference = runs[60.0]
    finest = runs[max(CONSISTENCY_FPS)]
    hold = ((reference.times >= motion.stop_time - 1e-9)
            & (reference.times <= motion.nod_start + 1e-9))
    pairs = [(a, b) for i, a in enumerate(CONSISTENCY_FPS) for b in CONSISTENCY_FPS[i + 1:]]
    matched = {(a, b): _common(runs[a], runs[b]) for a, b in pairs}

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
        amplitude = _largest(lag)
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
            "swing_px": _num(amplitude),
            "chains": int(len(members)),
        }

    overall = _worst(groups.values())
    overall["non_finite"] = bool(overall["non_finite"] or bad_particles.any()
                                 or bad_vertices.any())
    within = (not overall["non_finite"]
              and overall["max_stretch"] is not None
              and overall["max_stretch"] < BUDGETS["max_stretch"]
              and overall["frame_rate_consistency"] is not None
              and overall["frame_rate_consistency"] <= BUDGETS["frame_rate_consistency"])
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
            "swing_px": largest("swing_px"), "chains": sum(m["chains"] for m in metrics)}
