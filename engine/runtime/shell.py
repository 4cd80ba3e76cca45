"""Small pieces of the engine shell: what the history teaches the estimates, how big an input
is, and what a job is told when the engine thread has stopped."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import ErrorInfo, JobState
from engine.meshio import staging
from engine.scheduling.estimates import Observation

if TYPE_CHECKING:
    from engine.contract.spec import AdapterSpec
    from engine.meshio.staging import StagedInput
    from engine.storage.jobstore import JobStore

IDLE_TIMEOUT_ENV = "MESHSMITH_IDLE_TIMEOUT_S"
DEFAULT_IDLE_TIMEOUT_S = 300.0
MODEL_RAM_SHARE = 0.75
HISTORY_JOBS = 500  # the most recent successes seed the run-time estimates
ENGINE_STOPPED_MESSAGE = ("The engine stopped after an internal error, so no job can run; "
                          "restart Meshsmith (the log has the details).")


class EngineStopped(MeshsmithError):
    """Raised by ``submit`` once the engine thread has died: the job is refused, not lost."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.ENGINE_STOPPED, ENGINE_STOPPED_MESSAGE)


def idle_timeout_setting(value: str | None = None) -> float | None:
    """Seconds a warm worker may sit idle before it is stopped: MESHSMITH_IDLE_TIMEOUT_S
    ("never" or "0" keeps workers until evicted), 300 s when unset."""
    raw = (os.environ.get(IDLE_TIMEOUT_ENV, "") if value is None else value).strip().lower()
    if not raw:
        return DEFAULT_IDLE_TIMEOUT_S
    if raw in ("never", "off", "0"):
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be seconds or 'never', not {raw!r}.") from None
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be seconds or 'never', not {raw!r}.")
    return seconds


def model_ram_budget_mb(share: float = MODEL_RAM_SHARE) -> int:
    """Host RAM the CPU workers' models may hold together: a share of the physical memory,
    the rest left to the studio, the system and the jobs' own peaks (0: unknown, not counted)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return 0
    return int(total * share) // 2**20


def stopped_error() -> ErrorInfo:
    return ErrorInfo(code=ErrorCode.ENGINE_STOPPED, message=ENGINE_STOPPED_MESSAGE)


def start_failed_error(adapter_label: str, exc: BaseException) -> ErrorInfo:
    return ErrorInfo(code=ErrorCode.WORKER_CRASHED,
                     message=f"The worker for {adapter_label} could not be started ({exc}).")


_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


def crash_error(adapter_label: str, exitcode: int | None) -> ErrorInfo | None:
    """One sentence for a worker that died on its own while it ran a job, saying how it died
    when the exit code tells (None: not known, the scheduler's generic sentence stands)."""
    if exitcode is None or exitcode == 0 or not adapter_label:
        return None
    if exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
        except ValueError:
            return None
        if sig in _CRASH_SIGNALS:
            message = (f"{adapter_label} crashed on this input ({sig.name}), so the job did not "
                       "finish; a lighter or cleaned-up input (decimate or repair a mesh first) "
                       "may get through.")
        elif sig == signal.SIGKILL:
            message = (f"The {adapter_label} worker was killed (SIGKILL, most often the system "
                       "running out of memory), so the job did not finish.")
        else:
            message = f"The {adapter_label} worker was stopped by {sig.name}, so the job did not finish."
    else:
        message = (f"The {adapter_label} worker exited with code {exitcode} in the middle of the "
                   "job, so the job did not finish.")
    return ErrorInfo(code=ErrorCode.WORKER_CRASHED, message=message)


def history_observations(store: JobStore, limit: int = HISTORY_JOBS) -> Iterator[Observation]:
    """Succeeded jobs, oldest first, as the estimates learn them. A job whose worker was
    fresh reports its load time; its input size is not kept, so it counts as unsized."""
    jobs = store.list(states=[JobState.SUCCEEDED], limit=limit, newest_first=True)
    for job in reversed(jobs):
        timings = job.result.timings if job.result is not None else None
        if timings is None or timings.run_s <= 0:
            continue
        load = timings.load_s if timings.load_s > 0 else None
        yield Observation(job.spec.adapter, timings.run_s, 0.0, load)


def input_size(inputs: Iterable[StagedInput]) -> float:
    """Faces of the mesh inputs plus pixels of the image inputs: what run time scales with."""
    total = 0.0
    for staged in inputs:
        if staged.faces:
            total += staged.faces
        elif staged.width and staged.height:
            total += staged.width * staged.height
    return total


def check_inputs(spec: AdapterSpec, inputs: list[staging.StagedInput]) -> None:
    wanted = list(spec.inputs)
    if not wanted and inputs:
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"{spec.feature} takes no input file, only parameters such as "
                             "the prompt.")
    extra = min(spec.more_inputs, max(0, len(inputs) - len(wanted)))
    wanted += wanted[-1:] * extra  # more views of the same kind, when the adapter takes them
    if len(inputs) != len(wanted):
        most = len(spec.inputs) + spec.more_inputs
        count = f"{len(spec.inputs)} to {most}" if spec.more_inputs else str(len(wanted))
        raise MeshsmithError(ErrorCode.INVALID_INPUT,
                             f"{spec.feature} takes {count} input(s), not {len(inputs)}.")
    for staged, kind in zip(inputs, wanted, strict=True):
        if staged.kind != kind:
            raise MeshsmithError(
                ErrorCode.INVALID_INPUT,
                f"{spec.feature} needs {staging.KIND_PHRASE[kind]}, but {staged.original_name} "
                f"is {staging.KIND_PHRASE[staged.kind]}.",
            )
