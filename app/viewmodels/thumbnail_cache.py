"""Thumbnail PNGs for item models, read off the GUI thread and cached."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from qasync import asyncSlot


class ThumbnailCache(QObject):
    """Thumbnail PNGs read on a reader thread, each at most once; missing files cache as None.

    ``get`` never touches the disk on the calling (GUI) thread: it answers from the cache or
    queues a read and answers None; a task on the studio's asyncio loop awaits the read, and
    ``loaded`` says when a path's answer is ready (docs/async.md).
    """

    loaded = Signal(str)

    def __init__(self, size: int = 64, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._pixmaps: dict[str, QPixmap | None] = {}
        self._pending: set[str] = set()
        # one thread: a thousand rows scrolled past queue, not fan out
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")
        self._reads: set[Future[QImage | None]] = set()

    def get(self, path: str) -> QPixmap | None:
        if path in self._pixmaps:
            return self._pixmaps[path]
        if path not in self._pending:
            self._pending.add(path)
            read = self._reader.submit(self._read, path)  # queued now, so ``wait`` sees it
            self._reads.add(read)
            read.add_done_callback(self._reads.discard)
            self._keep(path, read)
        return None

    def forget(self, path: str) -> None:
        self._pixmaps.pop(path, None)

    def wait(self, msecs: int = -1) -> bool:
        """Block until queued reads are done (for shutdown and tests)."""
        timeout = None if msecs < 0 else msecs / 1000
        return not concurrent.futures.wait(set(self._reads), timeout=timeout).not_done

    def _read(self, path: str) -> QImage | None:  # reader thread: QImage is thread-safe
        image = QImage(path) if os.path.isfile(path) else QImage()
        return None if image.isNull() else image.scaled(
            self.size, self.size, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)

    @asyncSlot()
    async def _keep(self, path: str, read: Future[QImage | None]) -> None:
        image = await asyncio.wrap_future(read)
        self._pending.discard(path)
        self._pixmaps[path] = QPixmap.fromImage(image) if image is not None else None
        try:
            self.loaded.emit(path)
        except RuntimeError:
            pass  # the cache was deleted while we read; nobody is waiting for the image
