"""History's cells: the columns, what each shows and sorts by, the tooltip and the search
text of a job. Plain functions of a ``Job``, no Qt."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.viewmodels.names import feature_label, input_name
from engine.jobs import Job

COLUMNS = ("", "Feature", "Input", "Status", "Date", "Duration", "Adapter", "Pipeline", "User")
THUMBNAIL, FEATURE, INPUT, STATUS, DATE, DURATION, ADAPTER, PIPELINE, USER = range(len(COLUMNS))


def searchable_text(job: Job) -> str:
    """Everything the free-text filter looks at, lower-cased."""
    parts = [job.job_id, job.spec.feature, job.spec.adapter, job.state.value, job.user]
    if job.pipeline is not None:
        parts += [job.pipeline.id, job.pipeline.name]
    parts += [Path(p).name for p in job.spec.inputs]
    errors = (job.error, job.result.error if job.result else None)
    parts += [error.message for error in errors if error is not None]
    return "\n".join(parts).lower()


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _duration_s(job: Job) -> float | None:
    if job.result is not None and job.state.terminal:
        return job.result.timings.total_s
    return None if job.finished_at is None else job.finished_at - job.created_at


def _duration_text(job: Job) -> str:
    seconds = _duration_s(job)
    return "…" if seconds is None else format_duration(seconds)


_CELLS: dict[int, Callable[[Job], str]] = {
    FEATURE: lambda job: feature_label(job.spec.feature),
    INPUT: lambda job: input_name(job.spec),
    ADAPTER: lambda job: job.spec.adapter,
    STATUS: lambda job: job.state.value,
    DURATION: _duration_text,
    DATE: lambda job: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at)),
    PIPELINE: lambda job: (f"{job.pipeline.name} · step {job.pipeline.step + 1}"
                           if job.pipeline else ""),
    USER: lambda job: job.user,  # who sent it through the HTTP API; empty for the studio's own
}


def cell_text(job: Job, column: int) -> str | None:
    cell = _CELLS.get(column)
    return cell(job) if cell else None


def cell_sort_key(job: Job, column: int) -> Any:
    if column == DURATION:
        return _duration_s(job) or 0.0
    if column == PIPELINE:  # the steps of one pipeline sort together, in order
        return f"{job.pipeline.id}:{job.pipeline.step:03d}" if job.pipeline else ""
    return job.created_at if column in (THUMBNAIL, DATE) else cell_text(job, column)


def job_tooltip(job: Job) -> str:
    error = job.error or (job.result.error if job.result else None)
    inputs = ", ".join(Path(p).name for p in job.spec.inputs)
    text = f"Job {job.job_id}\nInputs: {inputs}"
    if job.pipeline is not None:
        text += f"\nStep {job.pipeline.step + 1} of {job.pipeline.name} ({job.pipeline.id})"
    if job.user:
        text += f"\nSent through the HTTP API by {job.user}"
    warnings = job.result.warnings if job.result else []
    text += "".join(f"\n⚠ {w}" for w in warnings)
    return text + (f"\n{error.message}" if error else "")
