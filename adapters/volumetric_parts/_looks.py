"""Volumetric part completion, step 6: each rebuilt part dressed as the input part was.

Every vertex takes its colour from the nearest point of the part's own input triangles: on
the visible surface that is the point it was snapped to, on the hidden side the nearest
colour there is. A texture is carried by UVs read at that point; a face whose corners fall
in different charts of the texture atlas (a hidden face spanning a seam, or a big one) gets
one UV for all three corners, from its centre's nearest point, so it shows one colour from
the texture instead of a smear across the atlas. Vertex colours are interpolated the same
way; a plain material is kept as it is, and a part without any gets the segmentation's
colour for its place.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse import csgraph

from adapters.volumetric_parts._soup import SurfaceQueries, barycentric


@dataclass
class Look:
    """A part as it came, in the model's frame, with what it looked like."""

    vertices: np.ndarray
    faces: np.ndarray
    material: Any | None  # a trimesh material
    uv: np.ndarray | None  # (vertices, 2), only with a texture to read it in
    colours: np.ndarray | None  # (vertices, 4) uint8
    face_colours: np.ndarray | None = None  # (faces, 4) uint8


def look_of(mesh: trimesh.Trimesh, centre: np.ndarray, size: float) -> Look:
    vertices = (np.asarray(mesh.vertices, dtype=np.float64) - centre) / size
    faces = np.asarray(mesh.faces, dtype=np.int64)
    visual = mesh.visual
    material, uv = getattr(visual, "material", None), None
    if isinstance(visual, trimesh.visual.TextureVisuals):
        texture = getattr(material, "baseColorTexture", None)
        if visual.uv is not None and len(visual.uv) == len(vertices) and texture is not None:
            uv = np.asarray(visual.uv, dtype=np.float64)
    look = Look(vertices, faces, material, uv, None)
    if isinstance(visual, trimesh.visual.ColorVisuals) and visual.kind == "vertex":
        look.colours = np.asarray(visual.vertex_colors, dtype=np.uint8)
    elif isinstance(visual, trimesh.visual.ColorVisuals) and visual.kind == "face":
        look.face_colours = np.asarray(visual.face_colors, dtype=np.uint8)
    return look


def dressed(vertices: np.ndarray, faces: np.ndarray, look: Look, to_world: float,
            offset: np.ndarray, fallback: trimesh.visual.material.Material) -> trimesh.Trimesh:
    """The rebuilt part (model frame) in world units, wearing ``look``."""
    world = vertices * to_world + offset
    if look.uv is not None:
        return _textured(vertices, faces, look, to_world, offset)
    if look.colours is not None or look.face_colours is not None:
        visual = trimesh.visual.ColorVisuals(vertex_colors=_colours(look, vertices))
        return trimesh.Trimesh(world, faces, visual=visual, process=False)
    material = copy.deepcopy(look.material) if look.material is not None else fallback
    return trimesh.Trimesh(world, faces, process=False,
                           visual=trimesh.visual.TextureVisuals(material=material))


def _colours(look: Look, points: np.ndarray) -> np.ndarray:
    """Each point's colour: the look's vertex colours interpolated at its nearest point, or
    the colour of its nearest face."""
    queries = SurfaceQueries(look.vertices, look.faces)
    if look.colours is not None:
        values = _interpolated(queries, look.colours.astype(np.float64), look.faces, points)
        return np.round(values).astype(np.uint8)
    assert look.face_colours is not None
    _, face, _ = queries.closest(points)
    return look.face_colours[face]


def _interpolated(queries: SurfaceQueries, values: np.ndarray, faces: np.ndarray,
                  points: np.ndarray) -> np.ndarray:
    """Per-vertex ``values`` of the look read at each point's nearest point."""
    _, face, nearest = queries.closest(points)
    corners = faces[face]
    bary = barycentric(queries.vertices[corners], nearest)
    return np.einsum("ik,ikd->id", bary, values[corners])


def _textured(vertices: np.ndarray, faces: np.ndarray, look: Look, to_world: float,
              offset: np.ndarray) -> trimesh.Trimesh:
    corner_uv = _corner_uvs(vertices, faces, look)
    # one output vertex per (vertex, UV) pair: a seam splits vertices, as glTF needs
    keys = np.concatenate([faces.reshape(-1, 1).astype(np.float64),
                           corner_uv.reshape(-1, 2)], axis=1)
    unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    source = faces.reshape(-1)[first]
    visual = trimesh.visual.TextureVisuals(uv=unique[:, 1:],
                                           material=copy.deepcopy(look.material))
    return trimesh.Trimesh(vertices[source] * to_world + offset,
                           inverse.reshape(-1, 3), visual=visual, process=False)


def _corner_uvs(vertices: np.ndarray, faces: np.ndarray, look: Look) -> np.ndarray:
    """(faces, 3, 2): each corner's UV read at its vertex's nearest point; a face whose
    corners fall in different charts gets its centre's UV at all three."""
    assert look.uv is not None
    queries = SurfaceQueries(look.vertices, look.faces)
    _, face, nearest = queries.closest(vertices)
    corners = look.faces[face]
    uv = np.einsum("ik,ikd->id", barycentric(look.vertices[corners], nearest),
                   look.uv[corners])
    chart = charts(look.vertices, look.faces, look.uv)[face]
    corner_uv = uv[faces]
    split = ~(chart[faces] == chart[faces][:, :1]).all(axis=1)
    if split.any():
        centre_uv = _interpolated(queries, look.uv, look.faces,
                                  vertices[faces[split]].mean(axis=1))
        corner_uv[split] = centre_uv[:, None, :]
    return corner_uv


def charts(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Each face's chart of the texture atlas: faces joined by corners that share both
    position and UV (exports split vertices at normal creases too, which are no seams)."""
    key = np.concatenate([np.round(vertices / 1e-7), np.round(uv / 1e-6)], axis=1)
    _, same = np.unique(key, axis=0, return_inverse=True)
    corner = same.reshape(-1)[faces]
    n = int(same.max()) + 1 if len(same) else 0
    rows = corner[:, [0, 1, 2]].reshape(-1)
    cols = corner[:, [1, 2, 0]].reshape(-1)
    graph = sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, comp = csgraph.connected_components(graph, directed=False)
    return comp[corner[:, 0]]
