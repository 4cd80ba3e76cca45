"""image_to_raw_mesh and image_to_textured_mesh without weights: silhouette inflation.

The object is cut out of the picture (``_shared.mask``), its silhouette is inflated into a
closed, rounded mesh (``_mesh``: Teddy / Monster Mash style), and for the textured
feature the picture is projected onto the front and mirrored onto the back. Front and back
share their UVs (a planar projection), so the rim has no UV seam: the texture is continuous
round the edge and the mesh stays closed even as glTF stores it.

Orientation: +Z faces the viewer of the picture, +Y is the picture's up, and the object's
longer side measures 1 unit, centred on the origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from engine.contract.protocol import AdapterError, AdapterOutput, RunContext
from engine.errors import ErrorCode

_THIN_LOSS = 0.002  # share of the object's pixels a grid may drop before it is refined
_MAX_SIDE = 4096  # larger pictures are scaled down first


class InflateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thickness: float = Field(1.0, ge=0.05, le=4.0,
                             description="How far the shape bulges: 1 gives round limbs.")
    resolution: int = Field(256, ge=32, le=1024,
                            description="Grid cells across the object's longer side.")
    smoothing: float = Field(0.5, ge=0.0, le=1.0,
                             description="How much the outline and surface are smoothed.")
    # Which feature asked: the worker re-parses a job's params with the spec it was started
    # with, and one warm worker serves both features, so the choice travels in the params.
    texture: SkipJsonSchema[bool] = False


class InflateTexturedParams(InflateParams):
    texture: SkipJsonSchema[bool] = True


class InflateAdapter:
    def load(self, device: str) -> None:
        import cv2  # imported in the worker, never by the studio's own process

        cv2.setNumThreads(2)
        self._cv2 = cv2

    def unload(self) -> None:
        self._cv2 = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from engine.meshio.reader import load_image

        params: InflateParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading the picture", 0.02)
        image = load_image(inputs[0])
        mesh, stats = build(image, params, ctx.step)
        return AdapterOutput(mesh=mesh, stats=stats)


def build(image: Any, params: InflateParams, step: Any) -> tuple[Any, dict[str, Any]]:
    """Picture → trimesh (textured when ``params.texture``); ``step(stage, fraction)`` reports
    progress (and raises when cancelled). Shared by the adapter and the benchmark."""
    import trimesh

    from adapters._shared.mask import extract_foreground
    from adapters.inflate import _mesh as im

    step("cutting out the object", 0.08)
    if max(image.size) > _MAX_SIDE:  # finer than any grid or texture we make: only costs memory
        image = image.copy()
        image.thumbnail((_MAX_SIDE, _MAX_SIDE), reducing_gap=2.0)
    foreground = extract_foreground(image)
    frame, field = _grid(foreground, params)
    if not (field > 0).any():
        raise AdapterError("The object in the picture is too small or thin to inflate; "
                           "use a larger picture of it.", ErrorCode.INVALID_INPUT)
    step("inflating the silhouette", 0.3)
    heights = im.solve_heights(field)
    step("building the surface", 0.5)
    points, rim, sample, faces = im.triangulate(field)
    grid_vertices, faces = im.close_surface(points, rim, sample, faces, heights, params.thickness)
    picture = im.to_picture(grid_vertices, frame)
    mesh = trimesh.Trimesh(vertices=_to_world(picture, foreground.bbox()), faces=faces,
                           process=False)
    iterations = round(12 * params.smoothing)
    if iterations:
        step("smoothing", 0.65)
        trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=0.53, iterations=iterations)
    stats: dict[str, Any] = {"foreground": foreground.source, "grid": [frame.cols, frame.rows],
                             "watertight": bool(mesh.is_watertight)}
    if params.texture:
        step("painting the texture", 0.8)
        mesh = _textured(mesh, foreground, frame)
        stats["texture_size"] = list(mesh.visual.material.baseColorTexture.size)
    return mesh, stats


def _grid(foreground: Any, params: InflateParams) -> tuple[Any, np.ndarray]:
    """The coverage grid at the asked resolution, refined (up to twice, at most 1024 cells)
    while it would lose thin parts of the silhouette."""
    from adapters.inflate import _mesh as im

    resolution = params.resolution
    while True:
        frame = im.plan_frame(foreground.bbox(), resolution)
        field = im.sample_field(foreground.alpha, frame, params.smoothing)
        if resolution >= min(1024, 4 * params.resolution) or frame.step <= 1.0 or \
                im.lost_share(foreground.alpha, frame, field) < _THIN_LOSS:
            return frame, field
        resolution = min(1024, 2 * resolution)


def _to_world(picture: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """Picture pixels → the mesh frame: centred, longer side 1, y up, z towards the viewer."""
    x0, y0, x1, y1 = bbox
    scale = 1.0 / max(x1 - x0, y1 - y0)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0])
    return (picture - centre) * scale * np.array([1.0, -1.0, 1.0])


def _from_world(vertices: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    size = max(x1 - x0, y1 - y0)
    return np.column_stack([vertices[:, 0] * size + (x0 + x1) / 2,
                            -vertices[:, 1] * size + (y0 + y1) / 2])


def _textured(mesh: Any, foreground: Any, frame: Any) -> Any:
    import trimesh

    from adapters._shared.texture import picture_texture

    texture, (tx0, ty0, tx1, ty1) = picture_texture(foreground.rgb, foreground.alpha,
                                                     frame.extent)
    # UVs from the final (smoothed) positions: the front view shows the picture exactly
    xy = _from_world(np.asarray(mesh.vertices), foreground.bbox())
    uv = np.column_stack([(xy[:, 0] - tx0) / (tx1 - tx0), 1.0 - (xy[:, 1] - ty0) / (ty1 - ty0)])
    material = trimesh.visual.material.PBRMaterial(
        name="picture", baseColorTexture=texture, metallicFactor=0.0, roughnessFactor=0.85)
    return trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=np.clip(uv, 0.0, 1.0),
                                                                material=material))
