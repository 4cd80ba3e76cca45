"""The one scene loader: a model file as a trimesh scene, with what the artist made on it.

Engine staging, the adapters and the studio's viewport all read models here, so a file
looks the same everywhere: the same content sniffing and structural prechecks before trimesh
sees a byte, the same side files (glTF buffers and images, OBJ materials and textures, found
inside the model's own folder by ``sidefiles``), the same materials and UVs, and the same
notes for the artist: a texture that is missing, one too large to decode, texture
coordinates that are all one point (treated as none).
"""

from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from engine.errors import InvalidInput
from engine.meshio import reader
from engine.meshio.checks import PRECHECKS
from engine.meshio.embedded import split_embedded
from engine.meshio.sidefiles import SideFiles

_DEGENERATE_UV = 1e-9  # a UV set spanning less than this is one point: no texture layout


@dataclass(frozen=True, eq=False)
class LoadedScene:
    scene: trimesh.Scene
    format: reader.Format
    label: str
    declared: tuple[int, int] | None  # (vertices, faces) a PLY/OFF header promises
    notes: tuple[str, ...]  # one sentence each, for the overlay and the job's warnings
    side_files: tuple[Path, ...]  # absolute paths of the files the model named and we read


def read_scene(
    path: str | os.PathLike[str], *, max_faces: int = reader.DEFAULT_MAX_FACES,
    max_pixels: int = reader.DEFAULT_MAX_PIXELS, name: str | None = None,
    materials: bool = True,
) -> LoadedScene:
    """Read and check the model at ``path``; ``materials=False`` reads geometry only (no
    UVs, textures or material files: faster, for jobs that need the shape alone). Anything
    wrong with the file raises ``InvalidInput`` with one sentence naming it."""
    label = name or Path(path).name
    p = reader.existing_file(path, label)
    fmt = reader.sniff(p)
    if fmt is None:
        raise InvalidInput(reader.unreadable_message(p, label))
    if fmt.kind != "mesh":
        raise InvalidInput(f"{label} is an image, not a 3D model.")
    files = SideFiles(p.parent, label, "obj" if fmt is reader.OBJ else "gltf")
    gltf = fmt in (reader.GLB, reader.GLTF)
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        source: object = f
        if fmt is reader.GLTF:  # its data: URIs decoded aside, checked before decoding
            files.embedded = split_embedded(data, label)
            declared = PRECHECKS[fmt.name](files.embedded.json, label, max_faces, files)
            files.embedded.decode(data, label, as_bytes=files.embedded.needs_bytes())
            source = io.BytesIO(files.embedded.json)
        else:
            declared = PRECHECKS[fmt.name](data, label, max_faces, *((files,) if gltf else ()))
            f.seek(0)
        scene = reader.guarded(lambda: _trimesh_scene(source, fmt, files, materials), label,
                               f"read as {fmt.name.upper()}")
        files.embedded = None  # the scene keeps what it uses
    notes = [*_missing_notes(files, label)]
    if materials:
        for geometry in scene.geometry.values():
            notes += _checked_visual(geometry, label, max_pixels)
    return LoadedScene(scene, fmt, label, declared, tuple(dict.fromkeys(notes)),
                       tuple(files.used))


def _trimesh_scene(f: object, fmt: reader.Format, files: SideFiles,
                   materials: bool) -> trimesh.Scene:
    # process=False: trimesh's cleanup silently deletes faces that touch NaN vertices.
    extra = {} if materials or fmt not in (reader.GLB, reader.GLTF, reader.OBJ) else \
        {"skip_materials": True}
    return trimesh.load_scene(f, file_type=fmt.name, resolver=files, process=False, **extra)


def _missing_notes(files: SideFiles, label: str) -> list[str]:
    return [f"{label} names the texture {name}, which is not in its folder; its material "
            "shows its plain colour instead." for name in files.missing
            if not name.lower().endswith(".mtl")] + \
        [f"{label} names the material file {name}, which is not in its folder; it shows "
         "without its materials." for name in files.missing if name.lower().endswith(".mtl")]


def _checked_visual(geometry: object, label: str, max_pixels: int) -> list[str]:
    """Drop what must not be used (textures too large to decode, UVs that are one point)
    and say so. Images are still undecoded here: PIL has read their headers only."""
    visual = getattr(geometry, "visual", None)
    if not isinstance(visual, trimesh.visual.TextureVisuals):
        return []
    notes = []
    material = visual.material
    for slot in ("baseColorTexture", "normalTexture", "metallicRoughnessTexture",
                 "emissiveTexture", "occlusionTexture", "image"):
        image = getattr(material, slot, None)
        if isinstance(image, Image.Image) and image.width * image.height > max_pixels:
            _drop_image(material, slot)
            notes.append(f"{label} has a {image.width:,} × {image.height:,} texture, more "
                         f"than the {max_pixels:,} pixels Meshsmith decodes; it was left out.")
    uv = visual.uv
    if uv is not None and len(uv) and (
            not np.isfinite(uv).all() or np.ptp(np.asarray(uv), axis=0).max() < _DEGENERATE_UV):
        geometry.visual = trimesh.visual.TextureVisuals(material=material)  # type: ignore
        notes.append(f"{label} has texture coordinates that are all the same point, so they "
                     "were treated as missing.")
    return notes


def _drop_image(material: object, slot: str) -> None:
    if slot == "image":  # SimpleMaterial (OBJ) keeps its texture there
        material.image = None  # type: ignore[attr-defined]
    else:
        setattr(material, slot, None)


def textured_parts(loaded: LoadedScene) -> list[tuple[str, trimesh.Trimesh]]:
    """Every node with triangles as (node name, mesh in world space), visuals kept, sorted by
    node name; instanced geometry copied once per node."""
    parts = []
    scene = loaded.scene
    for node in sorted(scene.graph.nodes_geometry):
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh) or not len(geometry.faces):
            continue
        mesh = geometry.copy()
        if not np.array_equal(transform, np.eye(4)):
            mesh.apply_transform(transform)
        parts.append((str(node), mesh))
    return parts
