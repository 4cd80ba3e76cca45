"""Hostile input, property-based: decompression bombs, GLBs that lie about their size, wrong
extensions, Unicode, very long and path-traversal names, symlinks, pipes and devices.

Every input ends staged inside ``inputs/`` or refused with INVALID_INPUT and one sentence,
within a time limit, and nothing is written outside the data directory: not beside the source,
not in the system temporary folder (pointed at an empty folder the tests watch).
"""

from __future__ import annotations

import os
import resource
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.errors import ErrorCode, InvalidInput
from engine.meshio import reader as meshio
from engine.meshio.staging import StagedInput, StagingLimits, sanitize_stem, stage_input
from engine.storage.paths import DataDir
from tests.engine.test_meshio import box_glb, make_glb, png_declaring, split_glb, write_samples

TIME_LIMIT_S = 5.0


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The system temp folder, redirected to an empty folder that must stay empty."""
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    yield systmp
    assert list(systmp.iterdir()) == [], "something was written to the temporary folder"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "desktop"
    folder.mkdir()
    return folder


def fresh_data_dir(tmp_path: Path) -> DataDir:
    """A new data directory per example, so staged copies of equal content do not meet."""
    return DataDir(Path(tempfile.mkdtemp(dir=tmp_path, prefix="home-"))).ensure()


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.lstat().st_size for p in folder.rglob("*")}


def stage_or_refuse(source: object, data: DataDir, **kwargs: object) -> StagedInput | str:
    """Stage ``source``; return the StagedInput, or the refusal sentence. Anything else fails."""
    started = time.perf_counter()
    try:
        staged = stage_input(source, data, **kwargs)  # type: ignore[arg-type]
    except InvalidInput as exc:
        assert exc.code is ErrorCode.INVALID_INPUT
        assert exc.message.endswith(".") and "\n" not in exc.message
        assert "Traceback" not in exc.message
        outcome: StagedInput | str = exc.message
    else:
        assert staged.path.is_file() and not staged.path.is_symlink()
        assert staged.path.parent.parent == data.inputs.resolve()
        outcome = staged
    assert time.perf_counter() - started < TIME_LIMIT_S
    assert not list(data.inputs.glob(".staging-*")), "a temporary copy was left behind"
    return outcome


def refusal(source: object, data: DataDir, **kwargs: object) -> str:
    outcome = stage_or_refuse(source, data, **kwargs)
    assert isinstance(outcome, str), f"{source!r} was staged but should have been refused"
    return outcome


# ----------------------------------------------------------------------------- bombs


@st.composite
def bomb_sizes(draw: st.DrawFn) -> tuple[int, int]:
    """Width and height (each below 2^31, as PNG allows) whose product passes the limit."""
    width = draw(st.integers(1, 2**31 - 1))
    least = StagingLimits().max_pixels // width + 1
    return width, draw(st.integers(min(least, 2**31 - 1), 2**31 - 1))


@fuzz(100)
@given(size=bomb_sizes(), via=st.sampled_from(["path", "bytes", "base64"]))
def test_png_declaring_too_many_pixels_is_refused_before_decoding(
    tmp_path: Path, watched: Path, size: tuple[int, int], via: str
) -> None:
    width, height = size
    assume(width * height > StagingLimits().max_pixels)
    data = fresh_data_dir(tmp_path)
    blob = png_declaring(width, height)
    source: object = blob
    if via == "path":
        source = Path(tempfile.mkdtemp(dir=tmp_path)) / "bomb.png"
        source.write_bytes(blob)
    elif via == "base64":
        import base64

        source = "base64:" + base64.b64encode(blob).decode()
    assert "pixels" in refusal(source, data)


def real_png_bomb(width: int, height: int) -> bytes:
    """A PNG whose compressed zeros really do decode to ``width`` × ``height`` bytes."""
    squeeze = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one grey byte per pixel
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_a_real_decompression_bomb_costs_neither_time_nor_memory(tmp_path, watched, outside):
    bomb = real_png_bomb(12_000, 12_000)  # 144 MB of pixels in a few hundred KB
    assert len(bomb) < 1_000_000
    (outside / "innocent.png").write_bytes(bomb)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = refusal(outside / "innocent.png", fresh_data_dir(tmp_path))
    assert message.startswith("innocent.png ") and "pixels Meshsmith accepts" in message
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 64


# ----------------------------------------------------------------------------- lying GLBs

BOX_DOC, BOX_BIN = split_glb(box_glb())


@st.composite
def lying_glbs(draw: st.DrawFn) -> bytes:
    import copy

    doc = copy.deepcopy(BOX_DOC)
    huge = draw(st.one_of(st.just(2**31), st.just(2**32 - 1), st.integers(2**20, 2**63)))
    where = draw(st.sampled_from(["count_pos", "count_idx", "view_len", "view_off", "acc_off",
                                  "buffer_len", "no_view"]))
    if where == "count_pos":
        doc["accessors"][1]["count"] = huge
    elif where == "count_idx":
        doc["accessors"][0]["count"] = huge
    elif where == "view_len":
        doc["bufferViews"][0]["byteLength"] = huge
    elif where == "view_off":
        doc["bufferViews"][1]["byteOffset"] = huge
    elif where == "acc_off":
        doc["accessors"][1]["byteOffset"] = huge
    elif where == "buffer_len":
        doc["buffers"][0]["byteLength"] = huge
    else:
        doc["accessors"][1]["count"] = huge
        doc["accessors"][1].pop("bufferView", None)
    return make_glb(doc, BOX_BIN)


@fuzz(150)
@given(blob=lying_glbs())
def test_glb_claiming_billions_of_elements_is_refused_fast(tmp_path, watched, blob):
    message = refusal(blob, fresh_data_dir(tmp_path))
    assert message.startswith("The dropped data ")


# ----------------------------------------------------------------------------- readers


MAGIC = [b"glTF\x02\x00\x00\x00", b"ply\nformat binary_little_endian 1.0\n",
         b"ply\nformat ascii 1.0\nelement vertex 3\n", b"solid x\nfacet normal 0 0 1\n",
         b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x10\x00\x00\x00WEBPVP8 ", b"OFF\n3 1 0\n",
         b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf ", b'{"asset": {"version": "2.0"}, "meshes": ']


@fuzz(400)
@given(head=st.sampled_from(MAGIC), tail=st.binary(max_size=600))
def test_readers_given_a_real_header_and_garbage_refuse_with_a_sentence(tmp_path, watched,
                                                                        head, tail):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "x.bin"
    path.write_bytes(head + tail)
    started = time.perf_counter()
    fmt = meshio.sniff(path)
    try:
        if fmt is not None and fmt.kind == "mesh":
            meshio.load_mesh(path)
        elif fmt is not None:
            meshio.load_image(path)
    except InvalidInput as exc:
        assert exc.message.endswith(".") and "\n" not in exc.message
    assert time.perf_counter() - started < TIME_LIMIT_S


# ----------------------------------------------------------------------------- names


def _samples() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        return {name: p.read_bytes() for name, p in write_samples(Path(tmp)).items()}


SAMPLES = _samples()
EXTENSION = {"jpeg": ".jpg", "ply_ascii": ".ply", "stl_ascii": ".stl"}
NASTY = ["..", "../", "..\\", "/", "\\", "\x00", "\n", "\r", "\t", "\x1b[2J", "\u202e", "\ufeff",
         "CON", "nul", ".", " ", "~", "$HOME", "%2e%2e%2f", "ü" * 90, "𝔘" * 70, "ﾛﾎﾞｯﾄ", "é",
         "\u0301", "<>:\"|?*", ".glb", ".png", ".exe", "Ω≈ç√", "🙂"]
hostile_names = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=30)),
                         max_size=10).map("".join)


@fuzz(500)
@given(name=hostile_names)
def test_any_name_becomes_a_safe_short_file_stem(name: str) -> None:
    stem = sanitize_stem(name)
    assert stem and stem not in {".", ".."} and not stem.startswith(".")
    assert not set(stem) & {"/", "\\", "\x00", ":", "*", "?", '"', "<", ">", "|"}
    assert stem.isprintable() and stem == stem.strip()
    assert len(stem) <= 80 and len(stem.encode()) <= 200
    assert sanitize_stem(stem + ".glb") == stem  # stable: a staged name stays as it is


def fs_name(name: str) -> str:
    """``name`` made creatable on Linux (no "/" or NUL, at most 255 bytes)."""
    name = name.replace("/", "∕").replace("\x00", "␀")
    while len(name.encode()) > 255:
        name = name[:-1]
    return name


@fuzz(200)
@given(name=hostile_names.map(fs_name), sample=st.sampled_from(sorted(SAMPLES)))
def test_hostile_file_names_and_wrong_extensions_stage_inside_inputs(
    tmp_path, watched, name, sample
) -> None:
    assume(name not in {"", ".", ".."})
    folder = Path(tempfile.mkdtemp(dir=tmp_path, prefix="src-"))
    source = folder / name
    source.write_bytes(SAMPLES[sample])
    before = snapshot(folder)
    data = fresh_data_dir(tmp_path)
    staged = stage_or_refuse(source, data)
    assert isinstance(staged, StagedInput), staged  # the content is good, whatever the name
    extension = EXTENSION.get(sample, f".{sample}")
    assert staged.path.suffix == extension  # decided by the content, not the name
    assert staged.path.name == sanitize_stem(name) + extension
    assert staged.original_name == name
    assert snapshot(folder) == before
    assert all(data.contains(p) for p in data.root.rglob("*"))


@fuzz(60)
@given(traversal=st.lists(st.sampled_from(["..", ".", "x", "..%2F", "...."]), min_size=1,
                          max_size=12))
def test_traversal_in_a_given_path_reads_the_file_it_names_and_writes_only_inside(
    tmp_path, watched, outside, traversal
) -> None:
    (outside / "x").mkdir(exist_ok=True)
    (outside / "model.glb").write_bytes(box_glb())
    before = snapshot(outside)
    data = fresh_data_dir(tmp_path)
    text = str(outside / "x") + "/" + "/".join(traversal) + "/model.glb"
    outcome = stage_or_refuse(text, data)
    if isinstance(outcome, StagedInput):
        assert outcome.path.read_bytes() == box_glb()
    assert snapshot(outside) == before


# ----------------------------------------------------------------------------- links & devices


def test_a_symlinked_inputs_folder_cannot_send_staging_outside(tmp_path, watched, outside):
    """Someone planted inputs/<hash> -> a folder elsewhere, holding a same-sized file."""
    data = fresh_data_dir(tmp_path)
    blob = box_glb()
    import hashlib

    digest = hashlib.sha256(blob).hexdigest()
    (outside / "decoy.glb").write_bytes(b"\x00" * len(blob))
    (data.inputs / digest[:16]).symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    outcome = stage_or_refuse(blob, data)
    if isinstance(outcome, StagedInput):
        assert data.contains(outcome.path) and outcome.path.read_bytes() == blob
    assert snapshot(outside) == before


def test_an_existing_staged_file_that_is_a_symlink_out_is_not_reused(tmp_path, watched, outside):
    data = fresh_data_dir(tmp_path)
    blob = box_glb()
    import hashlib

    folder = data.inputs / hashlib.sha256(blob).hexdigest()[:16]
    folder.mkdir()
    (outside / "secret.glb").write_bytes(b"\x01" * len(blob))
    (folder / "input.glb").symlink_to(outside / "secret.glb")
    outcome = stage_or_refuse(blob, data)
    if isinstance(outcome, StagedInput):
        assert data.contains(outcome.path) and outcome.path.read_bytes() == blob
    assert (outside / "secret.glb").read_bytes() == b"\x01" * len(blob)


def test_a_symlink_to_a_file_outside_is_staged_as_a_copy(tmp_path, watched, outside):
    (outside / "real.glb").write_bytes(box_glb())
    data = fresh_data_dir(tmp_path)
    (data.root / "link.glb").symlink_to(outside / "real.glb")
    staged = stage_or_refuse(data.root / "link.glb", data)
    assert isinstance(staged, StagedInput) and staged.path.read_bytes() == box_glb()
    assert (outside / "real.glb").read_bytes() == box_glb()


def test_symlink_loops_pipes_and_devices_are_refused_without_hanging(tmp_path, watched, outside):
    data = fresh_data_dir(tmp_path)
    (outside / "a.glb").symlink_to(outside / "b.glb")
    (outside / "b.glb").symlink_to(outside / "a.glb")
    assert "does not exist" in refusal(outside / "a.glb", data)
    os.mkfifo(outside / "pipe.glb")  # nothing ever writes to it: reading would block forever
    assert refusal(outside / "pipe.glb", data) == "pipe.glb is not a regular file."
    assert refusal("/dev/zero", data) == "zero is not a regular file."
    assert "is a folder" in refusal(outside, data)
