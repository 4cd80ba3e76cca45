"""The Ray backend's settings, its connection, and the cluster's GPUs as scheduler devices.

The scheduler keeps deciding which job runs on which device; with Ray its devices are the
cluster's GPUs, named "<node ip>/cuda:<i>", each with its node's ``vram_mb`` resource divided
by the node's GPU count (see docs/distributed.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.scheduling.vocabulary import DeviceSpec
from engine.workers.devices import DeviceMemory, Devices

log = logging.getLogger(__name__)

ADDRESS_ENV = "MESHSMITH_RAY_ADDRESS"  # "auto", "ray://head:10001", "head:6379"; unset: local
FILES_ENV = "MESHSMITH_RAY_FILES"  # "objects" (default) or "shared"
MAX_TRANSFER_ENV = "MESHSMITH_RAY_MAX_TRANSFER_MB"  # the largest result sent back as bytes
VRAM_RESOURCE = "vram_mb"  # a custom resource each GPU node declares: its GPUs' total MB
DEFAULT_MAX_TRANSFER_MB = 512
FileTransfer = Literal["objects", "shared"]


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None
    files: FileTransfer = "objects"
    max_transfer_mb: int = DEFAULT_MAX_TRANSFER_MB

    @classmethod
    def from_env(cls) -> RaySettings:
        files = os.environ.get(FILES_ENV, "objects").strip().lower() or "objects"
        if files not in ("objects", "shared"):
            raise ValueError(f"{FILES_ENV} must be 'objects' or 'shared', not {files!r}.")
        raw = os.environ.get(MAX_TRANSFER_ENV, "").strip()
        try:
            max_mb = int(raw) if raw else DEFAULT_MAX_TRANSFER_MB
        except ValueError:
            raise ValueError(f"{MAX_TRANSFER_ENV} must be a whole number of MB, not {raw!r}.")
        return cls(address=os.environ.get(ADDRESS_ENV, "").strip() or None, files=files,
                   max_transfer_mb=max(0, max_mb))


def connect(settings: RaySettings) -> bool:
    """Join the configured cluster, or start a local one; True when this call started Ray
    (so the pool shuts it down again), False when the process was already connected."""
    import ray

    if ray.is_initialized():
        return False
    if settings.address:
        ray.init(address=settings.address, log_to_driver=False)
    else:
        ray.init(**local_init_kwargs())
    log.info("connected to Ray", extra={"address": settings.address or "local",
                                        "resources": ray.cluster_resources()})
    return True


def local_init_kwargs(devices: Devices | None = None) -> dict[str, Any]:
    """A one-machine Ray sized like this machine: its GPUs (or the simulated ones ``devices``
    holds) and their memory as the ``vram_mb`` resource."""
    gpus = (devices or Devices()).measure()
    kwargs: dict[str, Any] = {
        "address": "local",  # never attach to some other cluster RAY_ADDRESS points at
        "num_cpus": os.cpu_count() or 1,
        "num_gpus": len(gpus),
        "include_dashboard": False,  # the studio shows its own status; no extra web server
        "log_to_driver": False,  # worker output goes to Ray's log files, not the studio's
    }
    if gpus:
        kwargs["resources"] = {VRAM_RESOURCE: sum(g.total_mb for g in gpus)}
    return kwargs


@dataclass
class RayDevices:
    """The cluster's GPUs as the scheduler sees them, listed once when the engine starts."""

    gpus: list[DeviceSpec] = field(default_factory=list)
    node_ids: dict[str, str] = field(default_factory=dict)  # device id -> Ray node id
    cpu_slots: int = 1
    skipped: list[str] = field(default_factory=list)  # GPU nodes without a vram_mb resource

    backend = "ray"  # the engine measures with NVML only when this says "nvml"

    @classmethod
    def from_cluster(cls) -> RayDevices:
        import ray

        return cls.from_nodes(ray.nodes())

    @classmethod
    def from_nodes(cls, nodes: list[dict[str, Any]]) -> RayDevices:
        out = cls()
        alive = [n for n in nodes if n.get("Alive")]
        ips = [n["NodeManagerAddress"] for n in alive]
        cpus = 0.0
        for node in sorted(alive, key=lambda n: n["NodeManagerAddress"]):
            resources = node.get("Resources", {})
            cpus += resources.get("CPU", 0.0)
            name = node["NodeManagerAddress"]
            if ips.count(name) > 1:  # several nodes on one address (containers): keep apart
                name = f"{name}~{node['NodeID'][:6]}"
            count = int(resources.get("GPU", 0))
            vram = int(resources.get(VRAM_RESOURCE, 0))
            if count and not vram:
                # Without it the scheduler cannot account memory there: better unused than
                # overcommitted. The log and describe() say so.
                out.skipped.append(name)
                log.warning("Ray node %s has %d GPU(s) but no %s resource; not using them",
                            name, count, VRAM_RESOURCE)
                continue
            for i in range(count):
                device = f"{name}/cuda:{i}"
                out.gpus.append(DeviceSpec(device, vram // count, f"GPU {i} on {name}"))
                out.node_ids[device] = node["NodeID"]
        out.cpu_slots = max(1, int(cpus))
        return out

    def specs(self) -> list[DeviceSpec]:
        return [*self.gpus, DeviceSpec("cpu", 0, "CPU (any Ray node)")]

    def measure(self) -> list[DeviceMemory]:
        # No NVML across machines: the scheduler accounts with the declared peaks alone.
        return []

    def describe(self) -> str:
        gpus = ", ".join(f"{d.id} ({d.total_mb} MB)" for d in self.gpus) or "no GPUs"
        skipped = f"; GPUs without {VRAM_RESOURCE} on {', '.join(self.skipped)} unused" \
            if self.skipped else ""
        return f"Ray cluster: {gpus}, {self.cpu_slots} CPU slot(s){skipped}"

    @staticmethod
    def local_device(device: str) -> str:
        """ "10.0.0.5/cuda:1" -> "cuda:1": the name the adapter uses on its own node."""
        return device.rpartition("/")[2]
