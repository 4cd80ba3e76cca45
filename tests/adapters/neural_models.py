"""Tiny random-weight models for the neural adapters' tests, built here and saved with
``save_pretrained`` so the adapters load them through their own ``from_pretrained`` code.

The Shap-E pipelines are saved as a download of openai/shap-e leaves them
(tests/support/hub_layouts.py has the repository's listing): the prior, text and image
encoders as ``*.fp16.safetensors`` holding fp16 tensors, the renderer only as a pickle,
``shap_e_renderer/diffusion_pytorch_model.bin``, and the tokenizer as vocab.json, merges.txt,
special_tokens_map.json and tokenizer_config.json.

A random Shap-E renderer cannot make a mesh: its marching-cubes table is all zeros (the real
table ships inside the checkpoint's weights) and its signed-distance MLP has no inside. Both
are fixed here, in the fixture, never in the adapter: ``mc_table`` builds a real table in the
edge and corner order of diffusers' ``MeshDecoder``, and ``draw_an_egg`` sets the renderer's
weights so its field is an egg, longer along Shap-E's Y (front to back), coloured red by
height (Shap-E's Z) and blue by X. The tests then check that the adapter turned it upright.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# Hidden units sit near +20, where SiLU(x) ≈ x, so the renderer's MLP passes values through.
_OFFSET = 20.0
# posenc_nerf's layout for one point: x, y, z, then sin(2^k·x_d) at 3+3k+d, cos at 48+3k+d.
_COS = 48
# Inside where cos x + cos(y)/4 + cos z > 2.15: an egg about 0.9 wide and 1.8 long (in Y).
_THRESHOLD = 2.15


def mc_table() -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes cases (256×5×3 edge indices) and masks (256×5) for MeshDecoder.

    Corner bit b = dx + 2·dy + 4·dz; edges 0–3 run along x, 4–7 along y, 8–11 along z (the
    order of diffusers' ``_create_flat_edge_indices``). On each cube face, every run of inside
    corners gets one segment from the edge where the run starts to the edge where it ends
    (walking counter-clockwise seen from outside); the segments chain into loops, each loop a
    fan of triangles facing out of the solid. Opposite-corner faces stay separated on both
    cubes that share them, so the surface is closed."""
    edges = ([((0, y, z), (1, y, z)) for y, z in ((0, 0), (1, 0), (0, 1), (1, 1))]
             + [((x, 0, z), (x, 1, z)) for x, z in ((0, 0), (1, 0), (0, 1), (1, 1))]
             + [((x, y, 0), (x, y, 1)) for x, y in ((0, 0), (1, 0), (0, 1), (1, 1))])

    def bit(c: tuple[int, ...] | list[int]) -> int:
        return c[0] + 2 * c[1] + 4 * c[2]

    edge_of = {frozenset((bit(a), bit(b))): i for i, (a, b) in enumerate(edges)}
    quads = []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3
        for side in (0, 1):
            quad = []
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                corner = [0, 0, 0]
                corner[axis], corner[u], corner[v] = side, du, dv
                quad.append(bit(corner))
            quads.append(quad if side else quad[::-1])  # counter-clockwise from outside
    cases = np.zeros((256, 5, 3), np.int64)
    masks = np.zeros((256, 5), bool)
    for config in range(256):
        inside = [(config >> b) & 1 for b in range(8)]
        following: dict[int, int] = {}
        for quad in quads:
            for i in range(4):
                a, b = quad[i], quad[(i + 1) % 4]
                if inside[a] and not inside[b]:  # the run of inside corners ends here
                    j = i
                    while inside[quad[j % 4]]:
                        j -= 1
                    start = edge_of[frozenset((quad[j % 4], quad[(j + 1) % 4]))]
                    following[start] = edge_of[frozenset((a, b))]
        triangles = []
        while following:
            loop, edge = [], next(iter(following))
            while edge in following:
                loop.append(edge)
                edge = following.pop(edge)
            triangles += [(loop[0], loop[k], loop[k + 1]) for k in range(1, len(loop) - 1)]
        for k, triangle in enumerate(triangles):  # never more than 5 with this rule
            cases[config, k], masks[config, k] = triangle, True
    return cases, masks


def draw_an_egg(renderer: Any) -> None:
    """Make a (random) ShapERenderer draw the egg whatever the latent: the projection of the
    latent to MLP weights keeps only its bias, which holds the weights below."""
    import torch

    mlp = renderer.mlp.mlp
    hidden = mlp[0].weight.shape[0]
    projections = renderer.params_proj.projections
    first = np.zeros((hidden, 93), np.float32)
    first[0, _COS], first[0, _COS + 1], first[0, _COS + 2] = 1.0, 0.25, 1.0
    for d in range(3):
        first[1 + d, d] = 1.0  # units 1–3 carry x, y, z for the colours
    weights = [first] + [np.eye(hidden, dtype=np.float32)] * 3
    with torch.no_grad():
        for i, weight in enumerate(weights):
            projection = projections[f"nerstf__mlp__{i}__weight"].proj
            projection.weight.zero_()
            projection.bias.copy_(torch.from_numpy(weight).reshape(-1))
        for i, layer in enumerate(mlp):
            layer.bias.zero_()
            if 3 < i < len(mlp) - 1:  # the renderer's own hidden layers: identity
                layer.weight.zero_()
                layer.weight[:, :hidden] = torch.eye(hidden)
        mlp[0].bias[:4] = _OFFSET
        last = mlp[-1]
        last.weight.zero_()
        last.weight[0, 0], last.bias[0] = 1.0, -_OFFSET - _THRESHOLD  # sdf > 0 inside
        last.weight[3, 3], last.bias[3] = 2.0, -2.0 * _OFFSET  # red from Shap-E's z (up)
        last.weight[5, 1], last.bias[5] = 2.0, -2.0 * _OFFSET  # blue from x
        cases, masks = mc_table()
        renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
        renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))


def build_shap_e(folder: Path, *, image: bool = False) -> Path:
    """A tiny ShapEPipeline (or ShapEImg2ImgPipeline) saved under ``folder``; returns it."""
    import torch
    from diffusers import (
        HeunDiscreteScheduler,
        PriorTransformer,
        ShapEImg2ImgPipeline,
        ShapEPipeline,
    )
    from diffusers.pipelines.shap_e import ShapERenderer

    torch.manual_seed(0)
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=16, embedding_dim=32, num_embeddings=32,
        embedding_proj_dim=32, time_embed_dim=128, num_layers=1, clip_embed_dim=64,
        additional_embeddings=0, time_embed_act_fn="gelu", norm_in_type="layer",
        encoder_hid_proj_type=None, added_emb_type=None,
        embedding_proj_norm_type="layer" if image else None)
    renderer = ShapERenderer(param_shapes=((8, 93), (8, 8), (8, 8), (8, 8)), d_latent=32,
                             d_hidden=8, n_output=12, background=(0.1, 0.1, 0.1))
    draw_an_egg(renderer)
    scheduler = HeunDiscreteScheduler(
        beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample",
        use_karras_sigmas=True, clip_sample=True, clip_sample_range=1.0)
    common = {"prior": prior, "scheduler": scheduler, "shap_e_renderer": renderer}
    if image:
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        encoder = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=32, image_size=32, patch_size=8, projection_dim=32,
            intermediate_size=37, num_attention_heads=4, num_hidden_layers=2))
        processor = CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
            image_mean=[0.481, 0.458, 0.408], image_std=[0.269, 0.261, 0.276], resample=3)
        pipe = ShapEImg2ImgPipeline(image_encoder=encoder, image_processor=processor, **common)
    else:
        pipe = ShapEPipeline(text_encoder=_tiny_text_encoder(), tokenizer=_tiny_tokenizer(folder),
                             **common)
    target = folder / ("shap-e-img2img" if image else "shap-e")
    pipe.to(torch.float16).save_pretrained(target, variant="fp16")
    _pickle_the_renderer(target / "shap_e_renderer")
    if not image:
        _hub_tokenizer(folder / "tokenizer-source", target / "tokenizer")
    return target


def _pickle_the_renderer(part: Path) -> None:
    """openai/shap-e has its renderer only as ``diffusion_pytorch_model.bin``."""
    import torch
    from safetensors.torch import load_file

    saved = part / "diffusion_pytorch_model.fp16.safetensors"
    torch.save(load_file(str(saved)), part / "diffusion_pytorch_model.bin")
    saved.unlink()


def _hub_tokenizer(source: Path, target: Path) -> None:
    """The tokenizer files the hub has (no tokenizer.json)."""
    import shutil

    shutil.rmtree(target)
    target.mkdir()
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(source / name, target / name)
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    (target / "special_tokens_map.json").write_text(json.dumps(special))
    (target / "tokenizer_config.json").write_text(json.dumps(
        {**special, "model_max_length": 16, "tokenizer_class": "CLIPTokenizer"}))


def _tiny_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer over single letters, from a vocabulary written here (no hub)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(letter + "</w>", len(vocab))
    source = folder / "tokenizer-source"
    source.mkdir(parents=True, exist_ok=True)
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(source / "vocab.json"), str(source / "merges.txt"),
                         model_max_length=16)


def _tiny_text_encoder() -> Any:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    return CLIPTextModelWithProjection(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, projection_dim=32,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=56,
        max_position_embeddings=16))


def build_depth_anything(folder: Path) -> Path:
    """A tiny Depth Anything (Dinov2 backbone) with its image processor, saved under folder."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    torch.manual_seed(0)
    backbone = Dinov2Config(
        image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=4,
        num_attention_heads=2, intermediate_size=64, reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"])
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16, head_hidden_size=8, patch_size=14)
    target = folder / "depth-anything"
    DepthAnythingForDepthEstimation(config).save_pretrained(target)
    DPTImageProcessor(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
        resample=3, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(target)
    return target
