"""uv_unwrapping with xatlas: charts and a packed atlas, the faces left exactly as they were.

A textured input keeps its look: its base colour (and normal map) is baked from the old UVs
into the new atlas by closest point (``_bake``). An untextured one gets a UV checker, so the
layout shows at once, unless ``checker`` is off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext


class XatlasParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: int = Field(1024, ge=64, le=8192,
                            description="Atlas size in texels that charts are packed for; a "
                                        "textured input's texture is re-baked at this size.")
    padding: int = Field(2, ge=0, le=64, description="Texels of space kept between charts.")
    max_chart_area: float = Field(0.0, ge=0.0,
                                  description="Largest chart area (0 = no limit).")
    checker: bool = Field(True, description="Give an untextured input a UV checker texture "
                                            "(a textured one always keeps its own look).")


class XatlasAdapter:
    def load(self, device: str) -> None:
        import xatlas  # imported in the worker, never by the studio's own process

        self._xatlas = xatlas

    def unload(self) -> None:
        self._xatlas = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from adapters._shared.bake import read_surface

        params: XatlasParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.02)
        surface, warnings = read_surface(inputs[0])
        atlas = self._xatlas.Atlas()
        atlas.add_mesh(np.ascontiguousarray(surface.vertices, dtype=np.float32),
                       np.ascontiguousarray(surface.faces, dtype=np.uint32))
        ctx.step("cutting charts and packing the atlas", 0.1)
        chart_options = self._xatlas.ChartOptions()
        chart_options.max_chart_area = params.max_chart_area
        pack_options = self._xatlas.PackOptions()
        pack_options.resolution, pack_options.padding = params.resolution, params.padding
        atlas.generate(chart_options, pack_options)
        vmapping, indices, uvs = atlas.get_mesh(0)
        vertices, faces = surface.vertices[vmapping], indices.astype(np.int64)
        uv = uvs.astype(np.float64)
        if surface.textured:
            ctx.step("baking the texture into the new atlas", 0.6)
            result = _baked(surface, vertices, faces, uv, params.resolution)
        else:
            ctx.step("building the UV-mapped mesh", 0.85)
            result = _plain(surface, vertices, faces, uv, params.checker)
        return AdapterOutput(mesh=result, warnings=warnings, stats={
            "uv_charts": int(atlas.chart_count),
            "uv_utilization": round(float(np.mean(atlas.utilization)), 4),
            "atlas_size": [int(atlas.width), int(atlas.height)],
            "texture": "baked" if surface.textured else "checker" if params.checker else "none",
        })


def _baked(surface: object, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
           size: int) -> object:
    from adapters._shared.bake import textured_mesh

    return textured_mesh(surface, vertices, faces, uv, size)  # type: ignore[arg-type]


def _plain(surface: object, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
           checker: bool) -> object:
    import trimesh

    from adapters.textures import uv_checker

    look = surface.looks[0]  # type: ignore[attr-defined]
    if checker:
        material = trimesh.visual.material.PBRMaterial(
            name="uv_checker", baseColorTexture=uv_checker(), metallicFactor=0.0,
            roughnessFactor=0.8)
    else:
        material = look.material or trimesh.visual.material.PBRMaterial(
            name="plain", metallicFactor=0.0, roughnessFactor=0.8)
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, material=material))
