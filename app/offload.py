"""Helper processes for the studio's heavy file work: parsing, normals, previews, thumbnails.

A worker *thread* is not enough. Threads share the GIL, and trimesh parsing, numpy fancy
indexing and the thumbnail rasterizer hold it for tens to hundreds of milliseconds at a time;
the GUI thread needs it for every event, so while a million-face file loads on a thread the
window stutters (35-200 ms late every few frames on two cores). A process has its own GIL.

Each ``HelperProcess`` is one spawned worker, started early and kept warm for the session,
that answers in plain picklable values (numpy arrays, dataclasses, sentences). It keeps the
studio's CPU priority: lowered (nice 10), it made no measurable difference to the GUI's
stalls, but on a machine busy with other work a preview took 14 s instead of 6. No Qt here:
the worker imports this module and what its task needs, never a widget or a GL context.
A worker that dies (a crash in a parser, the kernel's OOM killer) fails the task it was
running; the next task gets a fresh worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from engine.workers.lifeline import spawning_shielded

log = logging.getLogger(__name__)


def _start_helper(modules: tuple[str, ...], parent_pid: int) -> None:
    """Runs in the worker as it starts: die with the studio (even a kill -9 of it, which
    would leave this helper, and the resource tracker it keeps open, running for ever),
    then import what its tasks need before the first task."""
    import importlib

    from engine.workers.lifeline import die_with_parent

    die_with_parent(parent_pid)
    for name in modules:
        importlib.import_module(name)


def _ready() -> None:
    """A no-op task: submitting it makes the executor spawn its worker now."""


class HelperProcess:
    """One warm worker process; ``submit`` returns a ``concurrent.futures.Future``."""

    def __init__(self, name: str, warm_modules: tuple[str, ...] = ()) -> None:
        self.name = name
        self._warm_modules = warm_modules
        self._lock = threading.Lock()  # submit may come from the GUI thread or a stager thread
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Spawn the worker now (imports take a second or two) rather than on first use."""
        with self._lock:
            self._ensure()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in the worker; ``fn`` must be a module-level function."""
        with self._lock:
            try:
                return self._ensure().submit(fn, *args)
            except BrokenProcessPool:  # the worker died since the last task: start another
                log.warning("the %s helper process had died; starting a new one", self.name)
                self._executor = None
                return self._ensure().submit(fn, *args)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _ensure(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: the studio has Qt, VTK and engine threads that must not be
            # copied mid-flight into a child
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_helper, initargs=(self._warm_modules, os.getpid()))
            with spawning_shielded():  # the helper starts here
                self._executor.submit(_ready)
        return self._executor


THUMBNAIL_FACES = 200_000  # a 256-pixel picture shows no more; 1.3M faces took 2-3 s of CPU


def render_mesh_thumbnail(mesh_path: str, out_path: str) -> str:
    """A staging helper task: read a staged mesh, with its materials and textures, and draw
    its thumbnail to ``out_path``."""
    # imported here, in the helper, so the viewport's helper never loads the rasterizer
    import trimesh

    from app.scene_glbview import read_plain_glb
    from engine.meshio.scene import read_scene
    from engine.meshio.thumbnail import render_thumbnail

    plain = read_plain_glb(mesh_path)
    if plain is not None and len(plain.faces) > THUMBNAIL_FACES:
        # a heavy plain GLB (a scan): clustered straight from the mapped file, never read
        # whole by trimesh (ten million faces: seconds and gigabytes of copies)
        return str(render_thumbnail(_clustered(plain.node, plain.vertices, plain.faces),
                                    Path(out_path)))
    scene = read_scene(mesh_path).scene
    meshes = [g for g in scene.geometry.values() if isinstance(g, trimesh.Trimesh)]
    materials = any(isinstance(g.visual, trimesh.visual.TextureVisuals) for g in meshes)
    light = sum(len(g.faces) for g in meshes) <= THUMBNAIL_FACES
    geometry = scene if materials or light else _thumbnail_mesh(scene.to_mesh())
    return str(render_thumbnail(geometry, Path(out_path)))


def _thumbnail_mesh(mesh: Any) -> Any:
    """A heavy mesh clustered down first, as the viewport's preview is: the rasterizer's time
    grows with the faces, the picture does not. Kept whole when its colours sit on faces or
    in a texture, which clustering would lose."""
    import numpy as np

    from app.scene_data import vertex_normals

    kind = getattr(mesh.visual, "kind", None)
    if len(mesh.faces) <= THUMBNAIL_FACES or kind not in (None, "vertex"):
        return mesh
    colors = np.asarray(mesh.visual.vertex_colors, dtype=np.uint8) if kind == "vertex" else None
    return _clustered("thumbnail", np.asarray(mesh.vertices, dtype=np.float32),
                      np.asarray(mesh.faces, dtype=np.int64), vertex_normals(mesh), colors)


def _clustered(name: str, vertices: Any, faces: Any, normals: Any = None,
               colors: Any = None) -> Any:
    """A trimesh of about half ``THUMBNAIL_FACES`` clustered from these arrays (``normals``
    None: the clustered faces' own)."""
    import trimesh

    from app.scene_data import PartData
    from app.scene_preview import cluster

    part = PartData(name, vertices, faces, None if normals is None else
                    normals.astype("float32"), vertex_colors=colors)
    light = cluster(part, None, THUMBNAIL_FACES // 2)
    return trimesh.Trimesh(light.vertices, light.faces, vertex_colors=light.vertex_colors,
                           process=False)


# The viewport and the stager each get their own worker, so opening a file prepares it for
# display while the same file is staged and thumbnailed, not after.
VIEWPORT = HelperProcess("viewport", ("app.scene_stages",))
STAGING = HelperProcess("staging", ("engine.meshio.reader", "engine.meshio.thumbnail", "app.scene_data"))
