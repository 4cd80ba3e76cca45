"""The pure scheduling core: its event vocabulary and the ``Scheduler`` state machine.

No threads, no I/O, no clocks of its own: events in, instructions out. Benchmarks and outside
tools drive it directly, so this package's names (and ``engine.scheduler``) are a public
contract: fields are added only with defaults.
"""

from engine.scheduling.scheduler import CANCELLED_BY_ARTIST, WORKER_CRASHED, Scheduler
from engine.scheduling.vocabulary import (
    CancelJob,
    CancelRequested,
    DevicesMeasured,
    DeviceSpec,
    EvictWorker,
    JobFinished,
    JobRequest,
    JobStateChanged,
    MeasureDevices,
    RetryingJob,
    SchedJob,
    SchedWorker,
    StartJob,
    Submitted,
    Tick,
    WaitCauseChanged,
    WorkerExited,
    format_gb,
)

__all__ = [
    "CANCELLED_BY_ARTIST", "WORKER_CRASHED", "CancelJob", "CancelRequested", "DeviceSpec",
    "DevicesMeasured", "EvictWorker", "JobFinished", "JobRequest", "JobStateChanged",
    "MeasureDevices",
    "RetryingJob", "SchedJob", "SchedWorker", "Scheduler", "StartJob", "Submitted", "Tick",
    "WaitCauseChanged", "WorkerExited", "format_gb",
]
