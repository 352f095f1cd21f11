"""Puppets built from one picture, measured in motion on real pictures (../shared/data) and on
variants of the sample made with other hair colours, crops, backgrounds, glasses and ears."""
from __future__ import annotations

import numpy as np
import pytest

from runtime.sessions import motion_eval as me
from runtime.commands.eval_motion import check_targets

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_truth(sample_character):
    return sample_character


@pytest.fixture(scope="module")
def variants(sample_truth):
    from examples.variants import make_variants
    return make_variants(sample_truth)


def _puppet(decomposed, image):
    from rig.autorig import autorig
    return autorig(decomposed(image))


def test_the_flattened_sample_moves_like_its_true_layers(sample_truth, decomposed):
    from rig.autorig import autorig
    from seethrough_core.evaluate import rest_layers
    image = rest_layers(sample_truth).composite()
    result = me.compare_puppets(autorig(sample_truth), _puppet(decomposed, image),
                                image=image)
    targets = check_targets(result, with_truth=True)
    assert all(targets.values()), {k: v for k, v in targets.items() if not v}
    poses = result["poses"]
    for name in me.MOVING:
        assert poses[name]["psnr"] >= poses[name]["static_psnr"] + 5
    assert result["summary"]["mean_moving_psnr"] >= 24


def _checks(rig, image):
    result = me.evaluate_puppet(rig, image)
    s = result["summary"]
    assert min(s["rest_psnr"], s["rest_head_psnr"]) >= 38            # rest is the picture
    assert s["max_cracks"] <= 0.006, result["poses"]
    assert s["iris_unchanged"] <= 0.25 and s["iris_skin"] >= 0.45    # eyes really close
    assert s["hair_layers"] >= 1 and s["hair_chains"] >= 2
    assert s["min_face_travel_yaw"] >= 0.05                            # it moves honestly
    # No chain folds its layer over itself (a flap of stretched hair) in a turn, nod or tilt.
    from rig.chain_check import FOLD_POSES, MIN_FOLD, settle
    for params in FOLD_POSES:
        settle(rig, params)
        assert all(share < MIN_FOLD for _, share, _ in rig.cage_folds()), params
    return result


@pytest.mark.parametrize("name", ["seethrough-test-image.png", "seethrough-test-image1.png"])
def test_illustrations_hold_up_in_motion(shared_data, decomposed, name):
    from seethrough_core.decompose import load_image
    path = shared_data / "illustrations" / name
    if not path.exists():
        pytest.skip(f"{name} not found")
    image = load_image(path)
    _checks(_puppet(decomposed, image), image)


@pytest.mark.parametrize("name", ["bust-blonde", "bust-pink-glasses", "bust-blue-glasses",
                                  "bust-mirror-silver-glasses", "full-silver-white",
                                  "full-cat-ears", "full-red-glasses", "full-brown-peach",
                                  "full-small-red"])
def test_variants_hold_up_in_motion(variants, decomposed, name):
    truth, image = variants[name]
    rig = _puppet(decomposed, image)
    _checks(rig, image)
    tags = {l.tag for l in rig.spec.layers}
    if name.startswith("full"):
        # The body hangs from the shoulders where the true layers have them (the neck's base
        # stays with the body), whatever the top's hem or the background does.
        from rig.anchors import find_anchors
        true_y = find_anchors(truth).shoulders[0][1]
        assert abs(rig.anchors.shoulders[0][1] - true_y) <= 0.1 * rig.anchors.face_size[1]
    if name == "bust-mirror-silver-glasses":
        # Its long chin moves with the face: every move beats a static picture by 5 dB
        # against the true layers' puppet (with the chin left on the neck: 3 to 5 dB).
        from rig.autorig import autorig
        poses = me.compare_puppets(autorig(truth), rig, image=image)["poses"]
        for pose in me.MOVING:
            assert poses[pose]["psnr"] >= poses[pose]["static_psnr"] + 5, (pose, poses[pose])
    if "glasses" in name:
        # Glasses are their own layer and ride on the face.
        assert "eyewear" in tags
        eyewear = [i for i, l in enumerate(rig.spec.layers) if l.tag == "eyewear"][0]
        face = [i for i, l in enumerate(rig.spec.layers) if l.tag == "face"][0]
        rest = me.settle(rig, {}, seconds=0.0)
        a = (rest.layer_vertices(eyewear).mean(0).copy(), rest.layer_vertices(face).mean(0).copy())
        turned = me.settle(rig, {"ParamAngleX": 25.0}, seconds=0.0)
        moved = (turned.layer_vertices(eyewear).mean(0) - a[0],
                 turned.layer_vertices(face).mean(0) - a[1])
        assert np.sign(moved[0][0]) == np.sign(moved[1][0]) and abs(moved[0][0]) > 3


def test_light_blonde_hair_on_transparency_is_found(variants, decomposed):
    truth, image = variants["bust-blonde"]
    character = decomposed(image)
    hair = [l for l in character.layers if l.tag in ("front hair", "back hair")]
    assert hair
    true_hair = np.zeros(image.shape[:2], bool)
    for l in truth.layers:
        if l.tag in ("front hair", "back hair"):
            true_hair |= l.on_canvas(truth.size)[..., 3] > 127
    visible = np.zeros_like(true_hair)
    for l in hair:
        visible |= l.on_canvas(character.size)[..., 3] > 127
    shown = true_hair & (image[..., 3] > 127)
    # Most of the hair the picture shows is found as hair.
    assert (visible & shown).sum() > 0.8 * shown.sum()


def test_a_picture_larger_than_the_working_size_keeps_its_sharpness(shared_data):
    # Decomposed at the working size, a large picture's layers came back resampled: every line
    # soft, and its rest frame 35 dB from the picture. They get its own pixels back.
    import cv2
    from seethrough_core.decompose import MAX_SIDE, decompose, load_image
    path = shared_data / "illustrations" / "seethrough-test-image1.png"
    if not path.exists():
        pytest.skip("seethrough-test-image1.png not found")
    small = load_image(path)
    image = cv2.resize(small, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
    image[..., 3] = 255
    assert max(image.shape[:2]) > MAX_SIDE
    character = decompose(image)
    rest = character.composite(include_variants={"mouth_close"}).astype(np.float32) / 255.0
    a = rest[..., 3:4]
    page = np.median(image[rest[..., 3] < 0.02, :3], axis=0) / 255.0
    shown = rest[..., :3] * a + page * (1.0 - a)
    assert me.psnr(shown, image[..., :3].astype(np.float32) / 255.0) >= 38
    # The figure itself, where the page plays no part, is the picture to the pixel.
    inside = cv2.erode((rest[..., 3] > 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    diff = np.abs(shown[inside] * 255.0 - image[inside, :3]).max(axis=-1)
    assert np.percentile(diff, 99) <= 2


@pytest.fixture(scope="module")
def picture1(shared_data, decomposed):
    """test-image1 and its decomposition, shared by the tests that turn or mirror it."""
    from seethrough_core.decompose import load_image
    path = shared_data / "illustrations" / "seethrough-test-image1.png"
    if not path.exists():
        pytest.skip("seethrough-test-image1.png not found")
    image = load_image(path)
    return image, decomposed(image)


@pytest.mark.parametrize("angle", [8.0, 12.0])
def test_a_picture_turned_decomposes_as_the_picture_turned(picture1, angle):
    # test-image1 leans its head by 11 degrees; turned by 8 more, the face was cut off along
    # a vertical line, an eye went to an ear, the whole body to the top (no skirt, no legs)
    # and the closed lid ran across the face. Turned by 12, the rules found an eye on the
    # shoulder and the misread labels were kept (glasses found, no front hair, the closed
    # lid drawn down the whole canvas). Turned, the picture gives the same parts, each where
    # the picture's turned lies, its closed lids drawn along its eye line.
    import cv2
    from seethrough_core.decompose import decompose
    image, character = picture1
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    turned = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255, 255))

    def centres(character):
        out = {}
        for l in character.layers:
            if l.variant in (None, "eye_close", "mouth_close"):
                ys, xs = np.nonzero(l.on_canvas(character.size)[..., 3] > 127)
                out[l.name] = (xs.mean(), ys.mean())
        return out

    turned_character = decompose(turned)
    assert not any(l.tag == "eyewear" for l in turned_character.layers)
    plain, tilted = centres(character), centres(turned_character)
    face_w = (character.layer("face").alpha > 127).any(axis=0).sum()
    placed = ("face", "neck", "mouth_close", "eyewhite-l", "eyewhite-r", "irides-l",
              "irides-r", "eyelash-l", "eyelash-r", "eye_close-l", "eye_close-r")
    whole = {"back hair", "front hair", "topwear", "bottomwear", "legwear-l", "legwear-r"}
    assert whole | set(placed) <= set(tilted) & set(plain), set(tilted) ^ set(plain)
    for name in placed:
        x, y = m @ np.array([*plain[name], 1.0])
        # (The right iris is half under a lock: found a little smaller one way or the other,
        # its centre moves further.)
        within = 0.11 if name == "irides-r" else 0.08
        assert np.hypot(x - tilted[name][0], y - tilted[name][1]) < within * face_w, name


def test_a_mirrored_picture_decomposes_as_the_mirror_of_the_picture(picture1):
    # Mirrored, test-image1's head turns the other way and the pose model saw it side-on (its
    # eyes drawn together, its shoulders on top of each other): the face was looked for in a
    # blob of face, neck and bare chest, an earring taken for an eye, and the face layer took
    # the chest. The face, eyes and mouth of the mirrored picture are the mirror of the
    # picture's.
    from seethrough_core.decompose import decompose
    image, character = picture1
    w = image.shape[1]

    def boxes(character):
        out = {}
        for l in character.layers:
            if l.tag in ("face", "irides", "mouth") and l.variant in (None, "mouth_close"):
                a = l.on_canvas(character.size)[..., 3] > 127
                ys, xs = np.nonzero(a)
                box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
                out[l.tag] = box if l.tag not in out else np.concatenate(
                    [np.minimum(out[l.tag][:2], box[:2]), np.maximum(out[l.tag][2:], box[2:])])
        return out

    plain = boxes(character)
    mirrored = boxes(decompose(np.ascontiguousarray(image[:, ::-1])))
    face_w = plain["face"][2] - plain["face"][0]
    # (An iris partly hidden by a lock is found a little smaller on one side or the other.)
    for tag, tolerance in (("face", 0.1), ("mouth", 0.1), ("irides", 0.2)):
        x0, y0, x1, y1 = mirrored[tag]
        back = np.array([w - x1, y0, w - x0, y1])
        assert np.abs(back - plain[tag]).max() < tolerance * face_w, (tag, back, plain[tag])


def test_a_tight_bust_of_a_picture_is_read_upright(picture1, decomposed):
    # test-image1 cut to a 512 bust round its head (1.6x): the pose model read a skeleton
    # lying on its side, the picture was labelled turned 90 degrees by its eyes, and the face
    # took the whole bust with no eyes in it. Read upright, the bust has both eyes side by
    # side in its upper half and a face about as wide as the head.
    from dataclasses import replace

    from PIL import Image
    from seethrough_core.evaluate import rest_layers
    _, character = picture1
    figure = replace(character, layers=[l for l in character.layers if l.tag != "backdrop"])
    rgba = rest_layers(figure).composite()
    h, w = rgba.shape[:2]
    ys, xs = np.nonzero(rgba[..., 3] > 128)
    top = max(0, int(ys.min()) - 10)
    cx = int(xs[ys < ys.min() + 0.2 * h].mean())
    side = int(0.35 * w)
    x0 = max(0, min(w - side, cx - side // 2))
    # (Pillow's Lanczos: the pose model's misreading depends on the very pixels.)
    bust = np.asarray(Image.fromarray(rgba[top:top + side, x0:x0 + side]).resize(
        (512, 512), Image.LANCZOS))
    c = decomposed(np.ascontiguousarray(bust))
    irides = {l.side: l.on_canvas(c.size)[..., 3] > 127 for l in c.layers
              if l.tag == "irides" and l.variant is None}
    assert set(irides) == {"l", "r"}
    (ly, lx), (ry, rx) = (np.argwhere(irides[s]).mean(0) for s in ("l", "r"))
    # Side by side (the head leans 11 degrees), in the upper half.
    assert lx > rx + 60 and abs(ly - ry) < 0.4 * (lx - rx) and max(ly, ry) < 300
    face = c.layer("face").on_canvas(c.size)[..., 3] > 127
    fy, fx = np.nonzero(face)
    assert np.ptp(fy) < 0.6 * 512 and np.ptp(fx) < 0.7 * 512
