"""A studio process for the crash test: queues jobs, reports them, then waits to be killed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from adapters.registry import Registry
from engine.engine import Engine
from engine.paths import DataDir
from tests.engine.fake_adapters import sleepy_spec


def main(home: str, mesh: str, count: int) -> None:
    engine = Engine(DataDir(Path(home)), registry=Registry([sleepy_spec()])).start()
    staged = engine.stage(mesh)
    jobs = [engine.submit("mesh_segmentation", [staged], params={"steps": 200, "step_s": 0.05})
            for _ in range(count)]
    while jobs[0] not in engine.progress:
        time.sleep(0.02)
    print(json.dumps({"jobs": jobs, "workers": engine.worker_pids()}), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
