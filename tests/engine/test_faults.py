"""Fault injection through the real engine and real worker processes: killed workers, adapters
that raise or run out of memory, a full disk, a damaged or locked history, a killed engine.

Every fault must end in one terminal job with one sentence, lose no other job, present no
half-written file as a result, and leave the studio working.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.registry import SPECS
from engine.contract.spec import Registry
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import JobSpec, JobState
from engine.meshio import reader as meshio
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent
from engine.storage.jobstore import JobStore
from engine.storage.logs import read_log
from engine.storage.paths import DataDir
from tests.conftest import ROOT
from tests.engine.engine_victim import churn_registry
from tests.engine.fake_adapters import sleepy_spec
from tests.engine.fault_adapters import fault_spec
from tests.engine.test_crash_recovery import alive

pytestmark = pytest.mark.slow


@pytest.fixture
def faulty(data_dir: DataDir) -> Iterator[Engine]:
    registry = Registry([
        *SPECS, sleepy_spec(), sleepy_spec("part_completion", "sleepy_parts"), fault_spec(),
        fault_spec("full_disk", "image_to_raw_mesh", entry="DiskFullAdapter"),
    ])
    engine = Engine(data_dir, registry=registry, cancel_grace_s=1.0).start()
    try:
        yield engine
    finally:
        engine.shutdown()


FEATURE_OF = {"sleepy": "mesh_segmentation", "sleepy_parts": "part_completion",
              "faulty": "text_to_textured_mesh", "full_disk": "image_to_raw_mesh"}


def run(engine: Engine, mesh: Path, adapter: str, timeout: float = 60, **params):
    """Run one job on ``adapter`` (named: the real adapters share these features)."""
    job_id = engine.submit(FEATURE_OF[adapter], [engine.stage(mesh)], adapter=adapter,
                           params=params)
    return engine.wait(job_id, timeout)


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def half_files(data: DataDir) -> list[Path]:
    return [p for p in data.outputs.rglob("*") if ".partial" in p.name or p.name.endswith(".tmp")]


def assert_failed_cleanly(engine: Engine, result, code: ErrorCode) -> None:
    assert result.status == "failed" and result.error.code == code, result.error
    message = result.error.message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    assert result.output_file_path is None and result.outputs == []
    assert not engine.data.job_output(result.job_id).exists()  # nothing half-written is kept
    assert engine.get(result.job_id).state is JobState.FAILED


def worker_children() -> set[int]:
    """This process's children started by multiprocessing's spawn (worker processes), zombies
    included: a zombie is a worker nobody reaped."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                    spawned = b"spawn_main" in cmd.read()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == os.getpid() and (spawned or not _cmdline_readable(entry)):
                found.add(int(entry))
    return found


def _cmdline_readable(pid: str) -> bool:
    try:  # a zombie's cmdline is empty
        with open(f"/proc/{pid}/cmdline", "rb") as cmd:
            return bool(cmd.read())
    except OSError:
        return False


# ----------------------------------------------------------------------------- workers


def test_sigkill_of_a_worker_at_random_moments_fails_only_that_job(faulty, box_obj):
    # Other tests' warm helper processes (the studio's offload pool) may still be around.
    before = worker_children()
    rng = random.Random(20240611)
    staged = faulty.stage(box_obj)
    outcomes: list[str] = []
    killed: set[int] = set()
    for i in range(6):
        job_id = faulty.submit("mesh_segmentation", [staged], adapter="sleepy",
                               params={"steps": 8, "step_s": 0.05})
        if i == 0:  # one kill surely lands mid-run, however slow the machine
            wait_until(lambda: job_id in faulty.progress)  # noqa: B023 (called at once)
        else:
            time.sleep(rng.uniform(0.0, 1.6))  # before spawn, while loading, mid-run, after
        for pid in faulty.worker_pids():
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        result = faulty.wait(job_id, 60)
        if result.status == "failed":
            assert_failed_cleanly(faulty, result, ErrorCode.WORKER_CRASHED)
        else:
            assert result.status == "succeeded"
            assert meshio.load_mesh(result.output_file_path).faces.shape == (12, 3)
        outcomes.append(result.status)
    assert "failed" in outcomes, "no kill landed while a job ran"
    # A job handed to a worker in the instant it is being killed fails with it (that is a
    # crash during the job); the engine carrying on means the next job, once the dead are
    # noticed, runs.
    wait_until(lambda: not killed & set(faulty.worker_pids()))
    after = run(faulty, box_obj, "sleepy", steps=1)
    assert after.status == "succeeded"
    assert {j.state for j in faulty.store.list()} <= {JobState.SUCCEEDED, JobState.FAILED}
    assert half_files(faulty.data) == []
    time.sleep(0.5)  # let the last killed worker be reaped
    # none leaked, none left a zombie
    assert worker_children() - before == set(faulty.worker_pids())


def test_adapter_that_raises_after_writing_half_a_file(faulty, box_obj):
    first = run(faulty, box_obj, "faulty", raise_after_partial=True)
    assert_failed_cleanly(faulty, first, ErrorCode.ADAPTER_FAILED)
    assert first.error.message == "Fake faulty failed: the fault adapter broke halfway."
    pids = faulty.worker_pids()
    assert run(faulty, box_obj, "faulty").status == "succeeded"
    assert faulty.worker_pids() == pids  # an exception does not cost the warm worker


# ----------------------------------------------------------------------------- out of memory


def test_out_of_memory_evicts_idle_models_and_retries_once_on_the_same_worker(faulty, box_obj):
    assert run(faulty, box_obj, "sleepy_parts", steps=1).status == "succeeded"
    (idle_pid,) = faulty.worker_pids()  # an idle model that the retry has to make room for
    events: list[JobEvent] = []
    faulty.subscribe(events.append)
    result = run(faulty, box_obj, "faulty", oom_runs=1)
    assert result.status == "succeeded", result.error
    assert result.stats["runs"] == 2  # the same worker ran it twice: its model stayed loaded
    assert idle_pid not in faulty.worker_pids()
    stages = [e.stage for e in events if e.kind == "progress" and e.job_id == result.job_id]
    assert any("out of memory" in s for s in stages)
    assert faulty.get(result.job_id).attempts == 1  # one run as the artist sees it


def test_out_of_memory_again_after_the_retry_fails_with_out_of_memory(faulty, box_obj):
    result = run(faulty, box_obj, "faulty", oom_runs=2)
    assert_failed_cleanly(faulty, result, ErrorCode.OUT_OF_MEMORY)
    assert result.error.message == "Fake faulty ran out of memory; try a smaller input."
    assert run(faulty, box_obj, "faulty").status == "succeeded"


# ----------------------------------------------------------------------------- disk full


def test_disk_full_while_writing_the_result(faulty, box_obj):
    before = run(faulty, box_obj, "sleepy", steps=1)
    result = run(faulty, box_obj, "full_disk", subdivisions=5)  # ~1 MB > 64 KB
    assert_failed_cleanly(faulty, result, ErrorCode.DISK_FULL)
    assert result.error.message.startswith("The disk is full")
    assert half_files(faulty.data) == []
    # History intact: the earlier result is still listed and still on disk.
    assert Path(before.output_file_path).is_file()
    assert faulty.get(before.job_id).result == before
    assert [j.job_id for j in faulty.store.list()] == [result.job_id, before.job_id]
    assert run(faulty, box_obj, "sleepy", steps=1).status == "succeeded"


def test_glb_write_is_atomic_when_the_disk_fills(tmp_path, monkeypatch):
    import errno

    import trimesh

    from engine.meshio import glb

    target = tmp_path / "result.glb"
    glb.write_glb(trimesh.creation.box(), target)
    good = target.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(glb.os, "fsync", full)
    with pytest.raises(OSError):
        glb.write_glb(trimesh.creation.icosphere(), target)
    assert target.read_bytes() == good  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.glb"]


# ----------------------------------------------------------------------------- the history


def test_a_file_that_is_not_a_database_is_set_aside_and_the_studio_starts(data_dir, box_obj):
    data_dir.db.write_bytes(b"this is not SQLite, just bytes" * 100)
    with Engine(data_dir, registry=Registry([sleepy_spec()])) as engine:
        backup = engine.store.recovered_from
        assert backup is not None and backup.name.startswith("jobs.sqlite.corrupt-")
        assert backup.read_bytes() == b"this is not SQLite, just bytes" * 100
        assert engine.store.warning == (
            f"The job history was damaged, so Meshsmith started a new one and kept the old file "
            f"as {backup.name}."
        )
        assert run(engine, box_obj, "sleepy", steps=1).status == "succeeded"
    logged = [e for f in data_dir.logs.glob("engine-*.jsonl") for e in read_log(f)]
    assert any(e["level"] == "warning" and "job history was damaged" in e["message"]
               for e in logged)


def test_a_damaged_page_is_caught_by_the_check_and_the_old_file_kept(data_dir):
    store = JobStore(data_dir.db)
    spec = JobSpec(feature="uv_unwrapping", adapter="xatlas", inputs=["/x.obj"])
    for i in range(300):  # a few pages of rows and index
        store.add(f"job{i:04d}", spec)
    store.close()
    raw = bytearray(data_dir.db.read_bytes())
    assert len(raw) > 4 * 4096
    raw[2 * 4096 : 3 * 4096] = bytes(range(256)) * 16  # one page of noise
    data_dir.db.write_bytes(bytes(raw))
    store = JobStore(data_dir.db)
    assert store.recovered_from is not None and store.recovered_from.read_bytes() == bytes(raw)
    assert store.list() == []
    store.add("fresh", spec)
    store.close()
    assert JobStore(data_dir.db).get("fresh") is not None
    # A reader that does not own the folder gets a sentence and moves nothing.
    data_dir.db.write_bytes(b"garbage" * 1000)
    with pytest.raises(MeshsmithError, match=r"is damaged; start the studio"):
        JobStore(data_dir.db, recover=False)
    assert data_dir.db.read_bytes() == b"garbage" * 1000


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA locking_mode=EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("CREATE TABLE IF NOT EXISTS held (x)")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def locked_history(data_dir: DataDir) -> Iterator[subprocess.Popen]:
    JobStore(data_dir.db).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(data_dir.db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    try:
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_a_history_locked_by_another_program_is_one_sentence(data_dir, locked_history):
    started = time.monotonic()
    with pytest.raises(MeshsmithError) as err:
        JobStore(data_dir.db, busy_timeout_s=0.2)
    assert time.monotonic() - started < 3
    assert err.value.code == ErrorCode.ENGINE_LOCKED
    assert err.value.message == (
        f"The job history {data_dir.db} is locked by another program; close it (a database "
        "browser or another studio) and start Meshsmith again."
    )
    assert not list(data_dir.root.glob("jobs.sqlite.corrupt-*"))  # locked is not damaged


def test_engine_start_on_a_locked_history_refuses_and_can_start_later(data_dir, locked_history):
    engine = Engine(data_dir, registry=Registry([sleepy_spec()]))
    with pytest.raises(MeshsmithError, match="locked by another program"):
        engine.start()
    locked_history.stdin.close()
    locked_history.wait(10)
    with Engine(data_dir, registry=Registry([sleepy_spec()])) as again:  # the lock was released
        assert again.store.list() == []


# ----------------------------------------------------------------------------- a killed engine


def _read_reports(stream, into: list[dict]) -> None:
    for line in stream:  # until the killed victim's pipe closes
        into.append(json.loads(line))


def test_engine_killed_repeatedly_mid_write_stays_consistent(data_dir, box_obj):
    rng = random.Random(7)
    submitted: list[str] = []
    for _ in range(4):
        victim = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.engine_victim", str(data_dir.root),
             str(box_obj), "4", "churn"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        reports: list[dict] = []
        reader = threading.Thread(target=_read_reports, args=(victim.stdout, reports))
        reader.start()
        limit = time.monotonic() + 60
        while not reports and time.monotonic() < limit:
            time.sleep(0.02)
        assert reports, "the victim never submitted a job"
        time.sleep(rng.uniform(0.5, 4.0))  # jobs are running, writing and finishing now
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        reader.join(10)
        victim.stdout.close()
        submitted.extend(r["job"] for r in reports)
        workers = {pid for r in reports for pid in r["workers"]}
        limit = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < limit:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "a worker outlived the engine"
        check = sqlite3.connect(data_dir.db)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        check.close()

    with Engine(data_dir, registry=churn_registry(), resume_interrupted=True) as engine:
        pending = engine.store.list(states=[JobState.QUEUED])
        for job in pending:
            engine.wait(job.job_id, 120)
        jobs = {j.job_id: j for j in engine.store.list()}
    assert set(submitted) <= set(jobs), "a submitted job is missing from the history"
    assert all(j.state.terminal for j in jobs.values()), "a job was left unfinished"
    assert sum(j.state is JobState.SUCCEEDED for j in jobs.values()) > len(jobs) // 2
    for job in jobs.values():
        folder = data_dir.job_output(job.job_id)
        if job.state is JobState.SUCCEEDED:
            assert meshio.load_mesh(job.result.output_file_path).faces.size
        else:
            assert job.error.code in {ErrorCode.INTERRUPTED, ErrorCode.CANCELLED}, job.error
            assert not folder.exists(), "a half-written output survived"
    assert half_files(data_dir) == []
    assert not list(data_dir.inputs.glob(".staging-*"))
