"""GPU check, pool part: the engine's worker pool on a real NVIDIA GPU (issue 13).

Real CUDA workers (benchmarks/_gpu_pool_adapter.py: blocks of known size, a fraction of the
card) through the real engine on cuda:0, headless. Five checks, each a dict with "ok":

* ``nvml_vs_torch``: NVML's figure for the worker's PID against torch's reserved memory in it
  (NVML adds the CUDA context, so it must lie between reserved and reserved + 1.5 GB);
* ``oom_retry``: an idle model holds 55% of the card; a job declared small allocates 60% at run
  time, runs out of memory for real, and succeeds once the idle model is evicted;
* ``sharing``: two adapters of 20% each run their jobs on one GPU at the same time;
* ``evict_before_load``: a 60% model is placed where an idle 55% one sits: its load must wait
  for the evicted process to exit (no out-of-memory retry needed);
* ``idle_timeout``: a worker idle past the timeout exits and NVML no longer lists its PID.

``run()`` returns {"ran": False, "reason": ...} without CUDA or NVML.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._gpu_pool_adapter import SIZES_ENV

FEATURE = "mesh_segmentation"
IDLE_TIMEOUT_S = 3.0


def run() -> dict[str, Any]:
    import torch

    from engine.workers.devices import Devices

    if not torch.cuda.is_available():
        return {"ran": False, "reason": "torch sees no CUDA GPU: not yet run on a GPU"}
    devices = Devices()
    gpus = devices.measure()
    if devices.backend != "nvml" or not gpus:
        return {"ran": False, "reason": "NVML lists no GPU: not yet run on a GPU"}
    torch.cuda.empty_cache()  # what the models part cached in this process (it counts as external)
    total = gpus[0].total_mb
    sizes = {"probe": 2000, "hog": int(0.55 * total), "big": int(0.60 * total),
             "left": int(0.20 * total), "right": int(0.20 * total), "burst": 500}
    os.environ[SIZES_ENV] = json.dumps(sizes)  # the workers inherit it
    began = time.perf_counter()
    report: dict[str, Any] = {"ran": True, "gpu": gpus[0].name, "total_mb": total,
                              "sizes_mb": sizes}
    with tempfile.TemporaryDirectory() as tmp:
        mesh = _box(Path(tmp))
        checks = (("nvml_vs_torch", _nvml_vs_torch), ("oom_retry", _oom_retry),
                  ("sharing", _sharing), ("evict_before_load", _evict_before_load),
                  ("idle_timeout", _idle_timeout))
        for name, check in checks:
            with _engine(Path(tmp) / name, sizes, total) as engine:
                try:
                    report[name] = check(engine, mesh, sizes)
                except Exception as exc:  # one failed check must not hide the others
                    report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    report["ok"] = all(report[name]["ok"] for name, _ in checks)
    report["elapsed_s"] = round(time.perf_counter() - began, 1)
    return report


def _engine(root: Path, sizes: dict[str, int], total: int):
    from engine.contract.spec import AdapterSpec, Registry
    from engine.runtime.engine import Engine
    from engine.storage.paths import DataDir

    def spec(adapter_id: str, declared: int) -> AdapterSpec:
        return AdapterSpec(
            id=adapter_id, feature=FEATURE, label=f"GPU check {adapter_id}",
            description="A block of GPU memory of known size.",
            entry=f"benchmarks._gpu_pool_adapter:{adapter_id.capitalize()}",
            params="benchmarks._gpu_pool_adapter:BlockParams", inputs=("mesh",),
            devices=("cuda",), peak_vram_mb=declared, resident_vram_mb=declared, timeout_s=120)

    # "burst" is declared small on purpose: its run-time allocation is the surprise.
    specs = [spec(a, mb) for a, mb in sizes.items() if a != "burst"] + [spec("burst", 1000)]
    return Engine(DataDir(root).ensure(), registry=Registry(specs), cpu_slots=2,
                  idle_timeout_s=IDLE_TIMEOUT_S if root.name == "idle_timeout" else None)


def _submit(engine, mesh: Path, adapter: str, **params) -> str:
    return engine.submit(FEATURE, [engine.stage(mesh)], adapter=adapter, params=params)


def _pid_mb(engine) -> dict[int, int]:
    return {pid: mb for usage in engine.devices.process_mb(engine.worker_pids()).values()
            for pid, mb in usage.items()}


def _nvml_vs_torch(engine, mesh: Path, sizes: dict[str, int]) -> dict[str, Any]:
    result = engine.wait(_submit(engine, mesh, "probe"), 120)
    stats = result.stats
    nvml = _pid_mb(engine).get(stats.get("pid", -1))
    reserved = stats.get("torch_reserved_mb", 0)
    ok = (result.status == "succeeded" and nvml is not None
          and reserved <= nvml <= reserved + 1500 and reserved >= sizes["probe"])
    return {"ok": ok, "nvml_mb": nvml, "torch_reserved_mb": reserved,
            "torch_allocated_mb": stats.get("torch_allocated_mb"),
            "context_mb": None if nvml is None else nvml - reserved}


def _oom_retry(engine, mesh: Path, sizes: dict[str, int]) -> dict[str, Any]:
    stages: list[str] = []
    engine.subscribe(lambda e: stages.append(e.stage) if e.kind == "progress" else None)
    assert engine.wait(_submit(engine, mesh, "hog"), 120).status == "succeeded"
    hog_pids = set(engine.worker_pids())
    result = engine.wait(_submit(engine, mesh, "burst", alloc_mb=sizes["big"]), 180)
    retried = any("out of memory" in s for s in stages)
    hog_gone = not (hog_pids & set(engine.worker_pids()))
    return {"ok": result.status == "succeeded" and retried and hog_gone,
            "status": result.status, "retried": retried, "hog_evicted": hog_gone,
            "error": result.error.message if result.error else None}


def _sharing(engine, mesh: Path, sizes: dict[str, int]) -> dict[str, Any]:
    running: set[str] = set()
    both = threading.Event()

    def watch(event) -> None:
        if event.kind == "progress" and event.stage == "holding memory":
            running.add(event.job_id)
            if len(running) == 2:
                both.set()

    engine.subscribe(watch)
    ids = [_submit(engine, mesh, a, hold_s=6.0) for a in ("left", "right")]
    together = both.wait(90)
    seen = _pid_mb(engine) if together else {}
    results = [engine.wait(j, 120) for j in ids]
    devices = {r.worker.device for r in results}
    return {"ok": together and all(r.status == "succeeded" for r in results)
            and devices == {"cuda:0"} and len(seen) >= 2,
            "ran_together": together, "devices": sorted(devices), "nvml_pids_mb": seen}


def _evict_before_load(engine, mesh: Path, sizes: dict[str, int]) -> dict[str, Any]:
    stages: list[str] = []
    engine.subscribe(lambda e: stages.append(e.stage) if e.kind == "progress" else None)
    assert engine.wait(_submit(engine, mesh, "hog"), 120).status == "succeeded"
    result = engine.wait(_submit(engine, mesh, "big"), 180)
    retried = any("out of memory" in s for s in stages)
    return {"ok": result.status == "succeeded" and not retried, "status": result.status,
            "needed_oom_retry": retried,
            "error": result.error.message if result.error else None}


def _idle_timeout(engine, mesh: Path, sizes: dict[str, int]) -> dict[str, Any]:
    result = engine.wait(_submit(engine, mesh, "probe"), 120)
    pid = result.stats.get("pid")
    began = time.monotonic()
    while engine.worker_pids() and time.monotonic() - began < 30:
        time.sleep(0.2)
    waited = time.monotonic() - began
    listed = pid in {p for usage in engine.devices.process_mb([pid]).values() for p in usage}
    return {"ok": result.status == "succeeded" and not engine.worker_pids() and not listed,
            "timeout_s": IDLE_TIMEOUT_S, "exited_after_s": round(waited, 1),
            "still_on_gpu": listed}


def _box(folder: Path) -> Path:
    import trimesh

    path = folder / "box.obj"
    trimesh.creation.box().export(path)
    return path
