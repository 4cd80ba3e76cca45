"""Small, fast repairs that geometry adapters share (numpy and scipy only, no Python loops
over faces). Equal keys are grouped with one unstable argsort rather than ``np.unique``,
which is two to three times slower for this on the numpy this project pins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal keys grouped: the indices in key order, where each group starts in that order,
    and every key's group number (groups numbered in key order)."""
    order = np.argsort(keys)
    ranked = keys[order]
    start = np.empty(len(keys), dtype=bool)
    start[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=start[1:])
    group = np.empty(len(keys), dtype=np.int64)
    group[order] = np.cumsum(start) - 1
    return order, np.flatnonzero(start), group


def weld(vertices: np.ndarray, faces: np.ndarray,
         tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices in the same cell of a grid with spacing ``tolerance`` merged into the first
    of them (seams of normals and UVs, STL-style corner soups); vertices no face uses are
    dropped. Returns the vertices (in the order of their first use in the input's vertex
    order), the faces (same order and count; some may now repeat a vertex), and each input
    vertex's new index (-1 for an unused one)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.reshape(-1)] = True
    index = np.flatnonzero(used)
    points = vertices[index]
    # never finer than 1e-12 of the coordinates: the cell numbers must fit in int64
    step = max(float(tolerance), 1e-12 * float(np.abs(points).max(initial=0.0)), 1e-300)
    cells = np.round(points / step).astype(np.int64)
    # a 64-bit hash of the cell groups them in one sort; a collision is caught and falls back
    u = cells.view(np.uint64)
    key = _mix(_mix(_mix(u[:, 0]) + u[:, 1]) + u[:, 2])
    order, start, group = groups(key)
    ranked = cells[order]
    inside = np.ones(len(order), dtype=bool)  # the rows that continue a group
    inside[start] = False
    if ((ranked[1:] != ranked[:-1]).any(axis=1) & inside[1:]).any():
        _, group = np.unique(cells, axis=0, return_inverse=True)
        group = group.reshape(-1)
        start = np.r_[0, np.flatnonzero(np.diff(np.sort(group))) + 1]
        order = np.argsort(group, kind="stable")
    first = np.minimum.reduceat(order, start) if len(order) else order
    # renumber the groups by where each first appears, so welding keeps the vertex order
    rank = np.empty(len(first), dtype=np.int64)
    by_first = np.argsort(first)
    rank[by_first] = np.arange(len(first))
    inverse = np.full(len(vertices), -1, dtype=np.int64)
    inverse[index] = rank[group]
    return vertices[index[first[by_first]]], inverse[faces], inverse


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: every input bit reaches every output bit (uint64 wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """Half-edge k = 3 * face + corner runs from that corner to the next one."""
    return faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)


def pair_keys(pairs: np.ndarray) -> np.ndarray:
    """One int64 per (a, b) row, equal exactly when the rows are (np.unique on rows is slow)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    base = int(pairs.max()) + 1 if len(pairs) else 1
    return pairs[:, 0] * base + pairs[:, 1]


@dataclass(frozen=True)
class HalfEdges:
    """Every half-edge of a face list grouped by the undirected edge it lies on. Turning
    faces over afterwards keeps which faces share which edge (``order // 3``, ``ends``)
    valid; ``forward`` describes the faces as they were grouped."""

    ends: np.ndarray  # (3 * faces, 2) each half-edge's two vertices, lower first
    forward: np.ndarray  # (3 * faces,) whether the half-edge runs from lower to higher
    order: np.ndarray  # half-edge indices, grouped edge by edge
    start: np.ndarray  # where each edge's group starts in ``order``

    @property
    def sizes(self) -> np.ndarray:
        """How many faces share each edge."""
        return np.diff(np.r_[self.start, len(self.order)])


def half_edges(faces: np.ndarray) -> HalfEdges:
    directed = directed_edges(faces)
    forward = directed[:, 0] < directed[:, 1]
    ends = np.where(forward[:, None], directed, directed[:, ::-1])
    order, start, _ = groups(pair_keys(ends))
    return HalfEdges(ends, forward, order, start)


def edge_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every half-edge: the id of its undirected edge, and how many faces share that."""
    edges = half_edges(faces)
    group = np.empty(len(edges.order), dtype=np.int64)
    group[edges.order] = np.repeat(np.arange(len(edges.start)), edges.sizes)
    return group, edges.sizes[group]


def halfedge_pairs(faces: np.ndarray | HalfEdges) -> tuple[np.ndarray, np.ndarray]:
    """The two half-edges (lower index first) of every edge that exactly two faces share,
    edges in a fixed order."""
    edges = faces if isinstance(faces, HalfEdges) else half_edges(faces)
    two = edges.start[edges.sizes == 2]
    k1, k2 = edges.order[two], edges.order[two + 1]
    return np.minimum(k1, k2), np.maximum(k1, k2)


def edge_pairs(edges: HalfEdges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every edge shared by exactly two faces: the two faces, and whether they run along
    it in the same direction (which means one of them is flipped)."""
    k1, k2 = halfedge_pairs(edges)
    same = edges.forward[k1] == edges.forward[k2]
    distinct = k1 // 3 != k2 // 3
    return k1[distinct] // 3, k2[distinct] // 3, same[distinct]


def orient_faces(vertices: np.ndarray, faces: np.ndarray,
                 edges: HalfEdges | None = None) -> np.ndarray:
    """``faces`` with winding made consistent across manifold edges, each connected piece
    turned to enclose positive volume (normals out). Face order is kept. ``edges``: the
    faces' half-edges, when the caller has grouped them already."""
    faces, comp, count = wind_consistently(faces, edges)
    if len(faces) == 0:
        return faces
    return _outward(vertices, faces, comp, count)


def wind_consistently(faces: np.ndarray, edges: HalfEdges | None = None
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """``faces`` with winding made consistent across manifold edges, each connected piece
    keeping the winding most of its faces had (an open piece has no inside to point away
    from). Also each face's piece and the number of pieces."""
    faces = np.asarray(faces, dtype=np.int64)
    n = len(faces)
    if n == 0:
        return faces, np.zeros(0, dtype=np.int64), 0
    a, b, flipped = edge_pairs(edges if edges is not None else half_edges(faces))
    count, comp = csgraph.connected_components(
        sparse.csr_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)),
        directed=False)
    if flipped.any():  # most meshes are wound consistently already: nothing to walk
        flip = _flips(n, a, b, flipped, comp, count)
        turned = np.bincount(comp, weights=flip, minlength=count)
        flip ^= (2 * turned > np.bincount(comp, minlength=count))[comp]
        faces = np.where(flip[:, None], faces[:, ::-1], faces)
    return faces, comp, count


def _flips(n: int, a: np.ndarray, b: np.ndarray, flipped: np.ndarray, comp: np.ndarray,
           count: int) -> np.ndarray:
    """Which faces to turn over: walk a spanning tree of each piece from one face, flipping
    across every tree edge whose two faces run the same way."""
    # a virtual root joined to one face per piece lets one breadth-first pass cover them all
    roots = np.unique(comp, return_index=True)[1]
    rows = np.r_[a, b, np.full(count, n)]
    cols = np.r_[b, a, roots]
    parity = np.r_[flipped, flipped, np.zeros(count, dtype=bool)].astype(np.int8) + 1
    # two faces sharing two edges would otherwise add their parities up
    order, start, _ = groups(pair_keys(np.stack([rows, cols], axis=1)))
    once = order[start]
    tree = sparse.csr_matrix((parity[once], (rows[once], cols[once])), shape=(n + 1, n + 1))
    tree = tree.maximum(tree.T)  # the root's links go both ways too
    visited, pred = csgraph.breadth_first_order(tree, n, directed=False)
    visited = visited[1:]
    flip = np.zeros(n + 1, dtype=np.int8)
    flip[visited] = np.asarray(tree[visited, pred[visited]]).ravel() - 1
    # parity to the root by pointer jumping: log(depth) vector steps, no loop over faces
    up = np.full(n + 1, n, dtype=np.int64)
    up[visited] = pred[visited]
    while (up != n).any():
        flip ^= flip[up]
        up = up[up]
    return flip[:n].astype(bool)


def _outward(vertices: np.ndarray, faces: np.ndarray, comp: np.ndarray, count: int) -> np.ndarray:
    tri = vertices[faces]
    centre = np.bincount(np.repeat(comp, 3), minlength=count)
    centre = np.stack([np.bincount(np.repeat(comp, 3), weights=tri[:, :, i].reshape(-1),
                                   minlength=count) for i in range(3)], axis=1) / np.maximum(
        centre, 1)[:, None]
    rel = tri - centre[comp][:, None, :]
    signed = np.einsum("ij,ij->i", rel[:, 0], np.cross(rel[:, 1], rel[:, 2]))
    inward = np.bincount(comp, weights=signed, minlength=count) < 0
    return np.where(inward[comp][:, None], faces[:, ::-1], faces)


def frame(meshes: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, float]:
    """Centre and diagonal of all parts together: tolerances are relative to the model."""
    lo = np.min([v[f.reshape(-1)].min(axis=0) for v, f in meshes if len(f)], axis=0)
    hi = np.max([v[f.reshape(-1)].max(axis=0) for v, f in meshes if len(f)], axis=0)
    size = float(np.linalg.norm(hi - lo))
    return (lo + hi) / 2.0, size if np.isfinite(size) and size > 0 else 1.0
