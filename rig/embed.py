"""Embed points in a triangle mesh: fixed barycentric weights, so moving the mesh's vertices
carries the points along by one sparse matrix product.

Chain layers solve ARAP on a coarse *cage* (few vertices, generous outline) and carry their
render mesh along this way: the solve costs what the cage costs, the picture keeps its detail.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def barycentric_embedding(vertices: np.ndarray, triangles: np.ndarray,
                          points: np.ndarray, candidates: int = 12) -> sp.csr_matrix:
    """(P, N) sparse matrix E with E @ vertices == points exactly.

    Each point takes the triangle that contains it (the most interior one on a shared edge);
    a point outside the mesh takes, among the triangles with the nearest centroids, the one
    it is least outside of, with extrapolated weights.
    """
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    p = np.asarray(points, np.float64)
    if len(t) == 0:
        raise ValueError("cannot embed points in a mesh without triangles")
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    ab, ac = b - a, c - a
    denom = ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]
    denom = np.where(np.abs(denom) < 1e-12, 1e-12, denom)
    centroids = (a + b + c) / 3.0
    k = min(candidates, len(t))
    rows, cols, vals = [], [], []
    chunk = max(1, 2_000_000 // max(len(t), 1))
    for start in range(0, len(p), chunk):
        q = p[start:start + chunk]
        d = q[:, None, 0] - a[None, :, 0], q[:, None, 1] - a[None, :, 1]
        u = (d[0] * ac[None, :, 1] - d[1] * ac[None, :, 0]) / denom
        w = (ab[None, :, 0] * d[1] - ab[None, :, 1] * d[0]) / denom
        inside = np.minimum(np.minimum(1.0 - u - w, u), w)
        best = np.argmax(inside, axis=1)
        outside = inside[np.arange(len(q)), best] < -1e-9
        if outside.any():
            dist = np.linalg.norm(q[outside, None, :] - centroids[None, :, :], axis=2)
            near = np.argpartition(dist, k - 1, axis=1)[:, :k]
            score = np.take_along_axis(inside[outside], near, axis=1)
            best[outside] = near[np.arange(len(near)), np.argmax(score, axis=1)]
        idx = np.arange(len(q))
        uu, ww = u[idx, best], w[idx, best]
        bary = np.stack([1.0 - uu - ww, uu, ww], axis=1)
        rows.append(np.repeat(np.arange(start, start + len(q)), 3))
        cols.append(t[best].ravel())
        vals.append(bary.ravel())
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(p), len(v)))
