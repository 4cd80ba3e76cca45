"""The one place meshes and images are read: type decided by content, every file checked.

Everything that goes wrong becomes ``InvalidInput`` with one sentence naming the file, so a
broken upload never surfaces as a traceback. Structural checks run *before* trimesh or
Pillow see the bytes, because both trust the counts a file declares and would happily
allocate what a 2 KB file claims to hold.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
import struct
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import trimesh
from PIL import Image

from engine.errors import InvalidInput
from engine.meshio.budget import check_memory
from engine.meshio.checks import HEAD, check_face_limit
from engine.meshio.instances import bake_instances

if TYPE_CHECKING:
    from engine.meshio.scene import LoadedScene

log = logging.getLogger(__name__)

DEFAULT_MAX_FACES = 20_000_000
DEFAULT_MAX_PIXELS = 8192 * 8192


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
    p = existing_file(path, Path(path).name)
    if p.stat().st_size == 0:
        return None
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _sniff_bytes(data)


def _sniff_bytes(data: mmap.mmap) -> Format | None:
    head = data[:HEAD]
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
    from engine.meshio.embedded import payloads, without_payloads

    try:  # its data: URIs' payloads skipped, not read into memory
        doc = json.loads(without_payloads(data, payloads(data)).decode("utf-8-sig"))
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


def load_mesh(
    path: str | os.PathLike[str], *, max_faces: int = DEFAULT_MAX_FACES, name: str | None = None
) -> trimesh.Trimesh:
    """One triangle mesh with every scene node's transform baked in; ``name`` is what
    error sentences call the file (defaults to its file name)."""
    label = name or Path(path).name
    scene, fmt, declared = _read_scene(path, label, max_faces)
    return guarded(
        lambda: _flatten(scene, fmt, label, max_faces, declared), label, "assembled into one mesh"
    )


def load_parts(
    path: str | os.PathLike[str], *, max_faces: int = DEFAULT_MAX_FACES, name: str | None = None
) -> list[tuple[str, trimesh.Trimesh]]:
    """Every scene node that holds triangles as (node name, mesh in world space), sorted by
    name (trimesh keeps no node order); same checks and sentences as ``load_mesh``."""
    label = name or Path(path).name
    scene, fmt, declared = _read_scene(path, label, max_faces)
    return guarded(lambda: _parts(scene, fmt, label, max_faces, declared), label,
                    "split into its parts")


def scene_parts(loaded: LoadedScene, *, max_faces: int = DEFAULT_MAX_FACES
                ) -> list[tuple[str, trimesh.Trimesh]]:
    """``load_parts`` of a scene ``engine.meshio.scene.read_scene`` has read, with its
    materials: the parts keep their UVs, textures and colours."""
    return guarded(lambda: _parts(loaded.scene, loaded.format, loaded.label, max_faces,
                                  loaded.declared), loaded.label, "split into its parts")


def _read_scene(
    path: str | os.PathLike[str], label: str, max_faces: int
) -> tuple[trimesh.Scene, Format, tuple[int, int] | None]:
    # geometry only: the scene loader's materials=False reads no textures or material files
    from engine.meshio.scene import read_scene  # it builds on this module's sniffing

    loaded = read_scene(path, max_faces=max_faces, name=label, materials=False)
    return loaded.scene, loaded.format, loaded.declared


def guarded(step: Callable[[], Any], label: str, what: str) -> Any:
    """Run a parsing step; whatever trimesh or numpy raise (IndexError to ImportError)
    becomes one sentence naming the file. Shared by every reader of meshes."""
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
    nodes = list(_checked_nodes(scene, label, max_faces, declared).values())
    if len(nodes) == 1 and np.array_equal(nodes[0][0], np.eye(4)):
        # one mesh in place (every PLY, OBJ, STL, most GLBs): joining would only copy it
        return _finished(nodes[0][1], fmt, label)
    return _finished(bake_instances(nodes), fmt, label)


def _parts(
    scene: trimesh.Scene, fmt: Format, label: str, max_faces: int, declared: tuple[int, int] | None
) -> list[tuple[str, trimesh.Trimesh]]:
    parts = []
    nodes = _checked_nodes(scene, label, max_faces, declared)
    uses = Counter(id(geometry) for _, geometry in nodes.values())
    for node, (transform, geometry) in nodes.items():
        if uses[id(geometry)] == 1 and np.array_equal(transform, np.eye(4)):
            mesh = geometry  # in place and not instanced elsewhere: a copy would be waste
        else:
            mesh = geometry.copy()
            mesh.apply_transform(transform)  # a mirroring transform flips the winding back
        if len(mesh.faces):
            parts.append((node, mesh))
    if not parts:
        raise InvalidInput(f"{label} contains no triangles, so there is no surface to work with.")
    return [(node, _finished(mesh, fmt, label)) for node, mesh in parts]


def _checked_nodes(
    scene: trimesh.Scene, label: str, max_faces: int, declared: tuple[int, int] | None
) -> dict[str, tuple[np.ndarray, trimesh.Trimesh]]:
    """Node name -> (world transform, mesh) for nodes with triangle meshes, once the arrays,
    the header's counts and the instanced face total have been checked."""
    geometry = {k: g for k, g in scene.geometry.items() if isinstance(g, trimesh.Trimesh)}
    for g in geometry.values():
        _check_arrays(g, label)
    if declared is not None:
        _check_declared(geometry.values(), declared, label)
    nodes = {}
    for node in sorted(scene.graph.nodes_geometry):
        transform, name = scene.graph[node]
        if name in geometry:
            nodes[node] = (transform, geometry[name])
    check_face_limit(sum(len(g.faces) for _, g in nodes.values()), label, max_faces)
    return nodes


def _finished(mesh: trimesh.Trimesh, fmt: Format, label: str) -> trimesh.Trimesh:
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



# ----------------------------------------------------------------------------- images


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Image.Image:
    """The decoded image (first frame), refused before decoding when it declares too many pixels."""
    label = name or Path(path).name
    p = existing_file(path, label)
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
            check_memory(label, pixels=img.size[0] * img.size[1])
            if fmt is JPEG and not _jpeg_ends(f):  # before decoding: Pillow would pad it
                raise OSError("truncated: no end-of-image marker")
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
        if "truncated" in str(exc).lower():
            raise InvalidInput(
                f"{label} is truncated: it ends before its pixel data does."
            ) from exc
        raise InvalidInput(f"{label} is damaged: its pixels could not be decoded.") from exc


def _png_ends(f: Any) -> bool:
    # Pillow stops reading once it has the pixels, so a PNG cut inside its last chunk loads
    f.seek(-12, os.SEEK_END)
    return f.read(12)[4:8] == b"IEND"


def _jpeg_ends(f: Any) -> bool:
    # libjpeg fills a cut-off JPEG with grey and Pillow keeps it, at the full declared size;
    # a whole one ends with the EOI marker (some writers add a little padding after it)
    where = f.tell()
    f.seek(max(0, os.fstat(f.fileno()).st_size - 1024))
    found = b"\xff\xd9" in f.read()
    f.seek(where)
    return found


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


def existing_file(path: str | os.PathLike[str], label: str) -> Path:
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
