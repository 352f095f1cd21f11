"""Chains that fold their own layer are left out of the rig.

A chain is laid along what the chain finder takes for a strand; sometimes that is the outline
of a wide mass of hair (from the crown along its edge to a flick at ear level). Its soft tip
swings with gravity when the head tilts, while the hair beside it follows other chains: the
layer's ARAP cage folds over itself there, and the picture shows a flap of stretched hair with
a straight edge. The rig is posed in the head turns, nods and tilts a puppet is used in, held
until its springs settle; a layer folded over by more than ``MIN_FOLD`` of its area loses the
chain nearest the fold, and the test runs again. The hair there then moves with its other
chains and the head: it bends, it does not fold.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from .chains import HANGING_GROUPS, ChainSpec
from .model import Rig, RigSpec

# Held poses: turns, nods and tilts as far as the standard evaluation and tracking take them.
FOLD_POSES: tuple[Mapping[str, float], ...] = (
    {"ParamAngleX": 25.0}, {"ParamAngleX": -25.0}, {"ParamAngleY": 20.0},
    {"ParamAngleY": -20.0}, {"ParamAngleZ": 15.0}, {"ParamAngleZ": -15.0})
SETTLE_SECONDS = 1.5
SETTLE_FPS = 60.0
MIN_FOLD = 0.001          # share of a layer's area folded over that counts as a fold
MIN_HAIR_CHAINS = 2       # a rig keeps at least this many hair chains
MAX_DROPS = 8             # each check costs about half a second: a rig gets at most this many


def settle(rig: Rig, params: Mapping[str, float], seconds: float = SETTLE_SECONDS,
           fps: float = SETTLE_FPS) -> None:
    """Hold ``params`` from rest until the springs settle."""
    rig.hold(params, max(1, int(round(seconds * fps))), 1.0 / fps)


def folding_chain(rig: Rig, poses: Sequence[Mapping[str, float]] = FOLD_POSES) -> int | None:
    """Index (in ``rig.chain_specs``) of the chain nearest the largest fold any of ``poses``
    makes, or None when no layer folds by ``MIN_FOLD`` of its area."""
    worst = None
    for params in poses:
        settle(rig, params)
        for layer, share, where in rig.cage_folds():
            if share >= MIN_FOLD and (worst is None or share > worst[1]):
                worst = (layer, share, where)
    if worst is None:
        return None
    layer, _, where = worst
    # The chain whose particles lie nearest the folded triangles (most of them).
    own = [i for i, c in enumerate(rig.chain_specs) if c.layer == layer]
    votes = np.zeros(len(own), int)
    for p in where:
        dists = [np.linalg.norm(rig.chain_specs[i].rest[1:] - p, axis=1).min() for i in own]
        votes[int(np.argmin(dists))] += 1
    return own[int(np.argmax(votes))]


def without_folding_chains(spec: RigSpec, poses: Sequence[Mapping[str, float]] = FOLD_POSES,
                           say: Callable[[str], None] | None = None) -> RigSpec:
    """``spec`` without the chains that fold their layer in ``poses`` (see the module's doc);
    it keeps at least ``MIN_HAIR_CHAINS`` hair chains and drops at most ``MAX_DROPS``. Each
    chain left out is named to ``say``."""
    chains: list[ChainSpec] = list(spec.chains)
    for _ in range(MAX_DROPS):
        if not chains:
            break
        bad = folding_chain(Rig(replace(spec, chains=list(chains))), poses)
        if bad is None:
            break
        hair = sum(c.group in HANGING_GROUPS for c in chains)
        if chains[bad].group in HANGING_GROUPS and hair <= MIN_HAIR_CHAINS:
            break
        if say is not None:
            say(f"chain {chains[bad].name} left out: it folds its layer in a turn or tilt")
        chains.pop(bad)
    return spec if len(chains) == len(spec.chains) else replace(spec, chains=chains)
