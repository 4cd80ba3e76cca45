"""image_to_raw_mesh from monocular depth: Depth Anything (through ``transformers``) estimates
how near each pixel is, and the estimate becomes a closed relief, like a carved plaque.

The front is the depth surface over the object (its cut-out when the picture has a
transparent or plain background, else the whole picture), the back a flat plate, and walls
join them along the outline: every edge has exactly two faces, so the mesh is watertight.

Orientation (as ``inflate``): seen from +Z looking down −Z with +Y up, the relief's outline is
the picture's; nearer parts stand further out towards +Z; the longer side measures 1 unit and
the mesh is centred on the origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from adapters._shared.memory import MemoryParams, MemoryPlan, place
from adapters._shared.neural import ModelSlot, Runtime, calls_reported, quiet
from engine.contract.protocol import AdapterError, AdapterOutput, RunContext
from engine.errors import ErrorCode
from engine.storage.models import ModelStatus


class DepthReliefParams(MemoryParams):
    resolution: int = Field(256, ge=16, le=1024,
                            description="Grid cells across the relief's longer side.")
    depth: float = Field(0.25, ge=0.01, le=1.0,
                         description="Relief height, as a share of the longer side.")
    base: float = Field(0.03, ge=0.005, le=0.5,
                        description="Thickness of the flat back plate, as a share of the "
                                    "longer side.")
    cutout: Literal["auto", "whole"] = Field(
        "auto", description="auto: only the object when the background is transparent or "
                            "plain (else the whole picture); whole: always the whole picture.")
    model: str | None = Field(None, description="A model id, hub id or local folder (empty: "
                                                "the installed default).")


class DepthReliefAdapter:
    def __init__(self) -> None:
        self._slot = ModelSlot("depth-anything-v2-small", _load_depth_model)

    def load(self, device: str) -> None:
        self._slot.preload(device)

    def unload(self) -> None:
        self._slot.clear()

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from engine.meshio.reader import load_image

        params: DepthReliefParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading the picture", 0.01)
        image = load_image(inputs[0])
        model = self._slot.get(params.model, ctx, params)
        ctx.step("finding the object", 0.1)
        rgb, mask, source = _foreground(image, params.cutout)
        disparity = estimate_depth(model, rgb, self._slot, ctx)
        ctx.step("building the relief", 0.7)
        mesh = relief_mesh(disparity, mask, params.resolution, params.depth, params.base)
        return AdapterOutput(mesh=mesh, stats={
            "foreground": source, "watertight": bool(mesh.is_watertight),
            "grid": list(relief_grid_shape(mask, params.resolution))[::-1],
            **self._slot.stats()}, warnings=list(self._slot.notes))


def _load_depth_model(status: ModelStatus, runtime: Runtime, plan: MemoryPlan
                      ) -> tuple[Any, Any]:
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    quiet("transformers")
    folder = status.folder
    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    # The store let pickle weights through only if the artist allowed them for this model.
    pickled = not any(folder.glob("*.safetensors"))
    net = AutoModelForDepthEstimation.from_pretrained(
        folder, dtype=plan.dtype, local_files_only=True, use_safetensors=None if pickled else True)
    place([net.eval()], plan, runtime.device)
    return processor, net


def estimate_depth(model: tuple[Any, Any], rgb: np.ndarray, slot: ModelSlot, ctx: RunContext
                   ) -> np.ndarray:
    """Relative inverse depth (larger = nearer) at the picture's own size, float32."""
    import torch

    processor, net = model
    batch = processor(images=rgb, return_tensors="pt")
    assert slot.runtime is not None and slot.plan is not None
    pixels = batch["pixel_values"].to(slot.runtime.device, slot.plan.dtype)
    # One forward pass: its transformer blocks are the steps that report and honour cancel.
    blocks = _transformer_blocks(net)
    ctx.step("estimating depth", 0.2)
    with torch.no_grad(), calls_reported(blocks, ctx, "estimating depth", 0.2, 0.65,
                                         len(blocks)):
        output = net(pixel_values=pixels)
        depth = processor.post_process_depth_estimation(
            output, target_sizes=[rgb.shape[:2]])[0]["predicted_depth"]
    depth = depth.float().cpu().numpy()
    if getattr(net.config, "depth_estimation_type", "relative") == "metric":
        depth = 1.0 / np.maximum(depth, 1e-3)  # metric models give distance: nearer = larger
    if not np.isfinite(depth).all():
        raise AdapterError("The depth model gave no usable depth for this picture "
                           "(non-finite values); try the CPU or another picture.")
    return depth.astype(np.float32)


def _transformer_blocks(net: Any) -> list[Any]:
    layers = getattr(getattr(getattr(net, "backbone", None), "encoder", None), "layer", None)
    return list(layers) if layers is not None else []


def _foreground(image: Any, cutout: str) -> tuple[np.ndarray, np.ndarray, str]:
    """RGB pixels, the mask the relief covers, and where the mask came from."""
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    whole = np.ones(rgb.shape[:2], dtype=bool)
    if cutout == "whole":
        return rgb, whole, "whole"
    from adapters._shared.mask import extract_foreground

    try:
        foreground = extract_foreground(image)
    except AdapterError:  # a busy or empty background: a relief of the whole scene still works
        return rgb, whole, "whole"
    mask = foreground.alpha >= 0.5
    return rgb, (mask if mask.any() else whole), foreground.source


# ------------------------------------------------------------------------------ relief mesh
def relief_grid_shape(mask: np.ndarray, resolution: int) -> tuple[int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    scale = min(1.0, resolution / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def relief_mesh(disparity: np.ndarray, mask: np.ndarray, resolution: int, depth: float,
                base: float) -> Any:
    """A closed relief over ``mask``: cells of a grid with the mask's bounding box, front at
    base + depth × normalized disparity, back at 0, walls along every outline edge."""
    import cv2
    import trimesh

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        raise AdapterError("The picture shows no object to make a relief of.",
                           ErrorCode.INVALID_INPUT)
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    gh, gw = relief_grid_shape(mask, resolution)
    weight = mask[box].astype(np.float32)
    # Area-average depth over object pixels only, so the background never bleeds in at the rim.
    summed = cv2.resize(disparity[box] * weight, (gw, gh), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(weight, (gw, gh), interpolation=cv2.INTER_AREA)
    cells = _manifold_cells(cover >= 0.5)
    if not cells.any():
        raise AdapterError("The object in the picture is too small to make a relief of; use a "
                           "larger picture of it.", ErrorCode.INVALID_INPUT)
    values = np.where(cover > 1e-6, summed / np.maximum(cover, 1e-6), 0.0)
    low, high = np.percentile(values[cells], [2.0, 98.0])
    near = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(values)
    size = max(gh, gw)
    heights = (base + depth * near) * size  # in cell units, like x and y
    vertices, faces = _closed_relief(cells, heights)
    vertices *= 1.0 / size
    vertices[:, 0] -= gw / (2.0 * size)
    vertices[:, 1] += gh / (2.0 * size)
    vertices[:, 2] -= (base + depth) / 2.0
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    mesh.remove_unreferenced_vertices()
    return mesh


def _manifold_cells(cells: np.ndarray) -> np.ndarray:
    """Fill the cells that would make two cells meet only at a corner (a vertex shared by two
    separate sheets is not manifold), until none do; filling never removes object."""
    cells = cells.copy()
    while True:
        a, b = cells[:-1, :-1], cells[:-1, 1:]
        c, d = cells[1:, :-1], cells[1:, 1:]
        diag = a & d & ~b & ~c
        anti = b & c & ~a & ~d
        if not (diag.any() or anti.any()):
            return cells
        cells[:-1, 1:] |= diag  # fill the top-right of each a–d pair
        cells[:-1, :-1] |= anti  # and the top-left of each b–c pair


def _closed_relief(cells: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices at cell corners (x = column, y = −row); front, back and wall triangles."""
    gh, gw = cells.shape
    n = (gh + 1) * (gw + 1)
    padded = np.pad(cells, 1)
    # A corner's height: the mean of the object cells around it (the rim's cells only).
    around = np.pad(np.where(cells, heights, 0.0), 1)
    count = padded[:-1, :-1].astype(float) + padded[:-1, 1:] + padded[1:, :-1] + padded[1:, 1:]
    total = around[:-1, :-1] + around[:-1, 1:] + around[1:, :-1] + around[1:, 1:]
    corner_z = np.where(count > 0, total / np.maximum(count, 1), 0.0).ravel()
    r, c = np.meshgrid(np.arange(gh + 1), np.arange(gw + 1), indexing="ij")
    xy = np.column_stack([c.ravel(), -r.ravel()]).astype(np.float64)
    vertices = np.vstack([np.column_stack([xy, corner_z]), np.column_stack([xy, np.zeros(n)])])

    def corner(rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        return rr * (gw + 1) + cc

    ci, cj = np.nonzero(cells)
    a, b = corner(ci, cj), corner(ci, cj + 1)  # a b  (clockwise seen from +Z: a→b→c→d)
    d, cc = corner(ci + 1, cj), corner(ci + 1, cj + 1)  # d c
    front = np.concatenate([np.column_stack([a, cc, b]), np.column_stack([a, d, cc])])
    back = np.concatenate([np.column_stack([a, b, cc]), np.column_stack([a, cc, d])]) + n
    walls = []
    # Each outline edge p→q, taken clockwise round its cell, gets an outward-facing quad.
    for (dr, dc), p, q in (((-1, 0), a, b), ((0, 1), b, cc), ((1, 0), cc, d), ((0, -1), d, a)):
        open_side = ~padded[ci + 1 + dr, cj + 1 + dc]
        p, q = p[open_side], q[open_side]
        walls += [np.column_stack([p, q, q + n]), np.column_stack([p, q + n, p + n])]
    faces = np.concatenate([front, back, *walls]).astype(np.int64)
    return vertices, faces
