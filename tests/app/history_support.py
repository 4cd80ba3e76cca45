"""Helpers for the history and log panel tests: a store-only engine stand-in and job rows.

Pure view-model tests use ``StubBridge``: the real ``JobStore`` and ``DataDir`` with no engine
thread or worker processes, and a ``job_updated`` signal the test emits itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, Signal

from engine.jobs import ErrorInfo, Job, JobResult, JobSpec, JobState, Timings
from engine.storage.jobstore import JobStore
from engine.storage.paths import DataDir


@dataclass
class StubEngine:
    data: DataDir
    store: JobStore


class StubBridge(QObject):
    job_updated = Signal(object)

    def __init__(self, data: DataDir) -> None:
        super().__init__()
        self.engine = StubEngine(data, JobStore(data.db))


def add_job(
    engine: StubEngine, job_id: str, *, feature: str = "uv_unwrapping", adapter: str = "xatlas",
    state: JobState = JobState.SUCCEEDED, inputs: tuple[str, ...] = ("chair.obj",),
    error: str = "", thumbnail: bool = True, total_s: float = 2.5, age_s: float = 0.0,
) -> Job:
    """A job row as the engine leaves it: a succeeded one has result.glb (and a thumbnail)."""
    staged = [str(engine.data.inputs / f"{job_id}-{i}" / name) for i, name in enumerate(inputs)]
    spec = JobSpec(feature=feature, adapter=adapter, inputs=staged, params={"steps": 3})
    engine.store.add(job_id, spec, created_at=time.time() - age_s)
    if state is JobState.QUEUED:
        return engine.store.get(job_id)
    engine.store.transition(job_id, JobState.RUNNING)
    if state is JobState.RUNNING:
        return engine.store.get(job_id)
    base = dict(job_id=job_id, feature=feature, adapter=adapter, timings=Timings(total_s=total_s))
    if state is JobState.SUCCEEDED:
        out = engine.data.job_output(job_id)
        out.mkdir(parents=True)
        glb = out / "result.glb"
        glb.write_bytes(b"glTF" + job_id.encode())
        thumb = out / "thumbnail.png"
        if thumbnail:
            Image.new("RGBA", (256, 128), (200, 90, 40, 255)).save(thumb)
        result = JobResult(status="succeeded", output_file_path=str(glb),
                           thumbnail_path=str(thumb), **base)
        return engine.store.transition(job_id, state, result=result)
    info = ErrorInfo(code="ADAPTER_FAILED", message=error or f"The job was {state.value}.")
    result = JobResult(status=state.value, error=info, **base)
    return engine.store.transition(job_id, state, result=result, error=info)


def log_line(message: str, *, level: str = "info", job_id: str | None = None,
             ts: float | None = None, logger: str = "engine.runtime.engine") -> str:
    entry = {"ts": ts if ts is not None else time.time(), "level": level, "logger": logger,
             "pid": 1, "message": message}
    if job_id:
        entry["job_id"] = job_id
    return json.dumps(entry) + "\n"


def append(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with path.open("ab") as handle:
        handle.write(data)
