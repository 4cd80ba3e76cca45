"""The 3D viewport: files prepared off the GUI thread, every display mode drawn, before/after,
screenshots, and no QtInteractor outliving its test. Runs under Xvfb (pytest-xvfb)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from app.scene_data import SceneData, prepare_scene
from app.viewmodels.viewport_viewmodel import DisplayMode
from app.views.viewport import ViewportView
from engine.errors import InvalidInput
from tests.app.conftest import alive_interactors
from tests.app.viewport.meshes import LOAD_TIMEOUT_MS

pytestmark = pytest.mark.usefixtures("viewport_check_gc")

# ----------------------------------------------------------------------------- helpers


def focus(qtbot, view: ViewportView) -> None:
    """Keys 1-8 and friends answer only while the viewport has focus."""
    view.activateWindow()
    view.plotter.setFocus()
    qtbot.waitUntil(view.plotter.hasFocus)


def show(qtbot, view: ViewportView, path: Path) -> SceneData:
    with qtbot.waitSignal(view.scene_shown, timeout=LOAD_TIMEOUT_MS):
        view.open_file(path)
    assert view.view_model.scene is not None
    return view.view_model.scene


def shot(view: ViewportView, path: Path) -> np.ndarray:
    """The viewport's screenshot as an int array, the overlay text band cut off."""
    view.save_screenshot(path)
    image = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    return image[90:]


def differing(a: np.ndarray, b: np.ndarray, threshold: int = 40) -> int:
    return int((np.abs(a - b).sum(axis=-1) > threshold).sum())


# ----------------------------------------------------------------------------- preparing files


def test_prepare_scene_keeps_parts_uvs_texture_and_skin(showcase_glb):
    scene = prepare_scene(showcase_glb)
    box, tube = scene.parts
    assert (box.name, tube.name) == ("part_00", "part_01")
    assert box.uv is None and box.texture is None
    assert np.allclose(box.base_color, (90 / 255, 120 / 255, 220 / 255, 1.0))
    assert tube.uv is not None and tube.texture is not None and tube.texture.shape == (128, 128, 3)
    assert scene.stats() == {"vertices": 36 + 343, "faces": 12 + 576, "parts": 2, "bones": 3,
                             "uv_charts": 1}
    assert scene.skeleton is not None and scene.skeleton.names == ("hip", "spine", "head")
    assert np.allclose(scene.skeleton.positions, [(0.6, 0, 0), (0.6, 0.6, 0), (0.6, 1.2, 0)])
    assert scene.skeleton.parents.tolist() == [-1, 0, 1]
    assert np.allclose(scene.bounds, [(-1.3, 0.0, -0.5), (1.1, 1.2, 0.5)], atol=1e-6)


def test_skeleton_joints_take_world_positions_from_the_node_hierarchy(skinned_cylinder_glb):
    skeleton = prepare_scene(skinned_cylinder_glb).skeleton
    assert skeleton is not None and skeleton.bones == 2  # a bone per joint, as Blender has
    # tip: 2 along the root's local y, which the root's quarter turn about z points at -x
    assert np.allclose(skeleton.positions, [(0.0, 1.0, 0.0), (-2.0, 1.0, 0.0)], atol=1e-9)


@pytest.mark.parametrize("suffix", ["obj", "ply", "stl", "off", "gltf"])
def test_other_mesh_formats_open_as_one_part(tmp_path, suffix):
    path = tmp_path / f"box.{suffix}"
    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    if suffix == "gltf":  # one JSON file with its buffer embedded, as Meshsmith accepts
        files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(box), embed_buffers=True)
        path.write_bytes(files["model.gltf"])
    else:
        box.export(path)
    scene = prepare_scene(path)
    assert len(scene.parts) == 1 and scene.faces == 12
    assert scene.vertices == 8  # STL's separate corners are welded for counts and shading
    assert np.allclose(scene.bounds[1] - scene.bounds[0], (2.0, 1.0, 0.5))


@pytest.mark.parametrize("content", [b"hello, I am not a mesh\n", b"glTF\x02\x00\x00\x00\xff",
                                     b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b""])
def test_unreadable_files_raise_one_sentence(tmp_path, content):
    path = tmp_path / "broken.glb"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        prepare_scene(path)
    message = caught.value.message
    assert message.startswith("broken.glb ") and message.endswith(".") and "\n" not in message


# ----------------------------------------------------------------------------- view model


def test_files_are_prepared_in_a_helper_process(qtbot, view_model, box_sphere_glb):
    # not merely off the GUI thread: a thread would share the GIL with it and stall it
    pids: list[int] = []
    view_model._prepared.connect(lambda delivery: pids.append(delivery.prepared.pid))
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        view_model.open_file(str(box_sphere_glb))
        assert view_model.is_loading and "Loading box_sphere.glb" in view_model.overlay_text()
    # the lambda's delivery is queued like the view model's own slot, and may come after it
    qtbot.waitUntil(lambda: bool(pids), timeout=LOAD_TIMEOUT_MS)
    assert pids[0] not in (0, os.getpid())
    assert loaded.args[0].name == "box_sphere.glb" and not view_model.is_loading


def test_bad_file_emits_load_failed_with_one_sentence(qtbot, view_model, tmp_path):
    bad = tmp_path / "notes.glb"
    bad.write_text("just some notes\n")
    with qtbot.waitSignal(view_model.load_failed, timeout=LOAD_TIMEOUT_MS) as failed:
        view_model.open_file(str(bad))
    (message,) = failed.args
    assert message.startswith("notes.glb is not a mesh or image") and message.count(".") >= 1
    assert message.endswith(".") and "\n" not in message and view_model.scene is None


def test_a_newer_file_wins_over_one_still_loading(qtbot, view_model, box_sphere_glb,
                                                  showcase_glb):
    shown: list[str] = []
    view_model.scene_changed.connect(lambda scene, _keep: shown.append(scene.name))
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(box_sphere_glb))
        view_model.open_file(str(showcase_glb))
    qtbot.wait(50)
    assert shown == ["showcase.glb"]


def test_overlay_counts_fallbacks_and_job_stats(qtbot, view_model, box_sphere_glb):
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(box_sphere_glb), stats={"uv_charts": 7, "bones": 3})
    text = view_model.overlay_text()
    assert "2 parts" in text and "3 bones" in text and "7 UV charts" in text
    assert "size 2.6 × 1.2 × 1.2" in text
    with qtbot.waitSignal(view_model.overlay_changed) as changed:
        view_model.set_mode(DisplayMode.UV_CHECKER)
    assert view_model.effective_mode is DisplayMode.CLAY
    assert "This mesh has no UVs: showing clay." in changed.args[0]
    view_model.set_mode(DisplayMode.SKELETON)
    assert "This file has no skeleton." in view_model.overlay_text()


def test_overlay_says_a_mesh_without_material_is_shown_in_clay(qtbot, view_model, box_obj):
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(box_obj))
    text = view_model.overlay_text()
    assert "box.obj has no material, so it is shown in clay." in text
    assert "No texture" not in text  # one explanation, not two


# ----------------------------------------------------------------------------- drawing


def test_every_mode_draws_a_distinct_non_blank_image(qtbot, view, showcase_glb, tmp_path):
    view.view_model.set_grid_visible(False)  # only the mesh should differ from the background
    view.view_model.set_axes_visible(False)
    empty = shot(view, tmp_path / "empty.png")
    show(qtbot, view, showcase_glb)
    images = {}
    for mode in DisplayMode:
        view.view_model.set_mode(mode)
        images[mode] = shot(view, tmp_path / f"{mode.value}.png")
        assert differing(images[mode], empty) > 0.05 * empty[..., 0].size, f"{mode} is blank"
    modes = list(DisplayMode)
    for i, a in enumerate(modes):
        for b in modes[i + 1 :]:
            # 2,000 pixels: far above anti-aliasing noise, well below the tube's inside
            # (about 9,000), which is all that tells clay from two-sided
            assert differing(images[a], images[b]) > 2000, f"{a} looks like {b}"


def test_skeleton_mode_draws_bones_in_their_colour(qtbot, view, skinned_cylinder_glb, tmp_path):
    view.view_model.set_axes_visible(False)  # its x axis is orange too
    show(qtbot, view, skinned_cylinder_glb)
    view.view_model.set_mode(DisplayMode.CLAY)
    clay = shot(view, tmp_path / "clay.png")
    view.view_model.set_mode(DisplayMode.SKELETON)
    bones = shot(view, tmp_path / "skeleton.png")
    orange = (bones[..., 0] > 180) & (bones[..., 1] > 80) & (bones[..., 2] < 90)
    assert orange.sum() > 200 and not ((clay[..., 0] > 180) & (clay[..., 2] < 90)).any()


def test_keys_pick_modes_and_toggle_turntable_grid_and_axes(qtbot, view, showcase_glb, tmp_path):
    show(qtbot, view, showcase_glb)
    focus(qtbot, view)
    qtbot.keyClick(view.plotter, Qt.Key.Key_3)
    assert view.view_model.mode is DisplayMode.WIREFRAME
    assert view.mode_actions[DisplayMode.WIREFRAME].isChecked()
    qtbot.keyClick(view.plotter, Qt.Key.Key_W)  # VTK's own wireframe key must do nothing
    assert view.view_model.mode is DisplayMode.WIREFRAME
    before = np.array(view.plotter.camera.position)
    qtbot.keyClick(view.plotter, Qt.Key.Key_T)
    assert view.view_model.turntable
    qtbot.waitUntil(lambda: not np.allclose(view.plotter.camera.position, before), timeout=5000)
    qtbot.keyClick(view.plotter, Qt.Key.Key_T)
    assert not view.view_model.turntable and not view._turntable_timer.isActive()
    position = np.array(view.plotter.camera.position)
    assert np.isclose(position[1], before[1])  # it turned about the world's up axis
    with_grid = shot(view, tmp_path / "grid.png")
    qtbot.keyClick(view.plotter, Qt.Key.Key_G)
    without_grid = shot(view, tmp_path / "no_grid.png")
    qtbot.keyClick(view.plotter, Qt.Key.Key_A)
    without_axes = shot(view, tmp_path / "no_axes.png")
    assert not view.view_model.grid_visible and not view.view_model.axes_visible
    assert differing(with_grid, without_grid) > 500 and differing(without_grid, without_axes) > 50


def test_a_windows_own_shortcut_wins_over_the_viewports(qtbot, showcase_glb):
    window = QMainWindow()
    qtbot.addWidget(window)
    view = ViewportView(parent=window)
    window.setCentralWidget(view)
    menu_hits: list[bool] = []
    wireframe = QAction("Wireframe", window)  # as a main window's View menu has it
    wireframe.setShortcut(QKeySequence("3"))
    wireframe.triggered.connect(lambda: menu_hits.append(True))
    window.addAction(wireframe)
    window.show()
    qtbot.waitExposed(window)
    focus(qtbot, view)
    qtbot.keyClick(view.plotter, Qt.Key.Key_3)  # both bound: Qt would have fired neither
    qtbot.keyClick(view.plotter, Qt.Key.Key_G)  # only the viewport's
    assert menu_hits == [True] and not view.view_model.grid_visible


def test_frame_and_reset_view(qtbot, view, showcase_glb):
    show(qtbot, view, showcase_glb)
    focus(qtbot, view)
    default = np.array(view.plotter.camera.position)
    view.plotter.camera.position = default * 3.0 + (5.0, 0.0, 0.0)
    view.frame()
    direction = np.array(view.plotter.camera.direction)
    qtbot.keyClick(view.plotter, Qt.Key.Key_R)
    assert np.allclose(view.plotter.camera.position, default)
    assert not np.allclose(view.plotter.camera.direction, direction)


def test_before_after_toggles_between_two_scenes(qtbot, view, box_sphere_glb, showcase_glb,
                                                 tmp_path):
    vm = view.view_model
    with qtbot.waitSignal(view.scene_shown, timeout=LOAD_TIMEOUT_MS):
        vm.show_comparison(str(box_sphere_glb), str(showcase_glb), {"bones": 5})
    assert vm.side == "after" and vm.scene is vm.after and vm.after.name == "showcase.glb"
    assert view.before_after_action.isEnabled() and "after (result)" in vm.overlay_text()
    assert "5 bones" in vm.overlay_text()  # the job's stats describe its result only
    camera = np.array(view.plotter.camera.position)
    after = shot(view, tmp_path / "after.png")
    focus(qtbot, view)
    qtbot.keyClick(view.plotter, Qt.Key.Key_B)
    assert vm.side == "before" and vm.scene is vm.before and vm.before.name == "box_sphere.glb"
    assert "before (input)" in vm.overlay_text() and "0 bones" in vm.overlay_text()
    before = shot(view, tmp_path / "before.png")
    assert differing(after, before) > 5000
    assert np.allclose(view.plotter.camera.position, camera)  # same view, to compare
    vm.toggle_before_after()
    assert vm.scene is vm.after and differing(after, shot(view, tmp_path / "again.png")) < 200


def test_side_by_side_draws_the_input_left_and_the_result_right_with_one_camera(
        qtbot, view, box_sphere_glb, showcase_glb, tmp_path):
    vm = view.view_model
    with qtbot.waitSignal(view.scene_shown, timeout=LOAD_TIMEOUT_MS):
        vm.show_comparison(str(box_sphere_glb), str(showcase_glb))
    single = shot(view, tmp_path / "single.png")
    focus(qtbot, view)
    qtbot.keyClick(view.plotter, Qt.Key.Key_S)
    assert vm.side_by_side and view.split_action.isChecked()
    assert "left: the input, right: the result" in vm.overlay_text()
    split = shot(view, tmp_path / "split.png")
    half = split.shape[1] // 2
    assert differing(single, split) > 5000
    assert differing(split[:, :half], split[:, half:]) > 2000  # two different meshes
    renderer = view._split.renderer
    assert renderer.GetActiveCamera() is view.plotter.renderer.GetActiveCamera()
    assert renderer.GetActors().GetNumberOfItems() >= 2  # box and sphere on the left
    vm.set_side_by_side(False)
    assert view._split.renderer is None
    assert differing(single, shot(view, tmp_path / "again.png")) < 200


def test_screenshot_writes_a_png_and_the_window_can_be_grabbed(qtbot, view, showcase_glb,
                                                               tmp_path):
    show(qtbot, view, showcase_glb)  # what `main.py --open FILE --screenshot OUT` waits for
    out = view.save_screenshot(tmp_path / "viewport.png")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(out) as image:
        assert image.size == (view.plotter.width(), view.plotter.height())
    view.grab().save(str(tmp_path / "grab.png"))  # what a main window's own grab will see
    grab = np.asarray(Image.open(tmp_path / "grab.png").convert("RGB")).astype(np.int16)
    blue_box = (grab[..., 2] - grab[..., 0] > 80).sum()
    assert blue_box > 2000, "the window grab lost the 3D view (black or stale frame)"


def test_a_hidden_view_still_announces_the_scene(qtbot, showcase_glb, tmp_path):
    hidden = ViewportView()  # a caller may open a file before its window is shown
    qtbot.addWidget(hidden)
    with qtbot.waitSignal(hidden.scene_shown, timeout=LOAD_TIMEOUT_MS):
        hidden.open_file(showcase_glb)
    assert hidden.save_screenshot(tmp_path / "hidden.png").stat().st_size > 0


def test_a_million_faces_open_without_blocking_the_gui_thread(qtbot, view, million_face_glb):
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    loaded: list[float] = []
    view.view_model.scene_loaded.connect(lambda _scene: loaded.append(time.perf_counter()))
    started = time.perf_counter()
    scene = show(qtbot, view, million_face_glb)  # its preview first
    qtbot.waitUntil(lambda: bool(loaded), timeout=LOAD_TIMEOUT_MS)  # then its full level
    timer.stop()
    preparing = np.array([started, *[t for t in ticks if t < loaded[0]]])
    assert scene.faces == 999_698 and scene.uv_charts == 1
    assert len(preparing) > 10, "the timer never fired while the file was prepared"
    # 0.4 s: room for a busy CI machine, yet far below the 1-2 s a parse on this thread costs
    assert np.diff(preparing).max() < 0.4, "the GUI thread stalled while the file was parsed"


def test_a_closed_view_never_renders(qtbot, view, showcase_glb, tmp_path):
    scene = show(qtbot, view, showcase_glb)
    view.close()
    assert view.is_closed and view.plotter._closed
    calls: list[str] = []
    # patched by hand, not with monkeypatch: its undo comes after the leak check
    view.plotter.render = lambda: calls.append("render")
    view.plotter.update = lambda: calls.append("update")
    try:
        view.view_model.set_mode(DisplayMode.NORMALS)
        view.view_model.set_turntable(True)
        view.view_model.scene_changed.emit(scene, False)
        qtbot.wait(100)
    finally:
        del view.plotter.render, view.plotter.update
    assert calls == [] and not view._turntable_timer.isActive()
    # not pytest.raises: its traceback would keep the view (and its interactor) alive
    try:
        view.save_screenshot(tmp_path / "late.png")
        raised = ""
    except RuntimeError as exc:
        raised = str(exc)
    assert raised == "the viewport is closed" and not (tmp_path / "late.png").exists()


def test_check_gc_sees_a_live_interactor(qtbot):
    from pyvistaqt import QtInteractor

    interactor = QtInteractor(auto_update=False)
    assert any(obj is interactor for obj in alive_interactors())
    interactor.close()
    interactor.deleteLater()
    del interactor
    assert alive_interactors() == []


def test_orbit_is_a_turntable_that_keeps_the_up_axis_up(qtbot, view, showcase_glb):
    show(qtbot, view, showcase_glb)
    iren = view.plotter.iren
    start = np.array(view.plotter.camera.position)
    iren._mouse_left_button_press(320, 240)
    for step in range(1, 11):  # a diagonal drag: a trackball would roll the model
        iren._mouse_move(320 + 15 * step, 240 + 9 * step)
    iren._mouse_left_button_release()
    assert not np.allclose(view.plotter.camera.position, start)  # it did orbit
    assert np.allclose(view.plotter.camera.up, (0.0, 1.0, 0.0), atol=1e-6)


def test_numpad_keys_give_front_side_and_top_views_as_in_blender(qtbot, view, showcase_glb):
    show(qtbot, view, showcase_glb)
    focus(qtbot, view)
    keypad = Qt.KeyboardModifier.KeypadModifier
    expected = {(Qt.Key.Key_1, keypad): (0, 0, -1), (Qt.Key.Key_3, keypad): (-1, 0, 0),
                (Qt.Key.Key_7, keypad): (0, -1, 0),
                (Qt.Key.Key_1, keypad | Qt.KeyboardModifier.ControlModifier): (0, 0, 1)}
    for (key, modifiers), direction in expected.items():
        qtbot.keyClick(view.plotter, key, modifiers)
        assert np.allclose(view.plotter.camera.direction, direction, atol=1e-6), key
    assert view.view_model.mode is DisplayMode.TEXTURED  # numpad digits are not mode keys
    qtbot.keyClick(view.plotter, Qt.Key.Key_2)  # the digits above the letters still are
    assert view.view_model.mode is DisplayMode.CLAY


def test_the_parts_list_names_parts_hides_them_and_isolates_one(qtbot, view, box_sphere_glb):
    from app.views.parts_view import PartsView

    parts = PartsView(view.view_model)
    qtbot.addWidget(parts)
    scene = show(qtbot, view, box_sphere_glb)
    assert parts.list.count() == 2
    assert all(f"{len(p.faces):,} faces" in parts.list.item(i).text()
               for i, p in enumerate(scene.parts))
    parts.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # the eye: hide the first part
    assert view.view_model.parts_to_draw(scene) == (scene.parts[1],)
    assert view._parts == (scene.parts[1],)  # the view drew only what is left
    parts.show_all_button.click()
    assert view._parts == scene.parts and parts.list.item(0).checkState() == Qt.CheckState.Checked
    parts.isolate(0)
    assert view._parts == (scene.parts[0],)
    assert parts.list.item(1).checkState() == Qt.CheckState.Unchecked
    parts.isolate(0)  # isolating it again brings everything back
    assert view._parts == scene.parts


def test_a_flat_sheet_on_the_floor_is_drawn_over_the_grid_not_crossed_by_it(qtbot, view,
                                                                           tmp_path):
    """The floor grid sits a hair below the lowest point: VTK draws lines ahead of faces at
    the same depth, so a sheet lying in the grid's plane came out striped by grid lines."""
    from app.views import viewport_modes as modes

    sheet = trimesh.Trimesh([[-1, 0, -1], [1, 0, -1], [1, 0, 1], [-1, 0, 1]],
                            [[0, 2, 1], [0, 3, 2]])
    path = tmp_path / "sheet.obj"
    sheet.export(path)
    show(qtbot, view, path)
    assert view.view_model.grid_visible
    grid = np.array([round(255 * c) for c in modes.GRID], dtype=np.int16)
    clay = np.array([round(255 * c) for c in modes.CLAY], dtype=np.int16)
    for name, look in (("above", ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0))), ("default", None)):
        if look is None:
            view.reset_view()  # three-quarters from above: the lines fought the sheet there
        else:
            view.look_from(*look)
        image = shot(view, tmp_path / f"sheet-{name}.png")
        height, width = image.shape[:2]
        middle = image[2 * height // 5: 3 * height // 5, 2 * width // 5: 3 * width // 5]
        assert (np.abs(middle - clay).sum(axis=-1) < 150).mean() > 0.5, f"{name}: no sheet"
        striped = (np.abs(middle - grid).sum(axis=-1) < 24).sum()
        assert striped == 0, f"{name}: {striped} grid-coloured pixels cross the sheet"
