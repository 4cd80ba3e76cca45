"""A full (or read-only) disk at every write Meshsmith makes: one sentence, never a hang,
and the history catches up once space returns.

The data folder lives on a real small tmpfs (tests.support.small_disks: root only, else the
test is skipped). The one simulated case is a COMMIT that fails after the row's UPDATE, the
exact order the probe hit: a full tmpfs cannot be made to fail at that statement on demand,
so a connection wrapper raises SQLite's own error there; it is named so below.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from engine.contract.spec import Registry
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import JobState
from engine.meshio import reader, staging
from engine.runtime.engine import Engine
from engine.storage.logs import remove_handler, setup_json_logging
from engine.storage.paths import DataDir
from tests.engine.fake_adapters import sleepy_spec
from tests.engine.fault_adapters import fault_spec
from tests.support.small_disks import fill, small_disk

FULL = ("The disk holding {where} is full, so the job history could not be written; free "
        "some space and try again.")


def filling_registry() -> Registry:
    return Registry([sleepy_spec(),
                     fault_spec("filling", "mesh_segmentation", entry="FillingAdapter",
                                params="FillParams")])


@pytest.fixture(autouse=True)
def quick_history_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused history write is tried again every RETRY_S (5 s in the studio); the tests
    wait for that catch-up, so here it comes every half second. Still a timer, still retried."""
    monkeypatch.setattr("engine.runtime.instructions.RETRY_S", 0.5)


@pytest.fixture
def small_home(tmp_path: Path):
    with small_disk(tmp_path / "home", size="6m") as root:
        yield DataDir(root).ensure()


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.1)


def test_staging_onto_a_full_disk_blames_the_disk_not_the_input(small_home, box_obj):
    fill(small_home.root)
    with pytest.raises(MeshsmithError) as caught:
        staging.stage_input(box_obj, small_home)
    assert caught.value.code is ErrorCode.DISK_FULL
    assert caught.value.message == (
        f"The disk holding {small_home.inputs} is full, so the input could not be copied "
        "there; free some space and try again.")
    assert not list(small_home.inputs.glob(".staging-*"))


def test_a_disk_that_fills_during_a_job_answers_at_once_and_the_history_catches_up(
        small_home, box_obj, capfd):
    with Engine(small_home, registry=filling_registry()) as engine:
        staged = engine.stage(box_obj)
        job_id = engine.submit("mesh_segmentation", [staged], adapter="filling",
                               params={"leave_bytes": 0})
        result = engine.wait(job_id, 60)  # answered: no hang on the refused writes
        assert result.status == "failed" and result.error.code == ErrorCode.DISK_FULL
        assert result.error.message in (
            "The disk is full, so the result could not be written; free some space and run "
            "the job again.",  # the GLB write, when the history row still fit
            FULL.format(where=small_home.root))  # the history row too
        (small_home.root / "filler.bin").unlink()  # space returns
        wait_for(lambda: engine.get(job_id).state.terminal)
        job = engine.get(job_id)
        assert job.state is JobState.FAILED and job.error.code == ErrorCode.DISK_FULL
    assert "Traceback" not in capfd.readouterr().err


def test_a_thumbnail_the_disk_refuses_leaves_the_mesh_and_no_half_file(small_home, box_obj):
    # the filling adapter's GLB is 31,644 bytes (8 pages of tmpfs), its thumbnail ~21 KB:
    # leave room for the GLB and 2 pages more, so the GLB fits and the thumbnail cannot
    with Engine(small_home, registry=filling_registry()) as engine:
        job_id = engine.submit("mesh_segmentation", [engine.stage(box_obj)], adapter="filling",
                               params={"leave_bytes": 10 * 4096})
        first = engine.wait(job_id, 60)  # at once: succeeded, or the history row refused
        assert first.status == "succeeded" or first.error.code == ErrorCode.DISK_FULL, first
        (small_home.root / "filler.bin").unlink()
        wait_for(lambda: engine.get(job_id).state.terminal)
        job = engine.get(job_id)
    assert job.state is JobState.SUCCEEDED, job.error
    assert job.result.thumbnail_path is None
    folder = small_home.job_output(job_id)
    glb = Path(job.result.output_file_path)
    assert glb.name == "box_parts.glb"  # named after its input and feature
    assert sorted(p.name for p in folder.iterdir()) == [glb.name]  # no half thumbnail
    assert len(reader.load_mesh(glb).faces) == 1280


class _CommitFails:
    """SIMULATED: a connection whose COMMIT raises SQLITE_FULL while ``full`` is set."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.full = db, False

    def execute(self, sql: str, *args):
        if sql == "COMMIT" and self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


def test_a_refused_final_history_write_resolves_the_job_and_is_retried(data_dir, box_obj):
    with Engine(data_dir, registry=filling_registry()) as engine:
        wrapper = _CommitFails(engine.store._db)
        engine.store._db = wrapper
        staged = engine.stage(box_obj)
        job_id = engine.submit("mesh_segmentation", [staged], adapter="sleepy",
                               params={"steps": 3, "step_s": 0.05})
        wait_for(lambda: engine.get(job_id).state is JobState.RUNNING)
        wrapper.full = True
        result = engine.wait(job_id, 60)
        assert result.status == "failed" and result.error.model_dump() == {
            "code": "DISK_FULL", "message": FULL.format(where=data_dir.root)}
        assert not wrapper.db.in_transaction  # rolled back, the connection still usable
        assert engine.get(job_id).state is JobState.RUNNING  # not yet written...
        wrapper.full = False
        wait_for(lambda: engine.get(job_id).state is JobState.SUCCEEDED)  # ...then written


def test_a_history_on_a_full_disk_refuses_a_new_job_with_one_sentence(small_home, box_obj):
    with Engine(small_home, registry=filling_registry()) as engine:
        staged = engine.stage(box_obj)
        fill(small_home.root)
        with pytest.raises(MeshsmithError) as caught:
            for _ in range(200):  # the WAL may hold a few rows in pages it already has
                engine.submit("mesh_segmentation", [staged], adapter="sleepy",
                              params={"steps": 1, "step_s": 0.0})
        assert caught.value.to_dict() == {"code": "DISK_FULL",
                                          "message": FULL.format(where=small_home.root)}
        (small_home.root / "filler.bin").unlink()


def test_log_lines_a_full_disk_refuses_are_dropped_silently_and_logging_recovers(
        small_home, capfd):
    path = small_home.logs / "engine-test.jsonl"
    handler = setup_json_logging(path)
    try:
        filler = fill(small_home.root)
        for n in range(50):
            logging.getLogger("engine.test").warning("line %d %s", n, "x" * 2000)
        assert handler.dropped > 0
        filler.unlink()
        logging.getLogger("engine.test").warning("after the disk was freed")
    finally:
        remove_handler(handler)
    assert "Logging error" not in capfd.readouterr().err
    assert path.read_text(encoding="utf-8").rstrip().endswith('"after the disk was freed"}')


def test_a_refused_running_write_still_ends_the_job_in_the_history(data_dir, box_obj):
    """SIMULATED, as above: the COMMIT of the job's "running" row fails, once."""
    with Engine(data_dir, registry=filling_registry()) as engine:
        wrapper = _CommitFails(engine.store._db)
        engine.store._db = wrapper
        original, refused = engine.store.transition, []

        def refuse_the_start(job_id, new, **kwargs):
            wrapper.full = new is JobState.RUNNING and not refused
            refused.extend([new] if wrapper.full else [])
            try:
                return original(job_id, new, **kwargs)
            finally:
                wrapper.full = False

        engine.store.transition = refuse_the_start
        job_id = engine.submit("mesh_segmentation", [engine.stage(box_obj)], adapter="sleepy",
                               params={"steps": 2, "step_s": 0.01})
        result = engine.wait(job_id, 60)  # it hung here: queued -> succeeded is illegal
        assert refused == [JobState.RUNNING]
        assert result.status == "succeeded"
        assert engine.get(job_id).state is JobState.SUCCEEDED


def test_a_read_only_history_still_shows_the_jobs_its_write_ahead_log_holds(tmp_path):
    """A studio's newest jobs sit in jobs.sqlite-wal until a checkpoint. A reader on a
    read-only mount reads them while the log's index (-shm) is there; without it SQLite can
    read only the main file, and the reader says the newest jobs are missing."""
    from engine.jobs import JobSpec
    from engine.storage.jobstore import JobStore
    from tests.support.small_disks import remount, small_disk

    writer = JobStore(tmp_path / "jobs.sqlite")
    try:
        writer._db.execute("PRAGMA wal_autocheckpoint=0")  # new jobs stay in the log
        writer.add("job000000000", JobSpec(feature="uv_unwrapping", adapter="xatlas"))
        writer._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # this one is in the main file
        for i in (1, 2):
            writer.add(f"job{i:09d}", JobSpec(feature="uv_unwrapping", adapter="xatlas"))
        with small_disk(tmp_path / "ro") as ro:
            for name in ("jobs.sqlite", "jobs.sqlite-wal", "jobs.sqlite-shm"):
                shutil.copy(tmp_path / name, ro / name)
            remount(ro, read_only=True)
            reader = JobStore(ro / "jobs.sqlite", recover=False)
            try:
                assert len(reader.list()) == 3 and reader.warning is None
            finally:
                reader.close()
            remount(ro, read_only=False)
            (ro / "jobs.sqlite-shm").unlink()  # without the log's index only the main file reads
            remount(ro, read_only=True)
            reader = JobStore(ro / "jobs.sqlite", recover=False)
            try:
                assert [j.job_id for j in reader.list()] == ["job000000000"]
                assert "newest jobs" in reader.warning
            finally:
                reader.close()
    finally:
        writer.close()
