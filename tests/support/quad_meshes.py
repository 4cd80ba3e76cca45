"""Quad meshes for tests, triangulated and tagged the way a quad remesh leaves them
(engine.meshio.quads)."""

from __future__ import annotations

import numpy as np
import trimesh

from engine.meshio.quads import QUAD_PAIRS, paired_triangles


def quad_grid(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A wavy n × n sheet of quads in the x-y plane (counter-clockwise seen from +z):
    (points, (n², 4) quads)."""
    x, y = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1))
    points = np.column_stack([x.ravel(), y.ravel(), 0.1 * np.sin(5 * x.ravel()) * y.ravel()])
    i = (np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]).ravel()
    return points, np.column_stack([i, i + 1, i + n + 2, i + n + 1])


def quad_mesh(points: np.ndarray, quads: np.ndarray,
              tris: np.ndarray | None = None, *, tagged: bool = True) -> trimesh.Trimesh:
    """The quads split in pairs, then ``tris``; ``tagged=False`` leaves out the extras, so
    the same triangles read as a plain triangle mesh."""
    tris = np.zeros((0, 3), dtype=np.int64) if tris is None else tris
    mesh = trimesh.Trimesh(points, np.concatenate([paired_triangles(points, quads), tris]),
                           process=False)
    if tagged:
        mesh.metadata[QUAD_PAIRS] = len(quads)
    return mesh
