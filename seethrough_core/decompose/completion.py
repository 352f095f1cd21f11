"""Painting what a layer hides: each layer of a decomposed picture continues, like the art,
under the opaque layers above it, so a puppet that moves shows painted art, not holes.

For every layer, top to bottom:

1. **The whole shape** the part plausibly has (:func:`completion_shape`): a face is an egg from
   the chin up under the fringe to the skull, as wide as the eyes say; back hair fills the head
   behind the face and the nape behind the neck, down to its tips (long hair goes on behind the
   body, and so does hair whose end a collar or a shoulder is drawn over); a neck continues up
   under the chin between its own side lines (under a lock below the chin, as wide as it is
   seen) and down under the neckline (it is drawn behind the top); clothes span their rows (a
   top reaches its sleeves); eyes are convex; strokes (a glasses frame, a lash line) run on
   across what crosses them; anything else is closed.
2. **Only hidden pixels** are added: the shape's pixels that an opaque layer above covers, so
   the composite (the input picture) never changes.
3. **Painted from the layer's own clean pixels** (:func:`clean_source`): opaque pixels away from
   the layer's border with anything else (anti-aliased edges carry the neighbour's colour; hair,
   whose strands are thin, keeps nearer the page) and, for skin, not line art or shadow of
   another part. Skin is smooth: a push-pull fill carries
   its shading. Hair and cloth have strokes: :func:`~.inpaint.directional_fill` continues them
   (hair falls, so its flow defaults to downward).
4. **Outlines**: where the completed face or neck ends under other layers, its outline is
   drawn in the colour of its visible outline, so an uncovered edge looks drawn.
5. A **seam band**: every layer also reaches a few pixels under the layers above it, so edges
   softened by downscaled renders never show the background between two layers (2 px under a
   bob's drawn ends; for a lash, above and below its line of ink only).
6. **Clean edges** (:func:`decontaminate_edges`): a pixel on the border of two parts shows a
   mix of both. It is split: the upper part keeps its own colour with the mix as its alpha
   (an anti-aliased edge), the lower part its own clean colour, so neither carries a halo of the
   other when they move apart or one fades out (a mouth line leaves no trace on the face).
   The upper part's share fades out from its own pixels, never rising again further off.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from .. import taxonomy
from ..character import Layer
from .inpaint import directional_fill, orientation_field, push_pull_fill

SKIN_TAGS = frozenset({"face", "neck", "ears", "nose"})
STRAND_TAGS = taxonomy.HAIR_TAGS | {"tail"}
HIGHLIGHT_MARGIN = 15.0     # OpenCV L above the hair's median that is a highlight, not its tone
# A border pixel is a mix of two parts only where the picture changes within a pixel of it by
# this share of the two parts' colour difference at least (an anti-aliased edge spans most).
EDGE_CONTRAST = 0.5
SHADE_SPAN = 0.25      # two parts this far apart in colour (RGB 0..1) are two materials
# Parts drawn as thin lines of one colour (a glasses frame): they continue under what crosses
# them as the same lines, never as filled areas.
LINE_TAGS = frozenset({"eyewear"})
DOWN = (0.0, 1.0)
TORSO_CLOTHES = ("topwear", "handwear")
CLOTHES = frozenset({"topwear", "handwear", "bottomwear", "legwear", "footwear", "neckwear",
                     "headwear"})


class HeadGeometry:
    """What the completion shapes need to know about the head: the face, hair, eyes and
    facial features as bool (H, W) masks, and measures taken from them."""

    def __init__(self, face: np.ndarray, hair: np.ndarray, eyes: np.ndarray,
                 features: np.ndarray, irides: dict | None = None):
        self.face, self.hair, self.eyes, self.features = face, hair, eyes, features
        self.irides = irides or {}            # side ('l', 'r', None) -> iris mask
        self.head = face | hair
        self.valid = bool(face.any())
        if not self.valid:
            return
        fy, fx = np.nonzero(face | features)
        self.chin = float(fy.max())
        self.cx = float((fx.min() + fx.max()) / 2)
        if eyes.any():
            ey, ex = np.nonzero(eyes)
            self.eye_y = float(np.median(ey))
            self.cx = float((ex.min() + ex.max()) / 2)
            span = float(ex.max() - ex.min() + 1)
        else:
            self.eye_y = float(fy.min() + 0.45 * (self.chin - fy.min()))
            span = 0.7 * float(np.ptp(fx) + 1)
        # An anime face is a little wider than its eyes' outer corners...
        visible = float(np.ptp(fx) + 1)
        self.width = max(visible, 1.12 * span)
        # ...and reaches about as far above the eyes as the chin lies below them.
        head_top = float(np.nonzero(self.head)[0].min()) if self.head.any() else fy.min()
        below = self.chin - self.eye_y
        self.top = max(head_top + 0.08 * (self.chin - head_top), self.eye_y - 0.95 * below)

    @classmethod
    def from_layers(cls, layers: list[Layer]) -> "HeadGeometry":
        return cls(_union(layers, ("face",)), _union(layers, tuple(taxonomy.HAIR_TAGS)),
                   _union(layers, ("eyewhite", "irides", "eyelash", "eyes")),
                   _union(layers, ("eyewhite", "irides", "eyelash", "eyes", "eyebrow", "nose",
                                   "mouth")),
                   {side: _union([l for l in layers if l.side == side], ("irides",))
                    for side in {l.side for l in layers if l.tag == "irides"}})


def _union(layers: list[Layer], tags: tuple[str, ...]) -> np.ndarray:
    h, w = layers[0].alpha.shape
    out = np.zeros((h, w), bool)
    for l in layers:
        if l.tag in tags and l.variant is None:
            out |= l.alpha > 127
    return out


# ------------------------------------------------------------------------------ the driver

def complete_hidden(layers: list[Layer], *, seam: int | None = None) -> None:
    """Extend each full-canvas layer (drawing order, bottom first) under the opaque layers
    above it, in place. Only covered pixels are added: the composite stays the same."""
    if not layers:
        return
    h, w = layers[0].alpha.shape
    geo = HeadGeometry.from_layers(layers)
    seam = seam if seam is not None else max(3, int(round(0.004 * max(h, w))))
    seam_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * seam + 1, 2 * seam + 1))
    owner = visible_owner(layers)
    hair_colours = _colours_of(layers, STRAND_TAGS, k=4)
    skin_colours = _colours_of(layers, frozenset({"face"}), k=3)
    clothes = _union(layers, TORSO_CLOTHES)
    covered = np.zeros((h, w), bool)             # opaque pixels of the layers above
    strands = np.zeros((h, w), bool)             # ...of the hair among them
    # Where the picture shows no part at all (a page's marks are no part).
    page = np.isin(owner, [-1] + [i for i, l in enumerate(layers) if l.tag == "backdrop"])
    # The body as the picture shows it (what is painted under locks is only a guess).
    body_seen = np.isin(owner, [i for i, l in enumerate(layers) if l.tag not in STRAND_TAGS])
    for layer in reversed(layers):
        if layer.variant is None or layer.variant == "mouth_close":
            mask = layer.alpha > 127
            if mask.any() and covered.any():
                shape = completion_shape(layer, mask, geo, covered, clothes)
                if layer.tag == "eyelash":
                    # The seam of its line of ink only, above and below it: its pale shading
                    # gets none (see lash_shape), and the line's ends no blunt block.
                    shape |= cv2.dilate(lash_ink(layer, mask).astype(np.uint8),
                                        np.ones((2 * seam + 1, 1), np.uint8)) > 0
                elif layer.tag not in LINE_TAGS:    # a frame's strokes keep their width
                    shape |= cv2.dilate(mask.astype(np.uint8), seam_kernel) > 0
                if layer.tag in ("eyewhite", "eyes"):
                    # The white (its seam too) stops just above the line the eye's opening
                    # follows at its top: under the lash it is never seen, and where a lock
                    # took the lash's wing, what lay above the line slid out from under it at
                    # a nod as a white fleck.
                    iris = geo.irides.get(layer.side) if geo.valid else None
                    opening = mask | iris if iris is not None else mask
                    shape &= ~_above_top_edge(opening, slack=2)
                if layer.tag == "topwear" and strands.any():
                    # Under hair lying on a shoulder the top's outline runs on straight
                    # between where it is seen: row spans stopped at a flat top there (a tilt
                    # that swung the lock aside showed a square notch in the shoulder), or
                    # reached up to the shoulder's rise to the neck, and the seam past the
                    # outline too (a look-up that lifted the tips showed scraps of shoulder
                    # above the shoulder's line).
                    shape = _to_outline_under(shape, _top_silhouette(mask, clothes), page,
                                              strands, covered)
                if layer.tag in ("back hair", "hair") and geo.valid:
                    # Below a bob's drawn ends only as much seam as an anti-aliased edge needs:
                    # a nod lifted a full seam into view as a bar under the tips.
                    shape &= hair_ends(mask, geo, slack=2)
                    shape |= _on_behind_body(mask, mask | (shape & covered),
                                             body_seen & covered, _hang_reach(geo) // 2,
                                             geo.chin)
                new = shape & ~(layer.alpha > 0) & covered
                if new.any():
                    paint_hidden(layer, new, others=covered, band=max(2, seam - 1),
                                 hair_colours=hair_colours,
                                 skin_colours=skin_colours if layer.tag in CLOTHES else None)
                    # A neck runs on into the head under the jaw: no contour there.
                    if layer.tag == "face":
                        draw_hidden_outline(layer, mask, new)
        covered |= layer.alpha == 255
        if layer.tag in STRAND_TAGS:
            strands |= layer.alpha == 255
    decontaminate_edges(layers, owner, radius=max(1, int(round(0.0015 * max(h, w)))))


def _colours_of(layers: list[Layer], tags: frozenset, k: int) -> np.ndarray:
    """A few Lab colours of the parts ``tags`` names (k-means of their opaque pixels), (k, 3)
    or empty."""
    pixels = [l.rgba[l.alpha == 255, :3] for l in layers if l.tag in tags
              and l.variant is None]
    pixels = np.concatenate(pixels) if pixels else np.zeros((0, 3), np.uint8)
    if len(pixels) < 50:
        return np.zeros((0, 3), np.float32)
    if len(pixels) > 20000:
        pixels = pixels[np.random.default_rng(0).choice(len(pixels), 20000, replace=False)]
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(lab, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def visible_owner(layers: list[Layer]) -> np.ndarray:
    """(H, W) int: index of the topmost layer (no variants) with alpha > 127, -1 for none."""
    h, w = layers[0].alpha.shape
    owner = np.full((h, w), -1, np.int32)
    for i, l in enumerate(layers):
        if l.variant is None or l.variant == "mouth_close":
            owner[l.alpha > 127] = i
    return owner


def decontaminate_edges(layers: list[Layer], owner: np.ndarray, radius: int = 2) -> None:
    """Split the mixed pixels along every border between two parts (in place): the upper part
    keeps its colour F with alpha a, the lower one its clean colour B underneath, where the
    pixel I ~ a F + (1 - a) B. Pixels that are not such a mix (line art between the two) stay
    as they are, and the composite is unchanged up to the rounding of the fit."""
    h, w = owner.shape
    k = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    image, coverage = _composite_rgb(layers)
    solid = coverage > 0.995                     # inside the figure: two parts, no background
    # How much the picture changes within a pixel of each: an edge drawn between two parts
    # spans their colours in a pixel or two, a border drawn by the labels across smooth
    # shading (the neck running on into a bare chest) a few levels.
    square = np.ones((3, 3), np.uint8)
    contrast = np.linalg.norm(cv2.dilate(image, square) - cv2.erode(image, square), axis=-1)
    handled = np.zeros((h, w), bool)             # each pixel is split once, by its upper part
    clean: dict[int, np.ndarray] = {}
    for u in range(len(layers) - 1, -1, -1):
        upper = layers[u]
        if upper.variant not in (None, "mouth_close"):
            continue
        region = owner == u
        if not region.any():
            continue
        below = (owner >= 0) & (owner < u)
        near_u = cv2.dilate(region.astype(np.uint8), kernel) > 0
        near_b = cv2.dilate(below.astype(np.uint8), kernel) > 0
        band = ((near_u & below) | (region & near_b)) & solid & ~handled
        if not band.any():
            continue
        ys, xs = np.nonzero(band)
        y0, y1 = max(0, ys.min() - 2 * k), min(h, ys.max() + 2 * k + 1)
        x0, x1 = max(0, xs.min() - 2 * k), min(w, xs.max() + 2 * k + 1)
        win = (slice(y0, y1), slice(x0, x1))
        # F: the upper part's own colour, carried from its inside to its edge.
        inner = region[win] & ~near_b[win]
        if inner.sum() < 4:
            inner = region[win]
        f_col = push_pull_fill(upper.rgba[win][..., :3].astype(np.float32), inner)
        # ...or, where the part ends in a drawn outline (a jaw line over the neck), the ink:
        # the colour of its nearest own pixel. Each mixed pixel takes whichever explains it.
        _, (ny, nx) = ndimage.distance_transform_edt(~region[win], return_indices=True)
        f_edge = upper.rgba[win][..., :3].astype(np.float32)[ny, nx]
        by, bx = ys - y0, xs - x0
        # The part directly below each band pixel, after completion.
        lower = np.full(ys.size, -1, np.int32)
        for j in range(u - 1, -1, -1):
            l = layers[j]
            if l.variant not in (None, "mouth_close"):
                continue
            free = (lower < 0) & (l.alpha[ys, xs] > 127)
            lower[free] = j
        splits = []
        for j in np.unique(lower[lower >= 0]):
            if j not in clean:
                clean[j] = _clean_colours(layers[j], owner == j)
            sel = lower == j
            py, px = ys[sel], xs[sel]
            B = clean[j][py, px] / 255.0
            I = image[py, px]
            fits = [_unmix(I, f[by[sel], bx[sel]] / 255.0, B) for f in (f_col, f_edge)]
            # The inside's colour unless the ink explains the pixel clearly better.
            use_edge = fits[1][2] < 0.5 * fits[0][2]
            F = np.where(use_edge[:, None], f_edge[by[sel], bx[sel]], f_col[by[sel], bx[sel]]) \
                / 255.0
            a = np.where(use_edge, fits[1][0], fits[0][0])
            norm = np.where(use_edge, fits[1][1], fits[0][1])
            resid = np.where(use_edge, fits[1][2], fits[0][2])
            # Only a mix where the picture shows an edge: split across shading, the upper
            # part took a faint fringe over the lower one, which at a look-up rose off the
            # neck as a band.
            # (Shading spans a few tens of levels: parts further apart in colour, hair on
            # skin, navy on white, meet at an edge however softly it is drawn.)
            ok = (norm > 0.08 ** 2) & (resid < 0.08) & \
                ((contrast[py, px] >= EDGE_CONTRAST * np.sqrt(norm)) | (norm >= SHADE_SPAN ** 2))
            py, px, a, F, B, I = py[ok], px[ok], a[ok], F[ok], B[ok], I[ok]
            # Exactly the picture again: the small residual goes into the upper colour, and a
            # faint mix stays with the lower part.
            faint = a < 0.1
            a[faint] = 0.0
            B[faint] = I[faint]
            splits.append((j, py, px, a, F, B, I))
        _keep_attached(splits, region[win], (y0, x0))
        for j, py, px, a, F, B, I in splits:
            some = a > 0
            F[some] = np.clip((I[some] - (1 - a[some, None]) * B[some]) / a[some, None], 0, 1)
            upper.rgba[py, px, :3] = np.clip(F * 255 + 0.5, 0, 255).astype(np.uint8)
            upper.rgba[py, px, 3] = np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)
            low = layers[j]
            low.rgba[py, px, :3] = np.clip(B * 255 + 0.5, 0, 255).astype(np.uint8)
            low.rgba[py, px, 3] = 255
            handled[py, px] = True


def _keep_attached(splits: list, region: np.ndarray, origin: tuple[int, int]) -> None:
    """Give back to the part below (in place: alpha 0, the pixel's own colour there) the
    pixels on its side of the border that the upper part would take more of than it takes of
    the pixels between them and its own: a mixed edge fades out from the upper part, it does
    not come back. Where the two parts' colours are alike (a lock's edge over a lash's wing) a
    pixel inside the lower part can unmix as wholly the upper's: moved there, it is a speck
    two pixels off the lock, left floating as a dotted line when the lash under it closes.
    ``splits``: (part below, rows, columns, alpha, F, B, I) per part below; ``region``: the
    upper part's own pixels, in the window at ``origin``."""
    y0, x0 = origin
    share = np.where(region, 1.0, 0.0).astype(np.float32)
    taken = np.zeros(region.shape, bool)          # lower-side pixels the upper part takes
    for _, py, px, a, *_ in splits:
        ry, rx = py - y0, px - x0
        share[ry, rx] = a
        taken[ry, rx] = ~region[ry, rx] & (a > 0)
    if not taken.any():
        return
    # Ring by ring away from the upper part's own pixels, each pixel at most what its nearer
    # neighbours keep (with a little slack for the fit's noise). Side by side, not corner to
    # corner: a staircase edge's mixed pixels share a side with the part.
    reached = region & (share > 0)
    cap = np.zeros(region.shape, np.float32)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    while True:
        ring = (cv2.dilate(reached.astype(np.uint8), cross) > 0) & taken & ~reached
        if not ring.any():
            break
        near = cv2.dilate(np.where(reached, share, 0.0).astype(np.float32), cross)
        cap[ring] = near[ring] + 0.1
        share[ring] = np.minimum(share[ring], cap[ring])
        reached |= ring
    for _, py, px, a, F, B, I in splits:
        ry, rx = py - y0, px - x0
        loose = taken[ry, rx] & (~reached[ry, rx] | (a > cap[ry, rx]))
        a[loose] = 0.0
        B[loose] = I[loose]


def _unmix(I: np.ndarray, F: np.ndarray, B: np.ndarray):
    """(alpha, |F - B|^2, residual) of each pixel I as alpha F + (1 - alpha) B ((N, 3)
    arrays)."""
    fb = F - B
    norm = np.sum(fb * fb, axis=1)
    a = np.clip(np.sum((I - B) * fb, axis=1) / np.maximum(norm, 1e-6), 0.0, 1.0)
    resid = np.linalg.norm(I - (a[:, None] * F + (1 - a[:, None]) * B), axis=1)
    return a, norm, resid


def _composite_rgb(layers: list[Layer]) -> tuple[np.ndarray, np.ndarray]:
    """The picture the layers show at rest: premultiplied RGB 0..1 and its alpha."""
    h, w = layers[0].alpha.shape
    acc = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    for l in layers:
        if l.variant not in (None, "mouth_close"):
            continue
        a = l.alpha.astype(np.float32) / 255.0
        acc = acc * (1.0 - a[..., None]) + l.rgba[..., :3].astype(np.float32) / 255.0 * a[..., None]
        alpha = alpha * (1.0 - a) + a
    return acc, alpha


def _clean_colours(layer: Layer, visible: np.ndarray) -> np.ndarray:
    """(H, W, 3) float 0..255: the layer's colours with its visible edge pixels (which mix in
    the neighbours) replaced by its own colours carried in from further inside."""
    own = layer.alpha > 127
    edge = visible & ~(cv2.erode(visible.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    known = own & ~edge
    if known.sum() < 4:
        return layer.rgba[..., :3].astype(np.float32)
    ys, xs = np.nonzero(own)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    out = layer.rgba[..., :3].astype(np.float32)
    out[y0:y1, x0:x1] = push_pull_fill(out[y0:y1, x0:x1], known[y0:y1, x0:x1])
    return out


# ------------------------------------------------------------------------------ shapes

def completion_shape(layer: Layer, mask: np.ndarray, geo: HeadGeometry,
                     covered: np.ndarray | None = None,
                     clothes: np.ndarray | None = None) -> np.ndarray:
    """The whole shape a part plausibly has, hidden pieces included (bool (H, W)).
    ``covered``: the opaque pixels of the layers in front of it; ``clothes``: the pixels of
    the clothes on the upper body (top and sleeves)."""
    tag = layer.tag
    if tag == "face" and geo.valid:
        return face_shape(mask, geo)
    if tag in ("back hair", "hair") and geo.valid:
        # Behind the head: the hull of the face and hair above the chin. Locks hanging in
        # front of the chest stay out of it: a hull down to their tips would paint a block
        # with straight sides behind the shoulders, which a tilt swings out past them.
        below = np.zeros_like(mask)
        below[int(geo.chin):] = True
        shape = convex_fill(geo.head & ~below) | _closed(mask)
        # Below the chin the hair hangs on behind the neck and shoulders, between its sides,
        # no lower than it ends.
        shape |= _row_spans(mask & below) & below & hair_ends(mask, geo)
        # Long hair whose ends lie on a shoulder or the collar goes on behind the body: drawn
        # down as far as a nod can lift it, no gap opens between it and what it lay on. A
        # bob's tips seen ending over the page end there, as an artist draws them; where the
        # body is drawn over the hair's end, it goes on behind it (see _on_behind_body).
        if covered is not None:
            shape |= _hanging_on(mask, covered, _hang_reach(geo), _longest(geo))
        return shape
    if tag == "neck":
        return neck_shape(mask, geo)
    if tag == "topwear" and clothes is not None:
        # A top reaches its sleeves: where a lock of hair lies over the seam between them,
        # neither one's visible pixels span it, and a turn would uncover a hole.
        # (Where hair lies on its shoulders, see _to_outline_under.)
        return _row_spans(_main_body(mask | clothes)) | _closed(mask)
    if tag in ("topwear", "bottomwear"):
        return _row_spans(_main_body(mask)) | _closed(mask)
    if tag in ("eyewhite", "eyes"):
        # The white fills the eye's opening: under the iris too, so a clipped iris keeps
        # every pixel it shows and a glancing one uncovers white.
        iris = geo.irides.get(layer.side)
        if iris is None:
            iris = np.logical_or.reduce(list(geo.irides.values())) if geo.irides else mask
            iris = iris & _near(mask, 0.3)
        return convex_fill(mask | iris)
    if tag == "irides":
        return convex_fill(mask)
    if tag in LINE_TAGS:
        return stroke_bridges(mask)
    if tag == "eyelash":
        return lash_shape(layer, mask)
    return _closed(mask)


def lash_shape(layer: Layer, mask: np.ndarray) -> np.ndarray:
    """A lash's whole shape: its line of ink goes on under a strand that crosses it; the pale
    shading drawn above the line (an eyelid's shadow) does not. Painted between the fringe's
    tips from the lash's own pixels, that shading came out as pale streaks, and a turn
    swung the fringe off them onto bare skin."""
    ink = lash_ink(layer, mask)
    if not ink.any():
        return mask.copy()
    # Across a strand up to 0.4 of the line's length (the line is long and thin: its box's
    # mean side would bridge nothing).
    ys, xs = np.nonzero(ink)
    return mask | stroke_bridges(ink, reach=0.4 * (max(np.ptp(xs), np.ptp(ys)) + 1))


def lash_ink(layer: Layer, mask: np.ndarray) -> np.ndarray:
    """The lash's line of ink (bool (H, W)): its pixels darker than halfway from its darkest to
    its median lightness (the pale lid shading drawn with it is not ink)."""
    if mask.sum() < 8:
        return np.zeros_like(mask)
    L = cv2.cvtColor(layer.rgba[..., :3], cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    dark = float(np.percentile(L[mask], 5))
    return mask & (L <= 0.5 * (dark + float(np.median(L[mask]))))


def stroke_bridges(mask: np.ndarray, reach: float | None = None) -> np.ndarray:
    """A part drawn in thin strokes, with the gaps where something crosses it bridged by strokes
    of its own width: each loose end of its centre lines is joined by a straight stroke to the
    nearest loose end across the gap, when that is at most ``reach`` away (by default 0.4 of
    the part's size: a lock of hair across a glasses rim). A closing cannot do this: on lines
    as thin as a frame's it bridges nothing, and on wider gaps it fills corners with solid
    blobs."""
    if not mask.any():
        return mask.copy()
    skeleton = cv2.ximgproc.thinning(mask.astype(np.uint8) * 255) > 0
    neighbours = cv2.filter2D(skeleton.astype(np.uint8), -1, np.ones((3, 3), np.float32),
                              borderType=cv2.BORDER_CONSTANT) - skeleton
    ends_y, ends_x = np.nonzero(skeleton & (neighbours == 1))
    if len(ends_x) < 2:
        return mask.copy()
    pieces, _ = ndimage.label(skeleton, structure=np.ones((3, 3)))
    piece = pieces[ends_y, ends_x]
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    width = max(1, int(round(2 * float(np.median(inside[skeleton])))))
    ys, xs = np.nonzero(mask)
    if reach is None:
        reach = 0.4 * np.sqrt((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    ends = np.stack([ends_x, ends_y], 1).astype(np.float64)
    dist = np.linalg.norm(ends[:, None] - ends[None], axis=-1)
    # Only across a gap: ends of one piece count when the way round along it is much longer
    # (a rim broken once), not when they are the two ends of one short stroke.
    along = _along_skeleton(skeleton, ends_y, ends_x)
    dist[(piece[:, None] == piece[None]) & (along < 3 * dist)] = np.inf
    np.fill_diagonal(dist, np.inf)
    out = mask.astype(np.uint8)
    nearest = np.argmin(dist, axis=1)
    for a, b in enumerate(nearest):
        if dist[a, b] <= reach and nearest[b] == a and a < b:     # mutual nearest ends
            cv2.line(out, (int(ends_x[a]), int(ends_y[a])), (int(ends_x[b]), int(ends_y[b])),
                     1, thickness=width)
    return out > 0


def _along_skeleton(skeleton: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(N, N) path lengths between the given skeleton pixels along the skeleton (inf where
    apart)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    index = -np.ones(skeleton.shape, np.int64)
    py, px = np.nonzero(skeleton)
    index[py, px] = np.arange(len(py))
    rows, cols, weights = [], [], []
    h, w = skeleton.shape
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ny, nx = py + dy, px + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        ok[ok] = skeleton[ny[ok], nx[ok]]
        rows.append(index[py[ok], px[ok]])
        cols.append(index[ny[ok], nx[ok]])
        weights.append(np.full(int(ok.sum()), np.hypot(dy, dx)))
    n = len(py)
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(n, n)).tocsr()
    sources = index[ys, xs]
    return dijkstra(graph, directed=False, indices=sources)[:, sources]


def face_shape(mask: np.ndarray, geo: HeadGeometry) -> np.ndarray:
    """The visible face and its mirror image, and an egg from the chin up to the skull line
    as wide as the eyes say the face is (all convex)."""
    xs = np.nonzero(mask)[1]
    centre = (xs.min() + xs.max()) / 2
    shape = convex_fill(mask | _mirror(mask, centre) | (geo.features & _near(mask, 0.05)))
    h, w = mask.shape
    half = 0.5 * geo.width
    # The upper face: a half ellipse from the eye line up to the skull line; the lower face
    # narrows from the cheeks to the visible chin.
    cy = geo.eye_y + 0.15 * (geo.chin - geo.eye_y)
    egg = np.zeros((h, w), np.uint8)
    ry = max(cy - geo.top, 1.0)
    cv2.ellipse(egg, (int(round(geo.cx)), int(round(cy))), (int(round(half)), int(round(ry))),
                0, 180, 360, 1, -1)
    cheek = np.array([[geo.cx - half, cy], [geo.cx + half, cy],
                      [geo.cx + 0.45 * half, geo.chin - 0.1 * (geo.chin - cy)],
                      [geo.cx - 0.45 * half, geo.chin - 0.1 * (geo.chin - cy)]], np.int32)
    cv2.fillConvexPoly(egg, cheek, 1)
    return shape | convex_fill((egg > 0) | shape)


def neck_shape(mask: np.ndarray, geo: HeadGeometry) -> np.ndarray:
    """The visible neck and its continuation up under the chin and jaw: the hull of the neck's
    upper half and a line a third of the way from the chin to the eyes, as wide as the jaw
    (under the ears the neck joins the skull; a turned face uncovers that much of it)."""
    shape = _row_spans(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size < 2 or not geo.valid:
        return shape
    upper = mask & (np.arange(mask.shape[0])[:, None] <= rows[rows.size // 2])
    ys, xs = np.nonzero(upper)
    seen_left, seen_right = np.percentile(xs, [10, 90])
    up = max(0.0, geo.chin - 0.35 * (geo.chin - geo.eye_y))

    def hull_to(left: float, right: float) -> np.ndarray:
        top_line = np.array([[left, up], [right, up]])
        pts = np.concatenate([np.stack([xs, ys], 1), top_line]).astype(np.int32)
        out = np.zeros(mask.shape, np.uint8)
        cv2.fillConvexPoly(out, cv2.convexHull(pts), 1)
        return out > 0

    # Under the ears the neck joins the skull about as wide as the jaw; where hair hangs
    # behind the jaw, though, a turned face uncovers that hair, not a neck as wide as the jaw
    # (the neck is drawn over the back hair): there it rises as wide as it is seen.
    wide = hull_to(min(seen_left - 0.15 * geo.width, geo.cx - 0.4 * geo.width),
                   max(seen_right + 0.15 * geo.width, geo.cx + 0.4 * geo.width))
    below = np.zeros_like(mask)
    below[int(geo.chin):] = True
    hair_behind = convex_fill(geo.hair & ~below)
    # Below the chin no jaw hides the neck: what hair hides there is as wide as the neck is
    # seen (wider, a look-up lifted the locks off patches of skin among them).
    hull = hull_to(seen_left, seen_right) | (wide & ~hair_behind & ~below)
    # Down under the neckline: the neck's base, as wide as it is there, goes on as far as a
    # nod can lift it (the collar and the top lie over it).
    low = rows[rows.size - max(1, rows.size // 8):]
    lx = np.flatnonzero(mask[low].any(axis=0))
    reach = int(round(0.35 * (geo.chin - geo.eye_y)))
    if lx.size and reach > 0:
        shape[rows[-1]:rows[-1] + reach + 1, lx.min():lx.max() + 1] = True
    return shape | (hull > 0)


# ------------------------------------------------------------------------------ painting

def clean_source(layer: Layer, own: np.ndarray, others: np.ndarray, band: int,
                 hair_colours: np.ndarray | None = None,
                 skin_colours: np.ndarray | None = None) -> np.ndarray:
    """The layer's pixels to paint from: opaque, ``band`` px away from anything not its own
    (other layers and the background; for hair, only 1 px from the background); for skin,
    also not outliers in colour (line art, a neighbour's shadow); for any part but hair, not
    the hair's colours (a stray strand tip would be drawn on and on) unless the part is
    mostly of that colour; for clothes, likewise not the skin's (``skin_colours``: skin seen
    through a gap and taken for the top was drawn on under a lock as a skin-coloured block).
    Falls back to all opaque pixels when that leaves too few."""
    opaque = own & (layer.alpha == 255)
    dist = cv2.distanceTransform(opaque.astype(np.uint8), cv2.DIST_L2, 3)
    if layer.tag in STRAND_TAGS:
        # Strands are a few pixels wide: a band that wide from the page between them would
        # keep only the thick of the hair, and hidden tips would take the colour of hair far
        # off (the glare test below keeps the page itself out). From the parts in front (a
        # collar a tip lies on), whose colour the edge is blended with, the whole band.
        front = (others & ~own).astype(np.uint8)
        near_front = cv2.dilate(front, np.ones((2 * band + 1,) * 2, np.uint8)) > 0
        src = opaque & (dist > 1) & ~near_front
    else:
        src = opaque & (dist > band)
    # Colour tests look at the candidate pixels only (converting the whole canvas per layer
    # cost a second on a big picture).
    ys, xs = np.nonzero(src)
    if ys.size == 0:
        return opaque if opaque.sum() >= 4 else own
    lab = cv2.cvtColor(layer.rgba[ys, xs, :3][None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    keep = np.ones(len(ys), bool)
    for foreign in (hair_colours if layer.tag not in STRAND_TAGS else None, skin_colours):
        if foreign is None or not len(foreign) or keep.sum() <= 64:
            continue
        near = np.zeros(len(ys), bool)
        for c in foreign:
            near |= np.linalg.norm(lab - c, axis=-1) < 12
        if near.sum() < 0.3 * keep.sum():
            keep &= ~near
    if layer.tag in STRAND_TAGS and keep.sum() > 64:
        # The background seen between strands (white on a white page), and the strands' edges
        # blended into it, are no hair colour: lighter than the hair and greyer, they would be
        # drawn on as pale streaks. (A highlight is lighter too, but keeps the hair's hue.)
        ref = np.median(lab[keep], axis=0)
        chroma = np.hypot(lab[:, 1] - 128, lab[:, 2] - 128)
        ref_chroma = float(np.median(chroma[keep]))
        glare = (lab[:, 0] > ref[0] + 90) & (chroma < 8)
        glare |= (lab[:, 0] > ref[0] + 60) & (chroma < max(8.0, 0.7 * ref_chroma))
        if (keep & glare).sum() < 0.2 * keep.sum():
            keep &= ~glare
    if layer.tag in SKIN_TAGS and keep.sum() > 64:
        med = np.median(lab[keep], axis=0)
        far = np.linalg.norm((lab - med) * np.array([0.5, 1.0, 1.0], np.float32), axis=-1)
        spread = float(np.percentile(far[keep], 90))
        keep &= far <= max(2.0 * spread, 12.0)
    src = np.zeros_like(src)
    src[ys[keep], xs[keep]] = True
    if src.sum() < 16:
        src = opaque if opaque.sum() >= 4 else own
    return src


def paint_hidden(layer: Layer, new: np.ndarray, others: np.ndarray, band: int,
                 hair_colours: np.ndarray | None = None,
                 skin_colours: np.ndarray | None = None) -> None:
    """Colour (and depth) for the ``new`` pixels of a full-canvas layer, in place."""
    own = layer.alpha > 127
    src = clean_source(layer, own, others, band, hair_colours, skin_colours)
    ys, xs = np.nonzero(new | src)
    h, w = new.shape
    pad = 4
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    win = (slice(y0, y1), slice(x0, x1))
    rgb = layer.rgba[win][..., :3].astype(np.float32)
    known, todo = src[win], new[win]
    if layer.tag in LINE_TAGS:
        # A frame is drawn in one ink: bridges take its median colour, not a blend that
        # would pick up the skin it lies on.
        painted = np.broadcast_to(np.median(rgb[known], axis=0), rgb.shape)
    elif layer.tag == "eyewhite":
        # The white under the iris is the white's lit half: the lash's shadow along its top
        # and skin at its corners (taken into the opening) averaged it into a grey block that
        # a glance showed where the iris had been (test-image turned 20 degrees).
        painted = push_pull_fill(rgb, _lighter_half(rgb, known))
    elif layer.tag in SKIN_TAGS or layer.tag in ("irides", "eyes", "mouth"):
        painted = push_pull_fill(rgb, known)
    else:
        gray = cv2.cvtColor(layer.rgba[win][..., :3], cv2.COLOR_RGB2GRAY).astype(np.float32)
        prior = DOWN if layer.tag in STRAND_TAGS else None
        directions = orientation_field(gray, known, sigma=max(2.0, 0.003 * max(h, w)),
                                       prior=prior)
        strands = layer.tag in STRAND_TAGS
        painted = directional_fill(rgb, known, todo, directions, fade=0.04 * max(h, w),
                                   smooth_base=strands,
                                   base_source=_without_highlights(rgb, known) if strands
                                   else None)
        if layer.tag in STRAND_TAGS:
            # Carried down from the strands' ends, neighbouring columns alternate between a
            # highlight and an outline: a barcode. Strands are a few pixels wide; soften it
            # across them (the hair hangs down, so across is sideways).
            sigma = max(1.0, 0.0012 * max(h, w))
            painted = np.where(todo[..., None], cv2.GaussianBlur(painted, (0, 0), sigmaX=sigma,
                                                                 sigmaY=0.01), painted)
    patch = layer.rgba[win]
    patch[todo, :3] = np.clip(painted[todo] + 0.5, 0, 255).astype(np.uint8)
    patch[todo, 3] = 255
    if layer.depth is not None:
        depth = push_pull_fill(layer.depth[win], own[win])
        layer.depth[win][todo] = depth[todo]


def _lighter_half(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The ``known`` pixels (bool (H, W)) at least as light as their median."""
    ys, xs = np.nonzero(known)
    if ys.size < 16:
        return known
    lum = rgb[ys, xs] @ np.array([0.299, 0.587, 0.114], np.float32)
    keep = lum >= float(np.median(lum))
    out = np.zeros_like(known)
    out[ys[keep], xs[keep]] = True
    return out


def _without_highlights(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The ``known`` pixels of a hair layer less its highlights (bool (H, W)). Hidden hair is
    painted in the hair's own tone, as artists paint it behind the head (the layered sample's
    back hair: a flat fill as dark as its seen hair); a smooth fill over a bright sheen on the
    crown came out lighter than any hair beside it, a pale block when a look-up showed it."""
    ys, xs = np.nonzero(known)
    if ys.size < 16:
        return known
    lum = cv2.cvtColor(np.clip(rgb[ys, xs] + 0.5, 0, 255).astype(np.uint8)[None],
                       cv2.COLOR_RGB2LAB)[0, :, 0].astype(np.float32)
    keep = lum <= float(np.median(lum)) + HIGHLIGHT_MARGIN
    out = np.zeros_like(known)
    out[ys[keep], xs[keep]] = True
    return out


def draw_hidden_outline(layer: Layer, visible: np.ndarray, new: np.ndarray) -> None:
    """Where the completed shape's border runs through painted (hidden) pixels, draw the
    part's outline in the colour and width of its visible outline."""
    shape = layer.alpha > 127
    border = shape & ~(cv2.erode(shape.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    # The visible outline: dark pixels of the layer along its edge with transparency.
    edge = visible & ~(cv2.erode(visible.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    lab = cv2.cvtColor(layer.rgba[..., :3], cv2.COLOR_RGB2LAB)
    L = lab[..., 0].astype(np.float32)
    if edge.sum() < 8 or not visible.any():
        return
    body = float(np.median(L[visible]))
    dark = edge & (L < body - 40)
    if dark.sum() < 8:
        return
    colour = np.median(layer.rgba[dark, :3], axis=0)
    width = max(1, int(round(float(dark.sum()) / max(edge.sum(), 1) * 4)))
    target = border & new
    if not target.any():
        return
    ring = cv2.dilate(target.astype(np.uint8), np.ones((width, width), np.uint8)) > 0
    ring &= shape & new
    layer.rgba[ring, :3] = colour.astype(np.uint8)


# ------------------------------------------------------------------------------ mask helpers

def convex_fill(mask: np.ndarray) -> np.ndarray:
    """The mask's convex hull, filled."""
    if not mask.any():
        return mask.copy()
    ys, xs = np.nonzero(mask)
    hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
    out = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out > 0


def _main_body(mask: np.ndarray) -> np.ndarray:
    """The mask's bulk: thin bits and specks opened away, the largest piece kept (stray
    pixels high up would otherwise span whole rows of a torso)."""
    size = int(max(3, 0.04 * np.sqrt(mask.sum()))) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n <= 1:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def _closed(mask: np.ndarray) -> np.ndarray:
    size = int(max(3, 0.08 * np.sqrt(mask.sum()))) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0


def _near(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Pixels within ``fraction`` of the mask's size of it."""
    ys, xs = np.nonzero(mask)
    size = int(max(3, fraction * max(np.ptp(ys), np.ptp(xs)))) | 1
    return cv2.dilate(mask.astype(np.uint8), np.ones((size, size), np.uint8)) > 0


def _mirror(mask: np.ndarray, centre_x: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    mx = np.round(2 * centre_x - xs).astype(np.int64)
    ok = (mx >= 0) & (mx < mask.shape[1])
    out = np.zeros_like(mask)
    out[ys[ok], mx[ok]] = True
    return out


def _hanging_on(mask: np.ndarray, covered: np.ndarray, reach: int, longest: int) -> np.ndarray:
    """Below each column's lowest pixel of ``mask`` that is seen and ends right on something
    in front (within 2 px above a ``covered`` pixel), up to ``reach`` pixels straight down:
    long hair going on behind the body, where some of the hair is seen hanging on down to
    ``longest`` (a row) at least ``reach`` further. Hair that ends there (a bob on a collar)
    ends there, as an artist draws it. A part whose lower edge is already hidden gets nothing,
    nor does a column with little of the part just above its lowest pixel (an outline stroke
    lying along the collar, no tip on it). The hidden ends are cut as strand tips, not a
    flat-bottomed block: lengths run in a zigzag between 0.6 and 1 ``reach``, shorter at the
    ends of each row of tips."""
    h, w = mask.shape
    cols = np.flatnonzero(mask.any(0))
    out = np.zeros_like(mask)
    if cols.size == 0:
        return out
    bottom = h - 1 - np.argmax(mask[::-1, cols], axis=0)
    min_hair = max(3, reach // 4)
    hanging = []
    for c, b in zip(cols, bottom):
        if covered[b, c] or not covered[b + 1:b + 3, c].any() or b + reach > longest:
            continue
        # A tip (on the outline stroke it may rest on), not a stroke on its own: the part
        # fills much of the column just above its lowest pixel.
        if mask[max(0, b + 1 - 2 * min_hair):b + 1, c].sum() < 0.6 * min_hair:
            continue
        hanging.append((c, b))
    if not hanging:
        return out
    period = max(4.0, reach / 2.5)
    starts = [0] + [i for i in range(1, len(hanging)) if hanging[i][0] != hanging[i - 1][0] + 1]
    ends = starts[1:] + [len(hanging)]
    for s0, s1 in zip(starts, ends):
        for i in range(s0, s1):
            c, b = hanging[i]
            phase = (c % period) / period
            zig = 1.0 - 0.4 * abs(2.0 * phase - 1.0)
            taper = min(1.0, (min(i - s0, s1 - 1 - i) + 1) / (0.5 * period))
            out[b + 1:b + 1 + max(1, int(round(reach * zig * max(taper, 0.3)))), c] = True
    return out


def _on_behind_body(own: np.ndarray, extent: np.ndarray, body: np.ndarray, reach: int,
                    chin: float) -> np.ndarray:
    """Where back hair ends below the ``chin`` right on the body (``body``: pixels seen of the
    layers above that are not hair; drawn over the hair, so it hides the hair's end: a bob
    going behind a sailor collar), it goes on down behind the body, up to ``reach`` px and
    only where the body hides it, as an artist paints back hair on behind a collar: a look-up
    lifts the locks, and under them more hair shows, not a hole or the background.
    ``own``: the layer's own opaque pixels (where they already go on behind the body, nothing
    is added); ``extent``: what it will cover once completed."""
    h, w = own.shape
    out = np.zeros_like(own)
    ends = extent & ~body
    cols = np.flatnonzero(ends.any(axis=0))
    if cols.size == 0:
        return out
    bottom = h - 1 - np.argmax(ends[::-1, cols], axis=0)
    least = max(3, reach // 2)
    for c, b in zip(cols, bottom):
        if not chin < b < h - 3 or not body[b + 1, c] or own[b + 1:b + 4, c].all():
            continue
        # The end of hair, not an outline stroke on its own along the body's edge.
        if extent[max(0, b + 1 - 2 * least):b + 1, c].sum() < least:
            continue
        run = body[b + 1:b + 1 + reach, c]
        # Only the run of body right under the end: not on past a gap into other parts.
        stop = int(np.argmin(run)) if not run.all() else run.size
        out[b + 1:b + 1 + stop, c] = True
    # Whole locks, not columns: narrow gaps between them close and lone columns go (a seen
    # tip among hidden ends left a slit, a lone column a line, that a look-up showed).
    line = np.ones((1, max(3, reach // 6) | 1), np.uint8)
    out = (cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_CLOSE, line) > 0) & (out | body)
    out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_OPEN, line) > 0
    # Its sides slant in, a lock's end, not a block's: each column no longer than three
    # times its distance from the side.
    across = ndimage.distance_transform_edt(np.pad(out.any(axis=0), 1))[1:-1]
    depth = np.arange(h)[:, None] - np.argmax(out, axis=0)[None, :]
    return out & (depth < 3 * across[None, :])


def _hang_reach(geo: HeadGeometry) -> int:
    """How far a nod can lift hair off what it lies on (px)."""
    return int(round(0.3 * (geo.chin - geo.eye_y))) + 1


def _longest(geo: HeadGeometry) -> int:
    """The lowest row any hair is seen at."""
    return int(np.flatnonzero(geo.hair.any(axis=1)).max())


def hair_ends(mask: np.ndarray, geo: HeadGeometry, slack: int = 0) -> np.ndarray:
    """Where back hair (``mask``) may go on hidden below the chin (bool (H, W)): in a column
    where it is seen below the chin, down to its lowest pixel there (and ``slack`` px); in one
    where it is not (behind the neck), down to its lowest tip. Long hair goes on down behind
    the body: where some hair is seen hanging a nod's reach lower than the back hair ends in
    a column, that column has no end."""
    h, w = mask.shape
    out = np.ones((h, w), bool)
    hanging = mask.copy()
    hanging[:int(geo.chin)] = False
    cols = np.flatnonzero(hanging.any(axis=0))
    if cols.size == 0:
        return out
    low = (h - 1 - np.argmax(hanging[::-1, cols], axis=0)).astype(np.float64)
    longest, reach = _longest(geo), _hang_reach(geo)
    ends = np.full(w, low.max() if low.max() + reach > longest else np.inf)
    ends[cols] = np.where(low + reach > longest, low, np.inf)
    out[int(geo.chin):] = np.arange(int(geo.chin), h)[:, None] <= ends[None, :] + slack
    return out


def _above_top_edge(mask: np.ndarray, slack: int = 0) -> np.ndarray:
    """Bool (H, W): above the mask's top edge less ``slack`` px; across columns it misses (a
    strand crossing it) the edge runs straight between its neighbours, and past its ends it
    stays level with them."""
    out = np.zeros_like(mask)
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return out
    top = np.argmax(mask[:, cols], axis=0).astype(np.float64)
    edge = np.interp(np.arange(mask.shape[1]), cols, top) - slack
    out[:] = np.arange(mask.shape[0])[:, None] < edge[None, :]
    return out


def _top_silhouette(mask: np.ndarray, clothes: np.ndarray) -> np.ndarray:
    """A top and its sleeves as seen, near their bulk: specks high up left out, the edge
    the picture's own (the opened bulk's sits a pixel or two in)."""
    full = mask | clothes
    near = cv2.dilate(_main_body(full).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return full & near


def _to_outline_under(shape: np.ndarray, full: np.ndarray, page: np.ndarray,
                      strands: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """``shape`` brought to the body's top outline (:func:`top_outline`): cut off above it,
    and filled from it down to the body seen below the lock where hair hides it (under
    whatever lies in front there: ``covered``)."""
    h, w = shape.shape
    line, hidden = top_outline(full, page, strands)
    rows = np.arange(h)[:, None]
    known = ~np.isnan(line)
    start = np.ceil(np.where(known, line, -1.0))[None, :]
    top = np.where(full.any(axis=0), np.argmax(full, axis=0), h)
    fill = (hidden & known)[None, :] & (rows >= start) & (rows < top[None, :]) & covered
    return (shape & (rows >= start)) | fill


def top_outline(mask: np.ndarray, page: np.ndarray, strands: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """A body's top outline, per column: (row (float (W,), NaN where not known), hidden (bool
    (W,))). Where the ``page`` lies right above the mask's top edge it is seen: the outline
    is that edge. Where a lock (``strands``) lies on it, the outline is carried straight
    across between the nearest seen columns either side, and is hidden; columns with seen
    ones on one side only get none: where the outline goes past the lock's far side is not
    known. Where another part lies above it (the neck over a collar) it is no outline."""
    h, w = mask.shape
    line = np.full(w, np.nan)
    has = mask.any(axis=0)
    top = np.where(has, np.argmax(mask, axis=0), h)
    cols = np.arange(w)
    above = np.clip(top - 1, 0, h - 1)
    seen = has & (top >= 1) & page[above, cols]
    hidden = has & (top >= 1) & strands[above, cols]
    # A column or two among hidden ones whose edge meets something else (a strand's soft
    # edge held by another part) is under the same locks: left out, it opened as a slit.
    near = max(3, int(round(0.004 * max(h, w))))
    run = ndimage.binary_closing(hidden, structure=np.ones(2 * near + 1, bool))
    hidden |= run & has & ~seen
    line[seen] = top[seen]
    at_seen = np.flatnonzero(seen)
    if at_seen.size < 2:
        return line, np.zeros(w, bool)
    at = np.flatnonzero(hidden)
    k = np.searchsorted(at_seen, at)
    inside = (k > 0) & (k < at_seen.size)
    at, k = at[inside], k[inside]
    a, b = at_seen[k - 1], at_seen[k]
    line[at] = top[a] + (top[b] - top[a]) * (at - a) / (b - a).astype(np.float64)
    return line, hidden


def _row_spans(mask: np.ndarray) -> np.ndarray:
    """Each row filled between its leftmost and rightmost pixel."""
    any_row = mask.any(1)
    first = np.argmax(mask, 1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], 1)
    cols = np.arange(mask.shape[1])[None, :]
    return any_row[:, None] & (cols >= first[:, None]) & (cols <= last[:, None])
