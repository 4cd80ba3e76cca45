"""The viewport's display modes: names, keys, and the mode a job's result is first shown in."""

from __future__ import annotations

from enum import StrEnum


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
