"""A lower bound on the makespan of any schedule of a workload (docs/benchmarks.md derives it).

The rules every schedule obeys here (both simulated policies do): a job runs unpreempted for
its run time on a worker of its adapter; a worker runs one job at a time; there is at most
one worker per adapter per GPU, and at most ``cpu_slots`` CPU jobs run at once; a worker's first job pays the model load first; workers are
spawned for a job, so no load happens before that adapter's first submission; the running and
loading jobs on one GPU are of distinct adapters whose peak VRAM sums to at most the card.
"""

from __future__ import annotations

import itertools

import numpy as np

from benchmarks._sim_workload import CATALOG, SimJob


def lower_bound(jobs: list[SimJob], *, gpus: int, gpu_mb: int, cpu_slots: int = 1) -> float:
    """Seconds from the first submission; the largest of the four bounds below."""
    t0 = min(j.submit_s for j in jobs)
    bounds = (_job_bound(jobs), _adapter_bound(jobs, gpus, cpu_slots),
              _gpu_area_bound(jobs, gpus, gpu_mb), _cpu_area_bound(jobs, cpu_slots))
    return max(bounds) - t0


def _job_bound(jobs: list[SimJob]) -> float:
    # Nothing finishes before it is submitted and has run.
    return max(j.submit_s + j.run_s for j in jobs)


def _cpu_area_bound(jobs: list[SimJob], cpu_slots: int) -> float:
    """The CPU slots run at most ``cpu_slots`` jobs at once: t + CPU work from t on / slots."""
    cpu = [j for j in jobs if not j.spec.on_gpu]
    if not cpu:
        return 0.0
    times, suffix = _suffix_work(cpu)
    return float(np.max(times + suffix / cpu_slots))


def _adapter_bound(jobs: list[SimJob], gpus: int, cpu_slots: int) -> float:
    """Per adapter: its jobs on at most k workers at once (k = GPUs, or the CPU slots).

    At t = its first submission every used worker still has to load: t + load + work/k.
    At any later submission time t, the work submitted from t on: t + work(t)/k.
    """
    best = 0.0
    for adapter, mine in _by_adapter(jobs).items():
        spec = CATALOG[adapter]
        k = gpus if spec.on_gpu else cpu_slots
        times, suffix = _suffix_work(mine)
        best = max(best, times[0] + spec.load_s + suffix[0] / k)
        best = max(best, float(np.max(times + suffix / k)))
    return best


def _gpu_area_bound(jobs: list[SimJob], gpus: int, gpu_mb: int) -> float:
    """Weighted work over the GPUs: t + max_w sum_a w_a * work_a(t) / gpus.

    A weight vector w is valid when every set of adapters that can share one card has weights
    summing to at most 1; then each GPU carries weight at most 1 at any instant. An adapter whose
    first submission is at or after t also owes one model load after t. The best w for each t is
    a vertex of that polytope, so we enumerate the vertices once.
    """
    gpu_jobs = [j for j in jobs if j.spec.on_gpu]
    adapters = sorted({j.adapter for j in gpu_jobs})
    if not adapters:
        return 0.0
    weights = _weight_vertices([CATALOG[a].peak_mb for a in adapters], gpu_mb)
    times = np.array(sorted({j.submit_s for j in gpu_jobs}))
    owed = np.zeros((len(times), len(adapters)))  # work_a(t) + load_a if a starts after t
    for col, adapter in enumerate(adapters):
        mine = [j for j in gpu_jobs if j.adapter == adapter]
        first = min(j.submit_s for j in mine)
        for row, t in enumerate(times):
            work = sum(j.run_s for j in mine if j.submit_s >= t)
            owed[row, col] = work + (CATALOG[adapter].load_s if first >= t else 0.0)
    return float(np.max(times + np.max(owed @ weights.T, axis=1) / gpus))


def _weight_vertices(peaks: list[int], cap: int) -> np.ndarray:
    """Vertices of {w >= 0 : sum over each co-resident adapter set <= 1}."""
    n = len(peaks)
    fits = [s for s in itertools.product((0, 1), repeat=n)
            if any(s) and sum(p for p, x in zip(peaks, s, strict=True) if x) <= cap]
    # Only maximal sets constrain anything (weights are non-negative).
    sets = [s for s in fits
            if not any(o != s and all(x <= y for x, y in zip(s, o, strict=True)) for o in fits)]
    a = np.vstack([np.array(sets, dtype=float), -np.eye(n)])
    b = np.concatenate([np.ones(len(sets)), np.zeros(n)])
    vertices: set[tuple[float, ...]] = set()
    for rows in itertools.combinations(range(len(a)), n):
        m = a[list(rows)]
        if abs(np.linalg.det(m)) < 1e-9:
            continue
        w = np.linalg.solve(m, b[list(rows)])
        if np.all(a @ w <= b + 1e-9):
            vertices.add(tuple(np.round(w, 9)))
    return np.array(sorted(vertices))


def _by_adapter(jobs: list[SimJob]) -> dict[str, list[SimJob]]:
    out: dict[str, list[SimJob]] = {}
    for job in jobs:
        out.setdefault(job.adapter, []).append(job)
    return out


def _suffix_work(jobs: list[SimJob]) -> tuple[np.ndarray, np.ndarray]:
    ordered = sorted(jobs, key=lambda j: j.submit_s)
    times = np.array([j.submit_s for j in ordered])
    suffix = np.cumsum([j.run_s for j in reversed(ordered)])[::-1]
    return times, suffix
