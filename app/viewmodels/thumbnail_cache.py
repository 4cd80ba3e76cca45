"""Thumbnail PNGs for item models, read off the GUI thread and cached."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap


class ThumbnailCache(QObject):
    """Thumbnail PNGs read on a pool thread, each at most once; missing files cache as None.

    ``get`` never touches the disk on the calling (GUI) thread: it answers from the cache or
    queues a read and answers None; ``loaded`` says when a path's answer is ready.
    """

    loaded = Signal(str)
    _image_read = Signal(str, object)  # from the pool thread: path, scaled QImage or None

    def __init__(self, size: int = 64, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._pixmaps: dict[str, QPixmap | None] = {}
        self._pending: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # a thousand rows scrolled past queue, not fan out
        self._image_read.connect(self._on_reader_image_read)

    def get(self, path: str) -> QPixmap | None:
        if path in self._pixmaps:
            return self._pixmaps[path]
        if path not in self._pending:
            self._pending.add(path)
            self._pool.start(lambda: self._read(path))
        return None

    def forget(self, path: str) -> None:
        self._pixmaps.pop(path, None)

    def wait(self, msecs: int = -1) -> bool:
        """Block until queued reads are done (for shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    def _read(self, path: str) -> None:  # pool thread: QImage, unlike QPixmap, is thread-safe
        image = QImage(path) if os.path.isfile(path) else QImage()
        scaled = None if image.isNull() else image.scaled(
            self.size, self.size, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        try:
            self._image_read.emit(path, scaled)
        except RuntimeError:
            pass  # the cache was deleted while we read; nobody is waiting for the image

    @Slot(str, object)
    def _on_reader_image_read(self, path: str, image: QImage | None) -> None:
        self._pending.discard(path)
        self._pixmaps[path] = QPixmap.fromImage(image) if image is not None else None
        self.loaded.emit(path)
