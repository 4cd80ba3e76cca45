"""The one input stager: whatever the artist gives becomes a validated file under inputs/.

A path, raw bytes, base64 text (plain, ``base64:``-prefixed or a ``data:`` URI) or
``job:<id>`` is copied into ``inputs/<sha256[:16]>/<name><extension>``, its type decided by
content (``meshio.sniff``) and the copy fully read (``load_mesh``/``load_image``), so a broken
file is refused here, before any job exists. We validate the *copy*, never the source, so a
file changed while we stage it cannot slip through.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse
from urllib.request import url2pathname

from engine.errors import ErrorCode, InvalidInput, MeshsmithError
from engine.meshio import reader as meshio
from engine.meshio.names import sanitize_stem
from engine.meshio.surface import flat_reason
from engine.storage.paths import DataDir

_CHUNK = 1024 * 1024

_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_\-\s]+={0,2}\s*")

KIND_PHRASE = {"mesh": "a mesh", "image": "an image"}  # for sentences about inputs

Source = str | bytes | bytearray | memoryview | os.PathLike[str]


@dataclass(frozen=True)
class StagingLimits:
    max_bytes: int = 2 * 1024**3
    max_faces: int = meshio.DEFAULT_MAX_FACES
    max_pixels: int = meshio.DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class StagedInput:
    path: Path
    kind: str  # "mesh" | "image"
    format: str  # meshio.Format.name: "glb", "obj", "png", ...
    media_type: str
    size_bytes: int
    sha256: str
    original_name: str
    faces: int | None = None
    vertices: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class _Given:
    """What the artist gave, before it is copied: how to name it and where its bytes are."""

    label: str  # how error sentences name it
    original_name: str
    path: Path | None = None
    data: bytes | None = None


def stage_input(
    source: Source,
    data_dir: DataDir,
    *,
    resolve_job: Callable[[str], str | None] | None = None,
    limits: StagingLimits = StagingLimits(),  # frozen, so one shared default is safe
) -> StagedInput:
    """Copy, identify and validate ``source``; every refusal is ``InvalidInput``, and a copy
    the data folder's disk refuses is a MeshsmithError (DISK_FULL or STORAGE) that says so."""
    given = _classify(source, resolve_job, limits)
    try:
        return _stage(given, data_dir, limits)
    except _WriteFailed as exc:
        raise _write_failure(data_dir.inputs, exc.args[0]) from None
    except OSError as exc:  # reading the source is InvalidInput: this is the data folder
        raise _write_failure(data_dir.inputs, exc) from None


def _write_failure(inputs: Path, exc: OSError) -> MeshsmithError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return MeshsmithError(ErrorCode.DISK_FULL,
                              f"The disk holding {inputs} is full, so the input could not be "
                              "copied there; free some space and try again.")
    return MeshsmithError(ErrorCode.STORAGE, f"The input could not be copied into {inputs} "
                                             f"({exc.strerror or exc}).")


def _stage(given: _Given, data_dir: DataDir, limits: StagingLimits) -> StagedInput:
    inputs = data_dir.inputs
    inputs.mkdir(parents=True, exist_ok=True)
    side = _side_files(given, limits)
    if side:
        return _stage_bundle(given, side, inputs, limits)
    fd, tmp_name = tempfile.mkstemp(dir=inputs, prefix=".staging-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, digest = _copy(given, out, limits)
        fields, extension = _validate(tmp, given, limits)
        final = _place(tmp, inputs, digest, given.original_name, extension)
    finally:
        tmp.unlink(missing_ok=True)
    return StagedInput(
        path=final, size_bytes=size, sha256=digest, original_name=given.original_name, **fields
    )


# ----------------------------------------------------------------------------- sources


def _classify(
    source: Source, resolve_job: Callable[[str], str | None] | None, limits: StagingLimits
) -> _Given:
    if isinstance(source, bytes | bytearray | memoryview):
        return _given_bytes(bytes(source), "The dropped data", limits)
    if isinstance(source, str):
        if source.startswith("job:"):
            return _given_job(source[4:].strip(), resolve_job)
        if source.startswith("data:"):
            return _given_data_uri(source, limits)
        if source.startswith("base64:") or _looks_like_bare_base64(source):
            label = "The base64 data"
            return _given_bytes(_b64(source.removeprefix("base64:"), label, limits), label, limits)
        return _given_path(_path_from_text(source), None)
    if isinstance(source, os.PathLike):
        return _given_path(Path(os.fspath(source)), None)
    raise InvalidInput(
        f"Meshsmith cannot stage a {type(source).__name__}; give a file, bytes, base64 text "
        "or job:<id>."
    )


def _looks_like_bare_base64(text: str) -> bool:
    # A path is what a short string means; only text far longer than any file name, in the
    # base64 alphabet and naming no existing file, is taken as unprefixed base64.
    if len(text) < 256 or not _BASE64_TEXT.fullmatch(text):
        return False
    try:
        return not os.path.lexists(text)
    except (OSError, ValueError):
        return True


def _path_from_text(text: str) -> Path:
    if not text.strip():
        raise InvalidInput("No file was given; drop a model or an image.")
    if text.startswith("file://"):  # what a drag-and-drop hands over
        return Path(url2pathname(urlparse(text).path))
    # a pasted path often carries a trailing newline; a real name ending in one is rarer
    if not os.path.lexists(text) and os.path.lexists(text.strip()):
        return Path(text.strip())
    return Path(text)


def _given_path(path: Path, label: str | None) -> _Given:
    path = path.expanduser()
    label = label or _printable(path.name or str(path))
    if not path.exists():  # follows symlinks, so a dangling link counts as missing
        raise InvalidInput(f"{label} does not exist ({_printable(str(path))}).")
    resolved = path.resolve()
    if resolved.is_dir():
        raise InvalidInput(f"{label} is a folder; drop the model or image file itself.")
    if not resolved.is_file():  # a pipe or device could block a read forever
        raise InvalidInput(f"{label} is not a regular file.")
    return _Given(label=label, original_name=path.name, path=resolved)


def _given_job(job_id: str, resolve_job: Callable[[str], str | None] | None) -> _Given:
    output = resolve_job(job_id) if resolve_job is not None and job_id else None
    if output is None:
        raise InvalidInput(f"There is no finished job {job_id!r} whose output could be used.")
    return _given_path(Path(output), f"The output of job {_printable(job_id)}")


def _given_bytes(data: bytes, label: str, limits: StagingLimits) -> _Given:
    _check_size(len(data), label, limits)
    return _Given(label=label, original_name="input", data=data)


def _given_data_uri(uri: str, limits: StagingLimits) -> _Given:
    header, comma, payload = uri.partition(",")
    if not comma or not header.endswith(";base64"):
        raise InvalidInput("The data URI is not base64-encoded; only data:<type>;base64,... works.")
    return _given_bytes(_b64(payload, "The data URI", limits), "The data URI", limits)


def _b64(text: str, label: str, limits: StagingLimits) -> bytes:
    text = re.sub(r"\s+", "", text)  # pasted base64 is often wrapped at 76 columns
    if len(text) // 4 * 3 > limits.max_bytes + 3:  # refuse before decoding gigabytes
        _check_size(len(text) // 4 * 3, label, limits)
    text = text.replace("-", "+").replace("_", "/")  # the URL-safe alphabet decodes the same
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{label} is not valid base64 text.") from exc


def _check_size(size: int, label: str, limits: StagingLimits) -> None:
    if size == 0:
        raise InvalidInput(f"{label} is empty.")
    if size > limits.max_bytes:
        raise InvalidInput(
            f"{label} is too large ({_human(size)}); Meshsmith accepts files up to "
            f"{_human(limits.max_bytes)}."
        )


def _printable(text: str) -> str:
    # names go into one-line sentences: no newlines or terminal escapes from odd file names
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _human(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    scaled, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


# ----------------------------------------------------------------------------- copy & check


def _copy(given: _Given, out: BinaryIO, limits: StagingLimits) -> tuple[int, str]:
    """Write the bytes into ``out`` while hashing them; returns (size, sha256 hex)."""
    digest = hashlib.sha256()
    if given.data is not None:
        digest.update(given.data)
        _write(out, given.data)
        return len(given.data), digest.hexdigest()
    assert given.path is not None
    try:
        _check_size(given.path.stat().st_size, given.label, limits)
        size = 0
        with given.path.open("rb") as src:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > limits.max_bytes:  # the file grew while we copied it
                    _check_size(size, given.label, limits)
                digest.update(chunk)
                _write(out, chunk)
    except PermissionError as exc:
        raise InvalidInput(f"{given.label} cannot be read: permission denied.") from exc
    except OSError as exc:
        raise InvalidInput(f"{given.label} cannot be read ({exc.strerror or exc}).") from exc
    _check_size(size, given.label, limits)  # it may have shrunk to nothing meanwhile
    return size, digest.hexdigest()


class _WriteFailed(Exception):
    """The copy's disk refused a write: not the source's fault (stage_input says so)."""


def _write(out: BinaryIO, chunk: bytes) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise _WriteFailed(exc) from exc


def _validate(tmp: Path, given: _Given, limits: StagingLimits) -> tuple[dict[str, Any], str]:
    """Sniff and fully read the copy; returns StagedInput fields and the content's extension."""
    fmt = meshio.sniff(tmp)
    if fmt is None:
        raise InvalidInput(meshio.unreadable_message(tmp, given.label))
    fields: dict[str, Any] = {"kind": fmt.kind, "format": fmt.name, "media_type": fmt.media_type}
    if fmt.kind == "mesh":
        mesh = meshio.load_mesh(tmp, max_faces=limits.max_faces, name=given.label)
        flat = flat_reason(mesh)
        if flat:
            raise InvalidInput(f"{given.label} has no surface to work with: {flat}.")
        fields |= {"faces": len(mesh.faces), "vertices": len(mesh.vertices)}
    else:
        image = meshio.load_image(tmp, max_pixels=limits.max_pixels, name=given.label)
        fields |= {"width": image.width, "height": image.height}
    return fields, fmt.extension


def _place(tmp: Path, inputs: Path, digest: str, original_name: str, extension: str) -> Path:
    """Move the copy to ``inputs/<sha[:16]>/``, reusing a file already staged with this content."""
    folder = inputs / digest[:16]
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()  # not a folder we made (a link could lead out of inputs): drop it
    folder.mkdir(exist_ok=True)
    size = tmp.stat().st_size
    for existing in sorted(folder.iterdir()):
        # same content, whatever name it was first staged under; the size check guards
        # against a file someone truncated by hand, the link check against one that leads out
        if (existing.suffix == extension and not existing.is_symlink() and existing.is_file()
                and existing.stat().st_size == size):
            return existing.resolve()
    final = folder / (sanitize_stem(original_name) + extension)
    if not final.resolve().is_relative_to(inputs.resolve()):
        raise InvalidInput(f"{original_name} cannot be staged: its folder points outside inputs.")
    os.replace(tmp, final)  # atomic: a reader sees no file or the whole file
    return final.resolve()


# ----------------------------------------------------------------------------- side files
#
# A .gltf with its buffers and images, or an OBJ with its MTL and textures, is staged as a
# bundle: the model and the side files it names, at the same paths relative to it, in one
# folder named by the hash of all of them (the model's bytes, then each side file's path and
# bytes), so the staged copy reads exactly like the original and two bundles that share a
# model file but not its textures never share a folder.


def _side_files(given: _Given, limits: StagingLimits) -> list[Path]:
    """Paths, relative to the model's folder, of the side files the model reads."""
    if given.path is None or meshio.sniff(given.path) not in (meshio.GLTF, meshio.OBJ):
        return []
    from engine.meshio.scene import read_scene

    loaded = read_scene(given.path, max_faces=limits.max_faces, max_pixels=limits.max_pixels,
                        name=given.label)
    folder = given.path.parent.resolve()
    return [p.relative_to(folder) for p in loaded.side_files if p != given.path]


def _stage_bundle(given: _Given, side: list[Path], inputs: Path,
                  limits: StagingLimits) -> StagedInput:
    assert given.path is not None
    fmt = meshio.sniff(given.path)
    assert fmt is not None
    main = sanitize_stem(given.original_name) + fmt.extension
    work = Path(tempfile.mkdtemp(dir=inputs, prefix=".staging-"))
    try:
        size, digest = _copy_bundle(given, side, work, main, limits)
        fields, _ = _validate(work / main, given, limits)
        final = _place_bundle(work, inputs, digest, main)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return StagedInput(path=final, size_bytes=size, sha256=digest,
                       original_name=given.original_name, **fields)


def _copy_bundle(given: _Given, side: list[Path], work: Path, main: str,
                 limits: StagingLimits) -> tuple[int, str]:
    assert given.path is not None
    digest = hashlib.sha256()
    with open(work / main, "wb") as out:
        size, main_digest = _copy(given, out, limits)
    digest.update(bytes.fromhex(main_digest))
    folder = given.path.parent.resolve()
    for relative in sorted(set(side)):
        target = work / relative
        if target == work / main:
            continue  # a side file may not replace the model itself
        target.parent.mkdir(parents=True, exist_ok=True)
        label = f"{given.label}'s file {_printable(relative.as_posix())}"
        with open(target, "wb") as out:
            more, file_digest = _copy(_Given(label, relative.name, folder / relative), out,
                                      limits)
        size += more
        _check_size(size, given.label, limits)
        digest.update(b"\0" + relative.as_posix().encode("utf-8") + b"\0")
        digest.update(bytes.fromhex(file_digest))
    return size, digest.hexdigest()


def _place_bundle(work: Path, inputs: Path, digest: str, main: str) -> Path:
    """Move the bundle's folder to ``inputs/<sha[:16]>/`` in one rename, or reuse the bundle
    already staged there with this content."""
    folder = inputs / digest[:16]
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    if not folder.exists():
        try:
            os.replace(work, folder)  # atomic: a reader sees no bundle or the whole bundle
        except OSError:
            pass  # staged meanwhile by another call: use that one
    staged = folder / main
    if not staged.is_file():  # the same bundle staged first under another name
        suffix = Path(main).suffix
        staged = next((p for p in sorted(folder.iterdir()) if p.suffix == suffix), staged)
    if not staged.is_file() or staged.is_symlink():
        raise InvalidInput(f"{main} could not be staged: its folder under inputs is damaged.")
    return staged.resolve()
