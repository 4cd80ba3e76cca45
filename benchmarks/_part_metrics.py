"""What a completed set of parts is measured by: each part one closed solid, the union of
the parts against the object's true solid (volume IoU), and how far the input's visible
surface is from the result (share of the bounding-box diagonal)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from benchmarks._part_cases import Case


@dataclass
class PartCheck:
    name: str
    closed: bool  # every edge two faces, wound opposite ways (vertices welded by position)
    components: int
    manifold: bool  # manifold3d takes it as a solid
    volume: float


def welded(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """The mesh with vertices at one position joined (textures split them at seams)."""
    from adapters._shared.repair import weld

    v, f, _ = weld(np.asarray(mesh.vertices), np.asarray(mesh.faces), 1e-9)
    return v, f


def check_part(name: str, mesh: trimesh.Trimesh) -> PartCheck:
    import manifold3d

    from adapters._shared.hole_filling import is_closed
    from adapters.volumetric_parts._snap import pieces

    v, f = welded(mesh)
    solid = manifold3d.Manifold(manifold3d.Mesh(
        vert_properties=np.asarray(v, dtype=np.float32), tri_verts=np.asarray(f, np.uint32)))
    tri = v[f]
    volume = float(np.einsum("ij,ij->", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))) / 6.0
    return PartCheck(name, is_closed(f), pieces(f),
                     solid.status() == manifold3d.Error.NoError, volume)


def solid_iou(meshes: list[trimesh.Trimesh], case: Case, samples: int = 200_000,
              seed: int = 0) -> float:
    """Volume IoU of the union of ``meshes`` and the case's true solid, by uniform samples
    in the bounding box of both."""
    from adapters._shared.solid_grid import winding

    lo = np.min([m.bounds[0] for m in (*meshes, case.visible)], axis=0)
    hi = np.max([m.bounds[1] for m in (*meshes, case.visible)], axis=0)
    points = np.random.default_rng(seed).uniform(lo, hi, (samples, 3))
    truth = case.inside(points)
    ours = np.zeros(samples, dtype=bool)
    for mesh in meshes:
        v, f = welded(mesh)
        ours |= winding(v, f, points) > 0.5
    return float((truth & ours).sum() / max((truth | ours).sum(), 1))


def visible_distance(meshes: list[trimesh.Trimesh], case: Case,
                     samples: int = 50_000) -> tuple[float, float]:
    """Mean and 99th percentile distance from the input's visible surface to the result,
    as shares of the input's bounding-box diagonal."""
    import igl

    points, _ = trimesh.sample.sample_surface(case.visible, samples, seed=0)
    union = trimesh.util.concatenate(meshes)
    d2, _, _ = igl.point_mesh_squared_distance(
        np.asarray(points, np.float64), np.asarray(union.vertices, np.float64),
        np.asarray(union.faces, np.int64))
    diag = float(np.linalg.norm(np.ptp(case.visible.bounds, axis=0)))
    distance = np.sqrt(d2) / diag
    return float(distance.mean()), float(np.percentile(distance, 99))


def measure(glb: Path, case: Case) -> dict[str, Any]:
    """Every figure for one completed case, from its GLB as written."""
    from engine.meshio.reader import load_parts

    parts = load_parts(glb)
    checks = [check_part(name, mesh) for name, mesh in parts]
    meshes = [mesh for _, mesh in parts]
    mean, p99 = visible_distance(meshes, case)
    return {
        "case": case.name, "input_faces": case.faces, "parts": len(parts),
        "closed_parts": sum(c.closed and c.manifold for c in checks),
        "one_piece_parts": sum(c.components == 1 for c in checks),
        "iou": round(solid_iou(meshes, case), 4),
        "visible_mean": round(mean, 6), "visible_p99": round(p99, 6),
        "per_part": [{"name": c.name, "closed": c.closed, "manifold": c.manifold,
                      "components": c.components, "volume": round(c.volume, 6)}
                     for c in checks],
    }
