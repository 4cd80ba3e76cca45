"""The engine thread's side of the shell: it feeds events to the Scheduler and carries out
the instructions that come back (start a job on a worker, cancel, evict, retry, finish and
record), and keeps the timers those leave (time limits, cancel grace, history retries).

Only the engine thread runs these; ``Engine`` (engine.py) holds the thread-safe API and the
lifecycle, ``EngineLoop`` (loop.py) the loop that calls in here.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, JobState
from engine.runtime.events import JobEvent, build_result
from engine.scheduling.vocabulary import (
    CancelJob,
    EvictWorker,
    Instruction,
    JobStateChanged,
    MeasureDevices,
    RetryingJob,
    StartJob,
    Tick,
    WaitCauseChanged,
)
from engine.storage.history_writes import RETRY_S, failed_result

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger("engine.runtime.engine")  # the Log panel and tests know this name


@dataclass(order=True)
class Timer:
    when: float
    kind: str
    job_id: str = ""
    worker_id: int = 0


class EngineInstructions:
    """Mixed into ``Engine``: what the engine thread does with the scheduler's instructions."""

    def _timeout(self: Engine) -> float | None:
        deadlines = [t.when for t in self._timers]
        starving = self.scheduler.next_deadline()
        if starving is not None:
            deadlines.append(starving)
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _run_timers(self: Engine) -> None:
        now = time.monotonic()
        starving = self.scheduler.next_deadline()
        if starving is not None and starving <= now:
            self._feed(Tick(now))
        due = sorted(t for t in self._timers if t.when <= now)
        self._timers = [t for t in self._timers if t.when > now]
        for timer in due:
            if timer.kind == "history":
                self._retry_history()
                continue
            handle = self._pool.workers.get(timer.worker_id)
            if timer.kind == "stop" and handle is not None:
                self._pool.kill(timer.worker_id)
            elif handle is not None and handle.job_id == timer.job_id:
                self._pool.kill(timer.worker_id, self._kill_reason(timer))

    def _kill_reason(self: Engine, timer: Timer) -> dict[str, str] | None:
        if timer.kind != "timeout":
            return None  # a cancel grace period ran out: the scheduler calls it cancelled
        label = self._running[timer.job_id].adapter.label
        limit = self._running[timer.job_id].time_limit_s
        return {"code": ErrorCode.TIMEOUT.value,
                "message": f"{label} took longer than its {limit:g} s limit, so it was stopped."}

    def _feed(self: Engine, *events: Any) -> None:
        for instruction in self.scheduler.handle(*events):
            try:
                self._execute(instruction)
            except Exception:
                log.error("could not execute %s", instruction, exc_info=True)

    def _execute(self: Engine, ins: Instruction) -> None:
        now = time.monotonic()
        if isinstance(ins, StartJob):
            try:
                self._start(ins, now)
            except Exception as exc:  # spawn or mkdir failed: the job must not stay RUNNING
                log.error("could not start job %s", ins.job_id, exc_info=True,
                          extra={"job_id": ins.job_id})
                self._start_failed(ins, exc)
        elif isinstance(ins, CancelJob):
            running = self._running[ins.job_id]
            self._pool.cancel(running.worker_id, ins.job_id)
            self._timers.append(Timer(now + self.cancel_grace_s, "grace", ins.job_id,
                                       running.worker_id))
        elif isinstance(ins, EvictWorker):
            if ins.worker_id not in self._pool.workers:
                self._commands.put(("exited", str(ins.worker_id)))
                self._wake()
                return
            self._pool.stop(ins.worker_id)
            self._timers.append(Timer(now + self.cancel_grace_s, "stop", "", ins.worker_id))
        elif isinstance(ins, RetryingJob):
            self._retrying(ins)
        elif isinstance(ins, MeasureDevices):  # measured on the next pass, not re-entrantly
            if self.memory.enabled:
                self._commands.put(("measure", ""))
                self._wake()
        elif isinstance(ins, WaitCauseChanged):
            self.causes[ins.job_id] = ins.cause
            self._emit(JobEvent("waiting", ins.job_id, cause=ins.cause))
        elif isinstance(ins, JobStateChanged):
            if ins.state is JobState.RUNNING:
                job = self._store.transition(ins.job_id, JobState.RUNNING)
                self._emit(JobEvent("updated", ins.job_id, job=job))
            else:
                self._finish(ins.job_id, ins.state, ins.error)

    def _retrying(self: Engine, ins: RetryingJob) -> None:
        """Out of memory: start over clean once the scheduler has made room."""
        self._drop_timers(ins.job_id)
        shutil.rmtree(self.data.job_output(ins.job_id), ignore_errors=True)
        running = self._running.get(ins.job_id)
        if running is not None:
            running.payload = {}
        log.warning("job %s ran out of memory; retrying once after stopping %d idle worker(s)",
                    ins.job_id, len(ins.evicted), extra={"job_id": ins.job_id})
        stage = "out of memory: unloading other models and trying again"
        self.progress[ins.job_id] = (stage, 0.0)
        self._emit(JobEvent("progress", ins.job_id, stage=stage, fraction=0.0))

    def _drop_timers(self: Engine, job_id: str) -> None:
        self._timers = [t for t in self._timers if t.job_id != job_id]

    def _start(self: Engine, ins: StartJob, now: float) -> None:
        self._drop_timers(ins.job_id)  # a retry starts its time limit afresh
        running = self._running[ins.job_id]
        out_dir = self.data.job_output(ins.job_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        running.device, running.worker_id, running.started = ins.device, ins.worker_id, now
        handle = self._pool.run(ins.worker_id, running.adapter, ins.device, {
            "job_id": ins.job_id, "inputs": running.job.spec.inputs,
            "params": running.job.spec.params, "out_dir": str(out_dir),
            # a warm worker may serve another feature of its adapter (Hunyuan3D raw, then
            # painted): the job's own spec checks its parameters and names its result
            "spec": running.adapter.model_dump_json(),
        })
        if not handle.load_reported:
            handle.load_reported, running.worker_handle = True, handle
        self._timers.append(Timer(now + running.time_limit_s, "timeout", ins.job_id,
                                   ins.worker_id))

    def _finish(self: Engine, job_id: str, state: JobState, error: ErrorInfo | None) -> None:
        # Its time limit and cancel grace end with it: a late timer must not kill a worker
        # that has gone on to another job or sits warm and idle.
        self._drop_timers(job_id)
        running = self._running.pop(job_id, None)
        self.causes.pop(job_id, None)
        self.progress.pop(job_id, None)
        job = self._store.get(job_id)
        result, state, error = build_result(job, running, state, error, self.backend)
        if state is not JobState.SUCCEEDED:
            # Nothing half-written is ever presented as a result.
            shutil.rmtree(self.data.job_output(job_id), ignore_errors=True)
        job, refused = self._final_writes.record(self._store, job_id, state, result, error)
        # the Log panel shows this line: a failure carries its sentence, not only its state
        log.info("job %s %s%s", job_id, state.value, f": {error.message}" if error else "",
                 extra={"job_id": job_id, "error": error.code if error else None})
        future = self._futures.pop(job_id, None)
        if future is not None:
            future.set_result(result if refused is None else failed_result(result, refused))
        if refused is not None:
            self._timers.append(Timer(time.monotonic() + RETRY_S, "history"))
            return
        self._emit(JobEvent("updated", job_id, job=job))

    def _retry_history(self: Engine) -> None:
        for job in self._final_writes.retry(self._store):
            self._emit(JobEvent("updated", job.job_id, job=job))
        if self._final_writes.waiting:
            self._timers.append(Timer(time.monotonic() + RETRY_S, "history"))
