"""The one GLB writer: every adapter's primary result leaves through here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh


def write_glb(geometry: trimesh.Trimesh | trimesh.Scene, path: Path) -> Path:
    """Write ``geometry`` as a binary glTF, atomically (a crash never leaves half a file)."""
    scene = geometry if isinstance(geometry, trimesh.Scene) else trimesh.Scene(geometry)
    for mesh in scene.geometry.values():
        _check_finite(mesh)
    data = trimesh.exchange.gltf.export_glb(scene, include_normals=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def _check_finite(mesh: trimesh.Trimesh) -> None:
    if not np.isfinite(np.asarray(mesh.vertices)).all():
        raise ValueError("the result has vertices at infinity or NaN")
