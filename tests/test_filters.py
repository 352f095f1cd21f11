"""One Euro filter: settles after a step, suppresses jitter at rest, bounded lag in motion."""
import math

import numpy as np
import pytest

from runtime.drivers.filters import DEFAULT_FILTER_CONFIG, FILTER_GROUPS, OneEuroFilter, ParamFilter

FPS = 60.0


def run(filt, signal, fps=FPS):
    return np.array([filt(x, i / fps) for i, x in enumerate(signal)])


def test_first_sample_passes_through_and_constant_input_stays_exact():
    f = OneEuroFilter(3, min_cutoff=1.0, beta=0.1)
    x = np.array([1.0, -2.0, 5.0])
    out = run(f, [x] * 30)
    assert np.array_equal(out[0], x)
    np.testing.assert_allclose(out[-1], x, atol=1e-12)


def test_low_pass_matches_the_closed_form_without_beta():
    # With beta = 0 it is a first-order low-pass: alpha = 1 / (1 + tau / dt).
    f = OneEuroFilter(1, min_cutoff=2.0, beta=0.0)
    dt = 1 / FPS
    alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * 2.0) / dt)
    out = run(f, [[0.0]] + [[1.0]] * 5)[:, 0]
    expected = [0.0] + [1.0 - (1.0 - alpha) ** k for k in range(1, 6)]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_step_response_settles():
    f = OneEuroFilter(1, **DEFAULT_FILTER_CONFIG["head"])
    signal = [[0.0]] * 30 + [[20.0]] * 90      # a 20 degree head turn, held 1.5 s
    out = run(f, signal)[:, 0]
    after = out[30:]
    assert np.all(np.diff(after) >= -1e-12)       # no overshoot, no ringing
    settle = int(np.argmax(np.abs(after - 20.0) < 0.2))   # within 1 % of the step
    assert 0 < settle <= 0.5 * FPS                 # settled within half a second
    assert abs(out[-1] - 20.0) < 1e-3


def test_noise_at_rest_is_suppressed_by_a_large_factor():
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 0.3, size=(600, 1))    # 0.3 degree landmark jitter
    f = OneEuroFilter(1, **DEFAULT_FILTER_CONFIG["head"])
    out = run(f, 5.0 + noise)[60:, 0]
    assert out.std() < noise.std() / 5.0
    assert abs(out.mean() - 5.0) < 0.1


def test_lag_in_motion_is_bounded_and_smaller_than_a_plain_low_pass():
    # A head turning at 60 deg/s: the adaptive cutoff keeps up, a plain low-pass lags.
    t = np.arange(120) / FPS
    ramp = (60.0 * t)[:, None]
    adaptive = run(OneEuroFilter(1, **DEFAULT_FILTER_CONFIG["head"]), ramp)[:, 0]
    plain = run(OneEuroFilter(1, min_cutoff=1.0, beta=0.0), ramp)[:, 0]
    lag = (ramp[60:, 0] - adaptive[60:]) / 60.0    # seconds behind
    plain_lag = (ramp[60:, 0] - plain[60:]) / 60.0
    assert lag.max() < 0.05                        # under 50 ms behind
    assert plain_lag.min() > 3 * lag.max()


def test_each_value_keeps_its_own_settings():
    f = OneEuroFilter(2, min_cutoff=np.array([0.5, 10.0]), beta=0.0)
    out = run(f, [[0.0, 0.0]] + [[1.0, 1.0]] * 6)
    assert out[-1, 1] > 0.9 > 0.3 > out[-1, 0]


def test_repeated_timestamp_changes_nothing_and_reset_restarts():
    f = OneEuroFilter(1, min_cutoff=1.0)
    f([0.0], 0.0)
    first = f([1.0], 0.1)
    assert np.array_equal(f([100.0], 0.1), first)
    f.reset(np.array([3.0]), 0.2)
    np.testing.assert_allclose(f([3.0], 0.3), [3.0])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        OneEuroFilter(1, min_cutoff=0.0)
    with pytest.raises(ValueError):
        ParamFilter({"tail": {"beta": 1.0}})
    with pytest.raises(ValueError):
        ParamFilter({"head": {"speed": 1.0}})


def test_param_filter_groups_and_overrides():
    f = ParamFilter({"eyes": {"min_cutoff": 50.0, "beta": 0.0}})
    assert f.config["eyes"]["min_cutoff"] == 50.0
    assert f.config["head"] == DEFAULT_FILTER_CONFIG["head"]
    ids = [pid for group in FILTER_GROUPS.values() for pid in group]
    start = {pid: 0.0 for pid in ids}
    f(start, 0.0)
    moved = {pid: 1.0 for pid in ids} | {"ParamBreath": 0.7}
    out = f(moved, 1 / FPS)
    assert out["ParamBreath"] == 0.7                          # not in a group: passes through
    assert out["ParamEyeLOpen"] > 0.8 > 0.2 > out["ParamAngleX"]   # fast eyes, slower head
    f.reset({pid: 2.0 for pid in ids}, 1.0)
    assert f({pid: 2.0 for pid in ids}, 1.0 + 1 / FPS)["ParamAngleY"] == pytest.approx(2.0)
