"""image_mesh_painting by projection, through the real engine and worker processes: the side
the camera sees takes the picture's colours, the hidden side is filled from them (no black,
no empty texels), the mesh's own UVs are kept when usable, xatlas lays out the others."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw

from engine.errors import ErrorCode
from tests.support.gltf_validator import assert_valid_glb

pytestmark = pytest.mark.slow

RED, BLUE, GREEN, YELLOW = (220, 30, 30), (30, 30, 220), (30, 200, 60), (230, 210, 30)


@pytest.fixture
def engine(warm_engine):
    """Here ``engine`` is the module's shared one (tests/conftest.py): its warm workers
    serve every job, as in the studio; each test looks at its own jobs only."""
    return warm_engine


@pytest.fixture
def split_png(tmp_path: Path) -> Path:
    """Left half red, right half blue."""
    pixels = np.zeros((256, 256, 3), np.uint8)
    pixels[:, :128], pixels[:, 128:] = RED, BLUE
    path = tmp_path / "split.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def quadrants_png(tmp_path: Path) -> Path:
    """A 2 × 2 checker: red, green over blue, yellow."""
    pixels = np.zeros((200, 200, 3), np.uint8)
    pixels[:100, :100], pixels[:100, 100:] = RED, GREEN
    pixels[100:, :100], pixels[100:, 100:] = BLUE, YELLOW
    path = tmp_path / "quadrants.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def sphere_obj(tmp_path: Path) -> Path:
    path = tmp_path / "sphere.obj"
    trimesh.creation.icosphere(subdivisions=4, radius=1.0).export(path)
    return path


@pytest.fixture
def uv_box_glb(tmp_path: Path) -> Path:
    """A finely triangulated box with its own non-overlapping UV atlas (made by xatlas here)."""
    import xatlas

    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0)).subdivide().subdivide().subdivide()
    vmapping, indices, uvs = xatlas.parametrize(box.vertices, box.faces)
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.new("RGB", (64, 64), (128, 128, 128)))
    mesh = trimesh.Trimesh(box.vertices[vmapping], indices, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uvs, material=material))
    path = tmp_path / "box.glb"
    mesh.export(path)
    return path


def paint(engine, mesh: Path, picture: Path, timeout: float = 180, **params):
    job = engine.submit("image_mesh_painting", [engine.stage(mesh), engine.stage(picture)],
                        adapter="project", params=params)
    return engine.wait(job, timeout)


def painted(result) -> tuple[trimesh.Trimesh, np.ndarray, np.ndarray]:
    """The GLB read back, its texture, and the texture's colour at every vertex."""
    assert result.status == "succeeded", result.error
    report = assert_valid_glb(result.output_file_path)
    assert report["info"]["hasTextures"] and report["info"]["maxUVs"] == 1
    mesh = trimesh.load(result.output_file_path, force="mesh", process=False)
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")).astype(float)
    uv = np.asarray(mesh.visual.uv)
    height, width = texture.shape[:2]
    cols = np.clip((uv[:, 0] * width).astype(int), 0, width - 1)
    rows = np.clip(((1 - uv[:, 1]) * height).astype(int), 0, height - 1)
    return mesh, texture, texture[rows, cols]


def near(colours: np.ndarray, colour: tuple[int, int, int], tolerance: float = 45) -> np.ndarray:
    return np.abs(colours - np.array(colour)).sum(axis=1) < tolerance


def test_front_projection_colours_the_seen_side_and_fills_the_hidden_side(
        engine, sphere_obj, split_png):
    result = paint(engine, sphere_obj, split_png)
    mesh, texture, colours = painted(result)
    assert result.stats["uv_source"] == "xatlas" and result.stats["fit"] == "frame"
    assert 0.3 < result.stats["seen_fraction"] < 0.6  # about the front half of the sphere
    v = np.asarray(mesh.vertices)
    front, back = v[:, 2] > 0.5, v[:, 2] < -0.5
    assert near(colours[front & (v[:, 0] < -0.1)], RED).mean() > 0.97
    assert near(colours[front & (v[:, 0] > 0.1)], BLUE).mean() > 0.97
    # the hidden side is filled from the seen one round the surface: its left stays reddish,
    # its right bluish, and nothing is black or empty anywhere in the atlas
    hidden_left, hidden_right = colours[back & (v[:, 0] < -0.3)], colours[back & (v[:, 0] > 0.3)]
    assert (hidden_left[:, 0] > hidden_left[:, 2]).mean() > 0.95
    assert (hidden_right[:, 2] > hidden_right[:, 0]).mean() > 0.95
    assert texture.sum(axis=2).min() > 150


def test_side_view_on_a_mesh_with_its_own_uvs_keeps_them(engine, uv_box_glb, quadrants_png):
    before = trimesh.load(uv_box_glb, force="mesh", process=False)
    result = paint(engine, uv_box_glb, quadrants_png, view="right")
    mesh, texture, colours = painted(result)
    assert result.stats["uv_source"] == "mesh" and len(mesh.faces) == len(before.faces)
    np.testing.assert_allclose(np.asarray(mesh.visual.uv), np.asarray(before.visual.uv),
                               atol=1e-6)
    v = np.asarray(mesh.vertices)
    # From +X the camera's right is −Z and its up +Y: the picture's top-left quadrant lands
    # on the +X face where z > 0 and y > 0.
    face = v[:, 0] > 0.499
    for (z_sign, y_sign), colour in {(1, 1): RED, (-1, 1): GREEN, (1, -1): BLUE,
                                     (-1, -1): YELLOW}.items():
        quarter = face & (z_sign * v[:, 2] > 0.2) & (y_sign * v[:, 1] > 0.2)
        assert quarter.any() and near(colours[quarter], colour).mean() > 0.95, colour
    assert texture.sum(axis=2).min() > 60  # filled: no black texel anywhere


def test_object_picture_fits_its_object_and_perspective_custom_view_works(engine, sphere_obj,
                                                                          tmp_path):
    picture = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(picture).ellipse([100, 50, 200, 150], fill=(*GREEN, 255))
    path = tmp_path / "green.png"
    picture.save(path)
    result = paint(engine, sphere_obj, path, view="custom", azimuth=30, elevation=20, fov=45)
    colours = painted(result)[2]
    assert result.stats["fit"] == "object" and result.stats["view"] == [30, 20]
    assert near(colours, GREEN).mean() > 0.97  # no transparent black reaches the sphere


def test_progress_and_cancel(engine, sphere_obj, split_png):
    stages: list[str] = []
    once = threading.Event()

    def listen(event) -> None:
        if event.kind == "progress":
            stages.append(event.stage)
            if event.stage == "laying out the UV atlas" and not once.is_set():
                once.set()
                engine.cancel(event.job_id)

    engine.subscribe(listen)
    result = paint(engine, sphere_obj, split_png, texture_size=4096)
    assert result.status == "cancelled" and result.error.code == ErrorCode.CANCELLED
    assert "reading the mesh and the picture" in stages
