"""What the 3D viewport shows: the scene, the display mode, before/after and the overlay.

Loading follows napari's layer slicer: the request (paths, limits, a generation number) is
captured on the GUI thread, ``prepare_scene`` runs on a one-thread executor, and the result
comes back through a queued signal. A newer request makes older results stale, so opening
two files quickly never shows the first one last.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app import scene_data
from app.scene_data import SceneData
from engine.errors import InvalidInput
from engine.meshio import DEFAULT_MAX_FACES

log = logging.getLogger(__name__)


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
MODE_KEYS = {mode: str(i + 1) for i, mode in enumerate(DisplayMode)}  # keys 1-8, in this order
BEFORE, AFTER = "before", "after"
# stats a job knows better than a count of what is drawn (a rig may skip helper joints)
_JOB_STAT_KEYS = ("parts", "bones", "uv_charts")


@dataclass(frozen=True)
class _Request:
    """Immutable input for the worker: nothing it reads can change under it."""

    token: int
    paths: tuple[str, ...]  # one file, or (before, after)
    max_faces: int


@dataclass(frozen=True)
class _Prepared:
    token: int
    scenes: tuple[SceneData | None, ...]
    errors: tuple[str | None, ...]


def _prepare(request: _Request) -> _Prepared:
    """Runs on the worker thread: reads each file, turning every failure into a sentence."""
    scenes: list[SceneData | None] = []
    errors: list[str | None] = []
    for path in request.paths:
        try:
            # looked up on the module at call time, so tests can watch which thread runs it
            scenes.append(scene_data.prepare_scene(path, max_faces=request.max_faces))
            errors.append(None)
        except InvalidInput as exc:
            scenes.append(None)
            errors.append(exc.message)
        except Exception:
            log.exception("preparing %s for the viewport failed", path)
            scenes.append(None)
            errors.append(f"{Path(path).name} could not be shown because of an internal error.")
    return _Prepared(request.token, tuple(scenes), tuple(errors))


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


class ViewportViewModel(QObject):
    """State of the 3D viewport; the view draws whatever this says, and never parses files."""

    mode_changed = Signal(str)  # DisplayMode value
    scene_loaded = Signal(object)  # SceneData just prepared (the result, when comparing)
    scene_changed = Signal(object, bool)  # SceneData | None to draw now, keep the camera
    load_failed = Signal(str)  # one sentence
    loading_changed = Signal(bool)
    overlay_changed = Signal(str)
    comparison_changed = Signal(str)  # "", "before" or "after"
    turntable_changed = Signal(bool)
    grid_changed = Signal(bool)
    axes_changed = Signal(bool)
    _prepared = Signal(object)  # _Prepared, emitted on the worker thread

    def __init__(self, parent: QObject | None = None, *, max_faces: int = DEFAULT_MAX_FACES) -> None:
        super().__init__(parent)
        self._max_faces = max_faces
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="viewport-prepare")
        self._token = 0
        self._closed = False
        self._mode = DisplayMode.TEXTURED
        self._scenes: dict[str, SceneData] = {}
        self._side = ""
        self._job_stats: dict[str, Any] = {}
        self._pending_stats: dict[str, Any] = {}  # the newest request's job stats
        self._note = ""
        self._loading = ""
        self._turntable = False
        self._grid = True
        self._axes = True
        # queued even when emitted on this thread, so results always arrive via the event loop
        self._prepared.connect(self._on_worker_prepared, Qt.ConnectionType.QueuedConnection)

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

    @Slot(str)
    def set_side(self, side: str) -> None:
        if side not in (BEFORE, AFTER) or not self._side or side == self._side:
            return
        self._side = side
        self.comparison_changed.emit(side)
        self.scene_changed.emit(self.scene, True)  # same camera: the point is to compare
        self._emit_overlay()

    @Slot()
    def toggle_before_after(self) -> None:
        self.set_side(AFTER if self._side == BEFORE else BEFORE)

    @Slot(bool)
    def set_turntable(self, on: bool) -> None:
        if on != self._turntable:
            self._turntable = on
            self.turntable_changed.emit(on)

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
        self._set_loading("")
        self.comparison_changed.emit("")
        self.scene_changed.emit(None, False)
        self._emit_overlay()

    def shutdown(self) -> None:
        """Stop delivering results; call before the view and this object go away."""
        self._closed = True
        self._token += 1
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ overlay

    def overlay_text(self) -> str:
        """The lines drawn in the viewport's corner."""
        if self._loading:
            return f"Loading {self._loading}…"
        scene = self.scene
        if scene is None:
            return "Open or drop a mesh: GLB, glTF, OBJ, PLY, STL or OFF."
        stats, (low, high) = self.stats(), scene.bounds
        title = scene.name + {BEFORE: "  ·  before (input)", AFTER: "  ·  after (result)"}.get(
            self._side, "")
        charts = stats.get("uv_charts")
        counts = "  ·  ".join([
            _count(stats["vertices"], "vertex", "vertices"), _count(stats["faces"], "face"),
            _count(stats["parts"], "part"), _count(stats["bones"], "bone"),
            "no UVs" if charts is None else _count(charts, "UV chart"),
        ])
        x, y, z = high - low
        lines = [title, counts, f"size {x:.3g} × {y:.3g} × {z:.3g}",
                 f"[{MODE_KEYS[self._mode]}] {MODE_LABELS[self._mode]}"]
        note = " ".join(n for n in (self.mode_note(), self._note) if n)
        return "\n".join([*lines, note] if note else lines)

    def mode_note(self) -> str:
        """Why the mode looks the way it does on this scene, or ""."""
        scene, mode = self.scene, self._mode
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
        if mode is DisplayMode.TEXTURED and not any(
            p.texture is not None or p.vertex_colors is not None for p in scene.parts
        ):
            return "No texture: showing the base colour."
        if mode is DisplayMode.PARTS and len(scene.parts) == 1:
            return "This mesh is one part."
        return ""

    # ------------------------------------------------------------------ loading

    def _load(self, paths: tuple[str, ...], stats: dict[str, Any] | None) -> None:
        if self._closed:
            return
        self._token += 1
        request = _Request(self._token, paths, self._max_faces)
        self._pending_stats = dict(stats or {})
        self._set_loading(Path(paths[-1]).name)
        future = self._executor.submit(_prepare, request)
        future.add_done_callback(self._on_future_done)

    def _on_future_done(self, future: Future[_Prepared]) -> None:
        # worker thread (or this one, for a future already done): hand over through the queue
        if future.cancelled() or self._closed:
            return
        try:
            self._prepared.emit(future.result())
        except RuntimeError:  # the C++ side is gone: the studio is closing
            pass

    @Slot(object)
    def _on_worker_prepared(self, prepared: _Prepared) -> None:
        if self._closed or prepared.token != self._token:
            return  # stale: a newer file was asked for meanwhile
        self._set_loading("")
        *before, after = prepared.scenes
        *before_error, after_error = prepared.errors
        if after is None:
            self.load_failed.emit(after_error or "The file could not be shown.")
            self._emit_overlay()
            return
        self._scenes = {AFTER: after}
        self._job_stats = self._pending_stats
        self._note = ""
        if before and before[0] is not None:
            self._scenes[BEFORE] = before[0]
        elif before:  # the result still shows; the artist learns why there is no "before"
            self._note = f"No before view: {before_error[0]}"
        self._side = AFTER if BEFORE in self._scenes else ""
        self.comparison_changed.emit(self._side)
        self.scene_loaded.emit(after)
        self.scene_changed.emit(after, False)
        self._emit_overlay()

    def _set_loading(self, name: str) -> None:
        was = bool(self._loading)
        self._loading = name
        if was != bool(name):
            self.loading_changed.emit(bool(name))
        if name:
            self._emit_overlay()

    def _emit_overlay(self) -> None:
        self.overlay_changed.emit(self.overlay_text())
