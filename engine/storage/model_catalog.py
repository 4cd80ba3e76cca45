"""The models Meshsmith knows: where each lives on the hub, the files its loader needs, its
licence and its publisher's memory figure.

``files`` lists what a download fetches, in the repository's real layout, with the fp16
variant of a weights file wherever the repository has one (the loaders ask for the same
variant). ``pickle_files`` are those that exist on the hub only as pickles (.bin/.ckpt), which
can run code when loaded: they are fetched and loaded only after the artist allowed it, once
per model (``ModelStore.allow_pickle``).

Sources for the layouts: openai/shap-e as listed in huggingface/diffusers issue #5308 (prior
and text encoder as fp16 safetensors, ``shap_e_renderer`` only as ``diffusion_pytorch_model
.bin``; the ``renderer`` folder beside it is not a pipeline component). openai/shap-e-img2img
is taken to follow the same conversion (its fp16 safetensors named by outside download lists;
its renderer, like Shap-E's, only as a pickle). Tencent's Hunyuan3D repositories hold one
subfolder per checkpoint with ``config.yaml`` and ``model.fp16.safetensors`` (Tencent's README
model zoo and examples, which load ``variant='fp16'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Layout = Literal["diffusers", "transformers", "hy3dgen"]

# Tencent's own figure (Hunyuan3D-2 README, "Models Zoo"): "It takes 6 GB VRAM for shape
# generation and 16 GB for shape and texture generation in total."
HUNYUAN_SHAPE_VRAM_MB = 6 * 1024
HUNYUAN_LICENCE = "Tencent Hunyuan 3D 2.0 Community"
HUNYUAN_TERMS = (
    "Tencent Hunyuan 3D 2.0 Community License: it does not apply in the European Union, the "
    "United Kingdom or South Korea, and neither the models nor what they make may be used "
    "there; a licensee whose products had over 1 million monthly active users must ask "
    "Tencent for a licence first; Tencent's acceptable use policy applies. hy3dgen's source "
    "files call it a non-commercial licence: read it before using results commercially.")
HUNYUAN_LICENCE_URL = "https://huggingface.co/tencent/Hunyuan3D-2/blob/main/LICENSE"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    hub_id: str
    licence: str
    approx_size_mb: int
    adapters: tuple[str, ...]
    layout: Layout
    files: tuple[str, ...] = ()  # what a download fetches (empty: the whole repository)
    pickle_files: tuple[str, ...] = ()  # among ``files``: pickles, fetched only when allowed
    variant: str | None = None  # "fp16": the weights files carry this variant in their name
    components: tuple[str, ...] = ()  # diffusers: what model_index.json must name
    subfolders: tuple[str, ...] = ()  # hy3dgen: checkpoint folders, the DiT's first
    licence_terms: str = ""  # shown before a download and kept in each result's stats
    licence_url: str = ""
    peak_vram_mb: int = 0  # the publisher's figure for the fp16 model (0: none published)

    @property
    def marker(self) -> str:
        """The file whose presence says "this folder holds the model" (hub cache lookups)."""
        if self.layout == "hy3dgen":
            return f"{self.subfolders[0]}/config.yaml"
        return "model_index.json" if self.layout == "diffusers" else "config.json"


def _diffusers(components: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return ("model_index.json", *(f"{part}/{name}" for part, names in components.items()
                                  for name in names))


_TOKENIZER = ("merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json")
_RENDERER_PICKLE = "shap_e_renderer/diffusion_pytorch_model.bin"
SHAP_E_FILES = _diffusers({
    "prior": ("config.json", "diffusion_pytorch_model.fp16.safetensors"),
    "scheduler": ("scheduler_config.json",),
    "shap_e_renderer": ("config.json", "diffusion_pytorch_model.bin"),
    "text_encoder": ("config.json", "model.fp16.safetensors"),
    "tokenizer": _TOKENIZER,
})
SHAP_E_IMG2IMG_FILES = _diffusers({
    "image_encoder": ("config.json", "model.fp16.safetensors"),
    "image_processor": ("preprocessor_config.json",),
    "prior": ("config.json", "diffusion_pytorch_model.fp16.safetensors"),
    "scheduler": ("scheduler_config.json",),
    "shap_e_renderer": ("config.json", "diffusion_pytorch_model.bin"),
})


def _hunyuan(model_id: str, name: str, hub_id: str, size_mb: int, subfolders: tuple[str, ...]
             ) -> ModelInfo:
    files = tuple(f"{sub}/{f}" for sub in subfolders
                  for f in ("config.yaml", "model.fp16.safetensors"))
    return ModelInfo(model_id, name, hub_id, HUNYUAN_LICENCE, size_mb, ("hunyuan3d",),
                     "hy3dgen", files, variant="fp16", subfolders=subfolders,
                     licence_terms=HUNYUAN_TERMS, licence_url=HUNYUAN_LICENCE_URL,
                     peak_vram_mb=HUNYUAN_SHAPE_VRAM_MB)


# Neither OpenAI nor the Depth Anything authors publish a memory figure: Shap-E's and Depth
# Anything's peaks are Meshsmith's fp16 estimates until measured (the engine corrects them).
# Sizes are approximate: Shap-E's from the hub at the time of writing; Hunyuan3D's from the
# parameter counts in Tencent's model zoo (0.6B and 1.1B DiTs, fp16, plus the DINOv2 encoder and
# the VAE in the same file) and outside reports of the 2.0 checkpoint (about 4.7 GB).
KNOWN_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("shap-e", "Shap-E", "openai/shap-e", "MIT", 2600, ("shap_e",), "diffusers",
              SHAP_E_FILES, (_RENDERER_PICKLE,), "fp16",
              ("prior", "scheduler", "shap_e_renderer", "text_encoder", "tokenizer"),
              peak_vram_mb=5000),
    ModelInfo("shap-e-img2img", "Shap-E image-to-3D", "openai/shap-e-img2img", "MIT", 3300,
              ("shap_e_img2img",), "diffusers", SHAP_E_IMG2IMG_FILES, (_RENDERER_PICKLE,),
              "fp16",
              ("image_encoder", "image_processor", "prior", "scheduler", "shap_e_renderer"),
              peak_vram_mb=6000),
    ModelInfo("depth-anything-v2-small", "Depth Anything V2 Small",
              "depth-anything/Depth-Anything-V2-Small-hf", "Apache-2.0", 100,
              ("depth_relief",), "transformers",
              ("config.json", "model.safetensors", "preprocessor_config.json"),
              peak_vram_mb=1500),
    _hunyuan("hunyuan3d-2mini-turbo", "Hunyuan3D-2mini Turbo", "tencent/Hunyuan3D-2mini",
             2600, ("hunyuan3d-dit-v2-mini-turbo", "hunyuan3d-vae-v2-mini-turbo")),
    _hunyuan("hunyuan3d-2mini", "Hunyuan3D-2mini", "tencent/Hunyuan3D-2mini", 2300,
             ("hunyuan3d-dit-v2-mini",)),
    _hunyuan("hunyuan3d-2", "Hunyuan3D-2", "tencent/Hunyuan3D-2", 4700,
             ("hunyuan3d-dit-v2-0",)),
    _hunyuan("hunyuan3d-2mv", "Hunyuan3D-2mv (multi-view)", "tencent/Hunyuan3D-2mv", 4700,
             ("hunyuan3d-dit-v2-mv",)),
)


def model_info(model_id: str) -> ModelInfo:
    """The catalog entry of a known model id (the registry's VRAM figures come from here)."""
    return next(info for info in KNOWN_MODELS if info.id == model_id)
