"""The viewport's data and the staged thumbnail read files through the engine's loader."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.offload import render_mesh_thumbnail
from app.scene_data import prepare_scene
from engine.meshio.staging import stage_input
from engine.storage.paths import DataDir
from tests.support.model_files import RED, separate_image, write_gltf, write_obj


def test_the_viewport_gets_a_missing_texture_named_in_its_notes(tmp_path):
    path = write_obj(tmp_path / "obj", ".\\SpiderTex.jpg", None)
    scene = prepare_scene(path)
    assert len(scene.notes) == 1 and "SpiderTex.jpg" in scene.notes[0]


def test_the_viewport_shows_a_gltf_texture_kept_in_a_file_beside_it(tmp_path):
    path = write_gltf(tmp_path / "asset")
    separate_image(path)
    scene = prepare_scene(path)
    (part,) = scene.parts
    assert part.texture is not None and tuple(part.texture[2, 2, :3]) == RED
    assert scene.notes == ()


def test_a_staged_textured_model_gets_a_coloured_thumbnail(tmp_path):
    path = write_gltf(tmp_path / "asset")
    separate_image(path)
    staged = stage_input(str(path), DataDir(tmp_path / "home"))
    out = render_mesh_thumbnail(str(staged.path), str(tmp_path / "thumb.png"))
    rgba = np.asarray(Image.open(out).convert("RGBA"), dtype=np.float64)
    drawn = rgba[rgba[..., 3] > 250][:, :3]
    red, green, blue = drawn.mean(axis=0)
    assert len(drawn) > 100 and red > 2 * green and red > 2 * blue  # not clay grey


def test_a_mesh_without_a_material_is_said_to_be_shown_in_clay(box_obj):
    scene = prepare_scene(box_obj)
    assert scene.notes == ("box.obj has no material, so it is shown in clay.",)
    (part,) = scene.parts
    assert part.base_color[:3] == (0.8, 0.8, 0.8)  # light clay, never black


def test_uvs_all_at_one_point_are_named_in_the_notes(tmp_path):
    path = tmp_path / "flat_uv.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0.5 0.5\nvt 0.5 0.5\nvt 0.5 0.5\n"
                    "f 1/1 2/2 3/3\n")
    scene = prepare_scene(path)
    assert any("texture coordinates that are all the same point" in n for n in scene.notes)
