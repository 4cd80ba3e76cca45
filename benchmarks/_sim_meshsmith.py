"""Drives the real ``engine.scheduling.scheduler.Scheduler`` on a virtual clock.

This is the shell's part, simulated: it feeds events, executes the instructions (a new worker
id means spawn + model load before the job computes) and checks that what the scheduler asks
for is physically possible (VRAM never overcommitted, no busy worker evicted).
"""

from __future__ import annotations

import heapq
import inspect
import itertools

from benchmarks._sim_metrics import JobRun, PolicyRun
from benchmarks._sim_workload import SimJob
from engine.jobs import JobState
from engine.scheduling.estimates import Estimates, Observation
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.vocabulary import (
    DeviceSpec,
    Event,
    EvictWorker,
    Instruction,
    JobFinished,
    JobRequest,
    StartJob,
    Submitted,
    Tick,
    WorkerExited,
)

# The scheduler's own default, read from its signature so the sim never drifts from it.
DEFAULT_STARVATION_S: float = inspect.signature(Scheduler).parameters["starvation_s"].default


def request_for(job: SimJob) -> JobRequest:
    spec = job.spec
    return JobRequest(job.job_id, spec.feature, spec.adapter, spec.peak_mb, spec.peak_mb,
                      spec.device_kinds)


class MeshsmithShell:
    """A simulated engine shell around the real scheduler."""

    def __init__(
        self, *, gpus: int, gpu_mb: int, cpu_slots: int, starvation_s: float,
        history: list[SimJob] = (), **policy: float,
    ) -> None:
        devices = [DeviceSpec(f"cuda:{i}", gpu_mb) for i in range(gpus)]
        # What the engine seeds from its job history at start-up: here, an earlier day.
        estimates = Estimates(Observation(j.adapter, j.run_s, 0.0, j.spec.load_s)
                              for j in history)
        self.sched = Scheduler(devices, cpu_slots=cpu_slots, starvation_s=starvation_s,
                               estimates=estimates, **policy)
        self.gpu_mb = gpu_mb
        self.result = PolicyRun(notes={"stale_reservation_s": 0.0, "past_deadlines": 0,
                                       "reservations": 0})
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count()
        self._jobs: dict[str, SimJob] = {}
        self._workers: dict[int, tuple[str, str, int]] = {}  # id -> (adapter, device, mb)
        self._busy: dict[int, str] = {}  # worker id -> job id
        self._ticks: set[float] = set()
        self._reservations: set[tuple[str, str]] = set()
        self._stale = 0  # devices reserved for a job that is already running elsewhere

    def run(self, jobs: list[SimJob]) -> PolicyRun:
        for job in jobs:
            self._jobs[job.job_id] = job
            self._push(Submitted(request_for(job), job.submit_s))
        last = 0.0
        while self._heap:
            now = self._heap[0][0]
            self.result.notes["stale_reservation_s"] += self._stale * (now - last)
            events = self._pop_due(now)
            for instruction in self.sched.handle(*events):
                self._apply(instruction, now)
            self._check_vram()
            self._observe_reservations()
            self._schedule_tick(now)
            last = now
        return self.result

    # ---- the event queue -------------------------------------------------------------------
    def _push(self, event: Event) -> None:
        heapq.heappush(self._heap, (event.now, next(self._seq), event))

    def _pop_due(self, now: float) -> list[Event]:
        # Everything due at the same instant reaches the scheduler in one batch, as the
        # engine thread would drain its inbox.
        events = []
        while self._heap and self._heap[0][0] == now:
            event = heapq.heappop(self._heap)[2]
            if isinstance(event, JobFinished):
                self._release(event.job_id)
            events.append(event)
        return events

    def _schedule_tick(self, now: float) -> None:
        deadline = self.sched.next_deadline()
        if deadline is None:
            return
        if deadline <= now:
            # A shell that sleeps until next_deadline() would spin here: count it.
            self.result.notes["past_deadlines"] += 1
        elif deadline not in self._ticks:
            self._ticks.add(deadline)
            self._push(Tick(deadline))

    # ---- executing instructions ------------------------------------------------------------
    def _apply(self, instruction: Instruction, now: float) -> None:
        if isinstance(instruction, StartJob):
            self._start(instruction, now)
        elif isinstance(instruction, EvictWorker):
            if instruction.worker_id in self._busy:
                raise AssertionError(f"evicted busy worker {instruction.worker_id}")
            del self._workers[instruction.worker_id]
            self.result.evictions += 1
            # The process exits at once here (its shutdown seconds are left out, as in the
            # reviewed policy's copy); the scheduler starts what waited for the room then.
            self._push(WorkerExited(instruction.worker_id, now))

    def _start(self, ins: StartJob, now: float) -> None:
        job = self._jobs[ins.job_id]
        cold = ins.worker_id not in self._workers
        if cold:
            self._workers[ins.worker_id] = (ins.adapter, ins.device, job.spec.peak_mb)
        elif self._workers[ins.worker_id][:2] != (ins.adapter, ins.device):
            raise AssertionError(f"worker {ins.worker_id} reused for another adapter/device")
        if ins.worker_id in self._busy:
            raise AssertionError(f"worker {ins.worker_id} given a second job")
        self._busy[ins.worker_id] = ins.job_id
        compute = now + (job.spec.load_s if cold else 0.0)
        end = compute + job.run_s
        self.result.record(JobRun(job, now, compute, end, ins.device, cold))
        self._push(JobFinished(ins.job_id, JobState.SUCCEEDED, end))

    def _release(self, job_id: str) -> None:
        worker = next(w for w, j in self._busy.items() if j == job_id)
        del self._busy[worker]

    # ---- physical checks and diagnostics ---------------------------------------------------
    def _check_vram(self) -> None:
        used: dict[str, int] = {}
        for _, device, mb in self._workers.values():
            if device != "cpu":
                used[device] = used.get(device, 0) + mb
        over = {d: mb for d, mb in used.items() if mb > self.gpu_mb}
        if over:
            raise AssertionError(f"VRAM overcommitted: {over}")
        on_cpu = sum(1 for w in self._busy if self._workers[w][1] == "cpu")
        if on_cpu > self.sched.cpu_slots:
            raise AssertionError(f"{on_cpu} CPU jobs on {self.sched.cpu_slots} slots")

    def _observe_reservations(self) -> None:
        running = set(self._busy.values())
        held = {(h.device, h.job_id) for h in self.sched.holds}
        self.result.notes["reservations"] += len(held - self._reservations)
        self._reservations = held
        self._stale = sum(1 for _, holder in held if holder in running)


def run_meshsmith(
    jobs: list[SimJob], *, gpus: int, gpu_mb: int, cpu_slots: int,
    starvation_s: float = DEFAULT_STARVATION_S, history: list[SimJob] = (), **policy: float,
) -> PolicyRun:
    """``history``: the jobs of an earlier day, seeding the run-time estimates; ``policy``:
    further Scheduler keywords (``ageing``)."""
    shell = MeshsmithShell(gpus=gpus, gpu_mb=gpu_mb, cpu_slots=cpu_slots,
                           starvation_s=starvation_s, history=history, **policy)
    return shell.run(jobs)
