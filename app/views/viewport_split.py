"""Before and after side by side: the input in a second VTK renderer on the left half of the
same window, sharing the result's camera, so orbiting one turns both."""

from __future__ import annotations

from typing import Any

import pyvista as pv

from app.scene_data import PartData, SceneData
from app.views import viewport_modes as modes

LEFT, RIGHT, WHOLE = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0)


class _Target:
    """What ``viewport_modes.draw`` needs of a plotter (``add_mesh``), adding to ``renderer``:
    pyvista adds to its active renderer, so each actor moves over once made."""

    def __init__(self, plotter: Any, renderer: pv.Renderer) -> None:
        self.plotter, self.renderer = plotter, renderer

    def add_mesh(self, mesh: pv.PolyData, **kwargs: Any) -> pv.Actor:
        actor = self.plotter.add_mesh(mesh, **{**kwargs, "render": False, "reset_camera": False})
        self.plotter.renderer.remove_actor(actor, render=False, reset_camera=False)
        self.renderer.add_actor(actor, reset_camera=False, render=False)
        return actor


class SideBySide:
    """The left half's renderer; ``show`` draws the "before" scene there, ``hide`` removes it."""

    def __init__(self, plotter: Any) -> None:
        self.plotter = plotter
        self.renderer: pv.Renderer | None = None
        self._actors: list[pv.Actor] = []
        self._meshes: list[pv.PolyData] = []
        self._parts: tuple[PartData, ...] = ()

    @property
    def shown(self) -> bool:
        return self.renderer is not None

    def show(self, scene: SceneData, parts: tuple[PartData, ...], mode: Any) -> None:
        if self.renderer is None:
            self.renderer = pv.Renderer(self.plotter)
            self.renderer.set_background(modes.BACKGROUND_BOTTOM, top=modes.BACKGROUND_TOP)
            self.renderer.SetViewport(*LEFT)
            self.renderer.SetActiveCamera(self.plotter.renderer.GetActiveCamera())
            self.plotter.ren_win.AddRenderer(self.renderer)
            self.plotter.renderer.SetViewport(*RIGHT)
        self._clear()
        if parts is not self._parts:
            self._parts, self._meshes = parts, modes.build_meshes(parts)
        self._actors = modes.draw(_Target(self.plotter, self.renderer), scene, parts,
                                  self._meshes, mode)

    def hide(self) -> None:
        if self.renderer is None:
            return
        self._clear()
        self.plotter.ren_win.RemoveRenderer(self.renderer)
        self.renderer = None
        self._meshes, self._parts = [], ()
        self.plotter.renderer.SetViewport(*WHOLE)

    def _clear(self) -> None:
        if self.renderer is not None:
            for actor in self._actors:
                self.renderer.remove_actor(actor, render=False, reset_camera=False)
        self._actors = []
