"""What the artist painted, carried from an input surface onto a new mesh by closest point.

Retopology (decimation to a new topology, quad remeshing) and UV unwrapping make a mesh whose
UVs have nothing to do with the input's. This bakes the input's look into a fresh atlas the
way a texture bake does: every texel of the new atlas is traced to its point on the new
surface (a rasterization in UV space, charts grown a few texels so bilinear lookups and mip
levels never reach the gutter), that point is moved to the closest point of the input's
surface (libigl's AABB tree), and the input's base colour there (texture × factor, or vertex
colour) becomes the texel. A tangent-space normal map is carried the same way: decoded into
object space with the input's tangent frame, encoded with the new mesh's. Vertex normals
(hard edges included) are transferred per corner, from a point just inside each triangle, so
each side of a crease takes its own side's normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters._shared.surface_geometry import (
    barycentric,
    face_normals,
    interpolate,
    sample,
    tangent_frames,
    unit,
    vertex_normals,
)

_GROW_RINGS = 3  # texels round each chart that get its colours (bilinear and mip safety)
_INSIDE = 0.08  # corners sampled this far towards the triangle's centre: the side of a crease


@dataclass
class Look:
    """One input material: what a surface point of it looks like."""

    factor: np.ndarray  # (4,) base-colour factor, 0-1
    image: np.ndarray | None  # (h, w, 3|4) float32 base colour, 0-255
    normal_map: np.ndarray | None  # (h, w, 3) float32 tangent-space normals, 0-255
    metallic: float = 0.0
    roughness: float = 0.8
    material: object | None = None  # the input's own material, for results that keep UVs


@dataclass
class Surface:
    """The input, all parts in world space joined into one triangle soup with per-face looks."""

    vertices: np.ndarray  # (n, 3) float64
    faces: np.ndarray  # (m, 3) int64
    look_of_face: np.ndarray  # (m,) index into looks
    looks: list[Look]
    uv: np.ndarray  # (n, 2) float64, zeros where a part has none
    colours: np.ndarray | None  # (n, 4) float64 vertex colours 0-255, or None
    normals: np.ndarray  # (n, 3) the input's own vertex normals (its hard edges are meant)

    @property
    def textured(self) -> bool:
        """Whether anything varies over the surface (a texture, vertex colours, looks)."""
        return (self.colours is not None or any(k.image is not None for k in self.looks)
                or len({tuple(k.factor) for k in self.looks}) > 1)

    @property
    def has_normal_map(self) -> bool:
        return any(k.normal_map is not None for k in self.looks)

    def locate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(face, barycentric weights) of the closest input point to each of ``points``."""
        import igl

        _, face, closest = igl.point_mesh_squared_distance(
            np.ascontiguousarray(points, dtype=np.float64), self.vertices, self.faces)
        face = np.asarray(face, dtype=np.int64)
        return face, barycentric(self.vertices[self.faces[face]], np.asarray(closest))

    def colour(self, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
        """(k, 4) RGBA 0-255 at located points."""
        out = np.empty((len(face), 4))
        uv = interpolate(self.uv, self.faces[face], bary)
        look_of = self.look_of_face[face]
        for index, look in enumerate(self.looks):
            sel = look_of == index
            if not sel.any():
                continue
            rgba = np.full((int(sel.sum()), 4), 255.0)
            if look.image is not None:
                sampled = sample(look.image, uv[sel])
                rgba[:, : sampled.shape[1]] = sampled
            out[sel] = rgba * look.factor
        if self.colours is not None:
            out *= interpolate(self.colours, self.faces[face], bary) / 255.0
        return out

    def normal(self, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
        """Unit object-space shading normals at located points, the normal map applied."""
        normals = unit(interpolate(self.normals, self.faces[face], bary))
        if not self.has_normal_map:
            return normals
        tangents, signs = tangent_frames(self.vertices, self.faces, self.uv, self.normals)
        tangent = interpolate(tangents, self.faces[face], bary)
        sign = np.where(interpolate(signs[:, None], self.faces[face], bary)[:, 0] < 0, -1, 1)
        uv = interpolate(self.uv, self.faces[face], bary)
        for index, look in enumerate(self.looks):
            sel = (self.look_of_face[face] == index)
            if look.normal_map is None or not sel.any():
                continue
            local = sample(look.normal_map, uv[sel])[:, :3] / 127.5 - 1.0
            t = unit(tangent[sel] - normals[sel] * (tangent[sel] * normals[sel]).sum(1)[:, None])
            b = np.cross(normals[sel], t) * sign[sel, None]
            normals[sel] = unit(local[:, :1] * t + local[:, 1:2] * b + local[:, 2:] * normals[sel])
        return normals


def read_surface(path: object) -> tuple[Surface, list[str]]:
    """The model at ``path`` read with the engine's scene loader (materials, UVs, side
    files), as one Surface, and the loader's notes for the job's warnings."""
    from engine.errors import InvalidInput
    from engine.meshio.scene import read_scene, textured_parts

    loaded = read_scene(path)  # type: ignore[arg-type]
    parts = [mesh for _, mesh in textured_parts(loaded)]
    if not parts:
        raise InvalidInput(f"{loaded.label} contains no triangles, so there is no surface to "
                           "work with.")
    surface = surface_of(parts)
    if not np.isfinite(surface.vertices).all():
        raise InvalidInput(f"{loaded.label} is damaged: some vertex positions are not numbers "
                           "(NaN or infinity).")
    return surface, list(loaded.notes)


def surface_of(parts: list) -> Surface:
    """The input's parts (trimesh meshes in world space, visuals kept) as one Surface."""
    vertices, faces, looks, look_of, uvs, colours, normals = [], [], [], [], [], [], []
    offset = 0
    any_colours = any(getattr(p.visual, "kind", None) == "vertex" for p in parts)
    for part in parts:
        v = np.asarray(part.vertices, dtype=np.float64)
        f = np.asarray(part.faces, dtype=np.int64)
        look, uv = _look(part.visual, len(v))
        looks.append(look)
        vertices.append(v)
        faces.append(f + offset)
        look_of.append(np.full(len(f), len(looks) - 1))
        uvs.append(uv)
        normals.append(np.asarray(part.vertex_normals, dtype=np.float64))
        if any_colours:
            kind = getattr(part.visual, "kind", None)
            colours.append(np.asarray(part.visual.vertex_colors, dtype=np.float64)
                           if kind == "vertex" else np.full((len(v), 4), 255.0))
        offset += len(v)
    return Surface(np.concatenate(vertices), np.concatenate(faces), np.concatenate(look_of),
                   looks, np.concatenate(uvs), np.concatenate(colours) if any_colours else None,
                   np.concatenate(normals))


def _look(visual: object, count: int) -> tuple[Look, np.ndarray]:
    import trimesh

    uv = getattr(visual, "uv", None)
    uv = np.zeros((count, 2)) if uv is None or len(uv) != count else np.asarray(uv, float)
    material = getattr(visual, "material", None)
    if isinstance(material, trimesh.visual.material.SimpleMaterial):
        material = material.to_pbr()
    if not isinstance(material, trimesh.visual.material.PBRMaterial):
        return Look(np.ones(4), None, None), uv
    factor = np.asarray(material.baseColorFactor if material.baseColorFactor is not None
                        else [1.0, 1.0, 1.0, 1.0], dtype=np.float64).ravel()
    factor = factor / 255.0 if factor.dtype.kind in "ui" or factor.max() > 1.0 else factor
    factor = np.concatenate([factor, [1.0]])[:4] if len(factor) == 3 else factor[:4]
    textured = getattr(visual, "uv", None) is not None
    image = _pixels(material.baseColorTexture) if textured else None
    normal_map = _pixels(material.normalTexture, "RGB") if textured else None
    metallic = material.metallicFactor if material.metallicFactor is not None else 0.0
    roughness = material.roughnessFactor if material.roughnessFactor is not None else 0.8
    return Look(factor, image, normal_map, float(metallic), float(roughness), material), uv


def _pixels(image: object, mode: str | None = None) -> np.ndarray | None:
    from PIL import Image

    if not isinstance(image, Image.Image):
        return None
    mode = mode or ("RGBA" if image.mode in ("RGBA", "LA", "PA") or
                    "transparency" in image.info else "RGB")
    return np.asarray(image.convert(mode), dtype=np.float32)


# ----------------------------------------------------------------------------- baking


@dataclass
class Baked:
    base_colour: object  # PIL image
    normal_map: object | None  # PIL image, where the input had one
    metallic: float
    roughness: float


def bake(surface: Surface, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
         size: int) -> Baked:
    """The input's look baked into a ``size``² atlas laid out by ``uv`` on the new mesh."""
    from PIL import Image

    from adapters._shared.raster import grow_charts, rasterize
    from adapters._shared.texture import push_pull_fill

    uv_pixels = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]) * size
    texels = grow_charts(rasterize(uv_pixels, faces, size, size), uv_pixels[faces], _GROW_RINGS)
    covered = texels.face >= 0
    face = texels.face[covered]
    bary = texels.bary[covered].astype(np.float64)
    points = (bary[..., None] * vertices[faces[face]]).sum(axis=1)
    source_face, source_bary = surface.locate(points)
    rgba = surface.colour(source_face, source_bary)
    channels = 4 if (rgba[:, 3] < 254.5).any() else 3
    atlas = np.zeros((size, size, channels), np.float32)
    atlas[covered] = rgba[:, :channels]
    atlas = push_pull_fill(atlas, covered)
    base = Image.fromarray(np.clip(atlas + 0.5, 0, 255).astype(np.uint8),
                           "RGBA" if channels == 4 else "RGB")
    normal_map = None
    if surface.has_normal_map:
        wanted = surface.normal(source_face, source_bary)
        normal_map = _encode_normals(wanted, vertices, faces, uv, face, bary, covered, size)
    metallic = float(np.mean([k.metallic for k in surface.looks]))
    roughness = float(np.mean([k.roughness for k in surface.looks]))
    return Baked(base, normal_map, metallic, roughness)


def _encode_normals(wanted: np.ndarray, vertices: np.ndarray, faces: np.ndarray,
                    uv: np.ndarray, face: np.ndarray, bary: np.ndarray, covered: np.ndarray,
                    size: int) -> object:
    from PIL import Image

    from adapters._shared.texture import push_pull_fill

    normals = vertex_normals(vertices, faces)
    tangents, signs = tangent_frames(vertices, faces, uv, normals)
    n = unit(interpolate(normals, faces[face], bary))
    t = interpolate(tangents, faces[face], bary)
    t = unit(t - n * (t * n).sum(axis=1)[:, None])
    sign = np.where(interpolate(signs[:, None], faces[face], bary)[:, 0] < 0, -1.0, 1.0)
    b = np.cross(n, t) * sign[:, None]
    local = np.stack([(wanted * t).sum(1), (wanted * b).sum(1), (wanted * n).sum(1)], axis=1)
    local[:, 2] = np.maximum(local[:, 2], 0.0)
    local = unit(local)
    texels = np.zeros((size, size, 3), np.float32)
    texels[covered] = (local + 1.0) * 127.5
    texels = push_pull_fill(texels, covered)
    return Image.fromarray(np.clip(texels + 0.5, 0, 255).astype(np.uint8), "RGB")


def corner_normals(surface: Surface, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(m, 3, 3) unit normals at each corner of the new mesh's triangles, from the input."""
    corners = vertices[faces]
    centre = corners.mean(axis=1, keepdims=True)
    inside = (corners + _INSIDE * (centre - corners)).reshape(-1, 3)
    face, bary = surface.locate(inside)
    normals = unit(interpolate(surface.normals, surface.faces[face], bary))
    own = np.repeat(face_normals(vertices, faces), 3, axis=0)
    flipped = (normals * own).sum(axis=1) < 0  # the input's far side of a thin wall
    normals[flipped] = own[flipped]
    return normals.reshape(-1, 3, 3)


def unwrap(xatlas: object, vertices: np.ndarray, faces: np.ndarray,
           size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fresh xatlas atlas for a new mesh, padded for baking: (vertices, faces, uv)."""
    atlas = xatlas.Atlas()
    atlas.add_mesh(np.ascontiguousarray(vertices, dtype=np.float32),
                   np.ascontiguousarray(faces, dtype=np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding = size, max(2, size // 256)
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, indices, uvs = atlas.get_mesh(0)
    return (np.asarray(vertices, dtype=np.float64)[vmapping], indices.astype(np.int64),
            uvs.astype(np.float64))


# ----------------------------------------------------------------------------- results

_CREASE_COS = np.cos(np.radians(25.0))  # corners further apart than this keep a hard edge


def textured_mesh(surface: Surface, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
                  size: int, name: str = "baked") -> object:
    """The new mesh with the input's look baked into its atlas and its normals transferred."""
    import trimesh

    baked = bake(surface, vertices, faces, uv, size)
    material = trimesh.visual.material.PBRMaterial(
        name=name, baseColorTexture=baked.base_colour, normalTexture=baked.normal_map,
        metallicFactor=baked.metallic, roughnessFactor=baked.roughness,
        alphaMode="BLEND" if baked.base_colour.mode == "RGBA" else None)
    return with_normals(surface, vertices, faces, uv,
                        trimesh.visual.TextureVisuals(material=material))


def with_normals(surface: Surface, vertices: np.ndarray, faces: np.ndarray,
                 uv: np.ndarray | None, visual: object | None = None) -> object:
    """A trimesh whose vertex normals come from the input: split where the input has a hard
    edge, shared where it is smooth; ``visual`` gets the (split) UVs when given."""
    import trimesh

    owner, normals = split_corners(faces, corner_normals(surface, vertices, faces),
                                   len(vertices))
    used, first, new_faces = np.unique(owner, return_index=True, return_inverse=True)
    source = faces.ravel()[first]  # the old vertex each new one copies
    if visual is not None and uv is not None:
        visual.uv = uv[source]  # type: ignore[attr-defined]
    mesh = trimesh.Trimesh(vertices[source], new_faces.reshape(-1, 3), visual=visual,
                           process=False)
    mesh.vertex_normals = normals[used]
    return mesh


def split_corners(faces: np.ndarray, normals: np.ndarray,
                  count: int) -> tuple[np.ndarray, np.ndarray]:
    """Group each vertex's corners by normal: (new vertex id of every corner, normal of every
    new vertex id). Corners within the crease angle of their vertex's mean share it; the
    others are grouped greedily, each group a vertex of its own (a hard edge)."""
    corner_vertex = faces.ravel()
    flat = normals.reshape(-1, 3)
    mean = np.zeros((count, 3))
    np.add.at(mean, corner_vertex, flat)
    mean = unit(mean)
    owner = corner_vertex.copy()
    hard = np.unique(corner_vertex[(flat * mean[corner_vertex]).sum(axis=1) < _CREASE_COS])
    order = np.argsort(corner_vertex, kind="stable")
    starts = np.searchsorted(corner_vertex[order], hard)
    ends = np.searchsorted(corner_vertex[order], hard, side="right")
    extra: list[np.ndarray] = []
    for vertex, start, end in zip(hard, starts, ends, strict=True):
        groups: list[list[int]] = []
        for corner in order[start:end]:
            for members in groups:
                if float(flat[members[0]] @ flat[corner]) >= _CREASE_COS:
                    members.append(int(corner))
                    break
            else:
                groups.append([int(corner)])
        mean[vertex] = unit(flat[groups[0]].sum(axis=0, keepdims=True))[0]
        for members in groups[1:]:
            owner[members] = count + len(extra)
            extra.append(unit(flat[members].sum(axis=0, keepdims=True))[0])
    return owner, np.concatenate([mean, np.array(extra).reshape(-1, 3)])
