"""Foreground alpha for an image with no transparency: background model, then alpha matting.

The background is fitted to the image border (a smooth quadratic per channel, so plain and
gradient backgrounds fit exactly; a few border colour clusters cover simple patterns). Pixels far
from it are the figure; the background is whatever near-background region touches the border
(white shirts inside the outline stay foreground). Edge pixels are unmixed against the local
foreground and background colours (alpha = projection of I - B onto F - B, and no less than
|I - B| over the farthest figure colour nearby, so an outline darker than a mid-grey page
keeps its ink), which gives clean, anti-aliased edges instead of a jagged threshold.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from .inpaint import push_pull_fill

# Colour distances are Euclidean in 0..255 RGB.
_BACKGROUND_MAX = 12.0     # below this a border-connected pixel is background
_FOREGROUND_MIN = 40.0     # above this a pixel is surely figure
_BORDER_CLUSTERS = 4


def has_real_alpha(alpha: np.ndarray | None) -> bool:
    """True when an alpha channel actually cuts something out (not all opaque)."""
    return alpha is not None and bool((alpha < 250).mean() > 0.001)


def fit_background(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-pixel distance to the background (H, W), the smooth background model (H, W, 3)),
    both float32, of an opaque image: fitted once, shared by the steps that need it."""
    img = rgb.astype(np.float32)
    model = _background_model(img)
    return _background_distance(img, model), model


def estimate_alpha(rgb: np.ndarray, background: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(alpha float32 0..1, foreground colour uint8 RGB) of an opaque image's figure.
    ``background``: ``fit_background(rgb)``, when already at hand."""
    img = rgb.astype(np.float32)
    h, w = img.shape[:2]
    dist, bg_model = background if background is not None else fit_background(img)
    # Background: near-background pixels connected to the border.
    near = dist < _BACKGROUND_MAX
    labels, _ = ndimage.label(near)
    border_ids = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border_ids = border_ids[border_ids > 0]
    background = np.isin(labels, border_ids)
    # Large enclosed holes that match the background almost exactly (the gap between an arm and
    # the body) are background too, when nothing but line art surrounds them; white clothing
    # shades off into light greys around its whitest parts and stays.
    very_near = dist < _BACKGROUND_MAX / 3
    hole_labels, n = ndimage.label(very_near & ~background)
    if n:
        sizes = np.bincount(hole_labels.ravel())
        big = np.flatnonzero(sizes > 0.0005 * h * w)
        big = big[big > 0]
        boxes = ndimage.find_objects(hole_labels)
        ring_kernel = np.ones((5, 5), np.uint8)
        for i in big:
            ys, xs = boxes[i - 1]
            y0, y1 = max(0, ys.start - 3), min(h, ys.stop + 3)
            x0, x1 = max(0, xs.start - 3), min(w, xs.stop + 3)
            hole = hole_labels[y0:y1, x0:x1] == i
            ring = (cv2.dilate(hole.astype(np.uint8), ring_kernel) > 0) & ~hole
            d = dist[y0:y1, x0:x1][ring]
            # A gap shows the background right up to the figure's outline; white cloth
            # shades off into light greys around its whitest parts.
            shading = float(((d > _BACKGROUND_MAX / 3) & (d < _FOREGROUND_MIN)).mean())
            if shading < 0.35:
                background[y0:y1, x0:x1] |= hole
    figure = _drop_specks(~background)
    if not figure.any():
        return np.zeros((h, w), np.float32), rgb.copy()

    # Matting band: a few pixels either side of the figure's outline.
    band_r = max(1, int(round(min(h, w) / 400)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_r + 1, 2 * band_r + 1))
    inner = cv2.erode(figure.astype(np.uint8), kernel) > 0
    outer = cv2.dilate(figure.astype(np.uint8), kernel) > 0
    band = outer & ~inner
    fg_colour = push_pull_fill(img, inner & (dist > _FOREGROUND_MIN)) if inner.any() else img
    diff = img - bg_model
    span = fg_colour - bg_model
    denom = (span * span).sum(-1)
    proj = np.where(denom > 100.0, (diff * span).sum(-1) / np.maximum(denom, 1e-6),
                    dist / _FOREGROUND_MIN)
    alpha = np.where(inner, 1.0, 0.0).astype(np.float32)
    # And at least as much as the pixel's distance from the background takes, however far
    # the figure's colours nearby lie from it: on a mid-grey page a black outline round light
    # skin lies on the far side of the background from the skin, and by the skin alone it was
    # page; the whole figure lost its outline (test-image on grey: rest 33 dB).
    reach = cv2.dilate(np.where(figure, dist, 0.0).astype(np.float32),
                       np.ones((2 * band_r + 3, 2 * band_r + 3), np.uint8))
    least = dist / np.maximum(reach, _FOREGROUND_MIN)
    alpha[band] = np.clip(np.maximum(proj[band], least[band]), 0.0, 1.0)
    alpha[band & (dist < _BACKGROUND_MAX * 0.5)] = 0.0
    # Unmix the colour of edge pixels: F = (I - (1 - a) B) / a, falling back to the local F
    # where a faint blend toward it makes the unmixing noisy (but not where the ink, not the
    # inside, explains the pixel: the inside's colour there drew a pale line on a dark page).
    a = alpha[..., None]
    unmixed = (img - (1.0 - a) * bg_model) / np.maximum(a, 1e-3)
    unmix = band & (alpha > 0) & ((alpha > 0.3) | (least > proj))
    colour = np.where(unmix[..., None], np.clip(unmixed, 0, 255),
                      np.where(band[..., None], fg_colour, img))
    return alpha, np.clip(colour + 0.5, 0, 255).astype(np.uint8)


def _drop_specks(figure: np.ndarray) -> np.ndarray:
    """Keep the figure's big pieces; signatures and dust far smaller than the figure go."""
    labels, n = ndimage.label(figure)
    if n <= 1:
        return figure
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = np.flatnonzero(sizes >= 0.02 * sizes.max())
    return np.isin(labels, keep)


def _border_pixels(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    t = max(1, min(h, w) // 100)
    mask = np.zeros((h, w), bool)
    mask[:t], mask[-t:], mask[:, :t], mask[:, -t:] = True, True, True, True
    ys, xs = np.nonzero(mask)
    return xs, ys, img[ys, xs]


def _design(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> np.ndarray:
    u = xs / max(w - 1, 1) - 0.5
    v = ys / max(h - 1, 1) - 0.5
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], -1)


def _background_model(img: np.ndarray) -> np.ndarray:
    """A smooth (quadratic) background fitted robustly to the border pixels."""
    h, w = img.shape[:2]
    xs, ys, values = _border_pixels(img)
    design = _design(xs.astype(np.float32), ys.astype(np.float32), w, h)
    # Start from the border's own colour: where the figure runs off the canvas over much of
    # the border (a bust's body below, its crown above), a first fit to every border pixel
    # was pulled so far toward the figure that trimming never recovered the page.
    keep = np.linalg.norm(values - np.median(values, axis=0), axis=1) < 30.0
    if keep.sum() < 12:
        keep = np.ones(len(values), bool)
    for _ in range(4):  # drop border pixels the figure covers (feet, cut-off bodies), refit
        coef, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        resid = np.linalg.norm(design @ coef - values, axis=1)
        cutoff = max(3.0 * np.median(resid[keep]) + 2.0, 6.0)
        keep = resid < cutoff
        if keep.sum() < 12:
            keep = np.ones(len(values), bool)
            break
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    full = _design(gx.ravel(), gy.ravel(), w, h) @ coef
    return full.reshape(h, w, 3).astype(np.float32)


def _background_distance(img: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Per-pixel distance to the background: the smooth ``model`` or a border colour
    cluster."""
    dist = np.linalg.norm(img - model, axis=-1)
    xs, ys, values = _border_pixels(img)
    h, w = img.shape[:2]
    k = min(_BORDER_CLUSTERS, len(values))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(values.astype(np.float32), k, None, criteria, 2,
                                    cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    counts = np.bincount(labels, minlength=k)
    t = max(1, min(h, w) // 100)
    sides = [ys < t, ys >= h - t, xs < t, xs >= w - t]
    for i, (centre, count) in enumerate(zip(centres, counts)):
        if count < 0.2 * len(values):   # a cluster the figure contributes, not a pattern
            continue
        # A pattern runs round the picture; a figure running off the canvas (a bust's top
        # below, its hair above) fills one or two sides with its own colours.
        if sum(bool((labels[side] == i).mean() >= 0.1) for side in sides) < 3:
            continue
        dist = np.minimum(dist, np.linalg.norm(img - centre, axis=-1))
    return dist


def _rests_on(piece_mask: np.ndarray, piece: tuple[slice, slice], below: np.ndarray,
              reach: int) -> bool:
    """Whether the piece (``piece_mask`` within the box ``piece``) lies right on ``below``
    under it: most of what of ``below`` it comes within ``reach`` + 1 px of lies under its
    middle row. A pocket of the page between the tips of hair and the shoulder they hang
    over, which the tips leave when they swing; a jewel in the hair touches no body, or only
    beside it."""
    r = reach + 1
    y0, x0 = max(0, piece[0].start - r), max(0, piece[1].start - r)
    y1, x1 = min(below.shape[0], piece[0].stop + r), min(below.shape[1], piece[1].stop + r)
    local = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local[piece[0].start - y0:piece[0].stop - y0, piece[1].start - x0:piece[1].stop - x0] = \
        piece_mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    touch = (cv2.dilate(local, kernel) > 0) & below[y0:y1, x0:x1]
    if not touch.any():
        return False
    middle = float(np.nonzero(local)[0].mean())
    if float((np.nonzero(touch)[0] > middle).mean()) >= 0.8:
        return True
    # Or the body lies right under its lowest pixel in most of its columns, though skin seen
    # between the strands beside it comes near too (bust-image1's neck: the page kept in the
    # hair there was lifted off the shoulder at a look-up as a white fleck).
    cols = np.flatnonzero(local.any(axis=0))
    lowest = local.shape[0] - 1 - np.argmax(local[::-1, cols], axis=0)
    rows = np.arange(local.shape[0])[:, None]
    under = below[y0:y1, x0:x1][:, cols] & (rows > lowest[None, :]) & (rows <= lowest[None, :] + r)
    return float(under.any(axis=0).mean()) >= 0.6


def clear_background_gaps(rgb: np.ndarray, alpha: np.ndarray, colour: np.ndarray,
                          region: np.ndarray,
                          background: tuple[np.ndarray, np.ndarray] | None = None,
                          below: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The background seen through small gaps inside a part (between strand tips of hair),
    cut out: (alpha, colour, the pixels cleared). ``region``: the part's pixels (bool (H, W));
    ``alpha``, ``colour``: ``estimate_alpha``'s. Such gaps are too small for the figure's hole
    rule, so they were kept and labelled with the part around them; moving with it, they
    showed as flecks of background colour over whatever lies behind.

    A gap is a connected piece of the region in the background's own colour that opens onto
    the background (it comes within a few pixels of the figure's outline) or has the long thin
    shape of the space between two strands, or rests on ``below`` (bool (H, W): the body the
    part hangs over) under it, the page seen between strand tips and a shoulder: a round white
    jewel or highlight stays. A part drawn in the background's colour itself (white hair on
    white) is left as it is. The gaps' rims are unmixed like the outline's. ``background``:
    ``fit_background(rgb)``, when already at hand."""
    img = rgb.astype(np.float32)
    h, w = alpha.shape
    cleared = np.zeros((h, w), bool)
    solid = alpha > 0.5
    region = region & solid
    if region.sum() < 64:
        return alpha, colour, cleared
    dist, model = background if background is not None else fit_background(img)
    if float(np.percentile(dist[region], 10)) < 2 * _FOREGROUND_MIN:
        return alpha, colour, cleared
    candidate = region & (dist < _BACKGROUND_MAX)
    if not candidate.any():
        return alpha, colour, cleared
    reach = max(2, int(round(min(h, w) / 250)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near_outside = cv2.dilate((~solid).astype(np.uint8), kernel) > 0
    labels, n = ndimage.label(candidate, structure=np.ones((3, 3), bool))
    gaps = set(np.unique(labels[near_outside & candidate]).tolist()) - {0}
    # Enclosed ones count when long and thin, the shape of the space between two strands;
    # a jewel or a highlight is rounder.
    for i, piece in enumerate(ndimage.find_objects(labels), start=1):
        if i in gaps or piece is None:
            continue
        ys, xs = np.nonzero(labels[piece] == i)
        if ys.size < 6:
            continue
        (_, _), (a, b), _ = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
        if max(a, b) >= 2.5 * max(min(a, b), 1.0):
            gaps.add(i)
        elif below is not None and _rests_on(labels[piece] == i, piece, below, reach):
            gaps.add(i)
    cleared = np.isin(labels, sorted(gaps))
    if not cleared.any():
        return alpha, colour, cleared
    alpha, colour = alpha.copy(), colour.copy()
    alpha[cleared] = 0.0
    # The rims: strand edges blended with the background seen through the gap.
    band_r = max(1, int(round(min(h, w) / 400)))
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_r + 1, 2 * band_r + 1))
    rim = (cv2.dilate(cleared.astype(np.uint8), ring) > 0) & region & ~cleared & \
        (dist < _FOREGROUND_MIN)
    if rim.any():
        ys, xs = np.nonzero(rim)
        pad = 8 * band_r + 4
        win = (slice(max(0, ys.min() - pad), min(h, ys.max() + pad + 1)),
               slice(max(0, xs.min() - pad), min(w, xs.max() + pad + 1)))
        sub = img[win]
        known = region[win] & ~rim[win] & ~cleared[win] & (dist[win] > _FOREGROUND_MIN)
        if known.any():
            fg = push_pull_fill(sub, known)
            bg = model[win]
            span = fg - bg
            denom = np.maximum((span * span).sum(-1), 1e-6)
            a = np.clip(((sub - bg) * span).sum(-1) / denom, 0.0, 1.0)
            r = rim[win]
            alpha[win][r] = np.minimum(alpha[win][r], a[r])
            unmixed = (sub - (1.0 - a[..., None]) * bg) / np.maximum(a[..., None], 1e-3)
            fix = r & (a > 0.05)
            colour[win][fix] = np.clip(unmixed[fix] + 0.5, 0, 255).astype(np.uint8)
    return alpha, colour, cleared
