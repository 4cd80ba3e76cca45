"""The log panel: the engine's JSON log lines as a table that follows new lines."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.log_viewmodel import JOB, LEVEL, LOGGER, TIME, LogViewModel

ALL_JOBS = "All jobs"


class LogView(QWidget):
    """Level and job filters over a table; "Follow" keeps the newest line in sight."""

    def __init__(self, view_model: LogViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = view_model
        self.level_combo = QComboBox()
        for level in view_model.levels:
            self.level_combo.addItem(level.capitalize(), level)
        self.level_combo.setCurrentIndex(self.level_combo.findData("info"))
        self.job_combo = QComboBox()
        self.job_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.job_combo.addItem(ALL_JOBS, "")
        self.search_edit = QLineEdit(placeholderText="Search the log…", clearButtonEnabled=True)
        self.follow_check = QCheckBox("Follow")
        self.follow_check.setChecked(True)
        self.table = self._make_table()
        self._lay_out()
        self.level_combo.currentIndexChanged.connect(self._on_level_combo_changed)
        self.job_combo.currentIndexChanged.connect(self._on_job_combo_changed)
        self.search_edit.textChanged.connect(view_model.set_text_filter)
        view_model.job_ids_changed.connect(self._on_vm_job_ids_changed)
        view_model.proxy.rowsInserted.connect(self._on_proxy_rows_inserted)
        self._on_vm_job_ids_changed(view_model.job_ids)
        self._on_level_combo_changed(self.level_combo.currentIndex())

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.vm.proxy)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        copy = QAction("Copy", table, shortcut=QKeySequence.StandardKey.Copy,
                       shortcutContext=Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        table.addAction(copy)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.setAlternatingRowColors(True)  # palette colours: fine on dark themes
        rows = table.verticalHeader()
        rows.hide()
        # fixed rows: tens of thousands of lines must not be measured one by one
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(table.fontMetrics().height() + 6)
        header = table.horizontalHeader()
        for column, chars in ((TIME, 13), (LEVEL, 9), (LOGGER, 18), (JOB, 14)):
            header.resizeSection(column, table.fontMetrics().averageCharWidth() * chars + 12)
        header.setStretchLastSection(True)
        return table

    def _lay_out(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Level"))
        filters.addWidget(self.level_combo)
        filters.addWidget(QLabel("Job"))
        filters.addWidget(self.job_combo)
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.follow_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)

    def selected_text(self) -> str:
        """The selected lines as tab-separated text, in the order shown."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        model = self.table.model()
        return "\n".join("\t".join(str(model.index(r, c).data() or "")
                                   for c in range(model.columnCount())) for r in rows)

    @Slot()
    def copy_selection(self) -> None:
        if text := self.selected_text():
            QGuiApplication.clipboard().setText(text)

    @Slot(int)
    def _on_level_combo_changed(self, _index: int) -> None:
        self.vm.set_min_level(self.level_combo.currentData())

    @Slot(int)
    def _on_job_combo_changed(self, _index: int) -> None:
        self.vm.set_job_filter(self.job_combo.currentData() or "")

    @Slot(list)
    def show_job(self, job_id: str) -> None:
        """Only this job's lines (Show log on a job card or a notice)."""
        if self.job_combo.findData(job_id) < 0:
            self.job_combo.addItem(job_id, job_id)
        self.job_combo.setCurrentIndex(self.job_combo.findData(job_id))

    def _on_vm_job_ids_changed(self, job_ids: list[str]) -> None:
        known = {self.job_combo.itemData(i) for i in range(self.job_combo.count())}
        for job_id in job_ids:  # append only: the artist's current choice stays put
            if job_id not in known:
                self.job_combo.addItem(job_id, job_id)

    @Slot(QModelIndex, int, int)
    def _on_proxy_rows_inserted(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self.follow_check.isChecked():
            self.table.scrollToBottom()
