"""The simulated studio: adapters with their measured VRAM, and a seeded day of job arrivals.

VRAM figures are the ones the reviewed server's measurements give (see DESIGN.md); load and
run times are typical for a 24 GB workstation card, from seconds (decimation) to minutes
(textured generation). Nothing here sleeps: times are virtual seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

GB = 1024  # MB
GPU_MB = 24 * GB
LIGHT_MB = 8 * GB  # "light" jobs need under 8 GB, or no GPU at all


@dataclass(frozen=True)
class AdapterSpec:
    adapter: str
    feature: str
    peak_mb: int  # = resident: a warm worker keeps its model on the card
    load_s: float  # spawning the worker process and loading the model, paid once per worker
    median_run_s: float
    device_kinds: tuple[str, ...]

    @property
    def on_gpu(self) -> bool:
        return "cuda" in self.device_kinds

    @property
    def light(self) -> bool:
        return not self.on_gpu or self.peak_mb < LIGHT_MB


# TRELLIS.2 and Hunyuan3D-2.1 both serve image_to_textured_mesh (the artist picks the model),
# so in Meshsmith they share that feature's FIFO, as they would in the studio.
CATALOG: dict[str, AdapterSpec] = {
    a.adapter: a
    for a in (
        AdapterSpec("trellis", "image_to_raw_mesh", 12 * GB, 20.0, 30.0, ("cuda",)),
        AdapterSpec("hunyuan3d21", "image_to_textured_mesh", 19 * GB, 50.0, 180.0, ("cuda",)),
        AdapterSpec("trellis2", "image_to_textured_mesh", 24 * GB, 40.0, 150.0, ("cuda",)),
        AdapterSpec("unirig", "auto_rig", 9 * GB, 15.0, 45.0, ("cuda",)),
        AdapterSpec("partfield", "mesh_segmentation", 4 * GB, 8.0, 12.0, ("cuda",)),
        AdapterSpec("samesh", "mesh_segmentation", 7 * GB, 10.0, 20.0, ("cuda",)),
        AdapterSpec("holopart", "part_completion", 10 * GB, 25.0, 80.0, ("cuda",)),
        AdapterSpec("xatlas", "uv_unwrapping", 0, 3.0, 20.0, ("cpu",)),
        AdapterSpec("decimate", "mesh_retopology", 0, 2.0, 6.0, ("cpu",)),
        AdapterSpec("instant_meshes", "mesh_retopology", 0, 2.0, 40.0, ("cpu",)),
    )
}
HEAVY = "trellis2"  # the feature whose jobs pile up: artists batch-queue it all day

# Steady trickle: what artists submit one at a time while working.
BACKGROUND_MIX = {"partfield": 20, "xatlas": 20, "decimate": 15, "trellis": 15,
                  "unirig": 10, "holopart": 8, "hunyuan3d21": 7, "trellis2": 5}
# Bursts: a folder of images dropped at once, or post-processing a whole batch.
BURST_MIX = {"trellis": 30, "hunyuan3d21": 15, "partfield": 20, "xatlas": 20,
             "unirig": 8, "holopart": 7}


@dataclass(frozen=True)
class SimJob:
    job_id: str
    adapter: str
    submit_s: float
    run_s: float  # compute time on a warm worker

    @property
    def spec(self) -> AdapterSpec:
        return CATALOG[self.adapter]


def studio_day(n_jobs: int, *, hours: float = 8.0, seed: int = 7) -> list[SimJob]:
    """About 45% trickle, 30% bursts, 25% heavy TRELLIS.2 batches; the first arrival is t=0."""
    rng = random.Random(seed)
    day = hours * 3600.0
    n_heavy = round(0.25 * n_jobs)
    n_burst = round(0.30 * n_jobs)
    arrivals = _trickle(rng, n_jobs - n_heavy - n_burst, day)
    arrivals += _bursts(rng, n_burst, day, BURST_MIX, size=(4, 10))
    arrivals += _bursts(rng, n_heavy, day, {HEAVY: 1}, size=(8, 15))
    arrivals.sort()
    t0 = arrivals[0][0]
    return [SimJob(f"j{i:04d}", adapter, round(t - t0, 3), _run_time(rng, adapter))
            for i, (t, adapter) in enumerate(arrivals)]


DAY_KINDS = ("studio", "saturated", "mixed")
# The saturated day's steady stream: 4-7 GB jobs, every few seconds.
LIGHT_STREAM = {"partfield": 3, "samesh": 2}
# The mixed day: CPU post-processing beside GPU generation, on a machine with 4 CPU slots.
MIXED_TRICKLE = {"xatlas": 20, "decimate": 15, "instant_meshes": 10, "partfield": 15,
                 "samesh": 5, "trellis": 15, "unirig": 8, "holopart": 6, "hunyuan3d21": 6}
MIXED_BURSTS = {"xatlas": 25, "decimate": 20, "instant_meshes": 10, "trellis": 25,
                "hunyuan3d21": 10, "partfield": 10}


# Each kind's default size: (jobs, hours, CPU slots of the machine).
DAY_SETTINGS = {"studio": (400, 8.0, 2), "saturated": (300, 1.0, 2), "mixed": (300, 2.0, 4)}


def make_day(kind: str, n_jobs: int, *, hours: float, seed: int) -> list[SimJob]:
    """One of the day kinds the benchmarks report on (``DAY_KINDS``)."""
    if kind == "studio":
        return studio_day(n_jobs, hours=hours, seed=seed)
    if kind == "saturated":
        return saturated_day(n_jobs, hours=hours, seed=seed)
    if kind == "mixed":
        return mixed_day(n_jobs, hours=hours, seed=seed)
    raise ValueError(f"unknown day kind {kind!r}; one of {', '.join(DAY_KINDS)}")


def saturated_day(n_jobs: int, *, hours: float = 1.0, seed: int = 7) -> list[SimJob]:
    """Two dozen heavy generations (TRELLIS.2, Hunyuan3D) dropped within the first 20 s, then
    light 4-7 GB jobs every few seconds (exponential gaps) until ``n_jobs`` have arrived or the
    day is over."""
    rng = random.Random(seed)
    n_heavy = rng.randint(20, 28)
    arrivals = [(rng.uniform(0.0, 20.0), rng.choice(("trellis2", "hunyuan3d21")))
                for _ in range(n_heavy)]
    mean_gap = max(1.0, hours * 3600.0 / max(1, n_jobs - n_heavy))
    t = rng.uniform(0.0, 5.0)
    while len(arrivals) < n_jobs and t < hours * 3600.0:
        arrivals.append((t, _pick(rng, LIGHT_STREAM)))
        t += rng.expovariate(1.0 / mean_gap)
    return _as_jobs(rng, arrivals)


def mixed_day(n_jobs: int, *, hours: float = 2.0, seed: int = 7) -> list[SimJob]:
    """Half trickle, half bursts, with CPU jobs (UV unwrapping, decimation, retopology) and GPU
    jobs mixed in both, and some features served by both kinds."""
    rng = random.Random(seed)
    day = hours * 3600.0
    n_burst = n_jobs // 2
    arrivals = _trickle(rng, n_jobs - n_burst, day, MIXED_TRICKLE)
    arrivals += _bursts(rng, n_burst, day, MIXED_BURSTS, size=(4, 10))
    return _as_jobs(rng, arrivals)


def _as_jobs(rng: random.Random, arrivals: list[tuple[float, str]]) -> list[SimJob]:
    arrivals.sort()
    t0 = arrivals[0][0]
    return [SimJob(f"j{i:04d}", adapter, round(t - t0, 3), _run_time(rng, adapter))
            for i, (t, adapter) in enumerate(arrivals)]


def _trickle(
    rng: random.Random, n: int, day: float, mix: dict[str, int] = BACKGROUND_MIX
) -> list[tuple[float, str]]:
    # Uniform times are what a Poisson process looks like once its count is fixed.
    return [(rng.uniform(0.0, day), _pick(rng, mix)) for _ in range(n)]


def _bursts(
    rng: random.Random, n: int, day: float, mix: dict[str, int], *, size: tuple[int, int]
) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    while len(out) < n:
        adapter, t = _pick(rng, mix), rng.uniform(0.0, day)
        for _ in range(min(rng.randint(*size), n - len(out))):
            out.append((t, adapter))
            t += rng.uniform(1.0, 5.0)  # the artist clicking through a batch dialog
    return out


def _pick(rng: random.Random, mix: dict[str, int]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _run_time(rng: random.Random, adapter: str) -> float:
    # Log-normal around the median: most jobs typical, a few inputs much slower.
    median = CATALOG[adapter].median_run_s
    x = median * math.exp(rng.gauss(0.0, 0.5))
    return round(min(max(x, 0.3 * median), 4.0 * median), 3)
