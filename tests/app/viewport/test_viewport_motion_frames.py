"""Frames while the camera moves: one VTK render per frame, in the paint (the interactor's own
render on each mouse move is only a request for it), and on a software renderer at half the
width and height (scaled up to the view), every pixel again once the camera stops, as the
overlay says. The interactor keeps the view's real size, so a drag turns the camera as far
at either resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.views.viewport_canvas import MOTION_RENDER_SCALE
from app.views.viewport_lod import SETTLE_MS
from tests.app.viewport.meshes import LOAD_TIMEOUT_MS, write_showcase_glb


@pytest.fixture
def light_glb(tmp_path: Path) -> Path:
    return write_showcase_glb(tmp_path / "light.glb")


def _open(qtbot, view, path: Path) -> None:
    with qtbot.waitSignal(view.scene_shown, timeout=LOAD_TIMEOUT_MS):
        view.open_file(path)


def _frame_sizes(view) -> list[tuple[int, int]]:
    """The render window's size at the start of each VTK render, from now on."""
    sizes: list[tuple[int, int]] = []
    window = view.plotter.ren_win
    window.AddObserver("StartEvent", lambda *_: sizes.append(tuple(window.GetSize())))
    return sizes


def _move(qtbot, view, x: int, y: int) -> None:
    """One mouse move through the VTK interactor, and the frame it asks for."""
    iren = view.plotter.iren.interactor
    with qtbot.waitSignal(view.plotter.painted, timeout=LOAD_TIMEOUT_MS):
        iren.SetEventInformation(x, y, 0, 0)
        iren.MouseMoveEvent()


def test_a_mouse_move_renders_once_in_the_paint_not_in_the_interactor(qtbot, view,
                                                                       light_glb):
    _open(qtbot, view, light_glb)
    canvas = view.plotter
    starts = _frame_sizes(view)
    iren = canvas.iren.interactor
    x, y = canvas.width() // 2, canvas.height() // 2
    iren.SetEventInformation(x, y, 0, 0)
    iren.LeftButtonPressEvent()
    before = np.array(canvas.camera.position)
    iren.SetEventInformation(x + 30, y, 0, 0)
    iren.MouseMoveEvent()
    assert not np.allclose(before, canvas.camera.position), "the move did not orbit"
    assert starts == [], "the interactor rendered on the move itself"
    with qtbot.waitSignal(canvas.painted, timeout=LOAD_TIMEOUT_MS):
        pass
    assert len(starts) == 1
    iren.LeftButtonReleaseEvent()
    qtbot.waitUntil(lambda: not view.view_model.camera_moving, timeout=SETTLE_MS * 20)


def test_the_view_lowers_the_moving_resolution_only_on_a_software_renderer(qtbot, view):
    vm = view.view_model
    view.plotter.renderer_known.emit(False)  # a GPU
    assert vm._motion_scale == 1.0
    view.plotter.renderer_known.emit(True)  # llvmpipe and kin
    assert vm._motion_scale == MOTION_RENDER_SCALE < 1.0
    assert vm.render_scale == 1.0  # the camera is still


def test_moving_frames_are_drawn_at_half_size_and_the_still_one_at_full(qtbot, view,
                                                                        light_glb):
    _open(qtbot, view, light_glb)
    vm, canvas = view.view_model, view.plotter
    vm.set_motion_render_scale(0.5)
    full = tuple(canvas.ren_win.GetSize())
    budgets: list[int] = []
    vm.set_face_budget = budgets.append  # what the view measures from here on
    sizes = _frame_sizes(view)
    iren = canvas.iren.interactor
    x, y = canvas.width() // 2, canvas.height() // 2
    iren.SetEventInformation(x, y, 0, 0)
    iren.LeftButtonPressEvent()
    _move(qtbot, view, x + 20, y)
    assert vm.camera_moving and canvas.frame_scale == 0.5
    assert sizes[-1] == (round(full[0] / 2), round(full[1] / 2))
    assert tuple(canvas.ren_win.GetSize()) == full  # the interactor sees the real size
    assert "faces drawn at half resolution, refines when the camera stops" in (
        view.overlay.text())
    assert view._parts is vm.scene.parts  # a light mesh keeps its faces: only pixels change
    with qtbot.waitSignal(vm.detail_changed, timeout=SETTLE_MS * 20):
        iren.LeftButtonReleaseEvent()  # the settle delay...
    with qtbot.waitSignal(canvas.painted, timeout=LOAD_TIMEOUT_MS):
        pass  # ...then one sharp frame
    assert not vm.camera_moving and canvas.frame_scale == 1.0 and sizes[-1] == full
    assert "resolution" not in view.overlay.text() and "Moving" not in view.overlay.text()
    assert budgets == [], "a coarse frame must not stand for the renderer's full-size cost"


def test_a_drag_turns_the_camera_as_far_at_half_resolution(qtbot, view, light_glb):
    _open(qtbot, view, light_glb)
    vm, canvas = view.view_model, view.plotter
    x, y = canvas.width() // 2, canvas.height() // 2
    ends = []
    for scale in (1.0, 0.5):
        view.reset_view()
        vm.set_motion_render_scale(scale)
        iren = canvas.iren.interactor
        iren.SetEventInformation(x, y, 0, 0)
        iren.LeftButtonPressEvent()
        for step in (1, 2, 3):
            _move(qtbot, view, x + 25 * step, y + 5 * step)
        assert canvas.frame_scale == scale
        ends.append(np.array(canvas.camera.position))
        iren.LeftButtonReleaseEvent()
        qtbot.waitUntil(lambda: not vm.camera_moving, timeout=SETTLE_MS * 20)
    start = view.reset_view() or np.array(canvas.camera.position)
    assert not np.allclose(start, ends[0]), "the drag did not turn the camera"
    np.testing.assert_allclose(ends[1], ends[0], atol=1e-6 * np.linalg.norm(ends[0]))


def test_a_render_scale_outside_zero_to_one_is_refused(view_model):
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="render scale"):
            view_model.set_motion_render_scale(bad)
    view_model.set_motion_render_scale(0.25)
    assert view_model.render_scale == 1.0  # still camera: every pixel
    view_model.set_camera_moving(True)
    assert view_model.render_scale == 0.25
