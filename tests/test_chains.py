"""Laying chains along the strands that swing: synthetic layers with known strands."""
from __future__ import annotations

import numpy as np

from rig.anchors import Anchors
from rig.chains import find_chains


def _bob_head():
    """Back hair of a round head (radius 100 about (200, 200)) with two locks hanging from
    its sides down to y = 420: a full-canvas alpha and the anchors."""
    h, w = 460, 400
    yy, xx = np.mgrid[0:h, 0:w]
    skull = (xx - 200) ** 2 + (yy - 200) ** 2 <= 110 ** 2
    locks = ((np.abs(xx - 110) < 22) | (np.abs(xx - 290) < 22)) & (yy >= 200) & (yy < 420)
    alpha = np.where(skull | locks, 255, 0).astype(np.uint8)
    anchors = Anchors(canvas=(w, h), face_center=(200.0, 230.0), face_size=(150.0, 170.0),
                      head_center=(200.0, 200.0), head_radius=100.0, neck_pivot=(200.0, 320.0),
                      body_center_x=200.0)
    return alpha, anchors


def test_hair_chains_hang_down_the_locks_and_the_hanging_test_drops_no_strand():
    # Chains that do not hang are dropped (see the next test); the locks' own chains, which
    # flare out a little on their way down, all stay.
    alpha, anchors = _bob_head()
    chains = find_chains(alpha, (0, 0), "back hair", anchors, 0, "back hair")
    assert chains
    for c in chains:
        d = c.rest[-1] - c.rest[0]
        assert d[1] >= 0.5 * np.hypot(*d), c.rest
    # Both locks keep their chains, down to near their tips.
    tips = np.array([c.rest[-1] for c in chains])
    for x in (110, 290):
        near = tips[np.abs(tips[:, 0] - x) < 30]
        assert len(near) and near[:, 1].max() > 380


def test_a_chain_hangs_when_its_tip_is_below_its_root_within_60_degrees_of_straight_down():
    from rig.chains import _hangs
    sideways = np.array([[349.0, 251.0], [328.0, 251.0], [307.0, 251.0], [287.0, 251.0]])
    assert not _hangs(sideways)            # the skull's outline beside the root zone (seen)
    assert not _hangs(np.array([[0.0, 0.0], [5.0, -20.0]]))          # up: an ahoge
    assert _hangs(np.array([[0.0, 0.0], [0.0, 40.0]]))               # straight down
    assert _hangs(np.array([[0.0, 0.0], [20.0, 20.0], [40.0, 40.0]]))  # a lock flaring out
    assert not _hangs(np.array([[0.0, 0.0], [40.0, 20.0]]))          # 63 degrees off


def test_every_hair_group_sags_alike_at_a_held_tilt():
    # Hair is one material: a front lock hanging beside back hair settles at the same swing
    # when the head is held tilted, whatever layer holds it. The back hair's defaults once
    # sagged five times as far as the front's: side by side they parted by 5 degrees at a
    # 15-degree tilt, and the page showed between them.
    import math
    from rig.chains import default_chain_params
    from rig.springs import build_chains, chain_swing, step
    lock = np.stack([np.full(8, 200.0), np.linspace(100.0, 240.0, 8)], axis=1)
    groups = ["front hair", "side hair", "hair", "back hair"]
    chains = build_chains([lock] * len(groups), groups,
                          {g: default_chain_params(g) for g in groups}, rest_is_equilibrium=True)
    t = math.radians(15)
    c, s = math.cos(t), math.sin(t)
    px, py = 200.0, 100.0                          # turned about the roots
    tilt = np.array([[c, -s, px - c * px + s * py], [s, c, py - s * px - c * py]])
    frames = np.repeat(tilt[None], len(groups), axis=0)
    step(chains, frames, 0.0)
    for _ in range(8 * 60):
        out = step(chains, frames, 1 / 60)
    swing = np.degrees(chain_swing(chains, out, frames))
    assert np.ptp(swing) < 0.3, swing
    assert abs(swing[0]) > 1.0, swing              # and they do hang under gravity
