"""Scheduler simulation: a day on two 24 GB GPUs plus the CPU, on a virtual clock.

Runs the real ``engine.scheduling.scheduler.Scheduler`` and, beside it, a faithful copy of the reviewed
server's policy on the same seeded workload, and computes a lower bound on any schedule's
makespan. Prints a human summary, then one JSON object as the last stdout line.

    .venv/bin/python benchmarks/scheduler_sim.py [--day studio|saturated|mixed] [--seed 7]
        [--jobs 400] [--hours 8] [--cpu-slots 2] [--starvation-s S]

Day kinds: ``studio`` (trickle, bursts and heavy batches), ``saturated`` (two dozen heavy
generations in the first 20 s, then light 4-7 GB jobs every few seconds) and ``mixed`` (CPU
post-processing beside GPU generation). Meshsmith's run-time estimates are seeded, as the
engine's are from its history, with an earlier day of the same kind (seed + 1000): the day
measured is never the one learned from. ``--starvation-s`` defaults to the Scheduler's own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks._sim_bound import lower_bound
from benchmarks._sim_meshsmith import DEFAULT_STARVATION_S, run_meshsmith
from benchmarks._sim_metrics import PolicyRun, summarize
from benchmarks._sim_reviewed import run_reviewed
from benchmarks._sim_workload import CATALOG, DAY_KINDS, GPU_MB, SimJob, make_day

GPUS = 2


def simulate(
    jobs: list[SimJob], *, cpu_slots: int = 2, starvation_s: float = DEFAULT_STARVATION_S,
    history: list[SimJob] = (), **policy: float,
) -> tuple[dict[str, Any], dict[str, PolicyRun]]:
    """Both policies on one workload: the JSON figures, and the raw runs for the summary."""
    runs = {
        "meshsmith": run_meshsmith(jobs, gpus=GPUS, gpu_mb=GPU_MB, cpu_slots=cpu_slots,
                                   starvation_s=starvation_s, history=history, **policy),
        "reviewed_fifo": run_reviewed(jobs, gpus=GPUS, gpu_mb=GPU_MB),
    }
    bound = lower_bound(jobs, gpus=GPUS, gpu_mb=GPU_MB, cpu_slots=cpu_slots)
    figures = {
        "policies": {name: summarize(run, jobs, GPUS) for name, run in runs.items()},
        "lower_bound_s": round(bound, 1),
    }
    return figures, runs


def describe_workload(jobs: list[SimJob]) -> str:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.adapter] = counts.get(job.adapter, 0) + 1
    last = max(j.submit_s for j in jobs)
    parts = [f"{a} {counts[a]}" for a in CATALOG if a in counts]
    return f"{len(jobs)} jobs over {last / 3600:.1f} h: " + ", ".join(parts)


def describe(figures: dict[str, Any], runs: dict[str, PolicyRun]) -> str:
    bound = figures["lower_bound_s"]
    lines = [f"lower bound on makespan: {bound:,.0f} s"]
    for name, fig in figures["policies"].items():
        run = runs[name]
        lines.append(
            f"{name:>14}: makespan {fig['makespan_s']:,.0f} s "
            f"({fig['makespan_s'] / bound:.3f} x bound), light p95 wait "
            f"{fig['light_p95_wait_s']:,.1f} s, GPU utilization {fig['gpu_utilization']:.1%}, "
            f"{run.loads} model loads, {run.evictions} evictions"
        )
        waits = ", ".join(f"{f} {s:,.0f}" for f, s in fig["p95_wait_s"].items())
        lines.append(f"{'':>16}p95 wait by feature (s): {waits}")
        notes = ", ".join(f"{k} {v:,.0f}" for k, v in run.notes.items())
        lines.append(f"{'':>16}{notes}")
    ours, theirs = (figures["policies"][p]["light_p95_wait_s"]
                    for p in ("meshsmith", "reviewed_fifo"))
    ratio = theirs / ours if ours else float("inf")
    lines.append(f"light-job p95 wait: reviewed / meshsmith = {ratio:,.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", choices=DAY_KINDS, default="studio")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=400, help="jobs in the day")
    parser.add_argument("--hours", type=float, default=8.0, help="length of the working day")
    parser.add_argument("--cpu-slots", type=int, default=2)
    parser.add_argument(
        "--starvation-s", type=float, default=DEFAULT_STARVATION_S,
        help="starvation bound passed to the Scheduler (default: the Scheduler's own, %(default)s)",
    )
    args = parser.parse_args(argv)
    jobs = make_day(args.day, args.jobs, hours=args.hours, seed=args.seed)
    history = make_day(args.day, args.jobs, hours=args.hours, seed=args.seed + 1000)
    figures, runs = simulate(jobs, cpu_slots=args.cpu_slots, starvation_s=args.starvation_s,
                             history=history)
    print(describe_workload(jobs))
    print(describe(figures, runs))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
