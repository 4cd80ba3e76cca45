"""Quads kept in a triangulated glTF: how a quad remesh says which triangles pair up.

glTF holds triangles only, so a quad mesh leaves split along one diagonal of each quad. The
quads survive as a convention on the triangle order plus one number in the mesh's
``extras`` (free-form JSON the spec sets aside for applications; viewers and the Khronos
validator ignore it, so the file stays an ordinary triangle mesh):

    "extras": {"quad_pairs": Q}

means: the first 2·Q triangles, taken two at a time, are the halves of Q quads, and each
half's third edge (corner 2 back to corner 0) is the hidden diagonal. Quad ``a b c d``
split along ``a c`` is written as triangles ``a b c`` and ``c d a``; the winding stays the
quad's. Triangles after the first 2·Q are plain triangles. Readers compare the diagonal's
corner positions, not vertex indices, so a UV seam or a hard edge that splits a vertex
does not break a pair. It costs nothing per face and round-trips through trimesh, which
keeps a mesh's ``metadata`` as its ``extras``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUAD_PAIRS = "quad_pairs"  # key in a glTF mesh's extras (trimesh: the mesh's metadata)


def paired_triangles(points: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """(2q, 3) triangles for ``quads`` (q, 4) in the order ``QUAD_PAIRS`` promises, each
    quad split along its shorter diagonal (the flatter, better-shaped pair)."""
    quads = np.asarray(quads, dtype=np.int64).reshape(-1, 4)
    a, b, c, d = quads.T
    ac = np.sum((points[a] - points[c]) ** 2, axis=1)
    bd = np.sum((points[b] - points[d]) ** 2, axis=1)
    # split along b d: the quad read from b (b c d a), whose a-c diagonal is the old b-d
    rotated = np.where((ac <= bd)[:, None], quads, np.roll(quads, -1, axis=1))
    p, q, r, s = rotated.T
    return np.stack([p, q, r, r, s, p], axis=1).reshape(-1, 3)


def pair_quads(vertices: np.ndarray, faces: np.ndarray, count: Any) -> np.ndarray | None:
    """The (count, 4) quads that the first 2·count of ``faces`` pair into, as corner indices
    into ``vertices``; None when ``count`` is not a sensible number or any pair does not
    share its diagonal (then the extras do not describe these triangles: ignore them)."""
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0 \
            or 2 * count > len(faces):
        return None
    faces = np.asarray(faces, dtype=np.int64)
    first, second = faces[0 : 2 * count : 2], faces[1 : 2 * count : 2]
    points = np.asarray(vertices)
    same = (points[first[:, [0, 2]]] == points[second[:, [2, 0]]]).all(axis=(1, 2))
    if not same.all():
        return None
    return np.column_stack([first, second[:, 1]])


def quads_of(mesh: Any) -> np.ndarray | None:
    """The quads a trimesh read from a glTF carries (see the module's note), or None."""
    metadata = getattr(mesh, "metadata", None) or {}
    if metadata.get("from_gltf_primitive"):  # extras belong to a mesh of several primitives
        return None
    return pair_quads(mesh.vertices, mesh.faces, metadata.get(QUAD_PAIRS))
