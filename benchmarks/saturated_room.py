"""How much room the saturated day leaves for light jobs before the reviewed policy's longest
wait: the heavy run time per GPU against that wait, and the light run time submitted before it.

    .venv/bin/python benchmarks/saturated_room.py [--seeds 1-10]

Prints a table, then one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks._sim_metrics import summarize
from benchmarks._sim_reviewed import run_reviewed
from benchmarks._sim_workload import DAY_SETTINGS, GPU_MB, LIGHT_MB, make_day
from benchmarks.scheduler_sweep import parse_seeds

GPUS = 2


def room(seed: int) -> dict[str, float]:
    n_jobs, hours, _ = DAY_SETTINGS["saturated"]
    jobs = make_day("saturated", n_jobs, hours=hours, seed=seed)
    reviewed = summarize(run_reviewed(jobs, gpus=GPUS, gpu_mb=GPU_MB), jobs, GPUS)
    longest = reviewed["max_wait_s"]
    heavy = [j for j in jobs if j.spec.on_gpu and j.spec.peak_mb >= LIGHT_MB]
    light = [j for j in jobs if j.spec.light and j.submit_s < longest]
    return {"seed": seed, "heavy_jobs": len(heavy),
            "heavy_run_s_per_gpu": round(sum(j.run_s for j in heavy) / GPUS, 1),
            "reviewed_longest_wait_s": longest,
            "light_run_s_before_it": round(sum(j.run_s for j in light), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10")
    args = parser.parse_args(argv)
    rows = [room(seed) for seed in parse_seeds(args.seeds)]
    for r in rows:
        print(f"seed {r['seed']:>3}: {r['heavy_jobs']} heavy jobs, {r['heavy_run_s_per_gpu']:,.0f} s "
              f"per GPU; reviewed longest wait {r['reviewed_longest_wait_s']:,.0f} s; light run "
              f"time submitted before it {r['light_run_s_before_it']:,.0f} s")
    print(json.dumps({"days": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
