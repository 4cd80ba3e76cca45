"""An adapter for benchmarks: busy for a while, streaming progress many times a second."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext
from engine.contract.spec import AdapterSpec


class ProgressParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(10.0, ge=0.0, le=3600.0)
    reports_per_s: float = Field(50.0, gt=0.0, le=1000.0)


class ProgressAdapter:
    def load(self, device: str) -> None:
        pass

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        p: ProgressParams = ctx.params  # type: ignore[assignment]
        steps = max(1, int(p.seconds * p.reports_per_s))
        for i in range(steps):
            ctx.step(f"working {i + 1}/{steps}", i / steps)
            time.sleep(1 / p.reports_per_s)
        return AdapterOutput(mesh=trimesh.creation.box())


def progress_spec(adapter_id: str, feature: str) -> AdapterSpec:
    return AdapterSpec(
        id=adapter_id, feature=feature, label=f"Benchmark {adapter_id}",
        description="Streams progress for benchmarks.",
        entry="benchmarks._bench_adapters:ProgressAdapter",
        params="benchmarks._bench_adapters:ProgressParams", inputs=("mesh",), devices=("cpu",),
    )
