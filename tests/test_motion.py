"""Motion files: known answers for every segment kind, both formats, looping, errors, saving."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from rig.params import PARAM_IDS
from runtime.drivers.motion import Motion, MotionWarning, load_motion, motion_from_dict, save_motion
from seethrough_core.character import InputError


def motion3(curves: list[dict], duration: float = 2.0, loop: bool = False,
            user_data: list[dict] | None = None, **meta) -> dict:
    """A motion3.json document with Meta counts filled in the way Cubism writes them. Beziers
    are exact (AreBeziersRestricted false) unless ``meta`` says otherwise."""
    segments = points = 0
    for curve in curves:
        seg = curve["Segments"]
        pos, points = 2, points + 1
        while pos < len(seg):
            n = 3 if seg[pos] == 1 else 1
            segments, points, pos = segments + 1, points + n, pos + 1 + 2 * n
    user_data = user_data or []
    doc = {
        "Version": 3,
        "Meta": {"Duration": duration, "Fps": 30.0, "Loop": loop, "AreBeziersRestricted": False,
                 "CurveCount": len(curves), "TotalSegmentCount": segments,
                 "TotalPointCount": points, "UserDataCount": len(user_data),
                 "TotalUserDataSize": sum(len(u["Value"]) + 1 for u in user_data), **meta},
        "Curves": curves,
    }
    if user_data:
        doc["UserData"] = user_data
    return doc


def param(pid: str, segments: list[float]) -> dict:
    return {"Target": "Parameter", "Id": pid, "Segments": segments}


def write_json(tmp_path: Path, doc, name: str = "m.motion3.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def load(tmp_path: Path, doc, **kwargs) -> Motion:
    return load_motion(write_json(tmp_path, doc), **kwargs)


# ---------------------------------------------------------------------- motion3 segment kinds

def test_linear_segments_interpolate_midpoints(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 0, 1, 10, 0, 2, -10])]))
    assert m.sample(0.5)["ParamAngleX"] == pytest.approx(5.0)
    assert m.sample(0.25)["ParamAngleX"] == pytest.approx(2.5)
    assert m.sample(1.0)["ParamAngleX"] == pytest.approx(10.0)
    assert m.sample(1.5)["ParamAngleX"] == pytest.approx(0.0)
    assert m.sample(1.75)["ParamAngleX"] == pytest.approx(-5.0)


def test_stepped_holds_the_start_value_until_the_next_point(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamMouthOpenY", [0, 0.2, 2, 1, 0.9, 0, 2, 0.5])]))
    assert m.sample(0.0)["ParamMouthOpenY"] == pytest.approx(0.2)
    assert m.sample(0.999)["ParamMouthOpenY"] == pytest.approx(0.2)
    assert m.sample(1.0)["ParamMouthOpenY"] == pytest.approx(0.9)
    assert m.sample(1.5)["ParamMouthOpenY"] == pytest.approx(0.7)


def test_inverse_stepped_holds_the_end_value(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamMouthOpenY", [0, 0.2, 3, 1, 0.9, 3, 2, 0.1])]))
    assert m.sample(0.001)["ParamMouthOpenY"] == pytest.approx(0.9)
    assert m.sample(0.999)["ParamMouthOpenY"] == pytest.approx(0.9)
    assert m.sample(1.5)["ParamMouthOpenY"] == pytest.approx(0.1)
    assert m.sample(2.0)["ParamMouthOpenY"] == pytest.approx(0.1)


def test_last_stepped_segment_reaches_its_end_value(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamMouthOpenY", [0, 0.2, 2, 1, 0.9])]))
    assert m.sample(0.999)["ParamMouthOpenY"] == pytest.approx(0.2)
    assert m.sample(1.0)["ParamMouthOpenY"] == pytest.approx(0.9)
    assert m.sample(1.7)["ParamMouthOpenY"] == pytest.approx(0.9)


def test_bezier_with_control_points_on_the_line_is_linear(tmp_path: Path) -> None:
    # Controls at thirds, and controls crowded near the start (x(s) far from s): both lie on
    # v = 10 t, so only an exact solve of x(s) = t gives the line back.
    at_thirds = [0, 0, 1, 1 / 3, 10 / 3, 2 / 3, 20 / 3, 1, 10]
    crowded = [0, 0, 1, 0.1, 1.0, 0.2, 2.0, 1, 10]
    m = load(tmp_path, motion3([param("ParamAngleX", at_thirds), param("ParamAngleY", crowded)]))
    times = np.linspace(0, 1, 41)
    got = m.sample_many(times)
    np.testing.assert_allclose(got["ParamAngleX"], 10 * times, atol=1e-9)
    np.testing.assert_allclose(got["ParamAngleY"], 10 * times, atol=1e-9)


def test_symmetric_s_curve(tmp_path: Path) -> None:
    # P0 (0,0), P1 (0.5,0), P2 (0.5,10), P3 (1,10): x(s) = 1.5 s (1-s) + s^3,
    # v(s) = 10 (3 s^2 - 2 s^3). s = 1/2 -> (0.5, 5); s = 1/4 -> (0.296875, 1.5625).
    m = load(tmp_path, motion3([param("ParamAngleZ", [0, 0, 1, 0.5, 0, 0.5, 10, 1, 10])]))
    assert m.sample(0.5)["ParamAngleZ"] == pytest.approx(5.0, abs=1e-9)
    assert m.sample(0.296875)["ParamAngleZ"] == pytest.approx(1.5625, abs=1e-9)
    assert m.sample(1 - 0.296875)["ParamAngleZ"] == pytest.approx(10 - 1.5625, abs=1e-9)
    values = m.sample_many(np.linspace(0, 1, 101))["ParamAngleZ"]
    assert np.all(np.diff(values) >= -1e-12)  # an S-curve between two levels never dips


def test_bezier_handles_outside_their_segment_are_clamped(tmp_path: Path) -> None:
    # Handle times beyond the segment are pulled onto its ends: P1 (0, 0), P2 (1, 10).
    wild = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 1, -0.5, 0, 1.7, 10, 1, 10])]))
    tame = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 1, 0.0, 0, 1.0, 10, 1, 10])]))
    times = np.linspace(0, 1, 33)
    np.testing.assert_allclose(wild.sample_many(times)["ParamAngleX"],
                               tame.sample_many(times)["ParamAngleX"], atol=1e-9)
    # With P1 (0, 0) and P2 (1, 10): x(s) = 3 s^2 - 2 s^3 and v(s) = 10 x(s), a line again.
    np.testing.assert_allclose(tame.sample_many(times)["ParamAngleX"], 10 * times, atol=1e-9)


def test_mixed_segment_kinds_in_one_curve(tmp_path: Path) -> None:
    segs = [0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 5, 1, 3.5, 5, 4.5, 7, 5, 7]
    m = load(tmp_path, motion3([param("ParamAngleX", segs)], duration=5.0))
    assert m.sample(0.5)["ParamAngleX"] == pytest.approx(0.5)   # linear
    assert m.sample(1.5)["ParamAngleX"] == pytest.approx(1.0)   # stepped holds 1
    assert m.sample(2.5)["ParamAngleX"] == pytest.approx(5.0)   # inverse stepped shows 5
    assert m.sample(4.0)["ParamAngleX"] == pytest.approx(6.0)   # bezier, symmetric midpoint


# -------------------------------------------------------------------- time: loop and clamp

def test_clamping_before_and_after(tmp_path: Path) -> None:
    # The curve starts at 0.5 and ends at 1.5, inside a 3 s motion.
    m = load(tmp_path, motion3([param("ParamAngleX", [0.5, 2, 0, 1.5, 12])], duration=3.0))
    assert m.sample(-4.0)["ParamAngleX"] == pytest.approx(2.0)
    assert m.sample(0.25)["ParamAngleX"] == pytest.approx(2.0)
    assert m.sample(1.0)["ParamAngleX"] == pytest.approx(7.0)
    assert m.sample(2.5)["ParamAngleX"] == pytest.approx(12.0)
    assert m.sample(100.0)["ParamAngleX"] == pytest.approx(12.0)


def test_looping_wraps_time(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 0, 2, 20])], duration=2.0, loop=True))
    assert m.loop and m.duration == 2.0
    assert m.sample(2.5)["ParamAngleX"] == pytest.approx(5.0)
    assert m.sample(4.5)["ParamAngleX"] == pytest.approx(5.0)
    assert m.sample(-0.5)["ParamAngleX"] == pytest.approx(15.0)
    once = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 0, 2, 20])], duration=2.0))
    assert once.sample(2.5)["ParamAngleX"] == pytest.approx(20.0)


def test_sample_many_matches_sample(tmp_path: Path) -> None:
    segs = [0, 0, 1, 0.2, 5, 0.6, -3, 1, 4, 2, 1.5, 0, 3, 2, 9]
    m = load(tmp_path, motion3([param("ParamAngleX", segs), param("ParamBreath", [0, 1])]))
    times = np.linspace(-0.5, 2.5, 61)
    many = m.sample_many(times)
    for i, t in enumerate(times):
        one = m.sample(float(t))
        assert one["ParamAngleX"] == pytest.approx(many["ParamAngleX"][i], abs=1e-12)
        assert one["ParamBreath"] == pytest.approx(1.0)


def test_long_timelines_sample_in_chunks_without_seams(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 0, 2, 20]),
                                param("ParamAngleY", [0, 5, 0, 2, -5])]))
    times = np.linspace(0, 2, 40001)   # more than one evaluation chunk
    got = m.sample_many(times)
    np.testing.assert_allclose(got["ParamAngleX"], 10 * times, atol=1e-9)
    np.testing.assert_allclose(got["ParamAngleY"], 5 - 5 * times, atol=1e-9)


# ------------------------------------------------------------------- ids, targets, warnings

def test_unknown_ids_are_reported_and_ignored(tmp_path: Path) -> None:
    doc = motion3([param("ParamAngleX", [0, 1]), param("ParamHairFluffiness", [0, 0.5]),
                   param("ParamTail", [0, 1])])
    with pytest.warns(MotionWarning, match="ParamHairFluffiness"):
        m = load(tmp_path, doc)
    assert m.unknown_ids == ("ParamHairFluffiness", "ParamTail")
    assert set(m.sample(0.0)) == {"ParamAngleX"}
    assert any("ParamTail" in w for w in m.warnings)


def test_known_ids_none_keeps_every_curve(tmp_path: Path) -> None:
    doc = motion3([param("ParamAngleX", [0, 1]), param("ParamTail", [0, 0.5])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load(tmp_path, doc, known_ids=None)
    assert m.unknown_ids == ()
    assert m.sample(0.3) == {"ParamAngleX": 1.0, "ParamTail": 0.5}


def test_part_opacity_and_other_model_curves_are_ignored_with_one_warning(tmp_path: Path) -> None:
    doc = motion3([param("ParamAngleX", [0, 1]),
                   {"Target": "PartOpacity", "Id": "PartArmA", "Segments": [0, 1, 0, 1, 0]},
                   {"Target": "PartOpacity", "Id": "PartArmB", "Segments": [0, 1]},
                   {"Target": "Model", "Id": "Opacity", "Segments": [0, 1]},
                   {"Target": "Model", "Id": "EyeBlink", "Segments": [0, 1]}])
    with pytest.warns(MotionWarning) as record:
        m = load(tmp_path, doc)
    messages = [str(r.message) for r in record]
    part = [line for line in messages if "PartOpacity" in line]
    assert len(part) == 1 and "PartArmA, PartArmB" in part[0]
    assert any("Opacity" in line and "Model" in line for line in messages)
    assert not any("EyeBlink" in line for line in messages)     # a Model curve that is used
    assert m.ids == ("ParamAngleX",) and m.unknown_ids == ()
    assert set(m.model_curves) == {"EyeBlink"}


def test_meta_fields_are_read(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 1])], duration=4.5, loop=True,
                               FadeInTime=0.25, FadeOutTime=0.75))
    assert (m.duration, m.loop, m.fps, m.fade_in, m.fade_out) == (4.5, True, 30.0, 0.25, 0.75)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.motion3.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(motion3([param("ParamAngleX", [0, 3])])).encode())
    assert load_motion(path).sample(0)["ParamAngleX"] == 3.0


# --------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("doc, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ({"hello": 1}, "not a motion file"),
    ({"Version": 2, "Meta": {"Duration": 1}, "Curves": []}, "Version 2"),
    ({"Version": 3, "Curves": []}, "Meta"),
    ({"Version": 3, "Meta": {"Duration": -1}, "Curves": []}, "Duration must be positive"),
    ({"Version": 3, "Meta": {"Fps": 30}, "Curves": []}, "missing Meta.Duration"),
    (motion3([param("ParamAngleX", [0, 0, 1, 0.3, 0, 0.6])]), "cut short"),
    (motion3([param("ParamAngleX", [0, 0, 7, 1, 1])]), "not a segment type"),
    (motion3([param("ParamAngleX", [0, 0, 0, 1, 1, 0, 0.5, 2])]), "go backwards"),
    (motion3([param("ParamAngleX", [0])]), "first point"),
    (motion3([param("ParamAngleX", [0, "a"])]), "must be a number"),
    (motion3([param("ParamAngleX", [0, 1]), param("ParamAngleX", [0, 2])]), "twice"),
    (motion3([{"Target": "Parameter", "Segments": [0, 1]}]), "no Id"),
    ('{"Version": 3, "Meta": {"Duration": NaN}, "Curves": []}', "NaN"),
])
def test_bad_motion3_files_raise_one_line_input_errors(tmp_path: Path, doc, message) -> None:
    with pytest.raises(InputError, match=message) as info:
        load(tmp_path, doc)
    assert "\n" not in str(info.value)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such motion file"):
        load_motion(tmp_path / "nope.motion3.json")


def test_binary_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "x.motion3.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError, match="not a motion file"):
        load_motion(path)


# ------------------------------------------------------------------------------ our format

def ours(curves: dict, duration: float = 2.0, **extra) -> dict:
    return {"format": "seethrough-motion", "version": 1, "duration": duration,
            "curves": curves, **extra}


def test_our_format_linear_and_step() -> None:
    m = motion_from_dict(ours({
        "ParamAngleX": {"interpolation": "linear", "keys": [[0, 0], [2, 30]]},
        "ParamMouthOpenY": {"interpolation": "step", "keys": [[0, 0], [0.5, 1], [1.5, 0.25]]},
    }))
    s = m.sample(0.5)
    assert s["ParamAngleX"] == pytest.approx(7.5) and s["ParamMouthOpenY"] == 1.0
    s = m.sample(1.49)
    assert s["ParamAngleX"] == pytest.approx(22.35) and s["ParamMouthOpenY"] == 1.0
    assert m.sample(1.5)["ParamMouthOpenY"] == 0.25


def test_smooth_two_keys_is_the_ease_in_out_cubic() -> None:
    # Flat ends, so 3u^2 - 2u^3: u = 1/4 -> 0.15625, u = 1/2 -> 0.5.
    m = motion_from_dict(ours({"ParamAngleX": {"interpolation": "smooth",
                                               "keys": [[0, 0], [2, 10]]}}))
    assert m.sample(1.0)["ParamAngleX"] == pytest.approx(5.0)
    assert m.sample(0.5)["ParamAngleX"] == pytest.approx(1.5625)
    assert m.sample(1.5)["ParamAngleX"] == pytest.approx(8.4375)


def test_smooth_never_overshoots_its_keys() -> None:
    keys = [[0, 0], [0.5, 1], [0.6, 1], [1.0, 0.2], [1.2, 0.0], [2.0, 1.0]]
    m = motion_from_dict(ours({"ParamEyeLOpen": {"interpolation": "smooth", "keys": keys}}))
    values = m.sample_many(np.linspace(0, 2, 801))["ParamEyeLOpen"]
    assert values.min() >= -1e-12 and values.max() <= 1 + 1e-12
    for t, v in keys:
        assert m.sample(t)["ParamEyeLOpen"] == pytest.approx(v)


def test_bezier_key_forms() -> None:
    # Absolute handles (the S-curve), and the slope form: slope 0 at both keys is the same
    # as handles flat at thirds, i.e. the ease-in-out cubic.
    m = motion_from_dict(ours({
        "ParamAngleX": {"interpolation": "bezier",
                        "keys": [[0, 0, 0, 0, 0.5, 0], [1, 10, 0.5, 10, 1, 10]]},
        "ParamAngleY": {"interpolation": "bezier", "keys": [[0, 0, 0], [1, 10, 0]]},
        "ParamAngleZ": {"interpolation": "bezier", "keys": [[0, 0, 10], [1, 10, 10]]},
    }, duration=1.0))
    assert m.sample(0.296875)["ParamAngleX"] == pytest.approx(1.5625)
    assert m.sample(0.25)["ParamAngleY"] == pytest.approx(1.5625)
    assert m.sample(0.25)["ParamAngleZ"] == pytest.approx(2.5)   # slope 10 on v = 10 t: a line


def test_per_segment_interpolation_list() -> None:
    m = motion_from_dict(ours({"ParamAngleX": {
        "interpolation": ["linear", "step", "inverse_step"],
        "keys": [[0, 0], [1, 10], [2, 20], [3, 30]]}}, duration=3.0))
    got = m.sample_many([0.5, 1.5, 2.5, 3.0])["ParamAngleX"]
    np.testing.assert_allclose(got, [5, 10, 30, 30])


def test_single_key_is_a_constant() -> None:
    m = motion_from_dict(ours({"ParamBrowLY": {"interpolation": "linear", "keys": [[0.7, 0.4]]}}))
    np.testing.assert_allclose(m.sample_many([0, 0.7, 1.9])["ParamBrowLY"], 0.4)


@pytest.mark.parametrize("doc, message", [
    (ours({}, duration=0), "duration must be positive"),
    ({**ours({}), "version": 2}, "version 2"),
    ({**ours({}), "format": "other"}, "unknown motion format"),
    (ours({"ParamAngleX": {"interpolation": "cubic", "keys": [[0, 0], [1, 1]]}}), "cubic"),
    (ours({"ParamAngleX": {"interpolation": "linear", "keys": [[0, 0], [1, 1, 2, 3]]}}), "key 1"),
    (ours({"ParamAngleX": {"interpolation": "linear", "keys": [[1, 0], [0.5, 1]]}}), "backwards"),
    (ours({"ParamAngleX": {"interpolation": "linear", "keys": []}}), "non-empty"),
    (ours({"ParamAngleX": {"interpolation": ["linear"], "keys": [[0, 0], [1, 1], [2, 0]]}}),
     "list of 2"),
    (ours({"ParamAngleX": [[0, 0]]}), "must be an object"),
    ({**ours({}), "loop": "yes"}, "true or false"),
    (ours([]), "curves"),
])
def test_bad_dicts_raise_input_errors(doc, message) -> None:
    with pytest.raises(InputError, match=message):
        motion_from_dict(doc)


# -------------------------------------------------------------------------------- saving

def test_motion3_round_trips_through_our_format(tmp_path: Path) -> None:
    segs = [0, 0, 1, 0.1, 8, 0.3, -4, 1, 4, 2, 1.5, 0, 3, 2, 9, 0, 2.5, 3]
    m = load(tmp_path, motion3([param("ParamAngleX", segs), param("ParamEyeLOpen", [0, 1])],
                               duration=3.0, loop=True, FadeInTime=0.5))
    out = tmp_path / "copy.motion.json"
    save_motion(m, out)
    again = load_motion(out)
    assert (again.duration, again.loop, again.fps, again.fade_in) == (3.0, True, 30.0, 0.5)
    times = np.linspace(-1, 4, 301)
    for pid in m.ids:
        np.testing.assert_array_equal(again.sample_many(times)[pid], m.sample_many(times)[pid])


def test_save_dict_with_numpy_keys_and_other_ids(tmp_path: Path) -> None:
    t = np.linspace(0, 1, 31)
    doc = ours({"ParamAngleX": {"interpolation": "linear", "keys": np.stack([t, 20 * t], 1)},
                "ParamMyOwn": {"interpolation": "smooth", "keys": [[0, 0], [1, 1]]}},
               duration=1.0, fps=np.float64(30), recorded_from="webcam")
    out = tmp_path / "rec" / "take1.motion.json"
    save_motion(doc, out)
    data = json.loads(out.read_text())
    assert data["recorded_from"] == "webcam"
    assert data["curves"]["ParamMyOwn"]["interpolation"] == "smooth"
    m = load_motion(out, known_ids=None)
    assert m.sample(0.5)["ParamAngleX"] == pytest.approx(10.0)
    assert m.sample(0.5)["ParamMyOwn"] == pytest.approx(0.5)
    assert [p.name for p in out.parent.iterdir()] == ["take1.motion.json"]  # no temp files left


def test_saving_a_bad_dict_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bad.motion.json"
    out.write_text("previous contents")
    with pytest.raises(InputError):
        save_motion(ours({"ParamAngleX": {"interpolation": "linear",
                                          "keys": [[1, 0], [0, 1]]}}), out)
    assert out.read_text() == "previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.motion.json"]


def test_default_known_ids_are_the_standard_registry(tmp_path: Path) -> None:
    doc = motion3([param(pid, [0, 0.5]) for pid in PARAM_IDS])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load(tmp_path, doc)
    assert m.ids == PARAM_IDS


# ------------------------------------------------------------------ playback: fades (SDK)

E_QUARTER = 0.5 - 0.5 * np.cos(np.pi / 4)      # e(0.25) = 0.1464466...
E_FIFTH = 0.5 - 0.5 * np.cos(np.pi / 5)        # e(0.2) = 0.0954915...


def test_easing_is_the_sdk_half_cosine() -> None:
    from runtime.drivers.motion import easing_sine
    assert [easing_sine(x) for x in (-1.0, 0.0, 0.5, 1.0, 3.0)] == pytest.approx(
        [0.0, 0.0, 0.5, 1.0, 1.0])
    assert easing_sine(0.25) == pytest.approx(0.14644660940672624)


def test_motion_fades_in_and_out_from_the_pose_before_it(tmp_path: Path) -> None:
    # A constant 20 over 2 s, fading in over 0.5 s and out over 1 s.
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 20])], duration=2.0,
                               FadeInTime=0.5, FadeOutTime=1.0))
    rest = {"ParamAngleX": 0.0}
    assert m.sample(0.0)["ParamAngleX"] == 20.0                      # raw curves stay raw
    expected = {0.0: 0.0, 0.125: 20 * E_QUARTER, 0.25: 10.0, 0.5: 20.0, 1.0: 20.0,
                1.5: 10.0, 1.75: 20 * E_QUARTER, 2.0: 0.0}
    for t, value in expected.items():
        assert m.apply(t, rest)["ParamAngleX"] == pytest.approx(value, abs=1e-12), t
    assert m.weight(0.25) == pytest.approx(0.5) and m.weight(1.5) == pytest.approx(0.5)
    # From a pose that was not at rest: halfway between 10 and 20 at weight 0.5.
    assert m.apply(0.25, {"ParamAngleX": 10.0})["ParamAngleX"] == pytest.approx(15.0)
    # An id missing from the base takes its standard default (AngleX: 0).
    assert m.apply(0.25, {})["ParamAngleX"] == pytest.approx(10.0)


def test_looping_motion_fades_in_once_and_never_out(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 20])], duration=2.0, loop=True,
                               FadeInTime=0.5, FadeOutTime=1.0))
    assert m.apply(0.25, {})["ParamAngleX"] == pytest.approx(10.0)
    assert m.apply(1.75, {})["ParamAngleX"] == pytest.approx(20.0)   # no fade-out
    assert m.apply(2.25, {})["ParamAngleX"] == pytest.approx(20.0)   # no second fade-in


def test_zero_fade_is_full_weight_and_none_is_the_sdks_one_second(tmp_path: Path) -> None:
    zero = load(tmp_path, motion3([param("ParamAngleX", [0, 20])], FadeInTime=0, FadeOutTime=0))
    assert [zero.apply(t, {})["ParamAngleX"] for t in (0.0, 1.0, 1.99)] == [20.0] * 3
    # Without Meta fade times (or with negative ones) the SDK fades over 1 s each way:
    # e(0.5) = 0.5 at t = 0.5; at t = 1.99, e(0.01) = 0.5 - 0.5 cos(0.01 pi).
    for extra in ({}, {"FadeInTime": -1, "FadeOutTime": -1}):
        m = load(tmp_path, motion3([param("ParamAngleX", [0, 20])], **extra))
        assert (m.fade_in, m.fade_out) == (1.0, 1.0)
        got = [m.apply(t, {})["ParamAngleX"] for t in (0.0, 0.5, 1.0, 1.99)]
        expected = [0.0, 10.0, 20.0, 20.0 * (0.5 - 0.5 * math.cos(0.01 * math.pi))]
        assert got == pytest.approx(expected, abs=1e-9)


def test_per_curve_fade_times_override_the_motions(tmp_path: Path) -> None:
    curves = [param("ParamAngleX", [0, 20]),
              {**param("ParamAngleY", [0, 20]), "FadeInTime": 0, "FadeOutTime": -1},
              {**param("ParamAngleZ", [0, 20]), "FadeInTime": 1.0},
              {**param("ParamBodyAngleX", [0, 8]), "FadeInTime": -1, "FadeOutTime": 0}]
    m = load(tmp_path, motion3(curves, duration=2.0, FadeInTime=0.5, FadeOutTime=1.0))
    at = m.apply(0.25, {})
    assert at["ParamAngleX"] == pytest.approx(10.0)            # the motion's 0.5 s fade-in
    assert at["ParamAngleY"] == pytest.approx(20.0)            # 0: no fade-in for this curve
    assert at["ParamAngleZ"] == pytest.approx(20 * E_QUARTER)  # its own 1 s fade-in
    assert at["ParamBodyAngleX"] == pytest.approx(4.0)         # -1: the motion's
    late = m.apply(1.5, {})
    assert late["ParamAngleX"] == pytest.approx(10.0)          # the motion's 1 s fade-out
    assert late["ParamAngleY"] == pytest.approx(10.0)          # -1: the motion's fade-out
    assert late["ParamBodyAngleX"] == pytest.approx(8.0)       # 0: no fade-out
    assert m.curve_fades == {"ParamAngleY": (0.0, None), "ParamAngleZ": (1.0, None),
                             "ParamBodyAngleX": (None, 0.0)}


def test_our_formats_fades_mean_the_same() -> None:
    m = motion_from_dict(ours({"ParamAngleX": {"keys": [[0, 20]]},
                               "ParamAngleY": {"keys": [[0, 20]], "fade_in": 0}},
                              duration=2.0, fade_in=0.5, fade_out=1.0))
    assert m.apply(0.25, {})["ParamAngleX"] == pytest.approx(10.0)
    assert m.apply(1.75, {})["ParamAngleX"] == pytest.approx(20 * E_QUARTER)
    assert m.apply(0.25, {})["ParamAngleY"] == pytest.approx(20.0)


# -------------------------------------------------------------- restricted vs exact beziers

# Handles crowded near the start, on the line v = 10 t: P0 (0,0) P1 (0.1,1) P2 (0.2,2) P3 (1,10).
CROWDED = [0, 0, 1, 0.1, 1.0, 0.2, 2.0, 1, 10]


def test_restricted_beziers_use_the_time_fraction(tmp_path: Path) -> None:
    exact = load(tmp_path, motion3([param("ParamAngleX", CROWDED)], AreBeziersRestricted=False))
    restricted = load(tmp_path, motion3([param("ParamAngleX", CROWDED)],
                                        AreBeziersRestricted=True))
    assert restricted.restricted_beziers and not exact.restricted_beziers
    # Exact: x(s) = t solved, and the curve is the line through its handles.
    assert exact.sample(0.5)["ParamAngleX"] == pytest.approx(5.0, abs=1e-9)
    assert exact.sample(0.25)["ParamAngleX"] == pytest.approx(2.5, abs=1e-9)
    # Restricted: s = t, value = Bernstein(0, 1, 2, 10; s).
    # s = 1/2: (0 + 3*1 + 3*2 + 10) / 8 = 2.375.
    # s = 1/4: 3 (9/16)(1/4) 1 + 3 (3/4)(1/16) 2 + (1/64) 10 = 0.421875 + 0.28125 + 0.15625.
    assert restricted.sample(0.5)["ParamAngleX"] == pytest.approx(2.375, abs=1e-12)
    assert restricted.sample(0.25)["ParamAngleX"] == pytest.approx(0.859375, abs=1e-12)
    # Handles at the thirds: the two agree.
    thirds = [0, 0, 1, 1 / 3, 10 / 3, 2 / 3, 20 / 3, 1, 10]
    a = load(tmp_path, motion3([param("ParamAngleX", thirds)], AreBeziersRestricted=True))
    assert a.sample(0.3)["ParamAngleX"] == pytest.approx(3.0, abs=1e-12)


def test_absent_restriction_flag_is_exact_and_survives_a_round_trip(tmp_path: Path) -> None:
    doc = motion3([param("ParamAngleX", CROWDED)])
    del doc["Meta"]["AreBeziersRestricted"]
    assert load(tmp_path, doc).sample(0.5)["ParamAngleX"] == pytest.approx(5.0, abs=1e-9)
    restricted = load(tmp_path, motion3([param("ParamAngleX", CROWDED)],
                                        AreBeziersRestricted=True))
    out = tmp_path / "r.motion.json"
    save_motion(restricted, out)
    assert load_motion(out).sample(0.5)["ParamAngleX"] == pytest.approx(2.375, abs=1e-12)


# ------------------------------------------------------------- Model curves: EyeBlink, LipSync

def model(pid: str, segments: list[float]) -> dict:
    return {"Target": "Model", "Id": pid, "Segments": segments}


def test_eye_blink_multiplies_eye_curves_and_sets_the_others(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamEyeLOpen", [0, 0.8]), model("EyeBlink", [0, 0.5])]))
    got = m.apply(1.0, {"ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0})
    assert got == pytest.approx({"ParamEyeLOpen": 0.4,      # its curve times the blink
                                 "ParamEyeROpen": 0.5})     # no curve: set to the blink
    faded = load(tmp_path, motion3([param("ParamEyeLOpen", [0, 0.8]), model("EyeBlink", [0, 0.5])],
                                   FadeInTime=1.0))
    # Weight e(0.5) = 0.5 from eyes open (1): 1 + (0.4 - 1) / 2 and 1 + (0.5 - 1) / 2.
    assert faded.apply(0.5, {}) == pytest.approx({"ParamEyeLOpen": 0.7, "ParamEyeROpen": 0.75})


def test_lip_sync_adds_to_the_mouth_curve_or_sets_it(tmp_path: Path) -> None:
    added = load(tmp_path, motion3([param("ParamMouthOpenY", [0, 0.2]),
                                    model("LipSync", [0, 0, 0, 2, 0.6])]))
    assert added.apply(1.0, {})["ParamMouthOpenY"] == pytest.approx(0.2 + 0.3)
    alone = load(tmp_path, motion3([param("ParamAngleX", [0, 5]),
                                    model("LipSync", [0, 0, 0, 2, 0.6])]))
    assert alone.apply(1.0, {}) == pytest.approx({"ParamAngleX": 5.0, "ParamMouthOpenY": 0.3})
    assert alone.sample(1.0) == {"ParamAngleX": 5.0}            # sample stays the raw curves


def test_model_curves_alone_drive_the_rig(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([model("EyeBlink", [0, 1, 0, 1, 0, 0, 2, 1])]))
    assert m.ids == () and m.driven_ids() == ("ParamEyeLOpen", "ParamEyeROpen")
    assert m.apply(1.0, {}) == pytest.approx({"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0})


def test_model3_groups_name_the_driven_ids(tmp_path: Path) -> None:
    from runtime.drivers.motion import load_model3_groups
    model3 = {"Version": 3, "FileReferences": {"Moc": "x.moc3"},
              "Groups": [{"Target": "Parameter", "Name": "EyeBlink", "Ids": ["ParamEyeLOpen"]},
                         {"Target": "Parameter", "Name": "LipSync",
                          "Ids": ["ParamMouthForm", "ParamMouthOpenY"]}]}
    path = write_json(tmp_path, model3, "x.model3.json")
    groups = load_model3_groups(path)
    assert groups == {"EyeBlink": ("ParamEyeLOpen",),
                      "LipSync": ("ParamMouthForm", "ParamMouthOpenY")}
    doc = motion3([param("ParamEyeROpen", [0, 0.8]), param("ParamMouthOpenY", [0, 0.1]),
                   model("EyeBlink", [0, 0.5]), model("LipSync", [0, 0.25])])
    m = load_motion(write_json(tmp_path, doc), groups=groups)
    # EyeROpen is not in this model's blink group: its curve is left alone.
    assert m.apply(1.0, {}) == pytest.approx({"ParamEyeROpen": 0.8, "ParamMouthOpenY": 0.35,
                                              "ParamEyeLOpen": 0.5, "ParamMouthForm": 0.25})
    # A model without the groups: the Model curves drive nothing.
    bare = write_json(tmp_path, {"Version": 3, "FileReferences": {}}, "bare.model3.json")
    assert load_model3_groups(bare) == {"EyeBlink": (), "LipSync": ()}
    m = load_motion(write_json(tmp_path, doc), groups=load_model3_groups(bare))
    assert m.apply(1.0, {}) == pytest.approx({"ParamEyeROpen": 0.8, "ParamMouthOpenY": 0.1})


@pytest.mark.parametrize("doc, message", [
    ([1, 2], "JSON object"),
    ({"Groups": {"Name": "EyeBlink"}}, "Groups"),
    ({"Groups": [{"Name": "EyeBlink", "Ids": "ParamEyeLOpen"}]}, "Ids"),
    ({"Groups": [{"Name": "LipSync", "Ids": [3]}]}, "Ids"),
])
def test_bad_model3_files_are_one_line_errors(tmp_path: Path, doc, message) -> None:
    from runtime.drivers.motion import load_model3_groups
    with pytest.raises(InputError, match=message) as info:
        load_model3_groups(write_json(tmp_path, doc, "m.model3.json"))
    assert "\n" not in str(info.value) and "m.model3.json" in str(info.value)


# ------------------------------------------------------------------------ UserData events

def test_user_data_events_are_kept_and_passed_once(tmp_path: Path) -> None:
    events = [{"Time": 1.2, "Value": "wave"}, {"Time": 0.0, "Value": "start"},
              {"Time": 2.0, "Value": "end"}]
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 1])], user_data=events))
    assert [(e.time, e.value) for e in m.events] == [(0.0, "start"), (1.2, "wave"), (2.0, "end")]
    assert [e.value for e in m.events_between(0.0, 1.2)] == ["start"]
    assert [e.value for e in m.events_between(1.2, 2.0)] == ["wave"]
    assert [e.value for e in m.events_between(2.0, 9.0)] == ["end"]
    looped = load(tmp_path, motion3([param("ParamAngleX", [0, 1])], loop=True,
                                    user_data=[{"Time": 0.5, "Value": "tick"}]))
    passes = looped.events_between(0.0, 5.0)
    assert [(e.time, e.value) for e in passes] == [(0.5, "tick"), (2.5, "tick"), (4.5, "tick")]


@pytest.mark.parametrize("user, message", [
    ({"Time": 1}, "UserData"),
    ([{"Time": 1}], "UserData\\[0\\]"),
    ([{"Time": "1", "Value": "x"}], "must be a number"),
    ([{"Time": -1, "Value": "x"}], "negative"),
])
def test_bad_user_data_is_a_one_line_error(tmp_path: Path, user, message) -> None:
    doc = motion3([param("ParamAngleX", [0, 1])])
    doc["UserData"] = user
    with pytest.raises(InputError, match=message):
        load(tmp_path, doc)


# ------------------------------------------------------------------------- Cubism 2 ids

def test_cubism2_ids_map_to_the_standard_ones_with_one_warning(tmp_path: Path) -> None:
    from runtime.drivers.motion import standard_id
    old = ["PARAM_ANGLE_X", "PARAM_EYE_L_OPEN", "PARAM_MOUTH_OPEN_Y", "PARAM_BREATH",
           "PARAM_BODY_ANGLE_X", "PARAM_EYE_BALL_X", "PARAM_BROW_L_Y", "PARAM_ARM_L_A",
           "PARAM_HAIR_FRONT", "PARAM_TERE"]
    new = ["ParamAngleX", "ParamEyeLOpen", "ParamMouthOpenY", "ParamBreath", "ParamBodyAngleX",
           "ParamEyeBallX", "ParamBrowLY", "ParamArmLA", "ParamHairFront", "ParamCheek"]
    assert [standard_id(x) for x in old] == new
    for same in ("ParamAngleX", "PARAM", "PARAM_", "param_angle_x", "PARTS_01_FACE"):
        assert standard_id(same) == same
    doc = motion3([param(pid, [0, 0.5]) for pid in old])
    with pytest.warns(MotionWarning) as record:
        m = load(tmp_path, doc)
    assert m.ids == tuple(new) and m.unknown_ids == ()
    lines = [str(r.message) for r in record]
    assert len(lines) == 1 and "PARAM_TERE -> ParamCheek" in lines[0]
    assert "PARAM_ANGLE_X -> ParamAngleX" in lines[0]
    assert m.renamed["PARAM_EYE_L_OPEN"] == "ParamEyeLOpen"


def test_a_cubism2_id_beside_its_standard_twin_is_an_error(tmp_path: Path) -> None:
    doc = motion3([param("PARAM_ANGLE_X", [0, 1]), param("ParamAngleX", [0, 2])])
    with pytest.raises(InputError, match="PARAM_ANGLE_X.*ParamAngleX"):
        load(tmp_path, doc)


# ---------------------------------------------------------- a motion that drives nothing

def test_a_motion_driving_no_parameter_of_the_rig_is_an_error(tmp_path: Path) -> None:
    doc = motion3([param("ParamTentacles", [0, 1]),
                   {"Target": "PartOpacity", "Id": "PartArm", "Segments": [0, 1]}])
    with pytest.raises(InputError) as info:
        load(tmp_path, doc)
    text = str(info.value)
    assert "m.motion3.json" in text and "drives no parameter" in text
    assert "ParamTentacles, PartArm" in text and "\n" not in text
    with pytest.raises(InputError, match="the ids it has: none"):
        load(tmp_path, motion3([]))
    # Without a rig to check against, every curve is kept (tools build such motions).
    with pytest.warns(MotionWarning, match="PartArm"):
        assert load(tmp_path, doc, known_ids=None).ids == ("ParamTentacles",)


# ------------------------------------------------------------------------------- loop end

def test_a_looping_motion_ends_on_its_last_key(tmp_path: Path) -> None:
    m = load(tmp_path, motion3([param("ParamAngleX", [0, 0, 0, 2, 20])], duration=2.0, loop=True))
    assert m.sample(0.0)["ParamAngleX"] == pytest.approx(0.0)
    for t in (2.0, 4.0, 6.0):
        assert m.sample(t)["ParamAngleX"] == pytest.approx(20.0), t
    assert m.sample(4.5)["ParamAngleX"] == pytest.approx(5.0)
    np.testing.assert_allclose(m.sample_many([0.0, 2.0, 2.5, 4.0])["ParamAngleX"],
                               [0.0, 20.0, 5.0, 20.0])


# ------------------------------------------------------------------ our format, the extras

def test_round_trip_keeps_fades_model_curves_events_and_restriction(tmp_path: Path) -> None:
    doc = motion3([{**param("ParamAngleX", CROWDED), "FadeInTime": 0.25},
                   param("ParamEyeLOpen", [0, 0.9]), model("EyeBlink", [0, 1, 0, 2, 0])],
                  AreBeziersRestricted=True, FadeInTime=0.5, FadeOutTime=0.5,
                  user_data=[{"Time": 0.75, "Value": "blink"}])
    m = load(tmp_path, doc)
    out = tmp_path / "copy.motion.json"
    save_motion(m, out)
    again = load_motion(out)
    assert again.events == m.events and again.curve_fades == m.curve_fades
    assert again.restricted_beziers and set(again.model_curves) == {"EyeBlink"}
    for t in (0.1, 0.3, 0.8, 1.2, 1.9):
        assert again.apply(t, {}) == pytest.approx(m.apply(t, {}), abs=1e-12)
