"""Painting what a layer hides, and clean part edges: synthetic cases with known answers."""
from __future__ import annotations

import numpy as np

from seethrough_core.character import Character, Layer
from seethrough_core.decompose.completion import (HeadGeometry, complete_hidden,
                                                  decontaminate_edges, face_shape, neck_shape,
                                                  top_outline, visible_owner)
from seethrough_core.decompose.inpaint import directional_fill, orientation_field


def test_directional_fill_continues_strands_through_a_hole():
    h, w = 80, 60
    xx = np.arange(w)[None, :].repeat(h, 0)
    # Vertical strands: dark lines every 6 px on a mid-brown body.
    rgb = np.where((xx % 6) < 2, 40.0, 150.0)[..., None].repeat(3, -1).astype(np.float32)
    known = np.ones((h, w), bool)
    known[25:55, 10:50] = False                 # a hole across many strands
    gray = rgb[..., 0]
    dirs = orientation_field(gray, known, prior=(0.0, 1.0))
    out = directional_fill(np.where(known[..., None], rgb, 0), known, ~known, dirs)
    hole = out[25:55, 12:48, 0]
    truth = rgb[25:55, 12:48, 0]
    # The strands run on: each column keeps its own value (no blur to a flat average).
    assert np.corrcoef(hole.mean(0), truth.mean(0))[0, 1] > 0.95
    assert np.abs(hole - truth).mean() < 15


def test_directional_fill_never_averages_two_materials_into_grey():
    h, w = 60, 60
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[:, :30] = (30, 40, 90)                  # navy
    rgb[:, 30:] = (245, 245, 245)               # white
    known = np.ones((h, w), bool)
    known[20:40, 10:50] = False
    dirs = orientation_field(rgb[..., 0], known)
    out = directional_fill(rgb, known, ~known, dirs)
    filled = out[~known]
    d_navy = np.linalg.norm(filled - (30, 40, 90), axis=1)
    d_white = np.linalg.norm(filled - (245, 245, 245), axis=1)
    # Every painted pixel is one of the two colours, none a grey between them.
    assert (np.minimum(d_navy, d_white) < 30).mean() > 0.97


def _layer(tag, mask, colour, depth=0.5):
    rgba = np.zeros(mask.shape + (4,), np.uint8)
    rgba[mask, :3] = colour
    rgba[mask, 3] = 255
    return Layer(tag, rgba, tag=tag, depth=np.full(mask.shape, depth, np.float32))


def test_the_face_continues_under_the_fringe_to_the_skull_and_the_picture_is_unchanged():
    h, w = 200, 200
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((xx - 100) / 70.0) ** 2 + ((yy - 100) / 85.0) ** 2 <= 1
    fringe = head & (yy < 95)
    face_full = ((xx - 100) / 55.0) ** 2 + ((yy - 110) / 70.0) ** 2 <= 1
    face = face_full & ~fringe
    eyes = [(((xx - cx) / 12.0) ** 2 + ((yy - 115) / 7.0) ** 2 <= 1) for cx in (75, 125)]
    back = head & ~face_full & ~fringe
    layers = [_layer("back hair", back, (60, 40, 40), 0.9), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes[0], (255, 255, 255), 0.3),
              _layer("eyewhite", eyes[1], (255, 255, 255), 0.3),
              _layer("front hair", fringe, (80, 50, 50), 0.1)]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers])
    complete_hidden(layers)
    painted = layers[1].alpha > 127
    # Under the fringe the face reaches well up toward the skull (not only a seam band)...
    assert painted[70, 100] and painted[60, 100]
    # ...in the face's own skin colour, never the hair's.
    assert np.abs(layers[1].rgba[70, 100, :3].astype(int) - (250, 220, 200)).max() <= 3
    # The back hair fills the head behind the face.
    assert layers[0].alpha[110, 100] == 255
    assert np.abs(layers[0].rgba[110, 100, :3].astype(int) - (60, 40, 40)).max() <= 3
    after = Character((w, h), layers)
    diff = np.abs(after.composite().astype(int) - before.composite().astype(int))
    assert diff.max() <= 2


def test_face_shape_is_as_wide_as_the_eyes_say():
    h, w = 200, 200
    yy, xx = np.mgrid[0:h, 0:w]
    face = (np.abs(xx - 100) < 30) & (yy > 80) & (yy < 170)      # side hair hides the cheeks
    eyes = ((np.abs(xx - 60) < 12) | (np.abs(xx - 140) < 12)) & (np.abs(yy - 110) < 6)
    geo = HeadGeometry(face, np.zeros_like(face), eyes, eyes)
    shape = face_shape(face, geo)
    cols = np.flatnonzero(shape[110])
    assert cols.min() <= 48 and cols.max() >= 152


def _bust():
    """A face, back hair hanging beside it with its tips ending on the shoulders, a neck."""
    h, w = 240, 240
    yy, xx = np.mgrid[0:h, 0:w]
    face = ((xx - 120) / 50.0) ** 2 + ((yy - 100) / 62.0) ** 2 <= 1
    eyes = ((np.abs(xx - 95) < 10) | (np.abs(xx - 145) < 10)) & (np.abs(yy - 100) < 5)
    shoulders = (yy >= 190) & (np.abs(xx - 120) < 110)
    neck = (np.abs(xx - 120) < 22) & (yy > 150) & (yy < 190) & ~face
    hair = ((np.abs(xx - 120) < 80) & (yy > 40) & (yy < 190) | (((xx - 120) / 80.0) ** 2 +
            ((yy - 60) / 50.0) ** 2 <= 1)) & ~face & ~neck & ~shoulders
    return (h, w), yy, xx, face, eyes, shoulders, neck, hair


def test_hair_ending_on_the_shoulders_goes_on_behind_them_as_far_as_a_look_up_lifts_it():
    # The shoulders are drawn over the back hair's end (a bob behind a sailor collar). As
    # an artist paints it, the hair goes on behind them: a look-up lifted the hair off a
    # hole, the background showing through the body.
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    layers = [_layer("back hair", hair, (60, 40, 40), 0.9), _layer("neck", neck, (230, 190, 170)),
              _layer("topwear", shoulders, (30, 30, 90), 0.6), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3)]
    before = layers[0].alpha.copy()
    complete_hidden(layers)
    painted = (layers[0].alpha > 127) & ~(before > 127)
    # Straight below the ends at x = 50: half a nod's reach (eyes to chin 62 px: 10 px) behind
    # the shoulders, in the hair's colour, and no further.
    assert painted[190:200, 50].all() and not painted[200:, 50].any()
    assert np.abs(layers[0].rgba[198, 50, :3].astype(int) - (60, 40, 40)).max() <= 6
    # Its sides slant in, the end of a lock, not a block's square corner.
    depth = [np.flatnonzero(painted[:, x]).max() for x in (38, 40, 44)]
    assert depth[0] < depth[1] <= depth[2] == 199
    # Behind the neck, between the locks, it goes on down to the ends' level: the neck hides
    # it there whatever the head does.
    assert painted[185, 120] and not painted[192:, 120].any()
    # Only where the shoulders hide it (the picture is unchanged), none into the background
    # beside the ends.
    assert not (painted & (yy >= 190) & ~shoulders).any()
    assert not painted[185, 215]


def test_hair_whose_lower_edge_is_already_hidden_gets_no_more():
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    hair = hair | ((np.abs(xx - 120) < 80) & (yy >= 190) & (yy < 205))   # reaches under already
    layers = [_layer("back hair", hair, (60, 40, 40), 0.9),
              _layer("topwear", shoulders, (30, 30, 90), 0.6), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3)]
    complete_hidden(layers)
    assert not (layers[0].alpha[215:, 50] > 0).any()


def _bust_with_long_locks():
    """The bust with two long front locks hanging over the chest, a top between two sleeves
    and the left lock lying over the seam between the top and its sleeve."""
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    locks = ((np.abs(xx - 60) < 9) | (np.abs(xx - 180) < 9)) & (yy > 150) & (yy < 232)
    sleeves = shoulders & (np.abs(xx - 120) >= 60)
    top = shoulders & ~sleeves
    layers = [_layer("back hair", hair & ~locks, (60, 40, 40), 0.9),
              _layer("handwear", sleeves & ~locks, (30, 30, 90), 0.7),
              _layer("topwear", top & ~locks, (30, 30, 90), 0.6),
              _layer("neck", neck, (230, 190, 170)), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3),
              _layer("front hair", locks, (80, 50, 50), 0.1)]
    return yy, xx, hair, locks, layers


def test_back_hair_is_not_painted_down_to_the_tips_of_locks_hanging_over_the_chest():
    # The head's hull taken down to the lowest lock's tip painted a block with straight sides
    # behind the shoulders, which a tilt of the head swung out past them.
    yy, xx, hair, locks, layers = _bust_with_long_locks()
    complete_hidden(layers)
    back = layers[0].alpha > 127
    # Behind the head, and straight below the tips that rest on the shoulders: this hair is
    # long (its locks hang on down the chest), so it goes on behind the body...
    assert back[120, 120] and back[196, 50]
    # ...but not down to the locks' tips behind the chest, nor out in the shoulders' corners.
    assert not back[225, 60] and not back[225, 120]
    assert not back[200:, :20].any() and not back[200:, 220:].any()


def test_a_top_goes_on_under_a_lock_lying_over_the_seam_to_its_sleeve():
    # Neither the top's nor the sleeve's visible pixels span the lock, so painting each part
    # by its own rows left a hole there that a turn of the head uncovered.
    yy, xx, hair, locks, layers = _bust_with_long_locks()
    before = Character((240, 240), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers])
    complete_hidden(layers)
    under_lock = locks & (yy >= 195) & (yy < 232) & (xx < 120)
    clothed = (layers[1].alpha > 127) | (layers[2].alpha > 127)
    assert clothed[under_lock].all()
    # In the clothes' colour, and the picture itself is unchanged.
    assert np.abs(layers[2].rgba[215, 60, :3].astype(int) - (30, 30, 90)).max() <= 6
    diff = np.abs(Character((240, 240), layers).composite().astype(int)
                  - before.composite().astype(int))
    assert diff.max() <= 2


def test_a_shoulder_s_outline_goes_on_under_a_lock_lying_on_it():
    # Shoulders sloping down from the neck; a lock lies across the left one. Under the lock
    # the top's outline runs on along the slope, not square at the lower of its two ends
    # (a tilt that swings the lock aside showed a notch cut into the shoulder), and nothing
    # of the top, its seam included, reaches above it (a look-up that lifted the lock showed
    # scraps of shoulder over the shoulder's line).
    h, w = 240, 200
    yy, xx = np.mgrid[0:h, 0:w]
    slope = 180 + np.abs(xx - 100) * 30 / 80.0           # the shoulder line's row
    top = (yy >= slope) & (np.abs(xx - 100) <= 80)
    lock = (xx >= 40) & (xx < 80) & (yy >= 150) & (yy < 230)
    layers = [_layer("topwear", top & ~lock, (30, 30, 90), 0.6),
              _layer("front hair", lock, (70, 50, 40), 0.2)]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers])
    complete_hidden(layers)
    painted = layers[0].alpha > 127
    for x in range(42, 80):
        line = int(np.ceil(slope[0, x]))
        assert painted[line + 1:230, x].all(), x               # up to the shoulder's line
        assert not painted[:line - 1, x].any(), x              # and no higher
    diff = np.abs(Character((w, h), layers).composite().astype(int)
                  - before.composite().astype(int))
    assert diff.max() <= 2


def test_a_top_is_painted_no_higher_than_its_edge_seen_under_a_lock_s_tips():
    # A lock ends just above the shoulder, the page seen between its tips and the shoulder;
    # the top rises higher on either side of it (a sleeve's puff, the collar). Rows spanned
    # between those painted the top on up under the lock: a look-up that lifted the tips
    # showed those scraps floating above the shoulder.
    h, w = 240, 200
    yy, xx = np.mgrid[0:h, 0:w]
    top = ((yy >= 200) & (xx >= 20) & (xx < 180)) | ((yy >= 175) & (xx >= 30) & (xx < 40)) \
        | ((yy >= 170) & (xx >= 90) & (xx < 110))
    lock = (xx >= 50) & (xx < 62) & (yy >= 120) & (yy < 197)
    layers = [_layer("topwear", top, (30, 30, 90), 0.6),
              _layer("front hair", lock, (70, 50, 40), 0.2)]
    complete_hidden(layers)
    painted = layers[0].alpha > 0
    assert not painted[:199, 50:62].any()
    assert painted[200:, 50:62].all()


def test_a_top_under_a_lock_has_no_slit_where_a_column_meets_another_part():
    # A wide lock lies on a flat shoulder; in two of its columns a sleeve's sliver, not the
    # lock, lies right on the top's edge. Those columns are under the lock as much as their
    # neighbours: the top is painted up to its outline there too (left out, they opened as a
    # slit when the lock swung).
    h, w = 240, 200
    yy, xx = np.mgrid[0:h, 0:w]
    top = (yy >= np.where(xx < 60, 170, 150)) & (xx >= 20) & (xx < 180)   # a step under it
    lock = (xx >= 40) & (xx < 80) & (yy >= 100) & (yy < 190)
    sliver = (xx >= 59) & (xx < 61) & (yy >= 185) & (yy < 190)
    lock &= ~sliver
    layers = [_layer("topwear", top & ~lock & ~sliver, (30, 30, 90), 0.6),
              _layer("handwear", sliver, (30, 30, 90), 0.5),
              _layer("front hair", lock, (70, 50, 40), 0.2)]
    complete_hidden(layers)
    painted = layers[0].alpha > 127
    line = 170 + (150 - 170) * (xx[0] - 39) / 41.0             # from (39, 170) to (80, 150)
    for x in range(42, 78):
        assert painted[int(np.ceil(line[x])) + 1:190, x].all(), x
        assert not painted[:int(line[x]) - 1, x].any(), x


def test_a_top_s_outline_is_where_the_page_lies_above_it_and_runs_on_under_a_lock():
    # Columns 0-19: the page above the top's edge (row 50): outline. 20-29: a lock lies on
    # it: the outline runs straight on between row 50 and row 40 (column 30). 30-39: page
    # again, the edge at row 40. 40-49: the neck lies above the collar: no outline there
    # (cutting the top at the collar opened a hole beside the neck when the hair swung).
    h, w = 80, 50
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.where(xx < 30, 50, 40)
    edge = np.where((xx >= 20) & (xx < 30), 60, edge)          # under the lock it shows lower
    mask = yy >= edge
    page = np.ones((h, w), bool)
    strands = (xx >= 20) & (xx < 30) & (yy < 60)
    neck = (xx >= 40) & (yy < 40)
    page &= ~mask & ~strands & ~neck
    line, hidden = top_outline(mask, page, strands)
    assert np.allclose(line[:20], 50) and np.allclose(line[30:40], 40)
    assert hidden[20:30].all() and not hidden[:20].any()
    expected = 50 + (40 - 50) * (np.arange(20, 30) - 19) / 11.0
    assert np.allclose(line[20:30], expected)
    assert np.isnan(line[40:]).all() and not hidden[40:].any()


def test_the_neck_goes_on_up_under_the_jaw_as_wide_as_the_jaw():
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    # Short hair, a cap above the ears: nothing hangs behind the jaw.
    cap = hair & (yy < 90)
    geo = HeadGeometry(face, cap, eyes, eyes)
    shape = neck_shape(neck, geo)
    # A third of the way from the chin (y 162) up to the eyes (y 100): well beyond the visible
    # neck's 44 px, about as wide as the jaw (a turned face uncovers that much of it).
    cols = np.flatnonzero(shape[145])
    assert cols.min() <= 90 and cols.max() >= 150
    assert not shape[120].any()          # not up over the cheeks


def test_where_hair_hangs_behind_the_jaw_the_neck_rises_as_wide_as_it_is_seen():
    # The neck is drawn over the back hair: a turned face uncovers the hair hanging behind
    # the jaw, not a neck as wide as the jaw.
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    geo = HeadGeometry(face, hair, eyes, eyes)
    shape = neck_shape(neck, geo)
    cols = np.flatnonzero(shape[145])
    assert cols.size and cols.min() >= 96 and cols.max() <= 144     # the neck's 98..141
    assert cols.max() - cols.min() >= 30                             # still up under the jaw


def test_below_the_chin_the_neck_is_as_wide_as_it_is_seen():
    # Short hair: under the jaw the neck reaches out as wide as the jaw. Below the chin no
    # jaw hides it; what a lock lying beside it hides there is as wide as the neck is seen
    # (a look-up lifted the locks off patches of skin among them).
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    cap = hair & (yy < 90)
    long_neck = (np.abs(xx - 120) < 22) & (yy > 150) & (yy < 235) & ~face
    geo = HeadGeometry(face, cap, eyes, eyes)
    shape = neck_shape(long_neck, geo)
    assert np.flatnonzero(shape[145]).min() <= 90                   # under the jaw: wide
    for row in (168, 175, 185):                                      # the chin is at 162
        cols = np.flatnonzero(shape[row])
        assert cols.min() >= 96 and cols.max() <= 144                # the neck's 98..141


def test_the_neck_goes_on_down_under_the_neckline_as_wide_as_its_base():
    # The neck is drawn behind the top (a collar lies over it); a nod lifts its base, so its
    # base goes on under the top, as wide as it is there, about a third of the chin-to-eyes
    # distance (62 px here), and no wider.
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    layers = [_layer("back hair", hair, (60, 40, 40), 0.9), _layer("neck", neck, (230, 190, 170)),
              _layer("topwear", shoulders, (30, 30, 90), 0.6), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3)]
    complete_hidden(layers)
    painted = layers[1].alpha > 127
    assert painted[190:208, 99:141].all()
    assert not painted[190:, :90].any() and not painted[190:, 151:].any()
    assert not painted[225:].any()
    assert np.abs(layers[1].rgba[200, 120, :3].astype(int) - (230, 190, 170)).max() <= 4


def test_the_neck_is_drawn_behind_the_top():
    from seethrough_core.taxonomy import canonical_rank
    assert canonical_rank("neck") < canonical_rank("topwear") < canonical_rank("neckwear")


def test_decontaminated_edges_leave_no_trace_of_a_line_on_the_skin():
    h, w = 40, 40
    skin = np.array([250, 220, 200], np.float32)
    ink = np.array([40, 20, 20], np.float32)
    cover = np.zeros((h, w), np.float32)
    cover[:, 18:22] = 1.0
    cover[:, 17] = cover[:, 22] = 0.5                 # an anti-aliased line
    picture = skin * (1 - cover[..., None]) + ink * cover[..., None]
    face = np.zeros((h, w, 4), np.uint8)
    face[..., :3] = np.round(picture)                 # the face holds the line's soft edges
    face[..., 3] = 255
    line = np.zeros((h, w, 4), np.uint8)
    line[:, 18:22, :3] = ink
    line[:, 18:22, 3] = 255
    face[:, 18:22, :3] = skin                         # painted under the line already
    layers = [Layer("face", face, tag="face"), Layer("mouth", line, tag="mouth")]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers]).composite()
    owner = np.where(line[..., 3] > 127, 1, 0)
    decontaminate_edges(layers, owner, radius=2)
    # The face is clean skin where the line's edge was...
    assert np.abs(layers[0].rgba[:, 17, :3].astype(int) - skin).max() <= 3
    assert np.abs(layers[0].rgba[:, 22, :3].astype(int) - skin).max() <= 3
    # ...the line carries its own edge as alpha...
    assert 100 < layers[1].rgba[5, 17, 3] < 155
    # ...and the picture is the same.
    after = Character((w, h), layers).composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 2
    assert visible_owner(layers)[5, 20] == 1


def test_a_border_drawn_across_smooth_shading_is_no_mixed_edge():
    # A bare neck runs on into the bare chest (a top's label), its shade lightening by 45
    # levels over 18 rows: unmixed as an edge, the chest took a faint fringe over the neck a few rows
    # deep, which rose off the neck at a look-up as a band. There is no edge to split: both
    # keep their own pixels, opaque. An anti-aliased line on the same border is still split.
    h, w = 40, 40
    t = np.clip((np.arange(h, dtype=np.float32) - 12) / 18, 0, 1)[:, None, None]
    shade = np.array([190, 140, 125], np.float32) + 45 * t * t * (3 - 2 * t) \
        * np.ones((1, w, 3), np.float32)
    neck = np.zeros((h, w, 4), np.uint8)
    neck[..., :3] = np.round(shade)
    neck[..., 3] = 255                                 # painted on under the chest already
    chest = np.zeros((h, w, 4), np.uint8)
    chest[20:, :, :3] = np.round(shade[20:])
    chest[20:, :, 3] = 255
    layers = [Layer("neck", neck, tag="neck"), Layer("topwear", chest, tag="topwear")]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers]).composite()
    owner = np.where(chest[..., 3] > 127, 1, 0)
    decontaminate_edges(layers, owner, radius=2)
    assert (layers[1].rgba[:20, :, 3] == 0).all() and (layers[1].rgba[20:, :, 3] == 255).all()
    after = Character((w, h), layers).composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 2
    # The same border drawn as an edge: the chest lighter by 40 levels from row 20, with one
    # row half way between.
    step = shade.copy()
    step[20:] += 40
    step[19] += 20
    neck[..., :3] = np.round(np.minimum(shade, 255))
    neck[19, :, :3] = np.round(step[19])
    chest[20:, :, :3] = np.round(np.minimum(step[20:], 255))
    layers = [Layer("neck", neck, tag="neck"), Layer("topwear", chest, tag="topwear")]
    decontaminate_edges(layers, owner, radius=2)
    assert 90 < layers[1].rgba[19, 20, 3] < 165


def test_a_soft_edge_between_two_materials_is_still_split():
    # Dark hair over skin with an edge drawn soft, a ramp 6 px wide: the picture changes by
    # a sixth of the two colours' difference a pixel, as slowly as shading, but hair and skin
    # are two materials: the mix is split (the hair takes the ramp as alpha), or the skin's
    # side of the ramp would travel with the face as a dark halo.
    h, w = 40, 40
    skin, hair = np.array([250, 220, 200], np.float32), np.array([40, 30, 30], np.float32)
    t = np.clip((np.arange(h, dtype=np.float32) - 16.5) / 6.0, 0, 1)[:, None, None]
    picture = np.round(skin * (1 - t) + hair * t) * np.ones((1, w, 1), np.float32)
    face = np.zeros((h, w, 4), np.uint8)
    face[..., :3] = picture
    face[20:, :, :3] = skin                            # painted on under the hair already
    face[..., 3] = 255
    top = np.zeros((h, w, 4), np.uint8)
    top[20:, :, :3] = picture[20:]
    top[20:, :, 3] = 255
    layers = [Layer("face", face, tag="face"), Layer("front hair", top, tag="front hair")]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers]).composite()
    owner = np.where(top[..., 3] > 127, 1, 0)
    decontaminate_edges(layers, owner, radius=2)
    assert 0 < layers[1].rgba[19, 20, 3] < 255                # the hair takes its side of the mix
    assert np.abs(layers[0].rgba[19, 20, :3].astype(int) - skin).max() <= 6   # clean skin below
    after = Character((w, h), layers).composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 2


def test_a_pixel_inside_the_part_below_coloured_like_the_one_above_stays_below():
    # A brown lock's edge over a dark lash's wing: a fleck of lash two pixels off the lock in
    # the lock's own brown unmixed as wholly the lock's and moved to it, and when the lash
    # closed it floated over the skin as a dotted line beside the lock. Only the lock's soft
    # edge, side by side with it, is the lock's.
    h, w = 30, 40
    brown = np.array([120, 70, 50], np.float32)
    dark = np.array([40, 15, 15], np.float32)
    lock = np.zeros((h, w), bool)
    lock[:, 24:] = True
    picture = np.broadcast_to(dark, (h, w, 3)).copy()
    picture[lock] = brown
    picture[:, 23] = 0.5 * brown + 0.5 * dark        # the lock's anti-aliased edge
    fleck = (slice(10, 12), 22)                       # lock-coloured, past the soft edge
    picture[fleck] = brown
    lash = np.zeros((h, w, 4), np.uint8)
    lash[..., :3] = np.round(picture)
    lash[..., 3] = 255
    lash[lock, :3] = dark                             # painted under the lock already
    hair = np.zeros((h, w, 4), np.uint8)
    hair[lock, :3] = brown
    hair[lock, 3] = 255
    layers = [Layer("eyelash", lash, tag="eyelash"), Layer("front hair", hair, tag="front hair")]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers]).composite()
    owner = np.where(lock, 1, 0)
    decontaminate_edges(layers, owner, radius=2)
    assert 100 < layers[1].rgba[5, 23, 3] < 155                  # the soft edge: half the lock's
    assert layers[1].rgba[10, 22, 3] == 0 and layers[1].rgba[11, 22, 3] == 0   # no fleck
    assert (layers[1].rgba[:, :23, 3] == 0).all()
    after = Character((w, h), layers).composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 2


def test_a_glasses_frame_goes_on_under_a_strand_as_a_stroke_of_its_own_width_and_ink():
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    rho = np.hypot((xx - 80) / 40.0, (yy - 60) / 28.0)
    rim = np.abs(rho - 1.0) < 0.06                       # an elliptic rim ~2-3 px wide
    strand = (np.abs(xx - 0.3 * yy - 45) < 5) & (yy < 60)  # a lock crossing the rim's top-left
    skin = (rho < 1.6) & ~rim
    frame = rim & ~strand
    layers = [_layer("face", skin | rim | strand, (250, 220, 200)),
              _layer("eyewear", frame, (30, 30, 35)),
              _layer("front hair", strand, (20, 18, 20))]
    before = layers[1].alpha.copy()
    complete_hidden(layers, seam=3)
    eyewear = layers[1]
    added = (eyewear.alpha > 0) & ~(before > 0)
    under = rim & strand
    # The gap under the strand is bridged (most of the rim it hides)...
    assert (added & under).sum() >= 0.6 * under.sum()
    # ...as a stroke, not a blob: nothing far from the rim's line is painted...
    assert not (added & (np.abs(rho - 1.0) > 0.2)).any()
    assert added.sum() <= 2.0 * under.sum()
    # ...in the frame's own ink, not the skin's.
    assert np.abs(eyewear.rgba[added, :3].astype(int) - (30, 30, 35)).max() <= 2


def _paint_behind_the_bust(back_hair, face, eyes, shoulders, neck):
    """``back_hair`` completed under the bust's neck, top, face and eyes, in place; the pixels
    it gained (bool (H, W))."""
    layers = [back_hair, _layer("neck", neck, (230, 190, 170)),
              _layer("topwear", shoulders, (30, 30, 90), 0.6), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3)]
    before = back_hair.alpha.copy()
    complete_hidden(layers)
    return (back_hair.alpha > 127) & ~(before > 127)


def test_the_background_seen_between_strands_is_not_painted_on_behind_the_head():
    # Dark hair with white slivers between its strands (the white page seen through): the
    # back hair painted behind the face and the neck is hair-coloured, with no white streak.
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    rgb = np.array((45, 30, 30))
    layer = _layer("back hair", hair, tuple(rgb), 0.9)
    slivers = hair & (np.abs(((xx - 44) % 40) - 20) <= 1)               # white gaps
    layer.rgba[slivers, :3] = 255
    painted = _paint_behind_the_bust(layer, face, eyes, shoulders, neck)
    assert painted[face | neck].mean() > 0.5
    colours = layer.rgba[painted & (face | neck), :3].astype(int)
    assert (colours.max(axis=1) >= 120).mean() < 0.001           # no streak of white
    assert np.abs(colours.mean(axis=0) - rgb).max() < 6          # nor a lighter, greyer blend


def _long_lock(yy, xx):
    """A lock of front hair hanging down the chest: the hair is long, its back hair goes on
    behind the body."""
    return _layer("front hair", (np.abs(xx - 155) < 5) & (yy > 150) & (yy < 235), (60, 40, 40),
                  0.1)


def test_hidden_ends_of_long_hair_are_cut_as_tips_and_an_outline_stroke_alone_hangs_nothing():
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    # An outline stroke lying on the shoulder beside the hair, labelled hair, nothing above it.
    stroke = (yy >= 188) & (yy < 190) & (xx >= 206) & (xx <= 226)
    layers = [_layer("back hair", hair | stroke, (60, 40, 40), 0.9),
              _layer("neck", neck, (230, 190, 170)),
              _layer("topwear", shoulders, (30, 30, 90), 0.6), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3), _long_lock(yy, xx)]
    before = layers[0].alpha.copy()
    complete_hidden(layers)
    painted = (layers[0].alpha > 127) & ~(before > 127)
    # Beside the neck, outside the head's hull: the hidden ends are strand tips of different
    # lengths, not a block with a flat bottom.
    cols = np.arange(44, 76)
    lowest = np.array([np.flatnonzero(painted[:, c]).max() for c in cols])
    assert lowest.min() >= 200 and lowest.max() - lowest.min() >= 6
    # The stroke gets no more than the seam every layer gets.
    assert not painted[196:, 212:222].any()


def _complete_bust_hair(draw_hair):
    """The bust with long hair, its back hair drawn by ``draw_hair(hair, yy, xx)`` (a layer),
    completed: (that layer, its painted pixels, yy, xx)."""
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    layer = draw_hair(hair, yy, xx)
    layers = [layer, _layer("neck", neck, (230, 190, 170)),
              _layer("topwear", shoulders, (30, 30, 90), 0.6), _layer("face", face, (250, 220, 200)),
              _layer("eyewhite", eyes, (255, 255, 255), 0.3), _long_lock(yy, xx)]
    before = layer.alpha.copy()
    complete_hidden(layers)
    return layer, (layer.alpha > 127) & ~(before > 127), yy, xx


def _with_colour(layer, where, rgb):
    layer.rgba[where, :3] = rgb
    return layer


def _hair_with_tips(tip_rgb):
    """The bust's back hair, its lowest 8 rows (the tips on the shoulders) drawn column by
    column from ``tip_rgb(x)``."""
    def draw(hair, yy, xx):
        layer = _layer("back hair", hair, (120, 70, 40), 0.9)
        tips = hair & (yy >= 182)
        for x in np.flatnonzero(tips.any(0)):
            layer.rgba[tips[:, x], x, :3] = tip_rgb(x)
        return layer
    return _complete_bust_hair(draw)


def test_hidden_hair_ends_are_not_painted_in_the_page_seen_between_strands():
    # Two columns in three of the tips are the page blended into thin strands' edges: lighter
    # and greyer than the hair. The hair hanging on behind the shoulders is the hair's colour.
    page_blend, brown = (165, 145, 130), (120, 70, 40)
    layer, painted, yy, xx = _hair_with_tips(lambda x: brown if x % 3 == 0 else page_blend)
    hidden = painted & (yy > 192) & (yy < 200) & (np.abs(xx - 120) > 40)
    assert hidden.sum() > 100
    rgb = layer.rgba[hidden, :3].astype(float)
    assert np.abs(rgb - brown).max(axis=1).mean() < 15


def test_hair_ending_in_thin_strands_goes_on_in_the_strands_colour():
    # The hair's bulk is light; its lowest rows are thin dark strands (3 px, page between
    # them) whose tips lie on the shoulders. Hidden behind the shoulders the strands go on
    # dark: a source kept far from every edge has no pixel of so thin a strand and took the
    # light colour of the hair far above, a pale bar a nod lifts into view.
    light, dark = (200, 150, 110), (60, 35, 25)

    def draw(hair, yy, xx):
        strands = hair & (yy >= 165) & (xx % 6 >= 3)
        layer = _layer("back hair", hair & ~((yy >= 165) & ~strands), light, 0.9)
        layer.rgba[strands, :3] = dark
        return layer
    layer, painted, yy, xx = _complete_bust_hair(draw)
    hidden = painted & (yy > 192) & (yy < 198) & (np.abs(xx - 120) > 40)
    assert hidden.sum() > 50
    rgb = layer.rgba[hidden, :3].astype(float).mean(axis=0)
    assert np.abs(rgb - dark).max() < 0.3 * np.abs(np.subtract(light, dark)).max()


def test_hidden_hair_ends_take_no_colour_of_the_collar_they_lay_on():
    # The tips' last three rows are blended with the navy top they lie on (their soft edge).
    # Hidden behind it, the hair goes on in the hair's colour, not streaked navy.
    brown, blend = (120, 70, 40), (45, 40, 85)
    layer, painted, yy, xx = _complete_bust_hair(
        lambda hair, yy, xx: _with_colour(_layer("back hair", hair, brown, 0.9),
                                          hair & (yy >= 187), blend))
    hidden = painted & (yy > 192) & (yy < 200) & (np.abs(xx - 120) > 40)
    assert hidden.sum() > 100
    rgb = layer.rgba[hidden, :3].astype(float)
    assert np.abs(rgb - brown).max(axis=1).mean() < 8


def test_hidden_hair_ends_are_no_barcode_of_highlights_and_outlines():
    # The tips alternate column by column between an outline and a highlight; carried down
    # unchanged that is a barcode. Hidden, neighbouring columns differ far less than drawn.
    dark, light = (60, 35, 20), (170, 110, 70)
    layer, painted, yy, xx = _hair_with_tips(lambda x: dark if x % 2 else light)
    rows = slice(194, 200)
    cols = np.flatnonzero(painted[rows].all(0) & (np.abs(np.arange(240) - 120) > 40))
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    steps = [np.abs(np.diff(layer.rgba[rows, r, 0].astype(float), axis=1)).mean()
             for r in runs if len(r) > 4]
    assert steps and max(steps) < 0.35 * (light[0] - dark[0])


def test_a_part_ending_in_an_outline_takes_the_outline_s_soft_edge_off_the_part_below():
    # The face ends in its jaw line; the line's anti-aliased edge lies on the neck below. Left
    # there, it stays behind as a faint second chin line when the face lifts. The neck gets
    # its own colour back, the face carries the edge as alpha, the picture is the same.
    h, w = 40, 40
    skin = np.array([250, 220, 200], np.float32)
    neck_rgb = np.array([215, 160, 140], np.float32)
    ink = np.array([40, 25, 25], np.float32)
    face = np.zeros((h, w, 4), np.uint8)
    face[:20, :, :3] = skin
    face[17:20, :, :3] = ink                            # the jaw line, the face's own
    face[:20, :, 3] = 255
    neck = np.zeros((h, w, 4), np.uint8)
    neck[:, :, :3] = neck_rgb
    neck[20, :, :3] = np.round(0.5 * ink + 0.5 * neck_rgb)   # the line's soft edge
    neck[:, :, 3] = 255
    layers = [Layer("neck", neck, tag="neck"), Layer("face", face, tag="face")]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers]).composite()
    owner = np.where(face[..., 3] > 127, 1, 0)
    decontaminate_edges(layers, owner, radius=2)
    assert np.abs(layers[0].rgba[20, 5:35, :3].astype(int) - neck_rgb).max() <= 4
    assert (np.abs(layers[1].rgba[20, 5:35, 3].astype(int) - 128) < 30).all()
    after = Character((w, h), layers).composite()
    assert np.abs(after.astype(int) - before.astype(int)).max() <= 2


def test_a_lash_line_goes_on_under_a_strand_and_its_pale_shading_does_not():
    # The upper lash: a dark line with pale lid shading drawn above it, crossed by a strand
    # of the fringe. Under the strand the line goes on dark; the shading is left unpainted
    # (the face shows there when the strand swings off, not pale streaks): only the line of
    # ink gets a seam (3 px here), above and below it.
    h, w = 140, 160
    yy, xx = np.mgrid[0:h, 0:w]
    face = ((xx - 80) / 70.0) ** 2 + ((yy - 70) / 65.0) ** 2 <= 1
    strand = (xx >= 66) & (xx < 77) & (yy < 90) & face
    line = (xx >= 40) & (xx < 110) & (yy >= 60) & (yy < 64)
    shade = (xx >= 40) & (xx < 110) & (yy >= 54) & (yy < 60)
    lash = _layer("eyelash", line & ~strand, (25, 20, 20), 0.3)
    lash.rgba[shade & ~strand] = (200, 185, 185, 255)
    layers = [_layer("face", face, (250, 222, 205)), lash,
              _layer("front hair", strand, (70, 45, 40), 0.1)]
    complete_hidden(layers)
    under = strand & line & (xx >= 69) & (xx < 74)
    assert (lash.alpha[under] > 127).all()
    assert lash.rgba[under][:, :3].max() < 90                     # the line's ink
    assert not (lash.alpha[strand & shade & (yy < 57)] > 0).any()
    assert not (lash.alpha[strand & (yy >= 67)] > 0).any()


def _eye_on_a_face():
    """((h, w), yy, xx, face, the eye's opening, its upper lash) of one eye on a face."""
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    face = ((xx - 80) / 70.0) ** 2 + ((yy - 60) / 55.0) ** 2 <= 1
    lens = (((xx - 80) / 30.0) ** 2 + ((yy - 62) / 10.0) ** 2 <= 1) & (yy >= 58)
    lash = (np.abs(xx - 80) <= 32) & (yy >= 52) & (yy < 58)
    return (h, w), yy, xx, face, lens, lash


def test_the_white_stops_at_the_line_its_opening_follows_at_the_top():
    # An eye's white and iris under a lash, a strand crossing the white. The white is painted
    # on under the iris and the strand (and gets its seam), but not above the line the
    # opening's top edge follows: where a lock took the lash's wing, what lay above that line
    # slid out from under the lash at a nod as a white fleck.
    (h, w), yy, xx, face, lens, lash = _eye_on_a_face()
    iris = ((xx - 90) ** 2 + (yy - 60) ** 2 <= 9 ** 2)
    strand = (xx >= 62) & (xx < 70) & (yy >= 30) & (yy < 90)
    layers = [_layer("face", face, (250, 222, 205)),
              _layer("eyewhite", lens & ~iris & ~strand, (255, 255, 255)),
              _layer("irides", iris & (yy >= 58) & ~strand, (90, 60, 40)),
              _layer("eyelash", lash & ~strand, (20, 15, 15)),
              _layer("front hair", strand, (40, 30, 30), depth=0.3)]
    before = Character((w, h), [Layer(l.name, l.rgba.copy(), tag=l.tag) for l in layers])
    complete_hidden(layers)
    white = layers[1].alpha > 0
    assert white[(yy >= 60) & (yy <= 64) & strand].all()          # under the strand
    assert not white[yy < 56].any()                                # not above the line
    diff = np.abs(Character((w, h), layers).composite().astype(int)
                  - before.composite().astype(int))
    assert diff.max() <= 2


def test_the_white_under_the_iris_is_painted_in_its_lit_tone_not_its_shadow():
    # The white's top half is in the lash's blue-grey shadow and a corner holds skin taken
    # into the opening: averaged, the white painted under the iris came out a grey block that
    # a glance showed where the iris had been. It takes the white's lit tone.
    (h, w), yy, xx, face, lens, lash = _eye_on_a_face()
    iris = ((xx - 80) ** 2 + (yy - 64) ** 2 <= 11 ** 2)
    white = _layer("eyewhite", lens & ~iris, (250, 250, 252))
    white.rgba[lens & (yy < 64), :3] = (150, 160, 185)          # the lash's shadow
    white.rgba[lens & (xx > 98), :3] = (235, 200, 180)          # a corner of skin
    layers = [_layer("face", face, (250, 222, 205)), white,
              _layer("irides", iris & lens, (60, 110, 190)),
              _layer("eyelash", lash, (20, 15, 15))]
    complete_hidden(layers)
    under = iris & lens & (yy >= 66)                              # below the shadow's rows
    painted = layers[1].rgba[under][:, :3].astype(int)
    assert (layers[1].alpha[under] == 255).all()
    assert np.abs(painted - (250, 250, 252)).max() <= 12


def test_back_hair_behind_the_head_is_painted_in_the_hair_s_tone_not_lifted_by_its_sheen():
    # Brown hair with a broad pale sheen across the crown (an "angel ring"): the hair painted
    # behind the face and the neck takes the hair's own tone, as an artist paints back hair,
    # not a blend lightened by the sheen that showed as a pale block at a look-up.
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    tone, sheen = np.array((90, 60, 45)), np.array((235, 200, 180))
    layer = _layer("back hair", hair, tuple(tone), 0.9)
    layer.rgba[hair & (yy < 100), :3] = sheen                    # the crown, above the eyes
    painted = _paint_behind_the_bust(layer, face, eyes, shoulders, neck)
    low = painted & (face | neck) & (yy > 110)                 # below the eyes
    assert low.sum() > 200
    colours = layer.rgba[low, :3].astype(float)
    assert np.abs(np.median(colours, axis=0) - tone).max() < 12


def test_clothes_are_painted_under_a_lock_in_their_own_colour_not_the_skin_seen_beside_it():
    # A navy top with a patch of skin seen through a gap beside a lock of hair, taken for the
    # top. Under the lock the top is painted navy: the skin's colour, a minority of the top,
    # is no source (drawn on under the lock, a look-up showed a skin-coloured block).
    (h, w), yy, xx, face, eyes, shoulders, neck, hair = _bust()
    lock = (np.abs(xx - 70) < 8) & (yy >= 150) & (yy < 235)
    navy, skin = (30, 30, 90), (250, 220, 200)
    top = _layer("topwear", shoulders & ~lock, navy, 0.6)
    gap = shoulders & ~lock & (xx >= 78) & (xx < 92) & (yy < 215)
    top.rgba[gap, :3] = skin
    layers = [_layer("back hair", hair & ~lock, (60, 40, 40), 0.9), _layer("neck", neck, skin),
              top, _layer("face", face, skin), _layer("eyewhite", eyes, (255, 255, 255), 0.3),
              _layer("front hair", lock, (60, 40, 40), 0.1)]
    complete_hidden(layers)
    under = lock & shoulders
    assert (top.alpha[under] == 255).mean() > 0.95
    colours = top.rgba[under, :3].astype(int)
    assert (np.abs(colours - navy).max(axis=1) <= 20).mean() > 0.95
    assert not (np.abs(colours - skin).max(axis=1) <= 40).any()
