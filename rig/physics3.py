"""Live2D Cubism physics files (``*.physics3.json``) to and from our chain tuning.

A physics3.json holds *physics settings*. Each is a pendulum: a row of vertices hanging from a
root (vertex 0, pinned to the head/body motion given by its inputs), vertex i at ``Radius_i``
from vertex i-1. Per vertex, ``Mobility`` (0..1) is how freely it moves (1: it keeps its own
motion in the world, lower: it follows its parent more), ``Delay`` (0..1) scales its time step
(lower: slower response) and ``Acceleration`` scales the forces on it: ``EffectiveForces``
Gravity (a unit direction, default (0, -1): down, Live2D's y points up) and Wind. The outputs say
which parameter the pendulum drives (``ParamHairFront`` ...); that is how a setting finds our
chain group (by its output ids, then by its name in ``Meta.PhysicsDictionary``).

Our chains (rig.springs) are shape-matching springs with inertia, not pendulums, so a setting
is mapped by matching what a viewer sees. With the non-root vertices' means weighted by their
radii (m: Mobility, d: Delay, a: Acceleration), L = the sum of the radii (Live2D's length
units), R1 = the first radius, F = Meta.Fps (60 where absent) and forces (gx, gy), (wx, wy):

* inertia = m. Mobility has the meaning of our inertia: the share of a vertex's motion kept in
  the world while its root moves.
* swing frequency f = d * sqrt(G / L) / (2 pi) Hz: a simple pendulum of the chain's length
  under standard gravity G = ``PENDULUM_GRAVITY`` (length units / s^2) on a clock slowed by
  Delay. Live2D fixes no length unit; G puts a fringe of radius 3 at Delay 0.9 at 3 Hz, the
  mean swing of our default front hair.
* profile: the first segment swings as a pendulum of its own length, the tip as one of the
  whole length, so tip/root stiffness = rho = sqrt(R1 / L) (1 for a single segment, a rigid
  pendulum). Only stiffness times the profile matters physically; the root multiplier is
  fixed at ``ROOT_PROFILE`` (what all our group defaults use): root_stiffness = 1.5,
  tip_stiffness = 1.5 rho, and stiffness puts the mean of the root and tip springs at f:
  stiffness = f / (STIFFNESS_HZ * 1.5 * (1 + rho) / 2).
* damping = ``DAMPING_FLOOR`` - F ln d (per second): a vertex that covers only d of its motion
  each step loses the rest of its velocity; the floor stops Delay 1 from ringing forever.
* gravity = ``GRAVITY_PX`` * a * (-gy) px/s^2 (Acceleration scales the applied forces only;
  our restoring force is the spring), wind = ``GRAVITY_PX`` * a * (wx + gx) (a sideways
  gravity is a steady wind to us), wind_gust = 0 (Live2D has no gusts).

All of these are monotone: more Mobility -> more inertia, more Delay -> faster and less damped,
longer chain -> slower, more Acceleration -> more gravity. Several settings mapping to one group
are averaged field by field, weighted by their output weights. Exporting inverts the mapping
exactly (one setting per group, one or more segments), except for what physics3 cannot say:
gusts, one wind for all groups, a tip stiffer than the root, negative gravity, damping below
the floor. Round trip: inertia, damping, gravity, wind and stiffness x profile come back; the
root multiplier comes back as 1.5 (the physics is unchanged).

Not mapped (reported as notes): bust settings (we have no bust chains), outputs naming no chain
group, inputs other than the head and body angles (our chains follow the head and body),
Reflect flags, Normalization ranges and output scales (they scale the driven parameter, which
our chains do not use).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from seethrough_core.character import InputError

PHYSICS3_VERSION = 3
DEFAULT_FPS = 60.0            # steps per second where Meta.Fps is absent (one per frame)
PENDULUM_GRAVITY = 1300.0     # Live2D length units / s^2: the pendulum's standard gravity
GRAVITY_PX = 800.0            # px/s^2 at the reference head size per unit of Acceleration
DAMPING_FLOOR = 1.0           # 1/s: damping at Delay 1
ROOT_PROFILE = 1.5            # root_stiffness of imported groups (that of our group defaults)
MIN_DELAY = 0.01              # Delay 0 would damp infinitely
MIN_PROFILE_RATIO = 0.1       # tip/root stiffness written at least (a first segment > 0)
MIN_FREQUENCY = 0.05          # Hz written at least (a finite chain length)
BUST = "bust"                 # group_for's answer for bust physics (we have no bust chains)

# Limits on hostile files: far above what Cubism Editor writes, far below what hurts.
MAX_SETTINGS = 1024
MAX_ITEMS = 256               # inputs, outputs, vertices per setting; dictionary entries x 4
MAX_ID_LENGTH = 256
_INPUT_TYPES = ("X", "Y", "Angle")
# Inputs our chains follow: the head and body angles (Cubism 3 and Cubism 2 spellings).
_FOLLOWED_INPUTS = {"paramanglex", "paramangley", "paramanglez", "parambodyanglex",
                    "parambodyangley", "parambodyanglez"}
# physics3 output id per group on export (other groups: Param + the group name, camel-cased).
EXPORT_IDS = {"front hair": "ParamHairFront", "side hair": "ParamHairSide",
              "back hair": "ParamHairBack"}
# Live2D's own templates: X-type inputs from angle X, Angle-type from angle Z, head over body.
EXPORT_INPUTS = (("ParamAngleX", 60.0, "X"), ("ParamAngleZ", 60.0, "Angle"),
                 ("ParamBodyAngleX", 40.0, "X"), ("ParamBodyAngleZ", 40.0, "Angle"))
EXPORT_OUTPUT_SCALE = 1.5     # typical: a swing of about 40 degrees drives the parameter to 1
EXPORT_NORMALIZATION = {"Position": {"Minimum": -10.0, "Default": 0.0, "Maximum": 10.0},
                        "Angle": {"Minimum": -10.0, "Default": 0.0, "Maximum": 10.0}}


# ------------------------------------------------------------------------------ plain data

@dataclass(frozen=True)
class Vertex:
    x: float
    y: float
    mobility: float
    delay: float
    acceleration: float
    radius: float


@dataclass(frozen=True)
class Port:
    """One input or output of a setting."""
    id: str
    weight: float
    type: str
    reflect: bool


@dataclass(frozen=True)
class Setting:
    id: str
    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    vertices: tuple[Vertex, ...]


@dataclass(frozen=True)
class Physics3:
    settings: tuple[Setting, ...]
    gravity: tuple[float, float]      # EffectiveForces, Live2D space (y up)
    wind: tuple[float, float]
    fps: float
    notes: tuple[str, ...]            # what parsing noticed (inconsistent counts ...)


def is_physics3(doc) -> bool:
    """The document looks like a physics3.json (rather than our physics format)."""
    return isinstance(doc, dict) and "PhysicsSettings" in doc


# ------------------------------------------------------------------------------ validation

class _Bad(Exception):
    """A validation failure inside the file; gains the file name on the way out."""


def _obj(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{where} must be an object, got {_kind(value)}")
    return value


def _get(d: dict, key: str, where: str):
    if key not in d:
        raise _Bad(f"{where} has no {key!r}")
    return d[key]


def _list(value, where: str, limit: int) -> list:
    if not isinstance(value, list):
        raise _Bad(f"{where} must be a list, got {_kind(value)}")
    if len(value) > limit:
        raise _Bad(f"{where} has {len(value)} entries; at most {limit} are supported")
    return value


def _num(value, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{where} must be a number, got {_kind(value)}")
    if not (lo <= value <= hi):        # also false for NaN
        raise _Bad(f"{where} must be between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def _text(value, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise _Bad(f"{where} must be a non-empty string of at most {MAX_ID_LENGTH} characters, "
                   f"got {_kind(value)}")
    return value


def _count(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad(f"{where} must be a whole number >= 0, got {_kind(value)}")
    return value


def _kind(value) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _vector(d: dict, key: str, where: str, default: tuple[float, float]) -> tuple[float, float]:
    if key not in d:
        return default
    v = _obj(d[key], f"{where}.{key}")
    return (_num(_get(v, "X", f"{where}.{key}"), f"{where}.{key}.X", -10, 10),
            _num(_get(v, "Y", f"{where}.{key}"), f"{where}.{key}.Y", -10, 10))


def _port(value, where: str, key: str) -> Port:
    d = _obj(value, where)
    end = _obj(_get(d, key, where), f"{where}.{key}")
    _text(_get(end, "Target", f"{where}.{key}"), f"{where}.{key}.Target")
    type_ = _get(d, "Type", where)
    if type_ not in _INPUT_TYPES:
        raise _Bad(f"{where}.Type must be one of {', '.join(_INPUT_TYPES)}, got {_kind(type_)}")
    reflect = d.get("Reflect", False)
    if not isinstance(reflect, bool):
        raise _Bad(f"{where}.Reflect must be true or false, got {_kind(reflect)}")
    if key == "Destination":
        _count(_get(d, "VertexIndex", where), f"{where}.VertexIndex")
        _num(_get(d, "Scale", where), f"{where}.Scale", -1e6, 1e6)
    return Port(id=_text(_get(end, "Id", f"{where}.{key}"), f"{where}.{key}.Id"),
                weight=_num(_get(d, "Weight", where), f"{where}.Weight", 0, 100),
                type=type_, reflect=reflect)


def _vertex(value, where: str) -> Vertex:
    d = _obj(value, where)
    pos = _obj(_get(d, "Position", where), f"{where}.Position")
    return Vertex(x=_num(_get(pos, "X", f"{where}.Position"), f"{where}.Position.X", -1e6, 1e6),
                  y=_num(_get(pos, "Y", f"{where}.Position"), f"{where}.Position.Y", -1e6, 1e6),
                  # The editor keeps these in 0..1; files edited by hand may go past 1, which
                  # the mapping reads as 1 (a fully free, undelayed vertex).
                  mobility=_num(_get(d, "Mobility", where), f"{where}.Mobility", 0, 10),
                  delay=_num(_get(d, "Delay", where), f"{where}.Delay", 0, 10),
                  acceleration=_num(_get(d, "Acceleration", where), f"{where}.Acceleration",
                                    0, 100),
                  radius=_num(_get(d, "Radius", where), f"{where}.Radius", 0, 1e5))


def _normalization(value, where: str) -> None:
    d = _obj(value, where)
    for key in ("Position", "Angle"):
        r = _obj(_get(d, key, where), f"{where}.{key}")
        lo, mid, hi = (_num(_get(r, k, f"{where}.{key}"), f"{where}.{key}.{k}", -1e6, 1e6)
                       for k in ("Minimum", "Default", "Maximum"))
        if not lo <= mid <= hi:
            raise _Bad(f"{where}.{key} must have Minimum <= Default <= Maximum, got "
                       f"{lo:g}, {mid:g}, {hi:g}")


def _setting(value, index: int, names: dict[str, str]) -> Setting:
    where = f"PhysicsSettings[{index}]"
    d = _obj(value, where)
    sid = _text(_get(d, "Id", where), f"{where}.Id")
    where = f"{where} ({sid})"
    inputs = tuple(_port(v, f"{where}.Input[{i}]", "Source")
                   for i, v in enumerate(_list(_get(d, "Input", where), f"{where}.Input",
                                               MAX_ITEMS)))
    outputs = tuple(_port(v, f"{where}.Output[{i}]", "Destination")
                    for i, v in enumerate(_list(_get(d, "Output", where), f"{where}.Output",
                                                MAX_ITEMS)))
    vertices = tuple(_vertex(v, f"{where}.Vertices[{i}]")
                     for i, v in enumerate(_list(_get(d, "Vertices", where),
                                                 f"{where}.Vertices", MAX_ITEMS)))
    if len(vertices) < 2:
        raise _Bad(f"{where} needs at least 2 vertices (a root and one that swings), has "
                   f"{len(vertices)}")
    # Only no length at all: a stiff, heavily damped pendulum is written a thousandth long.
    if sum(v.radius for v in vertices[1:]) <= 0.0:
        raise _Bad(f"{where}: the vertices' Radius values add up to 0; a pendulum needs a length")
    if "Normalization" in d:
        _normalization(d["Normalization"], f"{where}.Normalization")
    return Setting(id=sid, name=names.get(sid, ""), inputs=inputs, outputs=outputs,
                   vertices=vertices)


def parse_physics3(doc, source: str) -> Physics3:
    """Validate a loaded physics3.json document; errors are one line naming ``source`` and the
    setting."""
    try:
        return _parse(doc)
    except _Bad as exc:
        raise InputError(f"{source}: not a usable physics3.json: {exc}") from None


def _parse(doc) -> Physics3:
    d = _obj(doc, "the file")
    version = _get(d, "Version", "the file")
    if version != PHYSICS3_VERSION or isinstance(version, bool):
        raise _Bad(f"Version {_kind(version)} is not supported (only {PHYSICS3_VERSION}); "
                   f"export it from Cubism Editor 3 or later")
    meta = _obj(_get(d, "Meta", "the file"), "Meta")
    raw = _list(_get(d, "PhysicsSettings", "the file"), "PhysicsSettings", MAX_SETTINGS)
    names: dict[str, str] = {}
    if "PhysicsDictionary" in meta:
        for i, e in enumerate(_list(meta["PhysicsDictionary"], "Meta.PhysicsDictionary",
                                    4 * MAX_SETTINGS)):
            e = _obj(e, f"Meta.PhysicsDictionary[{i}]")
            names[_text(_get(e, "Id", f"Meta.PhysicsDictionary[{i}]"),
                        f"Meta.PhysicsDictionary[{i}].Id")] = _name(
                e.get("Name", ""), f"Meta.PhysicsDictionary[{i}].Name")
    forces = _obj(meta.get("EffectiveForces", {}), "Meta.EffectiveForces")
    gravity = _vector(forces, "Gravity", "Meta.EffectiveForces", (0.0, -1.0))
    wind = _vector(forces, "Wind", "Meta.EffectiveForces", (0.0, 0.0))
    fps = _num(meta["Fps"], "Meta.Fps", 1, 1000) if "Fps" in meta else DEFAULT_FPS
    settings = tuple(_setting(v, i, names) for i, v in enumerate(raw))
    notes = []
    actual = {"PhysicsSettingCount": len(settings),
              "TotalInputCount": sum(len(s.inputs) for s in settings),
              "TotalOutputCount": sum(len(s.outputs) for s in settings),
              "VertexCount": sum(len(s.vertices) for s in settings)}
    for key, n in actual.items():
        # The counts are redundant; a mismatch means a hand-edited file, not a reason to refuse.
        if key in meta and _count(meta[key], f"Meta.{key}") != n:
            notes.append(f"Meta.{key} says {meta[key]} but the file has {n}; used the {n}")
    return Physics3(settings=settings, gravity=gravity, wind=wind, fps=fps, notes=tuple(notes))


def _name(value, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
        raise _Bad(f"{where} must be a string of at most {MAX_ID_LENGTH} characters, "
                   f"got {_kind(value)}")
    return value


# ------------------------------------------------------------------------------ groups

def _norm(text: str) -> str:
    """Lower case without separators: 'PARAM_HAIR_FRONT' and 'Hair Front' -> 'paramhairfront'."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def group_for(text: str) -> str | None:
    """Our chain group for a parameter id or a setting name (``BUST`` for bust physics), by
    case-insensitive substrings; ``None``: no group. More specific parts first (a hair ribbon
    is a ribbon, a ponytail is back hair)."""
    t = _norm(text)
    hair = "hair" in t
    rules = (
        (BUST, ("bust" in t, "breast" in t, "胸" in t, "おっぱい" in t)),
        ("ribbons", ("ribbon" in t, "リボン" in t)),
        ("skirt", ("skirt" in t, "スカート" in t)),
        ("sleeves", ("sleeve" in t, "袖" in t)),
        ("front hair", (hair and "front" in t, "bang" in t, "fringe" in t, "前髪" in t)),
        ("side hair", (hair and "side" in t, "sidelock" in t, "横髪" in t, "サイド" in t,
                       "もみあげ" in t)),
        ("back hair", (hair and "back" in t, "ponytail" in t, "twintail" in t,
                       "後ろ髪" in t, "後髪" in t, "ポニーテール" in t, "ツインテール" in t)),
        ("tail", ("tail" in t, "しっぽ" in t, "尻尾" in t, "シッポ" in t)),
        ("hair", (hair, "ahoge" in t, "髪" in t, "アホ毛" in t)),
    )
    for group, hits in rules:
        if any(hits):
            return group
    return None


def _label(s: Setting) -> str:
    ids = ", ".join(dict.fromkeys(o.id for o in s.outputs)) or "no outputs"
    return f"{s.id} ({s.name} / {ids})" if s.name else f"{s.id} ({ids})"


def _output_groups(s: Setting) -> tuple[dict[str, float], list[str]]:
    """{group: summed output weight} of a setting, and the ids that name no chain group.
    An output id decides; the setting's dictionary name stands in for ids that say nothing."""
    by_name = group_for(s.name) if s.name else None
    groups: dict[str, float] = {}
    unmapped = []
    for out in s.outputs:
        group = group_for(out.id) or by_name
        if group is None:
            unmapped.append(out.id)
        else:
            groups[group] = groups.get(group, 0.0) + out.weight
    return groups, unmapped


# ------------------------------------------------------------------------------ the mapping

def pendulum_params(vertices, gravity=(0.0, -1.0), wind=(0.0, 0.0), fps: float = DEFAULT_FPS):
    """ChainParams for one pendulum (see the module docstring for the formulas). ``vertices``:
    Vertex rows, the root first (its values are not used: it is pinned)."""
    from rig.springs import STIFFNESS_HZ, ChainParams
    moving = vertices[1:]
    length = sum(v.radius for v in moving)

    def mean(name: str) -> float:
        return sum(getattr(v, name) * v.radius for v in moving) / length

    mobility, delay, accel = mean("mobility"), mean("delay"), mean("acceleration")
    delay = min(max(delay, MIN_DELAY), 1.0)
    frequency = delay * math.sqrt(PENDULUM_GRAVITY / length) / (2 * math.pi)
    rho = math.sqrt(moving[0].radius / length)
    stiffness = frequency / (STIFFNESS_HZ * ROOT_PROFILE * (1 + rho) / 2)
    return ChainParams(
        stiffness=stiffness, damping=DAMPING_FLOOR - fps * math.log(delay),
        gravity=GRAVITY_PX * accel * -gravity[1], wind=GRAVITY_PX * accel * (wind[0] + gravity[0]),
        wind_gust=0.0, inertia=min(max(mobility, 0.0), 1.0),
        root_stiffness=ROOT_PROFILE, tip_stiffness=ROOT_PROFILE * rho)


def convert(physics: Physics3, source: str = "physics3.json"):
    """({group: ChainParams}, notes) from a parsed physics3 file: each setting mapped by its
    outputs, settings of one group averaged by output weight; notes say what was not mapped."""
    from rig.springs import ChainParams
    notes = list(physics.notes)
    found: dict[str, list[tuple[float, object, str]]] = {}
    if physics.gravity[0]:
        notes.append("EffectiveForces.Gravity leans sideways; its sideways part is applied as "
                     "wind")
    for s in physics.settings:
        label = _label(s)
        groups, unmapped = _output_groups(s)
        if BUST in groups:
            notes.append(f"{label}: no bust chains; skipped")
            continue
        if not groups:
            what = f"no chain group for {', '.join(unmapped)}" if unmapped else "no outputs"
            notes.append(f"{label}: {what}; skipped")
            continue
        if unmapped:
            notes.append(f"{label}: outputs {', '.join(unmapped)} name no chain group; ignored")
        ignored = sorted({i.id for i in s.inputs if _norm(i.id) not in _FOLLOWED_INPUTS})
        if ignored:
            notes.append(f"{label}: inputs {', '.join(ignored)} ignored (the chains follow only "
                         f"the head and body angles)")
        if any(p.reflect for p in s.inputs + s.outputs):
            notes.append(f"{label}: Reflect flags ignored (the chains swing with the head and "
                         f"body, not through parameters)")
        try:
            params = pendulum_params(s.vertices, physics.gravity, physics.wind, physics.fps)
        except InputError as exc:
            raise InputError(f"{source}: {label}: {exc}") from None
        for group, weight in groups.items():
            found.setdefault(group, []).append((weight, params, s.id))
    out = {}
    for group, rows in sorted(found.items()):
        total = sum(w for w, _, _ in rows)
        weights = [w / total if total > 0 else 1 / len(rows) for w, _, _ in rows]
        if len(rows) > 1:
            notes.append(f"{group}: {len(rows)} settings averaged by output weight "
                         f"({', '.join(sid for _, _, sid in rows)})")
        try:
            out[group] = ChainParams(**{
                f.name: sum(w * getattr(p, f.name) for w, (_, p, _) in zip(weights, rows))
                for f in fields(ChainParams)})
        except InputError as exc:
            raise InputError(f"{source}: {group}: {exc}") from None
    return out, notes


def import_physics3(doc, source: str):
    """({group: ChainParams}, notes) from a loaded physics3.json document."""
    return convert(parse_physics3(doc, source), source)


# ------------------------------------------------------------------------------ export

def export_id(group: str) -> str:
    """The physics3 output parameter id for a chain group ('skirt' -> 'ParamSkirt')."""
    return EXPORT_IDS.get(group) or "Param" + "".join(w.capitalize() for w in group.split())


def _segments(rho: float, length: float, count: int) -> list[float]:
    """Radii whose first is rho^2 of the length (the profile's tip/root ratio), the rest
    equal; one segment when the profile is flat."""
    if rho >= 1.0 - 1e-12 or count < 2:
        return [length]
    first = rho * rho * length
    return [first] + [(length - first) / (count - 1)] * (count - 1)


def pendulum_for(params, segments: int = 2, fps: float = DEFAULT_FPS):
    """(vertices as physics3 dicts, notes): the inverse of ``pendulum_params`` for one group
    (gravity straight down, no wind: the caller writes the wind). ``segments``: how many
    segments when the profile is not flat (e.g. the rig's chain particles - 1)."""
    from rig.springs import STIFFNESS_HZ
    notes = []
    rho = params.tip_stiffness / params.root_stiffness if params.root_stiffness > 0 else 1.0
    if rho > 1.0:
        notes.append("the tip is stiffer than the root; a pendulum cannot be: wrote an even "
                     "stiffness")
        rho = 1.0
    elif rho < MIN_PROFILE_RATIO:
        notes.append(f"tip stiffness below {MIN_PROFILE_RATIO:g} of the root's; wrote "
                     f"{MIN_PROFILE_RATIO:g}")
        rho = MIN_PROFILE_RATIO
    frequency = STIFFNESS_HZ * params.stiffness * (params.root_stiffness + params.tip_stiffness) / 2
    if frequency < MIN_FREQUENCY:
        notes.append(f"stiffness near 0; wrote the longest pendulum ({MIN_FREQUENCY:g} Hz)")
        frequency = MIN_FREQUENCY
    if params.damping < DAMPING_FLOOR:
        notes.append(f"damping below {DAMPING_FLOOR:g}/s cannot be written; wrote "
                     f"{DAMPING_FLOOR:g}")
    delay = math.exp(-(params.damping - DAMPING_FLOOR) / fps)
    if delay < MIN_DELAY:
        notes.append(f"damping above what Delay {MIN_DELAY:g} gives; wrote {MIN_DELAY:g}")
    delay = min(1.0, max(MIN_DELAY, delay))
    if params.gravity < 0:
        notes.append("upward gravity cannot be written; wrote none")
    accel = max(0.0, params.gravity) / GRAVITY_PX
    if accel > 100:
        notes.append("gravity above what Acceleration 100 gives; wrote 100")
        accel = 100.0
    length = PENDULUM_GRAVITY * (delay / (2 * math.pi * frequency)) ** 2
    radii = _segments(rho, length, max(1, segments))
    vertices = [{"Position": {"X": 0.0, "Y": 0.0}, "Mobility": 1.0, "Delay": 1.0,
                 "Acceleration": 1.0, "Radius": 0.0}]
    y = 0.0
    for r in radii:
        y += r
        vertices.append({"Position": {"X": 0.0, "Y": y}, "Mobility": params.inertia,
                         "Delay": delay, "Acceleration": accel, "Radius": r})
    return vertices, notes


def physics3_document(params: dict, segments: dict[str, int] | None = None):
    """(physics3.json document, notes) for {group: ChainParams}: one setting per group, driven
    by the head and body angles, output to the group's parameter. ``segments``: per group, how
    many segments to write when its profile is not flat (default 2)."""
    segments = segments or {}
    groups = sorted(params)
    notes = []
    # One wind for all groups: per group it is GRAVITY_PX * Acceleration * Wind.X.
    ratios = [params[g].wind / params[g].gravity for g in groups if params[g].gravity > 0]
    wind_x = min(10.0, max(-10.0, sum(ratios) / len(ratios))) if ratios else 0.0
    for g in groups:
        p = params[g]
        written = max(0.0, p.gravity) * wind_x
        if abs(written - p.wind) > 1e-6 * max(1.0, abs(p.wind)):
            notes.append(f"{g}: physics3 has one wind for all groups; its wind becomes "
                         f"{written:g} (was {p.wind:g})")
        if p.wind_gust:
            notes.append(f"{g}: physics3 has no wind gusts; wind_gust {p.wind_gust:g} not "
                         f"written")
    settings, dictionary = [], []
    for i, g in enumerate(groups, 1):
        vertices, why = pendulum_for(params[g], segments.get(g, 2))
        notes += [f"{g}: {n}" for n in why]
        sid = f"PhysicsSetting{i}"
        dictionary.append({"Id": sid, "Name": g.capitalize()})
        settings.append({
            "Id": sid,
            "Input": [{"Source": {"Target": "Parameter", "Id": pid}, "Weight": w, "Type": t,
                       "Reflect": False} for pid, w, t in EXPORT_INPUTS],
            "Output": [{"Destination": {"Target": "Parameter", "Id": export_id(g)},
                        "VertexIndex": len(vertices) - 1, "Scale": EXPORT_OUTPUT_SCALE,
                        "Weight": 100.0, "Type": "Angle", "Reflect": False}],
            "Vertices": vertices,
            "Normalization": EXPORT_NORMALIZATION,
        })
    doc = {"Version": PHYSICS3_VERSION, "Meta": {
        "PhysicsSettingCount": len(settings),
        "TotalInputCount": sum(len(s["Input"]) for s in settings),
        "TotalOutputCount": sum(len(s["Output"]) for s in settings),
        "VertexCount": sum(len(s["Vertices"]) for s in settings),
        "EffectiveForces": {"Gravity": {"X": 0.0, "Y": -1.0}, "Wind": {"X": wind_x, "Y": 0.0}},
        "PhysicsDictionary": dictionary,
    }, "PhysicsSettings": settings}
    return doc, notes
