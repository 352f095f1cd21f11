"""The idle driver: blink timing, breathing rate, ranges, determinism, purity in t."""
from __future__ import annotations

import numpy as np
import pytest

from rig.params import spec
from runtime.drivers.idle import IDS, IdleDriver

TEN_MINUTES = 600.0
STEP = 0.001  # 1 ms: blink edges are measured to within two samples


@pytest.fixture(scope="module")
def ten_minutes() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    t = np.arange(0.0, TEN_MINUTES, STEP)
    return t, IdleDriver(seed=0).sample_many(t)


def runs_below_one(t: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """(n, 2) first and last sample time of each stretch where the eyes are not fully open."""
    closed = (eye < 1.0 - 1e-9).astype(np.int8)
    edges = np.diff(np.concatenate([[0], closed, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return np.stack([t[starts], t[ends]], axis=1)


def test_blinks_last_012_to_02_seconds(ten_minutes) -> None:
    t, values = ten_minutes
    runs = runs_below_one(t, values["ParamEyeLOpen"])
    durations = runs[:, 1] - runs[:, 0]
    assert len(runs) > 100       # 10 minutes at 2-6 s gaps
    assert durations.min() >= 0.12 - 2 * STEP
    assert durations.max() <= 0.20 + 2 * STEP
    assert values["ParamEyeLOpen"].min() == pytest.approx(0.0)   # blinks close the eyes fully


def test_gaps_between_blinks_are_2_to_6_seconds_or_a_double_blink(ten_minutes) -> None:
    t, values = ten_minutes
    runs = runs_below_one(t, values["ParamEyeLOpen"])
    gaps = runs[1:, 0] - runs[:-1, 1]
    short = gaps < 1.0
    assert np.all((gaps[short] >= 0.08 - 2 * STEP) & (gaps[short] <= 0.2 + 2 * STEP))
    assert np.all((gaps[~short] >= 2.0 - 2 * STEP) & (gaps[~short] <= 6.0 + 2 * STEP))
    groups = (~short).sum() + 1
    share = short.sum() / groups
    assert 0.08 <= share <= 0.24, share
    # People blink 10-20 times a minute at rest.
    assert 10 <= len(runs) / (TEN_MINUTES / 60) <= 20


def test_double_blink_share_is_about_15_percent_across_seeds() -> None:
    doubles = groups = 0
    for seed in range(10):
        blinks = IdleDriver(seed).blinks(TEN_MINUTES)
        gaps = blinks[1:, 0] - (blinks[:-1, 0] + blinks[:-1, 1])
        doubles += int((gaps < 1.0).sum())
        groups += int((gaps >= 1.0).sum()) + 1
    assert 0.12 <= doubles / groups <= 0.18


def test_blink_events_match_the_signal(ten_minutes) -> None:
    t, values = ten_minutes
    blinks = IdleDriver(seed=0).blinks(TEN_MINUTES)
    runs = runs_below_one(t, values["ParamEyeLOpen"])
    assert len(blinks) == len(runs)
    np.testing.assert_allclose(runs[:, 0], blinks[:, 0], atol=2 * STEP)
    np.testing.assert_allclose(runs[:, 1], blinks[:, 0] + blinks[:, 1], atol=2 * STEP)
    assert np.all((blinks[:, 1] >= 0.12) & (blinks[:, 1] <= 0.2))


def test_eyes_close_faster_than_they_open() -> None:
    driver = IdleDriver(seed=3)
    for start, duration in driver.blinks(60.0):
        t = np.linspace(start, start + duration, 401)
        eye = driver.sample_many(t)["ParamEyeLOpen"]
        shut = t[eye <= 1e-9]
        assert shut.size > 0
        closing, opening = shut[0] - start, start + duration - shut[-1]
        assert closing < opening


def test_both_eyes_blink_together(ten_minutes) -> None:
    _, values = ten_minutes
    np.testing.assert_array_equal(values["ParamEyeLOpen"], values["ParamEyeROpen"])


def test_breathing_period_is_3_5_to_4_5_seconds(ten_minutes) -> None:
    t, values = ten_minutes
    breath = values["ParamBreath"]
    # Peaks: samples above both neighbours and near full inhale.
    peak = (breath[1:-1] > breath[:-2]) & (breath[1:-1] >= breath[2:]) & (breath[1:-1] > 0.99)
    times = t[1:-1][peak]
    periods = np.diff(times)
    assert len(periods) > 100
    assert periods.min() >= 3.5 and periods.max() <= 4.5
    assert 3.7 <= periods.mean() <= 4.3
    assert breath.min() < 0.001 and breath.max() > 0.999   # the full 0..1 range
    assert np.abs(np.diff(breath)).max() < 1e-3 * 2 * np.pi / 3.5  # smooth: slope of the cosine


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_values_stay_inside_the_live2d_ranges(seed: int) -> None:
    t = np.arange(0.0, TEN_MINUTES, 0.01)
    values = IdleDriver(seed).sample_many(t)
    assert set(values) == set(IDS)
    for pid, v in values.items():
        p = spec(pid)
        assert np.all((v >= p.min) & (v <= p.max)), pid
        assert np.all(np.isfinite(v))


def test_head_and_body_drift_a_few_degrees_smoothly(ten_minutes) -> None:
    t, values = ten_minutes
    for pid, limit in [("ParamAngleX", 10), ("ParamAngleY", 7), ("ParamAngleZ", 5),
                       ("ParamBodyAngleX", 4), ("ParamBodyAngleZ", 4)]:
        v = values[pid]
        assert np.abs(v).max() <= limit, pid
        assert v.std() > 0.3, pid          # it does move
        speed = np.abs(np.diff(v)) / STEP
        assert speed.max() < 30.0, pid     # degrees per second: drift, never a jerk


def test_gaze_holds_and_saccades(ten_minutes) -> None:
    t, values = ten_minutes
    gaze = np.stack([values["ParamEyeBallX"], values["ParamEyeBallY"]], axis=1)
    moving = (np.abs(np.diff(gaze, axis=0)) > 1e-12).any(axis=1).astype(np.int8)
    edges = np.diff(np.concatenate([[0], moving, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    assert len(starts) > 100                        # shifts every 0.7-3.2 s
    assert ((ends - starts) * STEP).max() <= 0.05 + 2 * STEP   # a saccade is quick
    holds = (starts[1:] - ends[:-1]) * STEP
    assert holds.min() >= 0.7 - 0.05 - 2 * STEP    # and the eyes rest between them
    assert np.abs(gaze).max() <= 0.6 + 1e-9


def test_deterministic_for_a_seed() -> None:
    t = np.linspace(0, 120, 5001)
    a, b = IdleDriver(5).sample_many(t), IdleDriver(5).sample_many(t)
    c = IdleDriver(6).sample_many(t)
    for pid in IDS:
        np.testing.assert_array_equal(a[pid], b[pid])
    assert any(not np.allclose(a[pid], c[pid]) for pid in IDS)


def test_sample_is_a_pure_function_of_t() -> None:
    times = np.linspace(0, 300, 901)
    fresh = IdleDriver(2).sample_many(times)

    late_first = IdleDriver(2)
    late_first.sample(1000.0)                       # draws far ahead before anything else
    shuffled = np.random.default_rng(0).permutation(len(times))
    for i in shuffled[:200]:
        got = late_first.sample(float(times[i]))
        for pid in IDS:
            assert got[pid] == pytest.approx(fresh[pid][i], abs=1e-12)

    # Frame rate does not matter: 30 fps and 60 fps agree where their frames coincide.
    at30 = IdleDriver(2).sample_many(np.arange(0, 60, 1 / 30))
    at60 = IdleDriver(2).sample_many(np.arange(0, 60, 1 / 60))
    for pid in IDS:
        np.testing.assert_allclose(at30[pid], at60[pid][::2][:len(at30[pid])], atol=1e-9)


def test_intensity_zero_keeps_only_breathing_and_blinking() -> None:
    t = np.arange(0, 60, 0.01)
    values = IdleDriver(0, intensity=0.0).sample_many(t)
    for pid in ("ParamAngleX", "ParamAngleY", "ParamAngleZ", "ParamBodyAngleX",
                "ParamBodyAngleZ", "ParamEyeBallX", "ParamEyeBallY"):
        np.testing.assert_array_equal(values[pid], 0.0)
    assert values["ParamBreath"].std() > 0.2
    assert values["ParamEyeLOpen"].min() < 0.01


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="intensity"):
        IdleDriver(0, intensity=-1.0)
    with pytest.raises(ValueError, match="finite"):
        IdleDriver(0).sample(float("inf"))
