"""The Create panel's recipe row: a recipe combo, Run recipe, Cancel and the step it is on."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.pipeline_viewmodel import PipelineViewModel


class RecipeBar(QGroupBox):
    def __init__(self, vm: PipelineViewModel, parent: QWidget | None = None) -> None:
        super().__init__("Recipe", parent)
        self.vm = vm
        self.combo = QComboBox(objectName="recipeCombo")
        self.reload = QToolButton(text="⟳", toolTip="Re-read the saved recipes")
        self.description = QLabel(wordWrap=True, objectName="recipeDescription")
        self.description.setEnabled(False)  # muted text from the palette
        self.run_button = QPushButton("Run recipe", objectName="runRecipeButton")
        self.cancel_button = QPushButton("Cancel recipe", objectName="cancelRecipeButton")
        self.cancel_button.setEnabled(False)
        self.status = QLabel(wordWrap=True, objectName="recipeStatus")
        top = QHBoxLayout()
        top.addWidget(self.combo, 1)
        top.addWidget(self.reload)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.description)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.combo.activated.connect(lambda i: vm.set_recipe(self.combo.itemData(i)))
        self.combo.activated.connect(lambda _i: self.description.setText(vm.describe()))
        self.reload.clicked.connect(vm.refresh)
        self.run_button.clicked.connect(vm.run)
        self.cancel_button.clicked.connect(vm.cancel)
        vm.recipes_changed.connect(self._on_vm_recipes_changed)
        vm.can_run_changed.connect(self._on_vm_can_run_changed)
        vm.running_changed.connect(self.cancel_button.setEnabled)
        vm.status_changed.connect(self.status.setText)
        vm.error_raised.connect(self.status.setText)
        self._on_vm_recipes_changed([(rid, r.name) for rid, r in vm.recipes])
        vm.update_can_run()

    @Slot(list)
    def _on_vm_recipes_changed(self, recipes: list[tuple[str, str]]) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        for recipe_id, name in recipes:
            self.combo.addItem(name, recipe_id)
        self.combo.setCurrentIndex(max(0, self.combo.findData(self.vm.recipe_id)))
        self.combo.blockSignals(False)
        self.description.setText(self.vm.describe())

    @Slot(bool, str)
    def _on_vm_can_run_changed(self, enabled: bool, reason: str) -> None:
        self.run_button.setEnabled(enabled)
        self.run_button.setToolTip(reason)
