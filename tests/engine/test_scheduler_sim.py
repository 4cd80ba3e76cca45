"""The scheduler simulation runs end to end on a small day and keeps its JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "scheduler_sim.py"
POLICIES = ("meshsmith", "reviewed_fifo")
KEYS = {"makespan_s", "light_p95_wait_s", "max_wait_s", "p95_wait_s", "gpu_utilization"}


@pytest.fixture(scope="module")
def figures() -> dict:
    # As a script, the way the docs run it: the contract is the last line of stdout.
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "60", "--hours", "1", "--seed", "3"],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_json_shape(figures: dict) -> None:
    assert set(figures) == {"policies", "lower_bound_s"}
    assert set(figures["policies"]) == set(POLICIES)
    for name in POLICIES:
        policy = figures["policies"][name]
        assert set(policy) == KEYS
        assert policy["p95_wait_s"] and all(w >= 0 for w in policy["p95_wait_s"].values())
        assert 0.0 < policy["gpu_utilization"] <= 1.0


def test_both_policies_finish_every_job_no_faster_than_the_bound(figures: dict) -> None:
    from benchmarks._sim_bound import lower_bound
    from benchmarks._sim_meshsmith import run_meshsmith
    from benchmarks._sim_reviewed import run_reviewed
    from benchmarks._sim_workload import GPU_MB, studio_day

    jobs = studio_day(60, hours=1, seed=3)
    runs = (run_meshsmith(jobs, gpus=2, gpu_mb=GPU_MB, cpu_slots=2, starvation_s=60.0),
            run_reviewed(jobs, gpus=2, gpu_mb=GPU_MB))
    bound = lower_bound(jobs, gpus=2, gpu_mb=GPU_MB)
    for run in runs:
        assert set(run.runs) == {j.job_id for j in jobs}
        assert all(r.end_s >= r.compute_s >= r.start_s >= r.job.submit_s
                   for r in run.runs.values())
    for name in POLICIES:
        assert figures["policies"][name]["makespan_s"] >= figures["lower_bound_s"]
    assert figures["lower_bound_s"] == round(bound, 1)


def test_meshsmith_light_jobs_wait_less_than_behind_the_reviewed_head(figures: dict) -> None:
    ours = figures["policies"]["meshsmith"]["light_p95_wait_s"]
    theirs = figures["policies"]["reviewed_fifo"]["light_p95_wait_s"]
    assert ours < theirs


def test_sim_defaults_to_the_schedulers_own_starvation_bound() -> None:
    import inspect

    from benchmarks._sim_meshsmith import DEFAULT_STARVATION_S
    from benchmarks.scheduler_sim import simulate
    from engine.scheduling.scheduler import Scheduler

    assert DEFAULT_STARVATION_S == Scheduler([]).starvation_s
    assert inspect.signature(simulate).parameters["starvation_s"].default == DEFAULT_STARVATION_S


def test_sweep_keeps_its_json_contract_and_no_reservation_outlives_its_job() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scheduler_sweep.py"), "--seeds", "3",
         "--jobs", "60", "--hours", "1", "--starvation-s", "60", "300", "--workers", "1",
         "--days", "studio"],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runs_below_bound"] == 0
    assert [c["starvation_s"] for c in result["cells"]] == [60.0, 300.0]
    for cell in result["cells"]:
        assert cell["seeds"] == 1
        assert cell["makespan_over_bound"]["median"] >= 1.0
        assert cell["stale_reservation_s"] == 0


@pytest.mark.parametrize("kind", ["saturated", "mixed"])
def test_saturated_and_mixed_days_run_every_job_within_the_slots_and_above_the_bound(kind) -> None:
    from benchmarks._sim_bound import lower_bound
    from benchmarks._sim_meshsmith import run_meshsmith
    from benchmarks._sim_metrics import summarize
    from benchmarks._sim_workload import DAY_SETTINGS, GPU_MB, make_day

    _, _, slots = DAY_SETTINGS[kind]
    jobs = make_day(kind, 80, hours=0.3, seed=5)
    history = make_day(kind, 80, hours=0.3, seed=1005)
    # The simulated shell asserts that VRAM and CPU slots are never overcommitted.
    run = run_meshsmith(jobs, gpus=2, gpu_mb=GPU_MB, cpu_slots=slots, history=history)
    figures = summarize(run, jobs, 2)
    assert figures["makespan_s"] >= round(lower_bound(jobs, gpus=2, gpu_mb=GPU_MB,
                                                      cpu_slots=slots), 1)
    if kind == "saturated":
        assert sum(j.spec.peak_mb >= 19 * 1024 for j in jobs if j.submit_s <= 20) >= 20
    else:
        assert {j.spec.on_gpu for j in jobs} == {True, False}


def test_saturated_room_area_check_flags_a_day_where_both_targets_cannot_hold() -> None:
    from benchmarks._sim_workload import SimJob
    from benchmarks.saturated_room import area_check

    samesh = [SimJob(f"s{i}", "samesh", 10.0 * i, 30.0) for i in range(40)]
    # 4 x 1000 s of TRELLIS.2 that must all start by 1000 s, beside 40 SAMesh jobs that must
    # start within 50 s: 2 heavy jobs + 36 SAMesh jobs (38 + 2 free waits) need 3,080 s of 2,000.
    long = [SimJob(f"h{i}", "trellis2", 0.0, 1000.0) for i in range(4)] + samesh
    assert area_check(long, 1000.0, 50.0) == {"must_run_s": 3080.0, "room_s": 2000.0}
    short = [SimJob(f"h{i}", "trellis2", 0.0, 100.0) for i in range(4)] + samesh
    assert area_check(short, 1000.0, 50.0) == {"must_run_s": 1280.0, "room_s": 2000.0}
    partfield_only = [SimJob(f"p{i}", "partfield", 0.0, 10.0) for i in range(5)]
    assert area_check(partfield_only, 1000.0, 50.0) == {"must_run_s": 0.0, "room_s": 0.0}


def test_saturated_room_load_accounting_counts_cold_starts_and_the_last_heavy_wait() -> None:
    from benchmarks._sim_metrics import JobRun, PolicyRun
    from benchmarks._sim_workload import SimJob
    from benchmarks.saturated_room import load_accounting

    run = PolicyRun()
    h1, h2 = SimJob("h1", "trellis2", 0.0, 100.0), SimJob("h2", "hunyuan3d21", 5.0, 100.0)
    light = SimJob("l1", "samesh", 10.0, 20.0)
    run.record(JobRun(h1, 0.0, 40.0, 140.0, "cuda:0", True))
    run.record(JobRun(light, 140.0, 150.0, 170.0, "cuda:0", True))
    run.record(JobRun(h2, 170.0, 170.0, 270.0, "cuda:0", False))  # waited 165 s, warm
    assert load_accounting(run, 150.0) == {
        "heavy_cold_starts": 1, "heavy_load_s": 40.0, "light_load_s": 10.0,
        "last_heavy_wait_over_longest_s": 15.0}


def _computing_together(runs: list, at: float, device: str) -> list:
    return [r for r in runs if r.device == device and r.start_s <= at < r.end_s]


@pytest.mark.parametrize(("shortest", "longest_last"), [(True, False), (False, True)])
def test_saturated_oracle_runs_every_job_once_and_never_overfills_a_card(
    shortest: bool, longest_last: bool
) -> None:
    from benchmarks._sim_workload import CATALOG, GPU_MB, saturated_day
    from benchmarks.saturated_oracle import Lane, Setting

    jobs = saturated_day(90, hours=0.3, seed=4)
    run = Lane(jobs, 600.0, 1200.0, Setting(shortest, 0.3, 0.0, 1.1, longest_last)).run()
    assert set(run.runs) == {j.job_id for j in jobs}
    runs = list(run.runs.values())
    assert all(r.end_s >= r.compute_s >= r.start_s >= r.job.submit_s for r in runs)
    for r in runs:  # at every start, what loads or computes on that card fits on it
        beside = _computing_together(runs, r.start_s, r.device)
        assert len({b.job.adapter for b in beside}) == len(beside)  # one job per worker
        assert sum(CATALOG[b.job.adapter].peak_mb for b in beside) <= GPU_MB
    heavy = [r for r in runs if not r.job.spec.light]
    assert {r.device for r in heavy} <= {"cuda:0", "cuda:1"}
    # GPU 0 is the heavy lane: before its last heavy job only PartField runs there (beside
    # Hunyuan3D); SAMesh would evict the generation's model.
    last_heavy_on_lane = max(r.start_s for r in heavy if r.device == "cuda:0")
    assert {r.job.adapter for r in runs if r.device == "cuda:0" and r.job.spec.light
            and r.start_s < last_heavy_on_lane} <= {"partfield"}


def test_saturated_oracle_meets_a_generous_heavy_deadline_and_knows_only_its_day() -> None:
    from benchmarks._sim_workload import SimJob, saturated_day
    from benchmarks.saturated_oracle import Lane, Setting

    jobs = saturated_day(60, hours=0.25, seed=2)
    heavy_work = sum(j.run_s for j in jobs if not j.spec.light)
    longest = heavy_work / 2 + 200.0  # room for both cards and their loads
    run = Lane(jobs, longest, 10 * heavy_work, Setting(False, 0.3, 0.0, 1.1)).run()
    assert all(r.start_s - r.job.submit_s <= longest
               for r in run.runs.values() if not r.job.spec.light)
    # Shortest first on GPU 0: once every generation is queued, each model's jobs there start
    # in order of run time.
    run = Lane(jobs, longest, 10 * heavy_work, Setting(False, 0.3, 0.0, 1.1, True)).run()
    all_in = max(j.submit_s for j in jobs if not j.spec.light)
    lane = sorted((r for r in run.runs.values() if r.device == "cuda:0" and not r.job.spec.light
                   and r.start_s > all_in), key=lambda r: r.start_s)
    assert len(lane) >= 4
    for model in {r.job.adapter for r in lane}:
        runs = [r.job.run_s for r in lane if r.job.adapter == model]
        assert runs == sorted(runs)
    with pytest.raises(ValueError, match="xatlas"):
        Lane([SimJob("u", "xatlas", 0.0, 5.0)], 100.0, 100.0, Setting(False, 0.3, 0.0, 1.1)).run()


def test_saturated_oracle_scores_the_three_targets_and_ranks_near_misses() -> None:
    from benchmarks._sim_metrics import JobRun, PolicyRun
    from benchmarks._sim_workload import SimJob
    from benchmarks.saturated_oracle import targets

    h, light = SimJob("h", "trellis2", 0.0, 100.0), SimJob("l", "partfield", 0.0, 10.0)
    run = PolicyRun()
    run.record(JobRun(h, 0.0, 40.0, 140.0, "cuda:0", True))
    run.record(JobRun(light, 5.0, 13.0, 23.0, "cuda:1", True))
    reviewed = {"light_p95_wait_s": 100.0, "max_wait_s": 4.0}
    fig = targets(run, [h, light], reviewed, 130.0)
    # light 100/5 = 20x met; makespan 140/130 = 1.077 met; longest wait 5 s of 4 s missed
    assert fig["met"] == [True, True, False]
    assert fig["light_ratio"] == 20.0 and fig["shortfall"] == 1.25


def test_saturated_oracle_online_view_predicts_the_reviewed_wait_exactly_when_estimates_are():
    from benchmarks._sim_metrics import summarize
    from benchmarks._sim_reviewed import run_reviewed
    from benchmarks._sim_workload import CATALOG, GPU_MB, SimJob, saturated_day
    from benchmarks.saturated_oracle import online_view

    # Every job of an adapter runs exactly its median: the estimates are exact, so is the
    # predicted longest wait; with noisy run times the prediction is only a guess.
    exact = [SimJob(j.job_id, j.adapter, j.submit_s, CATALOG[j.adapter].median_run_s)
             for j in saturated_day(80, hours=0.3, seed=5)]
    estimates, predicted = online_view(exact, exact)
    assert estimates == {a: CATALOG[a].median_run_s for a in {j.adapter for j in exact}}
    assert predicted == summarize(run_reviewed(exact, gpus=2, gpu_mb=GPU_MB), exact, 2)["max_wait_s"]
    noisy = saturated_day(80, hours=0.3, seed=5)
    _, guess = online_view(noisy, saturated_day(80, hours=0.3, seed=1005))
    assert guess != summarize(run_reviewed(noisy, gpus=2, gpu_mb=GPU_MB), noisy, 2)["max_wait_s"]
