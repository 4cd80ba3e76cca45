"""Camera moves of the viewport, as in Blender: a turntable orbit that keeps the up axis up,
and the numpad's front, side and top views (Ctrl for the opposite side). glTF is y-up and
looks at its front along -z, so "front" is the camera on +z."""

from __future__ import annotations

from typing import Any

import numpy as np

Y_UP = (0.0, 1.0, 0.0)
# (name, keys, where the camera sits seen from the centre, its up)
NAMED_VIEWS: tuple[tuple[str, str, tuple[float, float, float], tuple[float, float, float]], ...] = (
    ("Front view", "Num+1", (0.0, 0.0, 1.0), Y_UP),
    ("Back view", "Ctrl+Num+1", (0.0, 0.0, -1.0), Y_UP),
    ("Right view", "Num+3", (1.0, 0.0, 0.0), Y_UP),
    ("Left view", "Ctrl+Num+3", (-1.0, 0.0, 0.0), Y_UP),
    ("Top view", "Num+7", (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    ("Bottom view", "Ctrl+Num+7", (0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
)


def use_turntable_orbit(plotter: Any) -> None:
    """VTK's terrain style: dragging turns about the world's up axis and tilts, never rolls,
    so the model cannot tip under the grid (the default trackball rolls freely)."""
    plotter.enable_terrain_style(mouse_wheel_zooms=True, shift_pans=True)


def look_from(plotter: Any, bounds: np.ndarray, offset: tuple[float, float, float],
              up: tuple[float, float, float]) -> None:
    """Put the camera on ``offset``'s side of the scene, looking at its centre, fitted."""
    center = bounds.mean(axis=0)
    camera = plotter.camera
    camera.focal_point = center
    camera.position = center + np.asarray(offset, dtype=float)
    camera.up = up
    plotter.renderer.reset_camera(render=False, bounds=bounds.T.ravel())
