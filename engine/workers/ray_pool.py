"""The engine's side of the Ray actors, with the interface of engine.workers.pool.WorkerPool.

The engine thread keeps its single wait. Each actor has a forwarding thread here that makes
the blocking Ray calls (load, then each job's ``next_messages``) and writes what comes back on
a local pipe whose other end the engine waits on. A dead actor (``ray.kill``, a crash, a lost
node) makes the blocked call raise RayActorError; the thread then reports an exit, which the
scheduler turns into WORKER_CRASHED for that actor's job alone.

Placement: a GPU actor is pinned to its device's node and asks Ray for a share of a GPU and
for its adapter's resident memory from the node's ``vram_mb`` resource; which GPU of the node
it uses is the scheduler's choice, so Ray is told to leave CUDA_VISIBLE_DEVICES alone.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from engine.contract.spec import AdapterSpec
from engine.workers.pool import HandleState, WorkerExit, WorkerMessage
from engine.workers.ray_actor import AdapterActor
from engine.workers.ray_cluster import VRAM_RESOURCE, RayDevices, RaySettings, connect
from engine.workers.worker import error_payload

log = logging.getLogger(__name__)

_EXIT = ("__exit__",)  # the forwarding thread's last word: the actor is gone
# A GPU actor's share in Ray's own GPU count: enough to place it on a node with GPUs, small
# enough that the scheduler's VRAM accounting, not Ray's whole-GPU count, limits sharing.
GPU_SHARE = 0.01
_NOSET_CUDA = {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}


@dataclass(kw_only=True)
class RayWorkerHandle(HandleState):
    actor: Any  # ray.actor.ActorHandle; ``conn`` gets the forwarding thread's messages
    commands: queue.SimpleQueue[tuple] = field(default_factory=queue.SimpleQueue)
    killed: bool = False
    pid: int | None = None  # the actor's process on its node, once it has loaded
    host: str = ""  # the actor's node
    thread: threading.Thread | None = None


class RayPool:
    """Only the engine thread calls its methods; each actor's thread only writes its pipe."""

    def __init__(self, devices: RayDevices, settings: RaySettings, owns_ray: bool = False) -> None:
        self.devices = devices
        self.settings = settings
        self._owns_ray = owns_ray
        self._actor_class = ray.remote(AdapterActor)
        self.workers: dict[int, RayWorkerHandle] = {}

    @classmethod
    def connect(cls, settings: RaySettings | None = None) -> RayPool:
        settings = settings or RaySettings.from_env()
        owns_ray = connect(settings)
        return cls(RayDevices.from_cluster(), settings, owns_ray)

    # ---- the WorkerPool interface ---------------------------------------------------------
    def run(self, worker_id: int, spec: AdapterSpec, device: str,
            job: dict[str, Any]) -> RayWorkerHandle:
        handle = self.workers.get(worker_id) or self._spawn(worker_id, spec, device)
        handle.job_id = job["job_id"]
        handle.commands.put(("run", job))
        return handle

    def cancel(self, worker_id: int, job_id: str) -> None:
        handle = self.workers.get(worker_id)
        if handle is not None and handle.job_id == job_id and not handle.killed:
            handle.actor.cancel.remote(job_id)  # fire and forget: the "done" message answers

    def stop(self, worker_id: int) -> None:
        """Ask an actor to unload and go; the engine kills it if it lingers."""
        handle = self.workers.get(worker_id)
        if handle is not None and not handle.stopping:
            handle.stopping = True
            handle.commands.put(("stop",))

    def kill(self, worker_id: int, reason: dict[str, str] | None = None) -> None:
        handle = self.workers.get(worker_id)
        if handle is None or handle.killed:
            return
        handle.exit_reason, handle.killed = reason, True
        _kill(handle)
        handle.commands.put(("killed",))  # wakes a thread that waits for its next command

    def waitables(self) -> list[Any]:
        return [handle.conn for handle in self.workers.values()]

    def collect(self, ready: list[Any]) -> list[WorkerMessage | WorkerExit]:
        ready_set = set(map(id, ready))
        events: list[WorkerMessage | WorkerExit] = []
        for handle in list(self.workers.values()):
            if id(handle.conn) not in ready_set:
                continue
            messages, ended = self._drain(handle)
            for message in messages:
                if message[0] == "load_failed":
                    # Kept here: the exit follows in this same batch, before the engine
                    # has handled the message.
                    handle.exit_reason = handle.exit_reason or message[1]
                events.append(WorkerMessage(handle.worker_id, message))
            if ended:
                events.append(self._reap(handle))
        return events

    def shutdown(self, timeout: float = 5.0) -> None:
        for worker_id in list(self.workers):
            self.stop(worker_id)
        deadline = time.monotonic() + timeout
        for handle in list(self.workers.values()):
            if handle.thread is not None:
                handle.thread.join(max(0.0, deadline - time.monotonic()))
                if handle.thread.is_alive():
                    self.kill(handle.worker_id)
                    handle.thread.join(2)
            handle.conn.close()
        self.workers.clear()
        if self._owns_ray:
            ray.shutdown()

    # ---- the engine thread's internals ----------------------------------------------------
    def _spawn(self, worker_id: int, spec: AdapterSpec, device: str) -> RayWorkerHandle:
        options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 2, "max_restarts": 0}
        if device == "cpu":
            # The scheduler's CPU slots bound how many run; Ray only spreads them over nodes.
            options["scheduling_strategy"] = "SPREAD"
        else:
            options.update(
                num_gpus=GPU_SHARE, runtime_env={"env_vars": dict(_NOSET_CUDA)},
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    self.devices.node_ids[device], soft=False),
            )
            # What a warm actor keeps on the GPU: Ray's count then never exceeds the
            # scheduler's, so Ray never holds back an actor the scheduler placed.
            resident = spec.resident_vram_mb or spec.peak_vram_mb
            if resident:
                options["resources"] = {VRAM_RESOURCE: resident}
        actor = self._actor_class.options(**options).remote(
            spec.model_dump_json(), RayDevices.local_device(device))
        engine_end, thread_end = Pipe(duplex=False)
        handle = RayWorkerHandle(worker_id, spec, device, engine_end, actor=actor,
                                 spawned_at=time.monotonic())
        handle.thread = threading.Thread(target=self._forward, args=(handle, thread_end),
                                         name=f"ray-{spec.id}-{worker_id}", daemon=True)
        handle.thread.start()
        self.workers[worker_id] = handle
        log.info("ray actor started", extra={"worker": worker_id, "adapter": spec.id,
                                             "device": device})
        return handle

    def _drain(self, handle: RayWorkerHandle) -> tuple[list[tuple], bool]:
        messages: list[tuple] = []
        try:
            while handle.conn.poll():
                message = handle.conn.recv()
                if message == _EXIT:
                    return messages, True
                messages.append(message)
        except (EOFError, OSError):
            return messages, True
        return messages, False

    def _reap(self, handle: RayWorkerHandle) -> WorkerExit:
        handle.conn.close()
        self.workers.pop(handle.worker_id, None)
        log.info("ray actor exited", extra={"worker": handle.worker_id, "host": handle.host})
        return WorkerExit(handle.worker_id, None, handle.exit_reason)

    # ---- the forwarding thread (one per actor) --------------------------------------------
    def _forward(self, handle: RayWorkerHandle, out: Connection) -> None:
        try:
            status, value, handle.pid, handle.host = ray.get(handle.actor.load.remote())
            out.send((status, value))
            if status == "loaded":
                self._serve(handle, out)
        except RayActorError as exc:  # killed, crashed, or its node was lost
            log.info("ray actor %d died: %s", handle.worker_id, type(exc).__name__)
        except Exception:
            log.error("ray actor %d failed", handle.worker_id, exc_info=True)
        finally:
            _kill(handle)  # never leave an actor behind that the engine has forgotten
            try:
                out.send(_EXIT)
                out.close()
            except OSError:
                pass  # the engine has closed its end: it is shutting down

    def _serve(self, handle: RayWorkerHandle, out: Connection) -> None:
        while (command := handle.commands.get())[0] == "run":
            self._run(handle, command[1], out)
        if command[0] == "stop":
            ray.get(handle.actor.stop.remote())

    def _run(self, handle: RayWorkerHandle, job: dict[str, Any], out: Connection) -> None:
        job_id = job["job_id"]
        try:
            job = self._with_inputs(job)
        except OSError as exc:
            out.send(("done", job_id, {"status": "failed", "run_s": 0.0,
                                       "error": error_payload(handle.spec, exc)}))
            return
        ray.get(handle.actor.start.remote(job))
        while True:
            batch = ray.get(handle.actor.next_messages.remote(job_id))
            for message in batch:
                if message[0] == "done":
                    message = ("done", job_id, _receive_files(handle.spec, message[2],
                                                              Path(job["out_dir"])))
                out.send(message)
            if batch[-1][0] == "done":
                return

    def _with_inputs(self, job: dict[str, Any]) -> dict[str, Any]:
        """In "objects" mode the inputs travel as bytes (read here, off the engine thread)."""
        if self.settings.files == "shared":
            return job
        files = [(Path(p).name, Path(p).read_bytes()) for p in job["inputs"]]
        return {**job, "transfer": "objects", "input_files": files,
                "max_transfer_bytes": self.settings.max_transfer_mb * 2**20}


def _receive_files(spec: AdapterSpec, payload: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write the result files an actor sent as bytes under the studio's outputs/<job_id>/."""
    files = payload.pop("files", None)
    if not files:
        return payload
    root = out_dir.resolve()
    try:
        for name, data in files:
            target = (out_dir / name).resolve()
            if root not in target.parents:  # only ever inside the job's own folder
                raise ValueError(f"an output named {name!r} would land outside its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    except (OSError, ValueError) as exc:
        keep = {k: payload[k] for k in ("run_s", "backend", "device", "host") if k in payload}
        return {**keep, "status": "failed", "error": error_payload(spec, exc)}
    return payload


def _kill(handle: RayWorkerHandle) -> None:
    try:
        ray.kill(handle.actor, no_restart=True)
    except Exception:  # already gone, or Ray itself is shutting down
        log.debug("ray.kill of actor %d failed", handle.worker_id, exc_info=True)
