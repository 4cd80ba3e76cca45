"""Accepting dropped files, the same way for every widget that takes them."""

from __future__ import annotations

from PySide6.QtGui import QDragEnterEvent, QDropEvent


class AcceptsFileDrops:
    """Mixin for a QWidget: local files dropped on it go to ``on_files_dropped``.
    The widget must call ``setAcceptDrops(True)``."""

    def on_files_dropped(self, paths: list[str]) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.on_files_dropped(paths)
