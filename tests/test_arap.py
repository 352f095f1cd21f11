"""ARAP shape manipulation (rig/arap.py) and its benchmark helper (benchmarks/arap_bench.py)."""
from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from rig import arap
from rig.arap import arap_precompute, arap_solve, rigidity_error
from benchmarks.arap_bench import benchmark_arap, bent_bar_case, snap_handles


def grid_bar(nx: int = 21, ny: int = 5, length: float = 200.0,
             width: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """A length x width bar as a regular grid, each cell split into two triangles."""
    xs, ys = np.meshgrid(np.linspace(0, length, nx), np.linspace(0, width, ny))
    vertices = np.column_stack([xs.ravel(), ys.ravel()])
    tris = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            a, b, c, d = j * nx + i, j * nx + i + 1, (j + 1) * nx + i, (j + 1) * nx + i + 1
            # Alternate the diagonal so the mesh has no preferred shear direction.
            tris += [[a, b, d], [a, d, c]] if (i + j) % 2 == 0 else [[a, b, c], [b, d, c]]
    return vertices, np.array(tris)


def rigid(points: np.ndarray, angle: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, -s], [s, c]]).T + np.asarray(shift)


def handle_positions(pre: arap.ArapPrecomputed, deformed: np.ndarray,
                     triangles: np.ndarray) -> np.ndarray:
    """Where each handle's barycentric point ended up in the deformed mesh."""
    corners = deformed[np.asarray(triangles)[pre.handle_triangles]]
    return np.einsum("kj,kjd->kd", pre.handle_barycentric, corners)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, i]] for i in range(3))
    return 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])


# Quarter-turn bend of the grid bar's centre line, radius = length / (pi / 2), bending to +y.
BEND_RADIUS = 200.0 / (np.pi / 2)
BEND_HANDLES = np.array([[0, 0], [0, 40], [200, 0], [200, 40]], float)
BEND_TARGETS = np.array([[0, 0], [0, 40], [BEND_RADIUS + 20, 20 + BEND_RADIUS],
                         [BEND_RADIUS - 20, 20 + BEND_RADIUS]])


# -- exactness ------------------------------------------------------------------------------

def test_rigid_handle_motion_is_reproduced_exactly() -> None:
    vertices, triangles = grid_bar()
    # Corners, a vertex, and two points strictly inside triangles.
    handles = np.array([[0, 0], [200, 40], [100, 20], [33.3, 7.1], [151.2, 29.9]])
    pre = arap_precompute(vertices, triangles, handles)
    angle, shift = 2.1, (57.0, -31.5)
    deformed = arap_solve(pre, rigid(handles, angle, shift))
    expected = rigid(vertices, angle, shift)
    assert np.max(np.abs(deformed - expected)) < 1e-6 * 200


def test_identity_targets_give_the_rest_shape() -> None:
    vertices, triangles = grid_bar()
    handles = np.array([[0, 0], [200, 0], [120.5, 31.25]])
    pre = arap_precompute(vertices, triangles, handles)
    assert np.max(np.abs(arap_solve(pre, handles) - vertices)) < 1e-6 * 200


def test_one_handle_translates_the_whole_mesh() -> None:
    vertices, triangles = grid_bar()
    pre = arap_precompute(vertices, triangles, [[50.0, 20.0]])
    deformed = arap_solve(pre, [[65.0, -12.0]])
    assert np.max(np.abs(deformed - (vertices + [15.0, -32.0]))) < 1e-6 * 200


def test_matches_direct_minimisation_of_both_energies() -> None:
    """Known answer: both steps solved densely from the paper's definitions, in real 2D."""
    vertices, triangles = grid_bar(nx=6, ny=3, length=100.0, width=30.0)
    handles = np.array([[0.0, 0.0], [0.0, 30.0], [100.0, 15.0], [61.0, 9.0]])
    weights = np.array([1.0, 2.0, 1.0, 0.5])
    targets = np.array([[0.0, 0.0], [4.0, 30.0], [80.0, 60.0], [55.0, 25.0]])
    pre = arap_precompute(vertices, triangles, handles, weights)
    ours = arap_solve(pre, targets)
    expected = _reference_arap(vertices, triangles, pre, weights, targets)
    assert np.max(np.abs(ours - expected)) < 1e-5 * 100


def _reference_arap(vertices, triangles, pre, weights, targets):
    n = len(vertices)
    rot90 = np.array([[0.0, -1.0], [1.0, 0.0]])
    eye = np.eye(2)
    handle_rows = []  # (2 x 2N) matrix per handle: barycentric combination of its corners
    for tri, bary in zip(pre.handle_triangles, pre.handle_barycentric):
        row = np.zeros((2, 2 * n))
        for vertex, beta in zip(triangles[tri], bary):
            row[:, 2 * vertex:2 * vertex + 2] += beta * eye
        handle_rows.append(row)

    # Step 1: each corner k in the frame of edge i -> j keeps its rest coordinates (x, y).
    energy1 = np.zeros((2 * n, 2 * n))
    for tri in triangles:
        for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
            vi, vj, vk = tri[i], tri[j], tri[k]
            edge = vertices[vj] - vertices[vi]
            x, y = np.linalg.solve(np.column_stack([edge, rot90 @ edge]),
                                   vertices[vk] - vertices[vi])
            residual = np.zeros((2, 2 * n))
            residual[:, 2 * vk:2 * vk + 2] += eye
            residual[:, 2 * vi:2 * vi + 2] += -eye + x * eye + y * rot90
            residual[:, 2 * vj:2 * vj + 2] += -x * eye - y * rot90
            energy1 += residual.T @ residual
    pull1 = arap.HANDLE_STIFFNESS * np.mean(np.diag(energy1))
    system = energy1 + sum(pull1 * w * r.T @ r for w, r in zip(weights, handle_rows))
    rhs = sum(pull1 * w * r.T @ t for w, r, t in zip(weights, handle_rows, targets))
    step1 = np.linalg.solve(system, rhs).reshape(n, 2)

    # Step 2: each triangle's edges should be its rest edges under the rotation of the best
    # similarity from its rest shape to its step-1 shape.
    laplacian = np.zeros((n, n))
    rhs2 = np.zeros((n, 2))
    for tri in triangles:
        rest = vertices[tri] - vertices[tri].mean(0)
        moved = step1[tri] - step1[tri].mean(0)
        a = np.sum(rest * moved)
        b = np.sum(rest[:, 0] * moved[:, 1] - rest[:, 1] * moved[:, 0])
        c, s = np.array([a, b]) / np.hypot(a, b)
        rotation = np.array([[c, -s], [s, c]])
        for i, j in ((0, 1), (1, 2), (2, 0)):
            vi, vj = tri[i], tri[j]
            goal = rotation @ (vertices[vj] - vertices[vi])
            laplacian[[vi, vj], [vi, vj]] += 1.0
            laplacian[vi, vj] -= 1.0
            laplacian[vj, vi] -= 1.0
            rhs2[vj] += goal
            rhs2[vi] -= goal
    pull2 = arap.HANDLE_STIFFNESS * np.mean(np.diag(laplacian))
    system2 = laplacian.copy()
    for tri, bary, w, t in zip(pre.handle_triangles, pre.handle_barycentric, weights, targets):
        corners = triangles[tri]
        system2[np.ix_(corners, corners)] += pull2 * w * np.outer(bary, bary)
        rhs2[corners] += pull2 * w * np.outer(bary, t)
    return np.linalg.solve(system2, rhs2)


# -- behaviour ------------------------------------------------------------------------------

def test_bend_is_smooth_and_far_more_rigid_than_linear_blending() -> None:
    vertices, triangles = grid_bar()
    pre = arap_precompute(vertices, triangles, BEND_HANDLES)
    deformed = arap_solve(pre, BEND_TARGETS)

    # Linear blend of the two end transforms (identity, quarter turn) along the bar.
    right_end = rigid(vertices - [200.0, 20.0], np.pi / 2, (BEND_RADIUS, 20 + BEND_RADIUS))
    blend = vertices[:, :1] / 200.0
    linear_blend = (1 - blend) * vertices + blend * right_end
    # Best affine map of the handles applied to everything.
    homogeneous = np.column_stack([BEND_HANDLES, np.ones(len(BEND_HANDLES))])
    affine, *_ = np.linalg.lstsq(homogeneous, BEND_TARGETS, rcond=None)
    affine_fit = np.column_stack([vertices, np.ones(len(vertices))]) @ affine

    ours = rigidity_error(vertices, deformed, triangles)
    assert ours < 0.4 * rigidity_error(vertices, linear_blend, triangles)
    assert ours < 0.4 * rigidity_error(vertices, affine_fit, triangles)
    # Plausible: handles reached, no triangle flipped, area kept.
    reached = np.linalg.norm(handle_positions(pre, deformed, triangles) - BEND_TARGETS, axis=1)
    assert reached.max() < 0.01 * BEND_RADIUS
    rest_area, bent_area = signed_areas(vertices, triangles), signed_areas(deformed, triangles)
    assert np.all(np.sign(bent_area) == np.sign(rest_area))
    assert bent_area.sum() / rest_area.sum() == pytest.approx(1.0, abs=0.05)
    # The centre line's far end lands near the arc's end point.
    centre_end = deformed[np.argmin(np.linalg.norm(vertices - [200, 20], axis=1))]
    assert np.linalg.norm(centre_end - [BEND_RADIUS, 20 + BEND_RADIUS]) < 2.0


def test_uniform_scale_of_handles_lengthens_but_keeps_triangles_near_rest_size() -> None:
    """Step 2 normalises each triangle's similarity to a rotation, so triangles resist scaling:
    the mesh stretches only where the handles force it, not by the handles' uniform factor."""
    vertices, triangles = grid_bar()
    scale, centre = 1.5, np.array([100.0, 20.0])
    axis_handles = np.array([[0.0, 20.0], [200.0, 20.0]])
    pre = arap_precompute(vertices, triangles, axis_handles)
    deformed = arap_solve(pre, centre + scale * (axis_handles - centre))
    assert np.ptp(deformed[:, 0]) == pytest.approx(scale * 200, rel=0.01)
    # A similarity would make the bar 60 px thick; the thickness stays close to the rest 40.
    assert np.ptp(deformed[:, 1]) == pytest.approx(40, rel=0.1)
    # As rigid as the natural answer, a stretch along the bar alone; a similarity scores 0.5.
    axial = vertices.copy()
    axial[:, 0] = centre[0] + scale * (vertices[:, 0] - centre[0])
    assert rigidity_error(vertices, deformed, triangles) < 1.05 * rigidity_error(
        vertices, axial, triangles) < 0.8 * (scale - 1)

    # Handles at all four corners force both dimensions: area grows, but less than scale^2.
    corners = np.array([[0.0, 0.0], [200.0, 0.0], [200.0, 40.0], [0.0, 40.0]])
    pre = arap_precompute(vertices, triangles, corners)
    deformed = arap_solve(pre, centre + scale * (corners - centre))
    ratio = signed_areas(deformed, triangles).sum() / signed_areas(vertices, triangles).sum()
    assert 1.0 < ratio < scale ** 2
    assert rigidity_error(vertices, deformed, triangles) < scale - 1


def test_handles_inside_triangles_pull_their_barycentric_point() -> None:
    vertices, triangles = grid_bar()
    handles = np.array([[0.0, 0.0], [0.0, 40.0], [143.7, 17.3]])  # last one inside a triangle
    pre = arap_precompute(vertices, triangles, handles)
    assert not np.any(np.isclose(pre.handle_barycentric[2], 1.0))
    assert np.all(pre.handle_barycentric[2] > 0)
    assert np.allclose(handle_positions(pre, vertices, triangles)[2], handles[2])
    targets = handles + [[0, 0], [0, 0], [10.0, 25.0]]
    deformed = arap_solve(pre, targets)
    assert np.allclose(handle_positions(pre, deformed, triangles), targets, atol=0.05)


def test_points_inside_the_mesh_get_their_containing_triangle() -> None:
    vertices, triangles = grid_bar()
    points = np.random.default_rng(7).uniform([0.5, 0.5], [199.5, 39.5], size=(60, 2))
    pre = arap_precompute(vertices, triangles, points)
    assert pre.handle_barycentric.min() >= -1e-12
    assert np.allclose(pre.handle_barycentric.sum(axis=1), 1.0)
    assert np.allclose(handle_positions(pre, vertices, triangles), points)


def test_handle_outside_the_mesh_uses_its_nearest_triangle() -> None:
    vertices, triangles = grid_bar()
    handles = np.array([[0.0, 0.0], [205.0, 20.0]])  # 5 px right of the bar
    pre = arap_precompute(vertices, triangles, handles)
    assert pre.handle_barycentric[1].min() < 0  # extrapolated
    # ... from a triangle on the bar's right end (grid cells are 10 x 10 px).
    corners = vertices[triangles[pre.handle_triangles[1]]]
    assert np.linalg.norm(corners - handles[1], axis=1).max() < 20
    assert np.allclose(handle_positions(pre, vertices, triangles)[1], handles[1])
    deformed = arap_solve(pre, rigid(handles, -0.4, (3.0, 9.0)))
    assert np.max(np.abs(deformed - rigid(vertices, -0.4, (3.0, 9.0)))) < 1e-6 * 200


def test_heavier_handle_is_matched_more_closely() -> None:
    vertices, triangles = grid_bar()
    handles = np.array([[0.0, 20.0], [200.0, 20.0]])
    targets = np.array([[-30.0, 20.0], [230.0, 20.0]])  # stretch: the handles disagree
    pre = arap_precompute(vertices, triangles, handles, handle_weights=[1.0, 10.0])
    miss = np.linalg.norm(handle_positions(pre, arap_solve(pre, targets), triangles) - targets,
                          axis=1)
    assert miss[1] < miss[0] / 5


def test_coincident_handles_meet_at_their_weighted_mean_target() -> None:
    vertices, triangles = grid_bar()
    pre = arap_precompute(vertices, triangles, [[50.0, 20.0], [50.0, 20.0]],
                          handle_weights=[1.0, 3.0])
    deformed = arap_solve(pre, [[0.0, 0.0], [40.0, 80.0]])
    # One effective handle at (1 * (0, 0) + 3 * (40, 80)) / 4 = (30, 60): a pure translation.
    assert np.max(np.abs(deformed - (vertices + [-20.0, 40.0]))) < 1e-6 * 200


def test_collapsing_all_handles_to_one_point_stays_finite() -> None:
    vertices, triangles = grid_bar()
    pre = arap_precompute(vertices, triangles, BEND_HANDLES)
    deformed = arap_solve(pre, np.tile([[80.0, 10.0]], (4, 1)))
    assert np.all(np.isfinite(deformed))


def test_piece_without_handles_follows_the_handles_similarity() -> None:
    bar_vertices, bar_triangles = grid_bar()
    patch_vertices, patch_triangles = grid_bar(nx=3, ny=3, length=20, width=20)
    vertices = np.vstack([bar_vertices, patch_vertices + [300.0, 0.0]])
    triangles = np.vstack([bar_triangles, patch_triangles + len(bar_vertices)])
    handles = np.array([[0.0, 0.0], [200.0, 40.0]])  # both on the bar
    pre = arap_precompute(vertices, triangles, handles)
    deformed = arap_solve(pre, rigid(handles, 0.8, (5.0, 5.0)))
    assert np.max(np.abs(deformed - rigid(vertices, 0.8, (5.0, 5.0)))) < 1e-6 * 300


def test_degenerate_triangles_and_unused_vertices_are_tolerated() -> None:
    vertices, triangles = grid_bar()
    n = len(vertices)
    vertices = np.vstack([vertices, [[250.0, 250.0], [0.0, 0.0]]])  # unused; duplicate of 0
    triangles = np.vstack([triangles, [[0, 1, n + 1]], [[0, n + 1, 1]]])  # zero-area slivers
    handles = np.array([[0.0, 0.0], [200.0, 0.0]])
    pre = arap_precompute(vertices, triangles, handles)
    deformed = arap_solve(pre, rigid(handles, 1.0, (0.0, 10.0)))
    assert np.max(np.abs(deformed - rigid(vertices, 1.0, (0.0, 10.0)))) < 1e-6 * 350


# -- input errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"handle_points": np.zeros((0, 2))},
    {"handle_points": np.zeros((2, 3))},
    {"handle_points": [[np.nan, 0.0]]},
    {"handle_weights": [1.0]},
    {"handle_weights": [1.0, 0.0]},
    {"triangles": np.array([[0, 1, 999]])},
    {"triangles": np.array([[0.0, 1.0, 2.0]])},
    {"triangles": np.array([[0, 1, 1]])},  # only a degenerate triangle
    {"vertices": np.zeros((10, 3))},
])
def test_malformed_input_raises_value_error(kwargs: dict) -> None:
    vertices, triangles = grid_bar(nx=4, ny=3)
    args = {"vertices": vertices, "triangles": triangles,
            "handle_points": [[0.0, 0.0], [10.0, 10.0]], "handle_weights": None}
    args.update(kwargs)
    with pytest.raises(ValueError):
        arap_precompute(**args)


def test_wrong_number_of_targets_raises_value_error() -> None:
    vertices, triangles = grid_bar(nx=4, ny=3)
    pre = arap_precompute(vertices, triangles, [[0.0, 0.0], [10.0, 10.0]])
    for bad in ([[1.0, 2.0]], [1.0, 2.0], np.zeros((3, 2))):
        with pytest.raises(ValueError):
            arap_solve(pre, bad)


# -- per-frame mechanics --------------------------------------------------------------------

def test_solve_into_out_reuses_it_and_allocates_no_arrays() -> None:
    vertices, triangles = grid_bar(nx=41, ny=9)  # 369 vertices: an (N, 2) array is 5.9 kB
    pre = arap_precompute(vertices, triangles, BEND_HANDLES)
    out = np.empty_like(vertices)
    assert arap_solve(pre, BEND_TARGETS, out) is out
    tracemalloc.start()
    try:
        arap_solve(pre, BEND_TARGETS, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024
    assert np.allclose(out, arap_solve(pre, BEND_TARGETS))


def test_repeated_solves_do_not_depend_on_the_previous_frame() -> None:
    vertices, triangles = grid_bar()
    pre = arap_precompute(vertices, triangles, BEND_HANDLES)
    first = arap_solve(pre, BEND_TARGETS).copy()
    arap_solve(pre, BEND_HANDLES + 17.0)
    assert np.array_equal(arap_solve(pre, BEND_TARGETS), first)


def test_fallback_sparse_product_gives_the_same_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    vertices, triangles = grid_bar()
    pre = arap_precompute(vertices, triangles, BEND_HANDLES)
    fast = arap_solve(pre, BEND_TARGETS).copy()
    monkeypatch.setattr(arap, "_csr_matvec_kernel", None)
    assert np.allclose(arap_solve(pre, BEND_TARGETS), fast, rtol=0, atol=1e-9)


# -- rigidity error -------------------------------------------------------------------------

def test_rigidity_error_known_answers() -> None:
    vertices, triangles = grid_bar(nx=5, ny=3)
    assert rigidity_error(vertices, rigid(vertices, 1.3, (4.0, -2.0)), triangles) < 1e-12
    assert rigidity_error(vertices, 1.25 * vertices, triangles) == pytest.approx(0.25)
    assert rigidity_error(vertices, 0.5 * vertices, triangles) == pytest.approx(0.5)
    # A mirror image cannot be undone by a rotation: ||diag(1, -1) - R||_F / ||I||_F = sqrt(2).
    unit = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert rigidity_error(unit, unit * [1.0, -1.0], [[0, 1, 2]]) == pytest.approx(np.sqrt(2))


def test_rigidity_error_of_a_shear_matches_a_brute_force_rotation_search() -> None:
    unit = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    sheared = unit @ np.array([[1.0, 0.0], [0.7, 1.0]])  # x += 0.7 y
    angles = np.linspace(-np.pi, np.pi, 200001)
    edges_d = (sheared[1:] - sheared[0]).T                 # 2 x 2, columns are edges
    c, s = np.cos(angles), np.sin(angles)
    # || D - R(angle) I ||_F over all angles.
    residual = np.sqrt((edges_d[0, 0] - c) ** 2 + (edges_d[1, 0] - s) ** 2
                       + (edges_d[0, 1] + s) ** 2 + (edges_d[1, 1] - c) ** 2)
    expected = residual.min() / np.sqrt(2)
    assert rigidity_error(unit, sheared, [[0, 1, 2]]) == pytest.approx(expected, abs=1e-6)


# -- benchmark helper -----------------------------------------------------------------------

def test_snap_handles_picks_nearest_vertices_and_drops_duplicates() -> None:
    vertices, _ = grid_bar(nx=5, ny=3)  # spacing 50 x 20
    index, targets = snap_handles(vertices, np.array([[48.0, 1.0], [52.0, -1.0], [101.0, 39.0]]),
                                  np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
    assert index.tolist() == [1, 12]
    assert targets.tolist() == [[1.0, 1.0], [3.0, 3.0]]
    index, _ = snap_handles(vertices, np.array([3, 0]), np.zeros((2, 2)))
    assert index.tolist() == [3, 0]
    with pytest.raises(ValueError):
        snap_handles(vertices, np.array([99]), np.zeros((1, 2)))


def test_benchmark_compares_with_libigl_on_the_same_bend() -> None:
    pytest.importorskip("igl")
    vertices, triangles, handles, targets = bent_bar_case(120)
    result = benchmark_arap(vertices, triangles, handles, targets, repeats=3)
    assert result["n_handles"] == 4
    assert result["arap_ms_median"] > 0 and result["libigl_arap_ms_median"] > 0
    assert result["libigl_handle_error_px"] < 1e-9        # libigl: hard constraints
    assert result["handle_error_px"] < 0.01 * 400         # ours: stiff soft constraints
    # Both solve the same quarter-turn bend: similar rigidity, far from a linear blend's.
    assert 0 < result["rigidity_error"] < 2 * result["libigl_rigidity_error"]
    assert result["libigl_rigidity_error"] < 2 * result["rigidity_error"]


def test_benchmark_reports_a_libigl_failure_instead_of_raising() -> None:
    pytest.importorskip("igl")
    bar_vertices, bar_triangles = grid_bar()
    patch_vertices, patch_triangles = grid_bar(nx=3, ny=3, length=20, width=20)
    vertices = np.vstack([bar_vertices, patch_vertices + [300.0, 0.0]])
    triangles = np.vstack([bar_triangles, patch_triangles + len(bar_vertices)])
    handles = np.array([0, 20])  # both on the bar: libigl cannot pin the patch
    result = benchmark_arap(vertices, triangles, handles, vertices[handles] + [[0, 0], [0, 30]],
                            repeats=2)
    assert result["rigidity_error"] < 0.05
    if result["libigl_arap_ms_median"] is None:
        assert result["libigl_failure"]
        assert result["libigl_rigidity_error"] is None
    else:  # a libigl that copes must give a finite answer
        assert result["libigl_rigidity_error"] is not None


def test_runtime_module_does_not_import_libigl() -> None:
    code = "import sys, rig.arap; assert 'igl' not in sys.modules, 'igl imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
