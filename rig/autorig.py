"""From a Character to a posable Rig, automatically.

1. anchors from the layer masks (face, eyes, mouth, neck, shoulders, hip);
2. a quality Delaunay mesh per layer, denser where it bends (hair, face, eyes, mouth) and
   coarser on big clothes, scaled by the user's ``mesh_density``;
3. spring chains along hair strands, skirt hems, sleeves, tails and ribbons, less those that
   fold their layer when the head turns or tilts (rig.chain_check);
4. clipping (irides inside their eyewhite) and the default physics per chain group;
5. a drawn blush over the face for ParamCheek when the art has none (rig.blush).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from seethrough_core.character import Character, InputError
from seethrough_core.taxonomy import BACKDROP_TAG

from . import springs
from .anchors import find_anchors
from .blush import blush_layer
from .chain_check import without_folding_chains
from .chains import default_chain_params, find_chains
from .mesh import Mesh, mesh_from_alpha, mesh_of_boxes
from .model import LayerSpec, Rig, RigSpec

# Relative mesh density per part: fine where the art bends or is small, coarse on big cloth.
# Spring-driven parts (hair, sleeves, skirts) are re-solved by ARAP every frame, so they stay
# moderate: a strand still gets ~200 vertices, ample for smooth bends.
DENSITY = {
    "face": 1.0, "front hair": 0.75, "back hair": 0.65, "hair": 0.7, "irides": 1.0,
    "eyewhite": 1.2, "eyelash": 1.2, "eyebrow": 1.0, "mouth": 1.4, "nose": 0.8, "ears": 0.7,
    "neck": 0.7, "topwear": 0.5, "bottomwear": 0.5, "handwear": 0.45, "legwear": 0.5,
    "footwear": 0.5, "tail": 0.7, "wings": 0.6, "headwear": 0.7, "neckwear": 0.6,
}

# Outline band (px) the meshes may extend past the art. Wider lets outlines simplify more:
# 2.5 px instead of 1.5 px saves ~17 % of the triangles, which llvmpipe pays for per frame.
MESH_BAND = 2.5

ProgressFn = Callable[[str], None]


def build_spec(character: Character, *, mesh_density: float = 1.0,
               physics: dict[str, springs.ChainParams] | None = None,
               progress: ProgressFn | None = None) -> RigSpec:
    if not character.layers:
        raise InputError("the character has no layers to rig")
    if not (0.05 <= mesh_density <= 20):
        raise InputError(f"--mesh-density must be between 0.05 and 20, got {mesh_density}")
    say = progress or (lambda msg: None)
    character = cover_irides(character)
    say("anchors")
    anchors = find_anchors(character)
    character = with_blush(character, anchors)
    layers: list[LayerSpec] = []
    chains = []
    for i, layer in enumerate(character.layers):
        say(f"mesh {layer.name}")
        density = DENSITY.get(layer.tag, 1.0) * mesh_density
        if layer.empty:
            mesh = Mesh.empty_mesh()
        elif layer.tag == BACKDROP_TAG:      # never bends: boxes over its marks will do
            mesh = mesh_of_boxes(layer.alpha, layer.offset)
        else:
            mesh = mesh_from_alpha(layer.alpha, layer.offset, density=density, band=MESH_BAND,
                                   refine_mask=_tip_refinement(layer))
        layers.append(LayerSpec(
            name=layer.name, tag=layer.tag, texture=layer.rgba, offset=layer.offset, mesh=mesh,
            side=layer.side, stratum=layer.stratum, group=layer.group, variant=layer.variant,
            depth=layer.depth_median(),
        ))
        if layer.variant is None and mesh.n_vertices:
            chains += find_chains(layer.alpha, layer.offset, layer.tag, anchors, i, layer.name)
    _assign_clipping(layers)
    say("physics")
    groups = {c.group for c in chains}
    chain_params = {g: default_chain_params(g) for g in groups}
    if physics:
        for g, p in physics.items():
            chain_params[g] = p
    spec = RigSpec(size=character.size, anchors=anchors, layers=layers, chains=chains,
                   chain_params=chain_params, mesh_density=mesh_density, source=character.source)
    say("chains")
    return without_folding_chains(spec, say=say)


def with_blush(character: Character, anchors) -> Character:
    """The character with a drawn blush over its face when it has none (for ParamCheek)."""
    blush = blush_layer(character, anchors)
    if blush is None:
        return character
    faces = [i for i, l in enumerate(character.layers) if l.tag == "face" and l.variant is None]
    layers = list(character.layers)
    layers.insert(max(faces) + 1, blush)
    return replace(character, layers=layers)


def _tip_refinement(layer) -> np.ndarray | None:
    """Hanging parts bend most near their tips: ask for triangles up to 2x finer toward the
    bottom of hair, tails and ribbons."""
    if layer.tag not in ("front hair", "back hair", "hair", "tail", "headwear"):
        return None
    rows = np.flatnonzero(layer.alpha.any(axis=1))
    if rows.size < 8:
        return None
    y = np.arange(layer.height, dtype=np.float32)
    t = np.clip((y - (rows[0] + 0.45 * (rows[-1] - rows[0]))) / max(0.55 * (rows[-1] - rows[0]), 1), 0, 1)
    return np.broadcast_to((1.0 * t * t * (3 - 2 * t))[:, None], layer.alpha.shape).astype(np.float32)


def autorig(character: Character, **kwargs) -> Rig:
    return Rig(build_spec(character, **kwargs))


def cover_irides(character: Character) -> Character:
    """Irides are clipped to their eyewhite; where an iris is drawn past its white (artists
    often let its lower rim overlap the lid), the white is extended under the iris there, so
    clipping never cuts what the picture shows. Hidden under the iris: the picture is unchanged."""
    layers = list(character.layers)
    whites = {l.side: i for i, l in enumerate(layers) if l.tag in ("eyewhite", "eyes")
              and l.variant is None and not l.empty}
    for iris in (l for l in layers if l.tag == "irides" and l.variant is None and not l.empty):
        wi = whites.get(iris.side, whites.get(None))
        if wi is None:
            continue
        white = layers[wi]
        x0 = min(white.bbox[0], iris.bbox[0])
        y0 = min(white.bbox[1], iris.bbox[1])
        x1 = max(white.bbox[2], iris.bbox[2])
        y1 = max(white.bbox[3], iris.bbox[3])
        rgba = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        wx, wy = white.offset[0] - x0, white.offset[1] - y0
        rgba[wy:wy + white.height, wx:wx + white.width] = white.rgba
        ia = np.zeros(rgba.shape[:2], np.uint8)
        ix, iy = iris.offset[0] - x0, iris.offset[1] - y0
        ia[iy:iy + iris.height, ix:ix + iris.width] = iris.alpha
        # Only under the iris's solid pixels, and only near the white (a separate blob of
        # iris colour elsewhere is not this eye's business).
        bare = (ia > 127) & (rgba[..., 3] < 128)
        if not bare.any() or not (rgba[..., 3] > 127).any():
            continue
        colour = np.median(rgba[rgba[..., 3] > 200, :3], axis=0) if (rgba[..., 3] > 200).any() \
            else np.array([250, 250, 250])
        rgba[bare, :3] = colour.astype(np.uint8)
        rgba[bare, 3] = 255
        depth = None
        if white.depth is not None:
            depth = np.full(rgba.shape[:2], float(white.depth_median()), np.float32)
            depth[wy:wy + white.height, wx:wx + white.width] = white.depth
        layers[wi] = replace(white, rgba=rgba, offset=(x0, y0), depth=depth)
    return replace(character, layers=layers)


def _assign_clipping(layers: list[LayerSpec]) -> None:
    """Irides are drawn only inside their eyewhite (same side, or the single shared layer)."""
    whites = [i for i, l in enumerate(layers) if l.tag in ("eyewhite", "eyes") and l.variant is None]
    for l in layers:
        if l.tag != "irides" or l.variant is not None:
            continue
        same = [i for i in whites if layers[i].side == l.side]
        pick = same or ([i for i in whites if layers[i].side is None] if l.side is None else [])
        if not pick and len(whites) == 1:
            pick = whites
        if pick:
            l.clip_to = pick[0]
