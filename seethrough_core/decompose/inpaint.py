"""Filling unknown pixels from known ones: push-pull (pyramid) interpolation.

Used to paint what a layer hides (the face under the fringe, the torso under the arms) and to
extend per-pixel depth under those regions. Push-pull is smooth, has no seams, costs a few
resizes, and reads only the pixels it is told are known, so colours of other layers never
bleed in (a plain cv2.inpaint reads whatever surrounds its mask).
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def push_pull_fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every pixel of ``values`` (H, W[, C]) float, with unknown pixels replaced by a smooth
    interpolation of the known ones. Known pixels come back unchanged. No known pixel -> zeros."""
    values = np.asarray(values, np.float32)
    squeeze = values.ndim == 2
    if squeeze:
        values = values[..., None]
    known = np.asarray(known, bool)
    if not known.any():
        out = np.zeros_like(values)
        return out[..., 0] if squeeze else out
    weight = known.astype(np.float32)
    filled = soft_push_pull(values * weight[..., None], weight)
    out = np.where(known[..., None], values, filled)
    return out[..., 0] if squeeze else out


def soft_push_pull(weighted: np.ndarray, weight: np.ndarray, shrink: float = 2.0) -> np.ndarray:
    """Values premultiplied by a soft weight in [0, 1] (H, W, C) -> every pixel's value shown
    over a smooth fill from the coarser levels: ``value*weight + fill*(1 - weight)``. Each
    level is ``shrink`` times smaller than the one above (2: fast; 1.2: smoother)."""
    h, w = weight.shape
    safe = np.maximum(weight, 1e-6)[..., None]
    colour = weighted / safe
    if min(h, w) <= 2 or weight.min() > 0.999:
        if weight.max() <= 0:
            return colour
        # At the coarsest level any remaining hole takes the mean of what is known.
        mean = weighted.reshape(-1, weighted.shape[2]).sum(0) / max(weight.sum(), 1e-6)
        return np.where(weight[..., None] > 1e-6, colour, mean)
    size = (max(1, min(w - 1, int(w / shrink))), max(1, min(h - 1, int(h / shrink))))
    small_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    small_v = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
    if small_v.ndim == 2:
        small_v = small_v[..., None]
    coarse = soft_push_pull(small_v, small_w, shrink)
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    if up.ndim == 2:
        up = up[..., None]
    # Blend: fully known pixels keep their colour, partly known ones mix with the coarse guess.
    alpha = np.clip(weight, 0.0, 1.0)[..., None]
    return colour * alpha + up * (1.0 - alpha)


# ------------------------------------------------------------------ structure-aware filling
#
# Hidden hair and cloth are painted by continuing the picture's own strokes into the hole:
# every unknown pixel looks along the local stroke direction (the structure tensor's flow,
# carried into the hole) for the nearest known pixel on either side and copies its detail on
# top of a smooth fill of the colours (Bornemann and Maerz's coherence transport, reduced to
# one straight look-up per pixel). Strands run on through the hole, stripes continue, and no
# colour is invented: every pixel's detail comes from the layer's own art. We write this
# ourselves because OpenCV's exemplar methods (xphoto shift-map, FSR) read every pixel they
# are not told to fill, so a layer's neighbours or background bleed in, and they take seconds
# per layer at this size.


def orientation_field(gray: np.ndarray, known: np.ndarray, sigma: float = 3.0,
                      prior: tuple[float, float] | None = None,
                      prior_weight: float = 0.05) -> np.ndarray:
    """(H, W, 2) unit stroke directions (x, y): the structure tensor's flow where the picture
    is known, carried smoothly into the unknown pixels. ``prior`` (a direction) is mixed in
    with a small weight, so flat regions take it (hair hangs down)."""
    g = np.where(known, gray, 0).astype(np.float32)
    w = known.astype(np.float32)
    # Gradients only from known pixels: the hole's edge is not a stroke.
    inner = cv2.erode(known.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) * inner
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) * inner
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    # Doubled-angle representation of the gradient direction, weighted by coherence.
    c2, s2 = jxx - jyy, 2.0 * jxy
    strength = np.sqrt(c2 * c2 + s2 * s2)
    scale = float(np.percentile(strength[inner], 90)) if inner.any() else 0.0
    weight = np.clip(strength / max(scale, 1e-6), 0.0, 1.0) * w
    doubled = np.stack([c2, s2], -1) / np.maximum(strength, 1e-6)[..., None]
    if prior is not None:
        px, py = prior
        # The prior is a stroke direction; the tensor gives gradient directions (normal to
        # strokes): turn it by 90 degrees before doubling the angle.
        gxp, gyp = -py, px
        prior2 = np.array([gxp * gxp - gyp * gyp, 2 * gxp * gyp], np.float32)
        doubled = doubled * weight[..., None] + prior2 * prior_weight
        weight = weight + prior_weight
        doubled = doubled / np.maximum(weight, 1e-6)[..., None]
    filled = soft_push_pull(doubled * weight[..., None], np.clip(weight, 0.0, 1.0))
    angle = 0.5 * np.arctan2(filled[..., 1], filled[..., 0])     # gradient direction
    # Strokes run across the gradient.
    return np.stack([-np.sin(angle), np.cos(angle)], -1).astype(np.float32)


def directional_fill(rgb: np.ndarray, source: np.ndarray, todo: np.ndarray,
                     directions: np.ndarray, max_reach: float | None = None,
                     step: float = 1.0, fade: float | None = None,
                     smooth_base: bool = False,
                     base_source: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` (H, W, 3) float with the ``todo`` pixels painted from the ``source`` pixels:
    each looks both ways along its direction for the nearest source pixel and takes that
    pixel's detail over a smooth fill (nearer side weighted more). Pixels that find no source
    within ``max_reach`` keep the smooth fill. With ``fade`` (px), detail fades with the
    distance it is carried, so a lone mark (a parting, a button) does not run on forever.
    ``smooth_base``: colours come from a smooth (push-pull) fill instead of being carried
    along the strokes: right for one material with shading (hair), wrong for several (a navy
    collar on a white shirt would average to grey). ``base_source``: the source pixels the
    smooth colours come from (by default all of ``source``)."""
    out = np.asarray(rgb, np.float32).copy()
    h, w = source.shape
    ys, xs = np.nonzero(todo)
    if ys.size == 0 or not source.any():
        return out
    # Colours and details of the source, kept apart: colours are carried along strokes
    # between the two ends a pixel sees (never averaged across the layer, which would turn
    # navy and white into grey), details fade with distance.
    if smooth_base:
        base = push_pull_fill(out, source if base_source is None or not base_source.any()
                              else base_source)
        low = cv2.GaussianBlur(base, (0, 0), 2.0)
    else:
        _, (ny, nx) = ndimage.distance_transform_edt(~source, return_indices=True)
        low = cv2.GaussianBlur(out[ny, nx], (0, 0), 2.0)
        base = low
    detail = out - low
    reach = float(max_reach if max_reach is not None else np.hypot(h, w))
    d = directions[ys, xs]
    acc = np.zeros((ys.size, 3), np.float32)
    wsum = np.zeros(ys.size, np.float32)
    for sign in (1.0, -1.0):
        found = np.zeros(ys.size, bool)
        hit_y = np.zeros(ys.size, np.int64)
        hit_x = np.zeros(ys.size, np.int64)
        dist = np.zeros(ys.size, np.float32)
        active = np.arange(ys.size)
        k = 1
        while active.size and k * step <= reach:
            t = k * step * sign
            qy = np.rint(ys[active] + t * d[active, 1]).astype(np.int64)
            qx = np.rint(xs[active] + t * d[active, 0]).astype(np.int64)
            inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
            hit = np.zeros(active.size, bool)
            hit[inside] = source[qy[inside], qx[inside]]
            idx = active[hit]
            found[idx] = True
            hit_y[idx], hit_x[idx] = qy[hit], qx[hit]
            dist[idx] = k * step
            active = active[~hit & inside]
            k += 1
        wgt = np.where(found, 1.0 / np.maximum(dist, 1.0) ** 2, 0.0).astype(np.float32)
        keep = (np.exp(-dist / fade).astype(np.float32) if fade else
                np.ones(ys.size, np.float32))[:, None]
        colour = base[ys, xs] if smooth_base else low[hit_y, hit_x]
        acc += wgt[:, None] * (colour + keep * detail[hit_y, hit_x])
        wsum += wgt
    got = wsum > 0
    out[ys, xs] = base[ys, xs]                   # no stroke end in reach: the base colour
    out[ys[got], xs[got]] = acc[got] / wsum[got, None]
    return out
