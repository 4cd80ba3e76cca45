"""mesh_retopology with Instant Meshes (pynanoinstantmeshes): clean, field-aligned quads.

The binding always extracts a pure quad mesh: it builds a quad-dominant layout at about a
quarter of the requested face count and splits every face of it into quads, reprojecting the
new vertices onto the input surface. So ``target_faces`` is asked for as ``target / 4`` and,
when the result misses by more than a few percent (thin parts thinner than one quad vanish,
so the first guess is short), run again with the count corrected by what came out.

The GLB is triangulated as glTF requires (each quad split along its shorter diagonal, the
halves paired as ``engine.meshio.quads`` describes, so the studio draws quads); the real
quads also leave as an OBJ listed in ``outputs``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterError, AdapterOutput, ExtraOutput, RunContext
from engine.meshio.quads import QUAD_PAIRS, paired_triangles

OBJ_NAME = "quads.obj"
_TOLERANCE = 0.08  # rerun when the face count misses the target by more than this fraction
_MAX_RUNS = 5  # each rerun costs a whole remesh; the misses are largest on small targets
_OBJ_ROWS = 200_000  # rows formatted per chunk: bounds the OBJ writer's temporary strings

# Instant Meshes' own stage lines (C++ stdout) -> fraction of one remesh run.
_STAGES = (
    ("Building multiresolution hierarchy", "building the hierarchy", 0.10),
    ("Optimizing orientation field", "optimizing the orientation field", 0.25),
    ("Optimizing position field", "optimizing the position field", 0.45),
    ("Step 1:", "extracting the quad layout", 0.80),
    ("Step 9:", "splitting into pure quads", 0.90),
    ("Step 10:", "smoothing onto the surface", 0.95),
)


class InstantMeshesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_faces: int = Field(
        5000, ge=16, le=2_000_000,
        description="How many faces the result should have, counting each quad as one face "
                    "(the GLB splits every quad into two triangles, so it holds about twice "
                    "as many triangles; the OBJ keeps the quads). Parts thinner than about "
                    "one quad are dropped: raise it for fine detail.")
    crease_angle: float = Field(
        0.0, ge=0.0, le=180.0,
        description="Edges where the surface turns by more than this many degrees stay "
                    "sharp and the quads line up along them; 0 turns crease detection off.")
    keep_boundaries: bool = Field(
        False, description="Line the quads up along open borders so the outline keeps "
                           "its shape.")
    smoothing_iterations: int = Field(
        2, ge=0, le=10,
        description="Smoothing passes that pull the new vertices back onto the input "
                    "surface after extraction.")
    deterministic: bool = Field(
        True, description="The same input and settings always give exactly the same mesh "
                          "(the binding has no random seed; off can be a little faster).")
    texture_size: int = Field(
        1024, ge=128, le=8192,
        description="Atlas size the input's base colour (and normal map) is baked into; the "
                    "new mesh gets a fresh UV atlas. Untextured input gets none.")


class InstantMeshesAdapter:
    def load(self, device: str) -> None:
        import pynanoinstantmeshes
        import xatlas

        self._remesh = pynanoinstantmeshes.remesh
        self._xatlas = xatlas

    def unload(self) -> None:
        self._remesh = self._xatlas = None

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from adapters._shared.bake import read_surface

        params: InstantMeshesParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.02)
        surface, warnings = read_surface(inputs[0])
        mesh = surface  # vertices and faces are all the remesh needs
        before = len(mesh.faces)
        ctx.step("preparing the surface", 0.06)
        center, size = normalization(np.asarray(mesh.vertices, dtype=np.float64))
        # Welded in unit coordinates, so its tolerance is relative to the model's size.
        unit, faces = prepare((np.asarray(mesh.vertices, dtype=np.float64) - center) / size,
                              np.asarray(mesh.faces))
        unit = np.ascontiguousarray(unit, dtype=np.float32)
        quads, tris, points, runs = self._remesh_to_target(unit, faces, params, ctx)
        ctx.step("building the quad mesh", 0.86)
        points = points.astype(np.float64) * size + center  # back to the input's scale
        obj = write_obj(ctx.out_dir / OBJ_NAME, points, quads, tris)
        result = triangulated(points, quads, tris)
        extra: dict[str, Any] = {}
        if surface.textured:
            result, extra = self._baked(surface, result, params.texture_size, ctx)
        result.metadata[QUAD_PAIRS] = len(quads)  # the baked mesh keeps the face order
        total = len(quads) + len(tris)
        return AdapterOutput(
            mesh=result, warnings=warnings,
            stats={
                "quads": len(quads), "triangles": len(tris),
                "quad_ratio": round(len(quads) / total, 4),
                "quad_mesh_faces": total, "target_faces": params.target_faces,
                "faces_before": int(before), "remesh_runs": runs, **extra,
            },
            extra_outputs=[ExtraOutput("mesh", obj, "model/obj")],
        )

    def _baked(self, surface: Any, mesh: Any, size: int,
               ctx: RunContext) -> tuple[Any, dict[str, Any]]:
        """The input's look baked onto a fresh atlas of the quad mesh's triangles (the OBJ
        keeps the bare quads: its faces would need the atlas split along every seam)."""
        from adapters._shared.bake import textured_mesh, unwrap

        ctx.step("cutting a UV atlas for the new mesh", 0.88)
        v, f, uv = unwrap(self._xatlas, np.asarray(mesh.vertices), np.asarray(mesh.faces), size)
        ctx.step("baking the texture into it", 0.92)
        return textured_mesh(surface, v, f, uv, size), {"uv_source": "baked",
                                                        "texture_size": [size, size]}

    def _remesh_to_target(
        self, unit: np.ndarray, faces: np.ndarray, params: InstantMeshesParams, ctx: RunContext
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Remesh, correcting the requested count until the output lands near the target."""
        target = params.target_faces
        request = max(1, round(target / 4))  # the pure-quad split makes ~4 faces of each
        best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        seen: dict[int, int] = {}  # request -> faces it gave
        while len(seen) < _MAX_RUNS and request not in seen:
            runs = len(seen)
            lo, hi = _run_span(runs)
            ctx.step("remeshing" if runs == 0 else f"remeshing again ({runs + 1}) to hit "
                     f"{target} faces", lo)
            points, quads_raw = self._call(unit, faces, request, params, ctx, lo, hi)
            quads, tris, points = clean_faces(points, quads_raw)
            count = seen[request] = len(quads) + len(tris)
            if best is None or abs(count - target) < abs(len(best[0]) + len(best[1]) - target):
                best = (quads, tris, points)
            if count and abs(count - target) <= _TOLERANCE * target:
                break
            request = next_request(seen, target)
        assert best is not None
        if len(best[0]) + len(best[1]) == 0:
            raise AdapterError(
                "Instant Meshes produced no faces for this mesh: its surface may be "
                "disconnected triangle soup or far too small for the target, so try a larger "
                "target_faces or the decimate adapter.")
        return (*best, len(seen))

    def _call(
        self, unit: np.ndarray, faces: np.ndarray, request: int, params: InstantMeshesParams,
        ctx: RunContext, lo: float, hi: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        def on_line(line: str) -> None:
            for marker, stage, fraction in _STAGES:
                if line.startswith(marker):
                    ctx.report(stage, lo + (hi - lo) * fraction)  # never raises: not ctx.step

        try:
            with native_stdout(on_line):
                points, quads = self._remesh(
                    unit, faces, -1, face_count=request,
                    creaseAngle=params.crease_angle if params.crease_angle > 0 else -1.0,
                    align_to_boundaries=params.keep_boundaries,
                    smooth_iter=params.smoothing_iterations,
                    deterministic=params.deterministic,
                )
        except (RuntimeError, ValueError, TypeError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
            raise AdapterError(f"Instant Meshes could not remesh this surface ({detail}).") from exc
        return np.array(points, dtype=np.float32), np.array(quads, dtype=np.int64)


def next_request(seen: dict[int, int], target: int) -> int:
    """The next face count to ask for, from what earlier requests gave.

    Counts grow with the request but not smoothly (whole rows of quads appear at once), so
    interpolate between the nearest requests that fell short and overshot once both exist;
    before that, scale the closest one by target / result (nothing at all means the quads
    were bigger than the whole surface: ask for many more)."""
    under = [r for r, c in seen.items() if c < target]
    over = [r for r, c in seen.items() if c > target]
    if under and over:
        r0, r1 = max(under), min(over)
        if r1 > r0:
            c0, c1 = seen[r0], seen[r1]
            return max(1, round(r0 + (r1 - r0) * (target - c0) / max(c1 - c0, 1)))
    request, count = min(seen.items(), key=lambda rc: abs(rc[1] - target))
    return max(1, round(request * target / count)) if count else request * 4


def _run_span(run: int) -> tuple[float, float]:
    """Progress range of remesh run ``run``: the first takes most of the bar (most jobs need
    no other), each rerun half of what is left before 0.85."""
    if run == 0:
        return 0.10, 0.78
    return 0.85 - 0.07 * 0.5 ** (run - 1), 0.85 - 0.07 * 0.5**run


def prepare(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weld split seams and drop what breaks a half-edge structure (faces repeating a corner,
    zero-area faces, vertices no face uses); faces as uint32, as the binding wants.
    ``vertices`` should be normalized: the weld merges points closer than 1e-8."""
    from adapters._shared.repair import weld

    # Weld duplicates (UV and normal seams, STL corners, float noise): open seams would make
    # Instant Meshes align the field to fake boundaries and leave cracks. The weld keeps the
    # input's vertex order, whose locality the field solver's memory access benefits from.
    vertices, faces, _ = weld(vertices, faces, 1e-8)
    a, b, c = faces.T
    distinct = (a != b) & (b != c) & (a != c)
    p = vertices[faces]
    area2 = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    keep = distinct & (area2 > 1e-14 * max(_extent(vertices), 1e-300) ** 2)
    faces = faces[keep]
    if len(faces) == 0:
        raise AdapterError("The mesh has no triangles with any area, so there is no surface "
                           "to remesh.")
    used, faces = _compact(len(vertices), faces)
    return vertices[used], faces.astype(np.uint32)


def _compact(count: int, *faces: np.ndarray) -> tuple[np.ndarray, ...]:
    """The vertices that ``faces`` use, in order, and the faces renumbered onto them
    (a mask and a running count: linear time, where np.unique would sort)."""
    used = np.zeros(count, dtype=bool)
    for f in faces:
        used[f.ravel()] = True
    index = np.cumsum(used) - 1
    return (np.flatnonzero(used), *(index[f] for f in faces))


def _extent(vertices: np.ndarray) -> float:
    return float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0


def normalization(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and size that map the mesh into a unit box: the binding works in float32 with
    absolute thresholds, so millimetre-small or kilometre-large inputs would lose precision
    or whole features; the result is mapped back with the same two numbers."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    size = float(np.max(hi - lo))
    if not np.isfinite(size) or size <= 0:
        raise AdapterError("All of the mesh's vertices are at one point, so there is no "
                           "surface to remesh.")
    return (lo + hi) / 2.0, size


def clean_faces(
    points: np.ndarray, quads: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the binding's (n, 4) faces into real quads and triangles (a quad repeating a
    corner), drop anything smaller, and keep only the vertices the faces use."""
    quads = np.asarray(quads, dtype=np.int64).reshape(-1, 4)
    if len(quads) == 0:
        return quads, np.zeros((0, 3), dtype=np.int64), points[:0]
    same_next = quads == np.roll(quads, -1, axis=1)  # corner i equals corner i+1
    repeats = same_next.sum(axis=1)
    diagonal = (quads[:, 0] == quads[:, 2]) | (quads[:, 1] == quads[:, 3])
    real = (repeats == 0) & ~diagonal
    as_tri = (repeats == 1) & ~diagonal
    tri_rows = quads[as_tri]
    keep = ~same_next[as_tri]  # drop the repeated corner, keep the order (winding)
    tris = tri_rows[keep].reshape(-1, 3)
    quads = quads[real]
    used, quads, tris = _compact(len(points), quads, tris)
    return quads, tris, points[used]


def triangulated(points: np.ndarray, quads: np.ndarray, tris: np.ndarray) -> Any:
    """A triangle mesh for the GLB: each quad split along its shorter diagonal, winding
    kept, so it shades like the quad mesh; the halves come first, in the pairs that
    ``engine.meshio.quads`` names in the mesh's extras, so viewers can draw the quads."""
    import trimesh

    faces = np.concatenate([paired_triangles(points, quads), tris]).astype(np.int64)
    return trimesh.Trimesh(vertices=points, faces=faces, process=False)


def write_obj(path: Path, points: np.ndarray, quads: np.ndarray, tris: np.ndarray) -> Path:
    """The quad mesh as Wavefront OBJ (what Blender, Maya and ZBrush read quads from),
    written next to the GLB and renamed into place, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "w", encoding="ascii") as out:
            out.write("# Meshsmith quad retopology (Instant Meshes)\n")
            _rows(out, "v %.9g %.9g %.9g\n", points)
            _rows(out, "f %d %d %d %d\n", quads + 1)  # OBJ counts vertices from 1
            _rows(out, "f %d %d %d\n", tris + 1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _rows(out: Any, fmt: str, rows: np.ndarray) -> None:
    # One %-format over a chunk of rows is ~10x faster than np.savetxt's per-row loop.
    for start in range(0, len(rows), _OBJ_ROWS):
        chunk = rows[start:start + _OBJ_ROWS]
        out.write((fmt * len(chunk)) % tuple(chunk.ravel().tolist()))


@contextmanager
def native_stdout(on_line: Callable[[str], None]) -> Iterator[None]:
    """Route C++ stdout (file descriptor 1) into ``on_line`` while the block runs.

    Instant Meshes prints its stages there: read, they become real progress; left alone,
    they would land in the studio's own stdout, where ``main.py run --json`` keeps the
    job result as the last line."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no usable stdout at all: nothing to protect or read
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)  # fd 1 is now the only writer, so restoring it ends the stream
    reader = threading.Thread(target=_pump, args=(read_end, on_line), daemon=True)
    reader.start()
    try:
        yield
    finally:
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            reader.join(timeout=10.0)


def _pump(read_end: int, on_line: Callable[[str], None]) -> None:
    """Drain the pipe line by line until every writer is gone (a full pipe would block the
    remesh itself); a failing callback must not stop the draining."""
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        pending = b""
        while chunk := stream.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                try:
                    on_line(line.decode("utf-8", "replace").strip())
                except Exception:
                    pass
