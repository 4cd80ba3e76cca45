"""The studio window: the viewport in the centre, dockable panels around it, menus, shortcuts,
drag and drop. It only wires views to view models; it decides nothing about jobs."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QWidget

from app.bridge import EngineBridge
from app.theme import APP_NAME
from app.viewmodels.create_viewmodel import CreateViewModel
from app.viewmodels.history_viewmodel import HistoryViewModel
from app.viewmodels.jobs_viewmodel import JobsViewModel
from app.viewmodels.log_viewmodel import LogViewModel
from app.viewmodels.models_viewmodel import ModelsViewModel
from app.viewmodels.pipeline_viewmodel import PipelineViewModel
from app.viewmodels.serving_viewmodel import ServingViewModel
from app.viewmodels.viewport_viewmodel import (
    DETAIL_KEY,
    MODE_KEYS,
    MODE_LABELS,
    DisplayMode,
    ViewportViewModel,
)
from app.views.about_dialog import AboutDialog
from app.views.create_view import MESH_FILTER, CreateView
from app.views.file_drop import AcceptsFileDrops
from app.views.history_view import HistoryView
from app.views.job_outcomes import JobOutcomes
from app.views.jobs_view import JobsView
from app.views.log_view import LogView
from app.views.models_view import ModelsView
from app.views.notices import NoticeArea
from app.views.parts_view import PartsView
from app.views.shortcut_sheet import ShortcutSheet
from app.views.status_bar import StudioStatusBar
from app.views.viewport import ViewportView
from app.views.window_layout import apply_default_layout, restore_layout, save_layout
from engine.meshio.reader import sniff
from engine.storage.models import ModelStore


class MainWindow(AcceptsFileDrops, QMainWindow):
    scene_shown = Signal()  # the viewport drew a newly opened file
    load_failed = Signal(str)  # a file could not be shown: one sentence

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.viewport_vm = ViewportViewModel(self)  # where this window's own jobs end up
        self.create_vm = CreateViewModel(bridge, self, viewport=self.viewport_vm)
        self.jobs_vm = JobsViewModel(bridge, self)
        self.history_vm = HistoryViewModel(bridge, self, viewport=self.viewport_vm)
        self.log_vm = LogViewModel(bridge, self)
        self.pipeline_vm = PipelineViewModel(bridge, self.create_vm, self)
        self.serving_vm = ServingViewModel(bridge, self)
        self.viewport = ViewportView(self.viewport_vm, self)
        self.setCentralWidget(self.viewport)
        self.create_view = CreateView(self.create_vm, pipeline_vm=self.pipeline_vm)
        self.jobs_view = JobsView(self.jobs_vm)
        self.history_view = HistoryView(self.history_vm)
        self.log_view = LogView(self.log_vm)
        self.models_vm = ModelsViewModel(ModelStore(bridge.engine.data), parent=self)
        self._models_listed = False
        self.models_view = ModelsView(self.models_vm)
        self.parts_view = PartsView(self.viewport_vm)
        self.docks = self._make_docks()
        # over the 3D view: the canvas's children are composed with its frames (it is a
        # native window of its own, app/views/viewport_canvas.py)
        self.notices = NoticeArea(self.viewport.plotter)
        self.outcomes = JobOutcomes(self.jobs_vm, self.viewport_vm, self.notices,
                                    retry=self.history_vm.rerun, show_log=self.show_job_log,
                                    parent=self)
        self.status = StudioStatusBar(bridge.engine.devices, self)
        self.setStatusBar(self.status)
        self._make_menus()
        self._connect()
        self._restore_layout()

    # ---- building -------------------------------------------------------------------------
    def _make_docks(self) -> dict[str, QDockWidget]:
        places = {
            "Create": (self.create_view, Qt.DockWidgetArea.LeftDockWidgetArea),
            "Jobs": (self.jobs_view, Qt.DockWidgetArea.RightDockWidgetArea),
            "History": (self.history_view, Qt.DockWidgetArea.BottomDockWidgetArea),
            "Log": (self.log_view, Qt.DockWidgetArea.BottomDockWidgetArea),
            "Models": (self.models_view, Qt.DockWidgetArea.BottomDockWidgetArea),
            "Parts": (self.parts_view, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        docks = {}
        for title, (widget, area) in places.items():
            dock = QDockWidget(title, self, objectName=f"dock{title}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            docks[title] = dock
        self.tabifyDockWidget(docks["History"], docks["Log"])
        self.tabifyDockWidget(docks["Log"], docks["Models"])
        self.tabifyDockWidget(docks["Models"], docks["Parts"])
        # The Models page reads the disk: only when the artist first looks at it.
        docks["Models"].visibilityChanged.connect(self._on_models_dock_visibility_changed)
        docks["History"].raise_()
        return docks

    def _action(self, text: str, slot: object, shortcut: str | QKeySequence | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("&Open…", self.choose_file, QKeySequence.StandardKey.Open))
        file_menu.addAction(self._action("Save &screenshot…", self.choose_screenshot, "Ctrl+Shift+S"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))
        view_menu = bar.addMenu("&View")
        for mode in DisplayMode:
            view_menu.addAction(self._action(
                MODE_LABELS[mode], lambda _=False, m=mode: self.viewport_vm.set_mode(m.value),
                MODE_KEYS[mode]))
        view_menu.addSeparator()
        view_menu.addAction(self._action("&Frame", self.viewport.frame, "F"))
        view_menu.addAction(self._action("&Reset view", self.viewport.reset_view, "Home"))
        view_menu.addAction(self._action("Turntable", self.viewport_vm.toggle_turntable, "T"))
        view_menu.addAction(self._action("Before / after", self.viewport_vm.toggle_before_after,
                                         "B"))
        view_menu.addAction(self._action("Full detail", self.viewport_vm.toggle_full_detail,
                                         DETAIL_KEY))
        view_menu.addAction(self._action("Grid", lambda: self.viewport_vm.set_grid_visible(
            not self.viewport_vm.grid_visible), "G"))
        view_menu.addAction(self._action("Axes", lambda: self.viewport_vm.set_axes_visible(
            not self.viewport_vm.axes_visible), "A"))
        views_menu = view_menu.addMenu("&Camera")
        for action in self.viewport.view_actions:  # numpad keys, while the viewport has focus
            views_menu.addAction(action)
        view_menu.addSeparator()
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        jobs_menu = bar.addMenu("&Jobs")
        jobs_menu.addAction(self._action("&Run", self.create_vm.run, "Ctrl+Return"))
        self._action("Run", self.create_vm.run, "Ctrl+Enter")
        jobs_menu.addAction(self._action("Cancel &all", self.jobs_vm.cancel_all))
        jobs_menu.addSeparator()
        self.serve_action = self._action("&Serve the HTTP API", self.serving_vm.set_serving,
                                         checkable=True)
        self.serve_action.setToolTip(f"Let scripts and other tools send jobs to this studio on "
                                     f"http://{self.serving_vm.config.host}:"
                                     f"{self.serving_vm.config.port} (docs/api.md)")
        jobs_menu.addAction(self.serve_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard shortcuts", self.show_shortcuts, "F1"))
        help_menu.addAction(self._action("&About Meshsmith", self.show_about))

    def _connect(self) -> None:
        self.create_view.files_dropped.connect(self.open_paths)
        # queued: a modal dialog must not open inside the asyncio task that raised the error
        # (its nested event loop would step other tasks inside this one's step)
        for failing in (self.create_vm, self.history_vm, self.pipeline_vm, self.serving_vm):
            failing.error_raised.connect(self.show_error, Qt.ConnectionType.QueuedConnection)
        self.create_vm.input_changed.connect(self._on_create_input_changed)
        self.jobs_vm.active_count_changed.connect(self.status.show_active_jobs)
        self.jobs_view.open_requested.connect(self.outcomes.open)
        self.jobs_view.compare_requested.connect(self.outcomes.compare)
        self.jobs_view.retry_requested.connect(self.history_vm.rerun)
        self.jobs_view.log_requested.connect(self.show_job_log)
        self.history_vm.open_requested.connect(self.open_in_viewport)
        self.history_vm.input_chosen.connect(self.create_vm.set_input_source)
        self.history_vm.job_resubmitted.connect(
            lambda job_id: self.statusBar().showMessage(f"Re-running as job {job_id}", 5000))
        self.serving_vm.serving_changed.connect(self._on_serving_changed)
        self.viewport.scene_shown.connect(self.scene_shown)
        self.viewport_vm.load_failed.connect(self.load_failed)
        self.viewport_vm.load_failed.connect(self.show_error)

    # ---- actions --------------------------------------------------------------------------
    def open_path(self, path: str) -> None:
        """A file from Ctrl+O, the command line or a drop: show it and make it the input."""
        self.open_paths([path])

    def open_paths(self, paths: list[str]) -> None:
        if len(paths) > 1:
            self._confirm_batch(paths)
            return
        path = paths[0]
        self.create_vm.set_input_source(path)
        try:
            fmt = sniff(path)
        except Exception:
            fmt = None  # staging reports the reason in one sentence
        if fmt is not None and fmt.kind == "mesh":
            self.open_in_viewport(path)

    def open_forwarded(self, paths: list[str]) -> None:
        """Files a second launch handed over (app.single_instance): come to the front, then
        take them like a drop."""
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()
        if paths:
            self.open_paths(paths)

    def open_in_viewport(self, path: str) -> None:
        self.viewport_vm.open_file(path)

    def _confirm_batch(self, paths: list[str]) -> None:
        feature = self.create_vm.feature
        answer = QMessageBox.question(
            self, APP_NAME, f"Run {feature} on {len(paths)} files, one job each?")
        if answer == QMessageBox.StandardButton.Yes:
            self.create_vm.run_batch(paths)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open", "", MESH_FILTER)
        if path:
            self.open_path(path)

    def choose_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "meshsmith.png",
                                              "PNG image (*.png)")
        if path:
            self.viewport.save_screenshot(path)

    def show_about(self) -> None:
        AboutDialog(self.bridge.engine.devices, self).exec()

    def show_shortcuts(self) -> None:
        ShortcutSheet(self, [*self.actions(), *self.viewport.actions()]).exec()

    def show_job_log(self, job_id: str) -> None:
        self.docks["Log"].show()
        self.docks["Log"].raise_()
        self.log_view.show_job(job_id)

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 10_000)
        QMessageBox.warning(self, APP_NAME, message)

    def _on_models_dock_visibility_changed(self, visible: bool) -> None:
        if visible and not self._models_listed:
            self._models_listed = True
            self.models_vm.refresh()

    def _on_create_input_changed(self, staged: object) -> None:
        if staged is not None:
            self.statusBar().showMessage(f"Input: {staged.original_name}", 5000)

    def _on_serving_changed(self, url: str) -> None:
        self.serve_action.setChecked(bool(url))
        self.statusBar().showMessage(f"Serving the HTTP API on {url} (docs at {url}/docs)"
                                     if url else "Stopped serving the HTTP API.", 10_000)


    # ---- drag and drop on the whole window ------------------------------------------------
    def on_files_dropped(self, paths: list[str]) -> None:
        self.open_paths(paths)

    # ---- layout memory and shutdown -------------------------------------------------------
    def _restore_layout(self) -> None:
        self._default_layout_pending = not restore_layout(self, self.docks, QSettings())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._default_layout_pending:  # dock sizes need the window's real size
            self._default_layout_pending = False
            apply_default_layout(self, self.docks)

    def closeEvent(self, event: QCloseEvent) -> None:
        save_layout(self, QSettings())
        self.release()
        super().closeEvent(event)

    def release(self) -> None:
        """Stop timers and the viewport before the engine goes (never render after close)."""
        self.serving_vm.release()
        self.viewport_vm.shutdown()
        self.history_vm.close()
        self.log_vm.close()
        self.viewport.shutdown()
