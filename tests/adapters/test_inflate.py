"""image_to_raw_mesh / image_to_textured_mesh by silhouette inflation, through the real engine
and worker processes: closed meshes, valid GLBs with embedded textures, the silhouette seen
from +Z matching the picture, thin parts kept, busy backgrounds refused in one sentence."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw

from adapters._shared.mask import BUSY
from engine.errors import ErrorCode
from engine.runtime.engine import Engine
from tests.support.gltf_validator import assert_valid_glb

pytestmark = pytest.mark.slow

WHITE, TEAL, CLEAR = (255, 255, 255), (40, 150, 160), None
SIZE = 512


class Drawing:
    """A picture and its exact foreground, drawn with the same strokes."""

    def __init__(self, background: tuple[int, int, int] | None) -> None:
        mode, fill = ("RGBA", (0, 0, 0, 0)) if background is None else ("RGB", background)
        self.picture = Image.new(mode, (SIZE, SIZE), fill)
        self.mask = Image.new("L", (SIZE, SIZE), 0)
        self.parts: dict[str, np.ndarray] = {}  # thin parts by name: their own pixels
        self.colours: set[tuple[int, int, int]] = set()

    def shape(self, kind: str, xy, colour, name: str | None = None) -> None:
        for canvas, fill in ((self.picture, colour), (self.mask, 255)):
            getattr(ImageDraw.Draw(canvas), kind)(xy, fill=fill)
        self.colours.add(colour)
        if name:
            part = Image.new("L", (SIZE, SIZE), 0)
            getattr(ImageDraw.Draw(part), kind)(xy, fill=255)
            self.parts[name] = np.asarray(part) > 0

    def save(self, path: Path) -> Path:
        self.picture.save(path)
        return path

    @property
    def truth(self) -> np.ndarray:
        return np.asarray(self.mask) > 0


def disc(background) -> Drawing:
    d = Drawing(background)
    d.shape("ellipse", [110, 110, 400, 400], (200, 40, 40))
    return d


def star(background) -> Drawing:
    d = Drawing(background)
    points = [(256 + r * math.cos(math.pi / 2 + k * math.pi / 5),
               256 - r * math.sin(math.pi / 2 + k * math.pi / 5))
              for k, r in enumerate([200, 85] * 5)]
    d.shape("polygon", points, (240, 190, 20))
    return d


def animal(background) -> Drawing:
    """A stylised dog: body, head, ear, four 12-pixel legs and a 10-pixel tail."""
    d, fur = Drawing(background), (120, 80, 40)
    d.shape("ellipse", [140, 180, 380, 300], fur)
    d.shape("ellipse", [340, 120, 440, 210], fur)
    d.shape("polygon", [(350, 140), (365, 95), (380, 135)], fur)
    for i, x in enumerate((170, 220, 300, 345)):
        d.shape("rectangle", [x, 270, x + 12, 420], fur, name=f"leg{i}")
    d.shape("polygon", [(150, 220), (60, 150), (68, 142), (158, 210)], fur, name="tail")
    d.shape("ellipse", [400, 150, 412, 162], (20, 20, 20))
    return d


def front_view(mesh: trimesh.Trimesh, truth: np.ndarray) -> np.ndarray:
    """The mesh seen from +Z (orthographic, looking down −Z, +Y up) rasterized into the
    picture's grid, its bounding box laid on the foreground's."""
    ys, xs = np.nonzero(truth)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    v = np.asarray(mesh.vertices)
    lo, hi = v[:, :2].min(axis=0), v[:, :2].max(axis=0)
    px = x0 + (v[:, 0] - lo[0]) / (hi[0] - lo[0]) * (x1 - x0)
    py = y0 + (hi[1] - v[:, 1]) / (hi[1] - lo[1]) * (y1 - y0)  # image rows go down
    image = Image.new("L", truth.shape[::-1], 0)
    draw = ImageDraw.Draw(image)
    faces = np.asarray(mesh.faces)
    facing = mesh.face_normals[:, 2] > 0  # the back repeats the front's outline
    for tri in np.stack([px, py], axis=1)[faces[facing]]:
        draw.polygon([tuple(p) for p in tri], fill=255)
    return np.asarray(image) > 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def run(engine, feature: str, picture: Path, timeout: float = 180, **params):
    job = engine.submit(feature, [engine.stage(picture)], adapter="inflate", params=params)
    return engine.wait(job, timeout)


CASES = [
    ("disc", WHITE), ("disc", CLEAR), ("star", TEAL), ("star", CLEAR),
    ("animal", WHITE), ("animal", TEAL), ("animal", CLEAR),
]


@pytest.mark.parametrize(("shape", "background"), CASES,
                         ids=[f"{s}-{'clear' if b is None else b}" for s, b in CASES])
def test_picture_becomes_a_closed_textured_mesh_with_the_picture_silhouette(
        engine, tmp_path, shape, background):
    drawing = {"disc": disc, "star": star, "animal": animal}[shape](background)
    result = run(engine, "image_to_textured_mesh", drawing.save(tmp_path / f"{shape}.png"))
    assert result.status == "succeeded", result.error
    report = assert_valid_glb(result.output_file_path)
    assert report["info"]["hasTextures"] and report["info"]["maxUVs"] == 1
    # closed as stored: front and back share their UVs, so glTF needs no seam vertices
    mesh = trimesh.load(result.output_file_path, force="mesh", process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    seen = front_view(mesh, drawing.truth)
    score = iou(seen, drawing.truth)
    print(f"IoU {shape} on {background}: {score:.4f}")
    assert score >= 0.85
    for name, pixels in drawing.parts.items():  # legs and tail: their pixels are covered
        assert seen[pixels].mean() > 0.9, name
    assert_texture_is_the_picture(mesh, drawing)


def assert_texture_is_the_picture(mesh: trimesh.Trimesh, drawing: Drawing) -> None:
    """Front and back show the object's colours everywhere, the rim included: no background
    colour (white, teal, or transparent black) leaks into the texture the mesh uses."""
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")).astype(int)
    uv = np.asarray(mesh.visual.uv)
    height, width = texture.shape[:2]
    cols = np.clip((uv[:, 0] * width).astype(int), 0, width - 1)
    rows = np.clip(((1 - uv[:, 1]) * height).astype(int), 0, height - 1)
    colours = texture[rows, cols]
    nearest = np.min([np.abs(colours - np.array(c)).sum(axis=1) for c in drawing.colours], axis=0)
    assert np.quantile(nearest, 0.99) < 40
    rim = np.abs(mesh.vertices[:, 2]) < 0.02 * np.ptp(mesh.vertices[:, 2])
    assert rim.any() and np.quantile(nearest[rim], 0.95) < 60


def test_raw_mesh_is_closed_untextured_and_thickness_scales_depth(engine, tmp_path):
    picture = star(WHITE).save(tmp_path / "star.png")
    progress: list[tuple[str, float]] = []
    engine.subscribe(lambda e: progress.append((e.stage, e.fraction))
                     if e.kind == "progress" else None)
    thin = run(engine, "image_to_raw_mesh", picture, thickness=0.5)
    fractions = [f for _, f in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"cutting out the object", "inflating the silhouette", "building the surface"} <= \
        {stage for stage, _ in progress}
    thick = run(engine, "image_to_raw_mesh", picture, thickness=2.0)
    assert thin.status == thick.status == "succeeded", (thin.error, thick.error)
    assert thin.timings.load_s > 0 and thick.timings.load_s == 0  # one warm worker
    report = assert_valid_glb(thin.output_file_path)
    assert not report["info"].get("hasTextures")
    meshes = [trimesh.load(r.output_file_path, force="mesh") for r in (thin, thick)]
    assert all(m.is_watertight for m in meshes)
    depth = [np.ptp(m.vertices[:, 2]) for m in meshes]
    assert 3.0 < depth[1] / depth[0] < 5.0  # z grows with thickness (√ profile, ×4 here)
    np.testing.assert_allclose(np.ptp(meshes[0].vertices[:, :2], axis=0).max(), 1.0, atol=0.02)


@pytest.mark.parametrize("kind", ["noise", "photo"])
def test_busy_background_is_refused_in_one_sentence(engine, tmp_path, kind):
    rng = np.random.default_rng(3)
    if kind == "noise":
        pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    else:  # smooth blobs of colour and light, like an out-of-focus room behind the object
        coarse = rng.uniform(0, 255, (12, 12, 3)).astype(np.uint8)
        pixels = np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.BICUBIC))
    picture = Image.fromarray(pixels)
    ImageDraw.Draw(picture).ellipse([150, 150, 360, 360], fill=(200, 40, 40))
    path = tmp_path / f"{kind}.png"
    picture.save(path)
    result = run(engine, "image_to_textured_mesh", path)
    assert result.status == "failed"
    assert result.error.code == ErrorCode.INVALID_INPUT and result.error.message == BUSY


@pytest.fixture
def patient_engine(data_dir, test_registry):
    """An engine whose cancel grace outlasts a loaded machine: the worker must stop by itself
    at its next cancel check, not be killed for missing a one-second grace."""
    eng = Engine(data_dir, registry=test_registry, cancel_grace_s=60.0).start()
    try:
        yield eng
    finally:
        eng.shutdown()


def test_progress_then_cancel_keeps_the_worker_for_both_features(patient_engine, tmp_path):
    engine = patient_engine
    big = Image.new("RGB", (1024, 1024), WHITE)
    ImageDraw.Draw(big).ellipse([100, 100, 920, 920], fill=(30, 90, 200))
    path = tmp_path / "big.png"
    big.save(path)
    stages: list[str] = []
    cut = threading.Event()

    def listen(event) -> None:
        if event.kind == "progress":
            stages.append(event.stage)
            if event.stage == "cutting out the object" and not cut.is_set():
                cut.set()
                engine.cancel(event.job_id)

    engine.subscribe(listen)
    job = engine.submit("image_to_raw_mesh", [engine.stage(path)], adapter="inflate",
                        params={"resolution": 1024})
    result = engine.wait(job, 120)
    assert result.status == "cancelled" and result.error.code == ErrorCode.CANCELLED
    assert stages[:2] == ["starting", "reading the picture"]
    pids = engine.worker_pids()
    # the same warm worker now serves the textured feature, and paints this time
    small = disc(WHITE).save(tmp_path / "disc.png")
    textured = run(engine, "image_to_textured_mesh", small)
    assert textured.status == "succeeded" and textured.timings.load_s == 0
    assert engine.worker_pids() == pids
    assert assert_valid_glb(textured.output_file_path)["info"]["hasTextures"]
    assert "texture_size" in textured.stats and textured.stats["foreground"] == "grabcut"
