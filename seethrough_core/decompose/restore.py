"""The picture's own pixels back in layers that were decomposed at another size.

A large picture is decomposed at a working size and its layers are scaled back up: resampled,
every line comes back soft, every edge between two parts a little blurred, and the rest frame
no longer matches the picture. Here each pixel is fitted again against the picture at full
size, layer by layer, over and under what the others hold there:

1. the soft edge of a layer over the one that shows a pixel takes the alpha that unmixes the
   picture between its colour and what lies below (a resampled edge ran on over pure skin as
   a shadow);
2. the layer that shows a pixel (the topmost at least half opaque) takes the colour that, under
   those edges and over what lies below, composites to the picture, with its own soft edge
   over an opaque layer unmixed first;
3. over nothing (the figure's outline) it carries the picture's alpha alone: a cut-out's own,
   or a matte at full size on a plain page, which only sharpens an edge (it knows nothing of
   the page cut out between strands at the working size) and gives colour only where it sees
   an edge.

Expression variants are left as they are. Pure numpy on the layers' arrays, in place.
"""
from __future__ import annotations

import numpy as np

from ..character import Character

_CLEAR = 0.004         # an alpha this small is nothing
_ALIKE = 0.05 ** 2     # colours closer than this (squared, 0..1) say nothing about an alpha


def restore_picture(character: Character, image: np.ndarray,
                    background: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Fit the character's layers (in place) to ``image``, the (H, W, 4) uint8 picture at the
    character's size (see the module doc). ``background``: ``fit_background`` of an opaque
    picture, when at hand."""
    from .foreground import _FOREGROUND_MIN, estimate_alpha, fit_background, has_real_alpha
    w, h = character.size
    if image.shape[:2] != (h, w):
        raise ValueError(f"picture {image.shape[1]}x{image.shape[0]} does not match the "
                         f"character's canvas {w}x{h}")
    stack = _Stack.of(character)
    if stack is None:
        return
    y0, y1, x0, x1 = stack.box
    picture = image[y0:y1, x0:x1, :3].astype(np.float32) / 255.0
    cut_out = has_real_alpha(image[..., 3])
    if cut_out:
        matte_a = image[y0:y1, x0:x1, 3].astype(np.float32) / 255.0
        matte_rgb = picture
        figure = None
    else:
        rgb = np.ascontiguousarray(image[..., :3])
        if background is None:
            background = fit_background(rgb)
        full_a, full_rgb = estimate_alpha(rgb, background)
        matte_a = full_a[y0:y1, x0:x1]
        matte_rgb = full_rgb[y0:y1, x0:x1].astype(np.float32) / 255.0
        figure = background[0][y0:y1, x0:x1] > _FOREGROUND_MIN
    _fit_edges(stack, picture)
    _fit_owners(stack, picture, matte_a, matte_rgb, figure)


class _Stack:
    """The drawn layers inside the box they cover: per layer its RGBA there (a view into the
    layer) and where that lies in the box."""

    def __init__(self, views: list[np.ndarray], places: list[tuple[slice, slice]],
                 box: tuple[int, int, int, int]):
        self.views, self.places, self.box = views, places, box
        self.shape = (box[1] - box[0], box[3] - box[2])

    def pixels(self, which: np.ndarray):
        """Per layer, the pixels a map over the box (``which``: a layer index per pixel)
        gives it: (its view, rows and columns in the view, the same in the box)."""
        for i, (v, at) in enumerate(zip(self.views, self.places)):
            mine = which[at] == i
            if mine.any():
                ys, xs = np.nonzero(mine)
                yield v, ys, xs, ys + at[0].start, xs + at[1].start

    @classmethod
    def of(cls, character: Character) -> "_Stack | None":
        w, h = character.size
        spans = []
        for l in character.layers:
            if l.variant not in (None, "mouth_close") or not l.rgba.size:
                continue
            x, y = l.offset
            lh, lw = l.rgba.shape[:2]
            cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + lw, w), min(y + lh, h)
            if cx1 > cx0 and cy1 > cy0:
                spans.append((l, (cy0, cy1, cx0, cx1)))
        if not spans:
            return None
        y0 = min(s[0] for _, s in spans)
        y1 = max(s[1] for _, s in spans)
        x0 = min(s[2] for _, s in spans)
        x1 = max(s[3] for _, s in spans)
        views, places = [], []
        for l, (cy0, cy1, cx0, cx1) in spans:
            x, y = l.offset
            views.append(l.rgba[cy0 - y:cy1 - y, cx0 - x:cx1 - x])
            places.append((slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0)))
        return cls(views, places, (y0, y1, x0, x1))

    def layout(self):
        """(owner, below, above, edge): per pixel the index of the layer that shows it (the
        topmost at least half opaque, else the topmost drawn; -1 for none); the premultiplied
        RGBA (0..1) of what lies below and above that layer; the one layer drawn above it (-1
        for none, -2 for several)."""
        owner = np.full(self.shape, -1, np.int32)
        strong = np.zeros(self.shape, bool)
        for i, (v, at) in enumerate(zip(self.views, self.places)):
            a = v[..., 3]
            owner[at][(a >= 128) | ((a > 0) & ~strong[at])] = i
            strong[at] |= a >= 128
        below = np.zeros(self.shape + (4,), np.float32)
        above = np.zeros(self.shape + (4,), np.float32)
        edge = np.full(self.shape, -1, np.int32)
        run = np.zeros(self.shape + (4,), np.float32)
        for i, (v, at) in enumerate(zip(self.views, self.places)):
            mine = owner[at] == i
            below[at][mine] = run[at][mine]
            src = v.astype(np.float32) / 255.0
            run[at] = run[at] * (1.0 - src[..., 3:]) + np.concatenate(
                [src[..., :3] * src[..., 3:], src[..., 3:]], axis=-1)
        run[:] = 0.0
        for i in range(len(self.views) - 1, -1, -1):
            v, at = self.views[i], self.places[i]
            mine = owner[at] == i
            above[at][mine] = run[at][mine]
            src = v.astype(np.float32) / 255.0
            room = 1.0 - run[at][..., 3:]
            run[at] = run[at] + room * np.concatenate(
                [src[..., :3] * src[..., 3:], src[..., 3:]], axis=-1)
            o = owner[at]
            over = (o >= 0) & (o < i) & (v[..., 3] > 0)
            e = edge[at]
            e[over] = np.where(e[over] == -1, i, -2)
        return owner, below, above, edge


def _fit_edges(stack: _Stack, picture: np.ndarray) -> None:
    """Each soft edge drawn alone over the layer that shows a pixel: its alpha unmixed from
    the picture between its colour and what it lies over."""
    owner, below, _, edge = stack.layout()
    for v, ys, xs, gy, gx in stack.pixels(edge):
        o = owner[gy, gx]
        under = np.zeros((ys.size, 3), np.float32)
        for j in np.unique(o):
            sel = o == j
            vj, aj = stack.views[j], stack.places[j]
            c = vj[gy[sel] - aj[0].start, gx[sel] - aj[1].start].astype(np.float32) / 255.0
            under[sel] = c[:, :3] * c[:, 3:] + below[gy[sel], gx[sel], :3] * (1.0 - c[:, 3:])
        colour = v[ys, xs, :3].astype(np.float32) / 255.0
        alpha = v[ys, xs, 3].astype(np.float32) / 255.0
        v[ys, xs, 3] = _to_byte(unmix_alpha(picture[gy, gx], colour, under, alpha))


def _fit_owners(stack: _Stack, picture: np.ndarray, matte_a: np.ndarray,
                matte_rgb: np.ndarray, figure: np.ndarray | None) -> None:
    """The layer that shows each pixel: the colour that composites to the picture; over
    nothing, the picture's outline carried alone. ``figure``: on a plain page, the pixels
    surely of the figure (far from the page's colour), where the matte may make an edge more
    opaque; None for a cut-out, whose alpha is the outline."""
    cut_out = figure is None
    owner, below, above, _ = stack.layout()
    alone = np.zeros(stack.shape, bool)
    for v, ys, xs, gy, gx in stack.pixels(owner):
        a = v[ys, xs, 3].astype(np.float32) / 255.0
        rgb = v[ys, xs, :3].astype(np.float32) / 255.0
        up, low, pic = above[gy, gx], below[gy, gx], picture[gy, gx]
        free = up[:, 3] < _CLEAR
        # Its own soft edge over an opaque layer: how much of it the picture shows.
        soft = free & (a < 0.999) & (low[:, 3] > 0.99)
        a[soft] = unmix_alpha(pic[soft], rgb[soft], low[soft, :3], a[soft])
        # picture = up + (1 - up_a) (a F + (1 - a) low), solved for F. Under another
        # layer's edge it keeps its colour: that edge was fitted against it.
        solve = free & ((low[:, 3] > 0.99) | (a > 0.999))
        seen = (pic - up[:, :3]) / np.maximum(1.0 - up[:, 3:], 1e-3)
        fitted = (seen - (1.0 - a[:, None]) * low[:, :3]) / np.maximum(a[:, None], 1e-3)
        rgb[solve] = fitted[solve]
        # Over nothing: the outline, carried alone over any faint spill below.
        rim = free & (low[:, 3] <= 0.99)
        if rim.any():
            fa, frgb = matte_a[gy[rim], gx[rim]], matte_rgb[gy[rim], gx[rim]]
            if cut_out:
                target_a, target = fa, frgb
            else:
                target_a = np.where(figure[gy[rim], gx[rim]], fa,
                                    np.minimum(a[rim] + (1.0 - a[rim]) * low[rim, 3], fa))
                target = np.where((fa < 0.999)[:, None], frgb, pic[rim])
            faint = (low[rim, 3] < 0.5) | (target_a < low[rim, 3] - 0.02)
            low_a = np.where(faint, 0.0, low[rim, 3])
            low_p = np.where(faint[:, None], 0.0, low[rim, :3])
            alone[gy[rim][faint], gx[rim][faint]] = True
            a_rim = np.clip((target_a - low_a) / np.maximum(1.0 - low_a, 1e-3), 0.0, 1.0)
            f = (target_a[:, None] * target - (1.0 - a_rim[:, None]) * low_p) / \
                np.maximum(a_rim[:, None], 1e-3)
            keep = a_rim > _CLEAR
            rim_rgb = rgb[rim]
            rim_rgb[keep] = f[keep]
            rgb[rim] = rim_rgb
            a[rim] = a_rim
        v[ys, xs, :3] = _to_byte(rgb)
        v[ys, xs, 3] = _to_byte(a)
    # Under an outline the owner carries alone, the spill goes.
    for i, (v, at) in enumerate(zip(stack.views, stack.places)):
        spill = alone[at] & (owner[at] > i) & (v[..., 3] > 0)
        v[..., 3][spill] = 0


def unmix_alpha(picture: np.ndarray, colour: np.ndarray, under: np.ndarray,
                alpha: np.ndarray) -> np.ndarray:
    """Per pixel (colours (N, 3) in 0..1), how much of ``colour`` over ``under`` the picture
    shows; where the two colours are too alike to tell, the given ``alpha`` (N,)."""
    fb = colour - under
    norm = np.sum(fb * fb, axis=1)
    found = np.clip(np.sum((picture - under) * fb, axis=1) / np.maximum(norm, 1e-9), 0.0, 1.0)
    return np.where(norm > _ALIKE, found, alpha).astype(np.float32)


def _to_byte(values: np.ndarray) -> np.ndarray:
    return np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
