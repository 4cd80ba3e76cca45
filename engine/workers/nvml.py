"""What NVML says about the GPUs, behind a small interface that tests replace.

``GpuReader`` is all the engine asks of NVML: the GPUs (index, UUID, name, memory) and the
memory each process uses on one of them (``nvmlDeviceGetComputeRunningProcesses``), so a
worker's usage is read by its PID rather than guessed from the card's total. ``NvmlReader``
is the real one; ``StaticGpus`` is a set of simulated GPUs that tests and benchmarks pass in
explicitly (never chosen by an environment variable).

Device ids follow torch's numbering in the workers: NVML lists GPUs in PCI bus order, the
workers get ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, and ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs)
picks and orders the GPUs both see, so "cuda:k" is the k-th visible GPU for both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)
MB = 2**20


@dataclass(frozen=True)
class GpuInfo:
    index: int  # NVML's index: PCI bus order
    uuid: str
    name: str
    total_mb: int
    used_mb: int


class GpuReader(Protocol):
    def gpus(self) -> list[GpuInfo]: ...

    def process_mb(self, index: int) -> dict[int, int]:
        """PID -> MB that process uses on the GPU at NVML ``index``."""
        ...


class NvmlReader:
    def __init__(self, nvml) -> None:
        self._nvml = nvml

    def gpus(self) -> list[GpuInfo]:
        nvml, out = self._nvml, []
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            out.append(GpuInfo(i, _text(nvml.nvmlDeviceGetUUID(handle)),
                               _text(nvml.nvmlDeviceGetName(handle)),
                               mem.total // MB, mem.used // MB))
        return out

    def process_mb(self, index: int) -> dict[int, int]:
        handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
        out: dict[int, int] = {}
        for proc in self._nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            used = proc.usedGpuMemory  # None where the driver will not say (some WDDM cases)
            if used is not None:
                out[int(proc.pid)] = out.get(int(proc.pid), 0) + int(used) // MB
        return out


@dataclass
class StaticGpus:
    """Simulated GPUs of the given sizes (MB). ``usage[index][pid]`` is what a process uses;
    ``other_mb[index]`` what programs that are not ours use."""

    sizes: list[int]
    usage: dict[int, dict[int, int]] = field(default_factory=dict)
    other_mb: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(size <= 0 for size in self.sizes):
            raise ValueError(f"simulated GPU sizes must be positive MB, not {self.sizes!r}")

    def gpus(self) -> list[GpuInfo]:
        return [GpuInfo(i, f"GPU-sim-{i}", "Simulated GPU", mb,
                        self.other_mb.get(i, 0) + sum(self.usage.get(i, {}).values()))
                for i, mb in enumerate(self.sizes)]

    def process_mb(self, index: int) -> dict[int, int]:
        return dict(self.usage.get(index, {}))


def open_nvml() -> NvmlReader | None:
    """The real reader, or None without a driver, a library or a GPU: the CPU fallback."""
    try:
        import pynvml

        pynvml.nvmlInit()
        reader = NvmlReader(pynvml)
        reader.gpus()  # a driver that initialises but cannot list is no better than none
        return reader
    except Exception as exc:  # NVMLError_LibraryNotFound on a machine without a GPU
        log.info("no NVIDIA GPU available (%s); running on the CPU", type(exc).__name__)
        return None


def visible(gpus: list[GpuInfo], env: str | None) -> list[GpuInfo]:
    """The GPUs ``CUDA_VISIBLE_DEVICES`` leaves, in its order (None: all of them). CUDA stops
    at the first entry it cannot match, and so does this."""
    if env is None:
        return list(gpus)
    out: list[GpuInfo] = []
    for entry in (e.strip() for e in env.split(",")):
        match = _match(gpus, entry)
        if match is None or match in out:
            break
        out.append(match)
    return out


def _match(gpus: list[GpuInfo], entry: str) -> GpuInfo | None:
    if entry.isdigit():
        return next((g for g in gpus if g.index == int(entry)), None)
    if entry.startswith("GPU-"):  # a UUID, or a unique prefix of one
        found = [g for g in gpus if g.uuid.startswith(entry)]
        return found[0] if len(found) == 1 else None
    return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
