"""part_completion by volume: every part of a segmented GLB comes back as ONE closed solid,
its hidden side rebuilt where it touched the others.

The object's solid comes from the generalized winding number of all parts together, so the
open, fragmented, self-intersecting surfaces of a generated and segmented model still make
one solid. The solid is divided among the parts (each point goes to the part that wraps
it most, by the parts' own winding numbers: ``_partition`` says why not the nearest
surface); each part's region is made one piece and turned into one closed, manifold
surface by marching cubes on a grid sized to the part; its visible surface is then moved
back onto the input's triangles and dressed in the part's own texture or colour. The report
says, part by part, whether it is closed, in how many pieces, its volume and how much of
its surface was rebuilt; a part that cannot be made one solid is a warning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, ExtraOutput, RunContext

if TYPE_CHECKING:
    import trimesh

    from adapters.volumetric_parts._partition import Partition
    from adapters.volumetric_parts._soup import Soup, SurfaceQueries

REPORT_NAME = "completion.json"
# The whole object's partition is never coarser than this many nodes along its longest side.
MIN_PARTITION_RESOLUTION = 128


class VolumetricPartsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: int = Field(
        96, ge=24, le=256,
        description="Grid steps along each part's longest side: finer keeps thinner "
                    "features, makes more triangles and takes longer.")
    straighten_interfaces: bool = Field(
        False, description="Re-decide the hidden surfaces between parts by a minimum cut: "
                           "flatter, smaller interfaces where the parts' surfaces leave it "
                           "open (overlapping or ragged parts).")


class VolumetricPartsAdapter:
    def load(self, device: str) -> None:
        import igl  # noqa: F401  (warm the worker: the first job is faster)
        import scipy.ndimage  # noqa: F401

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from adapters.part_completion import require_scene_file
        from engine.meshio.reader import scene_parts
        from engine.meshio.scene import read_scene

        params: VolumetricPartsParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading parts", 0.02)
        require_scene_file(inputs[0])
        loaded = read_scene(inputs[0])  # with materials: each part keeps its look
        parts = scene_parts(loaded)
        ctx.step("finding the solid", 0.05)
        builder = _PartBuilder.prepare(parts, params, lambda f: ctx.step(
            "finding the solid", 0.05 + 0.2 * f))
        rows, meshes = [], []
        for i, (name, mesh) in enumerate(parts):
            base, span = 0.25 + 0.67 * i / len(parts), 0.67 / len(parts)
            ctx.step(f"rebuilding {name}", base)
            built, row = builder.build(i, name, mesh, lambda f, n=name, b=base, s=span:
                                       ctx.step(f"rebuilding {n}", b + s * f))
            rows.append({"name": name, **row})
            meshes.append((name, built))
        ctx.step("writing parts", 0.93)
        return _output(meshes, rows, ctx.out_dir, list(loaded.notes))


class _PartBuilder:
    """Turns one part's region into its finished mesh and report row."""

    def __init__(self, soup: Soup, queries: SurfaceQueries, part_map: Partition,
                 resolution: int) -> None:
        self.soup, self.queries, self.part_map = soup, queries, part_map
        self.resolution = resolution

    @classmethod
    def prepare(cls, parts: list[tuple[str, trimesh.Trimesh]], params: VolumetricPartsParams,
                tick: Callable[[float], None]) -> _PartBuilder:
        """The object's solid, divided among ``parts`` (``tick`` hears how far)."""
        from adapters.volumetric_parts._partition import partition
        from adapters.volumetric_parts._soup import SurfaceQueries, build_soup

        soup = build_soup([(np.asarray(m.vertices), np.asarray(m.faces)) for _, m in parts])
        queries = SurfaceQueries(soup.vertices, soup.faces)
        part_map = partition(soup, max(MIN_PARTITION_RESOLUTION, params.resolution),
                             params.straighten_interfaces, tick)
        return cls(soup, queries, part_map, params.resolution)

    def build(self, index: int, name: str, mesh: trimesh.Trimesh,
              tick: Callable[[float], None]) -> tuple[trimesh.Trimesh, dict[str, Any]]:
        from adapters.volumetric_parts._extract import part_surface
        from adapters.volumetric_parts._looks import dressed, look_of
        from adapters.volumetric_parts._snap import snap_visible

        surface = part_surface(self.queries, self.soup.labels, self.part_map, index,
                               self.resolution, tick)
        if surface is None:
            return self._filled(index, name, mesh)
        tick(0.8)
        snapped = snap_visible(surface, self.queries)
        tick(0.9)
        soup = self.soup
        built = dressed(snapped.vertices, surface.faces, look_of(mesh, soup.centre, soup.size),
                        soup.size, soup.centre, _fallback_material(index, name))
        return built, self._row(index, surface.faces, snapped.vertices, surface.pitch,
                                snapped.rebuilt_share, surface.pieces_dropped)

    def _row(self, index: int, faces: np.ndarray, vertices: np.ndarray, pitch: float,
             rebuilt: float, dropped: int) -> dict[str, Any]:
        from adapters._shared.hole_filling import is_closed
        from adapters.volumetric_parts._snap import pieces

        size, grid = self.soup.size, self.part_map.grid
        tri = vertices[faces]
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        closed = is_closed(faces)
        region = int(np.count_nonzero(self.part_map.region(index)))
        moved = int(self.part_map.moved[index])
        return {
            "method": "volumetric", "input_faces": int(np.count_nonzero(
                self.soup.labels == index)), "faces": len(faces), "watertight": closed,
            "components": pieces(faces),
            "volume": float(np.einsum("ij,ij->", tri[:, 0], cross)) / 6.0 * size ** 3
            if closed else None,
            "area": float(0.5 * np.linalg.norm(cross, axis=1).sum()) * size ** 2,
            "rebuilt_share": round(rebuilt, 4), "grid_step": pitch * size,
            "given_to_other_parts": round(moved / max(region + moved, 1), 4),
            "debris_volume": int(self.part_map.dropped[index]) * (grid.pitch * size) ** 3,
            "pieces_dropped": dropped,
        }

    def _filled(self, index: int, name: str,
                mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, dict[str, Any]]:
        """A part with no volume of its own (a sheet, or faces inside other parts): its
        holes are filled instead, and the report says so."""
        from adapters.part_completion import close_part
        from adapters.volumetric_parts._snap import pieces

        closed, row = close_part(mesh, self.soup.centre, self.soup.size)
        closed.visual = _fallback_visual(mesh, index, name)
        faces = np.asarray(closed.faces)
        return closed, {"method": "hole filling (no volume of its own)",
                        "input_faces": len(mesh.faces), "faces": len(faces), "watertight": bool(row["watertight"]),
                        "components": pieces(faces), "volume": row["volume"],
                        "area": row["area"], "rebuilt_share": None, "grid_step": None,
                        "given_to_other_parts": None, "debris_volume": 0.0,
                        "pieces_dropped": 0}


def _fallback_material(index: int, name: str) -> Any:
    import trimesh

    from adapters.segmentation import part_colour

    return trimesh.visual.material.PBRMaterial(
        name=name, baseColorFactor=part_colour(index), metallicFactor=0.0, roughnessFactor=0.8)


def _fallback_visual(mesh: trimesh.Trimesh, index: int, name: str) -> Any:
    import copy

    import trimesh

    material = getattr(mesh.visual, "material", None)
    return trimesh.visual.TextureVisuals(
        material=copy.deepcopy(material) if material is not None
        else _fallback_material(index, name))


def _warnings(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    for row in rows:
        name = row["name"]
        if row["method"] != "volumetric":
            notes.append(f"{name} encloses no volume of its own (a thin sheet, or faces inside "
                         "other parts), so its holes were filled instead of rebuilding it.")
        elif not row["watertight"]:
            notes.append(f"{name} could not be closed into a solid.")
        elif row["components"] != 1:
            notes.append(f"{name} is {row['components']} separate solids, not one: its "
                         "pieces do not touch inside the object.")
    return notes


def _output(meshes: list[tuple[str, trimesh.Trimesh]], rows: list[dict[str, Any]],
            out_dir: Path, notes: list[str]) -> AdapterOutput:
    """The scene, stats and report; ``notes``: what reading the input left out."""
    import trimesh

    scene = trimesh.Scene()
    for name, mesh in meshes:
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    report = out_dir / REPORT_NAME
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"method": "volumetric completion (winding-number solid "
                                            "divided by the parts' own winding numbers, "
                                            "marching cubes per part)",
                                  "parts": rows}, indent=1))
    solid = [r for r in rows if r["method"] == "volumetric" and r["watertight"]
             and r["components"] == 1]
    return AdapterOutput(mesh=scene, stats={
        "parts": len(rows),
        "watertight_parts": sum(1 for r in rows if r["watertight"]),
        "single_solid_parts": len(solid),
        "rebuilt_share": round(float(np.mean([r["rebuilt_share"] or 0.0 for r in rows])), 4),
    }, extra_outputs=[ExtraOutput("report", report, "application/json")],
        warnings=notes + _warnings(rows))
