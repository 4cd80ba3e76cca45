"""Queued and running jobs with stage, progress, elapsed time, ETA and why a job waits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from app.bridge import EngineBridge
from app.viewmodels.list_table_model import ListTableModel
from engine.jobs import Job, JobState

ProgressRole = Qt.ItemDataRole.UserRole + 1
JobIdRole = Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Job", "Status", "Progress", "Elapsed", "ETA")
# Progress redraws at most this often. Adapters report up to 50 times a second each, and with
# the 3D viewport's GL widget in the window every repaint recomposes the whole window: ~10 ms
# of CPU on a software renderer, so four streaming jobs alone kept a core busy.
PROGRESS_REPAINT_MS = 100


@dataclass
class ActiveJob:
    job: Job
    stage: str = ""
    fraction: float = 0.0
    cause: str | None = None
    started_mono: float | None = None
    submitted_mono: float = field(default_factory=time.monotonic)

    def elapsed_s(self, now: float) -> float:
        return now - (self.started_mono or self.submitted_mono)

    def eta_s(self, now: float) -> float | None:
        # Extrapolate from progress so far; too early a guess is worse than none.
        if self.started_mono is None or self.fraction < 0.05 or self.fraction >= 1:
            return None
        elapsed = now - self.started_mono
        return elapsed * (1 - self.fraction) / self.fraction

    def status_text(self) -> str:
        if self.job.state is JobState.QUEUED:
            return self.cause or "queued"
        return self.stage or "starting"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class JobListModel(ListTableModel):
    """Active jobs in submission order. Rows leave when a job ends."""

    columns = COLUMNS

    def row_list(self) -> list:
        return self.rows


    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ActiveJob] = []
        self._dirty: set[str] = set()  # job ids whose progress changed since the last redraw
        self._repaint = QTimer(self, singleShot=True, interval=PROGRESS_REPAINT_MS,
                               timeout=self._on_repaint_timeout)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row, now = self.rows[index.row()], time.monotonic()
        if role == JobIdRole:
            return row.job.job_id
        if role == ProgressRole:
            return row.fraction
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.cause or row.stage or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        spec, user = row.job.spec, row.job.user
        return (
            f"{spec.feature} · {spec.adapter}" + (f" · {user}" if user else ""),
            row.status_text(),
            f"{round(row.fraction * 100)}%",
            format_duration(row.elapsed_s(now)),
            format_duration(row.eta_s(now)),
        )[index.column()]

    def find(self, job_id: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.job.job_id == job_id), -1)

    def upsert(self, job: Job) -> None:
        i = self.find(job.job_id)
        if job.state.terminal:
            if i >= 0:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self.rows[i]
                self.endRemoveRows()
            return
        if i < 0:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
            self.rows.append(ActiveJob(job))
            self.endInsertRows()
            i = len(self.rows) - 1
        row = self.rows[i]
        row.job = job
        if job.state is JobState.RUNNING and row.started_mono is None:
            row.started_mono, row.cause = time.monotonic(), None
        self._changed(i)

    def update(self, job_id: str, **fields: Any) -> None:
        """Change a row now; views hear of it within ``PROGRESS_REPAINT_MS``, batched."""
        i = self.find(job_id)
        if i >= 0:
            for key, value in fields.items():
                setattr(self.rows[i], key, value)
            self._dirty.add(job_id)
            if not self._repaint.isActive():
                self._repaint.start()

    def _on_repaint_timeout(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for i, row in enumerate(self.rows):
            if row.job.job_id in dirty:
                self._changed(i)

    def refresh_times(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 4))

    def _changed(self, i: int) -> None:
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))


class JobsViewModel(QObject):
    job_succeeded = Signal(object)  # Job, so the window can show the result
    job_failed = Signal(str)  # one sentence
    active_count_changed = Signal(int)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = JobListModel(self)
        bridge.job_updated.connect(self._on_bridge_job_updated)
        bridge.job_progress.connect(self._on_bridge_job_progress)
        bridge.job_waiting.connect(self._on_bridge_job_waiting)
        # Elapsed and ETA change with the clock, not with engine events: redraw them each second.
        self._clock = QTimer(self, interval=1000, timeout=self.model.refresh_times)
        self._clock.start()
        store = bridge.engine.store
        for job in store.list(states=[JobState.QUEUED, JobState.RUNNING], newest_first=False):
            self.model.upsert(job)

    def cancel(self, job_id: str) -> None:
        self.bridge.engine.cancel(job_id)

    def cancel_all(self) -> None:
        for row in list(self.model.rows):
            self.bridge.engine.cancel(row.job.job_id)

    def _on_bridge_job_updated(self, job: Job) -> None:
        before = len(self.model.rows)
        self.model.upsert(job)
        if job.state is JobState.SUCCEEDED:
            self.job_succeeded.emit(job)
        elif job.state is JobState.FAILED and job.error is not None:
            self.job_failed.emit(job.error.message)
        if len(self.model.rows) != before:
            self.active_count_changed.emit(len(self.model.rows))

    def _on_bridge_job_progress(self, job_id: str, stage: str, fraction: float) -> None:
        self.model.update(job_id, stage=stage, fraction=fraction)

    def _on_bridge_job_waiting(self, job_id: str, cause: object) -> None:
        self.model.update(job_id, cause=cause)
