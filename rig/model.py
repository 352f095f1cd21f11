"""The posable puppet: a RigSpec (plain data, what the rig file stores) and the Rig built from it.

A puppet is nodes + parameters + bindings + physics drivers: the nodes are the layer meshes, the
parameters the Live2D standard set, the bindings the expression deformers and the per-vertex warp
attributes, the physics the spring chains that bend hair, skirts and sleeves through ARAP.

`Rig.pose(params, dt)` is the only per-frame call. It reads parameters, steps the springs, bends
chain layers (ARAP back-substitution), applies the expression deformers and the global head/body
warp to one concatenated vertex buffer, and derives the drawing order for the current head angle.
It never touches OpenGL and allocates no per-frame arrays beyond numpy temporaries.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np

from seethrough_core.character import InputError
from seethrough_core.taxonomy import BACKDROP_TAG, BODY_TAGS, HAIR_TAGS, HEAD_TAGS

from . import springs
from .anchors import Anchors
from .arap import arap_precompute, arap_solve
from .binding import (FEATURE_TAGS, HAIR_LIFT, bind_layer, body_levels, depth_lift, face_dome,
                      held_at_floor, neck_floor, reference_depths)
from .chains import REFERENCE_HEAD_RADIUS, ChainSpec, default_chain_params
from .deform import (FrameState, WarpAttributes, WarpGeometry, frame_state, global_warp,
                     local_affine)
from .features import (BlushDeformer, BodyDeformer, BrowDeformer, Deformer, EyeCloseDeformer,
                       EyelashDeformer, EyewhiteDeformer, FrameParams, IrisDeformer,
                       MouthDeformer, ParamSlots)
from .embed import barycentric_embedding
from .stitch import find_borders, stitch
from .mesh import Mesh, mesh_from_alpha
from .params import STANDARD_PARAMS, ParamSpec, ParamVector

FORMAT_VERSION = 1

# ParamHairFront/Side/Back bend the chains of their group: at +-1 the springs' rest shape turns
# by this angle about each root (+ swings the tips toward the screen's right), and the chains
# swing there with their own physics. The same angle scales the swing read back by chain_swing.
HAIR_PARAM_ANGLE = np.radians(20.0)
HAIR_PARAM_OF_GROUP = {"front hair": "ParamHairFront", "side hair": "ParamHairSide",
                       "back hair": "ParamHairBack", "hair": "ParamHairBack"}


@dataclass
class LayerSpec:
    name: str
    tag: str
    texture: np.ndarray                 # (h, w, 4) uint8 straight alpha
    offset: tuple[int, int]
    mesh: Mesh
    side: str | None = None
    stratum: int | None = None
    group: int | None = None
    variant: str | None = None
    depth: float | None = None          # median pseudo-depth, 0 near .. 1 far
    clip_to: int | None = None          # index of the layer that masks this one (irides -> eyewhite)


@dataclass
class RigSpec:
    size: tuple[int, int]
    anchors: Anchors
    layers: list[LayerSpec]
    chains: list[ChainSpec] = field(default_factory=list)
    chain_params: dict[str, springs.ChainParams] = field(default_factory=dict)
    params: tuple[ParamSpec, ...] = STANDARD_PARAMS
    mesh_density: float = 1.0
    source: str | None = None


class Pose:
    """One frame of the puppet: deformed vertices of every layer and the order to draw them.

    Arrays are owned by the Rig and overwritten by the next `pose` call; `copy()` keeps one.
    """

    __slots__ = ("vertices", "alpha", "order", "layer_alpha", "ranges")

    def __init__(self, vertices, alpha, order, layer_alpha, ranges):
        self.vertices = vertices        # (V, 2) float32, canvas px, all layers concatenated
        self.alpha = alpha              # (V,) float32 per-vertex opacity
        self.order = order              # (L,) int32 layer indices, bottom first
        self.layer_alpha = layer_alpha  # (L,) float32 max opacity per layer (0: skip it)
        self.ranges = ranges            # (L, 2) vertex [start, stop) per layer

    def layer_vertices(self, i: int) -> np.ndarray:
        a, b = self.ranges[i]
        return self.vertices[a:b]

    def copy(self) -> "Pose":
        return Pose(self.vertices.copy(), self.alpha.copy(), self.order.copy(),
                    self.layer_alpha.copy(), self.ranges)


class Rig:
    def __init__(self, spec: RigSpec):
        # The rig owns its physics tuning: retuning one rig must not change another built
        # from the same spec.
        spec = replace(spec, chain_params=dict(spec.chain_params))
        self.spec = spec
        self.size = spec.size
        self.anchors = spec.anchors
        self.params = ParamVector(spec.params)
        layers = spec.layers
        counts = [len(l.mesh.vertices) for l in layers]
        self.ranges = np.zeros((len(layers), 2), np.int64)
        self.ranges[:, 1] = np.cumsum(counts)
        self.ranges[1:, 0] = self.ranges[:-1, 1]
        self.rest = (np.concatenate([l.mesh.vertices for l in layers]).astype(np.float64)
                     if layers else np.zeros((0, 2)))
        self._ref_depth = reference_depths(layers)
        floor = neck_floor(layers, spec.anchors)
        per_layer = [bind_layer(l.mesh.vertices, l.tag, spec.anchors, l.depth,
                                self._ref_depth.get(l.tag), floor) for l in layers]
        per_layer = stitch_layers(spec, per_layer, self._ref_depth, floor)
        for l, a in zip(layers, per_layer) if floor is not None else ():
            if l.tag == "neck" and len(a.w_head):
                a.w_head = held_at_floor(l.mesh.vertices, a.w_head, floor, spec.anchors)
        self.attrs = WarpAttributes.concat(per_layer)
        shoulder_y, chest_y, hip_y = body_levels(spec.anchors)
        self.geometry = WarpGeometry(spec.anchors.head_center, spec.anchors.neck_pivot,
                                     spec.anchors.body_center_x,
                                     spec.anchors.hip or (spec.anchors.body_center_x, hip_y))
        self.breath_amplitude = 0.015 * max(hip_y - shoulder_y, spec.anchors.face_size[1])
        self.deformers = [self._make_deformer(i, l) for i, l in enumerate(layers)]
        self._param_index = {p.id: self.params.index(p.id) for p in spec.params}
        self._fp = FrameParams()
        self._slots = ParamSlots(self._param_index)

        # Buffers reused every frame.
        n = len(self.rest)
        self._local = np.zeros((n, 2))
        self._out64 = np.zeros((n, 2))
        self._vertices = np.zeros((n, 2), np.float32)
        self._alpha = np.ones(n, np.float32)
        self._layer_alpha = np.array([1.0 if b > a else 0.0 for a, b in self.ranges], np.float32)
        # Views into the buffers for the layers that have expression deformers.
        self._active = [(d, self.rest[a:b], self._local[a:b], self._alpha[a:b])
                        for d, (a, b) in zip(self.deformers, self.ranges)
                        if d.kind != "rigid" and b > a]
        self._alpha_layers = [(i, self._alpha[a:b]) for i, (d, (a, b))
                              in enumerate(zip(self.deformers, self.ranges))
                              if getattr(d, "sets_alpha", False) and b > a]
        self._build_chains()
        self._build_order()
        self.reset()

    # ------------------------------------------------------------------------ construction

    def _make_deformer(self, i: int, layer: LayerSpec) -> Deformer:
        rest = layer.mesh.vertices.astype(np.float64)
        a = self.anchors
        tags = {(l.tag, l.variant) for l in self.spec.layers}
        has_close_art = ("eyelash", "eye_close") in tags
        has_open_art = ("mouth", "mouth_open") in tags
        if layer.variant == "eye_close":
            return EyeCloseDeformer(rest, a, layer.side)
        if layer.variant == "blush":
            return BlushDeformer()
        if layer.tag in BODY_TAGS and layer.tag != "neck" and len(rest):
            body = BodyDeformer(rest, a, layer.tag, layer.side)
            return body if body.arm or body.shrug.any() else Deformer()
        if layer.tag == "mouth":
            return MouthDeformer(rest, a, layer.variant, has_open_art)
        if not a.eyes:
            return Deformer()
        if layer.tag == "eyewhite" or layer.tag == "eyes":
            return EyewhiteDeformer(rest, a, layer.side, has_close_art)
        if layer.tag == "eyelash":
            return EyelashDeformer(rest, a, layer.side, has_close_art)
        if layer.tag == "irides":
            return IrisDeformer(rest, a, layer.side, has_close_art)
        if layer.tag == "eyebrow":
            return BrowDeformer(rest, a, layer.side)
        return Deformer()

    def _build_chains(self) -> None:
        spec = self.spec
        self.chain_specs = list(spec.chains)
        self.chain_layers: dict[int, list[int]] = {}
        for ci, c in enumerate(self.chain_specs):
            self.chain_layers.setdefault(c.layer, []).append(ci)
        if not self.chain_specs:
            self.chains = None
            self._probe_attrs = None
            self._arap = {}
            return
        # Physics is tuned for a reference head size: accelerations scale with this head.
        scale = max(spec.anchors.head_radius, 1.0) / REFERENCE_HEAD_RADIUS
        params = {}
        for g in {c.group for c in self.chain_specs}:
            p = spec.chain_params.get(g) or default_chain_params(g)
            params[g] = replace(p, gravity=p.gravity * scale, wind=p.wind * scale,
                                wind_gust=p.wind_gust * scale)
        # The drawing shows the hair at rest under gravity: that is the springs' equilibrium.
        self.chains = springs.build_chains([c.rest for c in self.chain_specs],
                                           [c.group for c in self.chain_specs], params,
                                           rest_is_equilibrium=True,
                                           one_material=HAIR_PARAM_OF_GROUP)
        self._chain_starts = np.cumsum([0] + [len(c.rest) for c in self.chain_specs])
        hair = [HAIR_PARAM_OF_GROUP.get(c.group) for c in self.chain_specs]
        self._bias_chains = np.array([i for i, h in enumerate(hair) if h], np.int64)
        self._bias_params = np.array([self.params.index(h) for h in hair if h], np.int64)
        self._bias = np.zeros(len(self.chain_specs))
        # Probe points at each chain root: the warp's local frame there drives the springs.
        roots = np.array([c.rest[0] for c in self.chain_specs], np.float64)
        probes = np.repeat(roots, 3, axis=0)
        probes[1::3, 0] += 1.0
        probes[2::3, 1] += 1.0
        self._probe_rest = probes
        per_chain = []
        for c in self.chain_specs:
            lay = spec.layers[c.layer]
            # The root's own binding for all three probes: the frame there, not a warp gradient.
            per_chain.append(bind_layer(np.repeat(c.rest[:1], 3, axis=0), lay.tag, spec.anchors,
                                        lay.depth, self._ref_depth.get(lay.tag)))
        self._probe_attrs = WarpAttributes.concat(per_chain)
        self._probe_out = np.zeros((len(probes), 2))

        # ARAP per chain layer: handles are the chain particles plus pins in the root zone.
        self._particle_chain = np.repeat(np.arange(len(self.chain_specs)),
                                         [len(c.rest) for c in self.chain_specs])
        self._arap = {}
        for li, chain_ids in self.chain_layers.items():
            lay = spec.layers[li]
            verts = lay.mesh.vertices.astype(np.float64)
            cage = _cage(lay)
            particle_idx = np.concatenate([np.arange(self._chain_starts[c], self._chain_starts[c + 1])
                                           for c in chain_ids])
            particles = np.concatenate([self.chain_specs[c].rest for c in chain_ids])
            pins = _pin_points(cage.vertices.astype(np.float64), particles,
                               [self.chain_specs[c].rest for c in chain_ids])
            handles = np.concatenate([particles, pins])
            weights = np.concatenate([np.ones(len(particles)), np.full(len(pins), 2.0)])
            pre = arap_precompute(cage.vertices.astype(np.float64), cage.triangles, handles, weights)
            embedding = barycentric_embedding(cage.vertices, cage.triangles, verts)
            self._arap[li] = _ChainLayer(pre, particle_idx, handles.copy(),
                                         cage.vertices.astype(np.float64),
                                         np.asarray(cage.triangles), embedding, verts)

    def _build_order(self) -> None:
        """Rest order is the layer order; hair layers that stand beside the face may pass behind
        it when the head turns away from them (see `_order`)."""
        layers = self.spec.layers
        self.rest_order = np.arange(len(layers), dtype=np.int32)
        self._order = self.rest_order.copy()
        face = [i for i, l in enumerate(layers) if l.tag == "face"]
        self._face_slot = min(face) if face else None
        swap, ref = [], []
        a = self.anchors
        for i, l in enumerate(layers):
            if self._face_slot is None or i < self._face_slot:
                continue
            if l.tag in HAIR_TAGS - {"back hair"} and len(l.mesh.vertices):
                c = l.mesh.vertices.mean(axis=0)
                # Height above the head's centre plane: on the dome, above the skin, and lifted
                # or lowered by the layer's pseudo-depth relative to the face (a far stratum
                # passes behind the face sooner).
                z = float(0.9 * face_dome(np.array([c[0]]), np.array([c[1]]), a)[0]
                          + HAIR_LIFT * a.head_radius
                          + depth_lift(l.depth, self._ref_depth.get(l.tag), a.head_radius))
                swap.append(i)
                ref.append((c[0] - a.head_center[0], z))
        self._swap = np.array(swap, np.int64)
        self._swap_ref = np.array(ref, np.float64).reshape(-1, 2)
        self._swapped_mask = np.zeros(len(swap), bool)

    # --------------------------------------------------------------------------- per frame

    def reset(self) -> None:
        """Back to rest: parameters at defaults, springs at rest."""
        self.params = ParamVector(self.spec.params)
        self._frame = frame_state(0, 0, 0, 0, 0, 0, 0, self.breath_amplitude)
        if self.chains is not None:
            springs.reset(self.chains)
            for cl in self._arap.values():
                cl.reset()

    def hold(self, params: Mapping[str, float], frames: int, dt: float) -> Pose:
        """From rest, ``params`` held for ``frames`` frames of ``dt`` seconds (springs settling);
        the last Pose."""
        self.reset()
        pose = self.pose(params, dt)
        for _ in range(frames - 1):
            pose = self.pose(params, dt)
        return pose

    def pose(self, params: Mapping[str, float] | None = None, dt: float = 0.0) -> Pose:
        if params:
            self.params.update(params)
        v = self.params.values
        ix = self._param_index
        fs = frame_state(v[ix["ParamAngleX"]], v[ix["ParamAngleY"]], v[ix["ParamAngleZ"]],
                         v[ix["ParamBodyAngleX"]], v[ix["ParamBodyAngleY"]],
                         v[ix["ParamBodyAngleZ"]], v[ix["ParamBreath"]], self.breath_amplitude)
        self._frame = fs
        fp = self._fp
        fp.read(v, self._slots)
        fp.derive()

        local = self._local
        np.copyto(local, self.rest)
        self._alpha.fill(1.0)
        if self.chains is not None:
            self._bend_chains(fs, dt)
        for d, rest, loc, alpha in self._active:
            d.apply(rest, loc, alpha, fp)
        global_warp(local, self.attrs, self.geometry, fs, self._out64)
        self._vertices[:] = self._out64
        for i, alpha in self._alpha_layers:
            self._layer_alpha[i] = alpha.max()
        return Pose(self._vertices, self._alpha, self._draw_order(fs), self._layer_alpha, self.ranges)

    def _root_transforms(self, fs: FrameState) -> np.ndarray:
        global_warp(self._probe_rest, self._probe_attrs, self.geometry, fs, self._probe_out)
        return local_affine(self._probe_rest[0::3], self._probe_out.reshape(-1, 3, 2))

    def _bend_chains(self, fs: FrameState, dt: float) -> None:
        transforms = self._root_transforms(fs)
        self._bias[self._bias_chains] = self.params.values[self._bias_params] * HAIR_PARAM_ANGLE
        screen = springs.step(self.chains, transforms, dt, bias=self._bias)
        # Back into each chain's rest frame: ARAP bends the layer there, the warp maps it out.
        # Through the frame the springs swing in (rotation and uniform scale), not the full
        # affine: a turn foreshortens the root's frame across, which its best-fit similarity
        # spreads as a uniform shrink; undone by the affine, a settled chain would come back
        # shorter than drawn (hair tips rising as the head turns) and apart from its neighbours.
        inv = _invert_affines(springs.similarity_affines(self.chains, transforms))[
            self._particle_chain]
        local = np.einsum("pij,pj->pi", inv[:, :, :2], screen) + inv[:, :, 2]
        for li, cl in self._arap.items():
            n = len(cl.particle_idx)
            fresh = local[cl.particle_idx]
            # A settled chain needs no new solve: reuse the last one (ARAP is deterministic).
            if not (cl.solved and np.abs(fresh - cl.targets[:n]).max() < 1e-3):
                cl.targets[:n] = fresh
                arap_solve(cl.pre, cl.targets, out=cl.cage_out)
                cl.out[:] = cl.embedding @ cl.cage_out
                cl.solved = True
            a, b = self.ranges[li]
            self._local[a:b] = cl.out

    def _draw_order(self, fs: FrameState) -> np.ndarray:
        if len(self._swap) == 0 or self._face_slot is None:
            return self.rest_order
        dx, z = self._swap_ref[:, 0], self._swap_ref[:, 1]
        zr = z * fs.cos_yaw - dx * fs.sin_yaw
        behind = zr < 0.0
        if np.array_equal(behind, self._swapped_mask):
            return self._order
        self._swapped_mask = behind
        moved = set(self._swap[behind].tolist())
        order = [i for i in self.rest_order.tolist() if i not in moved]
        at = order.index(self._face_slot)
        order[at:at] = sorted(moved)
        self._order = np.array(order, np.int32)
        return self._order

    # --------------------------------------------------------------------------- physics

    def chain_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Spring particles as of the last `pose` (N, 2) canvas px, chains in `chain_specs`
        order root to tip, and each chain's root transform (C, 2, 3). Reading changes nothing."""
        if self.chains is None:
            return np.zeros((0, 2)), np.zeros((0, 2, 3))
        transforms = self._root_transforms(self._frame)
        return springs.step(self.chains, transforms, 0.0), transforms

    def cage_folds(self) -> list[tuple[int, float, np.ndarray]]:
        """Where the springs fold a layer over itself, as of the last `pose`: per chain-driven
        layer with folded cage triangles, (layer index, their share of the layer's area at
        rest, (K, 2) their rest centroids in canvas px, chains' rest frame)."""
        out = []
        for li, cl in self._arap.items():
            tri = cl.cage_triangles
            if not len(tri):
                continue
            rest, now = _signed_areas(cl.cage_rest, tri), _signed_areas(cl.cage_out, tri)
            folded = (rest != 0) & (np.sign(now) != np.sign(rest))
            if folded.any():
                share = float(np.abs(rest[folded]).sum() / max(np.abs(rest).sum(), 1e-12))
                out.append((li, share, cl.cage_rest[tri[folded]].mean(axis=1)))
        return out

    def hair_swing(self) -> dict[str, float]:
        """What Live2D's physics would output on ParamHairFront/Side/Back: each group's mean
        chain swing (root-to-tip turn from the rest shape carried by the root) over
        HAIR_PARAM_ANGLE, within -1..1; + toward the screen's right. Only groups the rig has."""
        if self.chains is None or not len(self._bias_chains):
            return {}
        positions, transforms = self.chain_state()
        swing = springs.chain_swing(self.chains, positions, transforms)
        out: dict[str, list[float]] = {}
        for c in self._bias_chains.tolist():
            out.setdefault(HAIR_PARAM_OF_GROUP[self.chain_specs[c].group], []).append(swing[c])
        return {pid: float(np.clip(np.mean(v) / HAIR_PARAM_ANGLE, -1.0, 1.0))
                for pid, v in sorted(out.items())}

    def chain_groups(self) -> list[str]:
        return sorted({c.group for c in self.chain_specs})

    def chain_params(self, group: str) -> springs.ChainParams:
        """The group's physics as stored in the rig (for the reference head size)."""
        return self.spec.chain_params.get(group) or default_chain_params(group)

    def set_chain_params(self, params: Mapping[str, springs.ChainParams]) -> None:
        """Retune chain groups (values for the reference head size, as in the rig file).

        The spec is updated, so saving the rig keeps the tuning; the springs restart from rest.
        """
        unknown = sorted(set(params) - set(self.chain_groups()))
        if unknown:
            raise InputError(f"no spring chains in group(s) {', '.join(unknown)}; this rig has "
                             f"{', '.join(self.chain_groups()) or 'none'}")
        self.spec.chain_params.update(params)
        if self.chain_specs:
            self._build_chains()
            springs.reset(self.chains)

    # --------------------------------------------------------------------------- helpers

    @property
    def layer_count(self) -> int:
        return len(self.spec.layers)

    def clip_masks(self) -> dict[int, int]:
        return {i: l.clip_to for i, l in enumerate(self.spec.layers) if l.clip_to is not None}


def stitch_layers(spec: RigSpec, attrs: list[WarpAttributes], refs: dict[str, float],
                  floor: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> list[WarpAttributes]:
    """Per-layer warp attributes stitched across cuts and limited across overlaps (see
    rig.stitch); ``refs``: each tag's reference depth (binding.reference_depths). Expression
    variants are left alone: they sit on their own parts. ``floor``: the neck's
    (binding.neck_floor)."""
    layers = spec.layers
    if len(layers) < 2:
        return attrs
    seam = max(3.0, 0.004 * max(spec.size))
    # The backdrop is scenery: nothing is stitched to it.
    masks = [l.texture[..., 3] > 127
             if l.variant is None and l.texture.size and l.tag != BACKDROP_TAG else None
             for l in layers]
    borders = find_borders(masks, [l.offset for l in layers], spec.size, seam)
    radius = max(3.0 * seam, 0.25 * spec.anchors.head_radius)
    groups = ["both" if l.tag == "neck" else "head" if l.tag in HEAD_TAGS else "body"
              for l in layers]
    rigid = [l.tag in FEATURE_TAGS for l in layers]

    def evaluate(j: int, points: np.ndarray) -> WarpAttributes:
        l = layers[j]
        return bind_layer(points, l.tag, spec.anchors, l.depth, refs.get(l.tag), floor)

    return stitch([l.mesh.vertices.astype(np.float64) for l in layers], attrs, borders, seam,
                  radius, evaluate, groups, rigid)


class _ChainLayer:
    """ARAP state of one chain-driven layer: the cage's factorisation and handle targets, the
    embedding that carries the render mesh along, and the last solution."""

    __slots__ = ("pre", "particle_idx", "targets", "rest_targets", "cage_rest", "cage_out",
                 "cage_triangles", "embedding", "rest", "out", "solved")

    def __init__(self, pre, particle_idx, targets, cage_rest, cage_triangles, embedding, rest):
        self.pre = pre
        self.particle_idx = particle_idx
        self.targets = targets
        self.rest_targets = targets.copy()
        self.cage_rest = cage_rest
        self.cage_out = cage_rest.copy()
        self.cage_triangles = cage_triangles
        self.embedding = embedding
        self.rest = rest
        self.out = rest.copy()
        self.solved = False

    def reset(self) -> None:
        self.targets[:] = self.rest_targets
        self.cage_out[:] = self.cage_rest
        self.out[:] = self.rest
        self.solved = False


# The ARAP cage of a chain layer: coarse, with a generous outline band (it is never drawn).
CAGE_DENSITY = 0.4
CAGE_BAND = 6.0


def _cage(layer: LayerSpec) -> Mesh:
    cage = mesh_from_alpha(layer.texture[..., 3], layer.offset, density=CAGE_DENSITY, band=CAGE_BAND)
    return cage if cage.n_triangles else layer.mesh


def _signed_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = vertices[triangles[:, 0]], vertices[triangles[:, 1]], vertices[triangles[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _invert_affines(m: np.ndarray) -> np.ndarray:
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    det = a * d - b * c
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    inv = np.empty_like(m)
    inv[:, 0, 0] = d / det
    inv[:, 0, 1] = -b / det
    inv[:, 1, 0] = -c / det
    inv[:, 1, 1] = a / det
    tx, ty = m[:, 0, 2], m[:, 1, 2]
    inv[:, 0, 2] = -(inv[:, 0, 0] * tx + inv[:, 0, 1] * ty)
    inv[:, 1, 2] = -(inv[:, 1, 0] * tx + inv[:, 1, 1] * ty)
    return inv


def _pin_points(vertices: np.ndarray, particles: np.ndarray, chains: list[np.ndarray],
                count: int = 10) -> np.ndarray:
    """Rest points that hold the layer to what it hangs from: mesh vertices near the chain roots
    and the part of the layer above them (spread out by farthest-point sampling)."""
    roots = np.array([c[0] for c in chains])
    top = roots[:, 1].max()
    candidates = vertices[vertices[:, 1] <= top]
    if len(candidates) == 0:
        candidates = roots
    # Never pin a vertex that sits on a chain below its root.
    chosen = [int(np.argmin(candidates[:, 1]))]
    dmin = np.linalg.norm(candidates - candidates[chosen[0]], axis=1)
    while len(chosen) < min(count, len(candidates)):
        j = int(np.argmax(dmin))
        if dmin[j] <= 1e-9:
            break
        chosen.append(j)
        dmin = np.minimum(dmin, np.linalg.norm(candidates - candidates[j], axis=1))
    return candidates[chosen]
