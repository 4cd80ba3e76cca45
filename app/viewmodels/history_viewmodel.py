"""History: every job the store remembers, as a filterable table, and what an artist can do
with one (open, re-run, chain, reveal, export, delete).

The table and its filter live in ``app.viewmodels.history_model``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
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
    format_duration,
)
from app.viewmodels.history_model import (  # noqa: F401 (public here too)
    ALL,
    FAILED_COLOUR,
    JOB_ROLE,
    SORT_ROLE,
    TILE_ROLE,
    TILE_SIZE,
    HistoryFilter,
    HistoryModel,
)
from app.viewmodels.job_results import await_and_show
from app.viewmodels.thumbnail_cache import ThumbnailCache
from app.viewmodels.viewport_viewmodel import ViewportViewModel
from engine.errors import MeshsmithError
from engine.export.exporter import ExportOptions, ExportResult, export_file
from engine.jobs import FEATURES, Job, JobResult, JobState

if TYPE_CHECKING:
    from app.bridge import EngineBridge

_STATE_PHRASES = {JobState.QUEUED: "is still queued", JobState.RUNNING: "is still running",
                  JobState.FAILED: "failed", JobState.CANCELLED: "was cancelled",
                  JobState.INTERRUPTED: "was interrupted"}



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
        thumbnail_size: int = 32, viewport: ViewportViewModel | None = None,
    ) -> None:
        """``viewport``: where a re-run shows its result (none: it only submits and awaits)."""
        super().__init__(parent)
        self.viewport = viewport
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

    @asyncSlot(str)
    async def rerun(self, job_id: str) -> JobResult | None:
        """The same job again: stage its inputs and submit (off the GUI thread: staging reads
        whole meshes), await the new job's result, then show it if nothing else is on screen.
        Cancelling the task cancels the new job."""
        job = self._job(job_id)
        if job is None:
            return None
        engine, spec = self._engine, job.spec

        def resubmit() -> str:
            staged = [engine.stage(path) for path in spec.inputs]
            return engine.submit(spec.feature, staged, adapter=spec.adapter, params=spec.params)

        try:
            new_id = await asyncio.get_running_loop().run_in_executor(None, resubmit)
            self.job_resubmitted.emit(new_id)
            return await await_and_show(engine, new_id, self.viewport)
        except Exception as exc:  # every failure becomes a sentence
            self.error_raised.emit(_failure(f"Job {job_id} could not re-run", exc))
            return None

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
            self.error_raised.emit(_failure(failure, exc))
            return
        done(value)


def _failure(what: str, exc: Exception) -> str:
    reason = exc.message if isinstance(exc, MeshsmithError) else (
        getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
    return f"{what}: {str(reason).rstrip('.')}."
