"""Skins for the viewport: every skin's joints at their bind-pose world positions, read from
the glTF JSON (trimesh reads no skins)."""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh


@dataclass(frozen=True, eq=False)
class SkeletonData:
    """Joints of every skin in the file at their bind-pose world positions."""

    names: tuple[str, ...]
    positions: np.ndarray  # (j, 3) float64
    parents: np.ndarray  # (j,) index into positions, -1 for a root joint

    @property
    def bones(self) -> int:
        """One bone per joint, as Blender's glTF importer and the auto-rig's stats count them
        (the viewport draws a line from each joint to its parent)."""
        return len(self.names)


def gltf_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The scene description of a GLB or glTF file (prechecks have already validated it)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _gltf_doc(data)


def _gltf_doc(data: mmap.mmap) -> dict[str, Any]:
    if data[:4] == b"glTF":
        length = struct.unpack_from("<I", data, 12)[0]
        raw = data[20 : 20 + length]
    else:
        raw = data[:]
    return json.loads(bytes(raw).decode("utf-8-sig"))


def read_skeleton(doc: dict[str, Any]) -> SkeletonData | None:
    """Joints of every skin at their world positions; bones run from each joint to its
    nearest ancestor that is a joint too. trimesh reads no skins, so this walks the JSON."""
    nodes = doc.get("nodes", [])
    joints: list[int] = []
    for skin in doc.get("skins", []):
        joints.extend(j for j in skin.get("joints", []) if j not in joints)
    if not joints:
        return None
    parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}
    world = _world_matrices(nodes, parent)
    index = {node: i for i, node in enumerate(joints)}
    parents = np.full(len(joints), -1, dtype=np.int64)
    for i, node in enumerate(joints):
        up = parent.get(node)
        while up is not None and up not in index:
            up = parent.get(up)
        parents[i] = index[up] if up is not None else -1
    names = tuple(str(nodes[j].get("name", f"joint_{j}")) for j in joints)
    positions = np.array([world[j][:3, 3] for j in joints], dtype=np.float64)
    return SkeletonData(names, positions, parents)


def _world_matrices(nodes: list[dict[str, Any]], parent: dict[int, int]) -> list[np.ndarray]:
    local = [_local_matrix(n) for n in nodes]
    world: list[np.ndarray | None] = [None] * len(nodes)
    for start in range(len(nodes)):
        chain = [start]  # walk up to the first node already known, then fill back down
        while world[chain[-1]] is None and chain[-1] in parent:
            chain.append(parent[chain[-1]])
        above = world[chain[-1]]
        if above is None:
            above = local[chain[-1]]
            world[chain[-1]] = above
        for node in reversed(chain[:-1]):
            above = above @ local[node]
            world[node] = above
    return [w if w is not None else np.eye(4) for w in world]


def _local_matrix(node: dict[str, Any]) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T  # column-major
    t = np.eye(4)
    t[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    r = np.eye(4)
    r[:3, :3] = trimesh.transformations.quaternion_matrix((w, x, y, z))[:3, :3]
    s = np.diag([*node.get("scale", (1.0, 1.0, 1.0)), 1.0])
    return t @ r @ s
