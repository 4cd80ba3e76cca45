"""The neural adapters (Shap-E, Shap-E image-to-3D, Depth Anything relief) end to end: tiny
random-weight models built in the test, saved with ``save_pretrained`` in the layout a download
leaves (Shap-E's: fp16 safetensors and the renderer as a pickle), loaded by the adapter's own
``from_pretrained`` code in a real worker process, the GLB checked by the Khronos validator.

Their geometry means nothing (the Shap-E fixture draws an egg whatever the prompt); the tests
prove the path: valid GLB, progress per step, cancel between steps, timings, VRAM, unload,
and the sentence a job gets when its model is missing. On a machine with a GPU the engine
puts these jobs on CUDA (fp16), and the same assertions hold there.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw

from engine.errors import MeshsmithError
from engine.jobs import JobResult
from engine.storage.models import ModelStore
from engine.storage.paths import DataDir
from tests.adapters.neural_models import build_depth_anything, build_shap_e
from tests.conftest import ROOT
from tests.support.gltf_validator import assert_valid_glb

pytestmark = pytest.mark.slow
MISSING_SHAP_E = ("The Shap-E model is not installed; run `python main.py models download "
                  "shap-e` on a machine with internet, or import its folder on the Models page.")
QUICK = {"steps": 3, "mesh_resolution": 32, "seed": 7}


@pytest.fixture(scope="session")
def built_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {"shap-e": build_shap_e(root), "shap-e-img2img": build_shap_e(root, image=True),
            "depth": build_depth_anything(root)}


@pytest.fixture
def tiny_models(built_models: dict[str, Path], data_dir: DataDir) -> dict[str, Path]:
    """The tiny models, with the artist's permission for the Shap-E renderers' pickles
    (remembered in this test's data directory, as the Models page would)."""
    store = ModelStore(data_dir)
    for name in ("shap-e", "shap-e-img2img"):
        store.allow_pickle(str(built_models[name]))
    return built_models


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers must not find models this machine happens to have in its own HF cache."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class Recorder:
    """Progress events of one engine, by job (the callback runs on the engine thread)."""

    def __init__(self, engine) -> None:
        self.stages: dict[str, list[tuple[str, float]]] = {}
        self.lock = threading.Lock()
        self.on_progress = None
        engine.subscribe(self)

    def __call__(self, event) -> None:
        if event.kind == "progress":
            with self.lock:
                self.stages.setdefault(event.job_id, []).append((event.stage, event.fraction))
            if self.on_progress is not None:
                self.on_progress(event)


def picture(path: Path, size: tuple[int, int] = (120, 80)) -> Path:
    """A red ellipse, twice as wide as tall, on a transparent background."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((10, 20, 109, 69), fill=(200, 40, 30, 255))
    image.save(path)
    return path


def glb_attributes(path: str) -> set[str]:
    """The vertex attributes the GLB's meshes declare (read from its JSON chunk)."""
    data = Path(path).read_bytes()
    length = int.from_bytes(data[12:16], "little")
    document = json.loads(data[20:20 + length])
    return {name for mesh in document["meshes"] for primitive in mesh["primitives"]
            for name in primitive["attributes"]}


def check_run(result: JobResult, *, megabytes_on_gpu: bool = True) -> dict:
    """What every successful neural job shares: valid GLB, timings, device and VRAM (on a GPU
    the worker measures it; a tiny model may peak under the 1 MB the result counts in)."""
    assert result.status == "succeeded", result.error
    report = assert_valid_glb(result.output_file_path)
    assert result.timings.run_s > 0 and result.timings.total_s >= result.timings.run_s
    if result.worker.device.startswith("cuda"):
        assert result.worker.peak_vram_mb > 0 or not megabytes_on_gpu, result.worker
        assert result.stats["precision"] == "fp16", result.stats  # the tiny models fit
    else:
        assert result.worker.device == "cpu" and result.worker.peak_vram_mb == 0
        assert result.stats["precision"] == "fp32" and result.stats["offload"] == "none"
        assert result.stats["memory_plan"] == "on the CPU"
    return report


def test_text_to_textured_mesh_makes_an_upright_coloured_shape(engine, tiny_models):
    progress = Recorder(engine)
    job = engine.submit("text_to_textured_mesh", [], params={
        "prompt": "a red egg", "model": str(tiny_models["shap-e"]), **QUICK})
    result = engine.wait(job, 120)
    check_run(result)
    assert result.adapter == "shap_e" and result.stats["vertex_colors"] is True
    assert result.stats["seed"] == 7 and result.stats["steps"] == 3
    mesh = trimesh.load(result.output_file_path, force="mesh")
    assert mesh.is_watertight and mesh.volume > 0  # closed, faces outwards
    # The egg is long along Shap-E's Y (its front-back axis): here that is Z, facing the viewer.
    extents = mesh.extents
    assert extents[2] == pytest.approx(1.0, abs=0.02) and extents[0] < 0.65 * extents[2]
    # Red follows Shap-E's Z (up), which must now be +Y; blue follows X, which stays X.
    colors = np.asarray(mesh.visual.vertex_colors, dtype=float)
    assert np.corrcoef(colors[:, 0], mesh.vertices[:, 1])[0, 1] > 0.9
    assert np.corrcoef(colors[:, 2], mesh.vertices[:, 0])[0, 1] > 0.9
    stages = [stage for stage, _ in progress.stages[job]]
    assert stages[:2] == ["starting", "loading the model"]
    assert [s for s in stages if s.startswith("denoising")][-1] == "denoising step 3/3"
    assert "extracting the surface" in stages and stages[-1] == "done"
    fractions = [f for _, f in progress.stages[job]]
    assert fractions == sorted(fractions)


def test_the_shap_e_fixture_is_what_a_download_of_openai_shap_e_leaves(built_models):
    from engine.storage.model_catalog import SHAP_E_FILES, SHAP_E_IMG2IMG_FILES
    from tests.support.hub_layouts import SHAP_E_REPO, fetched

    assert fetched(built_models["shap-e"]) == set(SHAP_E_FILES) < set(SHAP_E_REPO)
    assert fetched(built_models["shap-e-img2img"]) == set(SHAP_E_IMG2IMG_FILES)


def test_the_renderer_pickle_loads_only_once_allowed_for_that_model(engine, built_models,
                                                                   data_dir):
    folder = built_models["shap-e"]
    ModelStore(data_dir).allow_pickle(str(folder), False)
    result = engine.wait(engine.submit("text_to_raw_mesh", [], params={
        "prompt": "egg", "model": str(folder), **QUICK}), 120)
    assert result.status == "failed"
    assert result.error.message == (
        "The shap-e model's shap_e_renderer weights are a pickle file "
        "(diffusion_pytorch_model.bin), which can run code when it is loaded; allow it once on "
        f"the Models page or with `python main.py models allow {folder}`.")
    ModelStore(data_dir).allow_pickle(str(folder))
    check_run(engine.wait(engine.submit("text_to_raw_mesh", [], params={
        "prompt": "egg", "model": str(folder), **QUICK}), 120))


def test_the_folder_imported_for_a_model_loads_when_the_worker_starts(engine, data_dir,
                                                                     built_models):
    ModelStore(data_dir).import_folder("shap-e", built_models["shap-e"], allow_pickle=True)
    progress = Recorder(engine)
    first = engine.wait(engine.submit("text_to_raw_mesh", [], params={"prompt": "egg", **QUICK}),
                        120)
    check_run(first)
    # Loaded in load(), before the job ran: the job itself loaded nothing.
    assert first.timings.load_s > 0
    assert "loading the model" not in [s for s, _ in progress.stages[first.job_id]]
    assert first.stats["vertex_colors"] is False
    assert "COLOR_0" not in glb_attributes(first.output_file_path)
    # The warm worker serves the coloured feature too, without loading anything again.
    second = engine.wait(engine.submit("text_to_textured_mesh", [], params={
        "prompt": "egg", **QUICK}), 120)
    check_run(second)
    assert second.stats["vertex_colors"] is True and second.timings.load_s == 0
    assert "COLOR_0" in glb_attributes(second.output_file_path)
    assert "loading the model" not in [s for s, _ in progress.stages[second.job_id]]


def test_cancel_stops_between_denoising_steps_and_keeps_the_worker(engine, tiny_models):
    progress = Recorder(engine)
    workers_before: list[int] = []

    def cancel_at_step_two(event) -> None:
        if event.stage.startswith("denoising step 2/") and not workers_before:
            workers_before.extend(engine.worker_pids())
            engine.cancel(event.job_id)

    progress.on_progress = cancel_at_step_two
    job = engine.submit("text_to_raw_mesh", [], params={
        "prompt": "egg", "model": str(tiny_models["shap-e"]), "steps": 256})
    result = engine.wait(job, 120)
    assert result.status == "cancelled"
    stages = [s for s, _ in progress.stages[job]]
    assert "extracting the surface" not in stages
    assert sum(s.startswith("denoising step") for s in stages) < 100  # of 511: early
    # Cancelled between steps, not killed: the warm worker is the same process.
    assert set(engine.worker_pids()) & set(workers_before)


def test_a_missing_model_fails_with_one_sentence_that_says_how_to_get_it(engine):
    result = engine.wait(engine.submit("text_to_raw_mesh", [], params={"prompt": "egg"}), 120)
    assert result.status == "failed"
    assert result.error.message == MISSING_SHAP_E


def test_text_features_take_a_prompt_and_no_file(engine, box_obj):
    with pytest.raises(MeshsmithError, match="takes no input file"):
        engine.submit("text_to_raw_mesh", [engine.stage(box_obj)], params={"prompt": "egg"})
    with pytest.raises(MeshsmithError, match="prompt"):
        engine.submit("text_to_raw_mesh", [])


def test_shap_e_image_to_3d(engine, tiny_models, tmp_path):
    staged = engine.stage(picture(tmp_path / "ellipse.png"))
    job = engine.submit("image_to_raw_mesh", [staged], adapter="shap_e_img2img", params={
        "model": str(tiny_models["shap-e-img2img"]), "steps": 2, "mesh_resolution": 24})
    result = engine.wait(job, 120)
    check_run(result)
    assert isinstance(result.stats["seed"], int)  # none asked: a fresh one, recorded
    assert trimesh.load(result.output_file_path, force="mesh").is_watertight


def test_depth_relief_is_closed_and_keeps_the_pictures_outline(engine, tiny_models, tmp_path):
    progress = Recorder(engine)
    staged = engine.stage(picture(tmp_path / "ellipse.png"))
    job = engine.submit("image_to_raw_mesh", [staged], adapter="depth_relief", params={
        "model": str(tiny_models["depth"]), "resolution": 64})
    result = engine.wait(job, 120)
    check_run(result, megabytes_on_gpu=False)
    assert result.stats["foreground"] == "alpha" and result.stats["watertight"]
    mesh = trimesh.load(result.output_file_path, force="mesh")
    assert mesh.is_watertight and mesh.volume > 0
    width, height, thickness = mesh.extents
    assert width == pytest.approx(1.0, abs=0.01) and height == pytest.approx(0.5, abs=0.05)
    assert thickness == pytest.approx(0.25 + 0.03, abs=0.01)
    steps = [s for s, _ in progress.stages[job] if s == "estimating depth"]
    assert len(steps) >= 4  # one per transformer block of the backbone


def test_cli_runs_a_text_feature_with_no_input_and_explains_a_missing_model(tmp_path):
    env = {**os.environ, "MESHSMITH_HOME": str(tmp_path / "cli-home"),
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "run", "text_to_raw_mesh", "--param",
         "prompt=a chair", "--json"], capture_output=True, text=True, timeout=180, env=env,
        cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["error"]["message"] == MISSING_SHAP_E
    assert proc.stderr.strip().splitlines()[-1] == f"meshsmith: {MISSING_SHAP_E}"
    assert "Traceback" not in proc.stderr


def test_unload_lets_go_of_the_model(tiny_models, meshsmith_home):
    """In-process: after ``unload`` nothing holds the pipeline, so its memory can be freed."""
    import torch

    from adapters.shap_e import ShapEParams, ShapETextAdapter
    from engine.contract.protocol import RunContext

    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    DataDir(meshsmith_home).ensure()
    adapter = ShapETextAdapter()
    adapter.load(device)
    params = ShapEParams(prompt="egg", model=str(tiny_models["shap-e"]), steps=1,
                         mesh_resolution=16, seed=1)
    out = adapter.run([], RunContext("job", device, meshsmith_home, params, lambda s, f: None))
    assert len(out.mesh.faces) > 0
    pipeline = weakref.ref(adapter._slot.model)
    adapter.unload()
    gc.collect()
    assert pipeline() is None
