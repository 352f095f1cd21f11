"""Spring chains: physics against known answers, frame-rate independence, robustness."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.springs import (BEND_LIMIT, MAX_CATCHUP, PRESETS, STIFFNESS_HZ, SWING_LIMIT,
                         ChainParams, build_chains, chain_swing, reset, segment_angles,
                         segment_stretch, simulate, step, swing_metrics)
from seethrough_core.character import InputError

ROOT = (200.0, 100.0)


def strand(root=ROOT, n=6, seg=25.0, angle_deg=90.0) -> np.ndarray:
    """A straight chain of n particles from root; 90 degrees hangs straight down (y down)."""
    a = math.radians(angle_deg)
    i = np.arange(n)[:, None]
    return np.asarray(root) + i * seg * np.array([math.cos(a), math.sin(a)])


def affine(theta=0.0, tx=0.0, ty=0.0, scale=1.0, pivot=ROOT) -> np.ndarray:
    """(2, 3): rotate by theta and scale about pivot, then translate by (tx, ty)."""
    c, s = math.cos(theta) * scale, math.sin(theta) * scale
    lin = np.array([[c, -s], [s, c]])
    t = np.asarray(pivot) + (tx, ty) - lin @ np.asarray(pivot)
    return np.hstack([lin, t[:, None]])


def tiled(a: np.ndarray, n_chains: int) -> np.ndarray:
    return np.repeat(a[None], n_chains, axis=0)


def one_chain(params: ChainParams, **strand_kw):
    return build_chains([strand(**strand_kw)], ["g"], {"g": params})


def rigid(chains, a: np.ndarray) -> np.ndarray:
    """The rest points carried rigidly by per-chain transforms a (C, 2, 3)."""
    homo = np.hstack([chains.rest_points, np.ones((chains.n_particles, 1))])
    return np.einsum("nij,nj->ni", a[chains.chain_of], homo)


def sway(t: float, amp=0.15, shift=20.0, stop=1.0) -> np.ndarray:
    """Head sway: rotation plus sideways shift at 1 Hz until stop, then still."""
    if t >= stop:
        return affine()
    s = math.sin(2 * math.pi * t)
    return affine(amp * s, -shift * s)


NO_GRAVITY = ChainParams(gravity=0.0)


# --- parameters ---------------------------------------------------------------------------

def test_params_round_trip_through_json():
    custom = ChainParams(stiffness=0.7, damping=2.5, gravity=123.0, wind=40.0, wind_gust=9.0,
                         inertia=0.3, root_stiffness=1.5, tip_stiffness=0.25)
    for params in [custom, *PRESETS.values()]:
        d = json.loads(json.dumps(params.to_dict()))
        assert ChainParams.from_dict(d) == params
    assert ChainParams.from_dict({"damping": 7}) == ChainParams(damping=7.0)


@pytest.mark.parametrize("bad, word", [
    ({"stifness": 1.0}, "stifness"),
    ({"damping": -1.0}, "damping"),
    ({"inertia": 1.5}, "inertia"),
    ({"gravity": float("nan")}, "gravity"),
    ({"wind": 1e300}, "wind"),
    ({"stiffness": "high"}, "stiffness"),
    ({"wind": True}, "wind"),
])
def test_params_reject_bad_values_with_one_clear_line(bad, word):
    with pytest.raises(InputError) as err:
        ChainParams.from_dict(bad)
    assert word in str(err.value) and "\n" not in str(err.value)


def test_params_from_non_mapping_is_an_input_error():
    with pytest.raises(InputError):
        ChainParams.from_dict([("stiffness", 1.0)])


def test_presets_are_named_and_frozen():
    assert set(PRESETS) == {"soft", "normal", "stiff", "heavy"}
    with pytest.raises(AttributeError):
        PRESETS["soft"].stiffness = 2.0


# --- building -----------------------------------------------------------------------------

@pytest.mark.parametrize("points, groups, word", [
    ([strand()], ["g", "g"], "group"),
    ([strand()[:1]], ["g"], "P >= 2"),
    ([np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 5.0]])], ["g"], "same spot"),
    ([strand()], ["nope"], "nope"),
    ([np.array([[0.0, 0.0], [np.nan, 1.0]])], ["g"], "non-finite"),
])
def test_build_rejects_bad_chains(points, groups, word):
    with pytest.raises(InputError, match=word):
        build_chains(points, groups, {"g": ChainParams()})


def test_layout_is_flat_in_chain_order():
    chains = build_chains([strand(n=3), strand(root=(50, 50), n=5), strand(n=2)],
                          ["a", "b", "a"], {"a": ChainParams(), "b": PRESETS["stiff"]})
    assert chains.n_chains == 3 and chains.n_particles == 10
    assert chains.root_index.tolist() == [0, 3, 8]
    assert chains.tip_index.tolist() == [2, 7, 9]
    assert chains.chain_of.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2, 2]
    out = step(chains, tiled(affine(), 3), 0.0)
    np.testing.assert_allclose(out, chains.rest_points, atol=1e-9)
    # What a rig file saves rebuilds the same chains.
    again = build_chains(chains.rest_chains(), chains.groups, chains.params)
    fn = lambda t: tiled(sway(t), 3)                                    # noqa: E731
    assert np.array_equal(simulate(chains, fn, 0.5, 60)[1], simulate(again, fn, 0.5, 60)[1])


def test_no_chains_is_fine():
    chains = build_chains([], [], {})
    assert step(chains, np.zeros((0, 2, 3)), 1 / 60).shape == (0, 2)
    assert chains.rest_chains() == []


def test_first_step_places_chain_at_rest_on_its_root():
    chains = one_chain(ChainParams())
    a = affine(0.4, 30.0, -12.0, scale=1.2)
    out = step(chains, a[None], 0.0)
    np.testing.assert_allclose(out, rigid(chains, a[None]), atol=1e-9)


def test_step_rejects_bad_arguments():
    chains = one_chain(ChainParams())
    with pytest.raises(ValueError, match="shape"):
        step(chains, np.zeros((2, 2, 3)), 1 / 60)
    with pytest.raises(ValueError, match="dt"):
        step(chains, affine()[None], -0.1)
    nan = affine()[None].copy()
    nan[0, 0, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        step(chains, nan, 1 / 60)
    with pytest.raises(ValueError, match="singular"):
        step(chains, np.zeros((1, 2, 3)), 1 / 60)


# --- statics: known answers ---------------------------------------------------------------

def test_rest_shape_is_an_equilibrium_without_forces():
    chains = build_chains([strand(angle_deg=a) for a in (0, 45, 90, 200)], ["g"] * 4,
                          {"g": NO_GRAVITY})
    times, pos = simulate(chains, lambda t: tiled(affine(), 4), 3.0, 60)
    np.testing.assert_allclose(pos[-1], chains.rest_points, atol=1e-9)


def test_gravity_sag_matches_spring_frequency_when_stiff():
    # A horizontal chain with uniform stiffness s: every particle sinks by g / (2 pi f s)^2
    # (to first order the segments only tilt, so the constraints take none of the load).
    s, g = 1.0, 400.0
    chains = one_chain(ChainParams(stiffness=s, gravity=g, root_stiffness=1.0, tip_stiffness=1.0,
                                   damping=6.0), angle_deg=0.0)
    _, pos = simulate(chains, lambda t: affine()[None], 4.0, 60)
    sag = pos[-1, :, 1] - chains.rest_points[:, 1]
    expected = g / (2 * math.pi * STIFFNESS_HZ * s) ** 2
    np.testing.assert_allclose(sag[1:], expected, rtol=0.03)
    assert sag[0] == 0.0
    assert abs(pos[-1, -1, 0] - chains.rest_points[-1, 0]) < 0.01     # no sideways drift


def test_low_stiffness_chain_sags_toward_hanging():
    chains = one_chain(ChainParams(stiffness=0.05, gravity=600.0, damping=4.0), angle_deg=0.0)
    _, pos = simulate(chains, lambda t: affine()[None], 6.0, 60)
    length = 5 * 25.0
    drop = pos[-1, -1, 1] - chains.rest_points[-1, 1]
    assert drop > 0.5 * length                     # y down: the tip fell well below its rest
    stiff = one_chain(ChainParams(stiffness=1.0, gravity=600.0, damping=4.0, tip_stiffness=1.0),
                      angle_deg=0.0)
    _, pos_stiff = simulate(stiff, lambda t: affine()[None], 6.0, 60)
    assert pos_stiff[-1, -1, 1] - stiff.rest_points[-1, 1] < 0.02 * length


def test_gravity_pulls_down_in_the_canvas_whatever_the_head_does():
    # Without a spring, a chain on a head turned 90 degrees hangs straight down the canvas.
    chains = one_chain(ChainParams(stiffness=0.0, gravity=500.0, damping=3.0, inertia=0.5))
    turned = affine(math.pi / 2)[None]
    _, pos = simulate(chains, lambda t: turned, 8.0, 60)
    np.testing.assert_allclose(pos[0, -1], (ROOT[0] - 125.0, ROOT[1]), atol=1e-9)   # it started
    np.testing.assert_allclose(pos[-1], [(ROOT[0], ROOT[1] + 25.0 * i) for i in range(6)],
                               atol=0.05)


def test_steady_wind_pushes_along_x_by_the_spring_law():
    s, w = 1.0, 300.0
    chains = one_chain(ChainParams(stiffness=s, gravity=0.0, wind=w, root_stiffness=1.0,
                                   tip_stiffness=1.0, damping=6.0))
    _, pos = simulate(chains, lambda t: affine()[None], 4.0, 60)
    push = pos[-1, 1:, 0] - chains.rest_points[1:, 0]
    np.testing.assert_allclose(push, w / (2 * math.pi * STIFFNESS_HZ * s) ** 2, rtol=0.03)


def test_gusts_vary_in_time_and_repeat_exactly():
    params = ChainParams(gravity=0.0, wind=100.0, wind_gust=600.0, stiffness=0.4)
    chains = one_chain(params)
    _, a = simulate(chains, lambda t: affine()[None], 6.0, 60)
    _, b = simulate(chains, lambda t: affine()[None], 6.0, 60)
    tip_x = a[120:, -1, 0] - chains.rest_points[-1, 0]
    assert np.array_equal(a, b)
    assert tip_x.min() > 0.0                       # wind and gusts only ever blow along +x
    assert tip_x.max() - tip_x.min() > 2.0         # and the gusts come and go


# --- dynamics -----------------------------------------------------------------------------

def test_energy_of_a_push_decays_to_nothing():
    chains = one_chain(ChainParams(gravity=300.0, inertia=1.0))

    def push(t):                                  # a quick 60 px shove, then still
        return affine(tx=60.0 * min(t / 0.1, 1.0))[None]

    times, pos = simulate(chains, push, 6.0, 120)
    _, still = simulate(chains, lambda t: affine(tx=60.0)[None], 6.0, 120)
    dev = np.linalg.norm(pos - still[-1], axis=-1).max(axis=1)        # from the equilibrium
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max(axis=1) * 120
    energy = speed ** 2 + (2 * math.pi) ** 2 * dev[1:] ** 2
    assert energy[12:].max() > 1e3                 # the push did set it swinging
    windows = [energy[(times[1:] >= a) & (times[1:] < a + 1.0)].max() for a in (1, 2, 3, 4)]
    assert all(later < earlier for earlier, later in zip(windows, windows[1:]))
    assert energy[times[1:] > 5.5].max() < 1e-6 * energy.max()


def test_root_follows_its_transform_exactly_and_lengths_scale_with_it():
    rng = np.random.default_rng(3)
    chains = build_chains([strand(n=5), strand(root=(80, 60), n=3, angle_deg=30)], ["a", "b"],
                          {"a": PRESETS["soft"], "b": PRESETS["stiff"]})
    reset(chains)
    for k in range(200):
        t = k / 144
        a = np.stack([affine(0.5 * math.sin(3 * t), 40 * math.cos(2 * t), 10 * t, 1.5),
                      affine(-0.3 * t, 5.0, rng.uniform(-3, 3), 1.5, pivot=(80, 60))])
        out = step(chains, a, 1 / 144 if k else 0.0)
        roots = np.einsum("cij,cj->ci", a, np.hstack(
            [chains.rest_points[chains.root_index], np.ones((2, 1))]))
        np.testing.assert_allclose(out[chains.root_index], roots, rtol=0, atol=1e-9)
        np.testing.assert_allclose(1.0 + segment_stretch(chains, out), 1.5, atol=1e-9)


@pytest.mark.parametrize("dt", [1 / 240, 1 / 60, 1 / 15])
def test_segments_do_not_stretch_under_violent_root_motion(dt):
    rng = np.random.default_rng(7)
    rests = [strand(n=8, seg=12.0), strand(root=(60, 40), n=4, angle_deg=10)]
    chains = build_chains(rests, ["a", "b"], {"a": PRESETS["soft"],
                                             "b": ChainParams(inertia=1.0, stiffness=0.1)})
    reset(chains)
    worst = 0.0
    for k in range(int(2.0 / dt)):
        a = np.stack([affine(rng.uniform(-1.5, 1.5), *rng.uniform(-300, 300, 2))
                      for _ in range(2)])
        out = step(chains, a, dt)
        assert np.isfinite(out).all()
        worst = max(worst, np.abs(segment_stretch(chains, out)).max())
    assert worst < 1e-6          # well inside the 10 % budget: lengths are solved exactly


def _tips_at_common_times(chains, fn, fps_list, duration):
    """Tip positions at the times where every frame rate has a frame (keys in 1/720 s)."""
    runs = {}
    for fps in fps_list:
        times, pos = simulate(chains, fn, duration, fps)
        runs[fps] = dict(zip(np.round(times * 720).astype(int), pos[:, chains.tip_index]))
    common = sorted(set.intersection(*[set(run) for run in runs.values()]))
    return common, {fps: np.array([run[k] for k in common]) for fps, run in runs.items()}


@pytest.mark.parametrize("preset", ["soft", "normal", "heavy"])
def test_same_motion_at_30_60_144_fps_gives_the_same_tip_trajectory(preset):
    chains = build_chains([strand(), strand(root=(260, 90), n=4, angle_deg=60)], ["g", "g"],
                          {"g": PRESETS[preset]})
    fn = lambda t: tiled(sway(t), 2)                                    # noqa: E731
    common, tips = _tips_at_common_times(chains, fn, [30, 60, 144], 3.0)
    assert len(common) == 19                    # every 1/6 s: where all three have a frame
    # The swing: how far the tips lag behind the rest shape carried by the head.
    times, pos = simulate(chains, fn, 3.0, 144)
    carried = np.array([rigid(chains, fn(t))[chains.tip_index] for t in times])
    amplitude = np.linalg.norm(pos[:, chains.tip_index] - carried, axis=-1).max()
    assert amplitude > 10.0
    for fps in (60, 144):
        diff = np.linalg.norm(tips[fps] - tips[30], axis=-1).max()
        assert diff < 0.05 * amplitude, (fps, diff, amplitude)


@pytest.mark.parametrize("dt", [1 / 240, 1 / 15, 0.5])
def test_stable_and_finite_for_any_frame_time(dt):
    chains = build_chains([strand(), strand(n=3, angle_deg=0)], ["a", "b"],
                          {"a": PRESETS["soft"], "b": PRESETS["heavy"]})
    reset(chains)
    length = np.array([125.0, 50.0])
    for k in range(int(4.0 / dt) + 1):
        t = k * dt
        a = tiled(affine(0.8 * math.sin(5 * t), 120 * math.sin(7 * t), 60 * math.cos(3 * t)), 2)
        out = step(chains, a, dt if k else 0.0)
        assert np.isfinite(out).all()
        assert np.abs(segment_stretch(chains, out)).max() < 0.1
        reach = np.linalg.norm(out[chains.tip_index] - out[chains.root_index], axis=-1)
        assert (reach <= length + 1e-6).all()


def test_half_turn_between_two_frames_stays_finite():
    # Halfway through a 180 degree turn a linear blend of the two rotations would be zero.
    chains = one_chain(ChainParams(inertia=0.7))
    half_turn = np.array([[[-1.0, 0.0, 2 * ROOT[0]], [0.0, -1.0, 2 * ROOT[1]]]])   # exact
    reset(chains)
    step(chains, affine()[None], 0.0)
    for k in range(1, 30):
        out = step(chains, half_turn if k % 2 else affine()[None], 1 / 60)
        assert np.isfinite(out).all()
        np.testing.assert_allclose(segment_stretch(chains, out), 0.0, atol=1e-9)


def test_a_long_frame_only_catches_up_max_catchup_seconds():
    chains = one_chain(PRESETS["soft"])

    def after(dt):
        reset(chains)
        step(chains, affine()[None], 0.0)
        step(chains, affine(tx=50.0)[None], 1 / 60)
        return step(chains, affine(0.2, tx=50.0)[None], dt)

    np.testing.assert_array_equal(after(0.5), after(MAX_CATCHUP))
    assert not np.array_equal(after(MAX_CATCHUP), after(MAX_CATCHUP / 2))


def test_same_inputs_same_outputs_and_reset_restarts():
    def build():
        return build_chains([strand(), strand(root=(120, 80), n=4)], ["a", "b"],
                            {"a": PRESETS["normal"],
                             "b": ChainParams(wind=50.0, wind_gust=200.0)})

    fn = lambda t: tiled(sway(t, amp=0.3, shift=30.0), 2)               # noqa: E731
    first, second = build(), build()
    _, a = simulate(first, fn, 2.0, 60)
    _, b = simulate(second, fn, 2.0, 60)
    _, c = simulate(first, fn, 2.0, 60)           # simulate resets before it runs
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_packed_chains_move_exactly_as_they_do_alone():
    rests = [strand(n=2), strand(root=(90, 40), n=8, seg=10.0, angle_deg=120),
             strand(root=(300, 50), n=5, angle_deg=70)]
    groups = ["stiff", "soft", "gusty"]
    params = {"stiff": PRESETS["stiff"], "soft": PRESETS["soft"],
              "gusty": ChainParams(wind=80.0, wind_gust=300.0, inertia=0.2)}
    motions = [lambda t: affine(0.3 * math.sin(4 * t), 20 * t),
               lambda t: affine(-0.5 * math.sin(2 * t), 0.0, 30 * math.sin(3 * t), pivot=(90, 40)),
               lambda t: affine(0.1 * t, 5.0 * math.cos(5 * t), pivot=(300, 50))]
    together = build_chains(rests, groups, params)
    _, pos = simulate(together, lambda t: np.stack([m(t) for m in motions]), 1.5, 60)
    for c in range(3):
        alone = build_chains([rests[c]], [groups[c]], params)
        _, own = simulate(alone, lambda t: motions[c](t)[None], 1.5, 60)
        np.testing.assert_allclose(pos[:, together.chain_of == c], own, atol=1e-9)


def test_inertia_zero_follows_rigidly_and_one_lags():
    def lag(inertia):
        chains = one_chain(ChainParams(gravity=0.0, inertia=inertia))
        fn = lambda t: affine(0.4 * math.sin(3 * t), 80 * math.sin(2 * t))[None]   # noqa: E731
        times, pos = simulate(chains, fn, 2.0, 60)
        carried = np.array([rigid(chains, fn(t)) for t in times])
        return np.linalg.norm(pos - carried, axis=-1).max()

    assert lag(0.0) < 1e-6
    assert lag(1.0) > 10.0
    assert lag(0.5) < lag(1.0)


def test_stiff_preset_swings_less_and_settles_faster_than_soft():
    results = {}
    for name in ("soft", "normal", "stiff"):
        chains = one_chain(PRESETS[name])
        fn = lambda t: sway(t, amp=0.3, shift=40.0)[None]                # noqa: E731
        times, pos = simulate(chains, fn, 5.0, 60)
        carried = np.array([rigid(chains, fn(t))[chains.tip_index] for t in times])
        _, still = simulate(chains, lambda t: affine()[None], 6.0, 60)
        carried[times >= 1.0] = still[-1, chains.tip_index]   # where it settles, gravity and all
        results[name] = swing_metrics(times, pos[:, chains.tip_index], carried, 1.0,
                                      segment_stretch(chains, pos))
        assert not results[name]["non_finite"] and results[name]["max_stretch"] < 1e-6
    soft, normal, stiff = results["soft"], results["normal"], results["stiff"]
    assert stiff["swing"] < normal["swing"] < soft["swing"]
    assert stiff["settle_s"] < normal["settle_s"] < soft["settle_s"]


# --- metrics ------------------------------------------------------------------------------

def test_swing_metrics_on_a_known_damped_oscillation():
    decay, omega, amp, stop = 1.0, 2 * math.pi * 2.0, 30.0, 1.0
    times = np.arange(0, 6.0, 1 / 500)
    after = np.clip(times - stop, 0.0, None)
    x = np.where(times < stop, 0.5 * amp * np.sin(2 * math.pi * times),
                 amp * np.exp(-decay * after) * np.cos(omega * after))
    tips = np.stack([x + 10.0, np.full_like(x, 5.0)], axis=-1)[:, None, :]
    m = swing_metrics(times, tips, np.array([[10.0, 5.0]]), stop, np.array([0.02, -0.07]),
                      settle_px=0.05 * amp)
    assert m["swing"] == pytest.approx(amp, rel=0.01)
    assert m["overshoot"] == pytest.approx(math.exp(-decay * math.pi / omega), rel=0.02)
    envelope_settle = math.log(1 / 0.05) / decay               # amp e^-t falls to 5 %
    assert envelope_settle - 0.25 < m["settle_s"] <= envelope_settle + 0.01
    assert m["max_stretch"] == pytest.approx(0.07)
    assert m["non_finite"] is False


def test_a_deviation_that_turns_aside_as_it_dies_is_no_overshoot():
    # A tip's deviation from rest turns through a right angle as it dies away (one direction
    # settles before the other) without swinging back past rest. Overshoot is measured along
    # the swing, so it stays small (counted by distance it was 40 % of the swing).
    times = np.linspace(0, 4, 801)
    t = np.clip(times - 1, 0.0, None)
    theta = np.radians(100.0) * np.clip(t, 0.0, 1.0)
    size = 10.0 * np.exp(-t)
    tips = np.stack([size * np.cos(theta), size * np.sin(theta)], axis=-1)[:, None, :]
    m = swing_metrics(times, tips, np.zeros((1, 2)), 1.0, settle_px=0.5)
    assert m["overshoot"] < 0.1


def test_swing_metrics_flags_non_finite_and_never_settling():
    times = np.linspace(0, 2, 101)
    tips = np.stack([np.sin(10 * times) * 20, np.zeros_like(times)], axis=-1)[:, None, :]
    m = swing_metrics(times, tips, np.zeros((1, 2)), 1.0)
    assert m["settle_s"] == math.inf and math.isnan(m["max_stretch"])
    tips[50, 0, 0] = np.nan
    assert swing_metrics(times, tips, np.zeros((1, 2)), 1.0)["non_finite"] is True


def test_overdamped_return_has_no_overshoot():
    times = np.linspace(0, 3, 301)
    x = np.where(times < 1, 10.0, 10.0 * np.exp(-4 * (times - 1)))
    tips = np.stack([x, np.zeros_like(x)], axis=-1)[:, None, :]
    m = swing_metrics(times, tips, np.zeros((1, 2)), 1.0, settle_px=0.5)
    assert m["overshoot"] == 0.0
    assert m["settle_s"] == pytest.approx(math.log(20) / 4, abs=0.011)


# --- properties ---------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 8),
    seg=st.floats(2.0, 60.0),
    angle=st.floats(0.0, 360.0),
    stiffness=st.floats(0.0, 3.0),
    damping=st.floats(0.0, 20.0),
    gravity=st.floats(-2000.0, 2000.0),
    inertia=st.floats(0.0, 1.0),
    fps=st.sampled_from([15, 30, 60, 144, 240]),
    seed=st.integers(0, 2**16),
)
def test_any_chain_any_motion_stays_finite_and_inextensible(n, seg, angle, stiffness, damping,
                                                           gravity, inertia, fps, seed):
    rng = np.random.default_rng(seed)
    params = ChainParams(stiffness=stiffness, damping=damping, gravity=gravity, inertia=inertia,
                         wind=rng.uniform(-500, 500), wind_gust=rng.uniform(0, 500),
                         root_stiffness=rng.uniform(0, 2), tip_stiffness=rng.uniform(0, 2))
    chains = one_chain(params, n=n, seg=seg, angle_deg=angle)
    freq, amp = rng.uniform(0.2, 6.0, 3), rng.uniform(0, 1, 3) * (1.0, 200.0, 200.0)
    fn = lambda t: affine(*(amp * np.sin(freq * t)), scale=1.0)[None]   # noqa: E731
    times, pos = simulate(chains, fn, 1.0, fps)
    assert np.isfinite(pos).all()
    assert np.abs(segment_stretch(chains, pos)).max() < 1e-6


# --- fold limits --------------------------------------------------------------------------

HEAD = (200.0, 40.0)             # the head's centre, above ROOT
HEAD_RADIUS = 60.0


def curl(root=(260.0, 100.0), n=7, seg=14.0, turn_deg=25.0) -> np.ndarray:
    """A chain drawn bent: each segment turns turn_deg from its parent (a curl)."""
    angles = np.radians(90.0 + turn_deg * np.arange(n - 1))
    steps = seg * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.asarray(root) + np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])


def head_turn(kind: str, angle: float) -> np.ndarray:
    """(2, 3): the head turned by ``angle`` (radians) about HEAD. yaw: the roots slide sideways
    on the head's surface and the face foreshortens; roll: a turn in the picture plane;
    pitch: the roots slide up or down."""
    if kind == "roll":
        return affine(angle, pivot=HEAD)
    lin = np.eye(2)
    shift = np.zeros(2)
    axis = 0 if kind == "yaw" else 1
    lin[axis, axis] = math.cos(angle)
    shift[axis] = HEAD_RADIUS * math.sin(angle)
    return np.hstack([lin, (np.asarray(HEAD) + shift - lin @ np.asarray(HEAD))[:, None]])


def shake_fast(kind: str, speed_deg=600.0, amp_deg=30.0, stop=1.0):
    """The head swung between -amp and +amp at up to speed_deg deg/s (a sine: it reverses
    every 0.16 s at 600 deg/s, a few frames at 24 fps), then still."""
    omega = math.radians(speed_deg) / math.radians(amp_deg)

    def fn(t: float) -> np.ndarray:
        return head_turn(kind, math.radians(amp_deg) * math.sin(omega * min(t, stop)))
    return fn


def fold_run(kind: str, frame_times: list[float], limit_folds: bool):
    """A soft strand, a heavy strand and a soft curl through a fast head motion."""
    chains = build_chains([strand(n=8, seg=15.0), strand(root=(230, 100), n=5, seg=20.0,
                                                           angle_deg=70), curl()],
                          ["soft", "heavy", "soft"],
                          {"soft": PRESETS["soft"], "heavy": PRESETS["heavy"]},
                          rest_is_equilibrium=True, limit_folds=limit_folds)
    fn = shake_fast(kind)
    reset(chains)
    t, positions, frames = 0.0, [], []
    for k, dt in enumerate([0.0, *frame_times]):
        t += dt
        a = np.repeat(fn(t)[None], 3, axis=0)
        positions.append(step(chains, a, dt))
        frames.append(a)
    swing, bend = segment_angles(chains, np.array(positions), np.array(frames))
    return (chains, np.degrees(swing.max()), np.degrees(bend.max()), np.array(positions),
            np.array(frames)[:, 0])


FRAME_TIMES = {
    "24fps": [1 / 24] * 36,
    "60fps": [1 / 60] * 90,
    "240fps": [1 / 240] * 360,
    # 60 fps with a dropped-frame spike (0.1 s, then one of 0.4 s) every few reversals.
    "spikes": ([1 / 60] * 10 + [0.1] + [1 / 60] * 10 + [0.4]) * 3,
}


@pytest.mark.parametrize("frames", sorted(FRAME_TIMES))
@pytest.mark.parametrize("kind", ["yaw", "roll", "pitch"])
def test_fast_head_turns_never_fold_a_chain(kind, frames):
    # Without the limits (the springs before them) these motions fold the soft and heavy
    # chains right over at every frame rate: swing 170..180 degrees, bend 170..180 (yaw at
    # 60 fps: swing 179.1, bend 178.5; roll: 179.6, 178.6; pitch: 178.9, 179.7). With them:
    # swing 110..114, bend 80..83 (the limits are 110 and 80 in the springs' similarity frame;
    # measured against the full affine root, yaw's foreshortening adds a few degrees).
    _, swing, bend, _, _ = fold_run(kind, FRAME_TIMES[frames], limit_folds=False)
    assert swing > 150.0 and bend > 150.0, (swing, bend)
    chains, swing, bend, pos, frames = fold_run(kind, FRAME_TIMES[frames], limit_folds=True)
    assert swing <= 120.0 and bend <= 90.0, (swing, bend)
    # The limits held it; lengths stay exact, nothing blew up.
    assert chains.limited_substeps > 0 and swing > math.degrees(SWING_LIMIT) - 1.0
    # Segment lengths: the rest lengths times the scale of the root's similarity (yaw and
    # pitch foreshorten the head), exactly.
    scale = np.array([0.5 * math.hypot(a[0, 0] + a[1, 1], a[1, 0] - a[0, 1])
                      for a in frames])
    assert np.isfinite(pos).all()
    np.testing.assert_allclose(1.0 + segment_stretch(chains, pos),
                               np.repeat(scale[:, None], pos.shape[1] - 3, axis=1), atol=1e-9)


def test_the_limits_only_act_near_the_fold():
    # A lively sway (1 Hz, near the soft strand's resonance): the strand swings 94 degrees
    # from its rest direction and bends 60, short of the limits; with and without them the
    # chains move identically, so the limits take nothing from a normal swing.
    def run(limit_folds):
        chains = build_chains([strand(n=8, seg=15.0), strand(root=(230, 100), n=5, seg=20.0,
                                                               angle_deg=70)],
                              ["a", "b"], {"a": PRESETS["soft"], "b": PRESETS["heavy"]},
                              rest_is_equilibrium=True, limit_folds=limit_folds)
        fn = lambda t: tiled(sway(t, stop=2.0), 2)                          # noqa: E731
        times, pos = simulate(chains, fn, 3.0, 60)
        frames = np.array([fn(t) for t in times])
        carried = np.array([rigid(chains, a) for a in frames])
        amplitude = np.linalg.norm(pos[:, chains.tip_index] - carried[:, chains.tip_index],
                                   axis=-1).max()
        swing, bend = segment_angles(chains, pos, frames)
        return chains, pos, amplitude, np.degrees(swing.max()), np.degrees(bend.max())

    limited, pos, amplitude, swing, bend = run(True)
    free, free_pos, free_amplitude, _, _ = run(False)
    assert 80.0 < swing < math.degrees(SWING_LIMIT) and 40.0 < bend < math.degrees(BEND_LIMIT)
    assert amplitude == pytest.approx(free_amplitude, rel=0.01) and amplitude > 40.0
    assert limited.limited_substeps == 0 and np.array_equal(pos, free_pos)


@pytest.mark.parametrize("fps", [24, 60, 240])
def test_a_chain_pressed_against_the_limit_rests_on_it_without_jitter(fps):
    # Head upside down (175 degrees) and strong gravity: the strand would hang straight down,
    # 175 degrees from its carried rest direction; it comes to rest on the swing limit.
    chains = one_chain(ChainParams(stiffness=0.1, gravity=3000.0), n=8, seg=15.0)
    a = affine(math.radians(175.0))[None]
    step(chains, a, 0.0)
    pos = np.array([step(chains, a, 1 / fps) for _ in range(4 * fps)])
    swing, bend = segment_angles(chains, pos, np.repeat(a[None], len(pos), axis=0))
    assert np.degrees(swing.max()) == pytest.approx(math.degrees(SWING_LIMIT), abs=1e-6)
    assert np.degrees(bend.max()) <= 90.0
    # Settled on the boundary: the last second hardly moves (no jitter, no creeping past).
    assert np.abs(np.diff(pos[-fps:], axis=0)).max() < 0.01
    assert np.degrees(swing[-1, -1]) == pytest.approx(math.degrees(SWING_LIMIT), abs=1e-6)
    # Let go (head upright again): it swings back to rest rather than sticking to the limit.
    back = [step(chains, affine()[None], 1 / fps) for _ in range(6 * fps)]
    np.testing.assert_allclose(back[-1], chains.rest_points, atol=1.0)


def test_segment_angles_against_known_answers():
    chains = build_chains([strand(n=4, seg=10.0), curl()], ["g", "g"], {"g": ChainParams()})
    a = np.stack([affine(0.7, 5.0, -3.0, scale=1.3), affine(-0.2, pivot=(260, 100))])
    # The rest shape carried by the roots: no swing, no bend (the curl's drawn bend is rest).
    swing, bend = segment_angles(chains, rigid(chains, a), a)
    assert swing.shape == bend.shape == (chains.n_particles - 2,)
    np.testing.assert_allclose(swing, 0.0, atol=1e-9)
    np.testing.assert_allclose(bend, 0.0, atol=1e-9)
    # Fold the strand's last segment straight back and turn its second by 30 degrees.
    p = strand(n=4, seg=10.0)
    p[2] = p[1] + 10.0 * np.array([math.sin(math.radians(30)), math.cos(math.radians(30))])
    p[3] = p[2] - 10.0 * np.array([0.0, 1.0])
    pos = np.vstack([p, curl()])
    swing, bend = segment_angles(chains, pos, tiled(affine(), 2))
    np.testing.assert_allclose(np.degrees(swing[:3]), [0.0, 30.0, 180.0], atol=1e-9)
    np.testing.assert_allclose(np.degrees(bend[:3]), [0.0, 30.0, 150.0], atol=1e-9)
    np.testing.assert_allclose(swing[3:], 0.0, atol=1e-9)


# --- bias and reading the swing -----------------------------------------------------------

def turned_about_root(points: np.ndarray, screen_ccw: float) -> np.ndarray:
    """Points turned about the first one, counterclockwise on screen (image y down)."""
    c, s = math.cos(screen_ccw), math.sin(screen_ccw)
    lin = np.array([[c, s], [-s, c]])
    return points[0] + (points - points[0]) @ lin.T


def test_chain_swing_is_positive_when_a_hanging_tip_moves_toward_plus_x():
    chains = build_chains([strand(), curl()], ["g", "g"], {"g": ChainParams()})
    a = np.stack([affine(0.5, 10.0, 4.0, scale=0.8), affine(-0.3, pivot=(260, 100))])
    np.testing.assert_allclose(chain_swing(chains, rigid(chains, a), a), 0.0, atol=1e-12)
    pos = np.vstack([turned_about_root(strand(), math.radians(20)),
                     turned_about_root(curl(), math.radians(-35))])
    swing = chain_swing(chains, pos, tiled(affine(), 2))
    np.testing.assert_allclose(np.degrees(swing), [20.0, -35.0], atol=1e-9)
    assert pos[chains.tip_index[0], 0] > ROOT[0]            # the hanging tip went to +x
    # Many frames at once.
    both = chain_swing(chains, np.stack([rigid(chains, a), pos]),
                       np.stack([a, tiled(affine(), 2)]))
    np.testing.assert_allclose(np.degrees(both), [[0.0, 0.0], [20.0, -35.0]], atol=1e-9)


def test_bias_turns_the_rest_shape_and_the_chain_settles_there():
    # As a rig builds them: the drawn shape is the equilibrium under gravity.
    chains = build_chains([strand(), curl()], ["g", "h"],
                          {"g": PRESETS["normal"], "h": PRESETS["soft"]}, rest_is_equilibrium=True)
    bias = np.array([math.pi / 6, -math.pi / 9])
    a = tiled(affine(), 2)
    step(chains, a, 0.0)
    for _ in range(6 * 60):
        out = step(chains, a, 1 / 60, bias=bias)
    np.testing.assert_allclose(chain_swing(chains, out, a), bias, atol=math.radians(0.5))
    # The whole rest shape turned about its root (the springs' target), not just the tip.
    expected = np.vstack([turned_about_root(strand(), bias[0]),
                          turned_about_root(curl(), bias[1])])
    np.testing.assert_allclose(out, expected, atol=0.5)
    assert out[chains.tip_index[0], 0] > ROOT[0] + 50.0     # 30 degrees toward +x
    # None keeps the bias; zero brings the chain back to its drawn shape.
    np.testing.assert_allclose(step(chains, a, 1 / 60), out, atol=0.05)
    for _ in range(6 * 60):
        out = step(chains, a, 1 / 60, bias=np.zeros(2))
    np.testing.assert_allclose(out, chains.rest_points, atol=0.5)


def test_bias_is_carried_by_a_turning_root():
    chains = one_chain(ChainParams(gravity=0.0))
    a = affine(0.3, 12.0, -5.0, scale=1.2)[None]
    step(chains, a, 0.0, bias=np.array([-math.pi / 8]))       # starts on the biased shape
    out = step(chains, a, 0.0)
    np.testing.assert_allclose(chain_swing(chains, out, a), [-math.pi / 8], atol=1e-9)
    for _ in range(120):
        out = step(chains, a, 1 / 60)
    np.testing.assert_allclose(chain_swing(chains, out, a), [-math.pi / 8], atol=1e-6)


def test_zero_bias_is_bit_identical_to_no_bias():
    def run(bias):
        chains = build_chains([strand(), strand(root=(120, 80), n=4)], ["a", "b"],
                              {"a": PRESETS["soft"], "b": ChainParams(wind=50.0, wind_gust=90.0)},
                              rest_is_equilibrium=True)
        reset(chains)
        out = []
        for k in range(120):
            a = tiled(sway(k / 60, amp=0.3, shift=30.0), 2)
            out.append(step(chains, a, 1 / 60 if k else 0.0, bias=bias))
        return np.array(out)

    assert np.array_equal(run(None), run(np.zeros(2)))
    assert not np.array_equal(run(None), run(np.array([0.0, 0.1])))


def test_a_changing_bias_gives_the_same_swing_at_any_frame_rate():
    chains = build_chains([strand(), curl()], ["g", "g"], {"g": PRESETS["soft"]},
                          rest_is_equilibrium=True)
    a = tiled(affine(), 2)
    tips = {}
    for fps in (30, 60, 144):
        reset(chains)
        step(chains, a, 0.0)
        frames = {}
        for k in range(1, int(2.0 * fps) + 1):
            t = k / fps
            b = 0.6 * math.sin(math.pi * min(t, 1.0)) ** 2          # a push over 1 s, then 0
            out = step(chains, a, 1 / fps, bias=np.array([b, -b]))
            frames[round(t * 720)] = out[chains.tip_index]
        tips[fps] = frames
    common = sorted(set(tips[30]) & set(tips[60]) & set(tips[144]))
    assert len(common) == 12
    swing = max(np.linalg.norm(tips[144][k] - chains.rest_points[chains.tip_index], axis=-1).max()
                for k in common)
    assert swing > 20.0
    for fps in (30, 60):
        gap = max(np.linalg.norm(tips[fps][k] - tips[144][k], axis=-1).max() for k in common)
        assert gap < 0.05 * swing, (fps, gap, swing)


@pytest.mark.parametrize("bias", [np.zeros(3), np.array([0.0, np.nan]), np.zeros((2, 1))])
def test_step_rejects_a_bad_bias(bias):
    chains = build_chains([strand(), curl()], ["g", "g"], {"g": ChainParams()})
    with pytest.raises(ValueError, match="bias"):
        step(chains, tiled(affine(), 2), 1 / 60, bias=bias)


def snap_swing(peak_deg_s: float, monkeypatch=None, uncapped: bool = False) -> float:
    """Largest root-to-tip swing (deg) of a soft strand hanging from a head that snaps 30
    degrees over (a roll about a neck pivot 150 px below the root) at the given peak speed and
    holds there."""
    import rig.springs as sp
    if uncapped:
        monkeypatch.setattr(sp, "_MAX_TURN_PER_SUBSTEP", 1e9)
        monkeypatch.setattr(sp, "INERTIA_SPEED", 1e9)
    chains = build_chains([strand(n=8, seg=15.0)], ["soft"], {"soft": PRESETS["soft"]},
                          rest_is_equilibrium=True, limit_folds=False)
    amp = math.radians(30.0)
    span = 1.5 * 30.0 / peak_deg_s                 # a smoothstep's peak speed: 1.5 amp / span
    pivot = (ROOT[0], ROOT[1] + 150.0)
    worst = 0.0
    for k in range(int(2.0 * 240)):
        u = min(max((k / 240 - 0.1) / span, 0.0), 1.0)
        theta = amp * u * u * (3.0 - 2.0 * u)
        a = affine(theta, pivot=pivot)[None]
        pos = step(chains, a, 0.0 if k == 0 else 1 / 240)
        worst = max(worst, abs(math.degrees(chain_swing(chains, pos, a)[0])))
    return worst


def test_a_snap_drags_the_hair_along_instead_of_flinging_it(monkeypatch):
    # Slower than the caps (120 deg/s here; the cap is 240 deg/s and 5 chain lengths/s): the
    # cap changes nothing.
    assert snap_swing(120.0) == snap_swing(120.0, monkeypatch, uncapped=True)
    monkeypatch.undo()
    # A 600 deg/s snap: uncapped, the strand keeps its world position through the turn and is
    # flung right over (178 degrees); capped, it swings about as far as a brisk 240 deg/s turn
    # does (47 against 71 degrees).
    flung = snap_swing(600.0, monkeypatch, uncapped=True)
    monkeypatch.undo()
    fast, brisk = snap_swing(600.0), snap_swing(240.0)
    assert fast < 0.7 * flung, (fast, flung)
    assert fast < 1.35 * brisk, (fast, brisk)
    assert fast > 0.5 * brisk          # still a swing, not a rigid strand


def test_chains_of_one_material_are_as_stiff_the_same_way_from_their_roots():
    # A short lock beside a long one: held level, each point sags as far as the point the same
    # way along the long one (the stiffness profile runs over the longest lock), where over
    # its own length the short lock's tip was as soft as the long lock's tip.
    params = {"hair": ChainParams(stiffness=0.5, gravity=200.0, damping=6.0,
                                  root_stiffness=1.5, tip_stiffness=0.4)}
    rests = [strand(n=9, angle_deg=0.0), strand(root=(200.0, 300.0), n=5, angle_deg=0.0)]

    def sags(**kw):
        chains = build_chains(rests, ["hair", "hair"], params, **kw)
        _, pos = simulate(chains, lambda t: np.stack([affine(), affine(pivot=(200.0, 300.0))]),
                          4.0, 60)
        sag = pos[-1, :, 1] - chains.rest_points[:, 1]
        return sag[chains.chain_of == 0], sag[chains.chain_of == 1]

    long_sag, short_sag = sags(one_material={"hair"})
    np.testing.assert_allclose(short_sag[1:], long_sag[1:5], rtol=0.1)
    long_own, short_own = sags()
    np.testing.assert_allclose(long_own, long_sag, rtol=1e-9)      # the longest is unchanged
    assert short_own[-1] > 1.5 * long_own[4]                        # each over its own length
