"""How each display mode turns prepared parts into VTK actors. GUI thread only: building
PolyData from the helper's arrays is cheap (no copies), drawing them is what takes time."""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from functools import cache

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkMapper

from adapters.textures import uv_checker
from app.scene_data import PartData, SceneData
from app.viewmodels.viewport_viewmodel import DisplayMode

BACKGROUND_TOP, BACKGROUND_BOTTOM = "#1e1f22", "#34363c"
CLAY = (0.74, 0.72, 0.68)  # warm grey: reads as sculpting clay, not as "no material"
WIRE = (0.08, 0.09, 0.10)
JOINT, BONE = (1.0, 0.82, 0.40), (1.0, 0.55, 0.10)
GRID = (0.32, 0.34, 0.38)
BACKFACE = (0.16, 0.15, 0.15)
_CLAY_LOOK = {"ambient": 0.12, "diffuse": 0.85, "specular": 0.25, "specular_power": 24.0}

# lines of a wireframe overlay would z-fight with the surface under them
vtkMapper.SetResolveCoincidentTopologyToPolygonOffset()

Actors = list[pv.Actor]
Parts = tuple[PartData, ...]


def build_meshes(parts: tuple[PartData, ...]) -> list[pv.PolyData]:
    """One PolyData per part, sharing the helper's arrays (int64 faces, float32 points)."""
    meshes = []
    for part in parts:
        mesh = pv.PolyData.from_regular_faces(part.vertices, part.faces)
        mesh.point_data.active_normals = part.normals
        if part.uv is not None:
            mesh.active_texture_coordinates = part.uv
        meshes.append(mesh)
    return meshes


def draw(plotter: pv.Plotter, scene: SceneData, parts: tuple[PartData, ...],
         meshes: list[pv.PolyData], mode: DisplayMode) -> Actors:
    """Add the actors for ``mode`` (``parts``: the scene's own or its preview, with their
    ``meshes``); the caller removes them before the next mode."""
    return _PAINTERS[mode](plotter, scene, parts, meshes)


def _surface(plotter: pv.Plotter, mesh: pv.PolyData, *, backfaces_lit: bool = False,
             **kwargs: object) -> pv.Actor:
    actor = plotter.add_mesh(mesh, reset_camera=False, render=False, show_scalar_bar=False,
                             **kwargs)
    # the worker's normals shade smoothly; pyvista's smooth_shading would recompute them here
    actor.prop.interpolation = "phong"
    if not backfaces_lit:
        # VTK lights back faces like front ones (its renderer's two-sided switch does nothing
        # in OpenGL2), so one-sided lighting is a dark, unlit back face: holes, open shells
        # and flipped normals then show at a glance, and mode 8 lights them
        actor.backface_prop = pv.Property(color=BACKFACE, ambient=1.0, diffuse=0.0,
                                          specular=0.0)
    return actor


def _clay(plotter: pv.Plotter, mesh: pv.PolyData, **kwargs: object) -> pv.Actor:
    return _surface(plotter, mesh, **({"color": CLAY, **_CLAY_LOOK} | kwargs))


def _draw_textured(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                   meshes: list[pv.PolyData]) -> Actors:
    return [_textured_part(plotter, part, mesh) for part, mesh in zip(parts, meshes, strict=True)]


def _textured_part(plotter: pv.Plotter, part: PartData, mesh: pv.PolyData) -> pv.Actor:
    rgb, alpha = part.base_color[:3], part.base_color[3]
    if part.texture is not None and part.uv is not None:
        # alpha dropped: glTF's default alphaMode is OPAQUE, and VTK would sort it as glass
        texture = pv.Texture(np.ascontiguousarray(part.texture[..., :3]))
        return _surface(plotter, mesh, texture=texture, color=rgb, ambient=0.15, diffuse=0.9)
    if part.vertex_colors is not None:
        return _surface(plotter, mesh, scalars=part.vertex_colors[:, :3], rgb=True,
                        ambient=0.15, diffuse=0.9)
    return _surface(plotter, mesh, color=rgb, opacity=alpha, ambient=0.15, diffuse=0.9,
                    specular=0.2, specular_power=20.0)


def _draw_clay(plotter: pv.Plotter, scene: SceneData, parts: Parts,
               meshes: list[pv.PolyData]) -> Actors:
    return [_clay(plotter, mesh) for mesh in meshes]


def _draw_two_sided(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                    meshes: list[pv.PolyData]) -> Actors:
    return [_clay(plotter, mesh, backfaces_lit=True) for mesh in meshes]


def _draw_wireframe(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                    meshes: list[pv.PolyData]) -> Actors:
    wires = [
        plotter.add_mesh(wire_mesh(part, mesh), style="wireframe", color=WIRE, line_width=1.0,
                         lighting=False, opacity=0.85, reset_camera=False, render=False)
        for part, mesh in zip(parts, meshes, strict=True)
    ]
    return _draw_clay(plotter, scene, parts, meshes) + wires


def wire_mesh(part: PartData, mesh: pv.PolyData) -> pv.PolyData:
    """What the wireframe outlines: a quad remesh's quads as quads (no diagonals), then its
    lone triangles; any other part's own triangles."""
    if part.quads is None:
        return mesh
    rest = part.faces[2 * len(part.quads):]
    cells = np.concatenate([
        np.column_stack([np.full(len(part.quads), 4), part.quads]).ravel(),
        np.column_stack([np.full(len(rest), 3), rest]).ravel(),
    ])
    return pv.PolyData(part.vertices, faces=cells)


def _draw_normals(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                  meshes: list[pv.PolyData]) -> Actors:
    # unlit, so the colour is the normal itself: x red, y green, z blue, as in a normal map
    return [
        _surface(plotter, mesh, scalars=np.round(part.normals * 127.5 + 127.5).astype(np.uint8),
                 rgb=True, lighting=False)
        for part, mesh in zip(parts, meshes, strict=True)
    ]


def _draw_uv_checker(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                     meshes: list[pv.PolyData]) -> Actors:
    return [
        _surface(plotter, mesh, texture=_checker(), ambient=0.25, diffuse=0.8)
        if part.uv is not None else _clay(plotter, mesh)
        for part, mesh in zip(parts, meshes, strict=True)
    ]


@cache
def _checker() -> pv.Texture:
    return pv.Texture(np.asarray(uv_checker(512, 8)))


def part_color(index: int) -> tuple[float, float, float]:
    """Distinct colours for neighbouring parts: hues a golden angle apart."""
    return colorsys.hsv_to_rgb((0.07 + index * 0.618034) % 1.0, 0.55, 0.92)


def _draw_parts(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                meshes: list[pv.PolyData]) -> Actors:
    return [_clay(plotter, mesh, color=part_color(i)) for i, mesh in enumerate(meshes)]


def _draw_skeleton(plotter: pv.Plotter, scene: SceneData, parts: Parts,
                   meshes: list[pv.PolyData]) -> Actors:
    # a ghost: both sides lit, or the far inside walls would darken the bones behind them
    actors = [_clay(plotter, mesh, opacity=0.25, backfaces_lit=True) for mesh in meshes]
    skeleton = scene.skeleton
    if skeleton is None:
        return actors
    joints = pv.PolyData(skeleton.positions)
    actors.append(plotter.add_mesh(joints, color=JOINT, point_size=14.0, reset_camera=False,
                                   render_points_as_spheres=True, render=False))
    child = np.flatnonzero(skeleton.parents >= 0)
    if len(child):
        lines = np.column_stack([np.full(len(child), 2), child, skeleton.parents[child]])
        bones = pv.PolyData(skeleton.positions, lines=lines.ravel())
        actors.append(plotter.add_mesh(bones, color=BONE, line_width=6.0, reset_camera=False,
                                       render_lines_as_tubes=True, render=False))
    return actors


_Painter = Callable[[pv.Plotter, SceneData, Parts, list[pv.PolyData]], Actors]
_PAINTERS: dict[DisplayMode, _Painter] = {
    DisplayMode.TEXTURED: _draw_textured,
    DisplayMode.CLAY: _draw_clay,
    DisplayMode.WIREFRAME: _draw_wireframe,
    DisplayMode.NORMALS: _draw_normals,
    DisplayMode.UV_CHECKER: _draw_uv_checker,
    DisplayMode.PARTS: _draw_parts,
    DisplayMode.SKELETON: _draw_skeleton,
    DisplayMode.TWO_SIDED: _draw_two_sided,
}


FLOOR_GAP = 0.01  # of the model's size, between its lowest point and the grid


def ground_grid(bounds: np.ndarray) -> pv.PolyData:
    """Lines on the floor a little wider than the model, ``FLOOR_GAP`` of its size below its
    lowest point (glTF is y-up): a flat sheet or a flat base lying on the floor is drawn over
    the lines, not crossed by them (at the same depth they fight; 0.2% still let dots of the
    lines through a sheet seen from the default three-quarter view, 1% does not)."""
    low, high = bounds
    size = float(max(high - low)) or 1.0
    step = 10.0 ** np.floor(np.log10(size / 2.0))  # a round spacing: 1, 0.1, 10...
    half = step * np.ceil(size / step)
    ticks = np.arange(-half, half + step / 2, step)
    cx, cz = (low[0] + high[0]) / 2.0, (low[2] + high[2]) / 2.0
    cx, cz = step * np.round(cx / step), step * np.round(cz / step)
    y = float(low[1]) - FLOOR_GAP * size
    ends = [((cx + t, y, cz - half), (cx + t, y, cz + half)) for t in ticks]
    ends += [((cx - half, y, cz + t), (cx + half, y, cz + t)) for t in ticks]
    points = np.array(ends, dtype=np.float64).reshape(-1, 3)
    n = len(ends)
    lines = np.column_stack([np.full(n, 2), np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)])
    return pv.PolyData(points, lines=lines.ravel())
