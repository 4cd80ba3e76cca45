"""A .gltf's base64 data: URIs are decoded aside in chunks (engine.meshio.embedded) and read
exactly as the same model with its buffer and texture in files beside it. Its memory ceiling
is in test_hostile_corpus."""

from __future__ import annotations

import base64
import json
import mmap
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InvalidInput
from engine.meshio import embedded
from engine.meshio import reader as meshio
from engine.meshio.scene import read_scene, textured_parts
from tests.support.model_files import is_red, separate_image, write_gltf

DAMAGED = "model.gltf is damaged: its embedded data is not valid base64."


def embed(path: Path) -> dict:
    """Every file the .gltf names, moved into it as a base64 data: URI."""
    doc = json.loads(path.read_text())
    for item in [*doc.get("buffers", []), *doc.get("images", [])]:
        if "uri" in item:
            name = item["uri"].replace("%20", " ")
            kind = "image/png" if name.endswith(".png") else "application/octet-stream"
            blob = (path.parent / name).read_bytes()
            (path.parent / name).unlink()
            item["uri"] = f"data:{kind};base64,{base64.b64encode(blob).decode()}"
    path.write_text(json.dumps(doc))
    return doc


def _payload(path: Path, text: str) -> None:
    doc = json.loads(path.read_text())
    doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + text
    path.write_text(json.dumps(doc))


def _shape_and_texture(path: Path):
    loaded = read_scene(path)
    (_, mesh), = textured_parts(loaded)
    return loaded, mesh.vertices.copy(), mesh.faces.copy(), mesh.visual.material.baseColorTexture


def test_a_gltf_with_its_buffer_in_a_data_uri_reads_as_with_the_buffer_beside_it(tmp_path):
    path = write_gltf(tmp_path / "asset")  # trimesh keeps the texture in a buffer view
    _, vertices, faces, _ = _shape_and_texture(path)
    embed(path)
    loaded, got_vertices, got_faces, texture = _shape_and_texture(path)
    assert np.array_equal(got_vertices, vertices) and np.array_equal(got_faces, faces)
    assert texture is not None and is_red(texture)
    assert loaded.side_files == () and loaded.notes == ()


def test_a_gltf_with_its_texture_in_a_data_uri_reads_with_the_texture(tmp_path):
    path = write_gltf(tmp_path / "asset")
    separate_image(path)
    doc = embed(path)
    assert doc["images"][0]["uri"].startswith("data:image/png;base64,")
    loaded, _, _, texture = _shape_and_texture(path)
    assert texture is not None and is_red(texture)
    assert loaded.side_files == ()


def test_a_data_uri_with_escaped_slashes_is_still_read(tmp_path):
    path = write_gltf(tmp_path / "asset")
    _, vertices, _, _ = _shape_and_texture(path)
    embed(path)
    path.write_text(path.read_text().replace("/", "\\/"))  # as PHP's json_encode writes
    assert embedded.payloads(path.read_bytes()) == []  # left inline, read the old way
    _, got_vertices, _, texture = _shape_and_texture(path)
    assert np.array_equal(got_vertices, vertices) and is_red(texture)


@pytest.mark.parametrize("text", ["@@@@", "AAAA==AA", "A", "AA=A"],
                         ids=["not base64", "padding inside", "length", "padding misplaced"])
def test_a_data_uri_that_is_not_base64_is_refused_with_one_sentence(tmp_path, text):
    path = write_gltf(tmp_path / "asset")
    embed(path)
    _payload(path, text + "A" * 8000)  # long enough for the buffer it claims to be
    with pytest.raises(InvalidInput) as refused:
        read_scene(path)
    assert refused.value.message == DAMAGED


def test_padding_inside_a_long_payload_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "_CHUNK", 8)  # the "==" ends a chunk that is not the last
    path = write_gltf(tmp_path / "asset")
    embed(path)
    _payload(path, "AAAAAA==" + "A" * 4000)
    with pytest.raises(InvalidInput) as refused:
        read_scene(path)
    assert refused.value.message == DAMAGED


@pytest.mark.parametrize("chunk", [4, 8, 4096])
def test_payloads_decode_in_chunks_to_the_same_bytes(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(embedded, "_CHUNK", chunk)
    blobs = [np.random.default_rng(n).bytes(n) for n in (1, 2, 3, 1000, 5003)]
    doc = {"asset": {"version": "2.0"}, "buffers": [
        {"byteLength": len(b), "uri": "data:application/gltf-buffer;base64,"
         + base64.b64encode(b).decode()} for b in blobs]}
    path = tmp_path / "model.gltf"
    path.write_text(json.dumps(doc, indent=1))
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        split = embedded.split_embedded(data, "model.gltf")
        split.decode(data, "model.gltf")
    rest = json.loads(split.json)
    assert [split.sizes[b["uri"]] for b in rest["buffers"]] == [len(b) for b in blobs]
    assert [bytes(split.buffers[b["uri"]]) for b in rest["buffers"]] == blobs
    assert meshio.sniff(path) is meshio.GLTF
