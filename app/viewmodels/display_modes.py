"""The viewport's display modes: names, keys, and the mode a job's result is first shown in."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.scene_data import SceneData


class DisplayMode(StrEnum):
    TEXTURED = "textured"
    CLAY = "clay"
    WIREFRAME = "wireframe"
    NORMALS = "normals"
    UV_CHECKER = "uv_checker"
    PARTS = "parts"
    SKELETON = "skeleton"
    TWO_SIDED = "two_sided"


MODE_LABELS = {
    DisplayMode.TEXTURED: "Textured", DisplayMode.CLAY: "Clay",
    DisplayMode.WIREFRAME: "Wireframe", DisplayMode.NORMALS: "Normals",
    DisplayMode.UV_CHECKER: "UV checker", DisplayMode.PARTS: "Parts",
    DisplayMode.SKELETON: "Skeleton", DisplayMode.TWO_SIDED: "Two-sided",
}
# what a job's result is first shown in: the thing the job made
_FEATURE_MODES = {"mesh_segmentation": DisplayMode.PARTS, "part_completion": DisplayMode.PARTS,
                  "auto_rig": DisplayMode.SKELETON, "mesh_retopology": DisplayMode.WIREFRAME,
                  "uv_unwrapping": DisplayMode.UV_CHECKER}


def mode_for_feature(feature: str) -> DisplayMode:
    return _FEATURE_MODES.get(feature, DisplayMode.TEXTURED)


MODE_KEYS = {mode: str(i + 1) for i, mode in enumerate(DisplayMode)}  # keys 1-8, in this order


def mode_note(scene: SceneData | None, mode: DisplayMode) -> str:
    """Why ``mode`` looks the way it does on ``scene``, or ""."""
    if scene is None:
        return ""
    if mode is DisplayMode.UV_CHECKER:
        missing = sum(p.uv is None for p in scene.parts)
        if missing == len(scene.parts):
            return "This mesh has no UVs: showing clay."
        if missing:
            verb = "has" if missing == 1 else "have"
            return f"{missing} of {len(scene.parts)} parts {verb} no UVs (shown in clay)."
    if mode is DisplayMode.SKELETON and scene.skeleton is None:
        return "This file has no skeleton."
    if mode is DisplayMode.TEXTURED and scene.has_material and not any(
        p.texture is not None or p.vertex_colors is not None for p in scene.parts
    ):
        return "No texture: showing the base colour."
    if mode is DisplayMode.WIREFRAME:
        quads = sum(len(p.quads) for p in scene.parts if p.quads is not None)
        if quads:
            return f"Showing {quads:,} quads as quads (the file splits each into two triangles)."
    if mode is DisplayMode.PARTS and len(scene.parts) == 1:
        return "This mesh is one part."
    return ""
