"""A job belongs to the engine that started it: real CLI processes killed, stopped, resumed.

The history never says ``running`` for a job no engine runs, a command-line run never runs
another engine's job by itself, and ``main.py resume ID`` finishes an interrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from engine.jobs import JobState
from engine.storage.jobstore import JobStore
from engine.storage.paths import DataDir
from tests.conftest import ROOT


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.app.cli_with_fakes", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.app.cli_with_fakes", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=os.environ.copy())


def slow_job_running(mesh, steps: int = 60) -> subprocess.Popen[str]:
    """A CLI run of the sleepy fake, returned once its job has taken its first steps."""
    proc = start_cli("run", "mesh_segmentation", str(mesh), "--adapter", "sleepy",
                     "--param", f"steps={steps}", "--param", "step_s=0.05", "--json")
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "step 3 of" in line:
            return proc
    raise AssertionError(f"the job never ran: {''.join(seen)}")


def only_job(meshsmith_home):
    store = JobStore(DataDir(meshsmith_home).db, recover=False)
    try:
        return store.list()
    finally:
        store.close()


@pytest.mark.slow
def test_a_killed_cli_run_is_interrupted_not_rerun_and_resume_finishes_it(box_obj,
                                                                          meshsmith_home):
    victim = slow_job_running(box_obj)
    victim.kill()  # SIGKILL: no chance to tidy up
    victim.communicate(timeout=10)
    (killed,) = only_job(meshsmith_home)
    assert killed.state is JobState.RUNNING  # what the kill left behind in the file...
    listed = run_cli("history", "--json")
    assert [j["state"] for j in json.loads(listed.stdout)] == ["interrupted"]  # ...not shown

    other = run_cli("run", "mesh_segmentation", str(box_obj), "--adapter", "sleepy",
                    "--param", "steps=1", "--json")
    assert other.returncode == 0, other.stderr
    jobs = {j.job_id: j for j in only_job(meshsmith_home)}
    before = jobs[killed.job_id]
    assert before.state is JobState.INTERRUPTED  # marked before anything else, never rerun
    assert before.attempts == 1
    assert before.error.message == (
        "Meshsmith stopped while this job ran (its process was killed); re-run it in the "
        f"studio, or run `main.py resume {killed.job_id}`.")

    resumed = run_cli("resume", killed.job_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result["job_id"] == killed.job_id and result["status"] == "succeeded"
    after = {j.job_id: j for j in only_job(meshsmith_home)}[killed.job_id]
    assert after.state is JobState.SUCCEEDED and after.attempts == 2


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_stops_a_cli_run_cleanly_and_the_job_is_cancelled(box_obj,
                                                                           meshsmith_home,
                                                                           signum):
    victim = slow_job_running(box_obj, steps=400)
    victim.send_signal(signum)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == 1, err
    assert "Traceback" not in err
    (job,) = only_job(meshsmith_home)
    assert job.state is JobState.CANCELLED, job


def test_resume_of_a_job_that_is_not_interrupted_is_one_sentence(box_obj):
    proc = run_cli("resume", "0123456789ab")
    assert proc.returncode == 2
    assert proc.stderr == "meshsmith: There is no job 0123456789ab.\n"


def test_history_shows_running_only_while_an_engine_holds_the_folder(data_dir):
    from engine.contract.spec import Registry
    from engine.runtime.engine import Engine
    from engine.runtime.lock import EngineLock
    from tests.engine.fake_adapters import sleepy_spec

    lock = EngineLock(data_dir.lock)
    assert not lock.in_use()
    with Engine(data_dir, registry=Registry([sleepy_spec()])):
        assert lock.in_use()
    assert not lock.in_use()
