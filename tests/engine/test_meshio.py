"""engine.meshio.reader: type by content, faithful geometry, and one sentence for every broken file."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from engine.errors import ErrorCode, InvalidInput
from engine.meshio import reader as meshio

# ----------------------------------------------------------------------------- fixtures


def make_glb(doc: dict, binary: bytes = b"") -> bytes:
    """A GLB container around ``doc`` and ``binary``, padded as the spec asks."""
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    chunks = struct.pack("<I4s", len(raw), b"JSON") + raw
    if binary:
        chunks += struct.pack("<I4s", len(binary), b"BIN\x00") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def split_glb(data: bytes) -> tuple[dict, bytes]:
    """The JSON and BIN chunks of a GLB trimesh wrote."""
    json_len = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + json_len])
    return doc, data[20 + json_len + 8 :]


def box_glb() -> bytes:
    return trimesh.creation.box().export(file_type="glb")


def png_bytes(size: tuple[int, int] = (16, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


def write_samples(folder: Path) -> dict[str, Path]:
    """One file per format, each under a misleading extension: content must decide."""
    box = trimesh.creation.box()
    gltf = trimesh.exchange.gltf.export_gltf(trimesh.Scene(box), embed_buffers=True)
    blobs = {
        "glb": box.export(file_type="glb"),
        "gltf": gltf["model.gltf"],
        "ply": box.export(file_type="ply"),
        "ply_ascii": box.export(file_type="ply", encoding="ascii"),
        "stl": box.export(file_type="stl"),
        "stl_ascii": box.export(file_type="stl_ascii").encode(),
        "obj": box.export(file_type="obj").encode(),
        "off": box.export(file_type="off").encode(),
        "png": png_bytes(),
    }
    for name, fmt in (("jpeg", "JPEG"), ("webp", "WEBP")):
        buf = io.BytesIO()
        Image.new("RGB", (16, 8), (10, 200, 10)).save(buf, format=fmt)
        blobs[name] = buf.getvalue()
    paths = {}
    for name, blob in blobs.items():
        paths[name] = folder / f"{name}_sample.txt"  # the extension lies on purpose
        paths[name].write_bytes(blob)
    return paths


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    return write_samples(tmp_path)


def refused(path: Path, **kwargs: int) -> str:
    """The sentence load_mesh refuses ``path`` with."""
    with pytest.raises(InvalidInput) as info:
        meshio.load_mesh(path, **kwargs)
    assert info.value.code is ErrorCode.INVALID_INPUT
    message = info.value.message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    return message


# ----------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    "sample, expected",
    [
        ("glb", "glb"),
        ("gltf", "gltf"),
        ("ply", "ply"),
        ("ply_ascii", "ply"),
        ("stl", "stl"),
        ("stl_ascii", "stl"),
        ("obj", "obj"),
        ("off", "off"),
        ("png", "png"),
        ("jpeg", "jpeg"),
        ("webp", "webp"),
    ],
)
def test_sniff_decides_by_content(samples: dict[str, Path], sample: str, expected: str) -> None:
    fmt = meshio.sniff(samples[sample])
    assert fmt is not None and fmt.name == expected
    assert fmt.extension.startswith(".") and "/" in fmt.media_type


@pytest.mark.parametrize(
    "sample", ["glb", "gltf", "ply", "ply_ascii", "stl", "stl_ascii", "obj", "off"]
)
def test_every_mesh_format_loads_the_box(samples: dict[str, Path], sample: str) -> None:
    mesh = meshio.load_mesh(samples[sample])
    assert len(mesh.faces) == 12 and len(mesh.vertices) == 8  # STL corners are merged
    assert np.allclose(mesh.bounds, [[-0.5] * 3, [0.5] * 3])


@pytest.mark.parametrize("sample", ["png", "jpeg", "webp"])
def test_images_load(samples: dict[str, Path], sample: str) -> None:
    assert meshio.load_image(samples[sample]).size == (16, 8)


def test_binary_stl_whose_header_says_solid_is_still_binary(tmp_path: Path) -> None:
    data = bytearray(trimesh.creation.box().export(file_type="stl"))
    data[:11] = b"solid facet"
    (tmp_path / "x.stl").write_bytes(bytes(data))
    assert meshio.sniff(tmp_path / "x.stl") is meshio.STL
    assert len(meshio.load_mesh(tmp_path / "x.stl").faces) == 12


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"shopping list\nmilk\neggs\n", "plain text"),
        (b'{"hello": 1}', "JSON"),
        (b"GIF89a" + b"\x00" * 40, "GIF"),
        (b"PK\x03\x04" + b"\x00" * 40, "ZIP"),
        (bytes(range(256)) * 4, "binary"),
    ],
)
def test_unknown_content_is_named(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "notes.obj"
    path.write_bytes(content)
    assert meshio.sniff(path) is None
    message = refused(path)
    assert message.startswith("notes.obj is not a mesh or image Meshsmith can read (")
    assert reason in message


def test_plain_text_sentence(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("remember to export as GLB\n")
    assert refused(tmp_path / "notes.txt") == (
        "notes.txt is not a mesh or image Meshsmith can read (it looks like plain text)."
    )


# ----------------------------------------------------------------------------- geometry


def test_scene_node_transforms_are_baked_exactly(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    scene = trimesh.Scene()
    parent = trimesh.transformations.translation_matrix((10.0, 0.0, 0.0))
    parent[:3, :3] *= 2.0  # scale x2 on the parent
    rotate = trimesh.transformations.rotation_matrix(np.pi / 2, (0, 0, 1))
    scene.add_geometry(box, node_name="a", geom_name="box", transform=parent)
    scene.add_geometry(box, node_name="b", geom_name="box", transform=rotate, parent_node_name="a")
    (tmp_path / "scene.glb").write_bytes(scene.export(file_type="glb"))

    mesh = meshio.load_mesh(tmp_path / "scene.glb")
    expected = np.vstack(
        [
            trimesh.transform_points(box.vertices, parent),
            trimesh.transform_points(box.vertices, parent @ rotate),
        ]
    )
    assert len(mesh.faces) == 24
    assert np.allclose(
        np.unique(mesh.vertices.round(6), axis=0), np.unique(expected.round(6), axis=0)
    )
    assert mesh.is_winding_consistent and mesh.volume > 0  # orientation kept, not flipped


def test_obj_quads_become_two_triangles_each(tmp_path: Path) -> None:
    obj = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nf 1 2 3 4\nf 1 2 5\nf 2 3 5 1\n"
    (tmp_path / "quads.obj").write_text(obj)
    assert len(meshio.load_mesh(tmp_path / "quads.obj").faces) == 5


def test_duplicate_faces_are_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "dup.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 3\n")
    assert len(meshio.load_mesh(tmp_path / "dup.obj").faces) == 2


def test_face_limit_is_a_sentence_with_the_limit(tmp_path: Path) -> None:
    trimesh.creation.icosphere(subdivisions=2).export(tmp_path / "ball.glb")
    message = refused(tmp_path / "ball.glb", max_faces=100)
    assert "320" in message and "100" in message


def test_obj_face_limit(tmp_path: Path) -> None:
    trimesh.creation.icosphere(subdivisions=2).export(tmp_path / "ball.obj")
    assert "100" in refused(tmp_path / "ball.obj", max_faces=100)


# ----------------------------------------------------------------------------- broken meshes


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "model.glb").write_bytes(b"")
    assert refused(tmp_path / "model.glb") == "model.glb is empty."


def test_missing_and_directory(tmp_path: Path) -> None:
    assert "does not exist" in refused(tmp_path / "nope.glb")
    assert "folder" in refused(tmp_path)


@pytest.mark.parametrize("cut", [4, 13, 19, 20, 40, 200, -300, -60, -1])
def test_truncated_glb(tmp_path: Path, cut: int) -> None:
    (tmp_path / "model.glb").write_bytes(box_glb()[:cut])
    message = refused(tmp_path / "model.glb")
    assert message.startswith("model.glb is ") and (
        "truncated" in message or "not a mesh" in message
    )


def test_truncated_glb_sentence(tmp_path: Path) -> None:
    (tmp_path / "model.glb").write_bytes(box_glb()[:-8])
    assert refused(tmp_path / "model.glb") == (
        "model.glb is truncated: it ends before its binary data does."
    )


def test_glb_with_extra_bytes(tmp_path: Path) -> None:
    (tmp_path / "model.glb").write_bytes(box_glb() + b"\x00" * 8)
    assert "extra bytes" in refused(tmp_path / "model.glb")


def _edited_box(edit: object) -> bytes:
    doc, binary = split_glb(box_glb())
    edit(doc)  # type: ignore[operator]
    return make_glb(doc, binary)


@pytest.mark.parametrize("bufferless", [False, True])
def test_glb_claiming_2_31_vertices_is_refused_fast(tmp_path: Path, bufferless: bool) -> None:
    def edit(doc: dict) -> None:
        doc["accessors"][1]["count"] = 2**31
        if bufferless:
            del doc["accessors"][1]["bufferView"]

    (tmp_path / "huge.glb").write_bytes(_edited_box(edit))
    started = time.perf_counter()
    message = refused(tmp_path / "huge.glb")
    assert time.perf_counter() - started < 1.0
    assert "huge.glb is damaged" in message


@pytest.mark.parametrize(
    "edit, phrase",
    [
        (lambda d: d["bufferViews"][0].update(byteLength=10**12), "truncated"),
        (lambda d: d["accessors"][0].update(bufferView=99), "malformed"),
        (lambda d: d["accessors"][0].update(bufferView=-1), "malformed"),
        (lambda d: d["accessors"][0].update(count="36"), "malformed"),
        (lambda d: d["buffers"][0].update(uri="../../secret.bin"), "outside its own folder"),
        (lambda d: d.update(extensionsRequired=["KHR_draco_mesh_compression"]), "Draco"),
        (lambda d: d["nodes"][0].update(children=[0]), "malformed"),
        (lambda d: d.update(scene=5), "malformed"),
        (lambda d: d["meshes"][0]["primitives"][0].update(indices=1), "malformed"),
        (lambda d: d["meshes"][0]["primitives"][0].update(mode=6), "triangle fans"),
        (lambda d: d["accessors"][1].update(sparse={"count": 1}), "compressed"),
        (lambda d: d.update(extensionsRequired=5), "malformed"),
        (lambda d: d["nodes"][0].update(matrix=[1, 2, 3]), "could not be read as GLB"),
    ],
)
def test_glb_layout_errors(tmp_path: Path, edit: object, phrase: str | None) -> None:
    (tmp_path / "bad.glb").write_bytes(_edited_box(edit))
    message = refused(tmp_path / "bad.glb")
    assert message.startswith("bad.glb ")
    if phrase:
        assert phrase in message


def test_gltf_with_its_buffer_beside_it_is_read(tmp_path: Path) -> None:
    box = trimesh.creation.box()
    files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(box))  # buffers as side files
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    assert meshio.sniff(tmp_path / "model.gltf") is meshio.GLTF
    assert len(meshio.load_mesh(tmp_path / "model.gltf").faces) == 12


def test_glb_node_cycle_is_refused(tmp_path: Path) -> None:
    def edit(doc: dict) -> None:
        doc["nodes"] = [{"mesh": 0}, {"children": [2]}, {"children": [1]}]

    assert "malformed" in refused_bytes(tmp_path, _edited_box(edit))


def test_glb_instancing_counts_toward_the_face_limit(tmp_path: Path) -> None:
    def edit(doc: dict) -> None:
        doc["nodes"] = [{"children": list(range(1, 11))}] + [{"mesh": 0}] * 10

    data = _edited_box(edit)
    assert "120" in refused_bytes(tmp_path, data, max_faces=100)
    (tmp_path / "ok.glb").write_bytes(data)
    assert len(meshio.load_mesh(tmp_path / "ok.glb").faces) == 120


def refused_bytes(tmp_path: Path, data: bytes, **kwargs: int) -> str:
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    return refused(path, **kwargs)


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "NaN"),
        ("v 0 0 0\nv inf 0 0\nv 0 1 0\nf 1 2 3\n", "NaN"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", ""),
        ("v 0 0 0\nv 1 0 0\nl 1 2\nf 1 2\n", "no triangles"),
    ],
)
def test_broken_obj(tmp_path: Path, text: str, phrase: str) -> None:
    (tmp_path / "bad.obj").write_text(text)
    assert phrase in refused(tmp_path / "bad.obj")


def test_ply_index_out_of_range(tmp_path: Path) -> None:
    ply = (
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n"
    )
    (tmp_path / "bad.ply").write_text(ply)
    assert "vertices it does not contain" in refused(tmp_path / "bad.ply")


def test_ply_point_cloud_has_no_triangles(tmp_path: Path) -> None:
    cloud = trimesh.PointCloud(np.random.default_rng(0).random((10, 3)))
    (tmp_path / "cloud.ply").write_bytes(cloud.export(file_type="ply"))
    assert "no triangles" in refused(tmp_path / "cloud.ply")


@pytest.mark.parametrize("sample", ["ply", "ply_ascii", "stl_ascii", "off", "stl"])
def test_truncated_text_and_counted_formats(samples: dict[str, Path], sample: str) -> None:
    data = samples[sample].read_bytes()
    samples[sample].write_bytes(data[: len(data) - 30])
    message = refused(samples[sample])
    assert "truncated" in message or "not a mesh" in message or "damaged" in message


def test_ply_declaring_two_billion_vertices(tmp_path: Path) -> None:
    data = trimesh.creation.box().export(file_type="ply")
    (tmp_path / "big.ply").write_bytes(
        data.replace(b"element vertex 8", b"element vertex 2000000000")
    )
    started = time.perf_counter()
    assert "truncated" in refused(tmp_path / "big.ply")
    assert time.perf_counter() - started < 1.0


def test_image_is_not_a_mesh_and_mesh_is_not_an_image(samples: dict[str, Path]) -> None:
    assert "is an image" in refused(samples["png"])
    with pytest.raises(InvalidInput, match="is a 3D model"):
        meshio.load_image(samples["glb"])


# ----------------------------------------------------------------------------- images


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` × ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_declaring(5000, 5000))
    with pytest.raises(InvalidInput) as info:
        meshio.load_image(tmp_path / "bomb.png", max_pixels=1_000_000)
    assert "5,000 × 5,000" in info.value.message and "1,000,000" in info.value.message


def test_pillow_bomb_guard_is_caught(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(png_declaring(60000, 60000))
    with pytest.raises(InvalidInput, match="pixels"):
        meshio.load_image(tmp_path / "bomb.png", max_pixels=10**10)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(tmp_path: Path, fmt: str) -> None:
    buf = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, format=fmt)
    (tmp_path / "cut.img").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InvalidInput, match=r"^cut\.img is (truncated|damaged)"):
        meshio.load_image(tmp_path / "cut.img")


def test_a_single_moved_node_is_moved_and_a_single_plain_mesh_is_returned_as_read(
    tmp_path: Path,
) -> None:
    box = trimesh.creation.box()
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="only", transform=trimesh.transformations.translation_matrix(
        (0.0, 7.0, 0.0)))
    (tmp_path / "moved.glb").write_bytes(scene.export(file_type="glb"))
    moved = meshio.load_mesh(tmp_path / "moved.glb")
    np.testing.assert_allclose(moved.bounds, [[-0.5, 6.5, -0.5], [0.5, 7.5, 0.5]])
    box.export(tmp_path / "plain.ply")
    plain = meshio.load_mesh(tmp_path / "plain.ply")
    np.testing.assert_array_equal(plain.faces, box.faces)
    np.testing.assert_allclose(plain.vertices, box.vertices)


# ----------------------------------------------------------------------------- parts


def test_load_parts_keeps_node_names_and_bakes_each_world_transform(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    box = trimesh.creation.box()
    scene.add_geometry(box, node_name="part_01", geom_name="shared",
                       transform=trimesh.transformations.translation_matrix((5, 0, 0)))
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0]) @ trimesh.transformations.translation_matrix((3, 0, 0))
    scene.add_geometry(box, node_name="part_00", geom_name="shared", transform=mirror)
    scene.add_geometry(trimesh.creation.icosphere(1), node_name="part_02")
    (tmp_path / "parts.glb").write_bytes(scene.export(file_type="glb"))
    parts = dict(meshio.load_parts(tmp_path / "parts.glb"))
    assert list(parts) == ["part_00", "part_01", "part_02"]  # one per node, even when instanced
    np.testing.assert_allclose(parts["part_01"].bounds, [[4.5, -0.5, -0.5], [5.5, 0.5, 0.5]])
    np.testing.assert_allclose(parts["part_00"].bounds, [[-3.5, -0.5, -0.5], [-2.5, 0.5, 0.5]])
    assert parts["part_00"].volume > 0  # the mirror turned the winding back outward
    assert len(parts["part_02"].faces) == 80


def test_load_parts_of_a_plain_mesh_is_one_part(samples: dict[str, Path]) -> None:
    parts = meshio.load_parts(samples["ply"])
    assert len(parts) == 1 and len(parts[0][1].faces) == 12


def test_load_parts_refuses_like_load_mesh(samples: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "empty.glb").write_bytes(b"")
    (tmp_path / "cut.glb").write_bytes(box_glb()[:-40])
    for path, sentence in [(tmp_path / "empty.glb", "empty.glb is empty."),
                           (samples["png"], "png_sample.txt is an image, not a 3D model.")]:
        with pytest.raises(InvalidInput) as info:
            meshio.load_parts(path)
        assert info.value.message == sentence
    with pytest.raises(InvalidInput, match=r"^cut\.glb is truncated"):
        meshio.load_parts(tmp_path / "cut.glb")
    with pytest.raises(InvalidInput, match="more than the 5"):
        meshio.load_parts(samples["glb"], max_faces=5)
