"""The Ray actor: one adapter on one device of one node, kept warm between jobs.

It runs the very code a local worker process runs (engine.workers.worker: load_adapter, run_job), so
results, errors and progress are identical. Ray runs it as a threaded actor with two slots:
the pool's forwarding thread holds one with a blocking ``next_messages`` call while a job runs
(each call returns as soon as the job has said something), and ``cancel`` arrives on the
other. Not a Ray streaming generator: Ray Client (``ray://`` addresses) cannot run those.

Files travel one of two ways (engine.workers.ray_cluster.RaySettings.files):
- "shared": every node sees the studio's data directory at the same path; the job reads its
  inputs and writes its outputs there directly.
- "objects": the pool sends the inputs' bytes with the job; the actor works in a temporary
  folder on its node and returns the output files' bytes in the "done" message, which the
  pool writes under outputs/<job_id>/. Results larger than the limit fail with a sentence.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from engine.contract.protocol import Adapter, CancelToken
from engine.contract.spec import AdapterSpec
from engine.errors import ErrorCode
from engine.workers.worker import error_payload, load_adapter, run_job


class AdapterActor:
    """Made by engine.workers.ray_pool with ``ray.remote(max_concurrency=2)`` and placement options."""

    def __init__(self, spec_json: str, device: str) -> None:
        import ray

        self.spec = AdapterSpec.model_validate_json(spec_json)
        self.device = device  # node-local: "cuda:1" or "cpu"
        self.host = ray.util.get_node_ip_address()
        self.adapter: Adapter | None = None
        self.tokens: dict[str, CancelToken] = {}
        self.outboxes: dict[str, queue.SimpleQueue[tuple]] = {}
        self.scratch = _scratch_root()

    def load(self) -> tuple[Any, ...]:
        """("loaded", seconds | "load_failed", error) followed by this process's pid and node."""
        messages: list[tuple] = []
        self.adapter = load_adapter(self.spec, self.device, messages.append)
        return (*messages[0], os.getpid(), self.host)

    def start(self, job: dict[str, Any]) -> None:
        """Start the job on its own thread; ``next_messages`` hands on what it says."""
        if self.adapter is None:
            raise RuntimeError("start before a successful load")
        outbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self.outboxes[job["job_id"]] = outbox
        # setdefault: a cancel that overtook this call has already made (and set) the token.
        token = self.tokens.setdefault(job["job_id"], CancelToken())
        threading.Thread(target=self._run, args=(self.adapter, job, token, outbox),
                         name=f"job-{job['job_id']}", daemon=True).start()

    def next_messages(self, job_id: str) -> list[tuple]:
        """Blocks until the job says something; returns all it has said since the last call.
        The last batch ends with ("done", job_id, payload)."""
        outbox = self.outboxes[job_id]
        batch = [outbox.get()]
        while True:
            try:
                batch.append(outbox.get_nowait())
            except queue.Empty:
                break
        if batch[-1][0] == "done":
            del self.outboxes[job_id]
        return batch

    def cancel(self, job_id: str) -> None:
        self.tokens.setdefault(job_id, CancelToken()).cancel()

    def stop(self) -> None:
        if self.adapter is not None:
            self.adapter.unload()
            self.adapter = None

    # ---- internals ------------------------------------------------------------------------
    def _run(self, adapter: Adapter, job: dict[str, Any], token: CancelToken,
             outbox: queue.SimpleQueue[tuple]) -> None:
        job_id = job["job_id"]
        workdir = Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=self.scratch)) \
            if job.get("transfer") == "objects" else None
        done: list[dict[str, Any]] = []

        def send(message: tuple) -> None:
            # Progress goes straight out; the final payload waits for its files to be packed.
            if message[0] == "done":
                done.append(message[2])
            else:
                outbox.put(message)

        try:
            local_job = _unpack_inputs(job, workdir) if workdir else job
            run_job(adapter, self.spec, self.device, local_job, token, send)
            payload = done[0]
            if workdir is not None and payload.get("status") == "succeeded":
                payload = _pack_outputs(payload, Path(local_job["out_dir"]),
                                        Path(job["out_dir"]), int(job["max_transfer_bytes"]))
        except Exception as exc:  # staging or packing files failed: still one clear answer
            payload = {"status": "failed", "error": error_payload(self.spec, exc), "run_s": 0.0}
        finally:
            self.tokens.pop(job_id, None)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
        payload.update(backend="ray", device=self.device, host=self.host)
        outbox.put(("done", job_id, payload))


def _scratch_root() -> Path:
    """This actor's folder for "objects" jobs. A killed actor cannot clean up after itself,
    so each new one removes the folders of actors that are no longer alive on its node."""
    base = Path(tempfile.gettempdir()) / "meshsmith-ray"
    root = base / str(os.getpid())
    root.mkdir(parents=True, exist_ok=True)
    for other in base.iterdir():
        if other.name.isdigit() and other != root and not _alive(int(other.name)):
            shutil.rmtree(other, ignore_errors=True)
    return root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def _unpack_inputs(job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Write the inputs' bytes into the node's temporary folder; the job then reads those."""
    inputs_dir, out_dir = workdir / "in", workdir / "out"
    inputs_dir.mkdir()
    out_dir.mkdir()
    paths = []
    for i, (name, data) in enumerate(job["input_files"]):
        # one folder per input keeps equal names apart and each file's own name, which names
        # the result (engine.workers.results.result_name)
        path = inputs_dir / str(i) / Path(name).name
        path.parent.mkdir()
        path.write_bytes(data)
        paths.append(str(path))
    local = {k: v for k, v in job.items() if k != "input_files"}
    return {**local, "inputs": paths, "out_dir": str(out_dir)}


def _pack_outputs(payload: dict[str, Any], local_out: Path, studio_out: Path,
                  max_bytes: int) -> dict[str, Any]:
    """Put the output files' bytes in the payload, with paths as the studio will have them."""
    files = sorted(p for p in local_out.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    if total > max_bytes:
        return {"run_s": payload.get("run_s", 0.0), "status": "failed",
                "error": {"code": ErrorCode.OUTPUT_INVALID.value,
                          "message": f"The result is {_mb(total)}, more than the {_mb(max_bytes)} "
                                     "the cluster may send back; give every node the data "
                                     "directory as a shared path (MESHSMITH_RAY_FILES=shared)."}}
    local_root = local_out.resolve()

    def studio_path(path: str | None) -> str | None:
        if path is None:
            return None
        return str(studio_out / Path(path).resolve().relative_to(local_root))

    packed = dict(payload)
    packed["output_file_path"] = studio_path(payload.get("output_file_path"))
    packed["thumbnail_path"] = studio_path(payload.get("thumbnail_path"))
    packed["outputs"] = [{**o, "path": studio_path(o["path"])} for o in payload.get("outputs", [])]
    packed["files"] = [(p.relative_to(local_out).as_posix(), p.read_bytes()) for p in files]
    return packed


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size / 2**20:.2f} MB"
