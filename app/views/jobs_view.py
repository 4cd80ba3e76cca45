"""The Jobs panel, in the spirit of ComfyUI's queue: one card per job with the input's picture,
what runs, a progress bar that is always there, and the whole sentence of why it waits or
failed. Cards stay until dismissed; selection belongs to a job, not to a position."""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.viewmodels.job_results import input_thumbnail, mesh_input
from app.viewmodels.jobs_viewmodel import ActiveJob, JobsViewModel, RowRole
from app.viewmodels.thumbnail_cache import ThumbnailCache
from engine.jobs import JobState

THUMB = 48
# phase -> the card's buttons, in order
_BUTTONS = {
    "queued": ("cancel",), "running": ("cancel",), "cancelling": (),
    "succeeded": ("open", "compare", "dismiss"),
    "failed": ("retry", "open", "log", "dismiss"),
    "cancelled": ("retry", "dismiss"), "interrupted": ("retry", "dismiss"),
}
FAILED_COLOUR = "#ff6b63"
_STATUS_COLOURS = {"failed": FAILED_COLOUR, "cancelling": "#c9a26b", "interrupted": "#c9a26b"}
_LABELS = {"cancel": ("Cancel", "Stop this job"), "open": ("Open", "Show in the viewport"),
           "compare": ("Compare", "Show the input and the result side by side"),
           "retry": ("Retry", "Run the same job again"),
           "log": ("Show log", "Show this job's lines in the Log panel"),
           "dismiss": ("Dismiss", "Take this card off the list")}


class JobProgressBar(QProgressBar):
    """A progress bar that only ever asks for a repaint at the next frame. ``setValue``
    repaints at once, and in a window around a GL viewport a paint recomposes the whole window
    (~10 ms in software GL): four streaming jobs made that most of the GUI thread's time. Its
    text ("42% · remeshing · 0:23 elapsed") is ours, so it never re-measures the card either.
    On a narrow card the text loses its middle (the stage), never the percentage at its start
    or the time at its end; the whole of it is the tooltip."""

    _MARGIN = 8  # pixels the style keeps clear at each end

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._text = ""

    def text(self) -> str:
        room = max(0, self.width() - 2 * self._MARGIN)
        return self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideMiddle, room)

    def set_progress(self, value: int, text: str) -> None:
        if value == self.value() and text == self._text:
            return
        self._text = text
        self.setToolTip(text)
        self.setUpdatesEnabled(False)  # setValue's own synchronous repaint does nothing...
        self.setValue(value)
        self.setUpdatesEnabled(True)  # ...and this schedules one, batched with the rest


class JobCard(QFrame):
    """One job. ``show_row`` redraws it from the view model's row."""

    clicked = Signal(str)  # job id
    action_triggered = Signal(str, str)  # action key, job id

    def __init__(self, job_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="jobCard")
        self.job_id = job_id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.thumb = QLabel(objectName="jobThumb", alignment=Qt.AlignmentFlag.AlignCenter)
        self.thumb.setFixedSize(THUMB, THUMB)
        self.title = _wrapped("jobTitle")
        self.detail = _wrapped("jobDetail")
        self.progress = JobProgressBar(objectName="jobProgress", textVisible=True)
        self.progress.setRange(0, 1000)
        self.progress.setMinimumWidth(40)
        self.progress.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.status = _wrapped("jobStatus")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings = _wrapped("jobWarnings")
        self.buttons = {key: self._button(key) for key in _LABELS}
        self._lay_out()

    def _button(self, key: str) -> QToolButton:
        text, tip = _LABELS[key]
        button = QToolButton(text=text, toolTip=tip, objectName=f"job_{key}")
        button.clicked.connect(lambda _=False: self.action_triggered.emit(key, self.job_id))
        return button

    def _lay_out(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        grid.addWidget(self.thumb, 0, 0, 2, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.title, 0, 1)
        grid.addWidget(self.detail, 1, 1)
        grid.addWidget(self.progress, 2, 0, 1, 2)
        grid.addWidget(self.status, 3, 0, 1, 2)
        grid.addWidget(self.warnings, 4, 0, 1, 2)
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addStretch(1)
        for button in self.buttons.values():
            row.addWidget(button)
        grid.addLayout(row, 5, 0, 1, 2)
        grid.setColumnStretch(1, 1)

    def show_row(self, row: ActiveJob, now: float) -> None:
        """Redraw from the row, touching only what changed: a label's new text re-measures
        the card, and any repaint recomposes the window around the GL viewport."""
        self.progress.set_progress(int(1000 * row.fraction), row.progress_text(now))
        phase = row.phase
        if self.property("phase") == phase and phase in ("queued", "running") \
                and self.status.text() == row.status_text():
            return  # the common case: only the bar moved
        _set_text(self.title, row.title + (f" · sent by {row.job.user}" if row.job.user else ""))
        _set_text(self.detail, row.detail)
        _set_text(self.status, row.status_text())
        warnings = row.warnings()
        _set_text(self.warnings, "\n".join(f"⚠ {w}" for w in warnings))
        self.warnings.setVisible(bool(warnings))
        if self.property("phase") != phase:
            self.setProperty("phase", phase)
            self.style().unpolish(self)
            self.style().polish(self)
            # inline, so failures are red under any theme (and tests can read the colour)
            self.status.setStyleSheet(f"color: {_STATUS_COLOURS[phase]}"
                                      if phase in _STATUS_COLOURS else "")
        shown = _BUTTONS.get(phase, ("dismiss",))
        if row.job.state is JobState.FAILED and not row.job.spec.inputs:
            shown = tuple(k for k in shown if k != "open")
        if not mesh_input(row.job):  # a picture or a prompt has no "before" mesh to compare
            shown = tuple(k for k in shown if k != "compare")
        for key, button in self.buttons.items():
            button.setVisible(key in shown)
        self.buttons["open"].setEnabled(row.job.state is JobState.SUCCEEDED
                                        or bool(row.job.spec.inputs))

    def set_selected(self, selected: bool) -> None:
        if self.property("selected") != selected:
            self.setProperty("selected", selected)
            self.style().unpolish(self)
            self.style().polish(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.job_id)
        super().mousePressEvent(event)


class JobsView(QWidget):
    open_requested = Signal(str)  # job id: its result (or, for a failure, its input)
    compare_requested = Signal(str)  # job id: input and result side by side
    retry_requested = Signal(str)  # job id
    log_requested = Signal(str)  # job id
    selection_changed = Signal(str)  # job id, "" when none

    def __init__(self, viewmodel: JobsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = viewmodel
        self.cards: dict[str, JobCard] = {}
        self.selected_job_id = ""
        self.thumbnails = ThumbnailCache(THUMB, self)
        self.thumbnails.loaded.connect(self._on_thumbnails_loaded)
        self.empty_label = QLabel("No jobs yet. Drop a mesh or an image, choose what to do, "
                                  "then Run.", wordWrap=True, objectName="jobsEmpty")
        self.list_widget = QWidget(objectName="jobsList")
        self.list_layout = QVBoxLayout(self.list_widget)
        self.list_layout.setContentsMargins(4, 4, 4, 4)
        self.list_layout.addWidget(self.empty_label)
        self.list_layout.addStretch(1)
        self.scroll = QScrollArea(widgetResizable=True, objectName="jobsScroll")
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.list_widget)
        self.cancel_all_button = QPushButton("Cancel all", objectName="cancelAllButton")
        self.clear_button = QPushButton("Clear finished", objectName="clearFinishedButton")
        self.cancel_all_button.clicked.connect(viewmodel.cancel_all)
        self.clear_button.clicked.connect(viewmodel.dismiss_finished)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.cancel_all_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(buttons)
        model = viewmodel.model
        model.rowsInserted.connect(self._on_model_rows_inserted)
        model.rowsRemoved.connect(self._on_model_rows_removed)
        model.dataChanged.connect(self._on_model_data_changed)
        self._on_model_rows_inserted(QModelIndex(), 0, model.rowCount() - 1)

    def card(self, job_id: str) -> JobCard | None:
        return self.cards.get(job_id)

    def select(self, job_id: str) -> None:
        self.selected_job_id = job_id if job_id in self.cards else ""
        for card_id, card in self.cards.items():
            card.set_selected(card_id == self.selected_job_id)
        self.selection_changed.emit(self.selected_job_id)

    def _row(self, i: int) -> ActiveJob:
        return self.vm.model.index(i, 0).data(RowRole)

    def _on_model_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        now = time.monotonic()
        for i in range(first, last + 1):
            row = self._row(i)
            card = JobCard(row.job.job_id)
            card.clicked.connect(self.select)
            card.action_triggered.connect(self._on_card_action_triggered)
            self.cards[row.job.job_id] = card
            self.list_layout.insertWidget(self.list_layout.count() - 1, card)
            card.show_row(row, now)
            self._show_thumbnail(card, row)
        self.empty_label.setVisible(not self.cards)

    def _on_model_rows_removed(self, *_args: object) -> None:
        alive = {r.job.job_id for r in self.vm.model.rows}
        for job_id in [j for j in self.cards if j not in alive]:
            card = self.cards.pop(job_id)
            self.list_layout.removeWidget(card)
            card.deleteLater()
        if self.selected_job_id not in self.cards:
            self.select("")
        self.empty_label.setVisible(not self.cards)

    def _on_model_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                               *_roles: object) -> None:
        now = time.monotonic()
        for i in range(top_left.row(), bottom_right.row() + 1):
            row = self._row(i)
            card = self.cards.get(row.job.job_id)
            if card is not None:
                card.show_row(row, now)

    def _on_card_action_triggered(self, key: str, job_id: str) -> None:
        if key == "cancel":
            self.vm.cancel(job_id)
        elif key == "dismiss":
            self.vm.dismiss(job_id)
        else:
            {"open": self.open_requested, "compare": self.compare_requested,
             "retry": self.retry_requested, "log": self.log_requested}[key].emit(job_id)

    def _show_thumbnail(self, card: JobCard, row: ActiveJob) -> None:
        path = input_thumbnail(row.job)
        pixmap = self.thumbnails.get(path) if path else None
        if pixmap is not None:
            card.thumb.setPixmap(pixmap)
        else:
            card.thumb.setText(row.job.spec.feature[:1].upper() if not path else "")
        card.setProperty("thumbnail", path or "")

    def _on_thumbnails_loaded(self, path: str) -> None:
        for card in self.cards.values():
            if card.property("thumbnail") == path and (pixmap := self.thumbnails.get(path)):
                card.thumb.setPixmap(pixmap)


def _set_text(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)


def _wrapped(name: str) -> QLabel:
    label = QLabel(objectName=name, wordWrap=True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label
