"""How much room the saturated day leaves for light jobs before the reviewed policy's longest
wait: the heavy run time per GPU against that wait, and the light run time submitted before it.

It also checks a necessary condition for meeting the light-latency and longest-wait targets at
once (``area_check``): every heavy job must start within the reviewed longest wait ``T`` of its
submission, and all but ``k`` light jobs within ``P`` (the reviewed light p95 over 10; ``k`` is
how many light waits a p95 leaves free). A 7 GB SAMesh job never shares a 24 GB card with a
heavy one (19 or 24 GB), and a card runs one heavy job at a time. So before ``H`` (the last heavy
submission + ``T``) the two cards must run the heavy work, less the two longest heavy jobs (they
may straddle ``H``), and the SAMesh work submitted before ``H - P``, less its ``k + 2`` longest
jobs: if that exceeds ``2 H`` the targets conflict on that day. Model loads, reloads and
non-preemption are left out, so passing the check does not mean a schedule exists.

It also reports where Meshsmith's own schedule spends its time (``load_accounting``): how many
heavy jobs started cold, the seconds of heavy and light model loads, and how long after the
reviewed longest wait its last heavy job started (``--keep-horizon 0``: without keeping warm
models, engine.scheduling.keeping).

    .venv/bin/python benchmarks/saturated_room.py [--seeds 1-10] [--keep-horizon 3]

Prints a table, then one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks._sim_meshsmith import run_meshsmith
from benchmarks._sim_metrics import PolicyRun, summarize
from benchmarks._sim_reviewed import run_reviewed
from benchmarks._sim_workload import CATALOG, DAY_SETTINGS, GPU_MB, LIGHT_MB, SimJob, make_day
from benchmarks.scheduler_sweep import RATIO_TARGET, parse_seeds

GPUS = 2


def room(seed: int, keep_horizon: float | None = None) -> dict[str, float]:
    n_jobs, hours, cpu_slots = DAY_SETTINGS["saturated"]
    jobs = make_day("saturated", n_jobs, hours=hours, seed=seed)
    reviewed = summarize(run_reviewed(jobs, gpus=GPUS, gpu_mb=GPU_MB), jobs, GPUS)
    longest = reviewed["max_wait_s"]
    policy = {} if keep_horizon is None else {"keep_horizon": keep_horizon}
    ours = run_meshsmith(jobs, gpus=GPUS, gpu_mb=GPU_MB, cpu_slots=cpu_slots,
                         history=make_day("saturated", n_jobs, hours=hours, seed=seed + 1000),
                         **policy)
    heavy = [j for j in jobs if j.spec.on_gpu and j.spec.peak_mb >= LIGHT_MB]
    light = [j for j in jobs if j.spec.light and j.submit_s < longest]
    return {"seed": seed, "heavy_jobs": len(heavy),
            "heavy_run_s_per_gpu": round(sum(j.run_s for j in heavy) / GPUS, 1),
            "reviewed_longest_wait_s": longest,
            "light_run_s_before_it": round(sum(j.run_s for j in light), 1),
            **area_check(jobs, longest, reviewed["light_p95_wait_s"] / RATIO_TARGET),
            **load_accounting(ours, longest)}


def load_accounting(run: PolicyRun, longest: float) -> dict[str, float]:
    """Model loads in a schedule, against how late its last heavy job started."""
    heavy = [r for r in run.runs.values() if not r.job.spec.light]
    light = [r for r in run.runs.values() if r.job.spec.light]
    last = max(heavy, key=lambda r: r.start_s)
    return {"heavy_cold_starts": sum(r.cold for r in heavy),
            "heavy_load_s": round(sum(r.compute_s - r.start_s for r in heavy), 1),
            "light_load_s": round(sum(r.compute_s - r.start_s for r in light), 1),
            "last_heavy_wait_over_longest_s": round(last.start_s - last.job.submit_s - longest, 1)}


def area_check(jobs: list[SimJob], longest: float, light_p95: float) -> dict[str, float]:
    """Work that must run before ``H`` under both targets, against the two cards' ``2 H``."""
    heavy = [j for j in jobs if j.spec.on_gpu and j.spec.peak_mb >= LIGHT_MB]
    if not heavy:
        return {"must_run_s": 0.0, "room_s": 0.0}
    if any(CATALOG["samesh"].peak_mb + j.spec.peak_mb <= GPU_MB for j in heavy):
        raise ValueError("the check assumes SAMesh never shares a card with a heavy job")
    n_light = sum(j.spec.light for j in jobs)
    free = n_light - 1 - math.floor(0.95 * (n_light - 1))  # waits a p95 does not look at
    horizon = max(j.submit_s for j in heavy) + longest
    heavy_runs = sorted((j.run_s for j in heavy), reverse=True)
    samesh = sorted((j.run_s for j in jobs
                     if j.adapter == "samesh" and j.submit_s < horizon - light_p95), reverse=True)
    must = sum(heavy_runs[GPUS:]) + sum(samesh[free + GPUS:])
    return {"must_run_s": round(must, 1), "room_s": round(GPUS * horizon, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--keep-horizon", type=float, default=None,
                        help="Scheduler keep_horizon (default: the Scheduler's own)")
    args = parser.parse_args(argv)
    rows = [room(seed, args.keep_horizon) for seed in parse_seeds(args.seeds)]
    for r in rows:
        print(f"seed {r['seed']:>3}: {r['heavy_jobs']} heavy jobs, {r['heavy_run_s_per_gpu']:,.0f} s "
              f"per GPU; reviewed longest wait {r['reviewed_longest_wait_s']:,.0f} s; light run "
              f"time submitted before it {r['light_run_s_before_it']:,.0f} s; must run "
              f"{r['must_run_s']:,.0f} s in {r['room_s']:,.0f} s; ours: {r['heavy_cold_starts']} heavy "
              f"cold starts, loads {r['heavy_load_s']:,.0f} s heavy + {r['light_load_s']:,.0f} s "
              f"light, last heavy job waited {r['last_heavy_wait_over_longest_s']:+,.0f} s "
              "past the reviewed longest")
    print(json.dumps({"days": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
