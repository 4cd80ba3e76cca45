"""The scheduler's vocabulary: devices, job requests, events (stimuli) and instructions."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.jobs import ErrorInfo, JobState


def format_gb(mb: int) -> str:
    gb = mb / 1000  # the decimal GB of GPU spec sheets: 24000 MB is "24 GB"
    return f"{gb:.0f} GB" if gb >= 10 or gb == int(gb) else f"{gb:.1f} GB"


@dataclass(frozen=True)
class DeviceSpec:
    id: str  # "cuda:0", "cuda:1", ... or "cpu"
    total_mb: int
    name: str = ""
    uuid: str = ""  # NVML's GPU UUID: the one id NVML, torch and CUDA_VISIBLE_DEVICES share

    @property
    def is_gpu(self) -> bool:
        return self.id != "cpu"


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    feature: str
    adapter: str
    peak_vram_mb: int = 0
    resident_vram_mb: int = 0  # what a warm, idle worker of this adapter keeps on its GPU
    device_kinds: tuple[str, ...] = ("cpu",)
    size: float = 0.0  # input faces (meshes) or pixels (images): scales the run-time estimate
    resident_ram_mb: int = 0  # host RAM a warm CPU worker of this adapter keeps (its model)


# ---- events: what happened ---------------------------------------------------------------
@dataclass(frozen=True)
class Submitted:
    request: JobRequest
    now: float


@dataclass(frozen=True)
class CancelRequested:
    job_id: str
    now: float


@dataclass(frozen=True)
class JobFinished:
    job_id: str
    status: JobState
    now: float
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class WorkerExited:
    worker_id: int
    now: float
    error: ErrorInfo | None = None  # why, when the shell knows better than "crashed"


@dataclass(frozen=True)
class DevicesMeasured:
    used_mb: dict[str, int]  # device -> what NVML sees used on the card
    now: float
    worker_mb: dict[int, int] = field(default_factory=dict)  # worker id -> NVML, by its PID


@dataclass(frozen=True)
class Tick:
    now: float


Event = Submitted | CancelRequested | JobFinished | WorkerExited | DevicesMeasured | Tick


# ---- instructions: what the shell must do ------------------------------------------------
@dataclass(frozen=True)
class StartJob:
    job_id: str
    adapter: str
    device: str
    worker_id: int  # reuse this worker if it exists, otherwise spawn it under this id


@dataclass(frozen=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True)
class EvictWorker:
    worker_id: int
    adapter: str
    device: str


@dataclass(frozen=True)
class JobStateChanged:
    job_id: str
    state: JobState
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class WaitCauseChanged:
    job_id: str
    cause: str | None


@dataclass(frozen=True)
class RetryingJob:
    """The job ran out of memory: the shell clears its partial output and its timers; a
    StartJob on the same worker follows once the evicted workers have exited."""

    job_id: str
    device: str
    evicted: tuple[int, ...]  # the idle workers stopped to make room


@dataclass(frozen=True)
class MeasureDevices:
    """A head waits for GPU memory: the shell measures (NVML) and feeds DevicesMeasured."""


Instruction = (
    StartJob | CancelJob | EvictWorker | JobStateChanged | WaitCauseChanged | RetryingJob
    | MeasureDevices
)


# ---- the scheduler's own bookkeeping -----------------------------------------------------
@dataclass
class SchedJob:
    request: JobRequest
    state: JobState
    seq: int
    submitted_at: float
    device: str | None = None
    worker_id: int = 0
    blocked_since: float | None = None
    cancel_requested: bool = False
    cause: str | None = None
    oom_retried: bool = False  # an out-of-memory failure is retried once, after evictions
    retry_after: set[int] | None = None  # evicted workers to wait for before (re)starting
    launched: bool = False  # a StartJob was given for it
    started_at: float | None = None
    cold: bool = False  # started on a freshly spawned worker: its span includes the load

    @property
    def job_id(self) -> str:
        return self.request.job_id


@dataclass
class SchedWorker:
    worker_id: int
    adapter: str
    device: str
    resident_mb: int
    busy_job: str | None = None
    ram_mb: int = 0  # host RAM it keeps while warm (CPU workers holding a model)
    last_used: float = field(default=0.0)
