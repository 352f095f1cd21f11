"""As-rigid-as-possible shape manipulation of 2D triangle meshes.

Igarashi, Moscovich & Hughes, "As-Rigid-As-Possible Shape Manipulation", SIGGRAPH 2005, with
soft handles that may sit anywhere inside the mesh. Two quadratic steps per frame:

1. *Similarity.* Every triangle vertex, written in the local frame of its opposite edge at rest
   (``v2 = v0 + x01 (v1 - v0) + y01 R90 (v1 - v0)``), should keep those coordinates. The error
   is quadratic in the vertices, so the minimiser is a constant linear map of the handle targets.
2. *Scale adjustment.* Each triangle's step-1 shape gives it a rotation (the best similarity from
   its rest shape, normalised to unit scale); the deformed edges should equal the rotated rest
   edges. Again a constant matrix, now with a right-hand side that changes per frame.

Soft handles add ``weight * stiffness * |handle - target|^2`` to both energies; a handle is a
barycentric combination of one triangle's vertices, so it need not be a vertex.

Numbers are complex (``x + iy``): a rotation-and-scale is one complex factor and ``R90`` is
multiplication by ``i``, so every residual is complex-linear, the systems are N x N complex
instead of 2N x 2N real, and x and y share one factorisation in step 2.

Speed: :func:`arap_precompute` folds everything linear into constant arrays, so a frame is
- one dense complex mat-vec (handle targets -> per-triangle similarity + the constant part of the
  step-2 right-hand side; step 1 never appears as its own stage),
- a normalisation per triangle (vectorised),
- one sparse mat-vec (rotations -> rotated-edge part of the step-2 right-hand side),
- one banded Cholesky back-substitution (LAPACK ``zpbtrs``; vertices in reverse Cuthill-McKee
  order keep the band narrow),
- one gather back to the caller's vertex order,
all into buffers allocated once. Why a banded factor: a dense precomputed inverse costs N^2 per
frame (and megabytes of memory traffic) where the band costs about N * bandwidth; SuperLU's
solve does similar work but with more per-call overhead.

Regularisation: a tiny pull (relative weight ``REGULARISATION``) towards a reference keeps both
systems positive definite when handles do not pin everything down (one handle, coincident
handles, mesh pieces without a handle, vertices in no triangle). Step 1 pulls towards the best
similarity of the handles (a pure translation when they all coincide), step 2 towards the step-1
result. Both references are exact for rigid motions, so rigid handle motions stay exact.

Handle weights are relative: weight w adds ``w * HANDLE_STIFFNESS`` times an average vertex's
stiffness, so weight 1 is near-hard (in a bend a handle misses its target by a few millionths
of the distance it moved) and the behaviour does not depend on pixel scale or mesh resolution.
Weights from about 1e-3 to 1e3 keep rigid motions exact to 1e-11.

Uniform scaling of the handles by s: step 1 alone would scale the whole mesh by s (similarities
cost nothing there). Step 2 takes the scale out of every triangle's target, so triangles try to
keep their rest size and the mesh stretches only where the handles pull it apart: two handles on
a bar's axis lengthen the bar by s but leave its thickness; handles at all four corners force
both directions and the area grows, by less than s^2. Where handles disagree with rigidity
(scaling, stretching) soft handles give a little, the lighter ones more.

A precomputed object owns its frame buffers: use one per thread.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cholesky_banded, lapack
from scipy.sparse.csgraph import reverse_cuthill_mckee
from scipy.sparse.linalg import splu

try:  # scipy's compiled kernel computes y += A @ x in place: no temporary array per frame
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec_kernel
except ImportError:  # private module moved: fall back to the public (allocating) product
    _csr_matvec_kernel = None

# Handle weight 1 costs this many times the stiffness of an average vertex in each energy, so
# default handles are followed closely (near-hard) and the behaviour does not depend on the
# mesh's resolution or pixel scale.
HANDLE_STIFFNESS = 1000.0
# Weight of the pull towards the reference shape, relative to an average vertex's stiffness:
# small enough to leave determined problems untouched (~1e-6 relative), large enough that the
# factorisations stay well conditioned.
REGULARISATION = 1e-6
# Triangles with |area| below this fraction of the mesh's squared size carry no shape.
_DEGENERATE_AREA = 1e-12
# Handles closer than this fraction of the mesh's size count as one point.
_COINCIDENT_HANDLES = 1e-6
# Added to per-triangle similarity magnitudes so a collapsed triangle gets no rotation target
# (0 / tiny = 0) instead of NaN.
_TINY = 1e-300


@dataclass(eq=False)
class ArapPrecomputed:
    """Everything one handle set needs per frame. Build with :func:`arap_precompute`."""

    n_vertices: int
    n_handles: int
    handle_points: np.ndarray          # (K, 2) rest positions of the handles
    handle_weights: np.ndarray         # (K,) as given (default 1)
    handle_triangles: np.ndarray       # (K,) index into the input triangles holding each handle
    handle_barycentric: np.ndarray     # (K, 3) weights of that triangle's vertices (may be < 0
                                       # for a handle outside the mesh: extrapolated)
    # (M + N, K + 1) complex, Fortran order: [targets, 1] -> per-triangle similarity (first M
    # rows, M = kept triangles) and the handle/regularisation part of the step-2 right-hand
    # side (last N rows, in band order).
    frame_map: np.ndarray
    rotation_to_rhs: sp.csr_matrix     # (N, M) complex: unit rotations -> rotated-edge term
    band_factor: np.ndarray            # (bandwidth + 1, N) complex, Fortran order, lower Cholesky
    band_row: np.ndarray               # (N,) each input vertex's row in band order
    # Frame buffers and views into them (allocated once, reused every frame).
    augmented_targets: np.ndarray      # (K + 1,) complex; last entry stays 1
    target_slots: np.ndarray           # (K, 2) float view of augmented_targets[:K]
    frame: np.ndarray                  # (M + N,) complex output of frame_map
    similarity: np.ndarray             # frame[:M], normalised in place to unit rotations
    similarity_pairs: np.ndarray       # the same memory as (M, 2) float
    magnitudes: np.ndarray             # (M, 2) float: |similarity| twice per row
    rhs: np.ndarray                    # frame[M:] as (N, 1): right-hand side, then solution
    rhs_pairs: np.ndarray              # the same memory as (N, 2) float (x, y)

    @property
    def bandwidth(self) -> int:
        return int(self.band_factor.shape[0] - 1)


def arap_precompute(vertices: np.ndarray, triangles: np.ndarray, handle_points: np.ndarray,
                    handle_weights: np.ndarray | None = None) -> ArapPrecomputed:
    """Factorise ARAP for one mesh and one handle set (call again when the handles change).

    ``vertices`` (N, 2) rest positions; ``triangles`` (M, 3) vertex indices; ``handle_points``
    (K, 2) rest positions of the handles, each located in its containing triangle (or, outside
    the mesh, its nearest one) as barycentric weights; ``handle_weights`` (K,) positive, relative
    (1 = near-hard, default). Raises ``ValueError`` for malformed input or no handles.
    """
    rest = _as_points(vertices, "vertices")
    tris = _as_triangles(triangles, len(rest))
    handles = _as_points(handle_points, "handle_points")
    if len(handles) == 0:
        raise ValueError("ARAP needs at least one handle point")
    weights = _as_weights(handle_weights, len(handles))

    n = len(rest)
    p = rest[:, 0] + 1j * rest[:, 1]
    size = float(np.ptp(rest, axis=0).max()) if n else 0.0
    size = size if size > 0 else 1.0

    corners = p[tris]
    doubled_area = np.imag(np.conj(corners[:, 1] - corners[:, 0]) * (corners[:, 2] - corners[:, 0]))
    kept = np.flatnonzero(np.abs(doubled_area) > 2 * _DEGENERATE_AREA * size * size)
    if kept.size == 0:
        raise ValueError("the mesh has no triangle with a non-zero area")
    tris_kept = tris[kept]
    m = len(tris_kept)

    local_tri, bary = _locate(p, tris_kept, handles[:, 0] + 1j * handles[:, 1])
    handle_matrix = sp.csr_matrix(
        (bary.ravel(), (np.repeat(np.arange(len(handles)), 3), tris_kept[local_tri].ravel())),
        shape=(len(handles), n))
    # B^T W: handle targets -> right-hand side; B^T W B: the handles' stiffness.
    handle_pull = (handle_matrix.T @ sp.diags(weights)).tocsr()
    handle_stiffness = (handle_pull @ handle_matrix).tocsr()
    # Targets enter as the augmented vector [t_1 .. t_K, 1]; this picks t out of it.
    pick_targets = sp.hstack([sp.identity(len(handles)), sp.csr_matrix((len(handles), 1))])

    # Step 1: similarity energy, regularised towards the handles' best similarity.
    similarity_energy = _similarity_energy(p, tris_kept)
    stiffness1 = float(np.mean(similarity_energy.diagonal().real))
    reference1 = _handle_similarity_map(p, handles[:, 0] + 1j * handles[:, 1], weights, size)
    system1 = (similarity_energy + HANDLE_STIFFNESS * stiffness1 * handle_stiffness
               + REGULARISATION * stiffness1 * sp.identity(n)).tocsc()
    rhs1 = (HANDLE_STIFFNESS * stiffness1 * (handle_pull @ pick_targets).toarray()
            + REGULARISATION * stiffness1 * reference1)
    step1_map = splu(system1).solve(rhs1.astype(np.complex128))        # (N, K + 1)

    # Rotation fit: a_t = sum_j conj(P_tj) q_j with P the centred rest triangle; the best
    # similarity from rest to step-1 shape is a_t / sum|P|^2, its rotation a_t / |a_t|.
    centred = corners[kept] - corners[kept].mean(axis=1, keepdims=True)
    rows = np.repeat(np.arange(m), 3)
    fit = sp.csr_matrix((np.conj(centred).ravel(), (rows, tris_kept.ravel())), shape=(m, n))
    similarity_map = fit @ step1_map                                   # (M, K + 1)

    # Step 2: edges of each triangle should equal its rotated rest edges. Summed over a
    # triangle's three edges, vertex i's right-hand side is 3 * P_ti * r_t.
    edges = np.concatenate([tris_kept[:, [0, 1]], tris_kept[:, [1, 2]], tris_kept[:, [2, 0]]])
    n_edges = len(edges)
    difference = sp.csr_matrix(
        (np.r_[np.ones(n_edges), -np.ones(n_edges)],
         (np.r_[np.arange(n_edges), np.arange(n_edges)], np.r_[edges[:, 1], edges[:, 0]])),
        shape=(n_edges, n))
    laplacian = (difference.T @ difference).tocsr()
    stiffness2 = float(np.mean(laplacian.diagonal()))
    system2 = (laplacian + HANDLE_STIFFNESS * stiffness2 * handle_stiffness
               + REGULARISATION * stiffness2 * sp.identity(n)).tocsr()
    rhs2_map = (HANDLE_STIFFNESS * stiffness2 * (handle_pull @ pick_targets).toarray()
                + REGULARISATION * stiffness2 * step1_map)
    rotation_to_rhs = (3.0 * fit.conj().T).tocsr()

    # Reverse Cuthill-McKee keeps the Cholesky factor inside a narrow band.
    order = reverse_cuthill_mckee(system2, symmetric_mode=True).astype(np.intp)
    band_row = np.empty(n, np.intp)
    band_row[order] = np.arange(n)
    band_factor = _banded_cholesky(system2[order][:, order])
    rotation_to_rhs = rotation_to_rhs[order].tocsr()
    rotation_to_rhs.sort_indices()

    # Column-major: the mat-vec then runs down long columns (measured faster than rows of K+1).
    frame_map = np.asfortranarray(np.vstack([similarity_map, rhs2_map[order]]),
                                  dtype=np.complex128)
    augmented = np.zeros(len(handles) + 1, np.complex128)
    augmented[-1] = 1.0
    frame = np.zeros(m + n, np.complex128)
    rhs = frame[m:].reshape(n, 1)
    return ArapPrecomputed(
        n_vertices=n, n_handles=len(handles), handle_points=handles, handle_weights=weights,
        handle_triangles=kept[local_tri], handle_barycentric=bary,
        frame_map=frame_map, rotation_to_rhs=rotation_to_rhs,
        band_factor=np.asfortranarray(band_factor.astype(np.complex128)),
        band_row=band_row,
        augmented_targets=augmented, target_slots=augmented[:-1].view(np.float64).reshape(-1, 2),
        frame=frame, similarity=frame[:m],
        similarity_pairs=frame[:m].view(np.float64).reshape(m, 2),
        magnitudes=np.zeros((m, 2)), rhs=rhs,
        rhs_pairs=frame[m:].view(np.float64).reshape(n, 2))


def arap_solve(pre: ArapPrecomputed, handle_targets: np.ndarray,
               out: np.ndarray | None = None) -> np.ndarray:
    """Deform the mesh so the handles follow ``handle_targets`` (K, 2); returns (N, 2) vertices.

    Back-substitution only. With ``out`` (an (N, 2) float64 C-contiguous array) nothing is
    allocated and ``out`` is returned. Targets are not checked for NaN (that costs a pass).
    """
    targets = np.asarray(handle_targets)
    if targets.shape != pre.target_slots.shape:
        raise ValueError(f"handle_targets must have shape {pre.target_slots.shape}, "
                         f"got {targets.shape}")
    np.copyto(pre.target_slots, targets)
    np.dot(pre.frame_map, pre.augmented_targets, out=pre.frame)
    # Per-triangle similarity -> unit rotation (a collapsed triangle gets 0: no edge target).
    # Dividing the float view by a same-shape array is the fastest form that needs no ufunc
    # casting buffer (complex / float would allocate one per call).
    magnitude, copy = pre.magnitudes[:, 0], pre.magnitudes[:, 1]
    np.abs(pre.similarity, out=magnitude)
    np.add(magnitude, _TINY, out=magnitude)
    np.copyto(copy, magnitude)
    np.divide(pre.similarity_pairs, pre.magnitudes, out=pre.similarity_pairs)
    _add_product(pre.rhs[:, 0], pre.rotation_to_rhs, pre.similarity)
    _, info = lapack.zpbtrs(pre.band_factor, pre.rhs, lower=1, overwrite_b=1)
    if info != 0:
        raise RuntimeError(f"banded back-substitution failed (LAPACK info {info})")
    if out is None:
        out = np.empty((pre.n_vertices, 2))
    # mode="clip": the indices are valid by construction, and "raise" would buffer `out`.
    np.take(pre.rhs_pairs, pre.band_row, axis=0, out=out, mode="clip")
    return out


def rigidity_error(rest: np.ndarray, deformed: np.ndarray, triangles: np.ndarray) -> float:
    """Mean over triangles of ``|| D - R E ||_F / || E ||_F``: 0 for a rigid motion.

    E and D are the rest and deformed edge matrices ``[v1 - v0, v2 - v0]``, R the rotation that
    best maps E to D (orthogonal Procrustes, restricted to proper rotations). A uniform scale by
    s gives ``|s - 1|``. Triangles with a zero-size rest shape are skipped.
    """
    rest = _as_points(rest, "rest")
    deformed = _as_points(deformed, "deformed")
    if deformed.shape != rest.shape:
        raise ValueError(f"deformed shape {deformed.shape} != rest shape {rest.shape}")
    tris = _as_triangles(triangles, len(rest))
    p = rest[:, 0] + 1j * rest[:, 1]
    q = deformed[:, 0] + 1j * deformed[:, 1]
    e = p[tris[:, 1:]] - p[tris[:, :1]]
    d = q[tris[:, 1:]] - q[tris[:, :1]]
    rest_norm = np.sqrt(np.sum(np.abs(e) ** 2, axis=1))
    valid = rest_norm > 0
    if not valid.any():
        return 0.0
    e, d, rest_norm = e[valid], d[valid], rest_norm[valid]
    # Best rotation r (|r| = 1) minimising sum |d - r e|^2 is the phase of sum conj(e) d.
    a = np.sum(np.conj(e) * d, axis=1)
    magnitude = np.abs(a)
    r = np.where(magnitude > 0, a / np.where(magnitude > 0, magnitude, 1.0), 1.0)
    residual = np.sqrt(np.sum(np.abs(d - r[:, None] * e) ** 2, axis=1))
    return float(np.mean(residual / rest_norm))


# -- building blocks -----------------------------------------------------------------------

def _add_product(y: np.ndarray, matrix: sp.csr_matrix, x: np.ndarray) -> None:
    """y += matrix @ x, in place (no temporary when scipy's kernel is available)."""
    if _csr_matvec_kernel is not None:
        _csr_matvec_kernel(matrix.shape[0], matrix.shape[1], matrix.indptr, matrix.indices,
                           matrix.data, x, y)
    else:
        y += matrix @ x


def _similarity_energy(p: np.ndarray, tris: np.ndarray) -> sp.csr_matrix:
    """Hermitian G with z^H G z = sum over triangles and corners of |z_k - z_k desired|^2.

    For corners (i, j, k) in each cyclic order, rest coordinates c = (p_k - p_i) / (p_j - p_i)
    (x01 + i*y01 in the paper) give the residual z_k - z_i - c (z_j - z_i).
    """
    m = len(tris)
    rows, cols, vals = [], [], []
    for offset, (i, j, k) in enumerate(((0, 1, 2), (1, 2, 0), (2, 0, 1))):
        vi, vj, vk = tris[:, i], tris[:, j], tris[:, k]
        c = (p[vk] - p[vi]) / (p[vj] - p[vi])
        row = offset * m + np.arange(m)
        rows += [row, row, row]
        cols += [vi, vj, vk]
        vals += [c - 1.0, -c, np.ones(m, np.complex128)]
    residual = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(3 * m, len(p)))
    return (residual.conj().T @ residual).tocsr()


def _handle_similarity_map(p: np.ndarray, h: np.ndarray, weights: np.ndarray,
                           size: float) -> np.ndarray:
    """(N, K + 1) complex: [targets, 1] -> every vertex under the handles' best similarity.

    Least squares over handles of w_k |a (h_k - h_mean) + t_mean - t_k|^2 gives a linear in the
    targets; when all handles coincide only a translation is defined (the constant column).
    """
    share = weights / weights.sum()
    h_mean = np.sum(share * h)
    spread = np.sum(weights * np.abs(h - h_mean) ** 2)
    out = np.zeros((len(p), len(h) + 1), np.complex128)
    out[:, :-1] = share                                    # + t_mean
    if spread > (_COINCIDENT_HANDLES * size) ** 2 * weights.sum():
        scale_of = weights * np.conj(h - h_mean) / spread  # a = sum_k scale_of[k] * t_k
        out[:, :-1] += (p - h_mean)[:, None] * scale_of[None, :]
    else:
        out[:, -1] = p - h_mean
    return out


def _banded_cholesky(matrix: sp.spmatrix) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive definite sparse matrix, LAPACK band form."""
    lower = sp.tril(matrix).tocoo()
    bandwidth = int(np.max(lower.row - lower.col)) if lower.nnz else 0
    band = np.zeros((bandwidth + 1, matrix.shape[0]))
    np.add.at(band, (lower.row - lower.col, lower.col), lower.data)
    return cholesky_banded(band, lower=True)


def _locate(p: np.ndarray, tris: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point, (index into tris, barycentric weights) with sum_j w_j p[tri_j] == point.

    The containing triangle when there is one (the most interior if on a shared edge), else the
    nearest triangle with extrapolated (possibly negative) weights, so the rest position is
    reproduced exactly either way.
    """
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    ab, ac = b - a, c - a
    denom = np.imag(np.conj(ab) * ac)
    found = np.empty(len(points), np.intp)
    weights = np.empty((len(points), 3))
    for k, x in enumerate(points):
        ax = x - a
        u = np.imag(np.conj(ax) * ac) / denom
        v = np.imag(np.conj(ab) * ax) / denom
        bary = np.stack([1.0 - u - v, u, v], axis=1)
        inside = bary.min(axis=1)
        best = int(np.argmax(inside))
        if inside[best] < -1e-12:
            best = int(np.argmin(_distance_to_triangles(x, a, b, c)))
        found[k] = best
        weights[k] = bary[best]
    return found, weights


def _distance_to_triangles(x: complex, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distance from x to each triangle's boundary (used only for points outside all of them)."""
    def to_segment(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = t - s
        length2 = np.abs(d) ** 2
        along = np.clip(np.real(np.conj(d) * (x - s)) / np.where(length2 > 0, length2, 1.0), 0, 1)
        return np.abs(x - (s + along * d))
    return np.minimum(np.minimum(to_segment(a, b), to_segment(b, c)), to_segment(c, a))


def _as_points(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(array)


def _as_triangles(values: np.ndarray, n_vertices: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"triangles must have shape (m, 3), got {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"triangles must hold integer vertex indices, got {array.dtype}")
    array = array.astype(np.intp)
    if array.size and (array.min() < 0 or array.max() >= n_vertices):
        raise ValueError(f"triangle indices must lie in [0, {n_vertices}), got "
                         f"{array.min()}..{array.max()}")
    return array


def _as_weights(values: np.ndarray | None, k: int) -> np.ndarray:
    if values is None:
        return np.ones(k)
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (k,):
        raise ValueError(f"handle_weights must have shape ({k},), got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError("handle_weights must be positive and finite")
    return array
