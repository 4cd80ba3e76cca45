"""Adapters that misbehave on purpose, for the fault-injection tests. They run in real worker
processes like any other adapter, so every fault crosses the same boundary a model's would."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext
from engine.contract.spec import AdapterSpec

DISK_LIMIT_BYTES = 64 * 1024  # RLIMIT_FSIZE of the disk-full worker: a "disk" of 64 KB


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    oom_runs: int = Field(0, ge=0, le=10)  # raise OutOfMemoryError on this many first runs
    raise_after_partial: bool = False  # write half a file into out_dir, then raise
    subdivisions: int = Field(1, ge=0, le=6)  # the size of the icosphere returned


def _out_of_memory() -> Exception:
    """What a CUDA model raises when the GPU is full (torch is installed with the studio)."""
    import torch

    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


class FaultAdapter:
    def load(self, device: str) -> None:
        self.runs: dict[str, int] = {}

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        p: FaultParams = ctx.params  # type: ignore[assignment]
        self.runs[ctx.job_id] = self.runs.get(ctx.job_id, 0) + 1
        ctx.step("thinking", 0.5)
        if self.runs[ctx.job_id] <= p.oom_runs:
            raise _out_of_memory()
        if p.raise_after_partial:
            (ctx.out_dir / "result.glb").write_bytes(b"glTF\x02\x00\x00\x00half")
            raise RuntimeError("the fault adapter broke halfway")
        return AdapterOutput(mesh=trimesh.creation.icosphere(subdivisions=p.subdivisions),
                             stats={"runs": self.runs[ctx.job_id]})


class DiskFullAdapter(FaultAdapter):
    """Its worker may write at most DISK_LIMIT_BYTES per file: writing past it fails with
    EFBIG, as a full disk fails with ENOSPC (SIGXFSZ ignored so the write raises instead)."""

    def load(self, device: str) -> None:
        super().load(device)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_LIMIT_BYTES, hard))


class FillParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leave_bytes: int = Field(0, ge=0)  # free space left on the output's disk after filling


class FillingAdapter(FaultAdapter):
    """Fills the disk its output folder is on (a small tmpfs in the tests), leaving
    ``leave_bytes`` free, then returns an icosphere: the worker's writes meet a full disk."""

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        from tests.support.small_disks import fill

        ctx.step("filling the disk", 0.5)
        fill(ctx.out_dir.parent.parent, getattr(ctx.params, "leave_bytes", 0))
        return AdapterOutput(mesh=trimesh.creation.icosphere(subdivisions=3))


def fault_spec(adapter_id: str = "faulty", feature: str = "text_to_textured_mesh",
               entry: str = "FaultAdapter", params: str = "FaultParams") -> AdapterSpec:
    return AdapterSpec(
        id=adapter_id, feature=feature, label=f"Fake {adapter_id}",
        description="A test adapter that fails on purpose.",
        entry=f"tests.engine.fault_adapters:{entry}",
        params=f"tests.engine.fault_adapters:{params}",
        inputs=("mesh",), devices=("cpu",), timeout_s=60,
    )
