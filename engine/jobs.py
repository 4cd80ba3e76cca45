"""Job spec, job lifecycle and the one job-result contract (DESIGN.md)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FEATURES: tuple[str, ...] = (
    "text_to_raw_mesh",
    "text_to_textured_mesh",
    "image_to_raw_mesh",
    "image_to_textured_mesh",
    "text_mesh_painting",
    "image_mesh_painting",
    "mesh_segmentation",
    "part_completion",
    "auto_rig",
    "mesh_retopology",
    "uv_unwrapping",
)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# Interrupted means "the engine that owned this job stopped before it ended" (while it ran or
# waited); only the studio re-queues it by itself (once, else it fails); `main.py resume ID` too.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED, JobState.INTERRUPTED}
    ),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}
    ),
    JobState.INTERRUPTED: frozenset({JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


def check_transition(old: JobState, new: JobState) -> JobState:
    """Return ``new`` if the table allows ``old -> new``; raise IllegalTransition otherwise."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"a job cannot go from {old.value} to {new.value}")
    return new


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobSpec(_Strict):
    """What the artist asked for. Inputs are already staged (absolute paths inside the data dir)."""

    feature: str
    adapter: str
    inputs: list[str] = Field(default_factory=list)  # empty for text features
    params: dict[str, Any] = Field(default_factory=dict)
    # the artist's time limit for this job (seconds); None: the adapter's, scaled by input size
    timeout_s: float | None = Field(None, gt=0, allow_inf_nan=False)


class OutputFile(_Strict):
    role: Literal["mesh", "thumbnail", "part", "texture", "report"]
    path: str
    media_type: str


class Timings(_Strict):
    queued_s: float = 0.0
    load_s: float = 0.0
    run_s: float = 0.0
    total_s: float = 0.0


class WorkerInfo(_Strict):
    backend: Literal["local", "ray"] = "local"
    device: str = "cpu"
    host: str = ""
    peak_vram_mb: int = 0


class ErrorInfo(_Strict):
    code: str
    message: str


class JobResult(_Strict):
    job_id: str
    feature: str
    adapter: str
    status: Literal["succeeded", "failed", "cancelled"]
    output_file_path: str | None = None
    outputs: list[OutputFile] = Field(default_factory=list)
    thumbnail_path: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    worker: WorkerInfo = Field(default_factory=WorkerInfo)
    # What was dropped, not reached or missing: one sentence each (shown with the result).
    warnings: list[str] = Field(default_factory=list)
    error: ErrorInfo | None = None

    def model_post_init(self, __context: Any) -> None:
        if self.status == "succeeded":
            if not self.output_file_path or not self.output_file_path.endswith(".glb"):
                raise ValueError("a succeeded job must name a .glb output_file_path")
            if self.error is not None:
                raise ValueError("a succeeded job carries no error")
        elif self.error is None:
            raise ValueError(f"a {self.status} job must carry an error")


class PipelineTag(_Strict):
    """Which pipeline run a job is a step of (engine.pipelines.recipes): the history groups by it."""

    id: str
    step: int = Field(ge=0)  # 0-based position in the recipe
    name: str  # the recipe's name, as the artist saw it


class Job(_Strict):
    """A job as the store and the UI see it."""

    job_id: str
    spec: JobSpec
    state: JobState = JobState.QUEUED
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    result: JobResult | None = None
    error: ErrorInfo | None = None
    pipeline: PipelineTag | None = None
    # Who asked for it through the HTTP API (app.server): a user name, "api" when the server
    # runs without sign-in; empty for the studio and the command line.
    user: str = ""
