"""``/api/v1/file-upload/...``: upload an image or a mesh once, use its ``file_id`` in any job.

An upload is staged like every input (engine.meshio.staging: type judged by content, fully
read, stored by content hash), so a broken file is refused at upload with one sentence.
Uploads belong to the user who sent them; an admin sees everyone's.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, File, UploadFile

from app.server.auth import Caller
from app.server.backend import Backend
from app.server.deps import BackendDep, CallerDep, ConfigDep, StoreDep
from app.server.errors import ApiError, not_found
from app.server.inputs import IMAGE_FORMATS, MESH_FORMATS
from app.server.store import ServerStore, Upload, iso
from engine.meshio.staging import KIND_PHRASE, sanitize_stem

router = APIRouter(prefix="/api/v1/file-upload", tags=["File Upload"])
Kind = Literal["image", "mesh"]


def upload_json(upload: Upload) -> dict[str, Any]:
    return {"file_id": upload.file_id, "filename": upload.filename,
            "file_type": upload.file_type, "file_size_mb": upload.size_mb,
            "upload_time": iso(upload.upload_time), "expires_at": None}


def _stage_upload(stream: BinaryIO, filename: str, kind: Kind, backend: Backend,
                  store: ServerStore, who: Caller) -> Upload:
    """Copy the received file next to the inputs, stage it, and remember who sent it."""
    suffix = re.sub(r"[^A-Za-z0-9]", "", Path(filename).suffix)[:10]
    name = sanitize_stem(filename) + (f".{suffix}" if suffix else "")
    with tempfile.TemporaryDirectory(dir=backend.data.root, prefix=".upload-") as folder:
        received = Path(folder) / (name or "upload")
        with received.open("wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        staged = backend.stage(received)
    if staged.kind != kind:
        raise ApiError(400, "INVALID_INPUT", f"{filename} is {KIND_PHRASE[staged.kind]}, not "
                       f"{KIND_PHRASE[kind]}; upload it to /api/v1/file-upload/{staged.kind}.")
    return store.add_upload(who.name, filename, kind, str(staged.path), staged.size_bytes)


async def _receive(file: UploadFile, kind: Kind, backend: Backend, store: ServerStore,
                   who: Caller) -> dict[str, Any]:
    base = (file.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200]
    filename = "".join(ch if ch.isprintable() else "?" for ch in base) or "upload"
    try:
        upload = await asyncio.to_thread(_stage_upload, file.file, filename, kind, backend,
                                         store, who)
    finally:
        await file.close()
    return upload_json(upload)


FileField = Annotated[UploadFile, File(description="The file (its type is judged by content)")]


@router.post("/image", summary=f"Upload an image ({', '.join(IMAGE_FORMATS)})")
async def upload_image(file: FileField, who: CallerDep, backend: BackendDep,
                       store: StoreDep) -> dict[str, Any]:
    return await _receive(file, "image", backend, store, who)


@router.post("/mesh", summary=f"Upload a mesh ({', '.join(MESH_FORMATS)})")
async def upload_mesh(file: FileField, who: CallerDep, backend: BackendDep,
                      store: StoreDep) -> dict[str, Any]:
    return await _receive(file, "mesh", backend, store, who)


@router.get("/metadata/{file_id}", summary="An uploaded file's metadata")
async def metadata(file_id: str, who: CallerDep, store: StoreDep) -> dict[str, Any]:
    upload = await asyncio.to_thread(store.upload, file_id, who.scope)
    if upload is None:
        raise not_found(f"uploaded file {file_id}")
    available = await asyncio.to_thread(Path(upload.path).is_file)
    return {**upload_json(upload), "is_available": available}


@router.get("/list", summary="Uploaded files, newest first")
async def list_uploads(who: CallerDep, store: StoreDep, file_type: Kind | None = None,
                       limit: int = 100) -> dict[str, Any]:
    uploads, total = await asyncio.to_thread(store.uploads, who.scope, file_type,
                                             max(1, min(limit, 1000)))
    files = [{**upload_json(u), "is_available": True} for u in uploads]
    return {"files": files, "count": len(files), "total_files": total}


@router.get("/supported-formats", summary="What may be uploaded")
async def supported_formats(config: ConfigDep) -> dict[str, Any]:
    limit_mb = config.max_body_bytes // 2**20
    return {"image": {"formats": list(IMAGE_FORMATS), "max_size_mb": limit_mb,
                      "description": "Images, judged by content"},
            "mesh": {"formats": list(MESH_FORMATS), "max_size_mb": limit_mb,
                     "description": "Meshes, judged by content"},
            "retention": {"default_hours": None,
                          "description": "Uploads stay until deleted"}}


@router.delete("/{file_id}", summary="Delete an upload")
async def delete_upload(file_id: str, who: CallerDep, store: StoreDep,
                        backend: BackendDep) -> dict[str, Any]:
    upload = await asyncio.to_thread(store.upload, file_id, who.scope)
    if upload is None:
        raise not_found(f"uploaded file {file_id}")
    await asyncio.to_thread(_forget, upload, store, backend)
    return {"file_id": file_id, "message": "File deleted successfully",
            "filename": upload.filename}


def _forget(upload: Upload, store: ServerStore, backend: Backend) -> None:
    """The staged copy goes too, unless another upload or a job still uses it."""
    store.delete_upload(upload.file_id)
    if not store.path_in_use(upload.path) and not backend.store.uses_input(upload.path):
        Path(upload.path).unlink(missing_ok=True)
