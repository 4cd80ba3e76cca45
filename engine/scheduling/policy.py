"""The dispatch policy: which queued job starts next, where, and what capacity is held for whom.

Candidates are the heads of the scheduling classes: inside each feature's FIFO, the first job
of every resource shape (adapter and device kinds), so a job of another shape passes a head that
is blocked, while jobs of one shape keep their order. Candidates are tried shortest expected
first (run time, plus the model load when no worker of the adapter exists), with ageing: every
second waited takes ``ageing`` seconds off. A head blocked longer than ``starvation_s`` goes
before all of them, oldest first.

Holds are EASY backfilling (Slurm's): the first head blocked by capacity, and every starving
one, hold the amount they need (MB on one GPU, or one CPU slot) on the device that frees it
soonest by the estimates. Another job may use that device only if it is expected to finish
before the holder could start (the shadow time), or if it fits in what is left beside the
holder then. What a job takes on a GPU is the new memory it needs, so a warm idle worker's next
job runs on a held device even past the shadow, though the holder counted on evicting that
worker; and a holder that can start when capacity frees is ranked like any other job, so a
shorter one may go first. Making holds keep either out measured worse (docs/benchmarks.md,
"Fifth attempt"). Holds are recomputed on every dispatch, so none outlives its cause; a head
that waits only for its own adapter's busy worker holds nothing. A job does not evict a warm model
that queued jobs want until it has waited ``spare_loads`` of that model's loads
(``engine.scheduling.evictions.spared``). A job whose model is warm on a GPU goes before the
shorter jobs that would evict it while another GPU serves them soon enough
(``engine.scheduling.keeping``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.jobs import JobState
from engine.scheduling import evictions, keeping
from engine.scheduling.vocabulary import Instruction, MeasureDevices, format_gb
from engine.scheduling.vocabulary import SchedJob as _Job
from engine.scheduling.vocabulary import SchedWorker as _Worker

if TYPE_CHECKING:
    from engine.scheduling.scheduler import Scheduler

CAPACITY, MEMORY, OTHER = "capacity", "memory", "other"  # GPU memory is capacity too


@dataclass
class Hold:
    job_id: str
    device: str
    amount: int  # MB on a GPU, or CPU slots
    shadow: float  # when the holder is expected to be able to start
    extra: int  # what is left beside the holder at the shadow time


@dataclass
class _Fit:
    rank: tuple[float, ...]
    device: str
    victims: list[_Worker]


def class_heads(s: Scheduler) -> list[_Job]:
    """The first job of each scheduling class in each feature queue, oldest first."""
    heads = []
    for queue in s.queues.values():
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for job_id in queue:
            job = s.jobs[job_id]
            shape = (job.request.adapter, job.request.device_kinds)
            if shape not in seen:
                seen.add(shape)
                heads.append(job)
    return sorted(heads, key=lambda j: j.seq)


def ordered_heads(s: Scheduler, now: float) -> list[_Job]:
    """Heads by priority; a feature's heads keep their FIFO order among the slots they get."""
    heads = class_heads(s)
    ranked = sorted(heads, key=lambda j: priority(s, j, now))
    slots: dict[str, list[_Job]] = {}
    for job in heads:  # oldest first
        slots.setdefault(job.request.feature, []).append(job)
    return [slots[job.request.feature].pop(0) for job in ranked]


def priority(s: Scheduler, job: _Job, now: float) -> tuple[float, ...]:
    if starving(s, job, now):
        return (0, job.seq)
    if keeping.keeps_model(s, job, now):
        return (0.5, job.seq)  # its warm model is not reloaded; others wait on another GPU
    return (1, expected_s(s, job) - s.ageing * (now - job.submitted_at), job.seq)


def starving(s: Scheduler, job: _Job, now: float) -> bool:
    return job.blocked_since is not None and now >= job.blocked_since + s.starvation_s


def expected_s(s: Scheduler, job: _Job) -> float:
    """Run time, plus the load when no worker of the adapter exists on a usable device."""
    req = job.request
    run = s.estimates.run_s(req.adapter, req.size)
    devices = set(s.possible_devices(job))
    warm = any(w.adapter == req.adapter and w.device in devices for w in s.workers.values())
    return run if warm else run + s.estimates.load_s(req.adapter)


def expected_end(s: Scheduler, job: _Job, now: float) -> float:
    req = job.request
    run = s.estimates.run_s(req.adapter, req.size)
    if job.cold:
        run += s.estimates.load_s(req.adapter)
    return max(now, (now if job.started_at is None else job.started_at) + run)


def dispatch(s: Scheduler, now: float, out: list[Instruction]) -> None:
    while True:
        _place_holds(s, now)
        started = False
        for job in ordered_heads(s, now):
            fit, cause = evaluate(s, job, now)
            if fit is not None:
                _start(s, job, fit, now, out)
                started = True
                break
            newly = job.cause != cause[1]
            s.set_cause(job, cause[1], out)
            if newly and cause[2] == MEMORY:
                out.append(MeasureDevices())  # newly blocked on GPU memory: ask NVML
        if not started:
            break
    for job in class_heads(s):
        if job.blocked_since is None:
            job.blocked_since = now


def _place_holds(s: Scheduler, now: float) -> None:
    """EASY: the oldest head that capacity blocks holds what it needs; so does every
    starving head."""
    s.holds = []
    for job in class_heads(s):  # oldest first
        if s.holds and not starving(s, job, now):
            continue
        fit, cause = evaluate(s, job, now)
        if fit is None and cause[2] in (CAPACITY, MEMORY):
            hold(s, job, now)


def evaluate(
    s: Scheduler, job: _Job, now: float
) -> tuple[_Fit | None, tuple[int, str, str]]:
    """The best place to start ``job`` now, or None and the main reason it must wait."""
    best: _Fit | None = None
    causes: list[tuple[int, str, str]] = []
    for device in s.possible_devices(job):
        warm = s.warm_idle(job, device)
        if device != "cpu" and warm is None and s.busy_worker(job, device):
            causes.append((1, f"waiting for the running {job.request.adapter} job on "
                              f"{s.label(device)} to finish", OTHER))
            continue
        fit = placement(s, job, device, warm, now)
        if isinstance(fit, tuple):
            causes.append(fit)
        elif best is None or fit.rank < best.rank:
            best = fit
    cause = max(causes) if causes else (0, "waiting for a device", OTHER)
    if cause[2] == OTHER and any(k != OTHER for _, _, k in causes):
        cause = (cause[0], cause[1], CAPACITY)  # capacity is the cause on some device
    return best, cause


def _start(s: Scheduler, job: _Job, fit: _Fit, now: float, out: list[Instruction]) -> None:
    for h in s.holds:
        if h.device == fit.device and now + expected_s(s, job) > h.shadow:
            h.extra -= amount(s, job, fit.device, s.warm_idle(job, fit.device))
    s.start(job, fit.device, fit.victims, now, out)


def amount(s: Scheduler, job: _Job, device: str, warm: _Worker | None) -> int:
    if device == "cpu":
        return 1
    return job.request.peak_vram_mb - (warm.resident_mb if warm else 0)


def placement(
    s: Scheduler, job: _Job, device: str, warm: _Worker | None, now: float
) -> _Fit | tuple[int, str, str]:
    """Where ``job`` could start on ``device`` (lower rank is better), or why it cannot."""
    need = amount(s, job, device, warm)
    victims: list[_Worker] = []
    if device == "cpu":
        if s.cpu_running() >= s.cpu_slots:
            return (2, "waiting for a free CPU slot", CAPACITY)
        ram = 0 if warm else job.request.resident_ram_mb
        if s.host_ram_mb and ram > s.free_ram_mb():
            found = _ram_victims(s, job, ram - s.free_ram_mb())
            if found is None:
                return (2, f"waiting for {format_gb(ram)} of memory", CAPACITY)
            victims = found
        rank: tuple[float, ...] = (0 if warm else 1, len(victims))
    else:
        free = s.free_mb(device)
        if free < need:
            found = s.lru_victims(device, job, need - free)
            if found is None:
                if s.lru_victims(device, job, need - free, spare=False) is not None:
                    return (2, f"waiting: the models on {s.label(device)} are kept a while for "
                               "their queued jobs", CAPACITY)
                return (2, f"waiting for {format_gb(need)} on {s.label(device)}", MEMORY)
            victims = found
        # Affinity first, then best fit: keep big holes for big jobs.
        rank = (0 if warm else 1, 1 if victims else 0,
                sum(v.resident_mb for v in victims) if victims else free - need)
    for h in s.holds:
        if h.device == device and h.job_id != job.job_id and need > h.extra \
                and now + expected_s(s, job) > h.shadow:
            return (0, f"waiting: {s.label(device)} is held for an older job", CAPACITY)
    return _Fit(rank, device, victims)


def _ram_victims(s: Scheduler, job: _Job, shortfall: int) -> list[_Worker] | None:
    """Idle CPU workers of other adapters, least recently used first, freeing ``shortfall``."""
    idle = [w for w in s.workers.values() if w.device == "cpu" and w.busy_job is None
            and w.ram_mb and w.adapter != job.request.adapter]
    return evictions.least_recent(idle, shortfall, lambda w: w.ram_mb)


def hold(s: Scheduler, job: _Job, now: float) -> None:
    """Hold what ``job`` needs on the device where it can start soonest."""
    best: Hold | None = None
    for device in s.possible_devices(job):
        warm = s.warm_idle(job, device)
        if device != "cpu" and warm is None and s.busy_worker(job, device):
            continue  # its own adapter's worker: capacity is not the cause here
        need = amount(s, job, device, warm)
        shadow, extra = _shadow(s, job, device, need, now)
        if shadow < math.inf and (best is None or shadow < best.shadow):
            best = Hold(job.job_id, device, need, shadow, extra)
    if best is not None:
        s.holds.append(best)


def _shadow(s: Scheduler, job: _Job, device: str, need: int, now: float) -> tuple[float, int]:
    """When ``need`` is expected to be free on ``device`` beside earlier holds, and what is
    left then. A finishing job frees its whole peak (its model becomes evictable)."""
    held = sum(h.amount for h in s.holds if h.device == device)
    running = [j for j in s.jobs.values() if j.state is JobState.RUNNING and j.device == device]
    if device == "cpu":
        avail = s.cpu_slots - s.cpu_running() - held
        releases = [(expected_end(s, j, now), 1) for j in running]
    else:
        avail = s.free_mb(device) + s.evictable_mb(device, job) - held
        releases = [(expected_end(s, j, now), j.request.peak_vram_mb) for j in running]
    t = now
    for end, freed in sorted(releases):
        if avail >= need:
            break
        avail, t = avail + freed, end
    return (t, avail - need) if avail >= need else (math.inf, 0)
