"""Fake adapters for the soak benchmark: each job's parameters say how it misbehaves (the
benchmark draws them from a seeded generator, so a run can be repeated)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext
from engine.contract.spec import AdapterSpec


class SoakParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep_s: float = Field(0.05, ge=0.0, le=30.0)
    steps: int = Field(4, ge=1, le=1000)
    fail: bool = False  # raise an ordinary exception
    crash: bool = False  # the worker process dies (os._exit) mid-job
    oom_runs: int = Field(0, ge=0, le=2)  # raise OutOfMemoryError on this many first runs
    ignore_cancel: bool = False  # keeps going when cancelled: the engine must kill it


class SoakAdapter:
    def load(self, device: str) -> None:
        self.runs: dict[str, int] = {}

    def unload(self) -> None:
        self.runs = {}

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        p: SoakParams = ctx.params  # type: ignore[assignment]
        run = self.runs.pop(ctx.job_id, 0) + 1  # the engine retries an out-of-memory once
        for i in range(p.steps):
            if p.ignore_cancel:
                ctx.report(f"step {i + 1}", i / p.steps)
            else:
                ctx.step(f"step {i + 1}", i / p.steps)
            time.sleep(p.sleep_s / p.steps)
        if p.crash:
            os._exit(9)
        if p.fail:
            raise RuntimeError("the soak adapter was told to fail")
        if run <= p.oom_runs:
            import torch

            if run == 1:
                self.runs[ctx.job_id] = run
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return AdapterOutput(mesh=trimesh.creation.icosphere(subdivisions=1))


def soak_spec(adapter_id: str, feature: str) -> AdapterSpec:
    return AdapterSpec(
        id=adapter_id, feature=feature, label=f"Soak {adapter_id}",
        description="A soak-test adapter that sleeps, fails, crashes or runs out of memory.",
        entry="benchmarks._soak_adapters:SoakAdapter",
        params="benchmarks._soak_adapters:SoakParams",
        inputs=("mesh",), devices=("cpu",), timeout_s=60,
    )
