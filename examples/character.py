"""The example character: a procedurally drawn anime girl in a sailor school uniform.

It is the embedded default for ``make demo`` and the fixture most tests rig, render and track, so
it is drawn by code (nothing to download) and deterministically. Layers follow the See-through
convention (tags, ``-l``/``-r`` for the character's side, ``_N`` groups, expression variants) and
carry per-pixel pseudo-depth (0 nearest .. 1 farthest) whose per-layer medians reproduce the
drawing order exactly.

All proportions below are fractions of the canvas size, so the drawing scales with ``size``.
The character faces the viewer; her right side is on the image's left.

    python -m examples.character OUT.psd [--size N] [--preview OUT.png]
"""
from __future__ import annotations

import argparse
import copy
import functools
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from seethrough_core import taxonomy
from seethrough_core.character import Character, InputError, Layer

from .drawing import (Color, Sheet, arc, bounds, catmull_rom, ellipse, joined, mirror_x,
                      normals, resample, stroke, taper)

MIN_SIZE, MAX_SIZE = 128, 4096

# ------------------------------------------------------------------------------------ palette
HAIR, HAIR_SHADOW, HAIR_LINE, HAIR_SHINE = (
    (190, 164, 232), (146, 118, 202), (76, 56, 122), (236, 228, 255))
BACK_HAIR, BACK_HAIR_SHADOW = (166, 138, 214), (120, 94, 178)
BROW = (112, 84, 156)
SKIN, SKIN_SHADOW, SKIN_LINE = (255, 237, 228), (247, 204, 198), (170, 104, 100)
BLUSH, BLUSH_LINE = (255, 148, 164), (236, 112, 132)
EYEWHITE, EYEWHITE_SHADOW, EYEWHITE_LINE = (255, 255, 255), (212, 218, 244), (222, 186, 190)
IRIS_TOP, IRIS_BOTTOM, IRIS_RING, PUPIL, IRIS_GLOW = (
    (38, 50, 122), (88, 176, 224), (28, 32, 82), (20, 22, 58), (168, 236, 246))
LASH, LOWER_LASH = (50, 34, 58), (110, 70, 92)
MOUTH_LINE, MOUTH_INSIDE, TONGUE = (124, 52, 60), (132, 40, 58), (242, 128, 142)
SHIRT, SHIRT_SHADOW, SHIRT_INSIDE, CLOTH_LINE = (
    (250, 250, 253), (206, 212, 236), (188, 194, 222), (62, 64, 102))
NAVY, NAVY_SHADOW, NAVY_LINE = (56, 66, 122), (40, 48, 94), (22, 26, 54)
RIBBON, RIBBON_SHADOW, RIBBON_LINE = (228, 64, 88), (178, 40, 66), (104, 22, 40)

# -------------------------------------------------------------------------------- proportions
CX = 0.5                   # the body's centre line
HEAD_C = (0.5, 0.255)      # centre of the skull circle
SKULL_R = 0.165            # skin of the cranium (face layer), completed under the hair
HAIR_R = 0.187             # outer surface of the front hair over the cranium
BACK_HAIR_R = 0.193
LINE = 0.0032              # outline width of the main silhouettes
EYE_DX, EYE_Y = 0.077, 0.336
NECK_BASE = (0.052, 0.503)     # half width and height where the neck enters the collar
V_TIP = (0.5, 0.627)           # bottom of the collar's V opening
SIDES = ("r", "l")             # character's right (image left) first: drawing order


def _outward(side: str) -> float:
    """+1 when the character's ``side`` is on the image's right (her left), else -1."""
    return 1.0 if side == "l" else -1.0


def _mirror(points: Sequence) -> np.ndarray:
    return mirror_x(points, CX)


def _path(points: Sequence, corners: Sequence[int] = (), samples: int = 10) -> np.ndarray:
    """A smooth path through ``points`` that turns sharply at the indices in ``corners``."""
    cuts = sorted({0, len(points) - 1, *corners})
    runs = [catmull_rom(points[a:b + 1], samples) for a, b in zip(cuts[:-1], cuts[1:])]
    return joined(*runs)


# ----------------------------------------------------------------------- shapes (unit coords)

def _face_outline() -> np.ndarray:
    """The head's skin: cranium circle above the temples, cheeks and a soft pointed chin."""
    top = arc(HEAD_C, SKULL_R, 0, 92, 24)
    jaw = catmull_rom([top[-1], (0.661, 0.322), (0.646, 0.372), (0.612, 0.418), (0.561, 0.452),
                       (0.5, 0.467)], 10)
    right = joined(top, jaw)
    left = _mirror(right[::-1])
    return joined(right, left[1:-1])


def _eye(side: str) -> dict:
    """Eye construction for one side: opening outline, lids, iris; points in unit coords."""
    o = _outward(side)
    cx, cy = CX + o * EYE_DX, EYE_Y

    def pts(local: Sequence) -> np.ndarray:
        a = np.asarray(local, np.float64)
        return np.stack([cx + o * a[:, 0], cy + a[:, 1]], axis=1)

    # Local coordinates: x grows towards the outer corner, y down. Inner corner lower, the upper
    # lid peaks past the middle, as anime eyes are drawn.
    upper = catmull_rom(pts([(-0.041, 0.009), (-0.031, -0.014), (-0.012, -0.027),
                             (0.012, -0.030), (0.033, -0.024), (0.048, -0.006)]), 10)
    lower = catmull_rom(pts([(0.048, -0.006), (0.041, 0.012), (0.021, 0.026), (0.0, 0.029),
                             (-0.022, 0.024), (-0.041, 0.009)]), 10)
    opening = joined(upper, lower)
    x0, y0, x1, y1 = bounds(opening)
    center = ((x0 + x1) / 2, (y0 + y1) / 2)
    iris_c = (cx - o * 0.002, cy - 0.003)
    # Closing line: the lower lid, where the upper lid lands when the eye shuts.
    closing_y = float(np.interp(center[0], *_sorted_xy(lower)))
    return dict(pts=pts, upper=upper, lower=lower, opening=opening, center=center,
                iris_c=iris_c, iris_r=(0.0255, 0.0315), closing_y=closing_y)


def _sorted_xy(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(curve[:, 0])
    return curve[order, 0], curve[order, 1]


def _brow_spine(side: str) -> np.ndarray:
    e = _eye(side)
    return catmull_rom(e["pts"]([(-0.036, -0.048), (-0.012, -0.058), (0.016, -0.061),
                                 (0.040, -0.056), (0.053, -0.047)]), 10)


def _brow_widths(n: int) -> np.ndarray:
    return taper(n, 0.0062, start=0.55, end=0.0, peak=0.35)


def _mouth_close_spine() -> np.ndarray:
    return catmull_rom([(0.485, 0.418), (0.493, 0.4225), (0.5, 0.4235), (0.507, 0.4225),
                        (0.515, 0.418)], 8)


def _mouth_open_outline() -> np.ndarray:
    top = catmull_rom([(0.483, 0.417), (0.5, 0.4205), (0.517, 0.417)], 8)
    bottom = catmull_rom([(0.517, 0.417), (0.513, 0.432), (0.5, 0.441), (0.487, 0.432),
                          (0.483, 0.417)], 8)
    return joined(top, bottom)


def _strands() -> list[dict]:
    """Front hair: five locks, each a leaf rooted above the crown and ending in pointed tips.

    Listed far to near (drawing order): the two side locks, the fringe's two outer locks, then
    the centre lock on top. Outlines are clipped to :func:`_hair_volume` so the top of the head
    stays one smooth dome. ``tip`` is the main tip, the one a spring chain swings.
    """
    def lock(points: list, corners: list[int], tip: int, depth: float, lines: list) -> dict:
        outline = _path(points + [points[0]], corners)
        return dict(outline=outline, tip=tuple(points[tip]), depth=depth, lines=lines)

    side_r = lock([(0.44, 0.05), (0.36, 0.10), (0.318, 0.2), (0.306, 0.31), (0.314, 0.43),
                   (0.343, 0.552), (0.352, 0.45), (0.356, 0.36), (0.372, 0.26), (0.41, 0.16)],
                  [0, 5], 5, 0.20, [[(0.333, 0.47), (0.333, 0.36), (0.345, 0.24)]])
    side_l = lock([(0.56, 0.05), (0.59, 0.16), (0.628, 0.26), (0.643, 0.36), (0.649, 0.46),
                   (0.664, 0.572), (0.69, 0.44), (0.695, 0.31), (0.684, 0.2), (0.64, 0.10)],
                  [0, 5], 5, 0.19, [[(0.672, 0.49), (0.67, 0.37), (0.657, 0.24)]])
    fringe_r = lock([(0.48, 0.02), (0.37, 0.08), (0.33, 0.17), (0.331, 0.235), (0.347, 0.288),
                     (0.368, 0.252), (0.383, 0.262), (0.404, 0.318), (0.422, 0.25),
                     (0.45, 0.16), (0.478, 0.08)],
                    [0, 4, 7], 7, 0.16, [[(0.37, 0.25), (0.383, 0.2), (0.405, 0.15)]])
    fringe_l = lock([(0.52, 0.02), (0.527, 0.08), (0.55, 0.16), (0.578, 0.25), (0.598, 0.321),
                     (0.617, 0.264), (0.632, 0.254), (0.654, 0.292), (0.668, 0.235),
                     (0.668, 0.17), (0.63, 0.08)],
                    [0, 4, 7], 4, 0.15, [[(0.618, 0.262), (0.608, 0.2), (0.59, 0.15)],
                                         [(0.65, 0.27), (0.652, 0.22), (0.643, 0.17)]])
    centre = lock([(0.5, 0.0), (0.44, 0.07), (0.425, 0.16), (0.433, 0.235), (0.449, 0.3),
                   (0.466, 0.258), (0.485, 0.262), (0.516, 0.334), (0.534, 0.26),
                   (0.566, 0.16), (0.565, 0.07)],
                  [0, 4, 7], 7, 0.12, [[(0.467, 0.257), (0.468, 0.2), (0.476, 0.15)],
                                       [(0.51, 0.29), (0.522, 0.22), (0.53, 0.16)]])
    return [side_r, side_l, fringe_r, fringe_l, centre]


def _hair_volume() -> np.ndarray:
    """Where front hair may be: inside the dome over the head, or anywhere below its middle."""
    dome = arc(HEAD_C, HAIR_R, -90, 90, 48)
    return joined(dome, [(0.95, HEAD_C[1]), (0.95, 0.99), (0.05, 0.99), (0.05, HEAD_C[1])])


def _back_hair_outline() -> np.ndarray:
    top = arc(HEAD_C, BACK_HAIR_R, -100, 100, 40)
    right = [tuple(top[-1]), (0.703, 0.37), (0.716, 0.49), (0.732, 0.60), (0.758, 0.735),
             (0.722, 0.69), (0.706, 0.765), (0.674, 0.70), (0.645, 0.748), (0.6, 0.70),
             (0.5, 0.69)]
    left = [(0.5, 0.69), (0.4, 0.70), (0.36, 0.742), (0.33, 0.705), (0.29, 0.772),
            (0.278, 0.69), (0.244, 0.728), (0.27, 0.60), (0.284, 0.49), (0.297, 0.37),
            tuple(top[0])]
    return joined(top, _path(right, [4, 6, 8]), _path(left, [2, 4, 6]))


def _torso_outline() -> np.ndarray:
    """The blouse's silhouette, neckline straight behind the neck."""
    nx, ny = CX + NECK_BASE[0], NECK_BASE[1]
    right = _path([(CX, ny), (nx, ny), (0.60, 0.521), (0.646, 0.536), (0.674, 0.553),
                   (0.692, 0.581), (0.694, 0.608), (0.664, 0.648), (0.655, 0.70),
                   (0.643, 0.765), (0.647, 0.806), (0.575, 0.812), (CX, 0.815)], [1, 10])
    return joined(right, _mirror(right[::-1])[1:-1])


def _collar_half(side: str) -> np.ndarray:
    """One flap of the sailor collar: over the shoulder and down to the V under the ribbon."""
    nx, ny = CX + NECK_BASE[0], NECK_BASE[1]
    flap = joined(_path([(nx, ny), (0.60, 0.521), (0.652, 0.539)]),
                  _path([(0.652, 0.539), (0.628, 0.578), (0.585, 0.618), (0.54, 0.65),
                         (CX, 0.676)]),
                  [(CX, V_TIP[1]), (nx, ny)])
    return flap if side == "l" else _mirror(flap)


def _collar_stripe(side: str) -> np.ndarray:
    """The white stripe, running 0.011 inside the flap's outer edge (from past the shoulder)."""
    edge = _path([(0.652, 0.539), (0.628, 0.578), (0.585, 0.618), (0.54, 0.65), (CX, 0.676)])[2:]
    line = edge - normals(edge) * 0.011
    return line if side == "l" else _mirror(line)


def _v_opening() -> np.ndarray:
    nx, ny = NECK_BASE
    return np.array([(CX - nx, ny), (CX + nx, ny), V_TIP])


def _arm_spine(side: str) -> np.ndarray:
    o = _outward(side)
    pts = [(0.164, 0.588), (0.183, 0.65), (0.199, 0.718), (0.213, 0.79), (0.220, 0.848)]
    return catmull_rom([(CX + o * dx, y) for dx, y in pts], 10)


def _hand_outline(side: str) -> np.ndarray:
    o = _outward(side)
    local = [(0.203, 0.840), (0.204, 0.872), (0.202, 0.905), (0.207, 0.934), (0.221, 0.946),
             (0.235, 0.936), (0.242, 0.905), (0.241, 0.872), (0.237, 0.840)]
    return catmull_rom([(CX + o * dx, y) for dx, y in local], 8, closed=True)


def _skirt() -> dict:
    waist_y, hem_y, half_waist, half_hem = 0.770, 0.975, 0.135, 0.216
    pleats = 10
    waist_x = np.linspace(CX - half_waist, CX + half_waist, pleats + 1)
    hem_x = np.linspace(CX - half_hem, CX + half_hem, pleats + 1)
    # The hem sags a little at the middle and zigzags where the pleats fold.
    sag = 0.008 * (1 - ((hem_x - CX) / half_hem) ** 2)
    hem = [(x, hem_y + dy + (0.009 if i % 2 else 0.0)) for i, (x, dy) in enumerate(zip(hem_x, sag))]
    outline = joined(
        catmull_rom([(CX - half_waist, waist_y), (CX, waist_y + 0.006),
                     (CX + half_waist, waist_y)], 8),
        catmull_rom([(CX + half_waist, waist_y), (CX + 0.162, 0.84), (CX + 0.19, 0.91),
                     hem[-1]], 8),
        np.array(hem[::-1]),
        catmull_rom([hem[0], (CX - 0.19, 0.91), (CX - 0.162, 0.84),
                     (CX - half_waist, waist_y)], 8))
    return dict(outline=outline, waist_x=waist_x, hem=hem, waist_y=waist_y)


# ------------------------------------------------------------------------------ layer making

def _px(points: Sequence, size: int) -> np.ndarray:
    return np.asarray(points, np.float64) * size


def _sheet(size: int, *polygons: Sequence, margin: float = 0.01) -> Sheet:
    return Sheet.around([_px(p, size) for p in polygons], margin * size, (size, size))


DepthFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _finish(sheet: Sheet, size: int, tag: str, depth: float | DepthFn, *, side: str | None = None,
            group: int | None = None, variant: str | None = None) -> Layer:
    rgba, offset = sheet.finish()
    name = taxonomy.format_name(tag, side=side, group=group, variant=variant)
    layer = Layer(name=name, rgba=rgba, offset=offset, tag=tag, side=side, group=group,
                  variant=variant).cropped()
    # Depth is a field over the canvas (unit coords), sampled at the layer's pixel centres.
    xs = (layer.offset[0] + np.arange(layer.width) + 0.5) / size
    ys = (layer.offset[1] + np.arange(layer.height) + 0.5) / size
    gx, gy = np.meshgrid(xs, ys)
    d = depth(gx, gy) if callable(depth) else np.full(gx.shape, depth)
    layer.depth = np.asarray(d, np.float32)
    return layer


def _paint_shape(sheet: Sheet, size: int, polygon: Sequence, fill: Color, line: Color,
                 line_w: float = LINE, shade: np.ndarray | None = None,
                 shade_color: Color | None = None) -> None:
    """Fill a shape, shade it, outline it (inside its silhouette)."""
    m = sheet.mask(_px(polygon, size))
    sheet.over(m, fill)
    if shade is not None:
        sheet.atop(shade * m, shade_color)
    sheet.atop(sheet.edge_band(m, line_w * size), line)


def _line(sheet: Sheet, size: int, spine: Sequence, widths, color: Color,
          opacity: float = 1.0) -> None:
    """A brush stroke along ``spine`` (unit coords), ``widths`` in canvas pixels."""
    sheet.over(sheet.mask(stroke(_px(spine, size), widths)), color, opacity)


# ------------------------------------------------------------------------------------- parts

def _draw_back_hair(size: int) -> Layer:
    outline = _back_hair_outline()
    sh = _sheet(size, outline)
    # The hair behind the neck sits in the head's shadow: a cel shadow shaped like the jaw.
    jaw_shadow = _face_outline()
    jaw_shadow[:, 0] = CX + 1.16 * (jaw_shadow[:, 0] - CX)
    jaw_shadow[:, 1] += 0.07
    shade = sh.mask(_px(jaw_shadow, size))
    _paint_shape(sh, size, outline, BACK_HAIR, HAIR_LINE, shade=shade,
                 shade_color=BACK_HAIR_SHADOW)
    for o in (-1.0, 1.0):   # strand lines falling along the sides
        for dx, y1 in ((0.17, 0.66), (0.20, 0.70)):
            spine = catmull_rom([(CX + o * (dx - 0.03), 0.26), (CX + o * dx, 0.45),
                                 (CX + o * (dx + 0.02), y1)], 10)
            _line(sh, size, spine, taper(len(spine), 0.0028 * size, peak=0.6), HAIR_LINE, 0.8)

    def depth(x, y):   # the hair wraps round the back: its sides are a little nearer
        return 0.92 - 0.05 * np.clip(np.abs(x - CX) / 0.25, 0, 1) ** 2
    return _finish(sh, size, "back hair", depth)


def _draw_arm(size: int, side: str) -> Layer:
    o = _outward(side)
    spine = _arm_spine(side)
    n = len(spine)
    widths = np.interp(np.linspace(0, 1, n), [0, 0.5, 1], [0.068, 0.06, 0.052])
    sleeve = stroke(spine, widths)
    shoulder = ellipse(spine[0], widths[0] / 2, widths[0] / 2, 48)   # round top, under the blouse
    cuff_spine = spine[int(n * 0.8):]
    cuff = stroke(cuff_spine, np.full(len(cuff_spine), 0.056))
    hand = _hand_outline(side)
    sh = _sheet(size, sleeve, shoulder, cuff, hand)
    # Hand first: the cuff overlaps the wrist.
    hm = sh.mask(_px(hand, size))
    sh.over(hm, SKIN)
    sh.atop(hm * (1 - sh.shifted(hm, o * 0.008 * size, 0.01 * size)), SKIN_SHADOW)
    sh.atop(sh.edge_band(hm, 0.0026 * size), SKIN_LINE)
    # The thumb rests in front, towards the body; finger lines near the tips.
    thumb = ellipse((CX + o * 0.207, 0.884), 0.0075, 0.019, 40, o * -12)
    tm = sh.mask(_px(thumb, size))
    sh.over(tm, SKIN)
    sh.atop(sh.edge_band(tm, 0.0024 * size), SKIN_LINE)
    for k in range(2):
        fx = CX + o * (0.222 + 0.008 * k)
        finger = catmull_rom([(fx, 0.912 + 0.004 * k), (fx + o * 0.002, 0.932 + 0.002 * k)], 4)
        _line(sh, size, finger, taper(len(finger), 0.0018 * size), SKIN_LINE, 0.8)
    sm = sh.mask(_px(sleeve, size), _px(shoulder, size))
    sh.over(sm, SHIRT)
    # Inner side of the sleeve is turned from the light.
    sh.atop(sm * (1 - sh.shifted(sm, o * 0.010 * size, 0)), SHIRT_SHADOW)
    for y, dy in ((0.70, 0.0), (0.735, 0.006)):   # elbow folds
        x = float(np.interp(y, spine[:, 1], spine[:, 0]))
        fold = catmull_rom([(x - o * 0.02, y), (x - o * 0.006, y + 0.008 + dy)], 5)
        _line(sh, size, fold, taper(len(fold), 0.0022 * size, peak=0.4), CLOTH_LINE, 0.7)
    sh.atop(sh.edge_band(sm, LINE * size), CLOTH_LINE)
    cm = sh.mask(_px(cuff, size))
    sh.over(cm, NAVY)
    stripe = cuff_spine[len(cuff_spine) // 2:len(cuff_spine) // 2 + 2]
    mid = stripe.mean(axis=0)
    across = normals(stripe)[0] * 0.05
    sh.atop(sh.mask(_px(stroke([mid - across, mid + across], 0.004), size)) * cm, SHIRT)
    sh.atop(sh.edge_band(cm, 0.0028 * size), NAVY_LINE)

    base = 0.665 if side == "r" else 0.655

    def depth(x, y):   # the hanging hand is a touch nearer than the shoulder
        return base - 0.02 * np.clip((y - 0.55) / 0.4, 0, 1)
    return _finish(sh, size, "handwear", depth, side=side)


def _draw_skirt(size: int) -> Layer:
    skirt = _skirt()
    sh = _sheet(size, skirt["outline"])
    m = sh.mask(_px(skirt["outline"], size))
    sh.over(m, NAVY)
    hem = skirt["hem"]
    # Each pleat turns away on one side: a cel wedge from the waist widening to the hem.
    wedges = []
    for i in range(len(hem) - 1):
        (hx0, hy0), (hx1, hy1) = hem[i], hem[i + 1]
        wx = skirt["waist_x"][i]
        wedges.append(np.array([(wx, skirt["waist_y"]), (hx0, hy0),
                                (hx0 + 0.45 * (hx1 - hx0), 0.5 * (hy0 + hy1))]))
    shade = sh.mask(*[_px(w, size) for w in wedges])
    # The blouse hem casts a shadow across the top of the skirt.
    shade = np.maximum(shade, sh.mask(_px(_torso_outline() + [0, 0.018], size)))
    sh.atop(shade * m, NAVY_SHADOW)
    for i in range(1, len(hem) - 1):
        spine = catmull_rom([(skirt["waist_x"][i], skirt["waist_y"] + 0.01), hem[i]], 6)
        _line(sh, size, spine, taper(len(spine), 0.0024 * size, start=0.2, end=0.6, peak=0.8),
              NAVY_LINE, 0.85)
    sh.atop(sh.edge_band(m, LINE * size), NAVY_LINE)

    def depth(x, y):
        return 0.62 + 0.05 * np.clip(((x - CX) / 0.23) ** 2, 0, 1)
    return _finish(sh, size, "bottomwear", depth)


def _draw_topwear(size: int) -> Layer:
    torso = _torso_outline()
    flaps = [_collar_half(s) for s in SIDES]
    sh = _sheet(size, torso, *flaps)
    m = sh.mask(_px(torso, size))
    sh.over(m, SHIRT)
    flap_m = sh.mask(*[_px(f, size) for f in flaps])
    # Shade the flanks (light from the upper left: mostly the image-right one) and under the
    # collar.
    flanks = 1 - sh.shifted(m, -0.022 * size, 0) * sh.shifted(m, 0.008 * size, 0)
    under_collar = sh.shifted(flap_m, 0, 0.016 * size)
    sh.atop(np.maximum(flanks, under_collar) * m, SHIRT_SHADOW)
    # The inside of the neckline, hidden by the neck at rest.
    sh.atop(sh.mask(_px(_v_opening(), size)), SHIRT_INSIDE)
    for o in (-1.0, 1.0):   # a few folds where the blouse gathers at the waist
        for dx, y0, length in ((0.105, 0.73, 0.05), (0.075, 0.75, 0.04)):
            fold = catmull_rom([(CX + o * dx, y0), (CX + o * (dx - 0.01), y0 + length)], 5)
            _line(sh, size, fold, taper(len(fold), 0.0024 * size, peak=0.3), CLOTH_LINE, 0.6)
    sh.atop(sh.edge_band(m, LINE * size), CLOTH_LINE)
    # The sailor collar: navy flaps with a white stripe along the outer edge.
    for flap, side in zip(flaps, SIDES):
        fm = sh.mask(_px(flap, size))
        sh.over(fm, NAVY)
        sh.atop(fm * (1 - sh.shifted(fm, 0, -0.01 * size)), NAVY_SHADOW)
        stripe = _collar_stripe(side)
        sh.atop(sh.mask(_px(stroke(stripe, 0.0042), size)) * fm, SHIRT)
        sh.atop(sh.edge_band(fm, LINE * size), NAVY_LINE)

    def depth(x, y):   # the chest is nearest at the centre line
        return 0.52 + 0.08 * np.clip(((x - CX) / 0.19) ** 2, 0, 1)
    return _finish(sh, size, "topwear", depth)


def _draw_neck(size: int) -> Layer:
    nx, ny = NECK_BASE
    column = _path([(CX - 0.043, 0.39), (CX + 0.043, 0.39), (CX + 0.044, 0.46),
                    (CX + nx, ny), V_TIP, (CX - nx, ny), (CX - 0.044, 0.46),
                    (CX - 0.043, 0.39)], [1, 3, 4, 5], 8)
    sh = _sheet(size, column)
    chin_shadow = _face_outline() + [0.0, 0.026]
    shade = sh.mask(_px(chin_shadow, size))
    m = sh.mask(_px(column, size))
    sh.over(m, SKIN)
    sh.atop(shade * m, SKIN_SHADOW)
    # Outline only the neck's sides; the V is edged by the collar.
    band = sh.edge_band(m, 0.0026 * size)
    x, y = sh.grid()
    sh.atop(band * (y < ny * size), SKIN_LINE)
    for o in (-1.0, 1.0):   # collarbones
        bone = catmull_rom([(CX + o * 0.012, 0.548), (CX + o * 0.03, 0.535)], 4)
        _line(sh, size, bone, taper(len(bone), 0.002 * size), SKIN_LINE, 0.5)
    return _finish(sh, size, "neck", 0.5)


def _draw_ribbon(size: int) -> Layer:
    loop_r = catmull_rom([(0.503, 0.632), (0.53, 0.614), (0.552, 0.618), (0.556, 0.642),
                          (0.536, 0.662), (0.503, 0.648)], 8, closed=True)
    loop_l = catmull_rom([(0.497, 0.632), (0.472, 0.612), (0.447, 0.617), (0.443, 0.643),
                          (0.463, 0.664), (0.497, 0.648)], 8, closed=True)
    tail_r = np.array([(0.502, 0.644), (0.512, 0.642), (0.537, 0.708), (0.526, 0.701),
                       (0.517, 0.714)])
    tail_l = np.array([(0.498, 0.644), (0.488, 0.642), (0.465, 0.716), (0.474, 0.706),
                       (0.484, 0.718)])
    knot = ellipse((0.5, 0.64), 0.011, 0.012, 32)
    sh = _sheet(size, loop_r, loop_l, tail_r, tail_l, knot)
    # Loops and tails darken towards the knot, where they fold under.
    inner = sh.mask(_px(ellipse((0.5, 0.64), 0.026, 0.03), size))
    for shape in (tail_r, tail_l, loop_r, loop_l):
        _paint_shape(sh, size, shape, RIBBON, RIBBON_LINE, 0.0026, shade=inner,
                     shade_color=RIBBON_SHADOW)
    _paint_shape(sh, size, knot, RIBBON, RIBBON_LINE, 0.0026)
    return _finish(sh, size, "neckwear", 0.47)


def _draw_ears(size: int) -> Layer:
    ear_l = catmull_rom([(0.652, 0.312), (0.672, 0.297), (0.689, 0.309), (0.686, 0.343),
                         (0.669, 0.374), (0.652, 0.386)], 8, closed=True)
    ears = [ear_l, _mirror(ear_l)]
    sh = _sheet(size, *ears)
    for ear, o in zip(ears, (1.0, -1.0)):
        _paint_shape(sh, size, ear, SKIN, SKIN_LINE, 0.0028,
                     shade=sh.mask(_px(ear + [o * 0.008, 0.004], size)), shade_color=SKIN_SHADOW)
        curl = catmull_rom([(CX + o * 0.176, 0.318), (CX + o * 0.182, 0.335),
                            (CX + o * 0.172, 0.36)], 6)
        _line(sh, size, curl, taper(len(curl), 0.0022 * size), SKIN_LINE, 0.8)
    return _finish(sh, size, "ears", 0.45)


def _draw_face(size: int) -> Layer:
    outline = _face_outline()
    sh = _sheet(size, outline)
    m = sh.mask(_px(outline, size))
    sh.over(m, SKIN)
    # The fringe casts its shape a little lower onto the forehead.
    hair = sh.mask(*[_px(s["outline"] + [0.004, 0.014], size) for s in _strands()[2:]])
    sh.atop(hair * m, SKIN_SHADOW)
    for o in (-1.0, 1.0):
        c = (CX + o * 0.098, 0.385)
        sh.atop(sh.soft_ellipse(_px(c, size), 0.034 * size, 0.014 * size), BLUSH, 0.55)
        for k in (-1, 0, 1):   # the little blush hatching of anime cheeks
            hx = c[0] + k * 0.012
            hatch = np.array([(hx + 0.004, c[1] - 0.006), (hx - 0.003, c[1] + 0.006)])
            _line(sh, size, resample(hatch, 5), taper(5, 0.0024 * size, peak=0.5),
                  BLUSH_LINE, 0.55)
    sh.atop(sh.edge_band(m, LINE * size), SKIN_LINE)

    def depth(x, y):   # a dome: nearest at the middle of the face
        r2 = ((x - CX) / 0.17) ** 2 + ((y - 0.31) / 0.19) ** 2
        return 0.33 + 0.09 * np.clip(r2, 0, 1)
    return _finish(sh, size, "face", depth)


def _draw_nose(size: int) -> Layer:
    spine = catmull_rom([(0.503, 0.384), (0.5035, 0.389), (0.5, 0.393)], 5)
    sh = _sheet(size, stroke(spine, 0.004))
    _line(sh, size, spine, taper(len(spine), 0.0032 * size, start=0.2, peak=0.7), SKIN_LINE)
    return _finish(sh, size, "nose", 0.30)


def _draw_mouth_close(size: int) -> Layer:
    spine = _mouth_close_spine()
    sh = _sheet(size, stroke(spine, 0.006))
    _line(sh, size, spine, taper(len(spine), 0.0034 * size, start=0.3, end=0.3), MOUTH_LINE)
    return _finish(sh, size, "mouth", 0.29, variant="mouth_close")


def _draw_mouth_open(size: int) -> Layer:
    outline = _mouth_open_outline()
    sh = _sheet(size, outline)
    m = sh.mask(_px(outline, size))
    sh.over(m, MOUTH_INSIDE)
    sh.atop(sh.mask(_px(ellipse((0.5, 0.442), 0.0125, 0.0095), size)) * m, TONGUE)
    sh.atop(sh.edge_band(m, 0.0024 * size), MOUTH_LINE)
    return _finish(sh, size, "mouth", 0.29, variant="mouth_open")


def _draw_eyewhite(size: int, side: str) -> Layer:
    e = _eye(side)
    sh = _sheet(size, e["opening"])
    m = sh.mask(_px(e["opening"], size))
    sh.over(m, EYEWHITE)
    # The upper lid shades the top of the eyeball.
    sh.atop(m * (1 - sh.shifted(m, 0, 0.012 * size)), EYEWHITE_SHADOW)
    sh.atop(sh.edge_band(m, 0.0018 * size), EYEWHITE_LINE)
    return _finish(sh, size, "eyewhite", 0.285 if side == "r" else 0.28, side=side)


def _draw_iris(size: int, side: str) -> Layer:
    e = _eye(side)
    (cx, cy), (rx, ry) = e["iris_c"], e["iris_r"]
    shape = ellipse((cx, cy), rx, ry, 96)
    sh = _sheet(size, shape)
    m = sh.mask(_px(shape, size))
    # A dark cel band under the lid, then a gradient brightening towards the bottom.
    x, y = sh.grid()
    t = np.clip((y / size - (cy - ry)) / (2 * ry), 0, 1)
    ramp = np.where(t < 0.3, 0.0, 0.25 + 0.75 * np.clip((t - 0.3) / 0.6, 0, 1))
    top, bottom = np.asarray(IRIS_TOP, np.float32), np.asarray(IRIS_BOTTOM, np.float32)
    sh.over(m, top + (bottom - top) * ramp[..., None])
    glow = sh.mask(_px(ellipse((cx, cy + 0.52 * ry), 0.7 * rx, 0.34 * ry), size))
    sh.atop(glow, IRIS_GLOW, 0.7)
    sh.atop(sh.mask(_px(ellipse((cx, cy + 0.05 * ry), 0.42 * rx, 0.45 * ry), size)), PUPIL)
    sh.atop(sh.edge_band(m, 0.0032 * size), IRIS_RING)
    # Highlights: the same light for both eyes, from the upper left.
    sh.atop(sh.mask(_px(ellipse((cx - 0.35 * rx, cy - 0.32 * ry), 0.34 * rx, 0.26 * ry, 48,
                                -20), size)), (255, 255, 255))
    sh.atop(sh.mask(_px(ellipse((cx + 0.42 * rx, cy + 0.36 * ry), 0.13 * rx, 0.11 * ry, 32),
                        size)), (255, 255, 255))
    return _finish(sh, size, "irides", 0.275, side=side)


def _draw_eyelash(size: int, side: str) -> Layer:
    e = _eye(side)
    upper, lower, pts = e["upper"], e["lower"], e["pts"]
    n = len(upper)
    thick = taper(n, 0.0105, start=0.4, end=0.8, peak=0.7)
    # The lash band sits on the upper lid line, mostly above it, covering the iris's top.
    lash = np.vstack([upper + np.stack([np.zeros(n), -thick], 1),
                      (upper + [0.0, 0.0018])[::-1]])
    # The lash line runs past the outer corner into a small wing, with one longer lash.
    wing = _path(pts([(0.028, -0.028), (0.05, -0.025), (0.067, -0.019), (0.053, -0.010),
                      (0.044, -0.001)]), [2])
    lash_spine = catmull_rom(pts([(0.036, -0.026), (0.049, -0.031), (0.059, -0.038)]), 6)
    spikes = [stroke(lash_spine, taper(len(lash_spine), 0.0042, start=1.0, peak=0.0))]
    low = lower[: int(len(lower) * 0.55)]
    low_band = stroke(low + [0.0, 0.0008], taper(len(low), 0.0034, start=0.9, end=0.0, peak=0.2))
    crease_src = upper[int(n * 0.38): int(n * 0.95)] + [0.0, -0.017]
    crease = stroke(crease_src, taper(len(crease_src), 0.0019, peak=0.5))
    sh = _sheet(size, lash, wing, *spikes, low_band, crease)
    sh.over(sh.mask(_px(crease, size)), SKIN_LINE, 0.8)
    sh.over(sh.mask(_px(low_band, size)), LOWER_LASH)
    sh.over(sh.mask(*[_px(p, size) for p in (lash, wing, *spikes)]), LASH)
    return _finish(sh, size, "eyelash", 0.265, side=side)


def _draw_eye_close(size: int, side: str) -> Layer:
    e = _eye(side)
    pts, y_close = e["pts"], e["closing_y"] - EYE_Y
    # A relaxed downward curve along the lower lid, lashes flicking at the outer corner.
    curve = catmull_rom(pts([(-0.041, y_close - 0.014), (-0.018, y_close - 0.002),
                             (0.004, y_close + 0.0015), (0.027, y_close - 0.004),
                             (0.049, y_close - 0.017)]), 10)
    line = stroke(curve, taper(len(curve), 0.0075, start=0.3, end=0.5, peak=0.65))
    lashes = [pts([(0.036, y_close - 0.010), (0.050, y_close + 0.000), (0.043, y_close - 0.013)]),
              pts([(0.044, y_close - 0.014), (0.060, y_close - 0.010), (0.049, y_close - 0.019)])]
    sh = _sheet(size, line, *lashes)
    sh.over(sh.mask(*[_px(p, size) for p in (line, *lashes)]), LASH)
    return _finish(sh, size, "eyelash", 0.265, side=side, variant="eye_close")


def _draw_eyebrow(size: int, side: str) -> Layer:
    spine = _brow_spine(side)
    shape = stroke(spine, _brow_widths(len(spine)))
    sh = _sheet(size, shape)
    sh.over(sh.mask(_px(shape, size)), BROW)
    return _finish(sh, size, "eyebrow", 0.255 if side == "r" else 0.25, side=side)


def _draw_front_hair(size: int, index: int, strand: dict) -> Layer:
    outline = strand["outline"]
    sh = _sheet(size, outline)
    m = sh.mask(_px(outline, size)) * sh.mask(_px(_hair_volume(), size))
    sh.over(m, HAIR)
    # Cel shadow along the lock's lower edges (the lock shifted up, towards its root).
    tx = strand["tip"][0] - CX
    shade = m * (1 - sh.shifted(m, -np.sign(tx) * 0.005 * size, -0.018 * size))
    sh.atop(shade, HAIR_SHADOW)
    # The glossy "angel ring" across the crown, with a jagged lower edge.
    shine_top = arc(HEAD_C, 0.160, -64, 64, 40)
    teeth = arc(HEAD_C, 0.130, 64, -64, 25)
    teeth[1::2] = HEAD_C + (teeth[1::2] - np.asarray(HEAD_C)) * 1.1
    sh.atop(sh.mask(_px(joined(shine_top, teeth), size)) * m, HAIR_SHINE)
    for points in strand["lines"]:   # strand texture, from a notch up towards the root
        spine = catmull_rom(points, 8)
        sh.atop(sh.mask(stroke(_px(spine, size), taper(len(spine), 0.0024 * size, start=0.6,
                                                             peak=0.2))), HAIR_LINE, 0.7)
    # Outline, fading out towards the crown where the locks crowd together.
    band = sh.edge_band(m, LINE * size)
    x, y = sh.grid()
    crown = np.hypot(x / size - HEAD_C[0], y / size - (HEAD_C[1] - HAIR_R))
    sh.atop(band * np.clip((crown - 0.03) / 0.08, 0.15, 1.0), HAIR_LINE)
    return _finish(sh, size, "front hair", strand["depth"], group=index)


# ----------------------------------------------------------------------------------- public

def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise InputError(f"size must be a whole number of pixels, not {size!r}")
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise InputError(f"size {size} is out of range: choose between {MIN_SIZE} and {MAX_SIZE} "
                         f"pixels")
    return int(size)


def _draw(size: int) -> Character:
    layers = [_draw_back_hair(size)]
    layers += [_draw_arm(size, s) for s in SIDES]
    layers += [_draw_skirt(size), _draw_topwear(size), _draw_neck(size), _draw_ribbon(size),
               _draw_ears(size), _draw_face(size), _draw_nose(size), _draw_mouth_close(size),
               _draw_mouth_open(size)]
    layers += [_draw_eyewhite(size, s) for s in SIDES]
    layers += [_draw_iris(size, s) for s in SIDES]
    layers += [_draw_eyelash(size, s) for s in SIDES]
    layers += [_draw_eye_close(size, s) for s in SIDES]
    layers += [_draw_eyebrow(size, s) for s in SIDES]
    layers += [_draw_front_hair(size, i, s) for i, s in enumerate(_strands(), start=1)]
    return Character(size=(size, size), layers=layers, source="examples.character")


@functools.lru_cache(maxsize=4)
def _draw_cached(size: int) -> Character:
    return _draw(size)


def draw_example_character(size: int = 1024) -> Character:
    """The example character on a ``size`` x ``size`` canvas, layers in drawing order.

    Deterministic; memoised per size in this process (each call returns an independent copy).
    """
    return copy.deepcopy(_draw_cached(_check_size(size)))


def example_geometry(size: int = 1024) -> dict:
    """Where things are on the example character, in canvas pixels (known answers for tests).

    Sides in dicts are the character's ('l' is on the image's right). Pairs of points
    (``mouth_corners``, ``shoulders``) are image-left first. ``front_hair_strand_tips`` has
    one tip per ``front hair_N`` layer, in layer order.
    """
    size = _check_size(size)

    def p(pt) -> tuple[float, float]:
        return (float(pt[0] * size), float(pt[1] * size))

    face = _face_outline()
    fx0, fy0, fx1, fy1 = bounds(face)
    mouth = _mouth_close_spine()
    mouth_c = mouth[len(mouth) // 2]
    eyes = {s: _eye(s) for s in ("l", "r")}
    eye_y = 0.5 * (eyes["l"]["center"][1] + eyes["r"]["center"][1])
    face_c = (CX, 0.5 * (eye_y + float(mouth_c[1])))
    brows = {}
    for s in ("l", "r"):
        bx0, by0, bx1, by1 = bounds(stroke(_brow_spine(s), _brow_widths(len(_brow_spine(s)))))
        brows[s] = p(((bx0 + bx1) / 2, (by0 + by1) / 2))
    # Shoulder joints: where the arms hang from, under the blouse's shoulder seams.
    shoulders = (p((CX - 0.164, 0.562)), p((CX + 0.164, 0.562)))
    skirt = _skirt()
    sk = bounds(skirt["outline"])
    return {
        "neck_pivot": p((CX, fy1 - 0.05 * (fy1 - fy0))),
        "face_center": p(face_c),
        "face_size": (float((fx1 - fx0) * size), float((fy1 - fy0) * size)),
        "eye_center": {s: p(e["center"]) for s, e in eyes.items()},
        "iris_center": {s: p(e["iris_c"]) for s, e in eyes.items()},
        "eye_closing_y": {s: float(e["closing_y"] * size) for s, e in eyes.items()},
        "brow_center": brows,
        "mouth_center": p(mouth_c),
        "mouth_corners": (p(mouth[0]), p(mouth[-1])),
        "shoulders": shoulders,
        "hip": p((CX, sk[1] + 0.15 * (sk[3] - sk[1]))),
        "front_hair_strand_tips": [p(s["tip"]) for s in _strands()],
    }


def write_example_psd(path: str | os.PathLike, size: int = 1024) -> None:
    """Write the example character as a See-through-convention layered PSD."""
    from seethrough_core.psd_write import write_psd   # written in parallel; imported on use

    write_psd(draw_example_character(size), path)


def _write_preview(character: Character, path: Path) -> None:
    """The rest pose as a PNG, written beside ``path`` first and renamed into place."""
    from PIL import Image

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        Image.fromarray(character.rest_composite(), "RGBA").save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.character",
                                     description="Write the procedurally drawn example character "
                                                 "as a layered PSD.")
    parser.add_argument("out", type=Path, help="PSD file to write")
    parser.add_argument("--size", type=int, default=1024, help="canvas size in pixels")
    parser.add_argument("--preview", type=Path, help="also write the composite as a PNG")
    args = parser.parse_args(argv)
    try:
        for target in (args.out, args.preview):
            if target is not None and not target.parent.resolve().is_dir():
                raise InputError(f"folder {target.parent} does not exist: create it or choose "
                                 f"another output path")
        character = draw_example_character(args.size)
        # write_psd renames each file into place itself (and writes the See-through sidecars).
        from seethrough_core.psd_write import write_psd
        write_psd(character, args.out)
        if args.preview is not None:
            _write_preview(character, args.preview)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
