"""engine.meshio.staging: every kind of input becomes one validated file under inputs/, or one sentence."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.meshio.staging import StagedInput, StagingLimits, sanitize_stem, stage_input
from engine.storage.paths import DataDir
from tests.engine.test_meshio import box_glb, png_bytes, png_declaring, write_samples


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "home").ensure()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "desktop"
    folder.mkdir()
    return folder


def refusal(source: object, data_dir: DataDir, **kwargs: object) -> str:
    with pytest.raises(InvalidInput) as info:
        stage_input(source, data_dir, **kwargs)  # type: ignore[arg-type]
    message = info.value.message
    assert message.endswith(".") and "\n" not in message
    return message


def staged_files(data_dir: DataDir) -> list[Path]:
    return sorted(p for p in data_dir.inputs.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- sources


def test_stage_a_path(data_dir: DataDir, outside: Path) -> None:
    (outside / "Robot Arm.glb").write_bytes(box_glb())
    staged = stage_input(outside / "Robot Arm.glb", data_dir)
    assert isinstance(staged, StagedInput)
    assert (staged.kind, staged.format, staged.media_type) == ("mesh", "glb", "model/gltf-binary")
    assert (staged.faces, staged.vertices, staged.width, staged.height) == (12, 8, None, None)
    assert staged.path == data_dir.inputs / staged.sha256[:16] / "Robot Arm.glb"
    assert staged.path.read_bytes() == box_glb() and staged.size_bytes == len(box_glb())
    assert staged.original_name == "Robot Arm.glb"
    assert staged_files(data_dir) == [staged.path]  # no temporary file left behind


def test_every_format_stages_with_the_extension_its_content_deserves(
    data_dir: DataDir, outside: Path
) -> None:
    for name, path in write_samples(outside).items():
        staged = stage_input(str(path), data_dir)
        assert staged.path.suffix == {"jpeg": ".jpg", "ply_ascii": ".ply", "stl_ascii": ".stl"}.get(
            name, f".{name}"
        )
        assert staged.path.name.startswith(f"{name}_sample")


def test_png_renamed_obj_is_an_image(data_dir: DataDir, outside: Path) -> None:
    (outside / "sketch.obj").write_bytes(png_bytes())
    staged = stage_input(outside / "sketch.obj", data_dir)
    assert (staged.kind, staged.format, staged.width, staged.height) == ("image", "png", 16, 8)
    assert staged.path.name == "sketch.png"


def test_raw_bytes(data_dir: DataDir) -> None:
    staged = stage_input(box_glb(), data_dir)
    assert staged.path.name == "input.glb" and staged.original_name == "input"
    assert stage_input(bytearray(png_bytes()), data_dir).kind == "image"


def test_base64_prefix_and_data_uri(data_dir: DataDir) -> None:
    text = base64.b64encode(png_bytes()).decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert stage_input(f"base64:{wrapped}", data_dir).format == "png"
    assert stage_input(f"data:image/png;base64,{text}", data_dir).format == "png"
    # the mime type in a data URI is a claim; the content decides
    assert (
        stage_input(f"data:image/png;base64,{base64.b64encode(box_glb()).decode()}", data_dir).kind
        == "mesh"
    )
    bare = base64.b64encode(box_glb()).decode()  # far longer than any file name
    assert stage_input(bare, data_dir).format == "glb"
    urlsafe = base64.urlsafe_b64encode(box_glb()).decode().rstrip("=")
    assert stage_input(f"base64:{urlsafe}", data_dir).format == "glb"


@pytest.mark.parametrize(
    "source, phrase",
    [
        ("base64:not*base64!", "The base64 data is not valid base64"),
        ("base64:", "The base64 data is empty"),
        ("data:image/png,plain-text", "not base64-encoded"),
        ("data:image/png;base64,@@@@", "The data URI is not valid base64"),
    ],
)
def test_bad_base64(data_dir: DataDir, source: str, phrase: str) -> None:
    assert phrase in refusal(source, data_dir)


def test_job_output(data_dir: DataDir, outside: Path) -> None:
    (outside / "primary.glb").write_bytes(box_glb())
    jobs = {"abc123": str(outside / "primary.glb")}
    staged = stage_input("job:abc123", data_dir, resolve_job=jobs.get)
    assert staged.format == "glb" and staged.original_name == "primary.glb"
    assert "no finished job 'nope'" in refusal("job:nope", data_dir, resolve_job=jobs.get)
    assert "no finished job" in refusal("job:abc123", data_dir)  # no resolver given
    (outside / "primary.glb").unlink()
    assert refusal("job:abc123", data_dir, resolve_job=jobs.get).startswith(
        "The output of job abc123 does not exist"
    )


def test_unsupported_source_type(data_dir: DataDir) -> None:
    assert "cannot stage a int" in refusal(42, data_dir)
    assert refusal("  ", data_dir) == "No file was given; drop a model or an image."


def test_file_uri_and_pasted_path(data_dir: DataDir, outside: Path) -> None:
    (outside / "my model.glb").write_bytes(box_glb())
    assert stage_input((outside / "my model.glb").as_uri(), data_dir).format == "glb"
    assert stage_input(f"{outside / 'my model.glb'}\n", data_dir).format == "glb"


def test_odd_names_stay_on_one_line(data_dir: DataDir, outside: Path) -> None:
    message = refusal(str(outside / "gone\x1b[2J\n.glb"), data_dir)
    assert "\x1b" not in message and "\n" not in message


# ----------------------------------------------------------------------------- refusals


def test_missing_path_directory_and_empty(data_dir: DataDir, outside: Path) -> None:
    assert refusal(outside / "gone.glb", data_dir).startswith("gone.glb does not exist (")
    assert refusal(outside, data_dir) == "desktop is a folder; drop the model or image file itself."
    (outside / "empty.glb").write_bytes(b"")
    assert refusal(outside / "empty.glb", data_dir) == "empty.glb is empty."
    assert refusal(b"", data_dir) == "The dropped data is empty."
    assert staged_files(data_dir) == []


def test_unknown_format_sentence(data_dir: DataDir, outside: Path) -> None:
    (outside / "notes.txt").write_text("buy milk\n")
    assert refusal(outside / "notes.txt", data_dir) == (
        "notes.txt is not a mesh or image Meshsmith can read (it looks like plain text)."
    )
    assert staged_files(data_dir) == []


def test_broken_mesh_is_refused_at_staging(data_dir: DataDir, outside: Path) -> None:
    (outside / "model.glb").write_bytes(box_glb()[:-8])
    assert refusal(outside / "model.glb", data_dir) == (
        "model.glb is truncated: it ends before its binary data does."
    )
    assert staged_files(data_dir) == []


def test_over_size(data_dir: DataDir, outside: Path) -> None:
    (outside / "big.glb").write_bytes(box_glb())
    limits = StagingLimits(max_bytes=100)
    message = refusal(outside / "big.glb", data_dir, limits=limits)
    assert message.startswith("big.glb is too large (") and "100 bytes" in message
    assert "too large" in refusal(box_glb(), data_dir, limits=limits)
    assert "too large" in refusal(
        "base64:" + base64.b64encode(box_glb()).decode(), data_dir, limits=limits
    )


def test_face_and_pixel_limits(data_dir: DataDir, outside: Path) -> None:
    trimesh.creation.icosphere().export(outside / "ball.glb")
    assert "1,280" in refusal(outside / "ball.glb", data_dir, limits=StagingLimits(max_faces=1000))
    (outside / "bomb.png").write_bytes(png_declaring(4000, 4000))
    message = refusal(outside / "bomb.png", data_dir, limits=StagingLimits(max_pixels=10_000))
    assert message.startswith("bomb.png is 4,000 × 4,000 pixels")


def test_symlink_is_resolved(data_dir: DataDir, outside: Path) -> None:
    (outside / "real.glb").write_bytes(box_glb())
    (outside / "link.glb").symlink_to(outside / "real.glb")
    staged = stage_input(outside / "link.glb", data_dir)
    assert staged.path.read_bytes() == box_glb() and not staged.path.is_symlink()
    (outside / "dangling.glb").symlink_to(outside / "missing.glb")
    assert "does not exist" in refusal(outside / "dangling.glb", data_dir)


# ----------------------------------------------------------------------------- names & dedup


def test_same_content_reuses_the_file(data_dir: DataDir, outside: Path) -> None:
    (outside / "a.glb").write_bytes(box_glb())
    (outside / "b.bin").write_bytes(box_glb())
    first = stage_input(outside / "a.glb", data_dir)
    again = stage_input(outside / "b.bin", data_dir)
    from_bytes = stage_input(box_glb(), data_dir)
    assert first.path == again.path == from_bytes.path
    assert again.original_name == "b.bin"
    assert staged_files(data_dir) == [first.path]


@pytest.mark.parametrize(
    "name, stem",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\evil.glb", "evil"),
        ("..", "input"),
        ("", "input"),
        (".hidden.glb", "hidden"),
        ("ロボット 腕.glb", "ロボット 腕"),
        ("Modèle_été.obj", "Modèle_été"),
        ("bad\x00name\n\x1b[31m.glb", "bad_name_31m"),
        ("CON.glb", "CON_"),
        ("a" * 500 + ".glb", "a" * 80),
        ("é" * 150, "é" * 80),
    ],
)
def test_sanitize_stem(name: str, stem: str) -> None:
    assert sanitize_stem(name) == stem


def test_long_unicode_names_stay_under_file_system_limits() -> None:
    stem = sanitize_stem("𝔘" * 300 + ".glb")  # four bytes each in UTF-8
    assert 0 < len(stem) <= 80 and len(stem.encode()) <= 200


def test_traversal_in_a_name_cannot_escape_inputs(data_dir: DataDir, outside: Path) -> None:
    deep = outside / "x"
    deep.mkdir()
    (deep / "..%2F..%2Fescape.glb").write_bytes(box_glb())
    staged = stage_input(deep / ".." / "x" / "..%2F..%2Fescape.glb", data_dir)
    assert staged.path.parent.parent == data_dir.inputs
    long_name = outside / ("ü" * 120 + ".glb")
    long_name.write_bytes(trimesh.creation.icosphere().export(file_type="glb"))
    staged = stage_input(long_name, data_dir)
    assert staged.path.name == "ü" * 80 + ".glb"


def test_writes_only_inside_inputs(data_dir: DataDir, outside: Path) -> None:
    (outside / "model.glb").write_bytes(box_glb())
    before = sorted(outside.rglob("*"))
    stage_input(outside / "model.glb", data_dir)
    assert sorted(outside.rglob("*")) == before
    assert all(data_dir.contains(p) for p in staged_files(data_dir))


# ----------------------------------------------------------------------------- fuzzing


def _seeds() -> list[bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [p.read_bytes() for p in write_samples(Path(tmp)).values()]


SEEDS = _seeds()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] ^= 1 << draw(st.integers(0, 7))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


@settings(
    max_examples=300,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(blob=st.one_of(st.binary(max_size=2048), damaged_files()))
def test_fuzz_ends_in_success_or_invalid_input(tmp_path: Path, blob: bytes) -> None:
    data_dir = DataDir(tmp_path / "fuzz")
    started = time.perf_counter()
    try:
        staged = stage_input(blob, data_dir)
    except InvalidInput as exc:
        assert exc.message.endswith(".") and "\n" not in exc.message
    else:
        assert staged.path.is_file() and staged.size_bytes == len(blob)
    assert time.perf_counter() - started < 5.0
    leftovers = [
        p for p in (data_dir.inputs.iterdir() if data_dir.inputs.exists() else []) if p.is_file()
    ]
    assert leftovers == [], "a temporary file was left behind"
    assert os.listdir(tmp_path) in ([], ["fuzz"])
