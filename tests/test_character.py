import numpy as np
import pytest

from seethrough_core.character import Character, Layer


def solid(h, w, rgba):
    return np.broadcast_to(np.array(rgba, np.uint8), (h, w, 4)).copy()


def test_layer_validates_its_fields():
    with pytest.raises(ValueError):
        Layer("x", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError):
        Layer("x", np.zeros((4, 4, 4), np.float32))
    with pytest.raises(ValueError):
        Layer("x", solid(2, 2, (0, 0, 0, 255)), tag="tentacles")
    with pytest.raises(ValueError):
        Layer("x", solid(2, 2, (0, 0, 0, 255)), depth=np.zeros((3, 3)))


def test_bbox_and_crop():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[2:5, 3:9] = (10, 20, 30, 255)
    layer = Layer("face", rgba, offset=(100, 50), tag="face", depth=np.full((10, 10), 0.3))
    c = layer.cropped()
    assert c.bbox == (103, 52, 109, 55)
    assert c.depth.shape == (3, 6)
    assert Layer("e", np.zeros((3, 3, 4), np.uint8)).cropped().rgba.shape == (0, 0, 4)


def test_composite_is_porter_duff_over_in_drawing_order():
    bottom = Layer("a", solid(4, 4, (255, 0, 0, 255)), (0, 0))
    top = Layer("b", solid(2, 2, (0, 0, 255, 128)), (1, 1))
    ch = Character((4, 4), [bottom, top])
    out = ch.composite()
    assert tuple(out[0, 0]) == (255, 0, 0, 255)
    r, g, b, a = out[1, 1].astype(int)
    assert a == 255 and abs(r - 127) <= 1 and abs(b - 128) <= 1 and g == 0


def test_composite_of_two_half_transparent_layers_has_correct_straight_colour():
    # Over of two 50% layers: alpha 0.75, colour weighted 2:1 toward the top layer.
    ch = Character((1, 1), [Layer("a", solid(1, 1, (255, 0, 0, 128))),
                            Layer("b", solid(1, 1, (0, 0, 255, 128)))])
    r, g, b, a = ch.composite()[0, 0].astype(int)
    assert abs(a - 191) <= 1 and abs(b - 170) <= 2 and abs(r - 85) <= 2


def test_rest_composite_leaves_out_open_mouth_and_closed_eyes():
    base = Layer("face", solid(4, 4, (200, 150, 120, 255)), tag="face")
    closed = Layer("mouth_close", solid(1, 1, (0, 0, 0, 255)), (1, 1), tag="mouth", variant="mouth_close")
    opened = Layer("mouth_open", solid(1, 1, (255, 0, 0, 255)), (2, 2), tag="mouth", variant="mouth_open")
    eye = Layer("eye_close", solid(1, 1, (0, 255, 0, 255)), (3, 3), tag="eyelash", variant="eye_close")
    ch = Character((4, 4), [base, closed, opened, eye])
    rest = ch.rest_composite()
    assert tuple(rest[1, 1]) == (0, 0, 0, 255)
    assert tuple(rest[2, 2]) == (200, 150, 120, 255)
    assert tuple(rest[3, 3]) == (200, 150, 120, 255)
    assert tuple(ch.composite()[2, 2]) == (255, 0, 0, 255)


def test_layers_off_canvas_are_clipped():
    ch = Character((4, 4), [Layer("a", solid(4, 4, (9, 9, 9, 255)), (-2, 3))])
    out = ch.composite()
    assert out[3, :2, 3].tolist() == [255, 255] and out[3, 2:, 3].tolist() == [0, 0]


def test_sort_by_depth_puts_far_layers_first_and_is_stable():
    mk = lambda n, d: Layer(n, solid(1, 1, (0, 0, 0, 255)), depth=None if d is None else np.full((1, 1), d))
    ch = Character((1, 1), [mk("near", 0.1), mk("far", 0.9), mk("mid", 0.5), mk("tie", 0.5)])
    ch.sort_by_depth()
    assert [l.name for l in ch.layers] == ["far", "mid", "tie", "near"]


def test_canvas_must_be_positive():
    with pytest.raises(ValueError):
        Character((0, 10))
