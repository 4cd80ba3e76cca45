"""Meshes the viewport tests draw, written in code so the repository carries no binaries.

trimesh exports GLBs with part nodes, UVs and a PBR baseColorTexture, but writes no skins, so
``_add_skin`` edits the exported GLB's JSON and binary chunk to add joints and a skin.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

PBR = trimesh.visual.material.PBRMaterial
LOAD_TIMEOUT_MS = 60_000  # how long a test waits for a file to be prepared and drawn


def _tube(radius: float = 0.5, height: float = 1.2, sections: int = 48, rows: int = 6):
    """An open, UV-mapped tube: its inside shows whether back faces are lit."""
    theta, ys = np.linspace(0, 2 * np.pi, sections + 1), np.linspace(0, height, rows + 1)
    t, y = np.meshgrid(theta, ys)
    verts = np.column_stack([radius * np.cos(t).ravel(), y.ravel(), -radius * np.sin(t).ravel()])
    uv = np.column_stack([(t / (2 * np.pi)).ravel(), (y / height).ravel()])
    i, j = np.meshgrid(np.arange(rows), np.arange(sections), indexing="ij")
    a = (i * (sections + 1) + j).ravel()
    faces = np.concatenate([np.column_stack([a, a + 1, a + sections + 2]),
                            np.column_stack([a, a + sections + 2, a + sections + 1])])
    return verts, faces, uv


def _stripes() -> Image.Image:
    rows = (np.arange(128) // 16 % 2)[:, None].repeat(128, axis=1)
    return Image.fromarray(np.where(rows[..., None] == 0, [230, 90, 140], [40, 170, 170])
                           .astype(np.uint8))


def _add_skin(glb: bytes, mesh_node: str, joints: list[tuple[str, tuple, tuple | None]]) -> bytes:
    """Adds a chain of joints (name, translation, rotation xyzw) and a skin binding every
    vertex of ``mesh_node`` to the first joint; trimesh writes no skins, so this edits the GLB."""
    size = struct.unpack_from("<I", glb, 12)[0]
    doc = json.loads(glb[20 : 20 + size])
    binary = bytearray(glb[28 + size : 28 + size + struct.unpack_from("<I", glb, 20 + size)[0]])
    nodes = doc["nodes"]
    node = next(n for n in nodes if n.get("name") == mesh_node)
    prim = doc["meshes"][node["mesh"]]["primitives"][0]
    count = doc["accessors"][prim["attributes"]["POSITION"]]["count"]

    def append(array: np.ndarray, component: int) -> int:
        binary.extend(b"\0" * (-len(binary) % 4))
        doc["bufferViews"].append({"buffer": 0, "byteOffset": len(binary),
                                   "byteLength": array.nbytes})
        binary.extend(array.tobytes())
        doc["accessors"].append({"bufferView": len(doc["bufferViews"]) - 1, "type": "VEC4",
                                 "componentType": component, "count": len(array)})
        return len(doc["accessors"]) - 1

    first = len(nodes)
    for k, (name, translation, rotation) in enumerate(joints):
        nodes.append({"name": name, "translation": list(translation)}
                     | ({"rotation": list(rotation)} if rotation else {})
                     | ({"children": [first + k + 1]} if k + 1 < len(joints) else {}))
    doc["scenes"][doc.get("scene", 0)]["nodes"].append(first)
    weights = np.zeros((count, 4), np.float32)
    weights[:, 0] = 1.0
    prim["attributes"]["JOINTS_0"] = append(np.zeros((count, 4), np.uint8), 5121)
    prim["attributes"]["WEIGHTS_0"] = append(weights, 5126)
    doc["skins"] = [{"joints": list(range(first, first + len(joints)))}]
    node["skin"] = 0
    binary.extend(b"\0" * (-len(binary) % 4))
    doc["buffers"][0]["byteLength"] = len(binary)
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    return (struct.pack("<4sII", b"glTF", 2, 28 + len(text) + len(binary))
            + struct.pack("<I4s", len(text), b"JSON") + text
            + struct.pack("<I4s", len(binary), b"BIN\0") + bytes(binary))


def write_showcase_glb(path: Path) -> Path:
    """part_00 a blue box without UVs; part_01 an open tube with UVs, a striped
    baseColorTexture and a three-joint skin: something to see in every mode."""
    box = trimesh.creation.box(extents=(0.8, 0.8, 0.8))
    box.apply_translation((-0.9, 0.4, 0.0))
    box.unmerge_vertices()  # flat faces, as a modelled box has
    box.visual = trimesh.visual.TextureVisuals(material=PBR(baseColorFactor=[90, 120, 220, 255]))
    verts, faces, uv = _tube()
    tube = trimesh.Trimesh(verts + np.array([0.6, 0.0, 0.0]), faces, process=False)
    tube.visual = trimesh.visual.TextureVisuals(uv=uv, material=PBR(baseColorTexture=_stripes()))
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="part_00", geom_name="box")
    scene.add_geometry(tube, node_name="part_01", geom_name="tube")
    joints = [("hip", (0.6, 0.0, 0.0), None), ("spine", (0.0, 0.6, 0.0), None),
              ("head", (0.0, 0.6, 0.0), None)]
    path.write_bytes(_add_skin(trimesh.exchange.gltf.export_glb(scene), "part_01", joints))
    return path


def write_box_sphere_glb(path: Path) -> Path:
    """Two part nodes, no UVs, no skin."""
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=(1.0, 1.0, 1.0)), node_name="part_00")
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.6)
    scene.add_geometry(sphere, node_name="part_01",
                       transform=trimesh.transformations.translation_matrix((1.5, 0.0, 0.0)))
    path.write_bytes(trimesh.exchange.gltf.export_glb(scene))
    return path


def write_skinned_cylinder_glb(path: Path) -> Path:
    """Two joints; the root is turned 90° about z, so the child's local +y is world -x."""
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.cylinder(radius=0.2, height=2.0), node_name="body")
    quarter = (0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4))
    joints = [("root", (0.0, 1.0, 0.0), quarter), ("tip", (0.0, 2.0, 0.0), None)]
    path.write_bytes(_add_skin(trimesh.exchange.gltf.export_glb(scene), "body", joints))
    return path


def write_million_face_glb(path: Path) -> Path:
    """A wavy 708 × 708 grid with UVs: 999,698 triangles, 22 MB."""
    n = 708
    x, z = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    verts = np.column_stack([x.ravel(), (0.1 * np.sin(4 * x) * np.cos(4 * z)).ravel(), z.ravel()])
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    faces = np.concatenate([np.column_stack([a, a + n, a + 1]),
                            np.column_stack([a + 1, a + n, a + n + 1])])
    mesh = trimesh.Trimesh(verts, faces, process=False)
    mesh.visual = trimesh.visual.TextureVisuals(uv=(verts[:, [0, 2]] + 1.0) / 2.0)
    path.write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh)))
    return path


def plain_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A wavy n × n grid: 2 (n - 1)² triangles."""
    x, z = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    y = 0.1 * np.sin(5 * x) * np.cos(4 * z)
    vertices = np.column_stack([x.ravel(), y.ravel(), z.ravel()]).astype(np.float32)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    faces = np.concatenate([np.column_stack([a, a + n, a + 1]),
                            np.column_stack([a + 1, a + n, a + n + 1])]).astype(np.uint32)
    return vertices, faces


def write_plain_glb(path: Path, vertices: np.ndarray, faces: np.ndarray, *,
              normals: np.ndarray | None = None, interleaved: bool = False,
              index_type: int = 5125) -> Path:
    """A one-node GLB written byte by byte: packed float32/uint32 (``index_type`` 5123:
    uint16 indices), normals in a view of their own, or positions and normals interleaved in
    one strided buffer view."""
    indices = faces.astype(np.uint16 if index_type == 5123 else np.uint32).tobytes()
    indices += b"\0" * (-len(indices) % 4)
    prim: dict = {"attributes": {"POSITION": 1}, "indices": 0}
    views = [{"buffer": 0, "byteOffset": 0, "byteLength": len(indices)}]
    accessors = [{"bufferView": 0, "componentType": index_type, "count": faces.size,
                  "type": "SCALAR"}]
    bounds = {"min": vertices.min(axis=0).tolist(), "max": vertices.max(axis=0).tolist()}
    if interleaved:
        assert normals is not None
        body = np.hstack([vertices, normals]).astype(np.float32).tobytes()
        views.append({"buffer": 0, "byteOffset": len(indices), "byteLength": len(body),
                      "byteStride": 24})
        accessors.append({"bufferView": 1, "componentType": 5126, "count": len(vertices),
                          "type": "VEC3", **bounds})
        accessors.append({"bufferView": 1, "byteOffset": 12, "componentType": 5126,
                          "count": len(vertices), "type": "VEC3"})
        prim["attributes"]["NORMAL"] = 2
    else:
        body = vertices.astype(np.float32).tobytes()
        views.append({"buffer": 0, "byteOffset": len(indices), "byteLength": len(body)})
        accessors.append({"bufferView": 1, "componentType": 5126, "count": len(vertices),
                          "type": "VEC3", **bounds})
        if normals is not None:  # packed in a view of their own
            packed = normals.astype(np.float32).tobytes()
            views.append({"buffer": 0, "byteOffset": len(indices) + len(body),
                          "byteLength": len(packed)})
            accessors.append({"bufferView": 2, "componentType": 5126,
                              "count": len(vertices), "type": "VEC3"})
            prim["attributes"]["NORMAL"] = 2
            body += packed
    binary = indices + body
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
           "nodes": [{"mesh": 0, "name": "surface"}], "meshes": [{"primitives": [prim]}],
           "buffers": [{"byteLength": len(binary)}], "bufferViews": views,
           "accessors": accessors}
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    with open(path, "wb") as out:
        out.write(struct.pack("<III", 0x46546C67, 2, 12 + 8 + len(text) + 8 + len(binary)))
        out.write(struct.pack("<II", len(text), 0x4E4F534A) + text)
        out.write(struct.pack("<II", len(binary), 0x004E4942) + binary)
    return path
