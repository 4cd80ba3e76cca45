"""The history panel: every past job with its thumbnail, filters, and what to do with one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QSize, Qt, Slot
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.history_viewmodel import (
    DATE,
    FEATURE,
    INPUT,
    JOB_ROLE,
    STATUS,
    THUMBNAIL,
    HistoryViewModel,
)
from app.viewmodels.names import feature_label
from app.views.export_dialog import ExportDialog
from app.views.history_columns import ColumnFit
from app.views.history_grid import make_grid
from engine.export.exporter import ExportOptions, ExportResult
from engine.jobs import Job

# (key, label, tooltip); the keys match HistoryViewModel.available_actions
_ACTIONS = (
    ("open", "Open", "Show the result in the viewport"),
    ("rerun", "Re-run", "Run the same job again with the same inputs and settings"),
    ("use_as_input", "Use as input", "Use this result as the input of a new job"),
    ("reveal", "Reveal", "Show the output folder in the file manager"),
    ("export", "Export…", "Save the result as GLB, glTF, OBJ, PLY, STL or USDZ"),
    ("pipeline", "Pipeline", "Show only the steps of this job's pipeline"),
    ("delete", "Delete", "Delete the job and its files"),
)


class HistoryView(QWidget):
    """Filter bar, thumbnail table, action buttons and a one-line message area."""

    def __init__(self, view_model: HistoryViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = view_model
        self.feature_combo = _combo("All features", view_model.features, feature_label)
        self.status_combo = _combo("All statuses", view_model.statuses)
        self.search_edit = QLineEdit(placeholderText="Search id, file, adapter, error…")
        self.search_edit.setClearButtonEnabled(True)
        self.table = self._make_table()
        self.grid = make_grid(self.table)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.grid)
        self.grid_button = QToolButton(text="Grid", checkable=True, objectName="historyGridButton",
                                       toolTip="Show the results as a grid of thumbnails")
        self.grid_button.toggled.connect(self.show_grid)
        self.job_actions = self._make_actions()
        self.message_label = _MessageLabel(wordWrap=True)
        self.message_label.setEnabled(False)  # the palette's muted text: no colour of our own
        self._lay_out()
        self._connect()
        self._on_selection_changed()

    # ---- construction -------------------------------------------------------------------
    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.vm.proxy)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.setAlternatingRowColors(True)  # both colours come from the palette
        table.setWordWrap(False)
        size = self.vm.thumbnails.size
        table.setIconSize(QSize(size, size))
        rows = table.verticalHeader()
        rows.hide()
        # fixed rows: the table never measures a thousand rows (or loads their thumbnails)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(size + 6)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(THUMBNAIL, size + 10)
        header.resizeSection(FEATURE, 130)
        header.resizeSection(INPUT, 170)
        header.resizeSection(STATUS, 80)
        header.resizeSection(DATE, 150)  # the whole date and time, never clipped
        header.setStretchLastSection(True)
        self._column_fit = ColumnFit(table)  # a narrow panel hides columns, never scrolls
        table.setSortingEnabled(True)
        table.sortByColumn(DATE, Qt.SortOrder.DescendingOrder)
        return table

    def _make_actions(self) -> dict[str, QAction]:
        actions: dict[str, QAction] = {}
        for key, label, tip in _ACTIONS:
            action = QAction(label, self)
            action.setToolTip(tip)
            action.triggered.connect(lambda _checked=False, k=key: self._on_action_triggered(k))
            actions[key] = action
        delete = actions["delete"]
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # not while typing a search
        self.table.addAction(delete)
        # the shortcut needs an active window; a key press reaching the table is enough here
        self.table.installEventFilter(self)
        return actions

    def _lay_out(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.feature_combo)
        filters.addWidget(self.status_combo)
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.grid_button)
        buttons = QHBoxLayout()
        for action in self.job_actions.values():
            button = QToolButton()
            button.setDefaultAction(action)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message_label)

    def _connect(self) -> None:
        self.feature_combo.currentIndexChanged.connect(self._on_feature_combo_changed)
        self.status_combo.currentIndexChanged.connect(self._on_status_combo_changed)
        self.search_edit.textChanged.connect(self.vm.set_text_filter)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.grid.doubleClicked.connect(self._on_table_double_clicked)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # a job changing state (running -> succeeded) changes what its buttons may do
        self.vm.proxy.dataChanged.connect(self._on_selection_changed)
        self.vm.proxy.layoutChanged.connect(self._on_selection_changed)
        self.vm.proxy.rowsRemoved.connect(self._on_selection_changed)
        self.vm.error_raised.connect(self.message_label.setText)
        self.vm.job_exported.connect(self._on_vm_job_exported)
        self.vm.export_finished.connect(self._on_vm_export_finished)
        self.vm.job_resubmitted.connect(
            lambda job_id: self.message_label.setText(f"Queued again as job {job_id}."))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.table and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)
                and event.matches(QKeySequence.StandardKey.Delete)):
            self.job_actions["delete"].trigger()
            return True
        return super().eventFilter(watched, event)

    # ---- what the artist can be asked (replaced in tests) --------------------------------
    def confirm_delete(self, job_ids: list[str]) -> bool:
        what = f"job {job_ids[0]}" if len(job_ids) == 1 else f"{len(job_ids)} jobs"
        answer = QMessageBox.question(
            self, "Delete", f"Delete {what} and the output files? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_export(self, suggested: str) -> tuple[str, ExportOptions] | None:
        """The export dialog: where to, in which format, with which options."""
        dialog = ExportDialog(Path.home() / suggested, self)
        if dialog.exec() != ExportDialog.DialogCode.Accepted or not dialog.destination():
            return None
        return dialog.destination(), dialog.options()

    # ---- reactions ----------------------------------------------------------------------
    def selected_job(self) -> Job | None:
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isRowSelected(index.row()):
            return None
        return index.data(JOB_ROLE)

    def show_grid(self, on: bool) -> None:
        """Thumbnails in a grid, or the table; the selection is the same in both."""
        self.stack.setCurrentWidget(self.grid if on else self.table)
        self.grid_button.setChecked(on)

    def selected_jobs(self) -> list[Job]:
        rows = self.table.selectionModel().selectedRows()
        return [job for index in rows if (job := index.data(JOB_ROLE)) is not None]

    @Slot()
    def _on_selection_changed(self, *_args: object) -> None:
        job = self.selected_job()
        allowed = set(self.vm.available_actions(job.job_id)) if job else set()
        many = self.selected_jobs()
        if len(many) > 1:  # several rows: only what applies to all of them at once
            allowed = {"delete"} if all(
                "delete" in self.vm.available_actions(j.job_id) for j in many) else set()
        for key, action in self.job_actions.items():
            action.setEnabled(key in allowed)

    @Slot(int)
    def _on_feature_combo_changed(self, _index: int) -> None:
        self.vm.set_feature_filter(self.feature_combo.currentData() or "")

    @Slot(int)
    def _on_status_combo_changed(self, _index: int) -> None:
        self.vm.set_status_filter(self.status_combo.currentData() or "")

    @Slot(QModelIndex)
    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        job: Job | None = index.data(JOB_ROLE)
        if job is not None:
            self.message_label.clear()
            self.vm.open_result(job.job_id)

    @Slot(QPoint)
    def _on_table_context_menu_requested(self, pos: QPoint) -> None:
        if not self.table.indexAt(pos).isValid():
            return
        row = self.table.indexAt(pos).row()
        if not self.table.selectionModel().isRowSelected(row):  # keep a multi-selection
            self.table.selectRow(row)
        menu = QMenu(self)
        for key, action in self.job_actions.items():
            if key == "delete":
                menu.addSeparator()
            menu.addAction(action)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _on_action_triggered(self, key: str) -> None:
        if key == "delete":  # the one action that takes every selected row
            self._delete_selected()
            return
        job = self.selected_job()
        if job is None:
            return
        self.message_label.clear()
        if key == "export":
            chosen = self.ask_export(self.vm.export_name(job.job_id))
            if chosen:
                self.vm.export(job.job_id, *chosen)
        elif key == "pipeline":  # the grouping: filter the table down to its steps
            self.search_edit.setText(self.vm.pipeline_filter(job.job_id))
        else:
            getattr(self.vm, "open_result" if key == "open" else key)(job.job_id)

    def _delete_selected(self) -> None:
        self.message_label.clear()
        ids = [j.job_id for j in self.selected_jobs()
               if "delete" in self.vm.available_actions(j.job_id)]
        if ids and self.confirm_delete(ids):
            for job_id in ids:
                self.vm.delete(job_id)

    @Slot(str, str)
    def _on_vm_job_exported(self, job_id: str, dest: str) -> None:
        self.message_label.setText(f"Exported job {job_id} to {dest}.")

    @Slot(object)
    def _on_vm_export_finished(self, result: ExportResult) -> None:
        notes = " ".join(result.notes)
        self.message_label.setText(f"Exported job {result.job_id} to {result.path} "
                                   f"(checked: {result.faces:,} faces). {notes}".strip())


class _MessageLabel(QLabel):
    """Takes room only while it has something to say: the rows need the height."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hide()

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setVisible(bool(text))

    def clear(self) -> None:
        self.setText("")


def _combo(everything: str, values: tuple[str, ...],
           label: Callable[[str], str] = lambda v: v.replace("_", " ")) -> QComboBox:
    combo = QComboBox()
    combo.addItem(everything, "")
    for value in values:
        combo.addItem(label(value), value)
    return combo
