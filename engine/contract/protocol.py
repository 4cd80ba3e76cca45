"""What an adapter is, and what it gets while it runs: a progress callable and a cancel token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from engine.errors import ErrorCode, MeshsmithError
from engine.meshio.skin import Skin


class Cancelled(Exception):
    """Raised inside an adapter when the artist cancelled its job."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class RunContext:
    """Handed to ``Adapter.run``: where to write, what was asked, how to talk back."""

    job_id: str
    device: str
    out_dir: Path
    params: BaseModel
    report: Callable[[str, float], None]
    cancel: CancelToken = field(default_factory=CancelToken)

    def check_cancelled(self) -> None:
        if self.cancel.cancelled:
            raise Cancelled()

    def step(self, stage: str, fraction: float) -> None:
        """Report progress and stop here if the job was cancelled (call between steps)."""
        self.check_cancelled()
        self.report(stage, fraction)


@dataclass
class ExtraOutput:
    role: str
    path: Path
    media_type: str


@dataclass
class AdapterOutput:
    """What an adapter returns; ``engine.workers.results`` turns it into GLB, thumbnail and stats."""

    mesh: Any  # trimesh.Trimesh or trimesh.Scene: the primary result, written as the GLB
    stats: dict[str, Any] = field(default_factory=dict)
    extra_outputs: list[ExtraOutput] = field(default_factory=list)
    skin: Skin | None = None  # an armature bound to ``mesh`` (a single mesh), for auto_rig
    # What the artist should know that did not stop the job: a dropped texture, a target not
    # reached. One sentence each; they travel to JobResult.warnings.
    warnings: list[str] = field(default_factory=list)


class AdapterError(MeshsmithError):
    """An adapter's own failure, with a sentence for the artist."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.ADAPTER_FAILED) -> None:
        super().__init__(code, message)


@runtime_checkable
class Adapter(Protocol):
    def load(self, device: str) -> None:
        """Load the model (once per worker process); heavy imports belong here."""

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        """Do the job. Call ``ctx.step`` between steps; raise AdapterError for bad outcomes."""

    def unload(self) -> None:
        """Free the model's memory."""


def missing_members(obj: object) -> list[str]:
    """Names of the protocol's methods that ``obj`` lacks (empty when it is an Adapter)."""
    return [name for name in ("load", "run", "unload") if not callable(getattr(obj, name, None))]
