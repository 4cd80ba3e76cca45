"""Tencent's hy3dgen (PyPI ``hy3dgen`` 2.0.2) for the Hunyuan3D adapter: importing it, loading
a model folder, running the shape pipeline with progress and cancel, and its post-processing.

hy3dgen is an optional part (``make setup-hunyuan``: installed with ``--no-deps``, so none of
its web-app baggage comes along). A worker without it fails its job with one sentence saying
how to install it.

Loading goes through ``Hunyuan3DDiTFlowMatchingPipeline.from_single_file`` on the DiT's
``config.yaml`` and ``model.fp16.safetensors`` (the files ``from_pretrained`` resolves too, but
without its fall-back to the hub), so nothing is ever fetched behind the artist's back. A turbo
model's FlashVDM VAE, when its folder is there, replaces the DiT checkpoint's VAE, as
Tencent's turbo examples do (marching cubes, not the CUDA-only ``dmc``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters._shared.memory import MemoryPlan, place
from adapters._shared.neural import calls_reported
from engine.contract.protocol import AdapterError, RunContext
from engine.storage.model_check import hy3dgen_subfolders, hy3dgen_weights, read_yaml
from engine.storage.models import ModelStatus

log = logging.getLogger(__name__)
INSTALL_HINT = ("Hunyuan3D-2 needs the optional hy3dgen package ({missing} is missing here); "
                "run `make setup-hunyuan`, which installs hy3dgen 2.0.2 without its web-app "
                "dependencies.")
NO_SURFACE = ("Hunyuan3D-2 made no surface this time; try another seed, more steps or a "
              "picture with the object alone on a plain background.")
NUM_CHUNKS = 8000  # query points per volume-decoder call (hy3dgen's default)
BOUNDS = 1.01  # the cube the shape is decoded in (hy3dgen's default)


def shapegen() -> Any:
    """``hy3dgen.shapegen``, or AdapterError with how to install it. torchvision is lent from
    adapters/hunyuan3d/_vision_transforms.py for this one import when the real one cannot
    load (a CPU torch next to PyPI's CUDA torchvision), then taken back."""
    if "hy3dgen.shapegen" in sys.modules:
        return sys.modules["hy3dgen.shapegen"]
    import diffusers  # noqa: F401  (imported first, so they decide on torchvision for good)
    import transformers  # noqa: F401

    lent = {} if _torchvision_loads() else _lend_transforms()
    try:
        import hy3dgen.shapegen as module
    except ImportError as exc:
        log.warning("hy3dgen cannot be imported", exc_info=True)
        missing = (exc.name or "").split(".")[0] or "a module it needs"
        raise AdapterError(INSTALL_HINT.format(missing=missing)) from None
    finally:
        for name in lent:
            sys.modules.pop(name, None)
    logging.getLogger("hy3dgen.shapgen").setLevel(logging.WARNING)  # its logger's own name
    return module


def _torchvision_loads() -> bool:
    try:
        import torchvision.transforms  # noqa: F401
    except Exception:  # ImportError, or RuntimeError from a CUDA build beside a CPU torch
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            sys.modules.pop(name, None)
        return False
    return True


def _lend_transforms() -> dict[str, Any]:
    from adapters.hunyuan3d._vision_transforms import as_modules

    lent = as_modules()
    sys.modules.update(lent)
    return lent


@dataclass(frozen=True)
class Checkpoint:
    """What a Hunyuan3D model folder holds, read from its files."""

    dit: Path  # the DiT subfolder (config.yaml + weights with model, vae and conditioner)
    vae: Path | None  # a FlashVDM VAE subfolder (turbo models), when there is one
    turbo: bool  # step-distilled: a consistency scheduler, few steps
    multiview: bool  # takes front/left/back/right pictures

    @classmethod
    def read(cls, folder: Path, subfolders: tuple[str, ...]) -> Checkpoint:
        names = subfolders or hy3dgen_subfolders(folder)
        config = read_yaml(folder / names[0] / "config.yaml") or {}
        scheduler = str(config.get("scheduler", {}).get("target", ""))
        processor = str(config.get("image_processor", {}).get("target", ""))
        vaes = [folder / n for n in names[1:] if "vae" in n]
        return cls(folder / names[0], vaes[0] if vaes else None, "Consistency" in scheduler,
                   processor.endswith("MVImageProcessorV2"))


def load(status: ModelStatus, device: str, plan: MemoryPlan) -> tuple[Any, Checkpoint]:
    """The pipeline on the CPU in the plan's precision, then placed as the plan says."""
    module = shapegen()
    assert status.folder is not None
    checkpoint = Checkpoint.read(status.folder, status.info.subfolders)
    weights = hy3dgen_weights(checkpoint.dit)
    assert weights is not None, "the store checked the weights"
    pipe = module.Hunyuan3DDiTFlowMatchingPipeline.from_single_file(
        str(weights), str(checkpoint.dit / "config.yaml"), device="cpu", dtype=plan.dtype,
        use_safetensors=True)
    if checkpoint.turbo and checkpoint.vae is not None:
        from hy3dgen.shapegen.models.autoencoders import ShapeVAE

        vae_weights = hy3dgen_weights(checkpoint.vae)
        pipe.vae = ShapeVAE.from_single_file(str(vae_weights), str(checkpoint.vae / "config.yaml"),
                                             device="cpu", dtype=plan.dtype, use_safetensors=True)
        pipe.vae.enable_flashvdm_decoder(enabled=True, adaptive_kv_selection=True,
                                         topk_mode="mean", mc_algo="mc")
    place_pipe(pipe, plan, device)
    return pipe, checkpoint


def place_pipe(pipe: Any, plan: MemoryPlan, device: str) -> None:
    """Components on ``device`` or offloaded, in the order they run. Layer-by-layer offload
    suits the DiT and the VAE; the image encoder moves whole, because hy3dgen asks its DINOv2
    for its device and dtype, which must then be real ones."""
    import torch

    if plan.offload == "sequential":
        place([pipe.conditioner], MemoryPlan(plan.precision, "model", plan.reason), device)
        place([pipe.model, pipe.vae], plan, device)
    else:
        place([pipe.conditioner, pipe.model, pipe.vae], plan, device)
    # hy3dgen makes its latents on ``pipe.device``: the GPU, wherever the weights wait.
    pipe.device = torch.device(device)


def generate(pipe: Any, image: Any, ctx: RunContext, *, steps: int, guidance: float,
             octree: int, seed: int) -> Any:
    """hy3dgen's own call, denoising step by step (each step reports and may be cancelled),
    then the volume decoding per chunk and marching cubes; a trimesh, or AdapterError when
    the field has no surface."""
    import torch

    def after_step(index: int, _t: Any, _out: Any) -> None:
        ctx.step(f"denoising step {index + 1}/{steps}", 0.06 + 0.64 * (index + 1) / steps)

    ctx.step(f"denoising step 0/{steps}", 0.06)
    generator = torch.Generator("cpu").manual_seed(seed)  # the same shape on any device
    calls = math.ceil((octree + 1) ** 3 / NUM_CHUNKS)
    with _surface_reported(pipe, ctx), _quiet_stderr(), \
            calls_reported(pipe.vae.geo_decoder, ctx, "decoding the volume", 0.72, 0.86, calls):
        meshes = pipe(image=image, num_inference_steps=steps, guidance_scale=guidance,
                      generator=generator, octree_resolution=octree, num_chunks=NUM_CHUNKS,
                      box_v=BOUNDS, output_type="trimesh", enable_pbar=False,
                      callback=after_step, callback_steps=1)
    mesh = meshes[0] if meshes else None
    if mesh is None or len(mesh.faces) == 0:
        raise AdapterError(NO_SURFACE)
    return mesh


@contextlib.contextmanager
def _surface_reported(pipe: Any, ctx: RunContext) -> Iterator[None]:
    """A progress step where hy3dgen hands the decoded volume to marching cubes."""
    vae = pipe.vae
    extractor = vae.surface_extractor

    def extract(*args: Any, **kwargs: Any) -> Any:
        ctx.step("extracting the surface", 0.87)
        return extractor(*args, **kwargs)

    vae.surface_extractor = extract
    try:
        yield
    finally:
        vae.surface_extractor = extractor


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """hy3dgen prints a traceback when marching cubes finds no surface, then returns None:
    the artist gets NO_SURFACE instead, and the traceback goes to the worker's log."""
    caught = io.StringIO()
    try:
        with contextlib.redirect_stderr(caught):
            yield
    finally:
        if caught.getvalue().strip():
            log.info("hy3dgen said: %s", caught.getvalue().strip()[-2000:])


def post_process(mesh: Any, ctx: RunContext, *, remove_floaters: bool, max_faces: int
                 ) -> tuple[Any, dict[str, int]]:
    """hy3dgen's FloaterRemover, DegenerateFaceRemover and FaceReducer (pymeshlab), with a
    progress step each; their temporary files go to a folder removed afterwards."""
    module = shapegen()
    counts = {"faces_generated": len(mesh.faces)}
    with _scratch_tempdir():
        if remove_floaters:
            ctx.step("removing floaters", 0.88)
            mesh = module.FloaterRemover()(mesh)
            counts["faces_after_floaters"] = len(mesh.faces)
        ctx.step("removing degenerate faces", 0.9)
        mesh = module.DegenerateFaceRemover()(mesh)
        ctx.step(f"reducing to {max_faces} faces", 0.92)
        mesh = module.FaceReducer()(mesh, max_facenum=max_faces)
    if len(mesh.faces) == 0:
        raise AdapterError(NO_SURFACE)
    return mesh, counts


@contextlib.contextmanager
def _scratch_tempdir() -> Iterator[None]:
    """hy3dgen's post-processors leave their .ply files behind (delete=False)."""
    before = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="meshsmith-hy3dgen-") as scratch:
        tempfile.tempdir = scratch
        try:
            yield
        finally:
            tempfile.tempdir = before
