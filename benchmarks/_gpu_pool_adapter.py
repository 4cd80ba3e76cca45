"""A small torch workload of known size for the GPU check's pool part (benchmarks/_gpu_pool.py).

Each adapter id keeps a block of ``SIZES[id]`` MB on its GPU from load to unload (a model's
weights) and allocates ``alloc_mb`` more while a job runs (its activations), then reports
torch's own figures. The sizes come from MESHSMITH_GPU_CHECK_SIZES, which only the GPU check
sets (JSON: {"adapter id": MB}), because the worker loads before it sees any job.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext

SIZES_ENV = "MESHSMITH_GPU_CHECK_SIZES"
MB = 2**20


class BlockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alloc_mb: int = Field(0, ge=0)  # allocated while the job runs
    hold_s: float = Field(0.0, ge=0.0, le=60.0)  # how long the job keeps running


class TorchBlock:
    def load(self, device: str) -> None:
        import torch

        sizes = json.loads(os.environ.get(SIZES_ENV, "{}"))
        self.device = device
        self.block = None
        mb = int(sizes.get(self._id(), 0))
        if mb:
            self.block = torch.empty(mb * MB, dtype=torch.uint8, device=device)
            self.block.fill_(1)  # touched, so it is really there
        if self._cuda:
            torch.cuda.synchronize(device)

    @property
    def _cuda(self) -> bool:
        return self.device.startswith("cuda")

    def _id(self) -> str:
        return type(self).__name__.lower()

    def unload(self) -> None:
        self.block = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import torch
        import trimesh

        p: BlockParams = ctx.params  # type: ignore[assignment]
        extra = None
        if p.alloc_mb:
            extra = torch.empty(p.alloc_mb * MB, dtype=torch.uint8, device=self.device)
            extra.fill_(1)
        steps = max(1, int(p.hold_s / 0.1))
        for i in range(steps):
            ctx.step("holding memory", i / steps)
            time.sleep(p.hold_s / steps)
        cuda = torch.cuda if self._cuda else None  # the CPU: the test of this code path
        peak = cuda.max_memory_allocated(self.device) // MB if cuda else 0
        del extra
        if cuda:
            cuda.empty_cache()
        return AdapterOutput(mesh=trimesh.creation.box(), stats={
            "pid": os.getpid(), "torch_peak_mb": int(peak),
            "torch_reserved_mb": int(cuda.memory_reserved(self.device) // MB) if cuda else 0,
            "torch_allocated_mb": int(cuda.memory_allocated(self.device) // MB) if cuda else 0})


# One class per adapter id (its lower-case name), so each knows its size without a job.
class Probe(TorchBlock):
    pass


class Hog(TorchBlock):
    pass


class Burst(TorchBlock):
    pass


class Big(TorchBlock):
    pass


class Left(TorchBlock):
    pass


class Right(TorchBlock):
    pass
