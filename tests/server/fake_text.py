"""A fast adapter for the text features: a sphere whose size follows the prompt's length."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext
from engine.contract.spec import AdapterSpec


class PromptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=500)
    seed: int | None = None


class PromptAdapter:
    def load(self, device: str) -> None:
        pass

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        ctx.step("shaping the prompt", 0.5)
        radius = 0.5 + len(ctx.params.prompt) / 100  # type: ignore[attr-defined]
        return AdapterOutput(mesh=trimesh.creation.icosphere(2, radius=radius),
                             stats={"prompt_chars": len(ctx.params.prompt)})  # type: ignore[attr-defined]


def prompt_spec(feature: str) -> AdapterSpec:
    return AdapterSpec(
        id="prompt_sphere", feature=feature, label="Fake prompt sphere",
        description="A test adapter: a sphere sized by the prompt.",
        entry="tests.server.fake_text:PromptAdapter", params="tests.server.fake_text:PromptParams",
        inputs=(), devices=("cpu",), timeout_s=120,
    )
