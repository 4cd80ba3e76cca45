"""The system routes beyond a job's life: status and catalogue, structured logs, cancel,
upload bookkeeping, the user tag in an older history, and file work kept off the event loop."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from app.server.backend import Live, LiveJobs
from app.server.job_json import job_status
from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, Job, JobSpec, JobState
from engine.runtime.events import JobEvent
from engine.storage.jobstore import JobStore
from tests.server.conftest import b64

SLOW = {"model_preference": "sleepy", "params": {"steps": 400, "step_s": 0.05}}


def test_status_info_and_catalogue_describe_this_machine_and_its_adapters(api):
    status = api.get("/api/v1/system/status").json()
    assert isinstance(status["gpu"], list) and status["queue"]["pending_jobs"] == 0
    assert 0 <= status["system"]["memory"]["percent"] <= 100
    assert api.get("/api/v1/system/info").json()["application"]["engine"] == "studio"
    features = {f["name"]: f["models"] for f in api.get("/api/v1/system/features").json()
                ["features"]}
    assert features["uv_unwrapping"] == ["xatlas"]
    assert features["mesh_retopology"] == ["decimate", "instant_meshes"]
    one = api.get("/api/v1/system/models", params={"feature": "auto_rig"}).json()
    assert one == {"feature": "auto_rig", "models": ["skeleton_rig", "quick_timeout"]}
    details = api.get("/api/v1/system/models").json()["models_details"]
    assert "target_faces" in details["mesh_retopology/decimate"]["params_schema"]["properties"]
    assert api.get("/api/v1/mesh-retopology/available-models").json()["available_models"] == [
        "decimate", "instant_meshes"]


@pytest.mark.slow
def test_logs_come_from_the_json_lines_files_with_their_fields(api, box_obj):
    job = api.post("/api/v1/mesh-segmentation/segment-mesh",
                   json={"mesh_base64": b64(box_obj), "model_preference": "sleepy",
                         "params": {"steps": 1, "step_s": 0.0}}).json()
    api.wait(job["job_id"])
    logs = api.get("/api/v1/system/logs", params={"logger_name": "engine.runtime.engine",
                                                  "lines": 50}).json()
    finished = [e for e in logs["logs"] if e.get("job_id") == job["job_id"]]
    assert finished and finished[-1]["message"] == f"job {job['job_id']} succeeded"
    assert finished[-1]["level"] == "INFO" and finished[-1]["timestamp"].endswith("+00:00")
    assert logs["available_files"][0].endswith(".jsonl")
    later = api.get("/api/v1/system/logs", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert later["logs"] == []
    errors = api.get("/api/v1/system/logs", params={"level": "error"}).json()
    assert all(e["level"] == "ERROR" for e in errors["logs"])


@pytest.mark.slow
def test_a_running_job_can_be_cancelled_through_the_api(api, box_obj):
    job_id = api.post("/api/v1/mesh-segmentation/segment-mesh",
                      json={"mesh_base64": b64(box_obj), **SLOW}).json()["job_id"]
    api.client.get(f"/api/v1/system/jobs/{job_id}")
    cancel = api.post(f"/api/v1/system/jobs/{job_id}/cancel")
    assert cancel.status_code == 200 and cancel.json()["cancelled"]
    done = api.wait(job_id)
    assert done["status"] == "cancelled" and done["error"]
    again = api.post(f"/api/v1/system/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["message"].endswith("cancelled.")
    early = api.get(f"/api/v1/system/jobs/{job_id}/download")
    assert early.status_code == 400 and "not completed" in early.json()["message"]


def test_deleting_an_upload_removes_its_file_only_when_nothing_uses_it(api, box_obj, tmp_path):
    first, second = api.upload("mesh", box_obj), api.upload("mesh", box_obj)
    meta = api.get(f"/api/v1/file-upload/metadata/{first}").json()
    assert meta["is_available"] and meta["filename"] == "box.obj" and meta["file_type"] == "mesh"
    listed = api.get("/api/v1/file-upload/list").json()
    assert listed["total_files"] == 2 and {f["file_id"] for f in listed["files"]} == {first,
                                                                                      second}
    staged = Path(api.thread.store.upload(first, None).path)
    assert api.client.delete(f"/api/v1/file-upload/{first}").status_code == 200
    assert staged.is_file()  # the second upload has the same content
    assert api.get(f"/api/v1/file-upload/metadata/{first}").status_code == 404
    assert api.client.delete(f"/api/v1/file-upload/{second}").status_code == 200
    assert not staged.exists()


def test_an_older_history_gains_the_user_tag_with_an_empty_default(data_dir):
    db = sqlite3.connect(data_dir.db)
    db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, feature TEXT NOT NULL, adapter TEXT"
               " NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL,"
               " started_at REAL, finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0,"
               " result TEXT, error TEXT)")
    spec = JobSpec(feature="uv_unwrapping", adapter="xatlas")
    db.execute("INSERT INTO jobs (job_id, feature, adapter, spec, state, created_at) VALUES "
               "('old000000001', 'uv_unwrapping', 'xatlas', ?, 'succeeded', 1.0)",
               (spec.model_dump_json(),))
    db.commit()
    db.close()
    store = JobStore(data_dir.db)
    try:
        assert store.get("old000000001").user == ""
        store.add("new000000001", spec, user="alice")
        assert [j.job_id for j in store.list(user="alice")] == ["new000000001"]
        assert store.count(user="") == 1 and store.count() == 2
    finally:
        store.close()


def test_slow_file_work_does_not_hold_up_other_requests(api, box_obj, monkeypatch):
    """A stalled staging (a slow network share) runs on a worker thread: /health still
    answers while it waits."""
    release, entered = threading.Event(), threading.Event()
    stage = api.thread.backend.stage

    def stalled(source):
        entered.set()
        release.wait(60)
        return stage(source)

    monkeypatch.setattr(api.thread.backend, "stage", stalled)
    answers = []
    sender = threading.Thread(target=lambda: answers.append(api.post(
        "/api/v1/mesh-segmentation/segment-mesh",
        json={"mesh_base64": b64(box_obj), "model_preference": "sleepy",
              "params": {"steps": 1, "step_s": 0.0}})))
    sender.start()
    assert entered.wait(60)
    assert api.get("/health", timeout=10).status_code == 200  # the loop is free
    release.set()
    sender.join(60)
    assert answers and answers[0].status_code == 200


@pytest.mark.slow
def test_a_queued_job_says_why_it_waits(api, engine, box_obj):
    body = {"mesh_base64": b64(box_obj), **SLOW}
    # One more job than CPU slots: the last one waits (an adapter runs one job per slot).
    ids = [api.post("/api/v1/mesh-segmentation/segment-mesh", json=body).json()["job_id"]
           for _ in range(engine.scheduler.cpu_slots + 1)]
    last = ids[-1]
    deadline = time.monotonic() + 120
    while (status := api.get(f"/api/v1/system/jobs/{last}").json())["wait_cause"] is None:
        assert status["status"] == "queued" and time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "queued"
    assert status["wait_cause"] == "waiting for a free CPU slot"
    for job_id in reversed(ids):
        api.post(f"/api/v1/system/jobs/{job_id}/cancel")
    assert {api.wait(j)["status"] for j in ids} == {"cancelled"}


def test_the_engines_eta_reaches_the_job_status(box_obj):
    """The ETA is the engine's (JobEvent.eta_s); the status shows it while the job runs and
    drops it, with the rest of the live state, once the job ends."""
    live = LiveJobs()
    live.on_event(JobEvent("waiting", "j1", cause="waiting for a free CPU slot", eta_s=40.0))
    assert live.get("j1").cause == "waiting for a free CPU slot"
    live.on_message({"event": "progress", "job_id": "j1", "stage": "cutting", "fraction": 0.5,
                     "eta_s": 12.5})
    job = Job(job_id="j1", spec=JobSpec(feature="uv_unwrapping", adapter="xatlas"),
              state=JobState.RUNNING, created_at=time.time())
    status = job_status(job, live.get("j1"), "http://127.0.0.1:7842/")
    assert (status["status"], status["stage"], status["progress"]) == ("processing", "cutting",
                                                                       0.5)
    assert status["eta_seconds"] == 12.5 and status["wait_cause"] is None
    live.on_message({"event": "state", "job_id": "j1", "state": "succeeded"})
    assert live.get("j1") == Live()


def test_an_interrupted_job_reads_failed_with_its_resume_sentence_so_a_polling_client_stops():
    error = ErrorInfo(code=ErrorCode.INTERRUPTED,
                      message="The studio closed before this job finished; run `main.py resume j1`.")
    job = Job(job_id="j1", spec=JobSpec(feature="uv_unwrapping", adapter="xatlas"),
              state=JobState.INTERRUPTED, created_at=time.time(), error=error)
    status = job_status(job, Live(), "http://127.0.0.1:7842/")
    assert (status["status"], status["error_code"]) == ("failed", "INTERRUPTED")
    assert "resume" in status["error"] and status["result"] is None


def test_a_staged_file_a_job_used_is_kept_when_its_upload_is_deleted(data_dir):
    store = JobStore(data_dir.db)
    try:
        path = str(data_dir.inputs / "ab12" / "stühl 椅子.glb")
        store.add("job000000001", JobSpec(feature="uv_unwrapping", adapter="xatlas",
                                          inputs=[path]))
        assert store.uses_input(path)
        assert not store.uses_input(str(data_dir.inputs / "ab12" / "stühl.glb"))
    finally:
        store.close()
