"""What the neural adapters share: the device and its memory plan, finding and loading a
model, progress from inside a model, and giving memory back.

The device is the one the engine hands the worker; the precision and offload mode come from
the memory plan (adapters/_shared/memory.py): fp16 on a GPU that holds the model, offloaded on a
smaller one, fp32 on the CPU. torch and the model libraries are imported only in functions
that a worker calls, never when the registry lists adapters.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from adapters._shared.memory import MemoryParams, MemoryPlan, plan_memory
from engine.contract.protocol import AdapterError, RunContext
from engine.errors import MeshsmithError
from engine.storage.models import KNOWN_MODELS, ModelStatus, ModelStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu" or "cuda:N", as the engine chose
    gpu_mb: int = 0  # the GPU's memory, for the memory plan
    bf16_ok: bool = False

    @classmethod
    def for_device(cls, device: str) -> Runtime:
        import torch

        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise AdapterError(f"The engine chose {device}, but torch sees no CUDA GPU.")
            index = torch.device(device)
            torch.cuda.set_device(index)
            total = torch.cuda.get_device_properties(index).total_memory
            return cls(device, total // 2**20, bool(torch.cuda.is_bf16_supported()))
        return cls("cpu")

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def plan(self, declared_mb: int, asked: MemoryParams | None) -> tuple[MemoryPlan, list[str]]:
        asked = asked or MemoryParams()
        return plan_memory(self.device, declared_mb, self.gpu_mb, precision=asked.precision,
                           offload=asked.offload, bf16_ok=self.bf16_ok)


def quiet(*libraries: str) -> None:
    """Silence the libraries' own progress bars and advice: from the worker they would write
    over the CLI's progress bar. Call after importing them, before loading a model."""
    import importlib

    import huggingface_hub.utils as hub_utils

    hub_utils.disable_progress_bars()
    for name in libraries:
        library_logging = importlib.import_module(f"{name}.utils.logging")
        library_logging.disable_progress_bar()
        library_logging.set_verbosity_error()


# A loader gets the model's status (folder, catalog entry, whether its pickles are allowed),
# the device, and the memory plan; it returns the loaded model, placed as the plan says.
Loader = Callable[["ModelStatus", Runtime, MemoryPlan], Any]


class ModelSlot:
    """The one model a worker keeps loaded. ``preload`` fills it with the default model when
    that is installed; a job that names another model or memory plan (or runs before the
    default was installed) swaps it in at the start of ``run``."""

    def __init__(self, default_ref: str, loader: Loader) -> None:
        self.default_ref = default_ref
        self.loader = loader
        # A model folder the artist names has no catalog entry: it is taken to need what the
        # adapter's default model declares.
        self.declared_mb = next((i.peak_vram_mb for i in KNOWN_MODELS if i.id == default_ref), 0)
        self.runtime: Runtime | None = None
        self.model: Any = None
        self.status: ModelStatus | None = None
        self.plan: MemoryPlan | None = None
        self.notes: list[str] = []  # what the memory plan could not honour, for warnings
        self.key: tuple[Any, ...] | None = None

    def preload(self, device: str) -> None:
        self.runtime = Runtime.for_device(device)
        status = ModelStore().status(self.default_ref)
        if status.state == "installed" and status.folder is not None:
            self._load(status, self.runtime.plan(self._declared(status), None)[0])
        # Missing or broken: no failure here; a job names the model, or fails with how to get it.

    def get(self, ref: str | None, ctx: RunContext, asked: MemoryParams | None = None) -> Any:
        assert self.runtime is not None, "load() runs before run()"
        status = ModelStore().locate(ref or self.default_ref)
        plan, self.notes = self.runtime.plan(self._declared(status), asked)
        if self.key != _key(status, plan):
            ctx.step("loading the model", 0.02)
            self.clear()
            self._load(status, plan)
        return self.model

    def stats(self) -> dict[str, Any]:
        """What every result of this slot records: the model, its licence, the memory plan."""
        assert self.status is not None and self.plan is not None
        info = self.status.info
        stats: dict[str, Any] = {"model": info.id, "licence": info.licence, **self.plan.stats()}
        if info.licence_terms:
            stats["licence_terms"] = info.licence_terms
        return stats

    def _declared(self, status: ModelStatus) -> int:
        return status.info.peak_vram_mb or self.declared_mb

    def clear(self) -> None:
        self.model, self.key, self.status, self.plan = None, None, None, None
        free_memory(self.runtime)

    def _load(self, status: ModelStatus, plan: MemoryPlan) -> None:
        assert self.runtime is not None, "load() runs before run()"
        try:
            self.model = self.loader(status, self.runtime, plan)
        except (MeshsmithError, MemoryError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":
                raise  # the worker reports OUT_OF_MEMORY, and the engine may retry
            log.warning("loading %s failed", status.folder, exc_info=True)
            text = str(exc).strip()
            detail = (text.splitlines()[0][:200] if text else type(exc).__name__).rstrip(".")
            raise AdapterError(
                f"The model in {status.folder} could not be loaded ({detail}); download it "
                "again or import another folder on the Models page.") from None
        self.status, self.plan, self.key = status, plan, _key(status, plan)


def _key(status: ModelStatus, plan: MemoryPlan) -> tuple[Any, ...]:
    return (status.folder, status.info.id, plan.precision, plan.offload)


def free_memory(runtime: Runtime | None) -> None:
    """Give freed tensors back: Python's cycles first, then the CUDA caching allocator."""
    gc.collect()
    if runtime is not None and runtime.is_cuda:
        import torch

        torch.cuda.empty_cache()


def stepped(ctx: RunContext, stage: str, start: float, end: float, steps: int | None = None
            ) -> Callable[[Iterable[Any]], Iterator[Any]]:
    """A stand-in for a pipeline's ``progress_bar``: reports each item as a step and stops
    there when the job was cancelled (``ctx.step`` raises Cancelled between steps).

    ``steps`` is the number the artist asked for when the loop runs more items than that
    (Heun's sampler evaluates the model twice per step)."""

    def wrap(iterable: Iterable[Any]) -> Iterator[Any]:
        items = list(iterable)
        shown = steps or len(items)
        for i, item in enumerate(items):
            done = min(shown, math.floor(i * shown / max(1, len(items))) + 1)
            ctx.step(f"{stage} {done}/{shown}", start + (end - start) * i / max(1, len(items)))
            yield item

    return wrap


@contextlib.contextmanager
def calls_reported(modules: Any, ctx: RunContext, stage: str, start: float, end: float,
                   expected_calls: int) -> Iterator[None]:
    """Report progress (and honour cancel) before every forward call of ``modules`` (one
    torch module or a list), for model code that loops internally with no callback."""
    count = [0]

    def before(_module: Any, _args: Any) -> None:
        fraction = min(1.0, count[0] / max(1, expected_calls))
        count[0] += 1
        ctx.step(stage, start + (end - start) * fraction)

    handles = [m.register_forward_pre_hook(before)
               for m in (modules if isinstance(modules, list) else [modules])]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def normalized(mesh: Any) -> Any:
    """A generator's mesh as every generator here returns it: faces wound outwards when it is
    closed, centred on the origin, its longer side 1 unit long."""
    import numpy as np

    if mesh.is_watertight and mesh.volume < 0:
        mesh.invert()
    low, high = mesh.bounds
    mesh.apply_translation(-(low + high) / 2.0)
    size = float(np.max(high - low))
    if size > 0:
        mesh.apply_scale(1.0 / size)
    return mesh
