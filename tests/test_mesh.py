"""Layer meshes: coverage, tightness, validity and size of meshes built from alpha masks."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rig import mesh as mesh_module
from rig.mesh import (Mesh, default_max_edge, mesh_from_alpha, rasterize_coverage,
                      simplify_contour, trace_contours)

# --------------------------------------------------------------------------------------------
# Helpers: independent checks of the guarantees


def disk(radius: float) -> np.ndarray:
    r = int(math.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy <= radius * radius + 1e-9).astype(np.uint8)


def signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def triangle_areas(mesh: Mesh) -> np.ndarray:
    v = mesh.vertices.astype(np.float64)
    a, b, c = (v[mesh.triangles[:, k]] for k in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def must_cover(alpha: np.ndarray, threshold: int = 1) -> np.ndarray:
    """Pixels the mesh must cover: alpha >= threshold minus the documented faint specks."""
    mask = alpha >= threshold
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    peak = np.zeros(n)
    np.maximum.at(peak, labels.ravel(), np.where(mask, alpha, 0).ravel().astype(float))
    faint = (stats[:, cv2.CC_STAT_AREA] < mesh_module.SPECK_MAX_AREA) & (
        peak < mesh_module.FAINT_SPECK_ALPHA)
    faint[0] = False
    return mask & ~faint[labels]


def assert_covers(mesh: Mesh, alpha: np.ndarray, offset=(0, 0), threshold: int = 1) -> None:
    covered = rasterize_coverage(mesh, alpha.shape, offset)
    missed = must_cover(alpha, threshold) & ~covered
    assert not missed.any(), f"{missed.sum()} pixels uncovered, e.g. {np.argwhere(missed)[:3]}"


def stray_pixels(mesh: Mesh, alpha: np.ndarray, offset=(0, 0), band: float = 1.5) -> int:
    """Mesh pixels farther than band + 1 px from any alpha > 0 pixel (beyond the layer too)."""
    pad = int(math.ceil(band)) + 3
    padded = np.pad(alpha, pad)
    covered = rasterize_coverage(mesh, padded.shape, (offset[0] - pad, offset[1] - pad))
    allowed = cv2.dilate((padded > 0).astype(np.uint8), disk(band + 1.0)).astype(bool)
    return int((covered & ~allowed).sum())


def assert_valid(mesh: Mesh, shape: tuple[int, int], offset=(0, 0)) -> None:
    n, m = mesh.n_vertices, mesh.n_triangles
    assert mesh.vertices.dtype == np.float32 and mesh.vertices.shape == (n, 2)
    assert mesh.triangles.dtype == np.int32 and mesh.triangles.shape == (m, 3)
    assert mesh.uvs.dtype == np.float32 and mesh.uvs.shape == (n, 2)
    assert mesh.boundary.dtype == np.int32
    if m == 0:
        assert n == 0 and mesh.boundary.size == 0
        return
    # Same orientation everywhere, nothing degenerate, every vertex used, no duplicates.
    assert (triangle_areas(mesh) > 1e-6).all()
    assert np.array_equal(np.unique(mesh.triangles), np.arange(n))
    assert len(np.unique(mesh.vertices, axis=0)) == n
    # Manifold: each directed edge once (so each undirected edge in at most two triangles,
    # with opposite directions), and each boundary vertex on exactly two boundary edges.
    directed = mesh.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    assert len(np.unique(directed, axis=0)) == len(directed)
    undirected, count = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    assert count.max() <= 2
    border = undirected[count == 1]
    per_vertex = np.bincount(border.ravel(), minlength=n)
    assert set(np.unique(per_vertex)) <= {0, 2}
    assert np.array_equal(mesh.boundary, np.flatnonzero(per_vertex))
    # uvs are the texture coordinates of the vertices.
    h, w = shape
    assert mesh.uvs.min() >= 0.0 and mesh.uvs.max() <= 1.0
    back = mesh.uvs.astype(np.float64) * [w, h] + offset
    np.testing.assert_allclose(back, mesh.vertices, atol=1e-3)


def euler_characteristic(mesh: Mesh) -> int:
    edges = np.unique(np.sort(mesh.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    return mesh.n_vertices - len(edges) + mesh.n_triangles


def mesh_components(mesh: Mesh) -> int:
    e = mesh.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(mesh.n_vertices,) * 2)
    return connected_components(graph, directed=False)[0]


def check_all(alpha: np.ndarray, offset=(0, 0), band: float = 1.5, **kwargs) -> Mesh:
    mesh = mesh_from_alpha(alpha, offset, band=band, **kwargs)
    assert_valid(mesh, alpha.shape, offset)
    assert_covers(mesh, alpha, offset, kwargs.get("threshold", 1))
    assert stray_pixels(mesh, alpha, offset, band) == 0
    return mesh


def ellipse(shape, centre, axes, value=255, angle=0.0, aa=True) -> np.ndarray:
    a = np.zeros(shape, np.uint8)
    cv2.ellipse(a, centre, axes, angle, 0, 360, value, -1, cv2.LINE_AA if aa else cv2.LINE_8)
    return a


# --------------------------------------------------------------------------------------------
# Shapes


def test_empty_alpha_gives_empty_mesh():
    for alpha in (np.zeros((12, 9), np.uint8), np.zeros((0, 0), np.uint8)):
        mesh = mesh_from_alpha(alpha, (5, 5))
        assert mesh.empty and mesh.n_vertices == 0
        assert_valid(mesh, alpha.shape)
        assert trace_contours(alpha) == []
        assert not rasterize_coverage(mesh, (4, 4)).any()


def test_one_pixel_layer_is_its_own_square():
    mesh = mesh_from_alpha(np.full((1, 1), 255, np.uint8), (10, 20))
    assert mesh.n_vertices == 4 and mesh.n_triangles == 2
    assert sorted(map(tuple, mesh.vertices.tolist())) == [(10, 20), (10, 21), (11, 20), (11, 21)]
    assert sorted(map(tuple, mesh.uvs.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert_valid(mesh, (1, 1), (10, 20))
    assert len(mesh.boundary) == 4


def test_single_pixel_outline_geometry():
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2, 3] = 200
    # band 0: the pixel's own half-pixel cells, a square of side 0.5 around its centre (3.5, 2.5).
    (tight,) = trace_contours(alpha, band=0)
    assert signed_area(tight) == pytest.approx(0.25)
    np.testing.assert_allclose(tight.min(axis=0), [3.25, 2.25])
    np.testing.assert_allclose(tight.max(axis=0), [3.75, 2.75])
    # band 1.5: a rounded outline about 1.5..1.8 px from the centre, counter-clockwise in the
    # x-right/y-down algebra (positive signed area).
    (grown,) = trace_contours(alpha, band=1.5)
    radius = np.hypot(grown[:, 0] - 3.5, grown[:, 1] - 2.5)
    assert radius.min() > 1.25 and radius.max() <= 1.8 + 1e-9
    assert signed_area(grown) > 0


def test_ring_has_a_real_hole():
    alpha = np.zeros((80, 90), np.uint8)
    cv2.circle(alpha, (45, 40), 30, 255, -1, cv2.LINE_AA)
    cv2.circle(alpha, (45, 40), 14, 0, -1, cv2.LINE_AA)
    contours = trace_contours(alpha)
    areas = sorted(signed_area(c) for c in contours)
    assert len(contours) == 2 and areas[0] < 0 < areas[1]
    hole = contours[int(np.argmin([signed_area(c) for c in contours]))]
    assert np.hypot(*(hole.mean(axis=0) - [45.5, 40.5])) < 1.0
    mesh = check_all(alpha, (7, 3))
    covered = rasterize_coverage(mesh, alpha.shape, (7, 3))
    yy, xx = np.mgrid[0:80, 0:90]
    assert not covered[np.hypot(xx - 45, yy - 40) < 10].any()
    assert euler_characteristic(mesh) == 0           # one component, one hole


def test_several_islands_and_nested_island():
    alpha = np.zeros((60, 120), np.uint8)
    for x in (15, 55):
        cv2.circle(alpha, (x, 30), 10, 255, -1, cv2.LINE_AA)
    cv2.circle(alpha, (95, 30), 22, 255, -1)          # a ring with an island in its hole
    cv2.circle(alpha, (95, 30), 15, 0, -1)
    cv2.circle(alpha, (95, 30), 5, 180, -1)
    contours = trace_contours(alpha)
    assert sorted(signed_area(c) > 0 for c in contours) == [False, True, True, True, True]
    mesh = check_all(alpha)
    assert mesh_components(mesh) == 4
    assert euler_characteristic(mesh) == 4 - 1


@pytest.mark.parametrize("thickness", [1, 2, 3])
def test_thin_strands(thickness):
    alpha = np.zeros((70, 90), np.uint8)
    t = np.linspace(0, 1, 40)
    curve = np.stack([5 + 80 * t, 35 + 25 * np.sin(6 * t)], axis=1)
    cv2.polylines(alpha, [curve.astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    cv2.line(alpha, (3, 66), (60, 4), 160, thickness, cv2.LINE_8)
    for band in (0.0, 1.5):
        mesh = check_all(alpha, band=band)
        assert mesh_components(mesh) == 1


def test_layer_touching_its_border_is_covered_to_the_edge():
    full = np.full((23, 37), 255, np.uint8)
    mesh = check_all(full, (100, 50))
    np.testing.assert_array_equal(mesh.vertices.min(axis=0), [100, 50])
    np.testing.assert_array_equal(mesh.vertices.max(axis=0), [137, 73])
    np.testing.assert_array_equal(mesh.uvs.min(axis=0), [0, 0])
    np.testing.assert_array_equal(mesh.uvs.max(axis=0), [1, 1])
    assert triangle_areas(mesh).sum() == pytest.approx(23 * 37)
    # A blob cut by the top-left corner of its layer.
    corner = ellipse((40, 50), (0, 0), (30, 20))
    mesh = check_all(corner, (3, 4))
    assert mesh.vertices.min(axis=0).tolist() == [3, 4]


def test_noise_specks_visible_kept_faint_dropped():
    rng = np.random.default_rng(7)
    alpha = ellipse((100, 100), (50, 50), (20, 15))
    ys, xs = rng.integers(0, 100, (2, 40))
    far = np.hypot(xs - 50, ys - 50) > 30
    ys, xs = ys[far], xs[far]
    alpha[ys[::2], xs[::2]] = 90                      # visible dust: must be meshed
    alpha[ys[1::2], xs[1::2]] = 3                     # faint dust: may be dropped
    mesh = check_all(alpha)
    covered = rasterize_coverage(mesh, alpha.shape)
    assert covered[ys[::2], xs[::2]].all()
    dropped = (alpha > 0) & ~must_cover(alpha)
    assert np.array_equal(dropped, alpha == 3)
    assert not covered[dropped].any()
    # faint_speck_alpha=0 keeps every speck; a faint 2x2 patch (4 px) is not a speck.
    keep_all = mesh_from_alpha(alpha, faint_speck_alpha=0)
    assert rasterize_coverage(keep_all, alpha.shape)[alpha > 0].all()
    patch = np.zeros((20, 20), np.uint8)
    patch[8:10, 8:10] = 3
    assert rasterize_coverage(mesh_from_alpha(patch), patch.shape)[8:10, 8:10].all()


def random_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    alpha = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(2, 7))):
        kind = int(rng.integers(0, 4))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        value = int(rng.integers(1, 256))
        if kind == 0:
            axes = (int(rng.integers(1, w // 2 + 1)), int(rng.integers(1, h // 2 + 1)))
            cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, value, -1,
                        cv2.LINE_AA)
        elif kind == 1:
            pts = rng.integers(0, [w, h], size=(int(rng.integers(2, 6)), 2)).astype(np.int32)
            cv2.polylines(alpha, [pts], False, value, int(rng.integers(1, 4)), cv2.LINE_AA)
        elif kind == 2:
            cv2.circle(alpha, centre, int(rng.integers(1, max(2, w // 5))), 0, -1)
        else:
            n = int(rng.integers(1, 30))
            alpha[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.integers(1, 256, n)
    return alpha


@pytest.mark.parametrize("seed", range(12))
def test_guarantees_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(2, 110, 2))
    alpha = random_mask(rng, h, w)
    for band in (0.0, 0.5, 1.5, 2.5):
        check_all(alpha, (int(rng.integers(-50, 50)), int(rng.integers(-50, 50))), band=band)


@pytest.mark.parametrize("seed", range(4))
def test_guarantees_on_dense_pixel_noise(seed):
    # Many touching, pinched and nearly touching pixels: lots of holes and diagonal contacts.
    rng = np.random.default_rng(100 + seed)
    alpha = np.where(rng.random((70, 80)) < 0.25 + 0.1 * seed, 255, 0).astype(np.uint8)
    mesh = check_all(alpha)
    assert euler_characteristic(mesh) == mesh_components(mesh) - sum(
        signed_area(c) < 0 for c in trace_contours(alpha))


def test_threshold_ignores_fainter_pixels():
    alpha = ellipse((60, 60), (30, 30), (20, 20), value=200, aa=False)
    alpha[5:9, 5:9] = 20                              # a faint patch, far from the disk
    mesh = check_all(alpha, threshold=50)
    assert not rasterize_coverage(mesh, alpha.shape)[5:9, 5:9].any()


# --------------------------------------------------------------------------------------------
# Sizes


def test_vertex_count_scales_with_layer_size():
    eye = check_all(ellipse((40, 64), (32, 20), (28, 16)))
    shirt = check_all(ellipse((460, 660), (330, 230), (320, 220)))
    assert 12 <= eye.n_vertices <= 100
    assert 100 <= shirt.n_vertices <= 1000
    assert shirt.n_vertices > eye.n_vertices


def test_vertex_count_is_monotone_in_density():
    alpha = ellipse((200, 300), (150, 100), (140, 90))
    counts = [mesh_from_alpha(alpha, density=d).n_vertices for d in (0.5, 1.0, 2.0, 4.0)]
    assert counts == sorted(counts) and len(set(counts)) == 4


def test_max_edge_bounds_triangle_area_and_min_angle_holds():
    alpha = ellipse((200, 300), (150, 100), (140, 90))
    mesh = check_all(alpha, max_edge=12.0)
    assert triangle_areas(mesh).max() <= math.sqrt(3) / 4 * 144 * (1 + 1e-6)
    v = mesh.vertices.astype(np.float64)[mesh.triangles]
    sides = [np.linalg.norm(v[:, (k + 1) % 3] - v[:, k], axis=1) for k in range(3)]
    a, b, c = sides
    largest_cos = np.maximum.reduce([(b * b + c * c - a * a) / (2 * b * c),
                                     (a * a + c * c - b * b) / (2 * a * c),
                                     (a * a + b * b - c * c) / (2 * a * b)])
    min_angles = np.degrees(np.arccos(np.clip(largest_cos, -1, 1)))
    # The outline's own corners may be sharper than the bound; the rest obeys it.
    assert np.mean(min_angles >= 28.0 - 1e-6) > 0.95
    assert default_max_edge(0) == 8.0 and default_max_edge(144 * 144, 2.0) == 6.0


def test_refine_mask_shrinks_triangles_only_where_asked():
    alpha = ellipse((300, 400), (200, 150), (180, 120), aa=False)
    refine = np.zeros(alpha.shape, np.float32)
    refine[:, :100] = 3.0                              # edges a quarter as long there
    plain = check_all(alpha)
    fine = check_all(alpha, refine_mask=refine)
    max_area = math.sqrt(3) / 4 * default_max_edge(np.count_nonzero(alpha)) ** 2
    centres = fine.vertices[fine.triangles].mean(axis=1)
    areas = triangle_areas(fine)
    assert areas[centres[:, 0] < 100].max() <= max_area / 16 * 1.02
    far_side = centres[:, 0] > 100 + 2 * default_max_edge(np.count_nonzero(alpha))
    assert areas[far_side].max() > max_area / 4       # untouched far from the request
    assert fine.n_vertices > 2 * plain.n_vertices


# --------------------------------------------------------------------------------------------
# Simplification and outline checks


def test_simplify_removes_collinear_points_and_keeps_order():
    square = np.array([[0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [1, 2], [0, 2], [0, 1]], float)
    out = simplify_contour(square, 0.0)
    assert len(out) == 4
    assert {tuple(p) for p in out} == {(0, 0), (2, 0), (2, 2), (0, 2)}
    assert signed_area(out) == pytest.approx(signed_area(square))
    triangle_poly = np.array([[0, 0], [4, 0], [0, 3]], float)
    np.testing.assert_array_equal(simplify_contour(triangle_poly, 10.0), triangle_poly)


def distance_to_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    p, q = poly, np.roll(poly, -1, axis=0)
    d = q - p
    rel = points[:, None, :] - p[None]
    t = np.clip(np.sum(rel * d, axis=2) / np.maximum(np.sum(d * d, axis=1), 1e-12), 0, 1)
    return np.min(np.linalg.norm(rel - t[..., None] * d, axis=2), axis=1)


@pytest.mark.parametrize("seed", range(6))
def test_simplify_stays_within_tolerance(seed):
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 300))
    radii = 40 + np.cumsum(rng.normal(0, 1.5, 300))
    radii -= np.linspace(0, radii[-1] - radii[0], 300)
    poly = np.stack([100 + radii * np.cos(angles), 100 + radii * np.sin(angles)], axis=1)
    previous = len(poly) + 1
    for tol in (0.25, 1.0, 3.0):
        out = simplify_contour(poly, tol)
        assert 3 <= len(out) < previous
        previous = len(out)
        # A subset, in the same cyclic order.
        index = [int(np.flatnonzero((poly == p).all(axis=1))[0]) for p in out]
        assert sum(b < a for a, b in zip(index, index[1:] + index[:1])) == 1
        assert distance_to_polygon(poly, out).max() <= tol + 1e-9


def test_outline_checker_finds_touching_and_crossing_outlines():
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    ok = mesh_module._outlines_are_simple
    assert ok([square])
    assert ok([square * 3, square + 4])                           # an island inside
    assert not ok([np.array([[0, 0], [4, 4], [4, 0], [0, 4]], float)])    # bow-tie
    assert not ok([square, square + 4])                           # touching at a corner
    assert not ok([square, square + 2])                           # crossing
    assert not ok([square, np.array([[4, 2], [6, 1], [6, 3]], float)])    # vertex on an edge
    assert not ok([np.array([[0, 0], [4, 0], [2, 0], [2, 3]], float)])     # folding back


def test_simplification_that_crosses_falls_back_to_a_smaller_tolerance():
    # A rectangle whose top edge has a notch 0.8 px deep, and an island poking into the notch.
    outer = np.array([[0, 0], [15, 0], [20, 0.8], [25, 0], [40, 0], [40, 20], [0, 20]], float)
    island = np.array([[19, -1], [21, -1], [20, 0.6]], float)
    if signed_area(outer) < 0:
        outer = outer[::-1].copy()
    if signed_area(island) < 0:
        island = island[::-1].copy()
    outline = mesh_module._Outline([outer, island], {}, {}, (100, 100), 1.8)
    coarse = mesh_module._simplify_all(outline.contours, [1.0, 1.0], [1.0, 1.0], [None, None])
    assert not mesh_module._outlines_are_simple(coarse)          # the notch was bridged
    result = mesh_module._simplified_outlines(outline, 1.0, 1.0)
    assert mesh_module._outlines_are_simple(result)
    assert any((p == [20, 0.8]).all() for p in result[0])


def test_rasterize_coverage_matches_brute_force():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:30, 0:30]
    cx, cy = xx + 2 + 0.5, yy - 1 + 0.5             # pixel centres on the canvas, offset (2, -1)
    for trial in range(60):
        v = rng.uniform(-4, 34, (3, 2))
        if trial % 3 == 0:
            v = np.round(v * 2) / 2                    # edges through pixel centres
        mesh = Mesh(v.astype(np.float32), np.array([[0, 1, 2]], np.int32),
                    np.zeros((3, 2), np.float32), np.zeros(0, np.int32))
        a, b, c = v.astype(np.float32).astype(np.float64)
        cross = [(q[0] - p[0]) * (cy - p[1]) - (q[1] - p[1]) * (cx - p[0])
                 for p, q in ((a, b), (b, c), (c, a))]
        inside = (np.min(cross, axis=0) >= -1e-9) | (np.max(cross, axis=0) <= 1e-9)
        if abs(np.cross(b - a, c - a)) < 1e-12:
            inside[:] = False
        np.testing.assert_array_equal(rasterize_coverage(mesh, (30, 30), (2, -1)), inside)


def test_bad_arguments_are_rejected():
    alpha = ellipse((20, 20), (10, 10), (5, 5))
    with pytest.raises(ValueError):
        mesh_from_alpha(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        mesh_from_alpha(alpha, density=0)
    with pytest.raises(ValueError):
        mesh_from_alpha(alpha, min_angle=40)
    with pytest.raises(ValueError):
        mesh_from_alpha(alpha, refine_mask=np.zeros((3, 3)))
    with pytest.raises(ValueError):
        mesh_from_alpha(alpha, band=-1)
    with pytest.raises(ValueError):
        mesh_from_alpha(alpha, threshold=0)
    with pytest.raises(ValueError):
        simplify_contour(np.zeros((5, 3)), 1.0)


# --------------------------------------------------------------------------------------------
# Real layers


def test_sample_psd_layers(sample_psd, capsys):
    from psd_tools import PSDImage

    psd = PSDImage.open(sample_psd)
    rows = []
    for layer in psd.descendants():
        if layer.is_group():
            continue
        pixels = layer.numpy()
        if pixels is None:
            continue
        alpha = np.round(pixels[..., -1] * 255).astype(np.uint8)
        offset = (layer.left, layer.top)
        mesh = check_all(alpha, offset)
        assert mesh.n_vertices >= 4
        assert mesh.n_vertices <= 2000
        rows.append((layer.name, alpha.shape, mesh.n_vertices, mesh.n_triangles, len(mesh.boundary)))
    assert len(rows) >= 10
    with capsys.disabled():
        print("\nlayer          size        vertices triangles boundary")
        for name, shape, nv, nt, nb in rows:
            print(f"{name:14s} {shape[1]:4d}x{shape[0]:<4d}  {nv:8d} {nt:9d} {nb:8d}")
