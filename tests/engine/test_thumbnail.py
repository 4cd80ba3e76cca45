"""engine.meshio.thumbnail: a numpy software rasterizer, so thumbnails need no GPU, Qt or VTK."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.meshio.thumbnail import render_thumbnail

REPO_ROOT = Path(__file__).resolve().parents[2]


def _render(mesh: trimesh.Trimesh | trimesh.Scene, path: Path, size: int = 256) -> np.ndarray:
    assert render_thumbnail(mesh, path, size=size) == path
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (size, size)
        return np.asarray(img.convert("RGBA")).astype(np.float64)


def _foreground(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., 3] > 127


def _luminance(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722])


def test_sphere_is_a_centred_non_blank_png(tmp_path: Path) -> None:
    rgba = _render(trimesh.creation.icosphere(subdivisions=3), tmp_path / "sphere.png")
    fg = _foreground(rgba)
    # A sphere framed to ~86% of the frame covers about pi/4 * 0.86^2 ~ 58% of it.
    assert 0.35 < fg.mean() < 0.8
    ys, xs = np.nonzero(fg)
    assert abs(xs.mean() - 127.5) < 256 * 0.05 and abs(ys.mean() - 127.5) < 256 * 0.05
    # Framed, not touching the border and not a speck.
    assert 0.75 * 256 < xs.max() - xs.min() + 1 < 256
    assert not fg[0].any() and not fg[-1].any() and not fg[:, 0].any() and not fg[:, -1].any()
    assert (rgba[..., 3][~fg] < 128).all()  # background stays transparent


def test_box_and_sphere_give_different_images(tmp_path: Path) -> None:
    box = _render(trimesh.creation.box(), tmp_path / "box.png")
    sphere = _render(trimesh.creation.icosphere(subdivisions=3), tmp_path / "sphere.png")
    silhouette_diff = (_foreground(box) != _foreground(sphere)).mean()
    assert silhouette_diff > 0.05
    assert np.abs(box - sphere).mean() > 10


def test_shading_varies_across_the_surface(tmp_path: Path) -> None:
    rgba = _render(trimesh.creation.icosphere(subdivisions=3), tmp_path / "sphere.png")
    lum = _luminance(rgba)[_foreground(rgba)]
    assert lum.std() > 12, "a flat silhouette, not a shaded surface"
    assert np.percentile(lum, 95) - np.percentile(lum, 5) > 40
    assert len(np.unique(np.round(lum))) > 40  # smooth gradient, not a few flat bands

    # A box shows three distinctly lit faces.
    box = _render(trimesh.creation.box(), tmp_path / "box.png")
    box_lum = np.round(_luminance(box)[_foreground(box)] / 8)
    values, counts = np.unique(box_lum, return_counts=True)
    assert (counts > 0.05 * counts.sum()).sum() >= 3, dict(zip(values, counts, strict=True))


def test_vertex_colours_are_used(tmp_path: Path) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)
    sphere.visual.vertex_colors = [220, 30, 30, 255]
    rgba = _render(sphere, tmp_path / "red.png")
    rgb = rgba[..., :3][_foreground(rgba)].mean(axis=0)
    assert rgb[0] > 2 * rgb[1] and rgb[0] > 2 * rgb[2]


def test_scene_is_flattened_with_transforms(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), node_name="left")
    right = trimesh.transformations.translation_matrix([3.0, 0.0, 0.0])
    scene.add_geometry(trimesh.creation.box(), node_name="right", transform=right)
    fg = _foreground(_render(scene, tmp_path / "scene.png"))
    # Two boxes side by side: some columns in the middle of the frame are empty.
    columns = fg.any(axis=0)
    first, last = np.flatnonzero(columns)[[0, -1]]
    assert not columns[first:last].all()

    # Framing follows the geometry: a moved mesh renders like the original.
    moved = trimesh.creation.box()
    moved.apply_translation([100.0, -50.0, 7.0])
    a = _render(trimesh.creation.box(), tmp_path / "a.png")
    b = _render(moved, tmp_path / "b.png")
    assert np.abs(a - b).mean() < 1.0


def test_single_face_renders(tmp_path: Path) -> None:
    tri = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    assert _foreground(_render(tri, tmp_path / "one.png", size=64)).mean() > 0.1


@pytest.mark.slow
def test_million_face_mesh_renders_quickly(tmp_path: Path) -> None:
    mesh = trimesh.creation.icosphere(subdivisions=8)  # 1,310,720 faces
    assert len(mesh.faces) > 1_000_000
    start = time.perf_counter()
    rgba = _render(mesh, tmp_path / "big.png")
    elapsed = time.perf_counter() - start
    assert 0.35 < _foreground(rgba).mean() < 0.8
    # ~1.5 s on 2 cores; the bound leaves room for slow CI machines.
    assert elapsed < 15.0, f"1.3M-face thumbnail took {elapsed:.1f}s"


def test_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "thumb.png"
    out.parent.mkdir()
    out.write_bytes(b"stale")
    render_thumbnail(trimesh.creation.box(), out, size=32)
    with Image.open(out) as img:
        assert img.size == (32, 32)
    assert [p.name for p in out.parent.iterdir()] == ["thumb.png"]  # no temp file left


@pytest.mark.parametrize(
    ("mesh", "words"),
    [
        (trimesh.Trimesh(), "no faces"),
        (trimesh.Scene(), "no faces"),
        (trimesh.Scene([trimesh.PointCloud(np.random.default_rng(0).random((10, 3)))]), "no faces"),
        (trimesh.Trimesh(np.ones((3, 3)), [[0, 1, 2]], process=False), "same point"),
        (
            trimesh.Trimesh([[0, 0, 0], [1, np.nan, 0], [0, 1, 0]], [[0, 1, 2]], process=False),
            "NaN",
        ),
        (
            trimesh.Trimesh([[0, 0, 0], [1, np.inf, 0], [0, 1, 0]], [[0, 1, 2]], process=False),
            "NaN",
        ),
        (trimesh.Trimesh([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2]], process=False), "visible"),
    ],
    ids=["empty", "empty-scene", "points-only", "one-point", "nan", "inf", "collinear"],
)
def test_degenerate_input_raises_one_clear_sentence(
    tmp_path: Path, mesh: trimesh.Trimesh | trimesh.Scene, words: str
) -> None:
    out = tmp_path / "thumb.png"
    start = time.perf_counter()
    with pytest.raises(ValueError, match=words) as info:
        render_thumbnail(mesh, out)
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message
    assert not out.exists()


def test_bad_size_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        render_thumbnail(trimesh.creation.box(), tmp_path / "t.png", size=0)


def test_engine_thumbnail_imports_no_gui_or_gl_stack() -> None:
    code = (
        "import sys, engine.meshio.thumbnail\n"
        "banned = {'PySide6', 'PyQt5', 'PyQt6', 'qtpy', 'pyvista', 'pyvistaqt', 'vtk', 'vtkmodules',"
        " 'OpenGL', 'pyglet', 'moderngl'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & banned))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def test_pbr_base_colour_texture_shows_in_the_thumbnail(tmp_path):
    """PBR materials (every textured GLB we write) keep their texture as baseColorTexture."""
    from PIL import Image as PILImage

    mesh = trimesh.creation.box()
    red = PILImage.new("RGB", (8, 8), (220, 20, 20))
    mesh.visual = trimesh.visual.TextureVisuals(
        uv=np.full((len(mesh.vertices), 2), 0.5),
        material=trimesh.visual.material.PBRMaterial(baseColorTexture=red))
    out = render_thumbnail(mesh, tmp_path / "red.png")
    pixels = np.asarray(PILImage.open(out).convert("RGBA")).astype(int)
    fg = pixels[pixels[..., 3] > 0][:, :3]
    assert (fg[:, 0] > fg[:, 1] + 40).mean() > 0.9  # red, not clay grey
