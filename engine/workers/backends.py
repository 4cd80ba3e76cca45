"""Where the engine's workers run: local processes (the default) or actors on a Ray cluster.

Both pools have one interface (run, cancel, stop, kill, waitables, collect, shutdown, workers)
so the engine thread and the scheduler do not know which one they drive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from engine.workers.devices import Devices
from engine.workers.pool import WorkerPool

BACKEND_ENV = "MESHSMITH_BACKEND"
BackendName = Literal["local", "ray"]


@dataclass
class Backend:
    name: BackendName
    pool: Any  # WorkerPool or engine.workers.ray_pool.RayPool
    devices: Any  # Devices or engine.workers.ray_cluster.RayDevices
    cpu_slots: int


def backend_name(name: str | None = None) -> BackendName:
    chosen = (name or os.environ.get(BACKEND_ENV) or "local").strip().lower()
    if chosen not in ("local", "ray"):
        raise ValueError(f"{BACKEND_ENV} must be 'local' or 'ray', not {chosen!r}.")
    return chosen  # type: ignore[return-value]


def open_backend(name: str | None, logs_dir: str, devices: Devices | None = None) -> Backend:
    chosen = backend_name(name)
    if chosen == "local":
        return Backend("local", WorkerPool(logs_dir), devices or Devices(), os.cpu_count() or 1)
    try:
        # Imported only here: the local backend, the default, never needs Ray installed.
        from engine.workers.ray_pool import RayPool
    except ImportError as exc:
        raise RuntimeError("The ray backend needs Ray on this machine: pip install 'ray' "
                           f"(the import failed: {exc}).") from exc
    pool = RayPool.connect()
    return Backend("ray", pool, devices or pool.devices, pool.devices.cpu_slots)
