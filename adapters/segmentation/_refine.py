"""Boundary refinement by minimum cut, at full resolution (Katz & Tal's fuzzy-region cut).

Clustering ran on coarse patches, so its boundaries are only roughly in place. For each pair
of touching parts, the faces near their shared boundary are re-decided by a minimum s-t cut
of the face graph (costs from the dihedral angle alone): the cheapest closed boundary nearby,
which follows a concave crease where there is one and is short and smooth where there is
none. Each face is tied to its present side in proportion to its area, so the boundary moves
only where that buys a much cheaper cut, never across half a part for a slightly shorter one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from adapters._shared.min_cut import min_cut
from adapters.segmentation._cluster import connect

# Sweeping the boundary across a band one reach wide costs half of what cutting flat
# surface along the same length would: a crease is worth it, a slightly shorter loop is not.
STAY = 0.5


def refine_boundaries(weights: sparse.csr_matrix, lengths: sparse.csr_matrix,
                      labels: np.ndarray, area: np.ndarray, reach: float,
                      tick: Callable[[float], None] | None = None) -> np.ndarray:
    """``labels`` with each shared boundary moved to the cheapest cut at most ``reach`` away
    (along the surface, ``lengths`` holding the face-to-face distances). Every part stays
    connected and none disappears."""
    labels = labels.copy()
    pairs = _touching_pairs(weights, labels)
    for i, (a, b) in enumerate(pairs):
        if tick is not None:
            tick(i / max(len(pairs), 1))
        nodes = np.flatnonzero((labels == a) | (labels == b))
        sub = weights[nodes][:, nodes].tocsr()
        local = np.where(labels[nodes] == a, 0, 1)
        better = _cut_pair(sub, lengths[nodes][:, nodes], local, area[nodes], reach)
        if better is None:
            continue
        better = connect(sub, better, area[nodes])
        if len(np.unique(better)) == 2:
            labels[nodes] = np.where(better == 0, a, b)
    return labels


def _touching_pairs(weights: sparse.csr_matrix, labels: np.ndarray) -> list[tuple[int, int]]:
    """Label pairs that share a boundary, longest shared boundary (most edges) first."""
    coo = sparse.triu(weights).tocoo()
    la, lb = labels[coo.row], labels[coo.col]
    cross = la != lb
    lo, hi = np.minimum(la[cross], lb[cross]), np.maximum(la[cross], lb[cross])
    if len(lo) == 0:
        return []
    found, counts = np.unique(np.stack([lo, hi], axis=1), axis=0, return_counts=True)
    return [(int(x), int(y)) for x, y in found[np.argsort(-counts, kind="stable")]]


def _cut_pair(sub: sparse.csr_matrix, lengths: sparse.csr_matrix, local: np.ndarray,
              area: np.ndarray, reach: float) -> np.ndarray | None:
    """New 0/1 labels for the nodes of two touching parts, or None when there is no room.
    Only faces near the boundary may change side: a distance bound, not a ring count, so a
    mesh of a few huge triangles cannot move its boundary across a whole part."""
    coo = lengths.tocoo()
    same = local[coo.row] == local[coo.col]
    inner = sparse.coo_matrix((coo.data[same] + 1e-12, (coo.row[same], coo.col[same])),
                              shape=sub.shape).tocsr()
    boundary = np.unique(coo.row[~same])
    depth = csgraph.dijkstra(inner, directed=False, indices=boundary, min_only=True)
    free = np.zeros(len(local), dtype=bool)
    for side in (0, 1):
        mine = local == side
        finite = depth[mine][np.isfinite(depth[mine])]
        limit = min(reach, float(finite.max()) / 2.0) if len(finite) else 0.0
        if not (mine & (depth > limit)).any():
            return None  # a part too thin to keep a fixed core: leave it as it is
        free |= mine & (depth <= limit)
    # moving the boundary costs STAY per unit of area it sweeps, per unit of reach: only a
    # cut that is much cheaper (a crease) is worth moving to, not a slightly shorter one
    stay = STAY * area / max(reach, 1e-300)
    return min_cut(sub, local, free, stay)
