"""How the viewport's view model loads files: the helper's answers, in one or two steps.

A mixin of ``ViewportViewModel`` (``app.viewmodels.viewport_viewmodel``), which keeps the
state and signals used here. The request (paths, limits, a generation number) is captured on
the GUI thread, ``scene_stages.prepare_first`` runs in the viewport's helper process
(``app.offload``: a thread would share the GIL with the GUI thread and stall it), a task
awaits its future (docs/async.md) and hands the result on through a queued signal, so what
the result sets off (an error dialog) runs outside the task. A newer request makes older
results stale, so opening two files quickly never shows the first one last.

A heavy file arrives in two steps: its preview first (``scene_changed``: the first frame),
then its full level (``scene_stages.prepare_full``), mapped from shared memory
(``app.shared_arrays``) and swapped in without redrawing the preview (``scene_completed``);
``scene_loaded`` says the scene is complete. The helper is told to let go of what it kept
for the request (``scene_stages.release``) whether the full level arrived, failed or went
stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Slot
from qasync import asyncSlot

from app import scene_stages, shared_arrays
from app.scene_data import PartData, completed
from app.scene_stages import Prepared
from app.viewmodels.viewport_overlay import AFTER, BEFORE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Delivery:
    """A helper's answer with the request's generation number, on its way to the GUI thread."""

    token: int
    prepared: Prepared
    full: tuple[tuple[PartData, ...] | None, ...] | None = None  # the full levels, path for path


def _failed(paths: tuple[str, ...], exc: BaseException) -> Prepared:
    """The helper gave no answer (it died, or its answer could not travel): one sentence each."""
    if isinstance(exc, BrokenProcessPool):
        reason = ("reading it stopped the helper process (it may be too large for this "
                  "machine's memory)")
    else:
        log.error("preparing %s for the viewport failed", ", ".join(paths), exc_info=exc)
        reason = "of an internal error"
    names = [Path(p).name for p in paths]
    return Prepared(tuple(None for _ in paths),
                    tuple(f"{name} could not be shown because {reason}." for name in names),
                    tuple(None for _ in paths), 0)


class ViewportLoading:
    """Loading for ``ViewportViewModel``; mixed in before ``QObject``."""

    def _load(self, paths: tuple[str, ...], stats: dict[str, Any] | None) -> None:
        if self._closed:
            return
        self._token += 1
        token = self._token
        self._pending_stats = dict(stats or {})
        self._set_loading(Path(paths[-1]).name)
        key = f"{self._session}-{token}"
        self._await_prepared(token, paths, key, self._helper.submit(
            scene_stages.prepare_first, paths, self._max_faces, key))

    @asyncSlot()
    async def _await_prepared(self, token: int, paths: tuple[str, ...], key: str,
                              future: Future[Prepared]) -> None:
        """Await the helper's answers on the GUI thread (docs/async.md): the first levels,
        then, for a heavy file, its full level; a newer request makes them stale."""
        try:
            prepared = await asyncio.wrap_future(future)
        except Exception as exc:  # the helper died, or its answer could not travel
            prepared = _failed(paths, exc)
        if not prepared.full_pending:
            self._deliver(_Delivery(token, prepared))
            return
        full = None
        try:
            if self._deliver(_Delivery(token, prepared)):
                packet = await asyncio.wrap_future(
                    self._helper.submit(scene_stages.prepare_full, key))
                full = shared_arrays.unpack(packet) if packet is not None else None
        except LookupError:  # its memory file cannot be opened here (a locked-down /proc)
            log.warning("shared memory unavailable; %s comes pickled", ", ".join(paths))
            again = await asyncio.wrap_future(self._helper.submit(
                scene_stages.prepare_first, paths, self._max_faces, ""))  # complete, in one
            full = tuple(None if s is None else s.parts for s in again.scenes)
        except Exception as exc:  # the preview stays; the artist can open the file again
            log.error("the full level of %s did not arrive", ", ".join(paths), exc_info=exc)
        finally:  # mapped here, or never to be: the helper lets go of it either way
            with contextlib.suppress(RuntimeError):  # no new tasks: Python is shutting down
                self._helper.submit(scene_stages.release, key)
        if full is not None:
            self._deliver(_Delivery(token, prepared, full))

    def _deliver(self, delivery: _Delivery) -> bool:
        """Hand ``delivery`` to the GUI thread's slot; False when it is stale."""
        if self._closed or delivery.token != self._token:
            return False
        try:
            self._prepared.emit(delivery)
        except RuntimeError:  # the C++ side is gone: the studio is closing
            return False
        return True

    @Slot(object)
    def _on_worker_prepared(self, delivery: _Delivery) -> None:
        if self._closed or delivery.token != self._token:
            return  # stale: a newer file was asked for meanwhile
        if delivery.full is not None:
            self._complete(delivery.prepared, delivery.full)
            return
        prepared = delivery.prepared
        for crash in prepared.crashes:
            if crash:
                log.error("preparing a file for the viewport failed in the helper process:\n%s",
                          crash)
        self._set_loading("")
        *before, after = prepared.scenes
        *before_error, after_error = prepared.errors
        if after is None:
            self.load_failed.emit(after_error or "The file could not be shown.")
            self._emit_overlay()
            return
        self._full_detail, self._auto_full, self._hidden = False, set(), frozenset()
        self._scenes = {AFTER: after}
        self._job_stats = self._pending_stats
        self._note = ""
        if before and before[0] is not None:
            self._scenes[BEFORE] = before[0]
        elif before:  # the result still shows; the artist learns why there is no "before"
            self._note = f"No before view: {before_error[0]}"
        self._side = AFTER if BEFORE in self._scenes else ""
        self.comparison_changed.emit(self._side)
        if not after.full_pending:
            self.scene_loaded.emit(after)
        self.scene_changed.emit(after, False)
        self._emit_overlay()

    def _complete(self, prepared: Prepared, full: tuple[tuple[PartData, ...] | None, ...]
                  ) -> None:
        """Swap each first-level scene still held for its complete self."""
        swapped = []
        for side, first, parts in zip((BEFORE, AFTER)[-len(full):], prepared.scenes, full,
                                      strict=True):
            if parts is None or first is None or self._scenes.get(side) is not first:
                continue
            scene = self._scenes[side] = completed(first, parts)
            swapped.append(side)
            if id(first) in self._auto_full:
                self._auto_full.add(id(scene))
        if swapped:
            self.scene_completed.emit(self.scene)
            self._emit_overlay()
        if AFTER in swapped:
            self.scene_loaded.emit(self._scenes[AFTER])
