"""image_mesh_painting without weights: project a picture onto a mesh from a camera.

The picture is laid over the mesh as a camera sees it (front by default, a preset view or
any azimuth/elevation, orthographic or perspective), baked into a UV atlas (the mesh's own
UVs when they are usable, else xatlas), and what the camera cannot see is filled by
diffusion over the surface from what it can (``_bake``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext

_PICTURE_FILLS_FRAME = 0.9  # an object spanning this much of both sides is the whole frame


class ProjectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    view: Literal["front", "back", "left", "right", "top", "bottom", "custom"] = Field(
        "front", description="Where the camera looks from (custom: azimuth and elevation).")
    azimuth: float = Field(0.0, ge=-360.0, le=360.0,
                           description="Custom view: degrees about +Y; 0 = front, 90 = right.")
    elevation: float = Field(0.0, ge=-90.0, le=90.0,
                             description="Custom view: degrees above the horizon.")
    fov: float = Field(0.0, ge=0.0, le=120.0,
                       description="Field of view in degrees; 0 projects orthographically.")
    fit: Literal["auto", "object", "frame"] = Field(
        "auto", description="Lay the picture's object (or its whole frame) over the mesh.")
    texture_size: int = Field(1024, ge=128, le=4096, description="Atlas size in texels.")


class ProjectAdapter:
    def load(self, device: str) -> None:
        import cv2  # imported in the worker, never by the studio's own process

        cv2.setNumThreads(2)

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from engine.meshio.reader import load_image, load_mesh

        params: ProjectParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading the mesh and the picture", 0.02)
        mesh = load_mesh(inputs[0])
        image = load_image(inputs[1])
        ctx.step("laying out the UV atlas", 0.1)
        out, stats = paint(mesh, image, params, ctx.step, own_uvs(inputs[0], mesh))
        return AdapterOutput(mesh=out, stats=stats)


Step = Callable[[str, float], None]


def paint(mesh: Any, image: Any, params: ProjectParams, step: Step,
          layout: tuple[Any, Any, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """``mesh`` with ``image`` projected onto it and baked into a UV atlas: its own UVs when
    ``layout`` gives usable ones (vertices, faces, uv), else xatlas's. ``step`` gets the
    progress from 0.1 to 0.9. Also what the adapters record about it."""
    import trimesh

    from adapters.project_paint._bake import bake
    from adapters.project_paint._camera import VIEWS, make_camera

    vertices, faces, uv = layout or xatlas_layout(mesh, params.texture_size)
    azimuth, elevation = VIEWS.get(params.view, (params.azimuth, params.elevation))
    camera = make_camera(vertices, azimuth, elevation, params.fov)
    picture, fit = _place_picture(image, camera.project(vertices)[0], params.fit)
    result = bake(vertices, faces, uv, camera, picture, params.texture_size, step)
    step("building the textured mesh", 0.9)
    material = trimesh.visual.material.PBRMaterial(
        name="projected", baseColorTexture=_to_image(result.texture), metallicFactor=0.0,
        roughnessFactor=0.85)
    out = trimesh.Trimesh(vertices=vertices, faces=faces, process=False,
                          visual=trimesh.visual.TextureVisuals(uv=uv, material=material))
    return out, {"uv_source": "mesh" if layout else "xatlas", "fit": fit,
                 "view": [azimuth, elevation], "seen_fraction": round(result.seen_fraction, 4),
                 "texture_size": [params.texture_size, params.texture_size]}


def xatlas_layout(mesh: Any, size: int) -> tuple[Any, Any, Any]:
    """(vertices, faces, uv) from xatlas, charts packed for a ``size`` atlas."""
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(np.ascontiguousarray(mesh.vertices, dtype=np.float32),
                   np.ascontiguousarray(mesh.faces, dtype=np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding = size, max(2, size // 256)
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, indices, uvs = atlas.get_mesh(0)
    return (np.asarray(mesh.vertices, dtype=np.float64)[vmapping],
            indices.astype(np.int64), uvs.astype(np.float64))


def own_uvs(path: Path, mesh: Any) -> tuple[Any, Any, Any] | None:
    """The mesh's own (vertices, faces, uv) when they cover it once without overlaps;
    None when it has none or they tile, overlap or miss faces (xatlas lays out new ones)."""
    import trimesh
    from PIL import Image

    from engine.meshio.reader import GLB, GLTF, sniff

    source = mesh
    fmt = sniff(path)
    if fmt in (GLB, GLTF):  # meshio drops glTF UVs with the materials: read them again
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                source = trimesh.load(path, file_type=fmt.name, force="mesh", process=False)
        except Exception:
            return None
    uv = getattr(source.visual, "uv", None)
    if uv is None or len(uv) != len(source.vertices) or len(source.faces) != len(mesh.faces):
        return None
    uv = np.asarray(uv, dtype=np.float64)
    if not np.isfinite(uv).all() or uv.min() < -1e-4 or uv.max() > 1 + 1e-4:
        return None
    if not np.allclose(source.bounds, mesh.bounds, atol=1e-4 * float(mesh.scale)):
        return None
    faces = np.asarray(source.faces, dtype=np.int64)
    return (np.asarray(source.vertices, dtype=np.float64), faces, uv) if _no_overlap(uv, faces) \
        else None


def _no_overlap(uv: np.ndarray, faces: np.ndarray, size: int = 512) -> bool:
    """UV triangles' total area is about what they cover together: nothing is stacked."""
    from adapters._shared.raster import rasterize

    tri = uv[faces]
    area = 0.5 * np.abs((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
                        - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1])).sum()
    if area * size * size < 16:
        return False
    covered = (rasterize(uv * size, faces, size, size).face >= 0).sum()
    return area * size * size <= 1.1 * covered + 0.002 * size * size


def _place_picture(image: Any, plane: np.ndarray, mode: str) -> tuple[Any, str]:
    """The picture, its object coverage (None: all of it) and how it lies over the mesh."""
    from adapters._shared.mask import alpha_says_something, extract_foreground, split_channels
    from adapters.project_paint._bake import Picture
    from adapters.project_paint._camera import fit_frame, fit_object
    from engine.contract.protocol import AdapterError

    rgb, alpha = split_channels(image)
    height, width = rgb.shape[:2]
    if not alpha_says_something(alpha):
        alpha = None
    if mode != "frame":
        try:
            foreground = extract_foreground(image)
        except AdapterError:
            if mode == "object":
                raise
            foreground = None
        if foreground is not None:
            x0, y0, x1, y1 = foreground.bbox()
            whole = (x1 - x0) >= _PICTURE_FILLS_FRAME * width and \
                (y1 - y0) >= _PICTURE_FILLS_FRAME * height
            if mode == "object" or not whole:
                return Picture(rgb.astype(np.float32), foreground.alpha,
                               fit_object(plane, foreground.bbox())), "object"
    return Picture(rgb.astype(np.float32), alpha, fit_frame(plane, width, height)), "frame"


def _to_image(texture: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.clip(texture + 0.5, 0, 255).astype(np.uint8), "RGB")
