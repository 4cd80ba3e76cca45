"""A heavy file's first frame comes first: its preview, then its full level through shared
memory that nothing leaves behind; plain GLBs read as views on the file, others as before."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app import scene_stages
from app.scene_data import prepare_scene
from app.scene_glbview import read_plain_glb
from engine.errors import InvalidInput
from tests.app.viewport.meshes import LOAD_TIMEOUT_MS, plain_grid, write_plain_glb


@pytest.fixture(scope="module")
def heavy_plain_glb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320,000 faces in a plain GLB: a preview and a motion level, read as views."""
    return write_plain_glb(tmp_path_factory.mktemp("plain") / "plain.glb", *plain_grid(401))


def _memfds(pid: int) -> list[str]:
    """The memory files process ``pid`` holds open (ours are named meshsmith-…)."""
    fds = Path(f"/proc/{pid}/fd")
    links = []
    for fd in fds.iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            pass
    return [link for link in links if "meshsmith-" in link]


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


# ----------------------------------------------------------------------------- reading


def test_a_plain_glb_is_read_as_views_on_the_file_and_matches_the_general_reader(
        heavy_plain_glb, monkeypatch):
    plain = read_plain_glb(heavy_plain_glb)
    assert plain is not None and plain.node == "surface"
    assert not plain.vertices.flags.owndata and not plain.faces.flags.writeable  # the file
    fast = prepare_scene(heavy_plain_glb)
    monkeypatch.setattr("app.scene_data.read_plain_glb", lambda *a, **k: None)
    general = prepare_scene(heavy_plain_glb)  # through trimesh, as any other file
    assert [p.name for p in fast.parts] == [p.name for p in general.parts] == ["surface"]
    assert np.array_equal(fast.parts[0].vertices, general.parts[0].vertices)
    assert np.array_equal(fast.parts[0].faces, general.parts[0].faces)
    assert np.allclose(fast.parts[0].normals, general.parts[0].normals, atol=1e-6)
    assert fast.notes == general.notes and fast.faces == general.faces == 320_000
    assert fast.preview_faces == general.preview_faces


def test_a_plain_glb_s_own_normals_are_read_as_views_too(tmp_path):
    vertices, faces = plain_grid(60)
    normals = np.tile(np.float32([0.0, 2.0, 0.0]), (len(vertices), 1))  # the file's, not unit
    normals[::7] = (0.0, 0.0, -3.0)  # not what the faces say: the file wins
    path = write_plain_glb(tmp_path / "normals.glb", vertices, faces, normals=normals)
    plain = read_plain_glb(path)
    assert plain is not None and np.array_equal(plain.normals, normals)
    scene = prepare_scene(path)
    assert np.allclose(scene.parts[0].normals, normals / np.linalg.norm(normals, axis=1,
                                                                         keepdims=True))


@pytest.mark.parametrize("layout", ["interleaved", "uint16"])
def test_a_glb_with_other_accessors_falls_back_to_the_general_reader(tmp_path, layout):
    vertices, faces = plain_grid(60)
    normals = np.tile(np.float32([0.0, 1.0, 0.0]), (len(vertices), 1))
    path = write_plain_glb(tmp_path / f"{layout}.glb", vertices, faces, normals=normals,
                     interleaved=layout == "interleaved",
                     index_type=5123 if layout == "uint16" else 5125)
    assert read_plain_glb(path) is None
    scene = prepare_scene(path)
    assert np.array_equal(scene.parts[0].vertices, vertices)
    assert np.array_equal(scene.parts[0].faces, faces)
    if layout == "interleaved":  # the file's own normals, read through the stride
        assert np.allclose(scene.parts[0].normals, normals)


def test_a_truncated_plain_glb_gives_one_sentence(qtbot, view_model, tmp_path,
                                                  heavy_plain_glb):
    data = heavy_plain_glb.read_bytes()
    cut = tmp_path / "cut.glb"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInput) as caught:
        prepare_scene(cut)
    message = caught.value.message
    assert message.startswith("cut.glb is truncated") and message.endswith(".")
    assert "\n" not in message
    with qtbot.waitSignal(view_model.load_failed, timeout=LOAD_TIMEOUT_MS) as failed:
        view_model.open_file(str(cut))  # the same sentence reaches the artist
    assert failed.args == [message]


# ----------------------------------------------------------------------------- two steps


@pytest.mark.usefixtures("slow_renderer")  # the preview stays on screen: it is what fits
def test_the_preview_arrives_and_is_drawn_before_the_full_level(qtbot, view, heavy_plain_glb):
    vm = view.view_model
    events: list[tuple[str, object]] = []
    drawn: list[bool] = []  # the view handles scene_changed first: what did it draw?
    vm.scene_changed.connect(lambda scene, _keep: (events.append(("changed", scene)),
                                                   drawn.append(view._parts is scene.preview)))
    vm.scene_completed.connect(lambda scene: events.append(("completed", scene)))
    vm.scene_loaded.connect(lambda scene: events.append(("loaded", scene)))
    with qtbot.waitSignal(vm.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view.open_file(heavy_plain_glb)
    assert [name for name, _ in events] == ["changed", "completed", "loaded"]
    assert drawn == [True]
    first, full = events[0][1], events[-1][1]
    assert first.full_pending and first.parts is first.preview  # the preview stood in
    assert first.faces == full.faces == 320_000  # the overlay's counts were real all along
    assert not full.full_pending and sum(len(p.faces) for p in full.parts) == 320_000
    assert full.preview is first.preview and view._parts is full.preview  # nothing redrawn
    assert "Preview:" in view.overlay.text() and "on its way" not in view.overlay.text()
    with qtbot.waitSignal(view.plotter.painted, timeout=LOAD_TIMEOUT_MS):
        vm.set_full_detail(True)
    assert sum(mesh.n_cells for mesh in view._meshes) == 320_000


def test_full_detail_asked_for_early_is_drawn_when_it_arrives(qtbot, view, heavy_plain_glb):
    vm = view.view_model
    with qtbot.waitSignal(view.scene_shown, timeout=LOAD_TIMEOUT_MS):
        view.open_file(heavy_plain_glb)
    if vm.scene.full_pending:  # the usual case: ask before the full level is here
        vm.set_full_detail(True)
        assert "full detail on its way" in view.overlay.text()
        with qtbot.waitSignal(vm.scene_completed, timeout=LOAD_TIMEOUT_MS):
            pass
    vm.set_full_detail(True)
    assert sum(mesh.n_cells for mesh in view._meshes) == 320_000
    assert "Full detail" in view.overlay.text()


def test_the_full_level_is_shared_memory_that_nothing_keeps_after_use(
        qtbot, view_model, heavy_plain_glb):
    shm = _shm()
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(heavy_plain_glb))
    vertices = view_model.scene.parts[0].vertices
    base = vertices
    while isinstance(base, np.ndarray):
        base = base.base
    base = base.obj if isinstance(base, memoryview) else base
    assert type(base).__name__ == "mmap"  # mapped from the helper's file, not unpickled
    helper = view_model._helper
    pid = helper.submit(os.getpid).result(60)
    qtbot.waitUntil(lambda: helper.submit(scene_stages.held).result(60) == (0, 0),
                    timeout=10_000)
    assert _memfds(pid) == [] and _shm() <= shm


@pytest.mark.parametrize("how", ["superseded", "closed"])
def test_a_request_given_up_leaves_nothing_behind(qtbot, tmp_path, heavy_plain_glb, how):
    from app.viewmodels.viewport_viewmodel import ViewportViewModel

    shm = _shm()
    vm = ViewportViewModel()
    try:
        helper = vm._helper
        pid = helper.submit(os.getpid).result(60)
        vm.open_file(str(heavy_plain_glb))
        if how == "superseded":
            light = write_plain_glb(tmp_path / "light.glb", *plain_grid(20))
            with qtbot.waitSignal(vm.scene_loaded, timeout=LOAD_TIMEOUT_MS):
                vm.open_file(str(light))
            assert vm.scene.name == "light.glb"
        else:
            vm.shutdown()
        # the helper answers the given-up request, then is told to let go of it
        qtbot.waitUntil(lambda: helper.submit(scene_stages.held).result(60) == (0, 0),
                        timeout=LOAD_TIMEOUT_MS)
        assert _memfds(pid) == [] and _shm() <= shm
    finally:
        vm.shutdown()


def test_the_full_level_still_arrives_when_shared_memory_cannot_be_opened(
        qtbot, view_model, heavy_plain_glb, monkeypatch):
    def locked(_packet):
        raise LookupError("no /proc here")

    monkeypatch.setattr("app.shared_arrays.unpack", locked)
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(heavy_plain_glb))
    scene = view_model.scene
    assert not scene.full_pending and sum(len(p.faces) for p in scene.parts) == 320_000
    helper = view_model._helper
    qtbot.waitUntil(lambda: helper.submit(scene_stages.held).result(60) == (0, 0),
                    timeout=10_000)
