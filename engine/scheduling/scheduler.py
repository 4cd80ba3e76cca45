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
from engine.scheduling import evictions, measured, policy
from engine.scheduling.estimates import Estimates
from engine.scheduling.vocabulary import (
    CancelJob,
    CancelRequested,
    DevicesMeasured,
    DeviceSpec,
    Event,
    Instruction,
    JobFinished,
    JobRequest,
    JobStateChanged,
    Submitted,
    Tick,
    WaitCauseChanged,
    WorkerExited,
    format_gb,
)
from engine.scheduling.vocabulary import SchedJob as _Job
from engine.scheduling.vocabulary import SchedWorker as _Worker

AGEING = 0.02  # chosen by measurement: docs/benchmarks.md, "Scheduler policy"
SPARE_LOADS = 0.5  # likewise: docs/benchmarks.md, "Issue 13: saturated and mixed days"
KEEP_HORIZON = 3.0  # likewise
CANCELLED_BY_ARTIST = ErrorInfo(code=ErrorCode.CANCELLED, message="The job was cancelled.")
WORKER_CRASHED = ErrorInfo(
    code=ErrorCode.WORKER_CRASHED,
    message="The worker running this job stopped unexpectedly, so the job did not finish.",
)


class Scheduler:
    """Decides which queued job runs where. Only the engine thread calls ``handle``."""

    def __init__(
        self, devices: Iterable[DeviceSpec], *, cpu_slots: int = 1, starvation_s: float = 1800.0,
        estimates: Estimates | None = None, ageing: float = AGEING,
        idle_timeout_s: float | None = None, host_ram_mb: int = 0,
        spare_loads: float = SPARE_LOADS, keep_horizon: float = KEEP_HORIZON,
    ) -> None:
        """``estimates``: run-time estimates seeded from the history (empty when None);
        ``ageing``: seconds of expected run time a queued job gains per second it waits;
        ``idle_timeout_s``: stop a warm worker idle that long (None: keep it until evicted);
        ``host_ram_mb``: host RAM the CPU workers' models may hold together (0: not counted);
        ``spare_loads``: a job that has waited less than this many of a warm model's expected
        loads does not evict it while queued jobs want it (0: evict at once);
        ``keep_horizon``: a job whose model is warm on a GPU goes before shorter jobs that would
        evict it if another GPU is expected to serve them within this many of its runs
        (0: never; ``engine.scheduling.keeping``)."""
        self.devices = {d.id: d for d in devices}
        if "cpu" not in self.devices:
            self.devices["cpu"] = DeviceSpec("cpu", 0)
        self.cpu_slots = max(1, cpu_slots)
        self.starvation_s = starvation_s
        self.queues: dict[str, deque[str]] = {}
        self.jobs: dict[str, _Job] = {}
        self.workers: dict[int, _Worker] = {}
        self.external_mb: dict[str, int] = {d: 0 for d in self.devices}
        self.estimates = estimates if estimates is not None else Estimates()
        self.ageing = ageing
        self.holds: list[policy.Hold] = []  # recomputed on every dispatch
        self._now = 0.0
        self.idle_timeout_s = idle_timeout_s
        self.host_ram_mb = host_ram_mb
        self.spare_loads = spare_loads
        self.keep_horizon = keep_horizon
        self.evicting: dict[int, _Worker] = {}  # told to stop, not yet exited
        self.observed_peak_mb: dict[str, int] = {}  # adapter -> most NVML saw a worker use
        self._seq = itertools.count()
        self._worker_ids = itertools.count(1)

    # ---- public queries -------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self._now

    def free_mb(self, device: str) -> int:
        spec = self.devices[device]
        used = sum(w.resident_mb for w in (*self.workers.values(), *self.evicting.values())
                   if w.device == device)
        used += sum(
            j.request.peak_vram_mb - self.workers[j.worker_id].resident_mb
            for j in self.jobs.values()
            if j.state is JobState.RUNNING and j.device == device and j.worker_id in self.workers
        )
        return spec.total_mb - self.external_mb[device] - used

    @property
    def reserved(self) -> dict[str, str]:
        """Device -> the job holding capacity on it (the first hold, when several share it)."""
        out: dict[str, str] = {}
        for h in self.holds:
            out.setdefault(h.device, h.job_id)
        return out

    def free_ram_mb(self) -> int:
        held = sum(w.ram_mb for w in (*self.workers.values(), *self.evicting.values()))
        return self.host_ram_mb - held

    def next_deadline(self) -> float | None:
        """When a blocked head crosses the starvation bound (the shell feeds a Tick then)."""
        times = [j.blocked_since + self.starvation_s for j in policy.class_heads(self)
                 if j.blocked_since is not None]
        times += [evictions.idle_deadline(self), evictions.spare_deadline(self)]
        times = [t for t in times if t is not None and t > self._now]
        return min(times) if times else None

    def eta(self, job_id: str, now: float) -> float | None:
        """Expected seconds until the job finishes; None when its adapter was never timed."""
        job = self.jobs.get(job_id)
        if job is None or not self.estimates.known(job.request.adapter):
            return None
        if job.state is JobState.RUNNING:
            return policy.expected_end(self, job, now) - now
        # Queued: behind its class's earlier jobs, on as many workers as it may use at once.
        req = job.request
        queue = self.queues.get(req.feature, ())
        ahead = [self.jobs[j] for j in queue if j != job_id
                 and self.jobs[j].seq < job.seq and self.jobs[j].request.adapter == req.adapter]
        lanes = self.cpu_slots if self.possible_devices(job) == ["cpu"] else \
            len(self.possible_devices(job))
        busy = sorted(policy.expected_end(self, j, now) - now for j in self.jobs.values()
                      if j.state is JobState.RUNNING and j.request.adapter == req.adapter)
        first_free = busy[0] if len(busy) >= lanes else 0.0
        work = sum(self.estimates.run_s(a.request.adapter, a.request.size) for a in ahead)
        return first_free + work / max(1, lanes) + policy.expected_s(self, job)

    def cause(self, job_id: str) -> str | None:
        job = self.jobs.get(job_id)
        return job.cause if job else None

    # ---- the one entry point --------------------------------------------------------------
    def handle(self, *events: Event) -> list[Instruction]:
        out: list[Instruction] = []
        now = 0.0
        for event in events:
            now = event.now
            self._now = max(self._now, now)
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
        if not self.possible_devices(job):
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
        elif job.retry_after is not None:  # waiting for evicted workers to exit
            if job.cold and not job.launched:
                self.workers.pop(job.worker_id, None)  # never spawned
            else:
                self._free_worker(job, ev.now)
            self._finish(job, JobState.CANCELLED, CANCELLED_BY_ARTIST, out)
        elif job.state is JobState.RUNNING and not job.cancel_requested:
            job.cancel_requested = True
            out.append(CancelJob(job.job_id))

    def _on_JobFinished(self, ev: JobFinished, out: list[Instruction]) -> None:
        job = self.jobs.get(ev.job_id)
        if job is None or job.state is not JobState.RUNNING or job.retry_after is not None:
            return
        if self._retries_out_of_memory(job, ev.error) and job.worker_id in self.workers:
            evictions.retry_after_evicting(self, job, out, fresh=False)
            return
        if ev.status is JobState.SUCCEEDED and job.started_at is not None:
            self.estimates.observe_span(job.request.adapter, ev.now - job.started_at,
                                        job.request.size, job.cold)
        self._free_worker(job, ev.now)
        self._finish(job, ev.status, ev.error, out)

    def _on_WorkerExited(self, ev: WorkerExited, out: list[Instruction]) -> None:
        evictions.worker_exited(self, ev.worker_id, out)
        worker = self.workers.pop(ev.worker_id, None)
        if worker is None or worker.busy_job is None:
            return
        job = self.jobs[worker.busy_job]
        if self._retries_out_of_memory(job, ev.error):  # the model's load ran out of memory
            evictions.retry_after_evicting(self, job, out, fresh=True)
        elif job.cancel_requested:
            self._finish(job, JobState.CANCELLED, CANCELLED_BY_ARTIST, out)
        else:
            self._finish(job, JobState.FAILED, ev.error or WORKER_CRASHED, out)

    def _on_DevicesMeasured(self, ev: DevicesMeasured, out: list[Instruction]) -> None:
        measured.apply(self, ev)

    def _on_Tick(self, ev: Tick, out: list[Instruction]) -> None:
        pass  # dispatch below re-checks starvation bounds at ev.now

    def _retries_out_of_memory(self, job: _Job, error: ErrorInfo | None) -> bool:
        return (evictions.is_out_of_memory(error) and not job.oom_retried
                and not job.cancel_requested)

    def _free_worker(self, job: _Job, now: float) -> None:
        worker = self.workers.get(job.worker_id)
        if worker is not None:
            worker.busy_job = None
            worker.last_used = now

    # ---- dispatch (engine.scheduling.policy decides) ------------------------------------
    def _dispatch(self, now: float, out: list[Instruction]) -> None:
        evictions.expire_idle(self, now, out)
        policy.dispatch(self, now, out)

    def lru_victims(
        self, device: str, job: _Job, shortfall: int, *, spare: bool = True
    ) -> list[_Worker] | None:
        """Idle workers of other adapters to evict, least recently used first; with ``spare``,
        not the models that queued jobs want and ``job`` has not yet waited long enough for."""
        wanted = evictions.wanted_adapters(self) if spare else set()
        idle = [w for w in self.workers.values()
                if w.device == device and w.busy_job is None and w.adapter != job.request.adapter
                and not evictions.spared(self, w, job, wanted)]
        return evictions.least_recent(idle, shortfall, lambda w: w.resident_mb)

    def start(
        self, job: _Job, device: str, evict: list[_Worker], now: float, out: list[Instruction]
    ) -> None:
        worker = self.warm_idle(job, device)
        job.cold = worker is None
        if worker is None:
            worker = self.new_worker(job, device)
        worker.busy_job = job.job_id
        self.queues[job.request.feature].remove(job.job_id)
        job.state = check_transition(job.state, JobState.RUNNING)
        job.device, job.worker_id, job.blocked_since = device, worker.worker_id, None
        job.started_at = now
        self.set_cause(job, None, out)
        out.append(JobStateChanged(job.job_id, JobState.RUNNING))
        evictions.launch_after(self, job, evict, out)

    def new_worker(self, job: _Job, device: str) -> _Worker:
        resident = 0 if device == "cpu" else job.request.resident_vram_mb
        worker = _Worker(next(self._worker_ids), job.request.adapter, device, resident,
                         ram_mb=job.request.resident_ram_mb if device == "cpu" else 0)
        self.workers[worker.worker_id] = worker
        return worker

    # ---- helpers --------------------------------------------------------------------------
    def _finish(
        self, job: _Job, state: JobState, error: ErrorInfo | None, out: list[Instruction]
    ) -> None:
        job.state = check_transition(job.state, state)
        self.jobs.pop(job.job_id, None)
        out.append(JobStateChanged(job.job_id, state, error))

    def set_cause(self, job: _Job, cause: str | None, out: list[Instruction]) -> None:
        if job.cause != cause:
            job.cause = cause
            out.append(WaitCauseChanged(job.job_id, cause))

    def possible_devices(self, job: _Job) -> list[str]:
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

    def cpu_running(self) -> int:
        return sum(1 for j in self.jobs.values()
                   if j.state is JobState.RUNNING and j.device == "cpu")

    def warm_idle(self, job: _Job, device: str) -> _Worker | None:
        for w in self.workers.values():
            if w.adapter == job.request.adapter and w.device == device and w.busy_job is None:
                return w
        return None

    def busy_worker(self, job: _Job, device: str) -> bool:
        return any(w.adapter == job.request.adapter and w.device == device and w.busy_job
                   for w in self.workers.values())

    def evictable_mb(self, device: str, job: _Job) -> int:
        return sum(w.resident_mb for w in self.workers.values()
                   if w.device == device and w.busy_job is None and w.adapter != job.request.adapter)

    def label(self, device: str) -> str:
        if device == "cpu":
            return "the CPU"
        node, _, local = device.rpartition("/")  # a Ray cluster's "10.0.0.5/cuda:1"
        return f"GPU {local.split(':')[-1]}" + (f" on {node}" if node else "")


__all__ = ["DeviceSpec", "JobRequest", "Scheduler"]
