"""Filling unknown pixels from known ones: push-pull (pyramid) interpolation.

Used to paint what a layer hides (the face under the fringe, the torso under the arms) and to
extend per-pixel depth under those regions. Push-pull is smooth, has no seams, costs a few
resizes, and reads only the pixels it is told are known, so colours of other layers never
bleed in (a plain cv2.inpaint reads whatever surrounds its mask).
"""
from __future__ import annotations

import cv2
import numpy as np


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
