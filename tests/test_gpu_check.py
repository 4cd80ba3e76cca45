"""The GPU check's model part, run on the CPU where no GPU is lent: the same loaders, plans and
generation calls it times on CUDA (the hooks' execution device is the CPU here), and the
script's own answer on a machine without a GPU. Its figures come only from a real GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from benchmarks._gpu_models import _build

    return _build(tmp_path_factory.mktemp("gpu-check"))


@pytest.mark.parametrize("offload", ["none", "model", "sequential"])
def test_each_plan_the_check_times_runs_and_places_its_hooks(models, offload, tmp_path):
    from adapters._shared.memory import MemoryPlan
    from benchmarks._gpu_models import _hunyuan, _shap_e

    plan = MemoryPlan("fp32", offload, "gpu check on the CPU")
    for name, run in (("hunyuan3d-2mini-turbo", _hunyuan), ("shap-e", _shap_e)):
        faces, hooked = run(models[name], plan, "cpu", tmp_path)
        assert faces > 0 and hooked == (offload != "none"), (name, offload)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_the_check_says_it_has_not_run():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    not_run = {"ran": False, "reason": "torch sees no CUDA GPU: not yet run on a GPU"}
    assert report == {"models": not_run, "pool": not_run, "ok": True}


def test_the_pool_checks_workload_runs_in_a_real_worker(data_dir, tmp_path, monkeypatch):
    """The pool part's adapter (blocks of known size) through the real engine, on the CPU:
    the code path the GPU check drives on cuda:0."""
    from benchmarks._gpu_pool_adapter import SIZES_ENV
    from engine.contract.spec import AdapterSpec, Registry
    from engine.runtime.engine import Engine

    monkeypatch.setenv(SIZES_ENV, json.dumps({"probe": 8}))
    spec = AdapterSpec(id="probe", feature="mesh_segmentation", label="probe", description="d",
                       entry="benchmarks._gpu_pool_adapter:Probe",
                       params="benchmarks._gpu_pool_adapter:BlockParams", inputs=("mesh",),
                       devices=("cpu",))
    import trimesh

    mesh = tmp_path / "box.obj"
    trimesh.creation.box().export(mesh)
    with Engine(data_dir, registry=Registry([spec])) as engine:
        job = engine.submit("mesh_segmentation", [engine.stage(mesh)], adapter="probe",
                            params={"alloc_mb": 4, "hold_s": 0.2})
        result = engine.wait(job, 60)
    assert result.status == "succeeded", result.error
    assert result.stats["pid"] > 0 and result.stats["torch_reserved_mb"] == 0
