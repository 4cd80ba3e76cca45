"""The viewport helper's two answers for a request: the first levels now, the full level after.

A heavy file's first frame needs only its preview (~100k faces), which clustering makes
straight from the raw vertex and face arrays. So ``prepare_first`` answers with that (light,
pickled in a blink) and keeps the raw parts here, in the helper process, under the request's
key; the studio draws it, then asks ``prepare_full`` for the full level: normals computed
once, arrays written straight into shared memory (``app.shared_arrays``), nothing pickled
but where they lie. Tasks run one at a time in the one helper, so the raw parts wait for at
most a couple of requests (``_KEEP``); a request superseded before its full level is asked
for is dropped with the next. No Qt and no VTK here.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from app import shared_arrays
from app.scene_data import PartData, SceneData, completed, first_level, full_parts
from engine.errors import InvalidInput
from engine.meshio.reader import DEFAULT_MAX_FACES

_KEEP = 2  # requests whose raw parts wait for their full level
_PENDING: dict[str, tuple[tuple[PartData, ...] | None, ...]] = {}  # key -> per path


@dataclass(frozen=True, eq=False)
class Prepared:
    """What the helper process hands back for one viewport request, path for path."""

    scenes: tuple[SceneData | None, ...]
    errors: tuple[str | None, ...]  # the sentence for the artist when a file failed
    crashes: tuple[str | None, ...]  # traceback of an internal error, for the studio's log
    pid: int  # the process that did the work

    @property
    def full_pending(self) -> bool:
        return any(s is not None and s.full_pending for s in self.scenes)


def prepare_first(paths: tuple[str, ...], max_faces: int = DEFAULT_MAX_FACES,
                  key: str = "") -> Prepared:
    """Runs in the viewport's helper: each file's first level (``scene_data.first_level``),
    or a sentence saying why not. A heavy file's raw parts wait under ``key`` for
    ``prepare_full``; without a key they are finished here (one answer, complete)."""
    scenes: list[SceneData | None] = []
    errors: list[str | None] = []
    crashes: list[str | None] = []
    raws: list[tuple[PartData, ...] | None] = []
    for path in paths:
        scene = error = crash = raw = None
        try:
            scene, raw = first_level(path, max_faces=max_faces)
            if raw is not None and not key:
                scene, raw = completed(scene, full_parts(raw)), None
        except InvalidInput as exc:
            error = exc.message
        except Exception:
            crash = traceback.format_exc()
            error = f"{Path(path).name} could not be shown because of an internal error."
        scenes.append(scene)
        errors.append(error)
        crashes.append(crash)
        raws.append(raw)
    if any(raw is not None for raw in raws):
        _PENDING[key] = tuple(raws)
        for old in list(_PENDING)[:-_KEEP]:
            del _PENDING[old]
    return Prepared(tuple(scenes), tuple(errors), tuple(crashes), os.getpid())


def prepare_full(key: str) -> shared_arrays.Packet | None:
    """Runs in the viewport's helper: the full level of each path of request ``key``
    (None for a path that was complete or failed), in shared memory; None when the request
    is no longer held (superseded)."""
    raws = _PENDING.pop(key, None)
    if raws is None:
        return None
    arena = shared_arrays.Arena(key)
    try:
        full = tuple(None if raw is None else full_parts(raw, arena.empty) for raw in raws)
        del raws  # the raw arrays (and the file's mapping) go now, before the studio maps
        return arena.pack(full)
    except BaseException:
        arena.discard()
        raise


def release(key: str) -> None:
    """Runs in the viewport's helper: the studio has mapped request ``key``'s full level, or
    will never ask for it (superseded, closed): let go of its raw parts and memory file."""
    _PENDING.pop(key, None)
    shared_arrays.release(key)


def held() -> tuple[int, int]:
    """Runs in the viewport's helper: (requests with raw parts, memory files) it still holds."""
    return len(_PENDING), shared_arrays.held()
