"""Cheap structural checks that run before trimesh sees a mesh file.

trimesh trusts the counts a file declares and would allocate what a 2 KB file claims to hold,
so every count, index and byte range is checked here first, in Python integers.
"""

from __future__ import annotations

import json
import mmap
import re
import struct
from collections.abc import Callable
from typing import Any

from engine.errors import InvalidInput
from engine.meshio.budget import EMBEDDED_COPIES, STREAMED_COPIES, check_memory, check_node_count
from engine.meshio.sidefiles import SideFiles

HEAD = 64 * 1024
_MAX_BUFFERLESS = 64 * 1024 * 1024  # zero-filled accessors are legal glTF but cost real memory


def check_face_limit(faces: int, label: str, max_faces: int) -> None:
    """Every count a precheck finds (instances included) passes here: the face limit, then
    the memory those faces would take (engine.meshio.budget)."""
    if faces > max_faces:
        raise InvalidInput(
            f"{label} has {faces:,} triangles, more than the {max_faces:,} Meshsmith accepts; "
            "decimate it first."
        )
    check_memory(label, faces=faces)


def _precheck_obj(data: mmap.mmap, label: str, max_faces: int) -> None:
    # Every polygon is at least one triangle, so the f-line count is a floor; counted in C.
    polys = sum(data[i : i + (1 << 26) + 2].count(b"\nf ") for i in range(0, len(data), 1 << 26))
    check_face_limit(polys, label, max_faces)


def _precheck_stl(data: mmap.mmap, label: str, max_faces: int) -> None:
    if len(data) >= 84 and 84 + 50 * struct.unpack_from("<I", data, 80)[0] == len(data):
        check_face_limit(struct.unpack_from("<I", data, 80)[0], label, max_faces)
    elif data[-1024:].lower().rfind(b"endsolid") < 0:
        raise InvalidInput(f"{label} is truncated: it ends part-way through its triangles.")


def _precheck_ply(data: mmap.mmap, label: str, max_faces: int) -> tuple[int, int]:
    end = data.find(b"end_header", 0, HEAD)
    if end < 0:
        raise InvalidInput(f"{label} is damaged: its PLY header never ends.")
    header = data[:end].decode("ascii", "replace")
    counts = dict(re.findall(r"^element\s+(\w+)\s+(\d+)", header, re.M))
    return _counted(
        int(counts.get("vertex", 0)), int(counts.get("face", 0)), data, label, max_faces
    )


def _precheck_off(data: mmap.mmap, label: str, max_faces: int) -> tuple[int, int]:
    text = data[:HEAD].decode("utf-8", "replace")
    lines = [ln.split("#")[0].split() for ln in text.splitlines()]
    tokens = [t for ln in lines for t in ln][1:3]  # the first token is the OFF keyword
    if len(tokens) < 2 or not all(t.isdigit() for t in tokens):
        raise InvalidInput(f"{label} is damaged: its OFF header has no vertex and face counts.")
    return _counted(int(tokens[0]), int(tokens[1]), data, label, max_faces)


def _counted(
    verts: int, polys: int, data: mmap.mmap, label: str, max_faces: int
) -> tuple[int, int]:
    # every vertex and face takes at least two bytes, whatever the encoding
    if 2 * (verts + polys) > len(data):
        raise InvalidInput(
            f"{label} is truncated: it is far smaller than the geometry its header declares."
        )
    check_face_limit(polys, label, max_faces)
    return verts, polys


def _precheck_glb(
    data: mmap.mmap, label: str, max_faces: int, files: SideFiles | None = None
) -> None:
    if len(data) < 20:
        raise InvalidInput(f"{label} is truncated: it ends inside its header.")
    _, version, length = struct.unpack_from("<4sII", data, 0)
    if version != 2:
        raise InvalidInput(f"{label} is glTF version {version}; Meshsmith reads glTF 2.0 only.")
    chunks = _glb_chunks(data, label, min(length, len(data)))
    if not chunks or chunks[0][0] != b"JSON":
        raise InvalidInput(f"{label} is damaged: it does not start with a scene description.")
    if length > len(data):
        raise InvalidInput(f"{label} is truncated: it ends before its binary data does.")
    if length < len(data):
        raise InvalidInput(f"{label} is damaged: it has extra bytes after its declared end.")
    doc = _parse_json(data[chunks[0][1] : chunks[0][2]], label)
    bins = [end - start for kind, start, end in chunks[1:] if kind == b"BIN\x00"]
    _check_gltf(doc, bins[0] if bins else None, label, max_faces, files)


def _glb_chunks(data: mmap.mmap, label: str, end: int) -> list[tuple[bytes, int, int]]:
    chunks, offset = [], 12
    while offset + 8 <= end:
        size, kind = struct.unpack_from("<I4s", data, offset)
        if offset + 8 + size > len(data):
            what = "its scene description" if not chunks else "its binary data"
            raise InvalidInput(f"{label} is truncated: it ends before {what} does.")
        chunks.append((kind, offset + 8, offset + 8 + size))
        offset += 8 + size
    return chunks


def _precheck_gltf(
    data: mmap.mmap, label: str, max_faces: int, files: SideFiles | None = None
) -> None:
    _check_gltf(_parse_json(data[:], label), None, label, max_faces, files)


def _parse_json(raw: bytes, label: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{label} is damaged: its scene description is not valid JSON.") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{label} is damaged: its scene description is not a JSON object.")
    return doc


# glTF's two take the model's SideFiles as a fourth argument (external buffers and images)
PRECHECKS: dict[str, Callable[..., tuple[int, int] | None]] = {
    "glb": _precheck_glb,
    "gltf": _precheck_gltf,
    "ply": _precheck_ply,
    "off": _precheck_off,
    "stl": _precheck_stl,
    "obj": _precheck_obj,
}


# ----------------------------------------------------------------------------- glTF layout

_COMPONENT_SIZE = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_TYPE_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_UNSUPPORTED = {"KHR_draco_mesh_compression": "Draco", "EXT_meshopt_compression": "meshopt"}


def _check_gltf(doc: dict[str, Any], glb_bin: int | None, label: str, max_faces: int,
                files: SideFiles | None) -> None:
    """Every index in range and every byte range inside its container, in Python integers,
    so a file claiming 2**31 vertices is refused before anything is allocated. External
    buffers are measured through ``files`` (none: refused), external images' URIs checked."""
    try:
        for ext in set(_UNSUPPORTED) & set(doc.get("extensionsRequired", [])):
            raise InvalidInput(
                f"{label} uses {_UNSUPPORTED[ext]} compression, which Meshsmith cannot read; "
                "export it uncompressed."
            )
        buffers = [_buffer_length(i, b, glb_bin, label, files)
                   for i, b in enumerate(doc.get("buffers", []))]
        _check_image_uris(doc, label, files)
        views = [_view_length(v, buffers, label) for v in doc.get("bufferViews", [])]
        counts = [_accessor_count(a, views, label) for a in doc.get("accessors", [])]
        accessors = list(zip(doc.get("accessors", []), counts, strict=True))
        mesh_faces = [_mesh_faces(m, accessors, label) for m in doc.get("meshes", [])]
        total = _scene_faces(doc, mesh_faces, label)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidInput(f"{label} is damaged: its scene description is malformed.") from exc
    check_face_limit(total, label, max_faces)
    # a data: URI decoded aside costs its buffer and what trimesh builds from it; one left
    # inline (JSON-escaped) about 4 copies of its text: measured, docs/reliability.md
    inline = sum(len(b["uri"]) for b in doc.get("buffers", [])
                 if isinstance(b.get("uri"), str) and b["uri"].startswith("data:"))
    streamed = files.embedded_bytes if files is not None else 0
    check_memory(label, faces=total,
                 other_bytes=EMBEDDED_COPIES * inline + STREAMED_COPIES * streamed)


def _index(value: Any, size: int) -> int:
    # JSON may hold floats, bools or negatives; Python would happily index from the end
    if type(value) is not int or not 0 <= value < size:
        raise IndexError(value)
    return value


def _uint(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(value)
    return value


def _buffer_length(
    i: int, buf: dict[str, Any], glb_bin: int | None, label: str, files: SideFiles | None
) -> int:
    uri = buf.get("uri")
    if uri is None:
        if i != 0 or glb_bin is None:
            raise InvalidInput(f"{label} is truncated: it ends before its binary data does.")
        actual = glb_bin
    elif isinstance(uri, str) and uri.startswith("data:"):
        actual = _data_uri_length(uri, label)
    elif files is not None:
        actual = files.buffer_length(uri)
    else:
        shown = "".join(ch for ch in str(uri)[:60] if ch.isprintable())
        raise InvalidInput(
            f"{label} refers to a separate file ({shown}); export it as one GLB file."
        )
    if _uint(buf.get("byteLength")) > actual:
        raise InvalidInput(f"{label} is truncated: it ends before its binary data does.")
    return actual


def _check_image_uris(doc: dict[str, Any], label: str, files: SideFiles | None) -> None:
    """A file image must have a URI that stays in the model's folder (a missing one only
    loses its texture, which the loader notes)."""
    for image in doc.get("images", []):
        uri = image.get("uri")
        if files is not None and uri is not None and not str(uri).startswith("data:"):
            files.relative_uri(uri)


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _data_uri_length(uri: str, label: str) -> int:
    """The decoded size of a base64 data: URI, measured in place: decoding a 400 MB URI
    only to measure it was one more copy of the whole buffer in memory."""
    comma = uri.find(",")
    if comma < 0 or not uri[:comma].endswith(";base64"):
        raise InvalidInput(f"{label} embeds data in a form Meshsmith cannot read (not base64).")
    size = len(uri) - comma - 1
    if size % 4 or not _BASE64.fullmatch(uri, comma + 1):
        raise InvalidInput(f"{label} is damaged: its embedded data is not valid base64.")
    return size // 4 * 3 - (uri.endswith("==") + uri.endswith("="))


def _view_length(view: dict[str, Any], buffers: list[int], label: str) -> tuple[int, int | None]:
    buffer = buffers[_index(view["buffer"], len(buffers))]
    start, length = _uint(view.get("byteOffset", 0)), _uint(view["byteLength"])
    if start + length > buffer:
        raise InvalidInput(f"{label} is truncated: it ends before its binary data does.")
    stride = view.get("byteStride")
    if stride is not None and not 4 <= _uint(stride) <= 252:
        raise ValueError(stride)
    return length, stride


def _accessor_count(acc: dict[str, Any], views: list[tuple[int, int | None]], label: str) -> int:
    count, offset = _uint(acc["count"]), _uint(acc.get("byteOffset", 0))
    element = _COMPONENT_SIZE[acc["componentType"]] * _TYPE_WIDTH[acc["type"]]
    if "bufferView" not in acc:
        if count * element > _MAX_BUFFERLESS:
            raise InvalidInput(f"{label} is damaged: it declares far more data than it contains.")
        return -1  # trimesh fills these with zeros: no geometry to read
    length, stride = views[_index(acc["bufferView"], len(views))]
    needed = 0 if count == 0 else (count - 1) * (stride or element) + element
    if offset + needed > length:
        raise InvalidInput(
            f"{label} is damaged: it declares {count:,} elements but holds data for far fewer."
        )
    return count


def _mesh_faces(mesh: dict[str, Any], accessors: list[tuple[dict, int]], label: str) -> int:
    faces = 0
    for prim in mesh["primitives"]:
        acc, position = accessors[_index(prim["attributes"]["POSITION"], len(accessors))]
        if acc["type"] != "VEC3":
            raise ValueError("POSITION must be VEC3")
        indices, packed = position, "sparse" in acc
        if "indices" in prim:  # trimesh would cast float "indices" to int without a word
            acc, indices = accessors[_index(prim["indices"], len(accessors))]
            if acc["type"] != "SCALAR" or acc["componentType"] not in (5121, 5123, 5125):
                raise ValueError("indices must be unsigned integer scalars")
            packed |= "sparse" in acc
        # trimesh reads neither sparse nor extension-filled accessors: it would return zeros
        if position < 0 or indices < 0 or packed:
            raise InvalidInput(f"{label} stores its geometry compressed; export it uncompressed.")
        mode = prim.get("mode", 4)
        if mode == 6:  # trimesh skips fans without a word, which would drop faces
            raise InvalidInput(f"{label} uses triangle fans, which Meshsmith cannot read yet.")
        faces += indices // 3 if mode == 4 else max(indices - 2, 0) if mode == 5 else 0
    return faces


def _scene_faces(doc: dict[str, Any], mesh_faces: list[int], label: str) -> int:
    """Faces after instancing, as trimesh will bake them: each node's mesh once per node."""
    nodes = doc.get("nodes", [])
    parent: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for child in node.get("children", []):
            # a node with two parents (or itself as child) is not a tree; glTF forbids it
            if _index(child, len(nodes)) in parent or child == i:
                raise ValueError("node graph is not a tree")
            parent[child] = i
    # with one parent each, nodes unreachable from the parentless ones sit on a cycle
    reached, stack = 0, [i for i in range(len(nodes)) if i not in parent]
    while stack:
        reached += 1
        stack.extend(nodes[stack.pop()].get("children", []))
    if reached != len(nodes):
        raise ValueError("node graph has a cycle")
    check_node_count(len(nodes), label)
    scenes = doc.get("scenes")
    if not scenes:
        return 0
    roots = scenes[_index(doc.get("scene", 0), len(scenes))].get("nodes", [])
    total, stack = 0, [_index(r, len(nodes)) for r in roots]
    while stack:
        node = nodes[stack.pop()]
        if "mesh" in node:
            total += mesh_faces[_index(node["mesh"], len(mesh_faces))]
        stack.extend(node.get("children", []))
    return total
