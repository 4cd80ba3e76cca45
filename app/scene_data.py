"""A mesh file prepared for display: plain numpy arrays, made in a helper process.

``engine.meshio.reader.load_mesh`` flattens a scene and drops UVs and materials, which is right for
validated geometry but wrong for looking at a result: the viewport needs every part node, its
UVs and base-colour texture, and the glTF skin. So this module reads the file with the
engine's scene loader (``engine.meshio.scene``: same sniffing, prechecks, side files and notes
as staging and the adapters), or, for a plain GLB, as views on the mapped file
(``app.scene_glbview``, after the same prechecks), and hands back frozen arrays the viewport
turns into VTK objects on the GUI thread. A heavy file comes in two steps (``first_level``:
its preview and the real counts; ``full_parts``: the full level), which ``app.scene_stages``
runs as two answers. No Qt and no VTK here: the helper process that runs them
(``app.offload``) must never load either.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial, SimpleMaterial

from app.scene_glbview import read_plain_glb
from app.scene_lod import motion_parts
from app.scene_preview import (
    PREVIEW_FACES,
    area_normals,
    column_bounds,
    needs_preview,
    preview_parts,
    unit_rows,
)
from app.scene_skeleton import SkeletonData, gltf_json, read_skeleton
from engine.errors import InvalidInput
from engine.meshio.quads import quads_of
from engine.meshio.reader import DEFAULT_MAX_FACES, DEFAULT_MAX_PIXELS, GLB, GLTF, STL, guarded
from engine.meshio.scene import read_scene

log = logging.getLogger(__name__)

MAX_TEXTURE_SIDE = 4096  # bigger base-colour maps are shrunk: the viewport is not a texel ruler


@dataclass(frozen=True, eq=False)
class PartData:
    """One scene node's mesh, already in world space."""

    name: str
    vertices: np.ndarray  # (n, 3) float32
    faces: np.ndarray  # (m, 3) int64: VTK's id type, so no copy on the GUI thread
    # (n, 3) float32, unit length; None only in the helper, before ``full_parts`` (a file
    # without normals of its own: the first level needs none at full detail)
    normals: np.ndarray | None
    uv: np.ndarray | None = None  # (n, 2) float32, OpenGL convention (v up)
    texture: np.ndarray | None = None  # (h, w, 3|4) uint8, rows top-down as in the file
    base_color: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)
    vertex_colors: np.ndarray | None = None  # (n, 4) uint8
    # (q, 4) int64 corners of the quads that faces[:2q] pair into (engine.meshio.quads);
    # faces[2q:] are plain triangles. None: a triangle mesh. Wireframe draws these.
    quads: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class SceneData:
    """Everything the viewport draws for one file; immutable so threads can share it."""

    path: str
    name: str
    parts: tuple[PartData, ...]
    bounds: np.ndarray  # (2, 3): lowest and highest corner of the mesh
    skeleton: SkeletonData | None = None
    uv_charts: int | None = None  # None when no part has UVs
    # a lighter stand-in for slow renderers (app.scene_preview), part for part; None when the
    # mesh is light enough to draw as it is. Counts, stats and bounds are always the real ones.
    preview: tuple[PartData, ...] | None = None
    # what the artist should know about the file as read: a texture that was missing, UVs that
    # were degenerate and treated as none. One sentence each, shown in the viewport's overlay.
    notes: tuple[str, ...] = ()
    has_material: bool = True  # False: no material, texture or colours at all (drawn in clay)
    # the preview clustered once more, drawn while the camera moves (app.scene_lod); None
    # when the scene has no preview or its preview is light enough to move
    motion: tuple[PartData, ...] | None = None
    # (vertices, faces) of the full level while it is still on its way: the first answer for
    # a heavy file (``first_level``) carries its preview as ``parts`` too; None once complete
    pending_counts: tuple[int, int] | None = None

    @property
    def vertices(self) -> int:
        if self.pending_counts is not None:
            return self.pending_counts[0]
        return sum(len(p.vertices) for p in self.parts)

    @property
    def faces(self) -> int:
        if self.pending_counts is not None:
            return self.pending_counts[1]
        return sum(len(p.faces) for p in self.parts)

    @property
    def full_pending(self) -> bool:
        """True while ``parts`` stand in for the full level, which ``completed`` brings."""
        return self.pending_counts is not None

    @property
    def preview_faces(self) -> int:
        return sum(len(p.faces) for p in self.preview) if self.preview is not None else 0

    @property
    def has_uv(self) -> bool:
        return any(p.uv is not None for p in self.parts)

    @property
    def view_bounds(self) -> np.ndarray:
        """The mesh's bounds grown to hold every joint: a rig may reach outside its mesh,
        and framing the view must not cut it off."""
        if self.skeleton is None or not len(self.skeleton.positions):
            return self.bounds
        joints = self.skeleton.positions
        return np.array([np.minimum(self.bounds[0], joints.min(axis=0)),
                         np.maximum(self.bounds[1], joints.max(axis=0))])

    def stats(self) -> dict[str, int | None]:
        bones = self.skeleton.bones if self.skeleton is not None else 0
        return {"vertices": self.vertices, "faces": self.faces, "parts": len(self.parts),
                "bones": bones, "uv_charts": self.uv_charts}


def prepare_scene(
    path: str | os.PathLike[str], *, max_faces: int = DEFAULT_MAX_FACES,
    preview_faces: int = PREVIEW_FACES,
) -> SceneData:
    """Read and check ``path`` and turn it into display arrays (plus a preview when it has
    far more than ``preview_faces`` faces; 0 for none); slow, so call it in a helper process.
    Anything wrong with the file raises ``InvalidInput`` carrying one sentence."""
    first, raw = first_level(path, max_faces=max_faces, preview_faces=preview_faces)
    return first if raw is None else completed(first, full_parts(raw))


def first_level(
    path: str | os.PathLike[str], *, max_faces: int = DEFAULT_MAX_FACES,
    preview_faces: int = PREVIEW_FACES,
) -> tuple[SceneData, tuple[PartData, ...] | None]:
    """What the viewport can draw first, and the raw parts still to finish. A light file is
    complete at once (None). A heavy one comes as its preview and motion levels, made
    straight from the raw arrays (no normals at full detail needed), with the real counts;
    ``full_parts`` of the raw parts then gives its full level (``completed``)."""
    plain = read_plain_glb(path, max_faces=max_faces)
    if plain is not None:  # memory-mapped views, no trimesh (app.scene_glbview)
        label, notes, material, skeleton = plain.label, (), False, None
        normals = None if plain.normals is None else unit_rows(plain.normals)
        parts: tuple[PartData, ...] = (
            PartData(plain.node, plain.vertices, plain.faces, normals),)
    else:
        loaded = read_scene(path, max_faces=max_faces)  # the engine's loader: same checks
        label, fmt, scene = loaded.label, loaded.format, loaded.scene
        doc = gltf_json(path) if fmt in (GLB, GLTF) else None
        parts = guarded(lambda: _parts(scene, merge=fmt is STL), label, "prepared for display")
        skeleton = guarded(lambda: read_skeleton(doc), label,
                           "read for its skeleton") if doc else None
        notes, material = loaded.notes, _has_material(scene)
        del loaded, scene  # the arrays are all this keeps of the file
    for part in parts:
        _check_part(part, label)
    if not parts or sum(len(p.faces) for p in parts) == 0:
        raise InvalidInput(f"{label} contains no triangles, so there is nothing to show.")
    notes += () if material else (f"{label} has no material, so it is shown in clay.",)
    charts = tuple(_chart_labels(p) for p in parts)
    bounds, uv_charts = scene_bounds(parts), _uv_charts(parts, charts)
    if not preview_faces or not needs_preview(sum(len(p.faces) for p in parts), preview_faces):
        return SceneData(str(path), label, full_parts(parts), bounds, skeleton, uv_charts,
                         None, notes, material), None
    preview = guarded(lambda: preview_parts(parts, charts, preview_faces), label,
                      "simplified for display")
    motion = guarded(lambda: motion_parts(preview, _chart_labels), label,
                     "simplified for moving views")
    counts = (sum(len(p.vertices) for p in parts), sum(len(p.faces) for p in parts))
    return SceneData(str(path), label, preview, bounds, skeleton, uv_charts, preview, notes,
                     material, motion, counts), parts


def full_parts(
    parts: tuple[PartData, ...], empty: Callable[[tuple[int, ...], Any], np.ndarray] = np.empty,
) -> tuple[PartData, ...]:
    """``parts`` ready to draw: normals where the file had none (computed once, here),
    float32 vertices and int64 faces, each array made by ``empty`` (shape, dtype): the
    viewport's helper passes one that allocates in shared memory (``app.shared_arrays``)."""
    def put(array: np.ndarray | None, dtype: Any) -> np.ndarray | None:
        if array is None:
            return None
        out = empty(array.shape, dtype)
        np.copyto(out, array, casting="unsafe")
        return out

    out = []
    for part in parts:
        normals = part.normals
        if normals is None:
            normals = unit_rows(area_normals(part.vertices, part.faces))
        out.append(replace(
            part, vertices=put(part.vertices, np.float32), faces=put(part.faces, np.int64),
            normals=put(normals, np.float32), uv=put(part.uv, np.float32),
            vertex_colors=put(part.vertex_colors, np.uint8), quads=put(part.quads, np.int64)))
        del normals
    return tuple(out)


def completed(first: SceneData, parts: tuple[PartData, ...]) -> SceneData:
    """``first`` (from ``first_level``) with its full level in place of the stand-in."""
    return replace(first, parts=parts, pending_counts=None)


def _has_material(scene: Any) -> bool:
    """Any colour of its own: a material, a texture or vertex colours (trimesh's visual kind)."""
    geometries = scene.geometry.values() if hasattr(scene, "geometry") else [scene]
    return any(getattr(getattr(g, "visual", None), "kind", None) for g in geometries)


def scene_bounds(parts: tuple[PartData, ...]) -> np.ndarray:
    """(2, 3): the lowest and highest corner of all parts, computed once, on the worker."""
    points = [p.vertices for p in parts if len(p.vertices)]
    if not points:
        return np.zeros((2, 3))
    bounds = [column_bounds(v) for v in points]
    low = np.min([b[0] for b in bounds], axis=0)
    high = np.max([b[1] for b in bounds], axis=0)
    return np.array([low, high], dtype=np.float64)



# ----------------------------------------------------------------------------- parts


def _parts(scene: trimesh.Scene, *, merge: bool) -> tuple[PartData, ...]:
    # trimesh keeps no node order; part_00, part_01... sort the way the artist named them
    parts = []
    for node in sorted(scene.graph.nodes_geometry):
        transform, geom_name = scene.graph[node]
        geom = scene.geometry.get(geom_name)
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces):
            if merge:  # STL stores each triangle's corners apart; weld them for counts and shading
                geom.merge_vertices()
            parts.append(_part(str(node), geom, np.asarray(transform, dtype=np.float64)))
    return tuple(parts)


def _part(name: str, geom: trimesh.Trimesh, transform: np.ndarray) -> PartData:
    normals = _stored_normals(geom)  # None: computed later, once, by full_parts
    if np.array_equal(transform, np.eye(4)):  # most parts: spare ten million a few copies
        vertices = np.asarray(geom.vertices, dtype=np.float32)
    else:
        vertices = trimesh.transform_points(geom.vertices, transform).astype(np.float32)
        if normals is not None:
            linear = transform[:3, :3]
            try:  # normals follow the inverse transpose, or a squashed part would shade wrongly
                normal_matrix = np.linalg.inv(linear)
            except np.linalg.LinAlgError:
                normal_matrix = linear.T
            normals = normals @ normal_matrix
    visual = geom.visual
    uv, texture, base = _material(visual, len(vertices))
    colors = None
    if getattr(visual, "kind", None) in ("vertex", "face"):
        colors = np.ascontiguousarray(visual.vertex_colors, dtype=np.uint8)
    return PartData(name, vertices, np.asarray(geom.faces),
                    None if normals is None else unit_rows(normals), uv, texture, base, colors,
                    quads_of(geom))


def _stored_normals(geom: trimesh.Trimesh) -> np.ndarray | None:
    """The file's own vertex normals (its hard edges are meant), or None."""
    # trimesh keeps normals read from the file in its cache and has no public "were they
    # stored?"; the raw dict, since its checked lookup hashes every array first
    stored = getattr(getattr(geom, "_cache", None), "cache", {}).get("vertex_normals")
    if stored is not None and np.shape(stored) == np.shape(geom.vertices):
        return np.asarray(stored, dtype=np.float64)
    return None


def vertex_normals(geom: trimesh.Trimesh) -> np.ndarray:
    """The file's own vertex normals when it has them, else each vertex's sum of its faces'
    area-weighted normals (not unit length). Not ``geom.vertex_normals``: trimesh
    weighs by corner angles and caches by hashing, ~1 s per million faces against ~0.1 s."""
    stored = _stored_normals(geom)
    return stored if stored is not None else area_normals(np.asarray(geom.vertices),
                                                          np.asarray(geom.faces))


def _material(visual: Any, n: int) -> tuple[np.ndarray | None, np.ndarray | None, tuple]:
    base: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)
    if getattr(visual, "kind", None) != "texture":
        return None, None, base
    uv = visual.uv
    if uv is not None and (len(uv) != n or not np.isfinite(uv).all()):
        uv = None  # a UV set that does not match the vertices would scramble the texture
    material = visual.material
    if isinstance(material, SimpleMaterial):  # OBJ/MTL: same idea under other names
        material = material.to_pbr()
    texture = None
    if isinstance(material, PBRMaterial):
        if material.baseColorFactor is not None:
            factor = np.asarray(material.baseColorFactor, dtype=np.float64).ravel()
            factor = factor / 255.0 if factor.dtype.kind in "ui" or factor.max() > 1.0 else factor
            base = (*[float(c) for c in factor[:3]], float(factor[3]) if len(factor) > 3 else 1.0)
        if uv is not None and material.baseColorTexture is not None:
            texture = _texture_array(material.baseColorTexture)
    uv = None if uv is None else np.ascontiguousarray(uv, dtype=np.float32)
    return uv, texture, base


def _texture_array(image: Any) -> np.ndarray | None:
    if not isinstance(image, Image.Image):
        return None
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > DEFAULT_MAX_PIXELS:
        return None  # a decompression bomb is not worth a texture; the base colour still shows
    if max(width, height) > MAX_TEXTURE_SIDE:
        image = image.copy()
        image.thumbnail((MAX_TEXTURE_SIDE, MAX_TEXTURE_SIDE))
    mode = "RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    return np.ascontiguousarray(np.asarray(image.convert(mode), dtype=np.uint8))


def _check_part(part: PartData, label: str) -> None:
    # VTK trusts indices blindly: an out-of-range face would read past the point array
    if not np.isfinite(part.vertices).all():
        raise InvalidInput(
            f"{label} is damaged: some vertex positions are not numbers (NaN or infinity)."
        )
    faces = part.faces
    if len(faces) and (faces.min() < 0 or faces.max() >= len(part.vertices)):
        raise InvalidInput(f"{label} is damaged: some triangles point at vertices it does not contain.")


def _chart_labels(part: PartData) -> np.ndarray | None:
    """The UV island of each vertex (None without UVs): faces join through corners that share
    both position and UV, so a seam (same position, other UV) splits charts and overlapping
    UVs elsewhere do not join them."""
    if part.uv is None:
        return None
    weld = _weld(part.vertices, part.uv)
    faces = weld[part.faces]
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    labels = trimesh.graph.connected_component_labels(edges, node_count=int(weld.max()) + 1)
    return np.asarray(labels, dtype=np.int64)[weld]


def _uv_charts(parts: tuple[PartData, ...], charts: tuple[np.ndarray | None, ...]) -> int | None:
    """UV islands over all parts that have UVs; None when none has."""
    counted = [len(np.unique(chart[part.faces[:, 0]]))
               for part, chart in zip(parts, charts, strict=True) if chart is not None]
    return sum(counted) if counted else None


def _weld(vertices: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """An id per distinct (position, UV) corner. lexsort on integer columns, not
    ``np.unique(axis=0)``: that sorts opaque byte rows holding the GIL for half a second on a
    million faces, which would freeze the GUI thread while this runs on a worker."""
    low = vertices.min(axis=0)
    scale = float(np.ptp(vertices, axis=0).max()) or 1.0
    key = np.column_stack([
        np.round((vertices - low) * (1e6 / scale)),
        np.round(np.clip(uv, -1e6, 1e6) * 1e6),
    ]).astype(np.int64)
    order = np.lexsort(key.T)
    ranked = key[order]
    new = np.ones(len(order), dtype=bool)
    np.any(ranked[1:] != ranked[:-1], axis=1, out=new[1:])
    weld = np.empty(len(order), dtype=np.int64)
    weld[order] = np.cumsum(new) - 1
    return weld
