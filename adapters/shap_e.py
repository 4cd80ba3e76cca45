"""Shap-E (OpenAI, through ``diffusers``): text_to_raw_mesh, text_to_textured_mesh and, from a
picture, image_to_raw_mesh.

The pipeline denoises a latent (reported step by step, cancellable between steps); its renderer
turns the latent into the weights of a small signed-distance MLP, samples that on a grid and
runs marching cubes (``decode_to_mesh``, the code path of ``output_type="mesh"``, called here
directly so the grid size is a parameter and its query batches report progress).

Orientation: Shap-E is Z-up with the object's front towards −Y (its turntable cameras orbit
the Z axis and start at −Y). Meshsmith's frame is +Y up with the front towards +Z, so
(x, y, z) → (x, z, −y); then, as for every generator here, the mesh is centred on the origin
with its longer side 1 unit long.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from adapters._shared.memory import MemoryParams, MemoryPlan, place_pipeline
from adapters._shared.neural import ModelSlot, Runtime, calls_reported, normalized, quiet, stepped
from engine.contract.protocol import AdapterError, AdapterOutput, RunContext
from engine.storage.model_check import PICKLE_SUFFIXES, weights_variant
from engine.storage.models import ModelStatus

_QUERY_BATCH = 4096  # points per MLP call in decode_to_mesh (diffusers' default)
# Shap-E's frame (Z up, front −Y) to Meshsmith's (Y up, front +Z): a proper rotation.
_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


class _ShapECommon(MemoryParams):
    steps: int = Field(64, ge=1, le=256, description="Denoising steps: more is slower and "
                                                     "usually cleaner.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1,
                             description="The same seed and settings give the same shape "
                                         "(empty: a new one each run).")
    mesh_resolution: int = Field(128, ge=16, le=256,
                                 description="Marching-cubes grid cells per side.")
    model: str | None = Field(None, description="A model id, hub id or local folder (empty: "
                                                "the installed default).")


class ShapEParams(_ShapECommon):
    prompt: str = Field(min_length=1, max_length=500, description="What to make.")
    guidance_scale: float = Field(15.0, ge=1.0, le=50.0,
                                  description="How closely the shape follows the prompt.")
    # Which feature asked: one warm worker serves both text features and re-parses a job's
    # params with the spec it started with, so the choice travels in the params.
    vertex_colors: SkipJsonSchema[bool] = False


class ShapETexturedParams(ShapEParams):
    vertex_colors: SkipJsonSchema[bool] = True


class ShapEImageParams(_ShapECommon):
    guidance_scale: float = Field(3.0, ge=1.0, le=50.0,
                                  description="How closely the shape follows the picture.")


class _ShapEBase:
    pipeline_class = "ShapEPipeline"
    default_model = "shap-e"

    def __init__(self) -> None:
        self._slot = ModelSlot(self.default_model, self._load_pipeline)

    def load(self, device: str) -> None:
        self._slot.preload(device)

    def unload(self) -> None:
        self._slot.clear()

    def _load_pipeline(self, status: ModelStatus, runtime: Runtime, plan: MemoryPlan) -> Any:
        import diffusers

        quiet("diffusers", "transformers")
        folder = status.folder
        # The variant the download fetched (fp16 safetensors); the renderer exists only as a
        # pickle, which the store lets through only when the artist allowed it for this model.
        pipe = getattr(diffusers, self.pipeline_class).from_pretrained(
            folder, dtype=plan.dtype, local_files_only=True,
            variant=weights_variant(folder, status.info),
            use_safetensors=None if _has_pickles(folder) else True)
        if not bool(pipe.shap_e_renderer.mesh_decoder.masks.any()):
            raise AdapterError(f"The Shap-E model in {folder} has an empty marching-cubes "
                               "table, so it cannot make meshes; download it again.")
        return place_pipeline(pipe, plan, runtime.device)

    def _condition(self, inputs: list[Path], params: Any) -> Any:
        raise NotImplementedError

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import torch

        params = ctx.params
        condition = self._condition(inputs, params)
        pipe = self._slot.get(params.model, ctx, params)
        seed = params.seed if params.seed is not None else random.randrange(2**32)
        # A CPU generator draws the same noise on any device: a seed means the same shape.
        generator = torch.Generator("cpu").manual_seed(seed)
        pipe.progress_bar = stepped(ctx, "denoising step", 0.05, 0.8, params.steps)
        latents = pipe(condition, num_inference_steps=params.steps, generator=generator,
                       guidance_scale=params.guidance_scale, output_type="latent").images
        colored = bool(getattr(params, "vertex_colors", False))
        decoded = _decode(pipe, latents[0][None], self._slot.runtime, params.mesh_resolution,
                          ctx)
        ctx.step("building the mesh", 0.93)
        mesh = to_trimesh(decoded, colored)
        stats = {"seed": seed, "steps": params.steps, "mesh_resolution": params.mesh_resolution,
                 "vertex_colors": colored, "watertight": bool(mesh.is_watertight),
                 **self._slot.stats()}
        return AdapterOutput(mesh=mesh, stats=stats, warnings=list(self._slot.notes))


class ShapETextAdapter(_ShapEBase):
    def _condition(self, inputs: list[Path], params: Any) -> Any:
        return params.prompt


class ShapEImageAdapter(_ShapEBase):
    pipeline_class = "ShapEImg2ImgPipeline"
    default_model = "shap-e-img2img"

    def _condition(self, inputs: list[Path], params: Any) -> Any:
        from PIL import Image

        from engine.meshio.reader import load_image

        image = load_image(inputs[0])
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            # Shap-E learned from renders on white: show it the object on white.
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")


def _has_pickles(folder: Path) -> bool:
    """Whether any component's weights are a pickle (the store checked they are allowed)."""
    return any(folder.glob(f"*/*{suffix}") for suffix in PICKLE_SUFFIXES)


def _decode(pipe: Any, latent: Any, runtime: Any, grid: int, ctx: RunContext) -> Any:
    """The renderer's marching cubes, with progress per query batch and a clear sentence when
    the field has no inside (the diffusers code fails on an empty surface)."""
    renderer = pipe.shap_e_renderer
    inside = [False]

    def watch(_module: Any, _args: Any, output: Any) -> None:
        inside[0] = inside[0] or bool((output.signed_distance > 0).any())

    batches = math.ceil(grid**3 / _QUERY_BATCH)
    handle = renderer.mlp.register_forward_hook(watch)
    try:
        with calls_reported(renderer.mlp, ctx, "extracting the surface", 0.8, 0.92, batches):
            return renderer.decode_to_mesh(latent, runtime.device, grid_size=grid,
                                           query_batch_size=_QUERY_BATCH)
    except Exception as exc:
        if inside[0] or type(exc).__name__ == "OutOfMemoryError":
            raise
        raise AdapterError("Shap-E made no surface this time; try another seed, more steps "
                           "or different words.") from None
    finally:
        handle.remove()


def to_trimesh(decoded: Any, colored: bool) -> Any:
    """diffusers' MeshDecoderOutput → a trimesh in Meshsmith's frame, outward-facing, with
    linear vertex colours (glTF's COLOR_0 is linear, as Shap-E's channels are) when asked."""
    import trimesh

    vertices = decoded.verts.detach().float().cpu().numpy().astype(np.float64) @ _TO_Y_UP.T
    faces = decoded.faces.detach().cpu().numpy().astype(np.int64)
    if len(faces) == 0:
        raise AdapterError("Shap-E made no surface this time; try another seed, more steps "
                           "or different words.")
    visual = None
    if colored and decoded.vertex_channels:
        rgb = np.stack([decoded.vertex_channels[c].detach().float().cpu().numpy()
                        for c in ("R", "G", "B")], axis=1)
        rgba = np.column_stack([np.clip(rgb, 0.0, 1.0) * 255.0, np.full(len(rgb), 255.0)])
        visual = trimesh.visual.ColorVisuals(vertex_colors=np.round(rgba).astype(np.uint8))
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, visual=visual, process=False)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise AdapterError("Shap-E made no surface this time; try another seed, more steps "
                           "or different words.")
    return normalized(mesh)
