"""The default backend: decomposition from the image alone, on a CPU, in seconds, no weights.

Foreground (the PNG's alpha, else background model and matting) -> body layout (MediaPipe pose
when it finds the figure) -> a tag for every pixel (``parts``) -> per-pixel pseudo-depth
(``depth``). Returns raw parts, one full-canvas layer per tag; sides, strata, order and hidden
regions are added by the shared finishing step.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..character import Character, InputError, Layer
from .depth import inflation, part_depth
from .foreground import clear_background_gaps, estimate_alpha, fit_background, has_real_alpha
from .layout import Layout, detect_pose
from .parts import LABEL, PART_TAGS, label_parts, page_out_of_hair
from .upright import label_upright

# Depth here is each part's band plus inflation: it orders parts but measures nothing inside
# one, so parts are not split into depth strata.
MEASURES_DEPTH = False

# Options that belong to model backends; given here they are a mistake worth reporting.
_MODEL_OPTIONS = ("model", "depth_model", "device", "dtype")


# What hair hangs over below the head: page seen between its tips and these is page.
BODY_TAGS = ("neck", "topwear", "handwear", "bottomwear")


def decompose_parts(image_rgba: np.ndarray, *, progress: Callable[[str, float], None] | None = None,
                    pose: bool = True, seed: int | None = None, **options) -> Character:
    """Raw parts of an RGBA uint8 image: one full-canvas layer per tag found, with depth.

    ``pose=False`` skips MediaPipe (the fallbacks alone). ``seed`` is accepted for interface
    symmetry: this backend is deterministic.
    """
    for name in _MODEL_OPTIONS:
        if options.get(name) is not None:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag} applies to --backend seethrough only; the heuristic "
                             f"backend needs no model")
    unknown = sorted(k for k, v in options.items() if v is not None and k not in _MODEL_OPTIONS)
    if unknown:
        raise TypeError(f"unknown heuristic option(s): {', '.join(unknown)}")
    h, w = image_rgba.shape[:2]
    report = progress or (lambda stage, fraction: None)

    report("separating the figure from the background", 0.05)
    cut_out = has_real_alpha(image_rgba[..., 3])
    if cut_out:
        alpha = image_rgba[..., 3].astype(np.float32) / 255.0
        colour = image_rgba[..., :3]
    else:
        # One background fit: the figure's outline and the gaps in its hair both use it.
        background = fit_background(image_rgba[..., :3])
        alpha, colour = estimate_alpha(np.ascontiguousarray(image_rgba[..., :3]), background)

    report("finding the body layout", 0.25)
    a = alpha[..., None]
    on_white = (colour.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    layout = detect_pose(on_white) if pose else Layout()

    report("assigning pixels to parts", 0.4)
    labels, head = label_upright(label_parts, np.ascontiguousarray(colour), alpha, layout)
    if not cut_out:
        # The background seen between strand tips went to the hair: it is background.
        hair = np.isin(labels, [LABEL[t] for t in ("back hair", "front hair")])
        body = np.isin(labels, [LABEL[t] for t in BODY_TAGS])
        alpha, colour, cleared = clear_background_gaps(
            np.ascontiguousarray(image_rgba[..., :3]), alpha, colour, hair, background, body)
        page_out_of_hair(labels, cleared, head)

    report("estimating pseudo-depth", 0.7)
    inflated = inflation(alpha > 0.5)
    alpha8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    layers = []
    for tag in PART_TAGS:
        mask = labels == LABEL[tag]
        if not mask.any():
            continue
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[mask, :3] = colour[mask]
        rgba[mask, 3] = alpha8[mask]
        layers.append(Layer(tag, rgba, tag=tag, depth=part_depth(tag, inflated)))
    return Character((w, h), layers)
