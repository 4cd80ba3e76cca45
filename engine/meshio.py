"""The one place meshes and images are read: type decided by content, every file checked.

Everything that goes wrong becomes ``InvalidInput`` with one sentence naming the file, so a
broken upload never surfaces as a traceback. Structural checks run *before* trimesh or
Pillow see the bytes, because both trust the counts a file declares and would happily
allocate what a 2 KB file claims to hold.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mmap
import os
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trimesh
from PIL import Image
from trimesh.resolvers import Resolver

from engine.errors import InvalidInput

log = logging.getLogger(__name__)

DEFAULT_MAX_FACES = 20_000_000
DEFAULT_MAX_PIXELS = 8192 * 8192
_HEAD = 64 * 1024
_MAX_BUFFERLESS = 64 * 1024 * 1024  # zero-filled accessors are legal glTF but cost real memory


@dataclass(frozen=True)
class Format:
    kind: Literal["mesh", "image"]
    name: str
    extension: str
    media_type: str


GLB = Format("mesh", "glb", ".glb", "model/gltf-binary")
GLTF = Format("mesh", "gltf", ".gltf", "model/gltf+json")
PLY = Format("mesh", "ply", ".ply", "model/x-ply")
STL = Format("mesh", "stl", ".stl", "model/stl")
OBJ = Format("mesh", "obj", ".obj", "model/obj")
OFF = Format("mesh", "off", ".off", "model/x-off")
PNG = Format("image", "png", ".png", "image/png")
JPEG = Format("image", "jpeg", ".jpg", "image/jpeg")
WEBP = Format("image", "webp", ".webp", "image/webp")
FORMATS = (GLB, GLTF, PLY, STL, OBJ, OFF, PNG, JPEG, WEBP)

_OBJ_KEYS = {b"v", b"vt", b"vn", b"f", b"o", b"g", b"s", b"usemtl", b"mtllib", b"l"}
# (magic prefix, what it is) for files we refuse but can name, so the artist knows what to do
_KNOWN_OTHERS = (
    (b"GIF8", "a GIF image; save it as PNG"),
    (b"BM", "a BMP image; save it as PNG"),
    (b"II*\x00", "a TIFF image; save it as PNG"),
    (b"MM\x00*", "a TIFF image; save it as PNG"),
    (b"Kaydara FBX Binary", "an FBX file; export it as GLB"),
    (b"BLENDER", "a Blender file; export it as GLB"),
    (b"PK\x03\x04", "a ZIP archive; unpack it and give the model or image inside"),
    (b"%PDF", "a PDF document"),
)


# ----------------------------------------------------------------------------- sniffing


def sniff(path: str | os.PathLike[str]) -> Format | None:
    """The format of ``path`` judged by its bytes alone; None when it is none we read."""
    p = _existing_file(path, Path(path).name)
    if p.stat().st_size == 0:
        return None
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _sniff_bytes(data)


def _sniff_bytes(data: mmap.mmap) -> Format | None:
    head = data[:_HEAD]
    magic = {b"glTF": GLB, b"\x89PNG\r\n\x1a\n": PNG, b"\xff\xd8\xff": JPEG}
    for prefix, fmt in magic.items():
        if head.startswith(prefix):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if re.match(rb"ply\r?\n", head):
        return PLY
    # binary STL first: its free-form 80-byte header often starts with "solid" too
    if len(data) >= 84 and 84 + 50 * struct.unpack_from("<I", data, 80)[0] == len(data):
        return STL
    return _sniff_text(head, data)


def _sniff_text(head: bytes, data: mmap.mmap) -> Format | None:
    if b"\x00" in head:
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return GLTF if _is_gltf_json(data) else None
    if text[:5].lower() == b"solid" and b"facet" in head:
        return STL
    first = text.split(b"\n", 1)[0].strip()
    if first.split(b" ", 1)[0] in (b"OFF", b"COFF"):
        return OFF
    return OBJ if _looks_like_obj(head, data) else None


def _is_gltf_json(data: mmap.mmap) -> bool:
    try:
        doc = json.loads(bytes(data).decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and "asset" in doc


def _looks_like_obj(head: bytes, data: mmap.mmap) -> bool:
    # Only the head is checked line by line; a GB-sized OBJ is searched for an f line in C.
    lines = head.splitlines()
    if len(data) > len(head):
        lines = lines[:-1]  # the head may cut its last line in half
    keys = {ln.split(None, 1)[0] for ln in lines if ln.strip() and not ln.lstrip().startswith(b"#")}
    if not keys <= _OBJ_KEYS:
        return False
    has_v = b"v" in keys or data.find(b"\nv ") >= 0
    has_f = b"f" in keys or data.find(b"\nf ") >= 0 or data.find(b"\nf\t") >= 0
    return has_v and has_f


def unreadable_message(path: str | os.PathLike[str], name: str | None = None) -> str:
    """The sentence for a file that is neither a mesh nor an image we read."""
    if Path(path).stat().st_size == 0:
        return f"{name or Path(path).name} is empty."
    return f"{name or Path(path).name} is not a mesh or image Meshsmith can read ({_guess(path)})."


def _guess(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "it is empty"
    for prefix, what in _KNOWN_OTHERS:
        if head.startswith(prefix):
            return f"it is {what}"
    if _maybe_cut_stl(path, head):
        return "it looks like a binary STL file that is cut short"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "it is binary data in no format Meshsmith knows"
    if text.lstrip().startswith(("{", "[")):
        if '"asset"' in text:
            return "it looks like a glTF file that is cut short or damaged"
        return "it looks like JSON but not like a glTF model"
    if re.search(r"(?m)^v\s", text):
        return "it looks like an OBJ file without any faces, perhaps cut short"
    return "it looks like plain text" if "\x00" not in text else "it is binary data"


def _maybe_cut_stl(path: str | os.PathLike[str], head: bytes) -> bool:
    # only a hint for the sentence: a triangle count promising a little more than is there
    size = os.path.getsize(path)
    return size > 84 and size < 84 + 50 * struct.unpack_from("<I", head, 80)[0] < 64 * size


# ----------------------------------------------------------------------------- meshes


class _NoFiles(Resolver):
    """Refuses every side file: a model may not make us read textures or buffers elsewhere."""

    def __init__(self) -> None:
        pass

    def get(self, key: str) -> bytes:
        raise FileNotFoundError(key)

    def write(self, name: str, data: Any) -> None:
        raise PermissionError(name)

    def namespaced(self, namespace: str) -> _NoFiles:
        return self

    def keys(self) -> list[str]:
        return []


def load_mesh(
    path: str | os.PathLike[str], *, max_faces: int = DEFAULT_MAX_FACES, name: str | None = None
) -> trimesh.Trimesh:
    """One triangle mesh with every scene node's transform baked in; ``name`` is what
    error sentences call the file (defaults to its file name)."""
    label = name or Path(path).name
    p = _existing_file(path, label)
    fmt = sniff(p)
    if fmt is None:
        raise InvalidInput(unreadable_message(p, label))
    if fmt.kind != "mesh":
        raise InvalidInput(f"{label} is an image, not a 3D model.")
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        declared = _PRECHECKS[fmt.name](data, label, max_faces)
        f.seek(0)
        scene = _guarded(lambda: _trimesh_scene(f, fmt), label, f"read as {fmt.name.upper()}")
    return _guarded(
        lambda: _flatten(scene, fmt, label, max_faces, declared), label, "assembled into one mesh"
    )


def _trimesh_scene(f: Any, fmt: Format) -> trimesh.Scene:
    # process=False: trimesh's cleanup silently deletes faces that touch NaN vertices.
    # skip_materials: trimesh decodes embedded textures outside our pixel guard and packs
    # them into an atlas when it joins meshes; callers only need geometry (UVs go too).
    extra = {"skip_materials": True} if fmt in (GLB, GLTF) else {}
    return trimesh.load_scene(f, file_type=fmt.name, resolver=_NoFiles(), process=False, **extra)


def _guarded(step: Callable[[], Any], label: str, what: str) -> Any:
    """Run a trimesh step; whatever it raises (IndexError to ImportError) becomes a sentence."""
    try:
        return step()
    except InvalidInput:
        raise
    except MemoryError as exc:
        raise InvalidInput(f"{label} is too large to load into memory.") from exc
    except Exception as exc:
        log.debug("trimesh could not handle %s", label, exc_info=True)
        raise InvalidInput(f"{label} is damaged or truncated: it could not be {what}.") from exc


def _flatten(
    scene: trimesh.Scene, fmt: Format, label: str, max_faces: int, declared: tuple[int, int] | None
) -> trimesh.Trimesh:
    geometry = {k: g for k, g in scene.geometry.items() if isinstance(g, trimesh.Trimesh)}
    for g in geometry.values():
        _check_arrays(g, label)
    if declared is not None:
        _check_declared(geometry.values(), declared, label)
    instanced = sum(
        len(geometry[scene.graph[n][1]].faces)
        for n in scene.graph.nodes_geometry
        if scene.graph[n][1] in geometry
    )
    _check_face_limit(instanced, label, max_faces)
    mesh = scene.to_mesh()
    if len(mesh.faces) == 0:
        raise InvalidInput(f"{label} contains no triangles, so there is no surface to work with.")
    if not np.isfinite(mesh.vertices).all():
        raise InvalidInput(f"{label} is damaged: its node transforms are not finite numbers.")
    if fmt is STL:
        mesh.merge_vertices()  # STL stores every triangle's corners apart; faces are unchanged
    return mesh


def _check_arrays(g: trimesh.Trimesh, label: str) -> None:
    if not np.isfinite(g.vertices).all():
        raise InvalidInput(
            f"{label} is damaged: some vertex positions are not numbers (NaN or infinity)."
        )
    faces = g.faces
    if len(faces) and (faces.min() < 0 or faces.max() >= len(g.vertices)):
        raise InvalidInput(
            f"{label} is damaged: some triangles point at vertices it does not contain."
        )


def _check_declared(geoms: Any, declared: tuple[int, int], label: str) -> None:
    # PLY and OFF headers count their elements; trimesh stops quietly where a file ends early.
    verts, polys = declared
    geoms = list(geoms)
    if polys == 0:
        return  # a point cloud: trimesh gives no Trimesh at all, reported as "no triangles"
    if sum(len(g.vertices) for g in geoms) < verts or sum(len(g.faces) for g in geoms) < polys:
        raise InvalidInput(
            f"{label} is truncated: it holds fewer vertices or faces than its header promises."
        )


def _check_face_limit(faces: int, label: str, max_faces: int) -> None:
    if faces > max_faces:
        raise InvalidInput(
            f"{label} has {faces:,} triangles, more than the {max_faces:,} Meshsmith accepts; "
            "decimate it first."
        )


# ----------------------------------------------------------------------------- pre-checks


def _precheck_obj(data: mmap.mmap, label: str, max_faces: int) -> None:
    # Every polygon is at least one triangle, so the f-line count is a floor; counted in C.
    polys = sum(data[i : i + (1 << 26) + 2].count(b"\nf ") for i in range(0, len(data), 1 << 26))
    _check_face_limit(polys, label, max_faces)


def _precheck_stl(data: mmap.mmap, label: str, max_faces: int) -> None:
    if len(data) >= 84 and 84 + 50 * struct.unpack_from("<I", data, 80)[0] == len(data):
        _check_face_limit(struct.unpack_from("<I", data, 80)[0], label, max_faces)
    elif data[-1024:].lower().rfind(b"endsolid") < 0:
        raise InvalidInput(f"{label} is truncated: it ends part-way through its triangles.")


def _precheck_ply(data: mmap.mmap, label: str, max_faces: int) -> tuple[int, int]:
    end = data.find(b"end_header", 0, _HEAD)
    if end < 0:
        raise InvalidInput(f"{label} is damaged: its PLY header never ends.")
    header = data[:end].decode("ascii", "replace")
    counts = dict(re.findall(r"^element\s+(\w+)\s+(\d+)", header, re.M))
    return _counted(
        int(counts.get("vertex", 0)), int(counts.get("face", 0)), data, label, max_faces
    )


def _precheck_off(data: mmap.mmap, label: str, max_faces: int) -> tuple[int, int]:
    text = data[:_HEAD].decode("utf-8", "replace")
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
    _check_face_limit(polys, label, max_faces)
    return verts, polys


def _precheck_glb(data: mmap.mmap, label: str, max_faces: int) -> None:
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
    _check_gltf(doc, bins[0] if bins else None, label, max_faces)


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


def _precheck_gltf(data: mmap.mmap, label: str, max_faces: int) -> None:
    _check_gltf(_parse_json(data[:], label), None, label, max_faces)


def _parse_json(raw: bytes, label: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{label} is damaged: its scene description is not valid JSON.") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{label} is damaged: its scene description is not a JSON object.")
    return doc


_PRECHECKS: dict[str, Callable[[mmap.mmap, str, int], tuple[int, int] | None]] = {
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


def _check_gltf(doc: dict[str, Any], glb_bin: int | None, label: str, max_faces: int) -> None:
    """Every index in range and every byte range inside its container, in Python integers,
    so a file claiming 2**31 vertices is refused before anything is allocated."""
    try:
        for ext in set(_UNSUPPORTED) & set(doc.get("extensionsRequired", [])):
            raise InvalidInput(
                f"{label} uses {_UNSUPPORTED[ext]} compression, which Meshsmith cannot read; "
                "export it uncompressed."
            )
        buffers = [
            _buffer_length(i, b, glb_bin, label) for i, b in enumerate(doc.get("buffers", []))
        ]
        views = [_view_length(v, buffers, label) for v in doc.get("bufferViews", [])]
        counts = [_accessor_count(a, views, label) for a in doc.get("accessors", [])]
        accessors = list(zip(doc.get("accessors", []), counts, strict=True))
        mesh_faces = [_mesh_faces(m, accessors, label) for m in doc.get("meshes", [])]
        total = _scene_faces(doc, mesh_faces)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidInput(f"{label} is damaged: its scene description is malformed.") from exc
    _check_face_limit(total, label, max_faces)


def _index(value: Any, size: int) -> int:
    # JSON may hold floats, bools or negatives; Python would happily index from the end
    if type(value) is not int or not 0 <= value < size:
        raise IndexError(value)
    return value


def _uint(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(value)
    return value


def _buffer_length(i: int, buf: dict[str, Any], glb_bin: int | None, label: str) -> int:
    uri = buf.get("uri")
    if uri is None:
        if i != 0 or glb_bin is None:
            raise InvalidInput(f"{label} is truncated: it ends before its binary data does.")
        actual = glb_bin
    elif isinstance(uri, str) and uri.startswith("data:"):
        actual = len(_decode_data_uri(uri, label))
    else:
        shown = "".join(ch for ch in str(uri)[:60] if ch.isprintable())
        raise InvalidInput(
            f"{label} refers to a separate file ({shown}); export it as one GLB file."
        )
    if _uint(buf.get("byteLength")) > actual:
        raise InvalidInput(f"{label} is truncated: it ends before its binary data does.")
    return actual


def _decode_data_uri(uri: str, label: str) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise InvalidInput(f"{label} embeds data in a form Meshsmith cannot read (not base64).")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{label} is damaged: its embedded data is not valid base64.") from exc


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


def _scene_faces(doc: dict[str, Any], mesh_faces: list[int]) -> int:
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


# ----------------------------------------------------------------------------- images


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Image.Image:
    """The decoded image (first frame), refused before decoding when it declares too many pixels."""
    label = name or Path(path).name
    p = _existing_file(path, label)
    fmt = sniff(p)
    if fmt is None:
        raise InvalidInput(unreadable_message(p, label))
    if fmt.kind != "image":
        raise InvalidInput(f"{label} is a 3D model, not an image.")
    # Pillow's own bomb guard is global state; ours is per call, and Pillow's stays a backstop
    # (turned into an error unless the caller asked for more than Pillow allows).
    action = "ignore" if max_pixels > (Image.MAX_IMAGE_PIXELS or 0) else "error"
    try:
        with warnings.catch_warnings(), p.open("rb") as f:
            warnings.simplefilter(action, Image.DecompressionBombWarning)
            img = Image.open(f, formats=[fmt.name.upper()])
            _check_pixels(img.size, label, max_pixels)
            img.load()
            if fmt is PNG and not _png_ends(f):
                raise OSError("truncated: no IEND chunk")
            return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(_too_many_pixels(label, max_pixels)) from exc
    except InvalidInput:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib errors...
        log.debug("Pillow could not read %s", label, exc_info=True)
        if "truncated" in str(exc):
            raise InvalidInput(
                f"{label} is truncated: it ends before its pixel data does."
            ) from exc
        raise InvalidInput(f"{label} is damaged: its pixels could not be decoded.") from exc


def _png_ends(f: Any) -> bool:
    # Pillow stops reading once it has the pixels, so a PNG cut inside its last chunk loads
    f.seek(-12, os.SEEK_END)
    return f.read(12)[4:8] == b"IEND"


def _check_pixels(size: tuple[int, int], label: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidInput(f"{label} is damaged: it declares an image with no pixels.")
    if width * height > max_pixels:
        raise InvalidInput(_too_many_pixels(label, max_pixels, size))


def _too_many_pixels(label: str, max_pixels: int, size: tuple[int, int] | None = None) -> str:
    has = f"is {size[0]:,} × {size[1]:,} pixels," if size else "has"
    return f"{label} {has} more than the {max_pixels:,} pixels Meshsmith accepts; scale it down."


# ----------------------------------------------------------------------------- files


def _existing_file(path: str | os.PathLike[str], label: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidInput(f"{label} does not exist.")
    if p.is_dir():
        raise InvalidInput(f"{label} is a folder, not a file.")
    if not p.is_file():  # a pipe or device could block a read forever
        raise InvalidInput(f"{label} is not a regular file.")
    if not os.access(p, os.R_OK):
        raise InvalidInput(f"{label} cannot be read: permission denied.")
    return p
