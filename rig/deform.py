"""Deformers: documented maps from parameter values to vertex (handle) targets. Pure numpy.

A vertex goes through two stages each frame, like a Live2D art mesh under its parent deformers:

1. **Local**, in the rest frame of the head or body: expression deformers move the vertices of
   eyes, brows and mouth; spring-chain layers are bent by ARAP through their chain particles.
2. **Global warp**, shared by every vertex and driven by the angles:

   * Head turn (ParamAngleX, yaw θ) and pitch (ParamAngleY, φ): every head vertex has a height
     ``z`` above the plane through the head centre C (the face is a dome, features sit rigidly on
     it, front hair floats above it, back hair lies behind). The point (dx, dy, z) relative to C is
     rotated in 3D and projected orthographically::

         x1 = dx cosθ + z sinθ          z1 = -dx sinθ + z cosθ
         y2 = dy cosφ - z1 sinφ         (screen y points down; + pitch looks up)

     so near layers move more than far ones (parallax from pseudo-depth) and the face surface
     wraps like a sphere.
   * Roll (ParamAngleZ, ψ): rotation of the head about the neck pivot P, + tilting the top of the
     head toward the screen's right.
   * Head weight ``w_head`` blends the head motion with the body's: 1 on the head, falling to 0
     down the neck, so the neck stretches smoothly instead of tearing.
   * Body turn (ParamBodyAngleX) rotates body vertices about the vertical body axis with their
     body height ``z_body`` (a cylinder); lean (ParamBodyAngleY) tips the upper body about the
     hip; sway (ParamBodyAngleZ) bends it about the hip, the angle growing with ``w_body``
     (0 at the hip, 1 from the chest up); breath (ParamBreath) lifts vertices by ``w_breath``.

Expression deformers (stage 1), each a per-vertex map precomputed into arrays at build time:

* Eyes (ParamEyeLOpen/ROpen = o): eyewhite vertices above the closing line y_c(x) (a quadratic
  through the eyewhite's lower edge) move to ``y_c + (y - y_c) o``; upper-lash vertices drop by
  ``(1 - o) (y_c(x) - y_top(x))`` so the lash line lands on the closing line; lower-lid vertices
  stay. When ``eye_close`` art exists, it fades in as o falls from 0.15 to 0.03 while the
  open-eye art fades out.
* Gaze (ParamEyeBallX/Y): irides translate by (X g_x, -Y g_y), g from the free space inside the
  eyewhite; the renderer clips irides to the eyewhite so they never leave it.
* Brows (ParamBrowLY/RY = b): translate by -b a (a = 40 % of the eye height) and drop slightly
  as the eye closes.
* Mouth (ParamMouthOpenY = m, ParamMouthForm = f): ``mouth_close`` art shows for m < 0.1 and
  ``mouth_open`` art for m > 0.3 (cross-faded between); open art scales vertically about its top
  edge by 0.3 + 0.7 m; both bend their corners up by f (a parabola in x). A single plain
  ``mouth`` layer instead drops its lower half by m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class FrameState:
    """Per-frame constants of the global warp, computed once from the parameter values."""

    cos_yaw: float = 1.0
    sin_yaw: float = 0.0
    cos_pitch: float = 1.0
    sin_pitch: float = 0.0
    cos_roll: float = 1.0
    sin_roll: float = 0.0
    body_cos_yaw: float = 1.0
    body_sin_yaw: float = 0.0
    body_lean: float = 0.0        # radians, + leans back
    body_sway: float = 0.0        # radians, + toward the screen's right
    breath: float = 0.0           # pixels of lift at w_breath = 1


def frame_state(angle_x: float, angle_y: float, angle_z: float, body_x: float, body_y: float,
                body_z: float, breath: float, breath_amplitude: float) -> FrameState:
    yaw, pitch, roll = (math.radians(a) for a in (angle_x, angle_y, angle_z))
    byaw = math.radians(body_x)
    return FrameState(math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                      math.cos(roll), math.sin(roll), math.cos(byaw), math.sin(byaw),
                      math.radians(body_y), math.radians(body_z), breath * breath_amplitude)


@dataclass
class WarpGeometry:
    """Where the warp pivots: head centre, neck pivot, body axis and hip."""

    head_center: tuple[float, float]
    neck_pivot: tuple[float, float]
    body_center_x: float
    hip: tuple[float, float]


@dataclass
class WarpAttributes:
    """Per-vertex binding of the global warp, (V,) float arrays."""

    w_head: np.ndarray
    z_head: np.ndarray
    z_body: np.ndarray
    w_body: np.ndarray
    w_breath: np.ndarray

    @classmethod
    def empty(cls, n: int = 0) -> "WarpAttributes":
        return cls(*(np.zeros(n, np.float64) for _ in range(5)))

    @classmethod
    def concat(cls, items: list["WarpAttributes"]) -> "WarpAttributes":
        if not items:
            return cls.empty()
        return cls(*(np.concatenate([getattr(a, f) for a in items]).astype(np.float64)
                     for f in ("w_head", "z_head", "z_body", "w_body", "w_breath")))


def global_warp(points: np.ndarray, attrs: WarpAttributes, geo: WarpGeometry,
                fs: FrameState, out: np.ndarray) -> np.ndarray:
    """Apply head turn/pitch/roll and body turn/lean/sway/breath to (V, 2) points (see module doc)."""
    x = points[:, 0]
    y = points[:, 1]
    hcx, hcy = geo.head_center
    px, py = geo.neck_pivot

    # Head: 3D rotation about the head centre, then roll about the neck pivot.
    dx = x - hcx
    dy = y - hcy
    z = attrs.z_head
    x1 = dx * fs.cos_yaw + z * fs.sin_yaw
    z1 = z * fs.cos_yaw - dx * fs.sin_yaw
    y2 = dy * fs.cos_pitch - z1 * fs.sin_pitch
    hx = x1 + (hcx - px)
    hy = y2 + (hcy - py)
    xr = px + hx * fs.cos_roll - hy * fs.sin_roll
    yr = py + hx * fs.sin_roll + hy * fs.cos_roll
    w = attrs.w_head
    bx = x + w * (xr - x)
    by = y + w * (yr - y)

    # Body: turn about the vertical axis (cylinder heights), breath, then lean and sway about
    # the hip with an angle growing up the torso.
    bcx = geo.body_center_x
    hipx, hipy = geo.hip
    wb = attrs.w_body
    zb = attrs.z_body
    bdx = bx - bcx
    bx = bcx + bdx + wb * (bdx * (fs.body_cos_yaw - 1.0) + zb * fs.body_sin_yaw)
    by = by - fs.breath * attrs.w_breath
    # Body angles stay within +-10 degrees (0.175 rad): cos and sin of the per-vertex angles are
    # Taylor polynomials, exact to 4e-5 relative there and much cheaper than np.cos/np.sin.
    if fs.body_lean != 0.0:
        # Leaning back lifts the chest toward the viewer: a foreshortening of heights above the
        # hip plus a small shift of near points upward.
        lean = fs.body_lean * wb
        c, s = _cos_sin_small(lean)
        by = hipy + (by - hipy) * c - zb * s
    if fs.body_sway != 0.0:
        ang = fs.body_sway * wb
        c, s = _cos_sin_small(ang)
        rx, ry = bx - hipx, by - hipy
        bx = hipx + rx * c - ry * s
        by = hipy + rx * s + ry * c
    out[:, 0] = bx
    out[:, 1] = by
    return out


def _cos_sin_small(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a2 = a * a
    return 1.0 - a2 * (0.5 - a2 * (1.0 / 24.0)), a * (1.0 - a2 * (1.0 / 6.0 - a2 * (1.0 / 120.0)))


def local_affine(rest_points: np.ndarray, warped_probe: np.ndarray) -> np.ndarray:
    """(C, 2, 3) affine maps A with A [r; 1] = warp(r) near each rest point r (C, 2), from the
    warped probes (C, 3, 2) of r, r + (1, 0) and r + (0, 1)."""
    p0 = warped_probe[:, 0]
    ex = warped_probe[:, 1] - p0
    ey = warped_probe[:, 2] - p0
    out = np.empty((len(p0), 2, 3))
    out[:, :, 0] = ex
    out[:, :, 1] = ey
    out[:, :, 2] = p0 - ex * rest_points[:, :1] - ey * rest_points[:, 1:2]
    return out


def smoothstep(e0: float, e1: float, x: np.ndarray | float) -> np.ndarray | float:
    span = np.asarray(e1, dtype=np.float64) - e0
    # Where the two edges meet there is no ramp, only a step.
    span = np.where(np.abs(span) < 1e-12, 1e-12, span)
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / span, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _smoothstep_scalar(e0: float, e1: float, x: float) -> float:
    t = min(max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def eye_close_fade(openness: float) -> float:
    """Weight of the eye_close art: 0 above 15 % open, 1 below 3 %. Until then the open eye
    closes by itself (its lash near the lower lid, a sliver of iris under it), as a drawn
    half-closed eye looks; faded in from 30 % open, the closed art lay over the still open
    eye as a pale veil and a double lash line through a fifth of the blink."""
    return _smoothstep_scalar(0.15, 0.03, float(openness))


def mouth_open_fade(opening: float) -> float:
    """Weight of the mouth_open art: 0 below 10 % open, 1 above 30 %."""
    return _smoothstep_scalar(0.1, 0.3, float(opening))
