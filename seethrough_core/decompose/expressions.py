"""Expression art a single picture does not show: closed eyes and an open mouth.

A picture shows one expression; a puppet needs the others. Drawn the way artists draw them for
Live2D-style rigs, as the ``eye_close`` and ``mouth_open`` variant layers (so they land in the
PSD, where an artist can touch them up, and the rig uses them like hand-drawn ones):

- **Closed eye** (one per eye): the eye's whole region covered by the face's own skin (the face
  layer is already painted under the eye), feathered at its rim, with the upper lash line drawn
  as the closed lid: the picture's own line (its arch, thickness and wing, in its ink) moved
  straight down into the lower part of the eye's opening, where a lid closes, its arch
  flattened and its line a little thinner, as a closed eye is drawn. A lash that
  yields no clear line gets a drawn lid line of the lash's ink in the same place. A head
  leaning by more than the labelling's LEVEL_WITHIN gets its closed eyes drawn on the layers
  turned level about the eyes, then turned back: the lid comes down square to the eye line.
- **Open mouth**: a rounded opening hanging from the middle of the mouth line, a dark
  interior (the skin's hue, much darker and redder) with a lighter tongue at its bottom,
  outlined in the mouth line's colour. The mouth line becomes ``mouth_close``. Without a mouth
  line, the opening sits where anime faces put the mouth, between the eyes and the chin.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from scipy import ndimage

from .. import taxonomy
from ..character import Layer
from .images import warp_rgba
from .inpaint import push_pull_fill
from .iris_round import iris_circle
from .upright import LEVEL_WITHIN, eye_line_angle, leveling

MOUTH_DEPTH = 0.56      # the mouth's height between the eye line (0) and the chin (1)
LID_HEIGHT = 0.75       # where a closed lid lies: from the eye opening's top (0) to bottom (1)
LID_THICKNESS = 0.6     # the lid line's width as a share of the lash strokes' thickness
# A closed lid drawn from the lash is one stroke, thinner than the open eye's lash mass (at
# 0.9 a thick lash's lid lay over most of a half-hidden iris: test-image's showed skin on
# 52 %, at 0.7 on 61 %; the sample's closed eye against its artist's 25.7 -> 25.4 dB)...
CLOSED_LID_THINNING = 0.7
CLOSED_LID_ARCH = 0.6       # ...and its arch flatter than the open eye's
MAX_LID_SLOPE = 0.27     # tan 15 degrees: a drawn lid's slope at its middle, at most
MAX_LID_SAG = 0.12       # and how far its ends rise above its middle, a share of its length
SPECK_SHARE = 0.1       # a brow's or frame's piece no larger than this share of the lash is a speck


def add_expression_art(layers: list[Layer]) -> list[Layer]:
    """Full-canvas layers (drawing order) with closed-eye and open-mouth variants added where
    the picture has none; returns the new list."""
    out = list(layers)
    if not any(l.variant == "eye_close" for l in out):
        for side in ("r", "l", None):
            _specks_on_the_eye_to_the_lash(out, side)
        eye_parts = [i for i, l in enumerate(out) if l.tag in ("eyelash", "eyewhite", "irides")
                     and l.variant is None]
        arts = _closed_eyes(out)
        if arts:
            # Drawn where the lashes are: above every part of the eyes, at their depth.
            nearest = min((out[i].depth_median() for i in eye_parts
                           if out[i].depth_median() is not None), default=None)
            at = max(eye_parts) + 1
            for art in arts:
                if nearest is not None:
                    art.depth = np.full(art.alpha.shape, nearest, np.float32)
                out.insert(at, art)
                at += 1
    if not any(l.variant == "mouth_open" for l in out):
        out = open_mouth(out)
    return out


# ------------------------------------------------------------------------------ closed eyes

SIDES = ("r", "l", None)


def _closed_eyes(layers: list[Layer]) -> list[Layer]:
    """``closed_eye`` of each eye; on a leaning head drawn on the layers around the eyes
    turned level about them, and turned back. Drawn in the picture's frame, the lid came down
    along the canvas's columns, not square to the eye line: on test-image turned 20 degrees
    the lid's skin cut a fringe lock off square and left pieces of the lash beside the lid."""
    tilt = _eye_tilt(layers)
    if tilt is None:
        return [a for a in (closed_eye(layers, side) for side in SIDES) if a is not None]
    angle, (cx, cy), (x0, y0, x1, y1) = tilt
    h, w = layers[0].alpha.shape
    around = [replace(l, rgba=l.rgba[y0:y1, x0:x1],
                      depth=None if l.depth is None else l.depth[y0:y1, x0:x1]) for l in layers]
    m, size = leveling((y1 - y0, x1 - x0), (cx - x0, cy - y0), angle)
    level = [_warped(l, m, size) for l in around]
    arts = []
    for art in (closed_eye(level, side) for side in SIDES):
        if art is None:
            continue
        back = _warped(art, m, (x1 - x0, y1 - y0), back=True)
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[y0:y1, x0:x1] = back.rgba
        lash = next((l for l in layers if l.tag == "eyelash" and l.side == art.side
                     and l.variant is None and l.depth is not None), None)
        arts.append(replace(back, rgba=rgba, depth=None if lash is None else lash.depth.copy()))
    return arts


def _eye_tilt(layers: list[Layer]
              ) -> tuple[float, tuple[float, float], tuple[int, int, int, int]] | None:
    """(the eye line's angle, the point between the eyes, a box (x0, y0, x1, y1) holding
    both eyes and an eye distance round them) when the two eyes' lashes (or whites) lie on a
    line tilted by more than LEVEL_WITHIN degrees and every layer spans the canvas; else
    None."""
    shape = layers[0].alpha.shape if layers else None
    if shape is None or any(l.offset != (0, 0) or l.alpha.shape != shape for l in layers):
        return None
    centres, boxes = {}, []
    for side in ("l", "r"):
        for tags in (("eyelash",), ("eyewhite", "irides")):
            ys, xs = np.nonzero(_alpha(layers, tags, side) > 0.5)
            if ys.size >= 8:
                centres[side] = (float(xs.mean()), float(ys.mean()))
                boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
                break
    if len(centres) < 2:
        return None
    eyes = (centres["l"], centres["r"])
    angle = eye_line_angle(eyes)
    if abs(angle) <= LEVEL_WITHIN:
        return None
    pad = int(np.ceil(np.hypot(eyes[0][0] - eyes[1][0], eyes[0][1] - eyes[1][1])))
    h, w = shape
    box = (max(0, min(b[0] for b in boxes) - pad), max(0, min(b[1] for b in boxes) - pad),
           min(w, max(b[2] for b in boxes) + pad), min(h, max(b[3] for b in boxes) + pad))
    return angle, ((eyes[0][0] + eyes[1][0]) / 2, (eyes[0][1] + eyes[1][1]) / 2), box


def _warped(layer: Layer, m: np.ndarray, size: tuple[int, int], back: bool = False) -> Layer:
    """The layer moved by the 2x3 map ``m`` (or back, by its inverse) onto a canvas of
    ``size`` (w, h)."""
    depth = None
    if layer.depth is not None:
        flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if back else 0)
        depth = cv2.warpAffine(layer.depth.astype(np.float32), m, size,
                               flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return replace(layer, rgba=warp_rgba(layer.rgba, m, size, inverse=back), depth=depth)


SPECK_TAGS = ("eyebrow", "eyewear")     # parts whose specks on an eye are the lash's ink


def _specks_on_the_eye_to_the_lash(layers: list[Layer], side: str | None) -> None:
    """Specks of a brow or glasses layer lying on one eye's lash line or opening go to that
    eye's lash layer, in place. With black lashes, a black frame and a dark crease, labelling
    by colour left bits of the lash and crease to the glasses and the brow: the closed eye
    covered the lash around them and they floated over the lid as dark dots. A part's own
    strokes (the frame's ring, the brow) are far larger than such a speck and stay."""
    lash_at = [i for i, l in enumerate(layers) if l.tag == "eyelash" and l.side == side
               and l.variant is None]
    if not lash_at:
        return
    lash = layers[lash_at[0]]
    opening = _alpha(layers, ("eyewhite", "irides", "eyes"), side) > 0.5
    ink = lash.alpha >= 128
    if ink.sum() < 8 or not opening.any():
        return
    eye = ink | opening
    xs = np.nonzero(eye)[1]
    grow = max(1, int(round(0.06 * (np.ptp(xs) + 1))))
    region = cv2.dilate(eye.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
    largest = max(1, int(ink.sum() * SPECK_SHARE))
    # Only pieces that reach into the eye's region can be its specks: look around it alone
    # (a speck lies 80 % inside it, so within its size of it).
    ys, xs = np.nonzero(region)
    pad = int(largest) + 2
    win = (slice(max(0, ys.min() - pad), ys.max() + pad + 1),
           slice(max(0, xs.min() - pad), xs.max() + pad + 1))
    for l in layers:
        if l.tag not in SPECK_TAGS or l.variant is not None:
            continue
        pieces, n = ndimage.label(l.alpha[win] >= 128, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        sizes = ndimage.sum(np.ones_like(pieces), pieces, index=np.arange(1, n + 1))
        inside = ndimage.sum(region[win], pieces, index=np.arange(1, n + 1))
        # A piece cut by the window's edge runs on out of it: no speck.
        edge = np.zeros(pieces.shape, bool)
        edge[[0, -1], :] = edge[:, [0, -1]] = True
        cut = np.unique(pieces[edge & (pieces > 0)])
        specks = np.setdiff1d(np.flatnonzero((sizes <= largest) & (inside >= 0.8 * sizes)) + 1,
                              cut)
        if specks.size == 0:
            continue
        # The speck with its soft rim: its pixels and their faint neighbours.
        move = np.zeros(region.shape, bool)
        move[win] = np.isin(pieces, specks)
        move = (cv2.dilate(move.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & \
            (l.alpha > 0) & region
        _draw_over(lash, l, move)
        l.rgba[move] = 0


def _draw_over(below: Layer, above: Layer, where: np.ndarray) -> None:
    """``above``'s pixels at ``where`` composited over ``below``'s, in ``below`` (in place;
    full-canvas layers)."""
    top, bottom = above.rgba[where].astype(np.float32), below.rgba[where].astype(np.float32)
    rgb, a = _over(top[:, :3], top[:, 3] / 255.0, bottom[:, :3], bottom[:, 3] / 255.0)
    below.rgba[where, :3] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    below.rgba[where, 3] = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _over(top_rgb: np.ndarray, top_a: np.ndarray, rgb: np.ndarray,
          a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight-alpha "over": (colour, coverage) of ``top`` drawn on the other; coverages
    0..1, colours as given. Where nothing covers, the lower colour stays."""
    total = top_a + a * (1.0 - top_a)
    mixed = (top_rgb * top_a[..., None] + rgb * (a * (1.0 - top_a))[..., None]) / \
        np.maximum(total, 1e-6)[..., None]
    return np.where((total > 1e-6)[..., None], mixed, rgb), total


def _alpha(layers: list[Layer], tags: tuple[str, ...], side: str | None) -> np.ndarray:
    h, w = layers[0].alpha.shape
    acc = np.zeros((h, w), np.float32)
    for l in layers:
        if l.tag in tags and l.side == side and l.variant is None:
            acc = np.maximum(acc, l.alpha.astype(np.float32) / 255.0)
    return acc


def _lower_edge(opening: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of the eye's opening, the row of its lower edge, as a quadratic fitted over
    the inner 80 % (cols, rows)."""
    ys, xs = np.nonzero(opening)
    cols = np.arange(xs.min(), xs.max() + 1)
    low = np.array([ys[xs == c].max() if (xs == c).any() else np.nan for c in cols], np.float64)
    ok = ~np.isnan(low)
    span = cols[-1] - cols[0]
    inner = ok & (cols >= cols[0] + 0.1 * span) & (cols <= cols[-1] - 0.1 * span)
    if inner.sum() < 3:
        inner = ok
    if inner.sum() >= 3:
        coef = np.polyfit(cols[inner] - cols.mean(), low[inner], 2)
        fit = np.polyval(coef, cols - cols.mean())
    else:
        fit = np.full(cols.shape, np.nanmean(low))
    return cols, fit


def closed_eye(layers: list[Layer], side: str | None) -> Layer | None:
    """The ``eye_close`` art of one eye (full canvas), or None when that eye is not there."""
    # The lash the picture shows: what was painted in under a strand (its seam) would thicken
    # the lid drawn from it.
    lash = _alpha(layers, ("eyelash",), side)
    lash_at = [i for i, l in enumerate(layers) if l.tag == "eyelash" and l.side == side
               and l.variant is None]
    if lash_at:
        for l in layers[max(lash_at) + 1:]:
            if l.variant is None:
                lash = np.where(l.alpha >= 128, 0.0, lash)
    opening = _alpha(layers, ("eyewhite", "irides", "eyes"), side) > 0.5
    face = [l for l in layers if l.tag == "face" and l.variant is None]
    if not opening.any() or not face:
        return None
    drawn_opening = opening.copy()
    opening |= _iris_disc(layers, lash, _alpha(layers, ("irides",), side) > 0.5)
    face = face[0]
    h, w = opening.shape
    # The skin the picture shows: the face's pixels under no part drawn over it (what was
    # painted in under the fringe is a guess, darkened by the hair's shade).
    at = next(i for i, l in enumerate(layers) if l is face)
    shown = face.alpha == 255
    for l in layers[at + 1:]:
        if l.variant is None:
            shown &= l.alpha < 128
    ow = float(np.ptp(np.nonzero(opening)[1]) + 1)
    hair = np.zeros((h, w), bool)
    for l in layers[at + 1:]:
        if l.variant is None and "hair" in l.tag:
            hair |= l.alpha >= 128
    # The lid covers the opening and the lashes around it; whatever the lash layer holds
    # further out (a strand tip over the eye, a piece of brow) stays drawn as it is.
    from_opening = cv2.distanceTransform((~opening).astype(np.uint8), cv2.DIST_L2, 3)
    own_lash = (lash > 0.05) & (from_opening <= 0.22 * ow) & ~_strand_in_lash(layers, lash, side)
    # An opening cut short (an iris as light as the skin taken for the face) still lies under
    # its whole lash line, which runs on from what lies near the opening: the lid covers
    # that too, and the lash over it.
    line, _ = ndimage.label(lash > 0.3, structure=np.ones((3, 3)))
    line = np.isin(line, np.unique(line[own_lash & (lash > 0.3)])) & (line > 0)
    under = _under_lash(line, opening)
    if under.any():
        # ...where it shows no skin there (past the white's end, skin runs on under a wing).
        oy, ox = np.nonzero(opening)
        box = (slice(max(0, oy.min() - int(ow)), oy.max() + int(ow) + 1),
               slice(max(0, ox.min() - int(ow)), ox.max() + int(ow) + 1))
        face_lab = cv2.cvtColor(face.rgba[box][..., :3], cv2.COLOR_RGB2LAB).astype(np.float32)
        ref = face_lab[shown[box] & ~under[box] & ~opening[box] & (lash[box] < 0.05)]
        if len(ref) > 16:
            skin = np.linalg.norm(face_lab - np.median(ref, axis=0), axis=-1) < 16
            under[box] &= ~skin
    covered = own_lash
    if under.any():
        from_under = cv2.distanceTransform((~under).astype(np.uint8), cv2.DIST_L2, 3)
        covered = own_lash | ((lash > 0.05) & (from_under <= 0.22 * ow))
    # Hair the lash layer took where it runs into the lash from above (black hair, black
    # lash) stays drawn: the lid's skin cut it off square over the closed eye.
    merged = _hair_above_the_lash_line(lash, drawn_opening, hair)
    covered &= ~merged
    own_lash &= ~merged
    stray = (lash > 0.05) & ~covered
    eye = covered | opening | under
    ys, xs = np.nonzero(eye)
    eye_w = float(np.ptp(xs) + 1)
    # The region the lid covers: the eye, grown by a little of its width, feathered outside.
    grow = max(2, int(round(0.06 * eye_w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    core = cv2.dilate(eye.astype(np.uint8), kernel) > 0
    outer = cv2.dilate(core.astype(np.uint8), kernel) > 0
    feather = cv2.GaussianBlur(core.astype(np.float32), (0, 0), max(1.0, grow / 2.0))
    coverage = np.clip(np.maximum(core.astype(np.float32), feather * 1.6 - 0.3), 0, 1) * outer

    # Skin: the face's own colours around the eye, carried smoothly across it.
    pad = 4 * grow
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    win = (slice(y0, y1), slice(x0, x1))
    face_rgb = face.rgba[win][..., :3].astype(np.float32)
    around = shown[win] & ~outer[win]
    lab = cv2.cvtColor(face.rgba[win][..., :3], cv2.COLOR_RGB2LAB).astype(np.float32)
    if around.sum() > 16:
        med = np.median(lab[around], axis=0)
        # The skin right at the lid's rim too (a strip of it between the lash and the fringe
        # is all the picture shows above the eye): the fill meets it without a seam.
        # Lighter skin is skin too (the pale side of an eye whose other side is blushed).
        off = lab - med
        off[..., 0] = np.minimum(off[..., 0], 0.0)
        near = np.linalg.norm(off, axis=-1) < 18
        # So is darker skin of the skin's hue: skin in shade (a fringe's shadow beside the
        # eye); left out, the lid's fill came out as a pale patch cut into the shadow. A line
        # is not: it is thin, darker than the skin around it (a black-hat), and shade is not.
        k = 2 * max(2, int(round(0.08 * eye_w))) + 1
        stroke = cv2.morphologyEx(lab[..., 0], cv2.MORPH_BLACKHAT,
                                  cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 10
        shade = (np.linalg.norm(off[..., 1:], axis=-1) < 18) & (off[..., 0] > -50) & ~stroke
        around = shown[win] & ~core[win] & (near | shade)
    painted_face = face.alpha[win] == 255
    known = around if around.sum() > 16 else painted_face
    if not known.any():
        return None
    skin = push_pull_fill(face_rgb, known)

    rgba = np.zeros((h, w, 4), np.float32)
    rgba[win][..., :3] = skin
    rgba[..., 3] = coverage
    # Eyes seen through the fringe: where the lash runs across hair (hair right under it, not
    # the eye), the closed lid gives that hair back, not a strip of skin over the strands.
    picture = _picture(layers, win)
    across = _lash_over_hair(covered[win], opening[win], hair[win], least=0.15 * ow)
    if across.any() and (hair[win] & ~outer[win]).sum() > 16:
        strands = push_pull_fill(picture,
                                 hair[win] & ~covered[win] & ~opening[win])
        tint = cv2.dilate(across.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        tint &= ~opening[win]
        rgba[win][tint, :3] = strands[tint]

    # The lid: the picture's own upper lash line (its ink, wings and all) brought down into
    # the eye's lower part, the way artists draw a closed eye from the open one; a drawn line
    # along the same place where the picture's lash gives no such line.
    lash_layers = [l for l in layers if l.tag == "eyelash" and l.side == side and l.variant is None]
    cols, lower_edge = _lower_edge(opening)
    _, upper_edge = _lower_edge(opening[::-1])
    upper_edge = h - 1 - upper_edge
    # A closed lid lies in the lower part of the opening, not on its very edge.
    edge = upper_edge + LID_HEIGHT * (lower_edge - upper_edge)
    lid_rgb, lid = None, None
    if lash_layers:
        lid_rgb, lid = _lid_from_lash(lash_layers[0].rgba, own_lash & (lash > 0.05), cols,
                                      upper_edge, lower_edge, edge,
                                      skin=np.median(lab[known], axis=0))
    if lid is None:
        ink_colour, thickness = _lash_ink(lash_layers, lash, lab, known, eye_w)
        lx = np.nonzero((lash > 0.3).any(axis=0))[0] if (lash > 0.3).any() else xs
        x_start, x_end = float(lx.min()) + 0.04 * eye_w, float(lx.max()) - 0.04 * eye_w
        coef = np.polyfit(cols - cols.mean(), edge, 2) if cols.size >= 3 else [0, 0, edge.mean()]
        if coef[0] > 0 and cols.size >= 2:
            # A drawn lid sags in the middle (image y grows downwards); an opening cut off at
            # its bottom (by a rim, a strand) must not turn it into a frown: then it runs
            # straight.
            coef = [0.0, *np.polyfit(cols - cols.mean(), edge, 1)]
        # Over the opening and a little past its corners, its ends an eighth of its length
        # above its middle at most: a lash layer holding a piece beside the eye took the
        # curve fitted under a small opening far past it, and the lid rose out of the eye
        # over the hair as a long line (test-image1 turned 12, its eye drawn turned level).
        span = float(cols.max() - cols.min() + 1) if cols.size else eye_w
        x_start = max(x_start, float(cols.min()) - 0.25 * span) if cols.size else x_start
        x_end = min(x_end, float(cols.max()) + 0.25 * span) if cols.size else x_end
        half = max(0.5 * (x_end - x_start), 1.0)
        if coef[0] < 0 and -coef[0] * half * half > MAX_LID_SAG * (x_end - x_start):
            coef = [-MAX_LID_SAG * (x_end - x_start) / (half * half), *coef[1:]]
        # And no steeper in its middle than an eye line the labels take as level (a strand
        # cutting the opening off slantwise gave the fit a slope of 33 degrees).
        coef = [coef[0], float(np.clip(coef[1], -MAX_LID_SLOPE, MAX_LID_SLOPE)), coef[2]]
        lid = _lid_line(coef, cols.mean(), x_start, x_end, thickness, (h, w))
        lid_rgb = np.broadcast_to(ink_colour, (h, w, 3))
    a = lid[..., None]
    rgba[..., :3] = lid_rgb * a + rgba[..., :3] * (1.0 - a)
    rgba[..., 3] = np.maximum(rgba[..., 3], lid)
    if stray.any() and lash_layers:
        src = lash_layers[0].rgba.astype(np.float32)
        rgba[..., :3], rgba[..., 3] = _over(src[..., :3], src[..., 3] / 255.0 * stray,
                                            rgba[..., :3], rgba[..., 3])
    # Fringe tips that lie over the eye but were taken for the face stay drawn over the lid.
    tips = _hair_tips_on_the_eye(picture, hair, (rgba[..., 3] > 0) & (lash < 0.3), opening, win,
                                 lid_rows=(cols, edge),
                                 skin=np.median(lab[known], axis=0))
    if tips.any():
        rgba[win][tips, :3] = picture[tips]
        rgba[win][tips, 3] = 1.0
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = np.clip(rgba[..., :3] + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(rgba[..., 3] * 255 + 0.5, 0, 255).astype(np.uint8)
    depth = None
    if lash_layers and lash_layers[0].depth is not None:
        depth = lash_layers[0].depth.copy()
    return Layer(taxonomy.format_name("eyelash", side, variant="eye_close"), out, tag="eyelash",
                 side=side, variant="eye_close", depth=depth)


def _hair_above_the_lash_line(lash: np.ndarray, opening: np.ndarray,
                              hair: np.ndarray) -> np.ndarray:
    """The lash layer's pixels above the eye that are hair running into its line (bool (H,
    W)): over the opening, higher above its upper edge than the line is thick (half again
    its usual thickness, a lower third of its columns), in pieces the ``hair`` hangs into
    from above. A lash's own strokes flicking up stay the lash's: no hair lies on them."""
    out = np.zeros_like(opening)
    ink = lash > 0.5
    if ink.sum() < 8 or opening.sum() < 8 or not hair.any():
        return out
    cols, upper = _lower_edge(opening[::-1])
    upper = opening.shape[0] - 1 - upper
    thick = np.zeros(cols.size)
    for k, (c, u) in enumerate(zip(cols, np.round(upper).astype(int))):
        col = ink[:max(0, u + 3), c]
        rows = np.flatnonzero(col)
        if rows.size == 0 or rows.max() < u - 3:
            continue
        starts, ends = _runs(rows)
        thick[k] = ends[-1] - starts[-1] + 1
    if (thick > 0).sum() < 3:
        return out
    limit = 1.5 * float(np.percentile(thick[thick > 0], 30)) + 2.0
    high = np.zeros_like(opening)
    rows = np.arange(opening.shape[0])[:, None]
    high[:, cols] = rows < (upper - limit)[None, :]
    pieces, n = ndimage.label((lash > 0.3) & high, structure=np.ones((3, 3), bool))
    if n == 0:
        return out
    # Hair hangs into it from above: right over most of the piece's columns lies hair (a
    # lash whose wing meets a lock beside the eye only touches it at its end).
    # Each piece within its own box (a canvas-sized mask per piece cost a pass over the
    # whole picture each).
    for i, box in enumerate(ndimage.find_objects(pieces), start=1):
        piece = pieces[box] == i
        cols = np.flatnonzero(piece.any(axis=0))
        tops = np.argmax(piece[:, cols], axis=0) + box[0].start
        over = [hair[max(0, t - 2):t, c].any() for t, c in zip(tops, cols + box[1].start)]
        if np.mean(over) >= 0.5:
            out[box] |= piece
    # With the soft rim of those pieces.
    out = (cv2.dilate(out.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & high & (lash > 0.05)
    return out


def _hair_tips_on_the_eye(picture: np.ndarray, hair: np.ndarray, patch: np.ndarray,
                          opening: np.ndarray, win: tuple[slice, slice],
                          lid_rows: tuple[np.ndarray, np.ndarray], skin: np.ndarray,
                          tolerance: float = 18.0) -> np.ndarray:
    """The pixels under the closed-eye ``patch`` that continue a lock of the shown ``hair``
    down onto the eye (bool, ``win``-sized): fringe tips lying over the lid, taken for the
    face by the labelling, that a patch of skin cut off square (the lash's own pixels are
    left out of ``patch``: its ink shades into the hair's colour). ``picture``: what the
    layers composite to in ``win`` (float RGB). Grown from the
    hair one ring of pixels at a time, each pixel in the colour of the hair it grows from and
    nearer the hair's colour than the ``skin``'s (OpenCV Lab); never into the opening (the
    white and the iris) nor below the closed lid (``lid_rows``: per column, its row), where
    the iris the lid covers may share the hair's colour."""
    hair_w, patch_w, open_w = hair[win], patch[win], opening[win]
    out = np.zeros(hair_w.shape, bool)
    if hair_w.sum() < 16 or not patch_w.any():
        return out
    lab = cv2.cvtColor(np.clip(picture + 0.5, 0, 255).astype(np.uint8),
                       cv2.COLOR_RGB2LAB).astype(np.float32)
    hair_colour = np.median(lab[hair_w & ~patch_w] if (hair_w & ~patch_w).sum() >= 16
                            else lab[hair_w], axis=0)
    tolerance = min(tolerance, 0.4 * float(np.linalg.norm(hair_colour - skin)))
    if tolerance < 4.0:
        return out
    h, w = hair_w.shape
    cols, rows = lid_rows
    x0, y0 = win[1].start or 0, win[0].start or 0
    lid = np.full(w, np.inf)
    inside = (cols >= x0) & (cols < x0 + w)
    lid[cols[inside] - x0] = rows[inside] - y0
    above_lid = np.arange(h)[:, None] < lid[None, :]
    hairlike = np.linalg.norm(lab - hair_colour, axis=-1) < np.linalg.norm(lab - skin, axis=-1)
    may = patch_w & ~hair_w & ~open_w & above_lid & hairlike
    grown = hair_w.astype(np.float32)
    box = np.ones((3, 3), np.float32)
    for _ in range(h):
        count = cv2.filter2D(grown, -1, box, borderType=cv2.BORDER_CONSTANT)
        near = may & ~out & (count > 0)
        if not near.any():
            break
        mean = cv2.filter2D(lab * grown[..., None], -1, box, borderType=cv2.BORDER_CONSTANT)
        mean = mean / np.maximum(count, 1e-6)[..., None]
        new = near & (np.linalg.norm(lab - mean, axis=-1) < tolerance)
        if not new.any():
            break
        out |= new
        grown[new] = 1.0
    return out


def _strand_in_lash(layers: list[Layer], lash: np.ndarray, side: str | None) -> np.ndarray:
    """The lash layer's pixels that are a lock of hair running on into it (bool (H, W)): in the
    hair's colour, not the lash's darker ink, and joined to the hair through such pixels. With
    black hair a lock over the eye's corner went to the lash: the closed lid painted it over
    as a box of skin; it stays drawn on the closed eye as it is."""
    out = np.zeros(lash.shape, bool)
    src = [l for l in layers if l.tag == "eyelash" and l.side == side and l.variant is None]
    # The hair the picture shows: where a hair layer is the topmost one drawn.
    hair = np.zeros(lash.shape, bool)
    for l in layers:
        if l.variant is None:
            hair = np.where(l.alpha >= 128, "hair" in l.tag, hair)
    on = lash > 0.5
    if not src or not on.any() or hair.sum() < 16:
        return out
    ys, xs = np.nonzero(on)
    pad = max(4, int(0.5 * (np.ptp(xs) + 1)))
    win = (slice(max(0, ys.min() - pad), ys.max() + pad + 1),
           slice(max(0, xs.min() - pad), xs.max() + pad + 1))
    lash_lab = cv2.cvtColor(src[0].rgba[win][..., :3], cv2.COLOR_RGB2LAB).astype(np.float32)
    pic_lab = cv2.cvtColor(np.clip(_picture(layers, win) + 0.5, 0, 255).astype(np.uint8),
                           cv2.COLOR_RGB2LAB).astype(np.float32)
    near_hair = hair[win] & ~on[win]
    if near_hair.sum() < 16:
        return out
    hair_colour = np.median(pic_lab[near_hair], axis=0)
    ink_l = float(np.percentile(lash_lab[on[win], 0], 10))
    # Clearly lighter than the ink and in the hair's colour: the ink and the hair must differ.
    if hair_colour[0] - ink_l < 8:
        return out
    hairlike = on[win] & (np.linalg.norm(lash_lab - hair_colour, axis=-1) < 12) & \
        (lash_lab[..., 0] > ink_l + 6)
    # A lock has a body: the ink's anti-aliased rim against the hair (a blend as light as the
    # hair) is a line one or two pixels thin.
    hairlike = cv2.morphologyEx(hairlike.astype(np.uint8), cv2.MORPH_OPEN,
                                np.ones((3, 3), np.uint8)) > 0
    pieces, n = ndimage.label(hairlike, structure=np.ones((3, 3), bool))
    if n == 0:
        return out
    touching = cv2.dilate(near_hair.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    joined = np.unique(pieces[touching & (pieces > 0)])
    out[win] = np.isin(pieces, joined[joined > 0])
    return out


def _iris_disc(layers: list[Layer], lash: np.ndarray, iris: np.ndarray) -> np.ndarray:
    """The iris's whole round, below the lash (bool (H, W)): an iris as light as the skin is
    only partly taken for the iris, and the rest of it, left to the face, stayed as a
    crescent under the closed lid (see :mod:`.iris_round`)."""
    out = np.zeros(iris.shape, bool)
    on = lash > 0.3
    if iris.sum() < 8 or on.sum() < 8:
        return out
    ys, xs = np.nonzero(on | iris)
    span = float(np.ptp(np.nonzero(on)[1]) + 1)
    pad = int(0.5 * span)
    y0, x0 = max(0, ys.min() - pad), max(0, xs.min() - pad)
    y1, x1 = min(iris.shape[0], ys.max() + pad + 1), min(iris.shape[1], xs.max() + pad + 1)
    picture = _picture(layers, (slice(y0, y1), slice(x0, x1)))
    gray = cv2.cvtColor(np.clip(picture + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    own = iris[y0:y1, x0:x1]
    disc = iris_circle(gray, own, span)
    if disc is None:
        return out
    lash_top = np.where(on.any(axis=0), np.argmax(on, axis=0), iris.shape[0])[x0:x1]
    disc &= np.arange(y0, y1)[:, None] >= lash_top[None, :]
    # Only an iris mostly left to the face needs it: around an iris taken whole the circle
    # found may be the eye's larger outline, and the lid would drop below the eye.
    if (disc & own).sum() >= 0.4 * disc.sum():
        return out
    out[y0:y1, x0:x1] = disc
    return out


def _picture(layers: list[Layer], win: tuple[slice, slice]) -> np.ndarray:
    """The picture the layers (no variants) composite to in a window: float RGB 0..255."""
    first = layers[0].rgba[win]
    picture = np.zeros(first.shape[:2] + (3,), np.float32)
    for l in layers:
        if l.variant is None:
            a = l.alpha[win][..., None].astype(np.float32) / 255.0
            picture = l.rgba[win][..., :3] * a + picture * (1.0 - a)
    return picture


def _under_lash(lash: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """The eye's opening under the columns of its upper lash that show none (an iris as light
    as the skin, taken for the face, would stay open under a closed lid): per column, from
    the lash's lower edge down to the opening's lower edge, fitted where it shows (bool
    (H, W))."""
    out = np.zeros_like(opening)
    if not lash.any() or opening.sum() < 8:
        return out
    cols, lower = _lower_edge(opening)
    have = opening.any(axis=0)
    height = float(np.median(opening.sum(axis=0)[have]))
    centre = cols.mean()
    coef = np.polyfit(cols - centre, lower, 2) if cols.size >= 3 else [0.0, 0.0, lower.mean()]
    for c in np.flatnonzero(lash.any(axis=0) & ~have):
        top = int(np.flatnonzero(lash[:, c]).max()) + 1
        # Past the opening's ends the fit is not followed further than it reaches there.
        at = float(np.clip(c, cols[0], cols[-1]))
        bottom = int(round(min(np.polyval(coef, at - centre), top + height)))
        out[top:bottom + 1, c] = True
    return out


def _lash_over_hair(lash: np.ndarray, opening: np.ndarray, hair: np.ndarray,
                    least: float = 4.0) -> np.ndarray:
    """The runs of the lash (bool (H, W)) that lie on hair: per column, a run with hair
    (bool) right under it, not the eye's ``opening``; in pieces of ``least`` pixels or more
    (a lash pixel or two on a strand's edge is no lash crossing a strand: given back as hair,
    it left a dark dot on the closed lid)."""
    out = np.zeros_like(lash)
    h = lash.shape[0]
    for c in np.flatnonzero(lash.any(axis=0)):
        for top, bottom in zip(*_runs(np.flatnonzero(lash[:, c]))):
            below = slice(bottom + 1, min(h, bottom + 3))
            if hair[below, c].any() and not opening[below, c].any():
                out[top:bottom + 1, c] = True
    pieces, n = ndimage.label(out, structure=np.ones((3, 3), bool))
    if n:
        sizes = np.bincount(pieces.ravel(), minlength=n + 1)
        out &= (sizes >= max(4.0, least))[pieces]
    return out


def _runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of consecutive values in sorted, non-empty ``rows``: (first, last) of each."""
    breaks = np.flatnonzero(np.diff(rows) > 1)
    return (np.concatenate([[rows[0]], rows[breaks + 1]]),
            np.concatenate([rows[breaks], [rows[-1]]]))


def _lid_from_lash(src: np.ndarray, own: np.ndarray, cols: np.ndarray, upper: np.ndarray,
                   lower: np.ndarray, lid_row: np.ndarray, skin: np.ndarray
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The upper lash line of an open eye moved down to where its lid closes: (colour (H, W, 3)
    float, coverage (H, W) float), or (None, None) when the lash layer holds no such line.

    ``src``: the lash layer's RGBA; ``own``: its pixels that belong to this eye; ``cols`` and
    ``upper``, ``lower``, ``lid_row``: per column of the eye's opening, its upper and lower
    edge and the row where the closed lid's lower edge lies; ``skin``: the skin's colour
    (OpenCV Lab). The ink is the lash's strokes: much darker than the skin, and of the line's
    own colour or a blend of it with the skin (not the iris the lash was drawn over). The
    line is, per column, the run of ink that sits on the opening's upper edge, at most about
    a third of the opening thick: hair the lash layer took above it, a strand hanging across
    the eye and a lower lash stay out. It keeps its shape: moved straight down, so its lower
    edge at the eye's middle lands on the lid row."""
    h, w = own.shape
    ys, xs = np.nonzero(own)
    if ys.size < 8 or cols.size < 3:
        return None, None
    oy, ox = max(0, ys.min() - 2), max(0, xs.min() - 2)
    window = (slice(oy, min(h, ys.max() + 3)), slice(ox, min(w, xs.max() + 3)))
    win_own = own[window]
    lab = cv2.cvtColor(src[window][..., :3], cv2.COLOR_RGB2LAB).astype(np.float32)
    lum = lab[..., 0]
    skin_l = float(skin[0])
    dark_l = float(np.percentile(lum[win_own], 10))
    if skin_l - dark_l < 40:                        # no line clearly darker than the skin
        return None, None
    darkest = win_own & (lum <= dark_l + 0.05 * (skin_l - dark_l))
    ink_colour = np.median(lab[darkest], axis=0)
    # Off the ink-to-skin blend by hue: another colour (an iris's shadow under the line).
    axis = skin - ink_colour
    t = np.clip(((lab - ink_colour) * axis).sum(-1) / max(float((axis * axis).sum()), 1.0), 0, 1)
    off = np.linalg.norm((lab - ink_colour - t[..., None] * axis)[..., 1:], axis=-1)
    blend = off <= 8.0
    ink = win_own & blend & (lum <= dark_l + 0.2 * (skin_l - dark_l))
    n, comp, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), 8)
    sizes = stats[:, cv2.CC_STAT_AREA]
    ink &= (sizes >= max(6, 0.1 * sizes[1:].max(initial=0)))[comp] & (comp > 0)
    height = float(np.median(lower - upper)) + 1
    thick = max(2, int(round(0.3 * height)))
    line = np.zeros_like(ink)
    for j in np.flatnonzero(ink.any(axis=0)):
        c = ox + j
        inside = cols[0] <= c <= cols[-1]
        edge = float(np.interp(c, cols, upper)) - oy
        tol = (0.15 if inside else 0.5) * height
        starts, ends = _runs(np.flatnonzero(ink[:, j]))
        gap = np.maximum(0, np.maximum(edge - tol - ends, starts - (edge + tol)))
        k = int(np.argmin(gap))
        if gap[k] > 0.3 * height:
            continue
        bottom = int(min(ends[k], edge + tol))
        top = max(int(starts[k]), bottom - thick + 1)
        line[top:bottom + 1, j] = True
    span = cols[-1] - cols[0] + 1
    if line.any(axis=0).sum() < 0.5 * span:
        return None, None
    # Its lower edge over the middle third of the eye, and how far that lies above the lid.
    centre = 0.5 * (cols[0] + cols[-1])
    lows = []
    for c in range(int(centre - span / 6), int(centre + span / 6) + 1):
        rows = np.flatnonzero(line[:, c - ox]) if 0 <= c - ox < line.shape[1] else []
        if len(rows):
            lows.append(rows.max() + oy)
    if not lows:
        return None, None
    shift = float(np.interp(centre, cols, lid_row)) - float(np.median(lows))
    if shift <= 0:
        return None, None
    alpha = _clean_stroke(line, (oy + shift, ox), centre - ox, span, (h, w))
    colour = cv2.cvtColor(ink_colour.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_LAB2RGB)
    rgb = np.broadcast_to(colour[0, 0].astype(np.float32), (h, w, 3))
    return rgb, alpha


def _clean_stroke(line: np.ndarray, at: tuple[float, float], middle: float, span: float,
                  shape: tuple[int, int]) -> np.ndarray:
    """Coverage (H, W) float of a lash line (bool, in a window whose corner lands at ``at``
    (y, x) on the canvas) drawn clean as a closed lid, as one stroke: a per-column pick leaves
    steps and bumps, so the stroke's middle follows a cubic fitted to the line (a wing
    included), its arch flattened about the eye's ``middle`` column (window coordinates), and
    its thickness is the line's, smoothed along it over a share of the eye's ``span``."""
    have = np.flatnonzero(line.any(axis=0))
    tops = np.array([np.flatnonzero(line[:, j])[0] for j in have], np.float64)
    bots = np.array([np.flatnonzero(line[:, j])[-1] + 1 for j in have], np.float64)
    js = np.arange(have[0], have[-1] + 1)
    mids, widths = (tops + bots) / 2, bots - tops
    fit = np.ones(have.size, bool)
    for _ in range(2):
        coef = np.polyfit(have[fit] - js.mean(), mids[fit], min(3, fit.sum() - 1))
        resid = np.abs(mids - np.polyval(coef, have - js.mean()))
        fit = resid <= max(1.0, 2.5 * float(np.median(resid)))
    centre_row = np.polyval(coef, js - js.mean())
    # A closing lid flattens the open eye's arch (its ends rise towards the middle's row).
    mid_row = float(np.interp(middle, js, centre_row))
    centre_row = mid_row + CLOSED_LID_ARCH * (centre_row - mid_row)
    k = max(3, int(round(0.15 * span)) | 1)
    widths = ndimage.median_filter(np.interp(js, have, widths), size=k, mode="nearest")
    thickness = cv2.GaussianBlur(widths[None], (0, 0), max(1.0, 0.03 * span))[0]
    thickness = CLOSED_LID_THINNING * thickness
    tops, bots = centre_row - thickness / 2, centre_row + thickness / 2
    oy, ox = at
    x = js + ox + 0.5
    poly = np.concatenate([np.stack([x, tops + oy], 1), np.stack([x, bots + oy], 1)[::-1]])
    return _fill_polygon(poly, shape)


def _fill_polygon(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Coverage (H, W) float of a polygon ((N, 2) x, y in pixels), drawn 4x larger and
    reduced: smooth edges."""
    h, w = shape
    s = 4
    bx0, by0 = int(np.floor(poly[:, 0].min())) - 2, int(np.floor(poly[:, 1].min())) - 2
    bx1, by1 = int(np.ceil(poly[:, 0].max())) + 3, int(np.ceil(poly[:, 1].max())) + 3
    big = np.zeros(((by1 - by0) * s, (bx1 - bx0) * s), np.uint8)
    pts = np.round((poly - [bx0, by0]) * s).astype(np.int32)
    cv2.fillPoly(big, [pts], 255, cv2.LINE_AA)
    small = cv2.resize(big.astype(np.float32) / 255.0, (bx1 - bx0, by1 - by0),
                       interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w), np.float32)
    cx0, cy0, cx1, cy1 = max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = small[cy0 - by0:cy1 - by0, cx0 - bx0:cx1 - bx0]
    return out


def _lash_ink(lash_layers: list[Layer], lash: np.ndarray, lab: np.ndarray, known: np.ndarray,
              eye_w: float) -> tuple[np.ndarray, float]:
    """The lash's ink colour (its darkest strokes) and the lid line's thickness in px."""
    default = (np.array([40.0, 30.0, 30.0], np.float32), max(1.5, 0.05 * eye_w))
    if not lash_layers or not (lash > 0.3).any():
        return default
    src = lash_layers[0]
    on = lash > 0.3
    lash_l = cv2.cvtColor(src.rgba[..., :3], cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    dark_l = float(np.percentile(lash_l[on], 20))
    ink = on & (lash_l <= dark_l + 2)
    colour = np.median(src.rgba[ink, :3], axis=0).astype(np.float32)
    # Stroke thickness: the median vertical run of the lash's dark pixels.
    runs = []
    for c in np.nonzero(ink.any(axis=0))[0]:
        starts, ends = _runs(np.flatnonzero(ink[:, c]))
        runs.append(int(ends[0] - starts[0] + 1))
    run = float(np.median(runs)) if runs else default[1]
    return colour, float(np.clip(LID_THICKNESS * run, max(1.5, 0.03 * eye_w), 0.12 * eye_w))


def _lid_line(coef, x_mid: float, x0: float, x1: float, thickness: float,
              shape: tuple[int, int]) -> np.ndarray:
    """Coverage (H, W) float of a closed lid's line: the curve y = poly(x - x_mid) from x0 to
    x1, ``thickness`` px in the middle, tapering to its ends (drawn 4x larger, then reduced)."""
    n = max(8, int(x1 - x0))
    x = np.linspace(x0, x1, n)
    y = np.polyval(coef, x - x_mid)
    u = np.linspace(0.0, 1.0, n)
    half = 0.5 * thickness * np.sqrt(np.sin(np.pi * u).clip(0, 1)) + 0.25
    # Normals of the curve.
    dy = np.gradient(y, x)
    norm = np.hypot(1.0, dy)
    nx, ny = -dy / norm, 1.0 / norm
    upper = np.stack([x - nx * half, y - ny * half], 1)
    lower = np.stack([x + nx * half, y + ny * half], 1)
    return _fill_polygon(np.concatenate([upper, lower[::-1]]), shape)


# ------------------------------------------------------------------------------ open mouth

def lift_line_fringe(face: Layer, line: Layer, radius: int) -> None:
    """Move a drawn line's anti-aliased edge, which the picture's cut left on the face, onto
    the line's own layer, in place (full-canvas layers): each edge pixel within ``radius`` px
    of the line is unmixed into the line's ink at a partial alpha over clean skin (the share of
    ink is the pixel's projection on the skin-to-ink axis). The two still composite to the
    picture; hidden, the line leaves no ghost of grey dots on the face."""
    lmask = line.alpha > 127
    if not lmask.any():
        return
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    zone = cv2.dilate(lmask.astype(np.uint8), kernel) > 0
    near = zone & ~lmask & (face.alpha == 255)
    if not near.any():
        return
    ys, xs = np.nonzero(zone)
    pad = 4 * radius + 4
    h, w = lmask.shape
    win = (slice(max(0, ys.min() - pad), min(h, ys.max() + pad + 1)),
           slice(max(0, xs.min() - pad), min(w, xs.max() + pad + 1)))
    rgb = face.rgba[win][..., :3].astype(np.float32)
    known = (face.alpha[win] == 255) & ~zone[win]
    if known.sum() < 16:
        return
    skin = push_pull_fill(rgb, known)
    ink = np.median(line.rgba[lmask, :3].astype(np.float32), axis=0)
    axis = ink[None, None, :] - skin
    share = np.clip(((rgb - skin) * axis).sum(-1) / np.maximum((axis * axis).sum(-1), 1.0), 0, 1)
    take = near[win] & (share > 0.04)
    face_px, line_px = face.rgba[win], line.rgba[win]
    line_px[take, :3] = np.clip(ink + 0.5, 0, 255).astype(np.uint8)
    line_px[take, 3] = np.clip(share[take] * 255 + 0.5, 0, 255).astype(np.uint8)
    face_px[take, :3] = np.clip(skin[take] + 0.5, 0, 255).astype(np.uint8)
    if line.depth is not None:
        med = line.depth_median()
        if med is not None:
            line.depth[win][take] = med


def open_mouth(layers: list[Layer]) -> list[Layer]:
    """The layers with a ``mouth_open`` variant added (the mouth line becomes ``mouth_close``)."""
    face = [l for l in layers if l.tag == "face" and l.variant is None]
    if not face:
        return layers
    face = face[0]
    fmask = face.alpha > 127
    fy, fx = np.nonzero(fmask)
    eyes = np.zeros_like(fmask)
    for l in layers:
        if l.tag in ("eyewhite", "irides") and l.variant is None:
            eyes |= l.alpha > 127
    chin = float(fy.max())
    if eyes.any():
        ey, ex = np.nonzero(eyes)
        eye_y, cx = float(np.median(ey)), float((ex.min() + ex.max()) / 2)
    else:
        eye_y, cx = float(fy.min() + 0.45 * (chin - fy.min())), float(np.median(fx))
    face_w = float(np.ptp(fx) + 1)
    mouths = [i for i, l in enumerate(layers) if l.tag == "mouth" and l.variant in (None,
                                                                                  "mouth_close")]
    line_colour = None
    if mouths:
        m = layers[mouths[0]]
        my, mx = np.nonzero(m.alpha > 127)
        if my.size:
            mcx = float((mx.min() + mx.max()) / 2)
            # The opening hangs from the middle of the line (a smile's lowest part).
            middle = np.abs(mx - mcx) <= 0.15 * (np.ptp(mx) + 1)
            mcy = float(np.median(my[middle])) if middle.any() else float(np.median(my))
            line_w = float(np.ptp(mx) + 1)
            line_colour = np.median(m.rgba[m.alpha > 127, :3], axis=0)
        else:
            mouths = []
    if not mouths:
        mcx, mcy = cx, eye_y + MOUTH_DEPTH * (chin - eye_y)
        line_w = 0.25 * face_w
    else:
        # Swapped out, the line must take its soft edge along, or a ghost of it stays.
        lift_line_fringe(face, layers[mouths[0]], radius=max(2, int(round(0.012 * face_w))))
    h, w = fmask.shape
    width = float(np.clip(0.35 * line_w, 0.06 * face_w, 0.12 * face_w))
    height = 0.8 * width
    skin = np.median(face.rgba[fmask & (face.alpha == 255), :3], axis=0) if fmask.any() \
        else np.array([240, 210, 200])
    skin_lab = cv2.cvtColor(skin.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2LAB)[0, 0]
    skin_lab = skin_lab.astype(np.float32) * [100 / 255, 1, 1] - [0, 128, 128]

    def lab_rgb(L, a, b):
        px = np.array([[[L * 255 / 100, a + 128, b + 128]]], np.float32).clip(0, 255)
        return cv2.cvtColor(px.astype(np.uint8), cv2.COLOR_LAB2RGB)[0, 0].astype(np.float32)

    interior = lab_rgb(max(15.0, skin_lab[0] - 45), skin_lab[1] + 22, skin_lab[2] + 6)
    tongue = lab_rgb(max(30.0, skin_lab[0] - 22), skin_lab[1] + 24, skin_lab[2] + 4)
    outline = line_colour if line_colour is not None else lab_rgb(
        max(10.0, skin_lab[0] - 60), skin_lab[1] + 10, skin_lab[2] + 5)
    # Drawn 4x larger and scaled down: smooth edges.
    s = 4
    top = mcy - 0.15 * height
    box_w, box_h = int(np.ceil(width + 6)), int(np.ceil(height + 6))
    x0, y0 = int(np.floor(mcx - box_w / 2)), int(np.floor(top - 3))
    big = np.zeros((box_h * s, box_w * s, 4), np.float32)
    centre = ((mcx - x0) * s, (top - y0 + 0.5 * height) * s)
    axes = (0.5 * width * s, 0.5 * height * s)
    shape = np.zeros(big.shape[:2], np.uint8)
    cv2.ellipse(shape, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])), 0, 0, 360,
                1, -1, cv2.LINE_8)
    # A flatter upper lip: cut the top fifth off the ellipse.
    shape[:int(centre[1] - 0.6 * axes[1])] = 0
    inside = shape > 0
    yy = np.mgrid[0:big.shape[0], 0:big.shape[1]][0]
    t = np.clip((yy - (centre[1] + 0.15 * axes[1])) / (0.6 * axes[1]), 0, 1)[..., None]
    big[..., :3] = interior * (1 - t) + tongue * t
    big[..., 3] = inside
    ring_w = max(1, int(round(max(1.0, 0.008 * face_w) * s)))
    ring = inside & ~(cv2.erode(shape, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                  (2 * ring_w + 1,) * 2)) > 0)
    big[ring, :3] = outline
    small = cv2.resize(big, (box_w, box_h), interpolation=cv2.INTER_AREA)
    premul = cv2.resize(big[..., :3] * big[..., 3:], (box_w, box_h), interpolation=cv2.INTER_AREA)
    a = small[..., 3:4]
    rgb = np.where(a > 1e-3, premul / np.maximum(a, 1e-3), 0)
    art = np.zeros((h, w, 4), np.uint8)
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(w, x0 + box_w), min(h, y0 + box_h)
    if cx1 <= cx0 or cy1 <= cy0:
        return layers
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    art[cy0:cy1, cx0:cx1, :3] = np.clip(rgb[sub] + 0.5, 0, 255).astype(np.uint8)
    art[cy0:cy1, cx0:cx1, 3] = np.clip(a[sub][..., 0] * 255 + 0.5, 0, 255).astype(np.uint8)
    ref = layers[mouths[0]] if mouths else face
    med = ref.depth_median()
    depth = np.full((h, w), med, np.float32) if med is not None else None
    opened = Layer("mouth_open", art, tag="mouth", variant="mouth_open", depth=depth)
    out = list(layers)
    if mouths:
        i = mouths[0]
        out[i] = replace(out[i], variant="mouth_close", name="mouth_close")
        out.insert(i + 1, opened)
    else:
        at = max(i for i, l in enumerate(out) if l.tag == "face") + 1
        out.insert(at, opened)
    return out
