"""Synthesized expression art: closed eyes and an open mouth on a synthetic face; and glasses
found as eyewear."""
from __future__ import annotations

import numpy as np

from seethrough_core.character import Character, Layer
from seethrough_core.decompose.expressions import add_expression_art
from seethrough_core.decompose.eyewear import find_eyewear

SKIN = (250, 222, 205)


def _face_layers():
    h, w = 160, 200
    yy, xx = np.mgrid[0:h, 0:w]

    def layer(name, tag, mask, colour, side=None):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[mask, :3] = colour
        rgba[mask, 3] = 255
        return Layer(name, rgba, tag=tag, side=side, depth=np.full((h, w), 0.4, np.float32))

    face = ((xx - 100) / 80.0) ** 2 + ((yy - 80) / 75.0) ** 2 <= 1
    layers = [layer("face", "face", face, SKIN)]
    for side, cx in (("r", 65), ("l", 135)):
        white = ((xx - cx) / 18.0) ** 2 + ((yy - 70) / 9.0) ** 2 <= 1
        iris = white & (((xx - cx) / 8.0) ** 2 + ((yy - 70) / 9.0) ** 2 <= 1)
        lash = (np.abs(xx - cx) < 21) & (yy >= 58) & (yy < 62)
        layers += [layer(f"eyewhite-{side}", "eyewhite", white, (255, 255, 255), side),
                   layer(f"irides-{side}", "irides", iris, (60, 90, 160), side),
                   layer(f"eyelash-{side}", "eyelash", lash, (30, 20, 20), side)]
    mouth = (np.abs(xx - 100) < 14) & (np.abs(yy - 120) < 1.5)
    layers.append(layer("mouth", "mouth", mouth, (120, 60, 60)))
    return layers


def test_closed_eyes_cover_the_eye_with_skin_and_draw_a_lid():
    layers = add_expression_art(_face_layers())
    closed = {l.side: l for l in layers if l.variant == "eye_close"}
    assert set(closed) == {"l", "r"}
    for side, cx in (("r", 65), ("l", 135)):
        art = closed[side]
        iris = next(l for l in layers if l.name == f"irides-{side}").alpha > 127
        covered = art.alpha[iris] > 250
        assert covered.mean() > 0.95                          # the whole iris is covered
        colours = art.rgba[iris][..., :3].astype(int)
        skinlike = np.abs(colours - SKIN).max(axis=1) <= 12
        assert skinlike.mean() > 0.6                          # mostly by the face's own skin
        lid = (art.rgba[..., :3].max(axis=2) < 90) & (art.alpha > 128)
        ys, xs = np.nonzero(lid)
        assert xs.min() < cx - 10 and xs.max() > cx + 10       # a line across the eye
        assert 65 <= np.median(ys) <= 80                       # in its lower part
    # Drawn above the eye's parts, in the PSD order the rig expects.
    names = [l.name for l in layers]
    assert names.index("eye_close-r") > names.index("eyelash-l")


def _arched_lash_layers(cx=65, shadow=True, hair_above=False):
    """A face with one eye whose upper lash is an arch 5 px thick sitting on the opening's
    upper edge, with a wing past its outer corner; optionally a brown iris shadow drawn in
    the lash layer under it, and black hair merged into it from above."""
    h, w = 160, 200
    yy, xx = np.mgrid[0:h, 0:w]
    face = ((xx - 100) / 80.0) ** 2 + ((yy - 80) / 75.0) ** 2 <= 1
    white = ((xx - cx) / 18.0) ** 2 + ((yy - 70) / 9.0) ** 2 <= 1
    iris = white & (((xx - cx) / 8.0) ** 2 + ((yy - 70) / 9.0) ** 2 <= 1)
    top = 70 - 9 * np.sqrt(np.clip(1 - ((xx - cx) / 18.0) ** 2, 0, 1))
    lash = (np.abs(xx - cx) <= 18) & (yy >= top - 5) & (yy < top) & ~white
    wing = (xx > cx + 18) & (xx <= cx + 24) & (yy >= 66 + (xx - cx - 18)) & \
        (yy < 70 + (xx - cx - 18) / 2)
    lash |= wing
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[lash] = (30, 20, 20, 255)
    if shadow:
        band = (np.abs(xx - cx) < 8) & (yy >= top) & (yy < top + 3)
        rgba[band] = (110, 60, 40, 255)
        white &= ~band
        iris &= ~band
    if hair_above:
        hair = (np.abs(xx - cx) <= 12) & (yy >= top - 16) & (yy < top - 5)
        rgba[hair] = (25, 20, 20, 255)

    def layer(name, tag, mask, colour, side=None):
        out = np.zeros((h, w, 4), np.uint8)
        out[mask, :3] = colour
        out[mask, 3] = 255
        return Layer(name, out, tag=tag, side=side, depth=np.full((h, w), 0.4, np.float32))

    return [layer("face", "face", face, SKIN),
            layer("eyewhite-r", "eyewhite", white, (255, 255, 255), "r"),
            layer("irides-r", "irides", iris, (60, 90, 160), "r"),
            Layer("eyelash-r", rgba, tag="eyelash", side="r",
                  depth=np.full((h, w), 0.4, np.float32))], top


def _lid(art):
    return (art.rgba[..., :3].max(axis=2) < 90) & (art.alpha > 128)


def test_closed_lid_is_the_lash_line_brought_down_arch_and_wing_included():
    layers, top = _arched_lash_layers()
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    lid = _lid(art)
    cols = {c: np.flatnonzero(lid[:, c]) for c in (65, 51, 79, 86)}
    assert all(len(r) for r in cols.values())
    # Brought down into the opening's lower part (it spans rows 61..79).
    assert 68 <= cols[65].max() <= 78
    # Still an arch: towards the corners the line runs lower than in the middle, and the
    # wing past the outer corner lower still.
    assert cols[51].max() >= cols[65].max() + 2 and cols[79].max() >= cols[65].max() + 2
    assert cols[86].max() > cols[79].max()
    # About as thick as the lash (5 px) in the middle, not a hairline.
    assert 3 <= len(cols[65]) <= 7
    # Drawn in the lash's ink: the brown iris shadow under the line is not carried along.
    ys, xs = np.nonzero(art.alpha > 128)
    colours = art.rgba[ys, xs, :3].astype(int)
    brown = np.abs(colours - (110, 60, 40)).max(axis=1) < 25
    assert not brown.any()


def test_closed_lid_leaves_out_hair_merged_into_the_lash():
    layers, top = _arched_lash_layers(shadow=False, hair_above=True)
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    rows = np.flatnonzero(_lid(art)[:, 65])
    # The lash with 11 px of hair above it would be 16 px thick; the lid keeps the line only
    # (at most a third of the 18 px opening) and still lands in the opening's lower part.
    # (The hair further from the eye stays drawn where it was, above the eye.)
    lid = rows[rows >= top[0, 65]]
    assert 3 <= len(lid) <= 7 and 68 <= lid.max() <= 78
    assert not ((rows > top[0, 65] - 8) & (rows < lid.min())).any()


def test_open_mouth_hangs_from_the_mouth_line_with_a_dark_inside():
    layers = add_expression_art(_face_layers())
    closed = [l for l in layers if l.variant == "mouth_close"]
    opened = [l for l in layers if l.variant == "mouth_open"]
    assert len(closed) == 1 and len(opened) == 1 and closed[0].name == "mouth_close"
    art = opened[0]
    ys, xs = np.nonzero(art.alpha > 127)
    assert abs((xs.min() + xs.max()) / 2 - 100) <= 2
    assert ys.min() <= 122 and ys.max() >= 125                # below the line
    assert np.ptp(ys) >= 0.6 * np.ptp(xs)                     # an opening, not a slit
    inside = art.rgba[art.alpha > 250, :3].astype(float)
    assert inside.mean() < np.mean(SKIN) - 60                 # dark, not skin
    # The rest picture is unchanged: variants are not part of it.
    before = Character((200, 160), _face_layers()).rest_composite()
    after = Character((200, 160), layers).rest_composite()
    assert np.array_equal(before, after)


def test_no_mouth_line_still_gets_an_open_mouth_where_anime_faces_put_it():
    layers = [l for l in _face_layers() if l.tag != "mouth"]
    out = add_expression_art(layers)
    opened = [l for l in out if l.variant == "mouth_open"]
    assert len(opened) == 1
    ys, xs = np.nonzero(opened[0].alpha > 127)
    # Between the eyes (y 70) and the chin (y 155).
    assert 95 < ys.mean() < 140 and abs(xs.mean() - 100) < 4


def test_existing_expression_art_is_kept():
    layers = _face_layers()
    mine = np.zeros_like(layers[0].rgba)
    mine[60:80, 40:90] = (1, 2, 3, 255)
    layers.append(Layer("eye_close", mine, tag="eyelash", variant="eye_close"))
    out = add_expression_art(layers)
    assert [l for l in out if l.variant == "eye_close"] == [layers[-1]]


def _lab(rgb):
    import cv2
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _draw_two_eyes(img):
    """Two white eyes drawn on ``img`` (in place): their (cx, cy, half width) and pixels."""
    import cv2
    eyes = [(65.0, 70.0, 18.0), (135.0, 70.0, 18.0)]
    taken = np.zeros(img.shape[:2], bool)
    for cx, cy, r in eyes:
        cv2.ellipse(img, (int(cx), int(cy)), (18, 9), 0, 0, 360, (255, 255, 255), -1)
        taken |= cv2.ellipse(np.zeros(img.shape[:2], np.uint8), (int(cx), int(cy)), (18, 9), 0,
                             0, 360, 1, -1) > 0
    return eyes, taken


def test_glasses_are_found_as_rings_around_both_eyes():
    import cv2
    h, w = 160, 200
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = SKIN
    eyes, taken = _draw_two_eyes(img)
    glasses = img.copy()
    for cx, cy, r in eyes:
        cv2.ellipse(glasses, (int(cx), int(cy + 2)), (27, 18), 0, 0, 360, (40, 30, 30), 3)
    cv2.line(glasses, (92, 72), (108, 72), (40, 30, 30), 3)
    solid = np.ones((h, w), bool)
    skin = np.all(img == SKIN, axis=-1)
    frame = find_eyewear(_lab(glasses), solid, skin, taken, eyes)
    assert frame is not None
    drawn = np.any(glasses != img, axis=-1)
    assert (frame & drawn).sum() > 0.8 * drawn.sum()           # the frames and the bridge
    assert not (frame & ~cv2.dilate(drawn.astype(np.uint8), np.ones((3, 3))).astype(bool)).any()
    # A bare face (a lash line above each eye, nothing below) wears no glasses.
    bare = img.copy()
    for cx, cy, r in eyes:
        cv2.line(bare, (int(cx - 20), int(cy - 10)), (int(cx + 20), int(cy - 10)), (30, 20, 20), 3)
    assert find_eyewear(_lab(bare), solid, skin, taken, eyes) is None


def test_the_hairs_outlines_beside_the_face_are_not_the_glasses():
    # Glasses whose arms run back over light hair to its black outlines at the head's sides,
    # level with the eyes: the outlines (far past the face and the eyes) are the hair's, and
    # would slide off it with the face. The frames and the arms up to the face's side stay.
    import cv2
    h, w = 160, 200
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (230, 200, 120)                                     # light hair
    img[:, 40:161] = SKIN
    eyes, taken = _draw_two_eyes(img)
    for x in (16, 184):
        cv2.line(img, (x, 40), (x, 110), (20, 15, 15), 2)        # the hair's outlines
    glasses = img.copy()
    for cx, cy, r in eyes:
        cv2.ellipse(glasses, (int(cx), int(cy + 2)), (27, 18), 0, 0, 360, (40, 30, 30), 3)
    cv2.line(glasses, (92, 72), (108, 72), (40, 30, 30), 3)
    cv2.line(glasses, (38, 70), (16, 70), (40, 30, 30), 2)       # arms
    cv2.line(glasses, (162, 70), (184, 70), (40, 30, 30), 2)
    solid = np.ones((h, w), bool)
    skin = np.all(img == SKIN, axis=-1)
    frame = find_eyewear(_lab(glasses), solid, skin, taken, eyes)
    assert frame is not None
    assert not frame[40:60, 10:22].any() and not frame[40:60, 178:190].any()
    assert not frame[85:110, 10:22].any() and not frame[85:110, 178:190].any()
    rings = np.zeros((h, w), np.uint8)
    for cx, cy, r in eyes:
        cv2.ellipse(rings, (int(cx), int(cy + 2)), (27, 18), 0, 0, 360, 1, 3)
    rings = rings.astype(bool)
    assert (frame & rings).sum() > 0.8 * rings.sum()


def test_missing_parts_are_named_in_one_line_each():
    from seethrough_core.decompose import missing_parts
    c = Character((200, 160), [l for l in _face_layers() if l.tag != "eyelash"])
    lines = missing_parts(c, had_mouth=False)
    assert any(line.startswith("no hair found") for line in lines)
    assert any(line.startswith("no mouth line found") for line in lines)
    assert not any("eye found" in line for line in lines)
    assert all("\n" not in line for line in lines)
    both = missing_parts(Character((200, 160), [_face_layers()[0]]))
    assert any("left eye" in line for line in both) and any("right eye" in line for line in both)


def test_a_closed_lid_sags_even_when_the_opening_is_cut_off_in_a_frown():
    # A glasses rim or a strand cuts the eye's opening off along an arch: the closed lid
    # still sags in the middle (or runs straight), never arches like a frown.
    layers = _face_layers()
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for l in layers:
        if l.tag in ("eyewhite", "irides"):
            cx = 65 if l.side == "r" else 135
            arch = yy > 66 + 8 * ((xx - cx) / 18.0) ** 2        # the cut: high in the middle
            l.rgba[arch] = 0
    art = {l.side: l for l in add_expression_art(layers) if l.variant == "eye_close"}
    for side, cx in (("r", 65), ("l", 135)):
        lid = (art[side].rgba[..., :3].max(axis=2) < 90) & (art[side].alpha > 128)
        ys, xs = np.nonzero(lid)
        middle = ys[np.abs(xs - cx) <= 2].mean()
        ends = ys[np.abs(xs - cx) >= 12].mean()
        assert middle >= ends - 0.5


def test_a_frame_the_hair_mask_took_in_is_still_found_and_shaded_hair_is_not_frame():
    # Pink hair whose outlines join the frame: the hair mask holds the whole frame, and shaded
    # pink hair lies in the bands above the eyes. The frame is found (its rims cross the
    # cheeks in an ink that is not the hair's colour), and the shaded hair is not part of it.
    import cv2
    h, w = 160, 200
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), SKIN, np.uint8)
    eyes, taken = _draw_two_eyes(img)
    shaded = (yy < 50) & (np.abs(xx - 100) < 90)
    img[shaded] = (150, 80, 105)                         # shaded pink hair over the brow
    img[yy < 30] = (235, 160, 185)                       # the fringe's lit part
    for cx, cy, r in eyes:
        cv2.ellipse(img, (int(cx), int(cy + 2)), (27, 18), 0, 0, 360, (60, 40, 45), 3)
    cv2.line(img, (92, 72), (108, 72), (60, 40, 45), 3)
    frame_px = np.all(img == (60, 40, 45), axis=-1)
    hair = (yy < 50) | frame_px
    solid = np.ones((h, w), bool)
    skin = np.all(img == SKIN, axis=-1)
    frame = find_eyewear(_lab(img), solid, skin, taken, eyes, hair)
    assert frame is not None
    assert (frame & frame_px).sum() > 0.8 * frame_px.sum()
    assert not (frame & shaded & ~frame_px).any()


def test_the_mouth_line_s_soft_edge_goes_with_it_and_leaves_no_ghost_on_the_face():
    # The cut left the line's anti-aliased edge on the face: half ink right beside the line,
    # a quarter one pixel further. Swapped for the open mouth, the line takes its edge along:
    # the face under it is clean skin, and the rest picture is what it was.
    layers = _face_layers()
    face = layers[0]
    h, w = face.alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    ink = np.array((120, 60, 60), float)
    along = np.abs(xx - 100) < 14
    for dy, share in ((2, 0.5), (3, 0.25)):
        edge = along & (np.abs(yy - 120) == dy)
        face.rgba[edge, :3] = np.round(share * ink + (1 - share) * np.array(SKIN)).astype(np.uint8)
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag, side=l.side,
                                      depth=l.depth) for l in layers]).rest_composite()
    out = add_expression_art(layers)
    fringe = along & (np.abs(yy - 120) > 1.5) & (np.abs(yy - 120) < 4)
    face_rgb = [l for l in out if l.tag == "face"][0].rgba[fringe, :3].astype(float)
    assert np.abs(face_rgb - SKIN).max() <= 6
    closed = [l for l in out if l.variant == "mouth_close"][0]
    assert (closed.alpha[fringe] > 30).mean() > 0.9
    after = Character((w, h), out).rest_composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 3


def test_a_closed_eye_covers_an_iris_taken_for_the_face_under_its_lash():
    # A light-brown iris as light as the skin: its right part was labelled face, so the eye's
    # layers show only the left part of the opening. The lash spans the whole eye; under it
    # the closed lid covers the whole opening, the part drawn on the face included.
    h, w = 160, 200
    yy, xx = np.mgrid[0:h, 0:w]
    cx = 65
    face = ((xx - 100) / 80.0) ** 2 + ((yy - 80) / 75.0) ** 2 <= 1
    white = ((xx - cx) / 18.0) ** 2 + ((yy - 70) / 9.0) ** 2 <= 1
    iris = white & (((xx - cx) / 8.0) ** 2 + ((yy - 70) / 9.0) ** 2 <= 1)
    top = 70 - 9 * np.sqrt(np.clip(1 - ((xx - cx) / 18.0) ** 2, 0, 1))
    lash = (np.abs(xx - cx) <= 18) & (yy >= top - 4) & (yy < top) & ~white
    lost = white & (xx > cx + 2)                     # shown on the face layer, iris-coloured

    def layer(name, tag, mask, colour, side=None):
        out = np.zeros((h, w, 4), np.uint8)
        out[mask, :3] = colour
        out[mask, 3] = 255
        return Layer(name, out, tag=tag, side=side, depth=np.full((h, w), 0.4, np.float32))

    face_layer = layer("face", "face", face, SKIN)
    face_layer.rgba[lost, :3] = (190, 150, 120)
    layers = [face_layer,
              layer("eyewhite-r", "eyewhite", white & ~iris & ~lost, (255, 255, 255), "r"),
              layer("irides-r", "irides", iris & ~lost, (190, 150, 120), "r"),
              layer("eyelash-r", "eyelash", lash, (30, 20, 20), "r")]
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    inner = lost & (yy > top + 1) & (np.abs(xx - cx) < 15)
    assert inner.sum() > 40
    assert (art.alpha[inner] > 250).mean() > 0.95
    colours = art.rgba[inner][..., :3].astype(int)
    # No pixel keeps the iris's colour: skin, the lid's line or its soft edge.
    assert (np.abs(colours - (190, 150, 120)).max(axis=1) > 20).all()
    assert (np.abs(colours - SKIN).max(axis=1) <= 16).mean() > 0.7


def test_a_closed_lid_is_drawn_from_the_lash_the_picture_shows():
    # Under a strand crossing the eye, the lash layer was painted on (its seam): 6 more rows
    # of ink above the line there. Hidden by the strand, they do not thicken the closed lid.
    layers, top = _arched_lash_layers(shadow=False)
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    plain = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    layers, top = _arched_lash_layers(shadow=False)
    strand = (np.abs(xx - 65) <= 4) & (yy < top[0, 65] + 2)
    lash = next(l for l in layers if l.tag == "eyelash")
    painted = strand & (yy >= top - 11) & (yy < top - 5)
    lash.rgba[painted] = (30, 20, 20, 255)
    hair = np.zeros((h, w, 4), np.uint8)
    hair[strand] = (60, 40, 30, 255)
    layers.append(Layer("front hair", hair, tag="front hair",
                        depth=np.full((h, w), 0.3, np.float32)))
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    for c in (58, 65, 72):        # (the strand itself hides a little of the line: 1 px)
        assert abs(len(np.flatnonzero(_lid(art)[:, c])) -
                   len(np.flatnonzero(_lid(plain)[:, c]))) <= 1


def test_a_lash_drawn_over_the_hair_gives_the_hair_back_when_the_eye_closes():
    # Eyes seen through the fringe: the lash line runs on past the eye's corner over a dark
    # lock (the lock's layer has a hole where the lash is). Closed, the lid shows the lock's
    # colour where it covers that lash, not a strip of skin across the lock; over the opening
    # it is skin as before.
    layers, top = _arched_lash_layers(shadow=False)
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    lash = next(l for l in layers if l.tag == "eyelash")
    wing = (xx >= 30) & (xx < 46) & (yy >= 60) & (yy < 64)      # past the corner (x 47)
    lash.rgba[wing] = (30, 20, 20, 255)
    lock = (xx >= 28) & (xx < 46) & (yy >= 40) & (yy < 100) & ~(lash.alpha > 0)
    hair = np.zeros((h, w, 4), np.uint8)
    hair[lock] = (70, 60, 75, 255)
    layers.append(Layer("front hair", hair, tag="front hair",
                        depth=np.full((h, w), 0.3, np.float32)))
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    over = wing & (xx >= 42)                   # the lid covers the lash this near the eye
    shown = art.alpha[over] > 128
    assert shown.mean() > 0.9
    colours = art.rgba[over][shown][:, :3].astype(int)
    # The lock's colour, or the lash's ink where the lash further out stays drawn: no skin.
    assert (np.abs(colours - SKIN).max(axis=1) > 100).all()
    assert (np.abs(colours - (70, 60, 75)).max(axis=1) <= 25).mean() > 0.6
    iris = next(l for l in layers if l.tag == "irides").alpha > 127
    skin = np.abs(art.rgba[iris][:, :3].astype(int) - SKIN).max(axis=1) <= 12
    assert skin.mean() > 0.6



def test_a_lock_of_hair_that_went_to_the_lash_stays_drawn_on_the_closed_eye():
    # Black hair, blacker lash: a lock hanging over the eye's inner corner, in the hair's
    # grey, was taken into the lash layer where it meets the lash. Closed, the lid drew a box
    # of skin over it; the lock stays drawn as it is, its hair colour where it was.
    layers, top = _arched_lash_layers(shadow=False)
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    lash = next(l for l in layers if l.tag == "eyelash")
    grey = (70, 64, 66)
    lock_in_lash = (xx >= 76) & (xx < 84) & (yy >= 58) & (yy < 72)
    lash.rgba[lock_in_lash] = (*grey, 255)
    hair = np.zeros((h, w, 4), np.uint8)
    hair[(xx >= 76) & (xx < 84) & (yy >= 30) & (yy < 58)] = (*grey, 255)
    layers.append(Layer("front hair", hair, tag="front hair",
                        depth=np.full((h, w), 0.3, np.float32)))
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    inner = lock_in_lash & (yy < 68)
    colours = art.rgba[inner][:, :3].astype(int)
    assert (art.alpha[inner] > 200).mean() > 0.9
    assert (np.abs(colours - grey).max(axis=1) <= 12).mean() > 0.85
    # The eye itself still closes under skin with its lid line.
    iris = next(l for l in layers if l.tag == "irides").alpha > 127
    skin = np.abs(art.rgba[iris & (xx < 70)][:, :3].astype(int) - SKIN).max(axis=1) <= 12
    assert skin.mean() > 0.6


def test_an_iris_as_light_as_the_skin_is_closed_under_the_lid_whole():
    # A light brown iris, outlined by a darker ring, of which only its shaded top was taken
    # for the iris (the rest went to the face): closed, the lid covers the whole round, no
    # crescent of it stays under the lid, and the lid line lies in the eye's lower part.
    h, w = 160, 200
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy, r = 100, 74, 13
    face = ((xx - 100) / 80.0) ** 2 + ((yy - 80) / 75.0) ** 2 <= 1
    ring = np.abs(np.hypot(xx - cx, yy - cy) - r) < 1.5
    disc = np.hypot(xx - cx, yy - cy) < r - 1.5
    top = yy < 62
    lash = (np.abs(xx - cx) <= 22) & (yy >= 57) & (yy < 62)
    picture_face = np.zeros((h, w, 4), np.uint8)
    picture_face[face] = (*SKIN, 255)
    iris_colour = (214, 176, 150)                  # close to the skin
    picture_face[(disc | ring) & ~top] = (*iris_colour, 255)
    picture_face[ring & ~top] = (150, 100, 80, 255)
    taken = (disc | ring) & ~top & (yy < 68)       # only the shaded top went to the iris
    picture_face[taken] = 0

    def layer(name, tag, mask, colour, side=None):
        out = np.zeros((h, w, 4), np.uint8)
        out[mask, :3] = colour
        out[mask, 3] = 255
        return Layer(name, out, tag=tag, side=side, depth=np.full((h, w), 0.4, np.float32))

    iris = layer("irides-r", "irides", taken, (120, 80, 60), "r")
    layers = [Layer("face", picture_face, tag="face", depth=np.full((h, w), 0.4, np.float32)),
              iris, layer("eyelash-r", "eyelash", lash, (30, 20, 20), "r")]
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    whole = (disc | ring) & ~top
    assert (art.alpha[whole] > 200).mean() > 0.95
    lid = _lid(art)
    ys = np.nonzero(lid[:, cx])[0]
    assert ys.size and ys.max() >= cy


def test_specks_of_the_brow_and_the_glasses_on_the_eye_close_with_it_and_their_strokes_stay():
    # A dark crease dot taken for the brow and a bit of lash taken for the glasses (black
    # lash, black frame): the closed eye covered the lash around them and they floated over
    # the lid as dots. They are the lash's ink and go with it; the brow's stroke and the
    # frame's ring stay where they were, and the picture is the same.
    layers = _face_layers()
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]

    def layer(name, tag, mask, colour):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[mask, :3] = colour
        rgba[mask, 3] = 255
        return Layer(name, rgba, tag=tag, depth=np.full((h, w), 0.4, np.float32))

    brow = (np.abs(xx - 65) < 18) & (yy >= 44) & (yy < 48)
    crease_dot = (np.abs(xx - 60) <= 1) & (np.abs(yy - 57) <= 1)
    ring = (np.abs(np.hypot((xx - 65) / 26.0, (yy - 70) / 18.0) - 1.0) < 0.08)
    lash_bit = (np.abs(xx - 75) <= 2) & (yy >= 59) & (yy < 62)
    layers += [layer("eyebrow", "eyebrow", brow | crease_dot, (60, 40, 30)),
               layer("eyewear", "eyewear", ring | lash_bit, (25, 25, 25))]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag, side=l.side)
                                for l in layers]).composite()
    out = add_expression_art(layers)
    by_name = {l.name: l for l in out}
    lash = by_name["eyelash-r"].alpha > 127
    assert lash[crease_dot].all() and lash[lash_bit].all()
    assert not (by_name["eyebrow"].alpha > 0)[crease_dot].any()
    assert not (by_name["eyewear"].alpha > 0)[lash_bit & ~ring].any()
    assert (by_name["eyebrow"].alpha > 127)[brow].all()
    assert (by_name["eyewear"].alpha > 127)[ring & ~lash_bit].all()
    after = Character((w, h), [l for l in out if l.variant in (None, "mouth_close")]).composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 1
    # Closed, the eye shows neither dot: the lid art replaces the lash layer they are in.
    closed = by_name["eye_close-r"]
    assert (closed.alpha[crease_dot | lash_bit] > 250).all()


def test_a_fringe_tip_taken_for_the_face_stays_drawn_over_the_closed_eye():
    # Brown hair: a lock of the fringe hangs down onto the eye's upper lid; its tip, lying on
    # the skin just above the lash, was taken for the face. Closed, the patch of skin cut the
    # lock off square above the lash; its tip stays drawn in the hair's colour, the eye
    # itself still closes under skin, and the skin beside the tip stays skin.
    layers, top = _arched_lash_layers(shadow=False)
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    brown = (120, 80, 60)
    face = layers[0]
    tip = (xx >= 70) & (xx < 77) & (yy >= 54) & (yy < top - 5)
    face.rgba[tip, :3] = brown
    hair = np.zeros((h, w, 4), np.uint8)
    hair[(xx >= 70) & (xx < 77) & (yy >= 25) & (yy < 54)] = (*brown, 255)
    hair[(xx >= 40) & (xx < 95) & (yy >= 20) & (yy < 30)] = (*brown, 255)
    layers.append(Layer("front hair", hair, tag="front hair",
                        depth=np.full((h, w), 0.3, np.float32)))
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    covered_tip = tip & (art.alpha > 0)
    assert covered_tip.sum() >= 15                      # the patch reaches over the tip...
    colours = art.rgba[covered_tip][:, :3].astype(int)
    assert (np.abs(colours - brown).max(axis=1) <= 12).mean() > 0.9   # ...and keeps it brown
    assert (art.alpha[covered_tip] > 200).mean() > 0.9
    beside = (art.alpha > 200) & ~tip & (yy >= 54) & (yy < top - 6) & (np.abs(xx - 73) < 9)
    beside_colours = art.rgba[beside][:, :3].astype(int)
    assert beside.sum() > 5 and (np.abs(beside_colours - SKIN).max(axis=1) <= 16).all()
    iris = next(l for l in layers if l.tag == "irides").alpha > 127
    skin = np.abs(art.rgba[iris & (xx < 70)][:, :3].astype(int) - SKIN).max(axis=1) <= 12
    assert skin.mean() > 0.6


def test_black_hair_running_into_a_black_lash_stays_drawn_over_the_closed_eye():
    # A black lock of the fringe comes down onto the eye and runs into its black lash; the
    # lash layer took the lock's end. Closed, the lid's skin cut the lock off square above
    # the eye: the lock stays drawn down to the lash line, the eye closes under skin.
    layers, top = _arched_lash_layers(shadow=False, hair_above=True)
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    hair = np.zeros((h, w, 4), np.uint8)
    hair[(np.abs(xx - 65) <= 12) & (yy >= 30) & (yy < top - 15)] = (25, 20, 20, 255)
    layers.append(Layer("front hair", hair, tag="front hair",
                        depth=np.full((h, w), 0.3, np.float32)))
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    # (Its last few pixels, as near the opening as a lash is thick, may close with the lid.)
    lock_end = (np.abs(xx - 65) <= 12) & (yy >= top - 15) & (yy < top - 10)
    assert lock_end.sum() > 100
    drawn = (art.alpha[lock_end] > 200) & (art.rgba[lock_end][:, :3].max(axis=1) < 60)
    assert drawn.mean() > 0.9
    iris = next(l for l in layers if l.tag == "irides").alpha > 127
    above_lid = iris & (yy < 66)
    skin = np.abs(art.rgba[above_lid][:, :3].astype(int) - SKIN).max(axis=1) <= 12
    assert above_lid.sum() > 40 and skin.mean() > 0.9


def test_only_a_lash_crossing_a_strand_is_given_back_as_hair_not_a_pixel_on_its_edge():
    from seethrough_core.decompose.expressions import _lash_over_hair
    h, w = 40, 60
    lash, hair, opening = (np.zeros((h, w), bool) for _ in range(3))
    opening[25:35, 5:55] = True
    lash[20:24, 5:25] = True            # the lash line over the opening...
    hair[24:28, 10:18] = True           # ...crossing a strand lying over the eye's top
    opening[24:28, 10:18] = False
    lash[10, 40] = True                 # a lone lash pixel with the edge of a lock under it
    hair[11:13, 39:42] = True
    across = _lash_over_hair(lash, opening, hair, least=6)
    assert across[20:24, 10:18].all() and across.sum() == 32
    assert not across[10, 40]


def test_the_iris_round_is_an_iris_wide_not_the_eye_s_own_outline():
    # An eye's outline round as wide as its lash was once taken for the iris's: the lid
    # closed under it, low on the blush below the eye. An iris's ring is found, the eye's not.
    from seethrough_core.decompose.iris_round import iris_circle
    span = 40.0
    h, w = 80, 80
    yy, xx = np.mgrid[0:h, 0:w]
    labelled = (np.abs(xx - 40) < 7) & (yy > 30) & (yy < 40)          # the iris's shaded top

    def ring_of(r):
        gray = np.full((h, w), 220, np.uint8)
        gray[np.abs(np.hypot(xx - 40, yy - 40) - r) < 1.5] = 60
        return gray

    found = iris_circle(ring_of(0.3 * span), labelled, span)
    assert found is not None and abs(found.sum() - np.pi * (0.3 * span + 1.5) ** 2) < 0.2 * found.sum()
    assert iris_circle(ring_of(0.475 * span), labelled, span) is None


def test_a_closed_lid_continues_the_shade_above_the_eye_and_not_a_drawn_crease():
    # A fringe's shadow falls on the skin above the eye: darker skin of the skin's hue. The
    # closed lid's skin runs on from it (before, shade counted as "not skin" and the lid
    # came out as a pale patch cut into the shadow); a thin crease line drawn in that shade
    # is a line, and does not darken the lid.
    layers, top = _arched_lash_layers(shadow=False)
    h, w = layers[0].alpha.shape
    yy, xx = np.mgrid[0:h, 0:w]
    shade_colour = (222, 180, 165)
    face = layers[0]
    shadow = (face.alpha > 0) & (yy < 60)
    face.rgba[shadow, :3] = shade_colour
    # A crease hugging the lid, darker than the shade but by less than shade is darker
    # than the skin: only its thinness tells it from shade.
    crease = (np.abs(xx - 65) <= 22) & (yy >= top - 10) & (yy < top - 8)
    face.rgba[crease, :3] = (208, 163, 150)
    art = next(l for l in add_expression_art(layers) if l.variant == "eye_close")
    inside = art.alpha > 250
    rim = inside & ~np.roll(inside, 1, axis=0)                  # the lid's top row
    cols = (xx >= 58) & (xx <= 72)
    row = rim & cols
    assert row.sum() >= 10
    colours = art.rgba[row][:, :3].astype(int)
    to_shade = np.abs(colours - shade_colour).max(axis=1)
    to_skin = np.abs(colours - SKIN).max(axis=1)
    assert (to_shade < to_skin).mean() > 0.8                   # the shade, not a pale patch
    assert (colours.sum(axis=1) >= sum(shade_colour) - 10).mean() > 0.9   # no crease in it


def test_a_leaning_heads_closed_lid_runs_along_its_eye_line():
    # The face turned 25 degrees: drawn in the picture's frame, the lid came down along the
    # canvas's columns and lay 7 to 9 degrees off the eye line (on test-image turned 20 the
    # lid's skin cut a fringe lock off square). Drawn turned level and turned back, it runs
    # along the eye line, in the eye's lower part, and covers the iris.
    import cv2

    from seethrough_core.decompose.expressions import _warped
    m = cv2.getRotationMatrix2D((100.0, 70.0), -25.0, 1.0)
    layers = [_warped(l, m, (l.rgba.shape[1], l.rgba.shape[0])) for l in _face_layers()]
    out = add_expression_art(layers)
    closed = {l.side: l for l in out if l.variant == "eye_close"}
    assert set(closed) == {"l", "r"}
    back = cv2.invertAffineTransform(m)
    for side, art in closed.items():
        iris = next(l for l in out if l.name == f"irides-{side}").alpha > 127
        assert (art.alpha[iris] > 250).mean() > 0.95
        ys, xs = np.nonzero((art.rgba[..., :3].max(axis=2) < 90) & (art.alpha > 128))
        assert abs(np.degrees(np.arctan(np.polyfit(xs, ys, 1)[0])) - 25.0) < 4.0
        level_y = back[1, 0] * xs + back[1, 1] * ys + back[1, 2]
        assert 65 <= np.median(level_y) <= 80                    # in the eye's lower part

