"""xatlas UV unwrapping and decimation, run in real worker processes, checked by the Khronos
glTF validator and by reading the GLB back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from engine.meshio.reader import load_mesh
from tests.conftest import pyvista_example
from tests.support.gltf_validator import assert_valid_glb, validate_glb

pytestmark = pytest.mark.slow


@pytest.fixture
def engine(warm_engine):
    """Here ``engine`` is the module's shared one (tests/conftest.py): its warm workers
    serve every job, as in the studio; each test looks at its own jobs only."""
    return warm_engine


@pytest.fixture
def scene_glb(tmp_path: Path) -> Path:
    """A GLB whose mesh sits under a scaled, rotated, translated node."""
    scene = trimesh.Scene()
    matrix = trimesh.transformations.compose_matrix(
        scale=(2, 2, 2), angles=(0.3, 0.2, 0.1), translate=(5, 0, -3))
    scene.add_geometry(trimesh.creation.capsule(height=2, radius=0.5), transform=matrix)
    path = tmp_path / "capsule.glb"
    scene.export(path)
    return path


@pytest.fixture
def quad_obj(tmp_path: Path) -> Path:
    """An OBJ written with quads, as modelling tools do."""
    grid = 6
    lines = [f"v {x} {y} {0.1 * np.sin(x + y):.4f}" for y in range(grid) for x in range(grid)]
    for y in range(grid - 1):
        for x in range(grid - 1):
            a = y * grid + x + 1
            lines.append(f"f {a} {a + 1} {a + grid + 1} {a + grid}")
    path = tmp_path / "quads.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def mesh_inputs(request: pytest.FixtureRequest, name: str) -> Path:
    if name in ("ant.ply", "airplane.ply"):
        return pyvista_example(name)
    return request.getfixturevalue(name)


@pytest.mark.parametrize("name", ["ant.ply", "airplane.ply", "sphere_ply", "scene_glb", "quad_obj"])
def test_uv_unwrap_keeps_every_face_and_the_placement_and_adds_uvs(engine, request, name):
    source = mesh_inputs(request, name)
    before = load_mesh(source)
    result = engine.wait(engine.submit("uv_unwrapping", [engine.stage(source)]), 300)
    assert result.status == "succeeded", result.error
    report = assert_valid_glb(result.output_file_path)
    assert report["info"]["maxUVs"] == 1 and report["info"]["hasTextures"]
    after = trimesh.load(result.output_file_path, force="mesh", process=False)
    assert len(after.faces) == len(before.faces) == result.stats["faces"]
    np.testing.assert_allclose(after.bounds, before.bounds, rtol=1e-5, atol=1e-5)
    uv = np.asarray(after.visual.uv)
    assert uv.shape == (len(after.vertices), 2) and uv.min() >= 0 and uv.max() <= 1
    assert result.stats["uv_charts"] >= 1
    assert Path(result.thumbnail_path).stat().st_size > 1000


@pytest.mark.parametrize(("name", "target"), [
    ("ant.ply", 400), ("airplane.ply", 1000), ("sphere_ply", 800), ("scene_glb", 300),
])
def test_decimation_lands_within_ten_percent_of_the_target(engine, request, name, target):
    source = mesh_inputs(request, name)
    before = load_mesh(source)
    job = engine.submit("mesh_retopology", [engine.stage(source)], adapter="decimate",
                        params={"target_faces": target})
    result = engine.wait(job, 300)
    assert result.status == "succeeded", result.error
    assert_valid_glb(result.output_file_path)
    after = trimesh.load(result.output_file_path, force="mesh", process=False)
    assert abs(len(after.faces) - target) <= 0.1 * target
    assert result.stats["faces"] == len(after.faces)
    # Same scale and place: the bounding box barely moves.
    size = np.ptp(before.bounds, axis=0).max()
    np.testing.assert_allclose(after.bounds, before.bounds, atol=0.05 * size)


def test_decimation_above_the_input_size_returns_the_mesh_unchanged(engine, box_obj):
    job = engine.submit("mesh_retopology", [engine.stage(box_obj)], params={"target_faces": 500})
    result = engine.wait(job, 120)
    assert result.stats["faces"] == 12 and validate_glb(result.output_file_path)["numErrors"] == 0


def test_uv_output_chains_into_decimation_by_job_id(engine, sphere_ply):
    first = engine.wait(engine.submit("uv_unwrapping", [engine.stage(sphere_ply)]), 300)
    chained = engine.stage(f"job:{first.job_id}")
    assert chained.kind == "mesh" and chained.faces == first.stats["faces"]
    second = engine.submit("mesh_retopology", [chained], params={"target_faces": 200})
    assert engine.wait(second, 300).status == "succeeded"
