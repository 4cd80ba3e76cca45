"""GPU memory as NVML sees it (issue 13, item 4): per-process accounting in the pure
scheduler, the device list (UUIDs, CUDA_VISIBLE_DEVICES, CPU fallback) and the observed peaks
kept in the data directory. NVML itself is replaced by simulated GPUs passed in explicitly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.contract.spec import AdapterSpec
from engine.jobs import JobState
from engine.runtime.memory import OBSERVED_FILE, MemoryWatch
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.vocabulary import (
    DevicesMeasured,
    DeviceSpec,
    JobFinished,
    JobRequest,
    MeasureDevices,
    StartJob,
    Submitted,
)
from engine.workers.devices import Devices
from engine.workers.nvml import GpuInfo, StaticGpus, open_nvml, visible


def shap_e(job_id: str) -> JobRequest:
    return JobRequest(job_id, "text_to_raw_mesh", "shap_e", 6000, 3000, ("cuda", "cpu"))


def starts(out) -> dict[str, StartJob]:
    return {i.job_id: i for i in out if isinstance(i, StartJob)}


def test_a_finished_workers_cache_is_never_booked_as_another_programs_memory():
    # Defect: NVML read after JobFinished booked the idle worker's cache as "external", which
    # shrank the possible devices: the second Shap-E job went to the CPU beside a warm worker.
    s = Scheduler([DeviceSpec("cuda:0", 8000)])
    wid = starts(s.handle(Submitted(shap_e("a"), 0)))["a"].worker_id
    # The job ends; NVML sees 5.5 GB on the card, all of it in our worker's process.
    s.handle(JobFinished("a", JobState.SUCCEEDED, 10),
             DevicesMeasured({"cuda:0": 5500}, 10, {wid: 5500}))
    assert s.external_mb["cuda:0"] == 0
    assert s.workers[wid].resident_mb == 5500  # what the idle worker really holds
    second = starts(s.handle(Submitted(shap_e("b"), 11)))["b"]
    assert (second.device, second.worker_id) == ("cuda:0", wid)


def test_memory_of_other_programs_is_the_card_minus_our_processes():
    s = Scheduler([DeviceSpec("cuda:0", 24000)])
    wid = starts(s.handle(Submitted(shap_e("a"), 0)))["a"].worker_id
    s.handle(DevicesMeasured({"cuda:0": 9000}, 1, {wid: 4000}))
    assert s.external_mb["cuda:0"] == 5000
    assert s.observed_peak_mb == {"shap_e": 4000}


def test_a_head_newly_blocked_on_gpu_memory_asks_for_a_measurement_once():
    s = Scheduler([DeviceSpec("cuda:0", 24000)])
    s.handle(Submitted(JobRequest("a", "f1", "a", 20000, 20000, ("cuda",)), 0))
    out = s.handle(Submitted(JobRequest("b", "f2", "b", 20000, 20000, ("cuda",)), 1))
    assert sum(isinstance(i, MeasureDevices) for i in out) == 1
    out = s.handle(Submitted(JobRequest("c", "f3", "c", 0, 0, ("cpu",)), 2))
    assert not any(isinstance(i, MeasureDevices) for i in out)  # b's cause has not changed


GPUS = [GpuInfo(0, "GPU-aaaa-0000", "A", 24000, 100), GpuInfo(1, "GPU-bbbb-1111", "B", 8000, 0),
        GpuInfo(2, "GPU-cccc-2222", "C", 16000, 0)]


@pytest.mark.parametrize(("env", "uuids"), [
    (None, ["GPU-aaaa-0000", "GPU-bbbb-1111", "GPU-cccc-2222"]),
    ("2,0", ["GPU-cccc-2222", "GPU-aaaa-0000"]),
    ("GPU-bbbb", ["GPU-bbbb-1111"]),
    ("", []),
    ("1,7,2", ["GPU-bbbb-1111"]),  # CUDA stops at the first entry it cannot match
    ("0,0", ["GPU-aaaa-0000"]),
    ("GPU-", []),  # ambiguous prefix
])
def test_cuda_visible_devices_picks_and_orders_the_gpus(env, uuids):
    assert [g.uuid for g in visible(GPUS, env)] == uuids


def test_devices_number_the_visible_gpus_as_torch_does_and_keep_their_uuid():
    devices = Devices(StaticGpus([24000, 8000, 16000]), visible_devices="2,0")
    specs = devices.specs()
    assert [(d.id, d.total_mb, d.uuid) for d in specs] == [
        ("cuda:0", 16000, "GPU-sim-2"), ("cuda:1", 24000, "GPU-sim-0"), ("cpu", 0, "")]
    assert devices.worker_env() == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_per_process_usage_is_read_by_pid_for_our_workers_only():
    gpus = StaticGpus([24000], usage={0: {111: 3000, 222: 5000}}, other_mb={0: 700})
    devices = Devices(gpus, visible_devices=None)
    assert devices.process_mb([111]) == {"cuda:0": {111: 3000}}
    assert devices.measure()[0].used_mb == 8700


def test_without_a_gpu_nvml_is_absent_and_the_engine_runs_on_the_cpu():
    pytest.importorskip("pynvml")
    if open_nvml() is not None:
        pytest.skip("this machine has an NVIDIA GPU")
    devices = Devices()
    assert devices.backend == "cpu" and devices.measure() == []
    assert [d.id for d in devices.specs()] == ["cpu"] and devices.process_mb([1]) == {}


def test_simulated_gpu_sizes_must_be_positive():
    with pytest.raises(ValueError):
        StaticGpus([24000, 0])


@dataclass
class _Handle:
    pid: int


@dataclass
class _Pool:
    workers: dict


def _spec(peak: int) -> AdapterSpec:
    from tests.engine.fake_adapters import sleepy_spec

    return sleepy_spec().model_copy(update={"peak_vram_mb": peak, "devices": ("cuda",)})


def test_observed_peaks_are_kept_in_the_data_dir_and_placement_uses_the_larger(tmp_path: Path):
    devices = Devices(StaticGpus([24000], usage={0: {4242: 7000}}), visible_devices=None)
    watch = MemoryWatch(devices, _Pool({3: _Handle(4242)}), tmp_path)
    measured = watch.measure(5.0)
    assert measured.worker_mb == {3: 7000} and measured.used_mb == {"cuda:0": 7000}
    spec = _spec(5000)
    assert watch.peak_mb(spec, 24000) == 5000
    watch.remember({spec.id: 7000, "other": 0})
    again = MemoryWatch(devices, _Pool({}), tmp_path)  # the next start
    assert again.peak_mb(spec, 24000) == 7000
    assert again.peak_mb(_spec(9000), 24000) == 9000  # declared larger: declared
    assert again.peak_mb(spec, 6000) == 6000  # never more than the largest card
    assert json.loads((tmp_path / OBSERVED_FILE).read_text()) == {spec.id: 7000}


def test_a_damaged_observed_file_is_ignored(tmp_path: Path):
    (tmp_path / OBSERVED_FILE).write_text("{not json")
    watch = MemoryWatch(Devices(None), _Pool({}), tmp_path)
    assert watch.observed == {} and watch.measure(0.0) is None


def test_built_in_adapters_that_keep_a_model_on_the_cpu_declare_its_ram():
    from adapters.registry import default_registry

    neural_cpu = [s for s in default_registry().specs if "cpu" in s.devices and s.peak_vram_mb]
    assert neural_cpu and all(s.resident_ram_mb > 0 for s in neural_cpu)
    assert all(s.resident_ram_mb == 0 for s in default_registry().specs if not s.peak_vram_mb)
