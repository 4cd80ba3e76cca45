"""The scheduler: a pure state machine (events in, instructions out).

No threads, no clocks, no I/O: every event carries ``now`` and every effect is an instruction
for the shell (``engine.runtime.engine``) to execute. One FIFO per feature; dispatch looks at every
queue's head, skips a head that does not fit with a recorded cause and goes on with the others.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable

from engine.errors import ErrorCode
from engine.jobs import ErrorInfo, JobState, check_transition
from engine.scheduling.vocabulary import (
    CancelJob,
    CancelRequested,
    DevicesMeasured,
    DeviceSpec,
    Event,
    EvictWorker,
    Instruction,
    JobFinished,
    JobRequest,
    JobStateChanged,
    RetryingJob,
    StartJob,
    Submitted,
    Tick,
    WaitCauseChanged,
    WorkerExited,
    format_gb,
)
from engine.scheduling.vocabulary import SchedJob as _Job
from engine.scheduling.vocabulary import SchedWorker as _Worker

CANCELLED_BY_ARTIST = ErrorInfo(code=ErrorCode.CANCELLED, message="The job was cancelled.")
WORKER_CRASHED = ErrorInfo(
    code=ErrorCode.WORKER_CRASHED,
    message="The worker running this job stopped unexpectedly, so the job did not finish.",
)


class Scheduler:
    """Decides which queued job runs where. Only the engine thread calls ``handle``."""

    def __init__(
        self, devices: Iterable[DeviceSpec], *, cpu_slots: int = 1, starvation_s: float = 300.0
    ) -> None:
        self.devices = {d.id: d for d in devices}
        if "cpu" not in self.devices:
            self.devices["cpu"] = DeviceSpec("cpu", 0)
        self.cpu_slots = max(1, cpu_slots)
        self.starvation_s = starvation_s
        self.queues: dict[str, deque[str]] = {}
        self.jobs: dict[str, _Job] = {}
        self.workers: dict[int, _Worker] = {}
        self.external_mb: dict[str, int] = {d: 0 for d in self.devices}
        self.reserved: dict[str, str] = {}  # device -> job id holding a starvation reservation
        self._seq = itertools.count()
        self._worker_ids = itertools.count(1)

    # ---- public queries -------------------------------------------------------------------
    def free_mb(self, device: str) -> int:
        spec = self.devices[device]
        used = sum(w.resident_mb for w in self.workers.values() if w.device == device)
        used += sum(
            j.request.peak_vram_mb - self.workers[j.worker_id].resident_mb
            for j in self.jobs.values()
            if j.state is JobState.RUNNING and j.device == device and j.worker_id in self.workers
        )
        return spec.total_mb - self.external_mb[device] - used

    def next_deadline(self) -> float | None:
        """When a blocked head crosses the starvation bound (the shell feeds a Tick then)."""
        times = [
            j.blocked_since + self.starvation_s
            for j in self._heads()
            if j.blocked_since is not None and self._can_reserve(j)
        ]
        return min(times) if times else None

    def cause(self, job_id: str) -> str | None:
        job = self.jobs.get(job_id)
        return job.cause if job else None

    # ---- the one entry point --------------------------------------------------------------
    def handle(self, *events: Event) -> list[Instruction]:
        out: list[Instruction] = []
        now = 0.0
        for event in events:
            now = event.now
            handler = getattr(self, f"_on_{type(event).__name__}")
            handler(event, out)
        self._dispatch(now, out)
        return out

    # ---- event handlers -------------------------------------------------------------------
    def _on_Submitted(self, ev: Submitted, out: list[Instruction]) -> None:
        req = ev.request
        if req.job_id in self.jobs:
            raise ValueError(f"job {req.job_id} was submitted twice")
        job = _Job(req, JobState.QUEUED, next(self._seq), ev.now)
        if not self._possible_devices(job):
            self._finish(job, JobState.FAILED, self._never_fits(job), out)
            return
        self.jobs[req.job_id] = job
        self.queues.setdefault(req.feature, deque()).append(req.job_id)

    def _on_CancelRequested(self, ev: CancelRequested, out: list[Instruction]) -> None:
        job = self.jobs.get(ev.job_id)
        if job is None:
            return
        if job.state is JobState.QUEUED:
            self.queues[job.request.feature].remove(job.job_id)
            self._finish(job, JobState.CANCELLED, CANCELLED_BY_ARTIST, out)
        elif job.retry_after is not None:  # between an out-of-memory failure and its retry
            self._free_worker(job, ev.now)
            self._finish(job, JobState.CANCELLED, CANCELLED_BY_ARTIST, out)
        elif job.state is JobState.RUNNING and not job.cancel_requested:
            job.cancel_requested = True
            out.append(CancelJob(job.job_id))

    def _on_JobFinished(self, ev: JobFinished, out: list[Instruction]) -> None:
        job = self.jobs.get(ev.job_id)
        if job is None or job.state is not JobState.RUNNING or job.retry_after is not None:
            return
        if self._retries_out_of_memory(job, ev):
            self._retry_after_evicting(job, ev.now, out)
            return
        self._free_worker(job, ev.now)
        self._finish(job, ev.status, ev.error, out)

    def _on_WorkerExited(self, ev: WorkerExited, out: list[Instruction]) -> None:
        for waiting in [j for j in self.jobs.values() if j.retry_after]:
            waiting.retry_after.discard(ev.worker_id)
            if not waiting.retry_after:
                self._restart(waiting, out)
        worker = self.workers.pop(ev.worker_id, None)
        if worker is None or worker.busy_job is None:
            return
        job = self.jobs[worker.busy_job]
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED, CANCELLED_BY_ARTIST, out)
        else:
            self._finish(job, JobState.FAILED, ev.error or WORKER_CRASHED, out)

    def _on_DevicesMeasured(self, ev: DevicesMeasured, out: list[Instruction]) -> None:
        # NVML sees everything on the card; what is not ours belongs to other programs.
        for device, used in ev.used_mb.items():
            if device in self.devices:
                ours = self.devices[device].total_mb - self.external_mb[device] - self.free_mb(device)
                self.external_mb[device] = max(0, used - ours)

    def _on_Tick(self, ev: Tick, out: list[Instruction]) -> None:
        pass  # dispatch below re-checks starvation bounds at ev.now

    # ---- out of memory: evict the other idle models, retry once ----------------------------
    def _retries_out_of_memory(self, job: _Job, ev: JobFinished) -> bool:
        return (ev.status is JobState.FAILED and ev.error is not None
                and ev.error.code == ErrorCode.OUT_OF_MEMORY and not job.oom_retried
                and not job.cancel_requested and job.worker_id in self.workers)

    def _retry_after_evicting(self, job: _Job, now: float, out: list[Instruction]) -> None:
        """The job keeps its worker (its model stays loaded) and its place: every other idle
        worker on its device is stopped, and once they have exited the job runs again."""
        job.oom_retried = True
        self.workers[job.worker_id].last_used = now
        victims = sorted(
            (w for w in self.workers.values()
             if w.device == job.device and w.busy_job is None and w.worker_id != job.worker_id),
            key=lambda w: w.last_used,
        )
        for victim in victims:
            del self.workers[victim.worker_id]
            out.append(EvictWorker(victim.worker_id, victim.adapter, victim.device))
        job.retry_after = {v.worker_id for v in victims}
        out.append(RetryingJob(job.job_id, job.device or "cpu",
                               tuple(v.worker_id for v in victims)))
        if not job.retry_after:
            self._restart(job, out)

    def _restart(self, job: _Job, out: list[Instruction]) -> None:
        job.retry_after = None
        out.append(StartJob(job.job_id, job.request.adapter, job.device or "cpu", job.worker_id))

    def _free_worker(self, job: _Job, now: float) -> None:
        worker = self.workers.get(job.worker_id)
        if worker is not None:
            worker.busy_job = None
            worker.last_used = now

    # ---- dispatch -------------------------------------------------------------------------
    def _heads(self) -> list[_Job]:
        heads = [self.jobs[q[0]] for q in self.queues.values() if q]
        return sorted(heads, key=lambda j: j.seq)

    def _dispatch(self, now: float, out: list[Instruction]) -> None:
        self._reserve_for_starving(now, out)
        started = True
        while started:
            started = False
            for job in self._heads():
                if self._try_start(job, now, out):
                    started = True
                    break
        for job in self._heads():
            if job.blocked_since is None:
                job.blocked_since = now
        # Starts may have released reservations that other starving heads can now take.
        self._reserve_for_starving(now, out)

    def _reserve_for_starving(self, now: float, out: list[Instruction]) -> None:
        for job in self._heads():
            # Same expression as next_deadline(), so a Tick at the deadline always qualifies.
            if job.blocked_since is None or now < job.blocked_since + self.starvation_s:
                continue
            if not self._can_reserve(job):
                continue  # re-checked when a reservation is released (an event)
            free = [d for d in self._possible_devices(job) if d not in self.reserved]
            if free:
                device = max(free, key=lambda d: (self._warm_idle(job, d) is not None,
                                                  self.free_mb(d) + self._evictable_mb(d, job)))
                self.reserved[device] = job.job_id

    def _can_reserve(self, job: _Job) -> bool:
        """True when ``job`` holds no reservation yet and some device it can use is unclaimed."""
        if job.job_id in self.reserved.values():
            return False
        return any(d not in self.reserved for d in self._possible_devices(job))

    def _try_start(self, job: _Job, now: float, out: list[Instruction]) -> bool:
        best: tuple[tuple[float, ...], str, list[_Worker]] | None = None
        causes: list[tuple[int, str]] = []
        for device in self._possible_devices(job):
            holder = self.reserved.get(device)
            if holder is not None and holder != job.job_id:
                causes.append((0, f"waiting: {self._label(device)} is held for an older job"))
                continue
            warm = self._warm_idle(job, device)
            if self._busy_worker(job, device):
                causes.append((1, f"waiting for the running {job.request.adapter} job on "
                                  f"{self._label(device)} to finish"))
                continue
            placement = self._placement(job, device, warm)
            if isinstance(placement, str):
                causes.append((2, placement))
                continue
            rank, evict = placement
            if best is None or rank < best[0]:
                best = (rank, device, evict)
        if best is None:
            cause = max(causes)[1] if causes else "waiting for a device"
            self._set_cause(job, cause, out)
            return False
        self._start(job, best[1], best[2], now, out)
        return True

    def _placement(
        self, job: _Job, device: str, warm: _Worker | None
    ) -> tuple[tuple[float, ...], list[_Worker]] | str:
        """Rank for starting ``job`` on ``device`` (lower is better), or why it cannot start."""
        if device == "cpu":
            running = sum(1 for j in self.jobs.values()
                          if j.state is JobState.RUNNING and j.device == "cpu")
            if running >= self.cpu_slots:
                return "waiting for a free CPU slot"
            return ((0 if warm else 1, 0.0), [])
        need = job.request.peak_vram_mb - (warm.resident_mb if warm else 0)
        free = self.free_mb(device)
        if free >= need:
            # Affinity first, then best fit: keep big holes for big jobs.
            return ((0 if warm else 1, 0, free - need), [])
        victims = self._lru_victims(device, job, need - free)
        if victims is None:
            return f"waiting for {format_gb(need)} on {self._label(device)}"
        return ((0 if warm else 1, 1, sum(v.resident_mb for v in victims)), victims)

    def _lru_victims(self, device: str, job: _Job, shortfall: int) -> list[_Worker] | None:
        idle = sorted(
            (w for w in self.workers.values()
             if w.device == device and w.busy_job is None and w.adapter != job.request.adapter),
            key=lambda w: w.last_used,
        )
        victims, freed = [], 0
        for worker in idle:
            if freed >= shortfall:
                break
            victims.append(worker)
            freed += worker.resident_mb
        return victims if freed >= shortfall else None

    def _start(
        self, job: _Job, device: str, evict: list[_Worker], now: float, out: list[Instruction]
    ) -> None:
        for victim in evict:
            del self.workers[victim.worker_id]
            out.append(EvictWorker(victim.worker_id, victim.adapter, victim.device))
        worker = self._warm_idle(job, device)
        if worker is None:
            resident = 0 if device == "cpu" else job.request.resident_vram_mb
            worker = _Worker(next(self._worker_ids), job.request.adapter, device, resident)
            self.workers[worker.worker_id] = worker
        worker.busy_job = job.job_id
        self.queues[job.request.feature].popleft()
        self._release_reservations(job)
        job.state = check_transition(job.state, JobState.RUNNING)
        job.device, job.worker_id, job.blocked_since = device, worker.worker_id, None
        self._set_cause(job, None, out)
        out.append(JobStateChanged(job.job_id, JobState.RUNNING))
        out.append(StartJob(job.job_id, job.request.adapter, device, worker.worker_id))

    # ---- helpers --------------------------------------------------------------------------
    def _finish(
        self, job: _Job, state: JobState, error: ErrorInfo | None, out: list[Instruction]
    ) -> None:
        job.state = check_transition(job.state, state)
        self.jobs.pop(job.job_id, None)
        self._release_reservations(job)
        out.append(JobStateChanged(job.job_id, state, error))

    def _release_reservations(self, job: _Job) -> None:
        # A job may start on another device than the one it reserved: free every one it holds.
        for device, holder in list(self.reserved.items()):
            if holder == job.job_id:
                del self.reserved[device]

    def _set_cause(self, job: _Job, cause: str | None, out: list[Instruction]) -> None:
        if job.cause != cause:
            job.cause = cause
            out.append(WaitCauseChanged(job.job_id, cause))

    def _possible_devices(self, job: _Job) -> list[str]:
        """Devices that could ever host the job. GPUs win over the CPU when both are allowed."""
        req = job.request
        gpus = [d for d, s in self.devices.items()
                if s.is_gpu and "cuda" in req.device_kinds
                and s.total_mb - self.external_mb[d] >= req.peak_vram_mb]
        if gpus:
            return gpus
        return ["cpu"] if "cpu" in req.device_kinds else []

    def _never_fits(self, job: _Job) -> ErrorInfo:
        largest = max((s.total_mb for s in self.devices.values() if s.is_gpu), default=0)
        if largest:
            msg = (f"This job needs {format_gb(job.request.peak_vram_mb)} of GPU memory, but the "
                   f"largest GPU here has {format_gb(largest)}.")
        else:
            msg = f"{job.request.adapter} needs a GPU, and this machine has none."
        return ErrorInfo(code=ErrorCode.NOT_ENOUGH_VRAM, message=msg)

    def _warm_idle(self, job: _Job, device: str) -> _Worker | None:
        for w in self.workers.values():
            if w.adapter == job.request.adapter and w.device == device and w.busy_job is None:
                return w
        return None

    def _busy_worker(self, job: _Job, device: str) -> bool:
        return any(w.adapter == job.request.adapter and w.device == device and w.busy_job
                   for w in self.workers.values())

    def _evictable_mb(self, device: str, job: _Job) -> int:
        return sum(w.resident_mb for w in self.workers.values()
                   if w.device == device and w.busy_job is None and w.adapter != job.request.adapter)

    def _label(self, device: str) -> str:
        if device == "cpu":
            return "the CPU"
        node, _, local = device.rpartition("/")  # a Ray cluster's "10.0.0.5/cuda:1"
        return f"GPU {local.split(':')[-1]}" + (f" on {node}" if node else "")


__all__ = ["DeviceSpec", "JobRequest", "Scheduler"]
