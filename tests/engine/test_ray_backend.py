"""The engine on the Ray backend: one local Ray for the module, simulating two 24 GB GPUs with
``num_gpus=2`` and a ``vram_mb`` resource, and real adapters (the fake ones that sleep, fail or
crash, and the real decimation) running in Ray actors end to end."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.contract.spec import Registry
from engine.errors import ErrorCode
from engine.runtime.engine import Engine
from engine.storage.paths import DataDir
from engine.workers.backends import backend_name
from engine.workers.ray_cluster import RayDevices, local_init_kwargs
from tests.engine.fake_adapters import sleepy_spec
from tests.engine.test_engine import FAKE_ADAPTERS, wait_for

slow = pytest.mark.slow
GPU_ADAPTERS = {"text_mesh_painting": "gpu_a", "image_mesh_painting": "gpu_b",
                "uv_unwrapping": "gpu_c"}  # 16 GB each: two fit the cluster, a third waits


# ---- without a cluster ------------------------------------------------------------------
def test_local_stays_the_default_backend(monkeypatch):
    monkeypatch.delenv("MESHSMITH_BACKEND", raising=False)
    assert backend_name() == "local"
    monkeypatch.setenv("MESHSMITH_BACKEND", "ray")
    assert backend_name() == "ray" and backend_name("local") == "local"
    monkeypatch.setenv("MESHSMITH_BACKEND", "slurm")
    with pytest.raises(ValueError, match="'local' or 'ray'"):
        backend_name()


def test_cluster_nodes_become_devices_with_their_vram_split_per_gpu():
    nodes = [
        {"Alive": True, "NodeID": "b" * 56, "NodeManagerAddress": "10.0.0.6",
         "Resources": {"CPU": 8.0, "GPU": 1.0}},  # no vram_mb: its GPU is left unused
        {"Alive": True, "NodeID": "a" * 56, "NodeManagerAddress": "10.0.0.5",
         "Resources": {"CPU": 16.0, "GPU": 2.0, "vram_mb": 48000.0}},
        {"Alive": False, "NodeID": "c" * 56, "NodeManagerAddress": "10.0.0.7",
         "Resources": {"CPU": 4.0, "GPU": 4.0, "vram_mb": 96000.0}},
    ]
    devices = RayDevices.from_nodes(nodes)
    assert [(d.id, d.total_mb) for d in devices.specs()] == [
        ("10.0.0.5/cuda:0", 24000), ("10.0.0.5/cuda:1", 24000), ("cpu", 0)]
    assert devices.node_ids["10.0.0.5/cuda:1"] == "a" * 56 and devices.cpu_slots == 24
    assert "10.0.0.6" in devices.describe() and devices.measure() == []


def test_a_local_ray_is_sized_from_the_gpus_it_simulates():
    from engine.workers.devices import Devices
    from engine.workers.nvml import StaticGpus

    kwargs = local_init_kwargs(Devices(StaticGpus([24000, 24000])))
    assert kwargs["num_gpus"] == 2 and kwargs["resources"] == {"vram_mb": 48000}
    assert kwargs["address"] == "local" and kwargs["include_dashboard"] is False


# ---- on a local Ray ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_node() -> Iterator[str]:
    """What `ray start --head --num-gpus 2 --resources='{"vram_mb": 48000}'` makes, kept
    small for CI: 2 CPUs, a 200 MB object store, no dashboard."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, num_gpus=2, resources={"vram_mb": 48000},
             object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.nodes()[0]["NodeManagerAddress"]
    finally:
        ray.shutdown()


@pytest.fixture
def ray_registry(test_registry: Registry) -> Registry:
    gpu = [sleepy_spec(feature, adapter, devices=("cuda",), vram=16000)
           for feature, adapter in GPU_ADAPTERS.items()]
    return Registry([*test_registry.specs, *gpu])


@pytest.fixture
def make_engine(ray_node: str, data_dir: DataDir, ray_registry: Registry,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(files: str = "objects", max_transfer_mb: int | None = None) -> Engine:
        monkeypatch.setenv("MESHSMITH_RAY_FILES", files)
        if max_transfer_mb is not None:
            monkeypatch.setenv("MESHSMITH_RAY_MAX_TRANSFER_MB", str(max_transfer_mb))
        engine = Engine(data_dir, registry=ray_registry, cancel_grace_s=1.0, backend="ray")
        engines.append(engine.start())
        return engine

    yield make
    for engine in engines:
        engine.shutdown()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:  # this module's engine runs on Ray
    return make_engine()


def submit(engine: Engine, mesh: Path, feature: str = "mesh_segmentation", **params) -> str:
    adapter = GPU_ADAPTERS.get(feature) or FAKE_ADAPTERS[feature]
    return engine.submit(feature, [engine.stage(mesh)], adapter=adapter, params=params)


@slow
def test_job_runs_in_an_actor_and_its_files_come_back_through_the_object_store(
        engine, box_obj, ray_node):
    assert engine.backend == "ray"
    assert {d.id for d in engine.devices.specs()} == {f"{ray_node}/cuda:0",
                                                      f"{ray_node}/cuda:1", "cpu"}
    events = []
    engine.subscribe(events.append)
    first = engine.wait(submit(engine, box_obj, steps=4), 60)
    assert first.status == "succeeded", first.error
    out_dir = engine.data.job_output(first.job_id)
    assert Path(first.output_file_path) == out_dir / "box_parts.glb"
    assert Path(first.output_file_path).is_file() and Path(first.thumbnail_path).is_file()
    assert first.stats["faces"] == 12 and first.stats["steps"] == 4
    assert first.worker.model_dump() == {"backend": "ray", "device": "cpu", "host": ray_node,
                                         "peak_vram_mb": 0}
    fractions = [e.fraction for e in events if e.kind == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 5
    pids = engine.worker_pids()
    second = engine.wait(submit(engine, box_obj, steps=1), 60)  # the warm actor, no load
    assert first.timings.load_s > 0 and second.timings.load_s == 0
    assert engine.worker_pids() == pids


@slow
def test_shared_path_mode_writes_straight_into_the_data_directory(make_engine, box_obj):
    engine = make_engine(files="shared")
    result = engine.wait(submit(engine, box_obj, steps=1), 60)
    assert result.status == "succeeded", result.error
    assert Path(result.output_file_path).parent == engine.data.job_output(result.job_id)


@slow
def test_a_real_adapter_runs_on_the_cluster(engine, sphere_ply):
    job_id = engine.submit("mesh_retopology", [engine.stage(sphere_ply)], adapter="decimate",
                           params={"target_faces": 500})
    result = engine.wait(job_id, 120)
    assert result.status == "succeeded", result.error
    assert 0 < result.stats["faces"] <= 600 and Path(result.output_file_path).is_file()


@slow
def test_gpu_jobs_are_placed_by_vram_across_the_simulated_gpus(engine, box_obj, ray_node):
    import ray

    a = submit(engine, box_obj, "text_mesh_painting", steps=60, step_s=0.05)
    b = submit(engine, box_obj, "image_mesh_painting", steps=60, step_s=0.05)
    c = submit(engine, box_obj, "uv_unwrapping", steps=1)
    wait_for(lambda: a in engine.progress and b in engine.progress, 30)
    # Each GPU has 8 GB left: the third waits with a cause, and Ray counts the same memory.
    assert engine.causes.get(c, "").startswith("waiting for 16 GB on GPU")
    assert ray_node in engine.causes[c]
    wait_for(lambda: ray.available_resources().get("vram_mb") == 16000)
    results = [engine.wait(j, 60) for j in (a, b, c)]
    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    assert {results[0].worker.device, results[1].worker.device} == {"cuda:0", "cuda:1"}
    assert all(r.worker.backend == "ray" and r.worker.host == ray_node for r in results)


@slow
def test_cancel_queued_and_running_jobs_keeps_the_actor(engine, box_obj):
    running = submit(engine, box_obj, steps=400, step_s=0.05)
    queued = submit(engine, box_obj, steps=1)
    engine.cancel(queued)
    assert engine.wait(queued, 10).status == "cancelled"
    wait_for(lambda: running in engine.progress, 30)
    pids = engine.worker_pids()
    started = time.monotonic()
    engine.cancel(running)
    result = engine.wait(running, 20)
    assert result.status == "cancelled" and result.error.code == ErrorCode.CANCELLED
    assert time.monotonic() - started < 1.0  # cooperative: well inside the grace period
    assert engine.worker_pids() == pids and not engine.data.job_output(running).exists()


@slow
def test_a_job_that_ignores_cancel_has_its_actor_killed_after_the_grace_period(engine, box_obj):
    job_id = submit(engine, box_obj, steps=400, step_s=0.05, ignore_cancel=True)
    wait_for(lambda: job_id in engine.progress, 30)
    (pid,) = engine.worker_pids()
    engine.cancel(job_id)
    assert engine.wait(job_id, 20).status == "cancelled"
    wait_for(lambda: pid not in engine.worker_pids())


@slow
def test_killed_actor_fails_its_job_and_the_others_go_on(engine, box_obj):
    import ray

    victim = submit(engine, box_obj, steps=400, step_s=0.05)
    other = submit(engine, box_obj, "part_completion", steps=40, step_s=0.05)
    wait_for(lambda: victim in engine.progress and other in engine.progress, 30)
    handle = next(h for h in engine._pool.workers.values() if h.job_id == victim)
    ray.kill(handle.actor, no_restart=True)
    result = engine.wait(victim, 20)
    assert result.status == "failed" and result.error.code == ErrorCode.WORKER_CRASHED
    assert result.worker.backend == "ray"
    assert engine.wait(other, 30).status == "succeeded"
    assert engine.wait(submit(engine, box_obj, steps=1), 60).status == "succeeded"  # a new actor
    # The killed actor's scratch folder is swept by the next actor on the node.
    scratch = Path(tempfile.gettempdir()) / "meshsmith-ray"
    assert str(handle.pid) not in {p.name for p in scratch.iterdir()}


@slow
def test_an_actor_whose_process_exits_fails_only_its_job(engine, box_obj):
    crash = submit(engine, box_obj, steps=2, crash=True)
    assert engine.wait(crash, 60).error.code == ErrorCode.WORKER_CRASHED
    assert engine.wait(submit(engine, box_obj, steps=1), 60).status == "succeeded"


@slow
def test_timeout_load_failure_and_adapter_errors_read_as_locally(engine, box_obj):
    timeout = submit(engine, box_obj, "auto_rig", steps=400, step_s=0.05)
    broken = submit(engine, box_obj, "text_to_raw_mesh")
    failing = submit(engine, box_obj, steps=1, fail=True)
    result = engine.wait(timeout, 30)
    assert result.error.code == ErrorCode.TIMEOUT and "1 s limit" in result.error.message
    assert "weights missing" in engine.wait(broken, 60).error.message
    assert engine.wait(failing, 60).error.message == \
        "Fake sleepy failed: the fake adapter was told to fail."


@slow
def test_a_result_larger_than_the_transfer_limit_fails_with_a_sentence(make_engine, box_obj):
    engine = make_engine(max_transfer_mb=0)
    result = engine.wait(submit(engine, box_obj, steps=1), 60)
    assert result.status == "failed" and result.error.code == ErrorCode.OUTPUT_INVALID
    assert "MESHSMITH_RAY_FILES=shared" in result.error.message
    assert not engine.data.job_output(result.job_id).exists()
