"""What the neural adapters share: the device and precision, finding and loading a model,
progress from inside a model, and giving memory back.

Device selection lives here and nowhere else: CUDA in fp16 when the engine hands the worker a
GPU, the CPU in fp32 otherwise. torch and the model libraries are imported only in functions
that a worker calls, never when the registry lists adapters.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.contract.protocol import AdapterError, RunContext
from engine.errors import MeshsmithError
from engine.storage.models import ModelStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu" or "cuda:N", as the engine chose
    dtype: Any  # torch.float16 on a GPU (half the memory, tensor cores), torch.float32 on CPU

    @classmethod
    def for_device(cls, device: str) -> Runtime:
        import torch

        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise AdapterError(f"The engine chose {device}, but torch sees no CUDA GPU.")
            torch.cuda.set_device(torch.device(device))
            return cls(device, torch.float16)
        return cls("cpu", torch.float32)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


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


Loader = Callable[[Path, Runtime, bool], Any]


class ModelSlot:
    """The one model a worker keeps loaded. ``load`` fills it with the default model when that
    is installed; a job that names another model (or runs before the default was installed)
    swaps it in at the start of ``run``, so a per-job ``model`` parameter always works."""

    def __init__(self, default_ref: str, loader: Loader) -> None:
        self.default_ref = default_ref
        self.loader = loader
        self.runtime: Runtime | None = None
        self.model: Any = None
        self.key: tuple[Path, bool] | None = None

    def preload(self, device: str) -> None:
        self.runtime = Runtime.for_device(device)
        status = ModelStore().status(self.default_ref)
        if status.state == "installed" and status.folder is not None:
            self._load(status.folder, allow_pickle=False)
        # Missing or broken: no failure here; a job names the model, or fails with how to get it.

    def get(self, ref: str | None, allow_pickle: bool, ctx: RunContext) -> Any:
        folder = ModelStore().locate(ref or self.default_ref, allow_pickle=allow_pickle)
        if self.key != (folder, allow_pickle):
            ctx.step("loading the model", 0.02)
            self.clear()
            self._load(folder, allow_pickle)
        return self.model

    def clear(self) -> None:
        self.model, self.key = None, None
        free_memory(self.runtime)

    def _load(self, folder: Path, allow_pickle: bool) -> None:
        assert self.runtime is not None, "load() runs before run()"
        try:
            self.model = self.loader(folder, self.runtime, allow_pickle)
        except (MeshsmithError, MemoryError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":
                raise  # the worker reports OUT_OF_MEMORY, and the engine may retry
            log.warning("loading %s failed", folder, exc_info=True)
            text = str(exc).strip()
            detail = (text.splitlines()[0][:200] if text else type(exc).__name__).rstrip(".")
            raise AdapterError(
                f"The model in {folder} could not be loaded ({detail}); download it again or "
                "pick another folder in Settings.") from None
        self.key = (folder, allow_pickle)


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
