"""The engine shell's robustness (issue 13, item 7) with real worker processes: a failed start
becomes a worker exit, a dead engine thread refuses jobs and leaves no future hanging, events
carry the ETA."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from engine.errors import ErrorCode
from engine.jobs import JobState
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent
from engine.runtime.shell import EngineStopped

pytestmark = pytest.mark.slow


def submit(engine: Engine, mesh: Path, **params) -> str:
    return engine.submit("mesh_segmentation", [engine.stage(mesh)], adapter="sleepy",
                         params=params)


def test_a_failed_start_fails_the_job_and_the_adapter_still_runs_the_next(engine, box_obj,
                                                                         monkeypatch):
    real_run = engine._pool.run
    calls = []

    def spawn_fails_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError("Resource temporarily unavailable")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(engine._pool, "run", spawn_fails_once)
    first = submit(engine, box_obj, steps=1)
    result = engine.wait(first, 30)
    assert result.status == "failed" and result.error.code == ErrorCode.WORKER_CRASHED
    assert "could not be started" in result.error.message
    second = submit(engine, box_obj, steps=1)
    assert engine.wait(second, 60).status == "succeeded"  # the adapter is not wedged


def test_a_dead_engine_thread_fails_waiting_jobs_and_refuses_new_ones(engine, box_obj,
                                                                     monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("injected fault in the loop")

    job_id = submit(engine, box_obj, steps=200, step_s=0.05)
    monkeypatch.setattr(engine, "_run_timers", broken)  # every iteration fails from now on
    engine._wake()
    result = engine.wait(job_id, 30)  # never hangs
    assert result.status == "failed" and result.error.code == ErrorCode.ENGINE_STOPPED
    assert not engine.alive
    with pytest.raises(EngineStopped):
        submit(engine, box_obj, steps=1)


def test_one_failing_iteration_does_not_stop_the_engine(engine, box_obj, monkeypatch):
    real = engine._run_timers
    failed = []

    def fails_once():
        if not failed:
            failed.append(True)
            raise RuntimeError("injected fault, once")
        real()

    monkeypatch.setattr(engine, "_run_timers", fails_once)
    job_id = submit(engine, box_obj, steps=1)
    assert engine.wait(job_id, 60).status == "succeeded"
    assert failed and engine.alive


def test_every_event_comes_from_the_engine_thread_and_later_ones_carry_an_eta(engine, box_obj):
    events: list[tuple[str, JobEvent]] = []
    engine.subscribe(lambda e: events.append((threading.current_thread().name, e)))
    assert engine.wait(submit(engine, box_obj, steps=2), 60).status == "succeeded"
    second = submit(engine, box_obj, steps=2)
    assert engine.wait(second, 60).status == "succeeded"
    # "queued" too: submit only hands the job to the engine thread, which emits it before
    # the scheduler can start the job, so the order below always holds.
    assert {name for name, _ in events} == {"meshsmith-engine"}
    mine = [e for _, e in events if e.job_id == second]
    states = [e.job.state for e in mine if e.kind == "updated"]
    assert states == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    # The first job taught the estimates: the second one's events carry an ETA.
    assert any(e.eta_s is not None and e.eta_s >= 0 for e in mine if e.kind != "updated"
               or e.job.state is not JobState.SUCCEEDED)


def test_an_idle_worker_process_exits_after_the_idle_timeout(data_dir, test_registry, box_obj):
    with Engine(data_dir, registry=test_registry, idle_timeout_s=0.5) as engine:
        assert engine.wait(submit(engine, box_obj, steps=1), 60).status == "succeeded"
        wait_until(lambda: engine.worker_pids() == [], 20)


def test_two_jobs_of_one_cpu_adapter_run_side_by_side_on_free_cpu_slots(data_dir, test_registry,
                                                                        box_obj):
    with Engine(data_dir, registry=test_registry, cpu_slots=2) as engine:
        both = threading.Event()
        pids: set[int] = set()

        def watch(event: JobEvent) -> None:
            if event.kind == "progress" and len(ids) == 2 and all(j in engine.progress for j in ids):
                pids.update(engine.worker_pids())
                both.set()  # both report progress at once: two workers compute

        ids: list[str] = []
        engine.subscribe(watch)
        ids += [submit(engine, box_obj, steps=20, step_s=0.1) for _ in range(2)]
        assert both.wait(30)  # the second did not wait for the first
        assert len(pids) == 2
        assert all(engine.wait(j, 60).status == "succeeded" for j in ids)


def test_simulated_gpus_reach_the_engine_only_through_a_devices_object(data_dir, test_registry):
    from engine.workers.devices import Devices
    from engine.workers.nvml import StaticGpus

    with Engine(data_dir, registry=test_registry,
                devices=Devices(StaticGpus([24000, 8000]), visible_devices=None)) as engine:
        assert [d for d in engine.scheduler.devices] == ["cuda:0", "cuda:1", "cpu"]
        assert engine.scheduler.devices["cuda:0"].uuid == "GPU-sim-0"


def wait_until(predicate, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_estimates_are_seeded_from_the_history_at_start_up(data_dir, test_registry, box_obj):
    with Engine(data_dir, registry=test_registry) as engine:
        assert not engine.scheduler.estimates.known("sleepy")
        assert engine.wait(submit(engine, box_obj, steps=2), 60).status == "succeeded"
    with Engine(data_dir, registry=test_registry) as engine:  # a new session, same history
        assert engine.scheduler.estimates.known("sleepy")
        assert 0 < engine.scheduler.estimates.run_s("sleepy") < 30


def test_a_load_that_runs_out_of_memory_is_retried_once_on_a_fresh_worker(
        data_dir, box_obj, tmp_path, monkeypatch):
    from engine.contract.spec import Registry
    from tests.engine.pool_adapters import MARKER_ENV, oom_once_spec

    marker = tmp_path / "loaded-once"
    monkeypatch.setenv(MARKER_ENV, str(marker))  # the workers inherit it
    stages: list[str] = []
    with Engine(data_dir, registry=Registry([oom_once_spec()])) as engine:
        engine.subscribe(lambda e: stages.append(e.stage) if e.kind == "progress" else None)
        job = engine.submit("mesh_segmentation", [engine.stage(box_obj)], adapter="oom_once",
                            params={"steps": 1})
        result = engine.wait(job, 60)
    assert result.status == "succeeded", result.error
    assert marker.exists()  # the first load did run out of memory
    assert any("out of memory" in s for s in stages)


def test_a_worker_death_is_told_by_how_it_died_or_left_to_the_generic_sentence():
    from engine.runtime.shell import crash_error

    assert crash_error("UV unwrap (xatlas)", None) is None  # not known: the generic sentence
    assert crash_error("UV unwrap (xatlas)", 0) is None
    assert crash_error("", -11) is None
    assert crash_error("UV unwrap (xatlas)", -999) is None  # no such signal
    segv = crash_error("UV unwrap (xatlas)", -signal.SIGSEGV)
    assert segv.message.startswith("UV unwrap (xatlas) crashed on this input (SIGSEGV)")
    assert "SIGTERM" in crash_error("UV unwrap (xatlas)", -signal.SIGTERM).message
    assert "code 3" in crash_error("UV unwrap (xatlas)", 3).message
