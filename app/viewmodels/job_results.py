"""A job's result, from the engine's future to the viewport.

``await_and_show`` ends every view-model flow that submits a job (Create's Run, History's
Retry): ``await_result`` awaits the engine's future on the studio's loop, then
``show_if_free`` applies the studio's one rule for such a flow's ending (issue 12): the result
takes the viewport only while nothing is on screen, so a file the artist opened meanwhile is
never replaced. ``open_job`` and ``compare_job`` are what the artist's Open and Compare
buttons do (app.views.job_outcomes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from app.async_loop import CLOSING
from app.viewmodels.viewport_viewmodel import ViewportViewModel, mode_for_feature
from engine.jobs import Job, JobResult, JobState

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

# Staged inputs carry the extension of their content, so the suffix tells a mesh from an image.
MESH_SUFFIXES = {".glb", ".gltf", ".obj", ".ply", ".stl", ".off"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


async def await_result(engine: Engine, job_id: str) -> JobResult:
    """The job's result, whatever its status. Cancelling the awaiting task cancels the job,
    unless the studio is closing (``async_loop.CLOSING``): the engine then marks the job
    interrupted and the next start resumes it. Raises the engine's MeshsmithError when it
    stopped before the job ended."""
    try:
        return await asyncio.wrap_future(engine.result_future(job_id))
    except asyncio.CancelledError as exc:
        if CLOSING not in exc.args:
            engine.cancel(job_id)
        raise


async def await_and_show(engine: Engine, job_id: str,
                         viewport: ViewportViewModel | None) -> JobResult:
    """The end of a flow that submitted a job: its result, shown if the viewport is free."""
    result = await await_result(engine, job_id)
    show_if_free(viewport, engine.get(job_id))
    return result


def mesh_input(job: Job) -> str:
    """The job's first input when it is a mesh (a "before" to compare with), else ""."""
    source = job.spec.inputs[0] if job.spec.inputs else ""
    return source if source and Path(source).suffix.lower() in MESH_SUFFIXES else ""


def input_thumbnail(job: Job) -> str | None:
    """The picture of a job's input: the staged mesh's thumbnail, or the staged image."""
    if not job.spec.inputs:
        return None
    first = Path(job.spec.inputs[0])
    if first.suffix.lower() in IMAGE_SUFFIXES:
        return str(first)
    return str(first.with_name("thumbnail.png"))


def open_job(viewport: ViewportViewModel, job: Job) -> None:
    """The result of a job that succeeded, in its feature's mode; the input of one that did not."""
    result = job.result.output_file_path if job.result else None
    if job.state is JobState.SUCCEEDED and result:
        viewport.set_mode(mode_for_feature(job.spec.feature).value)
        viewport.open_file(result, stats=job.result.stats)
    elif job.spec.inputs:
        viewport.open_file(job.spec.inputs[0])


def compare_job(viewport: ViewportViewModel, job: Job) -> None:
    """Before (a mesh input) beside after; just the result when the input was no mesh."""
    if job.result is None or not job.result.output_file_path:
        return
    before = mesh_input(job)
    if not before:
        open_job(viewport, job)
        return
    viewport.set_mode(mode_for_feature(job.spec.feature).value)
    viewport.show_comparison(before, job.result.output_file_path, stats=job.result.stats)


def show_if_free(viewport: ViewportViewModel | None, job: Job | None) -> bool:
    """Compare a succeeded job's result with its input if nothing is on screen or loading;
    True when it did."""
    if viewport is None or job is None or job.state is not JobState.SUCCEEDED:
        return False
    if viewport.scene is not None or viewport.is_loading:
        return False
    compare_job(viewport, job)
    return True
