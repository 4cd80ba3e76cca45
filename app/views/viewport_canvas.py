"""The viewport's GL widget: pyvistaqt's ``QtInteractor`` plus what keeps its frames cheap.

Every VTK frame is drawn on the GUI thread, so a frame's cost is a stall of the whole studio.
This module times each frame (the view turns that into a face budget for heavy meshes),
spares a software renderer the multisampling (4x the fill work for Mesa's llvmpipe, which
draws on the CPU: a VM, a remote desktop, a machine without a GPU driver), keeps VTK's own
keys away, and carries the overlay text as a Qt label over the GL widget, so new text
repaints a label, not the 3D scene. VTK renders once per frame, in the paint (the interactor's
own render on each mouse move only asks for one), and at ``render_scale`` of the widget's
resolution (the view lowers it on a software renderer while the camera moves).

The canvas is a native child window. Qt composes a window that holds a ``QOpenGLWidget`` in GL
on every frame and swaps all of it; as a window of its own the canvas composes and swaps only
its own pixels, not the docks around it (on llvmpipe the p95 of a moving frame fell by about
4 ms, docs/benchmarks.md). The Qt widgets over the 3D view (the overlay, the notices) are
the canvas's children, composed with its frames.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pyvistaqt import QtInteractor

# no panel behind the text (as VTK drew it), so a label left larger than its text shows nothing
_OVERLAY_STYLE = "color: #c9ccd1; background: transparent; padding: 2px; font-size: 12px;"
_OVERLAY_MARGIN = 6
# the share of the width and height a software renderer draws while the camera moves: a
# quarter of the pixels to fill (llvmpipe fills on the CPU), sharp again when it stops
MOTION_RENDER_SCALE = 0.5
# GL_RENDERER strings of software rasterizers, where multisampling multiplies the fill cost
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe",
                "microsoft basic render", "gdi generic")


class KeySink(QObject):
    """Keeps key presses away from VTK, whose built-in keys would fight ours
    ('w' wireframe, '3' stereo, 'q' closes the plotter)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        return event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)


class Canvas(QtInteractor):
    """pyvistaqt's interactor, timing each frame, without MSAA on a software renderer, and
    drawing at ``render_scale`` of its resolution (the view lowers it while the camera moves)."""

    painted = Signal(float)  # seconds the frame took on the GUI thread
    renderer_known = Signal(bool)  # the GL context is up: True on a software rasterizer

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Only the canvas: left to itself Qt turns its ancestors and all their siblings (the
        # docks, the menu and status bars) into native windows too, to keep their stacking.
        QApplication.setAttribute(Qt.ApplicationAttribute.AA_DontCreateNativeWidgetSiblings)
        self.setAttribute(Qt.WidgetAttribute.WA_DontCreateNativeAncestors)
        self.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)
        self.render_scale = 1.0  # below 1: VTK draws fewer pixels, the blit scales them up
        self.frame_scale = 1.0  # the scale the last frame was drawn at
        # The interactor's styles render at once on every mouse move, and paintGL renders
        # again to show it: twice per frame. Their render becomes a request for a paint.
        self._painting = False
        self._interactor = self.iren.interactor
        self._interactor.EnableRenderOff()
        self._render_tag = self._interactor.AddObserver("RenderEvent", self._on_interactor_render)

    def close(self) -> None:
        if self._render_tag is not None:  # VTK's reference to our method would pin the widget
            self._interactor.RemoveObserver(self._render_tag)
            self._render_tag = None
        super().close()

    def _on_interactor_render(self, *_: object) -> None:
        if not self._painting:
            self.update()

    def initializeGL(self) -> None:
        super().initializeGL()
        window = self.ren_win
        software = window is not None and is_software_renderer(window.ReportCapabilities())
        if software:
            window.SetMultiSamples(0)
        self.renderer_known.emit(software)

    def paintGL(self) -> None:
        started = time.perf_counter()
        self._painting = True
        self._interactor.EnableRenderOn()  # the paint's own render goes through it
        try:
            self._paint_at_scale()
        finally:
            self._painting = False
            self._interactor.EnableRenderOff()
        self.painted.emit(time.perf_counter() - started)

    def _paint_at_scale(self) -> None:
        window, scale = self.ren_win, self.render_scale
        self.frame_scale = scale if window is not None else 1.0
        if self.frame_scale < 1.0:
            # only for this frame: between frames the interactor and its style see the
            # window's real size (their motion per pixel and picking depend on it)
            width, height = window.GetSize()
            window.SetSize(max(1, round(width * scale)), max(1, round(height * scale)))
            try:
                super().paintGL()  # its blit scales VTK's smaller frame to the whole widget
            finally:
                window.SetSize(width, height)
        else:
            super().paintGL()


def is_software_renderer(capabilities: str) -> bool:
    """True when VTK's capability report names a CPU rasterizer (Mesa llvmpipe and kin)."""
    renderer = next((line for line in capabilities.splitlines()
                     if "renderer string" in line.lower()), "")
    return any(name in renderer.lower() for name in _SOFTWARE_GL)


def make_overlay(canvas: QWidget) -> QLabel:
    """The corner text: a label on the GL widget that lets the mouse through to VTK."""
    overlay = QLabel(canvas)
    overlay.setStyleSheet(_OVERLAY_STYLE)
    overlay.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    overlay.move(_OVERLAY_MARGIN, _OVERLAY_MARGIN)
    return overlay


def fit_overlay(overlay: QLabel, *, shrink: bool) -> None:
    """Size the label to its text. Growing is free, but a label that shrinks uncovers GL
    pixels, and Qt answers that with a full 3D frame (a third of a second for a million
    faces in software GL); so shrink only when a frame is being drawn anyway."""
    size = overlay.sizeHint()
    if not shrink:
        size = size.expandedTo(overlay.size())
    if size != overlay.size():
        overlay.resize(size)


def with_overlay(frame: np.ndarray, overlay: QLabel, canvas_width: int) -> np.ndarray:
    """A copy of ``frame`` (RGB, device pixels) with ``overlay`` painted where it sits."""
    height, width = frame.shape[:2]
    frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    image = QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    painter = QPainter(image)
    scale = width / max(1, canvas_width)
    painter.scale(scale, scale)
    overlay.render(painter, QPoint(overlay.x(), overlay.y()))
    painter.end()
    return rgb_array(image)


def rgb_array(image: QImage) -> np.ndarray:
    """``image`` as an (h, w, 3) uint8 array of its own (rows padded to 4 bytes dropped)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(height, -1)
    return rows[:, : 3 * width].reshape(height, width, 3).copy()
