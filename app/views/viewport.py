"""The 3D viewport: a pyvistaqt ``QtInteractor`` under a small toolbar.

The view only draws: files are prepared off the GUI thread by ``ViewportViewModel``, and this
widget turns the prepared arrays into actors. Like pyvistaqt itself it never renders after
``shutdown()`` (a finalized OpenGL context can take other windows down with it).

Every frame is drawn on the GUI thread, so a frame's cost is a stall of the whole studio. The
view draws only when the scene changes (``viewport_canvas`` keeps text off the 3D scene and
multisampling off software renderers), and tells the view model how many faces its renderer
draws within ``FRAME_BUDGET_S``, so a heavy mesh shows its preview where that is too few.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyvista as pv
from PIL import Image
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QApplication, QToolBar, QVBoxLayout, QWidget

from app.scene_data import PartData, SceneData
from app.viewmodels.viewport_viewmodel import (
    DisplayMode,
    ViewportViewModel,
)
from app.views import viewport_modes as modes
from app.views.viewport_camera import Y_UP, look_from, use_turntable_orbit
from app.views.viewport_canvas import (
    MOTION_RENDER_SCALE,
    Canvas,
    KeySink,
    fit_overlay,
    make_overlay,
    with_overlay,
)
from app.views.viewport_lod import CameraMotionWatch
from app.views.viewport_split import SideBySide
from app.views.viewport_toolbar import build_actions

TURNTABLE_STEP_DEG = 1.0
TURNTABLE_INTERVAL_MS = 33  # ~30 frames a second: one turn in about 12 seconds
_VIEW_DIRECTION = np.array([1.0, 1.05, 1.75])  # three-quarter view from the front, 30° above
FRAME_BUDGET_S = 0.1  # a frame longer than this is a stall the artist feels
_MIN_MEASURED_FACES = 20_000  # below this a frame's time is the window's fill, not the mesh
_UPLOAD_SLACK = 4  # how much dearer a frame that uploads meshes may be than the next one


class ViewportView(QWidget):
    """The 3D viewport widget; keys 1-8 pick a display mode while it has focus."""

    scene_shown = Signal()  # a prepared scene has been drawn: grab the window now
    load_failed = Signal(str)  # relayed from the view model, for callers holding the view

    def __init__(
        self, view_model: ViewportViewModel | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._owns_view_model = view_model is None
        self.view_model = view_model or ViewportViewModel(self)
        self._closed = False
        self._scene: SceneData | None = None
        self._parts: tuple[PartData, ...] = ()  # what is drawn: the scene's parts or preview
        self._meshes: list[pv.PolyData] = []
        self._mode_actors: list[pv.Actor] = []
        self._grid_actor: pv.Actor | None = None
        self.plotter = Canvas(self, auto_update=False)  # we render when something changes
        self.plotter.setAcceptDrops(False)  # its own drop handler reads files on this thread
        self._key_sink = KeySink(self)
        self.plotter.installEventFilter(self._key_sink)
        self.overlay = make_overlay(self.plotter)
        self._split = SideBySide(self.plotter)
        # changes ask the widget to repaint and its paint renders VTK, so however many things
        # change before the next frame, the scene is drawn once (on a million faces in
        # software GL one frame is half a second); scene_shown waits for that frame
        self._shown_pending = False
        self._fresh_meshes = False  # the next frame uploads new meshes: not a fair measure
        self.plotter.frameSwapped.connect(self._on_plotter_frame_swapped)
        self.plotter.painted.connect(self._on_plotter_painted)
        self.plotter.renderer_known.connect(self._on_plotter_renderer_known)
        self._turntable_timer = QTimer(self)
        self._turntable_timer.setInterval(TURNTABLE_INTERVAL_MS)
        self._turntable_timer.timeout.connect(self._on_turntable_timer_timeout)
        self.toolbar = QToolBar("Viewport", self)
        self.mode_actions: dict[DisplayMode, QAction] = {}
        build_actions(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.plotter, 1)
        self.setFocusProxy(self.plotter)
        self.plotter.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._set_up_scene()
        self._connect_view_model()
        # a heavy mesh draws a lighter level while the camera moves (app.scene_lod)
        self.camera_motion = CameraMotionWatch(self.plotter.iren.interactor, self.view_model, self)
        app = QApplication.instance()
        if app is not None:  # children get no closeEvent when their window closes
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ public API

    def open_file(self, path: str | os.PathLike[str]) -> None:
        """Show ``path``; ``scene_shown`` or ``load_failed`` follows once it is prepared."""
        self.view_model.open_file(str(path))

    def save_screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Write what the viewport shows now (overlay included) as a PNG."""
        if self._closed:
            raise RuntimeError("the viewport is closed")
        self._render_now()
        frame = self.plotter.screenshot(return_img=True)
        out = Path(path)
        Image.fromarray(with_overlay(frame, self.overlay, self.plotter.width())).save(
            out, format="PNG")
        return out

    @Slot()
    def frame(self) -> None:
        """Fit the scene in view, keeping the viewing direction."""
        if self._scene is not None and not self._closed:
            self.plotter.renderer.reset_camera(render=False,
                                               bounds=self._scene.view_bounds.T.ravel())
            self._render()

    @Slot()
    def reset_view(self) -> None:
        """The default three-quarter view, y up as in glTF, scene fitted."""
        self.look_from(tuple(_VIEW_DIRECTION), Y_UP)

    @Slot()
    def shutdown(self) -> None:
        """Close the interactor for good; safe to call twice. Main windows call it on close."""
        if self._closed:
            return
        self._closed = True
        self._turntable_timer.stop()
        self.camera_motion.stop()
        if self._owns_view_model:
            self.view_model.shutdown()
        self._mode_actors, self._meshes, self._grid_actor, self._scene = [], [], None, None
        self._parts = ()
        self._split.hide()
        self.plotter.close()

    @property
    def is_closed(self) -> bool:
        return self._closed

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._yield_shortcuts_to_window()

    def _yield_shortcuts_to_window(self) -> None:
        """Qt calls a key bound both window-wide and here ambiguous and fires neither, so
        where the window (say its View menu) already answers a key, our action lets go of it."""
        window = self.window()
        if window is self:
            return
        mine = set(self.actions())
        wide = (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)
        taken = {
            action.shortcut().toString()
            for action in {*window.findChildren(QAction), *window.actions()} - mine
            if not action.shortcut().isEmpty() and action.shortcutContext() in wide
        }
        for action in mine:
            if action.shortcut().toString() in taken:
                action.setShortcut(QKeySequence())

    # ------------------------------------------------------------------ setup

    def look_from(self, offset: tuple, up: tuple) -> None:
        if not self._closed:
            bounds = (self._scene.view_bounds if self._scene is not None
                      else np.array([[-1.0] * 3, [1.0] * 3]))
            look_from(self.plotter, bounds, offset, up)
            self._render()

    def _set_up_scene(self) -> None:
        self.plotter.set_background(modes.BACKGROUND_BOTTOM, top=modes.BACKGROUND_TOP)
        self.plotter.add_axes(interactive=False, line_width=2, labels_off=False)
        use_turntable_orbit(self.plotter)
        self._on_view_model_overlay_changed(self.view_model.overlay_text())
        self.reset_view()

    def _connect_view_model(self) -> None:
        vm = self.view_model
        vm.scene_changed.connect(self._on_view_model_scene_changed)
        vm.scene_completed.connect(self._on_view_model_scene_completed)
        vm.mode_changed.connect(self._on_view_model_mode_changed)
        vm.overlay_changed.connect(self._on_view_model_overlay_changed)
        vm.comparison_changed.connect(self._on_view_model_comparison_changed)
        vm.turntable_changed.connect(self._on_view_model_turntable_changed)
        vm.side_by_side_changed.connect(self._on_view_model_side_by_side_changed)
        vm.grid_changed.connect(self._on_view_model_grid_changed)
        vm.axes_changed.connect(self._on_view_model_axes_changed)
        vm.detail_changed.connect(self._on_view_model_detail_changed)
        vm.load_failed.connect(self.load_failed)

    # ------------------------------------------------------------------ view model events

    @Slot(object, bool)
    def _on_view_model_scene_changed(self, scene: SceneData | None, keep_camera: bool) -> None:
        if self._closed:
            return
        self._scene = scene
        self._sync_meshes(force=True)
        self._redraw_mode()
        self._redraw_grid()
        if not keep_camera:
            self.reset_view()
        self._shown_pending = scene is not None
        self._render()

    @Slot(object)
    def _on_view_model_scene_completed(self, scene: SceneData | None) -> None:
        """The full level arrived: nothing to redraw while the preview is what is drawn."""
        if self._closed:
            return
        self._scene = scene
        if self._sync_meshes() or self.view_model.side_by_side:
            self._redraw_mode()
            self._render()

    @Slot(str)
    def _on_view_model_mode_changed(self, mode: str) -> None:
        self.mode_actions[DisplayMode(mode)].setChecked(True)
        if not self._closed:
            self._sync_meshes()  # wireframe draws the real mesh, never the preview
            self._redraw_mode()
            self._render()

    @Slot()
    def _on_view_model_detail_changed(self) -> None:
        self.detail_action.setChecked(self.view_model.full_detail)
        if self._closed:
            return
        scale = self.view_model.render_scale  # coarser while the camera moves, if it pays
        rescaled, self.plotter.render_scale = scale != self.plotter.render_scale, scale
        if self._sync_meshes():
            self._redraw_mode()
            self._render()
        elif rescaled:
            self._render()

    @Slot(str)
    def _on_view_model_overlay_changed(self, text: str) -> None:
        if self._closed:
            return
        self.overlay.setText(text)
        fit_overlay(self.overlay, shrink=False)

    @Slot(str)
    def _on_view_model_comparison_changed(self, side: str) -> None:
        self.before_after_action.setEnabled(bool(side))
        self.before_after_action.setChecked(side == "before")

    @Slot(bool)
    def _on_view_model_side_by_side_changed(self, on: bool) -> None:
        self.split_action.setChecked(on)
        if not self._closed:
            self._redraw_mode()
            self.frame()  # each half is narrower (or the whole wider) than before: refit

    @Slot(bool)
    def _on_view_model_turntable_changed(self, on: bool) -> None:
        self.turntable_action.setChecked(on)
        if on and not self._closed:
            self._turntable_timer.start()
        else:
            self._turntable_timer.stop()

    @Slot(bool)
    def _on_view_model_grid_changed(self, on: bool) -> None:
        self.grid_action.setChecked(on)
        if self._grid_actor is not None and not self._closed:
            self._grid_actor.visibility = on
            self._render()

    @Slot(bool)
    def _on_view_model_axes_changed(self, on: bool) -> None:
        self.axes_action.setChecked(on)
        if self._closed:
            return
        if on:
            self.plotter.show_axes()
        else:
            self.plotter.hide_axes()
        self._render()

    @Slot()
    def _on_turntable_timer_timeout(self) -> None:
        if self._closed:
            return
        # about the world's up axis, not the camera's, so the floor stays level
        camera = self.plotter.camera
        focal = np.array(camera.focal_point)
        angle = np.radians(TURNTABLE_STEP_DEG)
        c, s = np.cos(angle), np.sin(angle)
        spin = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        camera.position = focal + spin @ (np.array(camera.position) - focal)
        camera.up = spin @ np.array(camera.up)
        self.plotter.renderer.reset_camera_clipping_range()
        self._render()

    # ------------------------------------------------------------------ drawing

    def _sync_meshes(self, *, force: bool = False) -> bool:
        """Build PolyData for the parts the view model wants drawn; True when they changed."""
        scene = self._scene
        parts = self.view_model.parts_to_draw(scene) if scene is not None else ()
        self.detail_action.setEnabled(scene is not None and scene.preview is not None)
        self.detail_action.setChecked(self.view_model.full_detail)  # a new scene starts light
        if not force and parts is self._parts:
            return False
        self._parts = parts
        self._meshes = modes.build_meshes(parts)
        self._fresh_meshes = bool(parts)
        return True

    def _redraw_mode(self) -> None:
        if self._mode_actors:
            self.plotter.remove_actor(self._mode_actors, render=False)
        self._mode_actors = []
        if self._scene is not None:
            self._mode_actors = modes.draw(self.plotter, self._scene, self._parts, self._meshes,
                                           self.view_model.effective_mode)
        self._sync_split()

    def _sync_split(self) -> None:
        vm, before = self.view_model, self.view_model.before
        if vm.side_by_side and before is not None and self._scene is not None:
            light = before.preview is not None and not vm.full_detail
            self._split.show(before, before.preview if light else before.parts,
                             vm.effective_mode)
        else:
            self._split.hide()

    def _redraw_grid(self) -> None:
        if self._grid_actor is not None:
            self.plotter.remove_actor(self._grid_actor, render=False)
            self._grid_actor = None
        if self._scene is None:
            return
        self._grid_actor = self.plotter.add_mesh(
            modes.ground_grid(self._scene.view_bounds), color=modes.GRID, lighting=False,
            line_width=1.0, reset_camera=False, render=False, name="grid",
        )
        self._grid_actor.visibility = self.view_model.grid_visible

    def _render(self) -> None:
        """Draw at the next frame; a hidden widget has no frames, so it renders at once."""
        if self._closed:
            return
        fit_overlay(self.overlay, shrink=True)  # the frame coming anyway covers what it uncovers
        self.plotter.renderer.reset_camera_clipping_range()
        if self.plotter.isVisible():
            self.plotter.update()
        else:
            self._render_now()
            # no frame will come; announce on the next pass, after the overlay has changed
            QTimer.singleShot(0, self, self._on_plotter_frame_swapped)

    @Slot(bool)
    def _on_plotter_renderer_known(self, software: bool) -> None:
        """A software rasterizer fills every pixel on the CPU: draw fewer while moving."""
        self.view_model.set_motion_render_scale(MOTION_RENDER_SCALE if software else 1.0)

    @Slot(float)
    def _on_plotter_painted(self, seconds: float) -> None:
        """Turn the frame's time into a face budget for the view model. A frame that uploaded
        new meshes (and compiled shaders) overstates the cost: when that alone decides nothing
        (the real mesh might fit once the upload is paid), draw one more frame to measure."""
        faces = sum(len(p.faces) for p in self._parts)
        if self._closed or faces < _MIN_MEASURED_FACES or self.plotter.frame_scale < 1.0:
            return  # a coarser frame says little of what the full resolution costs
        budget = int(faces * FRAME_BUDGET_S / max(seconds, 1e-4))
        self.view_model.set_face_budget(budget)
        fresh, self._fresh_meshes = self._fresh_meshes, False
        scene = self._scene
        if fresh and scene is not None and self.view_model.shows_preview \
                and budget * _UPLOAD_SLACK >= scene.faces:
            QTimer.singleShot(0, self, self._render)

    @Slot()
    def _on_plotter_frame_swapped(self) -> None:
        if self._shown_pending and not self._closed:
            self._shown_pending = False
            self.scene_shown.emit()  # after the frame, so a window grab sees the scene

    def _render_now(self) -> None:
        if not self._closed:
            self.plotter.renderer.reset_camera_clipping_range()
            self.plotter.render()
