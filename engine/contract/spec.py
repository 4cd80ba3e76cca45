"""Adapter specs and registries: static manifests whose code is imported lazily.

An ``AdapterSpec`` names its adapter class and parameter model as ``"module:Name"`` strings,
so listing adapters (``main.py adapters --json``, the Create panel) never imports torch or a
model library. The engine owns these types; ``adapters.registry`` holds the built-in specs.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.contract import param_checks
from engine.contract.protocol import Adapter, missing_members
from engine.errors import ErrorCode, MeshsmithError
from engine.jobs import FEATURES


class AdapterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    feature: str
    label: str
    description: str
    entry: str  # "module:Class" implementing engine.contract.protocol.Adapter
    params: str  # "module:Model", a pydantic model with extra="forbid"
    inputs: tuple[Literal["mesh", "image"], ...]
    devices: tuple[Literal["cuda", "cpu"], ...]
    peak_vram_mb: int = Field(0, ge=0)
    resident_vram_mb: int = Field(0, ge=0)  # kept on the GPU by an idle, warm worker
    resident_ram_mb: int = Field(0, ge=0)  # host RAM a warm CPU worker keeps (its model)
    timeout_s: float = Field(600.0, gt=0)
    # Runs on a GPU smaller than its peak by offloading to the CPU, down to this much memory
    # (0: it needs its whole peak).
    min_vram_mb: int = Field(0, ge=0)
    more_inputs: int = Field(0, ge=0)  # up to this many more inputs of its last kind (views)

    def request_vram_mb(self, largest_gpu_mb: int) -> int:
        """The GPU memory a job asks the scheduler for: its peak, or, when no GPU here is that
        large but the largest one can hold its offloaded form, all of that GPU."""
        if self.min_vram_mb and self.min_vram_mb <= largest_gpu_mb < self.peak_vram_mb:
            return largest_gpu_mb
        return self.peak_vram_mb

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, value: str) -> str:
        if value not in FEATURES:
            raise ValueError(f"unknown feature {value!r}")
        return value

    def params_model(self) -> type[BaseModel]:
        return _import(self.params)

    def parse_params(self, raw: dict[str, Any]) -> BaseModel:
        """The one parameter check (engine.contract.param_checks): CLI, engine and worker."""
        return param_checks.parse(self.params_model(), raw, self.id)

    def create(self) -> Adapter:
        adapter = _import(self.entry)()
        missing = missing_members(adapter)
        if missing:
            raise TypeError(f"{self.entry} is not an adapter: it lacks {', '.join(missing)}")
        return adapter

    def describe(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"entry", "params"})
        data["params_schema"] = self.params_model().model_json_schema()
        return data


class Registry:
    """A set of adapter specs: ``adapters.registry.default_registry()`` or a test's own."""

    def __init__(self, specs: tuple[AdapterSpec, ...] | list[AdapterSpec]) -> None:
        self.specs = tuple(specs)

    def find(self, feature: str, adapter_id: str | None = None) -> AdapterSpec:
        """The spec for ``feature`` (its first adapter unless ``adapter_id`` names one)."""
        if feature not in FEATURES:
            raise MeshsmithError(
                ErrorCode.INVALID_INPUT,
                f"Unknown feature {feature!r}; choose one of {', '.join(FEATURES)}.",
            )
        candidates = [s for s in self.specs if s.feature == feature]
        if adapter_id is not None:
            candidates = [s for s in candidates if s.id == adapter_id]
        if not candidates:
            ids = ", ".join(s.id for s in self.specs if s.feature == feature) or "none yet"
            wanted = f"adapter {adapter_id!r}" if adapter_id else "an adapter"
            raise MeshsmithError(ErrorCode.UNKNOWN_ADAPTER,
                                 f"There is no {wanted} for {feature} (available: {ids}).")
        return candidates[0]


@cache
def _import(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)
