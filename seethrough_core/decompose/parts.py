"""Assigning every figure pixel to a See-through tag, from colour, shape and body layout.

The cues, in the order they are tried: the head (pose landmarks or the skin blob at the top of
the figure), skin colour sampled on the cheeks, the hair colour sampled at the top of the figure
(thin line art opened away so outlines do not chain the whole figure to the hair), the facial
features as the non-skin holes of the face (eyes split into eyewhite, irides and eyelash by
lightness and position; the eyebrow above; the mouth as the mouth-sized feature below the nose
that does not touch the face's outline; the nose as a small mark on the centre line), the ears as
skin-hued blobs against the face's sides, the neck as skin under the chin, and the body by its
nearest pose bone (torso, arms, thighs, shins, feet) with a colour split between top and bottom
clothing. Pixels no rule claims take the tag of the nearest claimed pixel.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy import ndimage

from ..character import InputError
from .completion import HeadGeometry, _row_spans, convex_fill, face_shape
from .eyewear import find_eyewear
from .hair import SQUARE, grown_within, hair_mask, split_front_back
from .iris_round import iris_circle
from .layout import Layout, Point

# Tags the heuristic produces; the label map stores an index into this tuple (+1, 0 = none).
PART_TAGS: tuple[str, ...] = (
    "back hair", "front hair", "face", "eyewhite", "irides", "eyelash", "eyebrow", "ears", "nose",
    "mouth", "neck", "topwear", "handwear", "bottomwear", "legwear", "footwear", "eyewear",
)
LABEL = {tag: i + 1 for i, tag in enumerate(PART_TAGS)}
# Least ink an eyebrow shows, in eye spacings squared (a drawn brow: ~0.05 ed thick, ~0.7 long).
BROW_MIN_AREA = 0.02


@dataclass
class Head:
    """The face as found: eye line, eye spacing, chin, centre line."""

    cx: float
    eye_y: float
    eye_dist: float
    chin_y: float
    eyes: tuple[Point, Point]          # (character's left = image right, character's right)
    nose: Point
    mouth: Point


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 Lab with L in 0..100."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def label_parts(rgb: np.ndarray, alpha: np.ndarray, layout: Layout) -> tuple[np.ndarray, Head]:
    """(label map (H, W) uint8 indexing PART_TAGS + 1, the head found). Raises InputError when
    there is no character (no figure, or no face-like skin region)."""
    h, w = alpha.shape
    fg = alpha > 0
    solid = alpha > 0.5
    if solid.sum() < max(64, 0.002 * h * w):
        raise InputError("no character found: the picture has no figure standing out from its "
                         "background; give an illustration of a character")
    lab = to_lab(rgb)
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rows = np.flatnonzero(solid.any(1))
    top, bottom = rows[0], rows[-1]
    fig_h = float(bottom - top + 1)

    head, skin, on_landmarks = _find_head(lab, solid, layout, top, fig_h, xx, yy)
    if not on_landmarks:
        # The pose model's skeleton is no better than the face it put on it (a tiny figure
        # drawn over the face, its hips and knees on the chest): shoulders and limbs come
        # from the fallbacks too.
        layout = Layout()
    ed = head.eye_dist
    labels = np.zeros((h, w), np.uint8)

    # Hair: colour models of hair and of skin and clothes, learnt from this picture.
    first_face = _face_pieces(skin & (yy <= head.chin_y), head, xx, yy)
    first_eyes = _eyes_from_whites(_eye_white(lab, first_face), _dark(L, first_face), first_face,
                                   convex_fill(first_face) & solid, L, head, xx, yy) \
        if first_face.any() else None
    hair = hair_mask(lab, solid, first_face, cx=head.cx, eye_y=head.eye_y, eye_dist=ed,
                     chin_y=head.chin_y, top=int(top), skin=skin,
                     eyes=first_eyes[0] if first_eyes is not None else None)
    hair &= ~_flat_strokes_below(hair, head.chin_y, ed)
    # Eyes are never hair, even where white or silver hair is as light as an eyewhite.
    if first_eyes is not None:
        for eye in first_eyes[1]:
            hair &= ~eye
    skin = skin & ~hair
    # Face: the skin component around the nose, above the chin, and its convex hull.
    face_skin = _face_pieces(skin & (yy <= head.chin_y), head, xx, yy)
    face_hull = convex_fill(face_skin) & solid
    # Thin slivers of skin beside the neck would stretch the face's outline below the chin
    # (above the eyes, slivers between fringe strands are the forehead: they stay).
    cleaned = _without_slivers(face_skin, (head.cx, head.eye_y + 0.4 * ed), 0.9 * ed, 0.08 * ed,
                               xx, yy)
    face_skin = np.where(yy < head.eye_y + 0.5 * ed, face_skin, cleaned)
    face_hull = convex_fill(face_skin) & solid
    if face_skin.any():
        head = replace(head, chin_y=min(head.chin_y, float(np.nonzero(face_skin)[0].max())))
    labels[hair] = LABEL["back hair"]

    feats = face_hull & ~hair & ~face_skin
    white = (L > 80) & (np.hypot(A, B) < 8)
    dark = _dark(L, face_skin)
    labels[face_hull & ~hair] = LABEL["face"]

    # Eyes: found in the picture itself when it shows two eyewhites (pose landmarks of anime
    # faces are often off by a lid's height or sit between the eyes); else around the landmarks.
    eye_white = _eye_white(lab, face_skin)
    found = _eyes_from_whites(eye_white, dark, face_skin, face_hull, L, head, xx, yy)
    if found is not None:
        eyes_found, eye_masks = found
        head = replace(head, eyes=eyes_found, eye_y=(eyes_found[0][1] + eyes_found[1][1]) / 2)
        blush = _skin_tinted(lab, face_skin)
        for eye, (ex, ey) in zip(eye_masks, eyes_found):
            _label_eye(labels, eye, eye_white, dark, L, face_skin, feats, ex, ed, xx, yy,
                       blush)
            _lash_under_hair(labels, eye, dark, face_skin, L)
            _lash_wing_from_hair(labels, eye, L)
            _white_from_hair(labels, eye, eye_white)
            # The iris's own top first: a highlight in it is no white above the lash.
            _iris_coloured_lash_to_iris(labels, eye, lab)
            _white_above_lash_to_face(labels, eye)
    for ex, ey in head.eyes if found is None else ():
        zone = ((xx - ex) / (0.6 * ed)) ** 2 + ((yy - ey) / (0.42 * ed)) ** 2 <= 1.0
        eye = zone & face_hull & ~hair & (feats | white)
        if not eye.any():
            continue
        eye = _drop_small(eye, 0.05)
        whites = eye & white
        ys = np.nonzero(eye)[0]
        centre_y = float(np.median(ys)) if ys.size else ey
        white_top = _column_extreme(whites, top=True)
        white_bot = _column_extreme(whites, top=False)
        col_top = white_top[None, :]
        col_bot = white_bot[None, :]
        lash = eye & ~whites & dark & ((yy < col_top + 0.02 * ed) | (yy > col_bot)
                                       | ((col_top < 0) & (yy < centre_y)))
        labels[eye] = LABEL["irides"]
        labels[lash] = LABEL["eyelash"]
        labels[whites] = LABEL["eyewhite"]
        eye_top = float(ys.min()) if ys.size else ey - 0.3 * ed
        brow_zone = (np.abs(xx - ex) < 0.6 * ed) & (yy < eye_top - 0.02 * ed) & \
                    (yy > eye_top - 0.7 * ed)
        brow = brow_zone & feats & ~zone & (L < float(np.median(L[face_skin])) - 12 if
                                              face_skin.any() else dark)
        labels[_brow(brow, ed)] = LABEL["eyebrow"]
    _label_eyewear(labels, lab, solid, face_skin, head)
    face_med = np.median(lab[face_skin], 0) if face_skin.any() else None
    _label_mouth_and_nose(labels, feats, face_hull, lab, face_med, head, xx, yy)
    if face_med is not None:
        # Ears are often shaded darker than the face: the skin's hue, a wider lightness range.
        ear_like = solid & ~hair & ~face_hull & (L > face_med[0] - 45) & \
            (np.hypot(A - face_med[1], B - face_med[2]) < 14) & (A > -3) & (B > -2)
        _label_ears(labels, ear_like, face_hull, solid & ~hair, head, xx, yy, hair)

    # Neck: skin under the chin, near the centre line, above the shoulders.
    shoulders = layout.pair("shoulder")
    shoulder_y = (shoulders[0][1] + shoulders[1][1]) / 2 if shoulders else head.chin_y + 0.9 * ed
    face_w = max(1.0, float(np.ptp(np.nonzero(face_skin)[1]))) if face_skin.any() else 2.5 * ed
    # The neck is often in the chin's shadow: the skin's hue, a wider lightness range.
    shaded_skin = skin
    if face_med is not None:
        # Still skin-tinted: a white shirt is as near pale skin's hue as shade is, but grey.
        tinted = np.hypot(A, B) > max(2.5, 0.35 * float(np.hypot(face_med[1], face_med[2])))
        shaded_skin = skin | (solid & ~hair & (L > face_med[0] - 45) & (L < face_med[0] + 8) &
                              (np.hypot(A - face_med[1], B - face_med[2]) < 14) &
                              (A > -3) & (B > -2) & tinted)
    # It hangs from the chin, which lies off the eyes' centre line on a turned face.
    chin_x = head.cx
    if face_skin.any():
        fy, fx = np.nonzero(face_skin)
        chin_x = float(np.median(fx[fy >= fy.max() - max(2.0, 0.15 * ed)]))
    # Under the jaw beside the chin's point the neck starts higher than the point itself: just
    # below the face, in each column.
    hull_rows = np.where(face_hull.any(0), h - 1 - np.argmax(face_hull[::-1], axis=0), -1)
    under_face = (yy > head.chin_y - 2) | ((hull_rows[None, :] >= 0) & (yy > hull_rows[None, :])
                                            & (yy > head.chin_y - ed))
    neck = shaded_skin & ~face_hull & under_face & \
        (yy < shoulder_y + 0.1 * ed) & (np.abs(xx - chin_x) < 0.32 * face_w) & (labels == 0)
    # Only what hangs from the chin (not a shaded patch of the collar or a hand); the chin's
    # outline may cut a sliver off just under it, so the neck is looked for a little lower too.
    if neck.any():
        column = face_hull[:, int(np.clip(round(chin_x), 0, w - 1))]
        chin_bottom = float(np.flatnonzero(column).max()) if column.any() else head.chin_y
        neck = np.logical_or.reduce([
            _components_touching(neck, (chin_x, chin_bottom + f * ed), 0.25 * ed, xx, yy)
            for f in (0.15, 0.45)])
        neck &= yy < _neck_base(neck)
    labels[neck] = LABEL["neck"]

    # Body: nearest bone, below the head, whatever is still free.
    body = fg & (labels == 0) & (yy > head.chin_y - 0.2 * ed)
    _label_body(labels, body, lab, skin, layout, head, shoulder_y, face_w, xx, yy)
    _neckline_skin_to_neck(labels, shaded_skin, chin_x, shoulder_y, face_w, ed, xx, yy)

    # Whatever is left (outlines, specks) takes the nearest claimed label.
    label_the_rest(labels, fg)
    _gap_under_chin_to_neck(labels, face_hull, ed)

    # Front hair: what lies over the face or the body, split from the back hair on strand lines.
    # Islands: a speck of clothing among hair strands (or of back hair among front strands)
    # would stay behind when the rest moves; it belongs to what surrounds it.
    merge_islands(labels, ISLAND_TAGS, max(16, int(0.12 * ed * ed)), lab)
    _thin_strokes_to_hair(labels, ed, lab)
    _outline_on_body_to_body(labels, head.chin_y, ed)
    _jaw_line_to_face(labels, face_hull, head, yy, dark, _skin_shade(lab, face_skin))
    _split_hair(labels, L, head, skin & (np.abs(xx - head.cx) < 0.6 * ed), xx, yy)
    # Once more: strokes turned to hair may have cut a piece of clothing off from the rest.
    merge_islands(labels, ISLAND_TAGS, max(16, int(0.12 * ed * ed)), lab)
    _body_among_hair(labels, lab, shoulder_y, ed, yy)
    _label_animal_ears(labels, fg, head, xx, yy)
    # Last, once specks of hair among the face's features have joined the face.
    for eye in eye_masks if found is not None else ():
        _eye_fringe(labels, eye, lab, face_skin, face_hull, blush)
        _skin_inside_the_opening_to_white(labels, eye)
    labels[~fg] = 0
    return labels, head


# Parts that come in big pieces: a small separate piece of one is a mislabelled speck.
ISLAND_TAGS = ("back hair", "front hair", "neck", "topwear", "handwear", "bottomwear",
               "legwear", "footwear")


def _body_among_hair(labels: np.ndarray, lab: np.ndarray, shoulder_y: float, ed: float,
                     yy) -> None:
    """The page showing between strands above the shoulders, taken for clothing (it joins the
    top below the shoulder line), is the hair's: it would stay behind, a white sliver in the
    air, when the hair moves (in place). So is a lock's pale tip ending over the page, cut off
    from its lock by its outline: in the hair's colours and not the skin's, it floated in the
    air at a nod."""
    hair = (labels == LABEL["front hair"]) | (labels == LABEL["back hair"])
    if not hair.any():
        return
    samples = lab[hair]
    hair_colour = np.median(samples, axis=0)
    spread = max(10.0, float(np.percentile(np.linalg.norm(samples - hair_colour, axis=-1), 90)))
    above = yy < shoulder_y - 0.1 * ed
    for tag in ("topwear", "handwear"):
        comps, n = ndimage.label((labels == LABEL[tag]) & above, structure=np.ones((3, 3)))
        if n == 0:
            continue
        sizes = np.bincount(comps.ravel())
        for i, win, own, rim in pieces_with_rims(comps, keep=sizes[1:] <= ed * ed):
            around = labels[win][rim]
            around = around[around > 0]
            if not around.size:
                continue
            is_hair = np.isin(around, (LABEL["front hair"], LABEL["back hair"]))
            colour = lab[win][own]
            page = (colour[:, 0] > 88) & (np.hypot(colour[:, 1], colour[:, 2]) < 8)
            lock = np.linalg.norm(np.median(colour, axis=0) - hair_colour) <= spread and \
                _skin_like(colour).mean() < 0.3
            # Thin strands on the page between locks: the hair's colour, the page's and their
            # blends only (a smaller picture draws the strands as wide as the gap).
            strands = page.mean() >= 0.2 and \
                (_from_blend(colour, hair_colour, PAGE_LAB) <= 0.5 * spread).mean() >= 0.8
            # Hair all round, joined to the rest of its part (below the shoulder line) by a
            # thread at most, and the colour of the page or of the hair: skin or a sleeve
            # showing between locks is the body's and stays.
            if is_hair.mean() >= 0.6 and (around == LABEL[tag]).mean() <= 0.15 and \
                    (page.mean() >= 0.5 or lock or strands):
                labels[win][own] = np.bincount(around[is_hair]).argmax()


PAGE_LAB = np.array([100.0, 0.0, 0.0], np.float32)    # white paper


def _from_blend(colour: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per Lab colour (N, 3), its distance from the blends of colours ``a`` and ``b`` (the
    segment between them): an anti-aliased edge between two colours lies on it."""
    ab = (b - a).astype(np.float32)
    t = np.clip(((colour - a) @ ab) / max(float(ab @ ab), 1e-6), 0.0, 1.0)
    return np.linalg.norm(colour - (a + t[:, None] * ab), axis=-1)


def _flat_strokes_below(hair: np.ndarray, chin_y: float, ed: float) -> np.ndarray:
    """Thin pieces of the hair mask below the chin that lie flat, at least 2.5 times as wide
    as tall (bool (H, W)): a dark top's outline along a shoulder, which the hair it touches
    grew into. Hair hangs; taken as hair, the outline swung off the shoulder as a spike when
    the head tilted."""
    out = np.zeros_like(hair)
    k = max(3, int(round(0.06 * ed)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    thin = hair & ~(cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0)
    comps, n = ndimage.label(thin, structure=np.ones((3, 3)))
    for i, box in enumerate(ndimage.find_objects(comps), start=1):
        if box is None or box[0].start <= chin_y:
            continue
        height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
        if width >= 2.5 * height and width >= 2 * k:
            out[box] |= comps[box] == i
    return out


def label_the_rest(labels: np.ndarray, figure: np.ndarray) -> None:
    """The figure's unlabelled pixels take the nearest label (in place)."""
    missing = figure & (labels == 0)
    if missing.any() and (labels > 0).any():
        _, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        labels[missing] = labels[iy[missing], ix[missing]]


def page_out_of_hair(labels: np.ndarray, cleared: np.ndarray, head: Head) -> None:
    """The page cut out from between strands (``cleared``, bool (H, W)) is no part, in place;
    a thin run of hair left between it and the body right under it is the body's outline
    drawn under the tips (see ``_outline_on_body_to_body``): as hair, it swung off the
    shoulder with the tips at a tilt as a dark streak."""
    labels[cleared] = 0
    if cleared.any():
        _outline_on_body_to_body(labels, head.chin_y, head.eye_dist)


def _outline_on_body_to_body(labels: np.ndarray, chin_y: float, ed: float) -> None:
    """A thin run of hair below the chin with the background right above it and the body
    right under it is the body's outline (a collar's edge between two locks), not hair: it
    takes the body's label (in place). As hair it lifted off the collar at a look-up as a
    floating line, and back hair going on behind the collar from it rose as a slab."""
    # Front hair too: once the page is cut out from between the strands, the outline the
    # hair lay on may already have been split off with the locks over the body.
    hair = np.isin(labels, [LABEL["back hair"], LABEL["front hair"]])
    h = labels.shape[0]
    start = int(chin_y) + 1
    if start >= h - 1 or not hair[start:].any():
        return
    body_labels = np.array([LABEL[t] for t in ("neck", "topwear", "handwear", "bottomwear")])
    # A thin run is an outline wherever it lies. One as thick as an outline with its anti-
    # aliased rims (test-image's shoulder line, 4 to 6 px at an eye distance of 36, was hair:
    # a look-up lifted it off the shoulder as a shelf with back hair painted on under it) is
    # one where it lies flat, not where it is the side of a lock's tip, whose middle rises
    # high right beside it (the sample's bob ends on its collar).
    thin = max(2, int(round(0.04 * ed)))
    thick = max(thin, int(round(0.17 * ed)))
    for c in np.flatnonzero(hair[start:].any(axis=0)):
        rows = start + np.flatnonzero(hair[start:, c])
        breaks = np.flatnonzero(np.diff(rows) > 1)
        for r0, r1 in zip(np.concatenate([[rows[0]], rows[breaks + 1]]),
                          np.concatenate([rows[breaks], [rows[-1]]])):
            if r1 - r0 + 1 > thick or r0 < 1 or r1 + 1 >= h:
                continue
            under = labels[r1 + 1, c]
            if labels[r0 - 1, c] != 0 or not np.isin(under, body_labels):
                continue
            probe = r0 - thick // 2 - 1
            if r1 - r0 + 1 > thin and probe >= 0 and hair[probe, max(0, c - 2):c + 3].any():
                continue
            labels[r0:r1 + 1, c] = under


def _thin_strokes_to_hair(labels: np.ndarray, ed: float, lab: np.ndarray | None = None) -> None:
    """Thin strokes of clothing or skin running along the hair (a light outline drawn on a
    strand's edge, a strand tip in shadow) are the hair's: they would stay behind when it
    moves. With the picture's ``lab``, not a sliver of the part in the part's own colour, as
    dark as the hair but of another hue (a navy lapel's tip between dark locks)."""
    hair = labels == LABEL["back hair"]
    if not hair.any():
        return
    hair_lab = np.median(lab[hair], axis=0) if lab is not None else None
    k = max(3, int(round(0.06 * ed)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    near_hair = cv2.dilate(hair.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    for tag in ("neck", "topwear", "handwear", "bottomwear", "face"):
        own = labels == LABEL[tag]
        if not own.any():
            continue
        thin = own & ~(cv2.morphologyEx(own.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0)
        comps, n = ndimage.label(thin, structure=np.ones((3, 3)))
        if n == 0:
            continue
        touching = np.unique(comps[thin & near_hair])
        own_lab = np.median(lab[own], axis=0) if lab is not None else None
        # Mostly along the hair: more of the stroke's rim on hair than on its own part.
        for i in touching[touching > 0]:
            stroke = comps == i
            rim = (cv2.dilate(stroke.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~stroke
            if (rim & hair).sum() <= (rim & own).sum():
                continue
            if lab is not None and _own_colour_sliver(np.median(lab[stroke], axis=0), own_lab,
                                                      hair_lab):
                continue
            labels[stroke] = LABEL["back hair"]


def _own_colour_sliver(stroke: np.ndarray, own: np.ndarray, hair: np.ndarray) -> bool:
    """Whether a stroke's Lab colour is its part's, not the hair's: about as light as the hair
    (not a light outline), clearly of another hue, and nearer the part's colour in hue."""
    hue_to_hair = float(np.hypot(*(stroke[1:] - hair[1:])))
    hue_to_own = float(np.hypot(*(stroke[1:] - own[1:])))
    return abs(float(stroke[0] - hair[0])) < 15 and hue_to_hair > 12 and hue_to_own < hue_to_hair


def _jaw_line_to_face(labels: np.ndarray, face_hull: np.ndarray, head: Head, yy,
                     dark: np.ndarray | None = None, shade: np.ndarray | None = None) -> None:
    """The face's own outline below the eyes (the jaw line), dark as hair and touching the locks
    beside it, was taken for hair (or, under the chin, for the neck): it stayed behind when the
    chin lifted, a second chin line, and left the neck unpainted under it. Hair within an
    outline's width outside the face's hull, below the eyes, with no hair further down, is the
    face's; so is the dark line running on from the face's edge up to three outline widths
    (the chin's line is often drawn thicker), where no hair hangs on below it. The chin's
    shadow on the neck (``shade``: the skin's hue, as saturated, lighter than line art) is dark
    too, but it is the neck's: taken into the face it lifts off the neck with the chin and
    leaves the neck's lighter painting showing under it."""
    if not face_hull.any():
        return
    ys, xs = np.nonzero(face_hull)
    width = float(np.ptp(xs)) + 1
    outline = max(2.0, 0.04 * width)          # a drawn outline is about this thick
    hair = labels == LABEL["back hair"]
    outside = cv2.distanceTransform((~face_hull).astype(np.uint8), cv2.DIST_L2, 3)
    low = yy > head.eye_y + 0.25 * (ys.max() - head.eye_y)
    # A line, not a lock: further down there is no more hair (a lock that hangs past the jaw
    # or crosses under the chin goes on).
    step = int(round(2 * outline)) + 1
    hair_below = np.zeros_like(hair)
    hair_below[:-step] = hair[step:]
    jaw = hair & (outside <= outline) & ~hair_below & low
    if dark is not None:
        zone = outside <= 3 * outline
        neck = labels == LABEL["neck"]
        if shade is not None:
            neck &= ~shade
        line = (hair | neck) & dark & zone & low
        far_hair = hair & ~zone
        lock = np.zeros_like(hair)
        for k in range(1, int(3 * outline) + step + 1):
            lock[:-k] |= far_hair[k:]
        line &= ~lock
        face = face_hull | (labels == LABEL["face"]) | jaw
        comps, _ = ndimage.label(line | face, structure=np.ones((3, 3)))
        jaw |= line & np.isin(comps, np.unique(comps[face]))
    labels[jaw] = LABEL["face"]


def _gap_under_chin_to_neck(labels: np.ndarray, face_hull: np.ndarray, ed: float) -> None:
    """The chin's shadow between the jaw and the neck, too dark for the neck's colour test, was
    taken for the body: it stayed behind when the chin lifted (a jagged dark line under it),
    and the neck was not painted under it. Body pixels lying between the face and the neck
    in a column, where the two are at most half an eye distance apart, are the neck's (ink
    among them joins the face with the jaw line later)."""
    neck = labels == LABEL["neck"]
    if not neck.any() or not face_hull.any():
        return
    h = labels.shape[0]
    rows = np.arange(h)[:, None]
    face_bottom = np.where(face_hull.any(0), h - 1 - np.argmax(face_hull[::-1], axis=0), -1)
    below_face = rows > face_bottom[None, :]
    neck_below = neck & below_face
    neck_top = np.where(neck_below.any(0), np.argmax(neck_below, axis=0), -1)
    gap = (face_bottom >= 0) & (neck_top >= 0) & (neck_top - face_bottom <= 0.5 * ed)
    between = below_face & (rows < neck_top[None, :]) & gap[None, :]
    body = np.isin(labels, [LABEL[t] for t in ("topwear", "handwear", "bottomwear")])
    labels[between & body] = LABEL["neck"]


def merge_islands(labels: np.ndarray, tags: tuple[str, ...], max_area: int,
                  lab: np.ndarray | None = None) -> None:
    """Relabel every piece of ``tags`` smaller than ``max_area`` px as the label most of its
    border touches (in place); pieces touching only the background stay. With the picture's
    ``lab``, a piece of hair that also touches the other hair part and has the hair's colours
    stays hair: strand tips split off as front hair where they lie on a collar are not the
    collar's (left behind on it, the lock lifted off them at a nod), where the tip of a
    collar taken for hair is."""
    hair = (LABEL["front hair"], LABEL["back hair"])
    hair_colour, spread = None, 0.0
    if lab is not None and np.isin(labels, hair).sum() >= 16:
        samples = lab[np.isin(labels, hair)]
        hair_colour = np.median(samples, axis=0)
        spread = max(10.0, float(np.percentile(np.linalg.norm(samples - hair_colour, axis=-1),
                                               90)))
    for tag in tags:
        value = LABEL[tag]
        comps, n = ndimage.label(labels == value, structure=np.ones((3, 3)))
        if n == 0:
            continue
        sizes = np.bincount(comps.ravel())
        small = sizes[1:] < max_area
        if not small.any() or small.all():
            continue
        for i, win, own, rim in pieces_with_rims(comps, keep=small):
            around = labels[win][rim]
            around = around[(around != value) & (around > 0)]
            if not around.size:
                continue
            best = np.bincount(around).argmax()
            if value in hair and best not in hair and hair_colour is not None and \
                    np.isin(around, hair).sum() >= max(1, 0.1 * around.size):
                if np.linalg.norm(np.median(lab[win][own], axis=0) - hair_colour) <= spread:
                    continue                  # hair lying on something else stays hair
            labels[win][own] = best


def pieces_with_rims(comps: np.ndarray, keep: np.ndarray | None = None):
    """Per piece of a labelled map (``keep``: which of them, by label - 1): its label, its
    window (slices, a pixel of margin), its mask there and its one-pixel rim there."""
    ring = np.ones((3, 3), np.uint8)
    h, w = comps.shape
    for i, box in enumerate(ndimage.find_objects(comps), start=1):
        if box is None or (keep is not None and not keep[i - 1]):
            continue
        ys, xs = box
        win = (slice(max(0, ys.start - 1), min(h, ys.stop + 1)),
               slice(max(0, xs.start - 1), min(w, xs.stop + 1)))
        own = comps[win] == i
        yield i, win, own, (cv2.dilate(own.astype(np.uint8), ring) > 0) & ~own


# ------------------------------------------------------------------------------------ head

def _dark(L: np.ndarray, face_skin: np.ndarray) -> np.ndarray:
    """Line art and lashes: much darker than the face's skin."""
    if not face_skin.any():
        return L < 40
    return L < max(20.0, min(55.0, float(np.median(L[face_skin])) - 35.0))


def _eye_white(lab: np.ndarray, face_skin: np.ndarray) -> np.ndarray:
    """Eyewhite-coloured pixels: white, or (often tinted) lighter than most of the skin and
    much less saturated."""
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = np.hypot(A, B)
    white = (L > 80) & (chroma < 8)
    if not face_skin.any():
        return white
    return white | ((L > max(70.0, float(np.percentile(L[face_skin], 30)) - 4)) &
                    (chroma < max(8.0, 0.6 * float(np.median(chroma[face_skin])))))


def _skin_like(lab: np.ndarray) -> np.ndarray:
    """Generic anime skin: light, warm, moderately saturated (in a picture without colour,
    a grayscale one, just light)."""
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    if lab.size and float(np.percentile(np.hypot(A, B), 99)) < 3.0:
        return L > 60
    return (L > 55) & (A > 1.5) & (A < 35) & (B > 3) & (B < 40) & (B > 0.4 * A)


def _skin_from(lab: np.ndarray, solid: np.ndarray, ref: np.ndarray) -> np.ndarray:
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = float(np.hypot(ref[1], ref[2]))
    if float(np.percentile(np.hypot(A, B), 99)) < 3.0:      # grayscale: lightness only
        return solid & (np.abs(L - ref[0]) < 12)
    near = np.hypot(A - ref[1], B - ref[2]) < max(9.0, 0.5 * chroma + 6.0)
    warm = (B > -2) & (A > -3)
    return solid & near & warm & (L > ref[0] - 38) & (L < ref[0] + 12)


def _find_head(lab, solid, layout: Layout, top: int, fig_h: float, xx, yy):
    """(Head, the picture's skin, whether the pose model's landmarks placed it)."""
    h, w = solid.shape
    eyes = (layout.get("eye_l"), layout.get("eye_r"))
    nose = layout.get("nose")
    at_landmarks = None
    if nose is not None and eyes[0] is not None and eyes[1] is not None:
        ed = max(abs(eyes[0][0] - eyes[1][0]), 0.02 * fig_h, 3.0)
        at_landmarks = _head_at_eyes(lab, solid, eyes, nose, _mouth_point(layout, nose, ed),
                                     ed, xx, yy)
        pair = _eyes_at(lab, solid, at_landmarks, xx, yy) if at_landmarks is not None else None
        if pair is not None:
            head = at_landmarks[0]
            (a, b) = pair
            mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            off = float(np.hypot(mid[0] - head.cx, mid[1] - head.eye_y))
            if off <= 1.5 * head.eye_dist:
                return (*at_landmarks, True)
            # The pose model saw the face side-on (its eyes drawn together, a mirrored picture
            # of a head turned a little can do it): the eyes the picture shows there are the
            # face's, and its skeleton is no better than its eyes.
            seen_ed = max(EYE_DIST_OF_CENTRES * float(np.hypot(a[0] - b[0], a[1] - b[1])), 3.0)
            if abs(eyes[0][0] - eyes[1][0]) < 0.5 * seen_ed and off <= 1.5 * seen_ed:
                cx, eye_y = mid
                seen = _head_at_eyes(lab, solid, (a, b), (cx, eye_y + 0.45 * seen_ed),
                                     (cx, eye_y + 0.8 * seen_ed), seen_ed, xx, yy)
                if seen is not None:
                    return (*seen, False)
    # No landmarks, or the pose model put its face where the picture shows no eyes near them
    # (on a small figure it may find one on the neck): the face is a skin blob with two eyes
    # in it. Landmarks on a face whose eyes show no white are kept.
    found = _face_by_its_eyes(lab, solid, top, fig_h, xx, yy)
    if found is not None:
        return (*found, False)
    if at_landmarks is not None:
        return (*at_landmarks, True)
    # Last resort: the largest skin blob in the upper part of the figure is the face.
    skin = _skin_like(lab) & solid
    upper = skin & (yy < top + 0.6 * fig_h)
    labels, n = ndimage.label(upper)
    if n == 0:
        raise InputError("no character found: no face-like skin region in the picture; give an "
                         "illustration of a character with a visible face")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    best = int(np.argmax(sizes))
    if sizes[best] < 0.003 * solid.sum():
        raise InputError("no character found: no face-like skin region in the picture; give an "
                         "illustration of a character with a visible face")
    ys, xs = np.nonzero(labels == best)
    # Neck and shoulders may join the face blob: keep the top, about as tall as it is wide.
    width = float(np.percentile(xs, 95) - np.percentile(xs, 5)) + 1
    y_top = float(ys.min())
    chin = min(float(ys.max()), y_top + 1.15 * width)
    cx = float(np.median(xs[ys < y_top + 0.8 * width]))
    ed = 0.4 * width
    eye_y = y_top + 0.5 * (chin - y_top)
    nose = (cx, eye_y + 0.45 * ed)
    mouth = (cx, eye_y + 0.9 * ed)
    eyes = ((cx + 0.5 * ed, eye_y), (cx - 0.5 * ed, eye_y))
    return Head(cx, eye_y, ed, chin, eyes, nose, mouth), skin, False


def _eyes_at(lab, solid, found: tuple, xx, yy) -> tuple[Point, Point] | None:
    """The two eyes (eyewhites under a lash line, image right first) the face found at the
    landmarks shows, or None. The pose model's eyes on an anime face are often off by a lid's
    height or drawn together: the caller checks how far these lie from them."""
    head, skin = found
    L = lab[..., 0]
    face = _face_pieces(skin & (yy <= head.chin_y), head, xx, yy)
    if not face.any():
        return None
    eyes = _eyes_from_whites(_eye_white(lab, face), _dark(L, face), face,
                             convex_fill(face) & solid, L, head, xx, yy)
    return None if eyes is None else eyes[0]


def _head_at_eyes(lab, solid, eyes: tuple[Point, Point], nose: Point, mouth: Point, ed: float,
                  xx, yy):
    """(Head, skin) for eyes placed at ``eyes`` (character's left first), the skin's colour
    learnt from the cheeks under them; None when no face-sized skin lies there."""
    h, w = solid.shape
    eye_y = (eyes[0][1] + eyes[1][1]) / 2
    cx = (eyes[0][0] + eyes[1][0]) / 2
    x0, x1 = int(max(0, cx - 0.8 * ed)), int(min(w, cx + 0.8 * ed + 1))
    y0, y1 = int(max(0, eye_y + 0.2 * ed)), int(min(h, eye_y + 1.2 * ed + 1))
    box = lab[y0:y1, x0:x1]
    # Anime skin is the light, warm colour of the cheeks; hair and shadows are darker.
    light = solid[y0:y1, x0:x1] & _skin_like(box) & (box[..., 0] > 65)
    patch = box[light]
    skin = _skin_from(lab, solid, np.median(patch, 0)) if patch.size >= 36 else \
        _skin_like(lab) & solid
    centre = (cx, eye_y + 0.4 * ed)
    face = _components_touching(skin & (yy <= eye_y + 2.2 * ed), centre, 0.9 * ed, xx, yy)
    if face.sum() <= 0.3 * ed * ed:
        return None
    face = _with_its_chin(face, skin, centre, eye_y + 2.2 * ed, eye_y + 3.4 * ed, ed, xx, yy)
    chin = float(np.nonzero(face)[0].max())
    # A neck of the face's own skin joins it round the ends of the jaw line: the chin is where
    # that line crosses the middle, with skin going on below it.
    # (Looked for below the mouth's own line: a smile's curve is no jaw.)
    drawn = _chin_line(lab[..., 0], skin, cx, max(mouth[1] + 0.25 * ed, eye_y + 0.8 * ed), chin,
                       ed)
    if drawn is None and chin >= eye_y + 2.2 * ed - 1:
        # The skin runs on into a neck, and no line was found under the mouth the pose model
        # gave: on a large face its mouth sits low, at the chin's line itself (test-image's
        # upper half at 1.4x: the face took the neck and the collarbones became its mouth).
        # The line is looked for from under the eyes; a mouth's short line is looked past.
        drawn = _chin_line(lab[..., 0], skin, cx, eye_y + 0.8 * ed, chin, ed)
    if drawn is not None and drawn >= eye_y + 1.0 * ed:
        chin = drawn
    return Head(cx, eye_y, ed, chin, (eyes[0], eyes[1]), nose, mouth), skin


def _chin_line(L: np.ndarray, skin: np.ndarray, cx: float, start: float, end: float,
               ed: float) -> float | None:
    """The lowest row of a drawn chin line between rows ``start`` and ``end``, down the
    face's middle (columns within a tenth of the eye distance ``ed`` of ``cx``): in most of
    those columns, a thin run of ink (much darker than the skin, at most a sixth of ``ed``
    thick) with the skin going on right below it (a neck in the face's own colour), whose
    stroke runs on sideways as the jaw (a mouth's line, looked past, is short). None when
    there is no such line (the chin ends on a collar, or behind hair)."""
    h, w = L.shape
    if not skin.any():
        return None
    skin_l = float(np.median(L[skin]))
    ink = L < skin_l - 35
    y0, y1 = int(max(0, start)), int(min(h - 1, end))
    for _ in range(3):
        if y1 - y0 < 3:
            return None
        row = _ink_run_on_skin(ink, skin, cx, y0, y1, ed)
        if row is None:
            return None
        if _stroke_width(ink, row, cx, ed) >= 0.8 * ed:
            return row
        y0 = int(row) + 2                  # a mouth: the chin is further down
    return None


def _ink_run_on_skin(ink: np.ndarray, skin: np.ndarray, cx: float, y0: int, y1: int,
                     ed: float) -> float | None:
    """The median over the middle columns of the last row of the first thin run of ink below
    skin (from row ``y0`` to ``y1``) with skin again right below it; None unless most
    columns agree."""
    h, w = ink.shape
    max_run = max(2, int(round(ed / 6)))
    gap = max(2, int(round(0.15 * ed)))
    cols = range(int(max(0, cx - 0.1 * ed)), int(min(w, cx + 0.1 * ed + 1)))
    rows = []
    for x in cols:
        seen_skin, y = False, y0
        while y <= y1:
            if skin[y, x]:
                seen_skin = True
            elif ink[y, x] and seen_skin:
                run = y
                while run <= y1 and ink[run, x]:
                    run += 1
                if run - y <= max_run and skin[run:min(h, run + gap), x].any():
                    rows.append(run - 1)          # the line is the face's outline
                break
            y += 1
    if len(rows) < 0.6 * len(cols):
        return None
    rows = np.array(rows, np.float32)
    mid = float(np.median(rows))
    if (np.abs(rows - mid) <= max(2.0, 0.05 * ed)).mean() < 0.6:
        return None
    return mid


def _stroke_width(ink: np.ndarray, row: float, cx: float, ed: float) -> float:
    """How wide (px) the ink stroke through ``row`` at the middle columns runs, within the
    rows up to ``ed`` above it (a jaw rises to the sides)."""
    h, w = ink.shape
    band = slice(max(0, int(row) - int(0.6 * ed)), min(h, int(row) + 2))
    comps, _ = ndimage.label(ink[band], structure=np.ones((3, 3), bool))
    ids = np.unique(comps[int(row) - band.start,
                          int(max(0, cx - 0.1 * ed)):int(min(w, cx + 0.1 * ed + 1))])
    ids = ids[ids > 0]
    if ids.size == 0:
        return 0.0
    xs = np.nonzero(np.isin(comps, ids))[1]
    return float(np.ptp(xs) + 1)


def _with_its_chin(face: np.ndarray, skin: np.ndarray, centre: Point, cut: float, limit: float,
                   ed: float, xx, yy) -> np.ndarray:
    """The face cut off at row ``cut`` (where a neck of the same skin would otherwise run on
    into the chest), or, when its skin goes on below and narrows to an end above ``limit``
    (a long chin, set off from the neck by its line or its shade), the whole of it: cut, the
    chin would be labelled neck and stay behind when the face lifts."""
    whole = _components_touching(skin & (yy <= limit), centre, 0.9 * ed, xx, yy)
    rows = np.flatnonzero(whole.any(1))
    if rows.size == 0 or rows[-1] >= int(limit) - 1 or rows[-1] <= cut:
        return face
    widths = whole.sum(1)
    below = rows[rows > cut]
    at_cut = int(widths[int(cut)]) if 0 <= int(cut) < widths.size else 0
    # Narrowing to the chin's point: never wider than at the cut, and down to a sliver.
    if at_cut == 0 or widths[below].max() > at_cut + 2 or widths[below[-1]] > 0.4 * at_cut:
        return face
    return whole


MAX_FACE_CANDIDATES = 6
# The part sizes below were tuned on the pose model's eye distance, which on anime faces falls
# short of the real spacing (its eyes sit where a human face has them): 0.45 to 0.95 of the
# distance between the middles of the whole eyes on the pictures measured. Eyes found from
# their whites are scaled into that range; 0.55 gives the parts the pose model's scale does.
EYE_DIST_OF_CENTRES = 0.55


def _face_by_its_eyes(lab, solid, top: int, fig_h: float, xx, yy):
    """(Head, skin) from the picture alone, or None: of the larger skin blobs in the figure's
    upper part (a bare arm, leg or chest may be larger than the face), the face is the one
    with two eyes in it. Blobs are joined across thin lines first: glasses frames and lash
    lines cut a face into pieces, and its lower half alone holds no eyes."""
    h, w = solid.shape
    L = lab[..., 0]
    skin = _skin_like(lab) & solid
    upper = skin & (yy < top + 0.7 * fig_h)
    # Thin lines first (a face cut by its lash lines), then thick ones (glasses frames).
    for join in (0.007, 0.025):
        k = max(3, int(round(join * min(h, w))) | 1)
        joined = cv2.morphologyEx(upper.astype(np.uint8), cv2.MORPH_CLOSE,
                                  cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
        labels, n = ndimage.label(joined)
        if n == 0:
            return None
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        for i in np.argsort(-sizes)[:MAX_FACE_CANDIDATES]:
            if sizes[i] < 0.003 * solid.sum():
                break
            whole = (labels == i) & upper
            # A face joined by its neck to a bare chest: its eyes are looked for above the
            # neck first (searched over face and chest, an earring or a collarbone's
            # highlight passed for them, and the real eyes lay above the band searched).
            above_neck = _above_waist(whole)
            for blob in ([above_neck] if above_neck is not None else []) + [whole]:
                hull = convex_fill(blob) & solid
                found = _eyes_from_whites(_eye_white(lab, blob), _dark(L, blob), blob, hull, L,
                                          None, xx, yy)
                if found is None:
                    continue
                (left, right), _ = found
                ed = max(EYE_DIST_OF_CENTRES * float(np.hypot(left[0] - right[0],
                                                              left[1] - right[1])), 3.0)
                eye_y = (left[1] + right[1]) / 2
                cx = (left[0] + right[0]) / 2
                nose = (cx, eye_y + 0.45 * ed)
                head = _head_at_eyes(lab, solid, (left, right), nose, (cx, eye_y + 0.8 * ed),
                                     ed, xx, yy)
                if head is not None:
                    return head
    return None


def _above_waist(blob: np.ndarray) -> np.ndarray | None:
    """The part of a skin blob above its first waist (bool (H, W)), or None where it has
    none: going down from its top, the first row at most half as wide as the widest row so
    far, below which it widens again past that width (a head on its neck, then the
    shoulders)."""
    rows = np.flatnonzero(blob.any(axis=1))
    if rows.size < 8:
        return None
    first = np.argmax(blob[rows], axis=1)
    last = blob.shape[1] - 1 - np.argmax(blob[rows, ::-1], axis=1)
    width = ndimage.uniform_filter1d((last - first + 1).astype(np.float64), size=5)
    widest = np.maximum.accumulate(width)
    waist = np.flatnonzero((width <= 0.5 * widest) & (widest >= 8))
    for k in waist:
        if (width[k:] > widest[k]).any():
            out = blob.copy()
            out[rows[k]:] = False
            return out
    return None


def _eyes_from_whites(white, dark, face_skin, face_hull, L, head: Head, xx, yy):
    """((eye points, image right first), (eye masks)) from the picture, or None.

    An open anime eye is an eyewhite blob with a dark lash line just above it. The two largest
    such blobs in the face's middle band, side by side, are the eyes; each eye is the convex hull
    of its whites with the non-skin pixels around them (iris, lashes, lower lid)."""
    if not face_skin.any():
        return None
    rows, cols = np.nonzero(face_hull)
    top, bot = float(rows.min()), float(rows.max())
    height = bot - top + 1
    face_w = float(np.ptp(cols)) + 1
    band = (yy > top + 0.1 * height) & (yy < top + 0.75 * height)
    whites = white & face_hull & band
    whites = ndimage.binary_opening(whites, np.ones((2, 2)))
    if not whites.any():
        return None
    k = max(3, int(round(0.12 * face_w)) | 1)
    groups, n = ndimage.label(cv2.dilate(whites.astype(np.uint8), np.ones((k, k), np.uint8)) > 0)
    blobs = [whites & (groups == i) for i in range(1, n + 1)]
    candidates = []
    while blobs:
        own = blobs.pop()
        area = int(own.sum())
        if area < max(6.0, 0.001 * face_w * face_w):
            continue
        ys, xs = np.nonzero(own)
        bw, bh = float(np.ptp(xs)) + 1, float(np.ptp(ys)) + 1
        if bw > 0.45 * face_w or bh > 0.3 * height:
            # Too big for an eye: light hair (silver, white, blonde) touching it may have
            # joined it; its own pieces are looked at one by one.
            pieces, m = ndimage.label(own)
            if m > 1:
                blobs += [pieces == j for j in range(1, m + 1)]
            continue
        # A lash line: dark pixels just above the whites.
        above = (np.abs(xx - xs.mean()) < 0.6 * bw) & (yy < ys.min()) & \
            (yy > ys.min() - max(4.0, 0.6 * bh + 0.05 * face_w))
        if (above & dark & face_hull).sum() < max(3.0, 0.3 * bw):
            # A white fleck above the lash (between it and the fringe) grouped with the white
            # under it puts the lash inside the group, not above it: test-image saved as a
            # JPEG lost its left eye so (one eye closed, the mouth drawn on a cheek). Its
            # pieces are looked at one by one.
            pieces, m = ndimage.label(own)
            if m > 1:
                blobs += [pieces == j for j in range(1, m + 1)]
            continue
        candidates.append((area, float(xs.mean()), float(ys.mean()), own))
    candidates.sort(key=lambda c: -c[0])
    pair = None
    for a in range(len(candidates)):
        for b in range(a + 1, len(candidates)):
            ca, cb = candidates[a], candidates[b]
            if abs(ca[1] - cb[1]) > 0.2 * face_w and abs(ca[2] - cb[2]) < 0.25 * height and \
                    min(ca[0], cb[0]) > 0.15 * max(ca[0], cb[0]) and \
                    _skin_between(ca[3], cb[3], face_skin) >= 0.25:
                pair = (ca, cb)
                break
        if pair:
            break
    if pair is None:
        return None
    pair = sorted(pair, key=lambda c: -c[1])           # image right = character's left first
    pair = _with_sibling_whites(pair, whites, face_skin, face_w)
    masks = []
    for _, cx, cy, own in pair:
        ys, xs = np.nonzero(own)
        bh = float(np.ptp(ys)) + 1
        # The white may show on one side of the iris only: the eye spans the iris beside it.
        left, right = _iris_beside(own, white | face_skin, int(round(0.15 * face_w)))
        x_lo, x_hi = float(xs.min()) - left, float(xs.max()) + right
        bw = x_hi - x_lo + 1
        rx = max(0.75 * bw if left + right < 0.3 * bh else 0.6 * bw, 0.12 * face_w) + 2
        ry_up = 0.5 * bh + max(3.0, 0.08 * face_w)
        ry_dn = 0.5 * bh + max(2.0, 0.03 * face_w)
        my = (ys.min() + ys.max()) / 2
        mx = (x_lo + x_hi) / 2
        ry = np.where(yy < my, ry_up, ry_dn)
        zone = ((xx - mx) / rx) ** 2 + ((yy - my) / ry) ** 2 <= 1.0
        near = zone & face_hull & (~face_skin | own) & ((L < float(np.median(L[face_skin])) - 8)
                                                       | own)
        near = _components_touching(near, (cx, cy), 0.5 * bh + 1, xx, yy)
        eye = convex_fill(near | own) & zone
        masks.append(eye)
    # Each eye's point: the middle of the whole eye (its white may show on one side only).
    points = []
    for (_, _, cy, _), eye in zip(pair, masks):
        cols = np.flatnonzero(eye.any(0))
        points.append((float(cols.min() + cols.max()) / 2, cy))
    return (points[0], points[1]), masks


def _skin_between(a: np.ndarray, b: np.ndarray, face_skin: np.ndarray) -> float:
    """The share of skin between two white blobs, level with them: the bridge of the nose
    between two eyes, none where a wide iris splits one eye's white in two."""
    (ay, ax), (by, bx) = np.nonzero(a), np.nonzero(b)
    if ax.mean() > bx.mean():
        (ay, ax), (by, bx) = (by, bx), (ay, ax)
    y0, y1 = max(ay.min(), by.min()), min(ay.max(), by.max())
    if y1 < y0:
        y0 = y1 = int(round((ay.mean() + by.mean()) / 2))
    strip = face_skin[y0:y1 + 1, ax.max() + 1:bx.min()]
    return float(strip.mean()) if strip.size else 0.0


def _iris_beside(own: np.ndarray, stop: np.ndarray, max_run: int) -> tuple[float, float]:
    """How far (px) the eye runs on left and right of its white: along the white's middle
    rows, the run of pixels beside it that are neither white nor skin (the iris, or the lash
    in the corner), at most ``max_run``; the median over those rows."""
    ys, xs = np.nonzero(own)
    y0, y1 = np.percentile(ys, [25, 75])
    runs = ([], [])
    w = own.shape[1]
    for y in range(int(y0), int(y1) + 1):
        row = np.flatnonzero(own[y])
        if row.size == 0:
            continue
        for side, (start, step) in enumerate(((row.min() - 1, -1), (row.max() + 1, 1))):
            n, x = 0, start
            while 0 <= x < w and n < max_run and not stop[y, x]:
                n, x = n + 1, x + step
            runs[side].append(n)
    return tuple(float(np.median(r)) if r else 0.0 for r in runs)


def _with_sibling_whites(pair, whites: np.ndarray, face_skin: np.ndarray, face_w: float):
    """Each eye's white with the white on the iris's other side joined to it.

    A wide iris splits an eye's white in two, and the piece picked for the eye may be the
    smaller corner: its hull would miss the rest of the eye (half the lash line and the other
    corner would stay on the face when the eye closes). A white piece beside it, at its height,
    across a gap that is not skin (the iris), is its own (the nearer eye's, if both)."""
    comps, n = ndimage.label(whites)
    if n < 3:
        return pair
    boxes = ndimage.find_objects(comps)
    owns = [c[3] for c in pair]
    taken = owns[0] | owns[1]
    merged = [o.copy() for o in owns]
    spans = []
    for own in owns:
        ys, xs = np.nonzero(own)
        spans.append((xs.min(), xs.max(), ys.min(), ys.max()))
    for i, (ys_, xs_) in enumerate(boxes, start=1):
        piece = comps == i
        if (piece & taken).any():
            continue
        px0, px1, py0, py1 = xs_.start, xs_.stop - 1, ys_.start, ys_.stop - 1
        gaps = [max(sx0 - px1, px0 - sx1) - 1 for sx0, sx1, _, _ in spans]
        # The nearer eye first; skin between them means the piece is not that eye's.
        for k in np.argsort(gaps):
            _, _, sy0, sy1 = spans[k]
            gap = gaps[k]
            overlap = min(py1, sy1) - max(py0, sy0) + 1
            if not 0 < gap < 0.25 * face_w or \
                    overlap < 0.3 * min(py1 - py0 + 1, sy1 - sy0 + 1):
                continue
            if _skin_between(piece, owns[k], face_skin) < 0.4:
                merged[k] |= piece
                break
    out = []
    for (area, _, _, _), own in zip(pair, merged):
        ys, xs = np.nonzero(own)
        out.append((area, float((xs.min() + xs.max()) / 2), float(ys.mean()), own))
    return out


def _skin_tinted(lab: np.ndarray, face_skin: np.ndarray) -> np.ndarray:
    """Skin a little shaded or flushed (a blush, a lid's shadow): the skin's hue, nearly its
    lightness. Never an iris, however far the eye's hull reaches over the cheek."""
    if not face_skin.any():
        return np.zeros(lab.shape[:2], bool)
    ref = np.median(lab[face_skin], axis=0)
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    shaded = (L > ref[0] - 25) & (np.hypot(A - ref[1], B - ref[2]) < 18)
    # A strong blush is redder than the skin, nearly as light; an iris as light as the skin
    # (light brown) is not redder than it.
    flushed = (L > ref[0] - 15) & (A > ref[1] + 4) & (np.abs(B - ref[2]) < 12)
    return shaded | flushed


def _skin_shade(lab: np.ndarray, face_skin: np.ndarray) -> np.ndarray:
    """Skin in shadow: the skin's hue (within 25 degrees), at least as saturated, lighter than
    line art (which is near black, or greyer than the skin)."""
    if not face_skin.any():
        return np.zeros(lab.shape[:2], bool)
    ref = np.median(lab[face_skin], axis=0)
    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    ref_chroma = float(np.hypot(ref[1], ref[2]))
    if ref_chroma <= 4:
        return np.zeros(lab.shape[:2], bool)
    chroma = np.hypot(A, B)
    # The angle between the pixel's hue and the skin's, by its cosine.
    same_hue = (A * ref[1] + B * ref[2]) > np.cos(np.radians(25)) * chroma * ref_chroma
    return (L >= 30) & (chroma >= 0.9 * ref_chroma) & same_hue


def _label_eye(labels, eye, white, dark, L, face_skin, feats, ex: float, ed: float, xx,
               yy, skin_tinted: np.ndarray | None = None) -> None:
    """Eyewhite, irides, eyelash and the eyebrow above, inside one eye mask."""
    whites = eye & white
    skin_med = float(np.median(L[face_skin])) if face_skin.any() else 80.0
    ys = np.nonzero(eye)[0]
    col_top = _column_extreme(whites, top=True)[None, :]
    col_bot = _column_extreme(whites, top=False)[None, :]
    centre_y = float(np.median(np.nonzero(whites)[0])) if whites.any() else float(np.median(ys))
    line = _lash_bottom(eye & dark, col_top[0], centre_y)
    if line is None:
        # No lash line drawn over a white: what is dark above the whites, or above the
        # middle where there is no white, is the lash.
        lash = eye & ~whites & dark & ((yy < col_top + 1) | ((col_top < 0) & (yy < centre_y)))
        line = np.full(col_top.shape[1], -1.0, np.float32)
    else:
        lash = eye & ~whites & dark & (yy < np.where(col_top >= 0, np.minimum(col_top, line),
                                                    line) + 1)
    lower = eye & ~whites & dark & (yy > col_bot) & (col_top >= 0)
    # Nothing above the lash line is the iris (a lid's crease, a lash's tip).
    iris = eye & ~whites & ~lash & (L < skin_med - 8) & (yy >= line[None, :])
    if skin_tinted is not None:
        iris &= ~skin_tinted
    iris = _iris_body(iris)
    labels[eye & ~face_skin & ~whites & ~lash & ~iris & (yy < centre_y)] = LABEL["eyelash"]
    # Shaded white at the corners, cut off the iris's body: the eyewhite's, not the iris's.
    labels[eye & ~whites & ~lash & ~iris & (L >= skin_med - 40) & (yy >= centre_y)] = \
        LABEL["eyewhite"]
    # Dark pixels under the white are the iris's rim where it dips below the white beside it,
    # the lower lash line elsewhere (a thick corner wedge must not slide with the gaze).
    if iris.any():
        ix = np.flatnonzero(iris.any(0))
        in_iris = (xx >= ix.min()) & (xx <= ix.max())
    else:
        in_iris = np.zeros(eye.shape, bool)
    labels[iris | (lower & in_iris & ~iris)] = LABEL["irides"]
    labels[lower & ~in_iris & ~iris] = LABEL["eyelash"]
    labels[lash] = LABEL["eyelash"]
    labels[whites] = LABEL["eyewhite"]
    _highlights_to_iris(labels, whites)
    eye_top = float(ys.min())
    xs = np.nonzero(eye)[1]
    half = 0.5 * (float(np.ptp(xs)) + 1)
    cx = float(xs.mean())
    brow_zone = (np.abs(xx - cx) < 1.1 * half) & (yy < eye_top - 1) & \
        (yy > eye_top - 0.8 * ed) & ~eye
    brow = brow_zone & feats & (L < skin_med - 12)
    labels[_brow(brow, ed) & (labels == LABEL["face"])] = LABEL["eyebrow"]


def _lash_bottom(dark_eye: np.ndarray, white_top: np.ndarray,
                 centre_y: float) -> np.ndarray | None:
    """Per column, the last row of the upper lash line; None where no lash line meets a white.

    Where the white meets the lash line, the line ends where the white begins. Elsewhere (over
    the iris, whose dark upper part is its lid shadow; or where the iris's rim runs between
    the line and the white) the line is as thick as where it meets the white nearby: its
    thickness is carried across under its own (spike-free) top edge, so the iris, its rim and
    the pupil stay the iris's and move with the gaze."""
    top = _column_extreme(dark_eye, top=True)
    valid = top >= 0
    out = np.full(white_top.shape, centre_y, np.float32)
    if not valid.any():
        return None
    cols_v = np.flatnonzero(valid)
    span = float(np.ptp(cols_v) + 1)
    # Lash tips stand up from the line: the line's top edge is the running median.
    k = max(3, int(round(0.1 * span)) | 1)
    top_s = top.copy()
    top_s[cols_v] = ndimage.median_filter(top[cols_v], size=k, mode="nearest")
    known = valid & (white_top >= 0) & (top_s < white_top)
    if not known.any():
        return None
    cols = np.flatnonzero(known)
    thick = white_top[cols] - top_s[cols]
    # Where the white begins lower (under the iris's rim, a highlight) the run is lash and
    # iris: only columns about as thin as the thinnest nearby measure the line.
    reach = max(1.0, 0.2 * span)
    floor = np.array([thick[np.abs(cols - c) <= reach].min() for c in cols], np.float32)
    good = thick <= floor + np.maximum(2.0, 0.3 * floor)
    across = np.interp(np.arange(white_top.size), cols[good], thick[good]).astype(np.float32)
    out[valid] = np.minimum(top_s[valid] + across[valid], centre_y)
    exact = cols[good]
    out[exact] = np.minimum(white_top[exact], centre_y)
    return out


def _lash_under_hair(labels: np.ndarray, eye: np.ndarray, dark: np.ndarray,
                     face_skin: np.ndarray, L: np.ndarray | None = None) -> None:
    """The upper lash line where dark hair lies on it: as dark as the hair and joined to it,
    it was taken for hair and stayed drawn when the eye closed. Where skin shows above the
    line, its thickness is measured (from the eye's opening up to the skin); where hair lies on
    it, the dark pixels that far above the opening are the lash's (in place). With the
    picture's lightness ``L``, where the lash is drawn darker than the hair, the line is
    followed by its darkness: up where it is thicker than elsewhere (a wing at the outer
    corner), and sideways past the opening's end, where no opening lies below it."""
    before = labels.copy()
    _relabel_lash_under_hair(labels, eye, dark, face_skin, L)
    _lash_bands_only(labels, before, _eye_box(eye), L)


def _lash_wing_from_hair(labels: np.ndarray, eye: np.ndarray, L: np.ndarray) -> None:
    """A lash drawn darker than the hair, whose wing runs on into a lock beside the eye: the
    hair's pixels as dark as the lash's ink, in strokes at least 3 px thick and joined to the
    lash, are the wing's (in place). Taken as hair, the wing's tip slid off with the lock on
    a turn. A lock's own outline is thinner and stays hair; so does all of it where lash and
    hair are drawn in one ink."""
    box = _eye_box(eye)
    lash = (labels == LABEL["eyelash"]) & box
    hair = np.isin(labels, [LABEL["back hair"], LABEL["front hair"]]) & box
    thr = _lash_ink_threshold(L, lash, hair, min_gap=12.0)
    if thr is None:
        return
    ink = hair & (L < thr)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    thick = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    if not thick.any():
        return
    # A wing is a stroke about as thick as the lash, joined to it: a taller mass of ink is the
    # hair's own shading (hair drawn nearly as dark as the lash).
    ys, xs = np.nonzero(lash)
    x0, x1 = int(xs.min()), int(xs.max())
    cols = lash[:, x0:x1 + 1]
    line = float(np.median(cols.sum(axis=0)[cols.any(axis=0)]))
    touching = cv2.dilate(lash.astype(np.uint8), kernel) > 0
    pieces, _ = ndimage.label(thick, structure=np.ones((3, 3), bool))
    wing = np.zeros_like(thick)
    for i, sl in enumerate(ndimage.find_objects(pieces), start=1):
        piece = pieces[sl] == i
        if sl[0].stop - sl[0].start <= 2.0 * line + 2 and (touching[sl] & piece).any():
            wing[sl] |= piece
    # ...and runs on past the lash's ends, level with them.
    span = x1 - x0 + 1
    h, w = labels.shape
    beside = np.zeros_like(lash)
    for end, outward in ((x0, -1), (x1, 1)):
        at_end = np.abs(xs - end) <= 0.2 * span
        r0, r1 = int(ys[at_end].min()) - 3, int(ys[at_end].max()) + 4
        c0, c1 = sorted((end - outward * int(0.2 * span), end + outward * int(0.3 * span)))
        beside[max(0, r0):min(h, r1), max(0, c0):min(w, c1 + 1)] = True
    wing &= beside
    # With the stroke's soft edge.
    wing = (cv2.dilate(wing.astype(np.uint8), kernel) > 0) & ink
    labels[wing] = LABEL["eyelash"]


def _lash_bands_only(labels: np.ndarray, before: np.ndarray, box: np.ndarray,
                     L: np.ndarray | None) -> None:
    """The lash line is a band: what was taken from dark hair (``before``: the labels before)
    only in a sliver a couple of pixels wide is a strand's outline running through it, and
    goes back to the hair (in place, within ``box``). Against light hair, ink as dark as the
    lash stays the lash's whatever its shape (a tapering tail)."""
    added = (labels == LABEL["eyelash"]) & (before != LABEL["eyelash"]) & box
    if not added.any():
        return
    is_lash = (labels == LABEL["eyelash"]) & box
    band = cv2.morphologyEx(is_lash.astype(np.uint8), cv2.MORPH_OPEN,
                            np.ones((1, 5), np.uint8)) > 0
    sliver = added & ~band
    hair = box & np.isin(before, [LABEL["back hair"], LABEL["front hair"]])
    if L is not None and hair.any() and (is_lash & ~added).any():
        lash_l = float(np.median(L[is_lash & ~added]))
        hair_l = float(np.median(L[hair]))
        if hair_l - lash_l >= 25:
            sliver &= L >= lash_l + 0.5 * (hair_l - lash_l)
    labels[sliver] = before[sliver]


def _white_from_hair(labels: np.ndarray, eye: np.ndarray, eye_white: np.ndarray) -> None:
    """An eyewhite seen between strands of a fringe (or cut off from the eye's mask by a
    strand's outline) went to the hair: it stayed white on the hair when the eye closed. The
    pixels of the white's colour, on the hair or not yet claimed, that join the eye's own
    white in small pieces are the white's, with their rim (in place); pale hair's wide areas
    stay hair."""
    own = eye & (labels == LABEL["eyewhite"])
    if own.sum() < 8:
        return
    box = _eye_box(eye)
    free = np.isin(labels, [0, LABEL["back hair"], LABEL["front hair"]]) & box
    pieces, n = ndimage.label(free & eye_white, structure=np.ones((3, 3), bool))
    if n == 0:
        return
    touching = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # Or the lash, past the strand's anti-aliased rim: white between the fringe and the upper
    # lash (bust-image0) stayed a white fleck on the hair over the closed lid; the white above
    # the lash goes on to the face (_white_above_lash_to_face), which the lid covers.
    lash = box & (labels == LABEL["eyelash"])
    touching |= cv2.dilate(lash.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    sizes = np.bincount(pieces.ravel())
    joined = np.unique(pieces[touching & (pieces > 0)])
    keep = [i for i in joined if sizes[i] <= 0.25 * own.sum()]
    claimed = np.isin(pieces, keep)
    # With its anti-aliased rim (a grey line left on the hair otherwise).
    rim = (cv2.dilate(claimed.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & free
    labels[claimed | rim] = LABEL["eyewhite"]


def _white_above_lash_to_face(labels: np.ndarray, eye: np.ndarray) -> None:
    """White above the upper lash line (a pale gap between the lash and a lock of the fringe,
    taken for the white) is skin: the face's (in place). As the white, the eye's opening
    reached up over the lash, and the closed lid, which covers the opening, laid a flat box
    of skin over the fringe. The upper lash here: its pixels above the eye's middle (the
    iris's middle row); the white above the lower lash line stays."""
    box = _eye_box(eye)
    white = (labels == LABEL["eyewhite"]) & box
    lash = (labels == LABEL["eyelash"]) & box
    iris = (labels == LABEL["irides"]) & box
    middle = iris if iris.any() else white
    if not white.any() or not lash.any() or not middle.any():
        return
    rows = np.arange(labels.shape[0])[:, None]
    upper = lash & (rows < float(np.median(np.nonzero(middle)[0])))
    cols = np.flatnonzero(upper.any(axis=0))
    # The line's foot in each column: the end of its topmost run. White under it is the
    # eye's, a fleck of a wing or corner lower down notwithstanding (white above that, taken
    # for skin, went to a strand beside it and stayed on when the eye closed).
    lowest = np.full(labels.shape[1], -1)
    top = np.argmax(upper[:, cols], axis=0)
    below_top = rows >= top[None, :]
    gap = ~upper[:, cols] & below_top
    lowest[cols] = np.where(gap.any(axis=0), np.argmax(gap, axis=0), labels.shape[0]) - 1
    labels[white & (rows < lowest[None, :])] = LABEL["face"]


def _skin_inside_the_opening_to_white(labels: np.ndarray, eye: np.ndarray) -> None:
    """Pixels inside the eye's opening (the convex hull of its white and iris) taken for the
    face, pale shading and iris highlights between pieces of white and iris, are the eye's:
    the white's (in place), which closes with the lid. As the face's they stayed put while
    the lash came down, iris flecks above it through the blink (test-image1)."""
    box = _eye_box(eye)
    opening = np.isin(labels, [LABEL["eyewhite"], LABEL["irides"]]) & box
    if not opening.any():
        return
    pieces, n = ndimage.label(opening, structure=np.ones((3, 3)))
    own = np.unique(pieces[eye & opening])
    opening = np.isin(pieces, own[own > 0])
    if not opening.any():
        return
    labels[convex_fill(opening) & (labels == LABEL["face"])] = LABEL["eyewhite"]


def _iris_coloured_lash_to_iris(labels: np.ndarray, eye: np.ndarray, lab: np.ndarray) -> None:
    """The iris's dark upper part, as dark as the lash and taken for it, is the iris's when it
    is coloured, not the lash ink's dull dark (in place): the lash's pixels fall into two
    colours (k-means on their hue), and where one is clearly saturated and the other not, its
    pieces inside the iris's round (:mod:`.iris_round`) that join the iris, not the hair (a
    coloured lock crossing the lash), go to it, and a highlight they ring with it. As lash
    they stayed behind at a glance, a dark sickle and a white gap."""
    box = _eye_box(eye)
    lash = (labels == LABEL["eyelash"]) & box
    iris = (labels == LABEL["irides"]) & box
    if lash.sum() < 20 or iris.sum() < 20:
        return
    ab = lab[..., 1:]
    samples = ab[lash].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, assign, centres = cv2.kmeans(samples, 2, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    # The ink is dark and dull; the iris's own colour is saturated (a dark navy iris top as
    # little as 19 Lab units: test-image's).
    chroma = np.linalg.norm(centres, axis=1)
    near = int(np.argmax(chroma))
    if chroma[near] < 15 or chroma[near] < 1.8 * chroma[1 - near]:
        return
    hued = np.zeros_like(lash)
    hued[lash] = assign.ravel() == near
    # Only inside the iris's round: a lock of coloured hair crossing the lash is not the iris.
    ys, xs = np.nonzero(box)
    win = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    gray = np.clip(lab[win][..., 0] * 2.55 + 0.5, 0, 255).astype(np.uint8)
    disc = iris_circle(gray, iris[win], float(np.ptp(np.nonzero(lash)[1]) + 1))
    if disc is None:
        return
    hued[win] &= disc
    hued[~box] = False
    pieces, n = ndimage.label(hued, structure=np.ones((3, 3), bool))
    ring = np.ones((3, 3), np.uint8)
    touching = cv2.dilate(iris.astype(np.uint8), ring) > 0
    hair = np.isin(labels, [LABEL["back hair"], LABEL["front hair"]])
    on_hair = cv2.dilate(hair.astype(np.uint8), ring) > 0
    joined = set(np.unique(pieces[touching & (pieces > 0)]).tolist())
    joined -= set(np.unique(pieces[on_hair & (pieces > 0)]).tolist())
    labels[np.isin(pieces, sorted(joined))] = LABEL["irides"]
    # Its highlight, and the highlight's soft rim (dark enough to have gone to the lash), are
    # the iris's once the iris rings them.
    _highlights_to_iris(labels, (labels == LABEL["eyewhite"]) & box)
    _highlights_to_iris(labels, (labels == LABEL["eyelash"]) & box)


def _eye_box(eye: np.ndarray) -> np.ndarray:
    """Bool (H, W): the eye's bounding box, grown by half its width (where its lash runs)."""
    out = np.zeros(eye.shape, bool)
    ys, xs = np.nonzero(eye)
    if ys.size:
        pad = (xs.max() - xs.min() + 1) // 2
        out[max(0, ys.min() - pad):ys.max() + pad + 1,
            max(0, xs.min() - pad):xs.max() + pad + 1] = True
    return out


def _relabel_lash_under_hair(labels: np.ndarray, eye: np.ndarray, dark: np.ndarray,
                             face_skin: np.ndarray, L: np.ndarray | None) -> None:
    h, w = labels.shape
    opening = eye & np.isin(labels, [LABEL["eyewhite"], LABEL["irides"]])
    lash = labels == LABEL["eyelash"]
    # Hair, or not yet anything (the eye's own mask kept it out of the hair; it would join
    # the nearest part, the hair, later).
    hair = np.isin(labels, [0, LABEL["back hair"], LABEL["front hair"]])
    skin = face_skin | ((labels == LABEL["face"]) & ~dark)
    cols = np.flatnonzero(opening.any(0))
    if cols.size < 4:
        return
    # The opening's top edge, without the steps where the iris and the white begin apart.
    tops = ndimage.median_filter(np.argmax(opening[:, cols], axis=0), size=5, mode="nearest")
    thick, covered = [], []
    for x, top in zip(cols, tops):
        # Up through the lash found so far, and across the line's soft lower edge (up to
        # 3 px lighter than the line, neither skin nor labelled as anything but hair)
        # between it and the opening.
        y, gap = top - 1, 0
        while y >= 0 and (lash[y, x] or (gap < 3 and hair[y, x] and not dark[y, x]
                                         and not skin[y, x])):
            gap += not lash[y, x]
            y -= 1
        if y < 0:
            continue
        if skin[y, x] and top - gap - y - 1 >= 1:
            thick.append(top - gap - y - 1)    # the line ends under skin: its whole thickness
        elif hair[y, x] and dark[y, x]:
            covered.append((x, top - gap))
    if len(thick) < 3 or not covered:
        return
    t = int(round(1.1 * float(np.median(thick))))
    for x, top in covered:
        y0 = max(0, top - t)
        run = slice(y0, top)
        labels[run, x][hair[run, x] & dark[run, x]] = LABEL["eyelash"]
    if L is not None:
        _lash_by_darkness(labels, hair, L, cols, tops, [x for x, _ in covered], t)


def _lash_ink_threshold(L: np.ndarray, lash: np.ndarray, hair: np.ndarray,
                        min_gap: float) -> float | None:
    """The lightness halfway between a lash's ink (the median of ``lash``) and the body of the
    dark hair beside it (``hair`` darker than 60: its highlights say nothing about its ink),
    or None with fewer than 8 pixels of either, or when the two lie less than ``min_gap``
    apart (drawn in one ink: darkness tells nothing)."""
    body = hair & (L < 60)
    if lash.sum() < 8 or body.sum() < 8:
        return None
    lash_l, hair_l = float(np.median(L[lash])), float(np.median(L[body]))
    if hair_l - lash_l < min_gap:
        return None
    return lash_l + 0.5 * (hair_l - lash_l)


def _lash_by_darkness(labels: np.ndarray, hair: np.ndarray, L: np.ndarray, cols: np.ndarray,
                      tops: np.ndarray, covered: list[int], t: int) -> None:
    """Where a lash line is drawn darker than the dark hair lying on it: the covered columns'
    lash goes on up while as dark as the lash, to at most 2.5 times the line's usual
    thickness, and the line is traced on sideways past the opening while a run as thick as a
    lash (not a strand's outline) goes on with no hair below it, at most a third of the eye's
    width (in place)."""
    h, w = labels.shape
    width = int(cols[-1] - cols[0] + 1)
    x0, x1 = max(0, cols[0] - width), min(w, cols[-1] + width + 1)
    y0, y1 = max(0, int(np.argmax((labels == LABEL["eyelash"])[:, cols].any(1))) - 3 * t), h
    box = (slice(y0, y1), slice(x0, x1))
    thr = _lash_ink_threshold(L[box], labels[box] == LABEL["eyelash"], hair[box], min_gap=8.0)
    if thr is None:
        return
    inky = (L < thr) & (hair | (labels == LABEL["eyelash"]))
    # The upper lash line: lash above the opening's top, column by column.
    top_of = dict(zip(cols.tolist(), tops.tolist()))
    is_lash = labels == LABEL["eyelash"]

    def upper(x: int) -> np.ndarray:
        return np.flatnonzero(is_lash[:top_of[x], x])

    for x in covered:
        ys = upper(x)
        if ys.size == 0:
            continue
        y, stop = ys.min() - 1, max(0, top_of[x] - int(2.5 * t))
        while y >= stop and inky[y, x]:
            labels[y, x] = LABEL["eyelash"]
            y -= 1
    # Sideways past each end of the opening, from the last column with lash over it.
    is_lash = labels == LABEL["eyelash"]
    with_lash = [int(c) for c in cols if upper(int(c)).size]
    if not with_lash:
        return
    for start, step in ((with_lash[0], -1), (with_lash[-1], 1)):
        ys = upper(start)
        a, b = int(ys.min()), int(ys.max())
        x = start + step
        for _ in range(width // 3):
            if not 0 <= x < w:
                break
            lo, hi = max(0, a - 2), min(h, b + 3)
            run = np.flatnonzero(inky[lo:hi, x]) + lo
            if run.size == 0:
                break
            # The run of ink touching the previous column's run.
            pieces = np.split(run, np.flatnonzero(np.diff(run) > 1) + 1)
            piece = max(pieces, key=len)
            if len(piece) < max(2, 0.4 * t) or len(piece) > 2.5 * t:
                break
            # A band, ink-free just above and below it: not a strand's outline running on
            # steeply through the line (its run goes on past the window).
            p0, p1 = int(piece.min()), int(piece.max())
            if (p0 > 0 and inky[p0 - 1, x]) or (p1 + 1 < h and inky[p1 + 1, x]):
                break
            # Hair going on below the run: a lock crossing the line, which stays hair.
            below = slice(p1 + 1, min(h, p1 + 3))
            if (hair[below, x] & (L[below, x] < 60)).all():
                break
            labels[piece, x] = LABEL["eyelash"]
            a, b = p0, p1
            x += step


def _iris_body(iris: np.ndarray) -> np.ndarray:
    """The iris without thin wings (shaded white in an eye's corner, a lash's shadow) that
    would slide with the gaze: the pixels an opening a third of the iris's height keeps,
    grown back to their reach, in the largest piece."""
    if iris.sum() < 16:
        return iris
    ys, xs = np.nonzero(iris)
    r = max(1, int(round(np.ptp(ys) / 6)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    core = cv2.morphologyEx(iris.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    if core.sum() < 0.3 * iris.sum():
        return iris
    comps, n = ndimage.label(core)
    sizes = np.bincount(comps.ravel())
    sizes[0] = 0
    core = comps == int(np.argmax(sizes))
    return iris & (cv2.dilate(core.astype(np.uint8), kernel) > 0)


def _highlights_to_iris(labels: np.ndarray, whites: np.ndarray) -> None:
    """An iris's highlight is as white as the eyewhite: a white piece mostly ringed by the iris
    is the iris's own, so it moves with the gaze and closes with the eye (in place)."""
    comps, _ = ndimage.label(whites)
    for _, win, own, rim in pieces_with_rims(comps):
        around = labels[win][rim]
        if around.size and (around == LABEL["irides"]).mean() >= 0.6:
            labels[win][own] = LABEL["irides"]


def _eye_fringe(labels: np.ndarray, eye: np.ndarray, lab: np.ndarray, face_skin: np.ndarray,
                face_hull: np.ndarray, skin_tinted: np.ndarray | None = None) -> None:
    """Iris and lash pixels outside an eye's mask (its hull misses a corner that a lid or a
    glasses rim cut off) would stay on the face when the eye closes. Face pixels that are not
    skin and connect to the eye within a fifth of its width join the iris when of its colour,
    the lashes when as dark (the face's own outline excepted; in place)."""
    iris = eye & (labels == LABEL["irides"])
    if iris.sum() < 8 or not face_skin.any():
        return
    iris_ref = np.median(lab[iris], axis=0)
    spread = float(np.percentile(np.linalg.norm(lab[iris] - iris_ref, axis=-1), 75))
    skin_L = float(np.median(lab[face_skin][:, 0]))
    near_iris = np.linalg.norm(lab - iris_ref, axis=-1) < max(12.0, 1.5 * spread)
    outline = face_hull & ~(cv2.erode(face_hull.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    dark = (lab[..., 0] < skin_L - 35) & ~outline
    if skin_tinted is None:
        skin_tinted = _skin_tinted(lab, face_skin)
    free = (labels == LABEL["face"]) & ~face_skin & (near_iris | dark) & ~skin_tinted
    # The growth crosses a glasses rim (that stays the rim's) to what it cut off.
    rim = labels == LABEL["eyewear"]
    ys, xs = np.nonzero(eye)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    grown = eye.copy()
    for _ in range(max(1, int(round(0.2 * (np.ptp(xs) + 1))))):
        nxt = (cv2.dilate(grown.astype(np.uint8), cross) > 0) & (eye | free | rim)
        if (nxt == grown).all():
            break
        grown = nxt
    fringe = grown & free
    # An iris never reaches above its own top (under the lash line): a lid's crease there
    # may share its colour.
    below_top = np.arange(labels.shape[0])[:, None] >= np.nonzero(iris)[0].min()
    # ...and what a rim or a lid cut off runs on from it: a black lash wedge in the eye's
    # corner, the colour of the pupil but cut off from the iris by the white, is not the iris.
    joined = (fringe & near_iris & below_top) | rim | (labels == LABEL["irides"])
    comps, _ = ndimage.label(joined, structure=np.ones((3, 3)))
    touching = np.unique(comps[iris])
    spill = fringe & near_iris & below_top & np.isin(comps, touching[touching > 0])
    labels[spill] = LABEL["irides"]
    if (eye & (labels == LABEL["eyelash"])).any():
        labels[fringe & ~spill] = LABEL["eyelash"]


def _without_slivers(mask: np.ndarray, centre: Point, radius: float, width: float, xx,
                     yy) -> np.ndarray:
    """``mask`` without the parts thinner than ``width`` hanging off its main body (the
    components reaching within ``radius`` of ``centre``)."""
    k = max(3, int(round(width)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    core = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    if not core.any():
        return mask
    core = _components_touching(core, centre, radius, xx, yy)
    return (cv2.dilate(core.astype(np.uint8), kernel) > 0) & mask


def _label_eyewear(labels, lab, solid, face_skin, head: Head) -> None:
    """Glasses around both eyes (see .eyewear): relabelled from whatever took their strokes."""
    eyes = []
    for ex, ey in head.eyes:
        near = np.zeros(labels.shape, bool)
        r = int(0.6 * head.eye_dist)
        y0, y1 = max(0, int(ey) - r), min(labels.shape[0], int(ey) + r)
        x0, x1 = max(0, int(ex) - r), min(labels.shape[1], int(ex) + r)
        near[y0:y1, x0:x1] = True
        own = near & np.isin(labels, [LABEL["eyewhite"], LABEL["irides"], LABEL["eyelash"]])
        if own.sum() < 4:
            return
        ys, xs = np.nonzero(own)
        eyes.append((float((xs.min() + xs.max()) / 2), float((ys.min() + ys.max()) / 2),
                     max(2.0, 0.5 * float(np.ptp(xs) + 1)), max(2.0, 0.5 * float(np.ptp(ys) + 1))))
    taken = np.isin(labels, [LABEL["eyewhite"], LABEL["irides"], LABEL["eyelash"],
                             LABEL["eyebrow"]])
    hair = np.isin(labels, [LABEL["back hair"], LABEL["front hair"]])
    frame = find_eyewear(lab, solid, face_skin, taken, eyes, hair)
    if frame is not None:
        labels[frame] = LABEL["eyewear"]


def _faint_mouth_line(labels, L, near_hair, head: Head, xx, yy,
                      seed: np.ndarray | None = None) -> np.ndarray | None:
    """A smile drawn as a faint line (only a few shades darker than the skin, its tips darker):
    the skin's colour test takes it for skin, so it is not among the face's features. Thin
    dark lines on the face, found with a black-hat (a blush is broad, so it is not one): the
    widest one lying flat below the nose, near the eyes' centre line (the pose model's centre
    line of a tilted face may sit on one eye), with the pieces it broke into. Given ``seed``
    (the darker part of the mouth already found, often only a smile's tips), the line through
    it."""
    ed = head.eye_dist
    k = max(3, int(round(0.2 * ed)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    line_depth = cv2.morphologyEx(L.astype(np.float32), cv2.MORPH_BLACKHAT, kernel)
    face = (labels == LABEL["face"]) | (seed if seed is not None else False)
    rows = (yy > head.eye_y + 0.6 * ed) & (yy < head.chin_y - 0.05 * ed)
    lines = face & rows & (line_depth > 4.0) & ~near_hair
    comps, n = ndimage.label(lines, structure=np.ones((3, 3)))
    if not n:
        return None
    off_centre = _off_centre(head)
    boxes = ndimage.find_objects(comps)
    sizes = np.bincount(comps.ravel())
    near = []
    for i, box in enumerate(boxes, 1):
        x_mid = (box[1].start + box[1].stop - 1) / 2
        y_mid = (box[0].start + box[0].stop - 1) / 2
        if off_centre(y_mid, x_mid) < 0.45 * ed and box[1].stop - box[1].start < 1.0 * ed:
            near.append(i)
    if seed is not None:
        on_seed = set(np.unique(comps[seed & lines]).tolist()) & set(near)
        flat = [i for i in near if i in on_seed]
    else:
        flat = [i for i in near if boxes[i - 1][1].stop - boxes[i - 1][1].start >= max(
            0.25 * ed, 1.5 * (boxes[i - 1][0].stop - boxes[i - 1][0].start))]
    if not flat:
        return None
    best = max(flat, key=lambda i: sizes[i])
    by0, by1 = boxes[best - 1][0].start, boxes[best - 1][0].stop
    bx0, bx1 = boxes[best - 1][1].start, boxes[best - 1][1].stop
    # The pieces of the same line: level with it and close beside it.
    pieces = [i for i in near
              if boxes[i - 1][0].start < by1 + 0.1 * ed and boxes[i - 1][0].stop > by0 - 0.1 * ed
              and boxes[i - 1][1].start < bx1 + 0.3 * ed and boxes[i - 1][1].stop > bx0 - 0.3 * ed]
    found = np.isin(comps, pieces)
    # The faintest stretch between the pieces belongs to the line too.
    between = cv2.dilate(convex_fill(found).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return found | (between & face & (line_depth > 2.0))


def _label_mouth_and_nose(labels, feats, face_hull, lab, face_med, head: Head, xx, yy) -> None:
    """The mouth: the biggest feature below the eyes near the centre line that lies inside the
    face (a line touching the face's outline is the jaw, not a mouth) and is mouth-sized (pose
    puts the mouth of anime faces too low, so the landmark only bounds the search). The nose: a
    small mark, set off from the skin around it, on the centre line between the eyes and the
    mouth."""
    ed = head.eye_dist
    free = feats & (labels == LABEL["face"])
    zone = free & (yy > head.eye_y + 0.45 * ed) & (yy < head.chin_y - 0.05 * ed)
    inner = cv2.erode(face_hull.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    comps, n = ndimage.label(zone, structure=np.ones((3, 3)))
    mouth_top = head.mouth[1]
    hair = np.isin(labels, [LABEL["back hair"], LABEL["front hair"]])
    near_hair = cv2.dilate(hair.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if n:
        boxes = ndimage.find_objects(comps)
        sizes = np.bincount(comps.ravel())
        centres = ndimage.center_of_mass(zone, comps, range(1, n + 1))
        outside = np.bincount(comps[~inner].ravel(), minlength=n + 1)
        # A mouth is drawn in line art or a dark interior; a blush is light and only rosy.
        skin_l = float(face_med[0]) if face_med is not None else 80.0
        darkest = ndimage.labeled_comprehension(lab[..., 0], comps, np.arange(1, n + 1),
                                                lambda v: np.percentile(v, 20), np.float32, 0.0)
        # A strand tip lying on the cheek touches the hair it hangs from; a mouth does not.
        touches_hair = np.bincount(comps[near_hair].ravel(), minlength=n + 1)
        off_centre = _off_centre(head)
        best, best_score = 0, 0.0
        for i, (box, c) in enumerate(zip(boxes, centres), 1):
            width, height = box[1].stop - box[1].start, box[0].stop - box[0].start
            # Under the nose, down the face's own vertical (a turned face carries its mouth
            # off the eyes' centre line, a tilted one along its tilt): test-image turned 12
            # degrees took the blush's hatching on a cheek, half an eye distance off, for it.
            if off_centre(*c) > 0.45 * ed or width > 1.0 * ed or height > 0.6 * ed:
                continue
            if darkest[i - 1] > skin_l - 20 or touches_hair[i]:
                continue
            if outside[i]:
                continue
            # Lower components are likelier the mouth; the nose is a small mark higher up.
            score = sizes[i] * (1.0 + (c[0] - head.eye_y) / ed)
            if score > best_score:
                best, best_score = i, score
        if best:
            # A thin mouth line often breaks into pieces: take those level with the best one.
            by, bx = centres[best - 1]
            parts = [i for i, (box, c) in enumerate(zip(boxes, centres), 1)
                     if not outside[i] and abs(c[0] - by) < 0.08 * ed
                     and abs(c[1] - bx) < 0.45 * ed
                     and box[1].stop - box[1].start < 0.6 * ed]
            mouth = np.isin(comps, [best] + parts)
            labels[mouth] = LABEL["mouth"]
            mouth_top = float(np.nonzero(mouth)[0].min())
    found = labels == LABEL["mouth"]
    mouth = _faint_mouth_line(labels, lab[..., 0], near_hair, head, xx, yy,
                              found if found.any() else None)
    if mouth is not None:
        labels[mouth] = LABEL["mouth"]
        mouth_top = float(np.nonzero(mouth)[0].min())
    strip = (labels == LABEL["face"]) & (np.abs(xx - head.cx) < 0.22 * ed) & \
        (yy > head.eye_y - 0.15 * ed) & (yy < mouth_top - 0.05 * ed)
    if not strip.any():
        return
    ref = np.median(lab[strip], 0) if face_med is None else face_med
    marks = strip & (np.linalg.norm(lab - ref, axis=-1) > 6.0)
    marks = ndimage.binary_opening(marks, np.ones((2, 2)))
    comps, n = ndimage.label(marks, structure=np.ones((3, 3)))
    if not n:
        return
    # The nose is a small mark on the centre line: shading that runs to the strip's sides or
    # fills much of it is not.
    sizes = np.bincount(comps.ravel())[1:]
    centres = np.array(ndimage.center_of_mass(marks, comps, range(1, n + 1)))
    edge = np.unique(comps[(np.abs(xx - head.cx) >= 0.2 * ed) & marks])
    near = (np.abs(centres[:, 1] - head.cx) < 0.15 * ed) & (sizes < 0.06 * ed * ed) & \
        ~np.isin(np.arange(1, n + 1), edge)
    keep = np.flatnonzero(near & (sizes >= max(3.0, 0.3 * sizes[near].max() if near.any() else 0)))
    labels[np.isin(comps, keep + 1)] = LABEL["nose"]


def _off_centre(head: Head):
    """How far a point (row, column) lies beside the face's centre line, square to the eye
    line: through the eyes' middle or through the nose, whichever is nearer (the pose model's
    nose sits off a tilted face's middle at times; a turned face's mouth lies under its
    nose, off the eyes' middle)."""
    (x0, y0), (x1, y1) = head.eyes
    if x1 < x0:
        x0, y0, x1, y1 = x1, y1, x0, y0
    # Square to the eye line, pointing down the face: (-(y1 - y0), x1 - x0) up to scale.
    slope = -(y1 - y0) / max(x1 - x0, 1e-6)
    through = ((0.5 * (x0 + x1), 0.5 * (y0 + y1)), head.nose)
    return lambda y, x: min(abs(x - (px + (y - py) * slope)) for px, py in through)


def _label_ears(labels, side_skin, face_hull, body, head: Head, xx, yy,
                hair: np.ndarray | None = None) -> None:
    """Ears: skin blobs outside the face outline but touching its sides, between the eye line
    and the mouth, each filled out to its convex hull (the ear's own line art inside)."""
    ed = head.eye_dist
    if not face_hull.any():
        return
    # A lock of hair may run between the face and its ear: "touching" reaches across a lock
    # up to a quarter of the eyes' spacing wide...
    gap = abs(head.eyes[0][0] - head.eyes[1][0]) if len(head.eyes) == 2 else 0.0
    reach = max(2 * max(1, int(0.03 * ed)), int(0.25 * gap))
    near = cv2.dilate(face_hull.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
    if hair is not None and gap > 0:
        # ...and across a wider lock (up to half the spacing) when only hair lies between:
        # an ear left in the hair is painted into the back hair, a second ear that slides
        # off the face when the head turns.
        through = grown_within(face_hull, hair | face_hull, int(0.5 * gap), SQUARE)
        near |= cv2.dilate(through.astype(np.uint8), SQUARE) > 0
    free = side_skin & (labels == 0)
    # The ear's own line art cuts it into pieces: pieces a stroke apart are one ear.
    joined = cv2.morphologyEx(free.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    comps, n = ndimage.label(joined > 0)
    comps[~free] = 0
    if not n:
        return
    touching = np.unique(comps[near & (comps > 0)])
    xs_face = np.nonzero(face_hull)[1]
    left, right = float(xs_face.min()), float(xs_face.max())
    for i in touching:
        blob = comps == i
        ys, xs = np.nonzero(blob)
        cy, cx = float(ys.mean()), float(xs.mean())
        area = ys.size
        if not (head.eye_y - 0.4 * ed < cy < head.mouth[1] + 0.2 * ed):
            continue
        if not (0.02 * ed * ed < area < 0.6 * ed * ed):
            continue
        # An ear sticks out sideways, beyond the face's central part.
        if abs(cx - head.cx) < 0.3 * (right - left) or np.ptp(ys) > 1.2 * ed \
                or left + 0.1 * (right - left) < cx < right - 0.1 * (right - left):
            continue
        ear = convex_fill(blob) & body & ~face_hull & (labels == 0)
        labels[ear] = LABEL["ears"]


def _label_animal_ears(labels: np.ndarray, figure: np.ndarray, head: Head, xx, yy) -> None:
    """Animal ears: a pair of points standing up from the top of the head, one each side of
    its centre, alike in size and height. They are drawn in the hair's colour and were taken
    for hair; as `ears` they move with the head instead of swinging like strands. A single
    standing strand (an ahoge) or a row of spikes is not a pair and stays hair."""
    face = labels == LABEL["face"]
    if not face.any():
        return
    fx = np.nonzero(face)[1]
    face_w = float(np.ptp(fx)) + 1
    hair = np.isin(labels, [LABEL["front hair"], LABEL["back hair"]])
    head_mask = (hair | face) & figure
    r = max(2, int(round(0.1 * face_w)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    opened = cv2.morphologyEx(head_mask.astype(np.uint8), cv2.MORPH_OPEN, disk) > 0
    points = hair & ~opened & (yy < head.eye_y - 0.6 * face_w)
    comps, n = ndimage.label(points)
    found = []
    for i, box in enumerate(ndimage.find_objects(comps), start=1):
        piece = comps[box] == i
        ys, xs = np.nonzero(piece)
        height = float(np.ptp(ys)) + 1
        if piece.sum() < 0.01 * face_w * face_w or height < 0.12 * face_w:
            continue
        found.append((i, box, float(xs.mean() + box[1].start), float(ys.mean() + box[0].start),
                      float(piece.sum())))
    if len(found) != 2:
        return
    (ia, ba, xa, ya, aa), (ib, bb, xb, yb, ab) = sorted(found, key=lambda f: f[2])
    if not (xa < head.cx < xb and xb - xa > 0.3 * face_w and abs(ya - yb) < 0.15 * face_w
            and min(aa, ab) > 0.4 * max(aa, ab)):
        return
    # The ear stands on the skull: the round top a wider opening leaves (no ear survives it).
    big = max(3, int(round(0.25 * face_w)))
    skull = cv2.morphologyEx(head_mask.astype(np.uint8), cv2.MORPH_OPEN,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                       (2 * big + 1, 2 * big + 1))) > 0
    h, w = labels.shape
    for i, box in ((ia, ba), (ib, bb)):
        ear = comps == i
        # Its hull down to its base, half its width again on each side (the base is wider
        # than what stands out).
        x0, x1 = box[1].start, box[1].stop
        pad = (x1 - x0) // 2
        base = np.zeros_like(ear)
        # Drawn over the hair, it reaches well below what stands out (the opening keeps its
        # base where that is wider than the disc) and at least onto the skull, never far
        # down the side of the head.
        reach, limit = box[0].stop + int(3.5 * r), min(h - 1, box[0].stop + 6 * r)
        for x in range(max(0, x0 - pad), min(w, x1 + pad)):
            rows = np.flatnonzero(skull[:, x])
            if not rows.size:
                continue
            # Under what stands out: down to its base, at least onto the skull; beside it: only
            # as low as what stands out (the hair down the side of the head stays hair).
            row = max(int(rows[0]) + r, reach) if x0 <= x < x1 else box[0].stop
            base[min(row, limit), x] = True
        hull = convex_fill(ear | base)
        labels[hull & hair] = LABEL["ears"]


def _mouth_point(layout: Layout, nose: Point, ed: float) -> Point:
    ml, mr = layout.get("mouth_l"), layout.get("mouth_r")
    if ml is not None and mr is not None:
        return ((ml[0] + mr[0]) / 2, max((ml[1] + mr[1]) / 2, nose[1] + 0.25 * ed))
    return (nose[0], nose[1] + 0.45 * ed)


def _split_hair(labels: np.ndarray, L: np.ndarray, head: Head, skin_below: np.ndarray, xx,
                yy) -> None:
    """Relabel the hair in front of the face and body as front hair (in place)."""
    hair = labels == LABEL["back hair"]
    if not hair.any():
        return
    face = labels == LABEL["face"]
    features = np.isin(labels, [LABEL[t] for t in ("eyewhite", "irides", "eyelash", "eyebrow",
                                                    "nose", "mouth")])
    eyes = np.isin(labels, [LABEL[t] for t in ("eyewhite", "irides", "eyelash")])
    geo = HeadGeometry(face, hair, eyes, features)
    if not geo.valid:
        return
    egg = face_shape(face, geo) & ~_below_drawn_jaw(face, L, geo.eye_y)
    body = np.isin(labels, [LABEL[t] for t in ("neck", "topwear", "handwear", "bottomwear")])
    below = yy > head.chin_y
    span = _row_spans(body & below) & below
    nape = np.isin(labels, [LABEL["neck"]]) | (skin_below & below)
    front = split_front_back(hair, egg, span, L * 2.55, head.chin_y, head.eye_dist,
                             labels > 0, nape)
    labels[front] = LABEL["front hair"]


def _below_drawn_jaw(face: np.ndarray, L: np.ndarray, eye_y: float) -> np.ndarray:
    """Bool (H, W): below the face where its lower edge is its own drawn contour (the jaw
    line: the face's lowest pixels in a column, below the eyes, are line-dark). The face's
    whole shape (its mirror image, an egg) reaches past a jaw seen turned a little; hair
    seen there is under the jaw, behind the head, not over the face. Where the face ends in
    skin instead, something in front cut it off, and its shape goes on under that."""
    h, w = face.shape
    out = np.zeros((h, w), bool)
    cols = np.flatnonzero(face.any(0))
    if cols.size == 0:
        return out
    skin_l = float(np.median(L[face]))
    bottom = h - 1 - np.argmax(face[::-1, cols], axis=0)
    for x, b in zip(cols, bottom):
        if b <= eye_y or b < 1:
            continue
        if min(L[b, x], L[b - 1, x]) < skin_l - 35 and face[b - 1, x]:
            out[b + 2:, x] = True
    return out


# ------------------------------------------------------------------------------------ body

def _neckline_skin_to_neck(labels: np.ndarray, skin: np.ndarray, chin_x: float,
                           shoulder_y: float, face_w: float, ed: float, xx, yy) -> None:
    """The bare skin of the upper chest, down to a top's neckline, runs on from the neck: it
    is the neck's (in place), not the top's. Taken as the top, the top's hidden part under a
    lock lying on the chest was painted in skin up to a straight edge, a pale block a tilt
    uncovered. Only what joins the neck, near the middle and above the chest, and only when
    the top is clothing."""
    neck = labels == LABEL["neck"]
    top = labels == LABEL["topwear"]
    # A top that is mostly skin is a bare torso, with no neckline to run down to: it moves
    # with the body, and the neck stays the neck.
    if not neck.any() or (top & ~skin).sum() < 0.5 * top.sum():
        return
    near = (np.abs(xx - chin_x) < 0.6 * face_w) & (yy < shoulder_y + 0.8 * ed)
    bare = skin & near & top
    comps, _ = ndimage.label(bare | neck, structure=np.ones((3, 3)))
    joined = np.unique(comps[neck])
    labels[bare & np.isin(comps, joined[joined > 0])] = LABEL["neck"]


def _label_body(labels, body, lab, skin, layout: Layout, head: Head, shoulder_y: float,
                face_w: float, xx, yy) -> None:
    if not body.any():
        return
    sh = layout.pair("shoulder")
    sw = abs(sh[0][0] - sh[1][0]) if sh else 2.0 * face_w
    neck_pt = (head.cx, shoulder_y)
    hips = layout.mid("hip")
    bones: list[tuple[str, Point, Point, float]] = []
    if hips is not None:
        bones.append(("torso", neck_pt, hips, 0.5 * sw))
    else:
        bones.append(("torso", neck_pt, (head.cx, labels.shape[0] * 2.0), 0.5 * sw))
    for side in ("l", "r"):
        s, e, wr = (layout.get(f"{j}_{side}") for j in ("shoulder", "elbow", "wrist"))
        if s is not None and e is not None:
            bones.append(("arm", s, e, 0.2 * sw))
            if wr is not None:
                bones.append(("arm", e, wr, 0.18 * sw))
                hand = (wr[0] + 0.4 * (wr[0] - e[0]), wr[1] + 0.4 * (wr[1] - e[1]))
                bones.append(("arm", wr, hand, 0.16 * sw))
        hp, kn, an = (layout.get(f"{j}_{side}") for j in ("hip", "knee", "ankle"))
        if hp is not None and kn is not None:
            bones.append(("thigh", hp, kn, 0.22 * sw))
            if an is not None:
                bones.append(("shin", kn, an, 0.16 * sw))
                foot = (an[0], an[1] + 0.25 * abs(an[1] - kn[1]))
                bones.append(("foot", an, foot, 0.16 * sw))
    ys, xs = np.nonzero(body)
    px, py = xs.astype(np.float32), ys.astype(np.float32)
    best = np.full(px.shape, np.inf, np.float32)
    kind = np.zeros(px.shape, np.int16)
    kinds = ["torso", "arm", "thigh", "shin", "foot"]
    for name, a, b, r in bones:
        d = _segment_distance(px, py, a, b) / r
        better = d < best
        best[better] = d[better]
        kind[better] = kinds.index(name)
    is_skin = skin[ys, xs]
    tags = np.full(px.shape, LABEL["topwear"], np.uint8)
    tags[kind == 1] = LABEL["handwear"]
    tags[kind == 3] = LABEL["legwear"]
    tags[kind == 4] = LABEL["footwear"]
    thigh = kind == 2
    tags[thigh & is_skin] = LABEL["legwear"]
    tags[thigh & ~is_skin] = LABEL["bottomwear"]
    if hips is not None:
        _split_top_bottom(tags, kind, is_skin, lab, ys, xs, shoulder_y, hips[1], labels.shape)
    labels[ys, xs] = tags


def _split_top_bottom(tags, kind, is_skin, lab, ys, xs, shoulder_y: float, hip_y: float,
                      shape) -> None:
    """Torso pixels below the chest that look like the clothing at the hips are bottomwear."""
    span = max(hip_y - shoulder_y, 1.0)
    torso = kind == 0
    colours = lab[ys, xs]
    chest = torso & ~is_skin & (ys > shoulder_y + 0.15 * span) & (ys < shoulder_y + 0.55 * span)
    hipband = (torso | (kind == 2)) & ~is_skin & (ys > hip_y - 0.05 * span) & \
        (ys < hip_y + 0.3 * span)
    if chest.sum() < 20 or hipband.sum() < 20:
        return
    top_ref = np.median(colours[chest], 0)
    bottom_ref = np.median(colours[hipband], 0)
    if np.linalg.norm(top_ref - bottom_ref) < 15:
        tags[torso & (ys > hip_y + 0.1 * span) & ~is_skin] = LABEL["bottomwear"]
        return
    pref = np.linalg.norm(colours - top_ref, axis=1) - np.linalg.norm(colours - bottom_ref, axis=1)
    grid = np.zeros(shape, np.float32)
    grid[ys, xs] = pref
    sigma = max(1.0, 0.03 * span)
    weight = np.zeros(shape, np.float32)
    weight[ys, xs] = 1.0
    smooth = cv2.GaussianBlur(grid, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(weight, (0, 0),
                                                                                  sigma), 1e-6)
    pref_s = smooth[ys, xs]
    low = ys > shoulder_y + 0.45 * span
    cand = (torso | (kind == 2)) & low & (pref_s > 0)
    tags[cand & ~(is_skin & (kind == 2))] = LABEL["bottomwear"]


def _segment_distance(px, py, a: Point, b: Point) -> np.ndarray:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    n = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / n, 0.0, 1.0) if n > 0 else 0.0
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


# ----------------------------------------------------------------------------- masks

def _component_near(mask: np.ndarray, point: Point) -> np.ndarray:
    """The connected component of ``mask`` containing ``point``, else the nearest one."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask)
    h, w = mask.shape
    x, y = int(np.clip(point[0], 0, w - 1)), int(np.clip(point[1], 0, h - 1))
    if labels[y, x]:
        return labels == labels[y, x]
    ys, xs = np.nonzero(labels)
    i = int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))
    return labels == labels[ys[i], xs[i]]


def _neck_base(neck: np.ndarray) -> float:
    """The row where a neck that runs on into bare shoulders or a chest ends: the first row
    below its upper half that is half as wide again as the upper half's median row (the
    neckline widening into the body; the median, since the chin's outline can cut a row short)."""
    widths = neck.sum(1)
    rows = np.flatnonzero(widths)
    if rows.size < 4:
        return float(neck.shape[0])
    upper = rows[: rows.size // 2]
    ref = float(np.median(widths[upper]))
    wide = rows[(rows > upper[-1]) & (widths[rows] > 1.5 * max(ref, 1.0))]
    return float(wide[0]) if wide.size else float(neck.shape[0])


def _face_pieces(skin: np.ndarray, head: Head, xx, yy) -> np.ndarray:
    """The face's skin: the skin pieces reaching into a disc around the nose (glasses and line
    art cut a face into pieces), less a small piece standing out beside the largest one: an
    ear whose edge reaches into the disc (its own part; in the face it would turn with the
    cheek). Pieces inside the face's width (inside glasses, between strands) stay."""
    ed = head.eye_dist
    pieces = _components_touching(skin, (head.cx, head.eye_y + 0.4 * ed), 0.9 * ed, xx, yy)
    labels, n = ndimage.label(pieces)
    if n < 2:
        return pieces
    index = np.arange(1, n + 1)
    area = ndimage.sum(pieces, labels, index)
    mean_x = ndimage.mean(xx, labels, index)
    cols = np.flatnonzero((labels == index[np.argmax(area)]).any(0))
    beside = (mean_x < cols.min()) | (mean_x > cols.max())
    ear = beside & (area < 0.6 * ed * ed) & (area < 0.5 * area.max())
    return pieces & ~np.isin(labels, index[ear])


def _components_touching(mask: np.ndarray, point: Point, radius: float, xx, yy) -> np.ndarray:
    """Union of the components of ``mask`` reaching into a disc (a face cut up by glasses or
    line art is still one face); the nearest component when none does."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask)
    disc = np.hypot(xx - point[0], yy - point[1]) <= radius
    ids = np.unique(labels[disc & mask])
    ids = ids[ids > 0]
    if ids.size == 0:
        return _component_near(mask, point)
    return np.isin(labels, ids)


def _brow(candidates: np.ndarray, ed: float) -> np.ndarray:
    """The eyebrow among the dark specks above an eye: its main pieces, when together they
    make a brow's worth of ink (a fringe hides most brows). Flecks of a lid's crease are no
    brow: as one they were painted on under the fringe, and when the brow dropped with a
    blink the painting slid out over the closed lid as a dotted line."""
    brow = _drop_small(candidates, 0.1)
    return brow if brow.sum() >= BROW_MIN_AREA * ed * ed else np.zeros_like(brow)


def _drop_small(mask: np.ndarray, fraction: float) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.isin(labels, np.flatnonzero(sizes >= fraction * sizes.max()))


def _column_extreme(mask: np.ndarray, top: bool) -> np.ndarray:
    """Per column, the first (top) or last (bottom) row of ``mask``; -1 where empty."""
    any_ = mask.any(0)
    if top:
        idx = np.argmax(mask, 0).astype(np.float32)
    else:
        idx = (mask.shape[0] - 1 - np.argmax(mask[::-1], 0)).astype(np.float32)
    idx[~any_] = -1 if top else 1e9
    return idx
