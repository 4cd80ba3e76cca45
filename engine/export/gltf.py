"""glTF-level export edits that keep everything trimesh cannot write (skins above all).

The export transform becomes one new root node over the scene. A skinned mesh ignores its
node's transform (glTF 2.0, 5.25), so it cannot simply hang under that root: its vertices,
normals and inverse bind matrices are transformed in place instead, and the joints (which do
hang under the root) carry the rest. The rest pose stays exact: for every joint,
``world' · ibm' = M · world · ibm · M⁻¹``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.meshio.skin import _read_glb, _write_glb  # the one GLB container reader/writer

_FLOAT = 5126
_WIDTHS = {"VEC3": 3, "VEC4": 4, "MAT4": 16}


def wrapped_glb(data: bytes, matrix: np.ndarray) -> bytes:
    """``data`` with ``matrix`` applied on top of its default scene."""
    doc, binary = _read_glb(data)
    out = bytearray(binary)
    skinned = {i for i, node in enumerate(doc.get("nodes", [])) if "skin" in node}
    done: set[int] = set()  # accessors already transformed (two nodes may share a mesh)
    for node in sorted(skinned):
        _bake_skinned_mesh(doc, out, doc["nodes"][node], matrix, done)
    scene = doc["scenes"][doc.get("scene", 0)]
    roots = list(scene.get("nodes", []))
    doc.setdefault("nodes", []).append({
        "name": "meshsmith_export", "children": [n for n in roots if n not in skinned],
        "matrix": [float(x) for x in matrix.T.reshape(-1)],  # glTF matrices are column-major
    })
    scene["nodes"] = [n for n in roots if n in skinned] + [len(doc["nodes"]) - 1]
    return _write_glb(doc, bytes(out))


def split_gltf(glb: bytes, dest: Path) -> list[str]:
    """Write a .gltf naming one .bin (the GLB's two chunks apart); returns the file names,
    the .gltf last."""
    doc, binary = _read_glb(glb)
    bin_name = f"{dest.stem}.bin"
    doc["buffers"][0]["uri"] = bin_name
    doc["buffers"][0]["byteLength"] = len(binary)
    dest.with_name(bin_name).write_bytes(binary)
    dest.write_text(json.dumps(doc, indent=1))
    return [bin_name, dest.name]


def read_document(path: Path) -> tuple[dict, bytes]:
    """The JSON document and buffer 0 of a .glb or of a .gltf with its .bin."""
    if path.suffix == ".glb":
        return _read_glb(path.read_bytes())
    doc = json.loads(path.read_text())
    buffers = doc.get("buffers") or [{}]
    uri = buffers[0].get("uri")
    return doc, (path.with_name(uri).read_bytes() if uri else b"")


def rest_products(doc: dict, binary: bytes) -> np.ndarray:
    """Per joint of every skin: its world matrix times its inverse bind matrix (the identity
    in the rest pose the skin was bound in)."""
    nodes = doc.get("nodes", [])
    parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}
    products = []
    for skin in doc.get("skins", []):
        ibms = _read(doc, binary, skin["inverseBindMatrices"])
        for joint, ibm in zip(skin["joints"], ibms, strict=True):
            products.append(_world(nodes, parent, joint) @ ibm.reshape(4, 4).T)
    return np.array(products).reshape(-1, 4, 4)


def _bake_skinned_mesh(doc: dict, out: bytearray, node: dict, matrix: np.ndarray,
                       done: set[int]) -> None:
    linear = matrix[:3, :3]
    normal_matrix = np.linalg.inv(linear).T
    for primitive in doc["meshes"][node["mesh"]]["primitives"]:
        attributes = primitive["attributes"]
        if (index := attributes.get("POSITION")) is not None and index not in done:
            doc["accessors"][index].setdefault("min", [])  # glTF requires POSITION bounds
            _write(doc, out, index, _read(doc, out, index) @ linear.T + matrix[:3, 3])
            done.add(index)
        if (index := attributes.get("NORMAL")) is not None and index not in done:
            normals = _read(doc, out, index) @ normal_matrix.T
            normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
            _write(doc, out, index, normals)
            done.add(index)
    skin = doc["skins"][node["skin"]]
    if (index := skin.get("inverseBindMatrices")) is not None and index not in done:
        ibms = _read(doc, out, index).reshape(-1, 4, 4).transpose(0, 2, 1)  # to row-major
        ibms = ibms @ np.linalg.inv(matrix)
        _write(doc, out, index, ibms.transpose(0, 2, 1).reshape(-1, 16))
        done.add(index)


def _layout(doc: dict, index: int) -> tuple[int, int, int, int]:
    """(byte offset, count, width, stride) of a float accessor in buffer 0."""
    accessor = doc["accessors"][index]
    view = doc["bufferViews"][accessor["bufferView"]]
    if accessor["componentType"] != _FLOAT or view.get("buffer", 0) != 0:
        raise ValueError("only float accessors in the GLB's own buffer can be transformed")
    width = _WIDTHS[accessor["type"]]
    offset = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    return offset, accessor["count"], width, view.get("byteStride", 4 * width)


def _read(doc: dict, binary: bytes | bytearray, index: int) -> np.ndarray:
    offset, count, width, stride = _layout(doc, index)
    rows = np.ndarray((count, width), dtype="<f4", buffer=memoryview(bytes(binary)),
                      offset=offset, strides=(stride, 4))
    return rows.astype(np.float64)


def _write(doc: dict, out: bytearray, index: int, values: np.ndarray) -> None:
    offset, count, width, stride = _layout(doc, index)
    rows = np.ndarray((count, width), dtype="<f4", buffer=out, offset=offset, strides=(stride, 4))
    rows[:] = values.reshape(count, width)
    accessor = doc["accessors"][index]
    if count and ("min" in accessor or "max" in accessor):
        # declared bounds must match the float32 values exactly (the validator compares them)
        accessor["min"] = [float(v) for v in rows.min(axis=0)]
        accessor["max"] = [float(v) for v in rows.max(axis=0)]


def _world(nodes: list[dict], parent: dict[int, int], index: int) -> np.ndarray:
    matrix = np.eye(4)
    while True:
        matrix = _local(nodes[index]) @ matrix
        if index not in parent:
            return matrix
        index = parent[index]


def _local(node: dict) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.get("scale", (1.0, 1.0, 1.0)))
    matrix[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return matrix
