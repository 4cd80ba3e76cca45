"""Run a recipe: submit a step, and when the engine says it finished, submit the next with
the finished job's output (``job:<id>``) as its input.

Nothing here waits on a job. The engine's events arrive on the engine thread, which must not
stage files, so a finished step is handed to the runner's own thread: it stages the next
step's inputs and submits it. A step that fails or is cancelled ends the pipeline with its
reason; ``cancel`` marks the pipeline so no later step is ever submitted and cancels the step
that is queued or running. Subscribers hear ``PipelineEvent``s on the runner's thread (the
first step's on the caller's).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import ErrorInfo, Job, JobResult, JobState, PipelineTag, new_job_id
from engine.meshio.staging import StagedInput
from engine.pipelines.recipes import Recipe, RecipeBook, check_recipe
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent

log = logging.getLogger(__name__)


class PipelineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline_id: str
    recipe: str
    status: Literal["succeeded", "failed", "cancelled"]
    output_file_path: str | None = None  # the last step's GLB, when every step succeeded
    steps: list[JobResult] = Field(default_factory=list)  # the steps that ran, in order
    total_steps: int
    failed_step: int | None = None  # 1-based
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class PipelineEvent:
    """``step``: step ``step`` (0-based) was queued as ``job_id``; ``finished``: ``result``."""

    kind: Literal["step", "finished"]
    pipeline_id: str
    step: int = 0
    job_id: str = ""
    result: PipelineResult | None = None


@dataclass
class _Run:
    pipeline_id: str
    recipe: Recipe
    source: StagedInput
    jobs: list[str] = field(default_factory=list)
    cancelled: bool = False
    future: Future[PipelineResult] = field(default_factory=Future)


class PipelineRunner:
    def __init__(self, engine: Engine, book: RecipeBook | None = None) -> None:
        self.engine = engine
        self.book = book or RecipeBook(engine.data)
        self._lock = threading.RLock()  # engine.submit calls subscribers back on this thread
        self._runs: dict[str, _Run] = {}
        self._by_job: dict[str, str] = {}
        self._subscribers: list[Callable[[PipelineEvent], None]] = []
        self._finished: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="meshsmith-pipelines",
                                        daemon=True)
        self._thread.start()
        engine.subscribe(self._on_engine_event)

    # ---- the API (any thread) -------------------------------------------------------------
    def start(self, recipe: Recipe | str, source: Any) -> str:
        """Stage ``source``, check the whole recipe, queue its first step; returns the
        pipeline id. Staging reads the file: call it off the GUI thread."""
        if isinstance(recipe, str):
            recipe = self.book.find(recipe)[1]
        staged = source if isinstance(source, StagedInput) else self.engine.stage(source)
        check_recipe(recipe, self.engine.registry, staged.kind)
        run = _Run(new_job_id(), recipe, staged)
        with self._lock:
            self._runs[run.pipeline_id] = run
            try:
                job_id = self._submit(run, 0, [self._input(run, ref, 0)
                                               for ref in recipe.steps[0].inputs])
            except BaseException:
                self._runs.pop(run.pipeline_id, None)
                raise
        self._emit(PipelineEvent("step", run.pipeline_id, 0, job_id))
        log.info("pipeline %s started: %s", run.pipeline_id, recipe.name,
                 extra={"pipeline_id": run.pipeline_id})
        return run.pipeline_id

    def cancel(self, pipeline_id: str) -> None:
        """No later step will be submitted; the current one is cancelled."""
        with self._lock:
            run = self._runs.get(pipeline_id)
            if run is None or run.cancelled or run.future.done():
                return
            run.cancelled = True
            current = run.jobs[-1] if run.jobs else None
        if current is not None:
            self.engine.cancel(current)

    def wait(self, pipeline_id: str, timeout: float | None = None) -> PipelineResult:
        return self.future(pipeline_id).result(timeout)

    def future(self, pipeline_id: str) -> Future[PipelineResult]:
        """Resolves with the PipelineResult (finished runs are kept for this)."""
        with self._lock:
            run = self._runs.get(pipeline_id)
        if run is None:
            raise KeyError(f"no pipeline {pipeline_id} was started here")
        return run.future

    def job_ids(self, pipeline_id: str) -> list[str]:
        with self._lock:
            run = self._runs.get(pipeline_id)
            return list(run.jobs) if run else []

    def subscribe(self, callback: Callable[[PipelineEvent], None]) -> None:
        self._subscribers.append(callback)

    def close(self) -> None:
        self._finished.put(None)
        self._thread.join(10)

    # ---- reacting to the engine -------------------------------------------------------------
    def _on_engine_event(self, event: JobEvent) -> None:
        # the engine thread: only note it; staging the next input happens on our thread
        if (event.kind == "updated" and event.job is not None and event.job.state.terminal
                and event.job_id in self._by_job):
            self._finished.put(event.job)

    def _loop(self) -> None:
        while (job := self._finished.get()) is not None:
            try:
                self._advance(job)
            except Exception:
                log.error("the pipeline runner failed on job %s", job.job_id, exc_info=True)

    def _advance(self, job: Job) -> None:
        with self._lock:
            pipeline_id = self._by_job.pop(job.job_id, None)
            run = self._runs.get(pipeline_id or "")
        if run is None:
            return
        index, total = run.jobs.index(job.job_id), len(run.recipe.steps)
        step = run.recipe.steps[index]
        if job.state is not JobState.SUCCEEDED:
            reason = job.error.message if job.error else "it did not finish."
            status = "cancelled" if job.state is JobState.CANCELLED else "failed"
            verb = "was cancelled" if status == "cancelled" else "failed"
            self._finish(run, status, index, ErrorInfo(
                code=job.error.code if job.error else ErrorCode.ADAPTER_FAILED,
                message=f"Step {index + 1} of {total} ({step.feature}) {verb}: {reason}"))
            return
        if index + 1 == total:
            self._finish(run, "succeeded")
            return
        following = run.recipe.steps[index + 1]
        try:
            inputs = [self._input(run, ref, index + 1) for ref in following.inputs]
            with self._lock:  # cancel() takes this lock: it sees the new job or stops it here
                job_id = None if run.cancelled else self._submit(run, index + 1, inputs)
            if job_id is not None:
                self._emit(PipelineEvent("step", run.pipeline_id, index + 1, job_id))
                return
        except Exception as exc:  # whatever stops the next step ends the pipeline, with why
            code = exc.code if isinstance(exc, MeshsmithError) else ErrorCode.ADAPTER_FAILED
            reason = exc.message if isinstance(exc, MeshsmithError) else f"{exc}."
            if not isinstance(exc, MeshsmithError):
                log.error("pipeline %s could not queue its next step", run.pipeline_id,
                          exc_info=True)
            self._finish(run, "failed", index + 1, ErrorInfo(
                code=code, message=f"Step {index + 2} of {total} ({following.feature}) "
                                   f"could not start: {reason}"))
            return
        self._finish(run, "cancelled", index + 1, ErrorInfo(
            code=ErrorCode.CANCELLED,
            message=f"The pipeline was cancelled after step {index + 1} of {total}."))

    # ---- helpers ----------------------------------------------------------------------------
    def _input(self, run: _Run, ref: str, index: int) -> StagedInput:
        if ref == "input" or (ref == "previous" and index == 0):
            return run.source
        job_id = run.jobs[index - 1] if ref == "previous" else run.jobs[int(ref[5:]) - 1]
        return self.engine.stage(f"job:{job_id}")

    def _submit(self, run: _Run, index: int, inputs: list[StagedInput]) -> str:
        """Queue step ``index``; the caller holds the lock (and emits the event after)."""
        step = run.recipe.steps[index]
        tag = PipelineTag(id=run.pipeline_id, step=index, name=run.recipe.name)
        job_id = self.engine.submit(step.feature, inputs, adapter=step.adapter,
                                    params=step.params, pipeline=tag)
        run.jobs.append(job_id)
        self._by_job[job_id] = run.pipeline_id
        # the step may already have finished on the engine thread before it was mapped here
        job = self.engine.get(job_id)
        if job is not None and job.state.terminal:
            self._finished.put(job)
        return job_id

    def _finish(self, run: _Run, status: str, failed: int | None = None,
                error: ErrorInfo | None = None) -> None:
        results = []
        for job_id in run.jobs:
            job = self.engine.get(job_id)
            if job is not None and job.result is not None:
                results.append(job.result)
        last = results[-1].output_file_path if status == "succeeded" and results else None
        result = PipelineResult(
            pipeline_id=run.pipeline_id, recipe=run.recipe.name, status=status,
            output_file_path=last, steps=results, total_steps=len(run.recipe.steps),
            failed_step=None if failed is None else failed + 1, error=error)
        log.info("pipeline %s %s", run.pipeline_id, status,
                 extra={"pipeline_id": run.pipeline_id, "error": error.code if error else None})
        run.future.set_result(result)
        self._emit(PipelineEvent("finished", run.pipeline_id, result=result))

    def _emit(self, event: PipelineEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.error("a pipeline subscriber failed", exc_info=True)
