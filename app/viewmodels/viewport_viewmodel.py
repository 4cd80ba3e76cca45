"""What the 3D viewport shows: the scene, the display mode, before/after and the overlay.

Loading follows napari's layer slicer: the request (paths, limits, a generation number) is
captured on the GUI thread, ``scene_stages.prepare_first`` runs in the viewport's helper
process (``app.offload``: a thread would share the GIL with the GUI thread and stall it), a
task awaits its future (docs/async.md) and hands the result on through a queued signal, so
what the result sets off (an error dialog) runs outside the task. A newer request makes older
results stale, so opening two files quickly never shows the first one last.
Loading, in one step or two (a heavy file's preview first), is ``ViewportLoading``'s
(``app.viewmodels.viewport_loading``).

Heavy meshes come with a lighter preview. Which one is drawn is decided here, from the
artist's choice and the face budget the view measured on its renderer; the overlay always
gives the real counts and says when the preview is what is on screen.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app import offload
from app.scene_data import PartData, SceneData
from app.viewmodels.display_modes import (
    MODE_KEYS,
    MODE_LABELS,
    DisplayMode,
    mode_for_feature,
)
from app.viewmodels.viewport_detail import ViewportDetail
from app.viewmodels.viewport_loading import ViewportLoading
from app.viewmodels.viewport_overlay import AFTER, BEFORE, DETAIL_KEY, ViewportOverlay
from engine.meshio.reader import DEFAULT_MAX_FACES

log = logging.getLogger(__name__)
__all__ = ["AFTER", "BEFORE", "DETAIL_KEY", "MODE_KEYS", "MODE_LABELS", "DisplayMode",
           "ViewportViewModel", "mode_for_feature"]
# stats a job knows better than a count of what is drawn (a rig may skip helper joints)
_JOB_STAT_KEYS = ("parts", "bones", "uv_charts")


class ViewportViewModel(ViewportLoading, ViewportOverlay, ViewportDetail, QObject):
    """State of the 3D viewport; the view draws whatever this says, and never parses files."""

    mode_changed = Signal(str)  # DisplayMode value
    scene_loaded = Signal(object)  # SceneData complete (the result, when comparing)
    scene_changed = Signal(object, bool)  # SceneData | None to draw now, keep the camera
    scene_completed = Signal(object)  # the shown scene, its full level now in place
    load_failed = Signal(str)  # one sentence
    loading_changed = Signal(bool)
    overlay_changed = Signal(str)
    comparison_changed = Signal(str)  # "", "before" or "after"
    turntable_changed = Signal(bool)
    side_by_side_changed = Signal(bool)
    grid_changed = Signal(bool)
    axes_changed = Signal(bool)
    detail_changed = Signal()  # the parts to draw changed: preview ⇄ full mesh
    _prepared = Signal(object)  # _Delivery, emitted by the task that awaited the helper

    def __init__(self, parent: QObject | None = None, *, max_faces: int = DEFAULT_MAX_FACES) -> None:
        super().__init__(parent)
        self._max_faces = max_faces
        self._helper = offload.VIEWPORT
        self._helper.start()  # spawn and import now, not when the first file is dropped
        self._token = 0
        self._closed = False
        self._mode = DisplayMode.TEXTURED
        self._scenes: dict[str, SceneData] = {}
        self._side = ""
        self._job_stats: dict[str, Any] = {}
        self._pending_stats: dict[str, Any] = {}  # the newest request's job stats
        self._note = ""
        self._loading = ""
        self._full_detail = False  # the artist asked for the full mesh (D)
        self._auto_full: set[int] = set()  # scenes (by id) the renderer proved fast enough for
        self._face_budget = 0  # faces the view's renderer draws within its frame budget
        self._turntable = False
        self._side_by_side = False  # input left, result right, one camera
        self._hidden: frozenset[int] = frozenset()  # parts (by index) the artist hid
        self._drawn: tuple[object, tuple[PartData, ...]] = (None, ())  # filtered, cached
        self._moving = False  # the artist is moving the camera (drag, wheel)
        self._motion: tuple[PartData, ...] | None = None  # the level picked as it started
        self._merged_cache: tuple[object, tuple[PartData, ...]] = (None, ())  # alike joined
        self._motion_scale = 1.0  # the view's render resolution while the camera moves
        self._grid = True
        self._axes = True
        # queued even when emitted on this thread, so results always arrive via the event loop
        self._prepared.connect(self._on_worker_prepared, Qt.ConnectionType.QueuedConnection)
        self._session = uuid.uuid4().hex[:8]  # names this view model's requests in the helper

    # ------------------------------------------------------------------ state

    @property
    def mode(self) -> DisplayMode:
        return self._mode

    @property
    def scene(self) -> SceneData | None:
        """The scene on screen: the result, or the input while "before" is shown."""
        return self._scenes.get(self._side or AFTER)

    @property
    def before(self) -> SceneData | None:
        return self._scenes.get(BEFORE)

    @property
    def after(self) -> SceneData | None:
        return self._scenes.get(AFTER)

    @property
    def side(self) -> str:
        """"" for a plain file, else which half of the comparison is shown."""
        return self._side

    @property
    def is_loading(self) -> bool:
        return bool(self._loading)

    @property
    def turntable(self) -> bool:
        return self._turntable

    @property
    def grid_visible(self) -> bool:
        return self._grid

    @property
    def axes_visible(self) -> bool:
        return self._axes

    @property
    def effective_mode(self) -> DisplayMode:
        """The mode actually drawn: a UV checker on a mesh without UVs falls back to clay."""
        scene = self.scene
        if self._mode is DisplayMode.UV_CHECKER and scene is not None and not scene.has_uv:
            return DisplayMode.CLAY
        return self._mode

    @Slot(object)
    def set_hidden_parts(self, hidden: object) -> None:
        """Hide parts of the shown scene by index (the parts list's eyes and isolate)."""
        hidden = frozenset(hidden)
        if hidden != self._hidden:
            self._hidden = hidden
            self.detail_changed.emit()

    def stats(self) -> dict[str, Any]:
        """Counts for the shown scene; the job's own parts/bones/UV charts win over ours."""
        scene = self.scene
        if scene is None:
            return {}
        stats: dict[str, Any] = scene.stats()
        if self._side != BEFORE:
            stats.update({k: self._job_stats[k] for k in _JOB_STAT_KEYS if k in self._job_stats})
        return stats

    # ------------------------------------------------------------------ slots

    @Slot(str)
    def open_file(self, path: str, stats: dict[str, Any] | None = None) -> None:
        """Show one file (``stats``: the job result's stats, when it is a job's output)."""
        self._load((str(path),), stats)

    @Slot(str, str)
    def show_comparison(
        self, before_path: str, after_path: str, stats: dict[str, Any] | None = None
    ) -> None:
        """Show a job's result with its input one toggle away (``B``)."""
        self._load((str(before_path), str(after_path)), stats)

    @Slot(str)
    def set_mode(self, mode: str) -> None:
        mode = DisplayMode(mode)
        if mode is not self._mode:
            self._mode = mode
            self.mode_changed.emit(mode.value)
            self._emit_overlay()

    @Slot(bool)
    def set_full_detail(self, on: bool) -> None:
        """Draw the real mesh even where the renderer is too slow for it (or go back)."""
        if on != self._full_detail:
            self._full_detail = on
            self.detail_changed.emit()
            self._emit_overlay()

    @Slot(bool)
    def set_camera_moving(self, on: bool) -> None:
        """The view's word that the artist started or stopped moving the camera."""
        if on != self._moving:
            was, self._moving = self.camera_moving, on
            self._camera_motion_changed(was)

    def _camera_motion_changed(self, was: bool) -> None:
        if was != self.camera_moving:
            self._motion = None
            if self.scene is not None and (self.scene.preview is not None
                                           or self._motion_scale < 1.0):
                self.detail_changed.emit()
                self._emit_overlay()

    @Slot()
    def toggle_full_detail(self) -> None:
        self.set_full_detail(not self._full_detail)

    @Slot(int)
    def set_face_budget(self, faces: int) -> None:
        """The view's measure of its renderer: how many faces fit its frame budget. A shown
        preview gives way to the real mesh once that fits (once per scene, so a slow full
        frame cannot bounce it back and forth)."""
        self._face_budget = max(0, int(faces))
        scene = self.scene
        if scene is not None and self._draws_preview(scene) and scene.faces <= self._face_budget:
            self._auto_full.add(id(scene))
            self.detail_changed.emit()
            self._emit_overlay()

    @Slot(str)
    def set_side(self, side: str) -> None:
        if side not in (BEFORE, AFTER) or not self._side or side == self._side:
            return
        self._side, self._hidden = side, frozenset()  # the other side has parts of its own
        self.comparison_changed.emit(side)
        self.scene_changed.emit(self.scene, True)  # same camera: the point is to compare
        self._emit_overlay()

    @property
    def side_by_side(self) -> bool:
        """True while the input is drawn beside the result (only with a "before" to show)."""
        return self._side_by_side and BEFORE in self._scenes

    @Slot(bool)
    def set_side_by_side(self, on: bool) -> None:
        if on != self._side_by_side:
            self._side_by_side = on
            if on and self._side == BEFORE:
                self.set_side(AFTER)  # the right half is the result
            self.side_by_side_changed.emit(on)
            self._emit_overlay()

    @Slot()
    def toggle_before_after(self) -> None:
        self.set_side(AFTER if self._side == BEFORE else BEFORE)

    @Slot(bool)
    def set_turntable(self, on: bool) -> None:
        if on != self._turntable:
            was, self._turntable = self.camera_moving, on
            self.turntable_changed.emit(on)
            self._camera_motion_changed(was)

    @Slot()
    def toggle_turntable(self) -> None:
        self.set_turntable(not self._turntable)

    @Slot(bool)
    def set_grid_visible(self, on: bool) -> None:
        if on != self._grid:
            self._grid = on
            self.grid_changed.emit(on)

    @Slot(bool)
    def set_axes_visible(self, on: bool) -> None:
        if on != self._axes:
            self._axes = on
            self.axes_changed.emit(on)

    @Slot()
    def clear(self) -> None:
        self._token += 1  # anything still being prepared is now stale
        self._scenes, self._side, self._job_stats, self._note = {}, "", {}, ""
        self._full_detail, self._auto_full, self._hidden = False, set(), frozenset()
        self._set_loading("")
        self.comparison_changed.emit("")
        self.scene_changed.emit(None, False)
        self._emit_overlay()

    def shutdown(self) -> None:
        """Stop delivering results; call before the view and this object go away."""
        self._closed = True
        self._token += 1  # the shared helper stays up for other viewports; its answer is dropped

    # ------------------------------------------------------------------ loading

    def _set_loading(self, name: str) -> None:
        was = bool(self._loading)
        self._loading = name
        if was != bool(name):
            self.loading_changed.emit(bool(name))
        if name:
            self._emit_overlay()

    def _emit_overlay(self) -> None:
        self.overlay_changed.emit(self.overlay_text())
