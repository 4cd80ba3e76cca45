"""The validator harness must be able to fail: a clean GLB passes, broken ones report errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import trimesh

from tests.support import gltf_validator
from tests.support.gltf_validator import (
    GltfValidatorUnavailable,
    assert_valid_glb,
    validate_glb,
)

_GLB_MAGIC = 0x46546C67  # "glTF"
_CHUNK_JSON = 0x4E4F534A  # "JSON"


def _write_box(path: Path) -> Path:
    path.write_bytes(trimesh.creation.box().export(file_type="glb"))
    return path


def _split_glb(data: bytes) -> tuple[dict, bytes]:
    """Return (gltf json, raw BIN chunk including its header) of a single-buffer GLB."""
    magic, _version, _length = struct.unpack_from("<III", data, 0)
    assert magic == _GLB_MAGIC
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == _CHUNK_JSON
    gltf = json.loads(data[20 : 20 + json_len])
    return gltf, data[20 + json_len :]


def _join_glb(gltf: dict, bin_chunk: bytes) -> bytes:
    # Keep the container itself well-formed so only the edited content is wrong.
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), _CHUNK_JSON) + text + bin_chunk
    return struct.pack("<III", _GLB_MAGIC, 2, 12 + len(body)) + body


def test_trimesh_box_has_zero_errors(tmp_path: Path) -> None:
    report = assert_valid_glb(_write_box(tmp_path / "box.glb"))
    assert report["numErrors"] == 0
    assert report["errors"] == []
    assert report["info"]["totalVertexCount"] == 8
    assert report["info"]["totalTriangleCount"] == 12


def test_accessor_count_past_buffer_end_is_an_error(tmp_path: Path) -> None:
    gltf, bin_chunk = _split_glb(_write_box(tmp_path / "box.glb").read_bytes())
    position = gltf["meshes"][0]["primitives"][0]["attributes"]["POSITION"]
    gltf["accessors"][position]["count"] *= 1000  # far more vertices than the bufferView holds
    broken = tmp_path / "broken_accessor.glb"
    broken.write_bytes(_join_glb(gltf, bin_chunk))

    report = validate_glb(broken)
    assert report["numErrors"] > 0
    codes = {e["code"] for e in report["errors"]}
    assert "ACCESSOR_TOO_LONG" in codes, codes
    with pytest.raises(AssertionError, match="ACCESSOR_TOO_LONG"):
        assert_valid_glb(broken)


def test_corrupted_json_chunk_is_an_error(tmp_path: Path) -> None:
    data = bytearray(_write_box(tmp_path / "box.glb").read_bytes())
    data[20:28] = b"#garbage"  # clobber the start of the JSON chunk, keep all lengths intact
    broken = tmp_path / "broken_json.glb"
    broken.write_bytes(bytes(data))

    report = validate_glb(broken)
    assert report["numErrors"] > 0
    with pytest.raises(AssertionError, match="error"):
        assert_valid_glb(broken)


def test_not_a_gltf_at_all_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.glb"
    junk.write_bytes(b"PK\x03\x04 this is a zip, not a GLB")
    assert validate_glb(junk)["numErrors"] > 0


def test_missing_package_raises_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gltf_validator, "PACKAGE_DIR", tmp_path / "no_such_package")
    with pytest.raises(GltfValidatorUnavailable, match="npm ci"):
        validate_glb(_write_box(tmp_path / "box.glb"))


def test_missing_node_raises_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHSMITH_NODE", raising=False)
    monkeypatch.setattr(gltf_validator.shutil, "which", lambda _name: None)
    with pytest.raises(GltfValidatorUnavailable, match=r"Node\.js was not found"):
        validate_glb(_write_box(tmp_path / "box.glb"))
