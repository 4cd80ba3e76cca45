"""What a simulated policy run records, and the figures the benchmark reports from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks._sim_workload import SimJob


@dataclass
class JobRun:
    job: SimJob
    start_s: float  # the scheduler handed the job to a worker (a cold one loads first)
    compute_s: float  # the model is loaded and the job computes from here
    end_s: float
    device: str  # "cuda:0", "cuda:1" or "cpu"
    cold: bool


@dataclass
class PolicyRun:
    runs: dict[str, JobRun] = field(default_factory=dict)
    loads: int = 0
    evictions: int = 0
    notes: dict[str, float] = field(default_factory=dict)  # policy-specific diagnostics

    def record(self, run: JobRun) -> None:
        if run.job.job_id in self.runs:
            raise AssertionError(f"{run.job.job_id} started twice")
        self.runs[run.job.job_id] = run
        self.loads += run.cold


def summarize(run: PolicyRun, jobs: list[SimJob], gpus: int) -> dict[str, Any]:
    """The JSON figures for one policy (times relative to the first submission)."""
    missing = [j.job_id for j in jobs if j.job_id not in run.runs]
    if missing:
        raise AssertionError(f"{len(missing)} jobs never ran, e.g. {missing[:3]}")
    t0 = min(j.submit_s for j in jobs)
    makespan = max(r.end_s for r in run.runs.values()) - t0
    waits = {jid: r.start_s - r.job.submit_s for jid, r in run.runs.items()}
    light = [w for jid, w in waits.items() if run.runs[jid].job.spec.light]
    by_feature: dict[str, list[float]] = {}
    for jid, w in waits.items():
        by_feature.setdefault(run.runs[jid].job.spec.feature, []).append(w)
    return {
        "makespan_s": round(makespan, 1),
        "light_p95_wait_s": round(p95(light), 1),
        "max_wait_s": round(max(waits.values()), 1),
        "p95_wait_s": {f: round(p95(ws), 1) for f, ws in sorted(by_feature.items())},
        "gpu_utilization": round(gpu_busy_s(run) / (gpus * makespan), 3),
    }


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else 0.0


def gpu_busy_s(run: PolicyRun) -> float:
    """Seconds during which a GPU computes at least one job, summed over GPUs.

    Model loads are left out: a reload is overhead a good policy avoids, not useful work.
    """
    per_gpu: dict[str, list[tuple[float, float]]] = {}
    for r in run.runs.values():
        if r.device != "cpu":
            per_gpu.setdefault(r.device, []).append((r.compute_s, r.end_s))
    return sum(_union_length(spans) for spans in per_gpu.values())


def _union_length(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for lo, hi in sorted(spans):
        if hi > reach:
            total += hi - max(lo, reach)
            reach = hi
    return total
