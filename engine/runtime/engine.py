"""The engine: the I/O shell around the Scheduler, on its own thread.

Other threads (the GUI, the CLI) call ``submit``/``cancel``/``stage``; those are thread-safe and
never block on a job. The engine thread alone feeds events to the Scheduler and executes its
instructions. It waits on one ``multiprocessing.connection.wait`` over a wake-up socket and
every worker's pipe and process sentinel, with a timeout only for the next timer (a cancel
grace period, a job timeout, a starvation bound): nothing polls.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from engine.contract.spec import Registry
from engine.errors import MeshsmithError
from engine.jobs import ErrorInfo, Job, JobResult, JobSpec, JobState, PipelineTag, new_job_id
from engine.meshio import staging
from engine.runtime.events import JobEvent, RunningJob
from engine.runtime.instructions import EngineInstructions, Timer
from engine.runtime.lock import EngineLock
from engine.runtime.loop import EngineLoop
from engine.runtime.memory import MemoryWatch
from engine.runtime.shell import (
    check_inputs,
    crash_error,
    history_observations,
    idle_timeout_setting,
    input_size,
    model_ram_budget_mb,
)
from engine.scheduling.scheduler import CANCELLED_BY_ARTIST, Scheduler
from engine.scheduling.vocabulary import (
    CancelRequested,
    JobFinished,
    JobRequest,
    Submitted,
    WorkerExited,
)
from engine.storage import ownership
from engine.storage.history_writes import FinalWrites
from engine.storage.jobstore import JobStore
from engine.storage.logs import log_path, remove_handler, setup_json_logging
from engine.storage.paths import DataDir
from engine.workers.backends import open_backend
from engine.workers.devices import Devices
from engine.workers.pool import WorkerExit, WorkerMessage

log = logging.getLogger(__name__)


class Engine(EngineLoop, EngineInstructions):
    def __init__(
        self, data: DataDir | None = None, *, registry: Registry,
        devices: Devices | None = None, cpu_slots: int | None = None,
        starvation_s: float = 1800.0, cancel_grace_s: float = 5.0, backend: str | None = None,
        idle_timeout_s: float | str | None = "setting", resume_interrupted: bool = False,
    ) -> None:
        """``backend``: "local" worker processes or "ray" actors; MESHSMITH_BACKEND when None.
        ``devices``: the GPUs (tests pass simulated ones); NVML when None. ``idle_timeout_s``:
        stop a warm worker idle that long (None: never); MESHSMITH_IDLE_TIMEOUT_S, else 300 s,
        when left out. ``resume_interrupted``: queue the jobs a stopped engine left again (the
        studio only; engine.storage.ownership)."""
        self.data = (data or DataDir.default()).ensure().check_writable()
        self.engine_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.resumes = resume_interrupted
        self._final_writes = FinalWrites()
        self.registry = registry
        # With Ray the devices are the cluster's GPUs and the CPU slots its CPUs.
        chosen = open_backend(backend, str(self.data.logs), devices)
        self.backend, self.devices, self._pool = chosen.name, chosen.devices, chosen.pool
        self.cancel_grace_s = cancel_grace_s
        self.scheduler = Scheduler(
            self.devices.specs(), starvation_s=starvation_s,
            cpu_slots=cpu_slots or chosen.cpu_slots,
            idle_timeout_s=idle_timeout_setting() if idle_timeout_s == "setting" else idle_timeout_s,
            host_ram_mb=model_ram_budget_mb())
        self.memory = MemoryWatch(self.devices, self._pool, self.data.root)
        self.store: JobStore | None = None
        self._lock = EngineLock(self.data.lock)
        self._commands: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._futures: dict[str, Future[JobResult]] = {}
        self._sizes: dict[str, float] = {}  # input faces or pixels of a submitted job
        self.failure: str | None = None  # why the engine thread stopped, if it ever did
        self._start_errors: dict[int, ErrorInfo] = {}
        self._subscribers: list[Callable[[JobEvent], None]] = []
        self._running: dict[str, RunningJob] = {}
        self._timers: list[Timer] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._log_handler: logging.Handler | None = None
        self.causes: dict[str, str | None] = {}
        self.progress: dict[str, tuple[str, float]] = {}

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> Engine:
        self._lock.acquire()
        self._log_handler = setup_json_logging(log_path(self.data.logs))
        try:
            self.store = JobStore(self.data.db, owner=self.engine_id)
            # before anything else: no row may say running for an engine that is gone
            interrupted = ownership.interrupt_foreign(self.store)
            recovered = ownership.resume_interrupted(self.store) if self.resumes else []
        except BaseException:
            if self.store is not None:
                self.store.close()
                self.store = None
            self._close_logs_and_lock()
            raise
        if self.store.warning:
            log.warning(self.store.warning, extra={"backup": str(self.store.recovered_from)})
        for obs in history_observations(self.store):
            self.scheduler.estimates.observe(obs)
        self._sweep_leftovers([j.job_id for j in interrupted if j.state is JobState.RUNNING])
        for job in recovered:
            self._futures[job.job_id] = Future()
            self._commands.put(("submit", job.job_id))
        self._thread = threading.Thread(target=self._loop, name="meshsmith-engine", daemon=True)
        self._thread.start()
        self._commands.put(("measure", ""))  # what NVML sees before the first job
        self._wake()  # the recovered jobs are waiting in the command queue
        log.info("engine started", extra={"devices": self.devices.describe(),
                                          "recovered": len(recovered)})
        return self

    def shutdown(self) -> None:
        if self._thread is not None:
            self._stopping = True
            self._wake()
            self._thread.join(30)
            self._thread = None
        if self.store is not None:
            self._release_jobs()
            self.store.close()
            self.store = None
        self._close_logs_and_lock()
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def _release_jobs(self) -> None:
        """Shutdown hook: no row of ours stays queued or running, no caller waits for ever."""
        self._final_writes.retry(self._store)
        ownership.release_at_shutdown(self._store, self._futures)

    def resume(self, job_id: str) -> None:
        """Queue an interrupted job again (`main.py resume ID`); raises MeshsmithError."""
        ownership.resume_one(self._store, job_id)
        self._futures[job_id] = Future()
        self._commands.put(("submit", job_id))
        self._wake()

    def _close_logs_and_lock(self) -> None:
        if self._log_handler is not None:
            remove_handler(self._log_handler)
            self._log_handler = None
        self._lock.release()

    def _sweep_leftovers(self, interrupted: list[str]) -> None:
        """After a crash: what a killed job half-wrote, and staging copies cut off midway."""
        for job_id in interrupted:
            shutil.rmtree(self.data.job_output(job_id), ignore_errors=True)
        for partial in self.data.inputs.glob(".staging-*.part"):
            partial.unlink(missing_ok=True)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- the thread-safe API --------------------------------------------------------------
    def stage(self, source: Any) -> staging.StagedInput:
        return staging.stage_input(source, self.data, resolve_job=self._store.output_of)

    def submit(
        self, feature: str, inputs: list[staging.StagedInput], *, adapter: str | None = None,
        params: dict[str, Any] | None = None, pipeline: PipelineTag | None = None,
        user: str = "", timeout_s: float | None = None,
    ) -> str:
        """Validate and queue a job; returns its id. Raises MeshsmithError with one sentence.
        ``pipeline`` marks it as a step of a pipeline run (engine.pipelines.recipes); ``user``
        tags a job the HTTP API submitted for someone (Job.user)."""
        self._check_alive()
        spec = self.registry.find(feature, adapter)
        check_inputs(spec, inputs)
        parsed = spec.parse_params(params or {})
        job_spec = JobSpec(feature=feature, adapter=spec.id, inputs=[str(i.path) for i in inputs],
                           params=parsed.model_dump(mode="json"), timeout_s=timeout_s)
        job_id = new_job_id()
        self._futures[job_id] = Future()
        self._store.add(job_id, job_spec, pipeline=pipeline, user=user)
        self._sizes[job_id] = input_size(inputs)
        self._commands.put(("submit", job_id))
        self._wake()
        return job_id

    def cancel(self, job_id: str) -> None:
        self._commands.put(("cancel", job_id))
        self._wake()

    def cancel_all(self) -> None:
        for job in self._store.list(states=[JobState.QUEUED, JobState.RUNNING]):
            self.cancel(job.job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobResult:
        return self.result_future(job_id).result(timeout)

    def result_future(self, job_id: str) -> Future[JobResult]:
        """The job's result as a future of the caller's own, from any thread: cancelling it
        stops the caller waiting, never the job (that is ``cancel``). Done at once for a job
        that has ended; raises KeyError for a job this engine neither runs nor remembers."""
        theirs: Future[JobResult] = Future()
        ours = self._futures.get(job_id)
        if ours is not None:
            ours.add_done_callback(lambda done: _copy_outcome(done, theirs))
            return theirs
        job = self._store.get(job_id)  # ended: its row was written before its future was set
        if job is None or job.result is None:
            raise KeyError(f"no finished job {job_id}")
        theirs.set_result(job.result)
        return theirs

    def subscribe(self, callback: Callable[[JobEvent], None]) -> None:
        """``callback`` runs on the engine thread: keep it quick, hand work elsewhere."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[JobEvent], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def get(self, job_id: str) -> Job | None:
        return self._store.get(job_id)

    def worker_pids(self) -> list[int]:
        return [h.pid for h in list(self._pool.workers.values()) if h.pid]

    @property
    def _store(self) -> JobStore:
        if self.store is None:
            raise RuntimeError("the engine is not started")
        return self.store

    # ---- the engine thread ----------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def _run_commands(self) -> None:
        while True:
            try:
                kind, job_id = self._commands.get_nowait()
            except queue.Empty:
                return
            if kind == "submit":
                self._submit_to_scheduler(job_id)
            elif kind == "cancel":
                self._feed(CancelRequested(job_id, time.monotonic()))
            elif kind == "exited":  # a worker the scheduler evicted had already gone
                self._feed(WorkerExited(int(job_id), time.monotonic()))
            elif kind == "measure":
                self._measure(time.monotonic())
            elif kind == "start_failed":
                worker_id = int(job_id)
                error = self._start_errors.pop(worker_id, None)
                self._feed(WorkerExited(worker_id, time.monotonic(), error))

    def _submit_to_scheduler(self, job_id: str) -> None:
        job = self._store.get(job_id)
        if job is None:
            return
        try:
            spec = self.registry.find(job.spec.feature, job.spec.adapter)
        except MeshsmithError as exc:
            self._finish(job_id, JobState.FAILED, ErrorInfo(**exc.to_dict()))
            return
        self._running[job_id] = RunningJob(job=job, adapter=spec)
        self._emit(JobEvent("updated", job_id, job=job))  # "queued", before it can start
        largest = max((d.total_mb for d in self.scheduler.devices.values() if d.is_gpu),
                      default=0)
        peak = self.memory.peak_mb(spec, largest)
        request = JobRequest(job_id, spec.feature, spec.id, peak,
                             min(spec.resident_vram_mb or peak, peak), spec.devices,
                             self._sizes.pop(job_id, 0.0), spec.resident_ram_mb)
        self._feed(Submitted(request, time.monotonic()))

    def _on_worker(self, item: WorkerMessage | WorkerExit) -> None:
        now = time.monotonic()
        if isinstance(item, WorkerExit):
            error = (ErrorInfo(**item.reason) if item.reason
                     else crash_error(item.label, item.exitcode))
            self._feed(WorkerExited(item.worker_id, now, error))
            return
        message, handle = item.message, self._pool.workers.get(item.worker_id)
        if message[0] == "loaded" and handle is not None:
            # Process start-up counts too: it is time the artist waits for the model.
            handle.loaded, handle.load_s = True, now - handle.spawned_at
        elif message[0] == "load_failed" and handle is not None:
            handle.exit_reason = message[1]
        elif message[0] == "progress":
            self.progress[message[1]] = (message[2], message[3])
            self._emit(JobEvent("progress", message[1], stage=message[2], fraction=message[3]))
        elif message[0] == "done":
            self._on_done(message[1], message[2], now)

    def _on_done(self, job_id: str, payload: dict[str, Any], now: float) -> None:
        running = self._running.get(job_id)
        if running is None:
            return
        running.payload = payload
        status = JobState(payload["status"])
        error = ErrorInfo(**payload["error"]) if payload.get("error") else None
        if status is JobState.CANCELLED:
            error = CANCELLED_BY_ARTIST
        if payload.get("peak_vram_mb"):
            self.memory.remember({running.adapter.id: int(payload["peak_vram_mb"])})
        events: list = [JobFinished(job_id, status, now, error)]
        measured = self.memory.measure(now)
        if measured is not None:
            events.append(measured)
        self._feed(*events)
        self.memory.remember(self.scheduler.observed_peak_mb)

    def _emit(self, event: JobEvent) -> None:
        # Every event is emitted on the engine thread, the only one that reads the scheduler.
        if event.eta_s is None and threading.current_thread() is self._thread \
                and event.job_id in self.scheduler.jobs:
            event = replace(event, eta_s=self.scheduler.eta(event.job_id, time.monotonic()))
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.error("a subscriber failed", exc_info=True)


def _copy_outcome(source: Future[JobResult], copy: Future[JobResult]) -> None:
    """On the thread that set ``source``; a copy its caller cancelled meanwhile is left be."""
    if not copy.set_running_or_notify_cancel():
        return
    if source.exception() is not None:
        copy.set_exception(source.exception())
    else:
        copy.set_result(source.result())
