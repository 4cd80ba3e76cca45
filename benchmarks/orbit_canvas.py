"""Orbit frame time by GL widget kind: what a frame costs outside the studio's code.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/orbit_canvas.py

A 1600 × 1000 window with three docks and a toolbar (the studio's layout, roughly) around one
of three canvases, each run in its own process, alternating ``--rounds`` times:

* ``qopenglwidget``: the studio's canvas (``app.views.viewport_canvas.Canvas``, pyvistaqt's
  ``QtInteractor``, a ``QOpenGLWidget``: VTK renders into an FBO, Qt composes it in GL; since
  issue 18's third pass in a native child window of its own, so only the canvas's pixels are
  composed) at full resolution; a ~24k-face sphere, no MSAA;
* ``native``: VTK's own ``QVTKRenderWindowInteractor`` on its ``QWidget`` base (a native
  window, ``WA_PaintOnScreen``: VTK swaps straight to it, no composition), the same scene;
* ``empty``: a ``QOpenGLWidget`` that only clears: Qt's composition and swap alone.

Each frame: a mouse move through the VTK interactor (an update for ``empty``), to the frame on
screen (``frameSwapped``; VTK's ``EndEvent`` for ``native``, whose render is synchronous).
The last stdout line is one JSON object: per kind, p50 / p95 ms of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the studio's canvas

KINDS = ("qopenglwidget", "native", "empty")


def _window() -> tuple[object, object, object]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import (
        QApplication,
        QDockWidget,
        QListWidget,
        QMainWindow,
        QToolBar,
        QVBoxLayout,
        QWidget,
    )

    app = QApplication.instance() or QApplication([])
    window = QMainWindow()
    window.resize(1600, 1000)
    for side in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                 Qt.DockWidgetArea.BottomDockWidgetArea):
        dock, items = QDockWidget("dock", window), QListWidget()
        items.addItems([f"item {i}" for i in range(40)])
        dock.setWidget(items)
        window.addDockWidget(side, dock)
    central = QWidget()
    layout = QVBoxLayout(central)
    layout.setContentsMargins(0, 0, 0, 0)
    toolbar = QToolBar()
    toolbar.addAction("Texture")
    layout.addWidget(toolbar)
    window.setCentralWidget(central)
    return app, window, layout


def _canvas(kind: str, layout: object, swapped: list[float]) -> tuple[object, object]:
    """The widget, and a callable asking it for one frame."""
    import pyvista as pv

    mesh = pv.Sphere(theta_resolution=120, phi_resolution=100)  # 23,580 faces
    if kind == "empty":
        from PySide6.QtOpenGLWidgets import QOpenGLWidget

        class Empty(QOpenGLWidget):
            def paintGL(self) -> None:
                gl = self.context().functions()
                gl.glClearColor(0.2, 0.2, 0.2, 1.0)
                gl.glClear(0x4000)  # GL_COLOR_BUFFER_BIT

        widget = Empty()
        layout.addWidget(widget, 1)
        widget.frameSwapped.connect(lambda: swapped.append(time.perf_counter()))
        return widget, None
    if kind == "qopenglwidget":
        from app.views.viewport_canvas import Canvas

        widget = Canvas(auto_update=False)  # every pixel: nothing lowers its render_scale
        layout.addWidget(widget, 1)
        widget.add_mesh(mesh, smooth_shading=True)
        widget.set_background("#202020", top="#505050")
        widget.frameSwapped.connect(lambda: swapped.append(time.perf_counter()))
        widget.ren_win.SetMultiSamples(0)
        return widget, widget.iren.interactor
    import vtkmodules.vtkInteractionStyle
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
    from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
    from vtkmodules.vtkRenderingCore import vtkRenderer

    widget = QVTKRenderWindowInteractor()
    layout.addWidget(widget, 1)
    renderer = vtkRenderer()
    widget.GetRenderWindow().AddRenderer(renderer)
    renderer.AddActor(pv.Actor(mapper=pv.DataSetMapper(mesh)))
    renderer.SetBackground(0.12, 0.12, 0.12)
    renderer.SetBackground2(0.3, 0.3, 0.3)
    renderer.GradientBackgroundOn()
    window = widget.GetRenderWindow()
    window.SetMultiSamples(0)
    window.AddObserver("EndEvent", lambda *_: swapped.append(time.perf_counter()))
    widget.Initialize()
    return widget, widget._Iren


def measure(kind: str, frames: int) -> dict[str, float]:
    import numpy as np

    app, window, layout = _window()
    swapped: list[float] = []
    widget, iren = _canvas(kind, layout, swapped)
    window.show()

    def spin(done: object, limit: float) -> None:
        end = time.perf_counter() + limit
        while not done() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.0005)

    spin(lambda: False, 2.0)
    width, height = widget.width(), widget.height()
    x0, y = int(0.2 * width), height // 2
    if iren is not None:
        iren.SetEventInformation(x0, y, 0, 0)
        iren.LeftButtonPressEvent()
    times = []
    for i in range(1, frames + 1):
        swapped.clear()
        started = time.perf_counter()
        if iren is None:
            widget.update()
        else:
            iren.SetEventInformation(int(x0 + i * 0.6 * width / frames), y, 0, 0)
            iren.MouseMoveEvent()
        spin(lambda: bool(swapped), 10.0)
        times.append(((swapped[0] if swapped else time.perf_counter()) - started) * 1000)
    ms = np.array(times)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "size": [width, height],
            "load": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--one", choices=KINDS, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.frames)), flush=True)
        os._exit(0)  # no teardown: the widgets' GL contexts go with the process
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in args.kinds}
    for _ in range(args.rounds):
        for kind in args.kinds:
            proc = subprocess.run([sys.executable, __file__, "--one", kind, "--frames",
                                   str(args.frames)], capture_output=True, text=True,
                                  timeout=600)
            lines = proc.stdout.strip().splitlines()
            result = json.loads(lines[-1]) if lines else {"error": proc.stderr[-300:]}
            results[kind].append(result)
            print(kind, result, file=sys.stderr)
    print(json.dumps({"benchmark": "orbit_canvas", "frames": args.frames, "results": results}))


if __name__ == "__main__":
    main()
