"""The history table: a plain Python list of ``Job`` snapshots adapted to Qt, and its filter.

The table adapts the list the way napari's ``_base_item_model.py`` adapts an evented list:
the list knows nothing of Qt, and every change goes through ``upsert``/``remove`` so views get
exact insert/change/remove notifications (selection and scroll position survive) instead of a
reset per engine event. ``HistoryViewModel`` (``app.viewmodels.history_viewmodel``) owns both.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QSize, QSortFilterProxyModel, Qt, Slot
from PySide6.QtGui import QColor

from app.viewmodels.history_cells import (
    ADAPTER,
    COLUMNS,
    THUMBNAIL,
    cell_sort_key,
    cell_text,
    job_tooltip,
    searchable_text,
)
from app.viewmodels.job_results import input_thumbnail
from app.viewmodels.list_table_model import AnyIndex, ListTableModel
from app.viewmodels.names import adapter_label
from app.viewmodels.thumbnail_cache import ThumbnailCache
from engine.contract.spec import Registry
from engine.jobs import Job, JobState

FAILED_COLOUR = QColor("#ff6b63")  # failed rows read red, whatever the theme
JOB_ROLE = Qt.ItemDataRole.UserRole  # the Job snapshot behind a row
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # raw values, so durations sort as numbers
TILE_ROLE = Qt.ItemDataRole.UserRole + 2  # the larger thumbnail of the grid view
TILE_SIZE = 112
ALL = ""  # the filter value that lets everything through


class HistoryModel(ListTableModel):
    """Jobs, newest first. ``JOB_ROLE`` gives the Job; the thumbnail column decorates."""

    columns = COLUMNS

    def row_list(self) -> list:
        return self._jobs


    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None,
                 tiles: ThumbnailCache | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._rows: dict[str, int] = {}
        self._thumbnails = thumbnails
        self.registry: Registry | None = None
        self._tiles = tiles or thumbnails
        thumbnails.loaded.connect(self._on_thumbnails_loaded)
        if tiles is not None:  # read only once the grid asks: most never look at it
            tiles.loaded.connect(self._on_thumbnails_loaded)

    # ---- the list side ------------------------------------------------------------------
    def set_jobs(self, jobs: list[Job]) -> None:
        self.beginResetModel()
        self._jobs = sorted(jobs, key=lambda j: j.created_at, reverse=True)
        self._reindex()
        self.endResetModel()

    def upsert(self, job: Job) -> None:
        """Replace the job's row, or insert it where its creation time puts it."""
        row = self._rows.get(job.job_id)
        if row is not None:
            self._jobs[row] = job
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            return
        row = next((i for i, j in enumerate(self._jobs) if j.created_at < job.created_at),
                   len(self._jobs))
        self.beginInsertRows(QModelIndex(), row, row)
        self._jobs.insert(row, job)
        self._reindex()
        self.endInsertRows()

    def remove(self, job_id: str) -> None:
        row = self._rows.get(job_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._jobs[row]
        self._reindex()
        self.endRemoveRows()

    def job(self, job_id: str) -> Job | None:
        row = self._rows.get(job_id)
        return None if row is None else self._jobs[row]

    def _reindex(self) -> None:
        self._rows = {job.job_id: i for i, job in enumerate(self._jobs)}

    # ---- the Qt side --------------------------------------------------------------------
    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._jobs):
            return None
        job, column = self._jobs[index.row()], index.column()
        if role == JOB_ROLE:
            return job
        if role == Qt.ItemDataRole.DisplayRole:
            if column == ADAPTER:  # the adapter's name, as Create lists it
                return adapter_label(self.registry, job.spec)
            return cell_text(job, column)
        if role == SORT_ROLE:
            return cell_sort_key(job, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return job_tooltip(job)
        if role == Qt.ItemDataRole.ForegroundRole and job.state is JobState.FAILED:
            return FAILED_COLOUR
        if column == THUMBNAIL and role == Qt.ItemDataRole.DecorationRole:
            path = picture(job)
            return self._thumbnails.get(path) if path else None
        if role == TILE_ROLE:
            path = picture(job)
            return self._tiles.get(path) if path else None
        if column == THUMBNAIL and role == Qt.ItemDataRole.SizeHintRole:
            return QSize(self._thumbnails.size + 4, self._thumbnails.size + 4)
        return None

    @Slot(str)
    def _on_thumbnails_loaded(self, path: str) -> None:
        for row, job in enumerate(self._jobs):
            if picture(job) == path:
                index = self.index(row, THUMBNAIL)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole, TILE_ROLE])


def picture(job: Job) -> str | None:
    """A row's picture: its result's thumbnail, or for a job without one (failed, cancelled,
    interrupted) the picture of its input, so every row shows what it was about."""
    if job.result is not None and job.result.thumbnail_path:
        return job.result.thumbnail_path
    return input_thumbnail(job)


class HistoryFilter(QSortFilterProxyModel):
    """Filters by feature, status and free text; sorts on raw values (``SORT_ROLE``)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._feature, self._status, self._words = ALL, ALL, ()
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filter(self, *, feature: str | None = None, status: str | None = None,
                   text: str | None = None) -> None:
        """Change any of the filters; ``""`` lets everything through."""
        self.beginFilterChange()
        self._feature = self._feature if feature is None else feature
        self._status = self._status if status is None else status
        if text is not None:  # every word must match: "chair failed" finds failed chair jobs
            self._words = tuple(text.lower().split())
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        job: Job | None = self.sourceModel().index(source_row, 0, source_parent).data(JOB_ROLE)
        if job is None:
            return False
        if self._feature and job.spec.feature != self._feature:
            return False
        if self._status and job.state.value != self._status:
            return False
        haystack = searchable_text(job) if self._words else ""
        return all(word in haystack for word in self._words)
