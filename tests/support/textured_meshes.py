"""Textured meshes with a known texture, and a score for how well a result keeps its colours.

The score is measured independently of the adapters' bake code: points are sampled on the
input's surface with their true colour (nearest texel of the input's texture), each is
projected onto the result's surface (libigl's closest point), and the result's colour there
is read from the result's own UVs and texture. The mean absolute difference over RGB, in
0-255 units, is the surface colour error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image


def photo_texture(size: int = 1024, seed: int = 3) -> Image.Image:
    """A photo-like picture: smooth shading, mid-size blobs, fine grain and a few hard edges
    (a fixed seed, so every run scores the same picture)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = np.zeros((size, size, 3))
    for octave, amplitude in ((2, 0.5), (5, 0.3), (13, 0.15), (37, 0.06)):
        grid = rng.random((octave + 1, octave + 1, 3))
        cell = Image.fromarray((grid * 255).astype(np.uint8), "RGB").resize(
            (size, size), Image.BICUBIC)
        rgb += amplitude * np.asarray(cell, dtype=np.float64) / 255.0
    rgb /= 1.01
    stripes = (np.sin(xx * 40 + 6 * yy) > 0.7)[..., None]  # hard edges, as in a real photo
    rgb = np.where(stripes, rgb * 0.45, rgb)
    disc = ((xx - 0.3) ** 2 + (yy - 0.6) ** 2 < 0.02)[..., None]
    rgb = np.where(disc, [0.9, 0.2, 0.15], rgb)
    return Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8), "RGB")


def textured_sphere(faces: int = 80_000, texture: Image.Image | None = None,
                    radius: float = 1.0) -> trimesh.Trimesh:
    """A latitude-longitude sphere of about ``faces`` triangles whose UVs wrap the picture
    once around (a seam of split vertices at u = 0/1, as every exporter writes one)."""
    rings = max(4, round(np.sqrt(faces / 4)))
    segments = 2 * rings
    theta = np.linspace(0.0, np.pi, rings + 1)  # from the north pole down
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    vertices = radius * np.stack([np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)],
                                 axis=-1).reshape(-1, 3)
    uv = np.stack([p / (2 * np.pi), 1.0 - t / np.pi], axis=-1).reshape(-1, 2)
    index = np.arange((rings + 1) * (segments + 1)).reshape(rings + 1, segments + 1)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    quads = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    area = np.linalg.norm(np.cross(vertices[quads[:, 1]] - vertices[quads[:, 0]],
                                   vertices[quads[:, 2]] - vertices[quads[:, 0]]), axis=1)
    quads = quads[area > 1e-12]  # the pole rows hold zero-area slivers
    material = trimesh.visual.material.PBRMaterial(
        name="photo", baseColorTexture=texture or photo_texture(), metallicFactor=0.0,
        roughnessFactor=0.7)
    return trimesh.Trimesh(vertices, quads, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, material=material))


@dataclass
class ColourScore:
    mean: float  # mean absolute RGB error, 0-255
    p90: float
    geometry: float  # mean distance to the result's surface, as a fraction of the diagonal


def surface_colour_error(source: trimesh.Trimesh, result: trimesh.Trimesh | trimesh.Scene,
                         samples: int = 20_000, seed: int = 1) -> ColourScore:
    """Compare ``result``'s colours with ``source``'s at ``samples`` points of the source."""
    import igl

    points, face = trimesh.sample.sample_surface(source, samples, seed=seed)
    truth = _colour_at(source, face, points)
    target = _flat(result)
    distance, closest_face, closest = igl.point_mesh_squared_distance(
        points, np.asarray(target.vertices, dtype=np.float64),
        np.asarray(target.faces, dtype=np.int64))
    got = _colour_at(target, np.asarray(closest_face), np.asarray(closest))
    error = np.abs(truth - got).mean(axis=1)
    diagonal = float(np.linalg.norm(np.ptp(source.vertices, axis=0)))
    return ColourScore(float(error.mean()), float(np.percentile(error, 90)),
                       float(np.sqrt(distance).mean() / diagonal))


def _flat(result: trimesh.Trimesh | trimesh.Scene) -> trimesh.Trimesh:
    if isinstance(result, trimesh.Trimesh):
        return result
    meshes = list(result.dump())
    if len(meshes) != 1:
        raise ValueError("score one textured mesh at a time")
    return meshes[0]


def _colour_at(mesh: trimesh.Trimesh, face: np.ndarray, points: np.ndarray) -> np.ndarray:
    """RGB (0-255) at surface points: the nearest texel of the base-colour texture at the
    interpolated UV, times the base-colour factor."""
    tri = np.asarray(mesh.vertices)[mesh.faces[face]]
    bary = trimesh.triangles.points_to_barycentric(tri, points)
    material = mesh.visual.material
    if isinstance(material, trimesh.visual.material.SimpleMaterial):
        material = material.to_pbr()
    factor = np.asarray(material.baseColorFactor if material.baseColorFactor is not None
                        else [255, 255, 255, 255], dtype=np.float64)[:3]
    factor = factor / 255.0 if factor.max() > 1.0 else factor
    image = material.baseColorTexture
    if image is None or mesh.visual.uv is None:
        return np.broadcast_to(factor * 255.0, (len(points), 3)).copy()
    uv = (np.asarray(mesh.visual.uv)[mesh.faces[face]] * bary[..., None]).sum(axis=1)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    height, width = pixels.shape[:2]
    col = np.clip((uv[:, 0] % 1.0) * width, 0, width - 1).astype(np.int64)
    row = np.clip((1.0 - uv[:, 1] % 1.0) * height, 0, height - 1).astype(np.int64)
    return pixels[row, col] * factor


def cad_assembly(small_parts: int = 96, seed: int = 5) -> trimesh.Trimesh:
    """A CAD-like model of ~120k triangles: a few large smooth bodies and ``small_parts``
    small closed ones (bolts, pins, washers) of a few hundred triangles each, every part its
    own connected piece with hard edges split as CAD exporters write them."""
    rng = np.random.default_rng(seed)
    parts = [trimesh.creation.icosphere(subdivisions=5, radius=2.0),
             trimesh.creation.cylinder(radius=1.2, height=5.0, sections=4000)
             .apply_translation((4.5, 0, 0))]
    for i in range(small_parts):
        kind = i % 3
        if kind == 0:
            part = trimesh.creation.cylinder(radius=0.12, height=0.5, sections=90)
        elif kind == 1:
            part = trimesh.creation.icosphere(subdivisions=3, radius=0.15)
        else:
            part = trimesh.creation.annulus(r_min=0.08, r_max=0.16, height=0.06, sections=80)
        angle, height = rng.uniform(0, 2 * np.pi), rng.uniform(-2.4, 2.4)
        part.apply_translation((4.5 + 1.5 * np.cos(angle), height, 1.5 * np.sin(angle)))
        parts.append(part)
    mesh = trimesh.util.concatenate(parts)
    mesh.unmerge_vertices()  # every triangle's corners apart, as many CAD exports are
    return mesh
