"""mesh_segmentation by spectral clustering of the face graph, with min-cut boundaries.

One mesh in, exactly ``num_parts`` connected parts out: a GLB scene with one named node per
part (``part_00`` is the largest) and a JSON report with every input face's part.
"""

from __future__ import annotations

import colorsys
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.contract.protocol import AdapterError, AdapterOutput, ExtraOutput, RunContext
from engine.errors import ErrorCode

if TYPE_CHECKING:
    import trimesh

    from adapters._shared.repair import HalfEdges

REPORT_NAME = "segmentation.json"


class SegmentationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_parts: int | None = Field(
        None, ge=2, le=32, description="How many parts to cut the mesh into; empty: as many as "
        "the mesh's creases and joints mark (2 to 12).")
    refine_boundaries: bool = Field(
        True, description="Move part boundaries onto nearby creases with a minimum cut.")

    @field_validator("num_parts", mode="before")
    @classmethod
    def _blank_is_automatic(cls, value: object) -> object:
        """A form's emptied text field means "choose for me", as leaving it out does."""
        return None if isinstance(value, str) and not value.strip() else value


class SpectralSegmentationAdapter:
    def load(self, device: str) -> None:
        import scipy.sparse.csgraph  # noqa: F401  (warm the worker: the first job is faster)

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from engine.meshio.reader import load_mesh

        params: SegmentationParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.02)
        mesh = load_mesh(inputs[0])
        k = params.num_parts
        if len(mesh.faces) < (k or 2):
            n = len(mesh.faces)
            raise AdapterError(f"{inputs[0].name} has {n} triangle{'s' if n != 1 else ''}, "
                               f"too few to cut into {k or 2} parts.", ErrorCode.INVALID_INPUT)
        cut = segment_mesh(mesh, k, params.refine_boundaries,
                           lambda stage, f: ctx.step(stage, 0.05 + 0.8 * f))
        ctx.step("writing parts", 0.88)
        scene = parts_scene(cut.mesh, cut.labels)
        report = _write_report(ctx.out_dir / REPORT_NAME, cut.mesh, cut.labels)
        return AdapterOutput(
            mesh=scene, stats={"parts": int(cut.labels.max()) + 1, "input_faces": len(mesh.faces),
                               "parts_chosen": k is None},
            extra_outputs=[ExtraOutput("report", report, "application/json")])


@dataclass(frozen=True)
class Segmentation:
    mesh: trimesh.Trimesh  # the input welded and consistently wound, its faces in order
    labels: np.ndarray  # per face, its part: 0..k-1, largest part first


def segment_mesh(mesh: trimesh.Trimesh, k: int | None, refine: bool = True,
                 step: Callable[[str, float], None] | None = None) -> Segmentation:
    """Cut ``mesh`` into ``k`` connected parts along its concave creases and smooth joints
    (``k`` None: as many as they mark).

    The mesh is first scaled to unit diagonal (every threshold is then independent of the
    model's units), welded (seams must not split the face graph) and wound consistently
    (concavity is read from normals: faces wound the wrong way would turn creases inside
    out); one grouping of its edges serves both that repair and the face graph."""
    import trimesh

    from adapters._shared.repair import half_edges, orient_faces, weld

    step = step or (lambda stage, fraction: None)
    step("preparing the mesh", 0.0)
    lo, hi = mesh.bounds
    centre, size = (lo + hi) / 2.0, float(np.linalg.norm(hi - lo))
    if not math.isfinite(size) or size <= 0:
        raise AdapterError("The mesh has no extent: all its vertices are at one point.",
                           ErrorCode.INVALID_INPUT)
    vertices, faces, _ = weld((np.asarray(mesh.vertices) - centre) / size, mesh.faces, 1e-8)
    edges = half_edges(faces)
    faces = orient_faces(vertices, faces, edges)
    work = trimesh.Trimesh(vertices, faces, process=False)
    labels = segment_faces(work, k, refine, lambda stage, f: step(stage, 0.1 + 0.9 * f), edges)
    return Segmentation(trimesh.Trimesh(vertices * size + centre, faces, process=False), labels)


def segment_faces(mesh: trimesh.Trimesh, k: int | None, refine: bool = True,
                  step: Callable[[str, float], None] | None = None,
                  edges: HalfEdges | None = None) -> np.ndarray:
    """A part label (0..k-1, largest part first; ``k`` None: chosen) for every face of
    ``mesh``, which must be welded, consistently wound and of unit size (``segment_mesh``
    makes it so). ``edges``: its faces' half-edges, when the caller has grouped them."""
    from adapters.segmentation._cluster import auto_part_count, cluster_exact
    from adapters.segmentation._graph import build_face_graph, coarsen
    from adapters.segmentation._refine import refine_boundaries

    step = step or (lambda stage, fraction: None)
    step("building the face graph", 0.0)
    graph = build_face_graph(mesh, edges)
    step("grouping faces into patches", 0.15)
    coarse = coarsen(graph)
    if k is None:
        step("choosing the part count", 0.2)
        k = auto_part_count(coarse.weights, coarse.lengths, coarse.area)
    step("spectral clustering", 0.3)
    labels = cluster_exact(coarse.weights, coarse.area, k)[coarse.patch_of]
    if refine:
        # about two patches across each way: where the coarse boundary may be wrong
        reach = 2.0 * math.sqrt(graph.area.sum() / max(len(coarse.area), 1))
        step("refining boundaries", 0.6)
        labels = refine_boundaries(
            graph.matrix(graph.snap_cost), graph.matrix(graph.dist), labels, graph.area, reach,
            lambda f: step("refining boundaries", 0.6 + 0.4 * f))
    by_area = np.argsort(-np.bincount(labels, weights=graph.area, minlength=k), kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[by_area] = np.arange(k)
    return rank[labels]


def part_colour(i: int) -> list[int]:
    """A distinct, pleasant colour per part (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((0.08 + i * 0.618034) % 1.0, 0.55, 0.9)
    return [round(r * 255), round(g * 255), round(b * 255), 255]


def parts_scene(mesh: trimesh.Trimesh, labels: np.ndarray) -> trimesh.Scene:
    """One node and mesh per part, named part_00, part_01, ..., each with its own colour."""
    import trimesh

    scene = trimesh.Scene()
    faces = np.asarray(mesh.faces)
    for i in range(int(labels.max()) + 1):
        own = faces[labels == i]
        used, inverse = np.unique(own, return_inverse=True)
        material = trimesh.visual.material.PBRMaterial(
            name=f"part_{i:02d}", baseColorFactor=part_colour(i), metallicFactor=0.0,
            roughnessFactor=0.8)
        part = trimesh.Trimesh(
            vertices=np.asarray(mesh.vertices)[used], faces=inverse.reshape(-1, 3),
            visual=trimesh.visual.TextureVisuals(material=material), process=False)
        scene.add_geometry(part, node_name=f"part_{i:02d}", geom_name=f"part_{i:02d}")
    return scene


def _write_report(path: Path, mesh: trimesh.Trimesh, labels: np.ndarray) -> Path:
    area = np.bincount(labels, weights=mesh.area_faces, minlength=int(labels.max()) + 1)
    count = np.bincount(labels, minlength=len(area))
    report = {
        "method": "spectral clustering of the face graph weighted by concavity and thickness "
                  "change, min-cut refined",
        "faces": len(labels),
        "parts": [{"name": f"part_{i:02d}", "faces": int(count[i]), "area": float(area[i])}
                  for i in range(len(area))],
        "labels": labels.tolist(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path
