"""Keeping a warm model for its next job while another GPU serves the jobs that would evict it.

On a saturated day a GPU alternated a heavy generation and a few light jobs: every light job
that did not fit beside the heavy model evicted it, and the next generation loaded it again
(seed 1: 18 of 22 heavy jobs started cold, 790 s of loads). A queued job whose adapter has an
idle worker on a GPU goes before the shortest-expected order (``keeps_model``) when:

* some shorter queued GPU job would not fit beside its model there (it would evict it);
* another GPU is open to those shorter jobs: it runs nothing they could not run beside (it is
  not itself kept for a long model), so at most all GPUs but one chain long models;
* that GPU is expected to serve them (what runs there, then their work over their adapters)
  within ``keep_horizon`` times this job's expected run: the jobs it passes wait a bounded
  while elsewhere instead of paying its reload.

The place it earns belongs to its feature (``policy.ordered_heads``): when an older head of the
same feature, of another class, waits too, that one is tried there first (the artist's order);
limiting the rule to a feature's oldest head measured worse (seeds 1-10).

``keep_horizon`` = 0 turns the rule off. Chosen by measurement: docs/benchmarks.md, "Issue 13".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.jobs import JobState
from engine.scheduling import policy  # a cycle: policy asks keeps_model, at call time only
from engine.scheduling.vocabulary import SchedJob as _Job

if TYPE_CHECKING:
    from engine.scheduling.scheduler import Scheduler


def keeps_model(s: Scheduler, job: _Job, now: float) -> bool:
    """True if ``job`` should start on its adapter's warm GPU worker before shorter jobs."""
    if s.keep_horizon <= 0:
        return False
    warm = [d for d in s.possible_devices(job)
            if d != "cpu" and s.warm_idle(job, d) is not None]
    if not warm:
        return False
    run = _run(s, job)
    shorter = _shorter_queued(s, job, run)
    if not any(_evicts(s, job, other, d) for other in shorter for d in warm):
        return False
    open_gpus = [d for d, spec in s.devices.items()
                 if spec.is_gpu and d not in warm and not _closed(s, d)]
    if not open_gpus:
        return False
    lanes = max(1, len({j.request.adapter for j in shorter}))
    backlog = sum(_run(s, j) for j in shorter) / lanes
    served = min(_busy_for(s, d, now) + backlog for d in open_gpus)
    return served <= s.keep_horizon * run


def _run(s: Scheduler, job: _Job) -> float:
    return s.estimates.run_s(job.request.adapter, job.request.size)


def _shorter_queued(s: Scheduler, job: _Job, run: float) -> list[_Job]:
    return [j for j in s.jobs.values()
            if j.state is JobState.QUEUED and j is not job and "cuda" in j.request.device_kinds
            and _run(s, j) < run]


def _evicts(s: Scheduler, job: _Job, other: _Job, device: str) -> bool:
    room = s.devices[device].total_mb - s.external_mb[device]
    return job.request.peak_vram_mb + other.request.peak_vram_mb > room


def _closed(s: Scheduler, device: str) -> bool:
    """A GPU running a job that shorter queued jobs could not run beside."""
    for running in s.jobs.values():
        if running.state is JobState.RUNNING and running.device == device:
            shorter = _shorter_queued(s, running, _run(s, running))
            if any(_evicts(s, running, other, device) for other in shorter):
                return True
    return False


def _busy_for(s: Scheduler, device: str, now: float) -> float:
    ends = [policy.expected_end(s, j, now) - now for j in s.jobs.values()
            if j.state is JobState.RUNNING and j.device == device]
    return max(ends, default=0.0)
