"""EngineBridge: the only place engine events become Qt signals.

Engine callbacks run on the engine thread; emitting a signal from there is safe, and Qt
delivers it to receivers living on the GUI thread through their event loop (queued
connection), so slots never run on the engine thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.pipelines.runner import PipelineRunner
from engine.runtime.engine import Engine
from engine.runtime.events import JobEvent


class EngineBridge(QObject):
    job_updated = Signal(object)  # engine.jobs.Job: queued, running, succeeded, failed, ...
    job_progress = Signal(str, str, float)  # job id, stage, fraction 0..1
    job_waiting = Signal(str, object)  # job id, why it waits (str) or None once it runs
    job_eta = Signal(str, object)  # job id, seconds until it should finish (engine's estimate)
    pipeline_event = Signal(object)  # engine.pipelines.runner.PipelineEvent: a step, the end

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._pipelines: PipelineRunner | None = None
        engine.subscribe(self._on_engine_event)

    @property
    def pipelines(self) -> PipelineRunner:
        """The studio's one pipeline runner, made on first use; its events (from its own
        thread) become ``pipeline_event``."""
        if self._pipelines is None:
            self._pipelines = PipelineRunner(self.engine)
            self._pipelines.subscribe(self.pipeline_event.emit)
        return self._pipelines

    def _on_engine_event(self, event: JobEvent) -> None:
        if event.kind == "updated" and event.job is not None:
            self.job_updated.emit(event.job)
        elif event.kind == "progress":
            self.job_progress.emit(event.job_id, event.stage, event.fraction)
        elif event.kind == "waiting":
            self.job_waiting.emit(event.job_id, event.cause)
        if event.eta_s is not None:
            self.job_eta.emit(event.job_id, event.eta_s)
