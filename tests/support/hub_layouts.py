"""The real file layouts of the hub repositories Meshsmith downloads, and a stand-in hub that
serves them, so download tests check exactly which files would be fetched (no network).

Sources: openai/shap-e's weight files as diffusers listed them in huggingface/diffusers issue
#5308 (prior and text encoder as .bin and .fp16.safetensors, ``shap_e_renderer`` only as .bin,
a ``renderer`` folder that is no pipeline component), plus the configs every diffusers
pipeline has; Tencent's Hunyuan3D-2mini as its README's model zoo and outside download lists
name it (per checkpoint: config.yaml, model.fp16.safetensors and a model.fp16.ckpt pickle).
The file contents here are small stand-ins; only names and formats are real.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np

SHAP_E_REPO = (
    ".gitattributes", "README.md", "model_index.json",
    "prior/config.json", "prior/diffusion_pytorch_model.bin",
    "prior/diffusion_pytorch_model.fp16.safetensors",
    "renderer/config.json", "renderer/diffusion_pytorch_model.bin",
    "renderer/diffusion_pytorch_model.fp16.safetensors",
    "scheduler/scheduler_config.json",
    "shap_e_renderer/config.json", "shap_e_renderer/diffusion_pytorch_model.bin",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
    "text_encoder/pytorch_model.bin",
    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
)
SHAP_E_INDEX = {"_class_name": "ShapEPipeline", "_diffusers_version": "0.18.0.dev0",
                "prior": ["diffusers", "PriorTransformer"],
                "scheduler": ["diffusers", "HeunDiscreteScheduler"],
                "shap_e_renderer": ["shap_e", "ShapERenderer"],
                "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
                "tokenizer": ["transformers", "CLIPTokenizer"]}
_MINI = ("hunyuan3d-dit-v2-mini", "hunyuan3d-dit-v2-mini-fast", "hunyuan3d-dit-v2-mini-turbo",
         "hunyuan3d-vae-v2-mini", "hunyuan3d-vae-v2-mini-turbo",
         "hunyuan3d-vae-v2-mini-withencoder")
HUNYUAN_MINI_REPO = (".gitattributes", "README.md", *(
    f"{sub}/{name}" for sub in _MINI
    for name in ("config.yaml", "model.fp16.ckpt", "model.fp16.safetensors")))
HUNYUAN_DIT_CONFIG = (
    "model:\n  target: hy3dgen.shapegen.models.Hunyuan3DDiT\n  params: {in_channels: 64}\n"
    "vae:\n  target: hy3dgen.shapegen.models.ShapeVAE\n  params: {num_latents: 512}\n"
    "conditioner:\n  target: hy3dgen.shapegen.models.SingleImageEncoder\n  params: {}\n"
    "scheduler:\n  target: hy3dgen.shapegen.schedulers.FlowMatchEulerDiscreteScheduler\n"
    "  params: {num_train_timesteps: 1000}\n"
    "image_processor:\n  target: hy3dgen.shapegen.preprocessors.ImageProcessorV2\n"
    "  params: {size: 512}\n")
HUNYUAN_VAE_CONFIG = "target: hy3dgen.shapegen.models.ShapeVAE\nparams: {num_latents: 512}\n"


def write_file(path: Path, repo_path: str) -> None:
    """A stand-in with the right format for ``repo_path``'s kind of file."""
    from safetensors.numpy import save_file  # numpy flavour: no torch here

    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".safetensors"):
        keys = ("model.w", "vae.w", "conditioner.w") if "hunyuan3d-dit" in repo_path else ("w",)
        save_file({k: np.arange(16, dtype=np.float16).reshape(4, 4) for k in keys}, str(path))
    elif name == "model_index.json":
        path.write_text(json.dumps(SHAP_E_INDEX))
    elif name == "config.yaml":
        path.write_text(HUNYUAN_DIT_CONFIG if "dit" in repo_path else HUNYUAN_VAE_CONFIG)
    elif name.endswith(".json"):
        path.write_text("{}")
    else:  # .bin, .ckpt, .txt, README: bytes whose content no check reads
        path.write_bytes(b"\x80\x02stand-in pickle" if name.endswith((".bin", ".ckpt"))
                         else b"#version: 0.2\n")


def build_repo(root: Path, files: tuple[str, ...]) -> Path:
    for repo_path in files:
        write_file(root / repo_path, repo_path)
    return root


class FakeHub:
    """Stands in for ``huggingface_hub.snapshot_download``: copies the files of a local repo
    that the patterns select, reporting progress through ``tqdm_class`` as the hub does."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = repos
        self.calls: list[dict] = []

    def snapshot_download(self, repo_id, *, local_dir, allow_patterns=None, ignore_patterns=None,
                          tqdm_class=None, **_kwargs):
        from huggingface_hub.utils import filter_repo_objects

        source = self.repos[repo_id]
        every = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
        chosen = list(filter_repo_objects(every, allow_patterns=allow_patterns,
                                          ignore_patterns=ignore_patterns))
        self.calls.append({"repo_id": repo_id, "files": chosen,
                           "thread": threading.current_thread()})
        bar = tqdm_class(total=len(chosen), desc=f"Fetching {len(chosen)} files") \
            if tqdm_class else None
        for name in chosen:
            (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, Path(local_dir) / name)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return str(local_dir)

    def install(self, monkeypatch) -> FakeHub:
        import huggingface_hub

        monkeypatch.setattr(huggingface_hub, "snapshot_download", self.snapshot_download)
        return self


def fetched(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
            and ".cache" not in p.parts}
