"""Hunyuan3D-2 (Tencent, through PyPI's ``hy3dgen`` 2.0.2): image_to_raw_mesh, and
image_to_textured_mesh by painting the picture onto the shape.

Models (the Models page fetches them): Hunyuan3D-2mini Turbo (the default: 0.6B, a few steps,
FlashVDM decoding), Hunyuan3D-2mini, Hunyuan3D-2 (1.1B) and Hunyuan3D-2mv, which takes up to
four pictures of the object (front, left, back, right). The picture is shown to the model on
white with the object cut out: its own transparency when it has one, else Meshsmith's cut-out
of a plain background (hy3dgen's own remover, rembg, is web-app baggage left out).

The shape pipeline denoises step by step (each step reports and can be cancelled), decodes a
volume and runs marching cubes; then hy3dgen's post-processing removes floaters and degenerate
faces and reduces the faces to a target. Textured results are painted by Meshsmith's
projection painting (adapters/project_paint/adapter.py) from the front, not by hy3dgen's paint
pipeline, whose custom rasterizer and mesh painter are C++/CUDA extensions that no wheel ships.

Orientation: hy3dgen's meshes are +Y up with the front towards +Z (its own texture cameras,
``texgen/differentiable_renderer``, put the front view, azimuth 0, on +Z), which is Meshsmith's
frame; as for every generator here the mesh is centred with its longer side 1 unit long. This
was reasoned from hy3dgen's code and not yet checked with real weights.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from adapters._shared.memory import MemoryParams, MemoryPlan
from adapters._shared.neural import ModelSlot, Runtime, normalized
from engine.contract.protocol import AdapterError, AdapterOutput, RunContext
from engine.errors import ErrorCode
from engine.storage.model_catalog import HUNYUAN_LICENCE, HUNYUAN_TERMS
from engine.storage.models import ModelStatus

VIEWS = ("front", "left", "back", "right")  # hy3dgen's multi-view order
_TURBO_STEPS, _STANDARD_STEPS = 5, 50  # Tencent's turbo examples; hy3dgen's default


class HunyuanParams(MemoryParams):
    model: str | None = Field(None, description="hunyuan3d-2mini-turbo (the default), "
                                                "hunyuan3d-2mini, hunyuan3d-2, hunyuan3d-2mv "
                                                "(several views), or a model folder.")
    steps: int | None = Field(None, ge=1, le=200, description="Denoising steps (empty: 5 for "
                                                              "turbo models, 50 for the others).")
    guidance_scale: float = Field(5.0, ge=0.0, le=20.0,
                                  description="How closely the shape follows the picture.")
    octree_resolution: int = Field(256, ge=16, le=512,
                                   description="Grid cells per side for the surface: finer "
                                               "and slower as it grows.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1,
                             description="The same seed and settings give the same shape "
                                         "(empty: a new one each run).")
    remove_background: Literal["auto", "never"] = Field(
        "auto", description="auto: cut the object out of a plain background when the picture "
                            "has no transparency; never: show the model the whole picture.")
    remove_floaters: bool = Field(True, description="Drop small loose pieces.")
    max_faces: int = Field(40000, ge=100, le=2_000_000,
                           description="Reduce the mesh to at most this many triangles.")
    views: str = Field("front,left,back,right",
                       description="Multi-view models: what each picture shows, in order.")

    @field_validator("views")
    @classmethod
    def _known_views(cls, value: str) -> str:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names or any(v not in VIEWS for v in names) or len(set(names)) != len(names):
            raise ValueError("views are front, left, back and right, each at most once")
        return ",".join(names)


class HunyuanTexturedParams(HunyuanParams):
    texture_size: int = Field(1024, ge=128, le=4096, description="Atlas size in texels.")


class HunyuanAdapter:
    """One warm worker serves both features; the params class says which (textured or not)."""

    def __init__(self) -> None:
        self._slot = ModelSlot("hunyuan3d-2mini-turbo", _load)

    def load(self, device: str) -> None:
        from adapters.hunyuan3d._pipeline import shapegen

        shapegen()  # a worker without hy3dgen says how to install it before any job waits
        self._slot.preload(device)

    def unload(self) -> None:
        self._slot.clear()

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from adapters.hunyuan3d._pipeline import generate, post_process

        params: HunyuanParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading the pictures", 0.01)
        pictures = [_load_picture(path) for path in inputs]
        pipe, checkpoint = self._slot.get(params.model, ctx, params)
        ctx.step("cutting out the object", 0.04)
        condition, notes = _condition(pictures, params, checkpoint.multiview)
        steps = params.steps or (_TURBO_STEPS if checkpoint.turbo else _STANDARD_STEPS)
        seed = params.seed if params.seed is not None else random.randrange(2**32)
        mesh = generate(pipe, condition.image, ctx, steps=steps, guidance=params.guidance_scale,
                        octree=params.octree_resolution, seed=seed)
        mesh, counts = post_process(mesh, ctx, remove_floaters=params.remove_floaters,
                                    max_faces=params.max_faces)
        mesh = normalized(mesh)
        stats = {"seed": seed, "steps": steps, "guidance_scale": params.guidance_scale,
                 "octree_resolution": params.octree_resolution, "max_faces": params.max_faces,
                 "views": condition.views, "background": condition.background, **counts,
                 "watertight": bool(mesh.is_watertight), **self._slot.stats(),
                 # hy3dgen and every Hunyuan3D checkpoint come under Tencent's licence, a
                 # model folder the artist named included.
                 "licence": HUNYUAN_LICENCE, "licence_terms": HUNYUAN_TERMS}
        warnings = [*self._slot.notes, *notes]
        if len(mesh.faces) > params.max_faces:
            warnings.append(f"The mesh kept {len(mesh.faces)} faces, more than the "
                            f"{params.max_faces} asked: fewer would break its surface apart.")
        if isinstance(params, HunyuanTexturedParams):
            mesh = _painted(mesh, condition.front, params, ctx, stats)
        return AdapterOutput(mesh=mesh, stats=stats, warnings=warnings)


def _load(status: ModelStatus, runtime: Runtime, plan: MemoryPlan) -> Any:
    from adapters.hunyuan3d._pipeline import load

    return load(status, runtime.device, plan)


def _load_picture(path: Path) -> Any:
    from engine.meshio.reader import load_image

    return load_image(path)


class _Condition:
    """What the model is shown: one picture, or a view → picture dict for multi-view models."""

    def __init__(self, image: Any, views: list[str], background: str, front: Any) -> None:
        self.image, self.views, self.background, self.front = image, views, background, front


def _condition(pictures: list[Any], params: HunyuanParams, multiview: bool
               ) -> tuple[_Condition, list[str]]:
    notes: list[str] = []
    cut = [_cut_out(p, params.remove_background) for p in pictures]
    if not multiview:
        if len(pictures) > 1:
            notes.append(f"This model takes one picture; the other {len(pictures) - 1} were "
                         "not used (hunyuan3d-2mv takes several views).")
        return _Condition(cut[0][0], ["front"], cut[0][1], cut[0][0]), notes
    names = params.views.split(",")
    if len(pictures) > len(names):
        raise AdapterError(f"{len(pictures)} pictures were given but views names only "
                           f"{len(names)} ({params.views}).", ErrorCode.INVALID_PARAMS)
    views = dict(zip(names, (image for image, _ in cut), strict=False))
    front = views.get("front", cut[0][0])
    return _Condition(views, list(views), cut[0][1], front), notes


def _cut_out(image: Any, mode: str) -> tuple[Any, str]:
    """The picture as RGBA with the object's coverage as alpha, and where that came from."""
    from PIL import Image

    from adapters._shared.mask import alpha_says_something, extract_foreground, split_channels

    _rgb, alpha = split_channels(image)
    if alpha_says_something(alpha):
        return image.convert("RGBA"), "alpha"
    if mode == "never":
        return image.convert("RGB"), "none"
    try:
        foreground = extract_foreground(image)
    except AdapterError:  # busy: the model sees the whole picture, as hy3dgen does then
        return image.convert("RGB"), "none"
    alpha8 = np.clip(foreground.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([foreground.rgb, alpha8]), "RGBA"), foreground.source


def _painted(mesh: Any, front: Any, params: HunyuanTexturedParams, ctx: RunContext,
             stats: dict[str, Any]) -> Any:
    """The front picture projected onto the shape and baked into a UV atlas."""
    from adapters.project_paint import ProjectParams, paint

    def step(stage: str, fraction: float) -> None:  # painting's 0.1–0.9 into 0.93–0.99
        ctx.step(stage, 0.93 + 0.06 * max(0.0, fraction - 0.1) / 0.8)

    step("laying out the UV atlas", 0.1)
    painted, painting = paint(mesh, front, ProjectParams(view="front", fit="object",
                                                         texture_size=params.texture_size), step)
    stats["painting"] = {"by": "projection", **painting}
    return painted
