"""Stitching layers cut apart in one picture, and limiting parallax to the painted reach."""
from __future__ import annotations

import numpy as np

from rig.deform import WarpAttributes
from rig.stitch import find_borders, stitch


def _grid(x0, x1, y0, y1, step=2.0):
    xs, ys = np.meshgrid(np.arange(x0, x1 + 0.1, step), np.arange(y0, y1 + 0.1, step))
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)


def _attrs(n, z):
    a = WarpAttributes.empty(n)
    a.w_head[:] = 1.0
    a.z_head[:] = z
    return a


def _evaluate_const(values):
    return lambda j, pts: _attrs(len(pts), values[j])


def test_a_cut_is_stitched_to_one_continuous_surface():
    size = (100, 60)
    left = np.zeros((60, 100), bool)
    left[10:50, 10:50] = True
    right = np.zeros((60, 100), bool)
    right[10:50, 50:90] = True                     # edge to edge: nothing under the other
    borders = find_borders([left, right], [(0, 0), (0, 0)], size, seam=3)
    assert len(borders) == 1 and borders[0].reach.max() < 2
    verts = [_grid(10, 49, 10, 49), _grid(50, 89, 10, 49)]
    attrs = [_attrs(len(verts[0]), 0.0), _attrs(len(verts[1]), 20.0)]
    out = stitch(verts, attrs, borders, seam=3, radius=30, evaluate=_evaluate_const([0.0, 20.0]))
    at_seam_l = out[0].z_head[verts[0][:, 0] == 48]
    at_seam_r = out[1].z_head[verts[1][:, 0] == 50]
    assert np.allclose(at_seam_l, 10.0, atol=1.0) and np.allclose(at_seam_r, 10.0, atol=1.0)
    # It eases back to each layer's own height away from the border (over at least 2.5x the
    # height step, so the surface never tilts enough to fold), and gradually.
    assert (out[0].z_head[verts[0][:, 0] == 10] < 3.0).all()
    assert (out[1].z_head[verts[1][:, 0] == 88] > 17.0).all()
    row = verts[0][:, 1] == 30
    z = out[0].z_head[row][np.argsort(verts[0][row, 0])]
    assert np.abs(np.diff(z)).max() / 2.0 < 0.6


def test_an_overlap_painted_underneath_keeps_its_parallax():
    size = (100, 60)
    lower = np.zeros((60, 100), bool)
    lower[10:50, 10:80] = True                     # continues far under the upper layer
    upper = np.zeros((60, 100), bool)
    upper[10:50, 45:90] = True
    borders = find_borders([lower, upper], [(0, 0), (0, 0)], size, seam=3)
    assert borders and borders[0].reach.min() >= 6
    verts = [_grid(10, 79, 10, 49), _grid(45, 89, 10, 49)]
    attrs = [_attrs(len(verts[0]), 0.0), _attrs(len(verts[1]), 20.0)]
    out = stitch(verts, attrs, borders, seam=3, radius=30, evaluate=_evaluate_const([0.0, 20.0]))
    assert np.allclose(out[0].z_head, 0.0) and np.allclose(out[1].z_head, 20.0)


def test_an_overlap_painted_only_a_little_way_moves_no_further_than_that():
    size = (120, 60)
    lower = np.zeros((60, 120), bool)
    lower[10:50, 10:56] = True                     # 6 px under the upper layer
    upper = np.zeros((60, 120), bool)
    upper[10:50, 50:100] = True
    borders = find_borders([lower, upper], [(0, 0), (0, 0)], size, seam=2)
    reach = float(np.median(borders[0].reach))
    assert 4 <= reach <= 8
    verts = [_grid(10, 55, 10, 49), _grid(50, 99, 10, 49)]
    attrs = [_attrs(len(verts[0]), 0.0), _attrs(len(verts[1]), 40.0)]
    out = stitch(verts, attrs, borders, seam=2, radius=20, evaluate=_evaluate_const([0.0, 40.0]))
    near = np.abs(verts[0][:, 0] - 49) < 1.5
    gap = 40.0 - out[0].z_head[near]
    # At 30 degrees the two slide by half their height difference: within the painted reach.
    assert (0.5 * gap <= reach + 1.0).all()
    assert np.allclose(out[1].z_head, 40.0)        # the upper layer keeps its place


def test_head_and_body_parts_are_never_stitched():
    size = (100, 60)
    a = np.zeros((60, 100), bool)
    a[10:50, 10:50] = True
    b = np.zeros((60, 100), bool)
    b[10:50, 50:90] = True
    borders = find_borders([a, b], [(0, 0), (0, 0)], size, seam=3)
    verts = [_grid(10, 49, 10, 49), _grid(50, 89, 10, 49)]
    attrs = [_attrs(len(verts[0]), 0.0), _attrs(len(verts[1]), 20.0)]
    out = stitch(verts, attrs, borders, 3, 30, _evaluate_const([0.0, 20.0]), ["head", "body"])
    assert np.allclose(out[0].z_head, 0.0) and np.allclose(out[1].z_head, 20.0)
    out = stitch(verts, attrs, borders, 3, 30, _evaluate_const([0.0, 20.0]), rigid=[True, False])
    assert np.allclose(out[1].z_head, 20.0)


def test_a_rig_of_two_cut_hair_layers_opens_no_gap_when_the_head_turns():
    from seethrough_core.character import Character, Layer
    from rig.autorig import build_spec
    from rig.model import Rig
    from runtime.sessions import motion_eval as me
    h, w = 256, 256
    yy, xx = np.mgrid[0:h, 0:w]
    face = ((xx - 128) / 60.0) ** 2 + ((yy - 140) / 70.0) ** 2 <= 1
    hair = (((xx - 128) / 90.0) ** 2 + ((yy - 120) / 100.0) ** 2 <= 1) & ~face & (yy < 200)

    def layer(tag, mask, colour, depth):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[mask, :3] = colour
        rgba[mask, 3] = 255
        return Layer(tag, rgba, tag=tag, depth=np.full((h, w), depth, np.float32))

    # One hair mass cut in two by a straight line, at two depths (as a decomposition might).
    near, far = hair & (xx < 128), hair & (xx >= 128)
    char = Character((w, h), [layer("back hair", far, (60, 40, 40), 0.95),
                              layer("back hair", near, (60, 40, 40), 0.55),
                              layer("face", face, (250, 220, 200), 0.5)])
    rig = Rig(build_spec(char))
    frames = me.render_poses(rig, [me.EVAL_POSES[0], me.EVAL_POSES[1]], quality="draft")
    new = me.crack_pixels(frames["yaw+25"]) & ~me.crack_pixels(frames["rest"])
    assert new[:, 120:136].sum() <= 4
