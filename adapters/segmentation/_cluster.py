"""Spectral clustering of a weighted graph into exactly k connected parts.

k-means on the spectral embedding finds the cheap cuts but promises neither connected parts
nor k of them, so its labels are split into connected pieces, the most strongly tied pieces
are merged (by conductance) until k are left, and if fewer than k remain the part with the
cheapest Fiedler bisection is cut in two, until the count is exact.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from scipy.cluster.vq import kmeans2
from scipy.linalg import eigh
from scipy.sparse import csgraph
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

_DENSE_LIMIT = 200  # below this many nodes a dense eigensolver is fast and never fails


def cluster_exact(weights: sparse.csr_matrix, area: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Labels 0..k-1 for the nodes of the connected graph ``weights``, each part connected:
    k-way spectral clustering or recursive bisection, whichever has the lower normalized
    cut (k-means suits parts of similar size, bisection a big body with small limbs)."""
    labels = spectral_kmeans(weights, k, seed)
    seg = split_components(weights, labels)
    seg = merge_down(weights, seg, k)
    cache: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    while seg.max() + 1 < k:
        seg = split_best(weights, seg, area, cache)
    split = np.zeros(len(area), dtype=np.int64)
    cache = {}
    for _ in range(k - 1):
        split = split_best(weights, split, area, cache)
    return min((seg, split), key=lambda s: normalized_cut(weights, s))


def normalized_cut(weights: sparse.csr_matrix, seg: np.ndarray) -> float:
    """Sum over parts of (weight leaving the part) / (weight touching it)."""
    s = _onehot(seg)
    between = (s.T @ weights @ s).toarray()
    vol = between.sum(axis=1)
    return float(((vol - np.diag(between)) / np.maximum(vol, 1e-300)).sum())


def normalized_laplacian(weights: sparse.csr_matrix) -> sparse.csr_matrix:
    deg = np.asarray(weights.sum(axis=1)).ravel()
    inv = 1.0 / np.sqrt(np.maximum(deg, 1e-300))
    d = sparse.diags(inv)
    return (sparse.identity(weights.shape[0], format="csr") - d @ weights @ d).tocsr()


def smallest_eigenvectors(lap: sparse.csr_matrix, k: int) -> np.ndarray:
    n = lap.shape[0]
    if n <= _DENSE_LIMIT or k >= n - 1:
        return eigh(lap.toarray(), subset_by_index=[0, min(k, n) - 1])[1]
    try:
        # shift-invert just below zero: a sparse factorisation finds the low end quickly
        _, vecs = eigsh(lap, k=k, sigma=-1e-3, which="LM")
        return vecs
    except (ArpackError, ArpackNoConvergence, RuntimeError):
        return eigh(lap.toarray(), subset_by_index=[0, k - 1])[1]


def spectral_kmeans(weights: sparse.csr_matrix, k: int, seed: int = 0,
                    restarts: int = 8) -> np.ndarray:
    """Ng-Jordan-Weiss spectral clustering: k-means on row-normalised eigenvectors."""
    vecs = smallest_eigenvectors(normalized_laplacian(weights), k)
    norm = np.linalg.norm(vecs, axis=1, keepdims=True)
    emb = vecs / np.maximum(norm, 1e-12)
    best, best_inertia = None, np.inf
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "one of the clusters is empty" is handled later
        for _ in range(restarts):
            centres, labels = kmeans2(emb, k, minit="++", seed=rng)
            inertia = float(((emb - centres[labels]) ** 2).sum())
            if inertia < best_inertia:
                best, best_inertia = labels, inertia
    return np.asarray(best)


def _compact(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


def _onehot(seg: np.ndarray) -> sparse.csr_matrix:
    n = len(seg)
    return sparse.csr_matrix((np.ones(n), (np.arange(n), seg)), shape=(n, int(seg.max()) + 1))


def _same_label_components(weights: sparse.csr_matrix, seg: np.ndarray) -> np.ndarray:
    coo = weights.tocoo()
    keep = seg[coo.row] == seg[coo.col]
    inner = sparse.coo_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])),
                              shape=weights.shape)
    return csgraph.connected_components(inner, directed=False)[1]


def split_components(weights: sparse.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """Each connected piece of each label becomes its own segment."""
    return _compact(_same_label_components(weights, labels))


def merge_down(weights: sparse.csr_matrix, seg: np.ndarray, k: int) -> np.ndarray:
    """Merge the most strongly tied neighbours (cut / smaller volume) until k segments remain.
    Merging neighbours keeps every segment connected."""
    seg = _compact(seg)
    deg = np.asarray(weights.sum(axis=1)).ravel()
    while seg.max() + 1 > k:
        s = _onehot(seg)
        between = (s.T @ weights @ s).tocoo()
        vol = s.T @ deg
        off = between.row != between.col
        rows, cols, cut = between.row[off], between.col[off], between.data[off]
        if len(cut) == 0:
            break  # nothing adjacent left to merge (cannot happen on a connected graph)
        score = cut / np.maximum(np.minimum(vol[rows], vol[cols]), 1e-300)
        best = int(np.argmax(score))
        seg = _compact(np.where(seg == cols[best], rows[best], seg))
    return seg


def split_best(weights: sparse.csr_matrix, seg: np.ndarray, area: np.ndarray,
               cache: dict[int, tuple[float, np.ndarray, np.ndarray]] | None = None
               ) -> np.ndarray:
    """Cut in two the segment whose Fiedler sweep cut has the lowest conductance. ``cache``
    keeps each untouched segment's best cut between calls."""
    cache = {} if cache is None else cache
    for label in range(int(seg.max()) + 1):
        if label not in cache:
            nodes = np.flatnonzero(seg == label)
            if len(nodes) < 2:
                cache[label] = (np.inf, nodes, np.zeros(len(nodes), dtype=bool))
            else:
                side, conductance = fiedler_cut(weights[nodes][:, nodes])
                cache[label] = (conductance, nodes, side)
    label = min(cache, key=lambda lab: cache[lab][0])
    conductance, nodes, side = cache[label]
    if not np.isfinite(conductance):
        raise ValueError("every part is a single node; nothing left to split")
    out = seg.copy()
    new = int(seg.max()) + 1
    out[nodes[side]] = new
    out = connect(weights, out, area)
    for changed in (label, new):
        cache.pop(changed, None)
    return out


def fiedler_cut(sub: sparse.csr_matrix) -> tuple[np.ndarray, float]:
    """A two-way split of a connected graph: the best conductance sweep of its Fiedler vector."""
    n = sub.shape[0]
    vec = smallest_eigenvectors(normalized_laplacian(sub), 2)[:, 1]
    deg = np.asarray(sub.sum(axis=1)).ravel()
    order = np.argsort(vec / np.sqrt(np.maximum(deg, 1e-300)), kind="stable")
    perm = sub[order][:, order]
    earlier = np.asarray(sparse.tril(perm, k=-1).sum(axis=1)).ravel()
    cut = np.cumsum(deg[order] - 2.0 * earlier)[:-1]
    vol = np.cumsum(deg[order])[:-1]
    total = deg.sum()
    conductance = cut / np.maximum(np.minimum(vol, total - vol), 1e-300)
    i = int(np.argmin(conductance))
    side = np.zeros(n, dtype=bool)
    side[order[: i + 1]] = True
    return side, float(conductance[i])


def connect(weights: sparse.csr_matrix, seg: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Keep each label's largest connected piece; stray pieces join the neighbour they touch
    most. Labels stay 0..k-1 as long as each had a piece."""
    comp = _same_label_components(weights, seg)
    comp_area = np.bincount(comp, weights=area + 1e-300)
    comp_label = np.zeros(comp.max() + 1, dtype=np.int64)
    comp_label[comp] = seg
    order = np.lexsort((-comp_area, comp_label))
    first = np.r_[True, comp_label[order][1:] != comp_label[order][:-1]]
    keep = np.zeros(len(comp_area), dtype=bool)
    keep[order[first]] = True
    out = np.where(keep[comp], seg, -1)
    return flood(weights, out)


def flood(weights: sparse.csr_matrix, seg: np.ndarray) -> np.ndarray:
    """Give unlabelled nodes (-1) the label they are most strongly tied to, front by front,
    so every label grows only into nodes that touch it and stays connected."""
    seg = seg.copy()
    while (seg < 0).any():
        todo, done = np.flatnonzero(seg < 0), np.flatnonzero(seg >= 0)
        ties = (weights[todo][:, done] @ _onehot(seg[done])).tocsr()
        reached = np.diff(ties.indptr) > 0
        if not reached.any():
            raise ValueError("the graph is not connected")
        seg[todo[reached]] = np.asarray(ties[reached].argmax(axis=1)).ravel()
    return seg


def bisection_discounts(weights: sparse.csr_matrix, lengths: sparse.csr_matrix,
                        area: np.ndarray, max_parts: int) -> list[float]:
    """For each cut that recursive bisection makes in turn (cheapest conductance first, up
    to ``max_parts`` parts): its cost over its length. About 1 for a cut across plain surface,
    far less for one along creases or joints, whose edges are cheap to cut."""
    seg = np.zeros(len(area), dtype=np.int64)
    cache: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    out: list[float] = []
    while seg.max() + 1 < min(max_parts, len(area)):
        try:
            after = split_best(weights, seg, area, cache)
        except ValueError:
            break
        moved = after != seg
        old = after == seg[moved][0] if moved.any() else np.zeros(len(seg), dtype=bool)
        cost = float(weights[moved][:, old].sum())
        length = float(lengths[moved][:, old].sum())
        out.append(cost / max(length, 1e-300))
        seg = after
    return out



# A cut costing more than this share of its plain length runs across surface with no crease
# or joint under it: automatic part counts stop before it. Chosen by measurement.
AUTO_DISCOUNT = 0.5
AUTO_MAX_PARTS = 12


def auto_part_count(weights: sparse.csr_matrix, lengths: sparse.csr_matrix,
                    area: np.ndarray) -> int:
    """How many parts recursive bisection finds before its next cut would cross plain
    surface (cost over length above AUTO_DISCOUNT): at least 2, at most AUTO_MAX_PARTS."""
    discounts = bisection_discounts(weights, lengths, area, AUTO_MAX_PARTS)
    above = [i for i, d in enumerate(discounts) if d > AUTO_DISCOUNT]
    cuts = above[0] if above else len(discounts)
    return max(2, cuts + 1)
