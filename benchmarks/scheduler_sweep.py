"""Sweep the scheduler simulation over day kinds, starvation bounds, day lengths and seeds.

For every (day kind, jobs, hours, starvation_s) cell it runs both policies on seeds
``--seeds`` and reports, over the seeds, Meshsmith's makespan / lower bound (median, worst)
and the light-job p95 wait ratio reviewed / Meshsmith (median, worst), with how many seeds
meet each target (ratio >= 10x, makespan within 10% of the bound), and the two diagnostics of
the fixed scheduler bugs (``stale_reservation_s``, ``past_deadlines``: both should be 0), and
how many seeds meet the third target: no job waits longer than the reviewed policy's longest.
The studio day is swept over ``--jobs`` and ``--hours``; the saturated and mixed days use their
own sizes (``DAY_SETTINGS``). Estimates are seeded from the same kind of day, seed + 1000.
Prints a table, then one JSON object as the last stdout line.

    .venv/bin/python benchmarks/scheduler_sweep.py [--days studio saturated mixed]
        [--seeds 1-20] [--starvation-s 300 1800] [--jobs 400] [--hours 8 4 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks._sim_bound import lower_bound
from benchmarks._sim_meshsmith import DEFAULT_STARVATION_S, run_meshsmith
from benchmarks._sim_metrics import summarize
from benchmarks._sim_reviewed import run_reviewed
from benchmarks._sim_workload import DAY_KINDS, DAY_SETTINGS, GPU_MB, make_day

GPUS = 2
RATIO_TARGET = 10.0  # light-job p95 wait at least 10x lower than the reviewed policy's
MAKESPAN_TARGET = 1.10  # makespan within 10% of the lower bound


def one_day(task: tuple[str, int, float, int, tuple[float, ...]]) -> dict[str, Any]:
    """One seeded day: the bound, the reviewed policy once, Meshsmith at every bound."""
    kind, n_jobs, hours, seed, starvations = task
    cpu_slots = DAY_SETTINGS[kind][2]
    jobs = make_day(kind, n_jobs, hours=hours, seed=seed)
    history = make_day(kind, n_jobs, hours=hours, seed=seed + 1000)
    bound = lower_bound(jobs, gpus=GPUS, gpu_mb=GPU_MB, cpu_slots=cpu_slots)
    reviewed = summarize(run_reviewed(jobs, gpus=GPUS, gpu_mb=GPU_MB), jobs, GPUS)
    ours: dict[float, dict[str, Any]] = {}
    for starvation_s in starvations:
        run = run_meshsmith(jobs, gpus=GPUS, gpu_mb=GPU_MB, cpu_slots=cpu_slots,
                            starvation_s=starvation_s, history=history)
        fig = summarize(run, jobs, GPUS)
        ours[starvation_s] = {
            "makespan_s": fig["makespan_s"],
            "light_p95_wait_s": fig["light_p95_wait_s"],
            "max_wait_s": fig["max_wait_s"],
            "stale_reservation_s": run.notes["stale_reservation_s"],
            "past_deadlines": run.notes["past_deadlines"],
            "reservations": run.notes["reservations"],
            "loads": run.loads,
        }
    return {"day": kind, "jobs": n_jobs, "hours": hours, "seed": seed, "bound_s": bound,
            "reviewed": reviewed, "meshsmith": ours}


def wait_ratio(theirs: float, ours: float) -> float:
    """How many times shorter our wait is than theirs (infinite when ours is 0)."""
    return theirs / ours if ours > 0 else float("inf")


def aggregate(days: list[dict[str, Any]], starvations: tuple[float, ...]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, float], list[dict[str, Any]]] = {}
    for day in days:
        groups.setdefault((day["day"], day["jobs"], day["hours"]), []).append(day)
    cells = []
    for (kind, n_jobs, hours), group in groups.items():
        # The reviewed policy does not depend on starvation_s: the same figures in every cell.
        rev_over = [d["reviewed"]["makespan_s"] / d["bound_s"] for d in group]
        for s in starvations:
            over = [d["meshsmith"][s]["makespan_s"] / d["bound_s"] for d in group]
            ratio = [wait_ratio(d["reviewed"]["light_p95_wait_s"],
                                d["meshsmith"][s]["light_p95_wait_s"])
                     for d in group]
            light = [d["meshsmith"][s]["light_p95_wait_s"] for d in group]
            waits_ok = [d["meshsmith"][s]["max_wait_s"] <= d["reviewed"]["max_wait_s"]
                        for d in group]
            cells.append({
                "day": kind, "jobs": n_jobs, "hours": hours, "starvation_s": s, "seeds": len(group),
                "makespan_over_bound": {"median": round(statistics.median(over), 3),
                                        "best": round(min(over), 3), "worst": round(max(over), 3)},
                "light_ratio": {"median": round(statistics.median(ratio), 1),
                                "best": round(max(ratio), 1), "worst": round(min(ratio), 1)},
                "light_p95_wait_s": {"median": round(statistics.median(light), 1),
                                     "best": round(min(light), 1), "worst": round(max(light), 1)},
                "seeds_ratio_ge_10": sum(r >= RATIO_TARGET for r in ratio),
                "seeds_makespan_within_10pct": sum(o <= MAKESPAN_TARGET for o in over),
                "seeds_max_wait_ok": sum(waits_ok),
                "seeds_missing_max_wait": [d["seed"] for d, ok in zip(group, waits_ok, strict=True)
                                           if not ok],
                "seeds_missing_ratio": [d["seed"] for d, r in zip(group, ratio, strict=True)
                                        if r < RATIO_TARGET],
                "seeds_missing_makespan": [d["seed"] for d, o in zip(group, over, strict=True)
                                           if o > MAKESPAN_TARGET],
                "reviewed_makespan_over_bound_median": round(statistics.median(rev_over), 3),
                "stale_reservation_s": round(sum(d["meshsmith"][s]["stale_reservation_s"]
                                                 for d in group), 1),
                "past_deadlines": sum(d["meshsmith"][s]["past_deadlines"] for d in group),
                "reservations_median": statistics.median(
                    d["meshsmith"][s]["reservations"] for d in group),
                "loads_median": statistics.median(d["meshsmith"][s]["loads"] for d in group),
            })
    return cells


def below_bound(days: list[dict[str, Any]]) -> int:
    """Runs (either policy, any bound) that finished before the lower bound: must be 0."""
    count = 0
    for d in days:
        count += d["reviewed"]["makespan_s"] < round(d["bound_s"], 1)
        count += sum(m["makespan_s"] < round(d["bound_s"], 1) for m in d["meshsmith"].values())
    return count


def describe(cells: list[dict[str, Any]]) -> str:
    head = (f"{'kind':>9} {'jobs':>4} {'day':>4} {'starv':>6} | {'makespan/bound':>15} {'<=1.10':>6} | "
            f"{'light ratio rev/ours':>20} {'>=10x':>5} | {'ours p95 med':>12} | "
            f"{'stale':>5} {'past':>4} {'resv':>5} {'loads':>5} | {'maxwait ok':>10}")
    lines = [head, "-" * len(head)]
    for c in cells:
        mob, lr = c["makespan_over_bound"], c["light_ratio"]
        lines.append(
            f"{c['day']:>9} {c['jobs']:>4} {c['hours']:>3g}h {c['starvation_s']:>5g}s | "
            f"{mob['median']:>6.3f} / {mob['worst']:>6.3f} {c['seeds_makespan_within_10pct']:>4}/"
            f"{c['seeds']:<2}| {lr['median']:>8.1f}x / {lr['worst']:>6.1f}x "
            f"{c['seeds_ratio_ge_10']:>3}/{c['seeds']:<2}| {c['light_p95_wait_s']['median']:>10.1f} s"
            f" | {c['stale_reservation_s']:>5g} {c['past_deadlines']:>4} "
            f"{c['reservations_median']:>5g} {c['loads_median']:>5g} | "
            f"{c['seeds_max_wait_ok']:>7}/{c['seeds']:<2}"
        )
    lines.append("(median / worst over the seeds; worst makespan is the highest, worst ratio the "
                 "lowest; stale and past are totals over the seeds, resv and loads medians)")
    return "\n".join(lines)


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-", 1)
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", nargs="+", choices=DAY_KINDS, default=list(DAY_KINDS))
    parser.add_argument("--seeds", default="1-20", help="a range '1-20' or a list '1,5,7'")
    parser.add_argument("--jobs", type=int, nargs="+", default=[400])
    parser.add_argument("--hours", type=float, nargs="+", default=[8.0, 4.0, 2.0])
    parser.add_argument("--starvation-s", type=float, nargs="+",
                        default=[300.0, DEFAULT_STARVATION_S])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: 2, or 1 on a single core)")
    args = parser.parse_args(argv)
    starvations = tuple(args.starvation_s)
    tasks = []
    for kind in args.days:
        sizes = ([(n, h) for n in args.jobs for h in args.hours] if kind == "studio"
                 else [DAY_SETTINGS[kind][:2]])
        tasks += [(kind, n, h, seed, starvations)
                  for n, h in sizes for seed in parse_seeds(args.seeds)]
    began = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            days = list(pool.map(one_day, tasks, chunksize=4))
    else:
        days = [one_day(t) for t in tasks]
    cells = aggregate(days, starvations)
    print(f"{len(tasks)} days x {len(starvations)} starvation bounds; Scheduler default "
          f"starvation_s = {DEFAULT_STARVATION_S:g} s")
    print(describe(cells))
    result = {
        "seeds": args.seeds, "scheduler_default_starvation_s": DEFAULT_STARVATION_S,
        "cells": cells, "runs_below_bound": below_bound(days),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }
    print(f"runs finishing below the lower bound: {result['runs_below_bound']}; "
          f"{result['elapsed_s']} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
