"""GPU check for the neural models: the tiny Hunyuan3D-2 and Shap-E pipelines the tests build
(tests/adapters/hunyuan_models.py, tests/adapters/neural_models.py), loaded through the
adapters' own loaders on CUDA in each memory plan: fp16 kept whole, bf16 where the GPU has it,
model offload and sequential offload. Per plan: the peak VRAM torch saw while loading and
running, the wall time, the faces made, and whether the offload hooks were in place. Then one
job each through the real engine on cuda:0 (a worker process, the adapter's own plan), and a
forced offload, whose stats must say so.

The weights are random, so the meshes mean nothing; the figures say what each plan costs in
memory at this size and that every plan runs on a real GPU. The tiny models' peaks are far
below the real ones: they check the code path, the real models' peaks come from the engine's
observed-peak records.

``run()`` returns the report (a dict); benchmarks/gpu_check.py calls it, and this module runs
on its own too (its last stdout line is the JSON report):

    .venv/bin/python benchmarks/_gpu_models.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PLANS = (("fp16", "none"), ("bf16", "none"), ("fp16", "model"), ("fp16", "sequential"))


def run(device: str = "cuda:0") -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"ran": False, "reason": "torch sees no CUDA GPU: not yet run on a GPU"}
    torch.cuda.set_device(torch.device(device))
    report: dict[str, Any] = {
        "ran": True, "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
        "total_mb": torch.cuda.get_device_properties(device).total_memory // 2**20,
        "cases": []}
    with tempfile.TemporaryDirectory(prefix="meshsmith-gpu-models-") as tmp:
        root = Path(tmp)
        models = _build(root)
        for name, folder in models.items():
            for precision, offload in PLANS:
                if precision == "bf16" and not torch.cuda.is_bf16_supported():
                    continue
                report["cases"].append(_case(name, folder, precision, offload, device, root))
        report["engine"] = _engine_jobs(models, root)
    report["ok"] = all(c.get("faces", 0) > 0 and c["hooks_as_planned"]
                       for c in report["cases"]) and report["engine"]["ok"]
    return report


def _build(root: Path) -> dict[str, Path]:
    from tests.adapters.hunyuan_models import build_hunyuan
    from tests.adapters.neural_models import build_shap_e

    return {"hunyuan3d-2mini-turbo": build_hunyuan(root / "models", "hunyuan3d-2mini-turbo"),
            "hunyuan3d-2mini": build_hunyuan(root / "models", "hunyuan3d-2mini"),
            "shap-e": build_shap_e(root / "models")}


def _case(name: str, folder: Path, precision: str, offload: str, device: str, root: Path
          ) -> dict[str, Any]:
    import torch

    from adapters._shared.memory import MemoryPlan

    plan = MemoryPlan(precision, offload, "gpu check")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    case: dict[str, Any] = {"model": name, "precision": precision, "offload": offload}
    try:
        faces, hooked = (_hunyuan if name.startswith("hunyuan") else _shap_e)(
            folder, plan, device, root)
        case.update(faces=faces, hooks_as_planned=hooked == (offload != "none"))
    except Exception as exc:  # a check reports what failed and goes on with the others
        case.update(error=f"{type(exc).__name__}: {str(exc)[:300]}", hooks_as_planned=False)
    torch.cuda.synchronize(device)
    case["seconds"] = round(time.perf_counter() - started, 3)
    case["peak_vram_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    print(json.dumps(case), flush=True)
    return case


def _status(folder: Path) -> Any:
    from engine.storage.models import ModelStore
    from engine.storage.paths import DataDir

    store = ModelStore(DataDir(folder.parent / "home"))
    store.allow_pickle(str(folder))  # the Shap-E renderer is a pickle, as on the hub
    return store.locate(str(folder))


def _hunyuan(folder: Path, plan: Any, device: str, root: Path) -> tuple[int, bool]:
    from PIL import Image, ImageDraw

    from adapters.hunyuan3d._pipeline import generate, load
    from engine.contract.protocol import RunContext

    pipe, _ = load(_status(folder), device, plan)
    image = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((24, 16, 104, 112), fill=(200, 60, 40, 255))
    ctx = RunContext("gpu-check", device, root, None, lambda s, f: None)  # type: ignore[arg-type]
    mesh = generate(pipe, image, ctx, steps=3, guidance=5.0, octree=64, seed=1)
    hooked = all(hasattr(m, "_hf_hook") for m in (pipe.conditioner, pipe.model, pipe.vae))
    return len(mesh.faces), hooked


def _shap_e(folder: Path, plan: Any, device: str, root: Path) -> tuple[int, bool]:
    import torch

    from adapters._shared.neural import Runtime
    from adapters.shap_e import ShapETextAdapter

    pipe = ShapETextAdapter()._load_pipeline(_status(folder), Runtime(device), plan)
    latents = pipe("an egg", num_inference_steps=3, guidance_scale=15.0, output_type="latent",
                   generator=torch.Generator("cpu").manual_seed(1)).images
    decoded = pipe.shap_e_renderer.decode_to_mesh(latents[0][None], device, grid_size=32)
    hooked = hasattr(pipe.prior, "_hf_hook")
    return int(decoded.faces.shape[0]), hooked


def _engine_jobs(models: dict[str, Path], root: Path) -> dict[str, Any]:
    """One Hunyuan job with the automatic plan and one forced to model offload, through the
    real engine: worker process, CUDA, the result's stats and measured peak."""
    from PIL import Image, ImageDraw

    from adapters.registry import default_registry
    from engine.runtime.engine import Engine
    from engine.storage.paths import DataDir

    picture = root / "ellipse.png"
    image = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((24, 16, 104, 112), fill=(200, 60, 40, 255))
    image.save(picture)
    engine = Engine(DataDir(root / "engine-home").ensure(), registry=default_registry()).start()
    jobs = []
    try:
        for offload in ("auto", "model"):
            job = engine.submit("image_to_raw_mesh", [engine.stage(picture)], adapter="hunyuan3d",
                                params={"model": str(models["hunyuan3d-2mini-turbo"]),
                                        "steps": 3, "octree_resolution": 64, "seed": 1,
                                        "offload": offload})
            result = engine.wait(job, 600)
            jobs.append({"offload_asked": offload, "status": result.status,
                         "device": result.worker.device,
                         "peak_vram_mb": result.worker.peak_vram_mb,
                         "stats": {k: result.stats.get(k) for k in
                                   ("precision", "offload", "memory_plan", "faces")},
                         "error": result.error.message if result.error else None})
    finally:
        engine.shutdown()
    ok = (len(jobs) == 2 and all(j["status"] == "succeeded" and j["device"].startswith("cuda")
                                 for j in jobs)
          and jobs[0]["stats"]["offload"] == "none" and jobs[1]["stats"]["offload"] == "model")
    return {"jobs": jobs, "ok": ok}


if __name__ == "__main__":
    print(json.dumps(run()))
