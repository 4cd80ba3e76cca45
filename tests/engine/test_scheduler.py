"""The scheduler as a pure state machine: feed events, assert instructions. No threads, no sleeps."""

from __future__ import annotations

import pytest

from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, IllegalTransition, JobState
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.vocabulary import (
    CancelJob,
    CancelRequested,
    DevicesMeasured,
    DeviceSpec,
    EvictWorker,
    JobFinished,
    JobRequest,
    JobStateChanged,
    RetryingJob,
    StartJob,
    Submitted,
    Tick,
    WaitCauseChanged,
    WorkerExited,
)

GPUS = [DeviceSpec("cuda:0", 24000), DeviceSpec("cuda:1", 24000)]


def gpu_job(job_id: str, feature: str, adapter: str, mb: int) -> JobRequest:
    return JobRequest(job_id, feature, adapter, mb, mb, ("cuda",))


def cpu_job(job_id: str, feature: str = "uv_unwrapping", adapter: str = "xatlas") -> JobRequest:
    return JobRequest(job_id, feature, adapter, 0, 0, ("cpu",))


def starts(instructions) -> dict[str, StartJob]:
    return {i.job_id: i for i in instructions if isinstance(i, StartJob)}


def states(instructions) -> dict[str, JobState]:
    return {i.job_id: i.state for i in instructions if isinstance(i, JobStateChanged)}


def finish(s: Scheduler, job_id: str, now: float, status=JobState.SUCCEEDED):
    return exits(s, s.handle(JobFinished(job_id, status, now)), now)


def exits(s: Scheduler, out: list, now: float) -> list:
    """``out`` plus what follows once every worker it evicted has exited (as the shell says)."""
    evicted = [i.worker_id for i in out if isinstance(i, EvictWorker)]
    return out + (s.handle(*(WorkerExited(w, now) for w in evicted)) if evicted else [])


def test_blocked_heavy_head_does_not_hold_back_light_jobs_of_other_features():
    s = Scheduler(GPUS[:1], starvation_s=1e9)
    out = s.handle(Submitted(gpu_job("h1", "image_to_textured_mesh", "hunyuan", 19000), 0))
    assert "h1" in starts(out)
    out = s.handle(
        Submitted(gpu_job("h2", "image_to_textured_mesh", "hunyuan", 19000), 1),
        Submitted(gpu_job("t1", "image_to_raw_mesh", "trellis", 12000), 1),
        Submitted(gpu_job("p1", "mesh_segmentation", "partfield", 4000), 2),
        Submitted(cpu_job("u1"), 3),
    )
    started = starts(out)
    assert set(started) == {"p1", "u1"}  # light GPU job fits beside, CPU job runs on the CPU
    assert started["u1"].device == "cpu"
    causes = {i.job_id: i.cause for i in out if isinstance(i, WaitCauseChanged)}
    assert causes["h2"] == "waiting for the running hunyuan job on GPU 0 to finish"
    assert causes["t1"] == "waiting for 12 GB on GPU 0"


def test_fifo_within_a_feature():
    s = Scheduler([], cpu_slots=2)
    out = s.handle(*(Submitted(cpu_job(f"u{i}"), i) for i in range(4)))
    assert list(starts(out)) == ["u0", "u1"]  # one CPU worker per slot, in order
    assert list(starts(finish(s, "u1", 5))) == ["u2"]
    assert list(starts(finish(s, "u0", 6))) == ["u3"]


def test_warm_worker_is_reused_and_preferred_device_has_the_model():
    s = Scheduler(GPUS)
    first = starts(s.handle(Submitted(gpu_job("a", "auto_rig", "unirig", 9000), 0)))["a"]
    finish(s, "a", 10)
    # Fill the other GPU less, so best-fit alone would not pick the warm device.
    second = starts(s.handle(Submitted(gpu_job("b", "auto_rig", "unirig", 9000), 11)))["b"]
    assert second.device == first.device and second.worker_id == first.worker_id


def test_idle_models_are_evicted_least_recently_used_first_only_when_needed():
    s = Scheduler(GPUS[:1])
    for i, (adapter, mb) in enumerate([("a", 8000), ("b", 8000), ("c", 6000)]):
        s.handle(Submitted(gpu_job(adapter, f"f{adapter}", adapter, mb), i))
    for i, adapter in enumerate(["b", "a", "c"]):  # finish order makes b the least recent
        finish(s, adapter, 10 + i)
    assert s.free_mb("cuda:0") == 2000
    out = s.handle(Submitted(gpu_job("d", "fd", "d", 11000), 20))
    evicted = [i.adapter for i in out if isinstance(i, EvictWorker)]
    assert evicted == ["b", "a"]
    assert "d" not in starts(out) and states(out)["d"] is JobState.RUNNING
    assert "d" in starts(exits(s, out, 21))  # started once the evicted workers have exited
    assert s.free_mb("cuda:0") == 24000 - 6000 - 11000


def test_starvation_is_bounded_by_a_reservation():
    s = Scheduler(GPUS[:1], starvation_s=100)
    s.handle(Submitted(gpu_job("p0", "mesh_segmentation", "partfield", 10000), 0))
    s.handle(Submitted(gpu_job("big", "text_to_raw_mesh", "trellis2", 24000), 1))
    # A stream of light jobs keeps the GPU partly busy forever.
    t, running = 2.0, "p0"
    big_started_at = None
    for i in range(1, 40):
        s.handle(Submitted(gpu_job(f"p{i}", "mesh_segmentation", "partfield", 10000), t))
        out = finish(s, running, t + 30)
        t += 30
        if "big" in starts(out):
            big_started_at = t
            break
        running = next(iter(starts(out)))
    assert big_started_at is not None and big_started_at <= 1 + 100 + 30


def test_next_deadline_is_when_a_blocked_head_crosses_the_bound():
    s = Scheduler(GPUS[:1], starvation_s=50)
    s.handle(Submitted(gpu_job("a", "f1", "a", 20000), 0))
    s.handle(Submitted(gpu_job("b", "f2", "b", 20000), 5))
    assert s.next_deadline() == 55
    s.handle(Tick(55))
    assert s.reserved == {"cuda:0": "b"}
    assert s.next_deadline() is None


def test_cancel_in_every_state_releases_resources():
    s = Scheduler(GPUS[:1])
    s.handle(Submitted(gpu_job("run", "f1", "a", 20000), 0))
    out = s.handle(Submitted(gpu_job("q", "f2", "b", 20000), 1))
    assert "q" not in starts(out)
    assert states(s.handle(CancelRequested("q", 2))) == {"q": JobState.CANCELLED}
    out = s.handle(CancelRequested("run", 3))
    assert CancelJob("run") in out
    assert s.handle(CancelRequested("run", 3.5)) == []  # asked once is enough
    out = s.handle(JobFinished("run", JobState.CANCELLED, 4))
    assert states(out) == {"run": JobState.CANCELLED}
    assert s.free_mb("cuda:0") == 4000  # the warm model stays; the job's claim is gone
    assert s.handle(CancelRequested("run", 5)) == []  # terminal: ignored


def test_killed_worker_of_a_cancelled_job_reports_cancelled_not_crashed():
    s = Scheduler(GPUS[:1])
    wid = starts(s.handle(Submitted(gpu_job("j", "f", "a", 5000), 0)))["j"].worker_id
    s.handle(CancelRequested("j", 1))
    out = s.handle(WorkerExited(wid, 6))
    assert states(out) == {"j": JobState.CANCELLED}
    assert s.free_mb("cuda:0") == 24000


def test_worker_crash_fails_one_job_and_releases_its_memory_and_the_next_runs():
    s = Scheduler(GPUS[:1])
    wid = starts(s.handle(Submitted(gpu_job("j1", "f", "a", 20000), 0)))["j1"].worker_id
    s.handle(Submitted(gpu_job("j2", "f", "a", 20000), 1))
    out = s.handle(WorkerExited(wid, 2))
    changed = [i for i in out if isinstance(i, JobStateChanged)]
    assert changed[0].job_id == "j1" and changed[0].state is JobState.FAILED
    assert changed[0].error.code == ErrorCode.WORKER_CRASHED
    restarted = starts(out)["j2"]
    assert restarted.worker_id != wid  # a fresh worker, the dead one is forgotten


def test_job_that_can_never_fit_fails_at_once_with_one_sentence():
    s = Scheduler(GPUS)
    out = s.handle(Submitted(gpu_job("x", "f", "huge", 40000), 0))
    (change,) = [i for i in out if isinstance(i, JobStateChanged)]
    assert change.state is JobState.FAILED and change.error.code == ErrorCode.NOT_ENOUGH_VRAM
    assert "24 GB" in change.error.message
    out = Scheduler([]).handle(Submitted(gpu_job("y", "f", "gpuonly", 1000), 0))
    assert "has none" in next(i for i in out if isinstance(i, JobStateChanged)).error.message


def test_measured_memory_of_other_programs_reduces_capacity():
    s = Scheduler(GPUS[:1])
    s.handle(DevicesMeasured({"cuda:0": 10000}, 0))
    out = s.handle(Submitted(gpu_job("j", "f", "a", 16000), 1))
    assert "j" not in starts(out)
    s.handle(DevicesMeasured({"cuda:0": 2000}, 2))
    assert s.external_mb["cuda:0"] == 2000


def test_adapter_that_runs_anywhere_prefers_the_gpu_and_falls_back_to_cpu_without_one():
    req = JobRequest("j", "f", "a", 3000, 3000, ("cuda", "cpu"))
    assert starts(Scheduler(GPUS).handle(Submitted(req, 0)))["j"].device.startswith("cuda")
    assert starts(Scheduler([]).handle(Submitted(req, 0)))["j"].device == "cpu"


def test_illegal_transition_raises():
    from engine.jobs import check_transition

    with pytest.raises(IllegalTransition):
        check_transition(JobState.SUCCEEDED, JobState.RUNNING)
    with pytest.raises(IllegalTransition):
        check_transition(JobState.QUEUED, JobState.SUCCEEDED)


def test_late_finish_after_crash_is_ignored():
    s = Scheduler([])
    wid = starts(s.handle(Submitted(cpu_job("j"), 0)))["j"].worker_id
    s.handle(WorkerExited(wid, 1))
    assert s.handle(JobFinished("j", JobState.SUCCEEDED, 2)) == []


def test_reservation_is_released_when_its_job_starts_on_another_device():
    s = Scheduler(GPUS, starvation_s=60)
    s.handle(*(Submitted(gpu_job(j, f"f_{j}", f"a_{j}", 20000), 0) for j in "ABC"))
    s.handle(Tick(60))
    assert s.reserved == {"cuda:0": "C"}
    assert starts(finish(s, "B", 70))["C"].device == "cuda:1"
    assert s.reserved == {}
    out = s.handle(JobFinished("A", JobState.SUCCEEDED, 80), Submitted(gpu_job("D", "f_D", "a_D", 10000), 80))
    assert starts(exits(s, out, 80))["D"].device == "cuda:0"


def test_next_deadline_never_lies_in_the_past_when_every_device_is_reserved():
    s = Scheduler(GPUS, starvation_s=60)
    s.handle(*(Submitted(gpu_job(j, f"f_{j}", f"a_{j}", 20000), 0) for j in "ABCDE"))
    for now in (60, 61, 62):
        s.handle(Tick(now))
        deadline = s.next_deadline()
        assert deadline is None or deadline > now
    assert sorted(s.reserved.values()) == ["C", "D"]


# ---- out of memory: evict the other idle models, retry once ------------------------------
OOM = ErrorInfo(code=ErrorCode.OUT_OF_MEMORY, message="Fake ran out of memory; try a smaller input.")


def oom(s: Scheduler, job_id: str, now: float):
    return s.handle(JobFinished(job_id, JobState.FAILED, now, OOM))


def two_idle_models_then(s: Scheduler, job: JobRequest) -> tuple[int, int, int]:
    """Run and finish jobs of adapters a and b (their workers stay warm), then start ``job``."""
    idle = []
    for i, adapter in enumerate("ab"):
        idle.append(starts(s.handle(Submitted(gpu_job(adapter, f"f{adapter}", adapter, 4000), i)))
                    [adapter].worker_id)
        finish(s, adapter, i + 0.5)
    wid = starts(s.handle(Submitted(job, 5)))[job.job_id].worker_id
    return idle[0], idle[1], wid


def test_out_of_memory_evicts_the_other_idle_models_then_retries_on_the_same_worker():
    s = Scheduler(GPUS[:1])
    wa, wb, wc = two_idle_models_then(s, gpu_job("c", "fc", "c", 8000))
    out = oom(s, "c", 10)
    assert [i.worker_id for i in out if isinstance(i, EvictWorker)] == [wa, wb]
    assert RetryingJob("c", "cuda:0", (wa, wb)) in out
    assert states(out) == {} and starts(out) == {}  # still running: nothing is lost or re-queued
    # The evicted models count until their processes have exited (pending eviction).
    assert s.free_mb("cuda:0") == 24000 - 8000 - 4000 - 4000
    assert s.handle(WorkerExited(wa, 11)) == []
    assert s.free_mb("cuda:0") == 24000 - 8000 - 4000
    retry = starts(s.handle(WorkerExited(wb, 12)))["c"]
    assert (retry.worker_id, retry.device) == (wc, "cuda:0")  # its model is still loaded
    assert states(finish(s, "c", 20)) == {"c": JobState.SUCCEEDED}


def test_out_of_memory_twice_fails_with_out_of_memory():
    s = Scheduler(GPUS[:1])
    wid = starts(s.handle(Submitted(gpu_job("j", "f", "a", 8000), 0)))["j"].worker_id
    out = oom(s, "j", 1)
    assert RetryingJob("j", "cuda:0", ()) in out  # nothing to evict: retried at once
    assert starts(out)["j"].worker_id == wid
    out = oom(s, "j", 2)
    (change,) = [i for i in out if isinstance(i, JobStateChanged)]
    assert (change.state, change.error) == (JobState.FAILED, OOM)
    assert not any(isinstance(i, RetryingJob | StartJob) for i in out)
    assert s.free_mb("cuda:0") == 24000 - 8000  # the warm worker stays, idle


def test_out_of_memory_on_the_cpu_evicts_idle_cpu_workers_too():
    s = Scheduler([], cpu_slots=2)
    first = starts(s.handle(Submitted(cpu_job("u"), 0)))["u"].worker_id
    finish(s, "u", 1)
    s.handle(Submitted(cpu_job("d", "mesh_retopology", "decimate"), 2))
    out = oom(s, "d", 3)
    assert [i.worker_id for i in out if isinstance(i, EvictWorker)] == [first]
    assert "d" in starts(s.handle(WorkerExited(first, 4)))


def test_cancel_while_waiting_for_the_retry_cancels_at_once_and_frees_the_worker():
    s = Scheduler(GPUS[:1])
    wa, wb, wc = two_idle_models_then(s, gpu_job("c", "fc", "c", 8000))
    oom(s, "c", 10)
    out = s.handle(CancelRequested("c", 11))
    assert states(out) == {"c": JobState.CANCELLED} and not any(isinstance(i, CancelJob) for i in out)
    assert s.handle(WorkerExited(wa, 12), WorkerExited(wb, 12)) == []
    again = starts(s.handle(Submitted(gpu_job("c2", "fc", "c", 8000), 13)))["c2"]
    assert again.worker_id == wc  # the warm worker was handed back


def test_worker_dying_while_waiting_for_the_retry_fails_the_job():
    s = Scheduler(GPUS[:1])
    wa, wb, wc = two_idle_models_then(s, gpu_job("c", "fc", "c", 8000))
    oom(s, "c", 10)
    out = s.handle(WorkerExited(wc, 11))
    assert states(out) == {"c": JobState.FAILED}
    assert s.handle(WorkerExited(wa, 12), WorkerExited(wb, 12)) == []


def test_only_out_of_memory_is_retried_and_never_after_a_cancel():
    s = Scheduler(GPUS[:1])
    s.handle(Submitted(gpu_job("j", "f", "a", 8000), 0))
    crash = ErrorInfo(code=ErrorCode.ADAPTER_FAILED, message="Fake failed: boom.")
    assert states(s.handle(JobFinished("j", JobState.FAILED, 1, crash))) == {"j": JobState.FAILED}
    s.handle(Submitted(gpu_job("k", "f", "a", 8000), 2))
    s.handle(CancelRequested("k", 3))
    assert states(oom(s, "k", 4)) == {"k": JobState.FAILED}
