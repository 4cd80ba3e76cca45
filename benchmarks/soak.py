"""Soak: many small jobs of mixed features, with faults and random cancels, through the real
engine and real worker processes; then hostile inputs through the real stager.

    .venv/bin/python benchmarks/soak.py [--jobs 1000] [--seed 1] [--cancel-rate 0.1]
        [--hostile 200] [--inflight 12] [--keep]

Jobs: the real cheap adapters (xatlas ``uv_unwrapping``, decimation ``mesh_retopology``) on
small meshes, and fake adapters (``benchmarks/_soak_adapters.py``) on three more features that
sleep, raise, crash their worker, run out of memory once (the engine evicts and retries) or
twice (the job fails OUT_OF_MEMORY), or ignore a cancel (the engine kills the worker after
the grace period). A seeded share of jobs is cancelled a random moment after submission, so
cancels land on queued and on running jobs.

Checks: every job ends in a terminal state; the ids submitted equal the ids in the store (in
the running engine and in the file after shutdown); each job ends as its fault says; a
succeeded job's files lie in ``outputs/<job_id>/`` and a failed one leaves none; the process's
RSS grows less than 50 MB after warm-up; no file descriptor and no child process is left after
shutdown. Prints a summary, then one JSON object as the last stdout line; exits 1 if a check
failed.
"""

from __future__ import annotations

import argparse
import base64
import gc
import heapq
import json
import os
import queue
import random
import shutil
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

RSS_LIMIT_MB = 50.0

# kind -> (adapter, feature, weight); the fault kinds run on the fake adapters
KINDS: dict[str, tuple[str, str, float]] = {
    "xatlas": ("xatlas", "uv_unwrapping", 0.25),
    "decimate": ("decimate", "mesh_retopology", 0.25),
    "ok": ("", "", 0.36),
    "fail": ("", "", 0.06),
    # These cost a worker process each (a crash, a kill, or an out-of-memory evicting the
    # other idle workers), and a fresh worker takes about a second to start.
    "crash": ("", "", 0.03),
    "oom_once": ("", "", 0.02),
    "oom_twice": ("", "", 0.01),
    "stubborn": ("", "", 0.02),  # ignores cancel; always cancelled, so the worker is killed
}
FAKES = (("soak_segment", "mesh_segmentation"), ("soak_parts", "part_completion"),
         ("soak_rig", "auto_rig"))
EXPECTED = {  # kind -> (status, error code) when the job is not cancelled
    "xatlas": ("succeeded", None), "decimate": ("succeeded", None), "ok": ("succeeded", None),
    "oom_once": ("succeeded", None), "fail": ("failed", "ADAPTER_FAILED"),
    "crash": ("failed", "WORKER_CRASHED"), "oom_twice": ("failed", "OUT_OF_MEMORY"),
}


# ----------------------------------------------------------------------------- the process


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def children() -> dict[int, str]:
    """This process's child processes (zombies included) and their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                cmdline = cmd.read().replace(b"\0", b" ").decode(errors="replace")[:80]
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid():
            found[int(entry)] = cmdline or "<zombie>"
    return found


# ----------------------------------------------------------------------------- the jobs


def plan_jobs(rng: random.Random, count: int, cancel_rate: float) -> list[dict[str, Any]]:
    kinds, weights = list(KINDS), [w for _, _, w in KINDS.values()]
    plans = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        adapter, feature, _ = KINDS[kind]
        if not adapter:
            adapter, feature = rng.choice(FAKES)
        params: dict[str, Any] = {}
        if kind == "xatlas":
            params = {"resolution": rng.choice([128, 256, 512])}
        elif kind == "decimate":
            params = {"target_faces": rng.randint(8, 60)}
        else:
            params = {"sleep_s": round(rng.uniform(0.0, 0.15), 3), "steps": rng.randint(1, 6),
                      "fail": kind == "fail", "crash": kind == "crash",
                      "oom_runs": {"oom_once": 1, "oom_twice": 2}.get(kind, 0)}
            if kind == "stubborn":
                params.update(sleep_s=20.0, steps=200, ignore_cancel=True)
        # A cancel comes a moment after submission (the job is usually still queued) or a
        # moment after the job started running (its first progress report).
        cancel: tuple[str, float] | None = None
        if kind == "stubborn":
            cancel = ("running", rng.uniform(0.1, 0.5))
        elif rng.random() < cancel_rate:
            cancel = rng.choice([("submitted", rng.uniform(0.0, 0.3)),
                                 ("running", rng.uniform(0.0, 0.15))])
        plans.append({"kind": kind, "adapter": adapter, "feature": feature, "params": params,
                      "cancel": cancel, "mesh": rng.randrange(3)})
    return plans


def make_meshes(folder: Path) -> list[Path]:
    import trimesh

    shapes = [trimesh.creation.icosphere(subdivisions=1), trimesh.creation.box(),
              trimesh.creation.cylinder(radius=0.5, height=1.0, sections=12)]
    paths = []
    for i, mesh in enumerate(shapes):
        paths.append(folder / f"mesh{i}.obj")
        mesh.export(paths[-1])
    return paths


def soak(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    from adapters.registry import SPECS
    from benchmarks._soak_adapters import soak_spec
    from engine.contract.spec import Registry
    from engine.jobs import JobState
    from engine.runtime.engine import Engine
    from engine.runtime.events import JobEvent
    from engine.storage.jobstore import JobStore
    from engine.storage.paths import DataDir

    rng = random.Random(args.seed)
    plans = plan_jobs(rng, args.jobs, args.cancel_rate)
    meshes = make_meshes(home)
    registry = Registry([*SPECS, *(soak_spec(a, f) for a, f in FAKES)])
    data = DataDir(home / "data")

    fds_before, children_before = open_fds(), children()
    engine = Engine(data, registry=registry, cancel_grace_s=1.0).start()
    done: queue.SimpleQueue[str] = queue.SimpleQueue()
    running: queue.SimpleQueue[str] = queue.SimpleQueue()

    def on_event(event: JobEvent) -> None:  # on the engine thread: hand over, nothing more
        if event.kind == "updated" and event.job is not None and event.job.state.terminal:
            done.put(event.job_id)
        elif event.kind == "progress":
            running.put(event.job_id)

    engine.subscribe(on_event)
    staged = [engine.stage(m) for m in meshes]
    submitted: dict[str, dict[str, Any]] = {}
    finished: set[str] = set()
    cancels: list[tuple[float, str]] = []
    seen_running: set[str] = set()
    cancel_states: Counter[str] = Counter()
    warmup = max(1, min(100, args.jobs // 10))
    rss_warm = rss_peak = 0.0
    fds_warm: int | None = None
    started = time.monotonic()

    def drain(block_s: float) -> None:
        nonlocal rss_warm, rss_peak, fds_warm
        try:
            finished.add(done.get(timeout=block_s))
            while True:
                finished.add(done.get_nowait())
        except queue.Empty:
            pass
        now = time.monotonic()
        while not running.empty():
            job_id = running.get_nowait()
            cancel = submitted[job_id]["cancel"] if job_id in submitted else None
            if job_id not in seen_running and cancel and cancel[0] == "running":
                heapq.heappush(cancels, (now + cancel[1], job_id))
            seen_running.add(job_id)
        while cancels and cancels[0][0] <= now:
            _, job_id = heapq.heappop(cancels)
            job = engine.get(job_id)
            cancel_states[job.state.value if job else "missing"] += 1
            engine.cancel(job_id)
        if len(finished) >= warmup and not rss_warm:
            rss_warm = rss_mb()
        rss_peak = max(rss_peak, rss_mb())

    for plan in plans:
        while len(submitted) - len(finished) >= args.inflight:
            drain(0.05)
        job_id = engine.submit(plan["feature"], [staged[plan["mesh"]]], adapter=plan["adapter"],
                               params=plan["params"])
        submitted[job_id] = plan
        if plan["cancel"] is not None and plan["cancel"][0] == "submitted":
            heapq.heappush(cancels, (time.monotonic() + plan["cancel"][1], job_id))
        drain(0.0)
    deadline = time.monotonic() + 300 + args.jobs
    while (len(finished) < len(submitted) or cancels) and time.monotonic() < deadline:
        drain(0.05)
    elapsed = time.monotonic() - started
    rss_end = rss_mb()

    # Every job terminal, none lost, each as its fault says, files where they belong.
    jobs = {j.job_id: j for j in engine.store.list()}
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    for job_id, plan in submitted.items():
        job = jobs.get(job_id)
        if job is None:
            problems.append(f"{job_id} is missing from the store")
            continue
        if not job.state.terminal:
            problems.append(f"{job_id} ended {job.state.value}")
            continue
        code = job.error.code if job.error else None
        outcomes[f"{job.state.value}:{code}" if code else job.state.value] += 1
        expected = EXPECTED.get(plan["kind"])
        cancelled = plan["cancel"] is not None
        if cancelled and job.state is JobState.CANCELLED:
            pass
        elif expected != (job.state.value, code):
            problems.append(f"{job_id} ({plan['kind']}, cancel={cancelled}) ended "
                            f"{job.state.value} {code}")
        folder = data.job_output(job_id)
        if job.state is JobState.SUCCEEDED:
            paths = [Path(job.result.output_file_path), *(Path(o.path) for o in job.result.outputs)]
            if not all(p.is_file() and p.parent == folder for p in paths):
                problems.append(f"{job_id} lists a file outside {folder} or a missing file")
        elif folder.exists():
            problems.append(f"{job_id} ended {job.state.value} but left {folder}")
    extra = set(jobs) - set(submitted)
    problems += [f"{job_id} is in the store but was never submitted" for job_id in extra]

    hostile = try_hostile_inputs(engine, rng, home, args.hostile) if args.hostile else {}
    problems += hostile.pop("problems", [])

    workers_seen = len(set(engine.worker_pids()))
    engine.shutdown()
    gc.collect()  # a worker's pipe closes when its Process object is collected
    time.sleep(0.2)  # let the kernel finish reaping
    on_disk = JobStore(data.db)
    stored = {j.job_id: j.state for j in on_disk.list()}
    on_disk.close()
    lost = len(set(submitted) - set(stored))
    not_terminal = sum(1 for s in stored.values() if not s.terminal)
    fds_after, children_after = open_fds(), children()
    leaked_children = {pid: cmd for pid, cmd in children_after.items()
                       if pid not in children_before}
    rss_growth = rss_end - rss_warm

    if lost or not_terminal:
        problems.append(f"after shutdown: {lost} lost, {not_terminal} not terminal on disk")
    if rss_growth >= RSS_LIMIT_MB:
        problems.append(f"RSS grew {rss_growth:.1f} MB after warm-up")
    if fds_after != fds_before:
        problems.append(f"{fds_after - fds_before} file descriptors leaked")
    if leaked_children:
        problems.append(f"child processes left: {leaked_children}")
    kinds = Counter(p["kind"] for p in submitted.values())
    return {
        "jobs": len(submitted), "seed": args.seed, "elapsed_s": round(elapsed, 1),
        "jobs_per_s": round(len(submitted) / elapsed, 2) if elapsed else None,
        "terminal": sum(1 for j in submitted if j in jobs and jobs[j].state.terminal),
        "lost": lost, "not_terminal": not_terminal,
        "by_kind": dict(sorted(kinds.items())), "outcomes": dict(sorted(outcomes.items())),
        "faults_injected": {
            "adapter_raised": kinds["fail"], "worker_crashed": kinds["crash"],
            "out_of_memory_once": kinds["oom_once"], "out_of_memory_twice": kinds["oom_twice"],
            "cancel_ignored_worker_killed": kinds["stubborn"],
            "cancels": sum(cancel_states.values()),
            "cancels_of_queued": cancel_states["queued"],
            "cancels_of_running": cancel_states["running"],
            "cancels_after_end": sum(v for k, v in cancel_states.items()
                                     if k not in ("queued", "running")),
        },
        "hostile_inputs": hostile,
        "rss_mb": {"warm": round(rss_warm, 1), "end": round(rss_end, 1),
                   "peak": round(rss_peak, 1), "growth_after_warmup": round(rss_growth, 1),
                   "warmup_jobs": warmup, "limit": RSS_LIMIT_MB},
        "fds": {"before_start": fds_before, "after_shutdown": fds_after,
                "leaked": fds_after - fds_before},
        "processes": {"children_before_start": len(children_before),
                      "children_after_shutdown": len(children_after),
                      "leaked": len(leaked_children), "live_workers_at_end": workers_seen},
        "problems": problems[:20], "problem_count": len(problems),
        "ok": not problems,
    }


# ----------------------------------------------------------------------------- hostile input


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _lying_glb(rng: random.Random, glb: bytes) -> bytes:
    json_len = struct.unpack_from("<I", glb, 12)[0]
    doc = json.loads(glb[20 : 20 + json_len])
    binary = glb[20 + json_len + 8 :]
    target = rng.choice([("accessors", "count"), ("bufferViews", "byteLength"),
                         ("bufferViews", "byteOffset"), ("accessors", "byteOffset")])
    rng.choice(doc[target[0]])[target[1]] = rng.choice([2**31, 2**32 - 1, rng.randrange(2**40)])
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 4)
    chunks = struct.pack("<I4s", len(raw), b"JSON") + raw
    chunks += struct.pack("<I4s", len(binary), b"BIN\x00") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


HOSTILE_NAMES = ["../../escape", "..\\..\\evil", "ロボット", "a" * 240, "\u202egnp.exe", "CON",
                 "$HOME", "%2e%2e%2f", "🙂🙂", "\x1b[2J", "\ufeffname", " . ", "x\ny"]


def try_hostile_inputs(engine: Any, rng: random.Random, home: Path, count: int) -> dict[str, Any]:
    """Stage ``count`` hostile inputs; each must be refused with INVALID_INPUT (or, for good
    content under a hostile name or wrong extension, staged inside inputs/), fast, and
    nothing may appear outside the data directory."""
    import trimesh

    box = trimesh.creation.box()
    glb = box.export(file_type="glb")
    obj = box.export(file_type="obj").encode()
    sources = home / "hostile"
    sources.mkdir()
    # The stager must never use the system temporary folder: point it at one we watch.
    watched, system_tmp = home / "systmp", tempfile.tempdir
    watched.mkdir()
    tempfile.tempdir = str(watched)
    try:
        return _stage_hostile(engine, rng, count, sources, watched, glb, obj)
    finally:
        tempfile.tempdir = system_tmp


def _stage_hostile(engine: Any, rng: random.Random, count: int, sources: Path, watched: Path,
                   glb: bytes, obj: bytes) -> dict[str, Any]:
    from engine.errors import InvalidInput

    recipes = Counter()
    refused = staged = slowest = 0.0
    problems: list[str] = []
    for i in range(count):
        recipe = rng.choice(["random_bytes", "truncated", "bit_flipped", "png_bomb", "lying_glb",
                             "wrong_extension", "hostile_name", "base64_garbage", "symlink"])
        recipes[recipe] += 1
        good = recipe in ("wrong_extension", "hostile_name")
        source: Any
        if recipe == "random_bytes":
            source = rng.randbytes(rng.randrange(1, 4096))
        elif recipe == "truncated":
            blob = rng.choice([glb, _png_declaring(16, 16)])  # a cut OBJ may still be an OBJ
            source = blob[: rng.randrange(1, len(blob) - 4)]
        elif recipe == "bit_flipped":
            blob = bytearray(rng.choice([glb, obj]))
            for _ in range(rng.randint(1, 8)):
                blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
            source, good = bytes(blob), None  # a flip may leave it readable: either is fine
        elif recipe == "png_bomb":
            side = rng.randrange(8193, 2**31 - 1)
            source = _png_declaring(side, rng.randrange(8193, 2**31 - 1))
        elif recipe == "lying_glb":
            source = _lying_glb(rng, glb)
        elif recipe == "base64_garbage":
            source = "base64:" + base64.b64encode(rng.randbytes(300)).decode()
        else:
            folder = sources / str(i)
            folder.mkdir()
            name = rng.choice(HOSTILE_NAMES).replace("/", "_").replace("\\", "_")
            if recipe == "wrong_extension":
                name = f"model{rng.choice(['.png', '.jpg', '.exe', '.txt', ''])}"
            source = folder / (name[:200] or "x")
            if recipe == "symlink":
                source.symlink_to(rng.choice(["/etc/hostname", "/proc/self/environ", "/dev/zero",
                                              str(folder), str(folder / "loop")]))
            else:
                source.write_bytes(rng.choice([glb, obj]))
        before = sorted(p.name for p in sources.rglob("*"))
        t0 = time.perf_counter()
        try:
            result = engine.stage(source)
        except InvalidInput:
            refused += 1
            if good is True:
                problems.append(f"hostile input {i} ({recipe}) was refused but is a good model")
        except Exception as exc:  # anything but a sentence is a failure
            problems.append(f"hostile input {i} ({recipe}) raised {type(exc).__name__}: {exc}")
        else:
            staged += 1
            if good is False:
                problems.append(f"hostile input {i} ({recipe}) was staged")
            if not engine.data.contains(result.path):
                problems.append(f"hostile input {i} was staged outside the data directory")
        slowest = max(slowest, time.perf_counter() - t0)
        if sorted(p.name for p in sources.rglob("*")) != before:
            problems.append(f"hostile input {i} ({recipe}) wrote beside its source")
    if any(watched.iterdir()):
        problems.append(f"files appeared in the temporary folder: {os.listdir(watched)}")
    if slowest > 5.0:
        problems.append(f"a hostile input took {slowest:.1f} s")
    return {"tried": count, "refused": int(refused), "staged_good_content": int(staged),
            "by_recipe": dict(sorted(recipes.items())), "slowest_s": round(slowest, 3),
            "problems": problems}


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cancel-rate", type=float, default=0.1)
    parser.add_argument("--hostile", type=int, default=200, help="hostile inputs to stage")
    parser.add_argument("--inflight", type=int, default=12, help="jobs submitted, not finished")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args(argv)

    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # started by the first spawn anyway: not a leak
    home = Path(tempfile.mkdtemp(prefix="meshsmith-soak-"))
    try:
        figures = soak(args, home)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    if args.keep:
        figures["data"] = str(home)
    print(f"soak: {figures['jobs']} jobs in {figures['elapsed_s']} s, {figures['lost']} lost, "
          f"{figures['terminal']} terminal; RSS +{figures['rss_mb']['growth_after_warmup']} MB "
          f"after warm-up; fds leaked {figures['fds']['leaked']}, processes leaked "
          f"{figures['processes']['leaked']}; hostile inputs "
          f"{figures['hostile_inputs'].get('tried', 0)}", file=sys.stderr)
    for problem in figures["problems"]:
        print(f"  problem: {problem}", file=sys.stderr)
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
