"""Hunyuan3D-2 end to end on the CPU, through hy3dgen's real code: tiny random-weight models in
Tencent's on-disk layout (tests/adapters/hunyuan_models.py), loaded by the adapter's own
``from_single_file`` call in a real worker process, denoised step by step, decoded, post-
processed by hy3dgen's pymeshlab filters, written as a GLB the Khronos validator checks.

THE GEOMETRY MEANS NOTHING: the weights are random. These tests prove the path (progress per
denoising step, cancel mid-denoise, a valid GLB, the stats and licence each result records,
multi-view input, painting, offload wiring, the sentences for no surface and a missing
hy3dgen), never the shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trimesh
from PIL import Image, ImageDraw

from adapters.hunyuan3d._pipeline import INSTALL_HINT, NO_SURFACE
from engine.errors import MeshsmithError
from engine.runtime.engine import Engine
from engine.storage.model_catalog import HUNYUAN_TERMS
from tests.adapters.hunyuan_models import build_hunyuan
from tests.adapters.test_neural import Recorder, check_run, glb_attributes, picture

pytestmark = pytest.mark.slow
QUICK = {"steps": 3, "octree_resolution": 32, "seed": 11, "max_faces": 2000}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-hunyuan")
    models = {m: build_hunyuan(root, m) for m in
              ("hunyuan3d-2mini-turbo", "hunyuan3d-2mini", "hunyuan3d-2mv")}
    models["no-surface"] = build_hunyuan(root / "empty", "hunyuan3d-2mini", no_surface=True)
    return models


@pytest.fixture
def engine(warm_engine: Engine) -> Engine:
    """Here ``engine`` is the module's shared one (tests/conftest.py): its warm hunyuan3d
    worker serves every job. A test that needs a worker of its own takes ``fresh_engine``."""
    return warm_engine


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def on_white(path: Path, color: tuple[int, int, int] = (40, 90, 200)) -> Path:
    """A plain RGB picture: an ellipse on white, no transparency to go by."""
    image = Image.new("RGB", (96, 96), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((20, 12, 75, 85), fill=color)
    image.save(path)
    return path


def test_the_turbo_model_makes_a_valid_glb_with_progress_per_step(engine, tiny, tmp_path):
    progress = Recorder(engine)
    staged = engine.stage(picture(tmp_path / "ellipse.png"))
    job = engine.submit("image_to_raw_mesh", [staged], adapter="hunyuan3d", params={
        "model": str(tiny["hunyuan3d-2mini-turbo"]), **QUICK})
    result = engine.wait(job, 300)
    report = check_run(result, megabytes_on_gpu=False)
    assert report["numErrors"] == 0  # assert_valid_glb checked it; said here for the reader
    stats = result.stats
    assert (stats["steps"], stats["octree_resolution"], stats["seed"]) == (3, 32, 11)
    assert stats["background"] == "alpha" and stats["views"] == ["front"]
    assert stats["licence"] == "Tencent Hunyuan 3D 2.0 Community"
    assert stats["licence_terms"] == HUNYUAN_TERMS
    assert stats["faces"] <= 2000 or result.warnings
    assert stats["faces_generated"] >= stats["faces"]
    stages = [stage for stage, _ in progress.stages[job]]
    denoising = [s for s in stages if s.startswith("denoising step")]
    assert denoising == [f"denoising step {i}/3" for i in range(4)]
    for stage in ("loading the model", "decoding the volume", "extracting the surface",
                  "removing floaters", "removing degenerate faces", "reducing to 2000 faces"):
        assert stage in stages, stages
    assert stages[-1] == "done"
    fractions = [f for _, f in progress.stages[job]]
    assert fractions == sorted(fractions)
    mesh = trimesh.load(result.output_file_path, force="mesh")
    assert max(mesh.extents) == pytest.approx(1.0, abs=1e-3)  # normalized like every generator


def test_cancel_stops_in_the_middle_of_denoising_and_keeps_the_worker(engine, tiny, tmp_path):
    progress = Recorder(engine)
    workers_before: list[int] = []

    def cancel_at_step_two(event) -> None:
        if event.stage == "denoising step 2/200" and not workers_before:
            workers_before.extend(engine.worker_pids())
            engine.cancel(event.job_id)

    progress.on_progress = cancel_at_step_two
    staged = engine.stage(picture(tmp_path / "ellipse.png"))
    job = engine.submit("image_to_raw_mesh", [staged], adapter="hunyuan3d", params={
        "model": str(tiny["hunyuan3d-2mini"]), **QUICK, "steps": 200})
    result = engine.wait(job, 300)
    assert result.status == "cancelled"
    stages = [s for s, _ in progress.stages[job]]
    assert "decoding the volume" not in stages
    assert sum(s.startswith("denoising step") for s in stages) < 50  # of 200: mid-denoise
    assert set(engine.worker_pids()) & set(workers_before)  # stopped between steps, not killed


def test_textured_results_are_the_shape_painted_with_the_picture(engine, tiny, tmp_path):
    # the shared worker, warmed by the raw-mesh tests, takes the painted job with its own
    # parameters (texture_size is the painted feature's only)
    staged = engine.stage(on_white(tmp_path / "plain.png"))
    job = engine.submit("image_to_textured_mesh", [staged], adapter="hunyuan3d", params={
        "model": str(tiny["hunyuan3d-2mini-turbo"]), **QUICK, "texture_size": 256})
    result = engine.wait(job, 300)
    check_run(result, megabytes_on_gpu=False)
    assert result.stats["background"] == "grabcut"  # cut out of the plain background
    assert result.stats["painting"]["by"] == "projection"
    assert result.stats["painting"]["texture_size"] == [256, 256]
    assert {"POSITION", "TEXCOORD_0"} <= glb_attributes(result.output_file_path)


def test_the_multi_view_model_takes_the_views_it_is_given(engine, tiny, tmp_path):
    views = [engine.stage(on_white(tmp_path / f"{name}.png", color))
             for name, color in (("front", (200, 40, 30)), ("left", (30, 160, 40)),
                                 ("back", (40, 40, 200)))]
    job = engine.submit("image_to_raw_mesh", views, adapter="hunyuan3d", params={
        "model": str(tiny["hunyuan3d-2mv"]), **QUICK, "views": "front,left,back"})
    result = engine.wait(job, 300)
    check_run(result, megabytes_on_gpu=False)
    assert result.stats["views"] == ["front", "left", "back"] and result.warnings == []
    # A single-view model given several pictures uses the first and says so.
    job = engine.submit("image_to_raw_mesh", views[:2], adapter="hunyuan3d", params={
        "model": str(tiny["hunyuan3d-2mini-turbo"]), **QUICK})
    result = engine.wait(job, 300)
    check_run(result, megabytes_on_gpu=False)
    assert result.warnings == ["This model takes one picture; the other 1 were not used "
                               "(hunyuan3d-2mv takes several views)."]


def test_more_pictures_than_views_is_refused(engine, tmp_path):
    pictures = [engine.stage(on_white(tmp_path / f"{i}.png", (i * 40, 60, 90)))
                for i in range(5)]
    with pytest.raises(MeshsmithError, match=r"takes 1 to 4 input\(s\), not 5"):
        engine.submit("image_to_raw_mesh", pictures, adapter="hunyuan3d")
    with pytest.raises(MeshsmithError, match=r"takes 1 input\(s\), not 2"):
        engine.submit("image_to_raw_mesh", pictures[:2], adapter="depth_relief")


def test_a_field_with_no_surface_fails_with_one_sentence(engine, tiny, tmp_path):
    staged = engine.stage(picture(tmp_path / "ellipse.png"))
    result = engine.wait(engine.submit("image_to_raw_mesh", [staged], adapter="hunyuan3d",
                                       params={"model": str(tiny["no-surface"]), **QUICK}), 300)
    assert result.status == "failed" and result.error.message == NO_SURFACE


def test_a_missing_model_says_how_to_download_it(engine, tmp_path):
    staged = engine.stage(picture(tmp_path / "ellipse.png"))
    result = engine.wait(engine.submit("image_to_raw_mesh", [staged], adapter="hunyuan3d"), 300)
    assert result.status == "failed"
    assert result.error.message == (
        "The Hunyuan3D-2mini Turbo model is not installed; run `python main.py models "
        "download hunyuan3d-2mini-turbo` on a machine with internet, or import its folder on "
        "the Models page.")


def test_a_worker_without_hy3dgen_fails_the_job_with_how_to_install_it(fresh_engine, tmp_path,
                                                                      monkeypatch):
    """Workers start fresh (spawn) on this process's sys.path: a package named hy3dgen that
    is not there, first on the path, is what a machine without the optional part has."""
    shadow = tmp_path / "shadow" / "hy3dgen"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'hy3dgen'\", name='hy3dgen')\n")
    monkeypatch.syspath_prepend(str(shadow.parent))
    staged = fresh_engine.stage(picture(tmp_path / "ellipse.png"))
    job = fresh_engine.submit("image_to_raw_mesh", [staged], adapter="hunyuan3d")
    result = fresh_engine.wait(job, 300)
    assert result.status == "failed"
    assert result.error.message == INSTALL_HINT.format(missing="hy3dgen")


# ------------------------------------------------------------------ in-process checks
def _run(tiny: dict[str, Path], image: Path, out: Path, **params):
    from adapters.hunyuan3d import HunyuanAdapter, HunyuanParams
    from engine.contract.protocol import RunContext

    adapter = HunyuanAdapter()
    adapter.load("cpu")
    chosen = HunyuanParams(model=str(tiny["hunyuan3d-2mini-turbo"]), **{**QUICK, **params})
    return adapter.run([image], RunContext("job", "cpu", out, chosen, lambda s, f: None))


def test_a_plain_background_is_cut_out_unless_told_not_to(tiny, tmp_path):
    image = on_white(tmp_path / "plain.png")
    assert _run(tiny, image, tmp_path).stats["background"] == "grabcut"
    kept = _run(tiny, image, tmp_path, remove_background="never")
    assert kept.stats["background"] == "none"


def test_offloaded_pipelines_make_the_same_shape(tiny, tmp_path):
    """The offload hooks (accelerate) wired as on a small GPU, with the CPU as the execution
    device: same seed, same faces as the pipeline kept whole."""
    from adapters._shared.memory import MemoryPlan
    from adapters.hunyuan3d._pipeline import generate, load
    from engine.contract.protocol import RunContext
    from engine.storage.models import ModelStore

    status = ModelStore().status(str(tiny["hunyuan3d-2mini-turbo"]))
    image = Image.open(picture(tmp_path / "ellipse.png"))
    ctx = RunContext("job", "cpu", tmp_path, None, lambda s, f: None)  # type: ignore[arg-type]
    faces = {}
    for offload in ("none", "model", "sequential"):
        pipe, _ = load(status, "cpu", MemoryPlan("fp32", offload, "test"))
        hooked = [hasattr(m, "_hf_hook") for m in (pipe.conditioner, pipe.model, pipe.vae)]
        assert hooked == [offload != "none"] * 3
        faces[offload] = len(generate(pipe, image, ctx, steps=2, guidance=5.0, octree=24,
                                      seed=3).faces)
    assert faces["model"] == faces["sequential"] == faces["none"] > 0


@pytest.mark.parametrize("missing", ["hy3dgen", "einops", "pymeshlab", "skimage"])
def test_without_hy3dgen_the_adapter_says_how_to_install_it(monkeypatch, missing):
    from adapters.hunyuan3d import HunyuanAdapter

    for name in [n for n in sys.modules if n.split(".")[0] in ("hy3dgen", missing)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)  # what an interpreter without it does
    with pytest.raises(MeshsmithError) as caught:
        HunyuanAdapter().load("cpu")
    assert caught.value.message == INSTALL_HINT.format(missing=missing)
    assert caught.value.message.startswith("Hunyuan3D-2 needs the optional hy3dgen package")
    assert "`make setup-hunyuan`" in caught.value.message
