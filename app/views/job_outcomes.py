"""What the window does when a job ends: a notice, never a hijacked viewport. The viewport
changes when the artist asks (Open, Compare), or for a job started from this window while
nothing else is on screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from app.viewmodels.jobs_viewmodel import JobsViewModel
from app.viewmodels.names import feature_label, input_name
from app.viewmodels.viewport_viewmodel import ViewportViewModel, mode_for_feature
from app.views.notices import NoticeArea
from engine.jobs import Job, JobState

# Staged inputs carry the extension of their content, so the suffix tells a mesh from an image.
MESH_SUFFIXES = {".glb", ".gltf", ".obj", ".ply", ".stl", ".off"}


def mesh_input(job: Job) -> str:
    """The job's first input when it is a mesh (a "before" to compare with), else ""."""
    source = job.spec.inputs[0] if job.spec.inputs else ""
    return source if source and Path(source).suffix.lower() in MESH_SUFFIXES else ""


class JobOutcomes(QObject):
    """Notices for finished and failed jobs, and the Open / Compare / Retry / Show log actions
    the Jobs cards and the notices share."""

    def __init__(self, jobs_vm: JobsViewModel, viewport_vm: ViewportViewModel,
                 notices: NoticeArea, *, retry: object, show_log: object,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs_vm, self.viewport_vm, self.notices = jobs_vm, viewport_vm, notices
        self._retry, self._show_log = retry, show_log
        self.started_here: set[str] = set()  # job ids this window submitted
        jobs_vm.job_succeeded.connect(self._on_jobs_job_succeeded)
        jobs_vm.job_failed.connect(self._on_jobs_job_failed)

    def mark_started_here(self, job_id: str) -> None:
        self.started_here.add(job_id)

    # ---- what a job's buttons do -----------------------------------------------------------
    def job(self, job_id: str) -> Job | None:
        i = self.jobs_vm.model.find(job_id)
        return self.jobs_vm.model.rows[i].job if i >= 0 else self.jobs_vm.bridge.engine.get(job_id)

    def open(self, job_id: str) -> None:
        """The result of a job that succeeded; the input of one that did not."""
        job = self.job(job_id)
        if job is None:
            return
        result = job.result.output_file_path if job.result else None
        if job.state is JobState.SUCCEEDED and result:
            self.viewport_vm.set_mode(mode_for_feature(job.spec.feature).value)
            self.viewport_vm.open_file(result, stats=job.result.stats)
        elif job.spec.inputs:
            self.viewport_vm.open_file(job.spec.inputs[0])

    def compare(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is None or job.result is None or not job.result.output_file_path:
            return
        before = mesh_input(job)
        if not before:
            self.open(job_id)
            return
        self.viewport_vm.set_mode(mode_for_feature(job.spec.feature).value)
        self.viewport_vm.show_comparison(before, job.result.output_file_path,
                                         stats=job.result.stats)

    # ---- notices -----------------------------------------------------------------------
    def _on_jobs_job_succeeded(self, job: Job) -> None:
        if job.result is None or not job.result.output_file_path:
            return
        job_id = job.job_id
        actions = [("Open", lambda: self.open(job_id))]
        if mesh_input(job):
            actions.append(("Compare", lambda: self.compare(job_id)))
        text = f"{_what(job)} finished."
        if job.result.warnings:
            text += " " + " ".join(job.result.warnings)
        self.notices.post(text, "succeeded", actions)
        nothing_shown = self.viewport_vm.scene is None and not self.viewport_vm.is_loading
        if job_id in self.started_here and nothing_shown:
            self.compare(job_id)

    def _on_jobs_job_failed(self, job: Job) -> None:
        error = job.error or (job.result.error if job.result else None)
        reason = error.message if error else "The job failed."
        job_id = job.job_id
        self.notices.post(f"{_what(job)} failed: {reason}", "failed",
                          [("Show log", lambda: self._show_log(job_id)),
                           ("Retry", lambda: self._retry(job_id))])


def _what(job: Job) -> str:
    return f"{feature_label(job.spec.feature)} of {input_name(job.spec)}"
