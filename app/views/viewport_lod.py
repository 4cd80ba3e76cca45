"""Tells the viewport's view model when the artist moves the camera, so a heavy mesh draws a
lighter level of detail while it moves and refines once it stops (``app.scene_lod``).

It listens to VTK, not to Qt, so every way of moving the camera counts (Qt's mouse events,
a script driving the interactor, whichever interactor style is installed): the style's
``InteractionEvent`` (it moved the camera in a drag: orbit, pan, dolly) and the interactor's
wheel steps. Both arrive before the frame they ask for is painted, so the first moving frame
is already the light one. A click is not a move. Mouse events themselves cannot be watched:
while a drag lasts the style holds the interactor's focus (no other observer hears them),
and an observer on the style replaces its own handling. The camera counts as stopped
``SETTLE_MS`` after the drag ends or the last wheel step, so a series of wheel steps or a
quick re-grab does not pay for a full-detail frame in between.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Slot

from app.viewmodels.viewport_viewmodel import ViewportViewModel

SETTLE_MS = 200
_PRIORITY = 10.0  # ahead of the interactor style, which zooms on a wheel step
_WHEEL = ("MouseWheelForwardEvent", "MouseWheelBackwardEvent")


class CameraMotionWatch(QObject):
    """Watches ``interactor`` (a vtkRenderWindowInteractor) for the whole life of the view.

    ``enabled`` False keeps the still level while moving (benchmarks measure that)."""

    def __init__(
        self, interactor: object, view_model: ViewportViewModel, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.enabled = True
        self._view_model = view_model
        self._interactor = interactor
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self._on_settle_timeout)
        self._style: object = None
        self._style_tags: list[int] = []
        self._tags = [interactor.AddObserver(e, self._on_wheel, _PRIORITY) for e in _WHEEL]
        self._tags.append(interactor.AddObserver("ModifiedEvent", self._on_interactor_modified))
        self._on_interactor_modified()

    def stop(self) -> None:
        """Stop watching (the view is closing)."""
        self._settle.stop()
        self._follow(None)
        for tag in self._tags:
            self._interactor.RemoveObserver(tag)
        self._tags = []

    @property
    def settling(self) -> bool:
        """True between the end of a move and the refined frame."""
        return self._settle.isActive()

    def _on_interactor_modified(self, *_: object) -> None:
        style = self._interactor.GetInteractorStyle()
        if style is not self._style:
            self._follow(style)

    def _follow(self, style: object) -> None:
        """Observe ``style`` (the interactor's new one, or None) instead of the old one."""
        for tag in self._style_tags:
            self._style.RemoveObserver(tag)
        self._style, self._style_tags = style, []
        if style is not None:
            self._style_tags = [style.AddObserver("InteractionEvent", self._on_interaction),
                                style.AddObserver("EndInteractionEvent", self._on_end)]

    def _on_interaction(self, *_: object) -> None:
        self._settle.stop()
        if self.enabled:
            self._view_model.set_camera_moving(True)

    def _on_end(self, *_: object) -> None:
        if self._view_model.camera_moving:
            self._settle.start()

    def _on_wheel(self, *_: object) -> None:
        self._on_interaction()
        self._settle.start()

    @Slot()
    def _on_settle_timeout(self) -> None:
        self._view_model.set_camera_moving(False)
