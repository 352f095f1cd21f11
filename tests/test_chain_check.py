"""Chains that fold their own layer are left out: the fold measure on a real rig, the choice of
the chain nearest a fold, and the loop that drops chains (with rigs that fold on cue)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from rig import chain_check
from rig.chain_check import folding_chain, without_folding_chains
from rig.chains import ChainSpec
from rig.model import Rig
from seethrough_core.character import Character, Layer
from rig.autorig import build_spec


def _hair_rig() -> Rig:
    """A head (face disc) with back hair: a cap and two locks, each with its chain."""
    h, w = 300, 300
    yy, xx = np.mgrid[0:h, 0:w]
    face = (xx - 150) ** 2 + (yy - 140) ** 2 <= 60 ** 2
    hair = (((xx - 150) ** 2 + (yy - 130) ** 2 <= 80 ** 2) |
            (((np.abs(xx - 85) < 14) | (np.abs(xx - 215) < 14)) & (yy > 130) & (yy < 270)))
    layers = []
    for name, mask, colour in (("back hair", hair & ~face, (80, 50, 40)),
                               ("face", face, (250, 220, 200))):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[mask] = (*colour, 255)
        layers.append(Layer(name, rgba, tag=name))
    spec = build_spec(Character((w, h), layers))
    assert spec.chains
    return Rig(spec)


def test_a_rig_at_rest_has_no_fold_and_a_mirrored_cage_triangle_is_one():
    rig = _hair_rig()
    rig.reset()
    rig.pose({}, 1 / 60)
    assert rig.cage_folds() == []
    li, cl = next(iter(rig._arap.items()))
    # Fold one cage triangle over: move its first vertex across the opposite edge.
    tri = cl.cage_triangles
    areas = []
    for t in tri:
        a, b, c = cl.cage_rest[t]
        areas.append(abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2)
    k = int(np.argmax(areas))
    a, b, c = (cl.cage_rest[i] for i in tri[k])
    cl.cage_out[:] = cl.cage_rest
    cl.cage_out[tri[k][0]] = b + c - a                   # a mirrored across the edge bc
    folds = rig.cage_folds()
    assert len(folds) == 1
    layer, share, where = folds[0]
    assert layer == li
    assert 0 < share < 0.5
    # Where: among the folded triangles, the one moved (its rest centroid).
    assert np.min(np.linalg.norm(where - (a + b + c) / 3, axis=1)) < 1e-6


class _FakeRig:
    """Duck-typed rig: folds its layer 0 at ``at`` while the chain named ``culprit`` is in."""
    built: list[list[str]] = []

    def __init__(self, spec, culprit="c1", at=(60.0, 100.0), share=0.02):
        self.chain_specs = list(spec.chains)
        self._fold = [(0, share, np.array([at]))] \
            if any(c.name == culprit for c in self.chain_specs) else []
        _FakeRig.built.append([c.name for c in self.chain_specs])

    def hold(self, params, frames, dt):
        pass

    def cage_folds(self):
        return self._fold


def _spec_with_chains(*names_and_x, group="back hair"):
    spec = build_spec(Character((40, 40), [Layer("back hair", np.full((40, 40, 4), 255, np.uint8),
                                                 tag="back hair")]))
    chains = [ChainSpec(n, group, 0, np.array([[x, 0.0], [x, 50.0], [x, 100.0]]), "head")
              for n, x in names_and_x]
    return replace(spec, chains=chains)


def test_the_chain_nearest_the_fold_is_blamed():
    spec = _spec_with_chains(("c0", 0.0), ("c1", 55.0), ("c2", 120.0))
    assert folding_chain(_FakeRig(spec), poses=[{}]) == 1
    assert folding_chain(_FakeRig(spec, culprit="none"), poses=[{}]) is None
    # A fold smaller than MIN_FOLD of the layer is no fold.
    assert folding_chain(_FakeRig(spec, share=0.5 * chain_check.MIN_FOLD), poses=[{}]) is None


def test_folding_chains_are_dropped_until_none_folds(monkeypatch):
    spec = _spec_with_chains(("c0", 0.0), ("c1", 55.0), ("c2", 120.0))
    monkeypatch.setattr(chain_check, "Rig", _FakeRig)
    _FakeRig.built = []
    said = []
    out = without_folding_chains(spec, poses=[{}], say=said.append)
    assert [c.name for c in out.chains] == ["c0", "c2"]
    assert len(said) == 1 and "c1" in said[0]                        # named as it goes
    assert _FakeRig.built == [["c0", "c1", "c2"], ["c0", "c2"]]     # checked again after
    # A rig that does not fold is returned as it is.
    clean = _spec_with_chains(("c0", 0.0), ("c2", 120.0))
    assert without_folding_chains(clean, poses=[{}]) is clean


def test_a_rig_keeps_two_hair_chains_even_if_one_folds(monkeypatch):
    spec = _spec_with_chains(("c0", 0.0), ("c1", 55.0))
    skirt = _spec_with_chains(("c0", 0.0), ("c1", 55.0), group="skirt")
    monkeypatch.setattr(chain_check, "Rig", _FakeRig)
    assert [c.name for c in without_folding_chains(spec, poses=[{}]).chains] == ["c0", "c1"]
    # A skirt's chain goes whatever the hair keeps.
    assert [c.name for c in without_folding_chains(skirt, poses=[{}]).chains] == ["c0"]
