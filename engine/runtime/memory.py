"""The engine's side of GPU memory: NVML per worker process, and observed peaks kept on disk.

``MemoryWatch.measure`` turns one NVML reading into the scheduler's ``DevicesMeasured``, with
each worker's usage found by its PID. The largest figure seen for each adapter is kept in
``observed_vram.json`` in the data directory, so the next start places jobs by the larger of
the adapter's declared peak and what this machine has actually seen.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from engine.contract.spec import AdapterSpec
from engine.scheduling.vocabulary import DevicesMeasured

log = logging.getLogger(__name__)
OBSERVED_FILE = "observed_vram.json"


class MemoryWatch:
    def __init__(self, devices: Any, pool: Any, data_root: Path) -> None:
        self.devices, self.pool = devices, pool
        self.path = data_root / OBSERVED_FILE
        self.observed: dict[str, int] = _load(self.path)

    @property
    def enabled(self) -> bool:
        """NVML, or simulated GPUs that report per-process use; never a Ray cluster."""
        return self.devices.backend in ("nvml", "simulated")

    def measure(self, now: float) -> DevicesMeasured | None:
        if not self.enabled:
            return None
        used = {m.device: m.used_mb for m in self.devices.measure()}
        if not used:
            return None
        pids = {h.pid: wid for wid, h in list(self.pool.workers.items()) if h.pid}
        per_device = self.devices.process_mb(pids)
        worker_mb = {pids[pid]: mb for usage in per_device.values() for pid, mb in usage.items()}
        return DevicesMeasured(used, now, worker_mb)

    def peak_mb(self, spec: AdapterSpec, largest_gpu_mb: int) -> int:
        """What a job of ``spec`` asks for: the larger of declared and observed."""
        declared = spec.request_vram_mb(largest_gpu_mb)
        observed = self.observed.get(spec.id, 0)
        return max(declared, min(observed, largest_gpu_mb)) if declared else declared

    def remember(self, peaks: dict[str, int]) -> None:
        """Keep the scheduler's observed peaks when they grew (written atomically)."""
        grown = {a: mb for a, mb in peaks.items() if mb > self.observed.get(a, 0)}
        if not grown:
            return
        self.observed.update(grown)
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.observed, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk must not stop the engine
            log.warning("could not keep the observed GPU memory: %s", exc)


def _load(path: Path) -> dict[str, int]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path.name, exc)
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0}
