"""About Meshsmith: versions of everything that matters, and the devices the engine sees."""

from __future__ import annotations

import platform
from importlib import metadata

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app.theme import APP_NAME, APP_VERSION
from engine.workers.devices import Devices

PACKAGES = ("PySide6-Essentials", "pyvista", "vtk", "trimesh", "xatlas", "fast-simplification",
            "numpy", "pydantic", "torch")


def versions() -> dict[str, str]:
    found = {"Python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


class AboutDialog(QDialog):
    def __init__(self, devices: Devices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{v}</td></tr>" for k, v in versions().items())
        text = (f"<h2>{APP_NAME} {APP_VERSION}</h2><p>A desktop studio for 3D generative AI.</p>"
                f"<p><b>Devices:</b> {devices.describe()}</p><table>{rows}</table>")
        label = QLabel(text, objectName="aboutText")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)
