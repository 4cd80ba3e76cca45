"""Geometry adapters against the libraries they wrap, on meshes of 10k, 100k and 1M faces.

For each adapter and size, on the same mesh file (definitions in docs/benchmarks.md):
``library_s`` the library (or the adapter's core algorithm function) called directly on
arrays already in memory, reading and preparation done before the clock starts; ``run_s`` the
adapter's ``run()`` in this process through a real ``RunContext``, as a worker calls it;
**overhead = (run - library) / library**, from CPU time (``overhead``) and wall time
(``overhead_wall``); ``read_s`` the input's ``load_mesh`` alone; ``result_s`` the engine's
``build_outputs`` (GLB, read-back, thumbnail); ``engine_s`` whole jobs through a real
``Engine`` (staging, queue, worker, run, GLB, thumbnail), the first of which may start the
worker cold (``engine_first_s``, ``timings.load_s``).

    .venv/bin/python benchmarks/adapters.py [--sizes 10000 100000 1000000]
        [--adapters xatlas decimate ...] [--skip xatlas:1000000 ...] [--repeat 3]
        [--large-repeat 1] [--no-engine] [--profile] [--cache DIR]

Prints one line per case, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# OpenBLAS threads busy-wait after each call, and that spin lands as CPU time on whichever
# call comes next (up to 40% of a 0.5 s segmentation here); one thread made no call slower.
# Set before numpy loads; worker processes of the engine jobs inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.registry import SPECS, default_registry
from benchmarks._memory import peak_mb, reset_peak
from engine.contract.protocol import RunContext
from engine.contract.spec import AdapterSpec
from engine.meshio.reader import load_mesh, load_parts
from engine.workers.results import build_outputs

Call = Callable[[], Any]


# ----------------------------------------------------------------------------- test meshes


def creature(faces: int) -> Any:
    """A smooth four-legged animal (body, neck, head, legs, tail fused by a boolean union),
    Y up, subdivided and then decimated to ``faces`` triangles: one closed mesh that every
    geometry adapter accepts (the rig finds legs, segmentation finds parts)."""
    import fast_simplification
    import manifold3d as m3
    import trimesh

    M = m3.Manifold
    parts = [M.sphere(1.0, 64).scale((1.6, 0.8, 0.7)),
             M.sphere(0.45, 48).translate((1.9, 0.0, 0.6)),
             M.cylinder(1.0, 0.25, 0.25, 32).rotate((0, 60, 0)).translate((1.2, 0, 0.2)),
             M.cylinder(1.2, 0.1, 0.03, 24).rotate((0, -110, 0)).translate((-1.4, 0, 0.2))]
    parts += [M.cylinder(1.3, 0.18, 0.14, 32).translate((x, y, -1.6))
              for x in (-0.9, 0.9) for y in (-0.45, 0.45)]
    shape = M.batch_boolean(parts, m3.OpType.Add)
    k = max(1, math.ceil(math.sqrt(faces * 1.3 / shape.num_tri())))
    mesh = (shape.smooth_out(60, 0.0).refine(k) if k > 1 else shape).to_mesh()
    v = np.asarray(mesh.vert_properties[:, :3], dtype=np.float64)
    f = np.array(mesh.tri_verts, dtype=np.int32)  # a writable copy: the binding wants one
    if len(f) > faces:
        v, f = fast_simplification.simplify(v, f, target_count=faces)
    v = v[:, [0, 2, 1]] * (1, 1, -1)  # Z up -> Y up (a rotation, so winding stays outward)
    return trimesh.Trimesh(v, f, process=False)


def parts_glb(mesh: Any, path: Path) -> Path:
    """The creature cut into legs / body / head by position, one node per part, with open
    cuts: what a segmentation job hands to part completion."""
    import trimesh

    centre = mesh.triangles_center
    label = np.where(centre[:, 1] < -0.75, 0, np.where(centre[:, 0] > 1.3, 2, 1))
    label = np.where(label == 0, np.where(centre[:, 0] < 0, 0, 3), label)  # front / back legs
    scene = trimesh.Scene()
    for i in np.unique(label):
        part = mesh.submesh([np.flatnonzero(label == i)], append=True)
        scene.add_geometry(part, node_name=f"part_{i:02d}", geom_name=f"part_{i:02d}")
    scene.export(path)
    return path


def inputs_for(faces: int, cache: Path) -> tuple[Path, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    mesh_path, parts_path = cache / f"creature_{faces}.ply", cache / f"creature_{faces}_parts.glb"
    if not mesh_path.exists() or not parts_path.exists():
        mesh = creature(faces)
        mesh.export(mesh_path)
        parts_glb(mesh, parts_path)
    return mesh_path, parts_path


# ----------------------------------------------------------------------------- direct calls
# Each takes the input file and the adapter's parsed params, does its reading and preparing
# untimed, and returns the call to time. They mirror what the adapter calls at its core.


def lib_xatlas(path: Path, p: Any) -> Call:
    import xatlas

    mesh = load_mesh(path)
    v = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
    f = np.ascontiguousarray(mesh.faces, dtype=np.uint32)

    def call() -> Any:
        atlas = xatlas.Atlas()
        atlas.add_mesh(v, f)
        charts, pack = xatlas.ChartOptions(), xatlas.PackOptions()
        charts.max_chart_area = p.max_chart_area
        pack.resolution, pack.padding = p.resolution, p.padding
        atlas.generate(charts, pack)
        return atlas.get_mesh(0)

    return call


def lib_decimate(path: Path, p: Any) -> Call:
    import pymeshlab

    mesh = load_mesh(path)
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32)

    def call() -> Any:  # the texture-aware collapse the adapter runs on an untextured mesh
        meshset = pymeshlab.MeshSet()
        meshset.add_mesh(pymeshlab.Mesh(vertex_matrix=v, face_matrix=f,
                                        v_tex_coords_matrix=np.zeros((len(v), 2))))
        meshset.compute_texcoord_transfer_vertex_to_wedge()
        meshset.meshing_remove_duplicate_vertices()
        meshset.meshing_decimation_quadric_edge_collapse_with_texture(
            targetfacenum=p.target_faces, preserveboundary=p.preserve_border)
        return meshset.current_mesh().face_matrix()

    return call


def lib_instant_meshes(path: Path, p: Any) -> Call:
    import pynanoinstantmeshes

    from adapters.instant_meshes import native_stdout

    mesh = load_mesh(path)
    v = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
    f = np.ascontiguousarray(mesh.faces, dtype=np.uint32)

    def call() -> Any:
        with native_stdout(lambda line: None):  # its stage lines would flood this output
            return pynanoinstantmeshes.remesh(
                v, f, -1, face_count=max(1, round(p.target_faces / 4)),
                creaseAngle=p.crease_angle if p.crease_angle > 0 else -1.0,
                align_to_boundaries=p.keep_boundaries, smooth_iter=p.smoothing_iterations,
                deterministic=p.deterministic)

    return call


def lib_spectral(path: Path, p: Any) -> Call:
    from adapters import segmentation

    mesh = load_mesh(path)
    return lambda: segmentation.segment_mesh(mesh, p.num_parts, p.refine_boundaries)


def lib_fill_parts(path: Path, p: Any) -> Call:
    from adapters._shared.hole_filling import close_surface
    from adapters._shared.repair import weld
    from adapters.volumetric_parts._soup import frame

    parts = [mesh for _, mesh in load_parts(path)]
    # the adapter's own frame: its tolerances are relative to it
    centre, size = frame([(mesh.vertices, mesh.faces) for mesh in parts])
    work = [weld((mesh.vertices - centre) / size, mesh.faces, 1e-7)[:2] for mesh in parts]
    return lambda: [close_surface(v, f, p.smooth) for v, f in work]


def lib_volumetric(path: Path, p: Any) -> Call:
    from adapters.volumetric_parts import MIN_PARTITION_RESOLUTION
    from adapters.volumetric_parts._extract import part_surface
    from adapters.volumetric_parts._partition import partition
    from adapters.volumetric_parts._snap import snap_visible
    from adapters.volumetric_parts._soup import SurfaceQueries, build_soup

    meshes = [(np.asarray(m.vertices), np.asarray(m.faces)) for _, m in load_parts(path)]

    def call() -> Any:
        soup = build_soup(meshes)
        queries = SurfaceQueries(soup.vertices, soup.faces)
        part_map = partition(soup, max(MIN_PARTITION_RESOLUTION, p.resolution))
        surfaces = [part_surface(queries, soup.labels, part_map, i, p.resolution)
                    for i in range(len(meshes))]
        return [snap_visible(s, queries) for s in surfaces if s is not None]

    return call


def lib_skeleton_rig(path: Path, p: Any) -> Call:
    from adapters._shared.voxels import voxelize
    from adapters.autorig._bones import build_joints
    from adapters.autorig._mesh import solve_mesh, weld
    from adapters.autorig._skeleton import node_tree
    from adapters.autorig._weights import heat_weights, transfer

    mesh = load_mesh(path)
    mesh.remove_unreferenced_vertices()
    v0, f0 = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)

    def call() -> Any:
        v, f, _ = weld(v0, f0)
        small_v, small_f = solve_mesh(v, f)
        grid = voxelize(v, f, small_v, small_f, p.resolution)
        joints = build_joints(node_tree(grid), p.max_bones, small_v)
        idx, w = heat_weights(small_v, small_f, joints, grid, lambda: None)
        if small_v is not v:
            idx, w = transfer(v, small_v, small_f, idx, w, len(joints.parent))
        return idx, w

    return call


@dataclass(frozen=True)
class Case:
    params: Callable[[int], dict[str, Any]]
    library: Callable[[Path, Any], Call]
    library_name: str
    parts_input: bool = False
    # The library runs its own pool of threads, whose waiting shows up as CPU time at random
    # (the same xatlas call took 14 or 26 CPU seconds in 13 wall seconds): judged on wall time.
    own_threads: bool = False


CASES: dict[str, Case] = {
    "xatlas": Case(lambda n: {}, lib_xatlas, "xatlas.Atlas.generate", own_threads=True),
    "decimate": Case(lambda n: {"target_faces": n // 10}, lib_decimate,
                     "fast_simplification.simplify"),
    "instant_meshes": Case(lambda n: {"target_faces": max(1000, n // 10)}, lib_instant_meshes,
                           "pynanoinstantmeshes.remesh", own_threads=True),
    "spectral": Case(lambda n: {"num_parts": 6}, lib_spectral, "segment_mesh"),
    "fill_parts": Case(lambda n: {}, lib_fill_parts, "close_surface (per part)",
                       parts_input=True),
    "volumetric": Case(lambda n: {}, lib_volumetric, "partition..part_surface..snap_visible",
                       parts_input=True),
    "skeleton_rig": Case(lambda n: {}, lib_skeleton_rig, "weld..heat_weights..transfer"),
}


# ----------------------------------------------------------------------------- timing


def timed(call: Call) -> tuple[tuple[float, float], Any]:
    """(wall seconds, CPU seconds of this process, all threads), and what ``call`` returned.
    Garbage left by earlier calls is collected first, so no call pays for another's."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return (time.perf_counter() - wall, time.process_time() - cpu), value


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def _min(values: list[float]) -> float | None:
    return round(min(values), 4) if values else None


def _mins(pairs: list[tuple[float, float]]) -> tuple[float | None, float | None]:
    """Fastest wall time and least CPU time of some (wall, cpu) measurements."""
    return _min([w for w, _ in pairs]), _min([c for _, c in pairs])


def _ratio(run: float, library: float) -> float:
    return round((run - library) / library, 4)


def _profile(adapter: Any, path: Path, params: Any, out: Path) -> None:
    """Where one ``run()`` spends its time, to stderr: for chasing an overhead."""
    import cProfile
    import io
    import pstats

    ctx = RunContext("bench", "cpu", out, params, lambda stage, fraction: None)
    profiler = cProfile.Profile()
    profiler.runcall(adapter.run, [path], ctx)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    print(text.getvalue(), file=sys.stderr)


WARM_UP_BELOW = 1_000_000  # faces: below this each case starts with an untimed call
# After the --repeat (or --large-repeat) minimum, a case repeats until its library calls add
# up to this many seconds, at most MAX_REPEAT times: the minimum of a few calls is at the
# mercy of the kernel's page-fault time (0.1 to 0.7 s for the same 1M-face rig call).
REPEAT_BUDGET_S = 30.0
MAX_REPEAT = 10


def bench_in_process(spec: AdapterSpec, case: Case, path: Path, faces: int, repeat: int,
                     work: Path, profile: bool = False) -> dict[str, Any]:
    params = spec.parse_params(case.params(faces))
    row: dict[str, Any] = {"params": params.model_dump(mode="json")}
    try:
        call = case.library(path, params)
    except Exception as exc:  # an adapter's internals changed: time it anyway, say so
        call = None
        row["library_error"] = f"{type(exc).__name__}: {exc}"
    adapter = spec.create()
    adapter.load("cpu")
    if faces < WARM_UP_BELOW:
        # One untimed call of each side first: lazy imports and first-touch allocations are
        # paid once per worker, not per job.
        if call is not None:
            call()
        adapter.run([path], RunContext("bench", "cpu", work / f"{spec.id}_{faces}_warm", params,
                                       lambda stage, fraction: None))
    lib, run, read = [], [], []  # (wall, cpu) per repeat
    # the process's resident memory before run() and its high-water mark during it
    rest: list[float | None] = []
    peaks: list[float | None] = []
    result: list[float] = []
    i, spent = 0, 0.0
    while i < repeat or (spent < REPEAT_BUDGET_S and i < MAX_REPEAT):
        # Interleaved, so a burst of load from other processes hits both sides alike.
        if call is not None:
            lib.append(timed(call)[0])
            spent += lib[-1][0]
        else:
            spent += REPEAT_BUDGET_S
        read.append(timed(lambda: load_mesh(path) if not case.parts_input
                          else load_parts(path))[0])
        out = work / f"{spec.id}_{faces}_{i}"
        ctx = RunContext("bench", "cpu", out, params, lambda stage, fraction: None)
        gc.collect()
        reset_peak()
        rest.append(peak_mb())
        seconds, output = timed(lambda ctx=ctx: adapter.run([path], ctx))
        peaks.append(peak_mb())
        run.append(seconds)
        result.append(timed(lambda output=output, out=out: build_outputs(output, out))[0][0])
        row["stats"] = getattr(output, "stats", {})
        i += 1
    row["repeat"] = i
    if profile:
        _profile(adapter, path, params, work / f"{spec.id}_{faces}_profile")
    adapter.unload()
    # Minimums: the estimate least disturbed by other work on a shared machine. CPU time
    # (all threads of this process) barely moves when other processes compete for the
    # cores, wall time does; both are reported, overhead from each.
    (lib_s, lib_cpu), (run_s, run_cpu), (read_s, read_cpu) = map(_mins, (lib, run, read))
    row.update(library_s=lib_s, run_s=run_s, library_cpu_s=lib_cpu, run_cpu_s=run_cpu,
               read_s=read_s, read_cpu_s=read_cpu, result_s=_min(result),
               library_median_s=median([w for w, _ in lib]),
               run_median_s=median([w for w, _ in run]),
               run_peak_mb=max((m for m in peaks if m is not None), default=None),
               rest_mb=min((m for m in rest if m is not None), default=None))
    if lib_s:
        row["overhead_wall"] = _ratio(run_s, lib_s)
        row["overhead_cpu"] = _ratio(run_cpu, lib_cpu)
        row["overhead_basis"] = "wall" if case.own_threads else "cpu"
        row["overhead"] = row[f"overhead_{row['overhead_basis']}"]
        # what is left once the file read (which a direct library user pays too) is out
        row["overhead_excluding_read"] = _ratio(run_cpu - read_cpu, lib_cpu)
    return row


def bench_engine(engine: Any, spec: AdapterSpec, case: Case, path: Path, faces: int,
                 repeat: int) -> dict[str, Any]:
    """Whole jobs, submit to result. The first job of an adapter also starts its worker
    (spawn + load, in ``load_s``); ``engine_s`` is the fastest of ``repeat`` jobs."""
    walls, first = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        job = engine.submit(spec.feature, [engine.stage(path)], adapter=spec.id,
                            params=case.params(faces))
        result = engine.wait(job, spec.timeout_s + 120)
        walls.append(time.perf_counter() - started)
        if first is None:
            first = {"engine_first_s": round(walls[0], 4), "status": result.status,
                     "timings": result.timings.model_dump(),
                     "error": result.error.message if result.error else None}
        if result.status != "succeeded":
            break
    return {"engine_s": _min(walls), **(first or {})}


def main(argv: list[str] | None = None) -> int:
    known = [a for a in CASES if any(s.id == a for s in SPECS)]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--adapters", nargs="+", default=known, choices=sorted(CASES))
    parser.add_argument("--skip", nargs="*", default=[], metavar="ADAPTER:FACES",
                        help="cases not to run, e.g. xatlas:1000000 (slow on two cores)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="least timed runs per case under 1M faces (more until the "
                             "library calls add up to 30 s, at most 10; minimum and median kept)")
    parser.add_argument("--large-repeat", type=int, default=1,
                        help="least timed runs per case of 1M faces or more (same rule)")
    parser.add_argument("--no-engine", action="store_true", help="skip the end-to-end jobs")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one run() per case to stderr")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "meshsmith-bench-meshes")
    args = parser.parse_args(argv)
    skipped = set(args.skip)
    specs = {s.id: s for s in SPECS if s.id in args.adapters}
    missing = [a for a in args.adapters if a not in specs]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="meshsmith-bench-") as tmp:
        engine = None
        if not args.no_engine:
            os.environ["MESHSMITH_HOME"] = str(Path(tmp) / "home")
            from engine.runtime.engine import Engine
            from engine.storage.paths import DataDir

            engine = Engine(DataDir(Path(tmp) / "home").ensure(),
                            registry=default_registry()).start()
        try:
            for faces in args.sizes:
                mesh_path, parts_path = inputs_for(faces, args.cache)
                for adapter_id, spec in specs.items():
                    if f"{adapter_id}:{faces}" in skipped:
                        print(f"{adapter_id:15s} {faces:>8d} faces: skipped", flush=True)
                        continue
                    case = CASES[adapter_id]
                    path = parts_path if case.parts_input else mesh_path
                    repeat = args.large_repeat if faces >= 1_000_000 else args.repeat
                    row = {"adapter": adapter_id, "faces": faces,
                           "library": case.library_name,
                           **bench_in_process(spec, case, path, faces, repeat, Path(tmp),
                                             args.profile)}
                    if engine is not None:
                        row.update(bench_engine(engine, spec, case, path, faces, repeat))
                    rows.append(row)
                    print(_line(row), flush=True)
        finally:
            if engine is not None:
                engine.shutdown()
    print(json.dumps({
        "benchmark": "adapters", "sizes": args.sizes, "adapters": list(specs),
        "not_in_registry": missing, "skipped": sorted(skipped),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "results": rows,
    }))
    return 0


def _line(row: dict[str, Any]) -> str:
    def s(key: str) -> str:
        value = row.get(key)
        return f"{value:7.2f}s" if isinstance(value, float) else "      -"

    def pct(key: str) -> str:
        value = row.get(key)
        return f"{value:+7.1%}" if isinstance(value, float) else "      -"

    return (f"{row['adapter']:15s} {row['faces']:>8d} faces: library {s('library_s')} "
            f"(cpu {s('library_cpu_s')})  run {s('run_s')} (cpu {s('run_cpu_s')})  "
            f"overhead cpu {pct('overhead_cpu')} wall {pct('overhead_wall')} "
            f"(judged on {row.get('overhead_basis', '-')})  read {s('read_s')}  "
            f"result {s('result_s')}  engine {s('engine_s')}  peak {row.get('run_peak_mb')} MiB "
            f"(at rest {row.get('rest_mb')})"
            + (f"  (no direct call: {row['library_error']})" if "library_error" in row else ""))


if __name__ == "__main__":
    raise SystemExit(main())
