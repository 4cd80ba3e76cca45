"""auto_rig (skeleton_rig) end to end: real worker processes, the Khronos validator, and the
skin read back from the GLB and posed with linear blend skinning, as a viewer would."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from adapters.autorig import AutoRigAdapter, AutoRigParams
from engine.contract.protocol import RunContext
from engine.errors import ErrorCode, MeshsmithError
from engine.meshio.glb import write_glb
from engine.runtime.events import JobEvent
from tests.conftest import pyvista_example
from tests.engine.test_glb_skin import SkinnedGlb, read_skinned_glb, rotation_about
from tests.support.gltf_validator import assert_valid_glb

pytestmark = pytest.mark.slow

# The synthetic figure, in metres: a T-pose, arms along x, standing on z = 0.
LIMBS = {  # name: (tip, axis to turn the limb about, which vertices belong to it)
    "arm_l": ((1.02, 0.0, 1.5), (0, 1, 0), lambda p: p[:, 0] > 0.4),
    "arm_r": ((-1.02, 0.0, 1.5), (0, 1, 0), lambda p: p[:, 0] < -0.4),
    "leg_l": ((0.16, 0.0, -0.01), (1, 0, 0), lambda p: (p[:, 0] > 0.04) & (p[:, 2] < 0.6)),
    "leg_r": ((-0.16, 0.0, -0.01), (1, 0, 0), lambda p: (p[:, 0] < -0.04) & (p[:, 2] < 0.6)),
    "head": ((0.0, 0.0, 2.0), (1, 0, 0), lambda p: p[:, 2] > 1.75),
}


@pytest.fixture
def engine(warm_engine):
    """Here ``engine`` is the module's shared one (tests/conftest.py): its warm workers
    serve every job, as in the studio; each test looks at its own jobs only."""
    return warm_engine


def _capsule(a: tuple[float, ...], b: tuple[float, ...], radius: float) -> trimesh.Trimesh:
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    cap = trimesh.creation.capsule(height=float(np.linalg.norm(b_ - a_)), radius=radius)
    cap.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], b_ - a_))
    return cap.apply_translation((a_ + b_) / 2)


def figure_mesh() -> trimesh.Trimesh:
    """Torso, head, neck, two arms, two legs: overlapping closed primitives in ONE mesh
    (it is not watertight as a whole: the pieces cut through each other)."""
    parts = [
        _capsule((0, 0, 0.95), (0, 0, 1.45), 0.22),
        trimesh.creation.icosphere(3, radius=0.15).apply_translation((0, 0, 1.85)),
        _capsule((0, 0, 1.55), (0, 0, 1.75), 0.06),
        _capsule((0.2, 0, 1.5), (0.95, 0, 1.5), 0.07),
        _capsule((-0.2, 0, 1.5), (-0.95, 0, 1.5), 0.07),
        _capsule((0.12, 0, 0.9), (0.16, 0, 0.08), 0.09),
        _capsule((-0.12, 0, 0.9), (-0.16, 0, 0.08), 0.09),
    ]
    # fine enough that the limbs have vertices along their length, not only at the ends
    vertices, faces = trimesh.remesh.subdivide_to_size(
        *_concat(parts), max_edge=0.04, max_iter=20)
    return trimesh.Trimesh(vertices, faces, process=False)


def _concat(parts: list[trimesh.Trimesh]) -> tuple[np.ndarray, np.ndarray]:
    joined = trimesh.util.concatenate(parts)
    return np.asarray(joined.vertices), np.asarray(joined.faces)


@pytest.fixture
def figure_ply(tmp_path: Path) -> Path:
    path = tmp_path / "figure.ply"
    figure_mesh().export(path)
    return path


def check_skin(glb: str | Path, max_bones: int) -> SkinnedGlb:
    """Blender-ready: validator clean, a skin with at most 4 influences summing to 1."""
    report = assert_valid_glb(glb)
    assert report["info"]["hasSkins"] and report["info"]["maxInfluences"] <= 4
    skin = read_skinned_glb(glb)
    assert 2 <= len(skin.names) <= max_bones
    assert (skin.parents[1:] >= 0).all() and skin.parents[0] == -1
    np.testing.assert_allclose(skin.weights.sum(axis=1), 1.0, atol=1e-6)
    assert (skin.weights >= 0).all() and (skin.joints < len(skin.names)).all()
    return skin


def limb_root(skin: SkinnedGlb, tip: np.ndarray) -> int:
    """The joint where the limb ending nearest ``tip`` leaves the body: walk up from its
    end joint until the parent is a branch point."""
    kids = np.bincount(skin.parents[skin.parents >= 0], minlength=len(skin.parents))
    ends = np.flatnonzero(kids == 0)
    world = skin.world()[:, :3, 3]
    joint = ends[np.argmin(np.linalg.norm(world[ends] - tip, axis=1))]
    while skin.parents[joint] >= 0 and kids[skin.parents[joint]] < 2:
        joint = skin.parents[joint]
    return int(joint)


def limb_motion(skin: SkinnedGlb, to_figure: np.ndarray | None = None) -> dict[str, tuple]:
    """Per limb: (mean move of its vertices, largest move of any other limb's vertex) when
    its joint turns 60 degrees. ``to_figure`` maps the rig's frame back to the figure's."""
    to_figure = np.eye(4) if to_figure is None else to_figure
    to_rig = np.linalg.inv(to_figure)
    pts = trimesh.transform_points(skin.positions, to_figure)
    scale = np.linalg.norm(to_rig[:3, 0])
    owned = {name: select(pts) for name, (_, _, select) in LIMBS.items()}
    out = {}
    for name, (tip, axis, _) in LIMBS.items():
        joint = limb_root(skin, trimesh.transform_points([tip], to_rig)[0])
        rig_axis = to_rig[:3, :3] @ np.asarray(axis, float)
        moved = np.linalg.norm(skin.posed(joint, rotation_about(rig_axis, 60)) - skin.positions,
                               axis=1) / scale
        others = np.any([owned[o] for o in LIMBS if o != name], axis=0)
        out[name] = (float(moved[owned[name]].mean()), float(moved[others].max()))
    return out


def assert_limbs_move_alone(motion: dict[str, tuple]) -> None:
    for name, (own, others) in motion.items():
        assert own > (0.06 if name == "head" else 0.2), (name, own)
        assert others < 1e-4, (name, others)


def test_turning_one_limb_moves_that_limb_and_no_other(engine, figure_ply):
    job = engine.submit("auto_rig", [engine.stage(figure_ply)], adapter="skeleton_rig")
    result = engine.wait(job, 300)
    assert result.status == "succeeded", result.error
    skin = check_skin(result.output_file_path, 32)
    assert result.stats["bones"] == len(skin.names)
    assert 1 <= result.stats["max_influences"] <= 4
    assert result.stats["vertices"] == len(skin.positions)
    assert Path(result.thumbnail_path).stat().st_size > 1000
    motion = limb_motion(skin)
    print("limb motion (mean own, max others):", motion)
    assert_limbs_move_alone(motion)


def test_the_ant_gets_a_bone_chain_down_each_of_its_six_legs(engine):
    source = pyvista_example("ant.ply")
    result = engine.wait(engine.submit("auto_rig", [engine.stage(source)]), 300)
    assert result.status == "succeeded", result.error
    skin = check_skin(result.output_file_path, 32)
    ant = trimesh.load(source, process=False)
    size = float(np.ptp(ant.vertices, axis=0).max())
    # the legs are the long loose pieces below the body; the feet are their lowest points
    legs = [b for b in ant.split(only_watertight=False)
            if b.extents.max() > 0.3 * size and b.centroid[1] < 0]
    assert len(legs) == 6
    kids = np.bincount(skin.parents[skin.parents >= 0], minlength=len(skin.parents))
    world = skin.world()[:, :3, 3]
    ends = np.flatnonzero(kids == 0)
    found, shares = set(), []
    for leg in legs:
        foot = leg.vertices[np.argmin(leg.vertices[:, 1])]
        end = ends[np.argmin(np.linalg.norm(world[ends] - foot, axis=1))]
        assert np.linalg.norm(world[end] - foot) < 0.1 * size
        chain = _chain_up_to_branch(skin, kids, end)
        assert len(chain) >= 2  # at least one bone of its own down the leg
        found.add(end)
        # the leg's vertices follow the leg's own chain, not the body or another leg
        mine = cKDTree(leg.vertices).query(skin.positions)[0] < 1e-6
        share = float((np.isin(skin.joints[mine], chain) * skin.weights[mine]).sum() / mine.sum())
        shares.append(round(share, 3))
        assert share > 0.7
    assert len(found) == 6
    print("ant bones:", len(skin.names), "leg weight on own chain:", shares, result.stats)


def _chain_up_to_branch(skin: SkinnedGlb, kids: np.ndarray, end: int) -> list[int]:
    chain = [end]
    while skin.parents[chain[-1]] >= 0 and kids[skin.parents[chain[-1]]] < 2:
        chain.append(int(skin.parents[chain[-1]]))
    return chain


def test_progress_is_reported_in_order(engine, figure_ply):
    events: list[JobEvent] = []
    engine.subscribe(events.append)
    job = engine.submit("auto_rig", [engine.stage(figure_ply)], params={"max_bones": 12})
    assert engine.wait(job, 300).status == "succeeded"
    progress = [(e.stage, e.fraction) for e in events if e.kind == "progress" and e.job_id == job]
    fractions = [f for _, f in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    stages = [s for s, _ in progress]
    for stage in ("voxelizing", "extracting the skeleton", "computing skin weights"):
        assert stage in stages


def test_cancel_stops_the_job_between_steps(engine, figure_ply):
    job_ids: list[str] = []

    def cancel_when_voxelizing(event: JobEvent) -> None:
        if event.kind == "progress" and event.stage == "voxelizing" and event.job_id in job_ids:
            engine.cancel(event.job_id)

    engine.subscribe(cancel_when_voxelizing)
    # a fine grid, so the step after "voxelizing" is still running when the cancel arrives
    job_ids.append(engine.submit("auto_rig", [engine.stage(figure_ply)],
                                 params={"resolution": 256}))
    result = engine.wait(job_ids[0], 300)
    assert result.status == "cancelled" and result.error.code == ErrorCode.CANCELLED


def test_a_flat_plane_fails_with_one_sentence(engine, tmp_path):
    path = tmp_path / "plane.ply"
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(
        square, np.array([[0, 1, 2], [0, 2, 3]]), max_edge=0.1)).export(path)
    result = engine.wait(engine.submit("auto_rig", [engine.stage(path)]), 120)
    assert result.status == "failed" and result.error.code == ErrorCode.INVALID_INPUT
    message = result.error.message
    assert "plane.ply" in message and "flat" in message
    assert message.endswith(".") and "\n" not in message and message.count(". ") == 0


def test_the_volume_check_refuses_a_curved_open_dish_and_accepts_a_thin_closed_slab():
    """The check is a share of 250 random probes: a dish (a quarter-deep cap of a sphere,
    curved but open) has none inside, while a slab 1/50 as thick as it is wide is a solid
    all the same. (A bowl as deep as a hemisphere already counts as nearly closed.)"""
    from adapters.autorig._mesh import require_volume
    from engine.errors import InvalidInput

    sphere = trimesh.creation.icosphere(4)
    bowl = sphere.submesh([np.flatnonzero(sphere.triangles_center[:, 2] < -0.5)], append=True)
    with pytest.raises(InvalidInput, match=r"bowl\.glb is flat or an open sheet"):
        require_volume(np.asarray(bowl.vertices), np.asarray(bowl.faces), "bowl.glb")
    slab = trimesh.creation.box([1.0, 1.0, 0.02]).subdivide().subdivide()
    require_volume(np.asarray(slab.vertices), np.asarray(slab.faces), "slab.glb")


def test_an_empty_file_is_refused_with_one_sentence(engine, tmp_path):
    empty = tmp_path / "empty.obj"
    empty.write_bytes(b"")
    with pytest.raises(MeshsmithError) as caught:
        engine.submit("auto_rig", [engine.stage(empty)])
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert caught.value.message == "empty.obj is empty."


# ----------------------------------------------------------------- robustness, no engine


def rig(mesh: trimesh.Trimesh, tmp_path: Path, **params) -> tuple[SkinnedGlb, dict, float]:
    """Run the adapter in this process and write its GLB exactly as the worker does."""
    source = tmp_path / "input.ply"
    mesh.export(source)
    adapter = AutoRigAdapter()
    adapter.load("cpu")
    ctx = RunContext("test", "cpu", tmp_path, AutoRigParams(**params), lambda s, f: None)
    started = time.monotonic()
    output = adapter.run([source], ctx)
    elapsed = time.monotonic() - started
    glb = write_glb(output.mesh, tmp_path / "rigged.glb", skin=output.skin)
    return check_skin(glb, params.get("max_bones", 32)), output.stats, elapsed


def _placed(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray]:
    """The mesh turned every which way, 1000 times bigger, far from the origin."""
    matrix = trimesh.transformations.random_rotation_matrix(np.random.default_rng(3).random(3))
    matrix[:3, :3] *= 1000.0
    matrix[:3, 3] = (5000.0, -300.0, 12.0)
    return mesh.copy().apply_transform(matrix), np.linalg.inv(matrix)


def _holed_with_loose_parts(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Open (5% of triangles gone), with eyes and a hat as separate pieces."""
    holed = mesh.copy()
    holed.update_faces(np.random.default_rng(5).random(len(holed.faces)) > 0.05)
    extras = [trimesh.creation.icosphere(2, radius=0.03).apply_translation((x, -0.15, 1.9))
              for x in (-0.06, 0.06)]
    extras.append(trimesh.creation.cylinder(radius=0.2, height=0.04).apply_translation(
        (0, 0, 2.08)))
    return trimesh.util.concatenate([holed, *extras]), np.eye(4)


@pytest.mark.parametrize("variant", [_placed, _holed_with_loose_parts])
def test_pose_scale_holes_and_loose_pieces_do_not_change_the_rig(tmp_path, variant):
    mesh, to_figure = variant(figure_mesh())
    skin, _, _ = rig(mesh, tmp_path)
    motion = limb_motion(skin, to_figure)
    assert_limbs_move_alone(motion)


def test_a_large_mesh_is_rigged_in_reasonable_time(tmp_path):
    big = figure_mesh().subdivide()
    assert len(big.faces) > 600_000
    skin, _, elapsed = rig(big, tmp_path)
    print(f"{len(big.faces)} faces rigged in {elapsed:.1f} s")
    assert elapsed < 120
    assert_limbs_move_alone(limb_motion(skin))


@pytest.mark.parametrize("max_bones", [2, 5, 128])
def test_max_bones_is_a_ceiling(tmp_path, max_bones):
    ant = trimesh.load(pyvista_example("ant.ply"), process=False)
    skin, stats, _ = rig(ant, tmp_path, max_bones=max_bones)
    assert stats["bones"] == len(skin.names) <= max_bones
