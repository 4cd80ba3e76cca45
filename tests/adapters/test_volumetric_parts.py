"""Volumetric part completion end to end: every part of a segmented object comes back as ONE
closed solid (watertight, one piece, accepted by manifold3d), the parts together fill the
object's true solid (volume IoU at least 0.95), the input's visible surface is kept (mean
distance at most 0.5% of the diagonal), each part wears its own look, and what cannot be
made one solid is said in a warning. Cases are objects of known primitives (exact signed
distances), cut by their known parts or turned into generated-like soups."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from adapters.registry import default_registry
from benchmarks._part_cases import (
    MORE_SHAPES,
    SHAPES,
    Case,
    cut_case,
    generated_case,
    snowman,
)
from benchmarks._part_metrics import measure
from engine.errors import ErrorCode, InvalidInput
from engine.meshio.glb import write_glb
from engine.meshio.reader import scene_parts
from engine.meshio.scene import read_scene
from tests.support.gltf_validator import assert_valid_glb

pytestmark = pytest.mark.slow

IOU = 0.95
VISIBLE = 0.005  # mean distance, share of the bounding-box diagonal


@pytest.fixture
def engine(warm_engine):
    """Here ``engine`` is the module's shared one (tests/conftest.py): one warm worker
    serves every job, as in the studio; each test looks at its own jobs only."""
    return warm_engine


def complete(engine, source: Path, params: dict | None = None, adapter: str | None = None):
    job = engine.submit("part_completion", [engine.stage(source)], adapter=adapter,
                        params=params or {})
    return engine.wait(job, 600)


def report_rows(result) -> list[dict]:
    (report,) = [o.path for o in result.outputs if o.role == "report"]
    return json.loads(Path(report).read_text())["parts"]


def edge(shape: list, per_diagonal: int) -> float:
    bounds = np.vstack([p.mesh.bounds for p in shape])
    return float(np.linalg.norm(np.ptp(bounds, axis=0))) / per_diagonal


def assert_completed(result, case: Case) -> dict:
    """One closed solid per part, the object's solid filled, its visible surface kept."""
    assert result.status == "succeeded", result.error
    assert_valid_glb(result.output_file_path)
    figures = measure(Path(result.output_file_path), case)
    print(f"{case.name} ({case.faces} faces): IoU {figures['iou']:.4f}, visible mean "
          f"{figures['visible_mean']:.2e}, {result.timings.run_s:.1f} s")
    assert [p["name"] for p in figures["per_part"]] == sorted(case.parts)
    assert figures["closed_parts"] == figures["one_piece_parts"] == len(case.parts)
    assert figures["iou"] >= IOU and figures["visible_mean"] <= VISIBLE
    rows = report_rows(result)
    assert all(r["watertight"] and r["components"] == 1 for r in rows)
    assert result.stats["single_solid_parts"] == len(case.parts) and not result.warnings
    return figures


@pytest.mark.parametrize(("case", "params"), [
    (lambda: cut_case("cut:table", SHAPES["table"](), edge(SHAPES["table"](), 40)), {}),
    (lambda: cut_case("holes:figure", MORE_SHAPES["figure"](),
                      edge(MORE_SHAPES["figure"](), 40), hole=0.01), {}),
    (lambda: cut_case("holes:mug", MORE_SHAPES["mug"](), edge(MORE_SHAPES["mug"](), 40),
                      hole=0.01), {"straighten_interfaces": True}),
], ids=["table", "figure_with_holes", "mug_with_holes_interfaces_straightened"])
def test_objects_cut_by_their_known_parts_come_back_one_closed_solid_per_part(
        engine, tmp_path, case, params):
    case = case()
    result = complete(engine, write_glb(case.scene(), tmp_path / "parts.glb"), params)
    assert_completed(result, case)


@pytest.mark.parametrize(("shape", "seed"), [("snowman", 1), ("mug", 2), ("figure", 3)])
def test_generated_like_soups_come_back_one_closed_solid_per_part(engine, tmp_path, shape,
                                                                  seed):
    """Overlapping unfused surfaces, bumps, holes, ragged and scattered labels, faces wound
    the wrong way and floating debris."""
    primitives = {**SHAPES, **MORE_SHAPES}[shape]()
    case = generated_case(f"generated:{shape}", primitives, seed, edges_per_diagonal=60)
    result = complete(engine, write_glb(case.scene(), tmp_path / "soup.glb"))
    assert_completed(result, case)


def test_the_default_part_completion_is_volumetric_and_hole_filling_stays_available():
    registry = default_registry()
    assert registry.find("part_completion").id == "volumetric"
    assert registry.find("part_completion", "fill_parts").id == "fill_parts"


def looks_snowman(tmp_path: Path) -> tuple[Path, Case]:
    """Base textured (top half of the texture green, bottom half blue, V running up the
    ball), middle ball with vertex colours (red above its centre, yellow below), head in a
    plain material."""
    primitives = snowman()
    case = cut_case("looks", primitives, edge(primitives, 40))
    base, middle, head = (case.parts[f"part_{i:02d}"] for i in range(3))
    z = base.vertices[:, 1]
    uv = np.stack([np.full(len(z), 0.5), (z - z.min()) / np.ptp(z)], axis=1)
    texture = np.zeros((64, 64, 3), dtype=np.uint8)
    texture[:32] = (0, 200, 0)  # image rows run top-down: V above one half
    texture[32:] = (0, 0, 200)
    base.visual = trimesh.visual.TextureVisuals(uv=uv, material=trimesh.visual.material.PBRMaterial(
        name="painted", baseColorTexture=Image.fromarray(texture)))
    above = middle.vertices[:, 1] > 1.55
    middle.visual = trimesh.visual.ColorVisuals(vertex_colors=np.where(
        above[:, None], [220, 20, 20, 255], [230, 200, 0, 255]).astype(np.uint8))
    head.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
        name="coal", baseColorFactor=[30, 30, 30, 255]))
    return write_glb(case.scene(), tmp_path / "looks.glb"), case


def test_each_part_keeps_its_look_and_its_hidden_side_takes_the_nearest_colour(
        engine, tmp_path):
    source, case = looks_snowman(tmp_path)
    result = complete(engine, source)
    assert_completed(result, case)
    parts = dict(scene_parts(read_scene(result.output_file_path)))
    base, middle, head = parts["part_00"], parts["part_01"], parts["part_02"]
    # the base's hidden top (its interface with the middle ball: the disk at y = 0.94,
    # radius 0.34) is green
    texture = np.asarray(base.visual.material.baseColorTexture.convert("RGB"))
    top = np.abs(base.vertices[:, 1] - 0.94) < 0.04
    top &= np.linalg.norm(base.vertices[:, [0, 2]], axis=1) < 0.3
    assert top.sum() > 20
    rows = ((1.0 - base.visual.uv[top, 1]) * (len(texture) - 1)).round().astype(int)
    assert (texture[rows, 32] == (0, 200, 0)).all()
    # the middle ball's hidden top (the disk at y = 2.21) is red, its hidden bottom yellow
    colours = np.asarray(middle.visual.vertex_colors)[:, :3]
    inner = np.linalg.norm(middle.vertices[:, [0, 2]], axis=1) < 0.25
    assert (colours[inner & (middle.vertices[:, 1] > 1.9)] == (220, 20, 20)).all()
    assert (colours[inner & (middle.vertices[:, 1] < 1.2)] == (230, 200, 0)).all()
    assert list(head.visual.material.baseColorFactor) == [30, 30, 30, 255]


def test_a_part_in_two_pieces_and_a_sheet_are_warnings_not_silent_successes(engine, tmp_path):
    eye = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    eyes = trimesh.util.concatenate([eye.copy().apply_translation((x, 0, 0)) for x in (-1, 1)])
    body = trimesh.creation.box(extents=(3.0, 1.0, 1.0)).apply_translation((0, -1.2, 0))
    sheet = trimesh.Trimesh([[-1, 2, -1], [1, 2, -1], [1, 2, 1], [-1, 2, 1]],
                            [[0, 2, 1], [0, 3, 2]])
    scene = trimesh.Scene()
    for name, mesh in {"body": body, "eyes": eyes, "sheet": sheet}.items():
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    result = complete(engine, write_glb(scene, tmp_path / "odd.glb"))
    assert result.status == "succeeded", result.error
    assert_valid_glb(result.output_file_path)
    assert result.warnings == [
        "eyes is 2 separate solids, not one: its pieces do not touch inside the object.",
        "sheet encloses no volume of its own (a thin sheet, or faces inside other parts), "
        "so its holes were filled instead of rebuilding it."]
    rows = {r["name"]: r for r in report_rows(result)}
    assert rows["eyes"]["components"] == 2 and rows["body"]["components"] == 1
    assert rows["sheet"]["method"].startswith("hole filling")
    assert result.stats["single_solid_parts"] == 1


def test_progress_goes_part_by_part_and_cancel_stops_between_parts(engine, tmp_path):
    events = []
    engine.subscribe(events.append)
    primitives = MORE_SHAPES["ball_with_bumps"]()
    source = write_glb(cut_case("bumps", primitives, edge(primitives, 60)).scene(),
                       tmp_path / "bumps.glb")
    job = engine.submit("part_completion", [engine.stage(source)])
    deadline = time.monotonic() + 300
    while not any(e.kind == "progress" and e.job_id == job and "rebuilding" in e.stage
                  for e in list(events)):
        assert time.monotonic() < deadline, "no part was ever being rebuilt"
        time.sleep(0.05)
    engine.cancel(job)
    result = engine.wait(job, 120)
    assert result.status == "cancelled" and result.error.code == ErrorCode.CANCELLED
    scene = trimesh.Scene()
    for name, x in (("left", -0.6), ("right", 0.6)):
        scene.add_geometry(trimesh.creation.box().apply_translation((x, 0, 0)), node_name=name,
                           geom_name=name)
    done = complete(engine, write_glb(scene, tmp_path / "two.glb"))
    assert done.status == "succeeded", done.error
    mine = [e for e in events if e.kind == "progress" and e.job_id == done.job_id]
    fractions = [e.fraction for e in mine]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"rebuilding left", "rebuilding right"} <= {e.stage for e in mine}


@pytest.mark.parametrize("adapter", ["volumetric", "fill_parts"])
def test_bad_inputs_get_one_sentence(engine, tmp_path, adapter):
    ply = tmp_path / "box.ply"
    trimesh.creation.box().export(ply)
    result = complete(engine, ply, adapter=adapter)
    assert result.status == "failed" and result.error.code == ErrorCode.INVALID_INPUT
    assert result.error.message == (
        "box.ply is a PLY file, which has no parts; part completion needs a segmented GLB "
        "with one node per part (run mesh segmentation first).")
    (tmp_path / "empty.glb").write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"^empty\.glb is empty\.$"):
        engine.stage(tmp_path / "empty.glb")


def test_what_reading_the_input_left_out_is_a_warning(engine, tmp_path):
    box = trimesh.creation.box()
    box.visual = trimesh.visual.TextureVisuals(
        uv=np.zeros((len(box.vertices), 2)), material=trimesh.visual.material.PBRMaterial(
            baseColorTexture=Image.new("RGB", (8, 8), (200, 0, 0))))
    result = complete(engine, write_glb(trimesh.Scene(box), tmp_path / "flat_uv.glb"))
    assert result.status == "succeeded", result.error
    assert result.warnings == ["flat_uv.glb has texture coordinates that are all the same "
                               "point, so they were treated as missing."]
