"""The Models page: the neural models, their state, size, folder and licence; Verify,
Download and Set folder act on the selected one. All the work happens in ModelsViewModel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.models_viewmodel import FOLDER, NAME, STATUS_ROLE, ModelsViewModel
from engine.storage.models import ModelStatus


class ModelsView(QWidget):
    """Table, buttons, a download progress bar and a one-line message area."""

    def __init__(self, view_model: ModelsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = view_model
        self.table = self._make_table()
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("Check the selected model's files again")
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Fetch the selected model from the Hugging Face hub")
        self.folder_button = QPushButton("Set folder…")
        self.folder_button.setToolTip("Use a model folder copied from another machine")
        self.refresh_button = QPushButton("Refresh")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.message_label = QLabel(wordWrap=True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._lay_out()
        self._connect()
        self._on_selection_changed()

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.vm.table)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(NAME, 200)
        header.setSectionResizeMode(FOLDER, QHeaderView.ResizeMode.Stretch)
        return table

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.verify_button, self.download_button, self.folder_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message_label)

    def _connect(self) -> None:
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.vm.table.modelReset.connect(self._on_selection_changed)
        self.vm.table.dataChanged.connect(self._on_selection_changed)
        self.verify_button.clicked.connect(self._on_verify_clicked)
        self.download_button.clicked.connect(self._on_download_clicked)
        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.refresh_button.clicked.connect(self.vm.refresh)
        self.vm.message.connect(self.message_label.setText)
        self.vm.busy_changed.connect(self._on_busy_changed)
        self.vm.download_progress.connect(self._on_download_progress)
        self.vm.download_finished.connect(self._on_download_finished)

    # ---- what the artist can be asked (replaced in tests) --------------------------------
    def ask_folder(self, name: str) -> str:
        return QFileDialog.getExistingDirectory(self, f"Folder of {name}")

    # ---- reactions ----------------------------------------------------------------------
    def selected(self) -> ModelStatus | None:
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isRowSelected(index.row()):
            return None
        return index.data(STATUS_ROLE)

    @Slot()
    def _on_selection_changed(self, *_args: object) -> None:
        status = self.selected()
        chosen = status is not None
        self.verify_button.setEnabled(chosen)
        self.folder_button.setEnabled(chosen)
        self.download_button.setEnabled(chosen and self.vm.can_download(status.info.id))

    @Slot()
    def _on_verify_clicked(self) -> None:
        if (status := self.selected()) is not None:
            self.message_label.setText(f"Checking {status.info.name}…")
            self.vm.verify(status.info.id)

    @Slot()
    def _on_download_clicked(self) -> None:
        if (status := self.selected()) is not None:
            self.message_label.setText(f"Downloading {status.info.name} "
                                       f"(about {status.info.approx_size_mb} MB)…")
            self.progress.setValue(0)
            self.progress.show()
            self.vm.download(status.info.id)

    @Slot()
    def _on_folder_clicked(self) -> None:
        if (status := self.selected()) is not None:
            folder = self.ask_folder(status.info.name)
            if folder:
                self.vm.set_folder(status.info.id, folder)

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        self.refresh_button.setEnabled(not busy)

    @Slot(str, str, float)
    def _on_download_progress(self, _model_id: str, stage: str, fraction: float) -> None:
        self.progress.setFormat(f"{stage} %p%")
        self.progress.setValue(round(1000 * fraction))

    @Slot(str, bool)
    def _on_download_finished(self, _model_id: str, _ok: bool) -> None:
        if not self.vm.table.downloading:
            self.progress.hide()
