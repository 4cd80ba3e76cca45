"""Volumetric part completion, step 5: the visible surface put back where it was.

A vertex of the rebuilt surface that lies on the object's own surface (within one grid
step of it, facing the same way, and plainly inside the part's ownership rather than on an
interface) is moved onto the nearest point of the original triangles, so the visible shape
is the input's and not the grid's. A move that would turn a face over or squash it (a sharp
edge, a sheet thinner than a grid step) is taken back, and no two vertices are moved onto
one point. The rest, the rebuilt surface, is smoothed a little (Taubin), which irons out
the saw teeth marching cubes leaves where an interface meets the visible surface. Vertices
are only moved, never joined or split, so the surface stays exactly as closed as marching
cubes made it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters._shared.repair import directed_edges
from adapters.volumetric_parts._extract import PartSurface
from adapters.volumetric_parts._soup import SurfaceQueries

_UNDO_ROUNDS = 6
_SMOOTHING = 10  # Taubin passes over the rebuilt vertices
_TAUBIN_SHRINK, _TAUBIN_INFLATE = 0.5, -0.53
# a vertex this plainly the part's (winding margin) is no interface vertex
_OWNED = 0.1
_FACING = 0.5  # cosine between a vertex's normal and the input's: it faces the same way
_SQUASHED = 0.05  # a face left with less of its area than this was spoiled by a move


@dataclass
class Snapped:
    vertices: np.ndarray
    visible: np.ndarray  # per vertex: it lies on the input's surface
    rebuilt_share: float  # of the area: faces not lying on the input's surface


def snap_visible(surface: PartSurface, queries: SurfaceQueries) -> Snapped:
    """The part's surface with its visible vertices on the input's triangles and its
    rebuilt ones smoothed; the share of its area that was rebuilt."""
    vertices, faces = surface.vertices, surface.faces
    distance, nearest, point = queries.closest(vertices)
    facing = _cosines(vertex_normals(vertices, faces),
                      face_normals(queries.vertices, queries.faces[nearest])) > _FACING
    owned = surface.ownership.at(vertices)
    visible = (distance <= surface.pitch) & (owned > _OWNED) & facing
    visible &= _first_of_each_point(point, visible, 1e-3 * surface.pitch)
    before = face_normals(vertices, faces)
    moved = _moved(vertices, faces, point, visible, before)
    smoothed = _smoothed(moved, faces, ~visible)
    bad = _spoiled(face_normals(smoothed, faces), before)
    smoothed[faces[bad].reshape(-1)] = moved[faces[bad].reshape(-1)]
    area = np.linalg.norm(face_normals(smoothed, faces), axis=1)
    kept = visible[faces].all(axis=1)
    share = float(area[~kept].sum() / area.sum()) if area.sum() > 0 else 1.0
    return Snapped(smoothed, visible, share)


def _moved(vertices: np.ndarray, faces: np.ndarray, point: np.ndarray, visible: np.ndarray,
           before: np.ndarray) -> np.ndarray:
    """``visible`` vertices moved to ``point``, less those whose move spoils a face (they
    are taken out of ``visible``)."""
    moved = np.where(visible[:, None], point, vertices)
    for _ in range(_UNDO_ROUNDS):
        bad = _spoiled(face_normals(moved, faces), before)
        if not bad.any():
            break
        visible[faces[bad].reshape(-1)] = False
        moved = np.where(visible[:, None], point, vertices)
    return moved


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(norms, 1e-300)


def _first_of_each_point(point: np.ndarray, visible: np.ndarray,
                         tolerance: float) -> np.ndarray:
    """False for a vertex whose snap target another vertex already takes, to within
    ``tolerance`` (two vertices snapped onto one corner would pinch the surface there)."""
    keep = np.ones(len(point), dtype=bool)
    candidates = np.flatnonzero(visible)
    if len(candidates) == 0:
        return keep
    _, first = np.unique(np.round(point[candidates] / tolerance), axis=0,
                         return_index=True)
    keep[candidates] = False
    keep[candidates[first]] = True
    return keep


def _spoiled(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Faces a move turned over or squashed to a sliver of their area."""
    area_before = np.linalg.norm(before, axis=1)
    return (np.einsum("ij,ij->i", after, before) < 0) | (
        np.linalg.norm(after, axis=1) < _SQUASHED * area_before)


def _smoothed(vertices: np.ndarray, faces: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Taubin's shrink-free smoothing of the ``free`` vertices (the rebuilt surface): it
    irons out the saw teeth marching cubes leaves along the edge where an interface meets
    the visible surface; the visible vertices hold the rest in place."""
    from scipy import sparse

    edges = directed_edges(faces)
    n = len(vertices)
    adjacency = sparse.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                                  shape=(n, n))
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.maximum(np.asarray(adjacency.sum(axis=1)).ravel(), 1.0)
    vertices = vertices.copy()
    for _ in range(_SMOOTHING):
        for factor in (_TAUBIN_SHRINK, _TAUBIN_INFLATE):
            step = adjacency @ vertices / degree[:, None] - vertices
            vertices[free] += factor * step[free]
    return vertices


def _cross(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised (area-weighted) face normals."""
    return _cross(vertices, faces)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unnormalised: only their direction is used)."""
    normals = np.zeros_like(vertices)
    cross = _cross(vertices, faces)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], cross)
    return normals


def pieces(faces: np.ndarray) -> int:
    """Connected pieces of a face list (faces joined through shared vertices)."""
    from scipy import sparse
    from scipy.sparse import csgraph

    if len(faces) == 0:
        return 0
    edges = directed_edges(faces)
    n = int(faces.max()) + 1
    graph = sparse.coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])),
                              shape=(n, n))
    _, comp = csgraph.connected_components(graph, directed=False)
    return len(np.unique(comp[np.unique(faces)]))
