"""Closing an open surface: clean it into an oriented manifold with boundary, fill every
boundary loop with a disk patch, and fair each patch with a bilaplacian solve.

The patch is a Delaunay triangulation of the unit disk (the loop laid on its rim by arc
length, interior points on a sunflower spiral at the rim's spacing). Its interior vertices
solve L²x = 0 with the loop fixed and a ghost ring one step into the surface beside it, so
the patch leaves the cut with the slope the surface had (C1, as in Liepa's fairing)
whatever the size of the neighbouring triangles.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import MatrixRankWarning, spsolve
from scipy.spatial import Delaunay, QhullError

from adapters._shared.repair import directed_edges, edge_counts, halfedge_pairs, orient_faces

MAX_PATCH_POINTS = 20_000  # interior vertices per hole: a huge cut gets coarser, not slower
_GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


@dataclass
class Closed:
    vertices: np.ndarray
    faces: np.ndarray
    holes: int  # boundary loops that were filled
    removed_faces: int  # duplicate, degenerate or non-manifold faces dropped first
    watertight: bool  # every edge has exactly two faces, wound opposite ways


def close_surface(vertices: np.ndarray, faces: np.ndarray, smooth: bool = True,
                  tick: Callable[[float], None] | None = None) -> Closed:
    """A closed version of the surface (vertices already merged). ``smooth`` continues the
    surface's slope into each patch; without it patches are membranes (the tightest fill).
    ``tick`` is called with the fraction of holes done (it may raise to stop)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    kept = clean_faces(faces)
    removed = len(faces) - len(kept)
    faces = orient_faces(vertices, kept)
    faces, source = split_pinched_vertices(faces)
    vertices = vertices[source]
    loops = boundary_loops(faces)
    inward = _inward_directions(vertices, faces)
    new_vertices, new_faces = [vertices], [faces]
    count = len(vertices)
    taken = _edges_by_loop(faces, loops, len(vertices))
    every = max(1, len(loops) // 50)  # a sieve of tiny holes must not flood the progress bar
    for i, loop in enumerate(loops):
        if tick is not None and i % every == 0:
            tick(i / len(loops))
        interior, tris = fill_loop(vertices[loop], inward[loop], smooth, taken[i])
        local = np.r_[loop, count + np.arange(len(interior))]
        new_vertices.append(interior)
        new_faces.append(local[tris])
        count += len(interior)
    vertices, faces = np.vstack(new_vertices), np.vstack(new_faces)
    faces = orient_faces(vertices, faces)  # closed now: outward is well defined
    used, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    return Closed(vertices[used], faces, len(loops), removed, is_closed(faces))


def clean_faces(faces: np.ndarray) -> np.ndarray:
    """Drop faces that repeat a vertex, repeat another face, or make an edge shared by more
    than two faces (the extra ones leave holes that are then filled like any other)."""
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2])
                  & (faces[:, 2] != faces[:, 0])]
    if len(faces) == 0:
        return faces
    ordered = np.sort(faces, axis=1)
    order = np.lexsort(ordered.T[::-1])
    repeat = np.r_[False, (ordered[order][1:] == ordered[order][:-1]).all(axis=1)]
    faces = faces[np.sort(order[~repeat])]
    for _ in range(8):
        inverse, counts = edge_counts(faces)
        if len(faces) == 0 or counts.max() <= 2:
            break
        # of each crowded edge's faces keep the first two (in face order)
        crowded = np.flatnonzero(counts > 2)
        order = crowded[np.argsort(inverse[crowded], kind="stable")]
        rank = np.arange(len(order)) - np.searchsorted(inverse[order], inverse[order])
        drop = np.zeros(len(faces), dtype=bool)
        drop[order[rank >= 2] // 3] = True
        faces = faces[~drop]
    return faces


def split_pinched_vertices(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give each fan of faces around a vertex its own copy of it, so every vertex is manifold
    and each boundary vertex has one way in and one way out. Returns the new faces and, per
    new vertex, the old vertex it copies."""
    n = len(faces) * 3
    if n == 0:
        return faces, np.zeros(0, dtype=np.int64)
    k1, k2 = halfedge_pairs(faces)
    nxt = lambda k: 3 * (k // 3) + (k % 3 + 1) % 3  # noqa: E731  (the half-edge's end corner)
    flat = faces.reshape(-1)
    same = flat[k1] == flat[k2]
    a = np.r_[k1, nxt(k1)]
    b = np.r_[np.where(same, k2, nxt(k2)), np.where(same, nxt(k2), k2)]
    _, corner_vertex = csgraph.connected_components(
        sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    source = np.zeros(corner_vertex.max() + 1, dtype=np.int64)
    source[corner_vertex] = flat
    return corner_vertex.reshape(-1, 3), source


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Each boundary as its vertices in the order the faces run along it."""
    directed = directed_edges(faces)
    _, counts = edge_counts(faces)
    edges = directed[counts == 1]
    nxt = dict(zip(edges[:, 0].tolist(), edges[:, 1].tolist(), strict=True))
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen and v in nxt:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        if v == start and len(loop) >= 3:
            loops.append(np.array(loop, dtype=np.int64))
    return loops


def _edges_by_loop(faces: np.ndarray, loops: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Per loop, the surface's edges joining two of its vertices, as pairs of positions on
    the loop (each boundary vertex lies on one loop once pinches are split)."""
    loop_of, position = np.full(n, -1), np.zeros(n, dtype=np.int64)
    for i, loop in enumerate(loops):
        loop_of[loop], position[loop] = i, np.arange(len(loop))
    edges = np.sort(directed_edges(faces), axis=1)
    edges = edges[(loop_of[edges[:, 0]] >= 0) & (loop_of[edges[:, 0]] == loop_of[edges[:, 1]])]
    which = loop_of[edges[:, 0]]
    order = np.argsort(which, kind="stable")
    edges, which = edges[order], which[order]
    bounds = np.searchsorted(which, np.arange(len(loops) + 1))
    return [position[edges[bounds[i]:bounds[i + 1]]] for i in range(len(loops))]


def is_closed(faces: np.ndarray) -> bool:
    if len(faces) == 0:
        return False
    k1, k2 = halfedge_pairs(faces)
    directed = directed_edges(faces)
    opposite = directed[k1, 0] == directed[k2, 1]
    return 2 * len(k1) == len(directed) and bool(opposite.all())


def _inward_directions(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per vertex, the mean direction from it to the centroids of its faces: along the
    surface and away from the hole, for a boundary vertex."""
    corner = np.repeat(vertices[faces].mean(axis=1), 3, axis=0) - vertices[faces.reshape(-1)]
    out = np.zeros_like(vertices)
    np.add.at(out, faces.reshape(-1), corner)
    return out


# ----------------------------------------------------------------------------- one hole


def fill_loop(points: np.ndarray, inward: np.ndarray, smooth: bool = True,
              taken: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """New interior vertices and triangles (indices: loop first, then the interior) that
    close the loop; triangles run against the loop so they match the faces beside it.
    ``taken`` lists pairs of loop positions the surface already joins by an edge: a patch
    chord between them would give that edge four faces, so none is allowed."""
    m = len(points)
    if m == 3:
        return np.zeros((0, 3)), np.array([[0, 2, 1]])
    disk, rim = _disk_points(points)
    tris = _disk_triangles(disk, m, taken)
    if tris is None:  # a fan around one new centre vertex has no chords at all
        disk = np.vstack([disk[:m], [[0.0, 0.0]]])
        tris = np.stack([np.full(m, m), np.arange(m), (np.arange(m) + 1) % m], axis=1)
    # the loop runs counter-clockwise on the disk; the patch must run the other way
    a, b, c = (disk[tris[:, i]] for i in range(3))
    ccw = np.cross(b - a, c - a) > 0
    tris[ccw] = tris[ccw][:, ::-1]
    return _fair(points, inward, disk, tris, rim, smooth), tris


def _disk_points(points: np.ndarray) -> tuple[np.ndarray, float]:
    m = len(points)
    step = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
    arc = np.r_[0.0, np.cumsum(step)[:-1]] / max(step.sum(), 1e-300)
    # half arc length, half even spacing: follows the loop yet never stacks two rim points
    theta = 2.0 * np.pi * (0.5 * arc + 0.5 * np.arange(m) / m)
    rim_points = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    spacing = 2.0 * np.sin(np.pi / m)
    radius = 1.0 - 0.8 * spacing
    count = int(np.pi * radius**2 / (0.866 * spacing**2)) if radius > 0 else 0
    count = min(count, MAX_PATCH_POINTS)
    i = np.arange(count) + 0.5
    r = radius * np.sqrt(i / max(count, 1))
    inner = np.stack([r * np.cos(i * _GOLDEN_ANGLE), r * np.sin(i * _GOLDEN_ANGLE)], axis=1)
    return np.vstack([rim_points, inner]), float(step.mean()) if m else 0.0


def _disk_triangles(disk: np.ndarray, m: int, taken: np.ndarray | None) -> np.ndarray | None:
    """Delaunay triangles of the disk points, or None when qhull lost a rim point or edge,
    or drew a chord the surface already has."""
    if len(disk) == m:
        return None  # rim points only: every triangle would be made of chords
    try:
        tri = Delaunay(disk)
    except (QhullError, ValueError):
        return None
    simplices = np.asarray(tri.simplices, dtype=np.int64)
    if len(getattr(tri, "coplanar", [])) or len(np.unique(simplices)) != len(disk):
        return None
    edges = np.unique(np.sort(simplices[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    on_rim = edges[(edges[:, 1] < m)]
    consecutive = (on_rim[:, 1] - on_rim[:, 0] == 1) | (on_rim[:, 1] - on_rim[:, 0] == m - 1)
    if consecutive.sum() != m:
        return None  # some rim edge is missing
    chords = on_rim[~consecutive]
    if taken is not None and len(chords) and len(taken):
        key = lambda e: np.sort(e, axis=1) @ np.array([m, 1])  # noqa: E731
        if np.isin(key(chords), key(taken)).any():
            return None
    return simplices


def _fair(points: np.ndarray, inward: np.ndarray, disk: np.ndarray, tris: np.ndarray,
          rim_step: float, smooth: bool) -> np.ndarray:
    """Interior positions solving L²x = 0 (uniform Laplacian), with the loop and a ghost ring
    one step into the surface beside it fixed, so the patch leaves the cut tangentially."""
    m, total = len(points), len(disk)
    ghost = points + rim_step * 0.866 * _into_surface(points, inward)
    ring = np.arange(m)
    strip = np.r_[np.stack([total + ring, ring, (ring + 1) % m], axis=1),
                  np.stack([total + ring, (ring + 1) % m, total + (ring + 1) % m], axis=1)]
    allt = np.vstack([tris, strip])
    edges = allt[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    n = total + m
    adj = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    adj = ((adj + adj.T) > 0).astype(np.float64).tocsr()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    lap = sparse.identity(n, format="csr") - sparse.diags(1.0 / deg) @ adj
    free = np.arange(m, total)
    fixed = np.r_[ring, total + ring]
    known = np.vstack([points, ghost])
    solved = _solve((lap @ lap).tocsr(), free, fixed, known) if smooth else None
    if solved is None or not np.isfinite(solved).all():  # singular: fall back to a membrane
        solved = _solve(lap, free, fixed, known)
    return solved


def _solve(op: sparse.csr_matrix, free: np.ndarray, fixed: np.ndarray,
           known: np.ndarray) -> np.ndarray:
    rhs = -(op[free][:, fixed] @ known)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatrixRankWarning)
        solved = spsolve(op[free][:, free].tocsc(), rhs)
    return np.asarray(solved).reshape(len(free), 3)


def _into_surface(points: np.ndarray, inward: np.ndarray) -> np.ndarray:
    """Unit directions at each loop vertex, across the loop and into the surface beside it:
    where the surface's first ring of vertices would be."""
    along = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    along /= np.maximum(np.linalg.norm(along, axis=1, keepdims=True), 1e-300)
    into = inward - np.einsum("ij,ij->i", inward, along)[:, None] * along
    length = np.linalg.norm(into, axis=1, keepdims=True)
    return into / np.maximum(length, 1e-300)
