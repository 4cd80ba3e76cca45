"""mesh_retopology by quadric decimation (fast-simplification): fewer triangles, same shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext


class DecimateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_faces: int = Field(5000, ge=4, le=50_000_000,
                              description="How many triangles the result should have.")
    aggressiveness: float = Field(7.0, ge=1.0, le=10.0,
                                  description="Higher is faster but less careful with shape.")
    preserve_border: bool = Field(False, description="Keep open borders where they are.")


class DecimateAdapter:
    def load(self, device: str) -> None:
        import fast_simplification

        self._simplify = fast_simplification.simplify

    def unload(self) -> None:
        self._simplify = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        import trimesh

        from adapters._mesh_repair import weld
        from engine.meshio.reader import load_mesh

        params: DecimateParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.05)
        mesh = load_mesh(inputs[0])
        # Collapses need shared vertices: split UV/normal seams would stay as cracks.
        vertices, faces, _ = weld(mesh.vertices, mesh.faces, 1e-8 * _diagonal(mesh.vertices))
        before = len(faces)
        ctx.step("simplifying", 0.2)
        if params.target_faces < before:
            vertices, faces = self._simplify(
                vertices, faces.astype(np.int32),
                target_count=params.target_faces, agg=params.aggressiveness,
                preserve_border=params.preserve_border,
            )
        ctx.step("cleaning up", 0.85)
        result = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
        result.remove_unreferenced_vertices()
        return AdapterOutput(mesh=result, stats={
            "faces_before": int(before), "target_faces": int(params.target_faces),
        })


def _diagonal(vertices: np.ndarray) -> float:
    return float(np.linalg.norm(np.ptp(vertices, axis=0))) if len(vertices) else 0.0
