"""Retopology and UV unwrapping keep what the artist made: texture, materials, normals,
and the face target, or they say in the result why not. Colours are scored on the surface
against the input's known texture (tests/support/textured_meshes.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from adapters.decimate import DecimateAdapter, DecimateParams
from adapters.instant_meshes import InstantMeshesAdapter, InstantMeshesParams
from adapters.xatlas_uv import XatlasAdapter, XatlasParams
from engine.contract.protocol import RunContext
from engine.meshio.glb import write_glb
from engine.meshio.quads import quads_of
from engine.meshio.scene import read_scene
from tests.support.gltf_validator import assert_valid_glb
from tests.support.model_files import write_obj
from tests.support.textured_meshes import cad_assembly, surface_colour_error, textured_sphere

pytestmark = pytest.mark.slow


def _run(adapter, params, source: Path, out: Path):
    adapter.load("cpu")
    ctx = RunContext("job", "cpu", out, params, lambda stage, fraction: None)
    return adapter.run([source], ctx)


def _written(mesh, path: Path) -> Path:
    write_glb(mesh, path)
    assert_valid_glb(path)
    return path


@pytest.fixture(scope="module")
def photo_sphere(tmp_path_factory) -> tuple[trimesh.Trimesh, Path]:
    mesh = textured_sphere(80_000)
    path = tmp_path_factory.mktemp("sphere") / "photo_sphere.glb"
    write_glb(mesh, path)
    return mesh, path


@pytest.fixture(scope="module")
def small_photo_sphere(tmp_path_factory) -> tuple[trimesh.Trimesh, Path]:
    """The same photo sphere at 20k faces: baking into a new topology or atlas is what is
    proved, not the size (xatlas charts 80k faces in about 40 s, 20k in about 3 s)."""
    mesh = textured_sphere(20_000)
    path = tmp_path_factory.mktemp("small_sphere") / "photo_sphere.glb"
    write_glb(mesh, path)
    return mesh, path


def test_decimation_keeps_the_photo_texture_and_its_uvs(photo_sphere, tmp_path):
    source, path = photo_sphere
    out = _run(DecimateAdapter(), DecimateParams(target_faces=5000), path, tmp_path)
    score = surface_colour_error(source, out.mesh)
    assert abs(len(out.mesh.faces) - 5000) <= 500 and out.warnings == []
    assert score.mean < 3.0 and score.geometry < 0.002
    assert out.mesh.visual.material.baseColorTexture.size == (1024, 1024)  # the input's own
    _written(out.mesh, tmp_path / "r.glb")


@pytest.mark.parametrize("adapter, params", [
    (DecimateAdapter, DecimateParams(target_faces=4000, allow_topology_changes=True)),
    (InstantMeshesAdapter, InstantMeshesParams(target_faces=3000)),
    (XatlasAdapter, XatlasParams()),
], ids=["decimate-new-topology", "instant_meshes", "xatlas"])
def test_a_new_topology_or_atlas_gets_the_input_texture_baked_in(small_photo_sphere, tmp_path,
                                                                  adapter, params):
    source, path = small_photo_sphere
    out = _run(adapter(), params, path, tmp_path)
    score = surface_colour_error(source, out.mesh)
    assert score.mean < 4.0, score  # the outside check found 84/255 before
    assert out.stats.get("uv_source", "baked") == "baked"
    written = _written(out.mesh, tmp_path / "r.glb")
    if "quads" in out.stats:  # a quad remesh's quads survive the baked atlas's seams
        geometry = next(iter(read_scene(written).scene.geometry.values()))
        assert len(quads_of(geometry)) == out.stats["quads"] > 0


def test_unwrapping_an_untextured_mesh_gives_a_checker_only_when_asked(tmp_path):
    path = tmp_path / "ball.glb"
    write_glb(trimesh.creation.icosphere(3), path)
    checker = _run(XatlasAdapter(), XatlasParams(), path, tmp_path)
    plain = _run(XatlasAdapter(), XatlasParams(checker=False), path, tmp_path)
    assert checker.mesh.visual.material.baseColorTexture is not None
    assert plain.mesh.visual.material.baseColorTexture is None
    assert plain.stats["texture"] == "none" and checker.stats["texture"] == "checker"
    _written(plain.mesh, tmp_path / "plain.glb")


def test_decimation_keeps_hard_edges_as_split_normals(tmp_path):
    box = trimesh.creation.box(extents=(2, 1, 0.5)).subdivide().subdivide().subdivide()
    box.unmerge_vertices()
    path = tmp_path / "box.glb"
    write_glb(box, path)
    out = _run(DecimateAdapter(), DecimateParams(target_faces=60), path, tmp_path)
    mesh = out.mesh
    corner = np.asarray(mesh.vertex_normals)[mesh.faces]
    # the box's own face normals at every corner: smoothing would lean them at the edges
    assert (np.abs(corner).max(axis=2) > 0.999).all()
    assert len(np.unique(np.round(corner.reshape(-1, 3)), axis=0)) == 6
    _written(mesh, tmp_path / "r.glb")


def test_decimation_keeps_each_material_of_a_two_material_model(tmp_path):
    left = textured_sphere(20_000, Image.new("RGB", (64, 64), (220, 30, 30)))
    right = textured_sphere(20_000, Image.new("RGB", (64, 64), (30, 30, 220)))
    right.apply_translation((3, 0, 0))
    scene = trimesh.Scene({"left": left, "right": right})
    path = tmp_path / "two.glb"
    write_glb(scene, path)
    out = _run(DecimateAdapter(), DecimateParams(target_faces=4000), path, tmp_path)
    assert isinstance(out.mesh, trimesh.Scene) and len(out.mesh.geometry) == 2
    for mesh in out.mesh.geometry.values():
        colour = mesh.visual.material.baseColorTexture.convert("RGB").getpixel((5, 5))
        centre = mesh.bounds.mean(axis=0)[0]
        assert colour == ((220, 30, 30) if centre < 1.5 else (30, 30, 220))
    _written(out.mesh, tmp_path / "r.glb")


@pytest.fixture(scope="module")
def cad(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cad") / "assembly.glb"
    write_glb(cad_assembly(), path)
    return path


def test_decimation_of_a_cad_assembly_reaches_the_target(cad, tmp_path):
    out = _run(DecimateAdapter(), DecimateParams(target_faces=5000), cad, tmp_path)
    assert abs(len(out.mesh.faces) - 5000) <= 500 and out.warnings == []
    assert out.stats["parts_before"] == out.stats["parts_after"] == 98


def test_a_target_below_what_the_parts_allow_is_refused_by_a_warning_saying_why(cad, tmp_path):
    out = _run(DecimateAdapter(), DecimateParams(target_faces=300), cad, tmp_path)
    (warning,) = out.warnings
    assert warning.startswith(f"Stopped at {len(out.mesh.faces):,} faces, not 300: its 98 parts")
    assert "allow_topology_changes" in warning


def test_allowing_topology_changes_reaches_the_target_and_names_what_went(cad, tmp_path):
    params = DecimateParams(target_faces=300, allow_topology_changes=True)
    out = _run(DecimateAdapter(), params, cad, tmp_path)
    assert abs(len(out.mesh.faces) - 300) <= 30
    assert any("parts were too small for 300 faces and were dropped" in w for w in out.warnings)
    _written(out.mesh, tmp_path / "r.glb")


def test_a_missing_texture_reaches_the_job_results_warnings(engine, tmp_path):
    path = write_obj(tmp_path / "obj", ".\\SpiderTex.jpg", None)
    job = engine.submit("mesh_retopology", [engine.stage(path)], adapter="decimate",
                        params={"target_faces": 8})
    result = engine.wait(job, 300)
    assert result.status == "succeeded", result.error
    assert any("SpiderTex.jpg" in w for w in result.warnings)
    assert result.warnings[0].startswith("spider.obj names the texture")
