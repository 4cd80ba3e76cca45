"""Helper processes: the work happens in another process, and one that dies fails only the
task it was running."""

from __future__ import annotations

import os
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from app.offload import HelperProcess
from app.viewmodels.viewport_viewmodel import ViewportViewModel

TIMEOUT_S = 60


@pytest.fixture
def helper():
    process = HelperProcess("test")
    yield process
    process.shutdown()


def test_a_task_runs_in_another_process(helper):
    assert helper.submit(os.getpid).result(TIMEOUT_S) != os.getpid()


def test_a_dead_worker_fails_its_task_and_the_next_task_gets_a_new_one(helper):
    first = helper.submit(os.getpid).result(TIMEOUT_S)
    with pytest.raises(BrokenProcessPool):
        helper.submit(os._exit, 3).result(TIMEOUT_S)  # what a segfault or the OOM killer does
    second = helper.submit(os.getpid).result(TIMEOUT_S)
    assert second not in (first, os.getpid())


def test_the_viewport_says_which_file_a_dead_helper_took_down(qtbot):
    vm = ViewportViewModel()
    try:
        died: Future = Future()
        died.set_exception(BrokenProcessPool("the helper died"))
        with qtbot.waitSignal(vm.load_failed, timeout=5_000) as failed:
            vm._await_prepared(vm._token, ("/data/huge.glb",), "key", died)  # the task awaiting it
        assert failed.args[0].startswith("huge.glb could not be shown because reading it stopped")
        assert failed.args[0].endswith(".") and "\n" not in failed.args[0]
    finally:
        vm.shutdown()


def test_a_heavy_thumbnail_is_drawn_from_a_lighter_mesh_with_its_colours():
    import numpy as np
    import trimesh

    from app.offload import THUMBNAIL_FACES, _thumbnail_mesh

    sphere = trimesh.creation.icosphere(subdivisions=7)  # 327,680 faces
    sphere.visual.vertex_colors = np.tile([200, 40, 40, 255], (len(sphere.vertices), 1))
    light = _thumbnail_mesh(sphere)
    assert len(light.faces) <= THUMBNAIL_FACES
    assert (np.asarray(light.visual.vertex_colors)[:, :3] == [200, 40, 40]).all()
    sphere.visual.face_colors = np.tile([40, 200, 40, 255], (len(sphere.faces), 1))
    assert _thumbnail_mesh(sphere) is sphere  # colours on faces would not survive clustering


def test_a_heavy_plain_glb_thumbnail_is_clustered_from_the_mapped_file(tmp_path, monkeypatch):
    from PIL import Image

    from app.offload import render_mesh_thumbnail
    from tests.app.viewport.meshes import plain_grid, write_plain_glb

    path = write_plain_glb(tmp_path / "scan.glb", *plain_grid(401))  # 320,000 faces

    def whole_read(*_args, **_kwargs):
        raise AssertionError("the heavy plain GLB was read whole through trimesh")

    monkeypatch.setattr("engine.meshio.scene.read_scene", whole_read)
    out = render_mesh_thumbnail(str(path), str(tmp_path / "thumb.png"))
    with Image.open(out) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    assert pixels.std() > 5, "the thumbnail is blank"
