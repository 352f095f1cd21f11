"""The shared blendshape mapping (runtime.drivers.arkit): ARKit names in every spelling trackers
use, VRM presets, partial senders, head angles and mirroring, against worked-out numbers."""
from __future__ import annotations

import math

import pytest

from runtime.drivers.arkit import (ARKIT_NAMES, arkit_name, arkit_params, face_params,
                                   head_params, mirror_params, vrm_name, vrm_params)


def test_names_in_every_spelling_trackers_use():
    assert len(ARKIT_NAMES) == len(set(ARKIT_NAMES)) == 52
    for spelling in ("eyeBlinkLeft", "eyeBlink_L", "EyeBlinkLeft", "eyeblinkleft", " eyeBlink_L"):
        assert arkit_name(spelling) == "eyeBlinkLeft"
    assert arkit_name("browInnerUp") == "browInnerUp"       # no side
    assert arkit_name("mouthLeft") == "mouthLeft"           # "Left" that is not a side suffix
    assert arkit_name("hapihapi") is None and arkit_name("Blink_L") is None
    assert vrm_name("Blink_L") == vrm_name("blinkLeft") == "blinkLeft"
    assert vrm_name("A") == vrm_name("aa") == "aa"
    assert vrm_name("Joy") == vrm_name("happy") == "happy"
    assert vrm_name("Sorrow") == "sad" and vrm_name("Fun") == "relaxed"
    assert vrm_name("eyeBlinkLeft") is None


def test_arkit_blendshapes_give_the_known_numbers():
    p = arkit_params({"eyeBlinkLeft": 0.95, "eyeBlinkRight": 0.05, "jawOpen": 0.5,
                      "mouthSmileLeft": 0.6, "mouthSmileRight": 0.4, "mouthFrownLeft": 0.2,
                      "eyeLookOutLeft": 0.3, "eyeLookInRight": 0.3, "eyeLookUpLeft": 0.1,
                      "eyeLookUpRight": 0.1, "browInnerUp": 0.4, "browOuterUpLeft": 0.3,
                      "browDownRight": 0.5, "eyeSquintLeft": 0.4, "eyeSquintRight": 0.1,
                      "cheekPuff": 1.0})
    assert p["ParamEyeLOpen"] == 0.0 and p["ParamEyeROpen"] == 1.0       # a wink stays one
    assert p["ParamMouthOpenY"] == pytest.approx(0.6)                     # 1.2 * 0.5
    assert p["ParamMouthForm"] == pytest.approx(1.5 * (0.5 - 0.1))
    assert p["ParamEyeBallX"] == pytest.approx(0.6)     # both eyes look to the screen's right
    assert p["ParamEyeBallY"] == pytest.approx(0.2)
    assert p["ParamBrowLY"] == pytest.approx(0.5)       # 0.5 * 0.4 + 0.3
    assert p["ParamBrowRY"] == pytest.approx(-0.3)      # 0.2 - 0.5
    assert p["ParamBrowLAngle"] == pytest.approx(0.4)   # inner end up: worried
    assert p["ParamBrowRAngle"] == pytest.approx(-0.1)
    assert p["ParamEyeLSmile"] == pytest.approx(0.5) and p["ParamEyeRSmile"] == 0.0
    assert "ParamCheek" not in p                        # a puffed cheek is not a blush
    # Eyes within 0.25 of each other blink together.
    p = arkit_params({"eyeBlinkLeft": 0.45, "eyeBlinkRight": 0.35})
    assert p["ParamEyeLOpen"] == p["ParamEyeROpen"] == pytest.approx(0.7)   # 0.6 and 0.8


def test_a_partial_sender_only_drives_what_it_sent():
    assert arkit_params({"jawOpen": 0.25}) == {"ParamMouthOpenY": pytest.approx(0.3)}
    assert set(arkit_params({"jawOpen": 0.25}, complete=True)) >= {
        "ParamEyeLOpen", "ParamEyeBallX", "ParamBrowLY", "ParamMouthForm", "ParamEyeRSmile"}
    # Out-of-range and NaN values are clamped / read as 0, never passed on.
    p = arkit_params({"jawOpen": 7.0, "eyeBlinkLeft": math.nan, "eyeBlinkRight": -3.0})
    assert p == {"ParamMouthOpenY": 1.0, "ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0}


def test_vrm_presets_give_the_known_numbers():
    p = vrm_params({"blink": 0.2, "blinkLeft": 0.9, "aa": 0.5, "oh": 0.25, "happy": 0.5,
                    "angry": 0.5, "lookLeft": 0.7, "lookDown": 0.4})
    assert p["ParamEyeLOpen"] == pytest.approx(0.1) and p["ParamEyeROpen"] == pytest.approx(0.8)
    assert p["ParamMouthOpenY"] == pytest.approx(0.7)         # 0.5 + 0.8 * 0.25
    assert p["ParamMouthForm"] == pytest.approx(0.2)          # 0.5 - 0.6 * 0.5
    assert p["ParamEyeLSmile"] == p["ParamEyeRSmile"] == pytest.approx(0.5)
    assert p["ParamBrowLY"] == p["ParamBrowRY"] == pytest.approx(-0.25)
    assert p["ParamBrowLAngle"] == pytest.approx(-0.5)        # angry: inner ends down
    assert p["ParamEyeBallX"] == pytest.approx(0.7)           # the avatar's left: screen right
    assert p["ParamEyeBallY"] == pytest.approx(-0.4)
    assert vrm_params({"aa": 1.0}) == {"ParamMouthOpenY": 1.0}      # lip-sync alone


def test_a_sender_naming_both_is_read_at_its_arkit_values():
    # VRM 0.x spellings from VSeeFace, plus perfect-sync names: the ARKit ones win.
    p = face_params({"Blink": 1.0, "A": 1.0, "eyeBlinkLeft": 0.0, "EyeBlinkRight": 0.0,
                     "jawOpen": 0.25, "hapihapi": 3.0})
    assert p == {"ParamEyeLOpen": 1.0, "ParamEyeROpen": 1.0, "ParamMouthOpenY": pytest.approx(0.3)}
    p = face_params({"Blink_R": 1.0, "Joy": 1.0})
    assert p["ParamEyeROpen"] == 0.0 and p["ParamEyeLOpen"] == 1.0 and p["ParamMouthForm"] == 1.0
    assert face_params({"unknown": 1.0}) == {}


def test_head_angles_clip_and_the_body_follows_unless_given():
    p = head_params(40.0, -10.0, 5.0)
    assert (p["ParamAngleX"], p["ParamAngleY"], p["ParamAngleZ"]) == (30.0, -10.0, 5.0)
    assert p["ParamBodyAngleX"] == pytest.approx(10.0)        # 0.3 * 40, clipped to 10
    assert p["ParamBodyAngleY"] == pytest.approx(-3.0)
    p = head_params(10.0, 0.0, 0.0, body=(-4.0, 2.0, 1.0))
    assert (p["ParamBodyAngleX"], p["ParamBodyAngleY"], p["ParamBodyAngleZ"]) == (-4.0, 2.0, 1.0)
    assert head_params(math.nan, 0.0, 0.0) == {}


def test_mirroring_swaps_sides_and_screen_directions():
    p = {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 1.0, "ParamAngleX": 12.0, "ParamAngleY": 5.0,
         "ParamAngleZ": -3.0, "ParamEyeBallX": 0.4, "ParamBrowLAngle": -0.5,
         "ParamMouthOpenY": 0.7, "ParamEyeLSmile": 0.3}
    m = mirror_params(p)
    assert m == {"ParamEyeLOpen": 1.0, "ParamEyeROpen": 0.0, "ParamAngleX": -12.0,
                 "ParamAngleY": 5.0, "ParamAngleZ": 3.0, "ParamEyeBallX": -0.4,
                 "ParamBrowRAngle": -0.5, "ParamMouthOpenY": 0.7, "ParamEyeRSmile": 0.3}
    assert mirror_params(m) == p
