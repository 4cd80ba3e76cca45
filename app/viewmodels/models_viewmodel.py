"""Models: the neural models Meshsmith knows, whether each is installed, and getting them.

Everything that touches the disk or the network (scanning folders, reading weight headers,
downloading, importing) is awaited on an executor thread by an ``async`` slot; results and
download progress come back as signals, so the GUI thread only updates the table. A model with a part that exists only as a
pickle needs the artist's permission once: the view asks (``needs_consent`` before a download,
``consent_needed`` after an import found one) and passes ``allow_pickle=True`` when granted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QObject,
    Qt,
    Signal,
    Slot,
)
from qasync import asyncSlot

from app.viewmodels.list_table_model import AnyIndex, ListTableModel
from engine.errors import MeshsmithError
from engine.storage.models import (
    ConsentNeeded,
    ModelStatus,
    ModelStore,
    human_size,
    progress_tqdm,
)

COLUMNS = ("Name", "State", "Size", "Folder", "Licence")
NAME, STATE, SIZE, FOLDER, LICENCE = range(len(COLUMNS))
STATUS_ROLE = Qt.ItemDataRole.UserRole  # the ModelStatus behind a row
_STATE_TEXT = {"installed": "Installed", "missing": "Missing", "broken": "Broken",
               "needs_consent": "Needs your OK"}


class ModelsTableModel(ListTableModel):
    """One row per known model; ``STATUS_ROLE`` gives its ModelStatus."""

    columns = COLUMNS

    def row_list(self) -> list:
        return self._rows


    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ModelStatus] = []
        self.downloading: dict[str, float] = {}  # model id → fraction done

    def set_statuses(self, statuses: list[ModelStatus]) -> None:
        self.beginResetModel()
        self._rows = list(statuses)
        self.endResetModel()

    def update(self, status: ModelStatus) -> None:
        for row, old in enumerate(self._rows):
            if old.info.id == status.info.id:
                self._rows[row] = status
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return

    def status(self, model_id: str) -> ModelStatus | None:
        return next((s for s in self._rows if s.info.id == model_id), None)

    def row_of(self, model_id: str) -> int:
        return next((i for i, s in enumerate(self._rows) if s.info.id == model_id), -1)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        status = self._rows[index.row()]
        if role == STATUS_ROLE:
            return status
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(status, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(status)
        return None

    def _display(self, status: ModelStatus, column: int) -> str:
        info = status.info
        if column == NAME:
            return info.name
        if column == STATE:
            if info.id in self.downloading:
                return f"Downloading {round(100 * self.downloading[info.id])}%"
            return _STATE_TEXT[status.state]
        if column == SIZE:
            if status.folder is not None and status.size_bytes:
                return human_size(status.size_bytes)
            return f"≈ {human_size(info.approx_size_mb * 2**20)}"
        if column == FOLDER:
            return str(status.folder) if status.folder else "—"
        return info.licence


def _tooltip(status: ModelStatus) -> str:
    info = status.info
    lines = [f"{info.name} ({info.hub_id})", f"Used by: {', '.join(info.adapters) or '—'}"]
    if info.licence_terms:
        lines.append(f"Licence: {info.licence_terms}")
    if status.problem:
        lines.append(f"Problem: {status.problem}")
    if status.source:
        lines.append(f"Found in: {status.source}")
    return "\n".join(lines)


class ModelsViewModel(QObject):
    """The Models page's state and actions; a view connects to the signals below."""

    message = Signal(str)  # one sentence for the page's message line
    busy_changed = Signal(bool)  # a scan or verification is running
    download_progress = Signal(str, str, float)  # model id, stage, fraction
    download_finished = Signal(str, bool)  # model id, whether it is now installed
    consent_needed = Signal(str, str, str)  # model id, folder being imported, the sentence
    _progress_from_thread = Signal(str, str, float)

    def __init__(self, store: ModelStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store or ModelStore()
        self.table = ModelsTableModel(self)
        self._busy = 0
        self._progress_from_thread.connect(self._on_progress)

    # ---- actions ------------------------------------------------------------------------
    @asyncSlot()
    async def refresh(self) -> None:
        """Look for every model again (off the GUI thread) and refill the table."""
        try:
            statuses = await self._busy_while(self.store.list)
        except Exception as exc:  # every failure becomes a sentence
            self.message.emit(_reason(exc, "Could not scan the models"))
            return
        self.table.set_statuses(statuses)

    @asyncSlot(str)
    async def verify(self, model_id: str) -> None:
        """Check one model's files again and say what was found."""
        await self._show_verdict_of(lambda: self.store.status(model_id),
                                    f"Could not check {model_id}")

    @asyncSlot()
    async def import_folder(self, model_id: str, folder: str | Path, *,
                            allow_pickle: bool = False) -> None:
        """Check a folder downloaded elsewhere and use it for the model when it works."""
        def work() -> ModelStatus:
            return self.store.import_folder(model_id, Path(folder), allow_pickle=allow_pickle)

        try:
            status = await self._busy_while(work)
        except ConsentNeeded as exc:
            self.consent_needed.emit(model_id, str(folder), exc.message)
            return
        except Exception as exc:  # every failure becomes a sentence
            self.message.emit(_reason(exc, f"Could not import {folder}"))
            return
        self.table.update(status)
        self.message.emit(f"{status.info.name} now comes from {status.folder}.")

    @asyncSlot(str)
    async def allow_pickle(self, model_id: str) -> None:
        """Remember that the artist allows the model's pickle parts, then check it again."""
        def work() -> ModelStatus:
            self.store.allow_pickle(model_id)
            return self.store.status(model_id)

        await self._show_verdict_of(work, f"Could not update {model_id}")

    def needs_consent(self, model_id: str) -> bool:
        """Whether a download of the model must first ask to allow its pickle parts."""
        status = self.table.status(model_id)
        return (status is not None and bool(status.info.pickle_files)
                and not self.store.pickle_allowed(model_id))

    def download(self, model_id: str, *, allow_pickle: bool = False) -> None:
        """Fetch the model's files from the hub on an executor thread, with progress; the
        row says "Downloading" at once."""
        if model_id in self.table.downloading:
            return
        self.table.downloading[model_id] = 0.0
        self._refresh_row(model_id)
        self._fetch(model_id, allow_pickle)

    @asyncSlot(str, bool)
    async def _fetch(self, model_id: str, allow_pickle: bool) -> None:
        def report(stage: str, fraction: float) -> None:  # on the download's threads
            self._progress_from_thread.emit(model_id, stage, fraction)

        def work() -> ModelStatus:
            return self.store.download(model_id, allow_pickle=allow_pickle,
                                       tqdm_class=progress_tqdm(report))

        try:
            status = await asyncio.get_running_loop().run_in_executor(None, work)
        except Exception as exc:  # every failure becomes a sentence
            self.table.downloading.pop(model_id, None)
            self._refresh_row(model_id)
            self.message.emit(_reason(exc, f"Could not download {model_id}"))
            self.download_finished.emit(model_id, False)
            return
        self.table.downloading.pop(model_id, None)
        self.table.update(status)
        self.message.emit(_verdict(status))
        self.download_finished.emit(model_id, status.state == "installed")

    def can_download(self, model_id: str) -> bool:
        status = self.table.status(model_id)
        return (status is not None and status.state != "installed"
                and model_id not in self.table.downloading)

    # ---- helpers ------------------------------------------------------------------------
    @Slot(str, str, float)
    def _on_progress(self, model_id: str, stage: str, fraction: float) -> None:
        if model_id in self.table.downloading:
            self.table.downloading[model_id] = fraction
            self._refresh_row(model_id)
        self.download_progress.emit(model_id, stage, fraction)

    def _refresh_row(self, model_id: str) -> None:
        row = self.table.row_of(model_id)
        if row >= 0:
            index = self.table.index(row, STATE)
            self.table.dataChanged.emit(index, index)

    async def _show_verdict_of(self, work: Callable[[], ModelStatus], failure: str) -> None:
        try:
            status = await self._busy_while(work)
        except Exception as exc:  # every failure becomes a sentence
            self.message.emit(_reason(exc, failure))
            return
        self.table.update(status)
        self.message.emit(_verdict(status))

    async def _busy_while(self, work: Callable[[], Any]) -> Any:
        """Await ``work`` on an executor thread, with the page busy meanwhile."""
        self._set_busy(+1)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, work)
        finally:
            self._set_busy(-1)

    def _set_busy(self, delta: int) -> None:
        was = self._busy > 0
        self._busy += delta
        if (self._busy > 0) != was:
            self.busy_changed.emit(self._busy > 0)


def _verdict(status: ModelStatus) -> str:
    if status.state == "installed":
        return f"{status.info.name} is installed in {status.folder}."
    from engine.storage.models import how_to_get

    return how_to_get(status)


def _reason(exc: Exception, failure: str) -> str:
    if isinstance(exc, MeshsmithError):
        return exc.message
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{failure}: {str(reason).rstrip('.')}."
