"""The one GLB writer: every adapter's primary result leaves through here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from engine.meshio.skin import Skin, embed_skin


def write_glb(
    geometry: trimesh.Trimesh | trimesh.Scene, path: Path, skin: Skin | None = None
) -> Path:
    """Write ``geometry`` as a binary glTF, atomically (a crash never leaves half a file).

    With ``skin`` (one mesh only), the joints, inverse bind matrices and per-vertex
    JOINTS_0/WEIGHTS_0 are added to what trimesh wrote, since trimesh cannot write skins."""
    scene = geometry if isinstance(geometry, trimesh.Scene) else trimesh.Scene(geometry)
    scene = scene.copy()
    for mesh in scene.geometry.values():
        _check_finite(mesh)
        _repair_normals(mesh)
    data = trimesh.exchange.gltf.export_glb(scene, include_normals=True)
    if skin is not None:
        data = embed_skin(data, skin)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half file behind
        raise
    return path


def _check_finite(mesh: trimesh.Trimesh) -> None:
    if not np.isfinite(np.asarray(mesh.vertices)).all():
        raise ValueError("the result has vertices at infinity or NaN")


def _repair_normals(mesh: trimesh.Trimesh) -> None:
    """Give every vertex a unit normal: glTF forbids the zero normals that vertices touching
    only degenerate triangles get, and the Khronos validator reports them as errors."""
    normals = np.array(mesh.vertex_normals, dtype=np.float64)
    length = np.linalg.norm(normals, axis=1)
    bad = ~np.isfinite(length) | (length < 1e-6)
    normals[bad] = (0.0, 0.0, 1.0)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    mesh.vertex_normals = normals
