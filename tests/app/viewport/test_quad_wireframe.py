"""A quad remesh in the studio: its scene data keeps the quads its GLB names, and the
wireframe outlines quads, not the triangles the GLB had to split them into. Runs under
Xvfb (pytest-xvfb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.scene_data import prepare_scene
from app.viewmodels.viewport_viewmodel import DisplayMode, mode_for_feature
from engine.meshio.glb import write_glb
from tests.app.viewport.test_viewport import differing, shot, show
from tests.support.quad_meshes import quad_grid, quad_mesh

pytestmark = pytest.mark.usefixtures("viewport_check_gc")
N = 8  # an 8 × 8 sheet: 64 quads, 144 quad edges; as triangles 128 faces, 208 edges
QUAD_EDGES, TRIANGLE_EDGES = 2 * N * (N + 1), 2 * N * (N + 1) + N * N


def sheet(path: Path, *, tagged: bool = True, offset: float = 0.0) -> Path:
    points, quads = quad_grid(N)
    scene = trimesh.Scene()
    scene.add_geometry(quad_mesh(points, quads, tagged=tagged), node_name="sheet",
                       transform=trimesh.transformations.translation_matrix((offset, 0, 0)))
    return write_glb(scene, path)


def wire_edges(viewport) -> list[int]:
    """Edges of each wireframe the viewport draws (shared edges counted once)."""
    return [actor.mapper.dataset.extract_all_edges().n_lines for actor in viewport._mode_actors
            if actor.prop.style.lower() == "wireframe"]


def test_the_scene_data_keeps_the_quads_the_glb_names(tmp_path):
    scene = prepare_scene(sheet(tmp_path / "quads.glb", offset=2.0))
    (part,) = scene.parts
    points, quads = quad_grid(N)
    assert part.quads is not None and part.quads.shape == (N * N, 4)
    assert len(part.faces) == 2 * N * N  # still drawn as triangles everywhere else
    # corner for corner the sheet's quads, in world space (the node moved it by +2 in x)
    np.testing.assert_allclose(part.vertices[part.quads].mean(axis=1),
                               points[quads].mean(axis=1) + np.array([2.0, 0, 0]), atol=1e-6)


def test_a_plain_triangle_mesh_has_no_quads(tmp_path):
    assert prepare_scene(sheet(tmp_path / "tris.glb", tagged=False)).parts[0].quads is None


def test_retopology_results_open_in_wireframe():
    assert mode_for_feature("mesh_retopology") is DisplayMode.WIREFRAME


def test_wireframe_outlines_quads_without_their_diagonals(qtbot, view, tmp_path):
    view.view_model.set_grid_visible(False)
    view.view_model.set_axes_visible(False)
    view.view_model.set_mode(DisplayMode.WIREFRAME)
    show(qtbot, view, sheet(tmp_path / "tris.glb", tagged=False))
    triangles = shot(view, tmp_path / "tris.png")
    assert wire_edges(view) == [TRIANGLE_EDGES]
    assert "quads" not in view.view_model.overlay_text()
    show(qtbot, view, sheet(tmp_path / "quads.glb"))
    assert wire_edges(view) == [QUAD_EDGES]  # 64 diagonals fewer, the outline the same
    assert "Showing 64 quads as quads" in view.view_model.overlay_text()
    quads = shot(view, tmp_path / "quads.png")
    assert differing(quads, triangles) > 200  # the diagonals' pixels are gone
    # other modes draw the triangles as before: the quads change only the wireframe
    view.view_model.set_mode(DisplayMode.CLAY)
    assert wire_edges(view) == []


def test_the_studio_can_be_opened_in_a_display_mode_and_refuses_an_unknown_one(capsys):
    from app.studio import parse_args

    assert parse_args(["--open", "r.glb", "--mode", "wireframe"]).mode == "wireframe"
    assert parse_args(["--open", "r.glb"]).mode is None
    with pytest.raises(SystemExit):
        parse_args(["--mode", "quads"])
    assert "invalid choice: 'quads'" in capsys.readouterr().err
