"""A job's last history write may fail (a full disk, a folder made read-only): never hang.

``FinalWrites.record`` tries the write once. When the disk refuses it, the job's caller still
gets an answer at once (the failed write's sentence, see ``failed_result``) and the write
waits here; ``retry`` (the engine calls it on a timer, and once more at shutdown) writes it
when space returns, so the history ends up saying what really happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.errors import MeshsmithError
from engine.jobs import ErrorInfo, IllegalTransition, Job, JobResult, JobState
from engine.storage.jobstore import JobStore

log = logging.getLogger(__name__)
RETRY_S = 5.0  # how often a refused write is tried again


@dataclass
class _Pending:
    job_id: str
    state: JobState
    result: JobResult
    error: ErrorInfo | None


class FinalWrites:
    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    @property
    def waiting(self) -> bool:
        return bool(self._pending)

    def record(self, store: JobStore, job_id: str, state: JobState, result: JobResult,
               error: ErrorInfo | None) -> tuple[Job | None, MeshsmithError | None]:
        """Write a job's end; returns (the job as stored, None) or (None, why it failed)."""
        try:
            try:
                return store.transition(job_id, state, result=result, error=error), None
            except IllegalTransition:
                # its "running" write was refused earlier, so the row still says queued
                store.transition(job_id, JobState.RUNNING)
                return store.transition(job_id, state, result=result, error=error), None
        except MeshsmithError as exc:
            log.error("job %s ended %s but the history could not record it: %s", job_id,
                      state.value, exc.message, extra={"job_id": job_id})
            self._pending[job_id] = _Pending(job_id, state, result, error)
            return None, exc

    def retry(self, store: JobStore) -> list[Job]:
        """Try every refused write again; returns the jobs now written."""
        written = []
        for job_id, pending in list(self._pending.items()):
            try:
                written.append(store.transition(job_id, pending.state, result=pending.result,
                                                error=pending.error))
            except MeshsmithError:
                continue  # still full: the next retry
            except (IllegalTransition, KeyError):
                log.error("job %s: its refused history write no longer applies", job_id)
            del self._pending[job_id]
        return written


def failed_result(result: JobResult, failure: MeshsmithError) -> JobResult:
    """What the caller gets when the job ended but its history row could not be written."""
    return result.model_copy(update={"status": "failed", "error": ErrorInfo(
        **failure.to_dict())})
