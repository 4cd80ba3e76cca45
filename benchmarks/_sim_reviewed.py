"""A faithful copy of the reviewed server's scheduling policy, on a virtual clock.

3DAIGC-API ``core/scheduler/multiprocess_scheduler.py`` (``_job_processing_loop``,
``_find_or_create_worker_for_job``, ``_find_gpu_with_freeable_vram``) and ``gpu_monitor.py``:

* one global FIFO; the loop takes only the head; an empty queue is polled every 0.5 s;
* one worker per model (``max_workers`` defaults to 1), holding the model's VRAM while alive;
* a model with no worker gets one on the GPU with the most free VRAM; failing that, idle
  workers on a GPU (idle over 10 s, longest idle first) are killed until it fits;
* the loop awaits the new worker's model load before it looks at the queue again;
* if the head cannot run (its worker busy, or no VRAM), it goes back to the front and the
  loop sleeps 2 s: nothing behind it runs meanwhile.

Left out, each in the baseline's favour: the 300 MB safety buffer (with it a 24 GB model never
fits a 24 GB card and blocks the queue for good), the one-hour expiry that fails long-waiting
jobs (counted instead), and the seconds a worker shutdown takes.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

from benchmarks._sim_metrics import JobRun, PolicyRun
from benchmarks._sim_workload import SimJob

POLL_EMPTY_S = 0.5
RETRY_SLEEP_S = 2.0
MIN_IDLE_TO_KILL_S = 10.0
EXPIRY_S = 3600.0


@dataclass
class _Worker:
    model: str
    gpu: int
    vram_mb: int  # 0 for CPU-only models, which still get a worker "on" some GPU
    busy: bool = False
    last_used: float = 0.0


class ReviewedFifo:
    def __init__(self, *, gpus: int, gpu_mb: int) -> None:
        self.total = [gpu_mb] * gpus
        self.allocated = [0] * gpus
        self.workers: dict[str, _Worker] = {}  # model -> its only worker
        self.result = PolicyRun(notes={"expired_after_1h": 0, "retry_sleeps": 0})
        self._finishes: list[tuple[float, str]] = []

    def run(self, jobs: list[SimJob]) -> PolicyRun:
        pending = deque(sorted(jobs, key=lambda j: (j.submit_s, j.job_id)))
        queue: deque[SimJob] = deque()
        t = pending[0].submit_s
        while pending or queue:
            self._complete_until(t)
            while pending and pending[0].submit_s <= t:
                queue.append(pending.popleft())
            if not queue:
                t += POLL_EMPTY_S * max(1, -(-(pending[0].submit_s - t) // POLL_EMPTY_S))
                continue
            t = self._try_head(queue, t)
        return self.result

    def _try_head(self, queue: deque[SimJob], t: float) -> float:
        """One pass of the loop on the head; returns the loop's clock afterwards."""
        job = queue[0]
        found = self._find_or_create_worker(job, t)
        if found is None:  # WORKERS_BUSY or NO_VRAM: back to the front, sleep
            self.result.notes["retry_sleeps"] += 1
            return t + RETRY_SLEEP_S
        queue.popleft()
        worker, cold = found
        compute = t + (job.spec.load_s if cold else 0.0)  # the loop waits for the load
        worker.busy, worker.last_used = True, compute
        end = compute + job.run_s
        heapq.heappush(self._finishes, (end, worker.model))
        device = f"cuda:{worker.gpu}" if job.spec.on_gpu else "cpu"
        self.result.record(JobRun(job, t, compute, end, device, cold))
        self.result.notes["expired_after_1h"] += t - job.submit_s > EXPIRY_S
        return compute

    def _complete_until(self, t: float) -> None:
        while self._finishes and self._finishes[0][0] <= t:
            end, model = heapq.heappop(self._finishes)
            worker = self.workers[model]
            worker.busy, worker.last_used = False, end

    # ---- _find_or_create_worker_for_job ----------------------------------------------------
    def _find_or_create_worker(self, job: SimJob, t: float) -> tuple[_Worker, bool] | None:
        model = job.adapter
        worker = self.workers.get(model)
        if worker is not None:
            return None if worker.busy else (worker, False)
        need = job.spec.peak_mb if job.spec.on_gpu else 0
        gpu = self._best_gpu(need)
        if gpu is None:
            gpu = self._gpu_with_freeable_vram(need, t)
        if gpu is None:
            return None
        self.allocated[gpu] += need
        worker = _Worker(model, gpu, need, last_used=t)
        self.workers[model] = worker
        return worker, True

    def _available(self, gpu: int) -> int:
        return self.total[gpu] - self.allocated[gpu]

    def _best_gpu(self, need: int) -> int | None:
        # gpu_monitor.find_best_gpu: most free VRAM, and strictly more than 0.
        best, most = None, 0
        for gpu in range(len(self.total)):
            free = self._available(gpu)
            if free >= need and free > most:
                best, most = gpu, free
        return best

    def _gpu_with_freeable_vram(self, need: int, t: float) -> int | None:
        for gpu in range(len(self.total)):
            if self._available(gpu) >= need:
                return gpu
            idle = self._idle_workers(gpu, t)
            freeable = 0
            for worker in idle:
                freeable += worker.vram_mb
                if freeable >= need - self._available(gpu):
                    self._ensure_vram(need, gpu, t)
                    if self._available(gpu) >= need:
                        return gpu
                    break
        return None

    def _ensure_vram(self, need: int, gpu: int, t: float) -> None:
        # Kills in idle order even a 0 MB CPU worker that frees nothing: faithful to the source.
        for worker in self._idle_workers(gpu, t):
            if self._available(gpu) >= need:
                break
            del self.workers[worker.model]
            self.allocated[gpu] -= worker.vram_mb
            self.result.evictions += 1

    def _idle_workers(self, gpu: int, t: float) -> list[_Worker]:
        idle = [w for w in self.workers.values()
                if not w.busy and w.gpu == gpu and t - w.last_used > MIN_IDLE_TO_KILL_S]
        return sorted(idle, key=lambda w: t - w.last_used, reverse=True)


def run_reviewed(jobs: list[SimJob], *, gpus: int, gpu_mb: int) -> PolicyRun:
    return ReviewedFifo(gpus=gpus, gpu_mb=gpu_mb).run(jobs)
