"""Tiny random-weight Hunyuan3D-2 models in the real on-disk layout of Tencent's repositories,
for the Hunyuan3D adapter's tests.

Each model folder mirrors its hub repository: one subfolder per checkpoint holding the
``config.yaml`` hy3dgen reads and ``model.fp16.safetensors`` (the fp16 variant the download
fetches), whose keys are prefixed ``model.``, ``vae.`` and ``conditioner.`` as in Tencent's
files. The turbo model also has its FlashVDM VAE (``hunyuan3d-vae-v2-mini-turbo``). The classes
are hy3dgen's own (Hunyuan3DDiT, ShapeVAE, a DINOv2 image encoder built from an inline config,
the flow-matching schedulers, the image processors); only the sizes are small.

The weights are random, so the shapes these models make MEAN NOTHING: the tests prove the
code path (loading through hy3dgen's ``from_single_file``, progress per denoising step, cancel,
post-processing, a valid GLB), never the geometry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DIT_SUBFOLDER = {"hunyuan3d-2mini-turbo": "hunyuan3d-dit-v2-mini-turbo",
                 "hunyuan3d-2mini": "hunyuan3d-dit-v2-mini",
                 "hunyuan3d-2": "hunyuan3d-dit-v2-0",
                 "hunyuan3d-2mv": "hunyuan3d-dit-v2-mv"}
TURBO_VAE_SUBFOLDER = "hunyuan3d-vae-v2-mini-turbo"
_HIDDEN = 32  # DINOv2 width = the DiT's context width
_LATENT = 8  # VAE embedding = the DiT's channels


def _dino(view_num: int | None) -> dict[str, Any]:
    encoder = {"type": "DinoImageEncoderMV" if view_num else "DinoImageEncoder", "kwargs": {
        "config": {"attention_probs_dropout_prob": 0.0, "drop_path_rate": 0.0,
                   "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": _HIDDEN,
                   "image_size": 28, "initializer_range": 0.02, "layer_norm_eps": 1e-6,
                   "layerscale_value": 1.0, "mlp_ratio": 2, "model_type": "dinov2",
                   "num_attention_heads": 2, "num_channels": 3, "num_hidden_layers": 2,
                   "patch_size": 14, "qkv_bias": True, "use_swiglu_ffn": False},
        "image_size": 28, "use_cls_token": True}}
    if view_num:
        encoder["kwargs"]["view_num"] = view_num
    return {"target": "hy3dgen.shapegen.models.SingleImageEncoder",
            "params": {"main_image_encoder": encoder}}


def _vae_params() -> dict[str, Any]:
    return {"num_latents": 16, "embed_dim": _LATENT, "width": 32, "heads": 2,
            "num_decoder_layers": 1, "num_freqs": 4, "include_pi": False, "qkv_bias": False,
            "qk_norm": True, "scale_factor": 1.0}


def pipeline_config(*, turbo: bool = False, multiview: bool = False) -> dict[str, Any]:
    """A config.yaml of the shape Tencent publishes, with tiny sizes."""
    scheduler = ("ConsistencyFlowMatchEulerDiscreteScheduler" if turbo
                 else "FlowMatchEulerDiscreteScheduler")
    scheduler_params: dict[str, Any] = {"num_train_timesteps": 1000}
    if turbo:
        scheduler_params["pcm_timesteps"] = 100
    processor = "MVImageProcessorV2" if multiview else "ImageProcessorV2"
    return {
        "model": {"target": "hy3dgen.shapegen.models.Hunyuan3DDiT", "params": {
            "in_channels": _LATENT, "context_in_dim": _HIDDEN, "hidden_size": 32,
            "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
            "axes_dim": [16], "theta": 10000, "qkv_bias": True, "guidance_embed": turbo}},
        "vae": {"target": "hy3dgen.shapegen.models.ShapeVAE", "params": _vae_params()},
        "conditioner": _dino(4 if multiview else None),
        "scheduler": {"target": f"hy3dgen.shapegen.schedulers.{scheduler}",
                      "params": scheduler_params},
        "image_processor": {"target": f"hy3dgen.shapegen.preprocessors.{processor}",
                            "params": {"size": 64, "border_ratio": 0.15}},
    }


def build_hunyuan(folder: Path, model_id: str = "hunyuan3d-2mini-turbo", *,
                  no_surface: bool = False) -> Path:
    """Save a tiny model as ``folder/<model_id>/<subfolder>/...``; returns the model folder.

    ``no_surface`` makes the VAE's occupancy negative everywhere (a field with no inside), the
    case where marching cubes finds nothing."""
    import torch

    from adapters.hunyuan3d._pipeline import shapegen

    shapegen()  # hy3dgen as the adapter imports it (torchvision lent where it cannot load)
    from hy3dgen.shapegen.pipelines import instantiate_from_config

    turbo, multiview = model_id.endswith("turbo"), model_id.endswith("mv")
    config = pipeline_config(turbo=turbo, multiview=multiview)
    torch.manual_seed(0)
    parts = {name: instantiate_from_config(config[name]) for name in ("model", "vae",
                                                                     "conditioner")}
    if no_surface:
        _empty_field(parts["vae"])
    tensors = {f"{name}.{key}": value.detach().to(torch.float16).contiguous()
               for name, module in parts.items() for key, value in module.state_dict().items()}
    root = folder / model_id
    _write(root / DIT_SUBFOLDER[model_id], config, tensors)
    if turbo:
        vae = instantiate_from_config(config["vae"])
        _write(root / TURBO_VAE_SUBFOLDER,
               {"target": config["vae"]["target"], "params": _vae_params()},
               {k: v.detach().to(torch.float16).contiguous()
                for k, v in vae.state_dict().items()})
    return root


def _empty_field(vae: Any) -> None:
    import torch

    with torch.no_grad():
        vae.geo_decoder.output_proj.weight.zero_()
        vae.geo_decoder.output_proj.bias.fill_(-1.0)


def _write(subfolder: Path, config: dict[str, Any], tensors: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    subfolder.mkdir(parents=True, exist_ok=True)
    (subfolder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    save_file(tensors, str(subfolder / "model.fp16.safetensors"))
