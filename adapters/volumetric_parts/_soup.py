"""Volumetric part completion, step 1: every part's triangles as one labelled soup, and the
questions asked of it (nearest surface point, inside or outside).

The soup is welded across parts (parts cut from one mesh share their cut's vertices) and
wound consistently piece by piece, keeping what most of each piece's faces said: an open
fragment has no inside to point away from, and generated meshes are wound outward already
almost everywhere. Only closed pieces that enclose negative volume are turned over, and the
whole soup when it encloses negative volume as a whole (an inside-out export).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters._shared.repair import edge_counts, frame, weld, wind_consistently
from adapters._shared.solid_grid import winding

_CHUNK = 1 << 18  # closest-point queries per call: memory stays flat on huge grids


@dataclass
class Soup:
    """All parts in the model's frame (centred, unit bounding-box diagonal)."""

    vertices: np.ndarray  # (n, 3) float64
    faces: np.ndarray  # (m, 3) int64, consistently wound, outward where that is known
    labels: np.ndarray  # (m,) the part each face came from
    parts: int
    centre: np.ndarray  # world = vertices * size + centre
    size: float


def build_soup(meshes: list[tuple[np.ndarray, np.ndarray]]) -> Soup:
    """One soup of every part's (vertices, faces), in the model's frame."""
    centre, size = frame(meshes)
    offsets = np.cumsum([0] + [len(v) for v, _ in meshes])
    vertices = np.vstack([(np.asarray(v, np.float64) - centre) / size for v, _ in meshes])
    faces = np.vstack([np.asarray(f, np.int64).reshape(-1, 3) + o
                       for (_, f), o in zip(meshes, offsets, strict=False)])
    labels = np.concatenate([np.full(len(f), i) for i, (_, f) in enumerate(meshes)])
    vertices, faces, _ = weld(vertices, faces, 1e-7)
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    faces, labels = faces[keep], labels[keep]
    return Soup(vertices, _outward_where_known(vertices, faces), labels, len(meshes),
                centre, size)


def _outward_where_known(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    faces, comp, count = wind_consistently(faces)
    if count == 0:
        return faces
    _, shared = edge_counts(faces)
    open_piece = np.bincount(comp, weights=(shared.reshape(-1, 3) != 2).any(axis=1),
                             minlength=count) > 0
    volume = np.bincount(comp, weights=_signed_volumes(vertices, faces), minlength=count)
    turn = (~open_piece & (volume < 0))[comp]
    faces = np.where(turn[:, None], faces[:, ::-1], faces)
    if _signed_volumes(vertices, faces).sum() < 0:
        faces = faces[:, ::-1].copy()
    return faces


def _signed_volumes(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each face's signed tetrahedron volume about the soup's centroid (x6)."""
    tri = vertices[faces] - vertices.mean(axis=0)
    return np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))


class SurfaceQueries:
    """Nearest points on, and winding numbers of, one triangle set (tree built once)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        import igl

        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self._tree = igl.AABB()
        self._tree.init(self.vertices, self.faces)
        tri = self.vertices[self.faces]
        self._lo, self._hi = tri.min(axis=1), tri.max(axis=1)

    def faces_near(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The triangles whose bounding boxes meet the box [lo, hi]."""
        meets = ((self._lo <= hi) & (self._hi >= lo)).all(axis=1)
        return self.faces[meets]

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distance to the surface, nearest face and nearest point, for each point."""
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        if len(points) == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, 3))
        found = [self._tree.squared_distance(self.vertices, self.faces, points[s:s + _CHUNK])
                 for s in range(0, len(points), _CHUNK)]
        d2, face, point = (np.concatenate(x) for x in zip(*found, strict=True))
        return np.sqrt(np.maximum(d2, 0.0)), face.astype(np.int64), point

    def winding(self, points: np.ndarray, signed: bool = False) -> np.ndarray:
        return winding(self.vertices, self.faces, points, signed)


def barycentric(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of points lying on (or nearest to) their triangles."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    d00, d01, d11 = (np.einsum("ij,ij->i", x, y) for x, y in ((v0, v0), (v0, v1), (v1, v1)))
    d20, d21 = np.einsum("ij,ij->i", v2, v0), np.einsum("ij,ij->i", v2, v1)
    denom = d00 * d11 - d01 * d01
    safe = np.where(np.abs(denom) > 1e-30, denom, 1.0)
    v = np.where(np.abs(denom) > 1e-30, (d11 * d20 - d01 * d21) / safe, 1 / 3)
    w = np.where(np.abs(denom) > 1e-30, (d00 * d21 - d01 * d20) / safe, 1 / 3)
    bary = np.clip(np.stack([1.0 - v - w, v, w], axis=1), 0.0, 1.0)
    return bary / np.maximum(bary.sum(axis=1, keepdims=True), 1e-30)
