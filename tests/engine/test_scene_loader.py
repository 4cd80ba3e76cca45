"""The one scene loader: glTF side files, OBJ/MTL names as Blender finds them, notes."""

from __future__ import annotations

import pytest
import trimesh
from PIL import Image

from engine.errors import InvalidInput
from engine.meshio import reader as meshio
from engine.meshio.scene import read_scene, textured_parts
from engine.meshio.staging import stage_input
from engine.storage.paths import DataDir
from tests.support.model_files import edit_gltf, is_red, separate_image, write_gltf, write_obj


def _base_colour(loaded) -> Image.Image | None:
    (_, mesh), = textured_parts(loaded)
    material = mesh.visual.material
    if isinstance(material, trimesh.visual.material.SimpleMaterial):
        material = material.to_pbr()
    return material.baseColorTexture


def test_a_gltf_with_its_buffer_and_texture_beside_it_reads_with_the_texture(tmp_path):
    path = write_gltf(tmp_path / "asset")
    name = separate_image(path)
    loaded = read_scene(path)
    texture = _base_colour(loaded)
    assert texture is not None and is_red(texture)
    names = {p.name for p in loaded.side_files}
    assert name in names and all(n.endswith(".bin") for n in names - {name})
    assert loaded.notes == ()


@pytest.mark.parametrize("uri, phrase", [
    ("../outside.bin", "outside its own folder"),
    ("sub/../../outside.bin", "outside its own folder"),
    ("/etc/passwd", "not a file beside it"),
    ("file:///etc/passwd", "not a file beside it"),
    ("https://example.com/a.bin", "not a file beside it"),
    ("C:/Users/me/a.bin", "not a file beside it"),
])
def test_a_gltf_buffer_uri_leaving_its_folder_is_refused_with_one_sentence(tmp_path, uri,
                                                                           phrase):
    path = write_gltf(tmp_path / "asset")
    (tmp_path / "outside.bin").write_bytes((tmp_path / "asset" / "gltf_buffer_0.bin")
                                           .read_bytes())
    edit_gltf(path, lambda d: d["buffers"][0].update(uri=uri))
    with pytest.raises(InvalidInput) as refused:
        read_scene(path)
    message = refused.value.message
    assert message.startswith("model.gltf refers to ") and phrase in message
    assert message.count(". ") == 0 and "\n" not in message


def test_a_gltf_image_uri_leaving_its_folder_is_refused(tmp_path):
    path = write_gltf(tmp_path / "asset")
    separate_image(path)
    edit_gltf(path, lambda d: d["images"][0].update(uri="../../secret.png"))
    with pytest.raises(InvalidInput, match="outside its own folder"):
        read_scene(path)


def test_a_gltf_whose_buffer_is_missing_is_refused_naming_the_file(tmp_path):
    path = write_gltf(tmp_path / "asset")
    (tmp_path / "asset" / "gltf_buffer_0.bin").unlink()
    with pytest.raises(InvalidInput, match=r"needs gltf_buffer_0\.bin beside it"):
        meshio.load_mesh(path)


def test_a_gltf_whose_texture_is_missing_reads_with_a_note_naming_it(tmp_path):
    path = write_gltf(tmp_path / "asset")
    name = separate_image(path)
    (tmp_path / "asset" / name).unlink()
    loaded = read_scene(path)
    assert _base_colour(loaded) is None
    assert len(loaded.notes) == 1 and name in loaded.notes[0]


@pytest.mark.parametrize("map_kd, stored", [
    (".\\SpiderTex.jpg", "SpiderTex.jpg"),  # Windows path
    ("Textures\\SPIDERTEX.JPG", "textures/SpiderTex.jpg"),  # backslashes and wrong case
    ("my spider tex.png", "my spider tex.png"),  # spaces
    ("my_spider_tex.png", "my spider tex.png"),  # underscores written for spaces
    ("C:\\Users\\artist\\Desktop\\SpiderTex.jpg", "SpiderTex.jpg"),  # absolute: name only
    ("-s 1 1 1 -bm 0.3 \"SpiderTex.jpg\"", "SpiderTex.jpg"),  # options and quotes
])
def test_an_obj_texture_is_found_the_way_blender_finds_it(tmp_path, map_kd, stored):
    path = write_obj(tmp_path / "obj", map_kd, stored)
    loaded = read_scene(path)
    texture = _base_colour(loaded)
    assert texture is not None and is_red(texture)
    assert loaded.notes == ()


def test_an_obj_texture_outside_its_folder_is_not_read_and_the_note_names_it(tmp_path):
    path = write_obj(tmp_path / "obj", "../SpiderTex.jpg", "../SpiderTex.jpg")
    assert (tmp_path / "SpiderTex.jpg").exists()
    loaded = read_scene(path)
    assert _base_colour(loaded) is None
    assert len(loaded.notes) == 1 and "../SpiderTex.jpg" in loaded.notes[0]


def test_an_obj_whose_uvs_are_all_one_point_reads_as_untextured_with_a_note(tmp_path):
    path = write_obj(tmp_path / "obj", "SpiderTex.jpg", "SpiderTex.jpg", vt="vt 0.5 0.5")
    loaded = read_scene(path)
    (_, mesh), = textured_parts(loaded)
    assert getattr(mesh.visual, "uv", None) is None
    assert any("texture coordinates that are all the same point" in n for n in loaded.notes)


def test_a_texture_larger_than_the_pixel_limit_is_left_out_with_a_note(tmp_path):
    path = write_obj(tmp_path / "obj", "SpiderTex.jpg", "SpiderTex.jpg")
    loaded = read_scene(path, max_pixels=10)
    assert _base_colour(loaded) is None
    assert any("4 × 4 texture" in n for n in loaded.notes)


def test_a_staged_gltf_keeps_its_side_files_and_reads_the_same(tmp_path):
    path = write_gltf(tmp_path / "asset")
    name = separate_image(path)
    data = DataDir(tmp_path / "home")
    staged = stage_input(str(path), data)
    assert staged.faces == 12 and staged.path.suffix == ".gltf"
    assert (staged.path.parent / "gltf_buffer_0.bin").is_file()
    assert (staged.path.parent / name).is_file()
    texture = _base_colour(read_scene(staged.path))
    assert texture is not None and is_red(texture)
    assert stage_input(str(path), data).path == staged.path  # same content: same folder


def test_a_staged_bundle_with_another_texture_gets_its_own_folder(tmp_path):
    path = write_gltf(tmp_path / "asset")
    name = separate_image(path)
    data = DataDir(tmp_path / "home")
    first = stage_input(str(path), data)
    Image.new("RGB", (8, 8), (0, 0, 255)).save(tmp_path / "asset" / name)
    second = stage_input(str(path), data)
    assert second.path.parent != first.path.parent
    texture = _base_colour(read_scene(first.path))
    assert is_red(texture)  # the first stays as it was


def test_a_staged_obj_keeps_its_material_and_windows_named_texture(tmp_path):
    path = write_obj(tmp_path / "obj", ".\\Maps\\SpiderTex.jpg", "maps/spidertex.jpg")
    staged = stage_input(str(path), DataDir(tmp_path / "home"))
    assert (staged.path.parent / "look.mtl").is_file()
    assert (staged.path.parent / "maps" / "spidertex.jpg").is_file()
    texture = _base_colour(read_scene(staged.path))
    assert texture is not None and is_red(texture)


def test_a_gltf_given_as_bytes_cannot_bring_its_buffer_and_says_so(tmp_path):
    path = write_gltf(tmp_path / "asset")
    with pytest.raises(InvalidInput, match="beside it"):
        stage_input(path.read_bytes(), DataDir(tmp_path / "home"))
