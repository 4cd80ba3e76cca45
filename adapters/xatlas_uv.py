"""uv_unwrapping with xatlas: charts and a packed atlas, the faces left exactly as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext


class XatlasParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: int = Field(1024, ge=64, le=8192,
                            description="Atlas size in texels that charts are packed for.")
    padding: int = Field(2, ge=0, le=64, description="Texels of space kept between charts.")
    max_chart_area: float = Field(0.0, ge=0.0,
                                  description="Largest chart area (0 = no limit).")


class XatlasAdapter:
    def load(self, device: str) -> None:
        import xatlas  # imported in the worker, never by the studio's own process

        self._xatlas = xatlas

    def unload(self) -> None:
        self._xatlas = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        from adapters.textures import uv_checker
        from engine.meshio.reader import load_mesh

        params: XatlasParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.02)
        mesh = load_mesh(inputs[0])
        atlas = self._xatlas.Atlas()
        atlas.add_mesh(np.ascontiguousarray(mesh.vertices, dtype=np.float32),
                       np.ascontiguousarray(mesh.faces, dtype=np.uint32))
        ctx.step("cutting charts and packing the atlas", 0.1)
        chart_options = self._xatlas.ChartOptions()
        chart_options.max_chart_area = params.max_chart_area
        pack_options = self._xatlas.PackOptions()
        pack_options.resolution, pack_options.padding = params.resolution, params.padding
        atlas.generate(chart_options, pack_options)
        ctx.step("building the UV-mapped mesh", 0.85)
        vmapping, indices, uvs = atlas.get_mesh(0)
        material = trimesh.visual.material.PBRMaterial(
            name="uv_checker", baseColorTexture=uv_checker(), metallicFactor=0.0,
            roughnessFactor=0.8,
        )
        result = trimesh.Trimesh(
            vertices=np.asarray(mesh.vertices)[vmapping], faces=indices.astype(np.int64),
            visual=trimesh.visual.TextureVisuals(uv=uvs, material=material), process=False,
        )
        return AdapterOutput(mesh=result, stats={
            "uv_charts": int(atlas.chart_count),
            "uv_utilization": round(float(np.mean(atlas.utilization)), 4),
            "atlas_size": [int(atlas.width), int(atlas.height)],
        })
