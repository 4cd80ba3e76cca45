"""Heavy meshes in the viewport: the preview, its honest overlay, full detail on request or
when the renderer is fast enough, and frames the GUI thread is spared."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from app.scene_data import PartData, prepare_scene
from app.scene_preview import PREVIEW_FACES, cluster, needs_preview
from app.viewmodels.viewport_viewmodel import DisplayMode
from app.views.viewport import ViewportView
from app.views.viewport_canvas import is_software_renderer
from tests.app.viewport.meshes import LOAD_TIMEOUT_MS, write_showcase_glb


def _part(mesh: trimesh.Trimesh, uv: np.ndarray | None = None) -> PartData:
    return PartData("part", mesh.vertices.astype(np.float32), mesh.faces.astype(np.int64),
                    mesh.vertex_normals.astype(np.float32),
                    None if uv is None else uv.astype(np.float32))


# ----------------------------------------------------------------------------- the preview


def test_clustering_meets_its_budget_and_keeps_the_surface_closed_and_facing_out():
    sphere = trimesh.creation.icosphere(subdivisions=6)  # 81,920 faces
    preview = cluster(_part(sphere), None, 8_000)
    faces = preview.faces
    assert 8_000 / 1.5 <= len(faces) <= 8_000 * 1.5
    assert faces.min() >= 0 and faces.max() < len(preview.vertices)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    assert (uses % 2 == 0).all(), "the preview of a closed sphere has a hole"
    a, b, c = (preview.vertices[faces[:, i]] for i in range(3))
    outward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c)
    assert (outward > 0).mean() > 0.999, "preview triangles face inwards (dark specks)"
    assert np.allclose(np.linalg.norm(preview.normals, axis=1), 1.0, atol=1e-4)


def test_clustering_never_averages_uvs_across_a_seam():
    # a cylinder's side unrolled: u runs 0..1 round it, so the seam has u=0 and u=1 at the
    # same positions; a cluster straddling it would smear the whole texture over a sliver
    sections, rows = 360, 120
    theta, ys = np.linspace(0, 2 * np.pi, sections + 1), np.linspace(0, 1, rows + 1)
    t, y = np.meshgrid(theta, ys)
    vertices = np.column_stack([np.cos(t).ravel(), y.ravel(), -np.sin(t).ravel()])
    uv = np.column_stack([(t / (2 * np.pi)).ravel(), y.ravel()])
    i, j = np.meshgrid(np.arange(rows), np.arange(sections), indexing="ij")
    a = (i * (sections + 1) + j).ravel()
    faces = np.concatenate([np.column_stack([a, a + 1, a + sections + 2]),
                            np.column_stack([a, a + sections + 2, a + sections + 1])])
    one_chart = np.zeros(len(vertices), dtype=np.int64)  # the seam runs inside the one chart
    part = _part(trimesh.Trimesh(vertices, faces, process=False), uv)
    preview = cluster(part, one_chart, 4_000)
    spans = np.ptp(preview.uv[preview.faces][..., 0], axis=1)
    assert len(preview.faces) < len(faces) / 5 and spans.max() < 0.25


def test_normals_come_from_the_file_or_from_the_faces(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=3)
    odd = sphere.vertex_normals * [-1.0, 1.0, 1.0]  # not what the faces say: the file wins
    trimesh.Trimesh(sphere.vertices, sphere.faces, vertex_normals=odd, process=False).export(
        tmp_path / "normals.glb", include_normals=True)
    assert np.allclose(prepare_scene(tmp_path / "normals.glb").parts[0].normals, odd, atol=1e-5)
    sphere.export(tmp_path / "plain.glb")
    normals = prepare_scene(tmp_path / "plain.glb").parts[0].normals
    assert np.degrees(np.arccos(np.clip((normals * sphere.vertex_normals).sum(axis=1), -1, 1))
                      ).max() < 2.0  # area- rather than angle-weighted: nearly the same


def test_only_heavy_meshes_get_a_preview(tmp_path):
    assert not needs_preview(2 * PREVIEW_FACES) and needs_preview(2 * PREVIEW_FACES + 1)
    assert prepare_scene(write_showcase_glb(tmp_path / "showcase.glb")).preview is None


def test_a_heavy_mesh_shows_its_preview_and_says_so(qtbot, view_model, million_face_glb):
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(million_face_glb))
    scene = view_model.scene
    assert scene.faces == 999_698 and scene.preview is not None
    assert scene.preview_faces <= 1.5 * PREVIEW_FACES
    assert view_model.shows_preview and view_model.parts_to_draw(scene) is scene.preview
    text = view_model.overlay_text()
    assert "999,698 faces" in text.splitlines()[1]  # the counts are the real mesh's
    assert f"Preview: {scene.preview_faces:,} of 999,698 faces drawn, [D] full detail" in text


def test_full_detail_on_request_in_wireframe_and_when_the_renderer_is_fast(
        qtbot, view_model, million_face_glb):
    with qtbot.waitSignal(view_model.scene_loaded, timeout=LOAD_TIMEOUT_MS):
        view_model.open_file(str(million_face_glb))
    scene = view_model.scene
    view_model.set_mode(DisplayMode.WIREFRAME)  # the point of wireframe is the real topology
    assert view_model.parts_to_draw(scene) is scene.parts and "Preview" not in (
        view_model.overlay_text())
    view_model.set_mode(DisplayMode.CLAY)
    with qtbot.waitSignal(view_model.detail_changed):
        view_model.toggle_full_detail()
    assert view_model.parts_to_draw(scene) is scene.parts
    assert "Full detail, [D] lighter preview" in view_model.overlay_text()
    view_model.set_full_detail(False)
    view_model.set_face_budget(500_000)  # a renderer too slow for a million faces
    assert view_model.shows_preview
    with qtbot.waitSignal(view_model.detail_changed):
        view_model.set_face_budget(5_000_000)  # one fast enough
    assert not view_model.shows_preview and "Preview" not in view_model.overlay_text()
    view_model.set_face_budget(1_000)  # a slow frame later does not bounce it back
    assert not view_model.shows_preview


# ----------------------------------------------------------------------------- the view


@pytest.mark.usefixtures("viewport_check_gc")
def test_the_view_draws_what_the_view_model_picks_and_spares_text_a_frame(
        qtbot, million_face_glb):
    view = ViewportView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    # the first frame, then the full level (the helper answers twice: app/scene_stages.py)
    with qtbot.waitSignals([view.scene_shown, view.view_model.scene_loaded],
                           timeout=LOAD_TIMEOUT_MS):
        view.open_file(million_face_glb)
    vm, scene = view.view_model, view.view_model.scene
    assert not scene.full_pending and view.detail_action.isEnabled()
    drawn = sum(mesh.n_cells for mesh in view._meshes)
    assert drawn == (scene.preview_faces if vm.shows_preview else scene.faces)
    with qtbot.waitSignal(view.plotter.painted, timeout=LOAD_TIMEOUT_MS):
        vm.set_full_detail(True)
    assert sum(mesh.n_cells for mesh in view._meshes) == scene.faces
    assert view.detail_action.isChecked()
    frames: list[float] = []
    view.plotter.painted.connect(frames.append)
    # text alone ("Loading…", then why it failed) must not redraw a million faces
    with qtbot.waitSignal(vm.load_failed, timeout=LOAD_TIMEOUT_MS):
        vm.open_file(str(million_face_glb.with_name("missing.glb")))
    qtbot.wait(200)
    assert frames == [] and view.overlay.text().startswith("million.glb")


def test_software_renderers_are_recognised():
    assert is_software_renderer("OpenGL vendor string: Mesa\n"
                                "OpenGL renderer string: llvmpipe (LLVM 15.0.7, 256 bits)\n")
    assert not is_software_renderer("OpenGL renderer string: NVIDIA GeForce RTX 4090/PCIe/SSE2")
    assert not is_software_renderer("")
