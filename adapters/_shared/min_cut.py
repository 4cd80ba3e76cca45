"""The minimum s-t cut that segmentation's boundary refinement and volumetric completion's
cut both use: a graph's free nodes go to side 0 or 1, each tied to its present side."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

_CAPACITY_TOTAL = 1e9  # integer capacities must keep every flow inside int32


def min_cut(sub: sparse.csr_matrix, local: np.ndarray, free: np.ndarray,
             stay: np.ndarray) -> np.ndarray:
    """Minimum s-t cut over the free nodes; fixed nodes are folded into the two terminals,
    and each free node is tied to its present side by ``stay``."""
    idx = np.flatnonzero(free)
    m = len(idx)
    cap = sub[idx][:, idx].tocoo()
    fixed_ties = sub[idx][:, ~free] @ sparse.csr_matrix(
        np.stack([local[~free] == 0, local[~free] == 1], axis=1).astype(np.float64))
    ties = np.asarray(fixed_ties.todense())
    ties[:, 0] += np.where(local[idx] == 0, stay[idx], 0.0)
    ties[:, 1] += np.where(local[idx] == 1, stay[idx], 0.0)
    total = cap.data.sum() + ties.sum()
    scale = _CAPACITY_TOTAL / max(total, 1e-300)
    src, snk = m, m + 1
    rows = np.r_[cap.row, np.full(m, src), np.arange(m)]
    cols = np.r_[cap.col, np.arange(m), np.full(m, snk)]
    vals = np.r_[cap.data, ties[:, 0], ties[:, 1]] * scale
    graph = sparse.csr_matrix((np.floor(vals).astype(np.int32), (rows, cols)), shape=(m + 2, m + 2))
    graph.eliminate_zeros()
    flow = csgraph.maximum_flow(graph, src, snk, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data = np.where(residual.data > 0, 1, 0).astype(np.int32)
    residual.eliminate_zeros()
    reached = csgraph.breadth_first_order(residual, src, directed=True,
                                          return_predecessors=False)
    out = local.copy()
    out[idx] = 1
    on_source = reached[reached < m]
    out[idx[on_source]] = 0
    return out
