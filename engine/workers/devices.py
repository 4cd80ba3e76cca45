"""The GPUs the engine may use and their memory, as NVML sees them, and the CPU fallback.

``Devices()`` opens NVML (no GPU, no driver: CPU only). Tests and benchmarks pass a reader
of their own, ``Devices(StaticGpus([24000, 24000]))``: simulated GPUs reach the engine only
that way. GPUs are listed once, by UUID, restricted and ordered by ``CUDA_VISIBLE_DEVICES``;
"cuda:k" is the k-th of them, which is what torch calls it in a worker started with
``worker_env()``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from engine.scheduling.vocabulary import DeviceSpec
from engine.workers.nvml import GpuInfo, GpuReader, NvmlReader, open_nvml, visible

log = logging.getLogger(__name__)
_AUTO = object()


@dataclass(frozen=True)
class DeviceMemory:
    device: str
    name: str
    total_mb: int
    used_mb: int
    uuid: str = ""

    @property
    def free_mb(self) -> int:
        return self.total_mb - self.used_mb


class Devices:
    """Lists GPUs once and measures their memory on request (never on a timer)."""

    def __init__(self, reader: GpuReader | object | None = _AUTO,
                 visible_devices: str | object | None = _AUTO) -> None:
        """``reader``: NVML when left out, None for CPU only, or simulated GPUs;
        ``visible_devices``: CUDA_VISIBLE_DEVICES's value when left out."""
        self._reader: GpuReader | None = open_nvml() if reader is _AUTO else reader  # type: ignore[assignment]
        env = os.environ.get("CUDA_VISIBLE_DEVICES") if visible_devices is _AUTO \
            else visible_devices
        self._ids: dict[str, GpuInfo] = {}
        if self._reader is not None:
            listed = self._safe(self._reader.gpus, [])
            self._ids = {f"cuda:{k}": g for k, g in enumerate(visible(listed, env))}  # type: ignore[arg-type]

    @property
    def backend(self) -> str:
        if self._reader is None:
            return "cpu"
        return "nvml" if isinstance(self._reader, NvmlReader) else "simulated"

    def specs(self) -> list[DeviceSpec]:
        return [DeviceSpec(m.device, m.total_mb, m.name, m.uuid) for m in self.measure()] + [
            DeviceSpec("cpu", 0, "CPU")
        ]

    def measure(self) -> list[DeviceMemory]:
        if self._reader is None or not self._ids:
            return []
        now = {g.uuid: g for g in self._safe(self._reader.gpus, [])}
        return [DeviceMemory(device, g.name, g.total_mb, now[g.uuid].used_mb, g.uuid)
                for device, g in self._ids.items() if g.uuid in now]

    def process_mb(self, pids: Iterable[int]) -> dict[str, dict[int, int]]:
        """Device id -> {pid: MB} for the given processes (our workers), by NVML's count."""
        wanted = set(pids)
        out: dict[str, dict[int, int]] = {}
        if self._reader is None:
            return out
        for device, gpu in self._ids.items():
            usage = self._safe(lambda i=gpu.index: self._reader.process_mb(i), {})
            out[device] = {pid: mb for pid, mb in usage.items() if pid in wanted}
        return out

    def worker_env(self) -> dict[str, str]:
        """What a worker process needs so that torch numbers the GPUs as ``specs`` does."""
        return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}

    def describe(self) -> str:
        gpus = self.measure()
        if not gpus:
            return "CPU only"
        return ", ".join(f"{m.device} {m.name} ({m.total_mb} MB)" for m in gpus)

    @staticmethod
    def _safe(call, default):
        try:
            return call()
        except Exception as exc:  # a driver hiccup must not stop the engine
            log.warning("NVML measurement failed: %s", exc)
            return default
