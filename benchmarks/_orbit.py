"""Pieces of ``ui_latency.py``: a scripted turntable through the viewport's interactor, the
10M-face test surface, and the memory of the studio with its helper processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import psutil

ORBIT_FRAMES = 120


def orbit(app: object, view: object, frames: int = ORBIT_FRAMES) -> dict[str, object]:
    """Drag the camera round the scene as a mouse would (left button down, ``frames`` moves
    across 60% of the view, ~120° of turntable, button up), through the VTK interactor the
    studio's mouse events drive. Frame time: a move, to that frame on screen
    (``frameSwapped``); ``paint_p50_ms``: VTK's part of it (the canvas's ``paintGL``). ``refine_s``: button up to the first frame after the view model
    went back to the still level (None where the level-of-detail switch is off)."""
    canvas, vm = view.plotter, view.view_model
    iren = canvas.iren.interactor
    swapped: list[float] = []

    def on_swapped() -> None:
        swapped.append(time.perf_counter())

    painted: list[float] = []  # VTK's own share of each frame (paintGL), the rest is Qt's
    canvas.frameSwapped.connect(on_swapped)
    canvas.painted.connect(painted.append)
    width, height = canvas.width(), canvas.height()
    x0, y = int(0.2 * width), height // 2
    step = 0.6 * width / frames
    iren.SetEventInformation(x0, y, 0, 0)
    iren.LeftButtonPressEvent()
    times, drawn, scales = [], set(), set()
    for i in range(1, frames + 1):
        swapped.clear()
        started = time.perf_counter()
        iren.SetEventInformation(int(x0 + i * step), y, 0, 0)
        iren.MouseMoveEvent()
        _spin_until(app, lambda: bool(swapped))
        times.append((swapped[0] if swapped else time.perf_counter()) - started)
        drawn.add(sum(len(p.faces) for p in view._parts))
        scales.add(canvas.frame_scale)
    stopped: list[float] = []

    def on_detail() -> None:
        if not vm.camera_moving:
            stopped.append(time.perf_counter())

    vm.detail_changed.connect(on_detail)
    released = time.perf_counter()
    iren.LeftButtonReleaseEvent()
    refine = None
    if view.camera_motion.enabled and vm.camera_moving:
        _spin_until(app, lambda: bool(stopped) and swapped[-1] > stopped[0], limit_s=60)
        refine = swapped[-1] - released if stopped and swapped[-1] > stopped[0] else None
    vm.detail_changed.disconnect(on_detail)
    canvas.frameSwapped.disconnect(on_swapped)
    canvas.painted.disconnect(painted.append)
    ms = np.array(times) * 1000
    paint_ms = np.array(painted[:frames] or [np.nan]) * 1000
    return {"frames": frames, "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1), "faces_drawn": sorted(drawn),
            "render_scale": sorted(scales),
            "paint_p50_ms": round(float(np.percentile(paint_ms, 50)), 1),
            "refine_s": round(refine, 2) if refine is not None else None}


def orbit_both(app: object, view: object, frames: int = ORBIT_FRAMES,
               full_frames: int | None = None,
               motion_scale: float | None = None) -> dict[str, object]:
    """The turntable at the default detail (the studio as it opens a file: the still level
    its renderer affords, the lighter level and, on a software renderer, half the resolution
    while moving; ``motion_scale`` overrides the latter), then at full detail: every face and
    every pixel in every frame (**D**, and the level-of-detail switch off)."""
    vm, canvas = view.view_model, view.plotter
    if motion_scale is not None:
        vm.set_motion_render_scale(motion_scale)
    vm.set_full_detail(False)
    _wait_frame(app, canvas)
    default = orbit(app, view, frames)
    view.camera_motion.enabled = False
    vm.set_full_detail(True)
    _wait_frame(app, canvas)
    full = orbit(app, view, frames if full_frames is None else full_frames)
    view.camera_motion.enabled = True
    vm.set_full_detail(False)
    return {"default": default, "full": full}


def _wait_frame(app: object, canvas: object) -> None:
    swapped: list[bool] = []
    canvas.frameSwapped.connect(lambda: swapped.append(True))
    canvas.update()
    _spin_until(app, lambda: bool(swapped))
    _spin_until(app, lambda: False, limit_s=0.3)  # let a follow-up frame (a measure) pass


def _spin_until(app: object, done: object, limit_s: float = 600) -> None:
    end = time.perf_counter() + limit_s
    while not done() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)


def make_scan_glb(path: Path, faces: int) -> int:
    """A scan-like tiled surface (a height field with bumps at several scales) of about
    ``faces`` triangles, written with numpy straight into a GLB (trimesh's exporter would
    hold several copies of ten million faces)."""
    side = int(np.sqrt(faces / 2)) + 1
    u = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    x, z = np.meshgrid(u, u)
    y = (0.08 * np.sin(6 * x) * np.cos(5 * z) + 0.02 * np.sin(37 * x + 11 * z)
         + 0.006 * np.cos(123 * z - 71 * x)).astype(np.float32)
    vertices = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
    i, j = np.meshgrid(np.arange(side - 1, dtype=np.uint32), np.arange(side - 1, dtype=np.uint32),
                       indexing="ij")
    a = (i * side + j).ravel()
    tris = np.empty((2 * len(a), 3), dtype=np.uint32)
    tris[0::2] = np.column_stack([a, a + side, a + 1])
    tris[1::2] = np.column_stack([a + 1, a + side, a + side + 1])
    _write_glb(path, vertices, tris)
    return len(tris)


def _write_glb(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    import json
    import struct

    index_bytes, vertex_bytes = faces.nbytes, vertices.nbytes
    doc = {
        "asset": {"version": "2.0", "generator": "meshsmith benchmarks"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "scan"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 1}, "indices": 0}]}],
        "buffers": [{"byteLength": index_bytes + vertex_bytes}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": index_bytes, "target": 34963},
            {"buffer": 0, "byteOffset": index_bytes, "byteLength": vertex_bytes,
             "target": 34962}],
        "accessors": [
            {"bufferView": 0, "componentType": 5125, "count": faces.size, "type": "SCALAR"},
            {"bufferView": 1, "componentType": 5126, "count": len(vertices), "type": "VEC3",
             "min": vertices.min(axis=0).tolist(), "max": vertices.max(axis=0).tolist()}],
    }
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    binary = index_bytes + vertex_bytes
    with open(path, "wb") as out:
        out.write(struct.pack("<III", 0x46546C67, 2, 12 + 8 + len(text) + 8 + binary))
        out.write(struct.pack("<II", len(text), 0x4E4F534A) + text)
        out.write(struct.pack("<II", binary, 0x004E4942))
        out.write(faces.tobytes())
        out.write(vertices.tobytes())


class MemoryWatch:
    """Resident memory of this process and all its descendants (the viewport and thumbnail
    helpers, the engine's workers): the highest sum seen, sampled every 50 ms on a thread
    (reading /proc takes well under a millisecond), and the sum of each process's own
    high-water mark (VmHWM) at the end, an upper bound that a sample cannot miss."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self.peak_sum_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _processes(self) -> list[psutil.Process]:
        return [self._me, *self._me.children(recursive=True)]

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            total = 0
            for proc in self._processes():
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_sum_mb = max(self.peak_sum_mb, total / 2**20)

    def high_water_sum_mb(self) -> float:
        total = 0
        for proc in self._processes():
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                total += int(next(line for line in status.splitlines()
                                  if line.startswith("VmHWM:")).split()[1])
            except (OSError, StopIteration, psutil.Error):
                pass
        return round(total / 1024.0, 1)
