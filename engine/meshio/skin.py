"""Skins: what an auto-rig returns, and how ``engine.meshio.glb`` writes it into a GLB.

trimesh cannot write skins, so ``write_glb`` exports the mesh with trimesh and then hands
the bytes to ``embed_skin``, which appends the joint nodes, the skin with its inverse bind
matrices, and JOINTS_0/WEIGHTS_0 on the mesh's primitive. Weights are renormalized here, in
float32, so every GLB meets the validator's "sums to 1" rule whatever the adapter did.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

INFLUENCES = 4  # glTF JOINTS_0/WEIGHTS_0 hold four; Blender, Unity and Godot read them
_ARRAY_BUFFER = 34962
_UNSIGNED_BYTE, _UNSIGNED_SHORT, _FLOAT = 5121, 5123, 5126
_GLB_MAGIC, _JSON, _BIN = b"glTF", b"JSON", b"BIN\x00"


@dataclass
class Skin:
    """A rest-pose skeleton and per-vertex weights for one mesh.

    ``parents[j]`` is the parent of joint ``j`` (-1 for joint 0, the one root; parents come
    before their children). ``joints``/``weights`` hold up to four influences per vertex of
    the mesh, in its vertex order; unused slots have weight 0.
    """

    joint_names: list[str]
    parents: np.ndarray  # (j,) int
    joint_positions: np.ndarray  # (j, 3) world positions, rest pose
    joints: np.ndarray  # (n, 4) int
    weights: np.ndarray  # (n, 4) float

    def __post_init__(self) -> None:
        self.parents = np.asarray(self.parents, dtype=np.int64)
        self.joint_positions = np.asarray(self.joint_positions, dtype=np.float64)
        self.joints = np.asarray(self.joints, dtype=np.int64)
        self.weights = np.asarray(self.weights, dtype=np.float64)
        count = len(self.parents)
        if not 1 <= count <= 65535 or len(self.joint_names) != count:
            raise ValueError("a skin needs 1 to 65535 joints, each with a name")
        if self.joint_positions.shape != (count, 3):
            raise ValueError("a skin needs one 3D position per joint")
        if self.parents[0] != -1 or (self.parents[1:] < 0).any() or \
                (self.parents[1:] >= np.arange(1, count)).any():
            raise ValueError("skin joints must form one tree with parents listed first")
        if self.joints.shape != self.weights.shape or self.joints.shape[1:] != (INFLUENCES,):
            raise ValueError(f"skin joints and weights must both be (vertices, {INFLUENCES})")
        if len(self.joints) and (self.joints.min() < 0 or self.joints.max() >= count):
            raise ValueError("skin weights refer to joints that do not exist")
        if not np.isfinite(self.weights).all() or (self.weights < 0).any():
            raise ValueError("skin weights must be finite and not negative")
        if not np.isfinite(self.joint_positions).all():
            raise ValueError("skin joint positions must be finite")

    def normalized(self) -> tuple[np.ndarray, np.ndarray]:
        """(joints, float32 weights): heaviest first, summing to 1 in float32, unused slots
        pointing at joint 0 with weight 0; a vertex with no weight follows the root."""
        w = self.weights.copy()
        total = w.sum(axis=1)
        w[total <= 0] = (1.0, 0.0, 0.0, 0.0)
        j = np.where(total[:, None] <= 0, 0, self.joints)
        w /= w.sum(axis=1, keepdims=True)
        order = np.argsort(-w, axis=1, kind="stable")
        w, j = np.take_along_axis(w, order, 1), np.take_along_axis(j, order, 1)
        w32 = w.astype(np.float32)
        # the heaviest weight takes the float32 rounding error, so each row sums to 1
        w32[:, 0] = (1.0 - w32[:, 1:].astype(np.float64).sum(axis=1)).astype(np.float32)
        j = np.where(w32 > 0, j, 0)
        return j, w32


def embed_skin(glb: bytes, skin: Skin) -> bytes:
    """``glb`` (one mesh, as trimesh writes it) with ``skin`` bound to that mesh."""
    doc, binary = _read_glb(glb)
    meshes = [i for i, node in enumerate(doc["nodes"]) if "mesh" in node]
    if len(meshes) != 1 or len(doc["meshes"]) != 1:
        raise ValueError("a skin can only be written for a result with exactly one mesh")
    mesh_node = meshes[0]
    if any(key in doc["nodes"][mesh_node] for key in ("matrix", "translation", "rotation", "scale")):
        # glTF skinning ignores the mesh node's transform: vertices must already be in world
        raise ValueError("a skinned mesh must not be moved by its node; bake the transform")
    joints, weights = skin.normalized()
    primitives = doc["meshes"][0]["primitives"]
    for primitive in primitives:
        count = doc["accessors"][primitive["attributes"]["POSITION"]]["count"]
        if count != len(joints):
            raise ValueError(f"the skin has {len(joints)} vertices but the mesh has {count}")
    out = bytearray(binary)
    small = len(skin.parents) <= 256
    joint_acc = _add_accessor(doc, out, joints.astype(np.uint8 if small else np.uint16),
                              _UNSIGNED_BYTE if small else _UNSIGNED_SHORT, "VEC4")
    weight_acc = _add_accessor(doc, out, weights, _FLOAT, "VEC4")
    ibm_acc = _add_accessor(doc, out, _inverse_binds(skin.joint_positions), _FLOAT, "MAT4",
                            target=None)
    for primitive in primitives:
        primitive["attributes"]["JOINTS_0"] = joint_acc
        primitive["attributes"]["WEIGHTS_0"] = weight_acc
    first = _add_joint_nodes(doc, skin)
    doc.setdefault("skins", []).append({
        "name": "armature", "inverseBindMatrices": ibm_acc, "skeleton": first,
        "joints": list(range(first, first + len(skin.parents))),
    })
    doc["nodes"][mesh_node]["skin"] = len(doc["skins"]) - 1
    doc["buffers"][0]["byteLength"] = len(out)
    return _write_glb(doc, bytes(out))


def _inverse_binds(positions: np.ndarray) -> np.ndarray:
    # rest pose: joints carry no rotation, so each inverse bind is a translation back
    mats = np.tile(np.eye(4), (len(positions), 1, 1))
    mats[:, :3, 3] = -positions
    return mats.transpose(0, 2, 1).reshape(len(positions), 16).astype(np.float32)  # columns


def _add_joint_nodes(doc: dict, skin: Skin) -> int:
    first = len(doc["nodes"])
    pos = skin.joint_positions
    for j, name in enumerate(skin.joint_names):
        parent = skin.parents[j]
        local = pos[j] - (pos[parent] if parent >= 0 else 0.0)
        doc["nodes"].append({"name": str(name), "translation": [float(x) for x in local]})
        if parent >= 0:
            doc["nodes"][first + parent].setdefault("children", []).append(first + j)
    doc["scenes"][doc.get("scene", 0)]["nodes"].append(first)
    return first


def _add_accessor(doc: dict, out: bytearray, data: np.ndarray, component: int, kind: str,
                  target: int | None = _ARRAY_BUFFER) -> int:
    out.extend(b"\x00" * (-len(out) % 4))  # every accessor starts 4-byte aligned
    raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
    view = {"buffer": 0, "byteOffset": len(out), "byteLength": len(raw)}
    if target is not None:
        view["target"] = target
    out.extend(raw)
    doc.setdefault("bufferViews", []).append(view)
    doc.setdefault("accessors", []).append({
        "bufferView": len(doc["bufferViews"]) - 1, "componentType": component,
        "count": len(data), "type": kind,
    })
    return len(doc["accessors"]) - 1


def _read_glb(glb: bytes) -> tuple[dict, bytes]:
    magic, _version, _length = struct.unpack_from("<4sII", glb, 0)
    if magic != _GLB_MAGIC:
        raise ValueError("not a GLB")
    offset, doc, binary = 12, None, b""
    while offset < len(glb):
        size, kind = struct.unpack_from("<I4s", glb, offset)
        chunk = glb[offset + 8:offset + 8 + size]
        if kind == _JSON:
            doc = json.loads(chunk)
        elif kind == _BIN:
            binary = chunk
        offset += 8 + size
    if doc is None:
        raise ValueError("a GLB without its JSON chunk")
    if not doc.get("buffers"):
        doc["buffers"] = [{"byteLength": 0}]
    return doc, binary


def _write_glb(doc: dict, binary: bytes) -> bytes:
    text = json.dumps(doc, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    chunks = struct.pack("<I4s", len(text), _JSON) + text
    chunks += struct.pack("<I4s", len(binary), _BIN) + binary
    return struct.pack("<4sII", _GLB_MAGIC, 2, 12 + len(chunks)) + chunks
