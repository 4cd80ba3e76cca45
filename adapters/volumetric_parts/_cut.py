"""Volumetric part completion, optional step: hidden interfaces straightened by a minimum
cut.

The parts' windings already divide the solid along smooth surfaces. Where they are nearly
even over a wide zone (two parts overlapping in a generated mesh, ragged labels along a
cut) the interface can still wander; a minimum cut of the coarse grid's graph lets it take
the smallest area nearby instead. Each pair of touching parts is re-decided in a band
around its interface: cutting a grid face costs one, moving a node to the other part costs
in proportion to how clearly the windings gave it to its part, and the nodes next to the
object's surface stay where they are, so every interface still starts where the
segmentation put the cut.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse

from adapters._shared.min_cut import min_cut

REACH = 3  # coarse nodes either side of an interface that may change part
# cost of moving a node, per unit of winding margin, against one grid face of cut
_MARGIN_COST = 4.0
_CUBE = np.ones((3, 3, 3), dtype=bool)


def straighten(solid: np.ndarray, labels: np.ndarray, windings: np.ndarray) -> np.ndarray:
    """Re-decide the nodes near each interface by minimum cut; the windings of every node
    that changes part are swapped with its new part's, so ownership agrees with the
    labels. Returns the nodes each part gained (negative: lost)."""
    gained = np.zeros(len(windings), dtype=np.int64)
    interior = ndimage.binary_erosion(solid, _CUBE)
    for p, q in _touching(solid, labels):
        mine, theirs = solid & (labels == p), solid & (labels == q)
        border = (mine & ndimage.binary_dilation(theirs)) | (theirs & ndimage.binary_dilation(mine))
        band = ndimage.distance_transform_edt(~border) <= REACH
        free = band & interior & (mine | theirs)
        nodes = np.flatnonzero(ndimage.binary_dilation(free, _CUBE) & (mine | theirs))
        if not free.any() or len(nodes) < 3:
            continue
        side = (labels.ravel()[nodes] == q).astype(np.int64)
        margin = np.abs(windings[p].ravel()[nodes] - windings[q].ravel()[nodes])
        after = min_cut(_grid_graph(nodes, labels.shape), side, free.ravel()[nodes],
                        _MARGIN_COST * margin + 1e-3)
        moved = nodes[after != side]
        _swap(moved, p, q, labels, windings)
        gained[q] += int((after > side).sum()) - int((after < side).sum())
        gained[p] -= int((after > side).sum()) - int((after < side).sum())
    return gained


def _touching(solid: np.ndarray, labels: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of parts whose regions share a grid face."""
    pairs = set()
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        s = np.moveaxis(solid, axis, 0)
        both = s[1:] & s[:-1] & (a[1:] != a[:-1])
        for x, y in zip(a[1:][both], a[:-1][both], strict=True):
            pairs.add((int(min(x, y)), int(max(x, y))))
    return sorted(pairs)


def _grid_graph(nodes: np.ndarray, shape: tuple[int, ...]) -> sparse.csr_matrix:
    """Unit capacities between the 6-neighbours among ``nodes`` (flat indices)."""
    index = np.full(int(np.prod(shape)), -1, dtype=np.int64)
    index[nodes] = np.arange(len(nodes))
    ijk = np.stack(np.unravel_index(nodes, shape), axis=1)
    rows, cols = [], []
    for axis in range(3):
        step = np.zeros(3, dtype=np.int64)
        step[axis] = 1
        nb = ijk + step
        ok = nb[:, axis] < shape[axis]
        other = np.full(len(nodes), -1, dtype=np.int64)
        other[ok] = index[np.ravel_multi_index(nb[ok].T, shape)]
        keep = other >= 0
        rows.append(np.flatnonzero(keep))
        cols.append(other[keep])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(nodes), len(nodes)))
    return (graph + graph.T).tocsr()


def _swap(moved: np.ndarray, p: int, q: int, labels: np.ndarray,
          windings: np.ndarray) -> None:
    flat = windings.reshape(len(windings), -1)
    mine, theirs = flat[p, moved].copy(), flat[q, moved].copy()
    flat[p, moved], flat[q, moved] = theirs, mine
    labels.ravel()[moved] = np.where(labels.ravel()[moved] == p, q, p)
