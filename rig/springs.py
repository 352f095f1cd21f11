"""Spring chains: hair strands, ribbons, tails, skirts and sleeves swinging behind the head/body.

Each chain is a row of particles from root to tip. The root is pinned to the part it hangs from,
given every frame as a 2x3 affine "root transform" from the chain's rest frame to its current
frame; the other particles are simulated:

* Verlet integration at a FIXED sub-step (``SUBSTEP``), so the motion does not depend on the
  caller's frame rate. ``step`` accumulates time, runs whole sub-steps with the root frame
  interpolated across the call, and outputs the state interpolated between the last two
  sub-steps. Catch-up is clamped to ``MAX_CATCHUP`` seconds per call; the rest of a long frame
  spike is dropped.
* Particles live in the root's frame. Inertia: at each sub-step a fraction ``inertia`` of every
  particle keeps its canvas position and velocity while the frame moves; the rest follows the
  root rigidly. ``inertia = 0`` moves the chain rigidly with its root, ``inertia = 1`` leaves it
  in the world, dragged only through its root. A fast move drags the hair along: the share kept
  in the world is capped at what a turn of ``INERTIA_TURN_SPEED`` (240 deg/s) or a root speed of
  ``INERTIA_SPEED`` chain lengths per second gives, so a 600 deg/s snap (real Live2D motions
  have them) swings hair about as far as a brisk turn instead of flinging it over the head;
  slower moves are untouched.
* Shape matching: each particle is pulled toward its rest position carried by the root frame,
  stiffer at the root and softer at the tip. Each particle has its own spring, so a swing is
  not amplified down the chain. Gravity (image y down) and wind (+x, with deterministic gusts)
  act in the world: they turn with the frame, but do not grow as its scale shrinks (that is a
  head turning away, which makes no hair heavier); velocity decays by ``damping`` per second.
* Inextensible segments, follow-the-leader style: after each sub-step every particle is put
  back at its rest distance from its (corrected) parent, toward where it was heading. Done as
  two rescalings of all segment vectors at once, chained from the pinned root; lengths come out
  exact (no iterations, no stretch), and a corrected parent turns its children rather than
  dragging them along rigidly.
* Fold limits (``SWING_LIMIT``, ``BEND_LIMIT``): a fast head turn (hundreds of degrees per
  second) flings the particles further than any spring holds, and a segment could swing round
  past its root or fold back on its parent (shards of hair on screen). After the length
  projection every segment's rotation from its rest direction (carried by the root frame) is
  checked: ``theta_j = arg(d_j / rest_j)``. Where a segment is past a limit, all chains are
  corrected at once in angle form: the bends ``phi_j = theta_j - theta_(j-1)`` (j >= 2; the
  change from the rest bend) are clipped to +-``BEND_LIMIT``, summed back along the chain and
  the result clipped to +-``SWING_LIMIT``; each segment is rotated onto that angle (its length
  is kept). Clipping is 1-Lipschitz, so the swing clip never reopens a bend. A segment that was
  still moving outward (its angular velocity in the root frame against the correction) loses
  that velocity: its previous state is set to its new one, so it neither sticks past the cone
  nor bounces off it; one moving back inward keeps its velocity. Below the limits nothing is
  touched (bit for bit): normal swinging is never reduced.
* Bias (``step(..., bias=)``): a per-chain angle that rotates the rest shape about the root
  (the springs' target), e.g. driven by ParamHairFront; the chain swings there with its normal
  dynamics. Zero bias is exactly the unbiased simulation. The fold limits stay around the drawn
  rest shape.

The root frame is reduced to its best-fit similarity (rotation and uniform scale) plus the
exact root position; positions are complex numbers (x + iy), so that similarity is one complex
factor. All chains are padded to one (chains, particles) layout and step together as a fixed
handful of numpy operations per sub-step, with no Python loop over chains or particles.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import numpy as np

from seethrough_core.character import InputError

# s; fixed internal step. 120 Hz resolves hair motion (a few Hz) with a wide margin and keeps
# the springs far inside their stability limit; each sub-step costs a fixed handful of numpy calls.
SUBSTEP = 1.0 / 120.0
MAX_CATCHUP = 0.25               # s of simulated time one call may catch up; the rest is dropped
STIFFNESS_HZ = 5.0               # natural frequency of a particle's spring at stiffness 1.0
_MAX_SUBSTEPS = int(math.ceil(MAX_CATCHUP / SUBSTEP)) + 1
_SUBSTEP_TIMES = np.arange(1, _MAX_SUBSTEPS + 1) * SUBSTEP
_MAX_KH2 = 1.0                   # cap on (omega * SUBSTEP)^2; Verlet springs are stable below 4
_EPS = 1e-9                      # px; guards the segment normalisation against 0/0
_PARAM_LIMIT = 1e6               # sanity bound on every ChainParams value
# Fold limits (radians): the largest swing of a segment from its rest direction carried by the
# root frame, and the largest change of a segment's angle to its parent from the rest bend. Set
# a little inside the shake test's budgets (120 and 90 degrees): the rig's root transforms are
# affine, the springs follow their best-fit similarity, and drawn frames blend two sub-steps.
INERTIA_TURN_SPEED = math.radians(240.0)   # rad/s of root turn fully kept as inertia
_MAX_TURN_PER_SUBSTEP = INERTIA_TURN_SPEED * SUBSTEP
INERTIA_SPEED = 5.0                        # chain lengths/s of root travel fully kept as inertia
SWING_LIMIT = math.radians(110.0)
BEND_LIMIT = math.radians(80.0)
_COS_SWING = math.cos(SWING_LIMIT)
_COS_BEND = math.cos(BEND_LIMIT)
# Wind gusts: a sum of sines at incommensurate frequencies (rad/s), smooth and repeatable.
_GUST_OMEGA = (2 * math.pi * 0.23, 2 * math.pi * 0.57, 2 * math.pi * 1.31)
_GUST_SPEED = 400.0              # px/s: gusts travel across the canvas along +x


@dataclass(frozen=True)
class ChainParams:
    """Physics of one chain group (front hair, back hair, ribbons, skirt ...).

    Each particle's spring toward its rest position oscillates at
    ``STIFFNESS_HZ * stiffness * profile`` Hz, where ``profile`` runs linearly along the chain
    from ``root_stiffness`` (at the root) to ``tip_stiffness`` (at the tip; for chains of one
    material, see ``build_chains``, at the longest one's tip). With gravity g a
    particle held only by its spring sags by about g / (2 pi f)^2 px.
    """
    stiffness: float = 0.6        # pull back toward the rest shape, 0..1-ish
    damping: float = 5.0          # velocity damping per second
    gravity: float = 400.0        # px/s^2 (image y down)
    wind: float = 0.0             # px/s^2 along +x
    wind_gust: float = 0.0        # px/s^2: gusts add 0..wind_gust (smooth, repeatable in time)
    inertia: float = 0.6          # 0: follow the root rigidly .. 1: fully dragged by it
    root_stiffness: float = 1.0   # stiffness multiplier at the root ...
    tip_stiffness: float = 0.5    # ... falling off linearly to this at the tip

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise InputError(f"spring parameter {f.name!r} must be a number, got {value!r}")
            if not abs(value) <= _PARAM_LIMIT:
                raise InputError(f"spring parameter {f.name!r} must be a finite number within "
                                 f"+-{_PARAM_LIMIT:g}, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        for name in ("stiffness", "damping", "wind_gust", "root_stiffness", "tip_stiffness"):
            if getattr(self, name) < 0:
                raise InputError(f"spring parameter {name!r} must be >= 0, got "
                                 f"{getattr(self, name)}; use 0 to switch it off")
        if not 0.0 <= self.inertia <= 1.0:
            raise InputError(f"spring parameter 'inertia' must be between 0 and 1, got "
                             f"{self.inertia}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ChainParams":
        """Parameters from a dict (e.g. a rig file); missing keys take their defaults."""
        if not isinstance(d, dict):
            raise InputError(f"spring parameters must be a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown spring parameter(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**d)


PRESETS: dict[str, ChainParams] = {
    # Light, flowing hair: swings wide and long.
    "soft": ChainParams(stiffness=0.5, damping=3.5, gravity=300.0, inertia=0.75,
                        root_stiffness=1.0, tip_stiffness=0.45),
    "normal": ChainParams(),
    # Short or stiff parts (ahoge, stiff ribbons): small, quickly damped swings.
    "stiff": ChainParams(stiffness=1.0, damping=8.0, gravity=300.0, inertia=0.4,
                         root_stiffness=1.0, tip_stiffness=0.7),
    # Thick ponytails, braids, heavy cloth: slow, hangs more, lags more.
    "heavy": ChainParams(stiffness=0.5, damping=4.5, gravity=900.0, inertia=0.8,
                         root_stiffness=1.2, tip_stiffness=0.5),
}


@dataclass(eq=False)
class ChainSet:
    """All chains of a rig, padded to (chains, max particles) arrays for vectorised stepping.

    Public, read-only: ``groups``, ``params``, ``counts``, ``rest_points`` (N, 2) flat in chain
    order, ``chain_of`` (N,), ``root_index`` / ``tip_index`` (C,) into the flat particle list.
    Fields with a leading underscore are precomputed coefficients and simulation state.

    Chains are simulated in their root's rest frame, relative to the rest root ("local"
    coordinates v; canvas = m v + root for a frame (m, root)), in segment form
    W = (root, d_1, ..., d_{P-1}) as complex numbers: positions are its cumulative sum. Short
    chains are padded with zero-length segments.
    """
    groups: list[str]
    params: dict[str, ChainParams]
    counts: np.ndarray                               # (C,) particles per chain
    rest_points: np.ndarray = field(repr=False)      # (N, 2) flat rest positions
    chain_of: np.ndarray = field(repr=False)         # (N,) chain index of each particle
    root_index: np.ndarray = field(repr=False)       # (C,)
    tip_index: np.ndarray = field(repr=False)        # (C,)
    _flat_index: np.ndarray = field(repr=False)      # (N,) into the raveled (C, P) layout
    _affine_to_frame: np.ndarray = field(repr=False)  # (C, 6, 4): affine -> (m, root) re/im
    _rest_w: np.ndarray = field(repr=False)          # (C, P) complex rest segments, root 0
    _rest_len: np.ndarray = field(repr=False)        # (C, P) their lengths (0: root, padding)
    _predict: np.ndarray = field(repr=False)         # (2, C, 2P, 4P) Verlet + spring, by slot
    _spring_rest: np.ndarray = field(repr=False)     # (C, P) complex rest term of the springs
    _first_segment: np.ndarray = field(repr=False)   # (P,) 1 at d_1: all a uniform force changes
    _inertia: np.ndarray = field(repr=False)         # (C,)
    _follow: np.ndarray = field(repr=False)          # (C,) 1 - inertia
    _steady_force: np.ndarray = field(repr=False)    # (C,) complex h^2 (wind + i gravity)
    _preload: np.ndarray = field(repr=False)         # (C,) complex, local-frame pre-stress
    _gust: np.ndarray = field(repr=False)            # (C,) h^2 wind_gust
    _gust_delay: np.ndarray = field(repr=False)      # (C,) s until a gust reaches the root
    _gusty: bool = field(repr=False)                 # any chain has gusts
    # State: two sub-step states side by side (slot 0 | slot 1), the latest in slot _cur.
    _w: np.ndarray = field(repr=False)               # (C, 2P) complex
    _frames: np.ndarray = field(repr=False)          # (1 + max sub-steps, C, 2) complex scratch;
    #                                                  row 0: (m, root) of the latest sub-step
    _frame_call: np.ndarray = field(repr=False)      # (C, 2) complex (m, root) of the last call
    _y: np.ndarray = field(repr=False)               # (C, P) complex scratch
    _fix: np.ndarray = field(repr=False)             # (C, P) complex scratch
    _len: np.ndarray = field(repr=False)             # (C, P) float scratch
    _eps: np.ndarray = field(repr=False)             # (C, P) float, all _EPS (faster than a scalar)
    # Fold limits: rotation of a segment from rest is d_j * _rest_inv_j (unit; 0 at root/padding).
    _rest_inv: np.ndarray = field(repr=False)        # (C, P) complex conj(rest_w) / |rest_w|^2
    _swing_floor: np.ndarray = field(repr=False)     # (C, P) 2 at root/padding (never checked)
    _bend_floor: np.ndarray = field(repr=False)      # (C, P - 2) 2 where j or its parent is not
    #                                                  a real segment of j >= 2, else -2
    _bend_on: np.ndarray = field(repr=False)         # (C, P) 1.0 where a bend is limited
    _rot: np.ndarray = field(repr=False)             # (C, P) complex scratch
    _rot_real: np.ndarray = field(repr=False)        # (C, P) float scratch
    _bend: np.ndarray = field(repr=False)            # (C, P - 2) complex scratch
    _bend_real: np.ndarray = field(repr=False)       # (C, P - 2) float scratch
    _bias: np.ndarray = field(repr=False)            # (C,) rest-shape bias of the last call, rad
    _cos_swing: float = field(repr=False)            # cos of the limits; -inf: limits off
    _cos_bend: float = field(repr=False)
    _cur: int = 0
    _acc: float = 0.0                                # s simulated past the latest sub-step
    _limited: int = 0                                # sub-steps the fold limits acted in
    _ticks: int = 0                                  # sub-steps since reset (the wind clock)
    _fresh: bool = True                              # next step snaps to its root transforms

    @property
    def n_chains(self) -> int:
        return int(self.counts.size)

    @property
    def n_particles(self) -> int:
        return int(self.rest_points.shape[0])

    @property
    def limited_substeps(self) -> int:
        """Sub-steps since the last reset in which the fold limits moved a segment (0: the
        motion never came near a fold, and the simulation is exactly the unconstrained one)."""
        return self._limited

    def rest_chains(self) -> list[np.ndarray]:
        """The rest points per chain, as given to ``build_chains`` (e.g. to save a rig)."""
        if not self.n_chains:
            return []
        return np.split(self.rest_points, np.cumsum(self.counts)[:-1])


def build_chains(rest_points: list[np.ndarray], groups: list[str],
                 params: dict[str, ChainParams], *, rest_is_equilibrium: bool = False,
                 limit_folds: bool = True, one_material: Collection[str] = ()) -> ChainSet:
    """Pack chains into a ChainSet (at rest; the first ``step`` places them on their roots).

    ``rest_is_equilibrium``: the rest shape is where the chain hangs at rest *under gravity* (as
    in a drawing): the springs carry a pre-stress that cancels gravity in the rest orientation
    and turns with the root, so an unrotated chain does not sag and a tilted one swings down.
    Without it the rest shape is the spring's unloaded shape and gravity sags it.

    ``limit_folds``: apply the fold limits (``SWING_LIMIT``, ``BEND_LIMIT``); off only to
    measure what they change (the unconstrained simulation).

    ``one_material``: groups whose chains are one material (all hair): their stiffness profile
    runs over the longest of their chains, so a point the same way from its root is as stiff
    on a short lock as on a long one. (Over each chain's own length, a lock cut in two where a
    long one ran on was stiff near the ear on the long one and soft on the short one beside it:
    at a tilt the two parted.)

    ``rest_points[i]``: (P_i, 2) particle rest positions root->tip in canvas px (P_i >= 2);
    ``groups[i]``: the key of chain i's parameters in ``params``.
    """
    chains = _validated_chains(rest_points, groups, params)
    n_chains = len(chains)
    counts = np.array([len(c) for c in chains], dtype=np.int64)
    width = int(counts.max()) if n_chains else 2
    h = SUBSTEP

    rest = np.zeros((n_chains, width), np.complex128)
    for c, pts in enumerate(chains):       # build time only; stepping has no per-chain loops
        rest[c, :len(pts)] = pts[:, 0] + 1j * pts[:, 1]
        rest[c, len(pts):] = rest[c, len(pts) - 1]
    rest_w = np.zeros_like(rest)
    rest_w[:, 1:] = np.diff(rest, axis=1)
    rest_len = np.abs(rest_w)
    child = np.arange(width)[None, :] < counts[:, None]
    child[:, 0] = False                                                  # (C, P) real children

    p = [params[g] for g in groups]

    def per_chain(name: str) -> np.ndarray:
        return np.array([getattr(q, name) for q in p], dtype=np.float64).reshape(n_chains)

    # Stiffness profile along the arc length, sampled at each particle.
    arc = np.cumsum(rest_len, axis=1)
    along = arc / np.maximum(arc[:, -1:], _EPS)
    shared = np.array([g in one_material for g in groups], bool)
    if shared.any():
        along[shared] = np.minimum(1.0, arc[shared] / max(float(arc[shared, -1].max()), _EPS))
    root_k, tip_k = per_chain("root_stiffness")[:, None], per_chain("tip_stiffness")[:, None]
    omega = 2 * math.pi * STIFFNESS_HZ * per_chain("stiffness")[:, None] * (
        root_k + along * (tip_k - root_k))
    kh2 = np.where(child, np.minimum((omega * h) ** 2, _MAX_KH2), 0.0)           # (C, P)
    damp = np.exp(-per_chain("damping") * h)[:, None]

    # Prediction for particle j from its current (z) and previous (zp) local position:
    #   y_j = z_j + damp (z_j - zp_j) - kh2_j (z_j - rest_j) + h^2 forces,
    # a spring toward the rest shape carried by the root frame (shape matching; each particle
    # has its own spring, so motion is not amplified down the chain). As a linear map from the
    # stored segment forms (positions = tri @ W) to segment form (diff @ y); row 0 (the root)
    # is zero: the root is pinned at the local origin.
    tri = np.tril(np.ones((width, width)))
    diff = np.eye(width) - np.eye(width, k=-1)
    k_cur = (np.where(child, 1.0 + damp - kh2, 0.0)[:, :, None] * np.eye(width)) @ tri
    k_prev = (np.where(child, -damp, 0.0)[:, :, None] * np.eye(width)) @ tri
    predict = np.empty((2, n_chains, width, 2, 2 * width, 2))
    for slot, blocks in enumerate(((k_cur, k_prev), (k_prev, k_cur))):
        seg_map = diff @ np.concatenate(blocks, axis=2)                           # (C, P, 2P)
        # The same real map on x and y: interleave as (re, im) pairs.
        predict[slot] = seg_map[:, :, None, :, None] * np.eye(2)[None, None, :, None, :]
    spring_rest = diff @ (kh2 * (rest - rest[:, :1]))[:, :, None]

    affine_to_frame = np.zeros((n_chains, 6, 4))
    affine_to_frame[:, [0, 4], 0] = 0.5                  # m = ((a00 + a11) + i (a10 - a01)) / 2
    affine_to_frame[:, 3, 1], affine_to_frame[:, 1, 1] = 0.5, -0.5
    affine_to_frame[:, 0, 2], affine_to_frame[:, 1, 2] = rest[:, 0].real, rest[:, 0].imag
    affine_to_frame[:, 3, 3], affine_to_frame[:, 4, 3] = rest[:, 0].real, rest[:, 0].imag
    affine_to_frame[:, [2, 5], [2, 3]] = 1.0             # root = A @ (rest root, 1)

    inertia = per_chain("inertia")
    real_segment = child & (rest_len > 0.0)
    rest_inv = np.where(real_segment, np.conj(rest_w) / np.where(real_segment, rest_len, 1.0) ** 2,
                        0.0)
    bend_on = np.zeros((n_chains, width))
    bend_on[:, 2:] = real_segment[:, 2:] & real_segment[:, 1:-1]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    chain_set = ChainSet(
        groups=list(groups), params=dict(params), counts=counts,
        rest_points=np.concatenate(chains) if n_chains else np.zeros((0, 2)),
        chain_of=np.repeat(np.arange(n_chains), counts),
        root_index=starts, tip_index=starts + counts - 1,
        _flat_index=(np.arange(n_chains)[:, None] * width + np.arange(width))[
            np.arange(width)[None, :] < counts[:, None]],
        _affine_to_frame=affine_to_frame, _rest_w=rest_w, _rest_len=rest_len,
        _predict=predict.reshape(2, n_chains, 2 * width, 4 * width),
        _spring_rest=spring_rest[:, :, 0], _first_segment=np.eye(width)[1],
        _inertia=inertia, _follow=1.0 - inertia,
        _steady_force=h * h * (per_chain("wind") + 1j * per_chain("gravity")),
        _preload=(h * h * 1j * per_chain("gravity") if rest_is_equilibrium
                  else np.zeros(n_chains, np.complex128)),
        _gust=h * h * per_chain("wind_gust"),
        _gust_delay=rest[:, 0].real / _GUST_SPEED, _gusty=bool(per_chain("wind_gust").any()),
        _w=np.zeros((n_chains, 2 * width), np.complex128),
        _frames=np.zeros((_MAX_SUBSTEPS + 1, n_chains, 2), np.complex128),
        _frame_call=np.zeros((n_chains, 2), np.complex128),
        _y=np.zeros((n_chains, width), np.complex128),
        _fix=np.zeros((n_chains, width), np.complex128),
        _len=np.zeros((n_chains, width)),
        _eps=np.full((n_chains, width), _EPS),
        _rest_inv=rest_inv, _swing_floor=np.where(real_segment, -2.0, 2.0),
        _bend_floor=np.where(bend_on[:, 2:] > 0, -2.0, 2.0), _bend_on=bend_on,
        _rot=np.zeros((n_chains, width), np.complex128), _rot_real=np.zeros((n_chains, width)),
        _bend=np.zeros((n_chains, max(width - 2, 0)), np.complex128),
        _bend_real=np.zeros((n_chains, max(width - 2, 0))),
        _bias=np.zeros(n_chains),
        _cos_swing=_COS_SWING if limit_folds else -math.inf,
        _cos_bend=_COS_BEND if limit_folds else -math.inf,
    )
    reset(chain_set)
    return chain_set


def _validated_chains(rest_points: list[np.ndarray], groups: list[str],
                      params: dict[str, ChainParams]) -> list[np.ndarray]:
    if len(rest_points) != len(groups):
        raise InputError(f"got {len(rest_points)} spring chains but {len(groups)} group names; "
                         "give one group per chain")
    chains = []
    for i, (points, group) in enumerate(zip(rest_points, groups)):
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
            raise InputError(f"spring chain {i} needs (P, 2) points with P >= 2, got shape "
                             f"{pts.shape}")
        if not np.isfinite(pts).all():
            raise InputError(f"spring chain {i} has non-finite rest points")
        if np.hypot(*np.diff(pts, axis=0).T).min() <= 1e-6:
            raise InputError(f"spring chain {i} has two consecutive particles at the same spot; "
                             "remove the duplicate point")
        if group not in params:
            raise InputError(f"spring chain {i}: no parameters for group {group!r}; known groups: "
                             f"{', '.join(sorted(params)) or 'none'}")
        if not isinstance(params[group], ChainParams):
            raise InputError(f"spring parameters for group {group!r} must be ChainParams, got "
                             f"{type(params[group]).__name__}")
        chains.append(pts)
    return chains


def reset(chains: ChainSet) -> None:
    """Forget all motion: the next ``step`` places every chain at rest on its root transform
    (at its biased rest shape if that step gives a bias); the bias goes back to zero."""
    chains._fresh = True
    chains._acc = 0.0
    chains._ticks = 0
    chains._cur = 0
    chains._limited = 0
    chains._bias[:] = 0.0


def step(chains: ChainSet, root_transforms: np.ndarray, dt: float,
         bias: np.ndarray | None = None) -> np.ndarray:
    """Advance the simulation by ``dt`` seconds; return particle positions (N, 2) in px.

    ``root_transforms``: (C, 2, 3) affine per chain, rest frame -> current frame, valid at the
    end of this ``dt``. Positions come back flat in chain order, root to tip.

    ``bias``: optional (C,) radians, valid at the end of this ``dt``: each chain's rest shape
    (the springs' target) turns by that angle about its root, counterclockwise on screen (image
    y down), the sense in which ``chain_swing`` counts: a hanging chain with a positive bias
    swings its tip toward +x. The chain swings toward the biased shape with its normal
    dynamics; a bias that changes is interpolated across the sub-steps like the root frames.
    ``None`` keeps the bias of the last call (zero after ``build_chains`` / ``reset``), so a
    read-only ``step(..., 0.0)`` needs none; zero bias is bit for bit the unbiased simulation.
    """
    n_chains = chains.n_chains
    a = np.ascontiguousarray(root_transforms, dtype=np.float64)
    if a.shape != (n_chains, 2, 3):
        raise ValueError(f"root_transforms must have shape ({n_chains}, 2, 3), got {a.shape}")
    if not (dt >= 0.0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a finite number of seconds >= 0, got {dt!r}")
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.shape != (n_chains,) or not np.isfinite(bias).all():
            raise ValueError(f"bias must be ({n_chains},) finite radians, got shape "
                             f"{bias.shape}" + ("" if bias.shape != (n_chains,) else
                                                " with non-finite values"))
    if n_chains == 0:
        return np.zeros((0, 2))
    # Best-fit similarity m (rotation and uniform scale as one complex factor) and the exact
    # root position of each transform: the chain swings in the similarity, the root is pinned.
    frame = np.matmul(a.reshape(n_chains, 1, 6), chains._affine_to_frame).reshape(
        n_chains, 4).view(np.complex128)                                          # (C, 2)
    # min |m| plus 0 * sum: NaN unless everything is finite, so one comparison checks both.
    if not np.abs(frame[:, 0]).min() + 0.0 * frame.sum().real >= 1e-6:
        raise ValueError("root_transforms must be finite, with a non-singular rotation/scale "
                         "part (rotation, translation, positive scale)")

    if chains._fresh:
        rest_w = chains._rest_w
        if bias is not None and bias.any():
            rest_w = rest_w * np.exp(-1j * bias)[:, None]
            chains._bias[:] = bias
        chains._w[:] = np.concatenate([rest_w, rest_w], axis=1)
        chains._frames[0] = frame
        chains._frame_call = frame
        chains._fresh = False
    dt_run = min(dt, MAX_CATCHUP)
    acc = chains._acc + dt_run
    n = int(acc / SUBSTEP + 1e-9) if dt_run > 0.0 else 0
    if n:
        _run_substeps(chains, frame, n, chains._acc, dt_run, bias)
    chains._acc = max(acc - n * SUBSTEP, 0.0)
    chains._frame_call = frame
    if bias is not None:
        chains._bias[:] = bias
    return _output(chains, frame)


def similarity_affines(chains: ChainSet, root_transforms: np.ndarray) -> np.ndarray:
    """(C, 2, 3): the frame each chain swings in, as affines from its rest frame: the root
    transform's best-fit rotation and uniform scale, pinned at the transform's exact root.
    Positions from ``step`` mapped back through its inverse are the chain's own motion in its
    rest frame, without the foreshortening the full affine holds."""
    n_chains = chains.n_chains
    a = np.ascontiguousarray(root_transforms, dtype=np.float64)
    frame = np.matmul(a.reshape(n_chains, 1, 6), chains._affine_to_frame).reshape(
        n_chains, 4).view(np.complex128)
    m, root = frame[:, 0], frame[:, 1]
    rest_root = chains.rest_points[chains.root_index]
    t = root - m * (rest_root[:, 0] + 1j * rest_root[:, 1])
    out = np.empty((n_chains, 2, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = m.real, -m.imag, t.real
    out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = m.imag, m.real, t.imag
    return out


def _run_substeps(chains: ChainSet, frame: np.ndarray, n: int, acc0: float,
                  dt_run: float, bias: np.ndarray | None) -> None:
    """Run n fixed sub-steps, root frames interpolated from the last call's to this one's."""
    # Frames (m, root) at the end of each sub-step; row 0 is the latest sub-step so far.
    # Rotation and scale are interpolated geometrically (along the shorter arc, never through
    # m = 0, whatever the turn), the root linearly.
    frames = chains._frames[:n + 1]
    m, r = frames[:, :, 0], frames[:, :, 1]
    m_call, r_call = chains._frame_call[:, 0], chains._frame_call[:, 1]
    frac = ((_SUBSTEP_TIMES[:n] - acc0) * (1.0 / dt_run))[:, None]
    np.exp(frac * np.log(frame[:, 0] / m_call), out=m[1:])
    m[1:] *= m_call
    np.multiply(frac, frame[:, 1] - r_call, out=r[1:])
    r[1:] += r_call
    # Inertia: a fraction `inertia` of each stored state keeps its canvas position while the
    # frame moves (the rest follows the root rigidly): in local coordinates segments turn by
    # beta and the root moves by gamma.
    # Hair is dragged along by a fast move: the share of the frame's motion a particle keeps in
    # the world is capped at what a turn of INERTIA_TURN_SPEED, or a root speed of
    # INERTIA_SPEED chain lengths per second, gives. A 600 deg/s snap then swings the hair about
    # as far as a brisk turn does instead of flinging it over the head; slower moves are
    # untouched, bit for bit.
    turn = np.abs(np.angle(m[:-1] / m[1:]))
    travel = np.abs(r[:-1] - r[1:])
    reach = (INERTIA_SPEED * SUBSTEP) * chains._rest_len.sum(axis=1)
    cap = np.minimum(1.0, np.minimum(_MAX_TURN_PER_SUBSTEP / np.maximum(turn, 1e-12),
                                     reach / np.maximum(travel, 1e-12)))
    inertia = chains._inertia * cap
    scaled = inertia / m[1:]
    beta = ((1.0 - inertia) + m[:-1] * scaled)[:, :, None]
    gamma = ((r[:-1] - r[1:]) * scaled)[:, :, None]
    # Forces in local coordinates; in segment form they act on the first segment only.
    force = chains._steady_force
    if chains._gusty:
        t = (chains._ticks + np.arange(1, n + 1))[:, None] * SUBSTEP - chains._gust_delay
        noise = (np.sin(_GUST_OMEGA[0] * t) + np.sin(_GUST_OMEGA[1] * t + 1.0)
                 + np.sin(_GUST_OMEGA[2] * t + 2.0)) / 3.0
        force = force + chains._gust * 0.5 * (1.0 + noise)
    # World forces turn into the frame but do not grow as it shrinks: its scale is the head
    # turning away (foreshortening), and a turned head's hair weighs no more (scaled with it,
    # a settled chain would sag below its drawn shape, each group by its own stiffness, and
    # neighbouring locks would part).
    const = (force * (np.abs(m[1:]) / m[1:]) - chains._preload)[:, :, None] * \
        chains._first_segment
    bias0 = chains._bias
    if (bias is not None and bias.any()) or bias0.any():
        # The springs' target turned by the bias (interpolated like the root), about the root.
        b = bias0 if bias is None else bias0 + frac * (bias - bias0)                  # (n, C)
        const += chains._spring_rest * np.exp(-1j * b)[..., None]
    else:
        const += chains._spring_rest

    w, y, fix, length, target = chains._w, chains._y, chains._fix, chains._len, chains._rest_len
    eps = chains._eps
    width = y.shape[1]
    w_real = w.view(np.float64)[:, :, None]
    y_real = y.view(np.float64)[:, :, None]
    roots = w[:, ::width]
    rot, rot_real, bend, bend_real = chains._rot, chains._rot_real, chains._bend, chains._bend_real
    rot_real_view, bend_real_view = rot.real, bend.real
    cos_swing, cos_bend = chains._cos_swing, chains._cos_bend
    cur = chains._cur
    for i in range(n):
        w *= beta[i]
        roots += gamma[i]
        np.matmul(chains._predict[cur], w_real, out=y_real)
        y += const[i]
        # Distance constraints, follow-the-leader style: each particle is placed at its rest
        # length from its corrected parent, toward its own predicted position. Rescaling the
        # segments once gives every parent's correction (a cumulative sum of the changes);
        # taking them out of the children's segments and rescaling again makes a corrected
        # parent turn its child instead of dragging it along rigidly. The second rescale makes
        # every length exact. The root entry has target length 0: pinned at the local origin.
        np.abs(y, out=length)
        np.maximum(length, eps, out=length)
        np.divide(target, length, out=length)
        np.multiply(y, length, out=fix)
        fix -= y
        np.cumsum(fix, axis=1, out=fix)
        y[:, 1:] -= fix[:, :-1]
        np.abs(y, out=length)
        np.maximum(length, eps, out=length)
        np.divide(target, length, out=length)
        cur = 1 - cur
        np.multiply(y, length, out=w[:, cur * width:(cur + 1) * width])
        # Fold limits: past the swing or bend limit anywhere? (Cheap; the fix is rare.)
        np.multiply(w[:, cur * width:(cur + 1) * width], chains._rest_inv, out=rot)
        np.maximum(rot_real_view, chains._swing_floor, out=rot_real)
        folded = rot_real.min() < cos_swing
        if bend_real.size and not folded:
            np.conjugate(rot[:, 1:-1], out=bend)
            bend *= rot[:, 2:]
            np.maximum(bend_real_view, chains._bend_floor, out=bend_real)
            folded = bend_real.min() < cos_bend
        if folded:
            _limit_folds(chains, cur)
    chains._cur = cur
    chains._ticks += n
    frames[0] = frames[n]


def _limit_folds(chains: ChainSet, cur: int) -> None:
    """Rotate every segment past a fold limit back onto it (see the module docstring).

    Works on all chains at once in angle form; segments within the limits keep their exact
    values (their correction is exactly 0). Only runs in a sub-step where some segment is past.
    """
    chains._limited += 1
    width = chains._y.shape[1]
    new = chains._w[:, cur * width:(cur + 1) * width]
    old = chains._w[:, (1 - cur) * width:(2 - cur) * width]
    rot = new * chains._rest_inv                        # unit rotations from rest; 0: root/padding
    # Angular velocity over the sub-step in the root frame, before the correction.
    omega = np.angle(rot * np.conj(old * chains._rest_inv))
    delta = _fold_correction(chains, rot)
    turn = np.exp(1j * delta)
    new *= turn                                         # exactly unchanged where delta is 0
    # Moving outward, against the correction: stop (previous state = new state); moving back
    # inward: keep the velocity. The previous state is drawn too (frames blend the last two
    # sub-steps), so it is brought within the limits as well.
    outward = omega * delta < 0.0
    old *= turn
    old[outward] = new[outward]
    old *= np.exp(1j * _fold_correction(chains, old * chains._rest_inv))


def _fold_correction(chains: ChainSet, rot: np.ndarray) -> np.ndarray:
    """(C, P) angles that bring segments with rotations ``rot`` from rest within the limits.

    The angle of each segment from its rest direction is unwrapped along the chain: the first
    segment's own angle, then the bends (changes from the rest bend), summed. Bends are clipped
    to +-BEND_LIMIT, summed again and the sums clipped to +-SWING_LIMIT.
    """
    bend_on = chains._bend_on
    phi = np.angle(rot)
    phi[:, 0] = 0.0                                     # the root (angle(-0) would be pi)
    phi[:, 2:] = np.angle(rot[:, 2:] * np.conj(rot[:, 1:-1])) * bend_on[:, 2:]
    theta = np.cumsum(phi, axis=1)
    np.clip(phi, -BEND_LIMIT, BEND_LIMIT, out=phi, where=bend_on > 0)
    limited = np.cumsum(phi, axis=1)
    np.clip(limited, -SWING_LIMIT, SWING_LIMIT, out=limited)
    return limited - theta


def _output(chains: ChainSet, frame: np.ndarray) -> np.ndarray:
    """Positions between the last two sub-steps, placed on this call's frame.

    Segments are interpolated, re-normalised to their lengths, mapped by the frame and chained
    from its exact root.
    """
    alpha = chains._acc / SUBSTEP
    weights = np.array([alpha, 1.0 - alpha] if chains._cur == 0 else [1.0 - alpha, alpha])
    width = chains._y.shape[1]
    out = np.dot(weights, chains._w.reshape(-1, 2, width))                       # (C, P)
    length = np.abs(out)
    np.maximum(length, chains._eps, out=length)
    out *= (chains._rest_len * frame[:, :1]) / length
    out[:, 0] = frame[:, 1]
    np.cumsum(out, axis=1, out=out)
    return out.ravel()[chains._flat_index].view(np.float64).reshape(-1, 2)


def segment_stretch(chains: ChainSet, positions: np.ndarray) -> np.ndarray:
    """Relative stretch |segment| / rest length - 1 of every segment, for (..., N, 2) positions.

    Measured against the rest lengths: a root transform's scale shows up as stretch.
    """
    pos = np.asarray(positions, dtype=np.float64)
    not_root = np.ones(chains.n_particles, bool)
    not_root[chains.root_index] = False
    child = np.nonzero(not_root)[0]
    rest = np.linalg.norm(chains.rest_points[child] - chains.rest_points[child - 1], axis=-1)
    seg = np.linalg.norm(pos[..., child, :] - pos[..., child - 1, :], axis=-1)
    return seg / rest - 1.0


def _carried_rest_segments(chains: ChainSet, transforms: np.ndarray) -> np.ndarray:
    """Every non-root rest segment carried by its chain's root transform (linear part), as
    complex numbers (..., N - C), for (..., C, 2, 3) transforms."""
    a = np.asarray(transforms, dtype=np.float64)
    if a.shape[-3:] != (chains.n_chains, 2, 3):
        raise ValueError(f"root transforms must have shape (..., {chains.n_chains}, 2, 3), got "
                         f"{a.shape}")
    child = np.setdiff1d(np.arange(chains.n_particles), chains.root_index)
    rest = chains.rest_points[child] - chains.rest_points[child - 1]                 # (S, 2)
    lin = a[..., chains.chain_of[child], :, :2]                                      # (..., S, 2, 2)
    carried = np.einsum("...sij,sj->...si", lin, rest)
    return carried[..., 0] + 1j * carried[..., 1]


def _segments(chains: ChainSet, positions: np.ndarray) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    child = np.setdiff1d(np.arange(chains.n_particles), chains.root_index)
    seg = pos[..., child, :] - pos[..., child - 1, :]
    return seg[..., 0] + 1j * seg[..., 1]


def segment_angles(chains: ChainSet, positions: np.ndarray,
                   root_transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Swing and bend of every segment in radians (>= 0), for (..., N, 2) positions and the
    (..., C, 2, 3) root transforms they were posed with; segments ordered as ``segment_stretch``.

    ``swing``: the angle between a segment and its rest direction carried by the root transform
    (its linear part). ``bend``: the change of the angle between a segment and its parent from
    that angle in the carried rest shape, so a chain drawn bent has bend 0 at rest (0 for the
    first segment of a chain: it has no parent segment, its swing is its angle to the root
    frame). A segment folded back onto its parent has a bend near 180 degrees.
    """
    rot = _segments(chains, positions) * np.conj(_carried_rest_segments(chains, root_transforms))
    swing = np.abs(np.angle(rot))
    child = np.setdiff1d(np.arange(chains.n_particles), chains.root_index)
    has_parent = ~np.isin(child - 1, chains.root_index)
    bend = np.zeros_like(swing)
    k = np.nonzero(has_parent)[0]
    bend[..., k] = np.abs(np.angle(rot[..., k] * np.conj(rot[..., k - 1])))
    return swing, bend


def chain_swing(chains: ChainSet, positions: np.ndarray, root_transforms: np.ndarray) -> np.ndarray:
    """Each chain's signed swing (C,) in radians, for (N, 2) positions (or (..., N, 2) with
    (..., C, 2, 3) transforms): the angle from the chain's rest root-to-tip direction, carried by
    its root transform (linear part), to its current root-to-tip direction; positive
    counterclockwise on screen (image y down), so positive when a hanging chain's tip moves
    toward +x, as a positive ``step`` bias turns it. Between -pi and pi.
    """
    pos = np.asarray(positions, dtype=np.float64)
    a = np.asarray(root_transforms, dtype=np.float64)
    if a.shape[-3:] != (chains.n_chains, 2, 3):
        raise ValueError(f"root transforms must have shape (..., {chains.n_chains}, 2, 3), got "
                         f"{a.shape}")
    if pos.shape[-2:] != (chains.n_particles, 2):
        raise ValueError(f"positions must have shape (..., {chains.n_particles}, 2), got "
                         f"{pos.shape}")
    tip = pos[..., chains.tip_index, :] - pos[..., chains.root_index, :]
    rest = (chains.rest_points[chains.tip_index] - chains.rest_points[chains.root_index])
    carried = np.einsum("...cij,cj->...ci", a[..., :2], rest)
    rot = (tip[..., 0] + 1j * tip[..., 1]) * (carried[..., 0] - 1j * carried[..., 1])
    return -np.angle(rot)


def simulate(chains: ChainSet, root_transform_fn: Callable[[float], np.ndarray],
             duration: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Reset, then step at ``fps`` for ``duration`` seconds from t = 0.

    ``root_transform_fn(t)`` gives the (C, 2, 3) root transforms at time t. Returns times (T,)
    and positions (T, N, 2); frame 0 is the rest state at t = 0.
    """
    if not (fps > 0 and math.isfinite(fps)) or not (duration >= 0 and math.isfinite(duration)):
        raise ValueError(f"need fps > 0 and duration >= 0, got fps={fps!r}, duration={duration!r}")
    reset(chains)
    frames = int(round(duration * fps))
    times = np.arange(frames + 1) / fps
    positions = np.empty((frames + 1, chains.n_particles, 2))
    for k, t in enumerate(times):
        positions[k] = step(chains, root_transform_fn(float(t)), 1.0 / fps if k else 0.0)
    return times, positions


def swing_metrics(times: np.ndarray, tip_positions: np.ndarray, rest_tips: np.ndarray,
                  stop_time: float, stretch: np.ndarray | None = None, *,
                  settle_px: float = 0.5) -> dict:
    """How far tips swing, and how the swing dies down after the driving stops at stop_time.

    ``tip_positions``: (T, K, 2) tips over time. ``rest_tips``: where they would be at rest,
    (K, 2), or (T, K, 2) to follow a moving root (the rest tips carried by the root transform).
    ``stretch``: optional relative segment stretch (``segment_stretch``) for ``max_stretch``.
    Returns
      ``swing``: the largest tip distance from rest over the whole record (px);
      ``settle_s``: seconds after stop_time until every tip stays within ``settle_px`` of
        rest (inf if it never does within the record);
      ``overshoot``: after its largest excursion past stop_time, how far a tip swings out on
        the other side of rest (measured along that excursion), as a fraction of it (0 if it
        creeps back without crossing; about exp(-pi * decay / angular frequency) for a damped
        oscillation); the largest over tips;
      ``max_stretch``: the largest |relative stretch| (nan when ``stretch`` is not given);
      ``non_finite``: whether any tip position is NaN or infinite.
    """
    times = np.asarray(times, dtype=np.float64)
    tips = np.asarray(tip_positions, dtype=np.float64)
    if tips.ndim == 2:
        tips = tips[:, None, :]
    rest = np.asarray(rest_tips, dtype=np.float64)
    dev = tips - (rest if rest.ndim == 3 else rest.reshape(1, -1, 2))             # (T, K, 2)
    non_finite = not np.isfinite(dev).all()
    dist = np.linalg.norm(np.nan_to_num(dev, nan=np.inf), axis=-1)                 # (T, K)
    swing = float(dist.max()) if dist.size else 0.0

    after = times >= stop_time
    outside = (dist > settle_px).any(axis=1) & after
    if not after.any():
        settle_s = math.inf
    elif not outside.any():
        settle_s = 0.0
    else:
        last = int(np.nonzero(outside)[0][-1])
        settle_s = (float(times[last + 1] - stop_time) if last + 1 < len(times)
                    else math.inf)

    overshoot = 0.0
    if after.any() and not non_finite:
        for k in range(dev.shape[1]):                    # a metric over a few tips, not hot
            tail = dev[after, k]
            peak = int(np.argmax(dist[after, k]))
            size = float(dist[after, k][peak])
            if size <= 1e-9:
                continue
            later = tail[peak:]
            # How far past rest on the other side, along the swing: a deviation that only
            # turns aside as it dies away (one direction settling before the other) is no
            # swing back.
            back = -(later @ tail[peak]) / size
            crossed = np.cumsum(back >= 0.0) > 0
            if crossed.any():
                overshoot = max(overshoot, float(back[crossed].max()) / size)

    max_stretch = (float(np.abs(np.asarray(stretch)).max()) if stretch is not None
                   and np.size(stretch) else math.nan)
    return {"swing": swing, "settle_s": settle_s, "overshoot": overshoot,
            "max_stretch": max_stretch, "non_finite": bool(non_finite)}
