"""Small real adapters for engine tests: they run in real worker processes like any other."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext
from engine.contract.spec import AdapterSpec


class SleepyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(5, ge=1, le=10_000)
    step_s: float = Field(0.05, ge=0.0, le=60.0)
    fail: bool = False
    ignore_cancel: bool = False
    crash: bool = False
    segfault: bool = False  # dies as a native library's bug would: SIGSEGV
    warn: str = ""  # a warning sentence to return with the result


class SleepyColourParams(SleepyParams):
    """The same adapter's parameters for another feature, with one of its own (as Hunyuan3D
    has ``texture_size`` only when it paints)."""

    colour: str = ""


class SleepyAdapter:
    """Takes ``steps`` steps of ``step_s`` seconds, then returns a box scaled like its input."""

    def load(self, device: str) -> None:
        self.loaded_pid = os.getpid()

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        p: SleepyParams = ctx.params  # type: ignore[assignment]
        for i in range(p.steps):
            if p.ignore_cancel:
                ctx.report(f"step {i + 1} of {p.steps}", i / p.steps)
            else:
                ctx.step(f"step {i + 1} of {p.steps}", i / p.steps)
            time.sleep(p.step_s)
        if p.crash:
            os._exit(9)
        if p.segfault:
            import ctypes

            ctypes.string_at(0)  # reads address 0: the process gets SIGSEGV
        if p.fail:
            raise ValueError("the fake adapter was told to fail")
        return AdapterOutput(mesh=trimesh.creation.box(), stats={"steps": p.steps},
                             warnings=[p.warn] if p.warn else [])


class BrokenLoadAdapter(SleepyAdapter):
    def load(self, device: str) -> None:
        raise RuntimeError("weights missing")


def sleepy_spec(feature: str = "mesh_segmentation", adapter_id: str = "sleepy",
                timeout_s: float = 60.0, entry: str = "SleepyAdapter",
                devices: tuple[str, ...] = ("cpu",), vram: int = 0,
                params: str = "SleepyParams") -> AdapterSpec:
    return AdapterSpec(
        id=adapter_id, feature=feature, label=f"Fake {adapter_id}",
        description="A test adapter that sleeps.",
        entry=f"tests.engine.fake_adapters:{entry}", params=f"tests.engine.fake_adapters:{params}",
        inputs=("mesh",), devices=devices, peak_vram_mb=vram, resident_vram_mb=vram,
        timeout_s=timeout_s,
    )
