"""GPUs and their memory (NVML), a fake set for tests, and the CPU fallback."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from engine.scheduling.vocabulary import DeviceSpec

log = logging.getLogger(__name__)
FAKE_ENV = "MESHSMITH_FAKE_GPUS"


@dataclass(frozen=True)
class DeviceMemory:
    device: str
    name: str
    total_mb: int
    used_mb: int

    @property
    def free_mb(self) -> int:
        return self.total_mb - self.used_mb


class Devices:
    """Lists devices once and measures their memory on request (never on a timer)."""

    def __init__(self) -> None:
        self._fake = _parse_fake(os.environ.get(FAKE_ENV, ""))
        self._nvml = None if self._fake is not None else _open_nvml()

    @property
    def backend(self) -> str:
        return "fake" if self._fake is not None else ("nvml" if self._nvml else "cpu")

    def specs(self) -> list[DeviceSpec]:
        return [DeviceSpec(m.device, m.total_mb, m.name) for m in self.measure()] + [
            DeviceSpec("cpu", 0, "CPU")
        ]

    def measure(self) -> list[DeviceMemory]:
        if self._fake is not None:
            return [DeviceMemory(f"cuda:{i}", "Simulated GPU", mb, 0)
                    for i, mb in enumerate(self._fake)]
        if self._nvml is None:
            return []
        try:
            return self._measure_nvml()
        except Exception as exc:  # a driver hiccup must not stop the engine
            log.warning("NVML measurement failed: %s", exc)
            return []

    def _measure_nvml(self) -> list[DeviceMemory]:
        nvml = self._nvml
        out = []
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            name = nvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            out.append(DeviceMemory(f"cuda:{i}", name, mem.total // 2**20, mem.used // 2**20))
        return out

    def describe(self) -> str:
        gpus = self.measure()
        if not gpus:
            return "CPU only"
        return ", ".join(f"{m.device} {m.name} ({m.total_mb} MB)" for m in gpus)


def _parse_fake(value: str) -> list[int] | None:
    if not value.strip():
        return None
    try:
        sizes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{FAKE_ENV} must be a comma-separated list of MB, not {value!r}.")
    if any(size <= 0 for size in sizes):
        raise ValueError(f"{FAKE_ENV} sizes must be positive, not {value!r}.")
    return sizes


def _open_nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # no driver, no library, no GPU: the CPU fallback is the answer
        log.info("no NVIDIA GPU available (%s); running on the CPU", type(exc).__name__)
        return None
