"""A blush for ParamCheek when the art has none.

Live2D models show ParamCheek as a flush that fades in on the cheeks. An artist's PSD may carry
it as a layer (named blush, cheek, 頬, 照れ ...: the ``blush`` variant); otherwise the rigger
draws one the way anime art does: a soft oval of the skin's own hue pushed toward red on each
cheek, below the lower lid and a little outward, with three short diagonal hatch strokes, kept
inside the face's outline. The layer is invisible at ParamCheek 0, so the rest pose is unchanged.
"""
from __future__ import annotations

import cv2
import numpy as np

from seethrough_core.character import Character, Layer

from .anchors import Anchors

PEAK_ALPHA = 0.55       # opacity at the oval's centre
HATCH_ALPHA = 0.45


def blush_layer(character: Character, anchors: Anchors) -> Layer | None:
    """A ``blush`` variant layer over the face, or None (no face or no eyes found, or the
    character already has a blush)."""
    if any(l.variant == "blush" for l in character.layers) or not anchors.eyes:
        return None
    faces = [l for l in character.layers if l.tag == "face" and l.variant is None and not l.empty]
    if not faces:
        return None
    w, h = character.size
    face_alpha = np.zeros((h, w), np.float32)
    for f in faces:
        x, y = f.offset
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + f.width, w), min(y + f.height, h)
        if x1 > x0 and y1 > y0:
            face_alpha[y0:y1, x0:x1] = np.maximum(
                face_alpha[y0:y1, x0:x1], f.alpha[y0 - y:y1 - y, x0 - x:x1 - x] / 255.0)
    solid = face_alpha > 0.9
    if not solid.any():
        return None
    skin = _skin_colour(faces, solid)
    colour = _flush_colour(skin)
    hatch_colour = np.clip(colour * 0.88, 0, 255)

    alpha = np.zeros((h, w), np.float32)
    hatch = np.zeros((h, w), np.float32)
    # One size for both cheeks, from the larger eye (hair may hide part of the other) and never
    # below a quarter of the face's width.
    ew = max(max(e.size[0] for e in anchors.eyes.values()), 0.25 * anchors.face_size[0], 2.0)
    eh = max(max(e.size[1] for e in anchors.eyes.values()), 2.0)
    for eye in anchors.eyes.values():
        # Below the lower lid, shifted outward (away from the face's middle).
        out = 1.0 if eye.center[0] >= anchors.face_center[0] else -1.0
        cx = eye.center[0] + out * 0.12 * ew
        cy = float(np.max(eye.closing_y(np.array([eye.center[0]])))) + 0.75 * eh
        rx, ry = 0.62 * ew, 0.28 * ew
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        alpha = np.maximum(alpha, PEAK_ALPHA * np.exp(-2.2 * r2) * (r2 < 1.6))
        # Three short strokes leaning the same way, as anime blush is drawn.
        thickness = max(1, int(round(0.035 * ew)))
        for k in (-1, 0, 1):
            sx = cx + k * 0.32 * rx
            p0 = (int(round(sx - 0.10 * ew)), int(round(cy + 0.14 * ew)))
            p1 = (int(round(sx + 0.10 * ew)), int(round(cy - 0.14 * ew)))
            cv2.line(hatch, p0, p1, HATCH_ALPHA, thickness, cv2.LINE_AA)
    hatch = np.clip(hatch, 0.0, HATCH_ALPHA)
    a = np.clip(alpha + hatch * (1.0 - alpha), 0.0, 1.0) * face_alpha * solid
    if not (a > 1e-3).any():
        return None
    mix = np.where(hatch > 0, hatch / np.maximum(a, 1e-6), 0.0)[..., None].clip(0, 1)
    rgb = colour[None, None, :] * (1 - mix) + hatch_colour[None, None, :] * mix
    ys, xs = np.nonzero(a > 1e-3)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgba = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    rgba[..., :3] = np.clip(rgb[y0:y1, x0:x1], 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(a[y0:y1, x0:x1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Layer("blush", rgba, offset=(int(x0), int(y0)), tag="face", variant="blush")


def _skin_colour(faces: list[Layer], solid: np.ndarray) -> np.ndarray:
    pixels = np.concatenate([f.rgba[f.alpha > 230, :3] for f in faces]).astype(np.float32)
    if len(pixels) == 0:
        return np.array([250.0, 225.0, 210.0])
    return np.median(pixels, axis=0)


def _flush_colour(skin: np.ndarray) -> np.ndarray:
    """The skin's colour flushed: hue toward red, more saturated, a little darker."""
    hsv = cv2.cvtColor(np.uint8([[np.clip(skin, 0, 255)]]), cv2.COLOR_RGB2HSV)[0, 0].astype(
        np.float32)
    hsv[0] = 176.0                                  # OpenCV hue (0..180): a pinkish red
    hsv[1] = min(255.0, max(hsv[1] * 2.2, 110.0))
    hsv[2] = max(120.0, hsv[2] * 0.97)
    rgb = cv2.cvtColor(np.uint8([[hsv]]), cv2.COLOR_HSV2RGB)[0, 0]
    return rgb.astype(np.float32)
