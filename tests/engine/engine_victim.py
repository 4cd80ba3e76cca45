"""A studio process for the crash tests: queues jobs, reports them, then waits to be killed.

``python -m tests.engine.engine_victim HOME MESH COUNT`` queues COUNT slow jobs and prints
one JSON line once the first runs. With ``churn`` as a fourth argument it keeps COUNT short
real jobs (xatlas, decimation, a fake that writes a GLB) in flight forever, printing one JSON
line per submitted job, so a kill lands while jobs, outputs and the store are being written.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from adapters.registry import SPECS
from engine.contract.spec import Registry
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent
from engine.storage.paths import DataDir
from tests.engine.fake_adapters import sleepy_spec

CHURN_JOBS = (  # (feature, adapter, params)
    ("uv_unwrapping", "xatlas", {"resolution": 256}),
    ("mesh_retopology", "decimate", {"target_faces": 40}),
    ("mesh_segmentation", "sleepy", {"steps": 2, "step_s": 0.01}),
)


def churn_registry() -> Registry:
    return Registry([*SPECS, sleepy_spec()])


def main(home: str, mesh: str, count: int) -> None:
    engine = Engine(DataDir(Path(home)), registry=Registry([sleepy_spec()])).start()
    staged = engine.stage(mesh)
    # 3 s a job: the kill lands within moments of the line below, while the first job runs
    jobs = [engine.submit("mesh_segmentation", [staged], params={"steps": 60, "step_s": 0.05})
            for _ in range(count)]
    while jobs[0] not in engine.progress:
        time.sleep(0.02)
    print(json.dumps({"jobs": jobs, "workers": engine.worker_pids()}), flush=True)
    time.sleep(600)


def churn(home: str, mesh: str, count: int) -> None:
    engine = Engine(DataDir(Path(home)), registry=churn_registry()).start()
    staged = engine.stage(mesh)
    finished = threading.Semaphore(0)

    def on_event(event: JobEvent) -> None:
        if event.kind == "updated" and event.job is not None and event.job.state.terminal:
            finished.release()

    engine.subscribe(on_event)
    for n in range(10**9):
        if n >= count:
            finished.acquire()
        feature, adapter, params = CHURN_JOBS[n % len(CHURN_JOBS)]
        job_id = engine.submit(feature, [staged], adapter=adapter, params=params)
        print(json.dumps({"job": job_id, "workers": engine.worker_pids()}), flush=True)


if __name__ == "__main__":
    run = churn if sys.argv[4:] == ["churn"] else main
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
