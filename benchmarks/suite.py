"""Benchmarks (`make bench`, `seethrough-rig bench CHAR.rig --json`). Prints JSON.

Timings are medians over many frames after a warm-up; the machine is shared and noisy, which is
why budgets are checked here and never in unit tests.

- pose: `Rig.pose` under a moving performance (head, eyes, mouth, body, breath all changing
  every frame, springs swinging), per frame.
- render: frames per second of the whole frame (deform + upload + draw + readback) at
  1024x1024 against drawing the same textures as static quads (budget: >= 0.8 x baseline).
- tracking: MediaPipe's face time per 640x480 frame against our overhead on top of it.
- single picture: a layered character flattened to one picture, then decomposed and rigged
  (`build char.png`, timed; budget < 30 s at 1280x1280), and that puppet posed against the
  puppet of the true layers (`eval-motion`: head PSNR per pose, cracks, closed eyes) with the
  documented targets passed or missed.
- browser source: frames a headless chromium page draws from `live --browser-source` and the
  latency from the frame handed to the output to the page's "drawn" answer, at 720x720 (see
  benchmarks/browser_source_bench.py; skipped with a note without chromium).
- arap: every layer mesh of the rig solved for a bend of its handles (the chain particles and
  pins of chain layers; spread-out vertices elsewhere), ours against libigl's 2D ARAP
  (igl.arap_precomputation / igl.arap_solve, 10 iterations) on the same mesh and handle vertices,
  with the rigidity error of both.
- batch: items per minute of `batch` (small drawn characters: decompose, build, pose sheet) on
  the local worker pool and on a local Ray instance, and Ray's overhead per item.
- lipsync: processing time per 20 ms hop of the audio lip-sync (median, p95; budget < 50 ms)
  at 16 and 48 kHz, its share of real time on one core, and the audio-to-parameter latency
  (hop + window delay + processing; and measured: a vowel's onset to half the opening).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SHARED_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "characters" / "seethrough-sample.psd"


def performance(i: int, fps: float = 60.0) -> dict[str, float]:
    """A busy, smooth performance: everything moves every frame."""
    t = i / fps
    return {
        "ParamAngleX": 25 * math.sin(1.3 * t), "ParamAngleY": 12 * math.sin(0.9 * t + 1),
        "ParamAngleZ": 10 * math.sin(0.7 * t + 2), "ParamEyeLOpen": 0.5 + 0.5 * math.cos(2.1 * t),
        "ParamEyeROpen": 0.5 + 0.5 * math.cos(2.1 * t + 0.2), "ParamEyeBallX": math.sin(0.5 * t),
        "ParamEyeBallY": 0.5 * math.sin(0.6 * t), "ParamBrowLY": 0.5 * math.sin(t),
        "ParamBrowRY": 0.5 * math.sin(t), "ParamMouthOpenY": 0.5 + 0.5 * math.sin(3.0 * t),
        "ParamMouthForm": math.sin(0.4 * t), "ParamBodyAngleX": 6 * math.sin(0.5 * t),
        "ParamBodyAngleY": 3 * math.sin(0.4 * t), "ParamBodyAngleZ": 6 * math.sin(0.6 * t),
        "ParamBreath": 0.5 + 0.5 * math.sin(1.6 * t),
    }


def bench_pose(rig, frames: int = 600, warmup: int = 60) -> dict:
    rig.reset()
    times = []
    for i in range(warmup + frames):
        params = performance(i)
        t0 = time.perf_counter()
        rig.pose(params, 1 / 60)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times_ms = np.array(times) * 1e3
    return {
        "pose_ms_median": round(float(np.median(times_ms)), 4),
        "pose_ms_p90": round(float(np.percentile(times_ms, 90)), 4),
        "layers": rig.layer_count,
        "vertices": int(len(rig.rest)),
        "chains": len(rig.spec.chains),
    }


def arap_cases(spec) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(layer name, vertices, triangles, handle points, bent targets) for each layer mesh."""
    from rig.model import _pin_points
    cases = []
    chains_by_layer: dict[int, list] = {}
    for c in spec.chains:
        chains_by_layer.setdefault(c.layer, []).append(c.rest)
    for i, layer in enumerate(spec.layers):
        v = layer.mesh.vertices.astype(np.float64)
        if len(v) < 10 or layer.variant is not None:
            continue
        if i in chains_by_layer:
            rests = chains_by_layer[i]
            particles = np.concatenate(rests)
            handles = np.concatenate([particles, _pin_points(v, particles, rests)])
        else:
            handles = _spread(v, 6)
        # A swing: each handle turns about the layer's top centre by an angle growing downward.
        top = np.array([v[:, 0].mean(), v[:, 1].min()])
        height = max(np.ptp(v[:, 1]), 1.0)
        ang = np.radians(20.0) * np.clip((handles[:, 1] - top[1]) / height, 0, 1) ** 1.5
        rel = handles - top
        c, s = np.cos(ang), np.sin(ang)
        targets = top + np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], 1)
        cases.append((layer.name, v, layer.mesh.triangles, handles, targets))
    return cases


def _spread(v: np.ndarray, k: int) -> np.ndarray:
    chosen = [int(np.argmin(v[:, 1]))]
    d = np.linalg.norm(v - v[chosen[0]], axis=1)
    while len(chosen) < min(k, len(v)):
        j = int(np.argmax(d))
        chosen.append(j)
        d = np.minimum(d, np.linalg.norm(v - v[j], axis=1))
    return v[chosen]


def bench_arap(spec, repeats: int = 30, cases=None) -> dict:
    from benchmarks.arap_bench import benchmark_arap
    rows = []
    for name, v, tris, handles, targets in (arap_cases(spec) if cases is None else cases):
        r = benchmark_arap(v, tris, handles, targets, repeats=repeats)
        rows.append({"layer": name, **{k: (round(x, 5) if isinstance(x, float) else x)
                                      for k, x in r.items()}})
    ours = [r["arap_ms_median"] for r in rows]
    theirs = [r["libigl_arap_ms_median"] for r in rows if r.get("libigl_arap_ms_median") is not None]
    out = {"layers": rows,
           "arap_ms_median": round(statistics.median(ours), 4) if ours else None,
           "rigidity_error_mean": round(float(np.mean([r["rigidity_error"] for r in rows])), 5) if rows else None}
    if theirs:
        out["libigl_arap_ms_median"] = round(statistics.median(theirs), 4)
        out["libigl_rigidity_error_mean"] = round(float(np.mean(
            [r["libigl_rigidity_error"] for r in rows if r.get("libigl_rigidity_error") is not None])), 5)
        out["speedup_vs_libigl"] = round(statistics.median(
            [r["libigl_arap_ms_median"] / max(r["arap_ms_median"], 1e-9) for r in rows
             if r.get("libigl_arap_ms_median")]), 2)
    return out


def bench_rig(rig, frames: int = 600) -> dict:
    from benchmarks.arap_bench import frame_totals
    result = bench_pose(rig, frames=frames)
    cases = arap_cases(rig.spec)
    result["arap"] = bench_arap(rig.spec, cases=cases)
    result["arap_ms_median"] = result["arap"]["arap_ms_median"]
    if "libigl_arap_ms_median" in result["arap"]:
        result["libigl_arap_ms_median"] = result["arap"]["libigl_arap_ms_median"]
    # What a frame costs: every layer solved once, timed whole (the per-layer median hides the
    # largest layers); libigl at the same rigidity.
    frame = frame_totals(cases)
    result["arap_frame"] = {k: (round(v, 4) if isinstance(v, float) else v)
                            for k, v in frame.items()}
    return result


def _timed_build(character) -> tuple[object, float]:
    from rig.autorig import autorig
    t0 = time.perf_counter()
    rig = autorig(character)
    return rig, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="seethrough-rig benchmarks (JSON on stdout)")
    parser.add_argument("--frames", type=int, default=600)
    args = parser.parse_args(argv)

    from examples.character import draw_example_character
    from seethrough_core.loading import load_character

    report: dict = {"machine": {"cpus": _cpus()}}
    rig, build_s = _timed_build(draw_example_character())
    example = bench_rig(rig, args.frames)
    example["build_s"] = round(build_s, 3)
    report["example"] = example
    report["pose_ms_median"] = example["pose_ms_median"]
    if SHARED_SAMPLE.is_file():
        rig, build_s = _timed_build(load_character(SHARED_SAMPLE))
        sample = bench_rig(rig, args.frames)
        sample["build_s"] = round(build_s, 3)
        report["sample"] = sample
        report["sample_pose_ms_median"] = sample["pose_ms_median"]
    # Rendering (deform + upload + draw + readback) against static quads of the same textures,
    # on the See-through sample when it is there, else on the example.
    from benchmarks.render_bench import benchmark_render
    render_rig = rig if "sample" in report else _timed_build(draw_example_character())[0]
    rates = benchmark_render(render_rig, (1024, 1024), frames=120)
    report["render"] = {"character": "sample" if "sample" in report else "example",
                        "size": [1024, 1024], "quality": "normal",
                        "render_fps": round(rates["render_fps"], 2),
                        "baseline_fps": round(rates["baseline_fps"], 2),
                        "ratio": round(rates["render_fps"] / rates["baseline_fps"], 3)}
    report["render_fps"] = report["render"]["render_fps"]
    report["baseline_fps"] = report["render"]["baseline_fps"]
    sections = [report["example"]] + ([report["sample"]] if "sample" in report else [])
    rows = [r for s in sections for r in s["arap"]["layers"]]
    report["arap_ms_median"] = round(statistics.median(r["arap_ms_median"] for r in rows), 4)
    lib = [r["libigl_arap_ms_median"] for r in rows if r.get("libigl_arap_ms_median") is not None]
    if lib:
        report["libigl_arap_ms_median"] = round(statistics.median(lib), 4)
        report["arap_speedup_vs_libigl"] = round(statistics.median(
            r["libigl_arap_ms_median"] / max(r["arap_ms_median"], 1e-9) for r in rows
            if r.get("libigl_arap_ms_median")), 2)
        report["rigidity_error_mean"] = round(float(np.mean([r["rigidity_error"] for r in rows])), 5)
        report["libigl_rigidity_error_mean"] = round(float(np.mean(
            [r["libigl_rigidity_error"] for r in rows if r.get("libigl_rigidity_error") is not None])), 5)
    # The headline ARAP figure: per-frame totals over all layers, ours against libigl's at equal
    # rigidity, on each character.
    for name, section in (("example", report["example"]), ("sample", report.get("sample"))):
        if section is not None:
            frame = section["arap_frame"]
            report[f"{name}_arap_frame_ms"] = frame["arap_frame_ms"]
            report[f"{name}_libigl_frame_ms"] = frame["libigl_frame_ms"]
            report[f"{name}_arap_frame_speedup"] = None if frame["speedup_vs_libigl"] is None \
                else round(frame["speedup_vs_libigl"], 2)
    # One picture -> puppet: build time and how it holds up in motion, on the sample when it
    # is there (1280x1280), and always on the example character (1024x1024).
    report["single_picture"] = {"example": bench_single_picture(draw_example_character())}
    if SHARED_SAMPLE.is_file():
        report["single_picture"]["sample"] = bench_single_picture(load_character(SHARED_SAMPLE))
        report["build_from_picture_s"] = report["single_picture"]["sample"]["build_s"]
    # Tracking on a 640x480 clip made from the shared face photo: MediaPipe's own time against
    # everything we add per frame (solve, filters, copies).
    from benchmarks.track_bench import SHARED_FACE, benchmark_tracking
    if SHARED_FACE.is_file():
        report["tracking"] = benchmark_tracking(None)
        report["mediapipe_ms_median"] = report["tracking"]["mediapipe_ms_median"]
        report["tracking_overhead_ms_median"] = report["tracking"]["overhead_ms_median"]
    # Lip-sync from audio: cost per 20 ms hop against its budget, and latency.
    from benchmarks.lipsync_bench import benchmark_lipsync
    report["lipsync"] = benchmark_lipsync()
    report["lipsync_hop_ms_median"] = report["lipsync"]["hop_ms_median"]
    report["lipsync_hop_ms_p95"] = report["lipsync"]["hop_ms_p95"]
    report["lipsync_latency_ms"] = report["lipsync"]["latency_ms"]
    # `live --browser-source`: frames drawn by a headless chromium page and write->drawn
    # latency at 720x720 (skipped, with the reason, without chromium or Playwright).
    from benchmarks.browser_source_bench import benchmark_browser_source
    report["browser_source"] = benchmark_browser_source((720, 720))
    if "isolated" in report["browser_source"]:
        isolated = report["browser_source"]["isolated"]
        report["browser_source_fps"] = isolated["delivered_fps"]
        report["browser_source_latency_ms_median"] = isolated["latency_ms_median"]
    # `batch`: items per minute on the local pool and on local Ray, Ray's cost per item
    # (the Ray figures are null, with a note, when Ray is not installed).
    from benchmarks.batch_bench import benchmark_batch
    report["batch"] = benchmark_batch()
    report["batch_pool_items_per_min"] = report["batch"]["pool"]["items_per_min"]
    if report["batch"]["ray"] is not None:
        report["batch_ray_items_per_min"] = report["batch"]["ray"]["items_per_min"]
        report["batch_ray_overhead_s_per_item"] = report["batch"]["ray_overhead_s_per_item"]
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def bench_single_picture(truth) -> dict:
    """`build` from the flattened picture of a layered character (timed), and the motion
    evaluation of that puppet against the true layers' puppet."""
    from rig.autorig import autorig
    from runtime.commands.eval_motion import check_targets
    from runtime.sessions.motion_eval import compare_puppets
    from seethrough_core.decompose import decompose
    from seethrough_core.evaluate import rest_layers
    image = rest_layers(truth).composite()
    t0 = time.perf_counter()
    single = decompose(image)
    t1 = time.perf_counter()
    rig = autorig(single)
    t2 = time.perf_counter()
    result = compare_puppets(autorig(truth), rig, image=image)
    result["targets"] = check_targets(result, with_truth=True)
    return {"size": list(truth.size), "build_s": round(t2 - t0, 3),
            "decompose_s": round(t1 - t0, 3), "rig_s": round(t2 - t1, 3),
            "poses": {k: {m: v[m] for m in ("psnr", "static_psnr", "cracks") if m in v}
                      for k, v in result["poses"].items()},
            "summary": result["summary"], "targets_missed": [k for k, ok in
                                                              result["targets"].items() if not ok]}


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
