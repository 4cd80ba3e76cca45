"""The one input model: a file given as a server-side path, base64 data or an uploaded file's
id (exactly one), and how each becomes a staged input under the CLI's staging rules
(engine.meshio.staging). Request bodies keep the reviewed server's flat field names
(``mesh_path``, ``mesh_base64``, ``mesh_file_id``, ``image_...``); ``slot`` makes those fields
for a role and ``FileInput`` checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from app.server.auth import Caller
from app.server.errors import ApiError, not_found
from app.server.store import ServerStore
from engine.meshio import reader
from engine.meshio.staging import Source

KIND_OF_ROLE = {"mesh": "mesh", "image": "image", "texture_image": "image"}
# What staging reads (judged by content, not by these names).
MESH_FORMATS = tuple(f.name for f in reader.FORMATS if f.kind == "mesh")
IMAGE_FORMATS = tuple(f.name for f in reader.FORMATS if f.kind == "image")


class FileInput(BaseModel):
    """One input file: exactly one of ``path`` (inside the server's path folder), ``base64``
    (plain or a ``data:`` URI) or ``file_id`` (from /api/v1/file-upload)."""

    model_config = ConfigDict(extra="forbid")
    role: str = "mesh"
    path: str | None = None
    base64: str | None = None
    file_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FileInput:
        given = [name for name in ("path", "base64", "file_id") if getattr(self, name)]
        if len(given) != 1:
            names = f"{self.role}_path, {self.role}_base64 or {self.role}_file_id"
            raise ValueError(f"Give exactly one of {names}" + (f", not {len(given)}"
                                                                 if given else ""))
        return self

    def source(self, who: Caller, path_root: Path | None, uploads: ServerStore) -> Source:
        """What to stage (disk reads for a path or an upload: call off the event loop)."""
        if self.path:
            return allowed_path(self.path, path_root)
        if self.base64:
            text = self.base64.strip()
            return text if text.startswith("data:") else "base64:" + text
        upload = uploads.upload(str(self.file_id), who.scope)
        if upload is None:
            raise not_found(f"uploaded file {self.file_id}")
        return Path(upload.path)


def allowed_path(text: str, root: Path | None) -> Path:
    """``text`` as a path inside ``root`` (links followed); never anywhere else on disk."""
    if root is None:
        raise ApiError(403, "PATH_NOT_ALLOWED", "This server reads no paths on its own disk; "
                       "upload the file or send it as base64.")
    base = root.resolve()
    path = Path(text).expanduser()
    resolved = (path if path.is_absolute() else base / path).resolve()
    if not resolved.is_relative_to(base):
        raise ApiError(403, "PATH_NOT_ALLOWED", f"{Path(text).name or text} is outside the "
                       "folder this server reads paths from.")
    return resolved


def slot(role: str, *, optional: bool = False) -> type[BaseModel]:
    """The three flat fields of one input role, as a model to inherit from."""
    what = "texture image" if role == "texture_image" else role
    note = " (optional)" if optional else ""
    return create_model(  # type: ignore[call-overload]
        f"{role.title().replace('_', '')}Input",
        **{f"{role}_path": (str | None, Field(None, description=f"The {what} as a path inside "
                                              f"the server's path folder{note}")),
           f"{role}_base64": (str | None, Field(None, description=f"The {what} as base64 or a "
                                                f"data: URI{note}")),
           f"{role}_file_id": (str | None, Field(None, description=f"The {what}'s file_id from "
                                                 f"/api/v1/file-upload{note}"))},
    )


def file_input(request: BaseModel, role: str, *, optional: bool = False) -> FileInput | None:
    """The role's three fields checked as one ``FileInput`` (None: an optional role left out)."""
    values: dict[str, Any] = {key: getattr(request, f"{role}_{key}")
                              for key in ("path", "base64", "file_id")}
    if optional and not any(values.values()):
        return None
    try:
        return FileInput(role=role, **values)
    except ValidationError as exc:  # raised inside a request's validator: say it plainly
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
