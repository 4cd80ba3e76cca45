"""The hostile inputs of issue 15, built on demand (nothing large is kept in the repo).
Each builder writes its file into ``folder`` and returns its path."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def many_node_glb(folder: Path, nodes: int = 200_000) -> Path:
    """One triangle, instanced by ``nodes`` nodes (a ~4 MB GLB at 200,000)."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32).tobytes()
    doc = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(positions)}],
        "bufferViews": [{"buffer": 0, "byteLength": len(positions)}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                       "min": [0, 0, 0], "max": [1, 1, 0]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0, "translation": [i * 0.001, 0, 0]} for i in range(nodes)],
        "scenes": [{"nodes": list(range(nodes))}],
        "scene": 0,
    }
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = positions + b"\0" * (-len(positions) % 4)
    blob = (struct.pack("<I4s", len(text), b"JSON") + text
            + struct.pack("<I4s", len(body), b"BIN\0") + body)
    path = folder / "many_nodes.glb"
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(blob)) + blob)
    return path


def one_point_obj(folder: Path, faces: int = 5_000_000) -> Path:
    """``faces`` triangles that all sit on one vertex (zero area, ~40 MB at 5M)."""
    path = folder / "one_point.obj"
    with open(path, "wb") as out:
        out.write(b"v 0 0 0\n")
        line = b"f 1 1 1\n"
        block = line * 100_000
        for _ in range(faces // 100_000):
            out.write(block)
        out.write(line * (faces % 100_000))
    return path


def hollow_jpeg(folder: Path) -> Path:
    """A JPEG whose header declares 8000 x 8000 pixels but whose data holds a few rows."""
    whole = io.BytesIO()
    Image.new("RGB", (8000, 8000), "blue").save(whole, format="JPEG", quality=50)
    raw = whole.getvalue()
    path = folder / "hollow.jpg"
    path.write_bytes(raw[:2048])  # the header and the start of the scan only
    return path


def many_face_obj(folder: Path, faces: int = 1_000_000) -> Path:
    """An ordinary-looking OBJ of ``faces`` triangles (for the memory budget)."""
    path = folder / "many_faces.obj"
    with open(path, "wb") as out:
        out.write(b"v 0 0 0\nv 1 0 0\nv 0 1 0\n")
        out.write(b"f 1 2 3\n" * faces)
    return path


def embedded_gltf(folder: Path, padding: int = 30_000_000) -> Path:
    """A .gltf whose one buffer is a base64 data: URI of ``padding`` bytes plus a small
    sphere (~40 MB of text at 30 MB)."""
    import base64

    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=4)
    verts = mesh.vertices.astype(np.float32).tobytes()
    tris = mesh.faces.astype(np.uint32).tobytes()
    buffer = verts + tris + b"\0" * padding
    doc = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(buffer), "uri": "data:application/octet-stream;base64,"
                     + base64.b64encode(buffer).decode()}],
        "bufferViews": [{"buffer": 0, "byteLength": len(verts)},
                        {"buffer": 0, "byteOffset": len(verts), "byteLength": len(tris)}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": len(mesh.vertices),
                       "type": "VEC3", "min": mesh.vertices.min(0).tolist(),
                       "max": mesh.vertices.max(0).tolist()},
                      {"bufferView": 1, "componentType": 5125, "count": mesh.faces.size,
                       "type": "SCALAR"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0,
    }
    path = folder / "embedded.gltf"
    path.write_text(json.dumps(doc))
    return path
