"""Regression tests for the defects issue 13 found in the scheduler, on the pure state machine:
scheduling classes, several CPU workers, estimates and ETA, latency-first order, EASY holds."""

from __future__ import annotations

import pytest

from engine.jobs import JobState
from engine.scheduling.estimates import DEFAULT_RUN_S, Estimates, Observation
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.vocabulary import (
    CancelRequested,
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

GPU = DeviceSpec("cuda:0", 24000)


def gpu_job(job_id: str, feature: str, adapter: str, mb: int, size: float = 0.0) -> JobRequest:
    return JobRequest(job_id, feature, adapter, mb, mb, ("cuda",), size)


def cpu_job(job_id: str, feature: str = "uv_unwrapping", adapter: str = "xatlas") -> JobRequest:
    return JobRequest(job_id, feature, adapter, 0, 0, ("cpu",))


def starts(instructions) -> dict[str, StartJob]:
    return {i.job_id: i for i in instructions if isinstance(i, StartJob)}


def running(instructions) -> list[str]:
    """Jobs the scheduler set running (a start that waits for an eviction included)."""
    return [i.job_id for i in instructions
            if isinstance(i, JobStateChanged) and i.state is JobState.RUNNING]


def causes(instructions) -> dict[str, str | None]:
    return {i.job_id: i.cause for i in instructions if isinstance(i, WaitCauseChanged)}


def seeded(**runs: float) -> Estimates:
    return Estimates(Observation(a, s, 0.0, 1.0) for a, s in runs.items())


def test_cpu_job_passes_a_gpu_blocked_head_of_the_same_feature():
    # Defect: queues per feature only, so a CPU inflate waited behind a GPU-blocked Shap-E.
    s = Scheduler([DeviceSpec("cuda:0", 8000)], cpu_slots=2)
    s.handle(Submitted(gpu_job("big", "other", "hog", 8000), 0))
    out = s.handle(Submitted(gpu_job("shap", "text_to_raw_mesh", "shap_e", 6000), 1),
                   Submitted(JobRequest("infl", "text_to_raw_mesh", "inflate", 0, 0, ("cpu",)), 2))
    assert set(starts(out)) == {"infl"}
    assert causes(out)["shap"] == "waiting for 6 GB on GPU 0"


def test_jobs_of_one_shape_keep_their_order_when_another_shape_passes():
    s = Scheduler([], cpu_slots=1)
    out = s.handle(*(Submitted(cpu_job(f"u{i}"), i) for i in range(3)))
    assert list(starts(out)) == ["u0"]
    assert list(starts(s.handle(JobFinished("u0", JobState.SUCCEEDED, 5)))) == ["u1"]


def test_a_cpu_adapter_runs_as_many_jobs_as_there_are_free_cpu_slots():
    # Defect: CPU adapters ran one job at a time even with free cores.
    s = Scheduler([], cpu_slots=3)
    out = s.handle(*(Submitted(cpu_job(f"u{i}"), i) for i in range(5)))
    started = starts(out)
    assert list(started) == ["u0", "u1", "u2"]
    assert len({i.worker_id for i in started.values()}) == 3  # three workers of one adapter
    assert causes(out)["u3"] == "waiting for a free CPU slot"


def test_head_waiting_for_its_own_busy_worker_holds_nothing_even_when_starving():
    # Defect 2: a decimate job waited ~600 s behind a second xatlas job with 3 of 4 CPU slots
    # idle, because the starving xatlas head reserved the whole device. The GPU form of it:
    s = Scheduler([GPU], cpu_slots=4, starvation_s=100)
    s.handle(Submitted(gpu_job("x1", "f1", "xgpu", 4000), 0),
             Submitted(gpu_job("x2", "f1", "xgpu", 4000), 1))
    s.handle(Tick(500))  # x2 has been blocked far past the bound
    assert s.holds == []
    out = s.handle(Submitted(gpu_job("d1", "f2", "dec", 4000), 501),
                   Submitted(cpu_job("c1"), 501))
    assert set(starts(out)) == {"d1", "c1"}


def test_cpu_job_is_not_held_back_by_a_starving_gpu_head():
    s = Scheduler([GPU], cpu_slots=4, starvation_s=10)
    s.handle(Submitted(gpu_job("a", "f1", "a", 20000), 0),
             Submitted(gpu_job("b", "f2", "b", 20000), 1))
    s.handle(Tick(100))
    assert [h.device for h in s.holds] == ["cuda:0"]
    assert s.holds[0].amount == 20000  # an amount, never "the whole device, CPU included"
    assert "c" in starts(s.handle(Submitted(cpu_job("c"), 101)))


def test_hold_is_an_amount_a_small_job_fits_beside_it():
    s = Scheduler([GPU], estimates=seeded(a=300, b=100, small=500, long=1000))
    s.handle(Submitted(gpu_job("a", "f1", "a", 12000), 0))
    out = s.handle(Submitted(gpu_job("b", "f2", "b", 16000), 1))
    assert [(h.job_id, h.amount, h.extra) for h in s.holds] == [("b", 16000, 8000)]
    # 'small' runs longer than b's shadow, but its 6 GB fit beside b when a finishes.
    out = s.handle(Submitted(gpu_job("small", "f3", "small", 6000), 2))
    assert "small" in starts(out)
    # Now nothing else fits beside b: a long 4 GB job waits, though 6 GB are free now.
    out = s.handle(Submitted(gpu_job("long", "f4", "long", 4000), 3))
    assert "long" not in starts(out)
    assert causes(out)["long"] == "waiting: GPU 0 is held for an older job"


def test_easy_backfill_lets_a_job_pass_a_held_head_only_if_it_ends_before_the_head_starts():
    est = seeded(a=100, b=100, quick=10, slow=500)
    s = Scheduler([GPU], estimates=est)
    s.handle(Submitted(gpu_job("a", "f1", "a", 16000), 0))
    s.handle(Submitted(gpu_job("b", "f2", "b", 22000), 1))  # holds 22 GB, shadow ~ t=100
    out = s.handle(Submitted(gpu_job("slow", "f3", "slow", 4000), 2),
                   Submitted(gpu_job("quick", "f4", "quick", 4000), 2))
    assert set(starts(out)) == {"quick"}
    assert "slow" in causes(out)


def test_a_warm_workers_next_job_may_run_on_a_held_device_past_the_shadow():
    # A hold keeps out new models, not the next job of a warm idle worker on its device: that
    # job takes no new memory. The holder counts on evicting that worker, so the job delays it;
    # holding such jobs back too measured worse on the saturated day (docs/benchmarks.md,
    # "Fifth attempt").
    est = seeded(a=100, b=100, seg=150, other=500)
    s = Scheduler([GPU], estimates=est)
    s.handle(Submitted(gpu_job("s0", "seg", "seg", 6000), 0))
    s.handle(JobFinished("s0", JobState.SUCCEEDED, 5))  # seg stays warm and idle: 6 GB
    s.handle(Submitted(gpu_job("a", "f1", "a", 12000), 6))
    s.handle(Submitted(gpu_job("b", "f2", "b", 20000), 7))  # needs a's 12 GB and seg's 6 GB
    assert [(h.job_id, h.device) for h in s.holds] == [("b", "cuda:0")]
    out = s.handle(Submitted(gpu_job("s1", "seg", "seg", 6000), 8))  # ends after b's shadow
    assert "s1" in starts(out)
    out = s.handle(Submitted(gpu_job("new", "f3", "other", 6000), 9))  # a new 6 GB model
    assert "new" not in starts(out)
    assert causes(out)["new"] == "waiting: GPU 0 is held for an older job"


def test_shortest_expected_job_goes_first_when_capacity_frees():
    # Defect 1: light jobs waited for capacity that older heavy jobs took in age order.
    est = seeded(heavy=150, light=10, a=50)
    s = Scheduler([GPU], estimates=est)
    s.handle(Submitted(gpu_job("a", "f0", "a", 24000), 0))
    s.handle(Submitted(gpu_job("h1", "gen", "heavy", 22000), 1),
             Submitted(gpu_job("l1", "seg", "light", 4000), 2))
    out = s.handle(JobFinished("a", JobState.SUCCEEDED, 50))
    assert running(out) == ["l1"]


def test_ageing_lets_a_long_job_overtake_fresh_short_ones():
    est = seeded(heavy=150, light=10, a=50)
    s = Scheduler([GPU], estimates=est, ageing=0.5)
    s.handle(Submitted(gpu_job("a", "f0", "a", 24000), 0))
    s.handle(Submitted(gpu_job("h1", "gen", "heavy", 24000), 1))
    out = s.handle(Submitted(gpu_job("l1", "seg", "light", 4000), 400),
                   JobFinished("a", JobState.SUCCEEDED, 400))
    assert running(out) == ["h1"]


def test_estimates_are_learned_from_events_and_scaled_by_input_size():
    s = Scheduler([GPU])
    assert s.estimates.run_s("seg") == DEFAULT_RUN_S
    s.handle(Submitted(gpu_job("w", "f", "seg", 4000, size=1000), 0))
    s.handle(JobFinished("w", JobState.SUCCEEDED, 25))  # cold: 25 s, all counted as run
    s.handle(Submitted(gpu_job("x", "f", "seg", 4000, size=1000), 30))
    s.handle(JobFinished("x", JobState.SUCCEEDED, 40))  # warm: 10 s for 1000 faces
    assert 10 < s.estimates.run_s("seg", 1000) < 25
    assert s.estimates.run_s("seg", 4000) == pytest.approx(4 * s.estimates.run_s("seg", 1000))


def test_a_cold_span_is_split_into_load_and_run_with_what_is_known():
    est = Estimates([Observation("seg", 10.0, 0.0)])
    est.observe_span("seg", 40.0, 0.0, cold=True)
    assert est.load_s("seg") == pytest.approx(30.0)
    with pytest.raises(ValueError):
        est.observe(Observation("seg", -1.0))


def test_eta_for_running_and_queued_jobs_from_seeded_history():
    s = Scheduler([], cpu_slots=1, estimates=seeded(xatlas=20))
    s.handle(*(Submitted(cpu_job(f"u{i}"), 0) for i in range(3)))
    assert s.eta("u0", 5) == pytest.approx(20 + 1 - 5)  # cold: load + run
    assert s.eta("u1", 5) == pytest.approx(16 + 0 + 20)  # after u0, then its own run
    assert s.eta("u2", 5) == pytest.approx(16 + 20 + 20)
    assert Scheduler([]).eta("nope", 0) is None
    fresh = Scheduler([])
    fresh.handle(Submitted(cpu_job("v"), 0))
    assert fresh.eta("v", 1) is None  # never timed: no estimate rather than a made-up one


# ---- evictions finish before a load; load-time out of memory; idle timeout ---------------
def oom_exit(worker_id: int, now: float):
    from engine.errors import ErrorCode
    from engine.jobs import ErrorInfo

    return WorkerExited(worker_id, now, ErrorInfo(code=ErrorCode.OUT_OF_MEMORY,
                                                  message="Fake ran out of memory loading."))


def test_a_load_out_of_memory_is_retried_once_on_a_fresh_worker_after_evicting():
    s = Scheduler([GPU])
    idle = starts(s.handle(Submitted(gpu_job("a", "fa", "a", 6000), 0)))["a"].worker_id
    s.handle(JobFinished("a", JobState.SUCCEEDED, 1))
    first = starts(s.handle(Submitted(gpu_job("j", "fj", "big", 12000), 2)))["j"].worker_id
    out = s.handle(oom_exit(first, 3))  # the worker died loading its model
    assert [i.worker_id for i in out if isinstance(i, EvictWorker)] == [idle]
    assert any(isinstance(i, RetryingJob) for i in out) and starts(out) == {}
    retry = starts(s.handle(WorkerExited(idle, 4)))["j"]
    assert retry.worker_id not in (first, idle)  # a new process under a new id
    out = s.handle(oom_exit(retry.worker_id, 5))  # twice: the job fails with the reason
    assert [(i.job_id, i.state, i.error.code) for i in out if isinstance(i, JobStateChanged)] \
        == [("j", JobState.FAILED, "OUT_OF_MEMORY")]


def test_cancel_while_waiting_for_an_eviction_forgets_the_worker_never_spawned():
    s = Scheduler([GPU])
    s.handle(Submitted(gpu_job("a", "fa", "a", 20000), 0))
    s.handle(JobFinished("a", JobState.SUCCEEDED, 1))
    out = s.handle(Submitted(gpu_job("b", "fb", "b", 20000), 2))
    assert any(isinstance(i, EvictWorker) for i in out) and starts(out) == {}
    s.handle(CancelRequested("b", 3))
    assert [w.adapter for w in s.workers.values()] == []
    assert s.free_mb("cuda:0") == 4000  # a's process has not exited yet
    assert starts(s.handle(WorkerExited(1, 4))) == {}
    assert s.free_mb("cuda:0") == 24000


def test_idle_workers_are_stopped_after_the_idle_timeout():
    s = Scheduler([GPU], idle_timeout_s=120)
    s.handle(Submitted(gpu_job("a", "fa", "a", 6000), 0))
    s.handle(JobFinished("a", JobState.SUCCEEDED, 10))
    assert s.next_deadline() == 130
    assert s.handle(Tick(129)) == []
    out = s.handle(Tick(130))
    assert [(i.adapter, i.device) for i in out if isinstance(i, EvictWorker)] == [("a", "cuda:0")]
    assert s.next_deadline() is None
    assert Scheduler([GPU]).idle_timeout_s is None  # the pure default keeps workers warm


def cpu_model_job(job_id: str, adapter: str, ram_mb: int) -> JobRequest:
    return JobRequest(job_id, f"f_{adapter}", adapter, 0, 0, ("cpu",), 0.0, ram_mb)


def test_host_ram_is_a_resource_for_cpu_workers_that_hold_models():
    s = Scheduler([], cpu_slots=4, host_ram_mb=10000)
    out = s.handle(Submitted(cpu_model_job("a", "seg_cpu", 6000), 0),
                   Submitted(cpu_model_job("b", "rig_cpu", 6000), 1),
                   Submitted(cpu_job("light"), 2))
    assert set(starts(out)) == {"a", "light"}  # a model-less job does not count
    assert causes(out)["b"] == "waiting for 6 GB of memory"
    out = s.handle(JobFinished("a", JobState.SUCCEEDED, 10))
    evicted = [i.adapter for i in out if isinstance(i, EvictWorker)]
    assert evicted == ["seg_cpu"] and running(out) == ["b"] and starts(out) == {}
    assert "b" in starts(s.handle(WorkerExited(1, 11)))  # once a's model has left the RAM
    assert s.free_ram_mb() == 4000


def test_without_a_ram_budget_cpu_models_are_not_counted():
    s = Scheduler([], cpu_slots=4)
    out = s.handle(*(Submitted(cpu_model_job(j, j, 60000), 0) for j in ("a", "b")))
    assert set(starts(out)) == {"a", "b"}


def loads(**figures: tuple[float, float]) -> Estimates:
    """Estimates with a run and a load time per adapter."""
    return Estimates(Observation(a, run, 0.0, load) for a, (run, load) in figures.items())


def test_a_fresh_light_job_does_not_evict_a_warm_model_that_queued_jobs_want():
    # Saturated day: light jobs evicted a warm TRELLIS.2 between its queued jobs, and every
    # reload cost its load again (seed 3: 15 heavy loads for 23 heavy jobs).
    est = loads(heavy=(150, 40), light=(10, 5))
    for spare, first in ((0.5, "h2"), (0.0, "l1")):
        s = Scheduler([GPU], estimates=est, spare_loads=spare)
        s.handle(Submitted(gpu_job("h1", "gen", "heavy", 20000), 0),
                 Submitted(gpu_job("h2", "gen", "heavy", 20000), 1))
        out = s.handle(Submitted(gpu_job("l1", "seg", "light", 8000), 150),
                       JobFinished("h1", JobState.SUCCEEDED, 150))
        assert running(out) == [first]
        evicted = [i.adapter for i in out if isinstance(i, EvictWorker)]
        assert evicted == ([] if spare else ["heavy"])


def test_a_light_job_evicts_a_wanted_model_once_it_has_waited_half_its_reload():
    # Rent or buy: the job waits for room elsewhere at most spare_loads x the model's load.
    est = loads(heavy=(150, 40), mid=(100, 10), light=(10, 5))
    s = Scheduler([GPU], estimates=est)  # default spare_loads: 0.5
    s.handle(Submitted(JobRequest("h1", "gen", "heavy", 14000, 10000, ("cuda",)), 0))
    s.handle(JobFinished("h1", JobState.SUCCEEDED, 190))  # heavy's worker idles, 10 GB kept
    s.handle(Submitted(gpu_job("m", "mid", "mid", 12000), 191))  # 2 GB left free
    # h2 needs 4 GB more than its warm worker keeps: it waits for 'm'.
    out = s.handle(Submitted(JobRequest("h2", "gen", "heavy", 14000, 10000, ("cuda",)), 192),
                   Submitted(gpu_job("l1", "seg", "light", 8000), 200))
    assert running(out) == []
    assert causes(out)["l1"] == ("waiting: the models on GPU 0 are kept a while for their "
                                 "queued jobs")
    assert s.next_deadline() == 220  # 200 + 0.5 x heavy's 40 s load
    assert not [i for i in s.handle(Tick(219)) if isinstance(i, EvictWorker)]
    out = s.handle(Tick(220))
    assert [i.adapter for i in out if isinstance(i, EvictWorker)] == ["heavy"]
    assert running(out) == ["l1"]
    assert "l1" in starts(s.handle(WorkerExited(1, 221)))


TWO_GPUS = [DeviceSpec("cuda:0", 24000), DeviceSpec("cuda:1", 24000)]


def _heavy_done_while_light_waits(s: Scheduler, other: JobRequest) -> list:
    """``other`` runs on cuda:0 and h1 on cuda:1; h2 and a light job queue; h1 finishes."""
    s.handle(Submitted(other, 0), Submitted(gpu_job("h1", "gen", "heavy", 20000), 0))
    s.handle(Submitted(gpu_job("h2", "gen", "heavy", 20000), 1),
             Submitted(gpu_job("l1", "seg", "light", 8000), 1))
    return s.handle(JobFinished("h1", JobState.SUCCEEDED, 150))


@pytest.mark.parametrize(("horizon", "kept"), [(3.0, True), (0.05, False), (0.0, False)])
def test_a_warm_heavy_model_is_kept_for_its_next_job_while_another_gpu_serves_light_ones(
    horizon: float, kept: bool
):
    # Saturated day: a light job that did not fit beside a warm heavy model evicted it between
    # two heavy jobs, and the next one loaded it again (seed 1: 18 of 22 heavy jobs cold).
    est = loads(heavy=(150, 40), light=(10, 5))
    s = Scheduler(TWO_GPUS, estimates=est, keep_horizon=horizon)
    out = _heavy_done_while_light_waits(s, gpu_job("l0", "seg", "light", 8000))
    evicted = [i.adapter for i in out if isinstance(i, EvictWorker)]
    if kept:  # cuda:0's light worker is expected to serve l1 within 3 heavy runs
        assert running(out) == ["h2"] and evicted == []
        assert starts(out)["h2"].device == "cuda:1"
    else:  # shortest first: l1 evicts the warm model (it has waited past its spare time)
        assert running(out)[0] == "l1" and evicted == ["heavy"]


def test_a_warm_model_is_not_kept_when_no_other_gpu_is_open_to_the_light_jobs():
    # cuda:0 runs another heavy job the light one cannot run beside: keeping cuda:1's model
    # too would leave the light job no GPU, so it evicts the idle model as before.
    est = loads(heavy=(150, 40), heavy2=(150, 40), light=(10, 5))
    s = Scheduler(TWO_GPUS, estimates=est)
    out = _heavy_done_while_light_waits(s, gpu_job("x", "raw", "heavy2", 20000))
    assert running(out)[0] == "l1"
    assert [i.adapter for i in out if isinstance(i, EvictWorker)] == ["heavy"]
