"""The Create panel: feature and adapter, a drop zone with a thumbnail, parameters, Run."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.create_viewmodel import CreateViewModel
from app.viewmodels.names import FEATURE_LABELS
from app.viewmodels.pipeline_viewmodel import PipelineViewModel
from app.views.file_drop import AcceptsFileDrops
from app.views.param_form import ParamForm
from app.views.recipe_bar import RecipeBar
from engine.contract.spec import AdapterSpec
from engine.meshio.staging import StagedInput

MESH_FILTER = "Meshes and images (*.glb *.gltf *.obj *.ply *.stl *.off *.png *.jpg *.jpeg *.webp)"


class DropZone(AcceptsFileDrops, QFrame):
    """Shows the staged input (thumbnail or name); accepts drops and clicks."""

    files_dropped = Signal(list)  # local paths

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self.setMinimumHeight(140)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel("Drop a mesh or an image here\nor click to choose one",
                              alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)

    def show_input(self, staged: StagedInput | None, thumbnail: Path | None = None) -> None:
        if staged is None:
            self.picture.clear()
            self.caption.setText("Drop a mesh or an image here\nor click to choose one")
            return
        pixmap = QPixmap(str(thumbnail or staged.path))
        if not pixmap.isNull():
            self.picture.setPixmap(pixmap.scaled(120, 120, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
        else:
            self.picture.clear()
        detail = (f"{staged.faces:,} faces" if staged.kind == "mesh"
                  else f"{staged.width} × {staged.height} px")
        self.caption.setText(f"{staged.original_name}\n{detail}")

    def show_busy(self, text: str) -> None:
        self.caption.setText(f"Reading {Path(text).name}…")

    def mousePressEvent(self, event: object) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose an input", "", MESH_FILTER)
        if path:
            self.files_dropped.emit([path])

    def on_files_dropped(self, paths: list[str]) -> None:
        self.files_dropped.emit(paths)


class CreateView(QWidget):
    files_dropped = Signal(list)  # the window decides: one input, or a batch after confirming

    def __init__(self, viewmodel: CreateViewModel, parent: QWidget | None = None, *,
                 pipeline_vm: PipelineViewModel | None = None) -> None:
        super().__init__(parent)
        self.vm = viewmodel
        # recipes run on the same input: one click from this panel (engine.pipelines.runner)
        self.recipe_bar = RecipeBar(pipeline_vm) if pipeline_vm is not None else None
        self.feature = QComboBox(objectName="featureCombo")
        for feature in viewmodel.features():
            self.feature.addItem(FEATURE_LABELS[feature], feature)
        self.adapter = QComboBox(objectName="adapterCombo")
        self.description = QLabel(wordWrap=True, objectName="adapterDescription")
        self.drop_zone = DropZone()
        self.form = ParamForm(viewmodel.set_param)
        self.run_button = QPushButton("Run  (Ctrl+Enter)", objectName="runButton")
        self.reason = QLabel(wordWrap=True, objectName="runReason")
        self._layout()
        self._connect()
        self._on_vm_feature_changed(viewmodel.feature)  # the real current feature, first launch
        self._on_vm_adapter_changed(viewmodel.adapter)
        reason = viewmodel.run_disabled_reason()  # said before this view listened
        self._on_vm_can_run_changed(not reason, reason)

    def _layout(self) -> None:
        """Everything in one scrolling column: at 768 pixels of height nothing overlaps, the
        panel scrolls instead."""
        top = QFormLayout()
        top.addRow("Feature", self.feature)
        top.addRow("Adapter", self.adapter)
        body = QWidget(objectName="createBody")
        column = QVBoxLayout(body)
        column.addLayout(top)
        column.addWidget(self.description)
        column.addWidget(self.drop_zone)
        column.addWidget(QLabel("<b>Parameters</b>"))
        column.addWidget(self.form)
        column.addWidget(self.reason)
        column.addWidget(self.run_button)
        if self.recipe_bar is not None:
            column.addWidget(self.recipe_bar)
        column.addStretch(1)
        self.scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame,
                                  objectName="createScroll")
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

    def _connect(self) -> None:
        vm = self.vm
        self.feature.currentIndexChanged.connect(
            lambda i: vm.set_feature(self.feature.itemData(i)))
        self.adapter.activated.connect(lambda i: vm.set_adapter(self.adapter.itemData(i)))
        self.run_button.clicked.connect(vm.run)
        self.drop_zone.files_dropped.connect(self.files_dropped)
        vm.adapter_changed.connect(self._on_vm_adapter_changed)
        vm.feature_changed.connect(self._on_vm_feature_changed)
        vm.can_run_changed.connect(self._on_vm_can_run_changed)
        vm.input_changed.connect(self._on_vm_input_changed)
        vm.input_staging_started.connect(self.drop_zone.show_busy)

    def _on_vm_feature_changed(self, feature: str) -> None:
        self.feature.blockSignals(True)  # the view model already has it: no echo back
        self.feature.setCurrentIndex(self.feature.findData(feature))
        self.feature.blockSignals(False)

    def _on_vm_adapter_changed(self, spec: AdapterSpec | None) -> None:
        if spec is None:
            return
        self.adapter.blockSignals(True)
        self.adapter.clear()
        for candidate in self.vm.adapters():
            self.adapter.addItem(candidate.label, candidate.id)
        self.adapter.setCurrentIndex(self.adapter.findData(spec.id))
        self.adapter.blockSignals(False)
        devices = " or ".join("GPU" if d == "cuda" else "CPU" for d in spec.devices)
        self.description.setText(f"{spec.description}\nRuns on the {devices}.")
        self.form.set_schema(spec.params_model().model_json_schema(), self.vm.params)

    def _on_vm_can_run_changed(self, enabled: bool, reason: str) -> None:
        self.run_button.setEnabled(enabled)
        self.reason.setText(reason)
        self.run_button.setToolTip(reason)

    def _on_vm_input_changed(self, staged: StagedInput | None) -> None:
        self.drop_zone.show_input(staged, self.vm.input_thumbnail)
        others = [i for i in self.vm.inputs.values() if staged is not None and i is not staged]
        if others:  # e.g. painting holds a mesh and a picture
            self.drop_zone.caption.setText(self.drop_zone.caption.text() + "".join(
                f"\n+ {i.original_name} ({i.kind})" for i in others))
