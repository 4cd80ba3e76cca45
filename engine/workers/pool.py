"""The engine's side of the worker processes: spawn, send, receive, stop, kill.

Only the engine thread uses a pool. It never blocks: ``waitables()`` lists what the engine's
single ``multiprocessing.connection.wait`` watches, and ``collect`` turns what is ready into
messages and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from engine.contract.spec import AdapterSpec
from engine.workers.lifeline import spawning_shielded
from engine.workers.worker import worker_main

log = logging.getLogger(__name__)


@dataclass
class HandleState:
    """What the engine tracks of one worker, whatever runs it: a local process
    (``WorkerHandle``) or a Ray actor (``engine.workers.ray_pool.RayWorkerHandle``)."""

    worker_id: int
    spec: AdapterSpec
    device: str  # the scheduler's id: "cuda:0", "cpu", or "10.0.0.5/cuda:1" under Ray
    conn: Connection  # the engine's end of the worker's pipe
    job_id: str | None = None
    loaded: bool = False
    load_s: float = 0.0
    load_reported: bool = False  # the first job on a worker carries its load time
    spawned_at: float = 0.0  # monotonic; load time counts from here, process start included
    exit_reason: dict[str, str] | None = None
    stopping: bool = False


@dataclass(kw_only=True)
class WorkerHandle(HandleState):
    process: Any  # multiprocessing.Process (spawn context)

    @property
    def pid(self) -> int | None:
        return self.process.pid


@dataclass(frozen=True)
class WorkerMessage:
    worker_id: int
    message: tuple


@dataclass(frozen=True)
class WorkerExit:
    worker_id: int
    exitcode: int | None
    reason: dict[str, str] | None  # set when the engine killed it on purpose (timeout)
    label: str = ""  # the adapter's label, for the sentence when it died on its own


class WorkerPool:
    def __init__(self, logs_dir: str) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._logs = logs_dir
        self.workers: dict[int, WorkerHandle] = {}

    def run(self, worker_id: int, spec: AdapterSpec, device: str, job: dict[str, Any]) -> WorkerHandle:
        handle = self.workers.get(worker_id)
        if handle is not None and not handle.process.is_alive():
            # A warm worker that died while idle, its exit not yet collected: the scheduler
            # still counts it, so start a fresh process under the same id rather than hand
            # the job to a corpse (and report no exit for the old one: nothing was lost).
            self._forget(handle)
            handle = None
        handle = handle or self._spawn(worker_id, spec, device)
        handle.job_id = job["job_id"]
        self._send(handle, ("run", job))
        return handle

    def cancel(self, worker_id: int, job_id: str) -> None:
        handle = self.workers.get(worker_id)
        if handle is not None and handle.job_id == job_id:
            self._send(handle, ("cancel", job_id))

    def stop(self, worker_id: int) -> None:
        """Ask a worker to unload and exit; the engine kills it if it lingers."""
        handle = self.workers.get(worker_id)
        if handle is not None and not handle.stopping:
            handle.stopping = True
            self._send(handle, ("stop",))

    def kill(self, worker_id: int, reason: dict[str, str] | None = None) -> None:
        handle = self.workers.get(worker_id)
        if handle is not None and handle.process.is_alive():
            handle.exit_reason = reason
            handle.process.kill()

    def waitables(self) -> list[Any]:
        items: list[Any] = []
        for handle in self.workers.values():
            items.extend((handle.conn, handle.process.sentinel))
        return items

    def collect(self, ready: list[Any]) -> list[WorkerMessage | WorkerExit]:
        """Messages from ready connections, then exits of dead processes (in that order)."""
        ready_set = set(map(id, ready))
        events: list[WorkerMessage | WorkerExit] = []
        for handle in list(self.workers.values()):
            if id(handle.conn) in ready_set or id(handle.process.sentinel) in ready_set:
                events.extend(WorkerMessage(handle.worker_id, m) for m in self._drain(handle))
            if id(handle.process.sentinel) in ready_set and not handle.process.is_alive():
                events.append(self._reap(handle))
        return events

    def shutdown(self, timeout: float = 5.0) -> None:
        for worker_id in list(self.workers):
            self.stop(worker_id)
        for handle in list(self.workers.values()):
            handle.process.join(timeout)
            if handle.process.is_alive():
                handle.process.kill()
                handle.process.join(2)
            self._reap(handle)

    # ---- internals ------------------------------------------------------------------------
    def _spawn(self, worker_id: int, spec: AdapterSpec, device: str) -> WorkerHandle:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=worker_main,
            args=(spec.model_dump_json(), device, child_end, os.getpid(), self._logs),
            name=f"meshsmith-{spec.id}-{device}",
            daemon=True,
        )
        with spawning_shielded():
            process.start()
        child_end.close()  # so the engine sees EOF when the worker dies
        handle = WorkerHandle(worker_id, spec, device, parent_end, process=process,
                              spawned_at=time.monotonic())
        self.workers[worker_id] = handle
        log.info("worker started", extra={"worker": worker_id, "adapter": spec.id,
                                          "device": device, "worker_pid": process.pid})
        return handle

    def _send(self, handle: WorkerHandle, message: tuple) -> None:
        try:
            handle.conn.send(message)
        except (BrokenPipeError, OSError):
            pass  # the process is dying; its sentinel will report the exit

    def _drain(self, handle: WorkerHandle) -> list[tuple]:
        messages = []
        try:
            while handle.conn.poll():
                messages.append(handle.conn.recv())
        except (EOFError, OSError):
            pass
        return messages

    def _forget(self, handle: WorkerHandle) -> None:
        handle.process.join(0.5)
        handle.conn.close()
        self.workers.pop(handle.worker_id, None)

    def _reap(self, handle: WorkerHandle) -> WorkerExit:
        self._forget(handle)
        log.info("worker exited", extra={"worker": handle.worker_id,
                                         "exitcode": handle.process.exitcode})
        return WorkerExit(handle.worker_id, handle.process.exitcode, handle.exit_reason,
                          handle.spec.label)
