"""Jobs of this session, one card each: what runs on what, progress, stage, ETA, why a job
waits, and how it ended. Finished and failed jobs stay until the artist dismisses them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal

from app.bridge import EngineBridge
from app.viewmodels.list_table_model import ListTableModel
from app.viewmodels.names import (
    adapter_label,
    feature_label,
    input_name,
    key_settings,
    plain_cause,
)
from engine.contract.spec import Registry
from engine.jobs import Job, JobState

ProgressRole = Qt.ItemDataRole.UserRole + 1
JobIdRole = Qt.ItemDataRole.UserRole + 2
RowRole = Qt.ItemDataRole.UserRole + 3  # the ActiveJob behind a card
COLUMNS = ("Job",)
# Progress redraws at most this often. Adapters report up to 50 times a second each, and with
# the 3D viewport's GL widget in the window every repaint recomposes the whole window: ~10 ms
# of CPU on a software renderer, so four streaming jobs alone kept a core busy.
PROGRESS_REPAINT_MS = 100
_ENDINGS = {JobState.SUCCEEDED: "Finished", JobState.CANCELLED: "Cancelled.",
            JobState.INTERRUPTED: "Interrupted: the studio closed while it ran."}


@dataclass
class ActiveJob:
    job: Job
    stage: str = ""
    fraction: float = 0.0
    cause: str | None = None
    eta_s: float | None = None  # the engine's estimate, when it has one (JobEvent.eta_s)
    eta_mono: float = 0.0  # when that estimate arrived, so it counts down between events
    cancelling: bool = False
    started_mono: float | None = None
    ended_mono: float | None = None
    submitted_mono: float = field(default_factory=time.monotonic)
    title: str = ""  # "Retopologize · wuson.glb", filled by the model
    detail: str = ""  # "Instant Meshes · target faces 5,000"

    @property
    def state(self) -> JobState:
        return self.job.state

    @property
    def phase(self) -> str:
        """queued, running, cancelling, or the terminal state's value."""
        if self.cancelling and not self.job.state.terminal:
            return "cancelling"
        return self.job.state.value

    def elapsed_s(self, now: float) -> float:
        return (self.ended_mono or now) - (self.started_mono or self.submitted_mono)

    def remaining_s(self, now: float) -> float | None:
        if self.eta_s is None or self.job.state is not JobState.RUNNING:
            return None
        return max(0.0, self.eta_s - (now - self.eta_mono))

    def status_text(self) -> str:
        """One whole sentence (or a stage) for the card; never cut, the view wraps it."""
        state = self.job.state
        if self.cancelling and not state.terminal:
            return "Cancelling…"
        if state is JobState.QUEUED:
            return sentence(self.cause) if self.cause else "Queued: starts when a worker is free."
        if state is JobState.RUNNING:
            # the stage is on the bar: a sentence that changes with every report would make
            # the card re-measure (and the window recompose) on every progress event
            return "Running."
        if state is JobState.FAILED:
            error = self.job.error or (self.job.result.error if self.job.result else None)
            return error.message if error else "The job failed."
        if state is JobState.SUCCEEDED:
            return f"Finished in {format_duration(self.elapsed_s(time.monotonic()))}."
        return _ENDINGS.get(state, state.value)

    def warnings(self) -> list[str]:
        return list(self.job.result.warnings) if self.job.result else []

    def progress_text(self, now: float) -> str:
        """"42% · remeshing · 0:23 elapsed · about 1:15 left"."""
        percent = f"{round(self.fraction * 100)}%"
        stopped = self.job.state in (JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED)
        parts = [f"stopped at {percent}" if stopped else percent]
        if self.job.state is JobState.RUNNING and self.stage:
            parts.append(self.stage)
        if self.job.state is not JobState.QUEUED:
            parts.append(f"{format_duration(self.elapsed_s(now))} elapsed")
        remaining = self.remaining_s(now)
        if remaining is not None:
            parts.append(f"about {format_duration(remaining)} left")
        return " · ".join(parts)


def sentence(text: str) -> str:
    """The scheduler's cause ("waiting for 12 GB on GPU 0") as a sentence, whole."""
    text = str(text).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "…", "!", "?")) else ".")


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
    """Jobs in submission order, each staying until dismissed."""

    columns = COLUMNS

    def row_list(self) -> list:
        return self.rows

    def __init__(self, parent: QObject | None = None, registry: Registry | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.rows: list[ActiveJob] = []
        self._dirty: set[str] = set()  # job ids whose progress changed since the last redraw
        self._repaint = QTimer(self, singleShot=True, interval=PROGRESS_REPAINT_MS,
                               timeout=self._on_repaint_timeout)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == JobIdRole:
            return row.job.job_id
        if role == ProgressRole:
            return row.fraction
        if role == RowRole:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title + (f" · {row.job.user}" if row.job.user else "")
        return None

    def find(self, job_id: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.job.job_id == job_id), -1)

    def active(self) -> list[ActiveJob]:
        return [r for r in self.rows if not r.job.state.terminal]

    def upsert(self, job: Job) -> None:
        i = self.find(job.job_id)
        if i < 0:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
            self.rows.append(ActiveJob(
                job, title=f"{feature_label(job.spec.feature)} · {input_name(job.spec)}",
                detail=" · ".join(t for t in (adapter_label(self.registry, job.spec),
                                              key_settings(self.registry, job.spec)) if t)))
            self.endInsertRows()
            i = len(self.rows) - 1
        row = self.rows[i]
        row.job = job
        now = time.monotonic()
        if job.state is JobState.RUNNING and row.started_mono is None:
            row.started_mono, row.cause = now, None
        if job.state.terminal and row.ended_mono is None:
            row.ended_mono, row.cause = now, None
            if job.state is JobState.SUCCEEDED:
                row.fraction = 1.0
        self._changed(i)

    def dismiss(self, job_ids: list[str]) -> None:
        """Take finished, failed or cancelled jobs off the list (running ones stay)."""
        for job_id in job_ids:
            i = self.find(job_id)
            if i >= 0 and self.rows[i].job.state.terminal:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self.rows[i]
                self.endRemoveRows()

    def update(self, job_id: str, *, at_once: bool = False, **fields: Any) -> None:
        """Change a row now; views hear of it within ``PROGRESS_REPAINT_MS``, batched, or
        ``at_once`` (what the artist just clicked must answer without delay)."""
        i = self.find(job_id)
        if i >= 0:
            for key, value in fields.items():
                setattr(self.rows[i], key, value)
            if at_once:
                self._changed(i)
                return
            self._dirty.add(job_id)
            if not self._repaint.isActive():
                self._repaint.start()

    def _on_repaint_timeout(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for i, row in enumerate(self.rows):
            if row.job.job_id in dirty:
                self._changed(i)

    def refresh_times(self) -> None:
        """Elapsed and ETA change with the clock: redraw the jobs that are not over."""
        for i, row in enumerate(self.rows):
            if not row.job.state.terminal and row.job.state is not JobState.QUEUED:
                self._changed(i)

    def _changed(self, i: int) -> None:
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))


class JobsViewModel(QObject):
    job_succeeded = Signal(object)  # Job, so the window can offer the result
    job_failed = Signal(object)  # Job; its error holds the one sentence
    active_count_changed = Signal(int)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = JobListModel(self, registry=bridge.engine.registry)
        bridge.job_updated.connect(self._on_bridge_job_updated)
        bridge.job_progress.connect(self._on_bridge_job_progress)
        bridge.job_waiting.connect(self._on_bridge_job_waiting)
        bridge.job_eta.connect(self._on_bridge_job_eta)
        self._clock = QTimer(self, interval=1000, timeout=self.model.refresh_times)
        self._clock.start()
        store = bridge.engine.store
        for job in store.list(states=[JobState.QUEUED, JobState.RUNNING], newest_first=False):
            self.model.upsert(job)
            if job.state is JobState.QUEUED and (cause := bridge.engine.causes.get(job.job_id)):
                self._on_bridge_job_waiting(job.job_id, cause)

    def cancel(self, job_id: str) -> None:
        i = self.model.find(job_id)
        if i >= 0 and not self.model.rows[i].job.state.terminal:
            self.model.update(job_id, cancelling=True, at_once=True)
        self.bridge.engine.cancel(job_id)

    def cancel_all(self) -> None:
        for row in self.model.active():
            self.cancel(row.job.job_id)

    def dismiss(self, job_id: str) -> None:
        self.model.dismiss([job_id])

    def dismiss_finished(self) -> None:
        self.model.dismiss([r.job.job_id for r in self.model.rows if r.job.state.terminal])

    def _on_bridge_job_updated(self, job: Job) -> None:
        before = len(self.model.active())
        self.model.upsert(job)
        if job.state is JobState.SUCCEEDED:
            self.job_succeeded.emit(job)
        elif job.state is JobState.FAILED:
            self.job_failed.emit(job)
        if len(self.model.active()) != before:
            self.active_count_changed.emit(len(self.model.active()))

    def _on_bridge_job_progress(self, job_id: str, stage: str, fraction: float) -> None:
        self.model.update(job_id, stage=stage, fraction=fraction)

    def _on_bridge_job_waiting(self, job_id: str, cause: object) -> None:
        registry = self.bridge.engine.registry
        self.model.update(job_id, cause=plain_cause(registry, cause) if cause else cause)

    def _on_bridge_job_eta(self, job_id: str, eta_s: object) -> None:
        self.model.update(job_id, eta_s=eta_s, eta_mono=time.monotonic())
