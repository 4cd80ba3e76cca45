"""The engine thread's loop, and what keeps it honest when something goes wrong.

Each iteration waits on the wake-up socket and the workers' pipes and sentinels, then runs the
commands, the workers' messages and the due timers. An error in one iteration is logged and
the loop goes on; only an error that repeats iteration after iteration ends the thread, and
then every waiting job fails with a sentence (no future hangs) and ``submit`` refuses new
ones. A worker that cannot be started is told to the scheduler as that worker's exit.
"""

from __future__ import annotations

import logging
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

from engine.jobs import JobState
from engine.runtime.shell import EngineStopped, start_failed_error, stopped_error
from engine.scheduling.vocabulary import StartJob

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)
MAX_FAILED_ITERATIONS = 20  # in a row, with no good iteration between them


class EngineLoop:
    """Mixed into ``Engine``: the thread's body and its failure handling."""

    def _loop(self: Engine) -> None:
        failures = 0
        try:
            while not self._stopping:
                try:
                    self._iteration()
                    failures = 0
                except Exception:
                    # One bad event must not end the engine: log it and go on. Only an error
                    # that repeats at once, iteration after iteration, stops the thread.
                    failures += 1
                    log.error("an engine iteration failed", exc_info=True)
                    if failures >= MAX_FAILED_ITERATIONS:
                        raise
        except BaseException:
            self.failure = "the engine thread failed"
            log.critical("the engine thread failed; new jobs are refused", exc_info=True)
        finally:
            if self.failure is not None:
                self._fail_everything()
            self._pool.shutdown()

    def _iteration(self: Engine) -> None:
        ready = wait([self._wake_r, *self._pool.waitables()], self._timeout())
        if self._wake_r in ready:
            self._wake_r.recv(4096)
        self._run_commands()
        for item in self._pool.collect(ready):
            self._on_worker(item)
        self._run_timers()

    @property
    def alive(self: Engine) -> bool:
        """False once the engine thread has died: the studio and the CLI say so."""
        return self.failure is None and (self._thread is None or self._thread.is_alive()
                                         or self._stopping)

    def _check_alive(self: Engine) -> None:
        if not self.alive:
            raise EngineStopped()

    def _fail_everything(self: Engine) -> None:
        """The thread is ending for good: no future may hang, no job stays queued."""
        error = stopped_error()
        for job_id in list(self._futures):
            try:
                self._finish(job_id, JobState.FAILED, error)
            except Exception:
                log.error("could not fail job %s", job_id, exc_info=True)
            future = self._futures.pop(job_id, None)
            if future is not None and not future.done():
                future.set_exception(EngineStopped())

    def _start_failed(self: Engine, ins: StartJob, exc: Exception) -> None:
        """Told to the scheduler as the worker's exit, on the next iteration (not from inside
        the instruction being executed), so the worker id is freed and the job fails."""
        handle = self._pool.workers.get(ins.worker_id)
        if handle is not None:
            self._pool.kill(ins.worker_id)
        running = self._running.get(ins.job_id)
        label = running.adapter.label if running is not None else ins.adapter
        self._start_errors[ins.worker_id] = start_failed_error(label, exc)
        self._commands.put(("start_failed", str(ins.worker_id)))
        self._wake()

    def _measure(self: Engine, now: float) -> None:
        measured = self.memory.measure(now)
        if measured is not None:
            self._feed(measured)
            self.memory.remember(self.scheduler.observed_peak_mb)
