"""GUI responsiveness while the studio works: four jobs stream progress and a 1M-face GLB opens.

A timer-jitter probe (a 5 ms QTimer) measures how late the GUI event loop runs; the time to
the first drawn frame of the GLB is measured in the studio's viewport and, on the same file in
the same run, in the f3d viewer (PyPI ``f3d``, its own process). Where the viewport's renderer
is too slow for the whole mesh (software OpenGL), that first frame is its preview: the JSON
says which (``first_frame_drawn``), and, with nothing else running, how long the full-detail
frame takes once asked for (``full_detail_idle_s``, open to drawn; asked for once the full
level has followed the preview, ``full_level_idle_s``) and how long that one
frame holds the GUI thread (``full_detail_frame_ms``). Then, still idle, a scripted turntable
(120 mouse-drag moves through the viewport's interactor, ``benchmarks/_orbit.py``) gives the
frame times while the camera moves, at the default detail and at full detail (``orbit``).
``--scan-faces 10000000`` uses a 10M-face scan-like surface instead of the 1.3M sphere;
``--parts 256`` splits the sphere into 256 smaller ones (one glTF node each).
``peak_rss_mb``: the studio and all its helper processes together. Run under a display:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/ui_latency.py

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks._orbit import ORBIT_FRAMES, MemoryWatch, make_scan_glb, orbit_both  # noqa: E402

PROBE_MS = 5

F3D_SCRIPT = """
import sys, time
t0 = time.perf_counter()
import f3d
engine = f3d.Engine.create(True)
engine.window.size = (1280, 800)
engine.scene.add(sys.argv[1])
engine.window.render_to_image()
print(time.perf_counter() - t0)
"""


def make_glb(path: Path, subdivisions: int, parts: int = 1) -> int:
    """A bumpy sphere of ``subdivisions``; with ``parts`` > 1, that many smaller ones in a grid
    (each of the subdivisions that keeps the total about the same), one glTF node apiece."""
    import trimesh

    if parts <= 1:
        mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
        mesh.vertices += 0.03 * np.sin(8 * mesh.vertices)  # not a perfect sphere: real shading
        mesh.export(path)
        return len(mesh.faces)
    each = max(1, subdivisions - round(np.log(parts) / np.log(4)))  # faces grow 4x a level
    side = int(np.ceil(np.sqrt(parts)))
    scene = trimesh.Scene()
    for k in range(parts):
        mesh = trimesh.creation.icosphere(subdivisions=each, radius=0.45)
        mesh.vertices += 0.02 * np.sin(8 * mesh.vertices)
        mesh.apply_translation([k % side, 0.0, k // side])
        scene.add_geometry(mesh, node_name=f"part{k}", geom_name=f"part{k}")
    scene.export(path)
    return parts * len(mesh.faces)


def f3d_first_frame_s(glb: Path) -> float | None:
    proc = subprocess.run([sys.executable, "-c", F3D_SCRIPT, str(glb)], capture_output=True,
                          text=True, timeout=600)
    try:
        return float(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"f3d failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None


def run(args: argparse.Namespace, memory: MemoryWatch) -> dict:
    import trimesh
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from adapters.registry import SPECS
    from app import async_loop
    from app.bridge import EngineBridge
    from app.theme import apply_theme
    from app.views.main_window import MainWindow
    from benchmarks._bench_adapters import progress_spec
    from engine.contract.spec import Registry
    from engine.runtime.engine import Engine
    from engine.storage.paths import DataDir

    work = Path(tempfile.mkdtemp(prefix="meshsmith-ui-"))
    os.environ["MESHSMITH_HOME"] = str(work / "home")
    glb = work / "dense.glb"
    faces = (make_scan_glb(glb, args.scan_faces) if args.scan_faces
             else make_glb(glb, args.subdivisions, args.parts))
    app = QApplication.instance() or QApplication([])
    loop = async_loop.attach(app)  # the window's async slots step as this script spins Qt
    apply_theme(app)
    registry = Registry([*SPECS, *(progress_spec(f"progress_{i}", f) for i, f in enumerate(
        ("mesh_segmentation", "part_completion", "auto_rig", "text_to_raw_mesh")))])
    engine = Engine(DataDir(work / "home"), registry=registry, cpu_slots=4).start()
    window = MainWindow(EngineBridge(engine))
    window.show()
    # Staging reads the whole file: the studio does it off the GUI thread, so do it before
    # the probe starts rather than on the probed thread.
    engine.stage(str(glb))
    idle = _first_frame(app, window, glb, args)
    if args.orbit_only:  # the idle part alone: first frames and orbits, no jobs, no f3d
        _close(app, window, engine, loop)
        return {"faces": faces, "first_frame_idle_s": _round(idle["first"]),
                "full_level_idle_s": _round(idle["full_level"]),
                "full_detail_idle_s": _round(idle["full"]), "orbit": idle["orbit"],
                "load_average": os.getloadavg()}
    stalls: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def probe() -> None:
        now = clock.nsecsElapsed()
        stalls.append(max(0.0, (now - last[0]) / 1e6 - PROBE_MS))
        last[0] = now

    timer = QTimer(interval=PROBE_MS, timeout=probe)
    timer.start()
    progress_events = [0]
    window.bridge.job_progress.connect(lambda *_: progress_events.__setitem__(
        0, progress_events[0] + 1))
    small = work / "small.obj"
    trimesh.creation.box().export(small)
    small_input = engine.stage(str(small))  # the jobs' results must not reopen the big file
    jobs = [engine.submit(spec.feature, [small_input], adapter=spec.id,
                          params={"seconds": args.job_seconds})
            for spec in registry.specs if spec.id.startswith("progress_")]
    _spin(app, 1.0)  # jobs are running and streaming before the file opens
    shown: list[float | None] = [None]
    drawn = [""]

    def on_shown() -> None:  # the first frame of the GLB, not of the jobs' results after it
        scene = window.viewport_vm.scene
        if shown[0] is None and scene is not None and scene.name == glb.name:
            shown[0], drawn[0] = time.perf_counter(), _drawn(window.viewport_vm)
        elif shown[0] is None and scene is not None:
            # a job's result opened first, and the newest request wins: make the jobs last
            # longer than the file takes to load (--job-seconds)
            drawn[0] = f"superseded by {scene.name}"

    window.viewport.scene_shown.connect(on_shown)
    opened_at = time.perf_counter()
    window.open_path(str(glb))
    deadline = time.perf_counter() + 600
    while (shown[0] is None or any(not engine.get(j).state.terminal for j in jobs)) \
            and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    states = [engine.get(j).state.value for j in jobs]
    high_water_mb = memory.high_water_sum_mb()
    _close(app, window, engine, loop)
    probe_ms = np.array(stalls[20:]) if len(stalls) > 40 else np.array(stalls)
    return {
        "faces": faces,
        "jobs": states,
        "progress_events": progress_events[0],
        "probe_samples": len(probe_ms),
        "stall_p99_ms": round(float(np.percentile(probe_ms, 99)), 1),
        "stall_max_ms": round(float(probe_ms.max()), 1),
        "first_frame_s": round(shown[0] - opened_at, 2) if shown[0] else None,
        "first_frame_drawn": drawn[0],
        "first_frame_idle_s": _round(idle["first"]),
        "full_level_idle_s": _round(idle["full_level"]),
        "full_detail_idle_s": _round(idle["full"]),
        "full_detail_frame_ms": _round(idle["full_frame_ms"]),
        "f3d_first_frame_s": _round(f3d_first_frame_s(glb)),
        "orbit": idle["orbit"],
        "peak_rss_mb": round(memory.peak_sum_mb, 1),
        "peak_rss_high_water_sum_mb": high_water_mb,
    }


def _close(app: object, window: object, engine: object, loop: object) -> None:
    from app import async_loop

    window.release()
    window.close()
    window.deleteLater()
    app.processEvents()  # tear the VTK widget down while Qt still exists
    engine.shutdown()
    async_loop.detach(loop, app)  # joins its executor's QThreads before Qt goes


def _drawn(vm: object) -> str:
    scene = vm.scene
    return f"preview {scene.preview_faces}" if vm.shows_preview else f"full {scene.faces}"


def _first_frame(app: object, window: object, glb: Path, args: argparse.Namespace) -> dict:
    """Open the file with nothing else running, for a like-for-like comparison with f3d: the
    first frame, then (where that was the preview) the full mesh, asked for at once; then the
    turntable at default and full detail."""
    shown: list[float] = []
    frames: list[tuple[float, float]] = []  # (when it ended, seconds on the GUI thread)
    loaded: list[float] = []  # the full level in place (a heavy file's comes after its preview)

    def on_shown() -> None:
        shown.append(time.perf_counter())

    def on_loaded(_scene: object) -> None:
        loaded.append(time.perf_counter())

    def on_painted(seconds: float) -> None:
        frames.append((time.perf_counter(), seconds))

    window.viewport.scene_shown.connect(on_shown)
    window.viewport.plotter.painted.connect(on_painted)
    window.viewport_vm.scene_loaded.connect(on_loaded)
    started = time.perf_counter()
    window.viewport_vm.open_file(str(glb))
    _spin_until(app, lambda: bool(shown))
    figures: dict[str, float | None] = {"first": shown[0] - started if shown else None,
                                        "full": None, "full_frame_ms": None}
    _spin_until(app, lambda: bool(loaded))  # full detail asked for once it is here to draw
    figures["full_level"] = loaded[0] - started if loaded else None
    if shown and window.viewport_vm.shows_preview:
        frames.clear()
        window.viewport_vm.set_full_detail(True)
        _spin_until(app, lambda: bool(frames))
        if frames:
            figures["full"] = frames[0][0] - started
            figures["full_frame_ms"] = frames[0][1] * 1000
    elif shown:
        figures["full"] = figures["first"]
    window.viewport.scene_shown.disconnect(on_shown)
    window.viewport.plotter.painted.disconnect(on_painted)
    window.viewport_vm.scene_loaded.disconnect(on_loaded)
    figures["orbit"] = (orbit_both(app, window.viewport, args.orbit_frames,
                                   args.full_orbit_frames, args.motion_scale)
                        if shown and args.orbit_frames else None)
    window.viewport_vm.clear()
    return figures


def _spin_until(app: object, done: object, limit_s: float = 600) -> None:
    end = time.perf_counter() + limit_s
    while not done() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def _spin(app: object, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subdivisions", type=int, default=8, help="8 gives 1.3M faces")
    parser.add_argument("--parts", type=int, default=1,
                        help="split the sphere into this many (64: 20k faces each, 256: 5k)")
    parser.add_argument("--scan-faces", type=int, default=0,
                        help="a scan-like surface of about this many faces instead")
    parser.add_argument("--job-seconds", type=float, default=20.0)
    parser.add_argument("--orbit-frames", type=int, default=ORBIT_FRAMES, help="0: no orbit")
    parser.add_argument("--full-orbit-frames", type=int, default=None,
                        help="frames of the full-detail turntable (default: --orbit-frames)")
    parser.add_argument("--motion-scale", type=float, default=None,
                        help="render scale while the camera moves (default: the studio's; "
                             "1: every pixel, as before issue 18's resolution change)")
    parser.add_argument("--orbit-only", action="store_true",
                        help="stop after the idle first frames and orbits (no jobs, no f3d)")
    args = parser.parse_args()
    with MemoryWatch() as memory:
        figures = run(args, memory)
    if args.orbit_only:
        print(f"{figures['faces']:,} faces; orbit {figures['orbit']}")
        print(json.dumps(figures))
        return
    print(f"{figures['faces']:,} faces; GUI stalls p99 {figures['stall_p99_ms']} ms, "
          f"max {figures['stall_max_ms']} ms; first frame {figures['first_frame_s']} s "
          f"under load ({figures['first_frame_drawn']} faces drawn), "
          f"{figures['first_frame_idle_s']} s idle, full detail "
          f"{figures['full_detail_idle_s']} s idle ({figures['full_detail_frame_ms']} ms frame; "
          f"f3d {figures['f3d_first_frame_s']} s); jobs {figures['jobs']}; peak RSS "
          f"{figures['peak_rss_mb']} MB; orbit {figures['orbit']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
