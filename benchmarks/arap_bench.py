"""Benchmark helper for `make bench`: our ARAP against libigl's on the same mesh and handles.

libigl wants handles at vertices, so handle points are snapped to their nearest vertex and both
solvers get exactly those vertices. libigl's default energy for 2D triangles is the per-triangle
("elements") ARAP energy with cotangent weights, iterated from the rest shape; ours is the
non-iterative two-step method of Igarashi et al., so the rigidity errors are close, not equal.
libigl (a dev extra) is imported lazily, here only: the runtime never imports it.
Run ``python -m benchmarks.arap_bench`` for the standard cases.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from rig.arap import arap_precompute, arap_solve, rigidity_error

LIBIGL_MAX_ITER = 10


def snap_handles(vertices: np.ndarray, handle_idx_or_points: np.ndarray,
                 targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertex indices, targets) for handles given as vertex indices (K,) or points (K, 2).

    Points go to their nearest vertex. When several handles land on one vertex the first one
    wins (its target is kept, the others are dropped), so both solvers see one constraint each.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    handles = np.asarray(handle_idx_or_points)
    targets = np.asarray(targets, dtype=np.float64)
    if handles.ndim == 1 and np.issubdtype(handles.dtype, np.integer):
        index = handles.astype(np.intp)
        if index.size and (index.min() < 0 or index.max() >= len(vertices)):
            raise ValueError(f"handle vertex indices must lie in [0, {len(vertices)})")
    elif handles.ndim == 2 and handles.shape[1] == 2:
        squared = ((handles[:, None, :].astype(np.float64) - vertices[None, :, :]) ** 2).sum(-1)
        index = np.argmin(squared, axis=1)
    else:
        raise ValueError("handles must be vertex indices (K,) or points (K, 2), got shape "
                         f"{handles.shape}")
    if targets.shape != (len(index), 2):
        raise ValueError(f"targets must have shape ({len(index)}, 2), got {targets.shape}")
    _, first = np.unique(index, return_index=True)
    first = np.sort(first)
    return index[first], targets[first]


def benchmark_arap(vertices: np.ndarray, triangles: np.ndarray,
                   handle_idx_or_points: np.ndarray, targets: np.ndarray,
                   repeats: int = 50) -> dict:
    """Per-frame solve time (median over ``repeats``, ms) and rigidity error, ours and libigl's.

    Keys: ``n_vertices``, ``n_triangles``, ``n_handles``, ``arap_precompute_ms``,
    ``arap_ms_median``, ``rigidity_error``, ``handle_error_px`` (largest distance from a
    handle vertex to its target: ours are soft constraints), and the same for libigl
    (``libigl_*``; ``libigl_max_iter`` iterations of its 2D ARAP, hard constraints). The libigl
    values are None when libigl is not installed or fails on the mesh (then ``libigl_failure``
    says why; libigl rejects, for instance, a mesh piece that holds no handle).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    triangles = np.ascontiguousarray(triangles, dtype=np.int64)
    index, goal = snap_handles(vertices, handle_idx_or_points, targets)
    goal = np.ascontiguousarray(goal)

    start = time.perf_counter()
    pre = arap_precompute(vertices, triangles, vertices[index])
    precompute_ms = (time.perf_counter() - start) * 1e3
    out = np.empty_like(vertices)
    ours_ms = _median_ms(lambda: arap_solve(pre, goal, out), repeats)
    result = {
        "n_vertices": len(vertices), "n_triangles": len(triangles), "n_handles": len(index),
        "arap_precompute_ms": precompute_ms,
        "arap_ms_median": ours_ms,
        "rigidity_error": rigidity_error(vertices, out, triangles),
        "handle_error_px": float(np.max(np.linalg.norm(out[index] - goal, axis=1))),
    }
    result.update(_libigl(vertices, triangles, index, goal, repeats))
    return result


def _libigl(vertices: np.ndarray, triangles: np.ndarray, index: np.ndarray, goal: np.ndarray,
            repeats: int) -> dict:
    keys = ("libigl_precompute_ms", "libigl_arap_ms_median", "libigl_rigidity_error",
            "libigl_handle_error_px")
    try:
        import igl
    except ImportError:
        return {**dict.fromkeys(keys), "libigl_max_iter": LIBIGL_MAX_ITER}
    data = igl.ARAPData()
    data.max_iter = LIBIGL_MAX_ITER
    deformed = [vertices]
    try:
        start = time.perf_counter()
        igl.arap_precomputation(vertices, triangles, 2, index.astype(np.int32), data)
        precompute_ms = (time.perf_counter() - start) * 1e3
        # Each solve starts from the rest shape, as a per-frame call without warm start would.
        ms = _median_ms(lambda: deformed.__setitem__(0, igl.arap_solve(goal, data, vertices)),
                        repeats)
    except RuntimeError as error:
        # libigl refuses some meshes ours accepts, e.g. a piece with no handle vertex.
        return {**dict.fromkeys(keys), "libigl_max_iter": LIBIGL_MAX_ITER,
                "libigl_failure": str(error)}
    result = {"libigl_precompute_ms": precompute_ms, "libigl_arap_ms_median": ms,
              **dict.fromkeys(keys[2:]), "libigl_max_iter": LIBIGL_MAX_ITER}
    if np.all(np.isfinite(deformed[0])):
        result["libigl_rigidity_error"] = rigidity_error(vertices, deformed[0], triangles)
        result["libigl_handle_error_px"] = float(
            np.max(np.linalg.norm(deformed[0][index] - goal, axis=1)))
    else:
        result["libigl_failure"] = "non-finite vertices"
    return result


def frame_totals(cases, repeats: int = 30) -> dict:
    """The ARAP work of one frame, every layer mesh solved once: ours, and libigl's at equal
    rigidity. ``cases``: (name, vertices, triangles, handle points or indices, targets).

    A median across layers hides the largest layers, which cost the most; so each frame is
    timed whole. libigl gets, per layer, the fewest iterations (1..LIBIGL_MAX_ITER) whose result
    is as rigid as ours (``rigidity_error`` no larger), or all of them when it never gets there.
    Keys: ``layers``, ``arap_frame_ms`` (median per-frame total), ``arap_frame_ms_p90``,
    ``libigl_frame_ms``, ``libigl_frame_ms_p90``, ``speedup_vs_libigl`` (ratio of the
    medians), ``rigidity_error_mean`` and ``libigl_rigidity_error_mean`` (over layers, at those
    iterations), ``libigl_iterations`` (per layer), ``libigl_short_of_ours`` (layers where even
    LIBIGL_MAX_ITER iterations are less rigid than ours); libigl keys are None without libigl.
    """
    solved = []
    for name, v, tris, handles, targets in cases:
        v = np.ascontiguousarray(v, dtype=np.float64)
        tris = np.ascontiguousarray(tris, dtype=np.int64)
        index, goal = snap_handles(v, handles, targets)
        pre = arap_precompute(v, tris, v[index])
        out = np.empty_like(v)
        arap_solve(pre, goal, out)
        solved.append((name, v, tris, index, np.ascontiguousarray(goal), pre, out,
                       rigidity_error(v, out, tris)))

    def ours_frame():
        for _, _, _, _, goal, pre, out, _ in solved:
            arap_solve(pre, goal, out)

    ours = _samples_ms(ours_frame, repeats)
    result = {"layers": len(solved), "arap_frame_ms": statistics.median(ours),
              "arap_frame_ms_p90": float(np.percentile(ours, 90)),
              "rigidity_error_mean": float(np.mean([s[-1] for s in solved])) if solved else None,
              "libigl_frame_ms": None, "libigl_frame_ms_p90": None, "speedup_vs_libigl": None,
              "libigl_rigidity_error_mean": None, "libigl_iterations": None,
              "libigl_short_of_ours": None}
    try:
        import igl
    except ImportError:
        return result
    runs, iterations, errors, short = [], {}, [], 0
    for name, v, tris, index, goal, _, _, ours_error in solved:
        data = None
        for k in range(1, LIBIGL_MAX_ITER + 1):
            data = igl.ARAPData()
            data.max_iter = k
            try:
                igl.arap_precomputation(v, tris, 2, index.astype(np.int32), data)
                deformed = igl.arap_solve(goal, data, v)
            except RuntimeError:
                data = None
                break
            error = rigidity_error(v, deformed, tris) if np.isfinite(deformed).all() else np.inf
            if error <= ours_error:
                break
        if data is None:
            continue                      # libigl refuses this mesh (e.g. a piece with no handle)
        short += error > ours_error
        iterations[name] = k
        errors.append(error)
        runs.append((goal, data, v))

    def libigl_frame():
        for goal, data, v in runs:
            igl.arap_solve(goal, data, v)

    theirs = _samples_ms(libigl_frame, repeats)
    result.update(libigl_frame_ms=statistics.median(theirs),
                  libigl_frame_ms_p90=float(np.percentile(theirs, 90)),
                  libigl_rigidity_error_mean=float(np.mean(errors)) if errors else None,
                  libigl_iterations=iterations, libigl_short_of_ours=int(short))
    if len(runs) == len(solved) and result["arap_frame_ms"] > 0:
        result["speedup_vs_libigl"] = result["libigl_frame_ms"] / result["arap_frame_ms"]
    return result


def _samples_ms(call, repeats: int) -> list[float]:
    call()  # warm caches and lazy initialisation outside the measurement
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def _median_ms(call, repeats: int) -> float:
    return statistics.median(_samples_ms(call, repeats))


def bent_bar_case(n_vertices: int, length: float = 400.0,
                  width: float = 80.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A bar meshed by `triangle` with about ``n_vertices`` vertices, bent by a quarter turn.

    Returns (vertices, triangles, handle vertex indices, targets): the left end's corners stay,
    the right end's corners go where a circular bend of the centre line would put them.
    """
    import triangle as tr

    area = length * width / (1.2 * n_vertices)  # calibrated: `q` meshes add ~50%
    outline = np.array([[0, 0], [length, 0], [length, width], [0, width]], np.float64)
    mesh = tr.triangulate({"vertices": outline}, f"qa{area:.6f}")
    vertices, triangles = mesh["vertices"], mesh["triangles"]
    corners = np.array([np.argmin(((vertices - c) ** 2).sum(1)) for c in outline])
    radius = length / (np.pi / 2)
    mid = width / 2
    targets = np.array([[0, 0], [radius + mid, mid + radius], [radius - mid, mid + radius],
                        [0, width]])
    return vertices, triangles, corners, targets


def main() -> None:
    for n in (300, 1000):
        result = benchmark_arap(*bent_bar_case(n), repeats=200)
        print(f"bent bar, {result['n_vertices']} vertices, {result['n_triangles']} triangles:")
        for key, value in result.items():
            if key.startswith("n_"):
                continue
            print(f"  {key:24s} {f'{value:.4g}' if isinstance(value, float) else value}")


if __name__ == "__main__":
    main()
