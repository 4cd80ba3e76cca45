"""The Models page: the neural models, their state, size, folder and licence; Verify,
Download, Import folder… and Allow pickle… act on the selected one. A download first shows the
model's licence when it has terms beyond a permissive one, and asks once for a model whose
part exists only as a pickle. All the work happens in ModelsViewModel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.models_viewmodel import FOLDER, LICENCE, NAME, STATUS_ROLE, ModelsViewModel
from engine.storage.models import ModelInfo, ModelStatus


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
        self.folder_button = QPushButton("Import folder…")
        self.folder_button.setToolTip("Use a model folder downloaded on another machine "
                                      "(checked first)")
        self.allow_button = QPushButton("Allow pickle…")
        self.allow_button.setToolTip("Allow the selected model's pickle weights, which can run "
                                     "code when loaded")
        self.refresh_button = QPushButton("Refresh")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.licence_label = QLabel(wordWrap=True)  # the selected model's licence, always shown
        self.licence_label.setOpenExternalLinks(True)
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
        header.setSectionResizeMode(LICENCE, QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.verify_button, self.download_button, self.folder_button,
                       self.allow_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.licence_label)
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
        self.allow_button.clicked.connect(self._on_allow_clicked)
        # queued: the question's nested event loop must not run inside the import's task
        self.vm.consent_needed.connect(self._on_consent_needed,
                                       Qt.ConnectionType.QueuedConnection)
        self.refresh_button.clicked.connect(self.vm.refresh)
        self.vm.message.connect(self.message_label.setText)
        self.vm.busy_changed.connect(self._on_busy_changed)
        self.vm.download_progress.connect(self._on_download_progress)
        self.vm.download_finished.connect(self._on_download_finished)

    # ---- what the artist can be asked (replaced in tests) --------------------------------
    def ask_folder(self, name: str) -> str:
        return QFileDialog.getExistingDirectory(self, f"Folder of {name}")

    def ask_licence(self, info: ModelInfo) -> bool:
        text = (f"{info.licence_terms}\n\nThe full licence: {info.licence_url}\n\n"
                f"Download {info.name}?")
        answer = QMessageBox.question(self, f"{info.name}'s licence", text)
        return answer == QMessageBox.StandardButton.Yes

    def ask_pickle(self, sentence: str) -> bool:
        answer = QMessageBox.question(self, "Pickle weights", f"{sentence}\n\nAllow it?")
        return answer == QMessageBox.StandardButton.Yes

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
        self.allow_button.setEnabled(chosen and status.state == "needs_consent")
        self.licence_label.setText(_licence_text(status.info) if chosen else "")

    @Slot()
    def _on_verify_clicked(self) -> None:
        if (status := self.selected()) is not None:
            self.message_label.setText(f"Checking {status.info.name}…")
            self.vm.verify(status.info.id)

    @Slot()
    def _on_download_clicked(self) -> None:
        if (status := self.selected()) is None:
            return
        info = status.info
        if info.licence_terms and not self.ask_licence(info):
            return
        allow = self.vm.needs_consent(info.id)
        if allow and not self.ask_pickle(
                f"{info.name} has a part that exists only as a pickle "
                f"({', '.join(info.pickle_files)}), which can run code when it is loaded."):
            self.message_label.setText(f"{info.name} was not downloaded.")
            return
        self.message_label.setText(f"Downloading {info.name} (about {info.approx_size_mb} MB)…")
        self.progress.setValue(0)
        self.progress.show()
        self.vm.download(info.id, allow_pickle=allow)

    @Slot()
    def _on_folder_clicked(self) -> None:
        if (status := self.selected()) is not None:
            folder = self.ask_folder(status.info.name)
            if folder:
                self.message_label.setText(f"Checking {folder}…")
                self.vm.import_folder(status.info.id, folder)

    @Slot()
    def _on_allow_clicked(self) -> None:
        if (status := self.selected()) is not None and self.ask_pickle(
                f"The {status.info.name} model's {status.problem}."):
            self.vm.allow_pickle(status.info.id)

    @Slot(str, str, str)
    def _on_consent_needed(self, model_id: str, folder: str, sentence: str) -> None:
        if self.ask_pickle(sentence):
            self.vm.import_folder(model_id, folder, allow_pickle=True)
        else:
            self.message_label.setText(f"{folder} was not imported.")

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


def _licence_text(info: ModelInfo) -> str:
    if not info.licence_terms:
        return f"Licence: {info.licence}."
    return f'{info.licence_terms} <a href="{info.licence_url}">The licence</a>.'
