"""History: every job the store remembers, as a filterable table, and what an artist can do
with one (open, re-run, chain, reveal, export, delete).

The table adapts a plain Python list of ``Job`` snapshots to Qt the way napari's
``_base_item_model.py`` adapts an evented list: the list knows nothing of Qt, and every change
goes through ``upsert``/``remove`` so views get exact insert/change/remove notifications
(selection and scroll position survive) instead of a reset per engine event.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QDesktopServices
from qasync import asyncSlot

from app.viewmodels.history_cells import (  # noqa: F401 (the columns are public here too)
    ADAPTER,
    COLUMNS,
    DATE,
    DURATION,
    FEATURE,
    INPUT,
    PIPELINE,
    STATUS,
    THUMBNAIL,
    USER,
    cell_sort_key,
    cell_text,
    format_duration,
    job_tooltip,
    searchable_text,
)
from app.viewmodels.list_table_model import AnyIndex, ListTableModel
from app.viewmodels.names import adapter_label
from app.viewmodels.thumbnail_cache import ThumbnailCache
from engine.contract.spec import Registry
from engine.errors import MeshsmithError
from engine.export.exporter import ExportOptions, ExportResult, export_file
from engine.jobs import FEATURES, Job, JobState

if TYPE_CHECKING:
    from app.bridge import EngineBridge

FAILED_COLOUR = QColor("#ff6b63")  # failed rows read red, whatever the theme
JOB_ROLE = Qt.ItemDataRole.UserRole  # the Job snapshot behind a row
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # raw values, so durations sort as numbers
TILE_ROLE = Qt.ItemDataRole.UserRole + 2  # the larger thumbnail of the grid view
TILE_SIZE = 112
ALL = ""  # the filter value that lets everything through
_STATE_PHRASES = {JobState.QUEUED: "is still queued", JobState.RUNNING: "is still running",
                  JobState.FAILED: "failed", JobState.CANCELLED: "was cancelled",
                  JobState.INTERRUPTED: "was interrupted"}



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
            path = job.result.thumbnail_path if job.result else None
            return self._thumbnails.get(path) if path else None
        if role == TILE_ROLE:
            path = job.result.thumbnail_path if job.result else None
            return self._tiles.get(path) if path else None
        if column == THUMBNAIL and role == Qt.ItemDataRole.SizeHintRole:
            return QSize(self._thumbnails.size + 4, self._thumbnails.size + 4)
        return None

    @Slot(str)
    def _on_thumbnails_loaded(self, path: str) -> None:
        for row, job in enumerate(self._jobs):
            if job.result is not None and job.result.thumbnail_path == path:
                index = self.index(row, THUMBNAIL)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole, TILE_ROLE])


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


class HistoryViewModel(QObject):
    """The history panel's state and actions. Slots take job ids; results come as signals."""

    open_requested = Signal(str)  # the GLB to show in the viewport
    job_resubmitted = Signal(str)  # the new job's id
    input_chosen = Signal(str)  # "job:<id>", for the create panel's input
    job_exported = Signal(str, str)  # job id, where the export (its primary file) landed
    export_finished = Signal(object)  # engine.export.exporter.ExportResult: notes and checks to show
    job_deleted = Signal(str)
    error_raised = Signal(str)  # one sentence for the artist

    features: tuple[str, ...] = FEATURES  # what the filter combos offer
    statuses: tuple[str, ...] = tuple(state.value for state in JobState)

    def __init__(
        self, bridge: EngineBridge, parent: QObject | None = None, *,
        open_url: Callable[[QUrl], bool] | None = None, limit: int = 1000,
        thumbnail_size: int = 32,
    ) -> None:
        super().__init__(parent)
        self._engine = bridge.engine
        self._limit = limit
        self._open_url = open_url or QDesktopServices.openUrl  # injectable: tests open nothing
        self.thumbnails = ThumbnailCache(thumbnail_size, self)
        self.tiles = ThumbnailCache(TILE_SIZE, self)
        self.model = HistoryModel(self.thumbnails, self, tiles=self.tiles)
        self.model.registry = getattr(self._engine, "registry", None)
        self.proxy = HistoryFilter(self)
        self.proxy.setSourceModel(self.model)
        bridge.job_updated.connect(self._on_bridge_job_updated)
        self.refresh()

    # ---- list and filters ---------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Reload from the store (once at start; later changes arrive as job_updated)."""
        self.model.set_jobs(self._engine.store.list(limit=self._limit))

    @Slot(str)
    def set_feature_filter(self, feature: str) -> None:
        self.proxy.set_filter(feature=feature)

    @Slot(str)
    def set_status_filter(self, status: str) -> None:
        self.proxy.set_filter(status=status)

    @Slot(str)
    def set_text_filter(self, text: str) -> None:
        self.proxy.set_filter(text=text)

    def available_actions(self, job_id: str) -> frozenset[str]:
        """What makes sense for this job now, so views can enable buttons without rules."""
        job = self.model.job(job_id)
        if job is None:
            return frozenset()
        actions = {"rerun"}
        if job.pipeline is not None:
            actions.add("pipeline")
        if job.state is JobState.SUCCEEDED:
            actions |= {"open", "use_as_input", "reveal", "export"}
        if job.state.terminal:
            actions.add("delete")
        return frozenset(actions)

    def export_name(self, job_id: str) -> str:
        job = self.model.job(job_id)
        if job is None:
            return f"{job_id}.glb"
        path = job.result.output_file_path if job.result else None
        # the result is already named after its input and job (engine.workers.results)
        if path and Path(path).name != "result.glb":
            return Path(path).name
        return f"{job.spec.feature}-{job_id}.glb"

    @Slot(object)
    def _on_bridge_job_updated(self, job: Job) -> None:
        self.model.upsert(job)

    # ---- actions ------------------------------------------------------------------------
    @Slot(str)
    def open_result(self, job_id: str) -> None:
        if (path := self._result_path(job_id, "open")) is not None:
            self.open_requested.emit(str(path))

    @Slot(str)
    def use_as_input(self, job_id: str) -> None:
        # chained by id: the stager resolves job:<id> to the output, so nothing is copied here
        if self._result_path(job_id, "use as an input") is not None:
            self.input_chosen.emit(f"job:{job_id}")

    @Slot(str)
    def rerun(self, job_id: str) -> None:
        job = self._job(job_id)
        if job is None:
            return
        engine, spec = self._engine, job.spec

        def resubmit() -> str:  # staging reads whole meshes: never on the GUI thread
            staged = [engine.stage(path) for path in spec.inputs]
            return engine.submit(spec.feature, staged, adapter=spec.adapter, params=spec.params)

        self._in_background(resubmit, self.job_resubmitted.emit, f"Job {job_id} could not re-run")

    @Slot(str)
    def reveal(self, job_id: str) -> None:
        folder = self._engine.data.job_output(job_id)
        if not folder.is_dir():
            self.error_raised.emit(f"Job {job_id} has no output folder to show.")
        elif not self._open_url(QUrl.fromLocalFile(str(folder))):
            self.error_raised.emit(f"The file manager could not open {folder}.")

    @Slot(str, str)
    def export(self, job_id: str, dest_path: str, options: ExportOptions | None = None) -> None:
        """Without ``options``: a byte copy of the GLB. With them (the export dialog): any
        format, written and read back by engine.export.exporter before it is reported done."""
        source = self._result_path(job_id, "export")
        if source is None:
            return
        dest = Path(dest_path)
        if dest.is_dir():
            dest = dest / self.export_name(job_id)
        if options is not None:
            def convert() -> ExportResult:  # reading back a big mesh takes seconds
                return export_file(source, dest, options).model_copy(update={"job_id": job_id})

            self._in_background(convert, self._on_exported,
                                f"Job {job_id} could not be exported")
            return

        def copy() -> tuple[str, str]:  # a GLB can be hundreds of megabytes
            shutil.copyfile(source, dest)
            return job_id, str(dest)

        self._in_background(copy, lambda done: self.job_exported.emit(*done),
                            f"Job {job_id} could not be exported")

    def _on_exported(self, result: ExportResult) -> None:
        self.job_exported.emit(result.job_id or "", result.path)
        self.export_finished.emit(result)  # after: its fuller message is the one that stays

    def pipeline_filter(self, job_id: str) -> str:
        """The search text that shows only the steps of this job's pipeline."""
        job = self.model.job(job_id)
        return job.pipeline.id if job is not None and job.pipeline is not None else ""

    @Slot(str)
    def delete(self, job_id: str) -> None:
        """Remove the store row and the output folder. Staged inputs stay: other jobs may
        share them (they are stored by content)."""
        job = self._engine.store.get(job_id)  # fresh: the row may lag behind the engine
        if job is None:  # already gone (another window deleted it): just drop the row
            self.model.remove(job_id)
            self.job_deleted.emit(job_id)
            return
        if not job.state.terminal:
            self.error_raised.emit(
                f"Job {job_id} is still {job.state.value}; cancel it before deleting it.")
            return
        self._engine.store.delete(job_id)
        folder = self._engine.data.job_output(job_id)
        if job_id and folder.parent == self._engine.data.outputs:  # never the outputs root
            shutil.rmtree(folder, ignore_errors=True)
        if job.result is not None and job.result.thumbnail_path:
            self.thumbnails.forget(job.result.thumbnail_path)
            self.tiles.forget(job.result.thumbnail_path)
        self.model.remove(job_id)
        self.job_deleted.emit(job_id)

    def close(self) -> None:
        """Let queued thumbnail reads finish before the panel goes away."""
        self.thumbnails.wait()
        self.tiles.wait()

    # ---- helpers ------------------------------------------------------------------------
    def _job(self, job_id: str) -> Job | None:
        job = self.model.job(job_id) or self._engine.store.get(job_id)
        if job is None:
            self.error_raised.emit(f"Job {job_id} is no longer in the history.")
        return job

    def _result_path(self, job_id: str, verb: str) -> Path | None:
        job = self._job(job_id)
        if job is None:
            return None
        path = job.result.output_file_path if job.result else None
        if job.state is not JobState.SUCCEEDED or not path:
            self.error_raised.emit(f"Job {job_id} {_STATE_PHRASES.get(job.state, 'failed')}, "
                                   f"so it has no result to {verb}.")
            return None
        if not Path(path).is_file():
            self.error_raised.emit(f"The result of job {job_id} is missing from disk ({path}).")
            return None
        return Path(path)

    @asyncSlot()
    async def _in_background(self, work: Callable[[], Any], done: Callable[[Any], None],
                             failure: str) -> None:
        """Await ``work`` on an executor thread, then hand its value to ``done`` here."""
        try:
            value = await asyncio.get_running_loop().run_in_executor(None, work)
        except Exception as exc:  # every failure becomes a sentence
            reason = exc.message if isinstance(exc, MeshsmithError) else (
                getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
            self.error_raised.emit(f"{failure}: {str(reason).rstrip('.')}.")
            return
        done(value)
