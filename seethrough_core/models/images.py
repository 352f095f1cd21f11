"""What the VAE sees of a transparent part: its colour, padded out under the transparency.

A part's RGB is undefined where its alpha is zero; feeding black (or white) there would show
the VAE an outline that is not in the art. LayerDiffuse fills it with the part's own colours
spread outwards: a pyramid of premultiplied colour and alpha shrunk by 1.2x a level, rebuilt
from the coarsest level up with each level's colour over the smoother fill from below. That is
our soft push-pull with a 1.2 shrink.
"""
from __future__ import annotations

import numpy as np

from ..decompose.inpaint import soft_push_pull

SHRINK = 1.2


def pad_colour(rgba: np.ndarray) -> np.ndarray:
    """Float straight RGBA (H, W, 4) in [0, 1] -> RGB (H, W, 3): the colour over a fill that
    continues it smoothly into the transparent area (black if nothing is opaque)."""
    rgba = np.asarray(rgba, np.float32)
    alpha = np.clip(rgba[..., 3], 0.0, 1.0)
    if not alpha.any():
        return np.zeros(rgba.shape[:2] + (3,), np.float32)
    filled = soft_push_pull(rgba[..., :3] * alpha[..., None], alpha, SHRINK)
    return np.clip(filled, 0.0, 1.0).astype(np.float32)
