"""The worker process: loads one adapter on one device, keeps it warm, runs jobs one by one.

Messages from the engine: ("run", job) | ("cancel", job_id) | ("stop",).
Messages to the engine: ("loaded", load_s) | ("load_failed", error) | ("progress", job_id,
stage, fraction) | ("done", job_id, payload).
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine.contract.protocol import Adapter, Cancelled, CancelToken, RunContext
from engine.contract.spec import AdapterSpec
from engine.errors import ErrorCode, MeshsmithError
from engine.storage.logs import setup_json_logging
from engine.workers.lifeline import die_with_parent
from engine.workers.results import build_outputs, result_name

log = logging.getLogger("meshsmith.worker")
class _Channel:
    """Sends from the job thread and the progress callback without interleaving."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, message: tuple) -> None:
        with self.lock:
            self.conn.send(message)


def worker_main(spec_json: str, device: str, conn: Connection, parent_pid: int, logs: str) -> None:
    # Before CUDA starts: number GPUs in PCI bus order, as NVML and the engine do
    # (engine.workers.devices); CUDA_VISIBLE_DEVICES is inherited as the engine saw it.
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    die_with_parent(parent_pid)
    setup_json_logging(Path(logs) / "workers.jsonl")
    spec = AdapterSpec.model_validate_json(spec_json)
    channel = _Channel(conn)
    jobs: queue.Queue[tuple[dict[str, Any], CancelToken] | None] = queue.Queue()
    tokens: dict[str, CancelToken] = {}
    threading.Thread(target=_receive, args=(conn, jobs, tokens), daemon=True).start()
    adapter = load_adapter(spec, device, channel.send)
    if adapter is None:
        return
    while (item := jobs.get()) is not None:
        job, token = item
        run_job(adapter, spec, device, job, token, channel.send)
        # The same job may already be queued again (an out-of-memory retry) with a new token:
        # forget only this run's own token.
        if tokens.get(job["job_id"]) is token:
            tokens.pop(job["job_id"], None)
    adapter.unload()


def _receive(conn: Connection, jobs: queue.Queue, tokens: dict[str, CancelToken]) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(3)  # the engine is gone: a worker never outlives it
        if message[0] == "run":
            token = tokens[message[1]["job_id"]] = CancelToken()
            jobs.put((message[1], token))
        elif message[0] == "cancel" and message[1] in tokens:
            tokens[message[1]].cancel()
        elif message[0] == "stop":
            jobs.put(None)
            return


# Shared with the Ray actor (engine.workers.ray_actor): ``send`` takes the same messages the local
# worker puts on its pipe, so both backends load and run adapters with exactly this code.
Send = Callable[[tuple], None]


def load_adapter(spec: AdapterSpec, device: str, send: Send) -> Adapter | None:
    started = time.monotonic()
    try:
        adapter = spec.create()
        adapter.load(device)
    except Exception as exc:
        log.error("loading %s failed", spec.id, exc_info=True)
        send(("load_failed", error_payload(spec, exc)))
        return None
    send(("loaded", time.monotonic() - started))
    return adapter


def run_job(
    adapter: Adapter, spec: AdapterSpec, device: str, job: dict[str, Any],
    token: CancelToken, send: Send,
) -> None:
    job_id = job["job_id"]

    def report(stage: str, fraction: float) -> None:
        send(("progress", job_id, str(stage), min(1.0, max(0.0, float(fraction)))))

    started = time.monotonic()
    _reset_vram_peak(device)
    try:
        spec = job_spec(spec, job)
        params = spec.parse_params(job["params"])
        ctx = RunContext(job_id, device, Path(job["out_dir"]), params, report, token)
        ctx.step("starting", 0.0)
        output = adapter.run([Path(p) for p in job["inputs"]], ctx)
        ctx.step("writing result", 0.95)
        name = result_name(spec.feature, job["inputs"], job["params"])
        payload: dict[str, Any] = {"status": "succeeded",
                                   **build_outputs(output, ctx.out_dir, name)}
        report("done", 1.0)
    except Cancelled:
        payload = {"status": "cancelled"}
    except Exception as exc:
        log.error("job %s failed", job_id, extra={"job_id": job_id},
                  exc_info=not isinstance(exc, MeshsmithError))
        payload = {"status": "failed", "error": error_payload(spec, exc)}
    payload["run_s"] = time.monotonic() - started
    payload["peak_vram_mb"] = _vram_peak_mb(device)
    # After every job: what PyTorch caches would otherwise look, to NVML and to the engine,
    # like memory this idle worker holds (and an out-of-memory retry needs it back).
    _release_cached_vram(device)
    send(("done", job_id, payload))


def job_spec(worker_spec: AdapterSpec, job: dict[str, Any]) -> AdapterSpec:
    """The spec of the job's own feature. One warm worker serves every feature of its adapter
    (the same model), so the job says which parameters it takes and how its result is named."""
    if "spec" not in job:
        return worker_spec
    spec = AdapterSpec.model_validate_json(job["spec"])
    if (spec.id, spec.entry) != (worker_spec.id, worker_spec.entry):
        raise MeshsmithError(ErrorCode.ADAPTER_FAILED, f"A worker of {worker_spec.label} was "
                             f"handed a job for {spec.label}.")
    return spec


def error_payload(spec: AdapterSpec, exc: BaseException) -> dict[str, str]:
    if isinstance(exc, MeshsmithError):
        return exc.to_dict()
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return {"code": ErrorCode.OUT_OF_MEMORY.value,
                "message": f"{spec.label} ran out of memory; try a smaller input."}
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return {"code": ErrorCode.DISK_FULL.value,
                "message": "The disk is full, so the result could not be written; free some "
                           "space and run the job again."}
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.debug("".join(traceback.format_exception(exc)))
    return {"code": ErrorCode.ADAPTER_FAILED.value,
            "message": f"{spec.label} failed: {detail.rstrip('.')}."}


# No space left, quota exceeded, or the file size limit (RLIMIT_FSIZE) reached.
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _release_cached_vram(device: str) -> None:
    cuda = _torch_cuda(device)
    if cuda is not None:
        try:
            cuda.empty_cache()
        except Exception:
            log.warning("could not release cached GPU memory", exc_info=True)


def _torch_cuda(device: str):
    torch = sys.modules.get("torch")
    if torch is None or not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    return torch.cuda


def _reset_vram_peak(device: str) -> None:
    cuda = _torch_cuda(device)
    if cuda is not None:
        cuda.reset_peak_memory_stats(device)


def _vram_peak_mb(device: str) -> int:
    cuda = _torch_cuda(device)
    return int(cuda.max_memory_allocated(device) // 2**20) if cuda is not None else 0
