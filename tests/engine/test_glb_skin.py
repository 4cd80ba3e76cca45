"""The skinned GLB writer: joints, inverse binds and weights go in, the validator is clean,
and reading the file back (with the small reader below, which the rig tests share) gives
the same skeleton and weights that deform the mesh as expected."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import trimesh

from engine.meshio.glb import write_glb
from engine.meshio.skin import Skin
from tests.support.gltf_validator import assert_valid_glb

_DTYPES = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@dataclass
class SkinnedGlb:
    """What a skinned GLB holds, read back without trimesh (which ignores skins)."""

    positions: np.ndarray  # (n, 3)
    joints: np.ndarray  # (n, 4) indices into the skin's joint list
    weights: np.ndarray  # (n, 4)
    inverse_binds: np.ndarray  # (j, 4, 4)
    local: np.ndarray  # (j, 4, 4) rest-pose local matrices
    parents: np.ndarray  # (j,) index into the joint list, -1 for the root
    names: list[str]
    joint_component: int  # glTF componentType of JOINTS_0

    def world(self, local: np.ndarray | None = None) -> np.ndarray:
        local = self.local if local is None else local
        world = np.empty_like(local)
        for j in range(len(local)):  # the writer lists parents before children
            p = self.parents[j]
            world[j] = local[j] if p < 0 else world[p] @ local[j]
        return world

    def posed(self, joint: int, rotation: np.ndarray) -> np.ndarray:
        """Vertex positions after turning ``joint`` by the 3x3 ``rotation`` (linear blend
        skinning, exactly what a glTF viewer does)."""
        local = self.local.copy()
        turn = np.eye(4)
        turn[:3, :3] = rotation
        local[joint] = local[joint] @ turn
        skinning = self.world(local) @ self.inverse_binds  # (j, 4, 4)
        homo = np.c_[self.positions, np.ones(len(self.positions))]
        per_joint = np.einsum("nkab,nb->nka", skinning[self.joints], homo)
        return (self.weights[..., None] * per_joint).sum(axis=1)[:, :3]


def read_skinned_glb(path: str | Path) -> SkinnedGlb:
    data = Path(path).read_bytes()
    doc, binary, offset = None, b"", 12
    while offset < len(data):
        size, kind = struct.unpack_from("<I4s", data, offset)
        chunk = data[offset + 8:offset + 8 + size]
        doc, binary = (json.loads(chunk), binary) if kind == b"JSON" else (doc, chunk)
        offset += 8 + size
    assert doc is not None

    def accessor(i: int) -> np.ndarray:
        acc = doc["accessors"][i]
        view = doc["bufferViews"][acc["bufferView"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        width = _WIDTH[acc["type"]]
        out = np.frombuffer(binary, _DTYPES[acc["componentType"]], acc["count"] * width, start)
        return out.reshape(acc["count"], width)

    (node,) = [n for n in doc["nodes"] if "skin" in n]
    skin = doc["skins"][node["skin"]]
    attrs = doc["meshes"][node["mesh"]]["primitives"][0]["attributes"]
    joint_nodes = skin["joints"]
    position_in_skin = {n: j for j, n in enumerate(joint_nodes)}
    parents = np.full(len(joint_nodes), -1)
    for n, spec in enumerate(doc["nodes"]):
        for child in spec.get("children", []):
            if child in position_in_skin and n in position_in_skin:
                parents[position_in_skin[child]] = position_in_skin[n]
    return SkinnedGlb(
        positions=accessor(attrs["POSITION"]).astype(np.float64),
        joints=accessor(attrs["JOINTS_0"]).astype(np.int64),
        weights=accessor(attrs["WEIGHTS_0"]).astype(np.float64),
        inverse_binds=accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1),
        local=np.stack([_local(doc["nodes"][n]) for n in joint_nodes]),
        parents=parents,
        names=[doc["nodes"][n].get("name", "") for n in joint_nodes],
        joint_component=doc["accessors"][attrs["JOINTS_0"]]["componentType"],
    )


def _local(node: dict) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T
    m = np.eye(4)
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    m[:3, :3] = trimesh.transformations.quaternion_matrix([w, x, y, z])[:3, :3]
    m[:3, :3] *= np.asarray(node.get("scale", (1.0, 1.0, 1.0)))
    m[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return m


def rotation_about(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    return trimesh.transformations.rotation_matrix(np.radians(degrees), axis)[:3, :3]


# ----------------------------------------------------------------------------- tests


def _bar_skin(mesh: trimesh.Trimesh) -> Skin:
    """Three joints up a bar along z: the lower half follows joint 0, the upper joint 1."""
    z = mesh.vertices[:, 2]
    upper = np.clip((z + 0.25) / 0.5, 0.0, 1.0)
    n = len(z)
    return Skin(
        joint_names=["root", "middle", "tip"], parents=np.array([-1, 0, 1]),
        joint_positions=np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
        joints=np.tile([0, 1, 2, 0], (n, 1)),
        weights=np.stack([1 - upper, upper, np.zeros(n), np.zeros(n)], axis=1) * 3.0,
    )


@pytest.fixture
def bar() -> trimesh.Trimesh:
    return trimesh.creation.capsule(height=2.0, radius=0.2)


def test_skinned_glb_is_valid_and_reads_back_the_same_skeleton_and_weights(tmp_path, bar):
    skin = _bar_skin(bar)
    path = write_glb(bar, tmp_path / "bar.glb", skin=skin)
    report = assert_valid_glb(path)
    assert report["numWarnings"] == 0
    assert report["info"]["hasSkins"] and report["info"]["maxInfluences"] <= 4
    back = read_skinned_glb(path)
    assert back.names == ["root", "middle", "tip"] and back.parents.tolist() == [-1, 0, 1]
    np.testing.assert_allclose(back.positions, bar.vertices, atol=1e-6)
    # inverse binds undo the rest pose: world @ inverse bind is the identity for every joint
    np.testing.assert_allclose(back.world() @ back.inverse_binds, np.tile(np.eye(4), (3, 1, 1)),
                               atol=1e-6)
    assert back.joint_component == 5121  # unsigned byte: fewer than 256 joints
    # float32 sums are exactly 1 up to float32 rounding, though the input summed to 3
    np.testing.assert_allclose(back.weights.sum(axis=1), 1.0, atol=2e-7)
    dense = np.zeros((len(back.weights), 3))
    np.add.at(dense, (np.arange(len(dense))[:, None], back.joints), back.weights)
    expected = skin.weights[:, :3] / skin.weights.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dense, expected, atol=1e-6)


def test_turning_a_joint_moves_only_the_vertices_weighted_to_it(tmp_path, bar):
    back = read_skinned_glb(write_glb(bar, tmp_path / "bar.glb", skin=_bar_skin(bar)))
    np.testing.assert_allclose(back.posed(1, np.eye(3)), bar.vertices, atol=1e-6)
    posed = back.posed(1, rotation_about((1, 0, 0), 90))
    moved = np.linalg.norm(posed - bar.vertices, axis=1)
    z = bar.vertices[:, 2]
    assert moved[z < -0.3].max() < 1e-6  # below the blend zone: joint 0 only
    assert moved[z > 0.5].min() > 0.3  # the upper part swings round the middle joint
    # the tip of the bar ends up pointing along -y, one unit from the middle joint
    tip = posed[np.argmax(z)]
    np.testing.assert_allclose(tip, [0.0, -1.2, 0.0], atol=1e-3)


def test_many_joints_use_unsigned_short_indices_and_zero_rows_follow_the_root(tmp_path, bar):
    n, count = len(bar.vertices), 300
    parents = np.arange(-1, count - 1)
    positions = np.c_[np.zeros((count, 2)), np.linspace(-1, 1, count)]
    joints = np.zeros((n, 4), dtype=np.int64)
    joints[:, 0] = np.arange(n) % count
    weights = np.zeros((n, 4))
    weights[1:, 0] = 1.0  # vertex 0 has no weight at all
    skin = Skin([f"j{i}" for i in range(count)], parents, positions, joints, weights)
    path = write_glb(bar, tmp_path / "many.glb", skin=skin)
    assert_valid_glb(path)
    back = read_skinned_glb(path)
    assert back.joint_component == 5123 and len(back.names) == count
    assert back.joints[0, 0] == 0 and back.weights[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert (back.joints[1:, 0] == joints[1:, 0]).all()


@pytest.mark.parametrize("change", ["vertices", "parents", "joint", "negative"])
def test_inconsistent_skins_are_refused(tmp_path, bar, change):
    skin = _bar_skin(bar)
    if change == "vertices":
        with pytest.raises(ValueError, match="vertices"):
            write_glb(bar, tmp_path / "x.glb", skin=Skin(
                skin.joint_names, skin.parents, skin.joint_positions,
                skin.joints[:-1], skin.weights[:-1]))
        return
    parents, joints, weights = skin.parents.copy(), skin.joints.copy(), skin.weights.copy()
    if change == "parents":
        parents[1] = 2
    elif change == "joint":
        joints[0, 0] = 7
    else:
        weights[0, 0] = -0.5
    with pytest.raises(ValueError):
        Skin(skin.joint_names, parents, skin.joint_positions, joints, weights)


def test_a_skin_needs_a_single_mesh(tmp_path, bar):
    scene = trimesh.Scene([bar, bar.copy().apply_translation((1, 0, 0))])
    with pytest.raises(ValueError, match="exactly one mesh"):
        write_glb(scene, tmp_path / "two.glb", skin=_bar_skin(bar))


def test_a_skinned_mesh_must_not_sit_under_a_transform(tmp_path, bar):
    scene = trimesh.Scene()
    scene.add_geometry(bar, transform=trimesh.transformations.translation_matrix((1, 0, 0)))
    with pytest.raises(ValueError, match="bake the transform"):
        write_glb(scene, tmp_path / "moved.glb", skin=_bar_skin(bar))
