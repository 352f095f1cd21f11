"""Anchors measured from the layers agree with where the example character was drawn."""
import numpy as np
import pytest

from examples.character import example_geometry
from rig.anchors import find_anchors


@pytest.fixture(scope="module")
def anchors(example_character):
    return find_anchors(example_character)


@pytest.fixture(scope="module")
def truth():
    return example_geometry(size=512)


def close(a, b, tol):
    return np.linalg.norm(np.subtract(a, b)) <= tol


def test_eyes_are_found_on_the_right_sides(anchors, truth):
    tol = 0.02 * 512
    for side in ("l", "r"):
        assert close(anchors.eyes[side].center, truth["eye_center"][side], 2 * tol)
        assert close(anchors.eyes[side].iris_center, truth["iris_center"][side], 2 * tol)
    # The character's left eye is on the image's right.
    assert anchors.eyes["l"].center[0] > anchors.eyes["r"].center[0]


def test_closing_line_is_the_eyewhite_lower_edge(anchors, truth):
    for side in ("l", "r"):
        e = anchors.eyes[side]
        assert abs(e.closing_y(e.center[0]) - truth["eye_closing_y"][side]) <= 0.012 * 512


def test_mouth_neck_and_body(anchors, truth):
    tol = 0.03 * 512
    assert close(anchors.mouth_center, truth["mouth_center"], tol)
    for found, true in zip(sorted(anchors.mouth_corners), sorted(truth["mouth_corners"])):
        assert close(found, true, tol)
    assert close(anchors.neck_pivot, truth["neck_pivot"], 2 * tol)
    for found, true in zip(sorted(anchors.shoulders), sorted(truth["shoulders"])):
        assert close(found, true, 3 * tol)
    assert abs(anchors.hip[1] - truth["hip"][1]) <= 4 * tol
    assert close(anchors.face_center, truth["face_center"], 2 * tol)


def test_sample_psd_anchors_are_plausible(sample_character):
    a = find_anchors(sample_character)
    # One eyewhite layer holding both eyes is split by components: both eyes found, ordered.
    assert set(a.eyes) == {"l", "r"}
    assert a.eyes["l"].center[0] > a.eyes["r"].center[0]
    assert a.eyes["r"].center[1] < a.mouth_center[1] < a.neck_pivot[1] < a.shoulders[0][1] < a.hip[1]


def test_no_face_is_a_clear_error():
    from seethrough_core.character import Character, InputError, Layer
    blob = np.zeros((10, 10, 4), np.uint8)
    blob[..., 3] = 255
    with pytest.raises(InputError, match="face"):
        find_anchors(Character((10, 10), [Layer("x", blob, tag="topwear")]))


W, H = 600, 900


def _canvas():
    return np.zeros((H, W, 4), np.uint8)


def _shoulder_rows(parts):
    """The shoulders' rows found on a 600x900 figure of ``parts`` ((tag, RGBA) pairs, bottom
    first) with a face ellipse on top."""
    import cv2

    from seethrough_core.character import Character, Layer
    face = _canvas()
    cv2.ellipse(face, (300, 160), (90, 110), 0, 0, 360, (250, 222, 205, 255), -1)
    layers = [Layer(tag, rgba, tag=tag) for tag, rgba in parts]
    layers.append(Layer("face", face, tag="face"))
    (_, ly), (_, ry) = find_anchors(Character((W, H), layers)).shoulders
    return ly, ry


def test_shoulders_are_where_the_sleeves_meet_the_top_not_at_a_wide_hem():
    # A single picture's top often comes with its skirt or coat hem, wider than the shoulders,
    # and its sleeves cut apart: the shoulders are where the figure first gets half as wide
    # again as the face below the chin, not where the top is widest.
    import cv2
    top = _canvas()
    # A torso 160 px wide from the neck down, flaring to a 500 px hem.
    cv2.fillPoly(top, [np.array([(220, 320), (380, 320), (550, 880), (50, 880)], np.int32)],
                 (60, 70, 110, 255))
    sleeves = _canvas()
    for x in (150, 450):
        cv2.rectangle(sleeves, (x - 60, 320), (x + 60, 700), (60, 70, 110, 255), -1)
    ly, ry = _shoulder_rows([("topwear", top), ("handwear", sleeves)])
    assert 310 <= ly <= 360 and ly == ry


def test_shoulders_are_found_with_a_neckline_cut_out_of_the_top():
    # A top with a deep scoop neckline: the bare chest inside it is the neck's layer. The
    # shoulders are still at the top's shoulder line, not lower where the neckline closes.
    import cv2
    top = _canvas()
    cv2.rectangle(top, (120, 330), (480, 880), (60, 70, 110, 255), -1)
    neck = _canvas()
    cv2.rectangle(neck, (260, 260), (340, 330), (240, 210, 195, 255), -1)
    cv2.ellipse(neck, (300, 330), (140, 110), 0, 0, 180, (240, 210, 195, 255), -1)
    top[neck[..., 3] > 0] = 0                            # the neckline's scoop
    ly, ry = _shoulder_rows([("neck", neck), ("topwear", top)])
    assert 325 <= ly <= 345 and ly == ry



def test_shoulders_of_a_bust_whose_widest_rows_are_bare_neck():
    # A tight bust: bare shoulders (the neck's layer) fill the rows under the chin, the top
    # only shows along the bottom edge. The shoulders' row had no top in it (a crash); it is
    # the first wide row, spanning the bare shoulders.
    import cv2
    neck = _canvas()
    cv2.rectangle(neck, (60, 300), (540, 800), (240, 210, 195, 255), -1)
    top = _canvas()
    cv2.rectangle(top, (100, 800), (500, 899), (60, 70, 110, 255), -1)
    from seethrough_core.character import Character, Layer
    face = _canvas()
    cv2.ellipse(face, (300, 160), (90, 110), 0, 0, 360, (250, 222, 205, 255), -1)
    layers = [Layer("neck", neck, tag="neck"), Layer("topwear", top, tag="topwear"),
              Layer("face", face, tag="face")]
    (lx, ly), (rx, ry) = find_anchors(Character((W, H), layers)).shoulders
    assert 295 <= ly <= 310 and ly == ry and lx <= 61 and rx >= 540
