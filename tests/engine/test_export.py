"""Export: every format written, read back by an independent reader, and checked; the export
transform (scale, up axis, baked transforms) lands where it should; skins survive in glTF."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.errors import ErrorCode, MeshsmithError
from engine.export.exporter import FORMATS, ExportOptions, export_file, export_job
from engine.export.gltf import read_document, rest_products
from engine.jobs import ErrorInfo, JobResult, JobSpec, JobState
from engine.meshio.glb import write_glb
from engine.meshio.skin import Skin
from engine.storage.jobstore import JobStore
from tests.support.gltf_validator import assert_valid_glb, validate_glb

SIDE_FILES = {"glb": set(), "gltf": {".bin"}, "obj": {".mtl", ".png"}, "ply": set(),
              "stl": set(), "usdz": set()}


@pytest.fixture
def parts_glb(tmp_path: Path) -> Path:
    """Two textured parts, one moved by its node: what segmentation and painting leave."""
    seat = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    seat.visual = trimesh.visual.TextureVisuals(
        uv=np.random.default_rng(1).random((len(seat.vertices), 2)),
        material=trimesh.visual.material.PBRMaterial(
            name="wood", baseColorTexture=Image.new("RGB", (16, 16), (150, 90, 40))))
    leg = trimesh.creation.icosphere(subdivisions=2, radius=0.25)
    leg.visual = trimesh.visual.TextureVisuals(
        uv=np.random.default_rng(2).random((len(leg.vertices), 2)),
        material=trimesh.visual.material.PBRMaterial(
            name="metal", baseColorTexture=Image.new("RGB", (8, 8), (90, 90, 100))))
    scene = trimesh.Scene()
    scene.add_geometry(seat, node_name="seat", geom_name="seat")
    scene.add_geometry(leg, node_name="leg", geom_name="leg",
                       transform=trimesh.transformations.translation_matrix((0.0, -1.0, 0.0)))
    return write_glb(scene, tmp_path / "parts.glb")


@pytest.fixture
def skinned_glb(tmp_path: Path) -> Path:
    """A capsule bound to a two-joint chain, as the auto-rig writes it (round, so its normals'
    bounds change under the up-axis rotation)."""
    bar = trimesh.creation.capsule(height=1.6, radius=0.2, count=[8, 8])
    bar.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    n = len(bar.vertices)
    joints = np.zeros((n, 4), dtype=int)
    joints[:, 1] = 1
    weights = np.zeros((n, 4))
    weights[:, 0] = np.where(bar.vertices[:, 1] < 0, 0.9, 0.1)
    weights[:, 1] = 1.0 - weights[:, 0]
    skin = Skin(["hip", "tip"], [-1, 0], [[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]], joints, weights)
    return write_glb(bar, tmp_path / "skinned.glb", skin=skin)


def reread(path: Path) -> tuple[int, int, np.ndarray]:
    """(vertices, faces, bounds) by a reader independent of the exporter's own checks."""
    if path.suffix == ".usdz":
        from pxr import Usd, UsdGeom

        stage = Usd.Stage.Open(str(path))
        meshes = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
        box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(
            stage.GetDefaultPrim()).ComputeAlignedRange()
        return (sum(len(m.GetPointsAttr().Get()) for m in meshes),
                sum(len(m.GetFaceVertexCountsAttr().Get()) for m in meshes),
                np.array([list(box.GetMin()), list(box.GetMax())]))
    scene = trimesh.load_scene(path, process=False)
    mesh = scene.to_mesh()
    return len(mesh.vertices), len(mesh.faces), mesh.bounds


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_a_multi_part_textured_scene(fmt, parts_glb, tmp_path):
    result = export_file(parts_glb, tmp_path / "out" / "chair.glb", ExportOptions(format=fmt))
    primary = Path(result.path)
    assert primary.name == f"chair.{fmt}" and primary.is_file()
    assert {Path(f).suffix for f in result.files[1:]} == SIDE_FILES[fmt]
    assert all(Path(f).is_file() for f in result.files)
    assert [p.name for p in primary.parent.iterdir() if p.name.startswith(".")] == []
    _vertices, faces, bounds = reread(primary)
    assert faces == 12 + 320 and result.faces == faces
    assert np.allclose(bounds, [[-1.0, -1.25, -0.25], [1.0, 0.5, 0.25]], atol=1e-4)
    if fmt in ("glb", "gltf", "usdz"):
        assert result.parts == 2 and not result.flattened
    else:
        assert result.flattened and result.notes  # says what the format could not keep
    if fmt in ("glb", "gltf"):
        assert_valid_glb(primary)
        doc = read_document(primary)[0]
        assert len(doc["images"]) == 2 and {n.get("name") for n in doc["nodes"]} >= {"seat", "leg"}
    if fmt == "obj":
        assert "map_Kd chair_" in primary.with_suffix(".mtl").read_text()
        assert len(trimesh.load_scene(primary).geometry) == 2
    if fmt == "usdz":
        assert "usd-core compliance checker: no errors" in result.checks
        names = zipfile.ZipFile(primary).namelist()
        assert sum(n.endswith(".png") for n in names) == 2 and names[0].endswith(".usdc")
    if fmt == "ply":
        assert trimesh.load(primary, process=False).visual.kind == "vertex"  # colours kept


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("apply", [False, True])
def test_scale_and_z_up_land_where_expected(fmt, apply, parts_glb, tmp_path):
    options = ExportOptions(format=fmt, scale=100.0, up="z", apply_transforms=apply)
    result = export_file(parts_glb, tmp_path / "chair", options)
    _, faces, bounds = reread(Path(result.path))
    # (x, y, z) -> (x, -z, y), then centimetres: the chair stands on Z
    expected = np.array([[-100.0, -25.0, -125.0], [100.0, 25.0, 50.0]])
    assert faces == 332 and np.allclose(bounds, expected, atol=1e-2)
    if fmt == "usdz":
        from pxr import Usd, UsdGeom

        assert UsdGeom.GetStageUpAxis(Usd.Stage.Open(result.path)) == "Z"
    if fmt == "glb":
        doc = read_document(Path(result.path))[0]
        moved = [n for n in doc["nodes"] if {"matrix", "translation", "scale"} & n.keys()]
        assert (moved == []) == apply  # baked: no node moves anything any more


@pytest.mark.parametrize("fmt", ["glb", "gltf"])
def test_a_skin_survives_scale_and_up_axis(fmt, skinned_glb, tmp_path):
    options = ExportOptions(format=fmt, scale=2.0, up="z")
    result = export_file(skinned_glb, tmp_path / "rig", options)
    report = validate_glb(result.path)
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report
    assert report["info"]["hasSkins"]
    doc, binary = read_document(Path(result.path))
    assert len(doc["skins"][0]["joints"]) == 2
    # the bind pose still holds: each joint's world matrix undoes its inverse bind
    assert np.allclose(rest_products(doc, binary), np.eye(4), atol=1e-5)
    _, _, bounds = reread(Path(result.path))
    low, high = reread(skinned_glb)[2]  # (x, y, z) -> (x, -z, y), twice the size
    expected = 2 * np.array([[low[0], -high[2], low[1]], [high[0], -low[2], high[1]]])
    assert np.allclose(bounds, expected, atol=1e-4)


@pytest.mark.parametrize("fmt", ["obj", "ply", "stl", "usdz"])
def test_formats_without_skins_say_they_left_it_out(fmt, skinned_glb, tmp_path):
    result = export_file(skinned_glb, tmp_path / "rig", ExportOptions(format=fmt))
    assert result.flattened and any("armature" in note for note in result.notes)
    assert reread(Path(result.path))[1] == reread(skinned_glb)[1]


def test_a_failed_check_leaves_no_file_behind(parts_glb, tmp_path, monkeypatch):
    import engine.export.check as checks

    def lying_reader(path, **kwargs):
        raise MeshsmithError(ErrorCode.OUTPUT_INVALID, "The OBJ export read back wrong.")

    monkeypatch.setattr(checks, "check_flat", lambda *a, **k: lying_reader(a[0]))
    out = tmp_path / "out"
    with pytest.raises(MeshsmithError) as caught:
        export_file(parts_glb, out / "chair.obj", ExportOptions(format="obj"))
    assert caught.value.code is ErrorCode.OUTPUT_INVALID
    assert list(out.iterdir()) == []


def test_the_usd_check_is_not_vacuous(tmp_path):
    """A shader input of the wrong type fails usd-core's checker (so the definitions load)."""
    from pxr import Sdf, Usd, UsdGeom, UsdShade, UsdUtils

    from engine.export.check import Measure
    from engine.export.usd import check_usdz

    layer = tmp_path / "bad.usda"
    stage = Usd.Stage.CreateNew(str(layer))
    UsdGeom.SetStageUpAxis(stage, "Y")
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/Root")
    stage.SetDefaultPrim(root.GetPrim())
    shader = UsdShade.Shader.Define(stage, "/Root/Looks/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Double).Set(0.5)  # should be float
    stage.GetRootLayer().Save()
    package = tmp_path / "bad.usdz"
    assert UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(layer)), str(package))
    with pytest.raises(MeshsmithError, match="compliance check") as caught:
        check_usdz(package, Measure(0, 0, 0, np.zeros((2, 3))), up="y")
    assert "roughness" in caught.value.message


def add_succeeded_job(store: JobStore, data_dir, job_id: str, glb: Path) -> None:
    store.add(job_id, JobSpec(feature="mesh_segmentation", adapter="spectral", inputs=["x"]))
    store.transition(job_id, JobState.RUNNING)
    out = data_dir.job_output(job_id)
    out.mkdir(parents=True)
    result_glb = out / "result.glb"
    result_glb.write_bytes(glb.read_bytes())
    store.transition(job_id, JobState.SUCCEEDED, result=JobResult(
        job_id=job_id, feature="mesh_segmentation", adapter="spectral", status="succeeded",
        output_file_path=str(result_glb)))


def test_export_job_names_the_file_and_refuses_jobs_without_results(data_dir, parts_glb,
                                                                     tmp_path):
    store = JobStore(data_dir.db)
    try:
        add_succeeded_job(store, data_dir, "abc123", parts_glb)
        result = export_job(store, "abc123", tmp_path / "exports", ExportOptions(format="stl"))
        assert Path(result.path).name == "mesh_segmentation-abc123.stl"
        assert result.job_id == "abc123" and json.loads(result.model_dump_json())["checks"]
        store.add("bad1", JobSpec(feature="uv_unwrapping", adapter="xatlas", inputs=["x"]))
        store.transition("bad1", JobState.RUNNING)
        info = ErrorInfo(code="ADAPTER_FAILED", message="It broke.")
        store.transition("bad1", JobState.FAILED, error=info, result=JobResult(
            job_id="bad1", feature="uv_unwrapping", adapter="xatlas", status="failed",
            error=info))
        for job_id, words in (("bad1", "failed, so it has no result"), ("nope", "no job nope")):
            with pytest.raises(MeshsmithError, match=words) as caught:
                export_job(store, job_id, tmp_path, ExportOptions())
            assert caught.value.code is ErrorCode.INVALID_INPUT
    finally:
        store.close()
