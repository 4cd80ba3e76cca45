"""mesh_retopology by quadric edge collapse (pymeshlab): fewer triangles, same shape and look.

Chosen by measurement over fast-simplification (docs/benchmarks.md, "Decimation"): MeshLab's
texture-aware collapse keeps the UV layout, so the input's own texture stays valid and sharp,
and it honours the face count on CAD models whose millimetre scale stalls fast-simplification's
error threshold. UV seams and material borders are kept (each material's UVs are shifted
into a range of their own, so a border is a UV seam the collapse keeps); normals, hard edges
included, are transferred from the input. With ``allow_topology_changes`` the collapse may
close holes, merge parts and drop the smallest ones to reach the target; the UV layout is
then lost, so a fresh atlas is cut (xatlas) and the input's look baked into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext

_TOLERANCE = 0.10  # within this fraction of target_faces the target counts as met


class DecimateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_faces: int = Field(
        5000, ge=4, le=50_000_000,
        description="How many triangles the result should have. Keeps the UVs, textures, "
                    "materials and normals (hard edges too); when the shape cannot get that "
                    "simple without changing its topology, the result says where it stopped.")
    allow_topology_changes: bool = Field(
        False, description="Reach target_faces even if holes close, parts merge and the "
                           "smallest parts vanish; the texture is then baked onto a new UV "
                           "atlas.")
    preserve_border: bool = Field(False, description="Keep open borders where they are.")
    texture_size: int = Field(1024, ge=128, le=8192,
                              description="Atlas size when the texture is baked anew.")


class DecimateAdapter:
    def load(self, device: str) -> None:
        import pymeshlab  # imported in the worker, never by the studio's own process
        import xatlas

        self._meshlab, self._xatlas = pymeshlab, xatlas

    def unload(self) -> None:
        self._meshlab = self._xatlas = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from adapters._shared.bake import read_surface
        from adapters._shared.repair import weld

        params: DecimateParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.05)
        surface, warnings = read_surface(inputs[0])
        before = len(surface.faces)
        # Collapses need shared vertices; seams live on in the per-corner UVs instead.
        vertices, faces, _ = weld(surface.vertices, surface.faces,
                                  1e-8 * _diagonal(surface.vertices))
        parts = _count_parts(faces, len(vertices))
        ctx.step("simplifying", 0.2)
        if params.allow_topology_changes:
            mesh, stats = self._reshaped(surface, vertices, faces, params, ctx)
        else:
            mesh, stats = self._kept(surface, faces, params)
        ctx.step("cleaning up", 0.9)
        faces_after = stats.pop("faces")
        warnings += _target_warnings(faces_after, params, parts, stats.get("parts_after", parts))
        return AdapterOutput(mesh=mesh, warnings=warnings, stats={
            "faces_before": int(before), "target_faces": int(params.target_faces),
            "parts_before": parts, **stats,
        })

    def _kept(self, surface: Any, faces: np.ndarray,
              params: DecimateParams) -> tuple[Any, dict[str, Any]]:
        """Topology kept: texture-aware collapse on per-corner UVs (one range per look)."""
        from adapters._shared.bake import with_normals

        uv, stride, low = _shifted_uvs(surface)
        meshset = self._meshlab.MeshSet()
        # Per-vertex UVs become per-corner ones, then equal positions merge: the corners
        # keep their UVs, so seams stay seams without cracks.
        meshset.add_mesh(self._meshlab.Mesh(vertex_matrix=surface.vertices,
                                            face_matrix=surface.faces.astype(np.int32),
                                            v_tex_coords_matrix=uv))
        meshset.compute_texcoord_transfer_vertex_to_wedge()
        meshset.meshing_remove_duplicate_vertices()
        if params.target_faces < len(faces):
            meshset.meshing_decimation_quadric_edge_collapse_with_texture(
                targetfacenum=params.target_faces, preserveboundary=params.preserve_border,
                extratcoordw=1.0, optimalplacement=True)
        result = meshset.current_mesh()
        points, tris = result.vertex_matrix(), result.face_matrix().astype(np.int64)
        corner_uv = result.wedge_tex_coord_matrix().reshape(-1, 3, 2)
        look = np.clip(np.floor(corner_uv[:, :, 0].mean(axis=1) / stride), 0,
                       len(surface.looks) - 1).astype(np.int64)
        meshes = []
        for index in np.unique(look):
            sel = look == index
            v, f, uv = _unweld(points, tris[sel], corner_uv[sel] - [index * stride, 0] +
                               low[index])
            visual = _kept_visual(surface.looks[index], uv)
            meshes.append(with_normals(surface, v, f, uv if visual is not None else None,
                                       visual))
        return _one_or_scene(meshes), {"faces": len(tris), "uv_source": "input",
                                       "parts_after": _count_parts(tris, len(points))}

    def _reshaped(self, surface: Any, vertices: np.ndarray, faces: np.ndarray,
                  params: DecimateParams, ctx: RunContext) -> tuple[Any, dict[str, Any]]:
        """Topology free: plain collapse, then a new atlas with the look baked into it."""
        from adapters._shared.bake import textured_mesh, unwrap, with_normals

        meshset = self._meshlab.MeshSet()
        meshset.add_mesh(self._meshlab.Mesh(vertex_matrix=vertices,
                                            face_matrix=faces.astype(np.int32)))
        if params.target_faces < len(faces):
            meshset.meshing_decimation_quadric_edge_collapse(
                targetfacenum=params.target_faces, preservetopology=False,
                preserveboundary=params.preserve_border, optimalplacement=True,
                planarquadric=True, autoclean=True)
        result = meshset.current_mesh()
        points, tris = result.vertex_matrix(), result.face_matrix().astype(np.int64)
        stats = {"faces": len(tris), "parts_after": _count_parts(tris, len(points))}
        if not surface.textured:
            return with_normals(surface, points, tris, None, _kept_visual(surface.looks[0],
                                                                          None)), stats
        ctx.step("cutting a new UV atlas", 0.55)
        v, f, uv = unwrap(self._xatlas, points, tris, params.texture_size)
        ctx.step("baking the texture into it", 0.7)
        mesh = textured_mesh(surface, v, f, uv, params.texture_size)
        return mesh, {**stats, "uv_source": "baked",
                      "texture_size": [params.texture_size, params.texture_size]}


def _shifted_uvs(surface: Any) -> tuple[np.ndarray, float, np.ndarray]:
    """Per-vertex UVs with each look shifted into a U range of its own (a look border is a
    UV seam the collapse keeps); returns them, the stride and each look's lowest UV."""
    look = np.zeros(len(surface.vertices), np.int64)
    look[surface.faces.ravel()] = np.repeat(surface.look_of_face, 3)  # a part is one look
    low = np.zeros((len(surface.looks), 2))
    for index in range(len(surface.looks)):
        sel = look == index
        if sel.any():
            low[index] = surface.uv[sel].min(axis=0)
    span = float(np.ptp(surface.uv, axis=0).max()) if len(surface.uv) else 0.0
    stride = float(np.ceil(span) + 2.0)
    shifted = surface.uv - low[look] + np.column_stack([look * stride, np.zeros(len(look))])
    return shifted.astype(np.float64), stride, low


def _unweld(points: np.ndarray, tris: np.ndarray,
            corner_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vertex per distinct (position, UV) pair: UV seams split, the rest shared."""
    key = np.column_stack([tris.ravel(), np.round(corner_uv.reshape(-1, 2) * 1e6)])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return (points[tris.ravel()[first]], inverse.reshape(-1, 3),
            corner_uv.reshape(-1, 2)[first])


def _kept_visual(look: Any, uv: np.ndarray | None) -> Any:
    import trimesh

    if look.material is None:
        return None
    textured = look.image is not None or look.normal_map is not None
    return trimesh.visual.TextureVisuals(uv=uv if textured else None, material=look.material)


def _one_or_scene(meshes: list[Any]) -> Any:
    import trimesh

    if len(meshes) == 1:
        return meshes[0]
    scene = trimesh.Scene()
    for index, mesh in enumerate(meshes):
        scene.add_geometry(mesh, node_name=f"material_{index:02d}")
    return scene


def _target_warnings(faces: int, params: DecimateParams, parts: int,
                     parts_after: int) -> list[str]:
    target = params.target_faces
    warnings = []
    if parts_after < parts:
        warnings.append(f"{parts - parts_after:,} of its {parts:,} parts were too small for "
                        f"{target:,} faces and were dropped.")
    if faces <= target * (1 + _TOLERANCE):
        return warnings
    if params.allow_topology_changes:
        reason = "the collapse found nothing more it could remove"
    elif parts > 1:
        reason = (f"its {parts:,} parts are smaller than the target allows while each keeps "
                  "its shape and UV seams; allow_topology_changes reaches it by closing holes "
                  "and dropping the smallest parts")
    else:
        reason = ("the shape cannot get simpler while it keeps its topology, borders and UV "
                  "seams; allow_topology_changes reaches it")
    return [*warnings, f"Stopped at {faces:,} faces, not {target:,}: {reason}."]


def _count_parts(faces: np.ndarray, count: int) -> int:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not len(faces):
        return 0
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(count, count))
    labels = connected_components(graph, directed=False)[1]
    return len(np.unique(labels[faces[:, 0]]))


def _diagonal(vertices: np.ndarray) -> float:
    return float(np.linalg.norm(np.ptp(vertices, axis=0))) if len(vertices) else 0.0
