"""Checking a rig file's document before anything is built from it.

A .rig may come from anywhere: every field of ``rig.json`` is checked here for its type, for
being finite and for a sensible range, and references between parts (a layer's ``clip_to``, a
chain's layer) must point at something that exists. Each check raises ``ValueError`` naming the
field; the loader turns that into one line naming the file. Pure functions over the parsed
JSON; the zip, PNG and .npy limits live with the reader in :mod:`rig.rigfile`.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from seethrough_core import taxonomy

from . import springs
from .anchors import Anchors, EyeAnchor
from .chains import ChainSpec
from .params import STANDARD_PARAMS, ParamSpec

MAX_CANVAS = 16384            # px per side
COORD_LIMIT = 4 * MAX_CANVAS  # any position, offset or size in px
PARAM_LIMIT = 1e4             # parameter ranges
MAX_CHAIN_POINTS = 1024
MAX_CHAINS = 1024
MAX_PARAMS = 1024
MAX_TEXT = 1024               # characters in a name, tag or description
MESH_DENSITY_RANGE = (0.05, 20.0)


# ------------------------------------------------------------------------------ primitives

def number(value: Any, what: str, lo: float = -COORD_LIMIT, hi: float = COORD_LIMIT) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {_kind(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {v}")
    if not lo <= v <= hi:
        raise ValueError(f"{what} must lie in {lo:g}..{hi:g}, got {v:g}")
    return v


def integer(value: Any, what: str, lo: int, hi: int) -> int:
    v = number(value, what, lo, hi)
    if v != int(v):
        raise ValueError(f"{what} must be a whole number, got {v:g}")
    return int(v)


def text(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} characters")
    return value


def point(value: Any, what: str, lo: float = -COORD_LIMIT, hi: float = COORD_LIMIT,
          n: int = 2) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"{what} must be a list of {n} numbers, got {_kind(value)}")
    return tuple(number(v, f"{what}[{i}]", lo, hi) for i, v in enumerate(value))


def optional_point(value: Any, what: str, lo: float = -COORD_LIMIT,
                   hi: float = COORD_LIMIT) -> tuple[float, float] | None:
    return None if value is None else point(value, what, lo, hi)


def mapping(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object, got {_kind(value)}")
    return value


def sequence(value: Any, what: str, limit: int) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, got {_kind(value)}")
    if len(value) > limit:
        raise ValueError(f"{what} has {len(value)} entries, more than {limit}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ---------------------------------------------------------------------------------- fields

def canvas_size(value: Any) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("size must be [W, H]")
    return (integer(value[0], "size[0]", 1, MAX_CANVAS), integer(value[1], "size[1]", 1, MAX_CANVAS))


def anchors(value: Any) -> Anchors:
    d = mapping(value, "anchors")
    positive = (1e-3, COORD_LIMIT)
    eyes = {}
    for side, eye in mapping(d.get("eyes", {}), "anchors.eyes").items():
        if side not in ("l", "r"):
            raise ValueError(f"anchors.eyes: unknown side {side!r}")
        e = mapping(eye, f"anchors.eyes.{side}")
        w = f"anchors.eyes.{side}"
        eyes[side] = EyeAnchor(
            center=point(_need(e, "center", w), f"{w}.center"),
            size=point(_need(e, "size", w), f"{w}.size", *positive),
            closing_line=list(point(_need(e, "closing_line", w), f"{w}.closing_line",
                                    -1e6, 1e6, n=3)),
            top_line=list(point(_need(e, "top_line", w), f"{w}.top_line", -1e6, 1e6, n=3)),
            x_range=point(_need(e, "x_range", w), f"{w}.x_range"),
            iris_center=point(_need(e, "iris_center", w), f"{w}.iris_center"),
            iris_size=point(_need(e, "iris_size", w), f"{w}.iris_size", 0.0, COORD_LIMIT),
            brow_center=optional_point(e.get("brow_center"), f"{w}.brow_center"),
            brow_size=optional_point(e.get("brow_size"), f"{w}.brow_size", 0.0, COORD_LIMIT))
    corners = d.get("mouth_corners")
    shoulders = d.get("shoulders")
    return Anchors(
        canvas=point(_need(d, "canvas", "anchors"), "anchors.canvas", 1, MAX_CANVAS),
        face_center=point(_need(d, "face_center", "anchors"), "anchors.face_center"),
        face_size=point(_need(d, "face_size", "anchors"), "anchors.face_size", *positive),
        head_center=point(_need(d, "head_center", "anchors"), "anchors.head_center"),
        head_radius=number(_need(d, "head_radius", "anchors"), "anchors.head_radius", *positive),
        neck_pivot=point(_need(d, "neck_pivot", "anchors"), "anchors.neck_pivot"),
        eyes=eyes,
        mouth_center=optional_point(d.get("mouth_center"), "anchors.mouth_center"),
        mouth_corners=None if corners is None else _pair(corners, "anchors.mouth_corners"),
        mouth_size=optional_point(d.get("mouth_size"), "anchors.mouth_size", 0.0, COORD_LIMIT),
        shoulders=None if shoulders is None else _pair(shoulders, "anchors.shoulders"),
        hip=optional_point(d.get("hip"), "anchors.hip"),
        body_center_x=number(d.get("body_center_x", 0.0), "anchors.body_center_x"))


def _pair(value: Any, what: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{what} must be two points")
    return (point(value[0], f"{what}[0]"), point(value[1], f"{what}[1]"))


def _need(d: dict, key: str, what: str):
    if key not in d:
        raise ValueError(f"{what}.{key} is missing")
    return d[key]


def parameters(value: Any) -> tuple[ParamSpec, ...]:
    """The rig's parameters; standard ones it leaves out get their standard ranges (an old or
    hand-made rig still poses)."""
    out: dict[str, ParamSpec] = {}
    for i, p in enumerate(sequence(value, "parameters", MAX_PARAMS)):
        p = mapping(p, f"parameters[{i}]")
        pid = text(_need(p, "id", f"parameters[{i}]"), f"parameters[{i}].id")
        w = f"parameter {pid}"
        lo = number(_need(p, "min", w), f"{w} min", -PARAM_LIMIT, PARAM_LIMIT)
        hi = number(_need(p, "max", w), f"{w} max", -PARAM_LIMIT, PARAM_LIMIT)
        if not lo < hi:
            raise ValueError(f"{w}: min {lo:g} must be below max {hi:g}")
        default = number(_need(p, "default", w), f"{w} default", lo, hi)
        if pid in out:
            raise ValueError(f"{w} is listed twice")
        out[pid] = ParamSpec(pid, lo, hi, default,
                             text(p.get("description", ""), f"{w} description") or "")
    for std in STANDARD_PARAMS:
        out.setdefault(std.id, std)
    return tuple(out.values())


def layer_fields(d: Any, i: int, n_layers: int) -> dict:
    """The plain fields of layer ``i`` (texture and mesh are read by the loader)."""
    d = mapping(d, f"layer {i}")
    w = f"layer {i}"
    side = d.get("side")
    if side not in (None, "l", "r"):
        raise ValueError(f"{w}: side must be \"l\", \"r\" or null, got {side!r}")
    variant = d.get("variant")
    if variant is not None and variant not in taxonomy.VARIANTS:
        raise ValueError(f"{w}: unknown variant {variant!r}")
    clip = d.get("clip_to")
    offset = d.get("offset", [0, 0])
    if not isinstance(offset, (list, tuple)) or len(offset) != 2:
        raise ValueError(f"{w}: offset must be [x, y]")
    return dict(
        name=text(_need(d, "name", w), f"{w} name"),
        tag=text(_need(d, "tag", w), f"{w} tag"),
        side=side,
        stratum=None if d.get("stratum") is None else integer(d["stratum"], f"{w} stratum", 0, 64),
        group=None if d.get("group") is None else integer(d["group"], f"{w} group", 0, 1 << 20),
        variant=variant,
        offset=(integer(offset[0], f"{w} offset[0]", -COORD_LIMIT, COORD_LIMIT),
                integer(offset[1], f"{w} offset[1]", -COORD_LIMIT, COORD_LIMIT)),
        depth=None if d.get("depth") is None else number(d["depth"], f"{w} depth", 0.0, 1.0),
        clip_to=None if clip is None else _clip(clip, i, n_layers, w))


def _clip(value: Any, i: int, n_layers: int, what: str) -> int:
    c = integer(value, f"{what} clip_to", 0, max(n_layers - 1, 0))
    if c == i:
        raise ValueError(f"{what} clip_to names the layer itself")
    return c


def chains(value: Any, n_layers: int) -> list[ChainSpec]:
    out = []
    for i, c in enumerate(sequence(value, "chains", MAX_CHAINS)):
        c = mapping(c, f"chain {i}")
        w = f"chain {i}"
        rest = sequence(_need(c, "rest", w), f"{w} rest", MAX_CHAIN_POINTS)
        if len(rest) < 2:
            raise ValueError(f"{w} rest needs at least 2 points")
        pts = np.array([point(p, f"{w} rest[{k}]") for k, p in enumerate(rest)], np.float64)
        attach = c.get("attach", "head")
        if attach not in ("head", "body"):
            raise ValueError(f"{w} attach must be \"head\" or \"body\", got {attach!r}")
        out.append(ChainSpec(text(_need(c, "name", w), f"{w} name"),
                             text(_need(c, "group", w), f"{w} group"),
                             integer(_need(c, "layer", w), f"{w} layer", 0, max(n_layers - 1, 0)),
                             pts, attach))
        if n_layers == 0:
            raise ValueError(f"{w} names a layer, but the rig has none")
    return out


def physics(value: Any) -> dict[str, springs.ChainParams]:
    return {text(g, "physics group"): springs.ChainParams.from_dict(mapping(p, f"physics.{g}"))
            for g, p in mapping(value, "physics").items()}


def mesh_density(value: Any) -> float:
    return number(value, "mesh_density", *MESH_DENSITY_RANGE)
