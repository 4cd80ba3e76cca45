"""The engine end to end with real worker processes: progress, cancel, crash, timeout, lock."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import JobState
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent

pytestmark = pytest.mark.slow


FAKE_ADAPTERS = {"mesh_segmentation": "sleepy", "part_completion": "sleepy_parts",
                 "auto_rig": "quick_timeout", "text_to_raw_mesh": "broken_load"}


def submit_sleepy(engine: Engine, mesh: Path, feature: str = "mesh_segmentation", **params) -> str:
    return engine.submit(feature, [engine.stage(mesh)], adapter=FAKE_ADAPTERS[feature],
                         params=params)


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_job_streams_progress_then_succeeds_with_the_contract_result(engine, box_obj):
    events: list[JobEvent] = []
    engine.subscribe(events.append)
    job_id = submit_sleepy(engine, box_obj, steps=4)
    result = engine.wait(job_id, 60)
    assert result.status == "succeeded", result.error
    assert Path(result.output_file_path).is_file() and result.output_file_path.endswith(".glb")
    assert Path(result.thumbnail_path).is_file()
    assert {o.role for o in result.outputs} == {"mesh", "thumbnail"}
    assert result.stats["faces"] == 12 and result.stats["steps"] == 4
    assert result.timings.total_s >= result.timings.run_s > 0
    assert result.worker.backend == "local" and result.worker.device == "cpu"
    fractions = [e.fraction for e in events if e.kind == "progress" and e.job_id == job_id]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 5
    states = [e.job.state for e in events if e.kind == "updated"]
    assert states == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert engine.get(job_id).result == result


def test_an_adapters_warnings_reach_the_result_and_the_history(engine, box_obj):
    note = "The texture wood.png was missing, so the result is untextured."
    job_id = submit_sleepy(engine, box_obj, steps=1, warn=note)
    result = engine.wait(job_id, 60)
    assert result.status == "succeeded" and result.warnings == [note]
    assert engine.store.get(job_id).result.warnings == [note]


def test_second_job_reuses_the_warm_worker_and_reports_no_load_time(engine, box_obj):
    first = engine.wait(submit_sleepy(engine, box_obj, steps=1), 60)
    pids = engine.worker_pids()
    second = engine.wait(submit_sleepy(engine, box_obj, steps=1), 60)
    assert first.timings.load_s > 0 and second.timings.load_s == 0
    assert engine.worker_pids() == pids


def test_the_result_future_of_an_unknown_job_is_refused_not_awaited_for_ever(engine):
    with pytest.raises(KeyError):
        engine.result_future("no-such-job")


def test_cancelling_a_callers_future_leaves_the_job_and_other_waiters_alone(engine, box_obj):
    job_id = submit_sleepy(engine, box_obj, steps=20, step_s=0.05)
    mine = engine.result_future(job_id)
    assert mine.cancel()
    assert engine.wait(job_id, timeout=60).status == "succeeded"
    done = engine.result_future(job_id)  # after the end: already done, from the history
    assert done.done() and done.result().status == "succeeded"


def test_cancel_queued_job(engine, box_obj):
    running = submit_sleepy(engine, box_obj, steps=100, step_s=0.05)
    queued = submit_sleepy(engine, box_obj, steps=1)
    engine.cancel(queued)
    assert engine.wait(queued, 10).status == "cancelled"
    engine.cancel(running)
    assert engine.wait(running, 20).status == "cancelled"
    assert not engine.data.job_output(running).exists()  # no half-written result is kept


def test_cancel_running_job_cooperatively_keeps_the_worker(engine, box_obj):
    job_id = submit_sleepy(engine, box_obj, steps=400, step_s=0.05)
    wait_for(lambda: job_id in engine.progress)
    pids = engine.worker_pids()
    started = time.monotonic()
    engine.cancel(job_id)
    result = engine.wait(job_id, 20)
    assert result.status == "cancelled" and result.error.code == ErrorCode.CANCELLED
    assert time.monotonic() - started < 1.0  # well inside the grace period
    assert engine.worker_pids() == pids


def test_cancel_of_a_job_that_ignores_it_kills_the_worker_after_the_grace_period(engine, box_obj):
    job_id = submit_sleepy(engine, box_obj, steps=400, step_s=0.05, ignore_cancel=True)
    wait_for(lambda: job_id in engine.progress)
    (pid,) = engine.worker_pids()
    engine.cancel(job_id)
    assert engine.wait(job_id, 20).status == "cancelled"
    wait_for(lambda: pid not in engine.worker_pids())
    assert engine.wait(submit_sleepy(engine, box_obj, steps=1), 60).status == "succeeded"


def test_sigkill_of_a_worker_fails_that_job_and_the_next_succeeds(engine, box_obj):
    job_id = submit_sleepy(engine, box_obj, steps=400, step_s=0.05)
    after = submit_sleepy(engine, box_obj, steps=1)
    wait_for(lambda: job_id in engine.progress)
    os.kill(engine.worker_pids()[0], signal.SIGKILL)
    result = engine.wait(job_id, 20)
    assert result.status == "failed" and result.error.code == ErrorCode.WORKER_CRASHED
    assert "SIGKILL" in result.error.message and "memory" in result.error.message
    assert engine.wait(after, 60).status == "succeeded"


def test_adapter_exception_fails_with_one_sentence(engine, box_obj):
    result = engine.wait(submit_sleepy(engine, box_obj, steps=1, fail=True), 60)
    assert result.error.code == ErrorCode.ADAPTER_FAILED
    assert result.error.message == "Fake sleepy failed: the fake adapter was told to fail."


def test_worker_that_exits_mid_job_fails_only_that_job(engine, box_obj):
    crash = submit_sleepy(engine, box_obj, steps=2, crash=True)
    error = engine.wait(crash, 60).error
    assert error.code == ErrorCode.WORKER_CRASHED
    assert error.message == ("The Fake sleepy worker exited with code 9 in the middle of the "
                             "job, so the job did not finish.")
    assert engine.wait(submit_sleepy(engine, box_obj, steps=1), 60).status == "succeeded"


def test_a_native_crash_names_the_adapter_and_the_signal_and_suggests_a_lighter_input(
        engine, box_obj):
    error = engine.wait(submit_sleepy(engine, box_obj, steps=1, segfault=True), 60).error
    assert error.code == ErrorCode.WORKER_CRASHED
    assert error.message.startswith("Fake sleepy crashed on this input (SIGSEGV)")
    assert "decimate" in error.message and error.message.count(". ") == 0
    assert engine.wait(submit_sleepy(engine, box_obj, steps=1), 60).status == "succeeded"


def test_timeout_stops_the_job(engine, box_obj):
    job_id = submit_sleepy(engine, box_obj, "auto_rig", steps=400, step_s=0.05)
    result = engine.wait(job_id, 30)
    assert result.error.code == ErrorCode.TIMEOUT
    assert "1 s limit" in result.error.message


def test_adapter_that_cannot_load_fails_its_job_with_the_reason(engine, box_obj):
    result = engine.wait(submit_sleepy(engine, box_obj, "text_to_raw_mesh"), 60)
    assert result.status == "failed" and "weights missing" in result.error.message


def test_features_run_side_by_side_on_the_cpu(engine, box_obj):
    a = submit_sleepy(engine, box_obj, steps=20, step_s=0.05)
    b = submit_sleepy(engine, box_obj, "part_completion", steps=20, step_s=0.05)
    both_running = threading.Event()

    def check(event: JobEvent) -> None:
        if a in engine.progress and b in engine.progress:
            both_running.set()

    engine.subscribe(check)
    assert engine.wait(a, 60).status == engine.wait(b, 60).status == "succeeded"
    assert both_running.is_set()


def test_invalid_params_and_wrong_input_kind_are_refused_before_a_job_exists(engine, box_obj,
                                                                              tmp_path):
    staged = engine.stage(box_obj)
    with pytest.raises(MeshsmithError) as err:
        engine.submit("mesh_retopology", [staged], params={"target_faces": "many"})
    assert err.value.code == ErrorCode.INVALID_PARAMS and "target_faces" in err.value.message
    with pytest.raises(MeshsmithError) as err:
        engine.submit("mesh_retopology", [staged], params={"colour": 3})
    assert err.value.code == ErrorCode.INVALID_PARAMS
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "pic.png")
    with pytest.raises(MeshsmithError, match=r"needs a mesh, but pic\.png is an image"):
        engine.submit("uv_unwrapping", [engine.stage(tmp_path / "pic.png")])
    assert engine.store.list() == []


def test_second_engine_on_the_same_data_directory_is_refused_naming_the_holder(engine):
    with pytest.raises(MeshsmithError) as err:
        Engine(engine.data, registry=engine.registry).start()
    assert err.value.code == ErrorCode.ENGINE_LOCKED
    assert f"process {os.getpid()}" in err.value.message


def test_logs_are_json_lines(engine, box_obj):
    from engine.storage.logs import read_log

    engine.wait(submit_sleepy(engine, box_obj, steps=1), 60)
    entries = [e for f in engine.data.logs.glob("engine-*.jsonl") for e in read_log(f)]
    assert any(e["message"].endswith("succeeded") and e.get("job_id") for e in entries)
    assert all({"ts", "level", "message"} <= set(e) for e in entries)


def test_a_warm_worker_serves_another_feature_of_its_adapter_with_that_features_parameters(
        tmp_path, box_obj):
    """Hunyuan3D makes raw and painted meshes with one model: a worker warmed by one feature
    takes the other's job, checking that job's own parameters and naming its result so."""
    from engine.contract.spec import Registry
    from engine.storage.paths import DataDir
    from tests.engine.fake_adapters import sleepy_spec

    registry = Registry([sleepy_spec(), sleepy_spec("part_completion",
                                                     params="SleepyColourParams")])
    with Engine(DataDir(tmp_path / "own"), registry=registry) as engine:
        staged = engine.stage(box_obj)
        first = engine.submit("mesh_segmentation", [staged], adapter="sleepy",
                              params={"steps": 1})
        assert engine.wait(first, 60).status == "succeeded"
        pids = engine.worker_pids()
        second = engine.submit("part_completion", [staged], adapter="sleepy",
                               params={"steps": 1, "colour": "red"})
        result = engine.wait(second, 60)
        assert result.status == "succeeded", result.error
        assert engine.worker_pids() == pids  # the warm worker took it
        assert Path(result.output_file_path).name == "box_completed.glb"
