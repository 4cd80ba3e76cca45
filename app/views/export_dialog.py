"""The export dialog: format, destination, scale, up axis, baked transforms.

It only gathers choices; HistoryViewModel.export does the work off the GUI thread and
engine.export.exporter checks the files before they are reported done.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.export.exporter import FORMAT_LABELS, FORMATS, ExportOptions

# What each format keeps, so the artist is not surprised afterwards.
_KEEPS = {
    "glb": "Keeps everything: parts, materials, textures and the skin.",
    "gltf": "Keeps everything, as a .gltf with one .bin beside it.",
    "obj": "Parts become OBJ objects with transforms baked in; textures beside it; no skin.",
    "ply": "One merged mesh; a texture becomes vertex colours; no skin.",
    "stl": "One merged mesh of triangles only: no UVs, colours or skin.",
    "usdz": "One USD mesh per part with a preview material and its texture; no skin.",
}


class ExportDialog(QDialog):
    def __init__(self, suggested: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.format_combo = QComboBox(objectName="exportFormat")
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_LABELS[fmt], fmt)
        self.path_edit = QLineEdit(str(suggested.with_suffix(".glb")), objectName="exportPath")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.scale_spin = QDoubleSpinBox(objectName="exportScale", decimals=4,
                                         minimum=0.0001, maximum=1_000_000.0, value=1.0)
        self.scale_spin.setToolTip("Multiply every size: 100 turns metres into centimetres.")
        self.up_combo = QComboBox(objectName="exportUp")
        self.up_combo.addItem("Y up (glTF, Unity, Godot)", "y")
        self.up_combo.addItem("Z up (Blender, Unreal, 3ds Max)", "z")
        self.apply_check = QCheckBox("Bake node transforms into the vertices",
                                     objectName="exportApply")
        self.keeps_label = QLabel(wordWrap=True)
        self.keeps_label.setEnabled(False)  # muted text from the palette
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        where = QHBoxLayout()
        where.addWidget(self.path_edit, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format_combo)
        form.addRow("Save as", where)
        form.addRow("Scale", self.scale_spin)
        form.addRow("Up axis", self.up_combo)
        form.addRow("", self.apply_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.keeps_label)
        layout.addWidget(buttons)
        self.format_combo.currentIndexChanged.connect(self._on_format_changed)
        self._on_format_changed()

    def options(self) -> ExportOptions:
        return ExportOptions(format=self.format_combo.currentData(),
                             scale=self.scale_spin.value(), up=self.up_combo.currentData(),
                             apply_transforms=self.apply_check.isChecked())

    def destination(self) -> str:
        return self.path_edit.text().strip()

    def _on_format_changed(self, *_args: object) -> None:
        fmt = self.format_combo.currentData()
        self.keeps_label.setText(_KEEPS[fmt])
        text = self.destination()
        if text:
            self.path_edit.setText(str(Path(text).with_suffix(f".{fmt}")))

    def _browse(self) -> None:
        fmt = self.format_combo.currentData()
        path, _ = QFileDialog.getSaveFileName(self, "Export as", self.destination(),
                                              f"{FORMAT_LABELS[fmt]} (*.{fmt})")
        if path:
            self.path_edit.setText(str(Path(path).with_suffix(f".{fmt}")))
