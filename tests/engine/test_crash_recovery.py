"""The studio killed mid-queue: no job lost, no orphan worker, everything finishes after restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from engine.contract.spec import Registry
from engine.errors import ErrorCode
from engine.jobs import JobSpec, JobState
from engine.runtime.engine import Engine
from engine.storage import ownership
from engine.storage.jobstore import JobStore
from tests.conftest import ROOT
from tests.engine.fake_adapters import sleepy_spec


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, just not yet reaped
        return stat.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.slow
def test_sigkill_of_the_engine_mid_queue_loses_nothing_and_leaves_no_worker(data_dir, box_obj):
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.engine_victim", str(data_dir.root), str(box_obj), "4"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    report = json.loads(victim.stdout.readline())
    assert report["workers"], "the first job should be running in a worker"
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    deadline = time.monotonic() + 20  # generous: a loaded machine notices late
    while any(alive(pid) for pid in report["workers"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in report["workers"]), "a worker outlived the engine"

    # read before the studio starts: once started, it may already be running the job again
    before = JobStore(data_dir.db)
    assert before.get(report["jobs"][0]).attempts == 1  # it ran once before the crash
    before.close()
    registry = Registry([sleepy_spec()])
    with Engine(data_dir, registry=registry, resume_interrupted=True) as engine:  # the studio
        results = [engine.wait(job_id, 120) for job_id in report["jobs"]]
    assert [r.status for r in results] == ["succeeded"] * 4
    store = JobStore(data_dir.db)
    assert {j.job_id for j in store.list()} == set(report["jobs"])
    assert store.get(report["jobs"][0]).attempts == 2
    store.close()


def test_the_studio_requeues_an_interrupted_job_once_then_fails_it(data_dir):
    dead = JobStore(data_dir.db, owner="dead-engine")
    spec = JobSpec(feature="uv_unwrapping", adapter="xatlas", inputs=["/x.obj"])
    dead.add("once", spec)
    dead.add("twice", spec)
    dead.add("waiting", spec)
    for job_id, runs in (("once", 1), ("twice", 2)):
        for _ in range(runs):
            dead.transition(job_id, JobState.RUNNING)
            if runs == 2 and dead.get(job_id).attempts == 1:
                dead.transition(job_id, JobState.INTERRUPTED)
                dead.transition(job_id, JobState.QUEUED)
    dead.close()
    store = JobStore(data_dir.db, owner="studio")
    interrupted = ownership.interrupt_foreign(store)
    assert {j.job_id for j in interrupted} == {"once", "twice", "waiting"}
    requeued = ownership.resume_interrupted(store)
    assert [j.job_id for j in requeued] == ["once", "waiting"]
    failed = store.get("twice")
    assert failed.state is JobState.FAILED and failed.error.code == ErrorCode.INTERRUPTED
    assert failed.error.message == (
        "Meshsmith stopped twice while this job ran, so it was not retried.")
    store.close()


def test_store_refuses_an_illegal_transition_and_keeps_the_row(data_dir):
    from engine.jobs import IllegalTransition

    store = JobStore(data_dir.db)
    store.add("j", JobSpec(feature="uv_unwrapping", adapter="xatlas", inputs=["/x.obj"]))
    with pytest.raises(IllegalTransition):
        store.transition("j", JobState.SUCCEEDED)
    assert store.get("j").state is JobState.QUEUED
    store.close()
