"""The studio window as an artist uses it: drop, run, see the result, shortcuts, screenshot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from app.bridge import EngineBridge
from app.views.main_window import MainWindow
from app.views.viewport_canvas import rgb_array
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def window(qtbot, engine, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: errors.append(text))
    win = MainWindow(EngineBridge(engine))
    win.errors = errors
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()  # shortcuts only reach the active window
    qtbot.waitActive(win)
    yield win
    win.release()


def drop(window: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_dropping_a_mesh_makes_it_the_input_and_shows_it(qtbot, window, box_obj):
    with qtbot.waitSignal(window.scene_shown, timeout=60_000):
        drop(window, box_obj)
    qtbot.waitUntil(lambda: window.create_vm.staged is not None, timeout=30_000)
    assert window.create_vm.staged.original_name == "box.obj"
    assert window.viewport_vm.scene is not None and window.viewport_vm.scene.faces == 12


def test_dropping_an_unsupported_file_says_one_sentence(qtbot, window, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    drop(window, notes)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=30_000)
    assert window.errors[0].startswith("notes.txt") and window.errors[0].endswith(".")


def test_a_finished_job_offers_its_result_with_the_input_one_toggle_away(qtbot, window, box_obj):
    window.create_vm.set_feature("uv_unwrapping")
    drop(window, box_obj)
    qtbot.waitUntil(lambda: window.create_view.run_button.isEnabled(), timeout=30_000)
    with qtbot.waitSignal(window.jobs_vm.job_succeeded, timeout=120_000) as done:
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    result = done.args[0].result.output_file_path
    # the dropped box stays on screen; a notice offers the result
    assert window.viewport_vm.side == "" and window.viewport_vm.scene.path == str(box_obj)
    (notice,) = window.notices.notices()
    notice.buttons["Compare"].click()
    qtbot.waitUntil(lambda: window.viewport_vm.after is not None
                    and window.viewport_vm.after.path == result, timeout=60_000)
    assert window.viewport_vm.before is not None
    assert window.history_vm.model.rowCount() == 1


def test_several_files_make_a_batch_after_confirmation(qtbot, window, box_obj, sphere_ply,
                                                       monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    window.create_vm.set_feature("mesh_segmentation")
    window.create_vm.set_adapter("sleepy")
    window.create_vm.set_param("steps", 1)
    submitted = []
    window.create_vm.job_submitted.connect(submitted.append)
    drop(window, box_obj, sphere_ply)
    qtbot.waitUntil(lambda: len(submitted) == 2, timeout=30_000)
    assert "2 files" in asked[0]


def test_number_keys_switch_display_modes(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert window.viewport_vm.mode.value == "clay"
    qtbot.keyClick(window, Qt.Key.Key_3)
    assert window.viewport_vm.mode.value == "wireframe"


def test_dock_layout_is_remembered(qtbot, engine, window):
    window.docks["Log"].setFloating(True)
    window.close()
    again = MainWindow(EngineBridge(engine))
    qtbot.addWidget(again)
    assert again.docks["Log"].isFloating()
    again.release()


def test_cli_open_and_screenshot_writes_a_picture_of_the_window(tmp_path, box_obj):
    out = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--open", str(box_obj),
                           "--screenshot", str(out)], capture_output=True, text=True,
                          timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 600
    assert np.ptp(pixels.reshape(-1, 3), axis=0).max() > 100  # not a blank frame


def test_cli_screenshot_of_a_bad_file_exits_2_with_one_sentence(tmp_path):
    bad = tmp_path / "broken.glb"
    bad.write_bytes(b"glTF" + b"\x00" * 20)
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--open", str(bad),
                           "--screenshot", str(tmp_path / "x.png")], capture_output=True,
                          text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("meshsmith: broken.glb")
    assert "Traceback" not in proc.stderr


def test_the_3d_view_is_a_window_of_its_own_and_notices_show_over_it(qtbot, window):
    """The canvas is a native child window (Qt then composes and swaps only its pixels per
    frame) and nothing else is: read back from the X display after the canvas has drawn new
    frames, a notice posted over the 3D view is what the screen shows there, as Qt draws the
    window."""
    import os

    from PIL import ImageGrab
    from PySide6.QtCore import QPoint, QRect

    canvas = window.viewport.plotter
    assert canvas.testAttribute(Qt.WidgetAttribute.WA_NativeWindow) and canvas.internalWinId()
    natives = [w for w in window.findChildren(QWidget)
               if w.testAttribute(Qt.WidgetAttribute.WA_NativeWindow)]
    assert natives == [canvas], "the docks and bars stay plain widgets"
    assert window.viewport.overlay.parentWidget() is canvas
    notice = window.notices.post("Auto-rig of plane.obj failed: it is flat.", "failed")
    qtbot.waitUntil(notice.isVisible, timeout=5_000)
    qtbot.wait(300)  # painted, composed and on the display
    for _ in range(3):  # new 3D frames under it
        with qtbot.waitSignal(canvas.frameSwapped, timeout=10_000):
            canvas.update()
    area = QRect(notice.mapTo(window, QPoint(0, 0)), notice.size())
    assert QRect(canvas.mapTo(window, QPoint(0, 0)), canvas.size()).contains(area)
    ratio = window.devicePixelRatioF()
    corner = window.mapToGlobal(area.topLeft())
    box = (round(corner.x() * ratio), round(corner.y() * ratio),
           round((corner.x() + area.width()) * ratio), round((corner.y() + area.height()) * ratio))
    on_screen = np.asarray(ImageGrab.grab(bbox=box, xdisplay=os.environ["DISPLAY"]), dtype=float)
    drawn = rgb_array(window.grab(area).toImage()).astype(float)
    rows, cols = min(len(drawn), len(on_screen)), min(drawn.shape[1], on_screen.shape[1])
    assert rows > 20 and cols > 200
    assert np.abs(on_screen[:rows, :cols, :3] - drawn[:rows, :cols]).mean() < 12
