"""A plain GLB read as numpy views on its binary chunk: no copy, no parse of the geometry.

Scans and generated meshes often arrive as the simplest GLB there is: one node, one mesh,
one triangle primitive, float32 positions and uint32 indices packed tightly in the file's
own binary chunk. For those, the file is memory-mapped and its positions, indices (and
normals, when stored) are numpy arrays that *are* the file's bytes: ten million faces read
in milliseconds instead of trimesh's ~0.7 s and its copies. The same prechecks run first
as for every other read (``engine.meshio.checks``: truncation, byte ranges, the face limit),
so a damaged file gets the same one sentence. Anything less plain (materials, UVs, colours,
transforms, skins, strides, other component types, several nodes or primitives) returns
None, and the caller reads the file through the engine's scene loader as before.
No Qt and no VTK: this runs in the viewport's helper process.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.scene_skeleton import gltf_json
from engine.meshio import reader
from engine.meshio.checks import PRECHECKS
from engine.meshio.sidefiles import SideFiles

_FLOAT, _UINT = 5126, 5125
_ALLOWED_ATTRIBUTES = {"POSITION", "NORMAL"}
_NODE_TRANSFORMS = ("matrix", "translation", "rotation", "scale")


@dataclass(frozen=True, eq=False)
class PlainGlb:
    """One GLB's geometry as read-only views on the mapped file (they keep it mapped)."""

    label: str
    node: str  # the node's name, as trimesh names it
    vertices: np.ndarray  # (n, 3) float32
    faces: np.ndarray  # (m, 3) uint32
    normals: np.ndarray | None  # (n, 3) float32 stored in the file, or None


def read_plain_glb(
    path: str | os.PathLike[str], *, max_faces: int = reader.DEFAULT_MAX_FACES
) -> PlainGlb | None:
    """``path`` as views when it is a plain GLB (see the module), None when it is not a GLB
    or not plain; raises ``InvalidInput`` with one sentence when it is a damaged GLB."""
    label = Path(path).name
    p = reader.existing_file(path, label)
    if reader.sniff(p) is not reader.GLB:
        return None
    with p.open("rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        PRECHECKS["glb"](data, label, max_faces, SideFiles(p.parent, label, "gltf"))
        plain = _plain(gltf_json(p), data, label)
    except BaseException:
        data.close()
        raise
    if plain is None:
        data.close()
    return plain


def _plain(doc: dict[str, Any], data: mmap.mmap, label: str) -> PlainGlb | None:
    """The views, when ``doc`` (already checked: every range lies inside the file) is plain."""
    if doc.get("extensionsUsed") or doc.get("skins") or len(doc.get("buffers", [])) != 1:
        return None
    scenes, nodes = doc.get("scenes") or [], doc.get("nodes", [])
    if len(scenes) != 1 or scenes[0].get("nodes") != [0] or len(nodes) != 1:
        return None
    node = nodes[0]
    name = node.get("name")
    if not isinstance(name, str) or not name or "mesh" not in node or node.get("children") \
            or any(key in node for key in _NODE_TRANSFORMS) or node.get("extensions"):
        return None
    mesh = doc["meshes"][node["mesh"]]
    prims = mesh.get("primitives", [])
    if len(prims) != 1 or mesh.get("extras") or mesh.get("extensions"):
        return None  # extras may carry quad pairs (engine.meshio.quads)
    prim = prims[0]
    attributes = prim.get("attributes", {})
    if prim.get("mode", 4) != 4 or "indices" not in prim or "material" in prim \
            or prim.get("targets") or prim.get("extensions") \
            or not set(attributes) <= _ALLOWED_ATTRIBUTES:
        return None
    binary = _bin_offset(data)
    vertices = _view(doc, attributes["POSITION"], data, binary, _FLOAT, "VEC3")
    faces = _view(doc, prim["indices"], data, binary, _UINT, "SCALAR")
    normals = (_view(doc, attributes["NORMAL"], data, binary, _FLOAT, "VEC3")
               if "NORMAL" in attributes else None)
    if vertices is None or faces is None or len(faces) % 3 or \
            ("NORMAL" in attributes and (normals is None or len(normals) != len(vertices))):
        return None
    return PlainGlb(label, name, vertices, faces.reshape(-1, 3), normals)


def _bin_offset(data: mmap.mmap) -> int:
    """Where the BIN chunk's bytes start (the prechecks found a JSON chunk, then the BIN)."""
    json_length = struct.unpack_from("<I", data, 12)[0]
    return 12 + 8 + json_length + 8


def _view(doc: dict[str, Any], index: int, data: mmap.mmap, binary: int, component: int,
          kind: str) -> np.ndarray | None:
    """Accessor ``index`` as a view, when it is tightly packed ``component`` × ``kind``."""
    acc = doc["accessors"][index]
    if acc.get("componentType") != component or acc.get("type") != kind or "sparse" in acc \
            or acc.get("normalized") or "bufferView" not in acc:
        return None
    view = doc["bufferViews"][acc["bufferView"]]
    width = 3 if kind == "VEC3" else 1
    if view.get("byteStride") not in (None, 4 * width) or view.get("buffer") != 0:
        return None
    start = binary + view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    if start % 4:
        return None  # numpy would read unaligned: let trimesh copy it
    dtype = np.float32 if component == _FLOAT else np.uint32
    count = acc["count"] * width
    if count == 0:
        return None
    array = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"), count=count,
                          offset=start)
    return array.reshape(-1, 3) if width == 3 else array

