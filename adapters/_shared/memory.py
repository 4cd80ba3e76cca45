"""How a neural model uses GPU memory: its precision, and whether its weights wait on the CPU.

The plan is chosen when a model loads. On a GPU at least as large as the model's declared
peak (the publisher's figure, engine/storage/model_catalog.py) everything stays on the GPU in
fp16. On a smaller GPU the model's components are offloaded: whole components move to the GPU
only while they run ("model" offload, when the GPU holds at least half the peak), or layer by
layer ("sequential", the least memory and the slowest). The artist may force a precision or
an offload mode; the plan and why it was chosen go into every result's stats.

Offloading uses accelerate's hooks: ``cpu_offload_with_hook`` per component for "model",
``cpu_offload`` for "sequential" (the mechanisms behind diffusers' ``enable_model_cpu_offload``
and ``enable_sequential_cpu_offload``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Precision = Literal["auto", "fp16", "bf16", "fp32"]
Offload = Literal["auto", "none", "model", "sequential"]
_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


class MemoryParams(BaseModel):
    """The artist's override of the memory plan (a base for neural adapters' parameters)."""

    model_config = ConfigDict(extra="forbid")

    precision: Precision = Field("auto", description="auto: fp16 on a GPU, fp32 on the CPU; "
                                                     "bf16 needs a GPU that supports it.")
    offload: Offload = Field("auto", description="auto: keep the model on the GPU when it fits "
                                                 "its declared peak, else offload it to the CPU "
                                                 "(model: whole parts, sequential: layer by "
                                                 "layer, least memory, slowest).")


@dataclass(frozen=True)
class MemoryPlan:
    precision: str  # "fp16", "bf16" or "fp32"
    offload: str  # "none", "model" or "sequential"
    reason: str  # why, a phrase for the result's stats

    @property
    def dtype(self) -> Any:
        import torch

        return getattr(torch, _DTYPES[self.precision])

    def stats(self) -> dict[str, str]:
        return {"precision": self.precision, "offload": self.offload,
                "memory_plan": self.reason}


def plan_memory(device: str, declared_mb: int, gpu_mb: int, *, precision: str = "auto",
                offload: str = "auto", bf16_ok: bool = True) -> tuple[MemoryPlan, list[str]]:
    """The plan for a model that declares ``declared_mb`` (fp16) on a device with ``gpu_mb``,
    and what the artist should know about overrides that could not apply (pure: no torch)."""
    notes: list[str] = []
    if not device.startswith("cuda"):
        chosen = "fp32" if precision in ("auto", "fp16") else precision
        if precision == "fp16":
            notes.append("fp16 is for GPUs; this job ran on the CPU in fp32.")
        if offload in ("model", "sequential"):
            notes.append("Offloading to the CPU applies only on a GPU; this job ran on the CPU.")
        return MemoryPlan(chosen, "none", "on the CPU"), notes
    chosen = "fp16" if precision == "auto" else precision
    if chosen == "bf16" and not bf16_ok:
        notes.append("This GPU does not support bf16, so the model ran in fp16.")
        chosen = "fp16"
    if offload != "auto":
        return MemoryPlan(chosen, offload, "chosen by the artist"), notes
    need = declared_mb * (2 if chosen == "fp32" else 1)
    if need <= 0 or gpu_mb >= need:
        return MemoryPlan(chosen, "none", _fits(gpu_mb, need)), notes
    smaller = f"the GPU's {_gb(gpu_mb)} is less than the model's declared {_gb(need)}"
    if 2 * gpu_mb >= need:
        return MemoryPlan(chosen, "model", smaller), notes
    return MemoryPlan(chosen, "sequential", f"{smaller} (under half of it)"), notes


def _fits(gpu_mb: int, need: int) -> str:
    if need <= 0:
        return "no declared peak: kept on the GPU"
    return f"the GPU's {_gb(gpu_mb)} holds the model's declared {_gb(need)}"


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f} GB"


def place(modules: Sequence[Any], plan: MemoryPlan, device: str) -> None:
    """Put torch modules where the plan says, in the order they run: on ``device``, or on the
    CPU with hooks that bring them to ``device`` when they run."""
    if plan.offload == "none":
        for module in modules:
            module.to(device)
        return
    from accelerate import cpu_offload, cpu_offload_with_hook

    hook = None
    for module in modules:
        if plan.offload == "sequential":
            cpu_offload(module, execution_device=device)
        else:  # each part goes back to the CPU when the next one starts
            _, hook = cpu_offload_with_hook(module, device, prev_module_hook=hook)


def place_pipeline(pipe: Any, plan: MemoryPlan, device: str) -> Any:
    """The same for a diffusers pipeline: its own model offload; layer by layer through
    ``place`` on each component, the ones the pipeline keeps whole (``_exclude_from_cpu_
    offload``) on the device. (diffusers' ``enable_sequential_cpu_offload`` failed here inside
    accelerate's hook on the CLIP text encoder, with transformers 5.24 and accelerate 1.15.)"""
    import torch

    if plan.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif plan.offload == "sequential":
        kept = set(getattr(pipe, "_exclude_from_cpu_offload", []))
        parts = {n: m for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
        place([m for n, m in parts.items() if n not in kept], plan, device)
        for name in kept & set(parts):
            parts[name].to(device)
    else:
        pipe.to(device)
    return pipe
