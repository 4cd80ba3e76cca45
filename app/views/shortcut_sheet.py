"""F1: every keyboard shortcut of the window and the viewport, and the mouse, on one sheet."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

MOUSE = (
    ("Orbit (turntable: the up axis stays up)", "Left drag"),
    ("Pan", "Shift + left drag, or middle drag"),
    ("Zoom", "Wheel, or right drag"),
)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(what, keys) for each action with a shortcut, once per pair, menu accelerators removed."""
    rows: dict[tuple[str, str], None] = {}
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        what = (action.toolTip() or action.text()).replace("&", "")
        what = what.split(" (")[0] if what.endswith(")") else what
        if keys and what:
            rows[(what, keys)] = None
    return list(rows)


class ShortcutSheet(QDialog):
    def __init__(self, parent: QWidget | None, actions: list[QAction]) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = [*shortcut_rows(actions), *MOUSE]
        self.table = QTableWidget(len(self.rows), 2, self)
        self.table.setHorizontalHeaderLabels(["What", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (what, keys) in enumerate(self.rows):
            self.table.setItem(row, 0, QTableWidgetItem(what))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(close)
        self.resize(520, 560)
