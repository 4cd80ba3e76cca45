"""SIGTERM or SIGINT closes the real studio the way its close button does: it exits soon, the
job it was running is recorded interrupted (never left ``running``), and its workers and
helpers go with it. The studio runs under the tests' Xvfb display with a sleepy adapter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.jobs import JobState
from engine.runtime.instance_client import InstanceClient
from engine.storage.jobstore import JobStore
from engine.storage.paths import DataDir
from tests.app.test_studio_kill import assert_none_outlive, children
from tests.conftest import ROOT

EXIT_BOUND_S = 60  # the studio closes its engine (30 s thread join at most) and its helpers


def _connect(data: DataDir, studio: subprocess.Popen, log: Path) -> InstanceClient:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert studio.poll() is None, log.read_text()
        client = InstanceClient.connect(data)
        if client is not None:
            return client
        time.sleep(0.5)
    pytest.fail("the studio never started serving")


def _running(data: DataDir, job_id: str, studio: subprocess.Popen, log: Path) -> None:
    store = JobStore(data.db, recover=False)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert studio.poll() is None, log.read_text()
            job = store.get(job_id)
            if job is not None and job.state is JobState.RUNNING:
                return
            time.sleep(0.3)
        pytest.fail(f"the job never ran: {store.get(job_id)}")
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig, group", [(signal.SIGTERM, False), (signal.SIGINT, False),
                                        (signal.SIGINT, True)],
                         ids=["SIGTERM", "SIGINT", "Ctrl+C: SIGINT to the whole process group"])
def test_a_stop_signal_closes_the_studio_and_records_its_running_job_interrupted(
        sig, group, box_obj, meshsmith_home, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs the tests' Xvfb display")
    data = DataDir(meshsmith_home)
    log = tmp_path / "studio.log"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with log.open("wb") as err:
        studio = subprocess.Popen([sys.executable, "-m", "tests.app.sleepy_studio"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=err,
                                  start_new_session=True)
    helpers: dict[int, str] = {}
    try:
        with _connect(data, studio, log) as client:
            events = list(client.request({
                "op": "submit", "feature": "mesh_segmentation", "adapter": "sleepy",
                "inputs": [str(box_obj)], "params": {"steps": 10_000, "step_s": 0.1}}))
        job_id = events[-1]["job_id"]
        _running(data, job_id, studio, log)
        helpers = children(studio.pid)
        assert any("spawn_main" in cmd for cmd in helpers.values()), helpers
        if group:  # as a terminal's Ctrl+C does: the studio and every child at once
            os.killpg(studio.pid, sig)
        else:
            studio.send_signal(sig)
        try:
            code = studio.wait(EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the studio was still running {EXIT_BOUND_S} s after {sig.name}")
    finally:
        if studio.poll() is None:
            studio.kill()
            studio.wait(10)
    assert code == 0, log.read_text()  # a clean close, not death by the signal
    assert_none_outlive(helpers)
    store = JobStore(data.db, recover=False)
    try:
        job = store.get(job_id)
        unfinished = store.list(states=[JobState.RUNNING, JobState.QUEUED])
    finally:
        store.close()
    assert job.state in (JobState.INTERRUPTED, JobState.CANCELLED), job
    assert not unfinished, unfinished
