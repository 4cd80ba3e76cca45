"""The level-of-detail chain of a heavy mesh, and which level to draw while the camera moves.

A heavy scene carries three levels, finest first: its own parts, the preview
(``app.scene_preview``, ~100k faces, what a software renderer draws when the camera is still)
and the *motion* level built here (~12k faces, the preview clustered once more). While the
artist orbits, pans or zooms, the viewport draws the finest level its renderer draws within
VTK's share of a ``MOTION_FRAME_S`` frame (as CAD viewers do), and goes back to the still
level once the camera stops. On a GPU fast enough for the whole mesh nothing changes while moving.

Built in the helper process from the preview, so it costs ~30 ms even for ten million faces.
No Qt and no VTK here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from app.scene_preview import preview_parts

if TYPE_CHECKING:  # scene_data imports this module to build its chain
    from app.scene_data import PartData, SceneData

MOTION_FACES = 12_000  # the studio's llvmpipe frame paints this in ~8 ms (docs/benchmarks.md)
MOTION_FRAME_S = 1 / 30  # a moving camera wants about 30 frames a second
# a part keeps at least this many faces while moving (its silhouette): the preview's floor
# (500) would keep a file of hundreds of parts at the preview's weight
MOTION_MIN_PART_FACES = 60
# VTK's share of a moving frame. The rest goes to the window system: Qt composes the window
# and swaps it, which on a software renderer (llvmpipe) costs about as much as VTK's part
# (10-15 ms for a studio window). On llvmpipe a face costs about the same at any resolution
# (its vertex work runs on one thread), so the level is chosen by faces.
MOTION_PAINT_S = MOTION_FRAME_S / 2
# above this many parts a moving frame draws the parts that look alike as one mesh: VTK spends
# ~40 us per actor on llvmpipe, 10 ms for 256 parts (docs/benchmarks.md)
MERGE_ABOVE_PARTS = 16
_FRAME_BUDGET_S = 0.1  # the view measures its face budget per frame of this length


def motion_parts(
    preview: tuple[PartData, ...],
    charts: Callable[[PartData], np.ndarray | None],
    faces: int = MOTION_FACES,
) -> tuple[PartData, ...] | None:
    """The preview clustered down to about ``faces`` faces (``charts``: a part's UV chart per
    vertex, so seams stay apart); None when the preview is already about that light."""
    if sum(len(p.faces) for p in preview) <= 2 * faces:
        return None
    return preview_parts(preview, tuple(charts(p) for p in preview), faces,
                         smallest=MOTION_MIN_PART_FACES)


def levels(scene: SceneData) -> list[tuple[PartData, ...]]:
    """The scene's levels of detail, finest first."""
    return [lvl for lvl in (scene.parts, scene.preview, scene.motion) if lvl is not None]


def face_count(parts: tuple[PartData, ...]) -> int:
    return sum(len(p.faces) for p in parts)


def moving_level(
    scene: SceneData, still: tuple[PartData, ...], face_budget: int
) -> tuple[PartData, ...]:
    """What to draw while the camera moves: the finest level no finer than ``still`` (what is
    drawn when it stops) that VTK draws within ``MOTION_PAINT_S``, its share of a moving frame,
    given ``face_budget`` (faces the renderer draws in ``_FRAME_BUDGET_S``; 0 when not
    measured yet), else the lightest."""
    chain = levels(scene)
    start = next((i for i, lvl in enumerate(chain) if lvl is still), 0)
    fits = face_budget * MOTION_PAINT_S / _FRAME_BUDGET_S
    for level in chain[start:]:
        if face_budget and face_count(level) <= fits:
            return level
    return chain[-1]


def merged(parts: tuple[PartData, ...]) -> tuple[PartData, ...]:
    """``parts`` with the parts that look alike (no texture of their own or the same one, the
    same base colour, and UVs, vertex colours and normals each present in all or in none)
    joined into one mesh each, in the order their groups first appear; quad meshes stay as
    they are."""
    from app.scene_data import PartData  # at call time: scene_data imports this module

    groups: dict[tuple[object, ...], list[PartData]] = {}
    for part in parts:
        key: tuple[object, ...] = ("whole", id(part)) if part.quads is not None else (
            id(part.texture) if part.texture is not None else None, part.base_color,
            part.uv is None, part.vertex_colors is None, part.normals is None)
        groups.setdefault(key, []).append(part)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        offsets = np.cumsum([0] + [len(p.vertices) for p in group[:-1]])
        first = group[0]

        def joined(field: str, group: list[PartData] = group) -> np.ndarray | None:
            arrays = [getattr(p, field) for p in group]
            return None if arrays[0] is None else np.concatenate(arrays)

        out.append(PartData(
            name=f"{first.name} and {len(group) - 1} more", vertices=joined("vertices"),
            faces=np.concatenate([p.faces + o for p, o in zip(group, offsets, strict=True)]),
            normals=joined("normals"), uv=joined("uv"), texture=first.texture,
            base_color=first.base_color, vertex_colors=joined("vertex_colors")))
    return tuple(out)
