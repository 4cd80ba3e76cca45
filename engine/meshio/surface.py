"""Is there a surface at all? A mesh whose triangles all have zero area (every face on one
point, or on a line) reads and writes fine, yet every feature's work on it is meaningless:
xatlas fails with an index error, decimation "succeeds" with millions of faces on one vertex.
The same check refuses such an input at staging and such a result before "succeeded"."""

from __future__ import annotations

import numpy as np
import trimesh

_RELATIVE_AREA = 1e-12  # of the bounding box's squared diagonal: below it is rounding noise


def flat_reason(geometry: trimesh.Trimesh | trimesh.Scene) -> str | None:
    """None when ``geometry`` has a surface; else the clause saying why not."""
    parts = geometry.geometry.values() if isinstance(geometry, trimesh.Scene) else [geometry]
    meshes = [g for g in parts if isinstance(g, trimesh.Trimesh)]
    faces = sum(len(m.faces) for m in meshes)
    if faces == 0:
        return None  # "no triangles" is the readers' own sentence
    if any(_has_area(m) for m in meshes):
        return None
    points = sum(len(np.unique(m.vertices[np.unique(m.faces)], axis=0)) for m in meshes
                 if len(m.faces))
    return (f"all its {faces:,} triangles have zero area (they sit on {points:,} "
            f"point{'s' if points != 1 else ''})")


def _has_area(mesh: trimesh.Trimesh) -> bool:
    if len(mesh.faces) == 0:
        return False
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces)
    # the corners in use by a mask, not np.unique: sorting ten million faces' corners held
    # the GIL for seconds, and staging runs on a thread of the studio's process
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    extent = np.array([np.ptp(vertices[used, k]) for k in range(3)])
    diagonal2 = float(extent @ extent)
    if diagonal2 == 0.0:
        return False  # every corner on one point
    for start in range(0, len(faces), 1 << 20):  # in blocks: no (m, 3, 3) array at once
        block = vertices[faces[start:start + (1 << 20)]]
        cross = np.cross(block[:, 1] - block[:, 0], block[:, 2] - block[:, 0])
        if float(np.sqrt((cross * cross).sum(axis=1)).sum()) > _RELATIVE_AREA * diagonal2:
            return True
    return False
