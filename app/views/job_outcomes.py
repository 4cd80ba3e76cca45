"""What the window does when any job ends, whoever sent it (this window, the CLI socket, the
HTTP API, a resume): a notice, never a hijacked viewport. The viewport changes when the artist
asks (Open, Compare). A job started from this window opens its own result at the end of the
flow that submitted it, while nothing else is on screen (app.viewmodels.job_results)."""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.viewmodels.job_results import compare_job, mesh_input, open_job
from app.viewmodels.jobs_viewmodel import JobsViewModel
from app.viewmodels.names import feature_label, input_name
from app.viewmodels.viewport_viewmodel import ViewportViewModel
from app.views.notices import NoticeArea
from engine.jobs import Job


class JobOutcomes(QObject):
    """Notices for finished and failed jobs, and the Open / Compare / Retry / Show log actions
    the Jobs cards and the notices share."""

    def __init__(self, jobs_vm: JobsViewModel, viewport_vm: ViewportViewModel,
                 notices: NoticeArea, *, retry: object, show_log: object,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs_vm, self.viewport_vm, self.notices = jobs_vm, viewport_vm, notices
        self._retry, self._show_log = retry, show_log
        jobs_vm.job_succeeded.connect(self._on_jobs_job_succeeded)
        jobs_vm.job_failed.connect(self._on_jobs_job_failed)

    # ---- what a job's buttons do -----------------------------------------------------------
    def job(self, job_id: str) -> Job | None:
        i = self.jobs_vm.model.find(job_id)
        return self.jobs_vm.model.rows[i].job if i >= 0 else self.jobs_vm.bridge.engine.get(job_id)

    def open(self, job_id: str) -> None:
        """The result of a job that succeeded; the input of one that did not."""
        job = self.job(job_id)
        if job is not None:
            open_job(self.viewport_vm, job)

    def compare(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is not None:
            compare_job(self.viewport_vm, job)

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

    def _on_jobs_job_failed(self, job: Job) -> None:
        error = job.error or (job.result.error if job.result else None)
        reason = error.message if error else "The job failed."
        job_id = job.job_id
        self.notices.post(f"{_what(job)} failed: {reason}", "failed",
                          [("Show log", lambda: self._show_log(job_id)),
                           ("Retry", lambda: self._retry(job_id))])


def _what(job: Job) -> str:
    return f"{feature_label(job.spec.feature)} of {input_name(job.spec)}"
