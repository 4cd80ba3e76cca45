"""Evictions and out-of-memory retries, as pure bookkeeping on the Scheduler's state.

An evicted worker is not gone until its process has exited: its memory stays counted (it is
``evicting``) until the shell reports ``WorkerExited``, and a job placed in the room it frees
gets its ``StartJob`` only then (pending eviction). An out-of-memory failure, at run time or
while the model loads (the worker's exit), is retried once after stopping the other idle
workers on the device. Idle workers are stopped after ``idle_timeout_s``.

Sparing (rent or buy): an idle worker whose adapter has queued jobs is not evicted by a job
that has waited less than ``spare_loads`` times that model's expected load; the job waits for
room elsewhere first, and evicts once its wait has cost about what the reload would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, JobState
from engine.scheduling.vocabulary import EvictWorker, Instruction, RetryingJob, StartJob
from engine.scheduling.vocabulary import SchedJob as _Job
from engine.scheduling.vocabulary import SchedWorker as _Worker

if TYPE_CHECKING:
    from engine.scheduling.scheduler import Scheduler


def least_recent(
    idle: list[_Worker], shortfall: int, size: Callable[[_Worker], int]
) -> list[_Worker] | None:
    """Idle workers, least recently used first, until they free ``shortfall``; None if all of
    them are not enough."""
    victims, freed = [], 0
    for worker in sorted(idle, key=lambda w: w.last_used):
        if freed >= shortfall:
            break
        victims.append(worker)
        freed += size(worker)
    return victims if freed >= shortfall else None


def spared(s: Scheduler, worker: _Worker, job: _Job, wanted: set[str]) -> bool:
    """True if ``job`` may not evict ``worker`` yet (``wanted``: adapters with queued jobs)."""
    return worker.adapter in wanted and s.now < spare_until(s, worker, job)


def spare_until(s: Scheduler, worker: _Worker, job: _Job) -> float:
    return job.submitted_at + s.spare_loads * s.estimates.load_s(worker.adapter)


def wanted_adapters(s: Scheduler) -> set[str]:
    return {s.jobs[j].request.adapter for queue in s.queues.values() for j in queue}


def spare_deadline(s: Scheduler) -> float | None:
    """When the next queued job may evict a model it is kept from now (the shell ticks then)."""
    wanted = wanted_adapters(s)
    idle = [w for w in s.workers.values() if w.busy_job is None and w.adapter in wanted
            and w.device != "cpu"]
    times = [spare_until(s, w, job) for job in s.jobs.values() if job.state is JobState.QUEUED
             for w in idle if w.adapter != job.request.adapter]
    return min((t for t in times if t > s.now), default=None)


def evict(s: Scheduler, worker: _Worker, out: list[Instruction]) -> None:
    del s.workers[worker.worker_id]
    s.evicting[worker.worker_id] = worker
    out.append(EvictWorker(worker.worker_id, worker.adapter, worker.device))


def launch_after(s: Scheduler, job: _Job, victims: list[_Worker], out: list[Instruction]) -> None:
    """Start ``job`` now, or once the workers evicted for it have exited."""
    for victim in victims:
        evict(s, victim, out)
    job.retry_after = {v.worker_id for v in victims} or None
    if job.retry_after is None:
        launch(s, job, out)


def launch(s: Scheduler, job: _Job, out: list[Instruction]) -> None:
    job.retry_after, job.started_at, job.launched = None, s.now, True
    out.append(StartJob(job.job_id, job.request.adapter, job.device or "cpu", job.worker_id))


def worker_exited(s: Scheduler, worker_id: int, out: list[Instruction]) -> None:
    s.evicting.pop(worker_id, None)
    for waiting in [j for j in s.jobs.values() if j.retry_after]:
        waiting.retry_after.discard(worker_id)
        if not waiting.retry_after:
            launch(s, waiting, out)


def is_out_of_memory(error: ErrorInfo | None) -> bool:
    return error is not None and error.code == ErrorCode.OUT_OF_MEMORY


def retry_after_evicting(s: Scheduler, job: _Job, out: list[Instruction], *, fresh: bool) -> None:
    """Every other idle worker on the job's device is stopped; once they have exited the job
    runs again, on its own worker (its model stays loaded) or, when the load itself ran out of
    memory and the worker died (``fresh``), on a new one under a new id."""
    job.oom_retried = True
    if fresh:
        worker = s.new_worker(job, job.device or "cpu")
        worker.busy_job, job.worker_id, job.cold = job.job_id, worker.worker_id, True
    else:
        s.workers[job.worker_id].last_used = s.now
        job.cold = False
    victims = sorted(
        (w for w in s.workers.values()
         if w.device == job.device and w.busy_job is None and w.worker_id != job.worker_id),
        key=lambda w: w.last_used,
    )
    out.append(RetryingJob(job.job_id, job.device or "cpu", tuple(v.worker_id for v in victims)))
    launch_after(s, job, victims, out)


def expire_idle(s: Scheduler, now: float, out: list[Instruction]) -> None:
    if s.idle_timeout_s is None:
        return
    for worker in [w for w in s.workers.values() if w.busy_job is None]:
        if now >= worker.last_used + s.idle_timeout_s:
            evict(s, worker, out)


def idle_deadline(s: Scheduler) -> float | None:
    if s.idle_timeout_s is None:
        return None
    times = [w.last_used + s.idle_timeout_s for w in s.workers.values() if w.busy_job is None]
    return min(times) if times else None
