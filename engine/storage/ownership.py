"""Which engine a job belongs to, and what happens to a job whose engine stopped.

A job belongs to the engine that queued or started it (``jobs.engine_id``). Only one engine
holds a data directory at a time (engine.runtime.lock), so every ``queued`` or ``running``
row a starting engine finds belongs to one that stopped without finishing it (a SIGKILL, a
power cut): before anything else the new engine marks each one ``interrupted`` with a
sentence that says how to resume it. It never runs them by itself unless it is the studio's
engine (``resume_interrupted``); the command line leaves them for the artist to decide.
A clean shutdown (``release_owned``) ends the engine's own unfinished rows the same way, so
the history never says ``running`` for a job no engine runs.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import ErrorInfo, Job, JobState
from engine.storage.jobstore import JobStore

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2  # the first run plus one retry after an interruption
UNFINISHED = [JobState.QUEUED, JobState.RUNNING]


def resume_hint(job_id: str) -> str:
    return f"re-run it in the studio, or run `main.py resume {job_id}`"


def interrupt_foreign(store: JobStore) -> list[Job]:
    """Mark every queued or running job another engine owned ``interrupted``; returns them."""
    found = store.owned(UNFINISHED, mine=False)
    for job in found:
        happened = ("Meshsmith stopped while this job ran" if job.state is JobState.RUNNING
                    else "Meshsmith stopped before this job started")
        store.transition(job.job_id, JobState.INTERRUPTED, error=ErrorInfo(
            code=ErrorCode.INTERRUPTED,
            message=f"{happened} (its process was killed); {resume_hint(job.job_id)}."))
    return found


def release_owned(store: JobStore, reason: str) -> list[Job]:
    """At shutdown: this engine's own unfinished jobs become ``interrupted`` (``reason``
    names what happened, e.g. "Meshsmith was closed while this job ran")."""
    found = store.owned(UNFINISHED, mine=True)
    for job in found:
        store.transition(job.job_id, JobState.INTERRUPTED, error=ErrorInfo(
            code=ErrorCode.INTERRUPTED, message=f"{reason}; {resume_hint(job.job_id)}."))
    return found


def resume_interrupted(store: JobStore) -> list[Job]:
    """The studio's start: queue every interrupted job again once; one interrupted twice
    fails with a sentence. Returns the jobs to submit (every queued one), oldest first."""
    for job in store.list(states=[JobState.INTERRUPTED], newest_first=False):
        if job.attempts >= MAX_ATTEMPTS:
            store.transition(job.job_id, JobState.FAILED, error=ErrorInfo(
                code=ErrorCode.INTERRUPTED,
                message="Meshsmith stopped twice while this job ran, so it was not retried.",
            ))
        else:
            store.transition(job.job_id, JobState.QUEUED)
    return store.list(states=[JobState.QUEUED], newest_first=False)


def resume_one(store: JobStore, job_id: str) -> Job:
    """`main.py resume ID`: queue one interrupted job again (any number of times: the
    artist asked). Raises MeshsmithError for an unknown id or a job not interrupted."""
    job = store.get(job_id)
    if job is None:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, f"There is no job {job_id}.")
    if job.state is not JobState.INTERRUPTED:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, f"Job {job_id} is {job.state.value}, "
                             "not interrupted, so there is nothing to resume.")
    return store.transition(job_id, JobState.QUEUED)


def release_at_shutdown(store: JobStore, futures: dict[str, Future]) -> None:
    """The engine's shutdown hook: its unfinished rows become interrupted, and every caller
    still waiting on a job gets the sentence instead of waiting for ever."""
    try:
        release_owned(store, "Meshsmith was shut down before this job ended")
    except MeshsmithError as exc:
        log.error("could not mark this engine's unfinished jobs: %s", exc.message)
    for job_id, future in list(futures.items()):
        if not future.done():
            future.set_exception(MeshsmithError(
                ErrorCode.INTERRUPTED,
                f"Meshsmith was shut down before job {job_id} ended; {resume_hint(job_id)}."))
    futures.clear()
