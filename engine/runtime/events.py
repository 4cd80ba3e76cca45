"""What the engine tells its subscribers, and how a finished job becomes a JobResult."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from engine.contract.spec import AdapterSpec
from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, Job, JobResult, JobState, Timings, WorkerInfo
from engine.runtime.time_limit import job_time_limit


@dataclass(frozen=True)
class JobEvent:
    """``updated``: the job's state changed (``job`` is the stored snapshot); ``progress``:
    stage and fraction; ``waiting``: why a queued job is not running yet (``cause``)."""

    kind: Literal["updated", "progress", "waiting"]
    job_id: str
    job: Job | None = None
    stage: str = ""
    fraction: float = 0.0
    cause: str | None = None
    eta_s: float | None = None  # seconds until the job should finish, when there is an estimate


@dataclass
class RunningJob:
    """The engine thread's notes on a job it has handed to the scheduler."""

    job: Job
    adapter: AdapterSpec
    device: str = ""
    worker_id: int = 0
    started: float = 0.0  # monotonic
    worker_handle: Any = None  # set when this job is the first on a freshly spawned worker
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def time_limit_s(self) -> float:
        """The artist's own limit for this job, else the adapter's scaled by input size."""
        return job_time_limit(self.adapter.timeout_s, self.job.spec)

    @property
    def load_s(self) -> float:
        return float(self.worker_handle.load_s) if self.worker_handle is not None else 0.0


def build_result(
    job: Job, running: RunningJob | None, state: JobState, error: ErrorInfo | None,
    backend: Literal["local", "ray"] = "local",
) -> tuple[JobResult, JobState, ErrorInfo | None]:
    """The one place a job's result is assembled and checked against the contract.

    A "succeeded" payload that breaks the contract turns the job into a failure.
    """
    now = time.time()
    payload = running.payload if running else {}
    started_wall = now - (time.monotonic() - running.started) if running and running.started else None
    timings = Timings(
        queued_s=round((started_wall or now) - job.created_at, 3),
        load_s=round(running.load_s if running else 0.0, 3),
        run_s=round(float(payload.get("run_s", 0.0)), 3),
        total_s=round(now - job.created_at, 3),
    )
    worker = _worker_info(payload, running, backend)
    base = dict(job_id=job.job_id, feature=job.spec.feature, adapter=job.spec.adapter,
                timings=timings, worker=worker)
    if state is JobState.SUCCEEDED:
        fields = {k: payload.get(k) for k in ("output_file_path", "thumbnail_path")}
        try:
            result = JobResult(status="succeeded", outputs=payload.get("outputs", []),
                               stats=payload.get("stats", {}),
                               warnings=payload.get("warnings", []), **fields, **base)
            return result, state, None
        except ValidationError as exc:
            error = ErrorInfo(code=ErrorCode.OUTPUT_INVALID,
                              message=f"The adapter's result was incomplete: {exc.errors()[0]['msg']}.")
            state = JobState.FAILED
    error = error or ErrorInfo(code=ErrorCode.ADAPTER_FAILED, message="The job failed.")
    return JobResult(status=state.value, error=error, **base), state, error


def _worker_info(payload: dict[str, Any], running: RunningJob | None, backend: str) -> WorkerInfo:
    # A Ray actor names its node and its node-local device in the payload (engine.workers.ray_actor);
    # when it died before saying so, the scheduler's device id ("10.0.0.5/cuda:1") still tells.
    node, _, device = ((running.device if running else "") or "cpu").rpartition("/")
    fallback_host = node if backend == "ray" else socket.gethostname()
    return WorkerInfo(backend=payload.get("backend", backend),
                      device=payload.get("device") or device,
                      host=payload.get("host") or fallback_host,
                      peak_vram_mb=int(payload.get("peak_vram_mb", 0)))
