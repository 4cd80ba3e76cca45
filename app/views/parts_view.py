"""The parts list: every part of the shown scene by name with its face count; a tick shows or
hides it, a double-click isolates it (again: everything comes back)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.scene_data import SceneData
from app.viewmodels.viewport_viewmodel import ViewportViewModel


class PartsView(QWidget):
    def __init__(self, viewport_vm: ViewportViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = viewport_vm
        self.summary = QLabel("Open a mesh to list its parts.", wordWrap=True)
        self.list = QListWidget(objectName="partsList")
        self.list.setAlternatingRowColors(True)
        self.isolate_button = QPushButton("Isolate", toolTip="Show only the selected part")
        self.show_all_button = QPushButton("Show all")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.isolate_button)
        buttons.addWidget(self.show_all_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.list.itemChanged.connect(self._on_list_item_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.isolate(self.list.row(item)))
        self.isolate_button.clicked.connect(lambda: self.isolate(self.list.currentRow()))
        self.show_all_button.clicked.connect(lambda: self.vm.set_hidden_parts(()))
        viewport_vm.scene_changed.connect(self._on_vm_scene_changed)
        viewport_vm.detail_changed.connect(self._sync_ticks)

    def isolate(self, row: int) -> None:
        """Only this part; isolating the part already alone brings every part back."""
        count = self.list.count()
        if not 0 <= row < count:
            return
        alone = frozenset(i for i in range(count) if i != row)
        self.vm.set_hidden_parts(() if self.vm.hidden_parts == alone else alone)

    def _on_vm_scene_changed(self, scene: SceneData | None, _keep_camera: bool) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        parts = scene.parts if scene is not None else ()
        for i, part in enumerate(parts):
            item = QListWidgetItem(f"{part.name or f'part {i + 1}'}  ·  {len(part.faces):,} faces")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.summary.setText(f"{len(parts):,} part{'s' if len(parts) != 1 else ''}; tick to "
                             "show or hide, double-click to isolate." if parts
                             else "Open a mesh to list its parts.")
        self._sync_ticks()

    def _on_list_item_changed(self, item: QListWidgetItem) -> None:
        hidden = {i for i in range(self.list.count())
                  if self.list.item(i).checkState() != Qt.CheckState.Checked}
        self.vm.set_hidden_parts(hidden)

    def _sync_ticks(self) -> None:
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            self.list.item(i).setCheckState(Qt.CheckState.Unchecked if i in self.vm.hidden_parts
                                            else Qt.CheckState.Checked)
        self.list.blockSignals(False)
