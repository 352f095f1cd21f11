"""Motion files: known answers for every segment kind, both formats, looping, errors, saving."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from rig.params import PARAM_IDS
from runtime.drivers.motion import Motion, MotionWarning, load_motion, motion_from_dict, save_motion
from seethrough_core.character import InputError


def motion3(curves: list[dict], duration: float = 2.0, loop: bool = False, **meta) -> dict:
    """A motion3.json document with Meta counts filled in the way Cubism writes them."""
    segments = points = 0
    for curve in curves:
        seg = curve["Segments"]
        pos, points = 2, points + 1
        while pos < len(seg):
            n = 3 if seg[pos] == 1 else 1
            segments, points, pos = segments + 1, points + n, pos + 1 + 2 * n
    return {
        "Version": 3,
        "Meta": {"Duration": duration, "Fps": 30.0, "Loop": loop, "AreBeziersRestricted": True,
                 "CurveCount": len(curves), "TotalSegmentCount": segments,
                 "TotalPointCount": points, "UserDataCount": 0, "TotalUserDataSize": 0, **meta},
        "Curves": curves,
    }


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
                   param("ParamCheek", [0, 1])])
    with pytest.warns(MotionWarning, match="ParamHairFluffiness"):
        m = load(tmp_path, doc)
    assert m.unknown_ids == ("ParamHairFluffiness", "ParamCheek")
    assert set(m.sample(0.0)) == {"ParamAngleX"}
    assert any("ParamCheek" in w for w in m.warnings)


def test_known_ids_none_keeps_every_curve(tmp_path: Path) -> None:
    doc = motion3([param("ParamAngleX", [0, 1]), param("ParamCheek", [0, 0.5])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load(tmp_path, doc, known_ids=None)
    assert m.unknown_ids == ()
    assert m.sample(0.3) == {"ParamAngleX": 1.0, "ParamCheek": 0.5}


def test_part_opacity_and_model_curves_are_ignored_with_a_warning(tmp_path: Path) -> None:
    doc = motion3([param("ParamAngleX", [0, 1]),
                   {"Target": "PartOpacity", "Id": "PartArmA", "Segments": [0, 1, 0, 1, 0]},
                   {"Target": "Model", "Id": "EyeBlink", "Segments": [0, 1]}])
    with pytest.warns(MotionWarning) as record:
        m = load(tmp_path, doc)
    text = " ".join(str(r.message) for r in record)
    assert "PartArmA" in text and "EyeBlink" in text
    assert m.ids == ("ParamAngleX",) and m.unknown_ids == ()


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
