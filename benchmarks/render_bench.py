"""Rendering benchmark: a full frame (deform + upload + draw + readback) against the baseline
that draws the same textures as static quads (same atlas, framebuffers, MSAA and readback).

The budget (DESIGN.md): render_fps >= 0.8 x baseline_fps. Frames of the two kinds alternate, so
a noisy machine slows both alike.

    python -m benchmarks.render_bench [CHARACTER.psd] [--size 1024] [--frames 60] [--quality normal]

Without a PSD the example character is rigged and measured.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Sequence

import numpy as np

from seethrough_core.character import InputError

from runtime.drawing.renderer import QUALITIES, Renderer

WARMUP_FRAMES = 3


def _motion(k: int, fps: float = 60.0) -> dict[str, float]:
    """A lively but deterministic performance: head sway, nod, gaze, blinks, talking."""
    t = k / fps
    return {
        "ParamAngleX": 25.0 * math.sin(1.3 * t),
        "ParamAngleY": 10.0 * math.sin(0.9 * t),
        "ParamAngleZ": 8.0 * math.sin(0.7 * t),
        "ParamBodyAngleX": 6.0 * math.sin(0.5 * t),
        "ParamEyeBallX": math.sin(2.1 * t),
        "ParamEyeLOpen": 0.5 + 0.5 * math.cos(3.0 * t),
        "ParamEyeROpen": 0.5 + 0.5 * math.cos(3.0 * t),
        "ParamMouthOpenY": 0.5 + 0.5 * math.sin(7.0 * t),
        "ParamBreath": 0.5 + 0.5 * math.sin(1.5 * t),
    }


def benchmark_render(rig, size: tuple[int, int] = (1024, 1024), frames: int = 60, *,
                     quality: str = "normal") -> dict[str, float]:
    """Frames per second of our full frame and of the static-quads baseline, measured on one
    renderer. The rig is reset afterwards."""
    if frames < 1:
        raise InputError(f"frames must be at least 1, got {frames}")
    dt = 1.0 / 60.0
    render_s = baseline_s = 0.0
    with Renderer(rig, size, quality=quality) as renderer:
        w, h = renderer.size
        out = np.empty((h, w, 4), np.uint8)
        rig.reset()
        for k in range(WARMUP_FRAMES):
            renderer.draw(rig.pose(_motion(k), dt))
            renderer.read(out)
            renderer.draw_static_quads()
            renderer.read(out)
        for k in range(WARMUP_FRAMES, WARMUP_FRAMES + frames):
            t0 = time.perf_counter()
            renderer.draw(rig.pose(_motion(k), dt))
            renderer.read(out)
            t1 = time.perf_counter()
            renderer.draw_static_quads()
            renderer.read(out)
            t2 = time.perf_counter()
            render_s += t1 - t0
            baseline_s += t2 - t1
    rig.reset()
    return {"render_fps": frames / render_s, "baseline_fps": frames / baseline_s}


def _load_rig(path: str | None):
    from rig.autorig import autorig
    if path is None:
        from examples.character import draw_example_character
        return autorig(draw_example_character())
    from seethrough_core.loading import load_character
    return autorig(load_character(path))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.render_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("character", nargs="?", help="layered PSD (default: the example character)")
    parser.add_argument("--size", type=int, default=1024, help="square output size in px")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--quality", choices=QUALITIES, default="normal")
    args = parser.parse_args(argv)
    try:
        rig = _load_rig(args.character)
        result = benchmark_render(rig, (args.size, args.size), args.frames, quality=args.quality)
    except InputError as exc:
        print(f"render_bench: error: {exc}", file=sys.stderr)
        return 2
    result["ratio"] = result["render_fps"] / result["baseline_fps"]
    print(json.dumps({k: round(v, 2) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
