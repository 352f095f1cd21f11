"""The rest of Live2D's standard parameters deform the rig as Live2D models use them: eye smile,
iris size, brow X / angle / form, cheek blush, arms, shoulders and the hair swing parameters."""
from __future__ import annotations

import numpy as np
import pytest

from rig.features import BROW_SHIFT, IRIS_FORM_SCALE, SHRUG_LIFT, SMILE_LIFT
from rig.model import HAIR_PARAM_ANGLE
from rig.params import PARAM_IDS, spec


def layers(rig, tag, variant=None):
    return [i for i, l in enumerate(rig.spec.layers) if l.tag == tag and l.variant == variant]


def settled(rig, params, frames=1):
    rig.reset()
    pose = None
    for _ in range(frames):
        pose = rig.pose(params, 1 / 60)
    return pose.vertices.astype(np.float64).copy(), pose


def side_of(rig, i):
    """The eye a layer belongs to ('l' or 'r'), by its side or by where it lies."""
    layer = rig.spec.layers[i]
    if layer.side:
        return layer.side
    x = layer.mesh.vertices[:, 0].mean()
    return "l" if x > rig.anchors.face_center[0] else "r"


def test_the_standard_ids_and_ranges_are_live2ds():
    for pid, lo, default, hi in [("ParamEyeLSmile", 0, 0, 1), ("ParamEyeBallForm", -1, 0, 1),
                                 ("ParamBrowRAngle", -1, 0, 1), ("ParamBrowLForm", -1, 0, 1),
                                 ("ParamBrowLX", -1, 0, 1), ("ParamCheek", 0, 0, 1),
                                 ("ParamArmLA", -30, 0, 30), ("ParamArmRB", -30, 0, 30),
                                 ("ParamShoulderY", -10, 0, 10), ("ParamHairFront", -1, 0, 1),
                                 ("ParamHairSide", -1, 0, 1), ("ParamHairBack", -1, 0, 1)]:
        p = spec(pid)
        assert (p.min, p.default, p.max) == (lo, default, hi), pid
    assert len(set(PARAM_IDS)) == len(PARAM_IDS)


def test_eye_smile_raises_the_lower_lid_in_the_middle(example_rig):
    rig = example_rig
    rest, _ = settled(rig, {})
    smile, _ = settled(rig, {"ParamEyeLSmile": 1.0, "ParamEyeRSmile": 1.0})
    for i in layers(rig, "eyewhite"):
        a, b = rig.ranges[i]
        eye = rig.anchors.eyes[side_of(rig, i)]
        r, s = rest[a:b], smile[a:b]
        middle = np.abs(r[:, 0] - eye.center[0]) < 0.15 * eye.size[0]
        bottom = middle & (r[:, 1] > r[middle, 1].max() - 0.1 * eye.size[1])
        top_y = eye.top_y(r[bottom, 0])
        # y' = y - lift (y - y_top) with lift = SMILE_LIFT (1 - u^2 / 2) near the middle.
        expected = r[bottom, 1] - SMILE_LIFT * (r[bottom, 1] - top_y)
        assert np.abs(s[bottom, 1] - expected).max() < 0.03 * SMILE_LIFT * eye.size[1] + 0.5
        assert (s[bottom, 1] < r[bottom, 1] - 0.3 * eye.size[1]).all()
        # The upper edge stays where it is.
        top = middle & (r[:, 1] < r[middle, 1].min() + 0.05 * eye.size[1])
        assert np.abs(s[top, 1] - r[top, 1]).max() < 0.06 * eye.size[1] + 0.5
    # Only the eye smiled that was asked to.
    one, _ = settled(rig, {"ParamEyeLSmile": 1.0})
    for i in layers(rig, "eyewhite"):
        a, b = rig.ranges[i]
        moved = np.abs(one[a:b] - rest[a:b]).max()
        assert (moved > 1.0) == (side_of(rig, i) == "l")


def test_eyeball_form_scales_the_iris_about_its_centre(example_rig):
    rig = example_rig
    rest, _ = settled(rig, {})
    for form in (1.0, -1.0):
        big, _ = settled(rig, {"ParamEyeBallForm": form})
        for i in layers(rig, "irides"):
            a, b = rig.ranges[i]
            width_rest = np.ptp(rest[a:b, 0])
            np.testing.assert_allclose(np.ptp(big[a:b, 0]), width_rest * (1 + IRIS_FORM_SCALE * form),
                                       rtol=1e-4)
            np.testing.assert_allclose(big[a:b].mean(axis=0), rest[a:b].mean(axis=0), atol=1e-3)


def test_brows_move_across_tilt_and_bend(example_rig):
    rig = example_rig
    rest, _ = settled(rig, {})
    brows = layers(rig, "eyebrow")
    assert len(brows) == 2
    centre_x = rig.anchors.face_center[0]

    together, _ = settled(rig, {"ParamBrowLX": -1.0, "ParamBrowRX": -1.0})
    for i in brows:
        a, b = rig.ranges[i]
        eye = rig.anchors.eyes[side_of(rig, i)]
        inward = np.sign(centre_x - rest[a:b, 0].mean())
        shift = together[a:b, 0] - rest[a:b, 0]
        np.testing.assert_allclose(shift, inward * BROW_SHIFT * eye.size[0], atol=1e-3)

    angry, _ = settled(rig, {"ParamBrowLAngle": -1.0, "ParamBrowRAngle": -1.0})
    for i in brows:
        a, b = rig.ranges[i]
        r, s = rest[a:b], angry[a:b]
        inner = np.argmin(np.abs(r[:, 0] - centre_x))
        outer = np.argmax(np.abs(r[:, 0] - centre_x))
        assert s[inner, 1] - r[inner, 1] > 1.0       # the inner end drops (y down) ...
        assert s[outer, 1] - r[outer, 1] < -1.0      # ... the outer end rises

    arched, _ = settled(rig, {"ParamBrowLForm": 1.0, "ParamBrowRForm": 1.0})
    for i in brows:
        a, b = rig.ranges[i]
        r, s = rest[a:b], arched[a:b]
        cx = r[:, 0].mean()
        middle = np.abs(r[:, 0] - cx) < 0.1 * np.ptp(r[:, 0])
        ends = np.abs(r[:, 0] - cx) > 0.45 * np.ptp(r[:, 0])
        lift = r[:, 1] - s[:, 1]
        assert lift[middle].mean() > 2.0 and np.abs(lift[ends]).max() < 0.25 * lift[middle].mean()


def test_cheek_shows_the_drawn_blush_and_nothing_at_rest(example_rig):
    rig = example_rig
    blush = layers(rig, "face", "blush")
    assert len(blush) == 1
    face = layers(rig, "face")[0]
    assert blush[0] == face + 1                       # right over the skin, under the features
    layer = rig.spec.layers[blush[0]]
    alpha = layer.texture[..., 3]
    ys, xs = np.nonzero(alpha > 64)
    x0, y0 = layer.offset
    eyes = rig.anchors.eyes
    # Below the eyes and on both cheeks.
    assert (ys + y0).min() > min(e.center[1] for e in eyes.values())
    assert (xs + x0).min() < eyes["r"].center[0] + eyes["r"].size[0]
    assert (xs + x0).max() > eyes["l"].center[0] - eyes["l"].size[0]
    rgb = layer.texture[alpha > 64, :3].astype(float).mean(axis=0)
    assert rgb[0] > rgb[1] + 30 and rgb[0] > rgb[2] + 10   # a flush of red
    _, pose = settled(rig, {})
    assert pose.layer_alpha[blush[0]] == 0.0
    _, pose = settled(rig, {"ParamCheek": 0.6})
    assert pose.layer_alpha[blush[0]] == pytest.approx(0.6)


def test_a_blush_layer_in_the_art_is_used_not_drawn_again():
    from seethrough_core.taxonomy import parse_name
    for name in ("blush", "頬", "照れ", "cheek"):
        parsed = parse_name(name)
        assert (parsed.tag, parsed.variant) == ("face", "blush"), name


def test_arms_swing_from_the_shoulder(example_rig):
    rig = example_rig
    arms = layers(rig, "handwear")
    assert arms
    rest, _ = settled(rig, {})
    raised, _ = settled(rig, {"ParamArmLA": 30.0, "ParamArmRA": 30.0}, frames=2)
    body_x = rig.anchors.body_center_x
    for i in arms:
        a, b = rig.ranges[i]
        r, s = rest[a:b], raised[a:b]
        for side in (r[:, 0] < body_x, r[:, 0] >= body_x):
            if side.sum() < 10:
                continue
            out = 1.0 if r[side, 0].mean() > body_x else -1.0
            low = side & (r[:, 1] > np.percentile(r[side, 1], 95))
            high = side & (r[:, 1] <= np.percentile(r[side, 1], 3))
            # The hand end swings outward and up, the shoulder end stays.
            assert out * (s[low, 0] - r[low, 0]).mean() > 0.2 * np.ptp(r[side, 1]) * np.sin(
                np.radians(30))
            assert (s[low, 1] < r[low, 1]).all()
            assert np.abs(s[high] - r[high]).max() < 0.05 * np.ptp(r[side, 1]) + 0.5


def test_shoulders_shrug_and_the_collar_stays(example_rig):
    rig = example_rig
    top = layers(rig, "topwear")[0]
    rest, _ = settled(rig, {})
    up, _ = settled(rig, {"ParamShoulderY": 10.0})
    a, b = rig.ranges[top]
    r, s = rest[a:b], up[a:b]
    sh = rig.anchors.shoulders
    rb = 0.5 * (sh[1][0] - sh[0][0])
    corner = np.abs(r[:, 0] - rig.anchors.body_center_x) > 0.85 * rb
    corner &= np.abs(r[:, 1] - sh[0][1]) < 0.05 * rb
    middle = np.abs(r[:, 0] - rig.anchors.body_center_x) < 0.2 * rb
    assert corner.any() and middle.any()
    np.testing.assert_allclose(r[corner, 1] - s[corner, 1], SHRUG_LIFT * rb, rtol=0.15)
    assert np.abs(s[middle] - r[middle]).max() < 1e-6
    down, _ = settled(rig, {"ParamShoulderY": -10.0})
    np.testing.assert_allclose(down[a:b][corner, 1] - r[corner, 1], SHRUG_LIFT * rb, rtol=0.15)


@pytest.mark.parametrize("pid,group", [("ParamHairFront", "front hair"),
                                       ("ParamHairBack", "back hair")])
def test_hair_params_bend_their_chains_and_read_back(example_rig, pid, group):
    rig = example_rig
    chains = [c for c, spec_ in enumerate(rig.chain_specs) if spec_.group == group]
    assert chains
    rig.reset()
    for _ in range(240):                            # 4 s: the springs settle at the bias
        rig.pose({pid: 1.0}, 1 / 60)
    positions, _ = rig.chain_state()
    starts = np.cumsum([0] + [len(c.rest) for c in rig.chain_specs])
    for c in chains:
        rest = rig.chain_specs[c].rest
        now = positions[starts[c]:starts[c + 1]]
        before = rest[-1] - rest[0]
        after = now[-1] - now[0]
        turn = np.degrees(np.arctan2(before[0] * after[1] - before[1] * after[0],
                                     before @ after))
        # + on the parameter swings a hanging chain's tip toward the screen's right
        # (counterclockwise as seen on screen; a negative angle in image axes, y down) by about
        # the set angle.
        assert -turn == pytest.approx(np.degrees(HAIR_PARAM_ANGLE), abs=6.0), (c, turn)
    swing = rig.hair_swing()
    assert swing[pid] == pytest.approx(1.0, abs=0.3)
    rig.reset()
    for _ in range(120):
        rig.pose({}, 1 / 60)
    assert abs(rig.hair_swing()[pid]) < 0.05
